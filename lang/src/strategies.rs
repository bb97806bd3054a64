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

/// Any instruction but calls and returns, which only a program with functions can have.
pub fn plain_instr() -> impl Strategy<Value = Instr> {
    instr().prop_filter("not a call or a return", |instr| {
        !matches!(instr.opcode().flow(), Flow::Call | Flow::Return)
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
        OperandKind::Value | OperandKind::Millis | OperandKind::Slot | OperandKind::Function => {
            return instr;
        }
    };
    instr
        .with_jump_offset(folded)
        .or_else(|| instr.with_jump_offset(0))
        .unwrap_or(instr)
}
