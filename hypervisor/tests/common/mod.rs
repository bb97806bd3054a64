//! What the hypervisor's end-to-end tests share: a sandbox per test (a temporary directory and a
//! private runtime directory), VMs started as real processes whose output is read line by line,
//! and bounded waits. Every child is killed and reaped however a test ends, and every wait is
//! bounded by [`TIMEOUT`]. Timing is never asserted beyond generous hang guards: a VM that must be
//! paused is checked by seeing no line for [`QUIET`], and "nothing lost, nothing repeated" by the
//! printed values being exactly 1, 2, 3, …

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

pub mod functions;
pub mod proxy;

pub use mova_testkit::{ChildGuard, TIMEOUT};

use mova_testkit::TempDir;
use mova_vm::runtime::Record;
use serde_json::Value;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a VM that should be paused must stay silent (its loop prints every 10 ms).
pub const QUIET: Duration = Duration::from_millis(300);

/// The seed loop, ten times faster: prints 1, 2, 3, … every 10 ms.
pub const FAST_LOOP: &str = "var i = 0;\nloop:\n    i++;\n    print(i);\n    sleep(10);\n";

/// Another program (another hash): prints 1001, 1002, … every 10 ms.
pub const OTHER_LOOP: &str = "var i = 1000;\nloop:\n    i++;\n    print(i);\n    sleep(10);\n";

/// A loop with no sleep and no output: only a backward jump can notice an interrupt.
pub const TIGHT_LOOP: &str = "var i = 0;\nloop {\n    i++;\n}\n";

/// The hypervisor under test.
pub const MOVAHV: &str = env!("CARGO_BIN_EXE_movahv");

/// The `mova` binary (another package's): `target/<profile>/mova`, next to this test's `deps/`.
pub fn mova_path() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("mova"))
        .expect("the test binary lies in target/<profile>/deps");
    assert!(
        path.is_file(),
        "the `mova` binary is not at {}: build it first with `cargo build -p mova-vm`, or run the \
         tests with `cargo test --workspace`, which builds every binary",
        path.display()
    );
    path
}

/// The `.mvb` bytes of a `.mova` source, compiled with the library.
pub fn mvb(source: &str) -> Vec<u8> {
    match mova_compiler::compile::compile(source, None) {
        Ok(compiled) => compiled.program.encode(),
        Err(errors) => panic!("cannot compile {source:?}: {errors:?}"),
    }
}

/// Checks that `values` are exactly `first`, `first + 1`, … with no gap and no repeat.
pub fn assert_consecutive(values: &[i64], first: i64, what: &str) {
    let expected: Vec<i64> = (first..).take(values.len()).collect();
    assert_eq!(
        values,
        expected,
        "{what}: not exactly {first}, {}, … with no gap or repeat",
        first + 1
    );
}

/// Checks that what `vms` printed, one after another, is 1, 2, 3, … with no gap or repeat: one
/// computation that moved from VM to VM, losing and repeating nothing.
pub fn assert_counts_across(vms: &[&Vm], what: &str) {
    let values: Vec<i64> = vms.iter().flat_map(|vm| vm.values()).collect();
    assert_consecutive(&values, 1, what);
}

/// What a finished command said, for failure messages.
pub fn describe(output: &Output) -> String {
    format!(
        "{:?}\n--- stdout:\n{}\n--- stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A test's private world: a temporary directory (the current directory of everything started)
/// holding the programs, and `run/`, the runtime directory every VM and `movahv` is given.
pub struct Sandbox {
    pub dir: TempDir,
    pub run: PathBuf,
}

impl Sandbox {
    pub fn new(name: &str) -> Sandbox {
        let dir = TempDir::new(&format!("migration-{name}"));
        let run = dir.join("run");
        fs::create_dir(&run).unwrap();
        // `mova` refuses a runtime directory others can open.
        fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
        Sandbox { dir, run }
    }

    /// A sandbox holding `loop.mvb`, [`FAST_LOOP`] compiled.
    pub fn with_loop(name: &str) -> Sandbox {
        let sandbox = Sandbox::new(name);
        sandbox.compile("loop.mvb", FAST_LOOP);
        sandbox
    }

    /// How most migration tests begin: a sandbox with [`FAST_LOOP`] running in a source VM, its
    /// first three values read, and `N` blank VMs waiting for a state image.
    pub fn with_source_and_blanks<const N: usize>(name: &str) -> (Sandbox, Vm, [Vm; N]) {
        let sandbox = Sandbox::with_loop(name);
        let mut source = sandbox.start(&["loop.mvb"]);
        let blanks = std::array::from_fn(|_| sandbox.start(&["serve"]));
        source.take(3);
        (sandbox, source, blanks)
    }

    /// A sandbox with [`FAST_LOOP`] running in one VM, its first three values read, and
    /// [`OTHER_LOOP`] (another program, so it refuses the first's state) in another.
    pub fn with_source_and_other(name: &str) -> (Sandbox, Vm, Vm) {
        let sandbox = Sandbox::with_loop(name);
        sandbox.compile("other.mvb", OTHER_LOOP);
        let mut source = sandbox.start(&["loop.mvb"]);
        let other = sandbox.start(&["other.mvb"]);
        source.take(3);
        (sandbox, source, other)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `contents` to `name` in the sandbox.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) {
        self.dir.write(name, contents);
    }

    /// Compiles `source` into `name` (a `.mvb`) in the sandbox.
    pub fn compile(&self, name: &str, source: &str) {
        self.write(name, mvb(source));
    }

    /// Points a command at the sandbox: its runtime directory, its directory as the current one
    /// and as `HOME` (the shell keeps its history there).
    pub fn isolate(&self, command: &mut Command) {
        command
            .env("MOVA_RUNTIME_DIR", &self.run)
            .env("MOVA_CONFIG_DIR", self.dir.path().join("config"))
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path());
    }

    /// Starts `mova ARGS` and waits for its runtime record.
    pub fn start(&self, args: &[&str]) -> Vm {
        let mut command = Command::new(mova_path());
        command.args(args);
        self.start_command(command, &format!("mova {}", args.join(" ")))
    }

    /// Starts `command` (which runs a `mova`, maybe through `ip netns exec`) and waits for the
    /// runtime record of its pid.
    pub fn start_command(&self, mut command: Command, name: &str) -> Vm {
        self.isolate(&mut command);
        Vm::spawn(command, &self.run, name)
    }

    /// Runs `program ARGS` in the sandbox to completion (killed after [`TIMEOUT`]), with `input`
    /// on its standard input.
    pub fn run(&self, program: impl AsRef<OsStr>, args: &[&str], input: Option<&str>) -> Output {
        self.run_within(program, args, input, TIMEOUT)
    }

    /// Like [`run`](Self::run), killed after `timeout`: for a command that must wait out lost
    /// answers (a partition) before it reports.
    pub fn run_within(
        &self,
        program: impl AsRef<OsStr>,
        args: &[&str],
        input: Option<&str>,
        timeout: Duration,
    ) -> Output {
        let shown = format!("{} {}", program.as_ref().to_string_lossy(), args.join(" "));
        let mut command = assert_cmd::Command::new(program);
        command
            .args(args)
            .env("MOVA_RUNTIME_DIR", &self.run)
            .env("MOVA_CONFIG_DIR", self.dir.path().join("config"))
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path())
            .timeout(timeout);
        if let Some(input) = input {
            command.write_stdin(input);
        }
        let output = command
            .output()
            .unwrap_or_else(|error| panic!("`{shown}` did not finish within {timeout:?}: {error}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("panicked"),
            "`{shown}` panicked: {}",
            describe(&output)
        );
        output
    }

    /// `movahv ARGS`.
    pub fn hv(&self, args: &[&str]) -> Output {
        self.run(MOVAHV, args, None)
    }

    /// `movahv ARGS`, which must succeed; its standard output.
    pub fn hv_ok(&self, args: &[&str]) -> String {
        let output = self.hv(args);
        assert!(
            output.status.success(),
            "`movahv {}` failed: {}",
            args.join(" "),
            describe(&output)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// `movahv ARGS`, which must fail with `code`; its standard error.
    pub fn hv_fails(&self, args: &[&str], code: i32) -> String {
        let output = self.hv(args);
        assert_eq!(
            output.status.code(),
            Some(code),
            "`movahv {}`: {}",
            args.join(" "),
            describe(&output)
        );
        String::from_utf8(output.stderr).unwrap()
    }

    /// `movahv ps --json`, parsed.
    pub fn ps(&self) -> Vec<Value> {
        let out = self.hv_ok(&["ps", "--json"]);
        match serde_json::from_str(&out) {
            Ok(Value::Array(entries)) => entries,
            other => panic!("`movahv ps --json` printed {out:?}: {other:?}"),
        }
    }

    /// The `ps --json` entry of `vm`; fails if it is not listed.
    pub fn ps_entry(&self, vm: &Vm) -> Value {
        let entries = self.ps();
        entries
            .iter()
            .find(|entry| entry["pid"].as_u64() == Some(u64::from(vm.pid)))
            .cloned()
            .unwrap_or_else(|| panic!("{} is not listed by `movahv ps`: {entries:?}", vm.name))
    }

    /// The pids `ps --json` lists.
    pub fn ps_pids(&self) -> Vec<u32> {
        self.ps()
            .iter()
            .map(|entry| u32::try_from(entry["pid"].as_u64().unwrap()).unwrap())
            .collect()
    }
}

/// A running VM: its process, its runtime record, its standard output read line by line on a
/// helper thread (each line with when it arrived), its standard error collected on another, and
/// every value read so far.
pub struct Vm {
    pub child: ChildGuard,
    pub pid: u32,
    pub record: Record,
    pub name: String,
    pub lines: Receiver<(Instant, String)>,
    pub stderr: Arc<Mutex<String>>,
    pub seen: Vec<(Instant, i64)>,
}

impl Vm {
    pub fn spawn(mut command: Command, run: &Path, name: &str) -> Vm {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ChildGuard(
            command
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start `{name}`: {error}")),
        );
        let stdout = child.0.stdout.take().unwrap();
        let stderr_pipe = child.0.stderr.take().unwrap();

        let lines = mova_testkit::read_lines(stdout, None);
        let stderr = mova_testkit::collect_text(stderr_pipe);

        let pid = child.0.id();
        let deadline = Instant::now() + TIMEOUT;
        let record = loop {
            if let Some(record) = Record::read(run, pid) {
                break record;
            }
            if let Some(status) = child.0.try_wait().unwrap() {
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "`{name}` exited ({status}) before writing its runtime record; stderr:\n{}",
                    stderr.lock().unwrap_or_else(PoisonError::into_inner)
                );
            }
            assert!(
                Instant::now() < deadline,
                "`{name}` (pid {pid}) wrote no runtime record within {TIMEOUT:?}"
            );
            thread::sleep(Duration::from_millis(5));
        };
        Vm {
            child,
            pid,
            record,
            name: format!("`{name}` (pid {pid})"),
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    /// The pid as a command-line argument.
    pub fn id(&self) -> String {
        self.pid.to_string()
    }

    /// Everything the VM wrote on standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until the VM's standard error contains `needle`; returns all of it.
    pub fn wait_stderr(&self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let text = self.stderr();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{} never said {needle:?} on standard error; it said:\n{text}",
                self.name
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every value read so far, in order.
    pub fn values(&self) -> Vec<i64> {
        self.seen.iter().map(|(_, value)| *value).collect()
    }

    /// The last value read.
    pub fn last(&self) -> i64 {
        self.seen
            .last()
            .map(|(_, value)| *value)
            .unwrap_or_else(|| panic!("{} has printed nothing yet", self.name))
    }

    /// Checks that everything read from the VM is `first`, `first + 1`, …
    pub fn assert_counts_from(&self, first: i64) {
        assert_consecutive(&self.values(), first, &self.name);
    }

    pub fn record_line(&mut self, at: Instant, line: &str) -> i64 {
        let value = line
            .strip_suffix('\n')
            .and_then(|line| line.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "{} printed {line:?}, not a complete line holding a number",
                    self.name
                )
            });
        self.seen.push((at, value));
        value
    }

    /// The next value the VM prints; fails after [`TIMEOUT`].
    pub fn next(&mut self) -> i64 {
        match self.lines.recv_timeout(TIMEOUT) {
            Ok((at, line)) => self.record_line(at, &line),
            Err(error) => panic!(
                "no line from {} within {TIMEOUT:?} ({error}); it printed {:?}; stderr:\n{}",
                self.name,
                self.values(),
                self.stderr()
            ),
        }
    }

    /// The next `count` values.
    pub fn take(&mut self, count: usize) -> Vec<i64> {
        (0..count).map(|_| self.next()).collect()
    }

    /// Reads until a line arrives after `instant`, then three more: the VM prints on after it.
    pub fn read_past(&mut self, instant: Instant) {
        while self.seen.last().is_none_or(|(at, _)| *at <= instant) {
            self.next();
        }
        self.take(3);
    }

    /// Reads every line that comes until none comes for [`QUIET`]: the VM has paused. Fails if it
    /// goes on printing for [`TIMEOUT`] or exits. Returns the last value read.
    pub fn drain_until_quiet(&mut self) -> i64 {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.lines.recv_timeout(QUIET) {
                Ok((at, line)) => {
                    self.record_line(at, &line);
                    assert!(
                        Instant::now() < deadline,
                        "{} is still printing after {TIMEOUT:?}: it did not pause",
                        self.name
                    );
                }
                Err(RecvTimeoutError::Timeout) => return self.last(),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{}'s output ended: it exited instead of pausing; stderr:\n{}",
                    self.name,
                    self.stderr()
                ),
            }
        }
    }

    /// Checks that the VM prints nothing for [`QUIET`] (it is paused) and is still there.
    pub fn assert_quiet(&mut self) {
        match self.lines.recv_timeout(QUIET) {
            Ok((_, line)) => panic!(
                "{} printed {line:?} after {:?} although it should be paused",
                self.name,
                self.values()
            ),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => panic!(
                "{}'s output ended: it exited instead of staying paused; stderr:\n{}",
                self.name,
                self.stderr()
            ),
        }
        assert!(
            self.child.0.try_wait().unwrap().is_none(),
            "{} exited",
            self.name
        );
    }

    /// Waits for the process to exit, failing after [`TIMEOUT`].
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait_within(TIMEOUT).unwrap_or_else(|| {
            panic!(
                "{} did not exit within {TIMEOUT:?}; stderr:\n{}",
                self.name,
                self.stderr()
            )
        })
    }

    /// Reads the rest of the output, once the process has exited.
    pub fn read_to_end(&mut self) {
        loop {
            match self.lines.recv_timeout(TIMEOUT) {
                Ok((at, line)) => {
                    self.record_line(at, &line);
                }
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{}'s output did not end within {TIMEOUT:?}", self.name)
                }
            }
        }
    }

    /// Checks that the VM exits by itself with status 0, saying `stopped: {reason}`, and reads
    /// the rest of its output.
    pub fn assert_stops(&mut self, reason: &str) {
        let status = self.wait();
        let stderr = self.wait_stderr(&format!("stopped: {reason}"));
        assert_eq!(status.code(), Some(0), "{}: stderr:\n{stderr}", self.name);
        self.read_to_end();
    }

    /// Reads every line that has arrived, without waiting; returns how many.
    pub fn read_available(&mut self) -> usize {
        let mut count = 0;
        while let Ok((at, line)) = self.lines.try_recv() {
            self.record_line(at, &line);
            count += 1;
        }
        count
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        self.child.0.try_wait().unwrap().is_some()
    }

    /// Kills the VM with SIGKILL (it cannot clean up) and reaps it.
    pub fn sigkill(&mut self) {
        self.child.0.kill().unwrap();
        self.child.0.wait().unwrap();
    }
}

/// A listener that is no VM (a program on the port after the VM died, an impostor, someone
/// stripping TLS): it reads what its first client sends first with `first`, answers with a
/// challenge whose proof it cannot have made, and collects whatever the client sends after. The
/// thread returns what `first` read and the rest.
pub fn forged_challenge<T: Send + 'static>(
    listener: std::net::TcpListener,
    first: impl FnOnce(&mut std::net::TcpStream) -> T + Send + 'static,
) -> thread::JoinHandle<(T, Vec<u8>)> {
    use std::io::Read;
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let read = first(&mut stream);
        mova_vm::protocol::Response::Challenge {
            nonce: vec![1; 32],
            proof: vec![2; 32],
        }
        .write(&mut stream)
        .unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        (read, rest)
    })
}
