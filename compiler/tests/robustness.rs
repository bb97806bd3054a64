//! End-to-end tests of `movac` on inputs built to find its limits: many misspelt names, deep
//! nesting, long chains. Each run is bounded in time and must end with a diagnostic or a success,
//! never an abort.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use assert_cmd::Command;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest one run may take: far more than a near-linear compile of these inputs needs, far
/// less than a quadratic one does.
const TIMEOUT: Duration = Duration::from_secs(20);

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
    let output = movac(dir.path())
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
