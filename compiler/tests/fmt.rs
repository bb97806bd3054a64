//! `movac fmt`: every example is formatted already, each formatting decision is a snapshot of a
//! case in `tests/cases/fmt`, generated programs keep their bytecode and format to a fixed point,
//! and the real binary formats in place, checks, reads standard input and refuses what it cannot
//! format.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

use assert_cmd::Command;
use mova_compiler::fmt::{FormatError, format_source};
use mova_testkit::{TIMEOUT, TempDir, assert_snapshot, files_with_extension, stem};
use predicates::prelude::*;
use proptest::prelude::*;
use std::fs;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/fmt");

/// The bytecode of a source, without a source map (which records lines), or its error codes.
fn bytecode(source: &str) -> Result<Vec<u8>, Vec<&'static str>> {
    mova_compiler::compile::compile(source, None)
        .map(|compiled| compiled.program.encode())
        .map_err(|errors| errors.iter().map(|e| e.code()).collect())
}

#[test]
fn every_example_is_formatted() {
    let examples = files_with_extension(EXAMPLES, "mova");
    assert!(examples.len() > 10);
    for path in examples {
        let source = fs::read_to_string(&path).unwrap();
        let formatted = format_source(&source).unwrap();
        assert!(
            formatted == source,
            "{} is not formatted; `movac fmt` gives:\n{formatted}",
            path.display()
        );
    }
}

#[test]
fn each_case_formats_as_its_snapshot_to_the_same_program() {
    for path in files_with_extension(CASES, "mova") {
        let source = fs::read_to_string(&path).unwrap();
        let formatted = format_source(&source).unwrap();
        assert_eq!(
            format_source(&formatted).unwrap(),
            formatted,
            "{} does not format to a fixed point",
            path.display()
        );
        if let Ok(bytes) = bytecode(&source) {
            assert_eq!(bytecode(&formatted), Ok(bytes), "{}", path.display());
        }
        assert_snapshot!(
            "fmt",
            stem(&path),
            format!("{source}\n──── movac fmt ────\n\n{formatted}")
        );
    }
}

#[test]
fn a_source_that_does_not_parse_is_not_formatted() {
    let Err(FormatError::Syntax(errors)) = format_source("var x = ;\nprint(x)\n") else {
        panic!("formatted a source with syntax errors");
    };
    assert_eq!(
        errors.iter().map(|e| e.code()).collect::<Vec<_>>(),
        ["E0002", "E0002"]
    );
    // One that parses but does not type-check is formatted.
    assert_eq!(
        format_source("print(y+\"s\");").unwrap(),
        "print(y + \"s\");\n"
    );
}

/// A program of random statements, with random spaces, line breaks and comments between its
/// tokens: the layout a formatter has to undo. Line breaks are indented deeper than any label
/// line they are under, so that the indented label bodies stay the same.
#[derive(Debug, Default)]
struct Writer {
    text: String,
    /// How many blocks and bodies are open.
    depth: usize,
    labels: usize,
}

impl Writer {
    /// Writes a token after one of the gaps `noise` picks.
    fn token(&mut self, token: &str, noise: &mut impl Iterator<Item = u8>) {
        let indent = "    ".repeat(self.depth + 1);
        match noise.next().unwrap_or(0) % 12 {
            0..=3 => {}
            4..=6 => self.text.push(' '),
            7 => self.text.push_str("   "),
            8 => self.text.push_str(&format!("\n{indent}")),
            9 => self.text.push_str(&format!("\n\n{indent}")),
            10 => self.text.push_str(&format!(" // note\n{indent}")),
            _ => self
                .text
                .push_str(&format!("\n{indent}\t// own line\n{indent}")),
        }
        // Tokens that would run together get a space.
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        let last = self.text.chars().last();
        let first = token.chars().next();
        let glue = matches!(
            (last, first),
            (Some('-'), Some('-')) | (Some('+'), Some('+'))
        ) || matches!((last, first), (Some('<' | '>' | '=' | '!'), Some('=')))
            || matches!((last, first), (Some('-'), Some('>')));
        if (word(last) && word(first)) || glue {
            self.text.push(' ');
        }
        self.text.push_str(token);
    }

    fn tokens(&mut self, tokens: &str, noise: &mut impl Iterator<Item = u8>) {
        for token in tokens.split(' ') {
            self.token(token, noise);
        }
    }

    fn expression(&mut self, depth: usize, noise: &mut impl Iterator<Item = u8>) {
        let choice = noise.next().unwrap_or(0) % if depth == 0 { 3 } else { 8 };
        match choice {
            0 => self.token("x", noise),
            1 => self.token("7", noise),
            2 => self.tokens("xs [ 0 ]", noise),
            3 => {
                self.token("-", noise);
                self.expression(depth - 1, noise);
            }
            4 => {
                self.token("(", noise);
                self.expression(depth - 1, noise);
                self.token(")", noise);
            }
            5 => {
                self.tokens("f (", noise);
                self.expression(depth - 1, noise);
                self.token(",", noise);
                self.expression(depth - 1, noise);
                self.token(")", noise);
            }
            6 => {
                self.tokens("len ( [", noise);
                self.expression(depth - 1, noise);
                self.tokens(", - 1 ] )", noise);
            }
            _ => {
                self.expression(depth - 1, noise);
                let ops = ["+", "-", "*", "/", "%", "<", "<=", "==", "!=", "&&", "||"];
                let op = ops[usize::from(noise.next().unwrap_or(0)) % ops.len()];
                self.token(op, noise);
                self.expression(depth - 1, noise);
            }
        }
    }

    fn block(&mut self, depth: usize, noise: &mut impl Iterator<Item = u8>) {
        self.token("{", noise);
        self.depth += 1;
        self.statements(depth, noise, false);
        self.depth -= 1;
        self.token("}", noise);
    }

    /// Some statements; `in_body` when they are an indented label's body, where no other
    /// indented body may start (its end would need a line no deeper than its label's).
    fn statements(&mut self, depth: usize, noise: &mut impl Iterator<Item = u8>, in_body: bool) {
        let count = noise.next().unwrap_or(0) % 4;
        for _ in 0..count {
            self.statement(depth, noise, in_body);
        }
    }

    fn statement(&mut self, depth: usize, noise: &mut impl Iterator<Item = u8>, in_body: bool) {
        let choice = noise.next().unwrap_or(0) % if depth == 0 { 4 } else { 10 };
        match choice {
            0 => {
                self.tokens("x +=", noise);
                self.expression(2, noise);
                self.token(";", noise);
            }
            1 => {
                self.tokens("print (", noise);
                self.expression(2, noise);
                self.tokens(", \"a//b\" ) ;", noise);
            }
            2 => self.tokens("xs [ 1 ] ++ ;", noise),
            3 => {
                self.tokens("xs [ 0 ] =", noise);
                self.expression(3, noise);
                self.token(";", noise);
            }
            4 => {
                self.token("if", noise);
                self.expression(2, noise);
                self.block(depth - 1, noise);
                if noise.next().unwrap_or(0).is_multiple_of(2) {
                    self.tokens("else if", noise);
                    self.expression(1, noise);
                    self.block(depth - 1, noise);
                }
                if noise.next().unwrap_or(0).is_multiple_of(2) {
                    self.token("else", noise);
                    self.block(depth - 1, noise);
                }
            }
            5 => {
                self.token("while", noise);
                self.expression(2, noise);
                self.block(depth - 1, noise);
            }
            6 => {
                self.token("loop", noise);
                self.token("{", noise);
                self.depth += 1;
                self.statements(depth - 1, noise, false);
                self.tokens("break ;", noise);
                self.depth -= 1;
                self.token("}", noise);
            }
            7 if !in_body => {
                // The seed's indented form: the label starts a line, its body is deeper, and
                // what follows starts a line no deeper than the label's.
                self.labels += 1;
                let label = format!("l{}", self.labels);
                let indent = "    ".repeat(self.depth);
                self.text.push_str(&format!("\n{indent}{label}:"));
                if noise.next().unwrap_or(0).is_multiple_of(3) {
                    self.text.push(' ');
                }
                self.depth += 1;
                self.text
                    .push_str(&format!("\n{}", "    ".repeat(self.depth)));
                // A body that started with `{` would be the braced form.
                self.tokens("x -= 1 ;", noise);
                self.statements(depth - 1, noise, true);
                self.tokens(&format!("break {label} ;"), noise);
                self.depth -= 1;
                self.text.push_str(&format!("\n{indent}"));
            }
            8 => {
                self.labels += 1;
                let label = format!("b{}", self.labels);
                self.tokens(&format!("{label} : {{"), noise);
                self.depth += 1;
                self.statements(depth - 1, noise, false);
                self.tokens(&format!("break {label} ;"), noise);
                self.depth -= 1;
                self.token("}", noise);
            }
            _ => {
                self.token("{", noise);
                self.depth += 1;
                self.tokens("var y =", noise);
                self.expression(2, noise);
                self.tokens("; x -= y ;", noise);
                self.statements(depth - 1, noise, in_body);
                self.depth -= 1;
                self.token("}", noise);
            }
        }
    }
}

/// A random program that compiles, laid out at random.
fn program() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..400).prop_map(|noise| {
        let mut noise = noise.into_iter().chain(std::iter::repeat(0));
        let mut writer = Writer::default();
        writer.tokens(
            "fn f ( a : int , b : int ) -> int { return a - b ; } var x = 1 ; var xs : [ int ] = [ 1 , 2 ] ;",
            &mut noise,
        );
        writer.statements(4, &mut noise, false);
        writer.statements(4, &mut noise, false);
        writer.tokens("print ( x , xs ) ;", &mut noise);
        writer.text
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mova_lang::strategies::cases(256)))]

    #[test]
    fn formatting_keeps_the_bytecode_and_is_idempotent(source in program()) {
        let before = bytecode(&source);
        prop_assert!(before.is_ok(), "the generated program does not compile: {:?}\n{}", before, source);
        let once = format_source(&source).unwrap();
        prop_assert_eq!(bytecode(&once), before, "{}", once);
        let twice = format_source(&once).unwrap();
        prop_assert_eq!(&twice, &once);
        for line in once.lines() {
            prop_assert!(!line.contains('\t') || line.trim_start().starts_with("//"), "{:?}", line);
            prop_assert!(
                line == line.trim_end() || line.trim_end().ends_with(':'),
                "trailing whitespace: {:?}", line
            );
        }
    }
}

/// `movac` in a scratch directory.
fn movac(dir: &TempDir) -> Command {
    let mut command = Command::cargo_bin("movac").unwrap();
    command.current_dir(dir.path()).timeout(TIMEOUT);
    command
}

const MESSY: &str = "var x=1;\nif x>0 { print( x ); }\n";
const TIDY: &str = "var x = 1;\nif x > 0 {\n    print(x);\n}\n";

#[test]
fn fmt_formats_files_in_place_and_leaves_formatted_ones_alone() {
    let dir = TempDir::new("fmt");
    let messy = dir.write("messy.mova", MESSY);
    let tidy = dir.write("tidy.mova", TIDY);
    let before = fs::metadata(&tidy).unwrap().modified().unwrap();
    movac(&dir)
        .args(["fmt", "messy.mova", "tidy.mova"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    assert_eq!(fs::read_to_string(&messy).unwrap(), TIDY);
    assert_eq!(fs::read_to_string(&tidy).unwrap(), TIDY);
    assert_eq!(fs::metadata(&tidy).unwrap().modified().unwrap(), before);
    // No temporary file is left beside them.
    assert_eq!(dir.entries(), ["messy.mova", "tidy.mova"]);
}

#[test]
fn fmt_check_lists_the_unformatted_files_and_changes_nothing() {
    let dir = TempDir::new("fmt");
    dir.write("a.mova", MESSY);
    dir.write("b.mova", TIDY);
    fs::create_dir_all(dir.join("sub/.hidden")).unwrap();
    dir.write("sub/c.mova", MESSY);
    dir.write("sub/.hidden/d.mova", MESSY);
    dir.write("sub/notes.txt", "not a source");
    movac(&dir)
        .args(["fmt", "--check", "."])
        .assert()
        .code(1)
        .stdout("./a.mova\n./sub/c.mova\n")
        .stderr("");
    assert_eq!(fs::read_to_string(dir.join("a.mova")).unwrap(), MESSY);
    movac(&dir)
        .args(["fmt", "--check", "b.mova"])
        .assert()
        .success()
        .stdout("");
    // Formatting the directory formats every source under it but the hidden one.
    movac(&dir).args(["fmt", "."]).assert().success();
    movac(&dir).args(["fmt", "--check", "."]).assert().success();
    assert_eq!(
        fs::read_to_string(dir.join("sub/.hidden/d.mova")).unwrap(),
        MESSY
    );
}

#[test]
fn fmt_reads_standard_input_and_writes_standard_output() {
    let dir = TempDir::new("fmt");
    for args in [&["fmt"][..], &["fmt", "-"]] {
        movac(&dir)
            .args(args)
            .write_stdin(MESSY)
            .assert()
            .success()
            .stdout(TIDY);
    }
    movac(&dir)
        .args(["fmt", "--check", "-"])
        .write_stdin(MESSY)
        .assert()
        .code(1)
        .stdout("<stdin>\n");
}

#[test]
fn fmt_refuses_a_source_with_syntax_errors_and_goes_on_with_the_others() {
    let dir = TempDir::new("fmt");
    let bad = dir.write("bad.mova", "var x = 1\nprint(x);\n");
    let good = dir.write("good.mova", MESSY);
    movac(&dir)
        .args(["fmt", "bad.mova", "good.mova"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("[E0002] Error").and(predicate::str::contains(
                "error: could not format `bad.mova` due to 1 previous error",
            )),
        );
    assert_eq!(fs::read_to_string(bad).unwrap(), "var x = 1\nprint(x);\n");
    assert_eq!(fs::read_to_string(good).unwrap(), TIDY);
}

#[test]
fn fmt_refuses_what_is_not_a_mova_source() {
    let dir = TempDir::new("fmt");
    dir.write("prog.mvasm", "PUT 1\nPRINT\n");
    dir.write("latin1.mova", b"print(1); // caf\xe9\n");
    movac(&dir)
        .args(["fmt", "prog.mvasm", "latin1.mova", "missing.mova"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(
                "error: `movac fmt` formats `.mova` sources, and `prog.mvasm` is not one",
            )
            .and(predicate::str::contains("`latin1.mova` is not UTF-8 text"))
            .and(predicate::str::contains("cannot read `missing.mova`")),
        );
    assert_eq!(
        fs::read_to_string(dir.join("prog.mvasm")).unwrap(),
        "PUT 1\nPRINT\n"
    );
}

#[test]
fn fmt_keeps_a_byte_order_mark() {
    let dir = TempDir::new("fmt");
    let path = dir.write("bom.mova", format!("\u{feff}{MESSY}"));
    movac(&dir).args(["fmt", "bom.mova"]).assert().success();
    assert_eq!(fs::read_to_string(path).unwrap(), format!("\u{feff}{TIDY}"));
}

#[test]
fn fmt_reports_in_json_when_asked() {
    let dir = TempDir::new("fmt");
    dir.write("bad.mova", "print(;\n");
    let output = movac(&dir)
        .args(["fmt", "--error-format", "json", "bad.mova"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.is_empty());
    for line in stderr.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}
