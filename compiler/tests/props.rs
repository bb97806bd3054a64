//! Property tests of the assembler: it never panics, whatever the text, and the disassembler's
//! listing of any valid program assembles back to that program.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mova_compiler::asm::assemble_errors;
use mova_compiler::{assemble, disassemble};
use mova_lang::debuginfo::{DEBUG_INFO, DebugInfo, FunctionName};
use mova_lang::func::{Function, Returns};
use mova_lang::heap::{STRINGS, encode_strings};
use mova_lang::isa::{Instr, Opcode};
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
        Just("\"s;t\"".to_owned()),
        Just("\"\\q\\u{41}\"".to_owned()),
        Just("\"open".to_owned()),
        Just(".string".to_owned()),
        Just(".fn".to_owned()),
        Just("->".to_owned()),
        Just("2r".to_owned()),
        Just("1r".to_owned()),
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
    fn the_formatter_never_panics_and_keeps_what_it_formats(source in mova_like()) {
        // What it formats compiles to the same bytecode (or the same errors) and is a fixed point.
        if let Ok(formatted) = mova_compiler::fmt::format_source(&source) {
            let build = |text: &str| match mova_compiler::compile::compile(text, None) {
                Ok(compiled) => Ok(compiled.program.encode()),
                Err(all) => Err(all.iter().map(|e| e.code()).collect::<Vec<_>>()),
            };
            prop_assert_eq!(build(&formatted), build(&source), "{}", formatted);
            let again = mova_compiler::fmt::format_source(&formatted);
            prop_assert_eq!(again.as_ref(), Ok(&formatted));
        }
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

/// Strings a generated program's constants are drawn from: empty, escaped, non-ASCII, one with
/// a `;` (which must not start a comment), one too long for a `CONST` line to show.
const STRING_POOL: [&str; 10] = [
    "",
    "a",
    "hello, ",
    "ä ☃ 😀",
    "tab\t and line\n",
    "quote \" and back \\",
    "\u{1}\u{7f}\u{85}\0",
    "semi;colon",
    "a string long enough that a listing declares it with a .string line",
    "a",
];

/// The signature of a generated function: int and reference parameters, and what it returns.
#[derive(Clone, Copy, Debug)]
struct Signature {
    params: u16,
    ref_params: u16,
    returns: Returns,
}

/// Builds a valid program that uses the reference stack, from a list of choices (0 once they
/// run out): a main program and functions whose bodies are statements of a small grammar that
/// keeps both stacks' heights exact (reference expressions push one reference, int expressions
/// one int, statements leave both as they were), as the verifier requires everywhere.
struct RefBuilder {
    choices: Vec<u32>,
    at: usize,
    signatures: Vec<Signature>,
    /// Whether constants are numbered in the order of their first use, each text once (what the
    /// assembler builds from literals); else the table is `table`, drawn at random.
    canonical: bool,
    table: Vec<&'static str>,
}

impl RefBuilder {
    fn pick(&mut self, n: u32) -> u32 {
        let choice = self.choices.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        choice.checked_rem(n).unwrap_or(0)
    }

    fn constant(&mut self) -> Instr {
        if self.canonical {
            let text = STRING_POOL[self.pick(STRING_POOL.len() as u32) as usize];
            let index = match self.table.iter().position(|t| *t == text) {
                Some(index) => index,
                None => {
                    self.table.push(text);
                    self.table.len() - 1
                }
            };
            Instr::Const(u32::try_from(index).unwrap())
        } else {
            let len = u32::try_from(self.table.len()).unwrap();
            Instr::Const(self.pick(len))
        }
    }

    /// Code that pushes one reference, in a frame of `refs` references, calling only functions
    /// after `function`.
    fn ref_expr(&mut self, function: u16, refs: u16, depth: u32, code: &mut Vec<Instr>) {
        let options = if depth == 0 { 3 } else { 9 };
        match self.pick(options) {
            0 | 1 => code.push(self.constant()),
            2 if refs > 0 => code.push(Instr::RLoad(
                u16::try_from(self.pick(u32::from(refs))).unwrap(),
            )),
            2 => {
                code.push(Instr::Put(i64::from(self.pick(100))));
                code.push(Instr::ToStr);
            }
            3 => {
                self.ref_expr(function, refs, depth - 1, code);
                self.ref_expr(function, refs + 1, depth - 1, code);
                code.push(Instr::Concat);
            }
            4 => {
                self.ref_expr(function, refs, depth - 1, code);
                code.push(Instr::Show);
            }
            5 => {
                code.push(Instr::NewI);
                for _ in 0..self.pick(3) {
                    code.push(Instr::Put(i64::from(self.pick(1000))));
                    code.push(Instr::Append);
                }
            }
            6 => {
                code.push(Instr::NewR);
                for _ in 0..self.pick(3) {
                    self.ref_expr(function, refs + 1, depth - 1, code);
                    code.push(Instr::AppendR);
                }
            }
            7 => {
                code.push(Instr::Put(i64::from(self.pick(4))));
                self.ref_expr(function, refs, depth - 1, code);
                code.push(Instr::FillR);
            }
            _ => self.call(function, refs, depth - 1, Returns::Ref, code),
        }
    }

    /// Code that pushes one int.
    fn int_expr(&mut self, function: u16, refs: u16, depth: u32, code: &mut Vec<Instr>) {
        match self.pick(if depth == 0 { 1 } else { 4 }) {
            0 => code.push(Instr::Put(i64::from(self.pick(50)))),
            1 => {
                self.ref_expr(function, refs, depth - 1, code);
                code.push(Instr::Len);
            }
            2 => {
                self.ref_expr(function, refs, depth - 1, code);
                self.ref_expr(function, refs + 1, depth - 1, code);
                code.push(Instr::Cmp);
            }
            _ => self.call(function, refs, depth - 1, Returns::Int, code),
        }
    }

    /// A call of a later function returning `returns` (or, if there is none, the expression
    /// another way), with its arguments.
    fn call(
        &mut self,
        function: u16,
        refs: u16,
        depth: u32,
        returns: Returns,
        code: &mut Vec<Instr>,
    ) {
        let later: Vec<u16> = (function + 1..=u16::try_from(self.signatures.len()).unwrap())
            .filter(|f| self.signatures[usize::from(*f) - 1].returns == returns)
            .collect();
        if later.is_empty() {
            match returns {
                Returns::Ref => code.push(self.constant()),
                Returns::Int | Returns::Nothing => code.push(Instr::Put(1)),
            }
            if returns == Returns::Nothing {
                code.push(Instr::Pop);
            }
            return;
        }
        let callee = later[self.pick(u32::try_from(later.len()).unwrap()) as usize];
        let signature = self.signatures[usize::from(callee) - 1];
        for _ in 0..signature.params {
            code.push(Instr::Put(i64::from(self.pick(10))));
        }
        for pushed in 0..signature.ref_params {
            self.ref_expr(function, refs + pushed, depth.min(1), code);
        }
        code.push(Instr::Call(callee));
    }

    /// A statement: leaves both stacks as they were.
    fn statement(&mut self, function: u16, refs: u16, depth: u32, code: &mut Vec<Instr>) {
        match self.pick(7) {
            0 => {
                self.ref_expr(function, refs, depth, code);
                code.push(Instr::PrintR);
            }
            1 => {
                self.ref_expr(function, refs, depth, code);
                code.push(Instr::RPop);
            }
            2 if refs > 0 => {
                self.ref_expr(function, refs, depth, code);
                code.push(Instr::RStore(
                    u16::try_from(self.pick(u32::from(refs))).unwrap(),
                ));
            }
            3 => {
                self.int_expr(function, refs, depth, code);
                code.push(Instr::Print);
                code.push(Instr::Pop);
            }
            4 => {
                self.ref_expr(function, refs, depth, code);
                code.extend([Instr::RDup, Instr::RPop, Instr::RPop]);
            }
            5 if depth > 0 => {
                // if c { statement }: a forward jump whose two ways meet at the same heights.
                code.push(Instr::Put(i64::from(self.pick(2))));
                let jump = code.len();
                code.push(Instr::Jz(0));
                self.statement(function, refs, depth - 1, code);
                let offset = i32::try_from(code.len() - jump).unwrap();
                code[jump] = Instr::Jz(offset);
            }
            _ => self.call(function, refs, depth, Returns::Nothing, code),
        }
    }

    /// A body: up to two reference locals, a few statements, and its ending.
    fn body(&mut self, function: u16, refs: u16, ending: Option<Returns>) -> Vec<Instr> {
        let mut code = Vec::new();
        let mut refs = refs;
        for _ in 0..self.pick(3) {
            self.ref_expr(function, refs, 1, &mut code);
            refs += 1;
        }
        for _ in 0..1 + self.pick(4) {
            self.statement(function, refs, 2, &mut code);
        }
        match ending {
            None => code.push(Instr::Halt),
            Some(Returns::Nothing) => code.push(Instr::Ret),
            Some(Returns::Int) => {
                self.int_expr(function, refs, 1, &mut code);
                code.push(Instr::RetV);
            }
            Some(Returns::Ref) => {
                self.ref_expr(function, refs, 1, &mut code);
                code.push(Instr::RetR);
            }
        }
        code
    }

    fn program(mut self) -> Program {
        let mut code = self.body(0, 0, None);
        let mut functions = Vec::new();
        for number in 1..=u16::try_from(self.signatures.len()).unwrap() {
            let signature = self.signatures[usize::from(number) - 1];
            functions.push(Function {
                entry: u32::try_from(code.len()).unwrap(),
                params: signature.params,
                results: u8::from(signature.returns == Returns::Int),
                ref_params: signature.ref_params,
                ref_results: u8::from(signature.returns == Returns::Ref),
            });
            code.extend(self.body(number, signature.ref_params, Some(signature.returns)));
        }
        let sections = if self.table.is_empty() {
            Vec::new()
        } else {
            vec![Section {
                kind: STRINGS,
                payload: encode_strings(&self.table),
            }]
        };
        Program::with_functions(code, &functions, sections)
            .unwrap_or_else(|error| panic!("the grammar keeps the heights exact: {error}"))
    }
}

/// A valid program of strings, arrays and functions over references (see [`RefBuilder`]), its
/// constants either as the assembler numbers literals or a random table (out of order, repeated,
/// unused).
fn ref_program() -> impl Strategy<Value = Program> {
    let signature =
        (0u16..=2, 0u16..=2, 0u8..3).prop_map(|(params, ref_params, returns)| Signature {
            params,
            ref_params,
            returns: [Returns::Nothing, Returns::Int, Returns::Ref][usize::from(returns)],
        });
    (
        prop::collection::vec(signature, 0..=3),
        prop::collection::vec(any::<u32>(), 16..400),
        any::<bool>(),
        prop::collection::vec(prop::sample::select(STRING_POOL.to_vec()), 1..6),
    )
        .prop_map(|(signatures, choices, canonical, table)| {
            RefBuilder {
                choices,
                at: 0,
                signatures,
                canonical,
                table: if canonical { Vec::new() } else { table },
            }
            .program()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mova_lang::strategies::cases(256)))]

    #[test]
    fn disassembly_of_reference_programs_reassembles_to_the_same_program(program in ref_program()) {
        let listing = disassemble(&program);
        let reassembled = assemble(&listing).unwrap_or_else(|d| panic!("{listing}\n{d:?}"));
        prop_assert_eq!(reassembled.encode(), program.encode(), "{}", listing);
        prop_assert_eq!(disassemble(&reassembled), listing);
    }
}
