//! Everything the compiler can say about a `.mova` program: errors (`E…` codes) and warnings (`W…`
//! codes), as one enum that converts to [`Diagnostic`]. `docs/language.md` shows each code with an
//! example, and `compiler/tests/cases/mova/` holds a case for each.

use crate::diag::{Diagnostic, Severity, Span};
use crate::number::IntError;

/// A problem with a `.mova` program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LangError {
    /// A character that starts no token.
    #[error("invalid character `{ch}`")]
    InvalidCharacter {
        /// Where it is.
        span: Span,
        /// The character.
        ch: char,
    },
    /// A token where the grammar does not allow it.
    #[error("expected {}, found {found}", one_of(expected))]
    Syntax {
        /// Where it is.
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
        /// Where it is.
        span: Span,
        /// It, as written.
        close: &'static str,
    },
    /// A name that refers to no variable in scope.
    #[error("cannot find variable `{name}` in this scope")]
    UnknownVariable {
        /// The use.
        span: Span,
        /// The name.
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
        /// The name.
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
        /// The label.
        span: Span,
        /// The name.
        name: String,
        /// A close enclosing label, if there is one.
        suggestion: Option<String>,
    },
    /// An integer literal that does not fit in `i64`.
    #[error("integer literal is too large")]
    LiteralOutOfRange {
        /// The literal.
        span: Span,
        /// It, as written.
        text: String,
    },
    /// An assignment to a name that refers to no variable in scope.
    #[error("cannot assign to undeclared variable `{name}`")]
    UndeclaredAssignment {
        /// The name.
        span: Span,
        /// The name.
        name: String,
        /// A close name in scope, if there is one.
        suggestion: Option<String>,
    },
    /// An integer literal with a digit its base does not have.
    #[error("invalid integer literal `{text}`")]
    InvalidNumber {
        /// The literal.
        span: Span,
        /// It, as written.
        text: String,
        /// What is wrong with it.
        reason: IntError,
    },
    /// A program beyond what the VM can address.
    #[error("program too large: {what}")]
    TooLarge {
        /// Where the limit was exceeded.
        span: Span,
        /// Which limit.
        what: String,
    },
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
    /// A variable that is never read.
    #[error("unused variable: `{name}`")]
    UnusedVariable {
        /// The declaration's name.
        span: Span,
        /// The name.
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
        /// Why.
        reason: String,
    },
}

impl LangError {
    /// The diagnostic's stable code.
    pub fn code(&self) -> &'static str {
        match self {
            LangError::InvalidCharacter { .. } => "E0001",
            LangError::Syntax { .. } => "E0002",
            LangError::Unclosed { .. } => "E0003",
            LangError::Unmatched { .. } => "E0004",
            LangError::UnknownVariable { .. } => "E0005",
            LangError::DuplicateDeclaration { .. } => "E0006",
            LangError::BreakOutsideLoop { .. } => "E0007",
            LangError::ContinueOutsideLoop { .. } => "E0008",
            LangError::UnknownLabel { .. } => "E0009",
            LangError::LiteralOutOfRange { .. } => "E0010",
            LangError::UndeclaredAssignment { .. } => "E0011",
            LangError::InvalidNumber { .. } => "E0012",
            LangError::TooLarge { .. } => "E0013",
            LangError::InconsistentIndentation { .. } => "E0014",
            LangError::TooDeep { .. } => "E0015",
            LangError::UnusedVariable { .. } => "W0001",
            LangError::Unreachable { .. } => "W0002",
            LangError::AlwaysTraps { .. } => "W0003",
        }
    }

    /// Whether it is an error (which stops compilation) or a warning.
    pub fn severity(&self) -> Severity {
        match self {
            LangError::UnusedVariable { .. }
            | LangError::Unreachable { .. }
            | LangError::AlwaysTraps { .. } => Severity::Warning,
            LangError::InvalidCharacter { .. }
            | LangError::Syntax { .. }
            | LangError::Unclosed { .. }
            | LangError::Unmatched { .. }
            | LangError::UnknownVariable { .. }
            | LangError::DuplicateDeclaration { .. }
            | LangError::BreakOutsideLoop { .. }
            | LangError::ContinueOutsideLoop { .. }
            | LangError::UnknownLabel { .. }
            | LangError::LiteralOutOfRange { .. }
            | LangError::UndeclaredAssignment { .. }
            | LangError::InvalidNumber { .. }
            | LangError::TooLarge { .. }
            | LangError::InconsistentIndentation { .. }
            | LangError::TooDeep { .. } => Severity::Error,
        }
    }

    /// Where it is reported.
    pub fn span(&self) -> &Span {
        match self {
            LangError::InvalidCharacter { span, .. }
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
            | LangError::InvalidNumber { span, .. }
            | LangError::TooLarge { span, .. }
            | LangError::InconsistentIndentation { span, .. }
            | LangError::TooDeep { span, .. }
            | LangError::UnusedVariable { span, .. }
            | LangError::Unreachable { span, .. }
            | LangError::AlwaysTraps { span, .. } => span,
        }
    }
}

impl From<LangError> for Diagnostic {
    fn from(error: LangError) -> Diagnostic {
        let mut diagnostic =
            Diagnostic::error(error.code(), error.to_string(), error.span().clone(), "");
        diagnostic.severity = error.severity();
        let (label, help) = describe(&error);
        diagnostic.label = label;
        diagnostic.help = help;
        match &error {
            LangError::DuplicateDeclaration { first, .. } => {
                diagnostic
                    .secondary
                    .push((first.clone(), String::from("first declared here")));
            }
            LangError::Unclosed { end, .. } => {
                diagnostic
                    .secondary
                    .push((end.clone(), String::from("the input ends here")));
            }
            LangError::Syntax {
                missing_semi: Some(previous),
                ..
            } => {
                diagnostic
                    .secondary
                    .push((previous.clone(), String::from("expected `;` after this")));
            }
            LangError::InconsistentIndentation { label, .. } => {
                diagnostic.secondary.push((
                    label.clone(),
                    String::from("the label's line is indented like this"),
                ));
            }
            LangError::Unreachable { cause, what, .. } => {
                diagnostic.secondary.push((
                    cause.clone(),
                    format!("any code following this {what} is unreachable"),
                ));
            }
            LangError::InvalidCharacter { .. }
            | LangError::Syntax {
                missing_semi: None, ..
            }
            | LangError::Unmatched { .. }
            | LangError::UnknownVariable { .. }
            | LangError::BreakOutsideLoop { .. }
            | LangError::ContinueOutsideLoop { .. }
            | LangError::UnknownLabel { .. }
            | LangError::LiteralOutOfRange { .. }
            | LangError::UndeclaredAssignment { .. }
            | LangError::InvalidNumber { .. }
            | LangError::TooLarge { .. }
            | LangError::TooDeep { .. }
            | LangError::UnusedVariable { .. }
            | LangError::AlwaysTraps { .. } => {}
        }
        diagnostic
    }
}

/// The primary label and the help line of an error.
fn describe(error: &LangError) -> (String, Option<String>) {
    let did_you_mean = |suggestion: &Option<String>| {
        suggestion
            .as_ref()
            .map(|suggestion| format!("a variable with a similar name exists: `{suggestion}`"))
    };
    match error {
        LangError::InvalidCharacter { .. } => (
            "not part of any token".into(),
            Some("see docs/language.md for the operators the language has".into()),
        ),
        LangError::Syntax {
            found,
            missing_semi,
            keyword,
            ..
        } => (
            format!("unexpected {found}"),
            match (keyword, missing_semi) {
                (Some(keyword), _) => Some(format!("did you mean the keyword `{keyword}`?")),
                (None, Some(_)) => Some("statements end with `;`".into()),
                (None, None) => None,
            },
        ),
        LangError::Unclosed { open, .. } => (
            format!("this `{open}` is never closed"),
            Some(format!("add the matching `{}`", closing(open))),
        ),
        LangError::Unmatched { close, .. } => (
            format!("this `{close}` closes nothing"),
            Some("remove it, or add the opening delimiter it belongs to".into()),
        ),
        LangError::UnknownVariable {
            suggestion, name, ..
        } => (
            "not found in this scope".into(),
            did_you_mean(suggestion)
                .or_else(|| Some(format!("declare it first: `var {name} = 0;`"))),
        ),
        LangError::DuplicateDeclaration { name, .. } => (
            format!("`{name}` declared again here"),
            Some(
                "assign to it with `=` instead, or declare it in an inner block to shadow it"
                    .into(),
            ),
        ),
        LangError::BreakOutsideLoop { .. } => (
            "cannot `break` outside of a loop".into(),
            Some("`break` leaves the innermost `while`, `loop` or labelled loop around it".into()),
        ),
        LangError::ContinueOutsideLoop { .. } => (
            "cannot `continue` outside of a loop".into(),
            Some("`continue` starts the next iteration of the loop around it".into()),
        ),
        LangError::UnknownLabel { suggestion, .. } => (
            "no enclosing loop has this label".into(),
            match suggestion {
                Some(suggestion) => Some(format!(
                    "a label with a similar name encloses this: `{suggestion}`"
                )),
                None => Some(
                    "label a loop with `name:` to break out of it or continue it by name".into(),
                ),
            },
        ),
        LangError::LiteralOutOfRange { .. } => (
            "does not fit in a 64-bit signed integer".into(),
            Some(format!("values range from {} to {}", i64::MIN, i64::MAX)),
        ),
        LangError::UndeclaredAssignment {
            suggestion, name, ..
        } => (
            "not declared".into(),
            did_you_mean(suggestion).or_else(|| Some(format!("declare it with `var {name} = …;`"))),
        ),
        LangError::InvalidNumber { reason, .. } => (
            reason.to_string(),
            Some(
                "integers are decimal or `0x` hexadecimal, with `_` allowed between digits".into(),
            ),
        ),
        LangError::TooLarge { .. } => (
            "the limit is exceeded here".into(),
            Some("split the work differently; docs/language.md lists the limits".into()),
        ),
        LangError::UnusedVariable { name, assigned, .. } => (
            if *assigned {
                String::from("assigned, but its value is never read")
            } else {
                String::from("declared, but never read")
            },
            Some(format!(
                "if this is intentional, prefix it with an underscore: `_{name}`"
            )),
        ),
        LangError::InconsistentIndentation { .. } => (
            "this indentation is deeper or shallower depending on how wide a tab is".into(),
            Some("indent a label's line and its body alike: with spaces only, or tabs only".into()),
        ),
        LangError::TooDeep { limit, .. } => (
            format!("this opens level {}", limit + 1),
            Some(
                "brackets, blocks, indented bodies and prefix operators each count a level; \
                 compute an inner part into a variable first"
                    .into(),
            ),
        ),
        LangError::Unreachable { .. } => ("unreachable statement".into(), None),
        LangError::AlwaysTraps { .. } => ("this traps whenever it runs".into(), None),
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
