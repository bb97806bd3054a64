//! The resolver: parsed lines to instructions. Labels are collected first, then each
//! instruction's mnemonic and operand are resolved; label operands become the distance their
//! opcode's operand kind measures.

use super::errors::AsmError;
use super::parser::{InstrSyntax, Line, Operand, Spanned};
use crate::diag::{Span, did_you_mean};
use crate::number::{IntError, parse_int};
use crate::shared::{InvalidNumber, TooLarge};
use mova_lang::isa::{Instr, JumpTarget, Opcode, OperandError, OperandKind};
use std::collections::HashMap;

/// Turns parsed lines into instructions: first finds where every label points, then resolves each
/// instruction's mnemonic and operand.
pub(crate) struct Resolver<'a, 's> {
    labels: HashMap<&'s str, (u32, Span)>,
    len: u32,
    limit: u32,
    errors: &'a mut Vec<AsmError>,
}

impl<'a, 's> Resolver<'a, 's> {
    pub(crate) fn new(lines: &[Line<'s>], limit: u32, errors: &'a mut Vec<AsmError>) -> Self {
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
    pub(crate) fn resolve(&mut self, lines: &[Line<'s>]) -> (Vec<Instr>, Vec<Span>) {
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
                        self.errors.push(AsmError::TooLarge(TooLarge {
                            span: syntax.mnemonic.span.into_range(),
                            what: format!(
                                "{} instructions, at most {} are allowed",
                                self.len, self.limit
                            ),
                        }));
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
        operand: Spanned<Operand<'s>>,
        index: u32,
    ) -> Option<i64> {
        let span = operand.span.into_range();
        match operand.node {
            Operand::Int(text) => match parse_int(text) {
                Ok(value) => Some(value),
                Err(IntError::OutOfRange) => {
                    self.errors
                        .push(AsmError::OutOfRange { span, opcode, kind });
                    None
                }
                Err(reason) => {
                    self.errors.push(AsmError::InvalidNumber(InvalidNumber {
                        span,
                        text: text.to_owned(),
                        reason,
                    }));
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
                    | OperandKind::Slot
                    | OperandKind::Function => Some(target - here),
                }
            }
        }
    }
}
