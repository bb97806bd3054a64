//! The disassembler: a [`Program`] back to `.mvasm` text that the assembler reads back to the same
//! program.
//!
//! Jump targets get labels (`L4` names instruction 4, and `L<len>` the end of the code); each line
//! ends with a comment giving the instruction's index, and for jumps the raw operand, so the listing
//! also shows what is in the file.

use mova_lang::isa::JumpTarget;
use mova_lang::mvb::Program;
use std::collections::BTreeSet;
use std::fmt::Write;

/// Width of the label column.
const LABEL_WIDTH: usize = 8;
/// Width of the instruction column, before the comment.
const INSTR_WIDTH: usize = 24;

/// Disassembles `program` into `.mvasm` text.
pub fn disassemble(program: &Program) -> String {
    let code = program.code();
    let targets: BTreeSet<u32> = (0u32..)
        .zip(code)
        .filter_map(|(index, instr)| match instr.jump_target(index) {
            Some(JumpTarget::Index(target)) => Some(target),
            Some(JumpTarget::OutOfRange(_)) | None => None,
        })
        .collect();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "; Mova bytecode, {} instruction{}",
        code.len(),
        if code.len() == 1 { "" } else { "s" }
    );
    for section in program.sections() {
        let _ = writeln!(
            out,
            "; not shown: optional section 0x{:04X} ({} bytes)",
            section.kind,
            section.payload.len()
        );
    }
    for (index, instr) in (0u32..).zip(code) {
        let label = if targets.contains(&index) {
            format!("L{index}:")
        } else {
            String::new()
        };
        let text = match (instr.jump_target(index), instr.opcode().jump_operand()) {
            (Some(JumpTarget::Index(target)), Some(at)) => {
                let operands: Vec<String> = instr
                    .operands()
                    .iter()
                    .enumerate()
                    .map(|(i, value)| {
                        if i == at {
                            format!("L{target}")
                        } else {
                            value.to_string()
                        }
                    })
                    .collect();
                format!("{} {}", instr.opcode(), operands.join(", "))
            }
            (Some(JumpTarget::Index(_) | JumpTarget::OutOfRange(_)) | None, _) => instr.to_string(),
        };
        let comment = match instr.jump_target(index) {
            Some(_) => format!("{index}: {instr}"),
            None => index.to_string(),
        };
        let _ = writeln!(
            out,
            "{label:<LABEL_WIDTH$}{text:<INSTR_WIDTH$}; {comment}",
            label = pad_label(&label),
        );
    }
    let end = u32::try_from(code.len()).unwrap_or(u32::MAX);
    if targets.contains(&end) {
        let _ = writeln!(out, "L{end}:");
    }
    out
}

/// A label longer than its column still needs a space after it.
fn pad_label(label: &str) -> String {
    if label.len() >= LABEL_WIDTH {
        format!("{label} ")
    } else {
        label.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;

    #[test]
    fn labels_jump_targets_and_reassembles_to_the_same_program() {
        let program = assemble("PUT 0\nADD 1\nPRINT\nSLEEP 100\nGOTO 3\n").unwrap();
        let text = disassemble(&program);
        assert_eq!(
            text,
            "; Mova bytecode, 5 instructions\n\
             \x20       PUT 0                   ; 0\n\
             L1:     ADD 1                   ; 1\n\
             \x20       PRINT                   ; 2\n\
             \x20       SLEEP 100               ; 3\n\
             \x20       GOTO L1                 ; 4: GOTO 3\n"
        );
        assert_eq!(assemble(&text).unwrap(), program);
    }

    #[test]
    fn the_end_of_the_code_gets_a_label_when_jumped_to() {
        let program = assemble("PUT 0\nJZ 1").unwrap();
        let text = disassemble(&program);
        assert!(text.ends_with("L2:\n"), "{text}");
        assert_eq!(assemble(&text).unwrap(), program);
    }
}
