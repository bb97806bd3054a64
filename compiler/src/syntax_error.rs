//! Syntax errors from the `chumsky` parsers of both front ends, kept typed (tokens as tokens) so
//! that each front end decides what to say by what was found and expected, not by their words;
//! [`Pattern::describe_all`] and [`SyntaxError::found_text`] put them into words at the end.

use crate::diag::Span;
use chumsky::error::{Rich, RichPattern, RichReason};
use std::fmt::Display;

/// A syntax error: where, what was found and what would have been accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError<T> {
    /// The offending token (or the end of the input).
    pub span: Span,
    /// What was found: a token, or `None` at the end of the input.
    pub found: Option<T>,
    /// What would have been accepted there, or a message of the parser's own.
    pub expected: Expected<T>,
}

/// What a syntax error says would have been right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected<T> {
    /// Any of these.
    OneOf(Vec<Pattern<T>>),
    /// A message of its own.
    Message(String),
}

/// One thing the parser would have accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern<T> {
    /// This token.
    Token(T),
    /// What a parser labelled so (`"expression"`): the front end's grammar names these.
    Label(String),
    /// The end of the input.
    EndOfInput,
    /// Anything else, in words.
    Other(String),
}

impl<T: Display> Pattern<T> {
    /// The pattern in words: a token by its `Display`.
    pub fn describe(&self) -> String {
        match self {
            Pattern::Token(token) => token.to_string(),
            Pattern::Label(label) | Pattern::Other(label) => label.clone(),
            Pattern::EndOfInput => String::from("end of input"),
        }
    }

    /// The patterns in words, sorted, without repeats.
    pub fn describe_all(patterns: &[Pattern<T>]) -> Vec<String> {
        let mut words: Vec<String> = patterns.iter().map(Pattern::describe).collect();
        words.sort();
        words.dedup();
        words
    }
}

impl<T: Clone + Display> SyntaxError<T> {
    /// Describes a parser error, keeping its tokens.
    pub fn from_rich(error: &Rich<'_, T>) -> SyntaxError<T> {
        let expected = match error.reason() {
            RichReason::Custom(message) => Expected::Message(message.clone()),
            RichReason::ExpectedFound { .. } => {
                Expected::OneOf(error.expected().map(pattern).collect())
            }
        };
        SyntaxError {
            span: error.span().into_range(),
            found: error.found().cloned(),
            expected,
        }
    }

    /// What was found, as the message says it.
    pub fn found_text(&self) -> String {
        self.found
            .as_ref()
            .map_or_else(|| String::from("end of input"), ToString::to_string)
    }
}

/// Keeps one thing the parser would have accepted.
// `RichPattern` is non-exhaustive, so a catch-all arm is unavoidable here.
#[allow(clippy::wildcard_enum_match_arm)]
fn pattern<T: Clone>(pattern: &RichPattern<'_, T>) -> Pattern<T> {
    match pattern {
        RichPattern::Token(token) => Pattern::Token((**token).clone()),
        RichPattern::Label(label) => Pattern::Label(label.to_string()),
        RichPattern::Identifier(name) => Pattern::Other(format!("`{name}`")),
        RichPattern::EndOfInput => Pattern::EndOfInput,
        RichPattern::Any => Pattern::Other(String::from("any token")),
        _ => Pattern::Other(String::from("something else")),
    }
}
