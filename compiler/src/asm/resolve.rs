//! The resolver: parsed lines to instructions. Labels and functions are collected first, then
//! each instruction's mnemonic and operand are resolved; label operands become the distance their
//! opcode's operand kind measures, and function names (`CALL` operands) their function's number.

use super::errors::{AsmError, MAIN_WORD, SignaturePart};
use super::parser::{FnSyntax, InstrSyntax, Line, Operand, Spanned};
use super::string;
use crate::diag::{Span, did_you_mean};
use crate::number::{IntError, parse_int};
use crate::shared::{InvalidNumber, TooLarge};
use mova_lang::func::Function;
use mova_lang::isa::{Instr, JumpTarget, Opcode, OperandError, OperandKind};
use std::collections::HashMap;

/// A function as its `.fn` line declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FunctionDecl<'s> {
    /// Its name.
    pub(crate) name: &'s str,
    /// Where its name is on its `.fn` line.
    pub(crate) name_span: Span,
    /// The whole `.fn` line's directive, from `.fn` to the result count.
    pub(crate) span: Span,
    /// Its entry (the index of the first instruction after the line) and counts.
    pub(crate) function: Function,
}

/// Turns parsed lines into instructions: first finds where every label points and which
/// functions the `.fn` lines declare, then resolves each instruction's mnemonic and operand.
pub(crate) struct Resolver<'a, 's> {
    labels: HashMap<&'s str, (u32, Span)>,
    /// The functions, 1, 2, … in order.
    functions: Vec<FunctionDecl<'s>>,
    /// Each function's number, by name.
    names: HashMap<&'s str, u16>,
    len: u32,
    limit: u32,
    /// The string constants, in order: those the `.string` lines declare, then those `CONST`
    /// literals add.
    strings: Vec<String>,
    /// How many of `strings` the `.string` lines declare.
    declared_strings: usize,
    /// Each string's first constant, by its text.
    string_numbers: HashMap<String, u32>,
    errors: &'a mut Vec<AsmError>,
}

/// The limits a resolver enforces: instructions and functions (smaller in tests, so they can
/// reach them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) instructions: u32,
    pub(crate) functions: usize,
}

impl<'a, 's> Resolver<'a, 's> {
    pub(crate) fn new(lines: &[Line<'s>], limits: Limits, errors: &'a mut Vec<AsmError>) -> Self {
        let mut labels: HashMap<&'s str, (u32, Span)> = HashMap::new();
        let mut functions: Vec<FunctionDecl<'s>> = Vec::new();
        let mut names: HashMap<&'s str, u16> = HashMap::new();
        let declared = lines
            .iter()
            .filter(|line| matches!(line, Line::Function(_)))
            .count();
        let mut index: u32 = 0;
        let mut strings = Vec::new();
        let mut string_numbers = HashMap::new();
        for line in lines {
            match line {
                Line::String(syntax) => {
                    // A bad literal still declares a constant, so the numbers after it stay.
                    let text = literal(syntax.text, errors).unwrap_or_default();
                    let number = u32::try_from(strings.len()).unwrap_or(u32::MAX);
                    string_numbers.entry(text.clone()).or_insert(number);
                    strings.push(text);
                }
                Line::Function(syntax) => {
                    if functions.len() == limits.functions {
                        errors.push(AsmError::TooManyFunctions {
                            span: syntax.directive.span.into_range(),
                            count: declared,
                            limit: limits.functions,
                        });
                    }
                    Self::check_previous_not_empty(&functions, syntax, index, errors);
                    let number = u16::try_from(functions.len() + 1).unwrap_or(u16::MAX);
                    let name = syntax.name.node;
                    let span = syntax.name.span.into_range();
                    if name == MAIN_WORD {
                        errors.push(AsmError::DuplicateFunction {
                            span: span.clone(),
                            first: None,
                            name: name.to_owned(),
                        });
                    } else if let Some(&first) = names.get(name) {
                        let first = usize::from(first) - 1;
                        errors.push(AsmError::DuplicateFunction {
                            span: span.clone(),
                            first: functions.get(first).map(|first| first.name_span.clone()),
                            name: name.to_owned(),
                        });
                    } else {
                        names.insert(name, number);
                    }
                    let (params, ref_params) = params(syntax, errors);
                    let (results, ref_results) = results(syntax.results, errors);
                    functions.push(FunctionDecl {
                        name,
                        name_span: span,
                        span: syntax.span(),
                        function: Function {
                            entry: index,
                            params,
                            results,
                            ref_params,
                            ref_results,
                        },
                    });
                }
                Line::Directive(directive) => errors.push(AsmError::UnknownDirective {
                    span: directive.span.into_range(),
                    name: directive.node.to_owned(),
                }),
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
        if let Some(last) = functions.last()
            && last.function.entry == index
        {
            errors.push(AsmError::EmptyFunction {
                span: last.span.clone(),
                function: last.name.to_owned(),
                main: false,
            });
        }
        Resolver {
            labels,
            functions,
            names,
            len: index,
            limit: limits.instructions,
            declared_strings: strings.len(),
            strings,
            string_numbers,
            errors,
        }
    }

    /// Reports the function before the `.fn` line `syntax`, at instruction `index`, if it has
    /// no instruction: the main program, for the first `.fn`.
    fn check_previous_not_empty(
        functions: &[FunctionDecl<'s>],
        syntax: &FnSyntax<'s>,
        index: u32,
        errors: &mut Vec<AsmError>,
    ) {
        match functions.last() {
            None if index == 0 => errors.push(AsmError::EmptyFunction {
                span: syntax.span(),
                function: MAIN_WORD.to_owned(),
                main: true,
            }),
            Some(previous) if previous.function.entry == index => {
                errors.push(AsmError::EmptyFunction {
                    span: previous.span.clone(),
                    function: previous.name.to_owned(),
                    main: false,
                });
            }
            None | Some(_) => {}
        }
    }

    /// The functions the `.fn` lines declare, 1, 2, … in order.
    pub(crate) fn functions(&self) -> &[FunctionDecl<'s>] {
        &self.functions
    }

    /// The string constants, in order: those of the `.string` lines, then those `CONST`
    /// literals added (complete once [`Resolver::resolve`] has run).
    pub(crate) fn strings(&self) -> &[String] {
        &self.strings
    }

    /// The constant holding `text`: the first with that text, or a new one.
    fn intern(&mut self, text: String) -> u32 {
        if let Some(&number) = self.string_numbers.get(&text) {
            return number;
        }
        let number = u32::try_from(self.strings.len()).unwrap_or(u32::MAX);
        self.string_numbers.insert(text.clone(), number);
        self.strings.push(text);
        number
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
                Line::Ok { instr: None, .. }
                | Line::Function(_)
                | Line::String(_)
                | Line::Directive(_) => {}
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
        if let Some(callee) = instr.callee()
            && (callee == 0 || usize::from(callee) > self.functions.len())
        {
            self.errors.push(AsmError::CallTarget {
                span,
                instr,
                function: callee,
                count: self.functions.len() + 1,
            });
            return None;
        }
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
            Operand::Str(text) if kind == OperandKind::Constant => {
                let text = literal(
                    Spanned {
                        node: text,
                        span: operand.span,
                    },
                    self.errors,
                )?;
                Some(i64::from(self.intern(text)))
            }
            Operand::Str(_) => {
                self.errors
                    .push(AsmError::StringNotAllowed { span, opcode, kind });
                None
            }
            Operand::Int(text) if kind == OperandKind::Constant => match parse_int(text) {
                Ok(value)
                    if usize::try_from(value).is_ok_and(|value| value < self.declared_strings) =>
                {
                    Some(value)
                }
                Ok(_) | Err(IntError::OutOfRange) => {
                    self.errors.push(AsmError::UndeclaredConstant {
                        span,
                        text: text.to_owned(),
                        declared: self.declared_strings,
                    });
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
            Operand::Label(name) if kind == OperandKind::Function => {
                if let Some(&number) = self.names.get(name) {
                    return Some(i64::from(number));
                }
                if name == MAIN_WORD {
                    self.errors.push(AsmError::CallTarget {
                        span,
                        instr: Instr::Call(0),
                        function: 0,
                        count: self.functions.len() + 1,
                    });
                } else {
                    self.errors.push(AsmError::UndefinedFunction {
                        span,
                        name: name.to_owned(),
                        suggestion: did_you_mean(name, self.names.keys().copied())
                            .map(str::to_owned),
                    });
                }
                None
            }
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
                    | OperandKind::Function
                    | OperandKind::Constant => Some(target - here),
                }
            }
        }
    }
}

/// A `.fn` line's count as written: `2` counts ints, `2r` references.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Count {
    value: i64,
    refs: bool,
}

/// Reads a `.fn` count token: a number, with an `r` after it for a count of references; `None`
/// after reporting an invalid number.
fn count(text: Spanned<&str>, errors: &mut Vec<AsmError>) -> Option<Count> {
    let (digits, refs) = match text.node.strip_suffix(['r', 'R']) {
        Some(digits) => (digits, true),
        None => (text.node, false),
    };
    match parse_int(digits) {
        Ok(value) => Some(Count { value, refs }),
        // Too large for an i64 is too large for a count too.
        Err(IntError::OutOfRange) => Some(Count {
            value: i64::MAX,
            refs,
        }),
        Err(reason) => {
            errors.push(AsmError::InvalidNumber(InvalidNumber {
                span: text.span.into_range(),
                text: text.node.to_owned(),
                reason,
            }));
            None
        }
    }
}

/// A parameter count in `0..=65535`, or 0 after reporting why it is not.
fn param_count(
    count: Count,
    text: Spanned<&str>,
    part: SignaturePart,
    errors: &mut Vec<AsmError>,
) -> u16 {
    u16::try_from(count.value).unwrap_or_else(|_| {
        errors.push(AsmError::BadSignature {
            span: text.span.into_range(),
            part,
            text: text.node.to_owned(),
        });
        0
    })
}

/// A `.fn` line's parameter counts, ints and references: `2` (ints), `2r` (references) or `1 2r`
/// (both, ints first); zeros after reporting why they are not.
fn params(syntax: &FnSyntax<'_>, errors: &mut Vec<AsmError>) -> (u16, u16) {
    let first = count(syntax.params, errors);
    let second = syntax.more_params.map(|text| (text, count(text, errors)));
    match (first, second) {
        (Some(ints), None) if !ints.refs => (
            param_count(ints, syntax.params, SignaturePart::Params, errors),
            0,
        ),
        (Some(refs), None) => (
            0,
            param_count(refs, syntax.params, SignaturePart::RefParams, errors),
        ),
        (Some(ints), Some((text, Some(refs)))) if !ints.refs && refs.refs => (
            param_count(ints, syntax.params, SignaturePart::Params, errors),
            param_count(refs, text, SignaturePart::RefParams, errors),
        ),
        (Some(_), Some((text, Some(_)))) => {
            errors.push(AsmError::BadSignature {
                span: syntax.params.span.start..text.span.end,
                part: SignaturePart::ParamPair,
                text: format!("{} {}", syntax.params.node, text.node),
            });
            (0, 0)
        }
        (None, _) | (_, Some((_, None))) => (0, 0),
    }
}

/// A `.fn` line's result counts, ints and references: `0`, `1` (an int) or `1r` (a
/// reference); zeros after reporting why it is none of those.
fn results(text: Spanned<&str>, errors: &mut Vec<AsmError>) -> (u8, u8) {
    match count(text, errors) {
        Some(Count { value: 0, .. }) | None => (0, 0),
        Some(Count {
            value: 1,
            refs: false,
        }) => (1, 0),
        Some(Count {
            value: 1,
            refs: true,
        }) => (0, 1),
        Some(_) => {
            errors.push(AsmError::BadSignature {
                span: text.span.into_range(),
                part: SignaturePart::Results,
                text: text.node.to_owned(),
            });
            (0, 0)
        }
    }
}

/// The string a literal holds, or `None` after reporting each bad escape in it.
fn literal(text: Spanned<&str>, errors: &mut Vec<AsmError>) -> Option<String> {
    match string::decode(text.node, text.span.start) {
        Ok(decoded) => Some(decoded),
        Err(bad) => {
            errors.extend(
                bad.into_iter()
                    .map(|(span, reason)| AsmError::BadString { span, reason }),
            );
            None
        }
    }
}
