//! What can be wrong with a `.mvasm` file: [`AsmError`], its codes ([`AsmCode::ALL`]) and its
//! diagnostics.

use crate::diag::{Diagnostic, Span};
use crate::shared::{self, codes};
use mova_lang::isa::{Instr, Opcode, OperandKind};

codes! {
    /// An assembler diagnostic's stable code.
    pub enum AsmCode {
        A0001, A0002, A0003, A0004, A0005, A0006, A0007, A0008, A0009, A0010, A0011, A0012,
        A0013, A9999,
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
                    OperandKind::Millis | OperandKind::Slot | OperandKind::Function => {
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
            AsmError::Internal(internal) => internal.diagnostic(code),
        }
    }
}

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
        | AsmError::JumpOutOfRange { span, .. } => span,
    }
}
