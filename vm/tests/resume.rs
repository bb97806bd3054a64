//! State images are valid at every instruction boundary where a VM can pause, superinstructions
//! included: a program that is paused many times, saved, encoded, decoded and restored into a
//! fresh VM each time prints exactly what it prints when it runs straight through.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

use mova_compiler::compile::compile;
use mova_lang::image::Image;
use mova_vm::{Interrupt, Outcome, Vm};
use std::thread;
use std::time::Duration;

/// Loops that compile to every superinstruction: compare-and-jumps, INCJLT, the immediate and
/// slot forms, ADDTO.
const PROGRAM: &str = "
var total = 0;
var a = 0;
while a < 200 {
    var b = 0;
    while b < 2000 {
        total += (a * b) % 7 + b / 3;
        b++;
    }
    var c = a;
    while c != 0 && c > -5 {
        c = c - a;
        total = total - c * 2;
    }
    print(total);
    a++;
}
";

fn straight_through() -> Vec<u8> {
    let program = compile(PROGRAM, None).unwrap().program;
    let mut out = Vec::new();
    let outcome = Vm::new(program).run(&mut out, &Interrupt::new());
    assert!(matches!(outcome, Outcome::Halted), "{outcome:?}");
    out
}

#[test]
fn pausing_saving_and_restoring_anywhere_changes_nothing() {
    let expected = straight_through();
    let program = compile(PROGRAM, None).unwrap().program;
    let mut vm = Vm::new(program.clone());
    let interrupt = Interrupt::new();
    let mut out = Vec::new();
    let mut pauses = 0;
    loop {
        interrupt.clear();
        // Ask for a pause from another thread after a short, varying delay: it lands at whatever
        // backward jump the loop has reached.
        let requester = interrupt.clone();
        let delay = Duration::from_micros(50 + (pauses % 7) * 30);
        let handle = thread::spawn(move || {
            thread::sleep(delay);
            requester.request();
        });
        let outcome = vm.run(&mut out, &interrupt);
        handle.join().unwrap();
        match outcome {
            Outcome::Halted => break,
            Outcome::Paused => {
                pauses += 1;
                // Through the bytes, into a fresh VM: nothing but the image carries the state.
                let bytes = vm.save(pauses % 2 == 0).unwrap().encode();
                let image = Image::decode(&bytes).unwrap();
                vm = Vm::from_image(program.clone(), &image).unwrap();
            }
            Outcome::Trapped(trap) => panic!("{trap}"),
        }
        assert!(pauses < 100_000, "the program does not end");
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        String::from_utf8(expected).unwrap()
    );
    assert!(pauses >= 3, "the program was paused only {pauses} times");
}
