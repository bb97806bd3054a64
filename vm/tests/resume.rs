//! State images are valid at every instruction boundary where a VM can pause, superinstructions
//! included: a program that is paused many times, saved, encoded, decoded and restored into a
//! fresh VM each time prints exactly what it prints when it runs straight through. And whatever
//! state a VM stops in — a pause, a halt or a trap, in any valid program — the verifier that
//! `Image::check` runs accepts it: a VM never saves an image it would refuse.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

use mova_compiler::compile::compile;
use mova_lang::image::Image;
use mova_lang::isa::Instr;
use mova_lang::mvb::Program;
use mova_lang::strategies::{cases, program_with};
use mova_vm::{Interrupt, Outcome, Vm};
use proptest::prelude::*;
use std::io;
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

/// A random valid program behind a few `PUT`s, so that it finds values to work on and runs beyond
/// its first instruction that pops. Prepending keeps every jump inside the code: distances are
/// relative, and a backward `GOTO` still lands at or after the first instruction.
fn fed_program() -> impl Strategy<Value = Program> {
    (0..8usize, program_with(40, false)).prop_map(|(puts, program)| {
        let mut code: Vec<Instr> = (0..puts).map(|i| Instr::Put(i as i64)).collect();
        code.extend_from_slice(program.code());
        Program::new(code).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    #[test]
    fn every_state_a_vm_stops_in_is_accepted(
        program in fed_program(),
        delays in prop::collection::vec(20u64..300, 1..8),
        with_program in any::<bool>(),
    ) {
        let interrupt = Interrupt::new();
        let mut vm = Vm::new(program.clone());
        for delay in delays {
            // A pause lands wherever the program is after `delay` µs: at a backward jump or in a
            // sleep, if it has not halted or trapped by then.
            interrupt.clear();
            let requester = interrupt.clone();
            let handle = thread::spawn(move || {
                thread::sleep(Duration::from_micros(delay));
                requester.request();
            });
            let outcome = vm.run(&mut io::sink(), &interrupt);
            handle.join().unwrap();
            let state = format!("{outcome:?} at IP {} with {} values", vm.ip(), vm.stack().len());
            let image = vm.save(with_program);
            prop_assert!(image.is_ok(), "{}: {:?}", state, image);
            // Through the bytes into a fresh VM, which goes on from there.
            let image = Image::decode(&image.unwrap().encode()).unwrap();
            let restored = Vm::from_image(program.clone(), &image);
            prop_assert!(restored.is_ok(), "{}: {:?}", state, restored.err());
            vm = restored.unwrap();
            if !matches!(outcome, Outcome::Paused) {
                break;
            }
        }
    }
}

/// The compiler keeps one stack height at each instruction (the paths that meet agree), so the
/// verifier knows the exact height of every state of an example, compiled or assembled, and an
/// image with any other height is refused.
#[test]
fn every_example_has_one_stack_height_at_each_instruction() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(examples).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let program = match path.extension().and_then(|ext| ext.to_str()) {
            Some("mova") => compile(&text, None).unwrap().program,
            Some("mvasm") => mova_compiler::assemble(&text).unwrap(),
            _ => continue,
        };
        let heights = program.stack_heights();
        for ip in 0..=u32::try_from(program.code().len()).unwrap() {
            if let Some(possible) = heights.at(ip) {
                assert_eq!(possible.min, possible.max, "{} at IP {ip}", path.display());
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} examples found");
}
