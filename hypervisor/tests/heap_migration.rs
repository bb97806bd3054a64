//! A heap across real VM processes: a program that grows an array (through an alias), a string
//! and an array of strings is migrated several times at random moments; every line it prints
//! holds only if the alias still shares the array and every length is intact, and what all the
//! VMs printed, one after another, is exactly an uninterrupted run's output.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The program. Each line is `len(a) * 1000000 + a[i] * 1000 + len(s) - len(words) + 1`: the
/// element pushed through `b` is read through `a`, so the line is `(i + 1) * 1000000 +
/// i * 1000 + 1` only if `b` and `a` are one array, and the string and the array of strings
/// grew once each per line.
const SOURCE: &str = "\
var a: [int] = [];
var b = a;
var s = \"\";
var words: [str] = [];
var i = 0;
while i < 400 {
    push(b, i);
    s = s + \"x\";
    push(words, str(i));
    print(len(a) * 1000000 + a[i] * 1000 + len(s) - len(words) + 1);
    sleep(2);
    i += 1;
}
";

/// What [`SOURCE`] prints.
fn expected() -> Vec<i64> {
    (0..400)
        .map(|i| (i + 1) * 1_000_000 + i * 1000 + 1)
        .collect()
}

fn seed() -> u64 {
    let seed = std::env::var("MOVA_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |now| now.as_nanos() as u64)
                | 1
        });
    eprintln!("heap_migration: MOVA_TEST_SEED={seed}");
    seed
}

#[test]
fn a_growing_heap_with_an_alias_migrates_at_random_moments_intact() {
    let sandbox = Sandbox::new("heap-migrate");
    sandbox.write("heap.mova", SOURCE);
    let mut state = seed();
    let mut below = |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    let mut vms = vec![sandbox.start(&["heap.mova"])];
    vms[0].take(1);
    const HOPS: usize = 4;
    for hop in 0..HOPS {
        let target = sandbox.start(&["serve"]);
        // A moment somewhere in the run, which takes about a second in all.
        std::thread::sleep(Duration::from_millis(20 + below(120)));
        let (from, to) = (vms[hop].id(), target.id());
        let out = sandbox.hv_ok(&["migrate", &from, &to]);
        assert!(out.contains("migrated"), "{out}");
        vms[hop].assert_stops(&format!("migrated to {to}"));
        vms.push(target);
    }
    let last = vms.last_mut().unwrap();
    assert_eq!(last.wait().code(), Some(0), "{}", last.stderr());
    last.read_to_end();
    let all: Vec<i64> = vms.iter().flat_map(Vm::values).collect();
    let lengths: Vec<usize> = vms.iter().map(|vm| vm.values().len()).collect();
    assert!(
        all == expected(),
        "the output of the {} VMs, in order (lines per VM: {lengths:?}), is not an uninterrupted \
         run's: first difference at line {:?}",
        vms.len(),
        all.iter()
            .zip(expected())
            .position(|(a, b)| *a != b)
            .or(Some(all.len()))
    );
    assert!(lengths.iter().all(|&len| len > 0), "{lengths:?}");
}
