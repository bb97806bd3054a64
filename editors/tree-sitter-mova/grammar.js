/**
 * @file The tree-sitter grammar of Mova's `.mova` language (docs/language.md, "Grammar").
 *
 * It follows the compiler's parser (compiler/src/mova/syntax/parser.rs): the same statements,
 * the same operator precedences, and the seed's indented label form, whose `Indent`/`Dedent`
 * tokens come from the external scanner (src/scanner.c) as they come from the compiler's layout
 * pass (compiler/src/mova/syntax/layout.rs).
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

// Binary operators from the lowest precedence to the highest, as in the compiler's Pratt parser.
const PREC = {
  or: 1,
  and: 2,
  equality: 3,
  comparison: 4,
  additive: 5,
  multiplicative: 6,
  unary: 7,
  postfix: 8,
};

/**
 * One or more `rule`s separated by commas, with an optional trailing comma.
 * @param {RuleOrLiteral} rule
 */
function commaSep1(rule) {
  return seq(rule, repeat(seq(',', rule)), optional(','));
}

/**
 * Zero or more `rule`s separated by commas, with an optional trailing comma.
 * @param {RuleOrLiteral} rule
 */
function commaSep(rule) {
  return optional(commaSep1(rule));
}

module.exports = grammar({
  name: 'mova',

  // `_line_break` is a line break and the next line's indentation: the scanner reads it to know
  // the indentation of each line (that of a label's line opens the indented body). The
  // `_error_sentinel` is in no rule: it is valid only while the parser recovers from an error.
  externals: $ => [$._indent, $._dedent, $._line_break, $._error_sentinel],

  extras: $ => [/[ \t\r\n\f]/, $._line_break, $.comment],

  word: $ => $.identifier,

  // The keywords are no names anywhere, as in the compiler's lexer: `fn print()` and `var if = 1`
  // are errors.
  reserved: {
    global: _ => [
      'var', 'print', 'sleep', 'if', 'else', 'while', 'loop', 'break', 'continue', 'halt',
      'true', 'false', 'fn', 'return',
    ],
  },

  supertypes: $ => [$._statement, $._expression],

  rules: {
    source_file: $ => repeat($._statement),

    _statement: $ => choice(
      $.function_definition,
      $.var_declaration,
      $.assignment_statement,
      $.update_statement,
      $.call_statement,
      $.print_statement,
      $.sleep_statement,
      $.if_statement,
      $.while_statement,
      $.loop_statement,
      $.labeled_loop,
      $.break_statement,
      $.continue_statement,
      $.halt_statement,
      $.return_statement,
      $.block,
    ),

    // `fn name(a: int, b: [str]) -> int { … }`: at the top level (inside a block it parses, and
    // the compiler reports E0027).
    function_definition: $ => seq(
      'fn',
      field('name', $.identifier),
      field('parameters', $.parameters),
      optional(seq('->', field('result', $._type))),
      field('body', $.block),
    ),

    parameters: $ => seq('(', commaSep($.parameter), ')'),

    parameter: $ => seq(field('name', $.identifier), ':', field('type', $._type)),

    // Types are names, not keywords: `int` and `str`, or any other name (E0026), and `[T]`.
    _type: $ => choice(alias($.identifier, $.type_identifier), $.array_type),

    array_type: $ => seq('[', field('element', $._type), ']'),

    var_declaration: $ => seq(
      'var',
      field('name', $.identifier),
      optional(seq(':', field('type', $._type))),
      '=',
      field('value', $._expression),
      ';',
    ),

    // A variable, or an element of it: `x`, `a[i]`, `m[i][j]`.
    _place: $ => choice($.identifier, alias($.place_index, $.index_expression)),

    place_index: $ => seq(
      field('object', $._place),
      '[',
      field('index', $._expression),
      ']',
    ),

    assignment_statement: $ => seq(
      field('left', $._place),
      field('operator', choice('=', '+=', '-=', '*=', '/=', '%=')),
      field('right', $._expression),
      ';',
    ),

    update_statement: $ => seq(
      field('argument', $._place),
      field('operator', choice('++', '--')),
      ';',
    ),

    // A call whose result, if any, is dropped.
    call_statement: $ => seq($.call_expression, ';'),

    print_statement: $ => seq('print', field('arguments', $.arguments), ';'),

    sleep_statement: $ => seq('sleep', '(', field('duration', $._expression), ')', ';'),

    // `if c { … } else if d { … } else { … }`: an `else if` is an `if_statement` inside the
    // `else_clause`.
    if_statement: $ => seq(
      'if',
      field('condition', $._expression),
      field('consequence', $.block),
      optional(field('alternative', $.else_clause)),
    ),

    else_clause: $ => seq('else', choice($.block, $.if_statement)),

    while_statement: $ => seq(
      'while',
      field('condition', $._expression),
      field('body', $.block),
    ),

    // `loop { … }`, `loop: { … }`, and the seed's `loop:` with an indented body.
    loop_statement: $ => choice(
      seq('loop', optional(':'), field('body', $.block)),
      seq('loop', ':', field('body', $.indented_block)),
    ),

    // `name: { … }`, or `name:` with an indented body: a labelled infinite loop.
    labeled_loop: $ => seq(
      field('label', alias($.identifier, $.label)),
      ':',
      field('body', choice($.block, $.indented_block)),
    ),

    break_statement: $ => seq('break', optional(field('label', alias($.identifier, $.label))), ';'),

    continue_statement: $ => seq('continue', optional(field('label', alias($.identifier, $.label))), ';'),

    halt_statement: $ => seq('halt', ';'),

    return_statement: $ => seq('return', optional(field('value', $._expression)), ';'),

    block: $ => seq('{', repeat($._statement), '}'),

    // The statements indented deeper than the label's line (docs/language.md, "Loops and
    // labels"); the scanner says where the body begins and ends.
    indented_block: $ => seq($._indent, repeat($._statement), $._dedent),

    _expression: $ => choice(
      $.binary_expression,
      $.unary_expression,
      $.index_expression,
      $.call_expression,
      $.parenthesized_expression,
      $.array_expression,
      $.identifier,
      $.integer,
      $.string,
      $.true,
      $.false,
    ),

    binary_expression: $ => {
      /** @type {[number, RuleOrLiteral][]} */
      const table = [
        [PREC.or, '||'],
        [PREC.and, '&&'],
        [PREC.equality, choice('==', '!=')],
        [PREC.comparison, choice('<', '<=', '>', '>=')],
        [PREC.additive, choice('+', '-')],
        [PREC.multiplicative, choice('*', '/', '%')],
      ];
      return choice(...table.map(([precedence, operator]) => prec.left(precedence, seq(
        field('left', $._expression),
        field('operator', operator),
        field('right', $._expression),
      ))));
    },

    unary_expression: $ => prec(PREC.unary, seq(
      field('operator', choice('-', '!')),
      field('operand', $._expression),
    )),

    // Indexing binds tighter than any operator: `-a[i]` is `-(a[i])`.
    index_expression: $ => prec(PREC.postfix, seq(
      field('object', $._expression),
      '[',
      field('index', $._expression),
      ']',
    )),

    call_expression: $ => seq(
      field('function', $.identifier),
      field('arguments', $.arguments),
    ),

    arguments: $ => seq('(', commaSep($._expression), ')'),

    parenthesized_expression: $ => seq('(', $._expression, ')'),

    array_expression: $ => seq('[', commaSep($._expression), ']'),

    // The literals of docs/language.md: `INT := DIGIT ('_'? DIGIT)* | '0x' ('_'? HEXDIGIT)+`.
    // A malformed one (`12ab`, `1_`, `0X10`, E0012) is an error.
    integer: _ => token(choice(
      /0x(_?[0-9a-fA-F])+/,
      /[0-9](_?[0-9])*/,
    )),

    // A string ends on its line; its escapes are `\n \t \r \0 \\ \"` and `\u{…}` (1 to 6 digits).
    string: $ => seq(
      '"',
      repeat(choice($.string_content, $.escape_sequence)),
      token.immediate('"'),
    ),

    string_content: _ => token.immediate(prec(1, /[^"\\\n]+/)),

    escape_sequence: _ => token.immediate(seq(
      '\\',
      choice(/[ntr0\\"]/, /u\{[0-9a-fA-F]{1,6}\}/),
    )),

    true: _ => 'true',

    false: _ => 'false',

    identifier: _ => /[A-Za-z_][A-Za-z0-9_]*/,

    comment: _ => token(seq('//', /[^\n]*/)),
  },
});
