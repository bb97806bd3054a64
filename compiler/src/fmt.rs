//! `movac fmt`: the one canonical layout of a `.mova` source.
//!
//! The formatter changes only what lies between tokens: it re-indents (four spaces a level, by the
//! blocks and the indented label bodies that [`layout`] finds), puts one statement on a line, sets
//! the spaces between tokens on a line, and keeps at most one blank line. The tokens themselves,
//! their order and every comment stay as written, so the program compiles to the same bytecode; a
//! last check re-lexes the output and refuses to return it if that were not so.
//!
//! The decisions (`docs/tools.md` shows them with examples):
//! - A statement ends its line: after a `;` (outside brackets), `{`, `}` (but `} else`), and the
//!   colon of an indented label. `{` stays on the line of what opens it; an empty block is `{}`.
//! - A line break the source has inside a statement is kept (a long array literal, a long
//!   condition), except before `;`, `,`, `{` and `else`, where the line is joined. A continuation
//!   line is indented one level per bracket open at its start, and at least one level; a line that
//!   starts with a closing bracket is indented as the line that opened it.
//! - Binary operators, `=` and the compound assignments, `->`, and a `,` or `:` (after it) have a
//!   space each side or after; prefix operators, calls, indexes and brackets have none.
//! - A comment on its own line is indented as the code around it. A comment after code stays
//!   after it, at the column it was at when the line leaves room for it (so aligned comments stay
//!   aligned), or one space after the code.
//! - A label line of the seed's indented form is kept as written, the spaces after its colon too.
//! - Trailing whitespace is removed; lines end with `\n`; the file ends with one.
//!
//! A source that does not parse is not formatted (its syntax errors are returned), as rustfmt
//! does; one that parses but does not type-check is.

use crate::mova::errors::LangError;
use crate::mova::syntax::{self, layout, lexer, lexer::Token};

/// The indentation of one level.
pub const INDENT: &str = "    ";

/// Why a source was not formatted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The source does not parse; these are its errors.
    #[error("the source has {} syntax error{}", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Syntax(Vec<LangError>),
    /// The layout would have changed the program (a bug in the formatter): nothing is changed.
    #[error(
        "internal error: formatting would change the program ({0}); the source is left as it is"
    )]
    Changed(String),
}

/// Formats a `.mova` source, or says why not.
pub fn format_source(source: &str) -> Result<String, FormatError> {
    let (_, errors) = syntax::parse(source);
    if !errors.is_empty() {
        return Err(FormatError::Syntax(errors));
    }
    let formatted = Printer::new(source).print();
    same_program(source, &formatted).map_err(FormatError::Changed)?;
    Ok(formatted)
}

/// Whether `source` is already formatted (a source that does not parse is an error).
pub fn is_formatted(source: &str) -> Result<bool, FormatError> {
    format_source(source).map(|formatted| formatted == source)
}

/// What lies between two tokens: line breaks and comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gap<'s> {
    Newline,
    /// A comment's text (from `//`, trailing whitespace removed) and its byte offset.
    Comment(&'s str, usize),
}

/// The line breaks and comments in `text`, which holds only whitespace and comments, starting at
/// byte `at` of the source.
fn gap_items(text: &str, at: usize) -> Vec<Gap<'_>> {
    let mut items = Vec::new();
    let mut rest = text;
    let mut offset = at;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            items.push(Gap::Comment(rest[..end].trim_end(), offset));
            rest = &rest[end..];
            offset += end;
        } else {
            if c == '\n' {
                items.push(Gap::Newline);
            }
            rest = &rest[c.len_utf8()..];
            offset += c.len_utf8();
        }
    }
    items
}

/// Where the line holding byte `offset` of `source` starts.
fn line_start(source: &str, offset: usize) -> usize {
    source[..offset].rfind('\n').map_or(0, |i| i + 1)
}

/// The column (0-based) at which byte `offset` of `source` is, counting a tab as reaching the next
/// multiple of four and any other character as one.
fn column(source: &str, offset: usize) -> usize {
    source[line_start(source, offset)..offset]
        .chars()
        .fold(0, |col, c| {
            if c == '\t' {
                (col / INDENT.len() + 1) * INDENT.len()
            } else {
                col + 1
            }
        })
}

/// One output line under construction.
#[derive(Debug, Default)]
struct Line {
    /// Levels of indentation.
    indent: usize,
    text: String,
    /// Where in the source the line's first token is (a comment's line: none).
    first: Option<usize>,
}

struct Printer<'s> {
    source: &'s str,
    tokens: Vec<(Token<'s>, std::ops::Range<usize>)>,
    out: String,
    /// The line being written, if one is open.
    line: Option<Line>,
    /// Blocks and indented bodies open.
    depth: usize,
    /// The brackets open in the current statement: for each, the indentation of the line that
    /// opened it.
    brackets: Vec<usize>,
    /// Whether a statement is under way (a line break inside it is a continuation).
    in_statement: bool,
    /// Whether the next token must start a line.
    must_break: bool,
    /// Whether a blank line may come before the next line (not at the start of a block or file).
    blank_allowed: bool,
    /// The last real token written, and whether it was a prefix operator.
    previous: Option<Token<'s>>,
    previous_text: &'s str,
    /// Where the last real token ends in the source.
    previous_end: usize,
    previous_prefix: bool,
}

impl<'s> Printer<'s> {
    fn new(source: &'s str) -> Self {
        let tokens = layout::layout(source, &lexer::lex(source)).0;
        Printer {
            source,
            tokens,
            out: String::with_capacity(source.len() + source.len() / 8),
            line: None,
            depth: 0,
            brackets: Vec::new(),
            in_statement: false,
            must_break: true,
            blank_allowed: false,
            previous: None,
            previous_text: "",
            previous_end: 0,
            previous_prefix: false,
        }
    }

    fn print(mut self) -> String {
        let tokens = std::mem::take(&mut self.tokens);
        let mut end_of_previous = 0;
        let mut pending_dedents = 0usize;
        let mut i = 0;
        while i <= tokens.len() {
            let current = tokens.get(i);
            match current {
                Some((Token::Indent, _)) => {
                    self.depth += 1;
                    self.end_statement();
                    self.blank_allowed = false;
                    i += 1;
                    continue;
                }
                Some((Token::Dedent, _)) => {
                    pending_dedents += 1;
                    i += 1;
                    continue;
                }
                Some(_) | None => {}
            }
            let start = current.map_or(self.source.len(), |(_, span)| span.start);
            let gap = gap_items(&self.source[end_of_previous..start], end_of_previous);
            let next = current.map(|(token, span)| (*token, span.start));
            self.gap(&gap, next, &mut pending_dedents);
            for _ in 0..pending_dedents {
                self.dedent();
            }
            pending_dedents = 0;
            let Some((token, span)) = current else {
                break;
            };
            let newlines = gap.iter().filter(|item| **item == Gap::Newline).count();
            self.token(*token, &self.source[span.clone()], span.start, newlines);
            if *token == Token::Colon && matches!(tokens.get(i + 1), Some((Token::Indent, _))) {
                // The seed's label line, kept as written: the spaces after the colon too.
                let rest = &self.source[span.end..];
                let rest = &rest[..rest.find('\n').unwrap_or(rest.len())];
                if !rest.trim().is_empty() || rest.contains('\r') {
                    // A comment follows, or the line ends in `\r\n`: nothing to keep.
                } else if let Some(line) = &mut self.line {
                    line.text.push_str(rest);
                }
            }
            end_of_previous = span.end;
            self.previous_end = span.end;
            i += 1;
        }
        self.finish_line();
        self.out
    }

    /// Writes the comments of a gap, with the blank lines before them, and notes the blank line
    /// before the next token.
    fn gap(
        &mut self,
        gap: &[Gap<'s>],
        next: Option<(Token<'s>, usize)>,
        pending_dedents: &mut usize,
    ) {
        let mut newlines = 0;
        for item in gap {
            let (text, offset) = match item {
                Gap::Newline => {
                    newlines += 1;
                    continue;
                }
                Gap::Comment(text, offset) => (*text, *offset),
            };
            if newlines == 0 && self.line.is_some() {
                // After code on its line: kept there, at its column if the line is the source's
                // line and leaves room (aligned comments stay aligned), else as far after the
                // code as it was.
                let width = self.line_width();
                let wanted = column(self.source, offset);
                let same_line =
                    self.line
                        .as_ref()
                        .and_then(|line| line.first)
                        .is_some_and(|first| {
                            line_start(self.source, first) == line_start(self.source, offset)
                                && self.source[line_start(self.source, first)..first]
                                    .trim()
                                    .is_empty()
                        });
                let pad = if same_line {
                    wanted.saturating_sub(width)
                } else {
                    wanted.saturating_sub(column(self.source, self.previous_end))
                };
                if let Some(line) = &mut self.line {
                    let pad = pad.max(1);
                    line.text.extend(std::iter::repeat_n(' ', pad));
                    line.text.push_str(text);
                }
            } else {
                // On a line of its own. One that is no deeper than the next token belongs after the
                // bodies that end before that token.
                let comment_column = column(self.source, offset);
                if *pending_dedents > 0
                    && next.is_none_or(|(_, at)| comment_column <= column(self.source, at))
                {
                    for _ in 0..*pending_dedents {
                        self.dedent();
                    }
                    *pending_dedents = 0;
                }
                let blank = newlines >= 2;
                self.finish_line();
                if blank && self.blank_allowed {
                    self.out.push('\n');
                }
                let indent = self.continuation();
                self.line = Some(Line {
                    indent,
                    text: String::from(text),
                    first: None,
                });
                self.blank_allowed = true;
            }
            self.finish_line();
            self.must_break = true;
            newlines = 0;
        }
        // Whether a blank line precedes the next token (after the last comment, if any).
        if newlines >= 2 && self.blank_allowed && !self.in_statement {
            self.finish_line();
            if next.is_some_and(|(token, _)| token != Token::RBrace) {
                self.out.push('\n');
                self.blank_allowed = false;
            }
        }
    }

    /// Writes one token: on a new line if it must start one or the source breaks the line inside
    /// a statement, else after the space its neighbour calls for.
    fn token(&mut self, token: Token<'s>, text: &'s str, start: usize, newlines: usize) {
        let closing = matches!(token, Token::RParen | Token::RBracket);
        let closed = if closing { self.brackets.pop() } else { None };
        let empty_block = token == Token::RBrace && self.previous == Some(Token::LBrace);
        if token == Token::RBrace {
            self.depth = self.depth.saturating_sub(1);
        }
        let joined = matches!(
            token,
            Token::Semi | Token::Comma | Token::LBrace | Token::Else
        );
        // An empty block stays `{}`, and `else` follows its `}`, unless a comment ended the line.
        let stays = empty_block || (token == Token::Else && self.previous == Some(Token::RBrace));
        let breaks = if stays && self.line.is_some() {
            false
        } else {
            self.must_break || self.line.is_none() || (newlines > 0 && !joined)
        };
        if breaks {
            self.finish_line();
            let indent = match closed {
                // A closing bracket that starts a line lines up with the line that opened it.
                Some(opened) => opened,
                None => self.continuation(),
            };
            self.line = Some(Line {
                indent,
                text: String::new(),
                first: Some(start),
            });
        }
        let prefix = self.is_prefix(token);
        let space = self.space_before(token, text);
        if let Some(line) = &mut self.line {
            if !line.text.is_empty() && space {
                line.text.push(' ');
            }
            line.text.push_str(text);
        }
        self.previous = Some(token);
        self.previous_text = text;
        self.previous_prefix = prefix;
        self.must_break = false;
        self.blank_allowed = true;
        self.in_statement = true;
        if matches!(token, Token::LParen | Token::LBracket) {
            let indent = self.line.as_ref().map_or(self.depth, |line| line.indent);
            self.brackets.push(indent);
        } else if token == Token::LBrace {
            self.depth += 1;
            self.end_statement();
            self.blank_allowed = false;
        } else if token == Token::RBrace || (token == Token::Semi && self.brackets.is_empty()) {
            self.end_statement();
        }
    }

    fn end_statement(&mut self) {
        self.in_statement = false;
        self.brackets.clear();
        self.must_break = true;
    }

    fn dedent(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.end_statement();
    }

    /// The indentation of a line that starts here: the block's, or in a statement one level
    /// deeper than the line that opened the innermost bracket open (than the statement's first
    /// line when none is).
    fn continuation(&self) -> usize {
        if !self.in_statement {
            return self.depth;
        }
        self.brackets.last().copied().unwrap_or(self.depth) + 1
    }

    /// The width of the open line, its indentation included.
    fn line_width(&self) -> usize {
        self.line.as_ref().map_or(0, |line| {
            line.indent * INDENT.len() + line.text.chars().count()
        })
    }

    /// Ends the open line, if one is.
    fn finish_line(&mut self) {
        if let Some(line) = self.line.take() {
            // Only a label line ends in spaces: those kept after its colon.
            for _ in 0..line.indent {
                self.out.push_str(INDENT);
            }
            self.out.push_str(&line.text);
            self.out.push('\n');
        }
    }

    /// Whether `token` is a prefix operator here: `!`, or a `-` that follows no operand.
    fn is_prefix(&self, token: Token<'s>) -> bool {
        token == Token::Bang || (token == Token::Minus && !self.previous.is_some_and(ends_operand))
    }

    /// Whether a space separates the previous token from `next` (written `text`) on a line.
    fn space_before(&self, next: Token<'s>, text: &str) -> bool {
        let Some(previous) = self.previous else {
            return false;
        };
        let space = if matches!(
            next,
            Token::Semi
                | Token::Comma
                | Token::RParen
                | Token::RBracket
                | Token::Colon
                | Token::PlusPlus
                | Token::MinusMinus
        ) || (next == Token::RBrace && previous == Token::LBrace)
            || matches!(previous, Token::LParen | Token::LBracket)
            || self.previous_prefix
        {
            false
        } else if next == Token::LParen {
            // A call, `print(…)` and `sleep(…)` have none; `if (…)` and `x * (…)` have one.
            !matches!(previous, Token::Ident(_) | Token::Print | Token::Sleep)
        } else if next == Token::LBracket {
            // An index has none; an array literal or type after an operator has one.
            !ends_operand(previous)
        } else {
            true
        };
        // Two tokens written together must lex as the same two (`- -x` is not `--x`).
        space || !joins(self.previous_text, text)
    }
}

/// Whether `token` can end an operand, so that a `-` after it is binary and a `[` an index.
fn ends_operand(token: Token<'_>) -> bool {
    matches!(
        token,
        Token::Ident(_)
            | Token::Int(_)
            | Token::Str(_)
            | Token::True
            | Token::False
            | Token::RParen
            | Token::RBracket
    )
}

/// Whether `first` and `second` written together still lex as those two tokens.
fn joins(first: &str, second: &str) -> bool {
    let together = format!("{first}{second}");
    let lexed = lexer::lex(&together);
    lexed.len() == 2
        && lexed
            .first()
            .is_some_and(|(_, span)| span.end == first.len())
}

/// The comments of `text`, in order.
fn comments(text: &str) -> Vec<&str> {
    let mut gaps = Vec::new();
    let mut end = 0;
    for (_, span) in lexer::lex(text) {
        gaps.push((end, span.start));
        end = span.end;
    }
    gaps.push((end, text.len()));
    gaps.into_iter()
        .flat_map(|(start, end)| gap_items(&text[start..end], start))
        .filter_map(|item| match item {
            Gap::Comment(comment, _) => Some(comment),
            Gap::Newline => None,
        })
        .collect()
}

/// Whether `formatted` is the same program as `source`: the same tokens after layout, and the
/// same comments in the same order. Says what differs if not.
fn same_program(source: &str, formatted: &str) -> Result<(), String> {
    let before = layout::layout(source, &lexer::lex(source)).0;
    let after = layout::layout(formatted, &lexer::lex(formatted)).0;
    if let Some(at) = (0..before.len().max(after.len()))
        .find(|&i| before.get(i).map(|t| t.0) != after.get(i).map(|t| t.0))
    {
        let shown = |token: Option<&(Token<'_>, std::ops::Range<usize>)>| {
            token.map_or_else(|| String::from("the end"), |(token, _)| token.to_string())
        };
        return Err(format!(
            "token {at} would be {} instead of {}",
            shown(after.get(at)),
            shown(before.get(at))
        ));
    }
    if comments(source) != comments(formatted) {
        return Err(String::from("the comments would differ"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(source: &str) -> String {
        match format_source(source) {
            Ok(formatted) => formatted,
            Err(error) => format!("error: {error}"),
        }
    }

    #[test]
    fn prefix_operators_never_run_into_each_other() {
        assert_eq!(format("var y=- -1;"), "var y = - -1;\n");
        assert_eq!(format("var y=-(-1)-!true;"), "var y = -(-1) - !true;\n");
    }

    #[test]
    fn an_empty_block_stays_on_its_line() {
        assert_eq!(
            format("fn f(){}\nwhile false {\n}"),
            "fn f() {}\nwhile false {}\n"
        );
    }

    #[test]
    fn a_comment_after_an_indented_body_goes_with_what_follows_it() {
        let source = "loop:\n    i++;\n    // in the body\n// after it\nprint(i);\n";
        assert_eq!(format(source), source);
    }

    #[test]
    fn crlf_line_ends_become_lf() {
        assert_eq!(
            format("var x = 1; // one\r\nprint(x);\r\n"),
            "var x = 1; // one\nprint(x);\n"
        );
    }

    #[test]
    fn an_empty_source_stays_empty() {
        assert_eq!(format(""), "");
        assert_eq!(format("\n\n  \n"), "");
        assert_eq!(
            format("// only\n\n\n// comments"),
            "// only\n\n// comments\n"
        );
    }

    #[test]
    fn a_check_that_finds_a_changed_program_says_what_changed() {
        assert_eq!(same_program("print(1);", "print(1);"), Ok(()));
        assert!(same_program("print(1);", "print(2);").is_err());
        assert!(same_program("print(1); // a", "print(1); // b").is_err());
        // A line no deeper than the label's ends the body: a different program.
        assert!(same_program("l:\n    x++;\n    y++;\n", "l:\n    x++;\ny++;\n").is_err());
    }
}
