//! String literals: `"…"` with the language's escapes, `\n \t \r \0 \\ \"` and `\u{…}` (one to
//! six hexadecimal digits naming a Unicode scalar value), the inverse of
//! [`mova_lang::heap::quote_into`], which the disassembler writes them with.

use crate::diag::Span;
use std::fmt;

/// Why a string literal does not hold a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StringError {
    /// The line ends before the closing `"`.
    Unterminated,
    /// A `\` followed by a character that starts no escape.
    UnknownEscape(char),
    /// A `\u` not followed by `{`, hexadecimal digits and `}`.
    MalformedUnicode,
    /// A `\u{…}` whose number is no Unicode scalar value (a surrogate, or above `10FFFF`).
    NotAChar(u32),
}

impl fmt::Display for StringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StringError::Unterminated => f.write_str("unterminated string"),
            StringError::UnknownEscape(c) => write!(f, "unknown escape `\\{}`", c.escape_debug()),
            StringError::MalformedUnicode => f.write_str("malformed `\\u{…}` escape"),
            StringError::NotAChar(value) => {
                write!(f, "`\\u{{{value:x}}}` is not a Unicode character")
            }
        }
    }
}

/// The most hexadecimal digits a `\u{…}` escape holds.
const MAX_UNICODE_DIGITS: usize = 6;

/// Decodes the literal `text` (with its quotes) that starts at byte `start` of the source: its
/// string, or each bad escape with its span in the source.
pub fn decode(text: &str, start: usize) -> Result<String, Vec<(Span, StringError)>> {
    let inner = text
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|_| text.len() >= 2);
    let Some(inner) = inner else {
        return Err(vec![(start..start + text.len(), StringError::Unterminated)]);
    };
    // The contents start after the opening quote.
    let base = start + 1;
    let mut out = String::with_capacity(inner.len());
    let mut errors = Vec::new();
    let mut chars = inner.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((_, escape)) = chars.next() else {
            // The lexer ends a literal only at a quote, so a lone `\` before it cannot happen;
            // report it as a malformed escape all the same.
            errors.push((base + at..base + at + 1, StringError::UnknownEscape('\\')));
            break;
        };
        let end_of = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
            chars.peek().map_or(inner.len(), |(next, _)| *next)
        };
        match escape {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            'u' => match unicode(&mut chars) {
                Ok(c) => out.push(c),
                Err(error) => {
                    let end = end_of(&mut chars);
                    errors.push((base + at..base + end, error));
                }
            },
            other => {
                let end = end_of(&mut chars);
                errors.push((base + at..base + end, StringError::UnknownEscape(other)));
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The character of a `\u{…}` escape, after its `u`: consumes through the `}` (or as far as the
/// escape looks like one, when it is malformed).
fn unicode(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<char, StringError> {
    if chars.next_if(|(_, c)| *c == '{').is_none() {
        return Err(StringError::MalformedUnicode);
    }
    let mut digits = String::new();
    while let Some((_, c)) = chars.next_if(|(_, c)| c.is_ascii_hexdigit()) {
        digits.push(c);
    }
    if chars.next_if(|(_, c)| *c == '}').is_none()
        || digits.is_empty()
        || digits.len() > MAX_UNICODE_DIGITS
    {
        return Err(StringError::MalformedUnicode);
    }
    let value = u32::from_str_radix(&digits, 16).map_err(|_| StringError::MalformedUnicode)?;
    char::from_u32(value).ok_or(StringError::NotAChar(value))
}

/// `text` quoted as the disassembler writes it, with [`mova_lang::heap::quote_into`].
pub fn quote(text: &[u8]) -> String {
    let mut out = Vec::with_capacity(text.len() + 2);
    mova_lang::heap::quote_into(text, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_escape() {
        assert_eq!(
            decode(r#""a\n\t\r\0\\\"\u{48}\u{1F600}é""#, 0).unwrap(),
            "a\n\t\r\0\\\"H\u{1F600}é"
        );
        assert_eq!(decode(r#""""#, 0).unwrap(), "");
    }

    #[test]
    fn reports_each_bad_escape_at_its_place() {
        let source = r#"CONST "a\qb\u{110000}\u12\u{}\u{1234567}""#;
        let errors = decode(&source[6..], 6).unwrap_err();
        let found: Vec<(&str, StringError)> = errors
            .into_iter()
            .map(|(span, error)| (&source[span], error))
            .collect();
        assert_eq!(
            found,
            [
                (r"\q", StringError::UnknownEscape('q')),
                (r"\u{110000}", StringError::NotAChar(0x11_0000)),
                (r"\u", StringError::MalformedUnicode),
                (r"\u{}", StringError::MalformedUnicode),
                (r"\u{1234567}", StringError::MalformedUnicode),
            ]
        );
        assert_eq!(
            decode("\"abc", 3).unwrap_err(),
            [(3..7, StringError::Unterminated)]
        );
        assert_eq!(
            decode(r#""\ud800""#, 0).unwrap_err()[0].1,
            StringError::MalformedUnicode
        );
        assert_eq!(
            decode(r#""\u{d800}""#, 0).unwrap_err()[0].1,
            StringError::NotAChar(0xD800)
        );
    }

    #[test]
    fn quoting_then_decoding_gives_back_the_text() {
        for text in [
            "",
            "plain",
            "quote \" and \\ back",
            "\n\t\r\0",
            "\u{1}\u{7f}\u{85}\u{9f}",
            "snow ☃ and 😀",
        ] {
            let quoted = quote(text.as_bytes());
            assert_eq!(decode(&quoted, 0).unwrap(), text, "{quoted}");
        }
        assert_eq!(quote(b"a\x01\n"), r#""a\u{1}\n""#);
    }
}
