//! Proptest strategies for valid instructions and programs (feature `strategies`), shared by the
//! property tests of every crate, and fixtures made from the seed program.

use crate::image::{IMAGE_HEADER_LEN, Image};
use crate::isa::{Flow, Instr, Opcode, OperandKind};
use crate::mvb::{Program, SECTION_OPTIONAL, Section};
use proptest::prelude::*;

/// The number of cases a property test runs: `default`, unless the `PROPTEST_CASES` environment
/// variable says otherwise. CI runs the defaults (a fixed, fast budget); a longer run is
/// `PROPTEST_CASES=100000 cargo test --workspace`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The seed program, `PUT 0, ADD 1, PRINT, SLEEP 100, GOTO 3`: the fixture the format tests,
/// the docs' examples and the benchmarks start from.
pub fn seed_program() -> Program {
    match Program::new(vec![
        Instr::Put(0),
        Instr::Add(1),
        Instr::Print,
        Instr::Sleep(100),
        Instr::Goto(3),
    ]) {
        Ok(program) => program,
        Err(error) => unreachable!("the seed program is valid: {error}"),
    }
}

/// `bytes` — a `.mvb` or a `.mvs`, both of which end with a CRC-32 of every byte before it — with
/// that checksum recomputed, so that a test's damage reaches the checks behind it. Bytes shorter
/// than a checksum come back as they are.
pub fn resealed(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(body) = bytes.len().checked_sub(4) {
        let crc = crc32fast::hash(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_be_bytes());
    }
    bytes
}

/// The seed program's image at its `PRINT` (IP 2) with the counter taken off the stack and the
/// checksum recomputed, as an edit of a saved `.mvs` would make it, with or without the program
/// embedded: well-formed bytes, but a state no run of the program can be in (the `PRINT` would
/// find no value).
pub fn seed_image_without_its_counter(with_program: bool) -> Vec<u8> {
    let bytes = match Image::new(&seed_program(), 2, vec![1], None, with_program) {
        Ok(image) => image.encode(),
        Err(error) => {
            unreachable!("the seed program prints with its counter on the stack: {error}")
        }
    };
    // After the header and the IP segment (6 bytes) comes the stack segment: its u16 header, its
    // u16 count, its u32 element size and then its one 8-byte value.
    let count = IMAGE_HEADER_LEN + 6 + 2;
    let values = count + 2 + 4;
    resealed(
        [
            &bytes[..count],
            &[0, 0],
            &bytes[count + 2..values],
            &bytes[values + 8..],
        ]
        .concat(),
    )
}

/// Any instruction, with operands anywhere in their kinds' ranges (edges included).
pub fn instr() -> impl Strategy<Value = Instr> {
    (0..Opcode::ALL.len(), any::<[i64; 2]>()).prop_filter_map("operands fit", |(i, raw)| {
        let opcode = *Opcode::ALL.get(i)?;
        let operands: Vec<i64> = opcode
            .operand_kinds()
            .iter()
            .zip(raw)
            .map(|(kind, raw)| {
                let (lo, hi) = kind.range();
                let span = i128::from(hi) - i128::from(lo) + 1;
                i64::try_from(i128::from(lo) + i128::from(raw).rem_euclid(span)).unwrap_or(lo)
            })
            .collect();
        Instr::new(opcode, &operands).ok()
    })
}

/// Any instruction but calls and returns, which only a program with functions can have, and
/// those that touch the reference stack, whose heights the verifier requires to be exact (a
/// random sequence of them almost never is).
pub fn plain_instr() -> impl Strategy<Value = Instr> {
    instr().prop_filter("not a call, a return or a reference", |instr| {
        !matches!(instr.opcode().flow(), Flow::Call | Flow::Return)
            && !instr.opcode().stack_effect().uses_refs()
    })
}

/// A valid program without functions of up to `max_len` instructions: any instructions but
/// calls and returns, with every jump folded so that it lands inside the code, plus up to two
/// optional sections when `sections` is set.
pub fn program_with(max_len: usize, sections: bool) -> impl Strategy<Value = Program> {
    let code = prop::collection::vec(plain_instr(), 0..max_len).prop_map(|code| {
        let len = i64::try_from(code.len()).unwrap_or(i64::MAX);
        (0i64..)
            .zip(code)
            .map(|(index, instr)| fold_jump(instr, index, len))
            .collect::<Vec<_>>()
    });
    let max_sections = if sections { 3 } else { 1 };
    let sections = prop::collection::vec(
        (any::<u16>(), prop::collection::vec(any::<u8>(), 0..16)).prop_map(|(kind, payload)| {
            Section {
                kind: kind | SECTION_OPTIONAL,
                payload,
            }
        }),
        0..max_sections,
    );
    (code, sections).prop_filter_map("verifies", |(code, sections)| {
        Program::with_sections(code, sections).ok()
    })
}

/// [`program_with`] with up to 40 instructions and optional sections.
pub fn program() -> impl Strategy<Value = Program> {
    program_with(40, true)
}

/// Folds a jump's operand so that its target lies in `0..=len`: a backward distance onto
/// `0..=index`, a signed offset onto a target in `0..=len`.
fn fold_jump(instr: Instr, index: i64, len: i64) -> Instr {
    let opcode = instr.opcode();
    let Some(at) = opcode.jump_operand() else {
        return instr;
    };
    let (Some(&kind), Some(&raw)) = (opcode.operand_kinds().get(at), instr.operands().get(at))
    else {
        return instr;
    };
    let folded = match kind {
        OperandKind::BackwardDistance => raw % (index + 1),
        OperandKind::SignedOffset => raw.rem_euclid(len + 1) - index,
        OperandKind::Value
        | OperandKind::Millis
        | OperandKind::Slot
        | OperandKind::Function
        | OperandKind::Constant => {
            return instr;
        }
    };
    instr
        .with_jump_offset(folded)
        .or_else(|| instr.with_jump_offset(0))
        .unwrap_or(instr)
}

/// A valid program with functions: 1 to 4 functions of 1 to 3 parameters and 0 or 1 results,
/// and a main program that calls each of them (with small first arguments) and prints what they
/// return, 1 to 12 times in a loop, then halts. Each body is built from a small structured grammar that keeps the stack
/// height exact, as the verifier requires of functions: straight-line arithmetic over the
/// parameters, calls with the right number of arguments, forward conditional jumps whose two ways
/// meet at the same height, stores into parameters, and at most one call of itself, on its first
/// parameter minus one behind a guard that returns when it is not positive. Calls go to later
/// functions only (and to itself), each call's first argument is reduced modulo 6, so every run
/// ends — by halting, or by trapping on an arithmetic overflow — after a bounded number of calls.
pub fn program_with_functions() -> impl Strategy<Value = Program> {
    (
        prop::collection::vec((1u16..=3, 0u8..=1), 1..=4),
        prop::collection::vec(any::<u32>(), 16..400),
    )
        .prop_map(|(signatures, choices)| functions_program(&signatures, choices))
}

/// The program [`program_with_functions`] builds from `signatures` (each function's parameters
/// and results) and the `choices` that decide everything else, in order (once they run out, each
/// choice is 0, which picks the smallest option).
pub fn functions_program(signatures: &[(u16, u8)], choices: Vec<u32>) -> Program {
    let mut builder = Builder {
        choices,
        at: 0,
        signatures: signatures.to_vec(),
    };
    let mut code = builder.main();
    let mut functions = Vec::new();
    for number in (1..=u16::MAX).take(signatures.len()) {
        let entry = u32::try_from(code.len()).unwrap_or(u32::MAX);
        let (params, results) = builder.signature(number);
        functions.push(crate::func::Function::ints(entry, params, results));
        code.extend(builder.function(number));
    }
    match Program::with_functions(code, &functions, Vec::new()) {
        Ok(program) => program,
        Err(error) => unreachable!("the grammar keeps every function's heights exact: {error}"),
    }
}

/// Builds code from the grammar of [`program_with_functions`], taking its decisions from a list
/// of choices.
struct Builder {
    choices: Vec<u32>,
    at: usize,
    /// Functions 1, 2, …: parameters and results.
    signatures: Vec<(u16, u8)>,
}

/// The most call sites in one body: with the first argument of each call below 6, it bounds the
/// number of calls a run makes.
const CALL_SITES: u32 = 2;

/// What one body may still do: its function, and how many calls it may still write.
struct Body {
    function: u16,
    calls: u32,
    called_itself: bool,
}

impl Builder {
    /// The next choice, in `0..n` (0 when `n` is 0).
    fn pick(&mut self, n: u32) -> u32 {
        let choice = self.choices.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        choice.checked_rem(n).unwrap_or(0)
    }

    fn signature(&self, function: u16) -> (u16, u8) {
        usize::from(function)
            .checked_sub(1)
            .and_then(|index| self.signatures.get(index))
            .copied()
            .unwrap_or((0, 0))
    }

    fn count(&self) -> u16 {
        u16::try_from(self.signatures.len()).unwrap_or(u16::MAX)
    }

    /// The main program: a loop, run 1 to 12 times, of a few statements and a call of every
    /// function (its counter the one value below them), then `HALT`.
    fn main(&mut self) -> Vec<Instr> {
        let mut body = Body {
            function: 0,
            calls: CALL_SITES,
            called_itself: true,
        };
        let repeat = 1 + i64::from(self.pick(12));
        let mut code = vec![Instr::Put(0)];
        code.extend(self.statements(&mut body, 2));
        for function in 1..=self.count() {
            let (params, results) = self.signature(function);
            for param in 0..params {
                if param == 0 {
                    code.push(Instr::Put(i64::from(self.pick(6))));
                } else {
                    let value = self.value();
                    code.push(Instr::Put(value));
                }
            }
            code.push(Instr::Call(function));
            if results == 1 {
                code.push(Instr::Print);
                code.push(Instr::Pop);
            }
        }
        // Back to the loop's first statement, after the counter's `PUT`.
        let back = 1 - i32::try_from(code.len()).unwrap_or(i32::MAX);
        code.push(Instr::IncJlt(repeat, back));
        code.push(Instr::Pop);
        code.push(Instr::Halt);
        code
    }

    /// A function's code: the guard, statements, and its return.
    fn function(&mut self, function: u16) -> Vec<Instr> {
        let (_, results) = self.signature(function);
        let mut body = Body {
            function,
            calls: CALL_SITES,
            called_itself: false,
        };
        // `if n <= 0 return …`: `LOAD 0; JGTK 0, +k; POP; (PUT v; RETV | RET); POP`.
        let mut code = vec![Instr::Load(0)];
        let base: Vec<Instr> = if results == 1 {
            vec![Instr::Put(self.value()), Instr::RetV]
        } else {
            vec![Instr::Ret]
        };
        let skip = i32::try_from(base.len() + 2).unwrap_or(i32::MAX);
        code.push(Instr::JgtK(0, skip));
        code.push(Instr::Pop);
        code.extend(base);
        code.push(Instr::Pop);
        code.extend(self.statements(&mut body, 2));
        if results == 1 {
            code.extend(self.expr(&mut body, 2));
            code.push(Instr::RetV);
        } else {
            code.push(Instr::Ret);
        }
        code
    }

    fn value(&mut self) -> i64 {
        i64::from(self.pick(41)) - 20
    }

    /// Up to three statements, each leaving the height as it found it.
    fn statements(&mut self, body: &mut Body, depth: u32) -> Vec<Instr> {
        let mut code = Vec::new();
        for _ in 0..self.pick(4) {
            code.extend(self.statement(body, depth));
        }
        code
    }

    fn statement(&mut self, body: &mut Body, depth: u32) -> Vec<Instr> {
        let (params, _) = self.signature(body.function);
        let mut code = Vec::new();
        match self.pick(5) {
            // `if expr { … }`: both ways meet with the height they started from.
            0 if depth > 0 => {
                code.extend(self.expr(body, 1));
                let inner = self.statements(body, depth - 1);
                let skip = i32::try_from(inner.len() + 1).unwrap_or(i32::MAX);
                code.push(Instr::Jz(skip));
                code.extend(inner);
            }
            // A store into a parameter other than the first, which the guard counts down.
            1 if params > 1 => {
                let slot = 1 + u16::try_from(self.pick(u32::from(params - 1))).unwrap_or(0);
                code.extend(self.expr(body, 1));
                code.push(if self.pick(2) == 0 {
                    Instr::Store(slot)
                } else {
                    Instr::AddTo(slot)
                });
            }
            // A call as a statement, its result (if any) dropped.
            2 => {
                if let Some((call, results)) = self.call(body, 1) {
                    code.extend(call);
                    if results == 1 {
                        code.push(Instr::Pop);
                    }
                }
            }
            _ => {
                code.extend(self.expr(body, 2));
                code.push(Instr::Print);
                code.push(Instr::Pop);
            }
        }
        code
    }

    /// Code that pushes exactly one value.
    fn expr(&mut self, body: &mut Body, depth: u32) -> Vec<Instr> {
        let (params, _) = self.signature(body.function);
        let choice = if depth == 0 {
            self.pick(2)
        } else {
            self.pick(7)
        };
        let mut code = Vec::new();
        match choice {
            0 if params > 0 => {
                code.push(Instr::Load(
                    u16::try_from(self.pick(u32::from(params))).unwrap_or(0),
                ));
            }
            2 => {
                code.extend(self.expr(body, depth - 1));
                code.extend(self.expr(body, depth - 1));
                code.push(match self.pick(3) {
                    0 => Instr::AddS,
                    1 => Instr::Sub,
                    _ => Instr::Mul,
                });
            }
            3 => {
                code.extend(self.expr(body, depth - 1));
                let value = self.value();
                code.push(match self.pick(3) {
                    0 => Instr::Add(value),
                    1 => Instr::MulK(value),
                    _ => Instr::ModK(if value == 0 { 7 } else { value }),
                });
            }
            4 if params > 0 => {
                code.extend(self.expr(body, depth - 1));
                let slot = u16::try_from(self.pick(u32::from(params))).unwrap_or(0);
                code.push(match self.pick(3) {
                    0 => Instr::AddL(slot),
                    1 => Instr::SubL(slot),
                    _ => Instr::MulL(slot),
                });
            }
            5 | 6 => match self.call(body, depth - 1) {
                Some((call, 1)) => code.extend(call),
                Some((call, _)) => {
                    code.extend(call);
                    code.push(Instr::Put(self.value()));
                }
                None => code.push(Instr::Put(self.value())),
            },
            _ => code.push(Instr::Put(self.value())),
        }
        code
    }

    /// A call of a later function or of the body's own, with its arguments; and the callee's
    /// number of results. `None` when the body may write no more calls or none is possible.
    fn call(&mut self, body: &mut Body, depth: u32) -> Option<(Vec<Instr>, u8)> {
        if body.calls == 0 {
            return None;
        }
        let count = self.count();
        let later = count.saturating_sub(body.function);
        // The choices: each later function, and (once) the body's own.
        let itself = body.function != 0 && !body.called_itself;
        let options = u32::from(later) + u32::from(itself);
        if options == 0 {
            return None;
        }
        let choice = self.pick(options);
        let callee = if choice < u32::from(later) {
            body.function + 1 + u16::try_from(choice).unwrap_or(0)
        } else {
            body.called_itself = true;
            body.function
        };
        body.calls -= 1;
        let (params, results) = self.signature(callee);
        let mut code = Vec::new();
        for param in 0..params {
            if param == 0 && callee == body.function {
                code.push(Instr::Load(0));
                code.push(Instr::Add(-1));
            } else if param == 0 {
                code.extend(self.expr(body, depth.min(1)));
                code.push(Instr::ModK(6));
            } else {
                code.extend(self.expr(body, depth.min(1)));
            }
        }
        code.push(Instr::Call(callee));
        Some((code, results))
    }
}
