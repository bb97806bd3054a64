//! Recursion across real VM processes: a 1,000-deep recursion that prints on its way down and
//! back up is migrated several times at random moments, and what all the VMs printed, one after
//! another, is exactly an uninterrupted run's output; an image taken 500 frames deep shows those
//! frames in `movahv inspect`, with each frame's `n`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::functions::{recursion, recursion_output};
use common::*;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A small xorshift generator: the seed is printed, so a failing schedule can be replayed with
/// `MOVA_TEST_SEED`.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("MOVA_TEST_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |now| now.as_nanos() as u64)
                    | 1
            });
        eprintln!("recursion: MOVA_TEST_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// A sandbox holding `rec.mvb` ([`recursion`], with its source map and debug info).
fn sandbox(name: &str) -> Sandbox {
    let sandbox = Sandbox::new(name);
    sandbox.write("rec.mvb", recursion().program(true).encode());
    sandbox
}

#[test]
fn an_uninterrupted_run_prints_the_way_down_and_back_up() {
    let sandbox = sandbox("recursion-plain");
    let mut vm = sandbox.start(&["rec.mvb"]);
    assert_eq!(vm.wait().code(), Some(0), "{}", vm.stderr());
    vm.read_to_end();
    assert_eq!(vm.values(), recursion_output());
}

#[test]
fn a_recursion_migrated_at_random_moments_loses_and_repeats_nothing() {
    let sandbox = sandbox("recursion-migrate");
    let mut rng = Rng::new();
    let mut vms = vec![sandbox.start(&["rec.mvb"])];
    vms[0].take(1);
    const HOPS: usize = 4;
    for hop in 0..HOPS {
        let target = sandbox.start(&["serve"]);
        // A moment somewhere in the run, which takes about a second in all.
        std::thread::sleep(Duration::from_millis(20 + rng.below(120)));
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
        all == recursion_output(),
        "the output of the {} VMs, in order (lines per VM: {lengths:?}), is not an uninterrupted \
         run's: first difference at line {:?}",
        vms.len(),
        all.iter()
            .zip(recursion_output())
            .position(|(a, b)| *a != b)
            .or(Some(all.len()))
    );
    // Every VM but the last printed something and moved the computation on.
    assert!(lengths.iter().all(|&len| len > 0), "{lengths:?}");
}

#[test]
fn a_1000_deep_recursion_migrates_mid_way_and_its_image_shows_the_frames() {
    let sandbox = sandbox("recursion-deep");
    let mut source = sandbox.start(&["rec.mvb"]);
    // 500 levels down, and still going down.
    while source.next() < 500 {}
    let out = sandbox.hv_ok(&["rstate", &source.id(), "-o", "deep.mvs", "--leave-running"]);
    assert!(out.contains("saved to deep.mvs"), "{out}");
    let target = sandbox.start(&["serve"]);
    let out = sandbox.hv_ok(&["migrate", &source.id(), &target.id()]);
    assert!(out.contains("migrated"), "{out}");
    source.assert_stops(&format!("migrated to {}", target.pid));
    let mut target = target;
    assert_eq!(target.wait().code(), Some(0), "{}", target.stderr());
    target.read_to_end();
    // The migration happened on the way down, at least 500 deep.
    let moved_at = source.last();
    assert!(
        (500..1000).contains(&moved_at) && source.values().len() == moved_at as usize,
        "the source printed {:?}",
        source.values().len()
    );
    let all: Vec<i64> = [&source, &target]
        .iter()
        .flat_map(|vm| vm.values())
        .collect();
    assert!(
        all == recursion_output(),
        "the two VMs' output is not one run's"
    );

    // The image taken then: every frame, innermost first, each `rec` with its `n`.
    let json: Value = serde_json::from_str(&sandbox.hv_ok(&["inspect", "deep.mvs", "--json"]))
        .expect("inspect --json prints JSON");
    let calls = json["calls"].as_u64().unwrap();
    assert!(calls >= 500, "{calls} calls in progress");
    let frames = json["backtrace"].as_array().unwrap();
    assert_eq!(frames.len() as u64, calls + 1);
    for (index, frame) in frames.iter().enumerate() {
        if index as u64 == calls {
            assert_eq!(frame["name"], "<main>", "{frame}");
            assert_eq!(frame["instruction"], "CALL 1", "{frame}");
            continue;
        }
        assert_eq!(frame["name"], "rec", "{frame}");
        let n = calls - index as u64;
        assert_eq!(frame["locals"][0]["name"], "n", "{frame}");
        assert_eq!(frame["locals"][0]["value"], n, "frame {index}: {frame}");
        if index > 0 {
            assert_eq!(frame["instruction"], "CALL 1", "{frame}");
            assert_eq!(frame["source"]["text"], "if n < 1000 { rec(n + 1); }");
        }
    }
    let text = sandbox.hv_ok(&["inspect", "deep.mvs"]);
    assert!(
        text.contains(&format!("calls    {calls} in progress")),
        "{text}"
    );
    // The frames waiting in the recursive call: three shown, the others counted (the innermost
    // is one of them if the pause found it at that call).
    assert!(
        [calls - 4, calls - 3]
            .iter()
            .any(|count| text.contains(&format!(
                "[{count} more frames in the same call, like the one above]"
            ))),
        "{text}"
    );
    assert!(text.contains(&format!("n = {}", calls - 1)), "{text}");
    assert!(
        text.contains("<main> at instruction 1 (`CALL 1`)"),
        "{text}"
    );
    assert!(text.contains("in --json"), "{text}");
    assert!(text.lines().count() < 60, "{text}");
}
