//! The `.mvasm` lexer.
//!
//! Whitespace and `;` comments are skipped; line breaks are tokens, because an instruction ends at
//! the end of its line. Characters that start no token become [`Token::Error`] so that parsing goes
//! on and reports everything in one run.

use crate::diag::Span;
pub use crate::number::{IntError, parse_int};
use logos::Logos;
use std::fmt;

/// A `.mvasm` token.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[logos(skip r"[ \t\r\f]+")]
#[logos(skip(r";[^\n]*", allow_greedy = true))]
pub enum Token<'s> {
    /// The end of a line.
    #[token("\n")]
    Newline,
    /// The `:` that ends a label definition.
    #[token(":")]
    Colon,
    /// The `,` between operands.
    #[token(",")]
    Comma,
    /// The `->` between a function's parameter and result counts.
    #[token("->")]
    Arrow,
    /// A directive, `.` and a name (`.fn`), kept with its dot.
    #[regex(r"\.[A-Za-z_][A-Za-z0-9_]*")]
    Directive(&'s str),
    /// A mnemonic or a label name.
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'s str),
    /// A number: decimal or `0x` hexadecimal, optionally signed, with `_` separators. The lexer takes
    /// every letter and digit that follows, so that `12ab` is one malformed number rather than two
    /// tokens; [`parse_int`] checks the digits.
    #[regex(r"[+-]?[0-9][0-9A-Za-z_]*")]
    Int(&'s str),
    /// A string literal, with its quotes, as written: `"hi\n"`. It ends on its line; the
    /// resolver decodes its escapes (see [`super::string`]).
    #[regex(r#""([^"\\\n\r]|\\[^\n\r])*""#)]
    Str(&'s str),
    /// A string literal that its line ends in, before a closing `"`.
    #[regex(r#""([^"\\\n\r]|\\[^\n\r])*\\?"#, allow_greedy = true)]
    Unterminated(&'s str),
    /// A character that starts no token.
    Error,
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Newline => f.write_str("end of line"),
            Token::Colon => f.write_str("`:`"),
            Token::Comma => f.write_str("`,`"),
            Token::Arrow => f.write_str("`->`"),
            Token::Directive(name) => write!(f, "directive `{name}`"),
            Token::Ident(name) => write!(f, "`{name}`"),
            Token::Int(text) => write!(f, "number `{text}`"),
            Token::Str(text) | Token::Unterminated(text) => write!(f, "string `{text}`"),
            Token::Error => f.write_str("invalid character"),
        }
    }
}

/// Splits `source` into tokens with their byte spans.
pub fn lex(source: &str) -> Vec<(Token<'_>, Span)> {
    Token::lexer(source)
        .spanned()
        .map(|(token, span)| (token.unwrap_or(Token::Error), span))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_directives_and_arrows() {
        let tokens: Vec<_> = lex(".fn fact 1 -> 1\n.Fn ->1 -1 .")
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(
            tokens,
            [
                Token::Directive(".fn"),
                Token::Ident("fact"),
                Token::Int("1"),
                Token::Arrow,
                Token::Int("1"),
                Token::Newline,
                Token::Directive(".Fn"),
                Token::Arrow,
                Token::Int("1"),
                Token::Int("-1"),
                Token::Error,
            ]
        );
    }

    #[test]
    fn lexes_strings_to_the_end_of_their_line() {
        let tokens: Vec<_> = lex(r#"CONST "a;b\"c" ; note
.string "open \
"x"#)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
        assert_eq!(
            tokens,
            [
                Token::Ident("CONST"),
                Token::Str(r#""a;b\"c""#),
                Token::Newline,
                Token::Directive(".string"),
                Token::Unterminated(r#""open \"#),
                Token::Newline,
                Token::Unterminated(r#""x"#),
            ]
        );
    }

    #[test]
    fn lexes_labels_instructions_comments_and_errors() {
        let tokens: Vec<_> = lex("top: PUT -0x1F ; note\r\n  goto top\n$")
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(
            tokens,
            [
                Token::Ident("top"),
                Token::Colon,
                Token::Ident("PUT"),
                Token::Int("-0x1F"),
                Token::Newline,
                Token::Ident("goto"),
                Token::Ident("top"),
                Token::Newline,
                Token::Error,
            ]
        );
    }
}
