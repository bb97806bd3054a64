//! End-to-end tests of live migration and of the control channel: real `mova` VMs and the real
//! `movahv`, talking over real sockets (`docs/protocol.md`).
//!
//! Every VM and every `movahv` these tests start gets a private runtime directory inside the test's
//! temporary directory, so tests never see each other's VMs or the user's. Every child is killed
//! and reaped however a test ends, and every wait is bounded by [`TIMEOUT`]. Timing is never
//! asserted beyond generous hang guards: a VM that must be paused is checked by seeing no line for
//! [`QUIET`], and "nothing lost, nothing repeated" by the printed values being exactly 1, 2, 3, …

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

mod common;

use common::*;
use mova_lang::image::Image;
use mova_vm::protocol::{
    MAX_FRAME, MAX_HELLO_FRAME, PROTOCOL_VERSION, Request, Response, TOKEN_LEN, VmInfo, VmState,
};
use mova_vm::runtime;
use serde_json::Value;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Migration

#[test]
fn migration_loses_and_repeats_nothing() {
    let (sandbox, mut source, [mut target]) = Sandbox::with_source_and_blanks("migrate");
    assert_eq!(source.values(), [1, 2, 3]);

    let out = sandbox.hv_ok(&["migrate", &source.id(), &target.id()]);
    for word in ["migrated", "downtime", "bytes"] {
        assert!(out.contains(word), "{word:?} missing from: {out}");
    }
    source.assert_stops(&format!("migrated to {}", target.pid));
    target.take(5);
    assert_counts_across(
        &[&source, &target],
        "the source's output, then the target's",
    );

    // A second hop, with the statistics as JSON.
    let mut third = sandbox.start(&["serve"]);
    let out = sandbox.hv_ok(&["migrate", &target.id(), &third.id(), "--json"]);
    let stats: Value = serde_json::from_str(&out)
        .unwrap_or_else(|error| panic!("`migrate --json` printed {out:?}: {error}"));
    let number = |key: &str| {
        stats[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} is not a number in {stats}"))
    };
    let (downtime, total) = (number("downtime_ms"), number("total_ms"));
    assert!(
        stats["bytes"].as_u64().is_some_and(|bytes| bytes > 0),
        "{stats}"
    );
    assert!(
        0.0 <= downtime && downtime <= total,
        "downtime {downtime} ms, total {total} ms"
    );
    // Numbers are numbers, and addresses have their own fields (issue 9, item 21).
    assert_eq!(stats["from"]["pid"], target.pid, "{stats}");
    assert_eq!(
        stats["from"]["addr"],
        target.record.addr.to_string(),
        "{stats}"
    );
    assert_eq!(stats["to"]["pid"], third.pid, "{stats}");
    assert_eq!(
        stats["to"]["addr"],
        third.record.addr.to_string(),
        "{stats}"
    );
    assert_eq!(stats["running"], true, "{stats}");
    assert_eq!(
        stats["migration"].as_str().map(str::len),
        Some(32),
        "{stats}"
    );
    target.assert_stops(&format!("migrated to {}", third.pid));
    third.take(5);
    assert_counts_across(
        &[&source, &target, &third],
        "the output of the three VMs, in order",
    );
    assert_eq!(sandbox.ps_pids(), [third.pid]);
}

/// Both ends given by address and token, as for VMs on other hosts (`--from-token`, `--token`).
#[test]
fn migration_between_addresses_with_tokens() {
    let (sandbox, mut source, [mut target]) = Sandbox::with_source_and_blanks("remote");
    let (from, to) = (
        source.record.addr.to_string(),
        target.record.addr.to_string(),
    );

    let stderr = sandbox.hv_fails(&["migrate", &from, &to, "--token", &target.record.token], 2);
    assert!(
        stderr.contains("give its token with --from-token"),
        "{stderr}"
    );

    let out = sandbox.hv_ok(&[
        "migrate",
        &from,
        &to,
        "--from-token",
        &source.record.token,
        "--token",
        &target.record.token,
    ]);
    assert!(out.contains(&format!("migrated {from} → {to}")), "{out}");
    source.assert_stops(&format!("migrated to {to}"));
    target.take(3);
    assert_counts_across(
        &[&source, &target],
        "the source's output, then the target's",
    );
}

#[test]
fn migration_ping_pong_through_a_chain_of_blank_vms() {
    let sandbox = Sandbox::with_loop("chain");
    let mut vms = vec![sandbox.start(&["loop.mvb"])];
    for _ in 0..3 {
        vms.push(sandbox.start(&["serve"]));
    }
    vms[0].take(3);
    const HOPS: usize = 5;
    for hop in 0..HOPS {
        if hop + 1 == vms.len() {
            // Fresh blank VMs, started while the computation runs elsewhere.
            vms.push(sandbox.start(&["serve"]));
        }
        let (from, to) = (vms[hop].id(), vms[hop + 1].id());
        let out = sandbox.hv_ok(&["migrate", &from, &to]);
        assert!(out.contains("migrated"), "{out}");
        vms[hop].assert_stops(&format!("migrated to {to}"));
        vms[hop + 1].take(3);
    }
    let all: Vec<i64> = vms.iter().flat_map(Vm::values).collect();
    assert_consecutive(&all, 1, "the output of every VM of the chain, in order");

    let last = &vms[HOPS];
    assert_eq!(sandbox.ps_pids(), [last.pid], "only the last VM is left");
    let table = sandbox.hv_ok(&["ps"]);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(rows[0].starts_with(&last.id()), "{table}");
    assert!(rows[0].contains("running"), "{table}");
}

#[test]
fn a_refused_migration_leaves_both_running() {
    let (sandbox, mut x, mut y) = Sandbox::with_source_and_other("refused");
    y.take(3);

    // A target that holds a computation is not replaced without --force (issue 9, item 22).
    let stderr = sandbox.hv_fails(&["migrate", &x.id(), &y.id()], 1);
    for part in ["holds another computation", "--force", "nothing changed"] {
        assert!(stderr.contains(part), "{part:?} missing from: {stderr}");
    }
    // With it, y refuses the state of another program, and both run on.
    let stderr = sandbox.hv_fails(&["migrate", &x.id(), &y.id(), "--force"], 1);
    for part in ["refused", "another program", "the source runs on"] {
        assert!(stderr.contains(part), "{part:?} missing from: {stderr}");
    }
    let after = Instant::now();
    x.read_past(after);
    y.read_past(after);
    x.assert_counts_from(1);
    y.assert_counts_from(1001);
    for vm in [&x, &y] {
        assert_eq!(sandbox.ps_entry(vm)["state"], "running", "{}", vm.name);
    }
    assert!(!x.stderr().contains("stopped"), "{}", x.stderr());
}

#[test]
fn migrating_a_vm_onto_itself_is_refused_and_changes_nothing() {
    let sandbox = Sandbox::with_loop("onto-itself");
    let mut vm = sandbox.start(&["loop.mvb"]);
    vm.take(3);

    let output = sandbox.hv(&["migrate", &vm.id(), &vm.id()]);
    assert!(!output.status.success(), "{}", describe(&output));
    // The same VM named by its address and token instead of its pid.
    let (addr, token) = (vm.record.addr.to_string(), vm.record.token.clone());
    let output = sandbox.hv(&["migrate", &vm.id(), &addr, "--token", &token]);
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("onto itself"),
        "{}",
        describe(&output)
    );
    vm.read_past(Instant::now());
    vm.assert_counts_from(1);
    assert!(!vm.stderr().contains("stopped"), "{}", vm.stderr());
    assert_eq!(sandbox.ps_entry(&vm)["state"], "running");
    let rescued: Vec<_> = fs::read_dir(sandbox.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name.to_string_lossy().starts_with("movahv-rescue-"))
        .collect();
    assert!(rescued.is_empty(), "{rescued:?}");
}

/// What the fake target read after the handshake (which it passes knowing the token), or why it could not.
type FakeReport = Result<Request, String>;

/// A fake migration target on a loopback port: it accepts one client, reads its hello, answers
/// Ok, answers an Info as a blank VM would, reads the next frame and hangs up without answering
/// it. Sends the hello and that frame.
fn fake_target() -> (SocketAddr, Receiver<FakeReport>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let (sender, received) = mpsc::channel();
    thread::spawn(move || {
        let deadline = Instant::now() + TIMEOUT;
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        let _ = sender.send(Err(String::from("nobody connected")));
                        return;
                    }
                    thread::sleep(Duration::from_millis(5));
                }
                Err(error) => {
                    let _ = sender.send(Err(format!("accept: {error}")));
                    return;
                }
            }
        };
        let mut converse = || -> FakeReport {
            stream.set_nonblocking(false).map_err(|e| e.to_string())?;
            stream
                .set_read_timeout(Some(TIMEOUT))
                .map_err(|e| e.to_string())?;
            mova_vm::auth::vm_handshake(&mut stream, &[0xAB; TOKEN_LEN], &[])
                .map_err(|e| e.to_string())?;
            Response::Ok.write(&mut stream).map_err(|e| e.to_string())?;
            let mut next = Request::read(&mut stream, MAX_FRAME).map_err(|e| e.to_string())?;
            if next == Request::Info {
                let info = VmInfo {
                    pid: 1,
                    addr: addr.to_string(),
                    program: "(serve)".into(),
                    started_ms: 0,
                    state: VmState::Waiting,
                    held: false,
                    restores: 0,
                    loaded: None,
                    uptime_ms: 0,
                    now_ms: 0,
                };
                Response::Info(info.encode())
                    .write(&mut stream)
                    .map_err(|e| e.to_string())?;
                next = Request::read(&mut stream, MAX_FRAME).map_err(|e| e.to_string())?;
            }
            Ok(next)
        };
        let result = converse();
        drop(stream); // Dies without answering.
        let _ = sender.send(result);
    });
    (addr, received)
}

#[test]
fn a_target_that_dies_mid_migration_lets_the_source_resume() {
    let sandbox = Sandbox::with_loop("dying-target");
    let mut source = sandbox.start(&["loop.mvb"]);
    source.take(3);
    let (addr, received) = fake_target();
    let token = "ab".repeat(TOKEN_LEN);

    let stderr = sandbox.hv_fails(
        &[
            "migrate",
            &source.id(),
            &addr.to_string(),
            "--token",
            &token,
        ],
        1,
    );
    assert!(stderr.contains("the source runs on"), "{stderr}");
    let after = Instant::now();

    // The fake target knew the token: the handshake passed (a wrong one fails it).
    let restore = received
        .recv_timeout(TIMEOUT)
        .expect("the fake target reports")
        .unwrap_or_else(|error| panic!("the fake target: {error}"));
    let Request::Restore { image, .. } = restore else {
        panic!("the frame after the hello is not a Restore: {restore:?}");
    };
    let image = Image::decode(&image).expect("the source's image decodes");
    assert!(image.program().is_some(), "the image carries the program");
    let [paused_at] = image.stack[..] else {
        panic!("the loop's stack is one value: {:?}", image.stack);
    };

    // The source runs on from where it paused: nothing lost, nothing repeated.
    source.read_past(after);
    while source.last() < paused_at + 3 {
        source.next();
    }
    source.assert_counts_from(1);
    assert!(!source.stderr().contains("stopped"), "{}", source.stderr());
    assert_eq!(sandbox.ps_entry(&source)["state"], "running");
}

/// A listener that does not hold the target's token (a program on the port after the VM died, or
/// an attacker) cannot prove it holds it: the migration stops at the handshake, the impostor gets
/// nothing but a hello, and the source runs on.
#[test]
fn a_target_that_cannot_prove_the_token_gets_nothing() {
    let sandbox = Sandbox::with_loop("impostor");
    let mut source = sandbox.start(&["loop.mvb"]);
    source.take(3);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let impostor = forged_challenge(listener, |stream| {
        Request::read(stream, MAX_HELLO_FRAME).unwrap()
    });
    let token = "cd".repeat(TOKEN_LEN);
    let stderr = sandbox.hv_fails(
        &[
            "migrate",
            &source.id(),
            &addr.to_string(),
            "--token",
            &token,
        ],
        1,
    );
    assert!(
        stderr.contains("could not prove it holds the VM's token"),
        "{stderr}"
    );
    let (hello, rest) = impostor.join().unwrap();
    let Request::Hello { version, nonce } = hello else {
        panic!("the first frame is not a hello: {hello:?}");
    };
    assert_eq!(version, PROTOCOL_VERSION);
    assert_ne!(nonce, vec![0xCD; TOKEN_LEN], "the hello carries the token");
    assert!(rest.is_empty(), "the impostor was sent more: {rest:?}");
    let after = Instant::now();
    source.read_past(after);
    source.assert_counts_from(1);
    assert_eq!(sandbox.ps_entry(&source)["state"], "running");
}

#[test]
fn a_target_that_is_gone_before_the_migration_changes_nothing() {
    let sandbox = Sandbox::with_loop("gone-target");
    let mut source = sandbox.start(&["loop.mvb"]);
    let mut target = sandbox.start(&["serve"]);
    let (addr, token) = (target.record.addr.to_string(), target.record.token.clone());
    target.sigkill();
    source.take(3);

    // By pid: its record is stale.
    let stderr = sandbox.hv_fails(&["migrate", &source.id(), &target.id()], 1);
    assert!(
        stderr.contains(&format!("no Mova VM with pid {}", target.pid)),
        "{stderr}"
    );
    // By address: nobody listens there any more.
    let stderr = sandbox.hv_fails(&["migrate", &source.id(), &addr, "--token", &token], 1);
    assert!(stderr.contains("cannot connect"), "{stderr}");

    let after = Instant::now();
    source.read_past(after);
    source.assert_counts_from(1);
    assert_eq!(sandbox.ps_pids(), [source.pid]);
    assert_eq!(sandbox.ps_entry(&source)["state"], "running");
}

// ---------------------------------------------------------------------------------------------
// The control channel against bad clients

fn raw_connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

fn hello_frame(version: u16, nonce: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    Request::Hello {
        version,
        nonce: nonce.to_vec(),
    }
    .write(&mut bytes)
    .unwrap();
    bytes
}

/// Passes the handshake on a raw connection with `token`.
fn authenticate(stream: &mut TcpStream, token: &[u8]) -> Result<(), mova_vm::auth::HandshakeError> {
    mova_vm::auth::client_handshake(stream, token, &[])
}

/// Sends a hello with `nonce`, reads the VM's challenge and answers it with the proof made with
/// `token` (right or wrong) for `binding`; returns everything this client sent, and what the VM
/// finally answered.
fn answer_challenge(
    addr: SocketAddr,
    nonce: [u8; 32],
    token: &[u8],
) -> (Vec<u8>, Result<Response, mova_vm::protocol::FrameError>) {
    use mova_vm::auth::{Role, proof};
    let mut stream = raw_connect(addr);
    let mut sent = hello_frame(PROTOCOL_VERSION, &nonce);
    stream.write_all(&sent).unwrap();
    let Response::Challenge {
        nonce: vm_nonce, ..
    } = Response::read(&mut stream).unwrap()
    else {
        panic!("no challenge");
    };
    let mut answer = Vec::new();
    Request::Proof(proof(token, Role::Client, &nonce, &vm_nonce, &[]).to_vec())
        .write(&mut answer)
        .unwrap();
    stream.write_all(&answer).unwrap();
    sent.extend(answer);
    (sent, Response::read(&mut stream))
}

/// Reads until the VM closes the connection and returns what it sent. A reset counts as closed:
/// the VM may hang up with bytes of ours still unread.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return received,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                return received;
            }
            Err(error) => panic!(
                "the VM did not close the connection within {TIMEOUT:?} ({error}); it sent {received:?}"
            ),
        }
    }
}

/// The message of the Error frame `bytes` hold (after the VM's Challenge, if it sent one).
fn error_message(bytes: &[u8]) -> String {
    let mut rest = bytes;
    loop {
        match Response::read(&mut rest) {
            Ok(Response::Error(message)) => return message,
            Ok(Response::Challenge { .. }) => {}
            other => panic!("expected an Error frame, got {other:?} from {bytes:?}"),
        }
    }
}

/// Connects, sends `bytes`, and checks the VM answers with an Error containing `expected` (when
/// given) and hangs up. Returns the client's address, which the VM's log names.
fn bad_client(addr: SocketAddr, bytes: &[u8], expected: Option<&str>) -> SocketAddr {
    let mut stream = raw_connect(addr);
    let local = stream.local_addr().unwrap();
    stream.write_all(bytes).unwrap();
    let answer = read_until_closed(&mut stream);
    if let Some(expected) = expected {
        let message = error_message(&answer);
        assert!(
            message.contains(expected),
            "sent {bytes:02X?}: the VM answered {message:?}, expected {expected:?}"
        );
    }
    local
}

#[test]
fn bad_clients_are_refused_and_the_vm_is_unharmed() {
    let sandbox = Sandbox::with_loop("bad-clients");
    let mut vm = sandbox.start(&["loop.mvb"]);
    let addr = vm.record.addr;
    let token = vm.record.token_bytes().unwrap();
    assert_eq!(vm.take(2), [1, 2]);

    // (d) Slow clients, on their own threads while the others are tried: one silent, one that
    // sends half a frame header. Each is dropped once the 5 s handshake timeout passes.
    const SILENT: &[u8] = &[];
    const HALF_A_HEADER: &[u8] = &[0, 0];
    let slow: Vec<_> = [SILENT, HALF_A_HEADER]
        .into_iter()
        .map(|bytes| {
            let (sender, report) = mpsc::channel();
            thread::spawn(move || {
                let connected = Instant::now();
                let mut stream = raw_connect(addr);
                let local = stream.local_addr().unwrap();
                stream.write_all(bytes).unwrap();
                let answer = read_until_closed(&mut stream);
                let _ = sender.send((local, connected, Instant::now(), answer));
            });
            report
        })
        .collect();

    // (a) A wrong token, (a') a recorded handshake replayed, (a'') wrong protocol versions and
    // a version 2 client (whose hello carried the token), (b) garbage of several kinds, (c) frame
    // headers declaring 4 GiB, before and after a correct handshake.
    let (_, answer) = answer_challenge(addr, [3; 32], &[0; TOKEN_LEN]);
    let Ok(Response::Error(message)) = answer else {
        panic!("a wrong proof was not refused: {answer:?}");
    };
    assert!(message.contains("authentication failed"), "{message}");
    let (recorded, answer) = answer_challenge(addr, [4; 32], &token);
    assert!(matches!(answer, Ok(Response::Ok)), "{answer:?}");
    let mut dropped = vec![
        // The same bytes again: the VM's nonce is new, so the old proof is worthless.
        bad_client(addr, &recorded, Some("authentication failed")),
        bad_client(
            addr,
            &hello_frame(PROTOCOL_VERSION, &token[..TOKEN_LEN - 1]),
            Some("a hello's nonce is 32 bytes, not 31"),
        ),
        bad_client(
            addr,
            &hello_frame(PROTOCOL_VERSION + 1, &token),
            Some("protocol version 4 is not supported"),
        ),
        bad_client(
            addr,
            &hello_frame(2, &token),
            Some("protocol version 2 is not supported: this VM speaks version 3"),
        ),
        // An Interrupt before the hello: refused, and the VM does not pause.
        bad_client(addr, &[0, 0, 0, 1, 0x02], Some("authentication required")),
        bad_client(addr, &[0, 0, 0, 2, 0x7F, 0xAA], Some("bad handshake")),
        bad_client(addr, &[0, 0, 0, 2, 0x01, 0x00], Some("bad handshake")),
        // The largest frame allowed before the handshake (256 bytes) is read and checked; one
        // byte more is refused unread.
        bad_client(
            addr,
            &hello_frame(PROTOCOL_VERSION, &[7; MAX_HELLO_FRAME - 3]),
            Some("a hello's nonce is 32 bytes, not 253"),
        ),
        bad_client(addr, &[0xFF; 4], Some("over the limit")),
        bad_client(addr, &[0, 0, 1, 1], Some("over the limit")),
        bad_client(addr, b"GET / HTTP/1.1\r\nHost: mova\r\n\r\n", None),
        bad_client(addr, &[0x5A; 300], None),
    ];
    {
        let mut stream = raw_connect(addr);
        dropped.push(stream.local_addr().unwrap());
        authenticate(&mut stream, &token).unwrap();
        stream.write_all(&[0xFF; 4]).unwrap();
        let message = error_message(&read_until_closed(&mut stream));
        assert!(message.contains("over the limit"), "{message}");
    }

    // (e) Meanwhile the VM runs on and serves correct clients.
    let entry = sandbox.ps_entry(&vm);
    assert_eq!(entry["state"], "running", "{entry}");

    let mut slow_windows = Vec::new();
    for report in slow {
        let (local, connected, closed, answer) = report
            .recv_timeout(TIMEOUT + Duration::from_secs(1))
            .expect("a slow client was not dropped within the time limit");
        let message = error_message(&answer);
        assert!(message.contains("bad handshake"), "{message}");
        // The VM waited for the handshake timeout (5 s), not less.
        assert!(
            closed.duration_since(connected) >= Duration::from_secs(4),
            "a slow client was dropped after {:?}",
            closed.duration_since(connected)
        );
        dropped.push(local);
        slow_windows.push((connected, closed));
    }
    for local in &dropped {
        vm.wait_stderr(&format!("{local}: dropped"));
    }

    // The VM printed all along, while the slow clients were connected, with no gap.
    let (connected, closed) = slow_windows[0];
    vm.read_past(closed);
    let middle = (connected + Duration::from_secs(1))..(closed - Duration::from_secs(1));
    assert!(
        vm.seen.iter().any(|(at, _)| middle.contains(at)),
        "the VM printed nothing while a slow client was connected"
    );
    vm.assert_counts_from(1);

    // A correct client still commands it.
    let out = sandbox.hv_ok(&["interrupt", &vm.id()]);
    assert!(out.contains("interrupted"), "{out}");
    vm.drain_until_quiet();
    assert_eq!(sandbox.ps_entry(&vm)["state"], "paused");
    let out = sandbox.hv_ok(&["resume", &vm.id()]);
    assert!(out.contains("resumed"), "{out}");
    vm.read_past(Instant::now());
    vm.assert_counts_from(1);
    assert_eq!(sandbox.ps_entry(&vm)["state"], "running");
    let stderr = vm.stderr();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// State images and the shell

/// Runs the loop from `loop.mova` (a source, so the image knows its lines), saves its state to
/// `state.mvs` with `movahv rstate`, checks that the VM paused, stops it, and returns the last
/// value it printed.
fn save_a_running_loop(sandbox: &Sandbox) -> i64 {
    sandbox.write("loop.mova", FAST_LOOP);
    let mut vm = sandbox.start(&["loop.mova"]);
    vm.take(3);
    let out = sandbox.hv_ok(&["rstate", &vm.id(), "-o", "state.mvs"]);
    assert!(out.contains("saved to state.mvs"), "{out}");
    assert!(out.contains("paused"), "{out}");
    // Paused: what it printed before is flushed, then nothing more.
    vm.drain_until_quiet();
    vm.assert_quiet();
    assert_eq!(sandbox.ps_entry(&vm)["state"], "paused");

    let out = sandbox.hv_ok(&["kill", &vm.id()]);
    assert!(out.contains("stopped"), "{out}");
    vm.assert_stops("killed by movahv");
    vm.assert_counts_from(1);
    assert!(sandbox.ps_pids().is_empty());
    vm.last()
}

#[test]
fn rstate_to_a_file_then_restore_continues_from_the_right_value() {
    let sandbox = Sandbox::new("rstate");
    let last = save_a_running_loop(&sandbox);

    let text = sandbox.hv_ok(&["inspect", "state.mvs"]);
    assert!(text.contains("embedded, 5 instructions"), "{text}");
    assert!(text.contains("loop.mova:"), "{text}");
    assert!(text.contains("stack    1 value"), "{text}");
    assert!(
        text.lines()
            .any(|line| line.split_whitespace().eq(["0", &last.to_string()])),
        "the stack holds {last}:\n{text}"
    );
    let json: Value = serde_json::from_str(&sandbox.hv_ok(&["inspect", "state.mvs", "--json"]))
        .expect("inspect --json prints JSON");
    assert_eq!(json["stack"], serde_json::json!([last]), "{json}");
    assert_eq!(json["program_embedded"], true, "{json}");
    let ip = json["at"]["ip"].as_u64().expect("the IP is a number");
    assert!(ip < 5, "{json}");
    assert!(text.contains(&format!("ip       {ip}")), "{text}");

    // The program named again: it goes on from the next value.
    let mut restored = sandbox.start(&["--restore", "state.mvs", "loop.mova"]);
    assert_eq!(restored.take(3), [last + 1, last + 2, last + 3]);
    drop(restored);

    // Another program: refused, with status 3 and a reason.
    sandbox.write("other.mova", OTHER_LOOP);
    let output = sandbox.run(mova_path(), &["--restore", "state.mvs", "other.mova"], None);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("another program"), "{stderr}");
    assert!(stderr.contains("state.mvs"), "{stderr}");
    assert!(output.stdout.is_empty(), "{}", describe(&output));
}

#[test]
fn restore_runs_the_program_the_image_carries() {
    let sandbox = Sandbox::new("restore-embedded");
    let last = save_a_running_loop(&sandbox);
    let mut restored = sandbox.start(&["--restore", "state.mvs"]);
    assert_eq!(restored.take(3), [last + 1, last + 2, last + 3]);
}

#[test]
fn shell_keeps_connections_and_state() {
    let (sandbox, mut source, [mut target]) = Sandbox::with_source_and_blanks("shell");
    let (s, t) = (source.id(), target.id());

    let script = format!("bind {s}\nrstate {s}\nwstate {t}\nps\nquit\n");
    let output = sandbox.run(MOVAHV, &[], Some(&script));
    assert!(output.status.success(), "{}", describe(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    for part in [
        format!("bound to {s}"),
        String::from("kept for `wstate TO`"),
        format!("wrote the state of {s}"),
        format!("into {t}"),
    ] {
        assert!(out.contains(&part), "{part:?} missing from:\n{out}");
    }
    // The shell's `ps` ran after `wstate`: the source paused, the target running.
    let row = |pid: &str| {
        out.lines()
            .find(|line| line.starts_with(pid))
            .unwrap_or_else(|| panic!("no `ps` row for {pid} in:\n{out}"))
            .to_owned()
    };
    assert!(row(&s).contains("paused"), "{out}");
    assert!(row(&t).contains("running"), "{out}");

    let last = source.drain_until_quiet();
    assert_eq!(target.take(3), [last + 1, last + 2, last + 3]);
    // The source stays paused once the shell is gone.
    source.assert_quiet();
    assert_counts_across(
        &[&source, &target],
        "the source's output, then the target's",
    );
    assert_eq!(sandbox.ps_entry(&source)["state"], "paused");
    assert_eq!(sandbox.ps_entry(&target)["state"], "running");
}

// ---------------------------------------------------------------------------------------------
// Runtime records, ports, interrupts

#[test]
fn ps_prunes_a_vm_killed_with_sigkill() {
    let sandbox = Sandbox::with_loop("prune");
    let mut survivor = sandbox.start(&["loop.mvb"]);
    let mut victim = sandbox.start(&["loop.mvb"]);
    let record = runtime::record_path(&sandbox.run, victim.pid);
    victim.take(1);
    victim.sigkill();
    assert!(
        record.exists(),
        "a VM killed with SIGKILL cannot remove its record"
    );

    assert_eq!(sandbox.ps_pids(), [survivor.pid]);
    assert!(!record.exists(), "`movahv ps` removed the stale record");
    let table = sandbox.hv_ok(&["ps"]);
    assert!(!table.contains(&victim.id()), "{table}");
    survivor.take(3);
    survivor.assert_counts_from(1);
}

#[test]
fn mova_reports_a_taken_port() {
    let sandbox = Sandbox::with_loop("port");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut first = sandbox.start(&["--port", &port, "loop.mvb"]);
    assert_eq!(first.record.addr.port().to_string(), port);

    let output = sandbox.run(mova_path(), &["--port", &port, "loop.mvb"], None);
    assert_eq!(output.status.code(), Some(5), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot listen"), "{stderr}");
    assert!(stderr.contains("--port"), "{stderr}");
    assert!(output.stdout.is_empty(), "{}", describe(&output));

    // The first VM is unaffected and the only one recorded.
    first.take(3);
    first.assert_counts_from(1);
    assert_eq!(sandbox.ps_pids(), [first.pid]);
}

#[test]
fn interrupt_lands_promptly_in_a_tight_loop() {
    let sandbox = Sandbox::new("tight");
    sandbox.compile("tight.mvb", TIGHT_LOOP);
    let vm = sandbox.start(&["tight.mvb"]);
    let id = vm.id();
    // Wait until the loop runs (its variable is on the stack).
    let deadline = Instant::now() + TIMEOUT;
    while sandbox.ps_entry(&vm)["stack_depth"] != 1 {
        assert!(Instant::now() < deadline, "the tight loop never started");
        thread::sleep(Duration::from_millis(10));
    }

    let out = sandbox.hv_ok(&["interrupt", &id]);
    assert!(out.contains("interrupted"), "{out}");
    let entry = sandbox.ps_entry(&vm);
    assert_eq!(entry["state"], "paused", "{entry}");
    assert_eq!(entry["stack_depth"], 1, "{entry}");
    let ip = entry["ip"].as_u64().expect("a paused VM shows its IP");
    assert!(ip < 3, "{entry}");

    // Its state is where `ps` says, and stays there while paused.
    let output = sandbox.hv(&["rstate", &id, "-o", "-"]);
    assert!(output.status.success(), "{}", describe(&output));
    let image = Image::decode(&output.stdout).expect("rstate -o - writes an image");
    assert_eq!(u64::from(image.ip), ip);
    let [count] = image.stack[..] else {
        panic!("the stack is one value: {:?}", image.stack);
    };
    let entry = sandbox.ps_entry(&vm);
    assert_eq!(entry["state"], "paused", "{entry}");
    assert_eq!(entry["ip"], ip, "{entry}");

    let out = sandbox.hv_ok(&["resume", &id]);
    assert!(out.contains("resumed"), "{out}");
    assert_eq!(sandbox.ps_entry(&vm)["state"], "running");
    // It runs: the count grows (each look pauses it for a moment and lets it run on).
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let output = sandbox.hv(&["rstate", &id, "-o", "-", "--leave-running"]);
        assert!(output.status.success(), "{}", describe(&output));
        let image = Image::decode(&output.stdout).unwrap();
        if image.stack[0] > count {
            break;
        }
        assert!(Instant::now() < deadline, "the count stays at {count}");
    }
    assert_eq!(sandbox.ps_entry(&vm)["state"], "running");
}

// ---------------------------------------------------------------------------------------------
// Across hosts: two network namespaces

/// Network namespaces and links to delete however the test ends.
#[derive(Default)]
struct NetnsGuard {
    namespaces: Vec<String>,
    links: Vec<String>,
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new("ip")
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        for link in &self.links {
            quiet(&["link", "del", link]);
        }
        for namespace in &self.namespaces {
            quiet(&["netns", "del", namespace]);
        }
    }
}

/// `ip ARGS`, bounded in time: `Err` with why it could not run or what it said.
fn ip(args: &[&str]) -> Result<(), String> {
    let output = assert_cmd::Command::new("ip")
        .args(args)
        .timeout(TIMEOUT)
        .output()
        .map_err(|error| format!("cannot run `ip {}`: {error}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The effective user id, from `/proc/self/status`.
fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Two namespaces joined by a veth pair, `10.200.X.1` in the first and `10.200.X.2` in the
/// second; `Err` says why they cannot be made here.
fn two_hosts(guard: &mut NetnsGuard, tag: &str, subnet: &str) -> Result<[String; 2], String> {
    let names = [format!("mova-test-{tag}-a"), format!("mova-test-{tag}-b")];
    let links = [format!("mvt{tag}a"), format!("mvt{tag}b")];
    for name in &names {
        ip(&["netns", "add", name])?;
        guard.namespaces.push(name.clone());
    }
    ip(&[
        "link", "add", &links[0], "type", "veth", "peer", "name", &links[1],
    ])?;
    guard.links.push(links[0].clone());
    for (index, (name, link)) in names.iter().zip(&links).enumerate() {
        ip(&["link", "set", link, "netns", name])?;
        let addr = format!("{subnet}.{}/24", index + 1);
        ip(&["-n", name, "addr", "add", &addr, "dev", link])?;
        ip(&["-n", name, "link", "set", link, "up"])?;
        ip(&["-n", name, "link", "set", "lo", "up"])?;
    }
    Ok(names)
}

#[test]
fn migration_between_network_namespaces() {
    if effective_uid() != Some(0) {
        eprintln!("skipping: not running as root (network namespaces need it)");
        return;
    }
    let mut guard = NetnsGuard::default();
    let pid = std::process::id();
    let tag = pid.to_string();
    let subnet = format!("10.200.{}", pid % 250 + 1);
    let [ns_a, ns_b] = match two_hosts(&mut guard, &tag, &subnet) {
        Ok(names) => names,
        Err(reason) => {
            eprintln!("skipping: {reason}");
            return;
        }
    };
    let (host_a, host_b) = (format!("{subnet}.1"), format!("{subnet}.2"));

    let sandbox = Sandbox::with_loop("netns");
    let mova = mova_path();
    let in_namespace = |namespace: &str, args: &[&str]| {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", namespace])
            .arg(&mova)
            .args(args);
        command
    };
    let mut source = sandbox.start_command(
        in_namespace(&ns_a, &["--listen", &host_a, "loop.mvb"]),
        &format!("mova (in {ns_a})"),
    );
    let mut target = sandbox.start_command(
        in_namespace(&ns_b, &["serve", "--listen", &host_b]),
        &format!("mova serve (in {ns_b})"),
    );
    assert_eq!(source.record.addr.ip().to_string(), host_a);
    assert_eq!(target.record.addr.ip().to_string(), host_b);
    source.take(3);

    // Off the loopback both VMs speak TLS, and their records name their certificates.
    let fingerprint = target
        .record
        .fingerprint
        .clone()
        .expect("a TLS fingerprint");
    // As the README's walk-through: the second host prints its VM's record, the first migrates
    // into it with that token and fingerprint.
    let output = sandbox.run(
        "ip",
        &["netns", "exec", &ns_b, MOVAHV, "record", &target.id()],
        None,
    );
    assert!(output.status.success(), "{}", describe(&output));
    let record: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(record["token"], target.record.token.as_str());
    assert_eq!(record["fingerprint"], fingerprint.as_str());
    let source_id = source.id();
    let migrate = |fingerprint: &str| {
        sandbox.run(
            "ip",
            &[
                "netns",
                "exec",
                &ns_a,
                MOVAHV,
                "migrate",
                &source_id,
                &target.record.addr.to_string(),
                "--token",
                &target.record.token,
                "--fingerprint",
                fingerprint,
            ],
            None,
        )
    };
    // A wrong fingerprint: refused before anything is sent, and the source runs on.
    let refused = migrate(&format!("sha256:{}", "ab".repeat(32)));
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("wrong fingerprint"),
        "{}",
        describe(&refused)
    );
    source.take(2);
    let output = migrate(&fingerprint);
    assert!(output.status.success(), "{}", describe(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("migrated"), "{out}");
    assert!(out.contains(&target.record.addr.to_string()), "{out}");

    source.assert_stops(&format!("migrated to {}", target.record.addr));
    target.take(5);
    assert_counts_across(
        &[&source, &target],
        "the first host's output, then the second's",
    );
    // The VMs (declared after the guard) are killed before the namespaces are deleted.
}

/// The control channel holds at most 16 clients: a 17th is answered with an error and closed, the
/// program runs on, and a freed place takes a new client.
#[test]
fn the_connection_limit_refuses_the_seventeenth_client() {
    const LIMIT: usize = 16;
    let sandbox = Sandbox::with_loop("connection-limit");
    let mut vm = sandbox.start(&["loop.mvb"]);
    let addr = vm.record.addr;
    let token = vm.record.token_bytes().unwrap();
    assert_eq!(vm.take(2), [1, 2]);

    let mut held: Vec<TcpStream> = (0..LIMIT)
        .map(|_| {
            let mut stream = raw_connect(addr);
            authenticate(&mut stream, &token).unwrap();
            stream
        })
        .collect();

    let mut extra = raw_connect(addr);
    let message = error_message(&read_until_closed(&mut extra));
    assert!(message.contains("too many connections"), "{message}");
    vm.wait_stderr("too many connections");

    // Freeing a place lets a new client in; the VM printed throughout.
    drop(held.pop());
    let mut admitted = None;
    let deadline = Instant::now() + TIMEOUT;
    while admitted.is_none() {
        // The listener counts a connection as gone once its thread has seen it close.
        let mut stream = raw_connect(addr);
        match authenticate(&mut stream, &token) {
            Ok(()) => admitted = Some(stream),
            Err(_) => {
                assert!(Instant::now() < deadline, "no place was freed");
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
    drop(held);
    vm.read_past(Instant::now());
    vm.assert_counts_from(1);
    assert_eq!(sandbox.ps_entry(&vm)["state"], "running");
}

/// A client that stays silent past `--idle-timeout` is dropped, and what it held is undone: a
/// `movahv` that hangs mid-migration cannot keep a VM paused for ever.
#[test]
fn a_silent_client_is_dropped_and_its_hold_undone() {
    let sandbox = Sandbox::with_loop("idle");
    let refused = sandbox.run(mova_path(), &["--idle-timeout", "0", "loop.mvb"], None);
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));

    let mut vm = sandbox.start(&["--idle-timeout", "1", "loop.mvb"]);
    vm.take(2);
    let mut stream = raw_connect(vm.record.addr);
    authenticate(&mut stream, &vm.record.token_bytes().unwrap()).unwrap();
    Request::Save {
        with_program: false,
    }
    .write(&mut stream)
    .unwrap();
    let saved_at = Instant::now();
    let Response::Image(image) = Response::read(&mut stream).unwrap() else {
        panic!("no image");
    };
    let paused_at = Image::decode(&image).unwrap().stack[0];
    vm.drain_until_quiet();
    let entry = sandbox.ps_entry(&vm);
    assert_eq!(
        (entry["state"].as_str(), entry["held"].as_bool()),
        (Some("paused"), Some(true))
    );

    // Silent from here: the VM drops the client after a second and runs on.
    let message = error_message(&read_until_closed(&mut stream));
    assert!(saved_at.elapsed() >= Duration::from_secs(1));
    assert!(message.contains("silent for 1 s"), "{message}");
    vm.wait_stderr("dropped: silent for 1 s (the idle timeout)");
    let next = vm.next();
    assert_eq!(next, paused_at + 1, "the VM runs on from where it paused");
    vm.assert_counts_from(1);
}

/// `movahv inspect` refuses an image file over the size limit (exit 1) without reading it whole,
/// and a missing file the same way.
#[test]
fn inspect_refuses_a_file_over_the_limit() {
    let sandbox = Sandbox::new("inspect-limit");
    let path = sandbox.path("big.mvs");
    fs::File::create(&path)
        .unwrap()
        .set_len(u64::try_from(mova_lang::image::MAX_IMAGE_LEN + 1).unwrap())
        .unwrap();
    let stderr = sandbox.hv_fails(&["inspect", "big.mvs"], 1);
    assert!(stderr.contains("is too large: the limit is"), "{stderr}");
    let stderr = sandbox.hv_fails(&["inspect", "missing.mvs"], 1);
    assert!(stderr.contains("missing.mvs"), "{stderr}");
}

/// A paused VM's computation stays paused when it moves, unless `--resume` says otherwise; and a
/// VM running the same program is replaced only with `--force` (issue 9, item 22).
#[test]
fn a_paused_computation_arrives_paused_and_a_busy_target_needs_force() {
    let sandbox = Sandbox::with_loop("paused-migration");
    let mut source = sandbox.start(&["loop.mvb"]);
    source.take(3);
    sandbox.hv_ok(&["interrupt", &source.id()]);
    source.drain_until_quiet();

    let mut target = sandbox.start(&["serve"]);
    let said = sandbox.hv_ok(&["migrate", &source.id(), &target.id()]);
    assert!(said.contains("paused there"), "{said}");
    source.assert_stops("migrated to");
    target.assert_quiet();
    assert_eq!(sandbox.ps_entry(&target)["state"], "paused");

    // Into a VM that runs the same program: refused, then replaced with --force and --resume.
    let mut busy = sandbox.start(&["loop.mvb"]);
    busy.take(2);
    // Paused, so that every line it prints afterwards is the moved computation's.
    sandbox.hv_ok(&["interrupt", &busy.id()]);
    busy.drain_until_quiet();
    let stderr = sandbox.hv_fails(&["migrate", &target.id(), &busy.id()], 1);
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(sandbox.ps_entry(&target)["state"], "paused");
    let out = sandbox.hv_ok(&[
        "migrate",
        &target.id(),
        &busy.id(),
        "--force",
        "--resume",
        "--json",
    ]);
    let stats: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stats["running"], true, "{stats}");
    target.assert_stops("migrated to");
    let before = busy.values().len();
    busy.take(3);
    let moved = &busy.values()[before..];
    assert_consecutive(
        moved,
        source.last() + 1,
        "the moved computation on its new VM",
    );
}

/// A program that halts the moment the target runs it (issue 9, item 2): the target's answer to
/// the commit is written before it exits, so `movahv` never takes the state back and the program
/// prints once. Before the fix the target could exit first, and `movahv` gave the state back to
/// the source, which printed again.
#[test]
fn a_program_that_halts_right_after_the_commit_runs_once() {
    let sandbox = Sandbox::new("halts-at-once");
    sandbox.compile("once.mvb", "print(7);\n");
    for round in 0..20 {
        let mut source = sandbox.start(&["once.mvb", "--paused"]);
        let mut target = sandbox.start(&["serve"]);
        let said = sandbox.hv_ok(&["migrate", &source.id(), &target.id(), "--resume"]);
        assert!(said.contains("migrated"), "round {round}: {said}");
        source.assert_stops("migrated to");
        assert_eq!(target.wait().code(), Some(0), "round {round}");
        target.read_to_end();
        assert_eq!(source.values(), Vec::<i64>::new(), "round {round}");
        assert_eq!(target.values(), [7], "round {round}");
    }
}
