//! End-to-end tests of `movahv inspect --program`: the program named beside an image is compiled
//! by the hypervisor, and when it has errors they are shown, not only counted, by the one-shot
//! command and by the shell.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use mova_lang::image::Image;
use mova_lang::mvb::Program;

/// An image of `FAST_LOOP` at its first instruction, without its program.
fn image_without_program(sandbox: &Sandbox) {
    let program = Program::decode(&mvb(FAST_LOOP)).unwrap();
    let image = Image::new(&program, 0, Vec::new(), None, false).unwrap();
    sandbox.write("state.mvs", image.encode());
}

#[test]
fn a_program_with_errors_shows_its_diagnostics_then_the_count() {
    let sandbox = Sandbox::new("inspect-bad-program");
    image_without_program(&sandbox);
    sandbox.write("bad.mova", "var i = 0;\nprint(j);\n");
    let stderr = sandbox.hv_fails(&["inspect", "state.mvs", "--program", "bad.mova"], 1);
    // The diagnostic, drawn at its line, before the line that counts it.
    let diagnostic = stderr
        .find("[E0005] Error: cannot find variable `j` in this scope")
        .unwrap_or_else(|| panic!("no diagnostic in {stderr:?}"));
    assert!(stderr.contains("bad.mova:2:7"), "{stderr}");
    assert!(stderr.contains("print(j);"), "{stderr}");
    let count = stderr
        .find("error: could not compile `bad.mova` due to 1 previous error")
        .unwrap_or_else(|| panic!("no count in {stderr:?}"));
    assert!(diagnostic < count, "{stderr}");
}

#[test]
fn the_shell_shows_them_too() {
    let sandbox = Sandbox::new("inspect-bad-program-shell");
    image_without_program(&sandbox);
    sandbox.write("bad.mova", "var i = 0;\nprint(j);\n");
    let output = sandbox.run(MOVAHV, &[], Some("inspect state.mvs --program bad.mova\n"));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let diagnostic = stderr
        .find("[E0005] Error: cannot find variable `j` in this scope")
        .unwrap_or_else(|| panic!("no diagnostic in {stderr:?}"));
    let count = stderr
        .find("error: could not compile `bad.mova` due to 1 previous error")
        .unwrap_or_else(|| panic!("no count in {stderr:?}"));
    assert!(diagnostic < count, "{stderr}");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
}

#[test]
fn a_program_that_compiles_is_used() {
    let sandbox = Sandbox::new("inspect-good-program");
    image_without_program(&sandbox);
    sandbox.write("loop.mova", FAST_LOOP);
    let out = sandbox.hv_ok(&["inspect", "state.mvs", "--program", "loop.mova"]);
    assert!(out.contains("given, 5 instructions"), "{out}");
}
