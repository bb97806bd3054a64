//! End-to-end tests of the control channel against clients that misbehave on purpose: slow
//! handshakes that try to hold every connection slot. Each runs a real `mova` and real sockets;
//! every wait is bounded, and the VM is killed however the test ends.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

use mova_vm::client::Client;
use mova_vm::control::{HANDSHAKE_TIMEOUT, MAX_CLIENTS};
use mova_vm::runtime::Record;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The longest any single wait may take before the test fails instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A running `mova` with its runtime directory, killed and reaped however the test ends.
struct Vm {
    child: Child,
    record: Record,
    lines: Receiver<(Instant, String)>,
    stderr: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Vm {
    /// Starts `mova` on the assembly `source` and waits for its runtime record.
    fn start(source: &str) -> Vm {
        let dir = tempfile::Builder::new()
            .prefix("mova-channel-")
            .tempdir()
            .unwrap();
        let program = dir.path().join("program.mvasm");
        std::fs::write(&program, source).unwrap();
        let runtime = dir.path().join("run");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mova"))
            .env("MOVA_RUNTIME_DIR", &runtime)
            .arg(&program)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();

        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let log = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read @ 1..) = pipe.read(&mut buffer) {
                log.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        });

        let pid = child.id();
        let deadline = Instant::now() + TIMEOUT;
        let record = loop {
            if let Some(record) = Record::read(&runtime, pid) {
                break record;
            }
            if let Some(status) = child.try_wait().unwrap() {
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

    /// The next line of output; fails after [`TIMEOUT`].
    fn next_line(&self) -> (Instant, String) {
        self.lines
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|error| panic!("no line from mova within {TIMEOUT:?}: {error}"))
    }

    /// Everything `mova` wrote on standard error so far.
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

fn timed_out(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// One Info answer's JSON.
fn info(client: &mut Client) -> serde_json::Value {
    client.info().unwrap()
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
        let mut client = Client::connect(&vm.addr().to_string(), &vm.token())
            .unwrap_or_else(|error| panic!("try {tries}: {error}\n{}", vm.stderr()));
        assert_eq!(info(&mut client)["state"], "running");
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
