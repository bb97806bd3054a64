//! Everything the compiler can say about a `.mova` program: errors (`E…` codes) and warnings (`W…`
//! codes), as one enum that converts to [`Diagnostic`]. [`LangCode::ALL`] lists the codes;
//! `docs/language.md` shows each with an example, and `compiler/tests/cases/mova/` holds a case
//! for each.

use crate::diag::{Diagnostic, Severity, Span};
use crate::shared::{self, codes};

codes! {
    /// A language diagnostic's stable code.
    pub enum LangCode {
        E0001, E0002, E0003, E0004, E0005, E0006, E0007, E0008, E0009, E0010, E0011, E0012,
        E0013, E0014, E0015, E9999, W0001, W0002, W0003,
    }
}

/// A problem with a `.mova` program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LangError {
    /// A character that starts no token.
    #[error(transparent)]
    InvalidCharacter(shared::InvalidCharacter),
    /// A token where the grammar does not allow it.
    #[error("expected {}, found {found}", one_of(expected))]
    Syntax {
        span: Span,
        /// What was found.
        found: String,
        /// What would have been accepted.
        expected: Vec<String>,
        /// The token after which a `;` is missing, when that is the likely fix.
        missing_semi: Option<Span>,
        /// The keyword a name before the error is a likely misspelling of.
        keyword: Option<String>,
    },
    /// An opening delimiter that is never closed.
    #[error("unclosed delimiter `{open}`")]
    Unclosed {
        /// The opening delimiter.
        span: Span,
        /// It, as written.
        open: &'static str,
        /// Where the input ends.
        end: Span,
    },
    /// A closing delimiter with nothing to close.
    #[error("unexpected closing delimiter `{close}`")]
    Unmatched {
        span: Span,
        /// It, as written.
        close: &'static str,
    },
    /// A name that refers to no variable in scope.
    #[error("cannot find variable `{name}` in this scope")]
    UnknownVariable {
        /// The use.
        span: Span,
        name: String,
        /// A close name in scope, if there is one.
        suggestion: Option<String>,
    },
    /// A second declaration of a name in the same scope.
    #[error("`{name}` is already declared in this scope")]
    DuplicateDeclaration {
        /// The second declaration's name.
        span: Span,
        /// The first declaration's name.
        first: Span,
        name: String,
    },
    /// `break` outside any loop.
    #[error("`break` outside of a loop")]
    BreakOutsideLoop {
        /// The statement.
        span: Span,
    },
    /// `continue` outside any loop.
    #[error("`continue` outside of a loop")]
    ContinueOutsideLoop {
        /// The statement.
        span: Span,
    },
    /// `break name` or `continue name` with no enclosing loop of that name.
    #[error("use of undeclared label `{name}`")]
    UnknownLabel {
        span: Span,
        name: String,
        /// A close enclosing label, if there is one.
        suggestion: Option<String>,
    },
    /// An integer literal that does not fit in `i64`.
    #[error("integer literal is too large")]
    LiteralOutOfRange {
        span: Span,
        /// It, as written.
        text: String,
    },
    /// An assignment to a name that refers to no variable in scope.
    #[error("cannot assign to undeclared variable `{name}`")]
    UndeclaredAssignment {
        span: Span,
        name: String,
        /// A close name in scope, if there is one.
        suggestion: Option<String>,
    },
    /// An integer literal with a digit its base does not have.
    #[error(transparent)]
    InvalidNumber(shared::InvalidNumber),
    /// A program beyond what the VM can address.
    #[error(transparent)]
    TooLarge(shared::TooLarge),
    /// A line in an indented body whose indentation cannot be compared with its label's line's
    /// without knowing how wide a tab is.
    #[error("inconsistent use of tabs and spaces in indentation")]
    InconsistentIndentation {
        /// The line's indentation.
        span: Span,
        /// The label's line's indentation.
        label: Span,
    },
    /// A program nested deeper than the compiler goes.
    #[error("nesting too deep: more than {limit} levels")]
    TooDeep {
        /// The token that opens the level past the limit.
        span: Span,
        /// The limit ([`MAX_NESTING`](crate::mova::syntax::MAX_NESTING)).
        limit: usize,
    },
    /// A case that cannot happen: the compiler broke an invariant of its own.
    #[error(transparent)]
    Internal(shared::Internal),
    /// A variable that is never read.
    #[error("unused variable: `{name}`")]
    UnusedVariable {
        /// The declaration's name.
        span: Span,
        name: String,
        /// Whether it is assigned to after its declaration.
        assigned: bool,
    },
    /// A statement that can never run.
    #[error("unreachable statement")]
    Unreachable {
        /// The first unreachable statement.
        span: Span,
        /// The statement that makes it unreachable.
        cause: Span,
        /// What that statement is.
        what: &'static str,
    },
    /// An operation on constants that always traps at runtime.
    #[error("this operation will trap at runtime: {reason}")]
    AlwaysTraps {
        /// The operation.
        span: Span,
        reason: String,
    },
}

impl LangError {
    /// The diagnostic's stable code.
    pub fn code(&self) -> &'static str {
        self.lang_code().as_str()
    }

    /// The diagnostic's stable code, as one of [`LangCode::ALL`].
    pub fn lang_code(&self) -> LangCode {
        match self {
            LangError::InvalidCharacter(_) => LangCode::E0001,
            LangError::Syntax { .. } => LangCode::E0002,
            LangError::Unclosed { .. } => LangCode::E0003,
            LangError::Unmatched { .. } => LangCode::E0004,
            LangError::UnknownVariable { .. } => LangCode::E0005,
            LangError::DuplicateDeclaration { .. } => LangCode::E0006,
            LangError::BreakOutsideLoop { .. } => LangCode::E0007,
            LangError::ContinueOutsideLoop { .. } => LangCode::E0008,
            LangError::UnknownLabel { .. } => LangCode::E0009,
            LangError::LiteralOutOfRange { .. } => LangCode::E0010,
            LangError::UndeclaredAssignment { .. } => LangCode::E0011,
            LangError::InvalidNumber(_) => LangCode::E0012,
            LangError::TooLarge(_) => LangCode::E0013,
            LangError::InconsistentIndentation { .. } => LangCode::E0014,
            LangError::TooDeep { .. } => LangCode::E0015,
            LangError::Internal(_) => LangCode::E9999,
            LangError::UnusedVariable { .. } => LangCode::W0001,
            LangError::Unreachable { .. } => LangCode::W0002,
            LangError::AlwaysTraps { .. } => LangCode::W0003,
        }
    }

    /// Whether it is an error (which stops compilation) or a warning: the code says, by its
    /// letter.
    pub fn severity(&self) -> Severity {
        if self.code().starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }

    /// Where it is reported.
    pub fn span(&self) -> &Span {
        match self {
            LangError::InvalidCharacter(shared::InvalidCharacter { span, .. })
            | LangError::InvalidNumber(shared::InvalidNumber { span, .. })
            | LangError::TooLarge(shared::TooLarge { span, .. })
            | LangError::Internal(shared::Internal { span, .. })
            | LangError::Syntax { span, .. }
            | LangError::Unclosed { span, .. }
            | LangError::Unmatched { span, .. }
            | LangError::UnknownVariable { span, .. }
            | LangError::DuplicateDeclaration { span, .. }
            | LangError::BreakOutsideLoop { span }
            | LangError::ContinueOutsideLoop { span }
            | LangError::UnknownLabel { span, .. }
            | LangError::LiteralOutOfRange { span, .. }
            | LangError::UndeclaredAssignment { span, .. }
            | LangError::InconsistentIndentation { span, .. }
            | LangError::TooDeep { span, .. }
            | LangError::UnusedVariable { span, .. }
            | LangError::Unreachable { span, .. }
            | LangError::AlwaysTraps { span, .. } => span,
        }
    }

    /// An internal compiler error (E9999) at `span`.
    pub fn internal(span: Span, what: impl Into<String>) -> LangError {
        LangError::Internal(shared::Internal {
            span,
            what: what.into(),
        })
    }

    /// A program too large (E0013), the limit exceeded at `span`.
    pub fn too_large(span: Span, what: impl Into<String>) -> LangError {
        LangError::TooLarge(shared::TooLarge {
            span,
            what: what.into(),
        })
    }
}

impl From<LangError> for Diagnostic {
    fn from(error: LangError) -> Diagnostic {
        let code = error.code();
        let message = error.to_string();
        let error_at = |span: &Span, label: String| {
            Diagnostic::error(code, message.clone(), span.clone(), label)
        };
        let warning_at = |span: &Span, label: &str| Diagnostic {
            severity: Severity::Warning,
            ..error_at(span, label.into())
        };
        let did_you_mean = |suggestion: &Option<String>| {
            suggestion
                .as_ref()
                .map(|suggestion| format!("a variable with a similar name exists: `{suggestion}`"))
        };
        match &error {
            LangError::InvalidCharacter(invalid) => invalid
                .diagnostic(code)
                .with_help("see docs/language.md for the operators the language has"),
            LangError::Syntax {
                span,
                found,
                missing_semi,
                keyword,
                ..
            } => {
                let diagnostic = error_at(span, format!("unexpected {found}"));
                match (keyword, missing_semi) {
                    (Some(keyword), _) => {
                        diagnostic.with_help(format!("did you mean the keyword `{keyword}`?"))
                    }
                    (None, Some(previous)) => diagnostic
                        .with_secondary(previous.clone(), "expected `;` after this")
                        .with_help("statements end with `;`"),
                    (None, None) => diagnostic,
                }
            }
            LangError::Unclosed { span, open, end } => {
                error_at(span, format!("this `{open}` is never closed"))
                    .with_secondary(end.clone(), "the input ends here")
                    .with_help(format!("add the matching `{}`", closing(open)))
            }
            LangError::Unmatched { span, close } => {
                error_at(span, format!("this `{close}` closes nothing"))
                    .with_help("remove it, or add the opening delimiter it belongs to")
            }
            LangError::UnknownVariable {
                span,
                suggestion,
                name,
            } => error_at(span, "not found in this scope".into()).with_help(
                did_you_mean(suggestion)
                    .unwrap_or_else(|| format!("declare it first: `var {name} = 0;`")),
            ),
            LangError::DuplicateDeclaration { span, first, name } => error_at(
                span,
                format!("`{name}` declared again here"),
            )
            .with_secondary(first.clone(), "first declared here")
            .with_help(
                "assign to it with `=` instead, or declare it in an inner block to shadow it",
            ),
            LangError::BreakOutsideLoop { span } => {
                error_at(span, "cannot `break` outside of a loop".into()).with_help(
                    "`break` leaves the innermost `while`, `loop` or labelled loop around it",
                )
            }
            LangError::ContinueOutsideLoop { span } => {
                error_at(span, "cannot `continue` outside of a loop".into())
                    .with_help("`continue` starts the next iteration of the loop around it")
            }
            LangError::UnknownLabel {
                span, suggestion, ..
            } => error_at(span, "no enclosing loop has this label".into()).with_help(
                match suggestion {
                    Some(suggestion) => {
                        format!("a label with a similar name encloses this: `{suggestion}`")
                    }
                    None => {
                        "label a loop with `name:` to break out of it or continue it by name".into()
                    }
                },
            ),
            LangError::LiteralOutOfRange { span, .. } => error_at(
                span,
                "does not fit in a 64-bit signed integer".into(),
            )
            .with_help(format!("values range from {} to {}", i64::MIN, i64::MAX)),
            LangError::UndeclaredAssignment {
                span,
                suggestion,
                name,
            } => error_at(span, "not declared".into()).with_help(
                did_you_mean(suggestion)
                    .unwrap_or_else(|| format!("declare it with `var {name} = …;`")),
            ),
            LangError::InvalidNumber(invalid) => invalid.diagnostic(code).with_help(
                "integers are decimal or `0x` hexadecimal, with `_` allowed between digits",
            ),
            LangError::TooLarge(too_large) => too_large
                .diagnostic(code)
                .with_help("split the work differently; docs/language.md lists the limits"),
            LangError::InconsistentIndentation { span, label } => error_at(
                span,
                "this indentation is deeper or shallower depending on how wide a tab is".into(),
            )
            .with_secondary(label.clone(), "the label's line is indented like this")
            .with_help("indent a label's line and its body alike: with spaces only, or tabs only"),
            LangError::TooDeep { span, limit } => {
                error_at(span, format!("this opens level {}", limit + 1)).with_help(
                    "brackets, blocks, indented bodies and prefix operators each count a level; \
                     compute an inner part into a variable first",
                )
            }
            LangError::Internal(internal) => internal.diagnostic(code),
            LangError::UnusedVariable {
                span,
                name,
                assigned,
            } => warning_at(
                span,
                if *assigned {
                    "assigned, but its value is never read"
                } else {
                    "declared, but never read"
                },
            )
            .with_help(format!(
                "if this is intentional, prefix it with an underscore: `_{name}`"
            )),
            LangError::Unreachable { span, cause, what } => {
                warning_at(span, "unreachable statement").with_secondary(
                    cause.clone(),
                    format!("any code following this {what} is unreachable"),
                )
            }
            LangError::AlwaysTraps { span, .. } => warning_at(span, "this traps whenever it runs"),
        }
    }
}

fn closing(open: &str) -> &'static str {
    match open {
        "(" => ")",
        _ => "}",
    }
}

fn one_of(items: &[String]) -> String {
    match items {
        [] => String::from("something else"),
        [one] => one.clone(),
        [init @ .., last] => format!("one of {} or {last}", init.join(", ")),
    }
}
