//! The `.mvasm` lexer.
//!
//! Whitespace and `;` comments are skipped; line breaks are tokens, because an instruction ends at
//! the end of its line. Characters that start no token become [`Token::Error`] so that parsing goes
//! on and reports everything in one run.

use crate::diag::Span;
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
    /// A mnemonic or a label name.
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'s str),
    /// A number: decimal or `0x` hexadecimal, optionally signed, with `_` separators. The lexer takes
    /// every letter and digit that follows, so that `12ab` is one malformed number rather than two
    /// tokens; [`parse_int`] checks the digits.
    #[regex(r"[+-]?[0-9][0-9A-Za-z_]*")]
    Int(&'s str),
    /// A character that starts no token.
    Error,
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Newline => f.write_str("end of line"),
            Token::Colon => f.write_str("`:`"),
            Token::Ident(name) => write!(f, "`{name}`"),
            Token::Int(text) => write!(f, "number `{text}`"),
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

/// Why a number token is not a valid integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntError {
    /// A character that is not a digit of the literal's base.
    InvalidDigit(char),
    /// No digits at all (e.g. `0x`).
    NoDigits,
    /// The value is outside `i64`.
    OutOfRange,
}

/// Parses a number token: an optional sign, then decimal digits or `0x`/`0X` and hexadecimal digits,
/// with `_` allowed between digits.
pub fn parse_int(text: &str) -> Result<i64, IntError> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = match unsigned.get(..2) {
        Some("0x" | "0X") => (16, &unsigned[2..]),
        _ => (10, unsigned),
    };
    let mut magnitude: u64 = 0;
    let mut any = false;
    let mut overflow = false;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let digit = c.to_digit(radix).ok_or(IntError::InvalidDigit(c))?;
        any = true;
        match magnitude
            .checked_mul(u64::from(radix))
            .and_then(|m| m.checked_add(u64::from(digit)))
        {
            Some(m) => magnitude = m,
            None => overflow = true,
        }
    }
    if !any {
        return Err(IntError::NoDigits);
    }
    if overflow {
        return Err(IntError::OutOfRange);
    }
    let value = if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    };
    value.ok_or(IntError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn parses_integers_in_both_bases_with_separators() {
        assert_eq!(parse_int("0"), Ok(0));
        assert_eq!(parse_int("1_000"), Ok(1000));
        assert_eq!(parse_int("+7"), Ok(7));
        assert_eq!(parse_int("0xff"), Ok(255));
        assert_eq!(parse_int("-0X8000_0000_0000_0000"), Ok(i64::MIN));
        assert_eq!(parse_int("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_int("9223372036854775808"), Err(IntError::OutOfRange));
        assert_eq!(
            parse_int("99999999999999999999999"),
            Err(IntError::OutOfRange)
        );
        assert_eq!(parse_int("12ab"), Err(IntError::InvalidDigit('a')));
        assert_eq!(parse_int("0x"), Err(IntError::NoDigits));
        assert_eq!(parse_int("0xfg"), Err(IntError::InvalidDigit('g')));
    }
}
