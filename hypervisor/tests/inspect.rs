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

/// [`functions::nested`] at its division, 3 frames deep, as `state.mvs` (embedding the program
/// if `embedded`; with its source map and debug info if `symbols`); the program as `nested.mvb`.
fn nested_image(sandbox: &Sandbox, symbols: bool, embedded: bool) {
    use mova_lang::func::Frame;
    let program = functions::nested().program(symbols);
    let frames = vec![
        Frame {
            function: 1,
            return_ip: 2,
            base: 0,
            ref_base: 0,
        },
        Frame {
            function: 2,
            return_ip: 5,
            base: 1,
            ref_base: 0,
        },
    ];
    let image =
        Image::with_frames(&program, 10, vec![0, 0, 100, 0], frames, None, embedded).unwrap();
    sandbox.write("state.mvs", image.encode());
    sandbox.write("nested.mvb", program.encode());
}

/// What `inspect` says from the IP on (the lines above name the build and the hash).
fn from_ip(text: &str) -> String {
    let at = text
        .find("\nip ")
        .unwrap_or_else(|| panic!("no ip line in {text}"));
    text[at + 1..].to_owned()
}

#[test]
fn an_image_inside_calls_shows_the_backtrace_with_locals_by_name() {
    let sandbox = Sandbox::new("inspect-backtrace");
    nested_image(&sandbox, true, true);
    let text = sandbox.hv_ok(&["inspect", "state.mvs"]);
    mova_testkit::assert_snapshot!("movahv", "inspect-backtrace", from_ip(&text));
    let json: serde_json::Value =
        serde_json::from_str(&sandbox.hv_ok(&["inspect", "state.mvs", "--json"])).unwrap();
    assert_eq!(json["calls"], 2, "{json}");
    mova_testkit::assert_snapshot!(
        "movahv",
        "inspect-backtrace-json",
        serde_json::to_string_pretty(&json["backtrace"]).unwrap()
    );
}

#[test]
fn without_debug_info_the_frames_show_their_raw_slots() {
    let sandbox = Sandbox::new("inspect-backtrace-bare");
    nested_image(&sandbox, false, false);
    // Without the program only the frames' numbers and slots are known.
    let text = sandbox.hv_ok(&["inspect", "state.mvs"]);
    mova_testkit::assert_snapshot!("movahv", "inspect-backtrace-bare", from_ip(&text));
    let json: serde_json::Value =
        serde_json::from_str(&sandbox.hv_ok(&["inspect", "state.mvs", "--json"])).unwrap();
    let frames = json["backtrace"].as_array().unwrap();
    assert_eq!(frames.len(), 3, "{json}");
    assert_eq!(frames[0]["slots"], serde_json::json!([0, 100, 0]), "{json}");
    assert_eq!(frames[1]["slots"], serde_json::json!([0]), "{json}");
    assert!(frames[0].get("locals").is_none(), "{json}");
    assert!(frames[0].get("instruction").is_none(), "{json}");
    // The program named: its instructions, still no names (it has no debug info).
    let text = sandbox.hv_ok(&["inspect", "state.mvs", "--program", "nested.mvb"]);
    assert!(
        text.contains("0: function 2 at instruction 10 (`DIV`)"),
        "{text}"
    );
    assert!(text.contains("slots  0  100  0"), "{text}");
}

#[test]
fn forged_names_in_an_image_reach_no_terminal() {
    use mova_lang::debuginfo::{DEBUG_INFO, DebugInfo, FunctionName, Local};
    use mova_lang::mvb::Section;
    let sandbox = Sandbox::new("inspect-backtrace-forged");
    let honest = functions::nested().program(true);
    let info = DebugInfo {
        functions: vec![FunctionName {
            function: 2,
            name: "\u{1b}]0;owned\u{7}ratio".into(),
            span: 0..0,
        }],
        locals: vec![Local {
            function: 2,
            slot: 0,
            name: "x\u{1b}[2J\u{202e}".into(),
            live: 8..12,
            span: 0..0,
            reference: false,
        }],
    };
    let sections: Vec<Section> = honest
        .sections()
        .iter()
        .filter(|section| section.kind == mova_lang::srcmap::SOURCE_MAP)
        .cloned()
        .chain([Section {
            kind: DEBUG_INFO,
            payload: info.encode(),
        }])
        .collect();
    let program =
        Program::with_functions(honest.code().to_vec(), &honest.functions()[1..], sections)
            .unwrap();
    let frames = vec![
        mova_lang::func::Frame {
            function: 1,
            return_ip: 2,
            base: 0,
            ref_base: 0,
        },
        mova_lang::func::Frame {
            function: 2,
            return_ip: 5,
            base: 1,
            ref_base: 0,
        },
    ];
    let image = Image::with_frames(&program, 10, vec![0, 0, 100, 0], frames, None, true).unwrap();
    sandbox.write("state.mvs", image.encode());
    let text = sandbox.hv_ok(&["inspect", "state.mvs"]);
    for c in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(!text.contains(c), "{c:?} in {text:?}");
    }
    assert!(text.contains("0: \\u{1b}]0;owned\\u{7}ratio at"), "{text}");
    assert!(text.contains("x\\u{1b}[2J\\u{202e} = 0"), "{text}");
}
