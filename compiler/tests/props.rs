//! Property tests of the assembler: it never panics, whatever the text, and the disassembler's
//! listing of any valid program assembles back to that program.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mova_compiler::asm::assemble_errors;
use mova_compiler::{assemble, disassemble};
use mova_lang::isa::Opcode;
use mova_lang::strategies::program_with;
use proptest::prelude::*;

/// Text made of the assembler's own vocabulary, so that generated inputs get past the lexer and
/// exercise the parser and the resolver, not just the invalid-character path.
fn asm_like() -> impl Strategy<Value = String> {
    let mnemonics: Vec<String> = Opcode::ALL
        .iter()
        .map(|op| op.mnemonic().to_owned())
        .collect();
    let word = prop_oneof![
        prop::sample::select(mnemonics),
        Just("top".to_owned()),
        Just("end".to_owned()),
        Just(":".to_owned()),
        Just("\n".to_owned()),
        Just(";c".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| format!("0x{n:x}")),
        Just("99999999999999999999".to_owned()),
        "[a-z]{1,4}",
        "[^\n]{0,2}",
    ];
    prop::collection::vec(word, 0..40).prop_map(|words| words.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(source in any::<String>()) {
        let (program, errors) = assemble_errors(&source, None);
        prop_assert_eq!(program.is_some(), errors.is_empty(), "{:?}", errors);
    }

    #[test]
    fn assembly_like_text_assembles_or_reports_errors(source in asm_like()) {
        let (program, errors) = assemble_errors(&source, None);
        // Exactly one of: a program, or at least one error.
        prop_assert_eq!(program.is_some(), errors.is_empty(), "{:?}", errors);
    }

    #[test]
    fn disassembly_reassembles_to_the_same_program(program in program_with(60, false)) {
        let listing = disassemble(&program);
        let reassembled = assemble(&listing).unwrap_or_else(|d| panic!("{listing}\n{d:?}"));
        prop_assert_eq!(reassembled.encode(), program.encode());
        prop_assert_eq!(disassemble(&reassembled), listing);
    }
}
