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
    /// `(`
    #[token("(")]
    LParen,
    /// `)`
    #[token(")")]
    RParen,
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
    Token::lexer(source)
        .spanned()
        .map(|(token, span)| (token.unwrap_or(Token::Error), span))
        .collect()
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
