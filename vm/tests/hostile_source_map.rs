//! `mova` on a program whose source map was forged: a trap's diagnostic draws the source and
//! names the file the map gives, and neither may reach the terminal as escape sequences.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mova_lang::image::Image;
use mova_lang::mvb::Program;
use mova_lang::{Instr, srcmap::SourceMap};
use mova_testkit::TempDir;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn a_trap_in_a_forged_program_shows_its_source_without_escape_sequences() {
    let dir = TempDir::new("hostile-source-map");
    // The file name sets the terminal's title; the source clears the screen and reverses the
    // text after it.
    let source = "\u{1b}[2J\u{1b}[31mprint(1 / 0);\u{202e}\n";
    let code = vec![Instr::Put(1), Instr::Put(0), Instr::Div];
    let map = SourceMap::new("\u{1b}]0;owned\u{7}x.mova", source, vec![0..20; 3]);
    let program = Program::with_sections(code, vec![map.to_section().unwrap()]).unwrap();
    dir.write("forged.mvb", program.encode());
    // The same program, embedded in an image, as a migration or `wstate` would bring it.
    let image = Image::new(&program, 0, Vec::new(), None, true).unwrap();
    dir.write("forged.mvs", image.encode());

    let runtime = dir.join("run");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    for args in [&["forged.mvb"][..], &["--restore", "forged.mvs"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_mova"))
            .args(args)
            .current_dir(dir.path())
            .env("MOVA_RUNTIME_DIR", &runtime)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("division by zero"), "{args:?}: {stderr}");
        for c in ['\u{1b}', '\u{7}', '\u{202e}'] {
            assert!(!stderr.contains(c), "{args:?}: {c:?} in {stderr:?}");
        }
        assert!(
            stderr.contains("[ \\u{1b}]0;owned\\u{7}x.mova:1:1 ]"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("␛[2J␛[31mprint(1 / 0);�"),
            "{args:?}: {stderr}"
        );
        assert_ne!(output.status.code(), Some(0), "{args:?}: {stderr}");
    }
}
