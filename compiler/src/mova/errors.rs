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
        E0013, E0014, E0015, E0016, E0017, E0018, E0019, E0020, E0021, E0022, E0023, E0024,
        E0025, E0026, E0027, E0028, E0029, E0030, E0031, E0032, E0033, E0034, E0035, E9999, W0001, W0002, W0003, W0004, W0005,
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
        /// What else the name is, if it is something.
        hint: Option<NameHint>,
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
        /// What else the name is, if it is something.
        hint: Option<NameHint>,
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
    /// A call of a name that no function has.
    #[error("cannot find function `{name}`")]
    UnknownFunction {
        /// The name called.
        span: Span,
        name: String,
        /// A function with a close name, if there is one.
        suggestion: Option<String>,
        /// Whether a variable of that name is in scope (variables cannot be called).
        variable: bool,
    },
    /// A call with more or fewer arguments than the function has parameters.
    #[error(
        "function `{name}` takes {} but {} {} supplied",
        count(*expected, "argument"),
        count(*found, "argument"),
        if *found == 1 { "was" } else { "were" }
    )]
    WrongArgumentCount {
        /// The call.
        span: Span,
        name: String,
        expected: usize,
        found: usize,
        /// The function's signature, as declared (`fn gcd(a: int, b: int) -> int`), or a
        /// builtin's (`fn len(x: str | [T]) -> int`).
        signature: String,
        /// The parameter list of the declaration (none for a builtin).
        declared: Option<Span>,
    },
    /// A call of a function without a result where a value is needed.
    #[error("function `{name}` returns no value")]
    NoValue {
        /// The call.
        span: Span,
        name: String,
        /// The declaration's name (none for a builtin: `push`).
        declared: Option<Span>,
    },
    /// A second function of the same name.
    #[error("function `{name}` is declared twice")]
    DuplicateFunction {
        /// The second declaration's name.
        span: Span,
        /// The first declaration's name.
        first: Span,
        name: String,
    },
    /// Two parameters of one function with the same name.
    #[error("parameter `{name}` appears twice in the parameter list")]
    DuplicateParameter {
        /// The second parameter's name.
        span: Span,
        /// The first one's.
        first: Span,
        name: String,
    },
    /// `return` in the main program.
    #[error("`return` outside of a function")]
    ReturnOutsideFunction {
        /// The statement.
        span: Span,
    },
    /// `return;` in a function that has a result.
    #[error("`return;` in function `{name}`, which returns a value")]
    ReturnWithoutValue {
        /// The statement.
        span: Span,
        name: String,
        /// The function's result type.
        result: Span,
        /// It, as written (`int`).
        ty: String,
    },
    /// `return value;` in a function without a result.
    #[error("`return` with a value in function `{name}`, which has no result")]
    ReturnWithValue {
        /// The value.
        span: Span,
        name: String,
        /// The function's parameter list, after which a result type would be declared.
        declared: Span,
    },
    /// `break` or `continue` in a function with no loop around it inside the function.
    #[error("`{keyword}` cannot leave function `{name}`")]
    JumpOutOfFunction {
        /// The statement.
        span: Span,
        /// `break` or `continue`.
        keyword: &'static str,
        name: String,
        /// The function's name in its declaration.
        function: Span,
    },
    /// A function with a result whose end can be reached.
    #[error("function `{name}` can reach its end without returning a value")]
    MissingReturn {
        /// The closing brace of its body.
        span: Span,
        name: String,
        /// Its result type.
        result: Span,
        /// It, as written (`int`).
        ty: String,
    },
    /// A type name that is not a type.
    #[error("cannot find type `{name}`")]
    UnknownType { span: Span, name: String },
    /// A function declared inside a block.
    #[error("function `{name}` is declared inside a block")]
    NestedFunction {
        /// The declaration's name.
        span: Span,
        name: String,
    },
    /// A value of one type where another is needed.
    #[error("mismatched types")]
    TypeMismatch {
        /// The value.
        span: Span,
        /// What is needed, in words: "`str`", "an array".
        expected: String,
        /// The value's type.
        found: String,
        /// What says which type is needed, and how it says so (an annotation, a parameter, the
        /// other operand), if something does.
        because: Vec<(Span, String)>,
        /// How to fix it, when there is something to say.
        help: Option<String>,
    },
    /// A value whose type nothing says: `[]` with no annotation.
    #[error("type annotations needed for {what}")]
    CannotInfer {
        /// The value.
        span: Span,
        /// What it is: "the empty array".
        what: String,
        /// How to say the type: `var xs: [int] = [];`.
        help: String,
    },
    /// `x[i]` where `x` is neither a string nor an array.
    #[error("cannot index into a value of type `{ty}`")]
    NotIndexable {
        /// The value indexed.
        span: Span,
        ty: String,
    },
    /// An operator applied to a type it is not defined for (`==` on arrays, `-` on strings).
    #[error("{}", if *binary { format!("binary operation `{op}` cannot be applied to type `{ty}`") } else { format!("cannot apply unary operator `{op}` to type `{ty}`") })]
    NoOperator {
        /// The operation.
        span: Span,
        op: &'static str,
        ty: String,
        /// Whether it is a binary operator.
        binary: bool,
        /// The (left) operand.
        operand: Span,
    },
    /// A function declared with the name of a builtin function.
    #[error("function `{name}` has the name of a builtin function")]
    BuiltinRedefined {
        /// The declaration's name.
        span: Span,
        name: String,
    },
    /// An assignment to a byte of a string.
    #[error("cannot assign to a byte of a string")]
    StringElement {
        /// The element assigned to.
        span: Span,
        /// The string, and its type's source (the variable's name).
        string: Span,
    },
    /// A string literal whose line ends before its closing quote.
    #[error("unterminated string literal")]
    UnterminatedString {
        /// From the opening quote to the end of the line.
        span: Span,
    },
    /// An escape in a string literal that is not one of the language's.
    #[error("invalid escape in a string literal")]
    InvalidEscape {
        /// The escape, from its backslash.
        span: Span,
        /// What is wrong with it.
        reason: String,
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
    /// A function the main program never calls, directly or through other functions.
    #[error("function `{name}` is never called")]
    UnusedFunction {
        /// The declaration's name.
        span: Span,
        name: String,
    },
    /// A parameter that is never read.
    #[error("unused parameter: `{name}`")]
    UnusedParameter {
        /// The parameter's name.
        span: Span,
        name: String,
        /// Whether it is assigned to in the body.
        assigned: bool,
    },
}

/// What a name that is no variable in scope is instead, when that explains the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameHint {
    /// A function: it is called, `name(…)`, not read.
    Function,
    /// A variable of the main program, used in a function: functions do not see them.
    MainVariable,
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
            LangError::UnknownFunction { .. } => LangCode::E0016,
            LangError::WrongArgumentCount { .. } => LangCode::E0017,
            LangError::NoValue { .. } => LangCode::E0018,
            LangError::DuplicateFunction { .. } => LangCode::E0019,
            LangError::DuplicateParameter { .. } => LangCode::E0020,
            LangError::ReturnOutsideFunction { .. } => LangCode::E0021,
            LangError::ReturnWithoutValue { .. } => LangCode::E0022,
            LangError::ReturnWithValue { .. } => LangCode::E0023,
            LangError::JumpOutOfFunction { .. } => LangCode::E0024,
            LangError::MissingReturn { .. } => LangCode::E0025,
            LangError::UnknownType { .. } => LangCode::E0026,
            LangError::NestedFunction { .. } => LangCode::E0027,
            LangError::TypeMismatch { .. } => LangCode::E0028,
            LangError::CannotInfer { .. } => LangCode::E0029,
            LangError::NotIndexable { .. } => LangCode::E0030,
            LangError::NoOperator { .. } => LangCode::E0031,
            LangError::BuiltinRedefined { .. } => LangCode::E0032,
            LangError::StringElement { .. } => LangCode::E0033,
            LangError::UnterminatedString { .. } => LangCode::E0034,
            LangError::InvalidEscape { .. } => LangCode::E0035,
            LangError::Internal(_) => LangCode::E9999,
            LangError::UnusedVariable { .. } => LangCode::W0001,
            LangError::Unreachable { .. } => LangCode::W0002,
            LangError::AlwaysTraps { .. } => LangCode::W0003,
            LangError::UnusedFunction { .. } => LangCode::W0004,
            LangError::UnusedParameter { .. } => LangCode::W0005,
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
            | LangError::AlwaysTraps { span, .. }
            | LangError::UnknownFunction { span, .. }
            | LangError::WrongArgumentCount { span, .. }
            | LangError::NoValue { span, .. }
            | LangError::DuplicateFunction { span, .. }
            | LangError::DuplicateParameter { span, .. }
            | LangError::ReturnOutsideFunction { span }
            | LangError::ReturnWithoutValue { span, .. }
            | LangError::ReturnWithValue { span, .. }
            | LangError::JumpOutOfFunction { span, .. }
            | LangError::MissingReturn { span, .. }
            | LangError::UnknownType { span, .. }
            | LangError::NestedFunction { span, .. }
            | LangError::TypeMismatch { span, .. }
            | LangError::CannotInfer { span, .. }
            | LangError::NotIndexable { span, .. }
            | LangError::NoOperator { span, .. }
            | LangError::BuiltinRedefined { span, .. }
            | LangError::StringElement { span, .. }
            | LangError::UnterminatedString { span }
            | LangError::InvalidEscape { span, .. }
            | LangError::UnusedFunction { span, .. }
            | LangError::UnusedParameter { span, .. } => span,
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
                hint,
            } => error_at(span, "not found in this scope".into()).with_help(
                hinted(name, *hint)
                    .or_else(|| did_you_mean(suggestion))
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
                hint,
            } => error_at(span, "not declared".into()).with_help(
                hinted(name, *hint)
                    .or_else(|| did_you_mean(suggestion))
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
            LangError::UnknownFunction {
                span,
                name,
                suggestion,
                variable,
            } => error_at(span, "no function has this name".into()).with_help(
                match (suggestion, variable) {
                    (Some(suggestion), _) => {
                        format!("a function with a similar name exists: `{suggestion}`")
                    }
                    (None, true) => format!("`{name}` is a variable, and a variable cannot be called"),
                    (None, false) => format!(
                        "declare it at the top level: `fn {name}(…) {{ … }}`, before or after its use"
                    ),
                },
            ),
            LangError::WrongArgumentCount {
                span,
                expected,
                found,
                signature,
                declared,
                ..
            } => secondaries(
                error_at(
                    span,
                    format!("expected {}, found {found}", count(*expected, "argument")),
                ),
                declared
                    .iter()
                    .map(|declared| (declared.clone(), format!("`{signature}` declared here"))),
            )
            .with_help(format!(
                "pass one argument for each parameter of `{signature}`"
            )),
            LangError::NoValue {
                span,
                name,
                declared: Some(declared),
            } => error_at(span, "this call has no value to use".into())
                .with_secondary(declared.clone(), "declared without a result type")
                .with_help(format!(
                    "call it as a statement, `{name}(…);`, or give it a result: `fn {name}(…) -> int` and `return …;`"
                )),
            LangError::NoValue {
                span,
                name,
                declared: None,
            } => error_at(span, "this call has no value to use".into())
                .with_help(format!(
                    "`{name}` changes its array and returns nothing: call it as a statement, `{name}(…);`"
                )),
            LangError::DuplicateFunction { span, first, name } => error_at(
                span,
                format!("`{name}` declared again here"),
            )
            .with_secondary(first.clone(), "first declared here")
            .with_help("rename one of them: functions share one name space for the whole program"),
            LangError::DuplicateParameter { span, first, name } => error_at(
                span,
                format!("`{name}` used again here"),
            )
            .with_secondary(first.clone(), "first used here")
            .with_help("give each parameter a name of its own"),
            LangError::ReturnOutsideFunction { span } => {
                error_at(span, "not inside a function".into()).with_help(
                    "the main program ends with `halt;` or by running off its end",
                )
            }
            LangError::ReturnWithoutValue {
                span, result, ty, ..
            } => {
                error_at(span, "returns no value".into())
                    .with_secondary(result.clone(), format!("the function returns {}", a_type(ty)))
                    .with_help("return a value: `return …;`")
            }
            LangError::ReturnWithValue {
                span,
                name,
                declared,
            } => error_at(span, "this value has nowhere to go".into())
                .with_secondary(declared.clone(), "no result type is declared after this")
                .with_help(format!(
                    "declare a result type, `fn {name}(…) -> int`, or write `return;`"
                )),
            LangError::JumpOutOfFunction {
                span,
                keyword,
                function,
                ..
            } => error_at(span, "no loop encloses this inside its function".into())
                .with_secondary(function.clone(), "the function begins here")
                .with_help(format!(
                    "a loop outside a function is not visible inside it, even around a call: leave the function with `return` and `{keyword}` in the caller"
                )),
            LangError::MissingReturn {
                span, result, ty, ..
            } => error_at(
                span,
                "control reaches the end of the function here".into(),
            )
            .with_secondary(result.clone(), format!("the function returns {}", a_type(ty)))
            .with_help("add `return …;` before the closing brace"),
            LangError::UnknownType { span, .. } => error_at(span, "not a type".into())
                .with_help("the types are `int`, `str` and arrays of a type, `[int]`, `[[str]]`"),
            LangError::NestedFunction { span, .. } => error_at(
                span,
                "declared inside a block".into(),
            )
            .with_help(
                "declare functions at the top level, outside every block: before or after the code that calls them",
            ),
            LangError::TypeMismatch {
                span,
                expected,
                found,
                because,
                help,
            } => {
                let diagnostic = secondaries(
                    error_at(span, format!("expected {expected}, found `{found}`")),
                    because.clone(),
                );
                match help {
                    Some(help) => diagnostic.with_help(help.clone()),
                    None => diagnostic,
                }
            }
            LangError::CannotInfer { span, help, .. } => {
                error_at(span, "the type of this cannot be inferred".into()).with_help(help.clone())
            }
            LangError::NotIndexable { span, ty } => error_at(span, format!("this is `{ty}`"))
                .with_help("only strings (`s[i]`, a byte) and arrays (`a[i]`, an element) are indexed"),
            LangError::NoOperator {
                span,
                op,
                ty,
                binary,
                operand,
            } => {
                // A prefix operator's operation and operand are side by side: one label says
                // it all.
                let diagnostic = if *binary {
                    error_at(span, format!("`{op}` is not defined for `{ty}`"))
                        .with_secondary(operand.clone(), format!("this is `{ty}`"))
                } else {
                    error_at(span, format!("`{op}` is not defined for `{ty}`"))
                };
                let array = ty.starts_with('[');
                match (*op, array) {
                    ("==" | "!=", true) => diagnostic.with_help(
                        "arrays are references and are not compared: compare their lengths and elements in a loop",
                    ),
                    ("+", true) => diagnostic.with_help("add elements to an array with `push(a, v)`"),
                    ("&&" | "||" | "!", false) => diagnostic.with_help(
                        "conditions are ints: test a string with `len(s) > 0` or `s != \"\"`",
                    ),
                    _ if ty == "str" => diagnostic.with_help(
                        "strings have `+` (concatenation) and the comparisons `== != < <= > >=`",
                    ),
                    _ => diagnostic,
                }
            }
            LangError::BuiltinRedefined { span, .. } => error_at(span, "this name is taken".into())
                .with_help(format!(
                    "the builtin functions are {}; give the function another name",
                    crate::mova::check::BUILTINS.map(|name| format!("`{name}`")).join(", ")
                )),
            LangError::StringElement { span, string } => error_at(
                span,
                "strings cannot be changed".into(),
            )
            .with_secondary(string.clone(), "this is `str`")
            .with_help("build a new string with `+` and assign it instead, or use an array of ints"),
            LangError::UnterminatedString { span } => error_at(
                span,
                "this string has no closing `\"` on its line".into(),
            )
            .with_help("close it with `\"`; a line break inside a string is written `\\n`"),
            LangError::InvalidEscape { span, reason } => error_at(span, reason.clone()).with_help(
                "the escapes are `\\n \\t \\r \\0 \\\\ \\\"` and `\\u{…}` (a Unicode scalar value in hexadecimal)",
            ),
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
            LangError::UnusedFunction { span, name } => {
                warning_at(span, "declared, but the main program never calls it").with_help(
                    format!("if this is intentional, prefix it with an underscore: `_{name}`"),
                )
            }
            LangError::UnusedParameter {
                span,
                name,
                assigned,
            } => warning_at(
                span,
                if *assigned {
                    "assigned, but its value is never read"
                } else {
                    "never read"
                },
            )
            .with_help(format!(
                "if this is intentional, prefix it with an underscore: `_{name}`"
            )),
        }
    }
}

/// The help for a name that is no variable but something else.
fn hinted(name: &str, hint: Option<NameHint>) -> Option<String> {
    Some(match hint? {
        NameHint::Function => format!("`{name}` is a function: call it, `{name}(…)`"),
        NameHint::MainVariable => format!(
            "`{name}` is a variable of the main program, and functions do not see the main program's variables: pass it as a parameter"
        ),
    })
}

/// `diagnostic` with the secondary labels `labels` added.
fn secondaries(
    mut diagnostic: Diagnostic,
    labels: impl IntoIterator<Item = (Span, String)>,
) -> Diagnostic {
    diagnostic.secondary.extend(labels);
    diagnostic
}

/// A type with its article, as a label says it: "an `int`", "a `str`", "a `[int]`".
fn a_type(ty: &str) -> String {
    if ty == "int" {
        String::from("an `int`")
    } else {
        format!("a `{ty}`")
    }
}

/// `n` things, singular or plural: `1 argument`, `2 arguments`.
fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

fn closing(open: &str) -> &'static str {
    match open {
        "(" => ")",
        "[" => "]",
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
