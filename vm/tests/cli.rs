//! End-to-end tests of the real `mova` binary: the seed loop, signals, broken pipes, traps, the
//! examples, and files that cannot be loaded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

use assert_cmd::Command;
use mova_lang::mvb::SIGNATURE;
use mova_testkit::{
    ChildGuard, TIMEOUT, TempDir, examples, files_with_extension, marked_lines, stem,
};
use predicates::prelude::*;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The runtime directory the VMs these tests start record themselves in, away from the user's.
const RUNTIME_DIR: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/mova-runtime-cli");

/// Assembles `source` with the library and writes the bytecode to `name` in `dir`.
fn assemble(dir: &TempDir, name: &str, source: &str) -> PathBuf {
    dir.write(name, mvb(source))
}

/// A running `mova`, killed and reaped however the test ends.
struct Mova(ChildGuard);

impl Mova {
    /// Starts `mova PROGRAM` with standard output and error piped.
    fn spawn(program: &Path) -> Mova {
        Mova(ChildGuard(
            std::process::Command::new(env!("CARGO_BIN_EXE_mova"))
                .env("MOVA_RUNTIME_DIR", RUNTIME_DIR)
                .arg(program)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ))
    }

    fn process(&mut self) -> &mut Child {
        &mut (self.0).0
    }

    /// Reads standard output line by line on a helper thread; see [`LineReader`].
    fn lines(&mut self, limit: Option<usize>) -> LineReader {
        LineReader::new(self.process().stdout.take().unwrap(), limit)
    }

    /// Sends `signal` (a name such as `INT`) with the `kill` command.
    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), (self.0).0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed: {status:?}");
    }

    /// Waits for the process to exit, failing the test after [`TIMEOUT`].
    fn wait(&mut self) -> ExitStatus {
        self.0
            .wait_within(TIMEOUT)
            .unwrap_or_else(|| panic!("mova did not exit within {TIMEOUT:?}"))
    }

    /// All of standard error; call after the process exited.
    fn stderr(&mut self) -> String {
        let mut text = String::new();
        self.process()
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }
}

/// Standard output read on a helper thread, so that every read can be bounded in time. Each item
/// is a line as read, with its `\n` if it had one, and when it arrived.
struct LineReader(Receiver<(Instant, String)>);

impl LineReader {
    /// Reads lines until the end of the output or, with `limit`, until that many were read; then
    /// the thread ends and drops the pipe, as `head` does.
    fn new(stdout: ChildStdout, limit: Option<usize>) -> LineReader {
        LineReader(mova_testkit::read_lines(stdout, limit))
    }

    /// The next complete line, without its `\n`, and when it arrived; fails after [`TIMEOUT`].
    fn next(&self) -> (Instant, String) {
        let (at, line) = self
            .0
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|error| panic!("no line from mova within {TIMEOUT:?}: {error}"));
        let line = line
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("incomplete line {line:?}"))
            .to_owned();
        (at, line)
    }

    /// The next `count` lines, without their `\n`.
    fn take(&self, count: usize) -> Vec<String> {
        (0..count).map(|_| self.next().1).collect()
    }

    /// Every line until the output ends (call once the process has exited), as read: a last line
    /// without `\n` keeps showing that it is incomplete.
    fn rest(&self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            match self.0.recv_timeout(TIMEOUT) {
                Ok((_, line)) => lines.push(line),
                Err(RecvTimeoutError::Disconnected) => return lines,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("mova's output did not end within {TIMEOUT:?}")
                }
            }
        }
    }
}

/// The `.mvb` bytes of `source`, assembled with the library.
fn mvb(source: &str) -> Vec<u8> {
    match mova_compiler::assemble(source) {
        Ok(program) => program.encode(),
        Err(diagnostics) => panic!("cannot assemble {source:?}: {diagnostics:?}"),
    }
}

fn example_source(name: &str) -> String {
    fs::read_to_string(examples().join(name)).unwrap()
}

/// `mova PROGRAM`, bounded in time.
fn mova(program: &Path) -> Command {
    let mut command = Command::cargo_bin("mova").unwrap();
    command.env("MOVA_RUNTIME_DIR", RUNTIME_DIR);
    command.arg(program).timeout(TIMEOUT);
    command
}

fn no_panic() -> impl Predicate<str> {
    predicate::str::contains("panicked").not()
}

/// Checks that `lines` (as read, with their `\n`) are the complete lines "1", "2", … with no gap.
fn assert_counts_from_one(lines: &[String]) {
    for (expected, line) in (1..).zip(lines) {
        assert_eq!(
            *line,
            format!("{expected}\n"),
            "line {expected} of the output is wrong: {lines:?}"
        );
    }
}

/// The seed loop, assembled into `dir`.
fn seed_loop(dir: &TempDir) -> PathBuf {
    assemble(dir, "loop.mvb", &example_source("loop.mvasm"))
}

#[test]
fn seed_loop_prints_one_two_three() {
    let dir = TempDir::new("seed");
    let source = examples().join("loop.mova");
    for program in [seed_loop(&dir), source] {
        let mut child = Mova::spawn(&program);
        let lines = child.lines(None);
        assert_eq!(
            lines.take(5),
            ["1", "2", "3", "4", "5"],
            "{}",
            program.display()
        );
        // Still running: the seed loop never ends by itself.
        assert!(child.process().try_wait().unwrap().is_none());
    }
}

#[test]
fn seed_loop_lines_are_spaced_by_its_sleep() {
    let dir = TempDir::new("spacing");
    let mut child = Mova::spawn(&seed_loop(&dir));
    let lines = child.lines(None);
    let (first, one) = lines.next();
    let _ = lines.next();
    let _ = lines.next();
    let (fourth, four) = lines.next();
    assert_eq!((one.as_str(), four.as_str()), ("1", "4"));
    // Three `SLEEP 100`s lie between them; only a lower bound is reliable.
    let elapsed = fourth.duration_since(first);
    assert!(
        elapsed >= Duration::from_millis(250),
        "lines 1 and 4 came {elapsed:?} apart"
    );
}

/// Stops a running seed loop with `signal` and checks the exit status and the output.
fn stop_seed_loop(signal: &str, expected_code: i32) {
    let dir = TempDir::new(&format!("sig{signal}"));
    let mut child = Mova::spawn(&seed_loop(&dir));
    let lines = child.lines(None);
    // Once a line is out, the VM runs, and so its signal handlers are installed.
    assert_eq!(lines.take(2), ["1", "2"]);
    child.signal(signal);
    let status = child.wait();
    let stderr = child.stderr();
    assert_eq!(
        status.code(),
        Some(expected_code),
        "status {status:?} after SIG{signal}, stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let mut all = vec![String::from("1\n"), String::from("2\n")];
    all.extend(lines.rest());
    assert_counts_from_one(&all);
}

#[test]
fn sigint_stops_the_seed_loop_with_130() {
    stop_seed_loop("INT", 130);
}

#[test]
fn sigterm_stops_the_seed_loop_with_143() {
    stop_seed_loop("TERM", 143);
}

#[test]
fn sighup_stops_the_seed_loop_with_129() {
    stop_seed_loop("HUP", 129);
}

#[test]
fn sigint_interrupts_a_long_sleep() {
    let dir = TempDir::new("long-sleep");
    let program = dir.write("sleepy.mvasm", "PUT 1\nPRINT\nSLEEP 100000\nPUT 2\nPRINT\n");
    let mut child = Mova::spawn(&program);
    let lines = child.lines(None);
    // Output is flushed before the sleep, even into a pipe.
    assert_eq!(lines.take(1), ["1"]);
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    child.signal("INT");
    // The bounded wait is the check: the sleep would last 100 s.
    let status = child.wait();
    let stderr = child.stderr();
    assert_eq!(status.code(), Some(130), "{status:?}, stderr:\n{stderr}");
    assert!(
        start.elapsed() < Duration::from_secs(50),
        "{:?}",
        start.elapsed()
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        lines.rest(),
        Vec::<String>::new(),
        "nothing after the sleep ran"
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_program_quietly() {
    let dir = TempDir::new("broken-pipe");
    let program = dir.write("count.mvasm", "PUT 0\ntop: ADD 1\nPRINT\nGOTO top\n");
    let mut child = Mova::spawn(&program);
    let lines = child.lines(Some(3));
    assert_eq!(lines.take(3), ["1", "2", "3"]);
    // The reader thread has dropped the pipe after its third line.
    let status = child.wait();
    let stderr = child.stderr();
    assert_eq!(status.code(), Some(0), "{status:?}, stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr, "", "a closed pipe is not worth a message");
}

/// Runs `source` as `.mvb` (no source map: one line naming the instruction) and as `.mvasm`
/// (compiled in memory with a source map: a report showing the source line), and checks both trap
/// with a message containing each of `expected`.
fn assert_traps(name: &str, source: &str, expected: &[&str]) {
    let dir = TempDir::new(name);
    let asm_name = format!("{name}.mvasm");
    let asm = dir.write(&asm_name, source);
    let bin = assemble(&dir, &format!("{name}.mvb"), source);
    for (program, mapped) in [(bin, false), (asm, true)] {
        let assert = mova(&program)
            .arg("--color=never")
            .assert()
            .code(1)
            .stderr(no_panic());
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        if mapped {
            assert!(
                stderr.contains(&asm_name),
                "the report names the source:\n{stderr}"
            );
        } else {
            assert!(
                stderr.starts_with("error: trap at instruction "),
                "{stderr}"
            );
            assert_eq!(stderr.lines().count(), 1, "one line:\n{stderr}");
        }
        for part in expected {
            assert!(stderr.contains(part), "{part:?} missing from:\n{stderr}");
        }
    }
}

#[test]
fn stack_overflow_traps() {
    assert_traps(
        "overflow",
        "PUT 1\ntop: DUP\nGOTO top\n",
        &["instruction 1", "`DUP`", "stack overflow"],
    );
}

#[test]
fn integer_overflow_traps() {
    assert_traps(
        "int-overflow",
        "PUT 9223372036854775807\nADD 1\n",
        &["instruction 1", "`ADD 1`", "integer overflow"],
    );
}

#[test]
fn division_by_zero_traps() {
    assert_traps(
        "div-zero",
        "PUT 7\nPUT 0\nDIV\n",
        &["instruction 2", "`DIV`", "division by zero"],
    );
    assert_traps(
        "mod-zero",
        "PUT 7\nPUT 0\nMOD\n",
        &["instruction 2", "`MOD`", "division by zero"],
    );
}

#[test]
fn arrays_trap_on_a_bad_index_an_empty_pop_and_a_negative_length() {
    assert_traps(
        "index",
        "NEWI\nPUT 1\nAPPEND\nPUT 5\nGET\n",
        &[
            "instruction 4",
            "`GET`",
            "index out of bounds: the length is 1 but the index is 5",
        ],
    );
    assert_traps(
        "empty-pop",
        "NEWI\nREMOVE\n",
        &["`REMOVE`", "pop from an empty array: the length is 0"],
    );
    assert_traps(
        "negative-length",
        "PUT -4\nPUT 0\nFILL\n",
        &["`FILL`", "negative array length: -4"],
    );
}

#[test]
fn the_heap_limit_is_a_trap_never_an_abort() {
    let dir = TempDir::new("max-heap");
    // array(2^40, 0): a trap under the default 1 GiB limit, before anything is allocated.
    let huge = dir.write("huge.mvasm", "PUT 1099511627776\nPUT 0\nFILL\n");
    mova(&huge)
        .arg("--color=never")
        .assert()
        .code(1)
        .stderr(no_panic())
        .stderr(predicates::str::contains(
            "out of memory: the heap would hold 8796093022240 bytes, more than its limit of 1073741824 bytes (mova --max-heap)",
        ));
    // array(200000, 0) is 1.6 MB: fine by default, a trap under --max-heap 1M.
    let big = dir.write("big.mvasm", "PUT 200000\nPUT 0\nFILL\nLEN\nPRINT\n");
    mova(&big).assert().success().stdout("200000\n");
    for limit in ["1M", "1048576", "1024k", "1MiB"] {
        mova(&big)
            .args(["--max-heap", limit, "--color=never"])
            .assert()
            .code(1)
            .stderr(predicates::str::contains("limit of 1048576 bytes"));
    }
    for bad in [
        "0",
        "1X",
        "-5",
        "",
        "99999999999999999999",
        "16777216T",
        "2G",
        "1025M",
    ] {
        mova(&big)
            .args(["--max-heap", bad])
            .assert()
            .code(2)
            .stderr(no_panic());
    }
}

/// The peak resident memory of process `pid` in KiB, from `/proc/PID/status` (`VmHWM`).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_loop_that_makes_garbage_three_million_times_stays_under_64_mb() {
    let dir = TempDir::new("garbage");
    // 3,000,000 times: str(i) + str(i), dropped at once; then it prints the count and sleeps, so
    // that its peak memory can be read while it is still there.
    let program = dir.write(
        "garbage.mvasm",
        "PUT 0\nloop: DUP\nTOSTR\nRDUP\nCONCAT\nRPOP\nINCJLT 3000000, loop\nPRINT\nSLEEP 60000\n",
    );
    let mut mova = Mova::spawn(&program);
    let lines = mova.lines(Some(1));
    assert_eq!(lines.next().1, "3000000");
    let pid = mova.process().id();
    let peak = peak_rss_kib(pid).expect("/proc/PID/status has VmHWM");
    assert!(peak < 64 * 1024, "peak resident memory {peak} KiB");
}

#[test]
fn stack_underflow_traps() {
    assert_traps(
        "underflow",
        "POP\n",
        &["instruction 0", "`POP`", "stack underflow"],
    );
}

#[test]
fn output_before_a_trap_is_kept() {
    let dir = TempDir::new("trap-output");
    let program = dir.write("p.mvasm", "PUT 5\nPRINT\nPOP\nPOP\n");
    mova(&program)
        .assert()
        .code(1)
        .stdout("5\n")
        .stderr(predicate::str::contains("instruction 3"));
}

/// The lines an example's `; expect: ` (`.mvasm`) or `// expect: ` (`.mova`) comments give.
fn expected_output(source: &str) -> String {
    marked_lines(source, &["; expect: ", "// expect: "])
        .iter()
        .map(|value| format!("{value}\n"))
        .collect()
}

/// The `.mvb` bytes of an example, built with the library.
fn example_bytecode(path: &Path, source: &str) -> Vec<u8> {
    if path.extension().is_some_and(|ext| ext == "mova") {
        match mova_compiler::compile::compile(source, None) {
            Ok(compiled) => compiled.program.encode(),
            Err(errors) => panic!("cannot compile {}: {errors:?}", path.display()),
        }
    } else {
        mvb(source)
    }
}

/// Every example (`.mova` and `.mvasm`) runs, both from its source and from its bytecode, and
/// prints exactly what its `expect` comments say: the one data-driven runner for `examples/`.
#[test]
fn examples_print_what_they_expect() {
    let mut examples: Vec<PathBuf> = ["mvasm", "mova"]
        .into_iter()
        .flat_map(|extension| files_with_extension(examples(), extension))
        // The seed loop never ends; its own tests read a few lines and stop it.
        .filter(|path| stem(path) != "loop")
        .collect();
    examples.sort();
    let dir = TempDir::new("examples");
    for example in examples {
        let source = fs::read_to_string(&example).unwrap();
        let expected = expected_output(&source);
        assert!(
            !expected.is_empty(),
            "{} has no `expect: ` lines",
            example.display()
        );
        let name = example.file_name().unwrap().to_string_lossy().into_owned();
        let bytecode = dir.write(format!("{name}.mvb"), example_bytecode(&example, &source));
        for program in [example.as_path(), bytecode.as_path()] {
            mova(program)
                .assert()
                .success()
                .stdout(expected.clone())
                .stderr("");
        }
    }
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next().to_le_bytes()[0]).collect()
    }

    fn below(&mut self, bound: u64) -> usize {
        usize::try_from(self.next() % bound).unwrap()
    }
}

/// Runs `bytes` as a `.mvb` file and checks it is refused as unloadable: status 3 (never 101, a
/// panic), one `error: ` message, no panic, no output.
fn assert_refused(dir: &TempDir, what: &str, bytes: &[u8]) -> String {
    let path = dir.write("bad.mvb", bytes);
    let output = mova(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let context = format!(
        "{what} ({bytes:02X?}): {:?}, stderr:\n{stderr}",
        output.status
    );
    assert_ne!(output.status.code(), Some(101), "panicked: {context}");
    assert_eq!(output.status.code(), Some(3), "{context}");
    assert!(stderr.starts_with("error: "), "{context}");
    assert!(!stderr.contains("panicked"), "{context}");
    assert!(output.stdout.is_empty(), "{context}");
    stderr
}

#[test]
fn every_truncation_of_a_valid_file_is_refused() {
    let dir = TempDir::new("truncations");
    let good = mvb(&example_source("loop.mvasm"));
    for len in 0..good.len() {
        let stderr = assert_refused(&dir, &format!("first {len} bytes"), &good[..len]);
        assert!(stderr.contains("truncated"), "{len} bytes: {stderr}");
    }
}

/// Checks that `mova` refuses 50 files, each `prefix` followed by up to 200 random bytes.
fn assert_random_tails_refused(dir: &TempDir, rng: &mut XorShift, prefix: &[u8], what: &str) {
    for case in 0..50 {
        let len = rng.below(200);
        let mut bytes = prefix.to_vec();
        bytes.extend(rng.bytes(len));
        assert_refused(dir, &format!("{what} case {case}"), &bytes);
    }
}

#[test]
fn random_bytes_are_refused() {
    let dir = TempDir::new("random");
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    assert_random_tails_refused(&dir, &mut rng, &[], "random");
}

#[test]
fn random_bytes_after_the_signature_are_refused() {
    let dir = TempDir::new("random-signed");
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    assert_random_tails_refused(&dir, &mut rng, &SIGNATURE, "signed random");
    // Plausible headers (version 1, no flags) with random counts and contents.
    let header = [&SIGNATURE[..], &[0, 1, 0, 0]].concat();
    assert_random_tails_refused(&dir, &mut rng, &header, "versioned random");
}

#[test]
fn a_flipped_byte_is_refused() {
    let dir = TempDir::new("flipped");
    let good = mvb(&example_source("loop.mvasm"));
    // A flip in the code section: only the checksum can tell.
    let mut bytes = good.clone();
    bytes[25] ^= 0x40;
    let stderr = assert_refused(&dir, "flipped code byte", &bytes);
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    // A flip anywhere is refused, whatever the part it hits.
    for at in 0..good.len() {
        let mut bytes = good.clone();
        bytes[at] ^= 0x01;
        assert_refused(&dir, &format!("byte {at} flipped"), &bytes);
    }
}

#[test]
fn unloadable_programs_exit_3() {
    let dir = TempDir::new("unloadable");
    mova(&dir.join("absent.mvb"))
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::starts_with("error: cannot read `"))
        .stderr(predicate::str::contains("absent.mvb"))
        .stderr(no_panic());
    mova(&dir.join("absent.mvasm"))
        .assert()
        .code(3)
        .stderr(predicate::str::starts_with("error: cannot read `"));

    let text = dir.write("notes.txt", "PUT 1\nPRINT\n");
    mova(&text)
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::starts_with("error: unsupported input"))
        .stderr(predicate::str::contains(
            "expected a `.mova`, `.mvasm` or `.mvb` file",
        ))
        .stderr(no_panic());

    let bad = dir.write("bad.mvasm", "PUT\nFROB 3\nPRINT\n");
    let assert = mova(&bad)
        .args(["--color", "never"])
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::contains("[A0004]"))
        .stderr(predicate::str::contains("[A0003]"))
        .stderr(predicate::str::contains("error: could not assemble `"))
        .stderr(no_panic());
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    let mut command = Command::cargo_bin("mova").unwrap();
    command.env("MOVA_RUNTIME_DIR", RUNTIME_DIR);
    command
        .timeout(TIMEOUT)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("Usage:"));
    let dir = TempDir::new("usage");
    let program = seed_loop(&dir);
    mova(&program).arg("--no-such-flag").assert().code(2);
    mova(&program)
        .args(["--color", "sometimes"])
        .assert()
        .code(2);
}

#[test]
fn a_trap_in_a_mova_source_points_at_its_line() {
    let dir = TempDir::new("source-trap");
    let program = dir.write(
        "overflow.mova",
        "var x = 9223372036854775806;\nloop {\n    x++;\n    print(x);\n}\n",
    );
    let assert = mova(&program)
        .arg("--color=never")
        .assert()
        .code(1)
        .stdout("9223372036854775807\n")
        .stderr(no_panic());
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("integer overflow"), "{stderr}");
    assert!(
        stderr.contains("overflow.mova:3:5"),
        "the report points at `x++`:\n{stderr}"
    );
    assert!(
        stderr.contains(" 3 │     x++;"),
        "the report shows the line:\n{stderr}"
    );
    assert!(stderr.contains("instruction 1 (`ADD 1`)"), "{stderr}");
}

#[test]
fn running_a_source_shows_its_warnings_and_refuses_its_errors() {
    let dir = TempDir::new("source-diagnostics");
    let warned = dir.write("warned.mova", "var unused = 1;\nprint(2);\n");
    mova(&warned)
        .arg("--color=never")
        .assert()
        .success()
        .stdout("2\n")
        .stderr(predicate::str::contains("[W0001]"));
    let bad = dir.write("bad.mova", "print(y);\n");
    mova(&bad)
        .arg("--color=never")
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::contains("[E0005]"))
        .stderr(predicate::str::contains("could not compile"));
}

/// Each file limit, through the binary: a file one byte over it is refused as too large (exit 3)
/// without being read whole, and one exactly at it is read and judged by its content. An endless
/// input (a FIFO that never ends) is refused the same way instead of being read for ever.
#[test]
fn files_over_their_limits_are_refused() {
    use mova_compiler::driver::{InputKind, MAX_SOURCE_LEN};
    use mova_lang::image::MAX_IMAGE_LEN;
    use mova_lang::mvb::MAX_FILE_LEN;
    let dir = TempDir::new("limits");
    let sparse = |name: &str, len: usize| {
        let path = dir.join(name);
        fs::File::create(&path)
            .unwrap()
            .set_len(u64::try_from(len).unwrap())
            .unwrap();
        path
    };
    let too_large = |limit: usize| format!("is too large: the limit is {limit} bytes");

    for (name, limit) in [
        ("big.mvb", MAX_FILE_LEN),
        ("big.mova", MAX_SOURCE_LEN),
        ("big.mvasm", InputKind::Assembly.max_len()),
    ] {
        let path = sparse(name, limit + 1);
        mova(&path)
            .assert()
            .code(3)
            .stderr(predicate::str::contains(too_large(limit)).and(no_panic()));
    }
    let image = sparse("big.mvs", MAX_IMAGE_LEN + 1);
    mova(&seed_loop(&dir))
        .arg("--restore")
        .arg(&image)
        .assert()
        .code(3)
        .stderr(predicate::str::contains(too_large(MAX_IMAGE_LEN)).and(no_panic()));

    // At the limit: read, then refused for what it holds (zeros are not a .mvb).
    let path = sparse("full.mvb", MAX_FILE_LEN);
    mova(&path)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("too large").not().and(no_panic()));

    // An endless .mvb: a FIFO fed zeros until the reader hangs up.
    let fifo = dir.join("endless.mvb");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let Ok(mut pipe) = fs::OpenOptions::new().write(true).open(&fifo) else {
                return 0usize;
            };
            let zeros = vec![0u8; 1 << 20];
            let mut written = 0;
            while pipe.write_all(&zeros).is_ok() {
                written += zeros.len();
            }
            written
        })
    };
    mova(&fifo)
        .assert()
        .code(3)
        .stderr(predicate::str::contains(too_large(MAX_FILE_LEN)).and(no_panic()));
    {
        // Should mova not have opened the FIFO, this unblocks the writer so it cannot hang.
        use std::os::unix::fs::OpenOptionsExt;
        let _ = fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(&fifo);
    }
    let written = writer.join().unwrap();
    assert!(
        written <= MAX_FILE_LEN + (2 << 20),
        "mova read {written} bytes of an endless file"
    );
}

/// What the seed program's state at its `PRINT` with an empty stack is refused with.
const NO_COUNTER_AT_PRINT: &str =
    "the stack holds 0 values at IP 2 (`PRINT`), but a run of the program has 1 value there";

/// An edited image whose stack cannot be at its IP — the seed's `PRINT` with no value, resealed —
/// is refused by `mova --restore` before anything runs, with the program given or carried.
#[test]
fn restoring_a_stack_that_cannot_be_at_its_ip_is_refused() {
    use mova_lang::strategies::seed_image_without_its_counter;
    let dir = TempDir::new("impossible-stack");
    let image = dir.write("edited.mvs", seed_image_without_its_counter(false));
    mova(&seed_loop(&dir))
        .arg("--restore")
        .arg(&image)
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::starts_with("error: cannot restore `"))
        .stderr(predicate::str::contains(NO_COUNTER_AT_PRINT).and(no_panic()));

    let carried = dir.write("carried.mvs", seed_image_without_its_counter(true));
    Command::cargo_bin("mova")
        .unwrap()
        .env("MOVA_RUNTIME_DIR", RUNTIME_DIR)
        .arg("--restore")
        .arg(&carried)
        .timeout(TIMEOUT)
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::starts_with("error: cannot load `"))
        .stderr(predicate::str::contains(NO_COUNTER_AT_PRINT).and(no_panic()));
}

/// A running VM asked to restore that image refuses it and runs on as it was: same program, the
/// count going on from where it was, no hold taken.
#[test]
fn a_running_vm_refuses_a_stack_that_cannot_be_at_its_ip_and_runs_on() {
    use mova_lang::strategies::seed_image_without_its_counter;
    use mova_vm::client::{Client, ClientError};
    use mova_vm::protocol::MigrationId;
    use mova_vm::runtime::Record;
    let dir = TempDir::new("impossible-stack-running");
    let mut child = Mova::spawn(&seed_loop(&dir));
    let lines = child.lines(None);
    // Once a line is out, the VM runs, and its runtime record is written.
    assert_eq!(lines.take(2), ["1", "2"]);
    let record = Record::read(Path::new(RUNTIME_DIR), (child.0).0.id()).unwrap();
    let mut client = Client::to_record(&record).unwrap();
    let before = client.info().unwrap();

    for with_program in [false, true] {
        match client.restore(
            MigrationId([7; 16]),
            seed_image_without_its_counter(with_program),
        ) {
            Err(ClientError::Refused(reason)) => assert_eq!(
                reason,
                format!("refused the image: {NO_COUNTER_AT_PRINT}"),
                "with_program: {with_program}"
            ),
            other => panic!("the image was not refused: {other:?}"),
        }
    }
    let after = client.info().unwrap();
    assert_eq!(
        after.state,
        mova_vm::protocol::VmState::Running,
        "{after:?}"
    );
    assert!(!after.held, "{after:?}");
    assert_eq!(after.restores, 0, "{after:?}");
    let hash = |info: &mova_vm::protocol::VmInfo| {
        info.loaded
            .as_ref()
            .map(|loaded| loaded.program_hash.clone())
    };
    assert!(
        hash(&after).is_some() && hash(&after) == hash(&before),
        "{after:?}"
    );
    // The count goes on: nothing was replaced.
    let mut all = vec![String::from("1\n"), String::from("2\n")];
    all.extend(lines.take(3).into_iter().map(|line| line + "\n"));
    assert_counts_from_one(&all);
}

/// `-` reads the program from standard input: bytecode when it starts with the signature, else
/// a `.mova` source, named `<stdin>` in diagnostics.
#[test]
fn dash_reads_the_program_from_standard_input() {
    let source = example_source("countdown.mova");
    let expected = expected_output(&source);
    let dir = TempDir::new("stdin");
    mova(Path::new("-"))
        .current_dir(dir.join("."))
        .write_stdin(source.clone())
        .assert()
        .success()
        .stdout(expected.clone());
    mova(Path::new("-"))
        .current_dir(dir.join("."))
        .write_stdin(
            mova_compiler::compile::compile(&source, None)
                .unwrap()
                .program
                .encode(),
        )
        .assert()
        .success()
        .stdout(expected);
    mova(Path::new("-"))
        .current_dir(dir.join("."))
        .write_stdin("print(y);\n")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("<stdin>:1:7"))
        .stderr(no_panic());
}
