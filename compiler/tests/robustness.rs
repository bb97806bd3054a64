//! End-to-end tests of `movac` on inputs built to find its limits: many misspelt names, deep
//! nesting, long chains. Each run is bounded in time and must end with a diagnostic or a success,
//! never an abort.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use assert_cmd::Command;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest one run may take: far more than a near-linear compile of these inputs needs in a
/// debug build on a busy machine, far less than a quadratic one does.
const TIMEOUT: Duration = Duration::from_secs(60);

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn movac(dir: &Path) -> Command {
    let mut command = Command::cargo_bin("movac").unwrap();
    command.current_dir(dir).timeout(TIMEOUT);
    command
}

#[test]
fn many_misspelt_names_among_many_variables_compile_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut source = String::new();
    for i in 0..5_000 {
        writeln!(source, "var value{i} = {i};").unwrap();
    }
    for i in 0..5_000 {
        writeln!(source, "print(valeu{i});").unwrap();
    }
    let path = write(dir.path(), "typos.mova", &source);
    // A quadratic search takes minutes here; the bounded one, a second or two.
    let output = movac(dir.path())
        .timeout(Duration::from_secs(20))
        .args(["check", "--color", "never"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("[E0005]").count(), 5_000);
    // 5,000 names in scope are more candidates than a suggestion is searched among.
    let suggested = stderr
        .matches("a variable with a similar name exists")
        .count();
    assert_eq!(suggested, 0);
}

/// Sources nested deeper than any limit a compiler could have: every kind of nesting, alone and
/// mixed, far past what a recursive stage could take on any stack.
fn deep_sources() -> Vec<(&'static str, String)> {
    let n = 100_000;
    let indented: String = (0..5_000)
        .map(|i| format!("{}l{i}:\n", " ".repeat(i)))
        .collect();
    vec![
        (
            "parens",
            format!("print({}1{});", "(".repeat(n), ")".repeat(n)),
        ),
        ("blocks", format!("{}{}", "{".repeat(n), "}".repeat(n))),
        ("minus", format!("print({}1);", "- ".repeat(n))),
        ("not", format!("print({}1);", "!".repeat(n))),
        (
            "negated parens",
            format!("print({}1{});", "-(".repeat(n), ")".repeat(n)),
        ),
        ("indented labels", indented),
        ("same-line labels", format!("{}print(1);", "a: ".repeat(n))),
        (
            "while",
            format!("{}{}", "while true {".repeat(n), "}".repeat(n)),
        ),
        ("unclosed", "(".repeat(n)),
    ]
}

#[test]
fn deep_nesting_is_a_diagnostic_never_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    for (what, source) in deep_sources() {
        let path = write(dir.path(), "deep.mova", &source);
        for args in [&["check"][..], &["--emit", "ast"], &["--emit", "tokens"]] {
            // JSON, since drawing thousands of reports on one long line is slow in itself.
            let output = movac(dir.path())
                .args(args)
                .args(["--error-format", "json"])
                .arg(&path)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            // `--emit tokens` lists tokens without parsing: it succeeds.
            if args == ["--emit", "tokens"] {
                assert_eq!(output.status.code(), Some(0), "{what} {args:?}: {stderr}");
                continue;
            }
            assert_eq!(output.status.code(), Some(1), "{what} {args:?}: {stderr}");
            assert!(
                stderr.contains(r#""code":"E0015""#),
                "{what} {args:?}: {}",
                &stderr[..stderr.len().min(2000)]
            );
        }
    }
}

/// Flat programs as long as a generator might write them: none of them nests.
fn long_sources() -> Vec<(&'static str, String)> {
    let n = 30_000;
    let terms = |op: &str, term: &str| vec![term; n].join(op);
    let mut else_ifs = String::from("var x = 1;\nif x == 0 { print(0); }");
    for i in 1..n {
        write!(else_ifs, " else if x == {i} {{ print({i}); }}").unwrap();
    }
    else_ifs.push_str(" else { print(-1); }\n");
    vec![
        ("sum", format!("print({});", terms(" + ", "1"))),
        (
            "mixed",
            format!("var x = 2;\nprint({});", terms(" * 1 + ", "x")),
        ),
        ("and", format!("var x = 1;\nprint({});", terms(" && ", "x"))),
        (
            "or in a condition",
            format!("var x = 0;\nif {} {{ print(1); }}", terms(" || ", "x")),
        ),
        (
            "comparisons with zero",
            format!("var x = 0;\nif x{} {{ print(1); }}", " == 0".repeat(n)),
        ),
        ("else if", else_ifs),
        ("statements", "print(1);\n".repeat(n)),
    ]
}

#[test]
fn long_flat_programs_compile() {
    let dir = tempfile::tempdir().unwrap();
    for (what, source) in long_sources() {
        let path = write(dir.path(), "long.mova", &source);
        for args in [&["check"][..], &["--emit", "ast"], &["--emit", "asm"]] {
            let output = movac(dir.path()).args(args).arg(&path).output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(0), "{what} {args:?}: {stderr}");
        }
    }
}
