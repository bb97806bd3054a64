//! End-to-end tests of `movahv`'s command line as a tool among others: `ps` with VMs that do not
//! answer and junk in the runtime directory, output that cannot be written (for all three
//! binaries), commands that fail without side effects, messages and help texts, and what
//! `mova serve` says when it starts. Real processes throughout, every wait bounded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

mod common;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use std::fs;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// `movac`, built beside `mova`.
fn movac_path() -> PathBuf {
    let path = mova_path().with_file_name("movac");
    assert!(
        path.is_file(),
        "the `movac` binary is not at {}: build it first with `cargo build -p mova-compiler`, or \
         run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// Where a command's standard output goes.
#[derive(Clone, Copy, Debug)]
enum Sink {
    /// `/dev/full`: every write fails with "no space left on device".
    Full,
    /// A pipe whose reader is already gone: every write fails with a broken pipe.
    Closed,
    /// A pipe that is read to the end.
    Read,
}

/// Runs `program ARGS` in the sandbox with its standard output going to `sink` and `input` on its
/// standard input; kills it and fails after [`TIMEOUT`]. Its standard error is collected.
fn run_into(
    sandbox: &Sandbox,
    program: &Path,
    args: &[&str],
    sink: Sink,
    input: Option<&str>,
) -> Output {
    let mut command = Command::new(program);
    command.args(args).stderr(Stdio::piped());
    sandbox.isolate(&mut command);
    match sink {
        Sink::Full => {
            command.stdout(
                fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            );
        }
        Sink::Closed => {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            command.stdout(writer);
        }
        Sink::Read => {
            command.stdout(Stdio::piped());
        }
    }
    if let Some(input) = input {
        let (reader, mut writer) = std::io::pipe().unwrap();
        std::io::Write::write_all(&mut writer, input.as_bytes()).unwrap();
        drop(writer);
        command.stdin(reader);
    } else {
        command.stdin(Stdio::null());
    }
    let shown = format!("{} {}", program.display(), args.join(" "));
    let mut child = ChildGuard(command.spawn().unwrap());
    let mut stderr = child.0.stderr.take().unwrap();
    let stderr = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let stdout = child.0.stdout.take().map(|mut stdout| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout.read_to_end(&mut bytes);
            bytes
        })
    });
    let status = child
        .wait_within(TIMEOUT)
        .unwrap_or_else(|| panic!("`{shown}` did not finish within {TIMEOUT:?}"));
    Output {
        status,
        stdout: stdout.map_or_else(Vec::new, |thread| thread.join().unwrap()),
        stderr: stderr.join().unwrap(),
    }
}

/// Stops a process with SIGSTOP for the life of the value; SIGCONT however the test ends.
struct Stopped(u32);

impl Stopped {
    fn new(vm: &Vm) -> Stopped {
        kill(
            Pid::from_raw(i32::try_from(vm.pid).unwrap()),
            Signal::SIGSTOP,
        )
        .unwrap();
        // Wait until the kernel shows it stopped (`T` in /proc/PID/stat).
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let stat = fs::read_to_string(format!("/proc/{}/stat", vm.pid)).unwrap();
            let state = stat.rsplit_once(')').unwrap().1.trim_start();
            if state.starts_with('T') {
                return Stopped(vm.pid);
            }
            assert!(Instant::now() < deadline, "{} does not stop", vm.name);
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Ok(raw) = i32::try_from(self.0) {
            let _ = kill(Pid::from_raw(raw), Signal::SIGCONT);
        }
    }
}

/// The `ps` table's row for `pid`.
fn row(table: &str, pid: u32) -> String {
    table
        .lines()
        .find(|line| line.split_whitespace().next() == Some(&pid.to_string()))
        .unwrap_or_else(|| panic!("no row for {pid} in:\n{table}"))
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// `ps` and the runtime directory

#[test]
fn ps_shows_stopped_vms_as_not_answering_without_waiting_for_them() {
    let sandbox = Sandbox::with_loop("ps-stopped");
    let mut running = sandbox.start(&["loop.mvb"]);
    let stopped_vms: Vec<Vm> = (0..4).map(|_| sandbox.start(&["loop.mvb"])).collect();
    let _stopped: Vec<Stopped> = stopped_vms.iter().map(Stopped::new).collect();
    running.take(1);

    // Four VMs that accept connections (the kernel completes the handshake) but never answer:
    // asked one after another with a second each, `ps` would take four.
    for args in [&["ps"][..], &["ps", "--json"]] {
        let start = Instant::now();
        let out = sandbox.hv_ok(args);
        let elapsed = start.elapsed();
        assert!(
            elapsed < Duration::from_millis(3900),
            "`movahv {}` took {elapsed:?}",
            args.join(" ")
        );
        if args.len() == 1 {
            assert!(row(&out, running.pid).contains("running"), "{out}");
            for vm in &stopped_vms {
                assert!(row(&out, vm.pid).contains("not answering"), "{out}");
            }
        } else {
            let entries: Vec<Value> = serde_json::from_str(&out).unwrap();
            let state = |pid: u32| {
                entries
                    .iter()
                    .find(|entry| entry["pid"] == pid)
                    .unwrap_or_else(|| panic!("{pid} is not listed: {out}"))["state"]
                    .clone()
            };
            assert_eq!(state(running.pid), "running", "{out}");
            for vm in &stopped_vms {
                assert_eq!(state(vm.pid), "not answering", "{out}");
            }
        }
    }
    running.take(3);
    running.assert_counts_from(1);
}

#[test]
fn junk_in_the_runtime_directory_blocks_neither_ps_nor_a_new_vm() {
    let sandbox = Sandbox::with_loop("ps-fifo");
    // A FIFO named like the record of a live process (this test's), and one of a dead one: opening
    // either for reading the usual way waits for a writer forever.
    let me = std::process::id();
    let fifos = [
        sandbox.run.join(format!("{me}.json")),
        sandbox.run.join("4000000000.json"),
    ];
    for fifo in &fifos {
        let status = Command::new("mkfifo").arg(fifo).status().unwrap();
        assert!(status.success(), "mkfifo {}", fifo.display());
    }
    let directory = sandbox.run.join("4000000001.json");
    fs::create_dir(&directory).unwrap();

    // A VM starting prunes the directory before it writes its record.
    let mut vm = sandbox.start(&["loop.mvb"]);
    vm.take(1);

    let output = sandbox.hv(&["ps", "--json"]);
    assert!(output.status.success(), "{}", describe(&output));
    let entries: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(entries.len(), 1, "{}", describe(&output));
    assert_eq!(entries[0]["pid"], vm.pid, "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for (path, kind) in [
        (&fifos[0], "a FIFO"),
        (&fifos[1], "a FIFO"),
        (&directory, "a directory"),
    ] {
        let line = stderr
            .lines()
            .find(|line| line.contains(&path.display().to_string()))
            .unwrap_or_else(|| panic!("no warning names {}: {stderr}", path.display()));
        assert!(line.starts_with("warning: "), "{line}");
        assert!(line.contains(kind), "{line}");
    }
    // Neither `ps` nor the VM removed what is not a record.
    for fifo in &fifos {
        assert!(
            fs::symlink_metadata(fifo).unwrap().file_type().is_fifo(),
            "{} was removed",
            fifo.display()
        );
    }
    assert!(directory.is_dir());

    // A command naming that pid does not hang on the FIFO either.
    let stderr = sandbox.hv_fails(&["interrupt", &me.to_string()], 1);
    assert!(
        stderr.contains(&format!("no Mova VM with pid {me}")),
        "{stderr}"
    );
    vm.take(3);
    vm.assert_counts_from(1);
}

// ---------------------------------------------------------------------------------------------
// Output that cannot be written

/// An image of the seed loop, saved by a real VM.
fn saved_image(sandbox: &Sandbox) {
    sandbox.write("loop.mova", FAST_LOOP);
    let mut vm = sandbox.start(&["loop.mova"]);
    vm.take(1);
    sandbox.hv_ok(&["rstate", &vm.id(), "-o", "state.mvs"]);
}

#[test]
fn output_that_cannot_be_written_is_an_error_and_a_closed_pipe_ends_quietly() {
    let sandbox = Sandbox::new("output-errors");
    saved_image(&sandbox);
    sandbox.compile("loop.mvb", FAST_LOOP);
    let _vm = sandbox.start(&["loop.mvb"]);
    let movahv = PathBuf::from(MOVAHV);
    let (mova, movac) = (mova_path(), movac_path());
    // Each command, the input it reads (the shell's script) and its status when its output fails.
    let commands: Vec<(&Path, Vec<&str>, Option<&str>, i32)> = vec![
        (&movahv, vec!["ps"], None, 1),
        (&movahv, vec!["ps", "--json"], None, 1),
        (&movahv, vec!["inspect", "state.mvs"], None, 1),
        (&movahv, vec!["inspect", "--json", "state.mvs"], None, 1),
        (&movahv, vec!["--help"], None, 1),
        (&movahv, vec!["--version"], None, 1),
        (&movahv, vec!["wstate", "--help"], None, 1),
        (&movahv, vec![], Some("ps\n"), 1),
        (&movahv, vec![], Some("help\n"), 1),
        (&mova, vec!["--help"], None, 4),
        (&mova, vec!["--version"], None, 4),
        (&mova, vec!["serve", "--help"], None, 4),
        (&movac, vec!["--help"], None, 1),
        (&movac, vec!["--version"], None, 1),
    ];
    for (program, args, input, failure) in commands {
        let shown = format!(
            "{} {}{}",
            program.file_name().unwrap().to_string_lossy(),
            args.join(" "),
            input.map_or_else(String::new, |input| format!(" <<< {input:?}"))
        );
        // It has something to say.
        let output = run_into(&sandbox, program, &args, Sink::Read, input);
        assert!(output.status.success(), "`{shown}`: {}", describe(&output));
        assert!(!output.stdout.is_empty(), "`{shown}` printed nothing");

        let output = run_into(&sandbox, program, &args, Sink::Full, input);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(failure),
            "`{shown} > /dev/full`: {}",
            describe(&output)
        );
        assert!(
            stderr.ends_with(
                "error: cannot write to standard output: No space left on device (os error 28)\n"
            ),
            "`{shown} > /dev/full`: {}",
            describe(&output)
        );
        assert!(!stderr.contains("panicked"), "`{shown}`: {stderr}");

        let output = run_into(&sandbox, program, &args, Sink::Closed, input);
        assert_eq!(
            output.status.code(),
            Some(0),
            "`{shown}` into a closed pipe: {}",
            describe(&output)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "",
            "`{shown}` into a closed pipe"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Failed commands change nothing

/// Checks that `vm` prints on (it runs) and that `ps` says so.
fn assert_runs(sandbox: &Sandbox, vm: &mut Vm) {
    vm.read_past(Instant::now());
    let entry = sandbox.ps_entry(vm);
    assert_eq!(entry["state"], "running", "{}: {entry}", vm.name);
}

#[test]
fn a_failed_rstate_leaves_the_vm_as_it_was() {
    let sandbox = Sandbox::with_loop("rstate-fails");
    let mut vm = sandbox.start(&["loop.mvb"]);
    let id = vm.id();
    vm.take(3);

    // A directory that does not exist: refused before the VM is touched.
    let stderr = sandbox.hv_fails(&["rstate", &id, "-o", "/nonexistent/dir/s.mvs"], 1);
    assert!(stderr.contains("/nonexistent/dir/s.mvs"), "{stderr}");
    assert_runs(&sandbox, &mut vm);

    // Standard output full: the state was read, could not be written, and the VM runs on.
    for args in [&["rstate", &id, "-o", "-"][..], &["rstate", &id]] {
        let output = run_into(&sandbox, Path::new(MOVAHV), args, Sink::Full, None);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("cannot write to standard output"),
            "{stderr}"
        );
        assert!(stderr.contains("runs on as before"), "{stderr}");
        assert_runs(&sandbox, &mut vm);
    }

    // A terminal: refused before the VM is touched (`script` gives the command a terminal).
    let command = format!("{MOVAHV} rstate {id}");
    let output = sandbox.run("script", &["-qec", &command, "/dev/null"], None);
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("refusing to write a binary image to a terminal"),
        "{}",
        describe(&output)
    );
    assert_runs(&sandbox, &mut vm);

    // A VM that was paused stays paused when the write fails.
    sandbox.hv_ok(&["interrupt", &id]);
    vm.drain_until_quiet();
    let output = run_into(
        &sandbox,
        Path::new(MOVAHV),
        &["rstate", &id],
        Sink::Full,
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("stays paused as before"),
        "{}",
        describe(&output)
    );
    vm.assert_quiet();
    assert_eq!(sandbox.ps_entry(&vm)["state"], "paused");
    sandbox.hv_ok(&["resume", &id]);
    assert_runs(&sandbox, &mut vm);
    vm.assert_counts_from(1);
}

#[test]
fn a_failed_wstate_leaves_the_source_as_it_was() {
    let (sandbox, mut source, mut other) = Sandbox::with_source_and_other("wstate-fails");

    // The target runs another program and refuses the image: the source runs on.
    let stderr = sandbox.hv_fails(&["wstate", &source.id(), &other.id()], 1);
    assert!(stderr.contains("refused the image"), "{stderr}");
    assert!(stderr.contains("runs on as before"), "{stderr}");
    assert_runs(&sandbox, &mut source);
    assert_runs(&sandbox, &mut other);

    // No VM has that pid: nothing is touched.
    let stderr = sandbox.hv_fails(&["wstate", &source.id(), "4000000000"], 1);
    assert!(
        stderr.contains("no Mova VM with pid 4000000000"),
        "{stderr}"
    );
    assert_runs(&sandbox, &mut source);

    // Into itself: refused, nothing is touched.
    let stderr = sandbox.hv_fails(&["wstate", &source.id(), &source.id()], 2);
    assert!(stderr.contains("itself"), "{stderr}");
    assert_runs(&sandbox, &mut source);

    // A paused source stays paused.
    sandbox.hv_ok(&["interrupt", &source.id()]);
    source.drain_until_quiet();
    let stderr = sandbox.hv_fails(&["wstate", &source.id(), &other.id()], 1);
    assert!(stderr.contains("stays paused as before"), "{stderr}");
    source.assert_quiet();
    assert_eq!(sandbox.ps_entry(&source)["state"], "paused");
    sandbox.hv_ok(&["resume", &source.id()]);
    assert_runs(&sandbox, &mut source);
    source.assert_counts_from(1);
    other.assert_counts_from(1001);
}

// ---------------------------------------------------------------------------------------------
// Messages and help

#[test]
fn wstate_from_a_missing_file_says_so() {
    let sandbox = Sandbox::with_loop("wstate-missing");
    let mut vm = sandbox.start(&["loop.mvb"]);
    let stderr = sandbox.hv_fails(&["wstate", "nonexist.mvs", &vm.id()], 1);
    assert_eq!(
        stderr,
        "error: cannot read `nonexist.mvs`: there is no such file, and it is not a pid or a \
         host:port\n"
    );
    assert_runs(&sandbox, &mut vm);
}

/// Every command of `movahv`, from its own `--help`.
fn subcommands(sandbox: &Sandbox) -> Vec<String> {
    let help = sandbox.hv_ok(&["--help"]);
    help.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn help_texts_name_their_arguments_plainly() {
    let sandbox = Sandbox::new("help");
    let commands = subcommands(&sandbox);
    assert!(commands.len() >= 10, "{commands:?}");
    let mut all = sandbox.hv_ok(&["--help"]);
    for command in &commands {
        let help = sandbox.hv_ok(&[command, "--help"]);
        // A placeholder is one plain name: `<FROM|FILE] [TO>` is clap quoting a name that tried
        // to draw the syntax itself.
        for placeholder in help
            .split('<')
            .skip(1)
            .filter_map(|rest| rest.split_once('>'))
        {
            let name = placeholder.0;
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c == '_' || c == '-'),
                "`movahv {command} --help` has the placeholder <{name}>:\n{help}"
            );
        }
        all.push_str(&format!("\n$ movahv {command} --help\n{help}"));
    }
    mova_testkit::assert_snapshot!("movahv", "help", all);
}

// ---------------------------------------------------------------------------------------------
// What `mova` says when it waits

#[test]
fn a_waiting_vm_says_where_it_listens() {
    let sandbox = Sandbox::with_loop("serve-line");
    for (args, says) in [
        (&["serve"][..], "waiting for a state image"),
        (&["--paused", "loop.mvb"], "paused, waiting for a resume"),
    ] {
        let vm = sandbox.start(args);
        // What `ps` shows: the pid, and the address with the port.
        let entry = sandbox.ps_entry(&vm);
        let addr = entry["addr"].as_str().unwrap();
        assert!(addr.ends_with(&format!(":{}", entry["port"])), "{entry}");
        let line = format!("mova[{}]: listening on {addr}: {says}\n", vm.pid);
        assert_eq!(vm.wait_stderr(&line), line, "{}", vm.name);
    }
    // A VM that runs at once says nothing.
    let mut vm = sandbox.start(&["loop.mvb"]);
    vm.take(3);
    assert_eq!(vm.stderr(), "", "{}", vm.name);
}
