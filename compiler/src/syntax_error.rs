//! Syntax errors from the `chumsky` parsers of both front ends, in the words diagnostics use.

use crate::diag::Span;
use chumsky::error::{Rich, RichPattern, RichReason};
use std::fmt::Display;

/// A syntax error: where, what was found and what would have been accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// The offending token (or the end of the input).
    pub span: Span,
    /// What was found, as the message says it.
    pub found: String,
    /// What would have been accepted there, or a message of the parser's own.
    pub expected: Expected,
}

/// What a syntax error says would have been right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Any of these, sorted, without repeats.
    OneOf(Vec<String>),
    /// A message of its own.
    Message(String),
}

impl SyntaxError {
    /// Describes a parser error, naming tokens by their `Display`.
    pub fn from_rich<T: Display>(error: &Rich<'_, T>) -> SyntaxError {
        let found = error
            .found()
            .map_or_else(|| String::from("end of input"), ToString::to_string);
        let expected = match error.reason() {
            RichReason::Custom(message) => Expected::Message(message.clone()),
            RichReason::ExpectedFound { .. } => {
                let mut expected: Vec<String> = error.expected().map(describe).collect();
                expected.sort();
                expected.dedup();
                Expected::OneOf(expected)
            }
        };
        SyntaxError {
            span: error.span().into_range(),
            found,
            expected,
        }
    }
}

/// Names one thing the parser would have accepted.
// `RichPattern` is non-exhaustive, so a catch-all arm is unavoidable here.
#[allow(clippy::wildcard_enum_match_arm)]
fn describe<T: Display>(pattern: &RichPattern<'_, T>) -> String {
    match pattern {
        RichPattern::Token(token) => token.to_string(),
        RichPattern::Label(label) => label.to_string(),
        RichPattern::Identifier(name) => format!("`{name}`"),
        RichPattern::EndOfInput => String::from("end of input"),
        RichPattern::Any => String::from("any token"),
        _ => String::from("something else"),
    }
}
