//! End-to-end tests of the control channel against clients that misbehave on purpose: slow
//! handshakes that try to hold every connection slot, and token holders that flood the VM with
//! requests or never read the answers. Each runs a real `mova` and real sockets; every wait is
//! bounded, and the VM is killed however the test ends.
//!
//! The flood tests print what they measured (lines in 5 s, the worst gap between two lines) on
//! standard error: `cargo test -p mova-vm --test channel -- --nocapture` shows them, and
//! `MOVA_ATTACK_LOOP_MS=100` runs the floods against the seed's 100 ms loop instead of a 10 ms one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

use mova_lang::image::Image;
use mova_testkit::{ChildGuard, TIMEOUT, TempDir};
use mova_vm::client::{Client, ClientError};
use mova_vm::control::{HANDSHAKE_TIMEOUT, MAX_CLIENTS};
use mova_vm::protocol::{InfoError, MAX_FRAME, Request, Response, VmInfo, VmState};
use mova_vm::runtime::Record;
use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a flood lasts while the VM's output is watched.
const WATCH: Duration = Duration::from_secs(5);

/// A running `mova` with its runtime directory, killed and reaped however the test ends.
struct Vm {
    child: ChildGuard,
    record: Record,
    lines: Receiver<(Instant, String)>,
    stderr: Arc<Mutex<String>>,
    _dir: TempDir,
}

impl Vm {
    /// Starts `mova` on the assembly `source` and waits for its runtime record.
    fn start(source: &str) -> Vm {
        let dir = TempDir::new("channel");
        let program = dir.write("program.mvasm", source);
        let runtime = dir.join("run");
        let mut child = ChildGuard(
            std::process::Command::new(env!("CARGO_BIN_EXE_mova"))
                .env("MOVA_RUNTIME_DIR", &runtime)
                .arg(&program)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let lines = mova_testkit::read_lines(child.0.stdout.take().unwrap(), None);
        let stderr = mova_testkit::collect_text(child.0.stderr.take().unwrap());

        let pid = child.0.id();
        let deadline = Instant::now() + TIMEOUT;
        let record = loop {
            if let Some(record) = Record::read(&runtime, pid) {
                break record;
            }
            if let Some(status) = child.0.try_wait().unwrap() {
                panic!("mova exited with {status} before it wrote its runtime record");
            }
            assert!(Instant::now() < deadline, "mova wrote no runtime record");
            thread::sleep(Duration::from_millis(10));
        };
        Vm {
            child,
            record,
            lines,
            stderr,
            _dir: dir,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.record.addr
    }

    fn token(&self) -> Vec<u8> {
        self.record.token_bytes().unwrap()
    }

    /// The next line of output, without its `\n`; fails after [`TIMEOUT`].
    fn next_line(&self) -> (Instant, String) {
        let (at, line) = self
            .lines
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|error| panic!("no line from mova within {TIMEOUT:?}: {error}"));
        (at, line.trim_end_matches('\n').to_owned())
    }

    /// Watches the output for [`WATCH`]: how many lines arrived and the longest time without one
    /// (from the start to the first line and from the last line to the end included). The lines
    /// must count on by one.
    fn watch(&self) -> Watched {
        // Start from a line, so that what came before the watch does not count.
        let (start, first) = self.next_line();
        let mut previous_value: i64 = first.parse().unwrap();
        let end = start + WATCH;
        let mut previous = start;
        let mut worst = Duration::ZERO;
        let mut lines = 0;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if at <= end => {
                    let value: i64 = line.trim_end_matches('\n').parse().unwrap();
                    assert_eq!(value, previous_value + 1, "the output skipped or repeated");
                    previous_value = value;
                    worst = worst.max(at - previous);
                    previous = at;
                    lines += 1;
                }
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("mova's output ended: {}", self.stderr())
                }
            }
        }
        worst = worst.max(end.saturating_duration_since(previous));
        Watched { lines, worst }
    }

    /// Everything `mova` wrote on standard error so far.
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Whether the process is still running.
    fn alive(&mut self) -> bool {
        self.child.0.try_wait().unwrap().is_none()
    }
}

/// What [`Vm::watch`] saw.
#[derive(Debug)]
struct Watched {
    lines: usize,
    worst: Duration,
}

/// Tells helper threads to finish, when dropped too: a failing test does not leave them running.
#[derive(Clone, Default)]
struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    fn stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Stops the threads when the test ends, however it ends.
struct StopOnDrop(StopFlag);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// A loop that prints 1, 2, 3, … sleeping `ms` milliseconds between lines (the seed program's
/// shape: the seed itself sleeps 100 ms).
fn counting_loop(ms: u64) -> String {
    format!("PUT 0\nADD 1\nPRINT\nSLEEP {ms}\nGOTO 3\n")
}

/// The loop the flood tests run: 10 ms unless `MOVA_ATTACK_LOOP_MS` says otherwise.
fn attack_loop_ms() -> u64 {
    std::env::var("MOVA_ATTACK_LOOP_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .filter(|ms| *ms > 0)
        .unwrap_or(10)
}

/// The fewest lines a loop of `ms` milliseconds must print in [`WATCH`] under attack: a fifth of
/// what it prints undisturbed. A generous bound for a shared machine, and one the floods broke
/// by far before the VM bounded them (a 10 ms loop printed 4 or 5 lines in 5 s under the Info
/// floods, none under the Restore flood).
fn fewest_lines(ms: u64) -> usize {
    usize::try_from(WATCH.as_millis() / u128::from(ms) / 5).unwrap()
}

/// The bytes of `request` as a frame.
fn frame(request: &Request) -> Vec<u8> {
    let mut bytes = Vec::new();
    request.write(&mut bytes).unwrap();
    bytes
}

/// A raw connection that has passed the handshake.
fn authenticated(addr: SocketAddr, token: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    mova_vm::auth::client_handshake(&mut stream, token, &[]).unwrap();
    stream
}

/// How a flooding client treats the answers.
#[derive(Clone, Copy)]
enum Reading {
    /// Reads every answer, as fast as they come.
    All,
    /// Never reads one.
    None,
}

/// Starts `clients` authenticated clients, each sending `request` back to back without waiting
/// for answers, until `stop`. The threads end when `stop` is set or the VM goes away.
fn flood(
    vm: &Vm,
    clients: usize,
    request: &Request,
    reading: Reading,
    stop: &StopFlag,
) -> Vec<JoinHandle<()>> {
    // Many small requests per write (about 64 KiB), so that the client is never what limits the
    // rate.
    let one = frame(request);
    let burst = one.repeat((64 * 1024 / one.len()).max(1));
    let mut threads = Vec::new();
    for _ in 0..clients {
        let stream = authenticated(vm.addr(), &vm.token());
        // A short write timeout lets a writer that the VM stopped reading notice `stop`.
        stream
            .set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Reading::All = reading {
            let mut reader = stream.try_clone().unwrap();
            reader
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let stop = stop.clone();
            threads.push(thread::spawn(move || {
                let mut buffer = vec![0u8; 64 * 1024];
                while !stop.stopped() {
                    match reader.read(&mut buffer) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(error) if timed_out(&error) => {}
                        Err(_) => break,
                    }
                }
            }));
        }
        let mut writer = stream;
        let burst = burst.clone();
        let stop = stop.clone();
        threads.push(thread::spawn(move || {
            while !stop.stopped() {
                match writer.write_all(&burst) {
                    Ok(()) => {}
                    Err(error) if timed_out(&error) => {}
                    Err(_) => break,
                }
            }
        }));
    }
    threads
}

fn timed_out(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Runs the attack loop under a flood of `request` from [`MAX_CLIENTS`] token holders and checks
/// that it keeps printing.
fn keeps_printing_under(what: &str, request: &Request, reading: Reading) {
    let ms = attack_loop_ms();
    let mut vm = Vm::start(&counting_loop(ms));
    vm.next_line();
    let stop = StopFlag::default();
    let _guard = StopOnDrop(stop.clone());
    let threads = flood(&vm, MAX_CLIENTS, request, reading, &stop);
    let watched = vm.watch();
    eprintln!(
        "{what} from {MAX_CLIENTS} clients, a {ms} ms loop: {} lines in {WATCH:?}, worst gap {:?}",
        watched.lines, watched.worst
    );
    assert!(
        watched.lines >= fewest_lines(ms),
        "{what}: a {ms} ms loop printed only {} lines in {WATCH:?} (worst gap {:?})",
        watched.lines,
        watched.worst
    );
    stop.stop();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(vm.alive(), "mova exited: {}", vm.stderr());
    // The VM still answers a well-behaved client, once it has seen the flood's connections close.
    let deadline = Instant::now() + TIMEOUT;
    let mut client = loop {
        match Client::connect(&vm.addr().to_string(), &vm.token(), None) {
            Ok(client) => break client,
            Err(error) => {
                assert!(Instant::now() < deadline, "{error}\n{}", vm.stderr());
                thread::sleep(Duration::from_millis(50));
            }
        }
    };
    assert_eq!(info(&mut client).state, VmState::Running);
}

#[test]
fn info_floods_do_not_starve_the_program() {
    keeps_printing_under("Info pipelined", &Request::Info, Reading::All);
}

#[test]
fn clients_that_never_read_do_not_stall_the_program() {
    keeps_printing_under("Info never read", &Request::Info, Reading::None);
}

#[test]
fn floods_of_other_requests_get_a_bounded_share() {
    // The state of another, larger program: every Restore of it is decoded and checked on the
    // interpreter's thread, then refused, and the VM runs on.
    let other = mova_compiler::assemble(&"ADD 1\n".repeat(20_000)).unwrap();
    let image = Image::new(&other, 0, Vec::new(), None, true)
        .unwrap()
        .encode();
    keeps_printing_under(
        "Restore (refused) pipelined",
        &Request::Restore {
            migration: mova_vm::protocol::MigrationId([3; 16]),
            image,
        },
        Reading::All,
    );
}

fn info(client: &mut Client) -> VmInfo {
    client.info().unwrap()
}

fn depth(info: &VmInfo) -> u64 {
    info.loaded.as_ref().unwrap().stack_depth
}

#[test]
fn info_follows_the_state_and_is_refreshed_at_a_bounded_rate() {
    // The stack grows by one value a millisecond, so `stack_depth` says when it was read.
    let vm = Vm::start("PUT 1\nSLEEP 1\nGOTO 2\n");
    let mut client = Client::connect(&vm.addr().to_string(), &vm.token(), None).unwrap();

    // A running VM's Info is recent: two asked 300 ms apart differ.
    thread::sleep(Duration::from_millis(100));
    let first = depth(&info(&mut client));
    thread::sleep(Duration::from_millis(300));
    let second = depth(&info(&mut client));
    assert!(second > first, "stack depth {first}, then {second}");

    // Answers reflect every request served before them.
    client.interrupt().unwrap();
    let paused = info(&mut client);
    assert_eq!(paused.state, VmState::Paused, "{paused:?}");
    thread::sleep(Duration::from_millis(150));
    assert_eq!(
        depth(&info(&mut client)),
        depth(&paused),
        "a paused VM changed"
    );
    client.resume().unwrap();
    assert_eq!(info(&mut client).state, VmState::Running);

    // Four clients asking as fast as they can see the program paused about ten times a second,
    // not once an answer: the program ran on between the refreshes (about a millisecond an
    // iteration), so each refresh shows a new depth.
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = StopFlag::default();
    let _guard = StopOnDrop(stop.clone());
    let askers: Vec<_> = (0..4)
        .map(|_| {
            let mut client = Client::connect(&vm.addr().to_string(), &vm.token(), None).unwrap();
            let (seen, stop) = (Arc::clone(&seen), stop.clone());
            thread::spawn(move || {
                while !stop.stopped() {
                    let depth = depth(&client.info().unwrap());
                    seen.lock().unwrap().insert(depth);
                }
            })
        })
        .collect();
    let asking = Duration::from_secs(2);
    thread::sleep(asking);
    stop.stop();
    for asker in askers {
        asker.join().unwrap();
    }
    let refreshes = seen.lock().unwrap().len();
    eprintln!("4 clients asking for Info for {asking:?} saw {refreshes} distinct snapshots");
    assert!(
        (5..=30).contains(&refreshes),
        "{refreshes} distinct snapshots in {asking:?}"
    );
}

/// A client that sends the start of a frame one byte every 2 s and never a token; returns how
/// long each of its connections lasted before the VM dropped it. It reconnects after each drop,
/// half a second later, until `stop`.
fn slow_client(addr: SocketAddr, stop: StopFlag) -> JoinHandle<Vec<Duration>> {
    thread::spawn(move || {
        let mut lives = Vec::new();
        while !stop.stopped() {
            let Ok(mut stream) = TcpStream::connect_timeout(&addr, TIMEOUT) else {
                break;
            };
            let connected = Instant::now();
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            // A frame header declaring 100 bytes, then its bytes, one at a time.
            let bytes = [0u8, 0, 0, 100].into_iter().chain(std::iter::repeat(0x01));
            let mut buffer = [0u8; 256];
            for byte in bytes {
                if stream.write_all(&[byte]).is_err() {
                    break;
                }
                // Waits 2 s for the VM to hang up, which is also the pace of the bytes.
                match stream.read(&mut buffer) {
                    Ok(_) => {
                        // An answer (an Error) or the end: either way it is being dropped.
                        let _ = stream.read_to_end(&mut Vec::new());
                        break;
                    }
                    Err(error) if timed_out(&error) => {}
                    Err(_) => break,
                }
                if connected.elapsed() > TIMEOUT {
                    break; // Never dropped: the lifetime says so.
                }
            }
            lives.push(connected.elapsed());
            thread::sleep(Duration::from_millis(500));
        }
        lives
    })
}

#[test]
fn slow_handshakes_cannot_keep_a_token_holder_out() {
    let vm = Vm::start(&counting_loop(10));
    vm.next_line();
    let stop = StopFlag::default();
    let _guard = StopOnDrop(stop.clone());
    // More slow clients than there are connections for all clients together.
    let slow: Vec<_> = (0..MAX_CLIENTS + 4)
        .map(|_| slow_client(vm.addr(), stop.clone()))
        .collect();
    thread::sleep(Duration::from_millis(500));

    // Over more than a handshake's time, a client with the token gets in every time it tries.
    let trying = Instant::now();
    let mut tries = 0;
    while trying.elapsed() < HANDSHAKE_TIMEOUT + Duration::from_secs(2) {
        let mut client = Client::connect(&vm.addr().to_string(), &vm.token(), None)
            .unwrap_or_else(|error| panic!("try {tries}: {error}\n{}", vm.stderr()));
        assert_eq!(info(&mut client).state, VmState::Running);
        tries += 1;
        thread::sleep(Duration::from_millis(250));
    }

    stop.stop();
    // Each slow connection was dropped within the handshake's deadline, whatever it sent.
    let slack = Duration::from_millis(1500);
    let mut connections = 0;
    for thread in slow {
        for life in thread.join().unwrap() {
            connections += 1;
            assert!(
                life <= HANDSHAKE_TIMEOUT + slack,
                "a slow client stayed connected for {life:?}\n{}",
                vm.stderr()
            );
        }
    }
    eprintln!("{tries} tries got in past {connections} slow connections");
    assert!(vm.stderr().contains("dropped: bad handshake"));
}

/// A client facing a VM that answers `Info` with a forged object gets a typed error naming what
/// is wrong, never a panic and never a half-read description.
#[test]
fn a_forged_info_answer_is_a_clear_error() {
    for (answer, says) in [
        ("{\"state\":\"running\"}", "missing field"),
        ("not json", "info that is not JSON"),
        (
            "{\"addr\":\"a\",\"held\":false,\"now_ms\":0,\"pid\":1,\"program\":\"p\",\
             \"restores\":0,\"started_ms\":0,\"state\":\"restores\",\"uptime_ms\":0}",
            "unknown state `restores`",
        ),
    ] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let forger = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            mova_vm::auth::vm_handshake(&mut stream, &[0; 32], &[]).unwrap();
            Response::Ok.write(&mut stream).unwrap();
            assert_eq!(
                Request::read(&mut stream, MAX_FRAME).unwrap(),
                Request::Info
            );
            Response::Info(answer.into()).write(&mut stream).unwrap();
        });
        let mut client = Client::connect(&addr.to_string(), &[0; 32], None).unwrap();
        let error = client.info().unwrap_err();
        let not_json = says == "info that is not JSON";
        assert!(
            matches!(&error, ClientError::BadInfo { source, .. }
                if matches!(source, InfoError::NotJson(_)) == not_json),
            "{answer}: {error:?}"
        );
        assert!(error.to_string().contains(says), "{answer}: {error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("unexpected answer from {addr}: "))
        );
        forger.join().unwrap();
    }
}
