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
//! Indentation is the number of spaces and tabs at the start of a line, each counting as one
//! column, so a file should not mix the two.

use super::lexer::Token;
use crate::diag::Span;

/// Inserts `Indent`/`Dedent` tokens for label bodies written in the indented form.
pub fn layout<'s>(source: &str, tokens: &[(Token<'s>, Span)]) -> Vec<(Token<'s>, Span)> {
    let lines = Lines::new(source);
    let mut out: Vec<(Token<'s>, Span)> = Vec::with_capacity(tokens.len() + 8);
    // Each open indented body: the indentation of its label's line and the brace depth it is at.
    let mut open: Vec<(usize, usize)> = Vec::new();
    let mut depth = 0usize;
    for (i, (token, span)) in tokens.iter().enumerate() {
        if lines.starts_line(span.start) {
            let column = lines.indentation(span.start);
            while open
                .last()
                .is_some_and(|&(indent, at)| column <= indent && at == depth)
            {
                open.pop();
                close(&mut out, span.start);
            }
        }
        if *token == Token::RBrace {
            while open.last().is_some_and(|&(_, at)| at == depth) {
                open.pop();
                close(&mut out, span.start);
            }
            depth = depth.saturating_sub(1);
        }
        out.push((*token, span.clone()));
        if *token == Token::LBrace {
            depth += 1;
        } else if *token == Token::Colon {
            {
                let labelled = i
                    .checked_sub(1)
                    .and_then(|prev| tokens.get(prev))
                    .filter(|(prev, _)| matches!(prev, Token::Ident(_) | Token::Loop));
                let braced = matches!(tokens.get(i + 1), Some((Token::LBrace, _)));
                if let (Some((_, label)), false) = (labelled, braced) {
                    out.push((Token::Indent, span.end..span.end));
                    open.push((lines.indentation(label.start), depth));
                }
            }
        }
    }
    for _ in open {
        close(&mut out, source.len());
    }
    out
}

/// Appends a `Dedent` right after the last real token (so that an error about a missing `;` points
/// at the end of the body), or at `fallback` when there is none.
fn close<'s>(out: &mut Vec<(Token<'s>, Span)>, fallback: usize) {
    let at = out.last().map_or(fallback, |(_, span)| span.end);
    out.push((Token::Dedent, at..at));
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

    /// Whether only whitespace precedes `offset` on its line.
    fn starts_line(&self, offset: usize) -> bool {
        self.source
            .get(self.line_start(offset)..offset)
            .is_some_and(|before| before.chars().all(char::is_whitespace))
    }

    /// The number of spaces and tabs that start the line holding `offset`.
    fn indentation(&self, offset: usize) -> usize {
        self.source
            .get(self.line_start(offset)..)
            .map_or(0, |line| {
                line.chars().take_while(|c| *c == ' ' || *c == '\t').count()
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::wildcard_enum_match_arm)]

    use super::super::lexer::lex;
    use super::*;

    /// The token stream after layout, with `{`/`}` for the inserted tokens, as text.
    fn shape(source: &str) -> String {
        layout(source, &lex(source))
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
    fn an_empty_body_closes_at_once() {
        assert_eq!(shape("x:\ny++;"), "x : < > y ++ ;");
        assert_eq!(shape("x:"), "x : < >");
    }
}
