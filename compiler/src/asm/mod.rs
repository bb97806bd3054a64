//! The assembler: `.mvasm` text to a verified [`Program`].
//!
//! Three steps: [`lexer`] splits the text into tokens, [`parser`] reads lines (recovering from bad
//! ones), and [`assemble`] resolves mnemonics, operands and labels. Every problem found on the way
//! is an [`AsmError`]; all of them are reported together, and no program is produced if there is one.

pub mod lexer;
pub mod parser;

use crate::diag::{Diagnostic, Span, did_you_mean};
use lexer::{IntError, Token};
use mova_lang::isa::{Instr, JumpTarget, Opcode, OperandError, OperandKind};
use mova_lang::mvb::{MAX_INSTRUCTIONS, Program, VerifyError};
use mova_lang::srcmap::SourceMap;
use parser::{Expected, InstrSyntax, Line, Operand, SyntaxError};
use std::collections::HashMap;

/// Everything that can be wrong with a `.mvasm` file. `docs/assembly.md` lists each code with an
/// example.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AsmError {
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
    },
    /// A mnemonic that names no opcode.
    #[error("unknown mnemonic `{name}`")]
    UnknownMnemonic {
        /// Where it is.
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
        /// Its opcode.
        opcode: Opcode,
        /// The operand kind it needs.
        kind: OperandKind,
    },
    /// An opcode that takes no operand has one.
    #[error("`{opcode}` takes no operand")]
    UnexpectedOperand {
        /// The operand.
        span: Span,
        /// The opcode.
        opcode: Opcode,
    },
    /// A number token that is not a valid number.
    #[error("invalid number `{text}`")]
    InvalidNumber {
        /// Where it is.
        span: Span,
        /// The token's text.
        text: String,
        /// What is wrong with it.
        reason: IntError,
    },
    /// An operand outside the range of its kind.
    #[error("operand of `{opcode}` out of range")]
    OutOfRange {
        /// The operand.
        span: Span,
        /// The opcode.
        opcode: Opcode,
        /// The operand kind.
        kind: OperandKind,
    },
    /// A label defined twice.
    #[error("duplicate label `{name}`")]
    DuplicateLabel {
        /// The second definition.
        span: Span,
        /// The first definition.
        first: Span,
        /// The label.
        name: String,
    },
    /// A label used where only a number can go.
    #[error("`{opcode}` takes a number, not a label")]
    LabelNotAllowed {
        /// The label operand.
        span: Span,
        /// The opcode.
        opcode: Opcode,
        /// The operand kind it takes.
        kind: OperandKind,
    },
    /// A label that is used but never defined.
    #[error("undefined label `{name}`")]
    UndefinedLabel {
        /// The use.
        span: Span,
        /// The label.
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
        /// The label.
        name: String,
    },
    /// A numeric jump distance that leaves the code.
    #[error("jump target out of range")]
    JumpOutOfRange {
        /// The operand.
        span: Span,
        /// The instruction.
        instr: Instr,
        /// Its index.
        index: u32,
        /// Where it would go.
        target: i64,
        /// The code length.
        len: u32,
    },
    /// A program beyond the format's limits (too many instructions, a source map too large).
    #[error("program too large: {what}")]
    TooLarge {
        /// Where the limit was exceeded.
        span: Span,
        /// Which limit.
        what: String,
    },
}

impl AsmError {
    /// The error's stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AsmError::InvalidCharacter { .. } => "A0001",
            AsmError::Syntax { .. } => "A0002",
            AsmError::UnknownMnemonic { .. } => "A0003",
            AsmError::MissingOperand { .. } => "A0004",
            AsmError::UnexpectedOperand { .. } => "A0005",
            AsmError::InvalidNumber { .. } => "A0006",
            AsmError::OutOfRange { .. } => "A0007",
            AsmError::DuplicateLabel { .. } => "A0008",
            AsmError::LabelNotAllowed { .. } => "A0009",
            AsmError::UndefinedLabel { .. } => "A0010",
            AsmError::GotoForward { .. } => "A0011",
            AsmError::JumpOutOfRange { .. } => "A0012",
            AsmError::TooLarge { .. } => "A0013",
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
            AsmError::InvalidCharacter { span, .. } => error_at(
                span,
                "not part of any token".into(),
            )
            .with_help(
                "instructions are `MNEMONIC [operand]`, labels `name:` and comments start with `;`",
            ),
            AsmError::Syntax { span, found, .. } => {
                let diagnostic = error_at(span, format!("unexpected {found}"));
                if found.starts_with("end of") {
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
            AsmError::InvalidNumber { span, reason, .. } => {
                let label = reason.to_string();
                error_at(span, label).with_help("numbers are decimal or `0x` hexadecimal, optionally signed, with `_` between digits")
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
            AsmError::TooLarge { span, .. } => error_at(span, "the limit is exceeded here".into()),
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

/// Assembles `.mvasm` source into a verified program, or returns every problem found.
pub fn assemble(source: &str) -> Result<Program, Vec<Diagnostic>> {
    let (program, errors) = assemble_errors(source, None);
    match program {
        Some(program) if errors.is_empty() => Ok(program),
        Some(_) | None => Err(errors.into_iter().map(Diagnostic::from).collect()),
    }
}

/// Assembles `source`, returning the program (when there are no errors) and the errors, in source
/// order. With `source_map`, the program carries a source map naming that file.
pub fn assemble_errors(source: &str, source_map: Option<&str>) -> (Option<Program>, Vec<AsmError>) {
    assemble_with_limit(source, MAX_INSTRUCTIONS, source_map)
}

/// [`assemble_errors`] with a smaller instruction limit, so tests can reach it.
fn assemble_with_limit(
    source: &str,
    limit: u32,
    source_map: Option<&str>,
) -> (Option<Program>, Vec<AsmError>) {
    let tokens = lexer::lex(source);
    let mut errors: Vec<AsmError> = tokens
        .iter()
        .filter(|(token, _)| *token == Token::Error)
        .map(|(_, span)| AsmError::InvalidCharacter {
            span: span.clone(),
            ch: source[span.clone()].chars().next().unwrap_or('\u{FFFD}'),
        })
        .collect();
    let (lines, syntax_errors) = parser::parse(&tokens, source.len());
    // An invalid character was reported already; do not report it again as unexpected.
    let invalid: Vec<Span> = tokens
        .iter()
        .filter(|(token, _)| *token == Token::Error)
        .map(|(_, span)| span.clone())
        .collect();
    errors.extend(
        syntax_errors
            .into_iter()
            .filter(|error| !invalid.contains(&error.span))
            .map(
                |SyntaxError {
                     span,
                     found,
                     expected,
                 }| AsmError::Syntax {
                    span,
                    found,
                    expected: match expected {
                        Expected::OneOf(expected) => expected,
                        Expected::Message(message) => vec![message],
                    },
                },
            ),
    );

    let mut resolver = Resolver::new(&lines, limit, &mut errors);
    let (code, spans) = resolver.resolve(&lines);
    errors.sort_by_key(|error| error_span(error).start);
    if !errors.is_empty() {
        return (None, errors);
    }
    let mut sections = Vec::new();
    if let Some(file) = source_map {
        match SourceMap::new(file, source, spans).to_section() {
            Ok(section) => sections.push(section),
            Err(error) => {
                errors.push(AsmError::TooLarge {
                    span: source.len()..source.len(),
                    what: format!("cannot make its source map: {error}"),
                });
                return (None, errors);
            }
        }
    }
    match Program::with_sections(code, sections) {
        Ok(program) => (Some(program), errors),
        Err(error) => {
            // The resolver checks what the verifier checks, so this only guards against the two
            // drifting apart: report it against the whole file rather than lose it.
            errors.push(verify_error(error, source.len()));
            (None, errors)
        }
    }
}

fn verify_error(error: VerifyError, end: usize) -> AsmError {
    match error {
        VerifyError::TooManyInstructions { .. } => AsmError::TooLarge {
            span: end..end,
            what: error.to_string(),
        },
        VerifyError::JumpOutOfRange {
            index,
            instr,
            target,
            len,
        } => AsmError::JumpOutOfRange {
            span: end..end,
            instr,
            index,
            target,
            len,
        },
        VerifyError::UnknownSection { .. }
        | VerifyError::SectionTooLarge { .. }
        | VerifyError::InvalidSection { .. } => AsmError::Syntax {
            span: end..end,
            found: error.to_string(),
            expected: Vec::new(),
        },
    }
}

/// The span an error is reported at, for ordering.
fn error_span(error: &AsmError) -> &Span {
    match error {
        AsmError::InvalidCharacter { span, .. }
        | AsmError::Syntax { span, .. }
        | AsmError::UnknownMnemonic { span, .. }
        | AsmError::MissingOperand { span, .. }
        | AsmError::UnexpectedOperand { span, .. }
        | AsmError::InvalidNumber { span, .. }
        | AsmError::OutOfRange { span, .. }
        | AsmError::DuplicateLabel { span, .. }
        | AsmError::LabelNotAllowed { span, .. }
        | AsmError::UndefinedLabel { span, .. }
        | AsmError::GotoForward { span, .. }
        | AsmError::JumpOutOfRange { span, .. }
        | AsmError::TooLarge { span, .. } => span,
    }
}

/// Turns parsed lines into instructions: first finds where every label points, then resolves each
/// instruction's mnemonic and operand.
struct Resolver<'a, 's> {
    labels: HashMap<&'s str, (u32, Span)>,
    len: u32,
    limit: u32,
    errors: &'a mut Vec<AsmError>,
}

impl<'a, 's> Resolver<'a, 's> {
    fn new(lines: &[Line<'s>], limit: u32, errors: &'a mut Vec<AsmError>) -> Self {
        let mut labels: HashMap<&'s str, (u32, Span)> = HashMap::new();
        let mut index: u32 = 0;
        for line in lines {
            match line {
                Line::Ok {
                    labels: defined,
                    instr,
                } => {
                    for label in defined {
                        let span = label.span.into_range();
                        match labels.get(label.node) {
                            Some((_, first)) => errors.push(AsmError::DuplicateLabel {
                                span,
                                first: first.clone(),
                                name: label.node.to_owned(),
                            }),
                            None => {
                                labels.insert(label.node, (index, span));
                            }
                        }
                    }
                    if instr.is_some() {
                        index = index.saturating_add(1);
                    }
                }
                // A line that did not parse most likely meant an instruction; counting it keeps the
                // labels after it where the author meant them, so no follow-on errors appear.
                Line::Error => index = index.saturating_add(1),
            }
        }
        Resolver {
            labels,
            len: index,
            limit,
            errors,
        }
    }

    /// The instructions, each with the span of its line's instruction text.
    fn resolve(&mut self, lines: &[Line<'s>]) -> (Vec<Instr>, Vec<Span>) {
        let mut code = Vec::new();
        let mut spans = Vec::new();
        let mut index: u32 = 0;
        for line in lines {
            match line {
                Line::Ok {
                    instr: Some(syntax),
                    ..
                } => {
                    if index == self.limit {
                        self.errors.push(AsmError::TooLarge {
                            span: syntax.mnemonic.span.into_range(),
                            what: format!(
                                "{} instructions, at most {} are allowed",
                                self.len, self.limit
                            ),
                        });
                    }
                    if let Some(instr) = self.instr(syntax, index) {
                        code.push(instr);
                        let end = syntax
                            .operands
                            .last()
                            .map_or(syntax.mnemonic.span, |operand| operand.span)
                            .end;
                        spans.push(syntax.mnemonic.span.start..end);
                    }
                    index = index.saturating_add(1);
                }
                Line::Ok { instr: None, .. } => {}
                Line::Error => index = index.saturating_add(1),
            }
        }
        (code, spans)
    }

    fn instr(&mut self, syntax: &InstrSyntax<'s>, index: u32) -> Option<Instr> {
        let mnemonic = syntax.mnemonic.node;
        let Some(opcode) = Opcode::from_mnemonic(mnemonic) else {
            self.errors.push(AsmError::UnknownMnemonic {
                span: syntax.mnemonic.span.into_range(),
                name: mnemonic.to_owned(),
                suggestion: did_you_mean(mnemonic, Opcode::ALL.iter().map(|op| op.mnemonic())),
            });
            return None;
        };
        let kinds = opcode.operand_kinds();
        if let Some(&kind) = kinds.get(syntax.operands.len()) {
            self.errors.push(AsmError::MissingOperand {
                span: syntax
                    .operands
                    .last()
                    .map_or(syntax.mnemonic.span, |operand| operand.span)
                    .into_range(),
                opcode,
                kind,
            });
            return None;
        }
        if let Some(extra) = syntax.operands.get(kinds.len()) {
            self.errors.push(AsmError::UnexpectedOperand {
                span: extra.span.into_range(),
                opcode,
            });
            return None;
        }
        let mut values = Vec::with_capacity(kinds.len());
        for (&kind, operand) in kinds.iter().zip(&syntax.operands) {
            values.push(self.operand(opcode, kind, *operand, index)?);
        }
        let span = syntax
            .operands
            .last()
            .map_or(syntax.mnemonic.span, |operand| operand.span)
            .into_range();
        let instr = match Instr::new(opcode, &values) {
            Ok(instr) => instr,
            Err(OperandError::OutOfRange { kind, .. } | OperandError::Missing { kind, .. }) => {
                self.errors
                    .push(AsmError::OutOfRange { span, opcode, kind });
                return None;
            }
            Err(OperandError::Unexpected { .. }) => {
                self.errors
                    .push(AsmError::UnexpectedOperand { span, opcode });
                return None;
            }
        };
        if let Some(JumpTarget::OutOfRange(target)) = instr.jump_target(index) {
            self.jump_out_of_range(span, instr, index, target);
            return None;
        }
        if let Some(JumpTarget::Index(target)) = instr.jump_target(index)
            && target > self.len
        {
            self.jump_out_of_range(span, instr, index, i64::from(target));
            return None;
        }
        Some(instr)
    }

    fn jump_out_of_range(&mut self, span: Span, instr: Instr, index: u32, target: i64) {
        self.errors.push(AsmError::JumpOutOfRange {
            span,
            instr,
            index,
            target,
            len: self.len,
        });
    }

    /// The operand's value: a number as written, or a label turned into the distance the opcode's
    /// operand kind measures.
    fn operand(
        &mut self,
        opcode: Opcode,
        kind: OperandKind,
        operand: parser::Spanned<Operand<'s>>,
        index: u32,
    ) -> Option<i64> {
        let span = operand.span.into_range();
        match operand.node {
            Operand::Int(text) => match lexer::parse_int(text) {
                Ok(value) => Some(value),
                Err(IntError::OutOfRange) => {
                    self.errors
                        .push(AsmError::OutOfRange { span, opcode, kind });
                    None
                }
                Err(reason) => {
                    self.errors.push(AsmError::InvalidNumber {
                        span,
                        text: text.to_owned(),
                        reason,
                    });
                    None
                }
            },
            Operand::Label(name) => {
                if !kind.is_jump() {
                    self.errors
                        .push(AsmError::LabelNotAllowed { span, opcode, kind });
                    return None;
                }
                let Some((target, defined)) = self.labels.get(name).cloned() else {
                    self.errors.push(AsmError::UndefinedLabel {
                        span,
                        name: name.to_owned(),
                        suggestion: did_you_mean(name, self.labels.keys().copied())
                            .map(str::to_owned),
                    });
                    return None;
                };
                let (here, target) = (i64::from(index), i64::from(target));
                match kind {
                    OperandKind::BackwardDistance if target > here => {
                        self.errors.push(AsmError::GotoForward {
                            span,
                            target: defined,
                            name: name.to_owned(),
                        });
                        None
                    }
                    OperandKind::BackwardDistance => Some(here - target),
                    OperandKind::SignedOffset
                    | OperandKind::Value
                    | OperandKind::Millis
                    | OperandKind::Slot => Some(target - here),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(source: &str) -> Vec<&'static str> {
        assemble_errors(source, None)
            .1
            .iter()
            .map(AsmError::code)
            .collect()
    }

    #[test]
    fn assembles_the_seed_listing() {
        let program = assemble("PUT 0\nADD 1\nPRINT\nSLEEP 100\nGOTO 3\n").unwrap();
        assert_eq!(
            program.code(),
            [
                Instr::Put(0),
                Instr::Add(1),
                Instr::Print,
                Instr::Sleep(100),
                Instr::Goto(3)
            ]
        );
    }

    #[test]
    fn labels_become_the_distances_of_each_jump_kind() {
        let program = assemble("top: PUT 1\nJZ end\nGOTO top\nJMP top\nend:").unwrap();
        assert_eq!(
            program.code(),
            [Instr::Put(1), Instr::Jz(3), Instr::Goto(2), Instr::Jmp(-3)]
        );
    }

    #[test]
    fn mnemonics_are_case_insensitive_and_labels_are_not() {
        assert!(assemble("Loop: put 1\ngoto Loop").is_ok());
        assert_eq!(codes("Loop: put 1\ngoto loop"), ["A0010"]);
    }

    #[test]
    fn reports_several_errors_in_one_run() {
        assert_eq!(
            codes("PUTT 1\nPRINT 3\nPUT\nSLEEP -1\nGOTO nowhere\nPUT 1 2\nx: x: HALT\nJMP 9\n$"),
            [
                "A0003", "A0005", "A0004", "A0007", "A0010", "A0002", "A0008", "A0012", "A0001"
            ]
        );
    }

    #[test]
    fn goto_to_a_later_label_is_refused() {
        assert_eq!(codes("GOTO later\nlater: HALT"), ["A0011"]);
        assert_eq!(codes("here: GOTO here"), Vec::<&str>::new());
    }

    #[test]
    fn too_many_instructions_is_reported_once_at_the_first_one_past_the_limit() {
        let source = "PUT 1\nPRINT\nPOP\nHALT\n";
        let (program, errors) = assemble_with_limit(source, 2, None);
        assert_eq!(program, None);
        assert_eq!(
            errors.iter().map(AsmError::code).collect::<Vec<_>>(),
            ["A0013"]
        );
        let rendered = crate::diag::render(&[errors[0].clone().into()], "big.mvasm", source, false);
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/asm"));
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| {
            insta::assert_snapshot!(
                "error-a0013_too_many_instructions",
                format!("{source}\n── diagnostics ──\n{rendered}")
            );
        });
    }

    #[test]
    fn numbers_are_checked_for_their_operand_kind() {
        assert_eq!(codes("PUT 12ab"), ["A0006"]);
        assert_eq!(codes("PUT 99999999999999999999"), ["A0007"]);
        assert_eq!(codes("LOAD 65536"), ["A0007"]);
        assert_eq!(codes("PUT label\nlabel:"), ["A0009"]);
        assert_eq!(codes("PUT -9223372036854775808"), Vec::<&str>::new());
    }
}
