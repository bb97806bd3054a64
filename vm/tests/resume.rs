//! State images are valid at every instruction boundary where a VM can pause, superinstructions
//! included: a program that is paused many times, saved, encoded, decoded and restored into a
//! fresh VM each time prints exactly what it prints when it runs straight through. And whatever
//! state a VM stops in — a pause, a halt or a trap, in any valid program — the verifier that
//! `Image::check` runs accepts it: a VM never saves an image it would refuse. Both hold for
//! programs with calls, paused inside them (every call and return checks for a pause request),
//! whose frames travel in the image.

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
use mova_lang::strategies::{cases, program_with, program_with_functions};
use mova_vm::{Interrupt, Outcome, Vm};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
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

/// How a run ended, comparably: `Halted`, or the trap's message and where it happened.
fn ending(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Trapped(trap) => format!("trapped: {trap}"),
        other => format!("{other:?}"),
    }
}

/// Doubly recursive Fibonacci numbers, printed for 0 to 21: tens of thousands of calls and no
/// loop in the function, so pauses land at calls and returns.
const FIB: &str = "
        PUT 0
top:    DUP
        CALL fib
        PRINT
        POP
        INCJLT 22, top
        POP
        HALT
.fn fib 1 -> 1
        LOAD 0
        JLTK 2, small   ; fib(n) = n for n < 2
        POP
        LOAD 0
        ADD -1
        CALL fib
        LOAD 0
        ADD -2
        CALL fib
        ADDS
        RETV
small:  RETV
";

fn calls_example() -> Program {
    mova_compiler::assemble(FIB).unwrap()
}

/// Output that asks for a pause once every `every` lines the program prints: the VM stops at
/// the next call, return or backward jump, wherever that is — deterministically, and inside
/// functions when they print.
struct Pauser {
    out: Vec<u8>,
    interrupt: Interrupt,
    every: usize,
    lines: usize,
}

impl io::Write for Pauser {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        for _ in bytes.iter().filter(|&&byte| byte == b'\n') {
            self.lines += 1;
            if self.every > 0 && self.lines.is_multiple_of(self.every) {
                self.interrupt.request();
            }
        }
        self.out.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `program` to its end, asking for a pause after each of `delays` (µs, cycled; none when
/// empty) and after every `every` lines of output (never when 0), and going on from an image of
/// each pause, through its bytes, in a fresh VM; returns the output, how it ended, and how many
/// pauses were taken inside a call.
fn run_paused(program: &Program, delays: &[u64], every: usize) -> (Vec<u8>, String, usize) {
    let interrupt = Interrupt::new();
    let mut vm = Vm::new(program.clone());
    let mut out = Pauser {
        out: Vec::new(),
        interrupt: interrupt.clone(),
        every,
        lines: 0,
    };
    let mut in_calls = 0;
    for round in 0.. {
        interrupt.clear();
        let handle = (!delays.is_empty()).then(|| {
            let requester = interrupt.clone();
            let delay = Duration::from_micros(delays[round % delays.len()]);
            thread::spawn(move || {
                thread::sleep(delay);
                requester.request();
            })
        });
        let outcome = vm.run(&mut out, &interrupt);
        if let Some(handle) = handle {
            handle.join().unwrap();
        }
        if !matches!(outcome, Outcome::Paused) {
            return (out.out, ending(&outcome), in_calls);
        }
        if !vm.frames().is_empty() {
            in_calls += 1;
        }
        let bytes = vm.save(round % 2 == 0).unwrap().encode();
        let image = Image::decode(&bytes).unwrap();
        assert_eq!(image.frames, vm.frames());
        vm = Vm::from_image(program.clone(), &image).unwrap();
        assert!(round < 1_000_000, "the program does not end");
    }
    unreachable!()
}

fn straight(program: &Program) -> (Vec<u8>, String) {
    let mut out = Vec::new();
    let outcome = Vm::new(program.clone()).run(&mut out, &Interrupt::new());
    (out, ending(&outcome))
}

#[test]
fn pausing_inside_recursion_and_restoring_changes_nothing() {
    let program = calls_example();
    let expected = straight(&program);
    let mut in_calls = 0;
    // Pauses as soon as possible: at the first call or return after each restore.
    for delays in [[0u64].as_slice(), &[0, 1, 2], &[3, 0]] {
        let (out, end, paused) = run_paused(&program, delays, 0);
        assert_eq!((out, end), expected.clone());
        in_calls += paused;
    }
    assert!(in_calls >= 3, "only {in_calls} pauses inside a call");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]

    /// A program with calls, paused many times — after every line or few it prints, at the next
    /// call, return or backward jump — and resumed from the bytes of each pause's image, prints
    /// what it prints straight through and ends the same way.
    #[test]
    fn programs_with_calls_resume_anywhere(
        program in program_with_functions(),
        every in 1usize..4,
    ) {
        let (expected_out, expected_end) = straight(&program);
        let (out, end, _) = run_paused(&program, &[], every);
        prop_assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(expected_out).unwrap());
        prop_assert_eq!(end, expected_end);
    }
}

/// The property above pauses inside calls, not only between them: over a fixed set of generated
/// programs, many pauses land with frames on the VM.
#[test]
fn generated_programs_pause_inside_calls() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = program_with_functions();
    let mut in_calls = 0;
    for _ in 0..64 {
        let program = strategy.new_tree(&mut runner).unwrap().current();
        in_calls += run_paused(&program, &[], 1).2;
    }
    assert!(in_calls >= 50, "only {in_calls} pauses inside a call");
}

/// A program with strings and arrays, built instruction by instruction (with its string
/// constants): it grows an int array `a` through an alias `b`, a string `s`, and an array of
/// strings `w` that shares every string it holds; each round, a function `f(a, s)` returns
/// and prints `"<len a> <len s>"`, and then `b` is printed (through the alias). At the
/// end `w` is printed. Every line shows that the alias and the lengths survived.
fn heap_program(rounds: i64) -> Program {
    use Instr::*;
    use mova_lang::func::Function;
    use mova_lang::mvb::Section;
    let code = vec![
        Put(0),   // 0  int slot 0: the round
        NewI,     // 1  ref slot 0: a
        RLoad(0), // 2  ref slot 1: b = a
        Const(0), // 3  ref slot 2: s = "x"
        NewR,     // 4  ref slot 3: w = []
        Load(0),  // 5  loop: push(b, i)
        RLoad(1),
        Append,
        RPop,
        RLoad(2), // 9  s = s + "x"
        Const(0),
        Concat,
        RStore(2),
        RLoad(3), // 13 push(w, s)
        RLoad(2),
        AppendR,
        RPop,
        RLoad(0), // 17 f(a, s), which prints
        RLoad(2),
        Call(1),
        RPop,
        RLoad(1), // 21 print(b)
        PrintR,
        IncJlt(rounds, 5 - 23), // 23
        RLoad(3),               // 24 print(w)
        PrintR,
        Halt, // 26
        // f(a, s) at 27: prints and returns str(len(a)) + " " + str(len(s))
        RLoad(0),
        Len,
        ToStr,
        Const(1),
        Concat,
        RLoad(1),
        Len,
        ToStr,
        Concat,
        RDup,
        PrintR,
        RetR,
    ];
    let f = Function {
        entry: 27,
        params: 0,
        results: 0,
        ref_params: 2,
        ref_results: 1,
    };
    let strings = Section {
        kind: mova_lang::heap::STRINGS,
        payload: mova_lang::heap::encode_strings(&["x", " "]),
    };
    Program::with_functions(code, &[f], vec![strings]).unwrap()
}

#[test]
fn a_heap_program_paused_and_restored_anywhere_prints_the_same() {
    let program = heap_program(60);
    let (out, end) = straight(&program);
    assert_eq!(end, "Halted");
    let text = String::from_utf8(out.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "1 2");
    assert_eq!(lines[1], "[0]");
    assert_eq!(lines[3], "[0, 1]");
    assert_eq!(lines[118], "60 61");
    assert!(
        lines[120].starts_with("[\"xx\", \"xxx\", "),
        "{}",
        lines[120]
    );
    let mut in_calls = 0;
    for every in [1, 2, 3, 7] {
        let (paused_out, paused_end, paused) = run_paused(&program, &[], every);
        assert_eq!(String::from_utf8(paused_out).unwrap(), text);
        assert_eq!(paused_end, end);
        in_calls += paused;
    }
    for delays in [[0u64].as_slice(), &[5, 0, 50]] {
        let (paused_out, paused_end, paused) = run_paused(&program, delays, 0);
        assert_eq!(String::from_utf8(paused_out).unwrap(), text);
        assert_eq!(paused_end, end);
        in_calls += paused;
    }
    assert!(in_calls >= 3, "only {in_calls} pauses inside a call");
}

#[test]
fn a_saved_heap_keeps_sharing_and_carries_no_garbage() {
    let program = heap_program(5);
    let interrupt = Interrupt::new();
    let mut vm = Vm::new(program.clone());
    let mut out = Pauser {
        out: Vec::new(),
        interrupt: interrupt.clone(),
        every: 4,
        lines: 0,
    };
    assert!(matches!(vm.run(&mut out, &interrupt), Outcome::Paused));
    let image = Image::decode(&vm.save(true).unwrap().encode()).unwrap();
    // `a` and `b` are one object; `w` holds the strings, the last of them `s` itself.
    assert_eq!(image.refs[0], image.refs[1]);
    let mova_lang::heap::Object::Refs(words) = &image.heap[image.refs[3].0 as usize] else {
        panic!("w is not an array of references: {:?}", image.heap);
    };
    assert_eq!(words.last(), Some(&image.refs[2]));
    // Each object once: the strings `s` grew through are garbage, and stayed behind.
    let strings = image
        .heap
        .iter()
        .filter(|object| matches!(object, mova_lang::heap::Object::Str(_)))
        .count();
    assert_eq!(strings, words.len());
    assert_eq!(image.heap.len(), 2 + strings);
    // Restored, it goes on as if never stopped.
    out.every = 0;
    let mut vm = Vm::from_image(program.clone(), &image).unwrap();
    interrupt.clear();
    assert!(matches!(vm.run(&mut out, &interrupt), Outcome::Halted));
    assert_eq!(out.out, straight(&program).0);
}
