//! Property tests of the assembler: it never panics, whatever the text, and the disassembler's
//! listing of any valid program assembles back to that program.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mova_compiler::asm::assemble_errors;
use mova_compiler::{assemble, disassemble};
use mova_lang::debuginfo::{DEBUG_INFO, DebugInfo, FunctionName};
use mova_lang::isa::Opcode;
use mova_lang::mvb::{Program, Section};
use mova_lang::strategies::{program_with, program_with_functions};
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

    #[test]
    fn disassembly_of_functions_reassembles_to_the_same_program(program in program_with_functions()) {
        let listing = disassemble(&program);
        let reassembled = assemble(&listing).unwrap_or_else(|d| panic!("{listing}\n{d:?}"));
        prop_assert_eq!(reassembled.encode(), program.encode());
        prop_assert_eq!(disassemble(&reassembled), listing);
    }

    /// Whatever names the debug info gives the functions — clashing, generated-looking,
    /// `main`, not names at all, too long — the listing names each function once, and reads
    /// back to the same code and function table.
    #[test]
    fn debug_info_names_never_break_the_round_trip(
        program in program_with_functions(),
        names in prop::collection::vec(prop::sample::select(vec![
            "fact", "fact", "f1", "f2", "f3", "f02", "main", "L1", "PRINT", "two words", "",
            "ä", "x_very_long_name_that_goes_on_and_on_well_past_the_sixty_four_bytes_a_listing_shows",
        ]), 0..6),
    ) {
        let info = DebugInfo {
            functions: (1..)
                .zip(&names)
                .filter(|(number, _)| usize::from(*number) < program.functions().len())
                .map(|(function, name)| FunctionName {
                    function,
                    name: (*name).to_owned(),
                    span: 0..0,
                })
                .collect(),
            locals: Vec::new(),
        };
        let named = Program::with_functions(
            program.code().to_vec(),
            &program.functions()[1..],
            vec![Section { kind: DEBUG_INFO, payload: info.encode() }],
        )
        .unwrap();
        let listing = disassemble(&named);
        let reassembled = assemble(&listing).unwrap_or_else(|d| panic!("{listing}\n{d:?}"));
        prop_assert_eq!(reassembled.encode(), program.encode());
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
            "fn",
            "return",
            "int",
            "f",
            "(x: int)",
            "-> int",
            ",",
            "f(x)",
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

/// The ways of nesting an expression or a statement: what opens a level around the inner part,
/// and what closes it.
const EXPRESSION_NESTINGS: [(&str, &str); 5] = [
    ("(", ")"),
    ("- ", ""),
    ("!", ""),
    ("-(", ")"),
    ("(1 + 2 * ", ")"),
];
const STATEMENT_NESTINGS: [(&str, &str); 5] = [
    ("{", "}"),
    ("if x {", "}"),
    ("while x < 1 { x++;", "}"),
    ("loop { break;", "}"),
    ("l: { x = 0;", " break l; }"),
];

/// A program nested as deep as the given list of nestings says, each entry opening one level
/// (a prefix operator and its bracket, two), around `x` in an initialiser or `x = 1;`.
fn deep_program(expression: Vec<usize>, statements: Vec<usize>) -> (String, usize) {
    let mut source = String::from("var x = 0;\n");
    let mut levels = 0;
    for &i in &statements {
        source.push_str(STATEMENT_NESTINGS[i].0);
        levels += 1;
    }
    source.push_str("var _y = ");
    for &i in &expression {
        source.push_str(EXPRESSION_NESTINGS[i].0);
        levels += if i == 3 { 2 } else { 1 };
    }
    source.push('x');
    for &i in expression.iter().rev() {
        source.push_str(EXPRESSION_NESTINGS[i].1);
    }
    source.push(';');
    for &i in statements.iter().rev() {
        source.push_str(STATEMENT_NESTINGS[i].1);
    }
    (source, levels)
}

/// Nestings around the limit: often just under, at or over it, sometimes far over.
fn nestings() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    use mova_compiler::mova::syntax::MAX_NESTING;
    let depth = prop_oneof![(MAX_NESTING - 8)..(MAX_NESTING + 8), 0..(4 * MAX_NESTING),];
    (depth, 0.0..1.0f64).prop_flat_map(|(depth, share)| {
        // `share` of the depth is in statements, the rest in the expression.
        let in_statements = (depth as f64 * share) as usize;
        (
            prop::collection::vec(0..EXPRESSION_NESTINGS.len(), depth - in_statements),
            prop::collection::vec(0..STATEMENT_NESTINGS.len(), in_statements),
        )
    })
}

/// A long flat chain: operators of every precedence between operands that may be constants,
/// variables, parenthesised or negated.
fn chain() -> impl Strategy<Value = String> {
    let operator = prop::sample::select(vec![
        "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||",
    ]);
    let operand = prop::sample::select(vec!["x", "1", "0", "-x", "(x + 1)", "!x", "true"]);
    prop::collection::vec((operator, operand), 1..20_000).prop_map(|operations| {
        let mut source = String::from("var x = 3;\nprint(x");
        for (operator, operand) in operations {
            source.push(' ');
            source.push_str(operator);
            source.push(' ');
            source.push_str(operand);
        }
        source.push_str(");\n");
        source
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mova_lang::strategies::cases(48)))]

    #[test]
    fn deep_programs_compile_up_to_the_limit_and_get_e0015_past_it(
        (expression, statements) in nestings()
    ) {
        use mova_compiler::mova::syntax::MAX_NESTING;
        let (source, levels) = deep_program(expression, statements);
        let result = mova_compiler::compile::compile(&source, Some("deep.mova"));
        let codes: Vec<&str> = match &result {
            Ok(compiled) => compiled.warnings.iter().map(|w| w.code()).collect(),
            Err(all) => all.iter().map(|e| e.code()).collect(),
        };
        if levels <= MAX_NESTING {
            prop_assert!(!codes.contains(&"E0015"), "{} levels: {:?}", levels, codes);
        } else {
            prop_assert_eq!(codes, ["E0015"], "{} levels", levels);
        }
        let (_, errors) = mova_compiler::mova::syntax::parse(&source);
        prop_assert_eq!(errors.iter().any(|e| e.code() == "E0015"), levels > MAX_NESTING);
    }

    #[test]
    fn long_chains_compile_and_print_without_recursion(source in chain()) {
        // Division by a zero operand may make the constant folder warn; nothing else is wrong.
        match mova_compiler::compile::compile(&source, Some("chain.mova")) {
            Ok(compiled) => prop_assert!(compiled.warnings.iter().all(|w| w.code() == "W0003")),
            Err(errors) => prop_assert!(false, "{:?}", errors),
        }
        let (stmts, errors) = mova_compiler::mova::syntax::parse(&source);
        prop_assert_eq!(errors, []);
        let tree = mova_compiler::mova::syntax::ast::dump(&stmts);
        // The dump grows with the chain, not with its square.
        prop_assert!(tree.len() < 40 * source.len());
    }
}
