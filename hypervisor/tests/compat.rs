//! The version 1 compatibility corpus (`compat/v1/`, see its README): every image written by the
//! version 1 binaries still inspects as it did and continues exactly as it did, in real `mova`
//! and `movahv` processes, and every `.mvb` file disassembles and runs as it did.
//!
//! `movahv inspect` now also says what the file says about itself (its format version, the
//! oldest reader version, the producer and any skipped segment): the `format`, `producer` and
//! `skipped` lines of the text and the `format` object of the JSON. The tests check those
//! additions, remove them, and compare the rest byte for byte with what the version 1 binaries
//! printed, so that the only difference allowed is the added version information.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{MOVAHV, Sandbox, TIMEOUT, describe};
use mova_lang::mvb::Program;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The corpus directory.
fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../compat/v1")
}

/// A recorded expectation, `compat/v1/expected/NAME`.
fn expected(name: &str) -> String {
    let path = corpus().join("expected").join(name);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The images, and the program to name for those that do not carry theirs.
const IMAGES: [(&str, Option<&str>); 5] = [
    ("seed-start", None),
    ("seed-start-bare", Some("loop.mvb")),
    ("seed-sleeping", None),
    ("seed-sleeping-bare", Some("loop.mvb")),
    ("wide", None),
];

/// `movahv inspect ARGS` run in the corpus directory (so the paths it prints are the recorded
/// ones), killed after [`TIMEOUT`]; its standard output.
fn inspect(args: &[&str]) -> String {
    let output = assert_cmd::Command::new(MOVAHV)
        .arg("inspect")
        .args(args)
        .current_dir(corpus())
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "`movahv inspect {}`: {}",
        args.join(" "),
        describe(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The text view without the lines about the file's format, which the version 1 binaries did
/// not print; checks that they say version 1 and no producer.
fn without_format_lines(text: &str) -> String {
    let mut format = Vec::new();
    let mut rest = String::new();
    for line in text.lines() {
        if ["format ", "producer ", "skipped "]
            .iter()
            .any(|prefix| line.starts_with(prefix))
        {
            format.push(line);
        } else {
            rest.push_str(line);
            rest.push('\n');
        }
    }
    assert_eq!(
        format,
        [
            "format   version 1 (readers of version 1 and newer can load it)",
            "producer not recorded (version 1 images do not record it)",
        ],
        "in:\n{text}"
    );
    rest
}

/// The JSON view without its `format` object, which the version 1 binaries did not print;
/// checks that it says version 1 and no producer.
fn without_format_object(json: &str) -> Value {
    let mut value: Value = serde_json::from_str(json).unwrap();
    let format = value.as_object_mut().unwrap().remove("format");
    assert_eq!(
        format,
        Some(serde_json::json!({
            "version": 1,
            "min_reader": 1,
            "producer": null,
            "skipped": [],
        })),
        "in {json}"
    );
    value
}

#[test]
fn every_v1_image_inspects_as_it_did() {
    for (name, program) in IMAGES {
        let file = format!("{name}.mvs");
        assert_eq!(
            without_format_lines(&inspect(&[&file])),
            expected(&format!("{name}.inspect.txt")),
            "{file}"
        );
        assert_eq!(
            without_format_object(&inspect(&[&file, "--json"])),
            serde_json::from_str::<Value>(&expected(&format!("{name}.inspect.json"))).unwrap(),
            "{file} --json"
        );
        if let Some(program) = program {
            let args = [file.as_str(), "--program", program];
            assert_eq!(
                without_format_lines(&inspect(&args)),
                expected(&format!("{name}.inspect-program.txt")),
                "{file} --program {program}"
            );
            let args = [file.as_str(), "--program", program, "--json"];
            assert_eq!(
                without_format_object(&inspect(&args)),
                serde_json::from_str::<Value>(&expected(&format!("{name}.inspect-program.json")))
                    .unwrap(),
                "{file} --program {program} --json"
            );
        }
    }
}

/// Starts `mova ARGS` (paths in the corpus) in a sandbox and returns the first five lines it
/// prints, as `head -5` recorded them; the process is killed however the test ends.
fn first_lines(sandbox: &Sandbox, args: &[PathBuf]) -> String {
    let mut command = Command::new(common::mova_path());
    command.args(args);
    let shown = format!("mova {args:?}");
    let mut vm = sandbox.start_command(command, &shown);
    let lines: String = vm
        .take(5)
        .iter()
        .map(|value| format!("{value}\n"))
        .collect();
    assert_eq!(vm.stderr(), "", "{shown} wrote on standard error");
    lines
}

#[test]
fn every_v1_image_continues_exactly_as_it_did() {
    let sandbox = Sandbox::new("compat");
    for (name, program) in IMAGES {
        let mut args: Vec<PathBuf> = program.map(|p| corpus().join(p)).into_iter().collect();
        args.push("--restore".into());
        args.push(corpus().join(format!("{name}.mvs")));
        assert_eq!(
            first_lines(&sandbox, &args),
            expected(&format!("{name}.continue.txt")),
            "{name}.mvs"
        );
    }
    // A bare image restores into the program built with a source map too: the hash covers only
    // the instructions.
    let args = [
        corpus().join("loop-g.mvb"),
        "--restore".into(),
        corpus().join("seed-sleeping-bare.mvs"),
    ];
    assert_eq!(
        first_lines(&sandbox, &args),
        expected("seed-sleeping-bare.continue.txt")
    );
}

#[test]
fn a_v1_image_written_into_a_blank_vm_continues_there() {
    // `movahv wstate FILE PID` re-encodes the image (as version 2) and sends it over the control
    // channel: the restore path of a running VM, not of `mova --restore`.
    let sandbox = Sandbox::new("compat-wstate");
    let mut target = sandbox.start(&["serve"]);
    let file = corpus().join("seed-sleeping.mvs");
    sandbox.hv_ok(&["wstate", file.to_str().unwrap(), &target.id()]);
    let lines: String = target
        .take(5)
        .iter()
        .map(|value| format!("{value}\n"))
        .collect();
    assert_eq!(lines, expected("seed-sleeping.continue.txt"));
}

#[test]
fn every_v1_program_disassembles_and_runs_as_it_did() {
    let sandbox = Sandbox::new("compat-mvb");
    for name in ["loop", "loop-g"] {
        let bytes = fs::read(corpus().join(format!("{name}.mvb"))).unwrap();
        let program = Program::decode(&bytes).unwrap();
        assert_eq!(
            mova_compiler::disasm::disassemble(&program),
            expected(&format!("{name}.dis.txt")),
            "{name}.mvb"
        );
        assert_eq!(
            first_lines(&sandbox, &[corpus().join(format!("{name}.mvb"))]),
            expected(&format!("{name}.run.txt")),
            "{name}.mvb"
        );
    }
}
