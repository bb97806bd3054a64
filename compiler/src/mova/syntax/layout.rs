//! The layout pass: makes the seed's indented label form explicit.
//!
//! In the seed, a label line opens an infinite loop whose body is the statements indented deeper
//! than the label's line:
//!
//! ```text
//! loop:
//!     i++;
//!     print(i);
//! ```
//!
//! After `name:` (or `loop:`) that is not followed by `{`, this pass inserts a [`Token::Indent`],
//! and it inserts the matching [`Token::Dedent`] before the first token that starts a line indented
//! no deeper than the label's line, before a `}` that closes a brace opened outside the body, or at
//! the end of the input. The parser then reads `Indent … Dedent` like `{ … }`.
//!
//! Indentation is the run of spaces and tabs at the start of a line. Comparing a line's with its
//! label's must not depend on how wide a tab is, so one must begin with the other (the same
//! characters in the same order); a line indented with a tab under a label indented with spaces is
//! an error ([`LangError::InconsistentIndentation`]), as Python's `TabError` is. Where they compare,
//! each character counts as one column.

use super::lexer::Token;
use super::parser::Spanned;
use crate::diag::Span;
use crate::mova::errors::LangError;
use chumsky::span::SimpleSpan;

/// Inserts `Indent`/`Dedent` tokens for label bodies written in the indented form, and reports
/// every line whose indentation cannot be compared with its label's.
pub fn layout<'s>(
    source: &str,
    tokens: &[(Token<'s>, Span)],
) -> (Vec<(Token<'s>, Span)>, Vec<LangError>) {
    let (out, errors, _) = lay_out(source, tokens.iter().cloned());
    let out = out
        .into_iter()
        .map(|(token, span)| (token, span.into_range()))
        .collect();
    (out, errors)
}

/// How many indented bodies the end of `source` closes: those still open after its last token
/// (a REPL reads on while one is).
pub fn open_at_end(source: &str, tokens: &[(Token<'_>, Span)]) -> usize {
    lay_out(source, tokens.iter().cloned()).2
}

/// [`layout`] as the parser reads it, straight from the lexer: the tokens (with their spans in
/// the parser's form), the errors, and how many bodies the end of the input closes.
///
/// It reads `tokens` once, looking back two tokens and ahead one, so the lexer's tokens are never
/// all held at once: a large input's only token list is this one.
pub fn lay_out<'s>(
    source: &str,
    tokens: impl IntoIterator<Item = (Token<'s>, Span)>,
) -> (Vec<Spanned<'s>>, Vec<LangError>, usize) {
    let lines = Lines::new(source);
    let mut out: Vec<Spanned<'s>> = Vec::new();
    let mut errors = Vec::new();
    // Each open indented body: the indentation of its label's line, the brace depth it is at, and
    // whether a line of it was reported (once is enough, as Python stops at the first).
    let mut open: Vec<(Span, usize, bool)> = Vec::new();
    let mut depth = 0usize;
    // The two tokens before this one (the nearer first), with their spans, and where the next
    // token starts a line.
    let mut before: [Option<(Token<'s>, Span)>; 2] = [None, None];
    let mut starts = LineStarts::default();
    let mut tokens = tokens.into_iter().peekable();
    while let Some((token, span)) = tokens.next() {
        if starts.starts_line(source, span.clone()) {
            let indent = lines.indentation(span.start);
            while let Some((label, _, reported)) = open.last_mut().filter(|body| body.1 == depth) {
                let (line, label_line) = (lines.text(&indent), lines.text(label));
                if !line.starts_with(label_line) && !label_line.starts_with(line) {
                    // The line is taken to be in the body, so the rest of it still parses.
                    if !*reported {
                        *reported = true;
                        errors.push(LangError::InconsistentIndentation {
                            span: indent.clone(),
                            label: label.clone(),
                        });
                    }
                    break;
                }
                if line.len() > label_line.len() {
                    break;
                }
                open.pop();
                close(&mut out, span.start);
            }
        }
        if token == Token::RBrace {
            while open.last().is_some_and(|&(_, at, _)| at == depth) {
                open.pop();
                close(&mut out, span.start);
            }
            depth = depth.saturating_sub(1);
        }
        out.push((token, SimpleSpan::from(span.clone())));
        if token == Token::LBrace {
            depth += 1;
        } else if token == Token::Colon {
            // A name and a colon after `(` or `,` is a parameter and its type
            // (`fn f(a: int, b: int)`), and after `var` a variable and its type
            // (`var xs: [int] = [];`): never a label.
            let parameter = before[1].as_ref().is_some_and(|(before, _)| {
                matches!(before, Token::LParen | Token::Comma | Token::Var)
            });
            let labelled = before[0]
                .as_ref()
                .filter(|(prev, _)| matches!(prev, Token::Ident(_) | Token::Loop))
                .filter(|_| !parameter);
            let braced = matches!(tokens.peek(), Some((Token::LBrace, _)));
            if let (Some((_, label)), false) = (labelled, braced) {
                out.push((Token::Indent, SimpleSpan::from(span.end..span.end)));
                open.push((lines.indentation(label.start), depth, false));
            }
        }
        before = [Some((token, span)), before[0].take()];
    }
    let open_at_end = open.len();
    for _ in open {
        close(&mut out, source.len());
    }
    (out, errors, open_at_end)
}

/// Appends a `Dedent` right after the last real token (so that an error about a missing `;` points
/// at the end of the body), or at `fallback` when there is none.
fn close(out: &mut Vec<Spanned<'_>>, fallback: usize) {
    let at = out.last().map_or(fallback, |(_, span)| span.end);
    out.push((Token::Dedent, SimpleSpan::from(at..at)));
}

/// Whether each token starts its line (only whitespace before it on the line), for tokens given
/// in source order: what it knows of the text up to the previous token makes each answer cost
/// only the gap since that token.
#[derive(Default)]
struct LineStarts {
    /// Where the previous token ends.
    end: usize,
    /// Whether only whitespace precedes the previous token's end on its line.
    blank: bool,
}

impl LineStarts {
    /// Whether only whitespace precedes `span.start` on its line; `span` must start at or
    /// after the previous token's end.
    fn starts_line(&mut self, source: &str, span: Span) -> bool {
        let all_blank = |text: &str| text.chars().all(char::is_whitespace);
        let gap = source.get(self.end..span.start).unwrap_or_default();
        let starts = match gap.rfind('\n') {
            Some(newline) => all_blank(gap.get(newline + 1..).unwrap_or_default()),
            // The start of the input is the start of a line.
            None if self.end == 0 => all_blank(gap),
            None => self.blank && all_blank(gap),
        };
        let text = source.get(span.clone()).unwrap_or_default();
        self.blank = match text.rfind('\n') {
            Some(newline) => all_blank(text.get(newline + 1..).unwrap_or_default()),
            None => starts && all_blank(text),
        };
        self.end = span.end;
        starts
    }
}

/// Where each line of the source starts.
struct Lines<'a> {
    source: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(source: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { source, starts }
    }

    fn line_start(&self, offset: usize) -> usize {
        let line = self.starts.partition_point(|&start| start <= offset);
        self.starts[line.saturating_sub(1)]
    }

    /// The spaces and tabs that start the line holding `offset`.
    fn indentation(&self, offset: usize) -> Span {
        let start = self.line_start(offset);
        let len = self.source.get(start..).map_or(0, |line| {
            line.bytes()
                .take_while(|c| *c == b' ' || *c == b'\t')
                .count()
        });
        start..start + len
    }

    /// The text of a span of the source.
    fn text(&self, span: &Span) -> &'a str {
        self.source.get(span.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::wildcard_enum_match_arm)]

    use super::super::lexer::lex;
    use super::*;

    /// The token stream after layout, with `{`/`}` for the inserted tokens, as text.
    fn shape(source: &str) -> String {
        let (tokens, errors) = layout(source, &lex(source));
        assert_eq!(errors, [], "{source:?}");
        tokens
            .into_iter()
            .map(|(token, _)| match token {
                Token::Indent => String::from("<"),
                Token::Dedent => String::from(">"),
                Token::Ident(name) => name.to_owned(),
                Token::Int(text) => text.to_owned(),
                other => other.to_string().trim_matches('`').to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_seed_body_is_the_deeper_indented_lines() {
        assert_eq!(
            shape("var i = 0;\nloop:\n    i++;\n    print(i);\n"),
            "var i = 0 ; loop : < i ++ ; print ( i ) ; >"
        );
    }

    #[test]
    fn a_shallower_line_ends_the_body() {
        assert_eq!(
            shape("outer:\n    a++;\n    inner:\n        b++;\n    c++;\nd++;"),
            "outer : < a ++ ; inner : < b ++ ; > c ++ ; > d ++ ;"
        );
    }

    #[test]
    fn braces_and_same_line_statements() {
        assert_eq!(shape("x: { a++; }"), "x : { a ++ ; }");
        assert_eq!(shape("x:\n{\n a++;\n}"), "x : { a ++ ; }");
        assert_eq!(
            shape("if c {\n  x: a++;\n     b++;\n}"),
            "if c { x : < a ++ ; b ++ ; > }"
        );
        assert_eq!(shape("{ x: a++; }"), "{ x : < a ++ ; > }");
    }

    #[test]
    fn a_brace_opened_inside_the_body_keeps_it_open() {
        assert_eq!(
            shape("  x:\n    if c {\n a++;\n    }\n  y++;"),
            "x : < if c { a ++ ; } > y ++ ;"
        );
    }

    #[test]
    fn tabs_and_spaces_compare_only_when_one_begins_with_the_other() {
        // A tab under a tab and spaces is consistent either way.
        assert_eq!(shape("\tx:\n\t  a++;\nb++;"), "x : < a ++ ; > b ++ ;");
        assert_eq!(shape("\t  x:\n\tb++;"), "x : < > b ++ ;");
        // A tab under spaces, or spaces under a tab, is not.
        for source in ["    x:\n\ta++;", "\tx:\n        a++;", "  \tx:\n\t  a++;"] {
            let (_, errors) = layout(source, &lex(source));
            let label_line = source.find(|c: char| c != ' ' && c != '\t').unwrap();
            let line = source.find('\n').unwrap() + 1;
            let body = source[line..]
                .find(|c: char| c != ' ' && c != '\t')
                .unwrap();
            assert_eq!(
                errors,
                [LangError::InconsistentIndentation {
                    span: line..line + body,
                    label: 0..label_line,
                }],
                "{source:?}"
            );
        }
    }

    #[test]
    fn a_parameter_and_its_type_are_no_label() {
        assert_eq!(
            shape("fn f(a: int,\n  b: int) {\n  l:\n    a++;\n}"),
            "fn f ( a : int , b : int ) { l : < a ++ ; > }"
        );
    }

    #[test]
    fn a_variable_and_its_type_are_no_label() {
        assert_eq!(
            shape("var xs: [int] = [];\nl:\n  xs[0]++;"),
            "var xs : [ int ] = [ ] ; l : < xs [ 0 ] ++ ; >"
        );
    }

    #[test]
    fn an_empty_body_closes_at_once() {
        assert_eq!(shape("x:\ny++;"), "x : < > y ++ ;");
        assert_eq!(shape("x:"), "x : < >");
    }
}
