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

/// A program with strings and arrays and names for them, built by hand: `main` holds `note` (a
/// long string), `xs` (40 ints) and `grid` (an array of int arrays, one row twice) and calls
/// `describe(s, a)` with the constant "hi" and `xs`; `describe` is at its `LEN` of `a`.
/// Code: `0 CONST 0, 1 NEWI, 2 NEWR, 3 RLOAD 0, 4 RLOAD 1, 5 CALL 1, 6 HALT`, and `describe`
/// at 7: `RLOAD 1, LEN, PRINT, POP, RET`.
fn heap_program() -> Program {
    use mova_lang::debuginfo::{DEBUG_INFO, DebugInfo, FunctionName, Local};
    use mova_lang::func::Function;
    use mova_lang::isa::Instr::*;
    use mova_lang::mvb::Section;
    let local = |function, slot, name: &str, live| Local {
        function,
        slot,
        reference: true,
        name: name.into(),
        live,
        span: 0..0,
    };
    let info = DebugInfo {
        functions: vec![FunctionName {
            function: 1,
            name: "describe".into(),
            span: 0..0,
        }],
        locals: vec![
            local(0, 0, "note", 1..7),
            local(0, 1, "xs", 2..7),
            local(0, 2, "grid", 3..7),
            local(1, 0, "s", 7..12),
            local(1, 1, "a", 7..12),
        ],
    };
    Program::with_functions(
        vec![
            Const(0),
            NewI,
            NewR,
            RLoad(0),
            RLoad(1),
            Call(1),
            Halt,
            RLoad(1),
            Len,
            Print,
            Pop,
            Ret,
        ],
        &[Function {
            entry: 7,
            params: 0,
            results: 0,
            ref_params: 2,
            ref_results: 0,
        }],
        vec![
            Section {
                kind: mova_lang::heap::STRINGS,
                payload: mova_lang::heap::encode_strings(&["hi"]),
            },
            Section {
                kind: DEBUG_INFO,
                payload: info.encode(),
            },
        ],
    )
    .unwrap()
}

/// [`heap_program`] inside `describe`, as `state.mvs` (with the program if `embedded`), and
/// the program as `heap.mvb`.
fn heap_image(sandbox: &Sandbox, embedded: bool) {
    use mova_lang::func::Frame;
    use mova_lang::heap::{Object, Ref};
    use mova_lang::image::State;
    let program = heap_program();
    let state = State {
        ip: 8,
        frames: vec![Frame {
            function: 1,
            return_ip: 6,
            base: 0,
            ref_base: 3,
        }],
        refs: vec![
            Ref::object(0),
            Ref::object(1),
            Ref::object(2),
            Ref::constant(0),
            Ref::object(1),
            Ref::object(1),
        ],
        heap: vec![
            Object::Str(
                "Ada Lovelace wrote the first program, for the Analytical Engine, in 1843: \
                 \"Note G\"\n"
                    .as_bytes()
                    .into(),
            ),
            Object::Ints((1..=40).collect()),
            Object::Refs(vec![Ref::object(3), Ref::object(3), Ref::object(4)]),
            Object::Ints(vec![1, 2, 3]),
            Object::Ints(Vec::new()),
        ],
        ..State::default()
    };
    let image = Image::of_state(&program, state, embedded).unwrap();
    sandbox.write("state.mvs", image.encode());
    sandbox.write("heap.mvb", program.encode());
}

#[test]
fn strings_and_arrays_show_as_the_values_of_named_locals() {
    let sandbox = Sandbox::new("inspect-heap");
    heap_image(&sandbox, true);
    let text = sandbox.hv_ok(&["inspect", "state.mvs"]);
    mova_testkit::assert_snapshot!("movahv", "inspect-heap", from_ip(&text));
    let json: serde_json::Value =
        serde_json::from_str(&sandbox.hv_ok(&["inspect", "state.mvs", "--json"])).unwrap();
    // In full: the whole note, all 40 ints.
    let note = json["backtrace"][1]["locals"][0]["value"].as_str().unwrap();
    assert!(note.ends_with("1843: \"Note G\"\n"), "{note}");
    assert_eq!(json["refs"][1].as_array().unwrap().len(), 40, "{json}");
    // One line for each reference, the heap and each frame's locals.
    let mut shown = String::new();
    for value in json["refs"].as_array().unwrap() {
        shown.push_str(&format!("ref   {value}\n"));
    }
    shown.push_str(&format!("heap  {}\n", json["heap"]));
    for frame in json["backtrace"].as_array().unwrap() {
        shown.push_str(&format!(
            "frame {} ref_base {}\n",
            frame["name"], frame["ref_base"]
        ));
        for local in frame["locals"].as_array().unwrap() {
            shown.push_str(&format!("      {local}\n"));
        }
    }
    mova_testkit::assert_snapshot!("movahv", "inspect-heap-json", shown);
}

#[test]
fn without_the_program_constants_are_named_by_number() {
    let sandbox = Sandbox::new("inspect-heap-bare");
    heap_image(&sandbox, false);
    let text = sandbox.hv_ok(&["inspect", "state.mvs"]);
    assert!(text.contains("      3  <constant 0>\n"), "{text}");
    assert!(
        text.contains(
            "heap     5 objects, 599 bytes: 1 string (115 bytes), 3 int arrays (440 bytes), 1 reference array (44 bytes)\n"
        ),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&sandbox.hv_ok(&["inspect", "state.mvs", "--json"])).unwrap();
    assert_eq!(
        json["refs"][3],
        serde_json::json!({"constant": 0}),
        "{json}"
    );
    // Named, the program supplies the constants and the names.
    let text = sandbox.hv_ok(&["inspect", "state.mvs", "--program", "heap.mvb"]);
    assert!(text.contains("s = \"hi\""), "{text}");
}

#[test]
fn deep_cyclic_and_widely_shared_heaps_are_shown_within_bounds() {
    use mova_lang::heap::{Object, Ref};
    use mova_lang::image::State;
    let sandbox = Sandbox::new("inspect-heap-hostile");
    let program = heap_program();
    // At IP 3 `main` holds 3 references: a chain 100,000 arrays deep, an array that holds
    // itself, and 40 levels of `[x, x]` (2^40 leaves when written out).
    let deep = 100_000u32;
    let mut heap: Vec<Object> = (1..deep)
        .map(|next| Object::Refs(vec![Ref::object(next)]))
        .collect();
    heap.push(Object::Refs(Vec::new()));
    let cycle = u32::try_from(heap.len()).unwrap();
    heap.push(Object::Refs(vec![Ref::object(cycle), Ref::constant(0)]));
    let shared = u32::try_from(heap.len()).unwrap();
    for level in 0..40 {
        let below = shared + level + 1;
        heap.push(if level == 39 {
            Object::Ints(vec![7])
        } else {
            Object::Refs(vec![Ref::object(below), Ref::object(below)])
        });
    }
    let state = State {
        ip: 3,
        refs: vec![Ref::object(0), Ref::object(cycle), Ref::object(shared)],
        heap,
        ..State::default()
    };
    let image = Image::of_state(&program, state, true).unwrap();
    sandbox.write("state.mvs", image.encode());
    let text = sandbox.hv_ok(&["inspect", "state.mvs"]);
    assert!(text.contains("      0  [[[[[[[[[["), "{text}");
    assert!(text.contains("      1  [[...], \"hi\"]\n"), "{text}");
    assert!(text.contains("      2  [[[[["), "{text}");
    assert!(text.contains("heap     100,041 objects"), "{text}");
    let out = sandbox.hv_ok(&["inspect", "state.mvs", "--json"]);
    assert!(out.len() < 100 << 20, "{} bytes of JSON", out.len());
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut deepest = &json["refs"][0];
    let mut depth = 0;
    while let Some(inner) = deepest.get(0) {
        deepest = inner;
        depth += 1;
    }
    assert_eq!(depth, 64, "{deepest}");
    assert_eq!(deepest, &serde_json::json!({"deeper": "#64"}));
    assert_eq!(
        json["refs"][1],
        serde_json::json!([{"cycle": format!("#{cycle}")}, "hi"])
    );
    assert!(out.contains("{\"cut\":\"#"), "no cut marker");
}
