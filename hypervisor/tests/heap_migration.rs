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

#[test]
fn a_vm_refuses_an_image_whose_heap_passes_its_limit_and_keeps_waiting() {
    let sandbox = Sandbox::new("heap-limit");
    // About 2.4 MB of heap: an array of 300,000 ints.
    sandbox.write(
        "big.mova",
        "var a = array(300000, 7);\nwhile true { print(len(a)); sleep(20); }\n",
    );
    let mut source = sandbox.start(&["big.mova"]);
    assert_eq!(source.next(), 300_000);
    let out = sandbox.hv_ok(&["rstate", &source.id(), "-o", "big.mvs"]);
    assert!(out.contains("saved to big.mvs"), "{out}");
    let small = sandbox.start(&["serve", "--max-heap", "1M"]);
    let error = sandbox.hv_fails(&["wstate", "big.mvs", &small.id()], 1);
    assert!(
        error.contains(
            "refused the image: the image's heap holds 2400032 bytes, more than this VM's limit of 1048576 bytes (mova --max-heap)"
        ),
        "{error}"
    );
    let entry = sandbox.ps_entry(&small);
    assert_eq!(entry["state"], "waiting", "{entry}");
    // A VM with the default limit takes it and runs it on.
    let mut large = sandbox.start(&["serve"]);
    let out = sandbox.hv_ok(&["wstate", "big.mvs", &large.id()]);
    assert!(out.contains("it runs"), "{out}");
    assert_eq!(large.next(), 300_000);
    sandbox.hv_ok(&["kill", &large.id()]);
    sandbox.hv_ok(&["kill", &source.id()]);
    sandbox.hv_ok(&["kill", &small.id()]);
}
