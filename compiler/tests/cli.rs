//! End-to-end tests of the real `movac` binary: assembling, disassembling, round trips, error
//! reporting and exit statuses.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

use assert_cmd::Command;
use mova_lang::mvb::SIGNATURE;
use mova_testkit::{ChildGuard, TIMEOUT, TempDir};
use predicates::prelude::*;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The examples shipped with the workspace.
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");

/// `movac` with its working directory set, so relative paths in messages stay short.
fn movac(dir: &TempDir) -> Command {
    let mut command = Command::cargo_bin("movac").unwrap();
    command.current_dir(dir.path()).timeout(TIMEOUT);
    command
}

fn example(name: &str) -> PathBuf {
    Path::new(EXAMPLES).join(name)
}

/// Every `examples/*.mvasm` and `examples/*.mova`, sorted by name.
fn all_examples() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(EXAMPLES)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "mvasm" || ext == "mova")
        })
        .collect();
    paths.sort();
    assert!(
        paths.iter().any(|path| path.ends_with("loop.mvasm")),
        "examples/loop.mvasm is missing from {EXAMPLES}"
    );
    paths
}

/// Copies an example into `dir` and returns the copy's path.
fn copy_example(dir: &TempDir, name: &str) -> PathBuf {
    let target = dir.join(name);
    fs::copy(example(name), &target).unwrap();
    target
}

/// A source with several independent errors, each with its own code.
const BAD_SOURCE: &str = "PUT\nFROB 3\nADD 1 2\nGOTO nowhere\nPRINT 5\n";

fn no_panic() -> impl Predicate<str> {
    predicate::str::contains("panicked").not()
}

#[test]
fn assembles_to_the_default_output_next_to_the_input() {
    let dir = TempDir::new("default-output");
    let input = copy_example(&dir, "loop.mvasm");
    movac(&dir)
        .arg(&input)
        .assert()
        .success()
        .stdout("")
        .stderr("");
    let bytes = fs::read(dir.join("loop.mvb")).unwrap();
    assert!(bytes.starts_with(&SIGNATURE), "{bytes:?}");
    // Nothing else: no temporary file is left behind.
    assert_eq!(dir.entries(), ["loop.mvasm", "loop.mvb"]);

    // A relative input path works too, from the working directory.
    fs::remove_file(dir.join("loop.mvb")).unwrap();
    movac(&dir).arg("loop.mvasm").assert().success();
    assert_eq!(fs::read(dir.join("loop.mvb")).unwrap(), bytes);
}

#[test]
fn dash_o_chooses_the_output() {
    let dir = TempDir::new("dash-o");
    let input = copy_example(&dir, "loop.mvasm");
    fs::create_dir(dir.join("out")).unwrap();
    movac(&dir)
        .arg(&input)
        .arg("-o")
        .arg(dir.join("out/seed.mvb"))
        .assert()
        .success();
    movac(&dir)
        .args(["loop.mvasm", "--output", "long.mvb"])
        .assert()
        .success();
    let short = fs::read(dir.join("out/seed.mvb")).unwrap();
    assert!(short.starts_with(&SIGNATURE));
    assert_eq!(fs::read(dir.join("long.mvb")).unwrap(), short);
    // `-o` replaces the default output: there is no `loop.mvb`.
    assert_eq!(dir.entries(), ["long.mvb", "loop.mvasm", "out"]);
}

#[test]
fn assembling_is_deterministic() {
    let dir = TempDir::new("deterministic");
    movac(&dir)
        .arg(example("loop.mvasm"))
        .args(["-o", "first.mvb"])
        .assert()
        .success();
    movac(&dir)
        .arg(example("loop.mvasm"))
        .args(["-o", "second.mvb"])
        .assert()
        .success();
    let first = fs::read(dir.join("first.mvb")).unwrap();
    let second = fs::read(dir.join("second.mvb")).unwrap();
    assert!(!first.is_empty());
    assert_eq!(first, second);
}

#[test]
fn every_example_round_trips_through_the_disassembler() {
    // Programs with functions included: the listing's `.fn` lines rebuild the function table.
    for source in all_examples() {
        let stem = source.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = TempDir::new(&format!("round-trip-{stem}"));
        let context = source.display();

        movac(&dir)
            .arg(&source)
            .args(["-o", "first.mvb"])
            .assert()
            .success();
        let first = fs::read(dir.join("first.mvb")).unwrap();

        let output = movac(&dir).args(["dis", "first.mvb"]).output().unwrap();
        assert!(output.status.success(), "{context}: {output:?}");
        let listing = String::from_utf8(output.stdout).unwrap();
        assert!(
            listing.starts_with("; Mova bytecode, "),
            "{context}: {listing}"
        );
        dir.write("listing.mvasm", &listing);

        movac(&dir)
            .args(["listing.mvasm", "-o", "second.mvb"])
            .assert()
            .success();
        let second = fs::read(dir.join("second.mvb")).unwrap();
        assert_eq!(
            first, second,
            "{context}: asm → mvb → asm → mvb changed the bytes"
        );

        movac(&dir)
            .args(["dis", "second.mvb"])
            .assert()
            .success()
            .stdout(listing.clone());

        // `dis -o` writes the same listing to a file, and nothing to standard output.
        movac(&dir)
            .args(["dis", "second.mvb", "-o", "listing2.mvasm"])
            .assert()
            .success()
            .stdout("");
        assert_eq!(
            fs::read_to_string(dir.join("listing2.mvasm")).unwrap(),
            listing,
            "{context}"
        );
    }
}

#[test]
fn errors_are_all_reported_and_nothing_is_written() {
    let dir = TempDir::new("errors");
    dir.write("bad.mvasm", BAD_SOURCE);
    let assert = movac(&dir)
        .args(["bad.mvasm", "--color", "never"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(no_panic())
        .stderr(predicate::str::contains("error: could not assemble"));
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    for code in ["[A0002]", "[A0003]", "[A0004]", "[A0005]", "[A0010]"] {
        assert!(stderr.contains(code), "missing {code} in:\n{stderr}");
    }
    assert!(
        stderr.contains("due to 5 previous errors"),
        "the summary counts the errors:\n{stderr}"
    );
    assert_eq!(
        dir.entries(),
        ["bad.mvasm"],
        "no output (nor temporary file) may be written"
    );

    // With `-o` too.
    movac(&dir)
        .args(["bad.mvasm", "-o", "out.mvb"])
        .assert()
        .code(1);
    assert_eq!(dir.entries(), ["bad.mvasm"]);
}

#[test]
fn errors_do_not_clobber_an_existing_output() {
    let dir = TempDir::new("no-clobber");
    dir.write("bad.mvasm", BAD_SOURCE);
    dir.write("bad.mvb", b"previous default output");
    dir.write("other.mvb", b"previous explicit output");
    movac(&dir).arg("bad.mvasm").assert().code(1);
    movac(&dir)
        .args(["bad.mvasm", "-o", "other.mvb"])
        .assert()
        .code(1);
    assert_eq!(
        fs::read(dir.join("bad.mvb")).unwrap(),
        b"previous default output"
    );
    assert_eq!(
        fs::read(dir.join("other.mvb")).unwrap(),
        b"previous explicit output"
    );
    assert_eq!(dir.entries(), ["bad.mvasm", "bad.mvb", "other.mvb"]);
}

#[test]
fn color_never_and_always() {
    let dir = TempDir::new("color");
    dir.write("bad.mvasm", BAD_SOURCE);
    let never = movac(&dir)
        .args(["--color", "never", "bad.mvasm"])
        .assert()
        .code(1);
    let never = String::from_utf8_lossy(&never.get_output().stderr).into_owned();
    assert!(never.contains("[A0003]"), "{never}");
    assert!(
        !never.contains('\u{1b}'),
        "escape code with --color never:\n{never}"
    );

    let always = movac(&dir)
        .args(["bad.mvasm", "--color", "always"])
        .assert()
        .code(1);
    let always = String::from_utf8_lossy(&always.get_output().stderr).into_owned();
    assert!(
        always.contains('\u{1b}'),
        "no escape code with --color always:\n{always}"
    );

    // `auto` (the default) does not colour when standard error is not a terminal, as here.
    let auto = movac(&dir).arg("bad.mvasm").assert().code(1);
    let auto = String::from_utf8_lossy(&auto.get_output().stderr).into_owned();
    assert!(!auto.contains('\u{1b}'), "escape code into a pipe:\n{auto}");

    // An invalid choice is a usage error.
    movac(&dir)
        .args(["bad.mvasm", "--color", "sometimes"])
        .assert()
        .code(2);
}

#[test]
fn unknown_extension_is_refused() {
    let dir = TempDir::new("unknown-extension");
    dir.write("notes.txt", "PUT 1\nPRINT\n");
    movac(&dir)
        .arg("notes.txt")
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: "))
        .stderr(predicate::str::contains("notes.txt"))
        .stderr(predicate::str::contains(
            "expected a `.mova`, `.mvasm` or `.mvb` file",
        ))
        .stderr(no_panic());
    dir.write("noext", "PUT 1\n");
    movac(&dir)
        .arg("noext")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`.mvasm` or `.mvb`"));
    assert_eq!(dir.entries(), ["noext", "notes.txt"]);
}

#[test]
fn bytecode_input_suggests_dis() {
    let dir = TempDir::new("bytecode-input");
    movac(&dir)
        .arg(example("loop.mvasm"))
        .args(["-o", "loop.mvb"])
        .assert()
        .success();
    let before = fs::read(dir.join("loop.mvb")).unwrap();
    movac(&dir)
        .arg("loop.mvb")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already bytecode"))
        .stderr(predicate::str::contains("movac dis loop.mvb"))
        .stderr(no_panic());
    assert_eq!(fs::read(dir.join("loop.mvb")).unwrap(), before);
}

#[test]
fn missing_input_cannot_be_read() {
    let dir = TempDir::new("missing");
    movac(&dir)
        .arg("absent.mvasm")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot read `absent.mvasm`"))
        .stderr(no_panic());
    movac(&dir)
        .args(["dis", "absent.mvb"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot read `absent.mvb`"));
    assert!(dir.entries().is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let dir = TempDir::new("usage");
    movac(&dir)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Usage:"))
        .stderr(predicate::str::contains("<INPUT>"));
    movac(&dir)
        .args(["dis"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Usage:"));
    movac(&dir)
        .args(["a.mvasm", "--no-such-flag"])
        .assert()
        .code(2);
    movac(&dir)
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit status"));
}

#[test]
fn dis_refuses_corrupt_and_truncated_files() {
    let dir = TempDir::new("dis-corrupt");
    movac(&dir)
        .arg(example("loop.mvasm"))
        .args(["-o", "good.mvb"])
        .assert()
        .success();
    let good = fs::read(dir.join("good.mvb")).unwrap();

    let check = |name: &str, bytes: &[u8], expect: &str| {
        dir.write(name, bytes);
        movac(&dir)
            .args(["dis", name])
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::starts_with("error: "))
            .stderr(predicate::str::contains(expect))
            .stderr(no_panic());
    };

    for len in 0..good.len() {
        check("cut.mvb", &good[..len], "truncated");
    }
    let mut flipped = good.clone();
    flipped[25] ^= 0x40;
    check("flipped.mvb", &flipped, "checksum mismatch");
    check("text.mvb", b"PUT 1\nPRINT\n", "not a Mova bytecode file");
    let mut long = good.clone();
    long.push(0);
    check("long.mvb", &long, "unexpected bytes after the checksum");
}

#[test]
fn dis_into_a_reader_that_stops_early_is_not_an_error() {
    let dir = TempDir::new("dis-early-close");
    // Big enough that the listing (several MiB) cannot fit in a pipe's buffer.
    let source = "PUT 1\nPOP\n".repeat(50_000);
    dir.write("big.mvasm", source);
    movac(&dir).arg("big.mvasm").assert().success();

    let mut child = ChildGuard(
        std::process::Command::new(env!("CARGO_BIN_EXE_movac"))
            .current_dir(dir.path())
            .args(["dis", "big.mvb"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let result = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = sender.send(result);
        // The reader (and so the pipe) is dropped here, like `head -1` exiting.
    });
    let first = receiver.recv_timeout(TIMEOUT).unwrap().unwrap();
    assert!(first.starts_with("; Mova bytecode, "), "{first:?}");

    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "movac dis did not exit after its reader went away"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "status {status:?}, stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr, "", "a closed pipe is not worth a message");
}

#[test]
fn the_seed_program_and_the_seed_listing_give_identical_bytecode() {
    let dir = TempDir::new("seed-equivalence");
    let mova = copy_example(&dir, "loop.mova");
    let mvasm = copy_example(&dir, "loop.mvasm");
    movac(&dir)
        .arg(&mova)
        .args(["-o", "a.mvb"])
        .assert()
        .success()
        .stderr("");
    movac(&dir)
        .arg(&mvasm)
        .args(["-o", "b.mvb"])
        .assert()
        .success()
        .stderr("");
    assert_eq!(
        fs::read(dir.join("a.mvb")).unwrap(),
        fs::read(dir.join("b.mvb")).unwrap()
    );
}

#[test]
fn check_reports_without_writing() {
    let dir = TempDir::new("check");
    let good = dir.write("good.mova", "var x = 1;\nprint(x);\n");
    movac(&dir)
        .arg("check")
        .arg(&good)
        .assert()
        .success()
        .stdout("")
        .stderr("");
    let warned = dir.write("warned.mova", "var unused = 1;\n");
    movac(&dir)
        .args(["check", "--color", "never"])
        .arg(&warned)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "[W0001] Warning: unused variable: `unused`",
        ));
    let bad = dir.write(
        "bad.mova",
        "print(y);\nbreak;\nvar z = 99999999999999999999;\n",
    );
    movac(&dir)
        .args(["check", "--color", "never"])
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("[E0005]"))
        .stderr(predicate::str::contains("[E0007]"))
        .stderr(predicate::str::contains("[E0010]"))
        .stderr(predicate::str::contains("could not compile `"))
        .stderr(no_panic());
    assert_eq!(dir.entries(), ["bad.mova", "good.mova", "warned.mova"]);
}

#[test]
fn emit_shows_each_stage() {
    let dir = TempDir::new("emit");
    let input = copy_example(&dir, "loop.mova");
    movac(&dir)
        .arg(&input)
        .args(["--emit", "tokens"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Indent"))
        .stdout(predicate::str::contains("Ident(\"i\")"));
    movac(&dir)
        .arg(&input)
        .args(["--emit", "ast"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("var i @0..10\n"))
        .stdout(predicate::str::contains("step i++"));
    movac(&dir)
        .arg(&input)
        .args(["--emit", "asm"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "GOTO L1                 ; 4: GOTO 3",
        ));
    movac(&dir)
        .arg(&input)
        .args(["--emit", "asm", "-o", "loop.listing"])
        .assert()
        .success()
        .stdout("");
    assert!(
        fs::read_to_string(dir.join("loop.listing"))
            .unwrap()
            .contains("SLEEP 100")
    );
    let asm = copy_example(&dir, "loop.mvasm");
    movac(&dir)
        .arg(&asm)
        .args(["--emit", "ast"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "`--emit ast` needs a `.mova` source",
        ));
    assert!(
        !dir.join("loop.mvb").exists(),
        "--emit other than mvb writes no bytecode"
    );
}

#[test]
fn debug_info_is_opt_in() {
    let dir = TempDir::new("debug-info");
    let source = "var x = 9223372036854775806;\nloop {\n    x++;\n    print(x);\n}\n";
    let input = dir.write("overflow.mova", source);
    movac(&dir)
        .arg(&input)
        .args(["-o", "plain.mvb"])
        .assert()
        .success();
    movac(&dir)
        .arg(&input)
        .args(["-g", "-o", "debug.mvb"])
        .assert()
        .success();
    let plain = fs::read(dir.join("plain.mvb")).unwrap();
    let debug = fs::read(dir.join("debug.mvb")).unwrap();
    assert!(
        debug.len() > plain.len() + source.len(),
        "the source map carries the source"
    );
    // Both disassemble to the same instructions; the listing notes the source map.
    let listing = |name: &str| {
        let output = movac(&dir).arg("dis").arg(name).output().unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(listing("debug.mvb").contains("optional section 0x8001"));
    assert_eq!(
        listing("debug.mvb")
            .lines()
            .filter(|l| !l.starts_with(';'))
            .collect::<Vec<_>>(),
        listing("plain.mvb")
            .lines()
            .filter(|l| !l.starts_with(';'))
            .collect::<Vec<_>>()
    );
}

#[test]
fn json_diagnostics_are_one_object_per_line() {
    let dir = TempDir::new("json");
    let input = dir.write("bad.mova", "var x = 1;\nprint(y);\n");
    let output = movac(&dir)
        .args(["check", "--error-format", "json"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let objects: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with('{'))
        .collect();
    // The two diagnostics, then the summary.
    assert_eq!(objects.len(), 3, "{stderr}");
    assert!(objects[0].contains("\"code\":\"W0001\""), "{stderr}");
    assert!(objects[1].contains("\"code\":\"E0005\""), "{stderr}");
    assert!(objects[1].contains("\"line\":2"), "{stderr}");
    assert!(objects[1].contains("\"column\":7"), "{stderr}");
}

#[test]
fn writing_to_a_device_writes_through_it() {
    let dir = TempDir::new("dev-null");
    let input = copy_example(&dir, "loop.mova");
    movac(&dir)
        .arg(&input)
        .args(["-o", "/dev/null"])
        .assert()
        .success();
    let null = fs::metadata("/dev/null").unwrap();
    assert!(!null.is_file(), "/dev/null is still a device");
}

#[test]
fn a_byte_order_mark_at_the_start_is_skipped() {
    let dir = TempDir::new("bom");
    let seed = fs::read(example("loop.mova")).unwrap();
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(&seed);
    dir.write("bom.mova", &with_bom);
    dir.write("plain.mova", &seed);
    movac(&dir).arg("bom.mova").assert().success().stderr("");
    movac(&dir).arg("plain.mova").assert().success();
    assert_eq!(
        fs::read(dir.join("bom.mvb")).unwrap(),
        fs::read(dir.join("plain.mvb")).unwrap()
    );
    let asm = fs::read(example("loop.mvasm")).unwrap();
    let mut asm_bom = b"\xEF\xBB\xBF".to_vec();
    asm_bom.extend_from_slice(&asm);
    dir.write("bom.mvasm", &asm_bom);
    movac(&dir)
        .args(["bom.mvasm", "-o", "asm.mvb"])
        .assert()
        .success()
        .stderr("");
    assert_eq!(
        fs::read(dir.join("asm.mvb")).unwrap(),
        fs::read(dir.join("plain.mvb")).unwrap()
    );
    // Only one mark, at the very start, is skipped: a second one is an invalid character.
    let mut twice = b"\xEF\xBB\xBF\xEF\xBB\xBF".to_vec();
    twice.extend_from_slice(&seed);
    dir.write("twice.mova", &twice);
    movac(&dir)
        .args(["twice.mova", "--color", "never"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("twice.mova:1:1"));
}

#[test]
fn an_output_that_is_the_input_is_refused() {
    let dir = TempDir::new("output-is-input");
    let source = "var x = 1;\nprint(x);\n";
    dir.write("x.mova", source);
    std::os::unix::fs::symlink("x.mova", dir.join("link.mvb")).unwrap();
    fs::hard_link(dir.join("x.mova"), dir.join("hard.mvb")).unwrap();
    let refused = |args: &[&str]| {
        movac(&dir)
            .args(args)
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::contains("would be overwritten"))
            .stderr(no_panic());
        assert_eq!(fs::read_to_string(dir.join("x.mova")).unwrap(), source);
    };
    refused(&["x.mova", "-o", "x.mova"]);
    refused(&["x.mova", "-o", "./x.mova"]);
    refused(&["x.mova", "-o", "link.mvb"]);
    refused(&["x.mova", "-o", "hard.mvb"]);
    refused(&["./x.mova", "--emit", "asm", "-o", "x.mova"]);
    refused(&["x.mova", "--emit", "tokens", "-o", "x.mova"]);
    refused(&["x.mova", "--emit", "ast", "-o", "x.mova"]);
    assert_eq!(dir.entries(), ["hard.mvb", "link.mvb", "x.mova"]);

    // `movac dis` too: the listing must not replace the bytecode.
    movac(&dir)
        .args(["x.mova", "-o", "x.mvb"])
        .assert()
        .success();
    let bytes = fs::read(dir.join("x.mvb")).unwrap();
    movac(&dir)
        .args(["dis", "x.mvb", "-o", "x.mvb"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("would be overwritten"));
    assert_eq!(fs::read(dir.join("x.mvb")).unwrap(), bytes);

    // Through the JSON path, as one JSON object.
    let output = movac(&dir)
        .args(["x.mova", "-o", "x.mova", "--error-format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let value: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert!(
        value["message"]
            .as_str()
            .unwrap()
            .contains("would be overwritten"),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(dir.join("x.mova")).unwrap(), source);
}

#[test]
fn dash_is_standard_output_for_every_output() {
    let dir = TempDir::new("dash-output");
    copy_example(&dir, "loop.mova");
    movac(&dir).arg("loop.mova").assert().success();
    let bytes = fs::read(dir.join("loop.mvb")).unwrap();
    movac(&dir)
        .args(["loop.mova", "-o", "-"])
        .assert()
        .success()
        .stdout(bytes.clone());
    let listing = movac(&dir)
        .args(["dis", "loop.mvb"])
        .output()
        .unwrap()
        .stdout;
    assert!(listing.starts_with(b"; Mova bytecode"));
    movac(&dir)
        .args(["dis", "loop.mvb", "-o", "-"])
        .assert()
        .success()
        .stdout(listing.clone());
    movac(&dir)
        .args(["loop.mova", "--emit", "asm", "-o", "-"])
        .assert()
        .success()
        .stdout(listing);
    movac(&dir)
        .args(["loop.mova", "--emit", "tokens", "-o", "-"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Indent"));
    movac(&dir)
        .args(["loop.mova", "--emit", "ast", "-o", "-"])
        .assert()
        .success()
        .stdout(predicate::str::contains("step i++"));
    assert_eq!(
        dir.entries(),
        ["loop.mova", "loop.mvb"],
        "no file named `-`"
    );
}

#[test]
fn dash_is_standard_input() {
    let dir = TempDir::new("dash-input");
    let seed = fs::read(example("loop.mova")).unwrap();
    copy_example(&dir, "loop.mova");
    movac(&dir).arg("loop.mova").assert().success();
    let bytes = fs::read(dir.join("loop.mvb")).unwrap();

    // A source from standard input is `.mova`; its bytecode goes to standard output.
    movac(&dir)
        .arg("-")
        .write_stdin(seed.clone())
        .assert()
        .success()
        .stdout(bytes.clone());
    movac(&dir)
        .args(["-", "-o", "stdin.mvb"])
        .write_stdin(seed)
        .assert()
        .success();
    assert_eq!(fs::read(dir.join("stdin.mvb")).unwrap(), bytes);

    // `--input-kind` reads it as assembly (and overrides an extension).
    movac(&dir)
        .args(["-", "--input-kind", "mvasm", "-o", "-"])
        .write_stdin(fs::read(example("loop.mvasm")).unwrap())
        .assert()
        .success()
        .stdout(bytes.clone());
    dir.write("seed.txt", fs::read(example("loop.mvasm")).unwrap());
    movac(&dir)
        .args(["seed.txt", "--input-kind", "mvasm", "-o", "-"])
        .assert()
        .success()
        .stdout(bytes.clone());

    // Diagnostics name it `<stdin>`.
    movac(&dir)
        .args(["check", "-", "--color", "never"])
        .write_stdin("print(y);\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("<stdin>:1:7"))
        .stderr(predicate::str::contains("could not compile `<stdin>`"));

    // Bytecode on standard input is recognised by its signature.
    let listing = movac(&dir)
        .args(["dis", "loop.mvb"])
        .output()
        .unwrap()
        .stdout;
    movac(&dir)
        .args(["dis", "-"])
        .write_stdin(bytes.clone())
        .assert()
        .success()
        .stdout(listing);
    movac(&dir)
        .arg("-")
        .write_stdin(bytes)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`<stdin>` is already bytecode"))
        .stderr(predicate::str::contains("movac dis -"));
    movac(&dir)
        .args(["dis", "-"])
        .write_stdin("PUT 1\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot load `<stdin>`"));
    assert_eq!(
        dir.entries(),
        ["loop.mova", "loop.mvb", "seed.txt", "stdin.mvb"]
    );
}

#[test]
fn bytecode_is_not_written_to_a_terminal() {
    let dir = TempDir::new("terminal");
    copy_example(&dir, "loop.mova");
    let pty = nix::pty::openpty(None, None).unwrap();
    let terminal = std::fs::File::from(pty.slave);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_movac"))
        .current_dir(dir.path())
        .args(["loop.mova", "-o", "-"])
        .stdout(terminal.try_clone().unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("refusing to write bytecode to a terminal"),
        "{stderr}"
    );
    // Text is fine on a terminal.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_movac"))
        .current_dir(dir.path())
        .args(["loop.mova", "--emit", "asm", "-o", "-"])
        .stdout(terminal)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(dir.entries(), ["loop.mova"]);
}

/// Asserts that every line `movac` printed on standard error is one JSON object, and returns them.
fn json_lines(output: &std::process::Output) -> Vec<serde_json::Value> {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert!(!stderr.is_empty(), "nothing on standard error");
    stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("not a JSON object ({error}): {line:?}\n{stderr}"))
        })
        .collect()
}

#[test]
fn json_errors_put_one_object_on_every_line() {
    let dir = TempDir::new("json-everywhere");
    dir.write("bad.mova", "var x = 1;\nprint(y);\n");
    dir.write("latin1.mova", b"print(1); // caf\xE9\n");
    fs::create_dir(dir.join("folder.mova")).unwrap();
    let run = |args: &[&str]| {
        let output = movac(&dir)
            .args(args)
            .args(["--error-format", "json"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        json_lines(&output)
    };

    let objects = run(&["bad.mova"]);
    assert_eq!(objects.len(), 3, "{objects:?}");
    assert_eq!(objects[0]["code"], "W0001");
    assert_eq!(objects[1]["code"], "E0005");
    // The summary is an error without a location.
    assert_eq!(objects[2]["severity"], "error");
    assert_eq!(objects[2]["file"], "bad.mova");
    assert!(objects[2]["line"].is_null());
    assert_eq!(
        objects[2]["message"],
        "could not compile `bad.mova` due to 1 previous error"
    );

    for (args, expect) in [
        (&["check", "absent.mova"][..], "cannot read `absent.mova`"),
        (&["latin1.mova"][..], "is not UTF-8 text"),
        (&["folder.mova"][..], "cannot read `folder.mova`"),
        (&["dis", "absent.mvb"][..], "cannot read `absent.mvb`"),
        (&["notes.txt"][..], "unsupported input"),
    ] {
        let objects = run(args);
        assert_eq!(objects.len(), 1, "{args:?}: {objects:?}");
        assert_eq!(objects[0]["severity"], "error", "{args:?}");
        let message = objects[0]["message"].as_str().unwrap();
        assert!(message.contains(expect), "{args:?}: {message}");
        assert!(!message.starts_with("error"), "{message}");
    }

    // Usage errors too, with their usual exit status.
    let output = movac(&dir)
        .args(["a.mova", "b.mova", "--error-format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let objects = json_lines(&output);
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert!(
        objects[0]["message"]
            .as_str()
            .unwrap()
            .contains("multiple input files"),
        "{objects:?}"
    );
}

#[test]
fn several_inputs_and_misspelt_commands_are_named() {
    let dir = TempDir::new("usage-names");
    dir.write("x.mova", "print(1);\n");
    dir.write("y.mova", "print(2);\n");
    movac(&dir)
        .args(["x.mova", "y.mova"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "multiple input files: `x.mova` and `y.mova`",
        ))
        .stderr(predicate::str::contains("cannot be used with").not());
    movac(&dir)
        .args(["check", "x.mova", "y.mova"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("multiple input files"));
    for args in [&["chek", "x.mova"][..], &["chek"][..]] {
        movac(&dir)
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("no such command `chek`"))
            .stderr(predicate::str::contains("did you mean `check`?"))
            .stderr(predicate::str::contains("cannot be used with").not());
    }
    movac(&dir)
        .args(["diss", "x.mvb"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `dis`?"));
    // A file that exists is an input, whatever its name.
    dir.write("chek", "print(1);\n");
    movac(&dir)
        .args(["chek", "--input-kind", "mova", "-o", "chek.mvb"])
        .assert()
        .success();
    assert!(dir.join("chek.mvb").exists());
}

#[test]
fn many_warnings_on_one_long_line_print_in_proportion() {
    let dir = TempDir::new("long-line");
    let count = 4_000;
    let source: String = (0..count).map(|i| format!("var v{i}=1;")).collect();
    dir.write("wide.mova", &source);
    // Drawn whole, each warning would repeat the 47 KB line; shortened, each is a few hundred
    // bytes, so the output grows with the number of warnings, not with its square.
    let bound = count * 800;
    for format in ["human", "json"] {
        let output = movac(&dir)
            .args([
                "check",
                "wide.mova",
                "--color",
                "never",
                "--error-format",
                format,
            ])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{format}");
        assert!(
            output.stderr.len() < bound,
            "{format}: {} bytes of diagnostics",
            output.stderr.len()
        );
        let text = String::from_utf8(output.stderr).unwrap();
        assert_eq!(text.matches("unused variable").count(), count, "{format}");
    }
}

#[test]
fn an_assembly_source_larger_than_the_language_limit_is_read() {
    use mova_compiler::driver::{InputKind, MAX_SOURCE_LEN};
    let dir = TempDir::new("large-listing");
    // Spaces cost the assembler nothing but reading, so the file is large and fast to assemble.
    let mut source = " ".repeat(MAX_SOURCE_LEN);
    source.push_str("PUT 1\nPRINT\n");
    dir.write("large.mvasm", &source);
    movac(&dir)
        .args(["large.mvasm", "-o", "large.mvb"])
        .assert()
        .success()
        .stderr("");
    assert!(
        fs::read(dir.join("large.mvb"))
            .unwrap()
            .starts_with(&SIGNATURE)
    );
    // `.mova` keeps its own limit; a file over a limit is refused by its size, unread.
    let sparse = |name: &str, len: usize| {
        let file = fs::File::create(dir.join(name)).unwrap();
        file.set_len(u64::try_from(len).unwrap()).unwrap();
    };
    sparse("large.mova", MAX_SOURCE_LEN + 1);
    movac(&dir)
        .arg("large.mova")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "is too large: the limit is {MAX_SOURCE_LEN} bytes"
        )));
    let limit = InputKind::Assembly.max_len();
    sparse("huge.mvasm", limit + 1);
    movac(&dir)
        .arg("huge.mvasm")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "is too large: the limit is {limit} bytes"
        )));
}

// ---------------------------------------------------------------------------------------------
// `movac --explain CODE`

#[test]
fn explain_prints_the_long_explanation_of_a_code() {
    let dir = TempDir::new("explain");
    let output = movac(&dir).args(["--explain", "E0005"]).output().unwrap();
    assert!(output.status.success());
    assert!(output.stderr.is_empty());
    let text = String::from_utf8(output.stdout).unwrap();
    mova_testkit::assert_snapshot!("mova", "explain-e0005", &text);
    // The code is read with its letter in either case and with or without its leading zeros.
    for spelling in ["e0005", "E5", "e05"] {
        movac(&dir)
            .args(["--explain", spelling])
            .assert()
            .success()
            .stdout(text.clone());
    }
}

#[test]
fn every_code_has_an_explanation_with_its_examples() {
    use mova_compiler::asm::AsmCode;
    use mova_compiler::mova::errors::LangCode;
    let dir = TempDir::new("explain-all");
    let codes = LangCode::ALL
        .iter()
        .map(|code| (code.as_str(), "```mova\n"))
        .chain(
            AsmCode::ALL
                .iter()
                .map(|code| (code.as_str(), "```mvasm\n")),
        );
    for (code, block) in codes {
        let output = movac(&dir).args(["--explain", code]).output().unwrap();
        assert!(output.status.success(), "{code}");
        let text = String::from_utf8(output.stdout).unwrap();
        // E9999 and A9999 have no program to show: no program causes them.
        if !code.ends_with("9999") {
            assert!(text.contains("\nErroneous"), "{code}: {text}");
            assert!(text.contains("\nFixed"), "{code}: {text}");
            assert!(text.contains(block), "{code}: {text}");
        }
        // The docs hold the same text under the code's heading.
        let doc = if code.starts_with('A') {
            "assembly.md"
        } else {
            "language.md"
        };
        let docs = fs::read_to_string(Path::new(EXAMPLES).join("../docs").join(doc)).unwrap();
        assert!(
            docs.contains(&format!("### {code}\n\n{text}")),
            "docs/{doc} does not hold {code}'s explanation"
        );
    }
}

#[test]
fn explain_refuses_what_is_no_code() {
    let dir = TempDir::new("explain-unknown");
    for (query, message) in [
        ("E9998", "error: E9998 is not a valid error code\n"),
        ("A0027", "error: A0027 is not a valid error code\n"),
        ("hello", "error: hello is not a valid error code\n"),
        (
            "0005",
            "error: 0005 is not a valid error code: write it with its letter, `E0005` or `W0005` \
             or `A0005`\n",
        ),
    ] {
        movac(&dir)
            .args(["--explain", query])
            .assert()
            .code(1)
            .stdout("")
            .stderr(message);
    }
    // It takes nothing else: no input, no options.
    movac(&dir)
        .args(["--explain", "E0005", "x.mova"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "'--explain <CODE>' cannot be used",
        ));
    movac(&dir)
        .args(["--explain"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a value is required for '--explain <CODE>'",
        ));
}

#[test]
fn a_report_ends_with_where_to_read_more_and_json_has_no_such_line() {
    let dir = TempDir::new("explain-pointer");
    dir.write("bad.mova", "var unused = 1;\nprint(y);\nprint(z);\n");
    let stderr = movac(&dir)
        .args(["check", "bad.mova", "--color", "never"])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(stderr).unwrap();
    assert!(
        stderr.ends_with(
            "───╯\nSome errors and warnings have detailed explanations: E0005, W0001.\n\
             For more information about one, try `movac --explain E0005`.\n\
             error: could not compile `bad.mova` due to 2 previous errors\n"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.matches("For more information").count(), 1);
    // Every line of the JSON form is still a diagnostic's object, or the summary's.
    let output = movac(&dir)
        .args(["check", "bad.mova", "--error-format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 4, "{stderr}");
    assert!(!stderr.contains("--explain"), "{stderr}");
    // Warnings alone point at their explanation too, and the build succeeds.
    dir.write("warn.mova", "var unused = 1;\n");
    movac(&dir)
        .args(["check", "warn.mova"])
        .assert()
        .success()
        .stderr(predicate::str::ends_with(
            "───╯\nFor more information about this warning, try `movac --explain W0001`.\n",
        ));
}
