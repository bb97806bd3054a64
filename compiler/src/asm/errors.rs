//! What can be wrong with a `.mvasm` file: [`AsmError`], its codes ([`AsmCode::ALL`]) and its
//! diagnostics.

use crate::diag::{Diagnostic, Span};
use crate::shared::{self, codes};
use mova_lang::isa::{Instr, Opcode, OperandKind};
use mova_lang::verify::HeightError;

codes! {
    /// An assembler diagnostic's stable code.
    pub enum AsmCode {
        A0001, A0002, A0003, A0004, A0005, A0006, A0007, A0008, A0009, A0010, A0011, A0012,
        A0013, A0014, A0015, A0016, A0017, A0018, A0019, A0020, A0021, A0022, A0023, A9999,
    }
}

/// Everything that can be wrong with a `.mvasm` file. `docs/assembly.md` lists each code with an
/// example.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AsmError {
    /// A character that starts no token.
    #[error(transparent)]
    InvalidCharacter(shared::InvalidCharacter),
    /// A token where the grammar does not allow it.
    #[error("expected {}, found {found}", one_of(expected))]
    Syntax {
        span: Span,
        /// What was found.
        found: String,
        /// Whether that is the end of the line (or of the input), rather than a token on it.
        at_line_end: bool,
        /// What would have been accepted.
        expected: Vec<String>,
    },
    /// A mnemonic that names no opcode.
    #[error("unknown mnemonic `{name}`")]
    UnknownMnemonic {
        span: Span,
        /// The mnemonic as written.
        name: String,
        /// A close mnemonic, if there is one.
        suggestion: Option<&'static str>,
    },
    /// An opcode that needs an operand has none.
    #[error("`{opcode}` needs an operand")]
    MissingOperand {
        /// The instruction.
        span: Span,
        opcode: Opcode,
        /// The operand kind it needs.
        kind: OperandKind,
    },
    /// An opcode that takes no operand has one.
    #[error("`{opcode}` takes no operand")]
    UnexpectedOperand {
        /// The operand.
        span: Span,
        opcode: Opcode,
    },
    /// A number token that is not a valid number.
    #[error(transparent)]
    InvalidNumber(shared::InvalidNumber),
    /// An operand outside the range of its kind.
    #[error("operand of `{opcode}` out of range")]
    OutOfRange {
        /// The operand.
        span: Span,
        opcode: Opcode,
        kind: OperandKind,
    },
    /// A label defined twice.
    #[error("duplicate label `{name}`")]
    DuplicateLabel {
        /// The second definition.
        span: Span,
        /// The first definition.
        first: Span,
        name: String,
    },
    /// A label used where only a number can go.
    #[error("`{opcode}` takes a number, not a label")]
    LabelNotAllowed {
        /// The label operand.
        span: Span,
        opcode: Opcode,
        /// The operand kind it takes.
        kind: OperandKind,
    },
    /// A label that is used but never defined.
    #[error("undefined label `{name}`")]
    UndefinedLabel {
        /// The use.
        span: Span,
        name: String,
        /// A close label, if there is one.
        suggestion: Option<String>,
    },
    /// `GOTO` can only jump backwards, and the label comes later.
    #[error("`GOTO` only jumps backwards, but `{name}` comes after it")]
    GotoForward {
        /// The label operand.
        span: Span,
        /// The label's definition.
        target: Span,
        name: String,
    },
    /// A numeric jump distance that leaves the code.
    #[error("jump target out of range")]
    JumpOutOfRange {
        /// The operand.
        span: Span,
        instr: Instr,
        index: u32,
        /// Where it would go.
        target: i64,
        /// The code length.
        len: u32,
    },
    /// A program beyond the format's limits (too many instructions, a source map too large).
    #[error(transparent)]
    TooLarge(shared::TooLarge),
    /// A call that names no function: a number outside `1..=n`, or the main program.
    #[error("call to {}", callee_words(*function, *count))]
    CallTarget {
        /// The operand.
        span: Span,
        instr: Instr,
        /// The function number it names.
        function: u16,
        /// How many functions the program has, the main program included.
        count: usize,
    },
    /// Control leaves a function other than by returning: a jump to another function's code,
    /// or running off the end of one (the main program's included) into the next.
    #[error("control leaves {}", quoted(function))]
    LeavesFunction {
        /// The instruction.
        span: Span,
        instr: Instr,
        /// Where control would go: another function's name, or the end of the code.
        target: String,
        /// Whether it gets there by a jump (or by running on).
        jumps: bool,
        /// The function it leaves.
        function: String,
        /// How many results that function has (how it should end).
        results: Option<u8>,
    },
    /// A return that does not fit where it is.
    #[error("`{instr}` in {}, {}", quoted(function), return_words(*results))]
    Return {
        /// The instruction.
        span: Span,
        instr: Instr,
        /// The function it is in.
        function: String,
        /// How many results that function has; `None` for the main program.
        results: Option<u8>,
    },
    /// A function whose stack is not one exact height at every instruction, or that takes
    /// values from below its frame.
    #[error("the stack of {} {}", quoted(function), height_words(reason))]
    Heights {
        /// The instruction where it goes wrong.
        span: Span,
        /// The function's `.fn` line.
        declared: Span,
        function: String,
        reason: HeightError,
    },
    /// More functions than a program may have.
    #[error("too many functions: {count}, at most {limit} are allowed")]
    TooManyFunctions {
        /// The first `.fn` past the limit.
        span: Span,
        /// How many the source declares.
        count: usize,
        /// How many are allowed ([`MAX_FUNCTIONS`](mova_lang::func::MAX_FUNCTIONS)).
        limit: usize,
    },
    /// A call to a function name that no `.fn` declares.
    #[error("undefined function `{name}`")]
    UndefinedFunction {
        /// The use.
        span: Span,
        name: String,
        /// A close function name, if there is one.
        suggestion: Option<String>,
    },
    /// A function name declared twice, or `main`, the main program's.
    #[error("duplicate function `{name}`")]
    DuplicateFunction {
        /// The second declaration's name.
        span: Span,
        /// The first declaration's name; `None` for `main`.
        first: Option<Span>,
        name: String,
    },
    /// A parameter or result count that does not fit a function.
    #[error("invalid {what} count `{text}`")]
    BadSignature {
        /// The count.
        span: Span,
        /// `parameter` or `result`.
        what: &'static str,
        text: String,
    },
    /// A function (or the main program, before a first `.fn`) without an instruction.
    #[error("{} has no instructions", quoted(function))]
    EmptyFunction {
        /// The `.fn` line (the first one, for the main program).
        span: Span,
        function: String,
        /// Whether it is the main program.
        main: bool,
    },
    /// A directive the assembler does not know.
    #[error("unknown directive `{name}`")]
    UnknownDirective {
        /// The directive.
        span: Span,
        name: String,
    },
    /// A case that cannot happen: the assembler broke an invariant of its own.
    #[error(transparent)]
    Internal(shared::Internal),
}

impl AsmError {
    /// The error's stable code.
    pub fn code(&self) -> &'static str {
        self.asm_code().as_str()
    }

    /// The error's stable code, as one of [`AsmCode::ALL`].
    pub fn asm_code(&self) -> AsmCode {
        match self {
            AsmError::InvalidCharacter(_) => AsmCode::A0001,
            AsmError::Syntax { .. } => AsmCode::A0002,
            AsmError::UnknownMnemonic { .. } => AsmCode::A0003,
            AsmError::MissingOperand { .. } => AsmCode::A0004,
            AsmError::UnexpectedOperand { .. } => AsmCode::A0005,
            AsmError::InvalidNumber(_) => AsmCode::A0006,
            AsmError::OutOfRange { .. } => AsmCode::A0007,
            AsmError::DuplicateLabel { .. } => AsmCode::A0008,
            AsmError::LabelNotAllowed { .. } => AsmCode::A0009,
            AsmError::UndefinedLabel { .. } => AsmCode::A0010,
            AsmError::GotoForward { .. } => AsmCode::A0011,
            AsmError::JumpOutOfRange { .. } => AsmCode::A0012,
            AsmError::TooLarge(_) => AsmCode::A0013,
            AsmError::CallTarget { .. } => AsmCode::A0014,
            AsmError::LeavesFunction { .. } => AsmCode::A0015,
            AsmError::Return { .. } => AsmCode::A0016,
            AsmError::Heights { .. } => AsmCode::A0017,
            AsmError::TooManyFunctions { .. } => AsmCode::A0018,
            AsmError::UndefinedFunction { .. } => AsmCode::A0019,
            AsmError::DuplicateFunction { .. } => AsmCode::A0020,
            AsmError::BadSignature { .. } => AsmCode::A0021,
            AsmError::EmptyFunction { .. } => AsmCode::A0022,
            AsmError::UnknownDirective { .. } => AsmCode::A0023,
            AsmError::Internal(_) => AsmCode::A9999,
        }
    }
}

impl From<AsmError> for Diagnostic {
    fn from(error: AsmError) -> Diagnostic {
        let code = error.code();
        let message = error.to_string();
        let error_at = |span: &Span, label: String| {
            Diagnostic::error(code, message.clone(), span.clone(), label)
        };
        match &error {
            AsmError::InvalidCharacter(invalid) => invalid.diagnostic(code).with_help(
                "instructions are `MNEMONIC [operand]`, labels `name:` and comments start with `;`",
            ),
            AsmError::Syntax {
                span,
                found,
                at_line_end,
                ..
            } => {
                let diagnostic = error_at(span, format!("unexpected {found}"));
                if *at_line_end {
                    diagnostic
                } else {
                    diagnostic.with_help("each line holds labels (`name:`), then at most one instruction and its operand")
                }
            }
            AsmError::UnknownMnemonic {
                span,
                suggestion,
                name,
            } => {
                let diagnostic = error_at(span, "not an instruction".into());
                match suggestion {
                    Some(suggestion) => {
                        diagnostic.with_help(format!("did you mean `{suggestion}`?"))
                    }
                    None => diagnostic.with_help(format!(
                        "to define a label, write `{name}:`; docs/isa.md lists the instructions"
                    )),
                }
            }
            AsmError::MissingOperand { span, opcode, kind } => {
                let name = kind.name();
                let help = match kind {
                    OperandKind::Value => format!("write `{opcode} <{name}>`"),
                    OperandKind::BackwardDistance | OperandKind::SignedOffset => {
                        format!("write `{opcode} <label>` or `{opcode} <{name}>`")
                    }
                    OperandKind::Function => format!("write `{opcode} <name>` or `{opcode} <{name}>`"),
                    OperandKind::Millis | OperandKind::Slot | OperandKind::Constant => {
                        let (lo, hi) = kind.range();
                        format!("write `{opcode} <{name}>`, with the {name} in {lo}..={hi}")
                    }
                };
                error_at(span, format!("expected a {name} operand after it")).with_help(help)
            }
            AsmError::UnexpectedOperand { span, opcode } => {
                error_at(span, "unexpected operand".into())
                    .with_help(format!("write `{opcode}` on its own"))
            }
            AsmError::InvalidNumber(invalid) => {
                invalid.diagnostic(code).with_help("numbers are decimal or `0x` hexadecimal, optionally signed, with `_` between digits")
            }
            AsmError::OutOfRange { span, kind, .. } => {
                let (lo, hi) = kind.range();
                error_at(span, format!("not in {lo}..={hi}")).with_help(format!(
                    "the {} operand is a {}",
                    kind.name(),
                    kind.type_name()
                ))
            }
            AsmError::DuplicateLabel { span, first, .. } => {
                error_at(span, "defined again here".into())
                    .with_secondary(first.clone(), "first defined here")
                    .with_help("rename one of the two labels")
            }
            AsmError::LabelNotAllowed { span, kind, .. } => error_at(span, "a label".into())
                .with_help(format!(
                    "labels are jump targets; this operand is a {} ({})",
                    kind.name(),
                    kind.type_name()
                )),
            AsmError::UndefinedLabel {
                span,
                suggestion,
                name,
            } => {
                let diagnostic = error_at(span, "no label of this name".into());
                match suggestion {
                    Some(suggestion) => {
                        diagnostic.with_help(format!("did you mean `{suggestion}`?"))
                    }
                    None => diagnostic
                        .with_help(format!("define it with `{name}:` before an instruction")),
                }
            }
            AsmError::GotoForward { span, target, .. } => error_at(span, "a forward target".into())
                .with_secondary(target.clone(), "defined here, after the GOTO")
                .with_help("use `JMP` for a forward jump"),
            AsmError::JumpOutOfRange {
                span,
                index,
                target,
                len,
                ..
            } => error_at(span, format!("instruction {index} would jump to {target}")).with_help(
                format!("the code has {len} instructions: targets must be in 0..={len}"),
            ),
            AsmError::TooLarge(too_large) => too_large.diagnostic(code),
            AsmError::CallTarget { span, count, .. } => {
                error_at(span, "not a function".into()).with_help(match count {
                    1 => String::from("the program has no functions: declare one with `.fn NAME PARAMS -> RESULTS`"),
                    count => format!(
                        "functions are numbered 1..={} in the order of their `.fn` lines; call one by its name",
                        count - 1
                    ),
                })
            }
            AsmError::LeavesFunction {
                span,
                target,
                jumps,
                results,
                ..
            } => {
                let label = match (jumps, target.as_str()) {
                    (true, _) => format!("can jump to {target}"),
                    (false, END_OF_CODE) => format!("runs off {target}"),
                    (false, _) => format!("runs on into {target}"),
                };
                let help = match (jumps, results) {
                    (true, _) => String::from(
                        "jumps stay inside their function's code; use `CALL` to run another function",
                    ),
                    (false, None) => String::from("end the main program with `HALT`"),
                    (false, Some(0)) => String::from("end the function with `RET`"),
                    (false, Some(_)) => String::from("end the function with `RETV`"),
                };
                error_at(span, label).with_help(help)
            }
            AsmError::Return { span, results, .. } => {
                error_at(span, "does not fit its function".into()).with_help(match results {
                    None => "the main program ends with `HALT`; only a function returns",
                    Some(0) => "a function declared `-> 0` returns with `RET`",
                    Some(_) => "a function declared `-> 1` returns its result with `RETV`",
                })
            }
            AsmError::Heights {
                span,
                declared,
                reason,
                ..
            } => {
                let (label, help) = match reason {
                    HeightError::Disagree { heights, .. } => (
                        format!("reached with {heights} in its frame"),
                        "in a function, every way to an instruction must leave the same number of values on the stack",
                    ),
                    HeightError::Underflow { needed, height, .. } => (
                        format!("needs {}, the frame holds {height}", values(*needed)),
                        "a function's frame starts with its parameters; it cannot take values below them",
                    ),
                    HeightError::Overflow { .. } => (
                        String::from("grows the frame beyond the stack"),
                        "the stack holds at most 65535 values",
                    ),
                    HeightError::RefsDisagree { first, second, .. } => (
                        format!("reached with {first} and with {second} references in its frame"),
                        "every way to an instruction must leave the same number of references on the reference stack",
                    ),
                    HeightError::RefsUnderflow { needed, height, .. } => (
                        format!(
                            "needs {needed} reference{}, the frame holds {height}",
                            if *needed == 1 { "" } else { "s" }
                        ),
                        "a frame starts with its reference parameters; it cannot take references below them",
                    ),
                    HeightError::RefsOverflow { .. } => (
                        String::from("grows the frame beyond the reference stack"),
                        "the reference stack holds at most 65535 references",
                    ),
                };
                error_at(span, label)
                    .with_secondary(declared.clone(), "in this function")
                    .with_help(help)
            }
            AsmError::TooManyFunctions { span, .. } => error_at(span, "one function too many".into())
                .with_help("the function table numbers functions with a u16"),
            AsmError::UndefinedFunction {
                span,
                suggestion,
                name,
            } => {
                let diagnostic = error_at(span, "no function of this name".into());
                match suggestion {
                    Some(suggestion) => {
                        diagnostic.with_help(format!("did you mean `{suggestion}`?"))
                    }
                    None => diagnostic.with_help(format!(
                        "declare it with `.fn {name} PARAMS -> RESULTS` before its code"
                    )),
                }
            }
            AsmError::DuplicateFunction { span, first, .. } => match first {
                Some(first) => error_at(span, "declared again here".into())
                    .with_secondary(first.clone(), "first declared here")
                    .with_help("rename one of the two functions"),
                None => error_at(span, "the main program's name".into()).with_help(
                    "the code before the first `.fn` is the main program, called `main`; name this function otherwise",
                ),
            },
            AsmError::BadSignature { span, what, .. } => {
                let (label, help) = match *what {
                    "result" => ("not 0 or 1", "a function returns no value (`-> 0`) or one (`-> 1`)"),
                    _ => ("not in 0..=65535", "a function takes 0 to 65535 parameters"),
                };
                error_at(span, label.into()).with_help(help)
            }
            AsmError::EmptyFunction { span, main, .. } => {
                if *main {
                    error_at(span, "the main program ends here, before any instruction".into())
                        .with_help("the code before the first `.fn` is the main program; it needs at least a `HALT`")
                } else {
                    error_at(span, "declared here, without a body".into()).with_help(
                        "a function's code runs from its `.fn` line to the next one; it needs at least a `RET`",
                    )
                }
            }
            AsmError::UnknownDirective { span, .. } => error_at(span, "not a directive".into())
                .with_help("the one directive is `.fn NAME PARAMS -> RESULTS`, which starts a function"),
            AsmError::Internal(internal) => internal.diagnostic(code),
        }
    }
}

/// `fact`, or `the main program`, as messages name a function.
fn quoted(function: &str) -> String {
    if function == MAIN_WORD {
        String::from("the main program")
    } else {
        format!("`{function}`")
    }
}

/// What a call to function number `function` of a program with `count` functions (the main
/// program included) reaches.
fn callee_words(function: u16, count: usize) -> String {
    match (function, count) {
        (0, _) => String::from("the main program, which is not a function"),
        (function, 1) => format!("function {function}, but the program has no functions"),
        (function, 2) => format!("function {function}, but the program has 1 function"),
        (function, count) => format!(
            "function {function}, but the program has {} functions",
            count - 1
        ),
    }
}

fn return_words(results: Option<u8>) -> &'static str {
    match results {
        None => "which is not a function",
        Some(0) => "which returns no value",
        Some(_) => "which returns a value",
    }
}

fn height_words(reason: &HeightError) -> &'static str {
    match reason {
        HeightError::Disagree { .. } => "has different heights on different paths",
        HeightError::Underflow { .. } => "runs out of values",
        HeightError::Overflow { .. } => "overflows",
        HeightError::RefsDisagree { .. } => "has different reference heights on different paths",
        HeightError::RefsUnderflow { .. } => "runs out of references",
        HeightError::RefsOverflow { .. } => "overflows the reference stack",
    }
}

/// `1 value`, `2 values`.
fn values(count: u32) -> String {
    if count == 1 {
        String::from("1 value")
    } else {
        format!("{count} values")
    }
}

/// Where a jump to the end of the code goes, in words.
pub const END_OF_CODE: &str = "the end of the code";

/// The word `.mvasm` text reserves for the main program: no `.fn` line may declare it and no
/// `CALL` name it. (Debug info and backtraces call the main program [`func::MAIN_NAME`],
/// `<main>`, which no source name can be.)
///
/// [`func::MAIN_NAME`]: mova_lang::func::MAIN_NAME
pub const MAIN_WORD: &str = "main";

fn one_of(items: &[String]) -> String {
    let mut items: Vec<&str> = items.iter().map(String::as_str).collect();
    items.sort_unstable();
    items.dedup();
    match items.as_slice() {
        [] => String::from("something else"),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The span an error is reported at, for ordering.
pub(crate) fn error_span(error: &AsmError) -> &Span {
    match error {
        AsmError::InvalidCharacter(shared::InvalidCharacter { span, .. })
        | AsmError::InvalidNumber(shared::InvalidNumber { span, .. })
        | AsmError::TooLarge(shared::TooLarge { span, .. })
        | AsmError::Internal(shared::Internal { span, .. })
        | AsmError::Syntax { span, .. }
        | AsmError::UnknownMnemonic { span, .. }
        | AsmError::MissingOperand { span, .. }
        | AsmError::UnexpectedOperand { span, .. }
        | AsmError::OutOfRange { span, .. }
        | AsmError::DuplicateLabel { span, .. }
        | AsmError::LabelNotAllowed { span, .. }
        | AsmError::UndefinedLabel { span, .. }
        | AsmError::GotoForward { span, .. }
        | AsmError::JumpOutOfRange { span, .. }
        | AsmError::CallTarget { span, .. }
        | AsmError::LeavesFunction { span, .. }
        | AsmError::Return { span, .. }
        | AsmError::Heights { span, .. }
        | AsmError::TooManyFunctions { span, .. }
        | AsmError::UndefinedFunction { span, .. }
        | AsmError::DuplicateFunction { span, .. }
        | AsmError::BadSignature { span, .. }
        | AsmError::EmptyFunction { span, .. }
        | AsmError::UnknownDirective { span, .. } => span,
    }
}
