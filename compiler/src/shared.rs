//! The errors both front ends find alike, defined once so that they read the same whichever
//! language they are found in. Each front end wraps them in its own error enum, under its own
//! code (`E0001` and `A0001` are one [`InvalidCharacter`]), and adds the help that is its own (the
//! syntax of numbers differs: `.mvasm` numbers carry their sign).

use crate::diag::{Diagnostic, Span};
use crate::number::IntError;

/// A character that starts no token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid character `{}`", crate::snippet::escape_unseen(ch.encode_utf8(&mut [0; 4])))]
pub struct InvalidCharacter {
    pub span: Span,
    pub ch: char,
}

/// A number token that is not a valid integer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid number `{text}`")]
pub struct InvalidNumber {
    pub span: Span,
    /// The token, as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: IntError,
}

/// A program beyond what the format or the VM can hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("program too large: {what}")]
pub struct TooLarge {
    /// Where the limit was exceeded.
    pub span: Span,
    /// Which limit.
    pub what: String,
}

/// A case that cannot happen: the compiler broke one of its own invariants (rustc's "internal
/// compiler error"). Reported rather than lost, and rather than writing a file the VM would refuse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("internal compiler error: {what}")]
pub struct Internal {
    /// Where the compiler was when it noticed (often the end of the input).
    pub span: Span,
    /// What broke.
    pub what: String,
}

impl InvalidCharacter {
    /// The character at `span` of `source`, where a lexer found a token that starts with none.
    pub fn at(source: &str, span: &Span) -> InvalidCharacter {
        InvalidCharacter {
            span: span.clone(),
            ch: source
                .get(span.clone())
                .and_then(|text| text.chars().next())
                .unwrap_or('\u{FFFD}'),
        }
    }

    /// The diagnostic, under the front end's `code`.
    pub fn diagnostic(&self, code: &'static str) -> Diagnostic {
        Diagnostic::error(
            code,
            self.to_string(),
            self.span.clone(),
            "not part of any token",
        )
    }
}

impl InvalidNumber {
    /// The diagnostic, under the front end's `code`.
    pub fn diagnostic(&self, code: &'static str) -> Diagnostic {
        Diagnostic::error(
            code,
            self.to_string(),
            self.span.clone(),
            self.reason.to_string(),
        )
    }
}

impl TooLarge {
    /// The diagnostic, under the front end's `code`.
    pub fn diagnostic(&self, code: &'static str) -> Diagnostic {
        Diagnostic::error(
            code,
            self.to_string(),
            self.span.clone(),
            "the limit is exceeded here",
        )
    }
}

impl Internal {
    /// The diagnostic, under the front end's `code`.
    pub fn diagnostic(&self, code: &'static str) -> Diagnostic {
        Diagnostic::error(
            code,
            self.to_string(),
            self.span.clone(),
            "the compiler failed here",
        )
        .with_help("this is a bug in the compiler, not in the program: please report it")
    }
}

/// Declares a front end's diagnostic codes: an enum with a variant per code, whose `ALL` lists
/// every one of them in order. The list is the one source of truth: each error's `code` names a
/// variant, and the tests check that every code in `ALL` is documented and has a case file.
macro_rules! codes {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($code:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $(
                #[doc = concat!("`", stringify!($code), "`")]
                $code
            ),*
        }

        impl $name {
            /// Every code, in order.
            pub const ALL: &'static [$name] = &[$($name::$code),*];

            /// The code as written in diagnostics and in the docs, e.g. `E0001`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$code => stringify!($code)),*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use codes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_character_a_terminal_would_obey_is_named_escaped() {
        let error = |ch| InvalidCharacter { span: 0..1, ch }.to_string();
        assert_eq!(error('$'), "invalid character `$`");
        assert_eq!(error('"'), "invalid character `\"`");
        assert_eq!(error('\u{1b}'), "invalid character `\\u{1b}`");
        assert_eq!(error('\u{202e}'), "invalid character `\\u{202e}`");
    }
}
