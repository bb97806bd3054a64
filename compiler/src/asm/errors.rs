//! What can be wrong with a `.mvasm` file: [`AsmError`], its codes ([`AsmCode::ALL`]) and its
//! diagnostics.

use super::string::StringError;
use crate::diag::{Diagnostic, Span};
use crate::shared::{self, codes};
use mova_lang::func::Returns;
use mova_lang::isa::{Instr, Opcode, OperandKind};
use mova_lang::verify::HeightError;
use std::fmt;

codes! {
    /// An assembler diagnostic's stable code.
    pub enum AsmCode {
        A0001, A0002, A0003, A0004, A0005, A0006, A0007, A0008, A0009, A0010, A0011, A0012,
        A0013, A0014, A0015, A0016, A0017, A0018, A0019, A0020, A0021, A0022, A0023, A0024,
        A0025, A0026, A9999,
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
    /// A string literal where a number or a label goes: any operand but `CONST`'s.
    #[error("`{opcode}` takes a number, not a string")]
    StringNotAllowed {
        /// The string operand.
        span: Span,
        opcode: Opcode,
        /// The operand kind it takes.
        kind: OperandKind,
    },
    /// A string literal that holds no string: it is not closed on its line, or has a bad escape.
    #[error("{reason}")]
    BadString {
        /// The literal (unterminated) or the escape.
        span: Span,
        reason: StringError,
    },
    /// `CONST` with a number that names no string a `.string` line declares.
    #[error("`CONST {text}` names no declared string")]
    UndeclaredConstant {
        /// The operand.
        span: Span,
        /// The number as written.
        text: String,
        /// How many strings the `.string` lines declare.
        declared: usize,
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
        /// What that function returns (how it should end); `None` for the main program.
        returns: Option<Returns>,
    },
    /// A return that does not fit where it is.
    #[error("`{instr}` in {}, {}", quoted(function), return_words(*returns))]
    Return {
        /// The instruction.
        span: Span,
        instr: Instr,
        /// The function it is in.
        function: String,
        /// What that function returns; `None` for the main program.
        returns: Option<Returns>,
    },
    /// A function whose stack (or reference stack) is not one exact height at every
    /// instruction, or that takes values (or references) from below its frame.
    #[error(
        "the {} of {} {}",
        stack_words(reason),
        quoted(function),
        height_words(reason)
    )]
    Heights {
        /// The instruction where it goes wrong.
        span: Span,
        /// The function's `.fn` line; `None` for the main program.
        declared: Option<Span>,
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
    #[error("invalid {part} `{text}`")]
    BadSignature {
        /// The count (both, for a pair of parameter counts).
        span: Span,
        /// Which count.
        part: SignaturePart,
        /// The count as written.
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
            AsmError::Heights { reason, .. } if is_refs(reason) => AsmCode::A0026,
            AsmError::Heights { .. } => AsmCode::A0017,
            AsmError::TooManyFunctions { .. } => AsmCode::A0018,
            AsmError::UndefinedFunction { .. } => AsmCode::A0019,
            AsmError::DuplicateFunction { .. } => AsmCode::A0020,
            AsmError::BadSignature { .. } => AsmCode::A0021,
            AsmError::EmptyFunction { .. } => AsmCode::A0022,
            AsmError::UnknownDirective { .. } => AsmCode::A0023,
            AsmError::BadString { .. } => AsmCode::A0024,
            AsmError::UndeclaredConstant { .. } => AsmCode::A0025,
            AsmError::StringNotAllowed { .. } => AsmCode::A0009,
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
                    OperandKind::Constant => format!("write `{opcode} \"<text>\"`, the string in quotes"),
                    OperandKind::Millis | OperandKind::Slot => {
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
            AsmError::LabelNotAllowed { span, kind, .. } if *kind == OperandKind::Constant => {
                error_at(span, "a label".into())
                    .with_help("`CONST` takes the string itself, in quotes: `CONST \"text\"`")
            }
            AsmError::LabelNotAllowed { span, kind, .. } => error_at(span, "a label".into())
                .with_help(format!(
                    "labels are jump targets; this operand is a {} ({})",
                    kind.name(),
                    kind.type_name()
                )),
            AsmError::StringNotAllowed { span, kind, .. } => error_at(span, "a string".into())
                .with_help(format!(
                    "only `CONST` takes a string; this operand is a {} ({})",
                    kind.name(),
                    kind.type_name()
                )),
            AsmError::BadString { span, reason } => {
                let (label, help) = match reason {
                    StringError::Unterminated => (
                        "the line ends before the closing `\"`",
                        "a string ends on its line: write a line break as `\\n`",
                    ),
                    StringError::UnknownEscape(_) => ("not an escape", ESCAPES),
                    StringError::MalformedUnicode => (
                        "not `\\u{` and 1 to 6 hexadecimal digits and `}`",
                        "write a character by its number as `\\u{e9}` (é)",
                    ),
                    StringError::NotAChar(_) => (
                        "no character has this number",
                        "a `\\u{…}` escape names a Unicode scalar value: 0 to 10FFFF, except D800 to DFFF",
                    ),
                };
                error_at(span, label.into()).with_help(help)
            }
            AsmError::UndeclaredConstant { span, declared, .. } => {
                let label = match declared {
                    0 => String::from("no `.string` line declares a string"),
                    1 => String::from("one `.string` line declares string 0"),
                    n => format!("the `.string` lines declare strings 0 to {}", n - 1),
                };
                error_at(span, label).with_help(
                    "write the string itself, in quotes: `CONST \"text\"` (a number names a string a `.string` line declares)",
                )
            }
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
                returns,
                ..
            } => {
                let label = match (jumps, target.as_str()) {
                    (true, _) => format!("can jump to {target}"),
                    (false, END_OF_CODE) => format!("runs off {target}"),
                    (false, _) => format!("runs on into {target}"),
                };
                let help = match (jumps, returns) {
                    (true, _) => String::from(
                        "jumps stay inside their function's code; use `CALL` to run another function",
                    ),
                    (false, None) => String::from("end the main program with `HALT`"),
                    (false, Some(returns)) => {
                        format!("end the function with `{}`", returns.instr())
                    }
                };
                error_at(span, label).with_help(help)
            }
            AsmError::Return { span, returns, .. } => {
                error_at(span, "does not fit its function".into()).with_help(match returns {
                    None => String::from("the main program ends with `HALT`; only a function returns"),
                    Some(Returns::Nothing) => {
                        String::from("a function declared `-> 0` returns with `RET`")
                    }
                    Some(returns) => format!(
                        "a function declared `{}` returns its result with `{}`",
                        declared_results(*returns),
                        returns.instr()
                    ),
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
                        format!("reached with {} on one path, {} on another", references(u32::from(*first)), references(u32::from(*second))),
                        if declared.is_some() {
                            "every way to an instruction must leave the same number of references on the reference stack, counted from the function's frame"
                        } else {
                            "every way to an instruction must leave the same number of references on the reference stack, in the main program too"
                        },
                    ),
                    HeightError::RefsUnderflow { needed, height, .. } => (
                        format!(
                            "needs {}, {} holds {height}",
                            references(*needed),
                            if declared.is_some() { "the frame" } else { "the reference stack" }
                        ),
                        if declared.is_some() {
                            "a function's frame starts with its reference parameters (`2r` on its `.fn` line); it cannot take references below them"
                        } else {
                            "the main program starts with no references: push one first (`CONST`, `NEWI`, `NEWR`, `TOSTR`, …)"
                        },
                    ),
                    HeightError::RefsOverflow { .. } => (
                        String::from(if declared.is_some() {
                            "grows the frame beyond the reference stack"
                        } else {
                            "grows the reference stack beyond its limit"
                        }),
                        "the reference stack holds at most 65535 references",
                    ),
                };
                let diagnostic = error_at(span, label);
                match declared {
                    Some(declared) => diagnostic.with_secondary(declared.clone(), "in this function"),
                    None => diagnostic,
                }
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
            AsmError::BadSignature { span, part, .. } => {
                let (label, help) = match part {
                    SignaturePart::Results => ("not 0, 1 or 1r", "a function returns nothing (`-> 0`), an int (`-> 1`) or a reference (`-> 1r`)"),
                    SignaturePart::Params => ("not in 0..=65535", "a function takes 0 to 65535 int parameters"),
                    SignaturePart::RefParams => ("not in 0r..=65535r", "a function takes 0 to 65535 reference parameters"),
                    SignaturePart::ParamPair => ("not an int count then a reference count", "write the ints first, then the references with an `r`: `.fn f 1 2r -> 0` takes 1 int and 2 references"),
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
                .with_help("the directives are `.fn NAME PARAMS -> RESULTS`, which starts a function, and `.string \"text\"`, which declares a string constant"),
            AsmError::Internal(internal) => internal.diagnostic(code),
        }
    }
}

/// The part of a `.fn` line a [`AsmError::BadSignature`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignaturePart {
    /// The count of int parameters (`2`).
    Params,
    /// The count of reference parameters (`2r`).
    RefParams,
    /// The two parameter counts, not an int count then a reference count (`1r 2`).
    ParamPair,
    /// The result count (`0`, `1` or `1r`).
    Results,
}

impl fmt::Display for SignaturePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignaturePart::Params => "parameter count",
            SignaturePart::RefParams => "reference parameter count",
            SignaturePart::ParamPair => "parameter counts",
            SignaturePart::Results => "result count",
        })
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

fn return_words(returns: Option<Returns>) -> &'static str {
    match returns {
        None => "which is not a function",
        Some(Returns::Nothing) => "which returns no value",
        Some(Returns::Int) => "which returns an int",
        Some(Returns::Ref) => "which returns a reference",
    }
}

/// How a `.fn` line declares what its function returns.
fn declared_results(returns: Returns) -> &'static str {
    match returns {
        Returns::Nothing => "-> 0",
        Returns::Int => "-> 1",
        Returns::Ref => "-> 1r",
    }
}

/// Whether a height error is about the reference stack.
fn is_refs(reason: &HeightError) -> bool {
    matches!(
        reason,
        HeightError::RefsDisagree { .. }
            | HeightError::RefsUnderflow { .. }
            | HeightError::RefsOverflow { .. }
    )
}

fn stack_words(reason: &HeightError) -> &'static str {
    if is_refs(reason) {
        "reference stack"
    } else {
        "stack"
    }
}

fn height_words(reason: &HeightError) -> &'static str {
    match reason {
        HeightError::Disagree { .. } => "has different heights on different paths",
        HeightError::Underflow { .. } => "runs out of values",
        HeightError::Overflow { .. } => "overflows",
        HeightError::RefsDisagree { .. } => "has different heights on different paths",
        HeightError::RefsUnderflow { .. } => "runs out of references",
        HeightError::RefsOverflow { .. } => "overflows",
    }
}

/// The escapes a string literal may hold, in a help line.
const ESCAPES: &str = "the escapes are `\\n`, `\\t`, `\\r`, `\\0`, `\\\\`, `\\\"` and `\\u{…}`";

/// `1 reference`, `2 references`.
fn references(count: u32) -> String {
    if count == 1 {
        String::from("1 reference")
    } else {
        format!("{count} references")
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
        | AsmError::StringNotAllowed { span, .. }
        | AsmError::BadString { span, .. }
        | AsmError::UndeclaredConstant { span, .. }
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
