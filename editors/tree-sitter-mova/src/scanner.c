// The external scanner of the Mova grammar: the seed's indented label form.
//
// As the compiler's layout pass does (compiler/src/mova/syntax/layout.rs), a label's `name:` (or
// `loop:`) that is not followed by `{` opens a body of the statements indented deeper than the
// label's line. The body ends before the first token that starts a line indented no deeper than
// the label's line, before a `}` (which closes a brace opened outside the body), or at the end of
// the input. Comments are not tokens: a comment line never ends a body.
//
// Tokens:
// - INDENT, zero-width, after the label's colon: it pushes the indentation of the label's line.
//   (The line break after it is read by the next call, so that a body may end before its first
//   line: `name:` followed by a line indented no deeper has an empty body.)
// - DEDENT, zero-width, where a body ends, right after its last token: it pops one indentation,
//   so that two bodies that end at the same place get one each.
// - LINE_BREAK, an extra: whitespace that holds a line break (or that starts the input), read
//   everywhere else, so that the scanner knows the indentation of the line it is on, the one an
//   INDENT pushes. (The scanner's state is kept only across the tokens it returns, so it must
//   return one for each line that holds a token.)
// - ERROR_SENTINEL is in no rule of the grammar: it is valid only while the parser recovers from
//   a syntax error, when the scanner leaves the input to the grammar's own lexer.
//
// Whether an INDENT or a DEDENT comes depends on the next token, so the scanner looks past
// comments for it. Each body then spans what the compiler's does, from its label to its last
// statement: editors/tree-sitter-mova/test/compare_loops.py checks it.
//
// Indentation is the run of spaces and tabs at the start of a line, each counting one column, as
// in the layout pass. (The layout pass also reports a line whose indentation and its label line's
// differ in their characters, E0014; this scanner only compares their lengths.)

#include "tree_sitter/parser.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum TokenType {
  INDENT,
  DEDENT,
  LINE_BREAK,
  ERROR_SENTINEL,
};

// The compiler refuses a program nested deeper than 256 levels (E0015); one more entry than that
// keeps every such program's bodies. The state is serialised as 16-bit numbers: 2 + 2 * 257
// bytes, well within TREE_SITTER_SERIALIZATION_BUFFER_SIZE.
#define MAX_BODIES 257

typedef struct {
  // The indentation of the line the scanner is on, as the last LINE_BREAK (or INDENT) read it.
  uint16_t line_indent;
  uint16_t count;
  // The indentation of each open body's label line, innermost last.
  uint16_t bodies[MAX_BODIES];
} Scanner;

static uint16_t saturating_add(uint16_t a, uint16_t b) {
  return a > UINT16_MAX - b ? UINT16_MAX : (uint16_t)(a + b);
}

void *tree_sitter_mova_external_scanner_create(void) {
  Scanner *scanner = calloc(1, sizeof(Scanner));
  return scanner;
}

void tree_sitter_mova_external_scanner_destroy(void *payload) { free(payload); }

unsigned tree_sitter_mova_external_scanner_serialize(void *payload, char *buffer) {
  Scanner *scanner = payload;
  unsigned size = 0;
  memcpy(buffer + size, &scanner->line_indent, sizeof(uint16_t));
  size += sizeof(uint16_t);
  memcpy(buffer + size, &scanner->count, sizeof(uint16_t));
  size += sizeof(uint16_t);
  memcpy(buffer + size, scanner->bodies, scanner->count * sizeof(uint16_t));
  size += scanner->count * sizeof(uint16_t);
  return size;
}

void tree_sitter_mova_external_scanner_deserialize(void *payload, const char *buffer,
                                                   unsigned length) {
  Scanner *scanner = payload;
  scanner->line_indent = 0;
  scanner->count = 0;
  if (length < 2 * sizeof(uint16_t)) {
    return;
  }
  memcpy(&scanner->line_indent, buffer, sizeof(uint16_t));
  uint16_t count;
  memcpy(&count, buffer + sizeof(uint16_t), sizeof(uint16_t));
  unsigned available = (length - 2 * sizeof(uint16_t)) / sizeof(uint16_t);
  if (count > MAX_BODIES) {
    count = MAX_BODIES;
  }
  if (count > available) {
    count = (uint16_t)available;
  }
  memcpy(scanner->bodies, buffer + 2 * sizeof(uint16_t), count * sizeof(uint16_t));
  scanner->count = count;
}

static bool is_space(int32_t c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

// What the scanner learnt of the whitespace it went over: whether it holds a line break (the
// start of the input counts as one), and the indentation of the line after the last one.
typedef struct {
  bool newline;
  bool in_indent;
  uint16_t indent;
} Space;

// Goes over whitespace; returns whether there was any.
static bool skip_space(TSLexer *lexer, Space *space) {
  bool any = false;
  while (!lexer->eof(lexer) && is_space(lexer->lookahead)) {
    if (lexer->lookahead == '\n') {
      space->newline = true;
      space->in_indent = true;
      space->indent = 0;
    } else if (space->in_indent && (lexer->lookahead == ' ' || lexer->lookahead == '\t')) {
      space->indent = saturating_add(space->indent, 1);
    } else {
      space->in_indent = false;
    }
    any = true;
    lexer->advance(lexer, false);
  }
  return any;
}

// Goes over comments and the whitespace between and after them, from a `/`, to the next token;
// returns the character it starts with (0 at the end of the input). A `/` not followed by
// another is a token.
static int32_t skip_comments(TSLexer *lexer, Space *space) {
  for (;;) {
    lexer->advance(lexer, false);
    if (lexer->eof(lexer) || lexer->lookahead != '/') {
      return '/';
    }
    while (!lexer->eof(lexer) && lexer->lookahead != '\n') {
      lexer->advance(lexer, false);
    }
    skip_space(lexer, space);
    if (lexer->eof(lexer)) {
      return 0;
    }
    if (lexer->lookahead != '/') {
      return lexer->lookahead;
    }
  }
}

bool tree_sitter_mova_external_scanner_scan(void *payload, TSLexer *lexer,
                                            const bool *valid_symbols) {
  Scanner *scanner = payload;
  if (valid_symbols[ERROR_SENTINEL]) {
    return false;
  }

  // Until a later mark, a token returned is zero-width (an INDENT or a DEDENT).
  lexer->mark_end(lexer);

  bool line_start = lexer->get_column(lexer) == 0;
  Space space = {.newline = line_start, .in_indent = line_start, .indent = 0};
  bool any = skip_space(lexer, &space);
  // Where the whitespace ends: a LINE_BREAK ends here.
  bool line_break = space.newline && any;
  int32_t next = lexer->eof(lexer) ? 0 : lexer->lookahead;

  bool indent_valid = valid_symbols[INDENT];
  bool dedent_valid = valid_symbols[DEDENT] && scanner->count > 0;
  bool looked_past = false;
  if (next == '/' && (indent_valid || dedent_valid)) {
    // Comments are no tokens: what follows them decides. The scanner then goes past where a
    // LINE_BREAK would end, so it returns none: the call after the comments reads that line.
    next = skip_comments(lexer, &space);
    looked_past = true;
  }

  if (indent_valid && next != '{') {
    // After a label's colon, with no `{` after it: an indented body.
    if (scanner->count >= MAX_BODIES) {
      return false;
    }
    scanner->bodies[scanner->count++] = scanner->line_indent;
    lexer->result_symbol = INDENT;
    return true;
  }

  if (dedent_valid) {
    uint16_t body = scanner->bodies[scanner->count - 1];
    if (next == 0 || next == '}' || (space.newline && space.indent <= body)) {
      scanner->count--;
      lexer->result_symbol = DEDENT;
      return true;
    }
  }

  if (valid_symbols[LINE_BREAK] && line_break && !looked_past) {
    lexer->mark_end(lexer);
    scanner->line_indent = space.indent;
    lexer->result_symbol = LINE_BREAK;
    return true;
  }
  return false;
}
