//! Snapshot tests of the assembler, driven by files: the tokens of each small fixture in
//! `tests/fixtures/asm` (not of the examples, whose comments would shift every byte offset), the
//! disassembly of every example, and the rendered diagnostics of every error case in
//! `tests/cases/asm`, each shown beside its source. Snapshots live in `snapshots/asm/` at the top
//! of the repository.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mova_compiler::asm::{AsmCode, AsmError, assemble_errors, lexer};
use mova_compiler::{assemble, diag, disassemble, explain};
use mova_testkit::{assert_snapshot, files_with_extension, stem};
use std::fmt::Write;
use std::fs;
use std::path::PathBuf;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/asm");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/asm");
const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/assembly.md");

/// The `.mvasm` files in `dir`, sorted by name.
fn mvasm_files(dir: &str) -> Vec<PathBuf> {
    files_with_extension(dir, "mvasm")
}

#[test]
fn tokens_of_each_fixture() {
    for path in mvasm_files(FIXTURES) {
        let source = fs::read_to_string(&path).unwrap();
        let mut listing = String::new();
        for (token, span) in lexer::lex(&source) {
            writeln!(listing, "{:>4}..{:<4} {token:?}", span.start, span.end).unwrap();
        }
        assert_snapshot!("asm", format!("tokens-{}", stem(&path)), listing);
    }
}

#[test]
fn disassembly_of_every_example_reassembles_to_the_same_program() {
    for path in mvasm_files(EXAMPLES) {
        let source = fs::read_to_string(&path).unwrap();
        let program = assemble(&source).unwrap_or_else(|d| panic!("{}: {d:?}", path.display()));
        let listing = disassemble(&program);
        let reassembled = assemble(&listing).unwrap();
        assert_eq!(reassembled.encode(), program.encode(), "{}", path.display());
        assert_eq!(disassemble(&reassembled), listing, "{}", path.display());
        assert_snapshot!("asm", format!("dis-{}", stem(&path)), listing);
    }
}

/// The codes a case file expects, from its `; error: CODE` lines, in order.
fn expected_codes(source: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|line| line.trim().strip_prefix("; error:"))
        .map(|code| code.trim().to_owned())
        .collect()
}

#[test]
fn every_error_case_reports_exactly_its_codes() {
    for path in mvasm_files(CASES) {
        let source = fs::read_to_string(&path).unwrap();
        let (program, errors) = assemble_errors(&source, None);
        let codes: Vec<String> = errors
            .iter()
            .map(|e| AsmError::code(e).to_owned())
            .collect();
        assert_eq!(codes, expected_codes(&source), "{}", path.display());
        assert!(
            program.is_none(),
            "{}: no program when there are errors",
            path.display()
        );

        let file_name = format!("cases/asm/{}.mvasm", stem(&path));
        let diagnostics: Vec<diag::Diagnostic> = errors.into_iter().map(Into::into).collect();
        let rendered = diag::render(&diagnostics, &file_name, &source, false);
        assert_snapshot!(
            "asm",
            format!("error-{}", stem(&path)),
            format!("{source}\n── diagnostics ──\n{rendered}")
        );
    }
}

#[test]
fn every_error_code_has_a_case_and_documentation() {
    // Each code's section is its long explanation (`movac --explain`), generated from
    // `compiler/src/explain/`.
    mova_testkit::check_generated(
        "docs/assembly.md",
        "diagnostics",
        "cargo test -p mova-compiler --test snapshots",
        &explain::docs_section(explain::Family::Asm),
    );
    let docs = fs::read_to_string(DOCS).unwrap();
    let covered: Vec<String> = mvasm_files(CASES)
        .iter()
        .flat_map(|path| expected_codes(&fs::read_to_string(path).unwrap()))
        .collect();
    for code in AsmCode::ALL.iter().map(|code| code.as_str()) {
        assert!(
            docs.contains(&format!("### {code}")),
            "{code} is not documented in docs/assembly.md"
        );
        match code {
            // 2^24 instructions, or 65,536 functions; their snapshots come from unit tests with
            // lower limits.
            "A0013" | "A0018" => {}
            // An internal error: no source causes it.
            "A9999" => assert!(!covered.iter().any(|c| c == code)),
            _ => assert!(
                covered.iter().any(|c| c == code),
                "no case file in tests/cases/asm expects {code}"
            ),
        }
    }
    // And the docs document no code the assembler does not have.
    for heading in docs.lines().filter_map(|line| line.strip_prefix("### ")) {
        if heading.len() == 5 && heading.starts_with('A') {
            assert!(
                AsmCode::ALL.iter().any(|code| code.as_str() == heading),
                "docs/assembly.md documents {heading}, which no error has"
            );
        }
    }
}
