//! Sealed state images, end to end: `movahv rstate --seal-key` writes an image sealed with the
//! user's key; `mova --restore`, `movahv wstate` and `movahv inspect` read it with that key, and
//! refuse — before decoding anything — one tampered with, cut short, sealed with another key, or
//! not sealed at all when a key is set. A key file others can read is refused too.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

mod common;

use common::*;
use mova_lang::seal::{SEAL_HEADER_LEN, SEAL_SIGNATURE};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// Writes a private key file of `byte` repeated.
fn key_file(sandbox: &Sandbox, name: &str, byte: u8) -> String {
    sandbox.write(name, vec![byte; 32]);
    let path = sandbox.path(name);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    name.to_owned()
}

/// Saves the running loop sealed with `key` into `file`; returns the last value it printed.
fn sealed_state(sandbox: &Sandbox, key: &str, file: &str) -> i64 {
    let mut vm = sandbox.start(&["loop.mvb"]);
    vm.take(3);
    sandbox.hv_ok(&["rstate", &vm.id(), "--seal-key", key, "-o", file]);
    let last = vm.drain_until_quiet();
    sandbox.hv_ok(&["kill", &vm.id()]);
    last
}

#[test]
fn a_sealed_image_round_trips_with_its_key_and_is_refused_otherwise() {
    let sandbox = Sandbox::with_loop("sealed");
    let key = key_file(&sandbox, "seal.key", 0x5A);
    let last = sealed_state(&sandbox, &key, "s.mvs");
    let sealed = fs::read(sandbox.path("s.mvs")).unwrap();
    assert!(sealed.starts_with(&SEAL_SIGNATURE), "the file is sealed");

    // With the key: inspected, and restored from where it stopped.
    let out = sandbox.hv_ok(&["inspect", "s.mvs", "--seal-key", &key]);
    assert!(out.contains("stack"), "{out}");
    let mut resumed = sandbox.start(&["--restore", "s.mvs", "--seal-key", &key]);
    assert_eq!(resumed.next(), last + 1, "nothing lost, nothing repeated");
    drop(resumed);

    // Without it: refused, saying why.
    let stderr = sandbox.hv_fails(&["inspect", "s.mvs"], 1);
    assert!(
        stderr.contains("the image is sealed: give its key"),
        "{stderr}"
    );
    let refused = sandbox.run(mova_path(), &["--restore", "s.mvs"], None);
    assert_eq!(refused.status.code(), Some(3), "{}", describe(&refused));

    // Another key, a flipped byte anywhere, a cut: refused before decoding.
    let other = key_file(&sandbox, "other.key", 0x33);
    let stderr = sandbox.hv_fails(&["inspect", "s.mvs", "--seal-key", &other], 1);
    assert!(stderr.contains("seal does not match"), "{stderr}");
    for at in [
        0,
        9,
        10,
        SEAL_HEADER_LEN,
        SEAL_HEADER_LEN + 9,
        sealed.len() - 1,
    ] {
        let mut tampered = sealed.clone();
        tampered[at] ^= 1;
        sandbox.write("t.mvs", &tampered);
        let refused = sandbox.run(
            mova_path(),
            &["--restore", "t.mvs", "--seal-key", &key],
            None,
        );
        assert_eq!(
            refused.status.code(),
            Some(3),
            "flip at {at}: {}",
            describe(&refused)
        );
    }
    sandbox.write("cut.mvs", &sealed[..sealed.len() - 1]);
    let stderr = sandbox.hv_fails(&["inspect", "cut.mvs", "--seal-key", &key], 1);
    assert!(stderr.contains("seal does not match"), "{stderr}");

    // An unsealed image, when a key is set: refused.
    let mut vm = sandbox.start(&["loop.mvb"]);
    vm.take(1);
    sandbox.hv_ok(&["rstate", &vm.id(), "-o", "plain.mvs", "--leave-running"]);
    let stderr = sandbox.hv_fails(&["wstate", "plain.mvs", &vm.id(), "--seal-key", &key], 1);
    assert!(
        stderr.contains("is not sealed, and a seal key is set"),
        "{stderr}"
    );
    vm.take(2);
    vm.assert_counts_from(1);
}

#[test]
fn wstate_and_the_environment_variable_take_the_key_too() {
    let sandbox = Sandbox::with_loop("sealed-wstate");
    let key = key_file(&sandbox, "seal.key", 0x42);
    let last = sealed_state(&sandbox, &key, "s.mvs");
    let mut target = sandbox.start(&["serve"]);
    sandbox.hv_ok(&["wstate", "s.mvs", &target.id(), "--seal-key", &key]);
    assert_eq!(target.next(), last + 1);

    // MOVA_SEAL_KEY names the key file when --seal-key is not given.
    let output = Command::new(MOVAHV)
        .args(["inspect", "s.mvs"])
        .env("MOVA_RUNTIME_DIR", &sandbox.run)
        .env("MOVA_SEAL_KEY", sandbox.path(&key))
        .current_dir(sandbox.path(""))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
}

#[test]
fn a_key_file_others_can_read_or_too_short_is_refused() {
    let sandbox = Sandbox::with_loop("sealed-keys");
    let key = key_file(&sandbox, "seal.key", 0x42);
    let mut vm = sandbox.start(&["loop.mvb"]);
    vm.take(1);
    fs::set_permissions(sandbox.path(&key), fs::Permissions::from_mode(0o644)).unwrap();
    let stderr = sandbox.hv_fails(&["rstate", &vm.id(), "--seal-key", &key, "-o", "s.mvs"], 2);
    assert!(stderr.contains("others may read it"), "{stderr}");
    sandbox.write("short.key", [1u8; 16]);
    fs::set_permissions(sandbox.path("short.key"), fs::Permissions::from_mode(0o600)).unwrap();
    let stderr = sandbox.hv_fails(
        &["rstate", &vm.id(), "--seal-key", "short.key", "-o", "s.mvs"],
        2,
    );
    assert!(stderr.contains("at least 32 bytes"), "{stderr}");
    assert!(!sandbox.path("s.mvs").exists(), "nothing was written");
    // And the VM was never paused.
    vm.take(2);
    vm.assert_counts_from(1);
}
