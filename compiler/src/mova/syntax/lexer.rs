//! The `.mova` lexer.
//!
//! Whitespace and `//` comments are skipped (the layout pass recovers line structure from the
//! spans). A character that starts no token becomes [`Token::Error`], so parsing goes on and one
//! run reports every error.

use crate::diag::Span;
use logos::Logos;
use std::fmt;

/// A `.mova` token.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
pub enum Token<'s> {
    /// `var`
    #[token("var")]
    Var,
    /// `print`
    #[token("print")]
    Print,
    /// `sleep`
    #[token("sleep")]
    Sleep,
    /// `if`
    #[token("if")]
    If,
    /// `else`
    #[token("else")]
    Else,
    /// `while`
    #[token("while")]
    While,
    /// `loop`
    #[token("loop")]
    Loop,
    /// `break`
    #[token("break")]
    Break,
    /// `continue`
    #[token("continue")]
    Continue,
    /// `halt`
    #[token("halt")]
    Halt,
    /// `true`
    #[token("true")]
    True,
    /// `false`
    #[token("false")]
    False,
    /// `fn`
    #[token("fn")]
    Fn,
    /// `return`
    #[token("return")]
    Return,
    /// A variable or label name.
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'s str),
    /// An unsigned integer literal. The lexer takes every letter and digit that follows the first
    /// digit, so that `12ab` is one malformed literal; the parser checks the digits.
    #[regex(r"[0-9][0-9A-Za-z_]*")]
    Int(&'s str),
    /// A string literal, quotes and escapes as written: `"a\tb"`. A string ends on its line.
    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    Str(&'s str),
    /// A string literal that its line ends before closing (E0034): the lexer takes it to the end
    /// of the line, so that what follows on later lines still lexes as written.
    #[regex(r#""([^"\\\n]|\\[^\n])*\\?"#)]
    UnterminatedStr(&'s str),
    /// `(`
    #[token("(")]
    LParen,
    /// `)`
    #[token(")")]
    RParen,
    /// `[`
    #[token("[")]
    LBracket,
    /// `]`
    #[token("]")]
    RBracket,
    /// `{`
    #[token("{")]
    LBrace,
    /// `}`
    #[token("}")]
    RBrace,
    /// The start of a label's indented body, inserted by the layout pass after `name:`.
    Indent,
    /// The end of a label's indented body, inserted by the layout pass.
    Dedent,
    /// `;`
    #[token(";")]
    Semi,
    /// `:`
    #[token(":")]
    Colon,
    /// `,`
    #[token(",")]
    Comma,
    /// `->`
    #[token("->")]
    Arrow,
    /// `=`
    #[token("=")]
    Assign,
    /// `+=`
    #[token("+=")]
    PlusAssign,
    /// `-=`
    #[token("-=")]
    MinusAssign,
    /// `*=`
    #[token("*=")]
    StarAssign,
    /// `/=`
    #[token("/=")]
    SlashAssign,
    /// `%=`
    #[token("%=")]
    PercentAssign,
    /// `++`
    #[token("++")]
    PlusPlus,
    /// `--`
    #[token("--")]
    MinusMinus,
    /// `+`
    #[token("+")]
    Plus,
    /// `-`
    #[token("-")]
    Minus,
    /// `*`
    #[token("*")]
    Star,
    /// `/`
    #[token("/")]
    Slash,
    /// `%`
    #[token("%")]
    Percent,
    /// `!`
    #[token("!")]
    Bang,
    /// `==`
    #[token("==")]
    EqEq,
    /// `!=`
    #[token("!=")]
    NotEq,
    /// `<`
    #[token("<")]
    Lt,
    /// `<=`
    #[token("<=")]
    Le,
    /// `>`
    #[token(">")]
    Gt,
    /// `>=`
    #[token(">=")]
    Ge,
    /// `&&`
    #[token("&&")]
    AndAnd,
    /// `||`
    #[token("||")]
    OrOr,
    /// A character that starts no token.
    Error,
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Token::Var => "var",
            Token::Print => "print",
            Token::Sleep => "sleep",
            Token::If => "if",
            Token::Else => "else",
            Token::While => "while",
            Token::Loop => "loop",
            Token::Break => "break",
            Token::Continue => "continue",
            Token::Halt => "halt",
            Token::True => "true",
            Token::False => "false",
            Token::Fn => "fn",
            Token::Return => "return",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::LBrace => "{",
            Token::RBrace => "}",
            Token::Semi => ";",
            Token::Colon => ":",
            Token::Comma => ",",
            Token::Arrow => "->",
            Token::Assign => "=",
            Token::PlusAssign => "+=",
            Token::MinusAssign => "-=",
            Token::StarAssign => "*=",
            Token::SlashAssign => "/=",
            Token::PercentAssign => "%=",
            Token::PlusPlus => "++",
            Token::MinusMinus => "--",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Star => "*",
            Token::Slash => "/",
            Token::Percent => "%",
            Token::Bang => "!",
            Token::EqEq => "==",
            Token::NotEq => "!=",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::AndAnd => "&&",
            Token::OrOr => "||",
            Token::Ident(name) => return write!(f, "`{name}`"),
            Token::Int(text) => return write!(f, "number `{text}`"),
            Token::Str(text) | Token::UnterminatedStr(text) => {
                return write!(f, "string `{text}`");
            }
            Token::Indent => return f.write_str("indented block"),
            Token::Dedent => return f.write_str("end of indented block"),
            Token::Error => return f.write_str("invalid character"),
        };
        write!(f, "`{text}`")
    }
}

impl Token<'_> {
    /// Whether this is a binary operator (`-` is one, and a prefix operator too).
    pub fn is_binary_operator(&self) -> bool {
        matches!(
            self,
            Token::Plus
                | Token::Minus
                | Token::Star
                | Token::Slash
                | Token::Percent
                | Token::EqEq
                | Token::NotEq
                | Token::Lt
                | Token::Le
                | Token::Gt
                | Token::Ge
                | Token::AndAnd
                | Token::OrOr
        )
    }
}

/// Splits `source` into tokens with their byte spans.
pub fn lex(source: &str) -> Vec<(Token<'_>, Span)> {
    tokens(source).collect()
}

/// The tokens of `source` with their byte spans, one at a time, as [`lex`] lists them.
pub fn tokens(source: &str) -> impl Iterator<Item = (Token<'_>, Span)> {
    Token::lexer(source)
        .spanned()
        .map(|(token, span)| (token.unwrap_or(Token::Error), span))
}

/// An invalid escape in a string literal: where it is (the backslash to the end of the escape)
/// and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadEscape {
    pub span: Span,
    /// What is wrong, as a diagnostic's label says it.
    pub reason: String,
}

/// The most hexadecimal digits a `\u{…}` escape may have (Rust's limit).
pub const MAX_UNICODE_DIGITS: usize = 6;

/// The text a string literal stands for, with its escapes (`\n \t \r \0 \\ \"` and `\u{…}`)
/// decoded, and each invalid one: `literal` is the token as written, quotes included (a closing one
/// may be missing), starting at byte `at` of the source. An invalid escape stands for nothing.
pub fn unescape(literal: &str, at: usize) -> (String, Vec<BadEscape>) {
    let body = literal.strip_prefix('"').unwrap_or(literal);
    let body = body.strip_suffix('"').unwrap_or(body);
    let mut out = String::with_capacity(body.len());
    let mut errors = Vec::new();
    let mut chars = body.char_indices().peekable();
    // Offsets in `body` are one past the opening quote.
    let offset = |i: usize| at + 1 + i;
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((j, escape)) = chars.next() else {
            errors.push(BadEscape {
                span: offset(i)..offset(i + 1),
                reason: String::from("a `\\` must be followed by an escape"),
            });
            break;
        };
        let simple = match escape {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            '0' => Some('\0'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            _ => None,
        };
        if let Some(simple) = simple {
            out.push(simple);
            continue;
        }
        let end_of = |k: usize, c: char| offset(k + c.len_utf8());
        if escape != 'u' {
            errors.push(BadEscape {
                span: offset(i)..end_of(j, escape),
                reason: format!("unknown escape `\\{escape}`"),
            });
            continue;
        }
        if chars.peek().is_none_or(|&(_, c)| c != '{') {
            errors.push(BadEscape {
                span: offset(i)..end_of(j, escape),
                reason: String::from("`\\u` must be followed by `{`, as in `\\u{e9}`"),
            });
            continue;
        }
        chars.next();
        let mut digits = String::new();
        let mut end = None;
        let mut last = j + 1;
        while let Some(&(k, c)) = chars.peek() {
            if c == '}' {
                chars.next();
                end = Some(k + 1);
                break;
            }
            if !c.is_ascii_hexdigit() {
                break;
            }
            chars.next();
            digits.push(c);
            last = k;
        }
        let Some(end) = end else {
            let stop = chars.peek().map_or(body.len(), |&(k, _)| k).max(last + 1);
            errors.push(BadEscape {
                span: offset(i)..offset(stop),
                reason: String::from(
                    "this `\\u{` is not closed by `}` after its hexadecimal digits",
                ),
            });
            continue;
        };
        let span = offset(i)..offset(end);
        let reason = if digits.is_empty() {
            Some(String::from("`\\u{}` has no digits"))
        } else if digits.len() > MAX_UNICODE_DIGITS {
            Some(format!(
                "`\\u{{…}}` has at most {MAX_UNICODE_DIGITS} hexadecimal digits"
            ))
        } else {
            match u32::from_str_radix(&digits, 16)
                .ok()
                .map(|n| (n, char::from_u32(n)))
            {
                Some((_, Some(c))) => {
                    out.push(c);
                    None
                }
                Some((n, None)) => Some(format!("{n:#X} is not a Unicode scalar value")),
                None => Some(String::from("not a hexadecimal number")),
            }
        };
        if let Some(reason) = reason {
            errors.push(BadEscape { span, reason });
        }
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(source: &str) -> Vec<Token<'_>> {
        lex(source).into_iter().map(|(token, _)| token).collect()
    }

    #[test]
    fn lexes_the_seed_program() {
        assert_eq!(
            tokens("var i = 0;\nloop:\n    i++; // count\n"),
            [
                Token::Var,
                Token::Ident("i"),
                Token::Assign,
                Token::Int("0"),
                Token::Semi,
                Token::Loop,
                Token::Colon,
                Token::Ident("i"),
                Token::PlusPlus,
                Token::Semi,
            ]
        );
    }

    #[test]
    fn longest_operator_wins_and_keywords_are_not_prefixes() {
        assert_eq!(
            tokens("a+=b++ <= c&&!d || e != f loops"),
            [
                Token::Ident("a"),
                Token::PlusAssign,
                Token::Ident("b"),
                Token::PlusPlus,
                Token::Le,
                Token::Ident("c"),
                Token::AndAnd,
                Token::Bang,
                Token::Ident("d"),
                Token::OrOr,
                Token::Ident("e"),
                Token::NotEq,
                Token::Ident("f"),
                Token::Ident("loops"),
            ]
        );
    }

    #[test]
    fn function_tokens() {
        assert_eq!(
            tokens("fn f(a: int, b) -> int { return a--> 0; } fns returns"),
            [
                Token::Fn,
                Token::Ident("f"),
                Token::LParen,
                Token::Ident("a"),
                Token::Colon,
                Token::Ident("int"),
                Token::Comma,
                Token::Ident("b"),
                Token::RParen,
                Token::Arrow,
                Token::Ident("int"),
                Token::LBrace,
                Token::Return,
                Token::Ident("a"),
                // `-->` is `--` and `>`, as before there was an arrow.
                Token::MinusMinus,
                Token::Gt,
                Token::Int("0"),
                Token::Semi,
                Token::RBrace,
                Token::Ident("fns"),
                Token::Ident("returns"),
            ]
        );
    }

    #[test]
    fn strings_and_brackets() {
        assert_eq!(
            tokens(r#"var s = "a\"b" + "";  xs[0] "open"#),
            [
                Token::Var,
                Token::Ident("s"),
                Token::Assign,
                Token::Str(r#""a\"b""#),
                Token::Plus,
                Token::Str(r#""""#),
                Token::Semi,
                Token::Ident("xs"),
                Token::LBracket,
                Token::Int("0"),
                Token::RBracket,
                Token::UnterminatedStr(r#""open"#),
            ]
        );
        // A string ends on its line; a `\` at the end of a line is part of the unterminated one.
        assert_eq!(
            tokens("\"ab\\\nx"),
            [Token::UnterminatedStr("\"ab\\"), Token::Ident("x")]
        );
    }

    #[test]
    fn escapes() {
        let value = |literal: &str| {
            let (text, errors) = unescape(literal, 0);
            assert_eq!(errors, [], "{literal}");
            text
        };
        assert_eq!(value(r#""a\nb\t\r\0\\\"""#), "a\nb\t\r\0\\\"");
        assert_eq!(value(r#""\u{e9}\u{1F600}x\u{0}""#), "é😀x\0");
        assert_eq!(value(r#""héllo""#), "héllo");
        let errors = |literal: &str| -> Vec<(Span, String)> {
            unescape(literal, 10)
                .1
                .into_iter()
                .map(|error| (error.span, error.reason))
                .collect()
        };
        assert_eq!(
            errors(r#""a\qb""#),
            [(12..14, String::from("unknown escape `\\q`"))]
        );
        assert_eq!(errors(r#""\u{}""#)[0].0, 11..15);
        assert_eq!(
            errors(r#""\u{D800}""#)[0].1,
            "0xD800 is not a Unicode scalar value"
        );
        assert_eq!(errors(r#""\u{1234567}""#)[0].0, 11..22);
        assert_eq!(errors(r#""\u{12""#)[0].0, 11..16);
        assert_eq!(errors(r#""\u{12x}""#)[0].0, 11..16);
        assert_eq!(errors(r#""\u12""#)[0].0, 11..13);
        assert_eq!(
            errors(r#""ab\"#),
            [(13..14, String::from("a `\\` must be followed by an escape"))]
        );
        // Every escape is reported, and the rest is decoded.
        let (text, bad) = unescape(r#""\a\b\n""#, 0);
        assert_eq!((text.as_str(), bad.len()), ("\n", 2));
    }

    #[test]
    fn invalid_characters_become_error_tokens() {
        assert_eq!(
            tokens("x = 1 $ 2 & 3"),
            [
                Token::Ident("x"),
                Token::Assign,
                Token::Int("1"),
                Token::Error,
                Token::Int("2"),
                Token::Error,
                Token::Int("3"),
            ]
        );
    }
}
