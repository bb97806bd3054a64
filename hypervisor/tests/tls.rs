//! The control channel off the loopback, end to end with the real binaries: a VM listening on a
//! non-loopback address speaks only TLS, `movahv` trusts it by the fingerprint in its runtime
//! record, by `--fingerprint`, or on first use through the known hosts file (refusing a changed
//! one), a plain client is told to use TLS, and a recording proxy sees neither the token nor the
//! state image. Needs a non-loopback address on this machine; skipped with a message without one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

mod common;

use common::*;
use mova_vm::protocol::Response;
use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

/// An address of this machine that is not a loopback one, if it has one (the one its route to
/// elsewhere leaves from; a UDP "connection" sends nothing).
fn non_loopback_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    let usable = !ip.is_loopback() && !ip.is_unspecified() && TcpListener::bind((ip, 0)).is_ok();
    usable.then_some(ip)
}

macro_rules! need_address {
    () => {
        match non_loopback_ip() {
            Some(ip) => ip,
            None => {
                eprintln!("skipping: this machine has no non-loopback address to listen on");
                return;
            }
        }
    };
}

/// A sandbox with the fast loop compiled, and a VM running it on `ip`.
fn vm_on(ip: IpAddr, name: &str) -> (Sandbox, Vm) {
    let sandbox = Sandbox::with_loop(name);
    let vm = sandbox.start(&["--listen", &ip.to_string(), "loop.mvb"]);
    (sandbox, vm)
}

#[test]
fn a_vm_off_the_loopback_speaks_tls_and_is_found_by_its_record() {
    let ip = need_address!();
    let (sandbox, mut vm) = vm_on(ip, "tls-record");
    let fingerprint = vm
        .record
        .fingerprint
        .clone()
        .expect("a fingerprint in the record");
    assert!(fingerprint.starts_with("sha256:"), "{fingerprint}");
    vm.take(2);
    // The user's key pair was made once, private.
    for name in ["vm.crt", "vm.key"] {
        let path = sandbox.path("config/tls").join(name);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
    // By pid, `movahv` trusts the certificate the record names.
    assert!(
        sandbox
            .hv_ok(&["interrupt", &vm.id()])
            .contains("interrupted")
    );
    vm.drain_until_quiet();
    assert_eq!(sandbox.ps_entry(&vm)["state"], "paused");
    sandbox.hv_ok(&["resume", &vm.id()]);
    vm.take(2);
    vm.assert_counts_from(1);
    // A second VM of the same user presents the same certificate.
    let other = sandbox.start(&["serve", "--listen", &ip.to_string()]);
    assert_eq!(
        other.record.fingerprint.as_deref(),
        Some(fingerprint.as_str())
    );
    // On the loopback there is no TLS, and no fingerprint.
    let local = sandbox.start(&["serve"]);
    assert_eq!(local.record.fingerprint, None);
}

#[test]
fn a_remote_vm_is_pinned_or_trusted_on_first_use_and_a_changed_key_is_refused() {
    let ip = need_address!();
    let (sandbox, mut vm) = vm_on(ip, "tls-remote");
    vm.take(2);
    let addr = vm.record.addr.to_string();
    let token = vm.record.token.clone();
    let fingerprint = vm.record.fingerprint.clone().unwrap();

    // A wrong fingerprint: refused before anything is sent.
    let wrong = format!("sha256:{}", "00".repeat(32));
    let stderr = sandbox.hv_fails(
        &[
            "interrupt",
            &addr,
            "--token",
            &token,
            "--fingerprint",
            &wrong,
        ],
        1,
    );
    assert!(stderr.contains("wrong fingerprint"), "{stderr}");
    let stderr = sandbox.hv_fails(
        &[
            "interrupt",
            &addr,
            "--token",
            &token,
            "--fingerprint",
            "xyz",
        ],
        2,
    );
    assert!(stderr.contains("is not a fingerprint"), "{stderr}");
    // The right one.
    sandbox.hv_ok(&[
        "interrupt",
        &addr,
        "--token",
        &token,
        "--fingerprint",
        &fingerprint,
    ]);
    sandbox.hv_ok(&[
        "resume",
        &addr,
        "--token",
        &token,
        "--fingerprint",
        &fingerprint,
    ]);

    // Without one: trusted on first use, recorded once the VM proved it holds the token.
    let known = sandbox.path("config/known_hosts");
    let first = sandbox.hv(&["interrupt", &addr, "--token", &token]);
    assert!(first.status.success(), "{}", describe(&first));
    let said = String::from_utf8_lossy(&first.stderr).into_owned();
    assert!(
        said.contains(&format!("trusting {ip} from now on")),
        "{said}"
    );
    let recorded = fs::read_to_string(&known).unwrap();
    assert_eq!(recorded, format!("{ip} {fingerprint}\n"));
    assert_eq!(
        fs::metadata(&known).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = sandbox.hv(&["resume", &addr, "--token", &token]);
    assert!(again.status.success(), "{}", describe(&again));
    assert!(!String::from_utf8_lossy(&again.stderr).contains("trusting"));
    vm.take(2);
    vm.assert_counts_from(1);

    // Another key on the same host (another user's VM, or an impostor): refused, as ssh does.
    let stranger = Sandbox::with_loop("tls-stranger");
    let other = stranger.start(&["serve", "--listen", &ip.to_string()]);
    assert_ne!(
        other.record.fingerprint.as_deref(),
        Some(fingerprint.as_str())
    );
    let stderr = sandbox.hv_fails(
        &[
            "interrupt",
            &other.record.addr.to_string(),
            "--token",
            &other.record.token,
        ],
        1,
    );
    assert!(
        stderr.contains(&format!("the fingerprint of {ip} changed")),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(&known).unwrap(),
        recorded,
        "the file is unchanged"
    );
}

#[test]
fn a_plain_client_is_told_the_channel_speaks_tls() {
    let ip = need_address!();
    let (_sandbox, mut vm) = vm_on(ip, "tls-plain");
    vm.take(1);
    let mut stream = TcpStream::connect_timeout(&vm.record.addr, TIMEOUT).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    mova_vm::protocol::Request::Hello {
        version: mova_vm::protocol::PROTOCOL_VERSION,
        nonce: vec![1; 32],
    }
    .write(&mut stream)
    .unwrap();
    match Response::read(&mut stream) {
        Ok(Response::Error(message)) => assert!(message.contains("speaks TLS"), "{message}"),
        other => panic!("expected an Error, got {other:?}"),
    }
    vm.take(2);
    vm.assert_counts_from(1);
}

/// A TCP relay to `to` that keeps every byte that crosses it, both ways.
fn recording_proxy(listen: IpAddr, to: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind((listen, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&recorded);
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let Ok(server) = TcpStream::connect_timeout(&to, TIMEOUT) else {
                break;
            };
            for (mut from, mut into) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                let log = Arc::clone(&log);
                thread::spawn(move || {
                    let mut buffer = [0u8; 16 * 1024];
                    loop {
                        match from.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(read) => {
                                log.lock().unwrap().extend_from_slice(&buffer[..read]);
                                if into.write_all(&buffer[..read]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = into.shutdown(Shutdown::Write);
                });
            }
        }
    });
    (addr, recorded)
}

/// Whether `haystack` holds `needle` anywhere.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

#[test]
fn a_recording_proxy_sees_neither_the_token_nor_over_tls_the_image() {
    // On the loopback (plain TCP): the token never crosses; the image does, in clear.
    let sandbox = Sandbox::with_loop("proxy-plain");
    let mut vm = sandbox.start(&["loop.mvb"]);
    vm.take(3);
    let (addr, recorded) = recording_proxy(vm.record.addr.ip(), vm.record.addr);
    let token = vm.record.token.clone();
    sandbox.hv_ok(&[
        "rstate",
        &addr.to_string(),
        "--token",
        &token,
        "--leave-running",
        "-o",
        "plain.mvs",
    ]);
    let image = fs::read(sandbox.path("plain.mvs")).unwrap();
    let bytes = recorded.lock().unwrap().clone();
    let raw = mova_vm::runtime::decode_hex(&token).unwrap();
    assert!(!contains(&bytes, &raw) && !contains(&bytes, token.as_bytes()));
    assert!(
        contains(&bytes, &image),
        "a plain channel carries the image as it is"
    );

    // Off the loopback (TLS): neither crosses.
    let Some(ip) = non_loopback_ip() else {
        eprintln!("skipping the TLS half: this machine has no non-loopback address");
        return;
    };
    let (sandbox, mut vm) = vm_on(ip, "proxy-tls");
    vm.take(3);
    let (addr, recorded) = recording_proxy(ip, vm.record.addr);
    let token = vm.record.token.clone();
    let fingerprint = vm.record.fingerprint.clone().unwrap();
    sandbox.hv_ok(&[
        "rstate",
        &addr.to_string(),
        "--token",
        &token,
        "--fingerprint",
        &fingerprint,
        "--leave-running",
        "-o",
        "tls.mvs",
    ]);
    let image = fs::read(sandbox.path("tls.mvs")).unwrap();
    assert!(image.len() > 64);
    let bytes = recorded.lock().unwrap().clone();
    let raw = mova_vm::runtime::decode_hex(&token).unwrap();
    assert!(!contains(&bytes, &raw) && !contains(&bytes, token.as_bytes()));
    // Not the image, nor any 16 bytes of it.
    for chunk in image.chunks(16).filter(|chunk| chunk.len() == 16) {
        assert!(
            !contains(&bytes, chunk),
            "16 bytes of the image crossed in clear"
        );
    }
    vm.take(2);
    vm.assert_counts_from(1);
}

#[test]
fn a_migration_over_tls_loses_and_repeats_nothing() {
    let ip = need_address!();
    let (sandbox, mut source) = vm_on(ip, "tls-migrate");
    let target = sandbox.start(&["serve", "--listen", &ip.to_string()]);
    source.take(3);
    let out = sandbox.hv_ok(&[
        "migrate",
        &source.id(),
        &target.record.addr.to_string(),
        "--token",
        &target.record.token,
        "--fingerprint",
        target.record.fingerprint.as_deref().unwrap(),
    ]);
    assert!(out.contains("migrated"), "{out}");
    source.assert_stops(&format!("migrated to {}", target.record.addr));
    let mut target = target;
    target.take(5);
    assert_counts_across(
        &[&source, &target],
        "the source's output, then the target's",
    );
}

/// Writes `cert` and its `key` as PEM files `NAME.crt` and `NAME.key` (0600) in the sandbox.
fn pem_files(sandbox: &Sandbox, name: &str, cert: &rcgen::Certificate, key: &rcgen::KeyPair) {
    sandbox.write(&format!("{name}.crt"), cert.pem());
    sandbox.write(&format!("{name}.key"), key.serialize_pem());
    let path = sandbox.path(&format!("{name}.key"));
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

fn params(ip: IpAddr) -> rcgen::CertificateParams {
    rcgen::CertificateParams::new(vec![ip.to_string()]).unwrap()
}

#[test]
fn certificates_given_with_tls_cert_a_ca_an_expired_one_and_a_self_signed_one_unpinned() {
    let ip = need_address!();
    let sandbox = Sandbox::with_loop("tls-certs");
    // A CA, and a VM certificate it signed for the address.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    sandbox.write("ca.pem", ca_cert.pem());
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let vm_key = rcgen::KeyPair::generate().unwrap();
    let vm_cert = params(ip).signed_by(&vm_key, &issuer).unwrap();
    pem_files(&sandbox, "signed", &vm_cert, &vm_key);
    let listen = ip.to_string();
    let mut signed = sandbox.start(&[
        "--listen",
        &listen,
        "--tls-cert",
        "signed.crt",
        "--tls-key",
        "signed.key",
        "loop.mvb",
    ]);
    signed.take(1);
    let addr = signed.record.addr.to_string();
    let token = signed.record.token.clone();
    let with_ca = |args: &[&str]| {
        Command::new(MOVAHV)
            .args(args)
            .env("MOVA_RUNTIME_DIR", &sandbox.run)
            .env("MOVA_CONFIG_DIR", sandbox.path("config"))
            .env("MOVA_TLS_CA", sandbox.path("ca.pem"))
            .current_dir(sandbox.path(""))
            .output()
            .unwrap()
    };
    // The CA's certificate for this address: trusted, with no fingerprint and no known host.
    let ok = with_ca(&["interrupt", &addr, "--token", &token]);
    assert!(ok.status.success(), "{}", describe(&ok));
    assert!(!sandbox.path("config/known_hosts").exists());
    sandbox.hv_ok(&["resume", &signed.id()]);

    // A self-signed certificate, not pinned, when a CA is required: refused.
    let (_other, own) = vm_on(ip, "tls-self-signed");
    let refused = with_ca(&[
        "interrupt",
        &own.record.addr.to_string(),
        "--token",
        &own.record.token,
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("certificate is refused"), "{said}");

    // An expired certificate: refused even where it is pinned (by the VM's own record).
    let old_key = rcgen::KeyPair::generate().unwrap();
    let mut old = params(ip);
    old.not_before = rcgen::date_time_ymd(2001, 1, 1);
    old.not_after = rcgen::date_time_ymd(2002, 1, 1);
    let old_cert = old.self_signed(&old_key).unwrap();
    pem_files(&sandbox, "expired", &old_cert, &old_key);
    let mut expired = sandbox.start(&[
        "--listen",
        &listen,
        "--tls-cert",
        "expired.crt",
        "--tls-key",
        "expired.key",
        "loop.mvb",
    ]);
    expired.take(1);
    let stderr = sandbox.hv_fails(&["interrupt", &expired.id()], 1);
    assert!(stderr.contains("expired or not yet valid"), "{stderr}");
    expired.take(2);
    expired.assert_counts_from(1);

    // Bad files for --tls-cert are refused at start, with exit status 5.
    sandbox.write("empty.crt", "");
    let failed = sandbox.run(
        mova_path(),
        &[
            "--listen",
            &listen,
            "--tls-cert",
            "empty.crt",
            "--tls-key",
            "signed.key",
            "loop.mvb",
        ],
        None,
    );
    assert_eq!(failed.status.code(), Some(5), "{}", describe(&failed));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("holds no certificate"));
    let failed = sandbox.run(
        mova_path(),
        &[
            "--tls-cert",
            "signed.crt",
            "--tls-key",
            "signed.key",
            "loop.mvb",
        ],
        None,
    );
    assert_eq!(
        failed.status.code(),
        Some(5),
        "on the loopback: {}",
        describe(&failed)
    );
}

#[test]
fn a_listener_off_the_loopback_that_answers_in_plain_frames_is_refused() {
    // Someone who strips TLS between movahv and the VM, answering as a plain VM would.
    let ip = need_address!();
    let sandbox = Sandbox::with_loop("tls-downgrade");
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = forged_challenge(listener, |stream| {
        let mut first = [0u8; 1];
        let _ = stream.read_exact(&mut first);
        first[0]
    });
    let stderr = sandbox.hv_fails(
        &["interrupt", &addr.to_string(), "--token", &"ab".repeat(32)],
        1,
    );
    assert!(stderr.contains("refusing"), "{stderr}");
    let (first, _) = fake.join().unwrap();
    assert_eq!(first, 0x16, "the client's first byte began a TLS record");
}
