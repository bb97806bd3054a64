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
    #![proptest_config(ProptestConfig::with_cases(mova_lang::strategies::cases(512)))]

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

/// Text made of the language's own vocabulary, so that generated inputs reach the parser, the
/// layout pass, the checker and code generation rather than stopping at the lexer.
fn mova_like() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        prop::sample::select(vec![
            "var",
            "print",
            "sleep",
            "if",
            "else",
            "while",
            "loop",
            "break",
            "continue",
            "halt",
            "true",
            "false",
            "x",
            "y",
            "outer",
            "(",
            ")",
            "{",
            "}",
            ";",
            ":",
            "=",
            "+=",
            "-=",
            "*=",
            "/=",
            "%=",
            "++",
            "--",
            "+",
            "-",
            "*",
            "/",
            "%",
            "!",
            "==",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "&&",
            "||",
            "\n",
            "\n    ",
            "\n        ",
            "// c\n",
        ])
        .prop_map(str::to_owned),
        any::<u64>().prop_map(|n| n.to_string()),
        (0u8..50).prop_map(|n| n.to_string()),
        "[^\n]{0,2}",
    ];
    prop::collection::vec(word, 0..60).prop_map(|words| words.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mova_lang::strategies::cases(512)))]

    #[test]
    fn the_compiler_never_panics_on_arbitrary_text(source in any::<String>()) {
        let _ = mova_compiler::compile::compile(&source, Some("fuzz.mova"));
    }

    #[test]
    fn the_compiler_never_panics_on_language_like_text(source in mova_like()) {
        match mova_compiler::compile::compile(&source, Some("fuzz.mova")) {
            Ok(compiled) => prop_assert!(compiled.program.source_map().is_some()),
            Err(diagnostics) => prop_assert!(
                diagnostics.iter().any(mova_compiler::compile::is_error),
                "a failed compile reports an error"
            ),
        }
    }
}
