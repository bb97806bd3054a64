//! Tests of the `.mova` compiler, driven by files: the tokens and syntax tree of each small fixture
//! in `tests/fixtures/mova` (not of the examples, whose comments would shift every byte offset),
//! the bytecode listing of every example beside its source lines, the seed equivalence, and the
//! rendered diagnostics of every case in `tests/cases/mova`, each shown beside its source.
//! Snapshots live in `snapshots/mova/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mova_compiler::compile::compile;
use mova_compiler::diag::{self, Diagnostic, Severity};
use mova_compiler::explain;
use mova_compiler::mova::errors::{LangCode, LangError};
use mova_compiler::mova::syntax::{self, ast, token_listing};
use mova_compiler::{assemble, disassemble};
use mova_testkit::{assert_snapshot, files_with_extension, stem};
use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/mova");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mova");
const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/language.md");

/// The `.mova` files in `dir`, sorted by name.
fn mova_files(dir: &str) -> Vec<PathBuf> {
    files_with_extension(dir, "mova")
}

#[test]
fn the_seed_program_compiles_to_the_bytes_of_the_seed_listing() {
    let mova = fs::read_to_string(Path::new(EXAMPLES).join("loop.mova")).unwrap();
    let mvasm = fs::read_to_string(Path::new(EXAMPLES).join("loop.mvasm")).unwrap();
    let compiled = compile(&mova, None).unwrap();
    assert_eq!(compiled.warnings, []);
    assert_eq!(
        compiled.program.encode(),
        assemble(&mvasm).unwrap().encode()
    );
}

#[test]
fn every_example_compiles_without_warnings() {
    for path in mova_files(EXAMPLES) {
        let source = fs::read_to_string(&path).unwrap();
        let compiled =
            compile(&source, None).unwrap_or_else(|e| panic!("{}: {e:#?}", path.display()));
        assert_eq!(compiled.warnings, [], "{}", path.display());
    }
}

#[test]
fn tokens_and_syntax_tree_of_each_fixture() {
    for path in mova_files(FIXTURES) {
        let source = fs::read_to_string(&path).unwrap();
        let name = stem(&path);
        assert_snapshot!(
            "mova",
            format!("tokens-{name}"),
            token_listing(&syntax::tokens(&source))
        );
        let (stmts, errors) = syntax::parse(&source);
        assert_eq!(errors, [], "{}", path.display());
        assert_snapshot!("mova", format!("ast-{name}"), ast::dump(&stmts));
    }
}

/// The listing of `source`'s program with, beside each instruction, the number and text of the
/// source line it was generated from (taken from the program's source map).
fn listing_beside_source(source: &str, file: &str) -> String {
    let program = compile(source, None).unwrap().program;
    let mapped = compile(source, Some(file)).unwrap().program;
    assert_eq!(mapped.code(), program.code(), "{file}");
    let map = mapped.source_map().unwrap();
    let source_lines: Vec<&str> = source.lines().collect();
    let listing = disassemble(&program);
    let width = listing.lines().map(str::len).max().unwrap_or(0);
    let mut out = String::new();
    // An instruction's line ends with a comment that starts with its index; the header's
    // comment lines, a function's blank and `.fn` lines and a label for the end of the code
    // stand alone.
    let index = |line: &str| -> Option<u32> {
        if line.starts_with(';') || line.starts_with('.') {
            return None;
        }
        let (_, comment) = line.split_once("; ")?;
        let digits: String = comment.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    for line in listing.lines() {
        let at = index(line).and_then(|index| map.span(index));
        match at {
            Some(span) => {
                let (line_number, _) = map.line_column(span.start);
                let text = source_lines[line_number - 1].trim();
                writeln!(out, "{line:<width$}  | {line_number:>3} | {text}").unwrap();
            }
            None => writeln!(out, "{line}").unwrap(),
        }
    }
    out
}

#[test]
fn listing_of_every_example_beside_its_source() {
    for path in mova_files(EXAMPLES) {
        let source = fs::read_to_string(&path).unwrap();
        let name = stem(&path);
        assert_snapshot!(
            "mova",
            format!("asm-{name}"),
            listing_beside_source(&source, &format!("{name}.mova"))
        );
    }
}

/// The diagnostics a case file expects, from its `// error: CODE` and `// warning: CODE` lines.
fn expected(source: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            line.strip_prefix("// error: ")
                .or_else(|| line.strip_prefix("// warning: "))
                .map(|code| code.trim().to_owned())
        })
        .collect()
}

#[test]
fn every_case_reports_exactly_its_diagnostics() {
    for path in mova_files(CASES) {
        let source = fs::read_to_string(&path).unwrap();
        let diagnostics: Vec<LangError> = match compile(&source, None) {
            Ok(compiled) => compiled.warnings,
            Err(all) => all,
        };
        let codes: Vec<String> = diagnostics.iter().map(|d| d.code().to_owned()).collect();
        assert_eq!(codes, expected(&source), "{}", path.display());
        for diagnostic in &diagnostics {
            let is_error = diagnostic.severity() == Severity::Error;
            assert_eq!(
                is_error,
                diagnostic.code().starts_with('E'),
                "{diagnostic:?}"
            );
        }
        let file = format!("cases/mova/{}.mova", stem(&path));
        let diagnostics: Vec<Diagnostic> = diagnostics.into_iter().map(Into::into).collect();
        let rendered = diag::render(&diagnostics, &file, &source, false);
        assert_snapshot!(
            "mova",
            format!("diagnostics-{}", stem(&path)),
            format!("{source}\n── diagnostics ──\n{rendered}")
        );
    }
}

/// `count` variables declared one after the other (all alive at the end), then `tail`.
fn many_variables(count: usize, tail: &str) -> String {
    let mut source = String::new();
    for i in 0..count {
        source.push_str(&format!("var _v{i} = {i};\n"));
    }
    source.push_str(tail);
    source
}

#[test]
fn the_stack_limit_is_a_compile_error_exactly_when_it_would_trap() {
    use mova_lang::isa::STACK_LIMIT;
    // At the limit: every variable alive at once, the top one printed in place.
    let at_limit = many_variables(STACK_LIMIT, &format!("print(_v{});\n", STACK_LIMIT - 1));
    let compiled = compile(&at_limit, None).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(compiled.warnings, []);

    // One variable more: the error is at the declaration that would overflow the stack.
    let over = many_variables(STACK_LIMIT + 1, "");
    let Err(errors) = compile(&over, None) else {
        panic!("{} live variables compiled", STACK_LIMIT + 1);
    };
    let codes: Vec<&str> = errors.iter().map(LangError::code).collect();
    assert_eq!(codes, ["E0013"]);
    let last = format!("var _v{STACK_LIMIT} = {STACK_LIMIT};");
    let start = over.find(&last).unwrap();
    assert_eq!(
        errors[0].span().start,
        start + "var _v".len() + STACK_LIMIT.to_string().len() + 3
    );
    let diagnostics: Vec<Diagnostic> = errors.into_iter().map(Into::into).collect();
    let rendered = diag::render(&diagnostics, "big.mova", &over, false);
    assert_snapshot!("mova", "diagnostics-e0013_too_large", rendered);

    // The documented limit is this one.
    let docs = fs::read_to_string(DOCS).unwrap();
    let written = format!("{},{:03}", STACK_LIMIT / 1000, STACK_LIMIT % 1000);
    assert!(
        docs.contains(&format!("stack holds {written}")),
        "{written}"
    );

    // At the limit of variables, a temporary value would overflow it too.
    let temporary = many_variables(STACK_LIMIT, "print(_v0 + 1);\n");
    let Err(errors) = compile(&temporary, None) else {
        panic!("a temporary beyond the stack limit compiled");
    };
    let codes: Vec<&str> = errors.iter().map(LangError::code).collect();
    assert_eq!(codes, ["E0013"]);
}

#[test]
fn the_suggestion_limits_are_the_documented_ones() {
    use mova_compiler::diag::{
        MAX_SUGGESTION_CANDIDATES, MAX_SUGGESTION_LEN, MAX_SUGGESTION_SEARCHES,
    };
    let docs = fs::read_to_string(DOCS).unwrap();
    for stated in [
        format!("more than {MAX_SUGGESTION_CANDIDATES} names are candidates"),
        format!("longer than {MAX_SUGGESTION_LEN} bytes"),
        format!("the first {MAX_SUGGESTION_SEARCHES} searches"),
    ] {
        assert!(
            docs.contains(&stated),
            "docs/language.md should say {stated:?}"
        );
    }
}

#[test]
fn the_nesting_limit_and_the_stack_are_the_documented_ones() {
    use mova_compiler::mova::syntax::{MAX_NESTING, STACK_SIZE};
    let docs = fs::read_to_string(DOCS).unwrap();
    for stated in [
        format!("at most **{MAX_NESTING} levels**"),
        format!("deeper than {MAX_NESTING} levels"),
        format!("with a {} MiB stack", STACK_SIZE >> 20),
    ] {
        assert!(
            docs.contains(&stated),
            "docs/language.md should say {stated:?}"
        );
    }
}

#[test]
fn every_code_has_a_case_and_documentation() {
    // Each code's section is its long explanation (`movac --explain`), generated from
    // `compiler/src/explain/`.
    mova_testkit::check_generated(
        "docs/language.md",
        "diagnostics",
        "cargo test -p mova-compiler --test language",
        &explain::docs_section(explain::Family::Lang),
    );
    let docs = fs::read_to_string(DOCS).unwrap();
    let covered: Vec<String> = mova_files(CASES)
        .iter()
        .flat_map(|path| expected(&fs::read_to_string(path).unwrap()))
        .collect();
    for code in LangCode::ALL.iter().map(|code| code.as_str()) {
        assert!(
            docs.contains(&format!("### {code}")),
            "{code} is not documented in docs/language.md"
        );
        match code {
            // 65,536 live variables; `the_stack_limit_is_a_compile_error_exactly_when_it_would_trap`
            // covers it.
            "E0013" => {}
            // An internal compiler error: no program causes it.
            "E9999" => assert!(!covered.iter().any(|c| c == code)),
            _ => assert!(
                covered.iter().any(|c| c == code),
                "no case in tests/cases/mova expects {code}"
            ),
        }
    }
    // And the docs document no code the compiler does not have.
    for heading in docs.lines().filter_map(|line| line.strip_prefix("### ")) {
        if heading.len() == 5 && heading.starts_with(['E', 'W']) {
            assert!(
                LangCode::ALL.iter().any(|code| code.as_str() == heading),
                "docs/language.md documents {heading}, which no error has"
            );
        }
    }
}
