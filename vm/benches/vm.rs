//! Micro-benchmarks of the interpreter: its speed, and how fast it honours a pause request.
//!
//! - `interpreter/count_loop/1000000`: `var i = 0; while i < 1000000 { i = i + 1; }`, compiled
//!   from source and run to completion by [`Vm::run`] on a fresh VM (output to `io::sink`).
//!   Throughput is in *loop iterations* (1,000,000 per run), a unit that does not depend on the
//!   code generator, so runs stay comparable when code generation changes. For VM instructions per
//!   second, multiply by the instructions one iteration executes: the bench prints that number,
//!   derived from the compiled code as the length of the loop's one backward jump span (from its
//!   target to the jump itself, inclusive). It ignores the few instructions outside the loop and
//!   the condition's one extra check, a few parts per million: at the time of writing the code is
//!   `PUT 0; JMP +2; ADD 1; JLTK 1000000, -1`, 2 instructions per iteration, and a run executes
//!   exactly 2 + 1,000,000 × `ADD` + 1,000,001 × `JLTK` = 2,000,003 instructions.
//! - `interrupt/latency`: the time from [`Interrupt::request`] to [`Vm::run`] returning
//!   [`Outcome::Paused`], for `var i = 0; loop { i++; }` spinning without sleeps on a worker
//!   thread. Each iteration clears the request, starts a run on the worker, lets it spin for about
//!   1 ms, takes `Instant::now()`, requests the pause, and adds the difference between the instant
//!   the worker saw `Paused` (taken right after `run` returned) and the request's instant. The
//!   reported time is that latency alone, not the iteration's wall time (about 1 ms).
//!
//! **Target:** a pause request is honoured within 1 ms (`interrupt/latency` well below it; the
//! interpreter checks the flag on every backward jump, so the expected latency is that of a cache
//! line moving between cores, plus `run` returning (and flushing its output)).
//!
//! Run with `cargo bench -p mova-vm --bench vm` (add `-- --quick` for a fast pass, or a filter such
//! as `-- interrupt`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{
    BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use mova_compiler::compile::compile;
use mova_lang::isa::JumpTarget;
use mova_lang::mvb::Program;
use mova_vm::{Interrupt, Outcome, Vm};
use std::hint::black_box;
use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The iterations of the counting loop.
const ITERATIONS: u64 = 1_000_000;

/// How long the worker spins before each pause request.
const SPIN: Duration = Duration::from_millis(1);

/// Compiles `source` (without a source map), which must compile.
fn build(source: &str) -> Program {
    match compile(source, None) {
        Ok(compiled) => compiled.program,
        Err(errors) => panic!("the benchmark's program does not compile: {errors:?}"),
    }
}

/// The instructions one iteration of `program`'s loop executes, if it has exactly one backward
/// jump and so one loop: the span from the jump's target to the jump, inclusive.
fn loop_length(program: &Program) -> Option<u64> {
    let mut spans =
        (0u32..)
            .zip(program.code())
            .filter_map(|(index, instr)| match instr.jump_target(index) {
                Some(JumpTarget::Index(target)) if target <= index => Some(index - target + 1),
                Some(JumpTarget::Index(_) | JumpTarget::OutOfRange(_)) | None => None,
            });
    match (spans.next(), spans.next()) {
        (Some(span), None) => Some(u64::from(span)),
        (Some(_), Some(_)) | (None, _) => None,
    }
}

fn interpreter(c: &mut Criterion) {
    let program = build(&format!(
        "var i = 0;\nwhile i < {ITERATIONS} {{\n    i = i + 1;\n}}\n"
    ));
    let interrupt = Interrupt::new();
    let mut check = Vm::new(program.clone());
    match check.run(&mut io::sink(), &interrupt) {
        Outcome::Halted => {}
        outcome @ (Outcome::Paused | Outcome::Trapped(_)) => {
            panic!("the counting loop did not halt: {outcome:?}")
        }
    }
    assert_eq!(
        check.stack(),
        [i64::try_from(ITERATIONS).expect("small")],
        "the counting loop counted"
    );
    match loop_length(&program) {
        Some(per_iteration) => eprintln!(
            "interpreter/count_loop: {} instructions, {per_iteration} executed per loop iteration \
             (about {} per run): instructions/s = elements/s × {per_iteration}",
            program.code().len(),
            per_iteration * ITERATIONS,
        ),
        None => eprintln!(
            "interpreter/count_loop: the compiled loop has no single backward jump, so the \
             instructions per iteration are not derived; throughput is in loop iterations"
        ),
    }

    let mut group = c.benchmark_group("interpreter");
    group.throughput(Throughput::Elements(ITERATIONS));
    group.bench_function(BenchmarkId::new("count_loop", ITERATIONS), |b| {
        b.iter_batched(
            || Vm::new(program.clone()),
            |mut vm| vm.run(&mut io::sink(), black_box(&interrupt)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A thread that runs a VM each time it is told to, and answers with the outcome and the instant
/// it saw it. Dropping it requests a pause, closes the channel and joins the thread, so the thread
/// ends with the benchmark (or with a failed assertion).
struct Worker {
    interrupt: Interrupt,
    go: Option<Sender<()>>,
    done: Receiver<(Outcome, Instant)>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    fn spawn(mut vm: Vm, interrupt: Interrupt) -> Worker {
        let (go, go_rx) = mpsc::channel::<()>();
        let (done_tx, done) = mpsc::channel();
        let run_interrupt = interrupt.clone();
        let handle = thread::spawn(move || {
            // Ends when the sender is dropped (or the receiver is gone).
            while go_rx.recv().is_ok() {
                let outcome = vm.run(&mut io::sink(), &run_interrupt);
                let at = Instant::now();
                if done_tx.send((outcome, at)).is_err() {
                    break;
                }
            }
        });
        Worker {
            interrupt,
            go: Some(go),
            done,
            handle: Some(handle),
        }
    }

    /// One round: start a run, let it spin, request a pause, and return the time from the request
    /// to the worker seeing `Paused`.
    fn pause_latency(&self) -> Duration {
        self.interrupt.clear();
        self.go
            .as_ref()
            .expect("the worker is running")
            .send(())
            .expect("the worker is alive");
        thread::sleep(SPIN);
        let requested = Instant::now();
        self.interrupt.request();
        let (outcome, paused) = self.done.recv().expect("the worker answers");
        match outcome {
            Outcome::Paused => {}
            outcome @ (Outcome::Halted | Outcome::Trapped(_)) => {
                panic!("the spinning loop did not pause: {outcome:?}")
            }
        }
        paused.saturating_duration_since(requested)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Stops a run in progress, then lets the thread's loop end.
        self.interrupt.request();
        self.go = None;
        if let Some(handle) = self.handle.take() {
            // A panic on the worker has already been reported; there is nothing more to do.
            let _ = handle.join();
        }
    }
}

fn interrupt_latency(c: &mut Criterion) {
    let interrupt = Interrupt::new();
    let worker = Worker::spawn(
        Vm::new(build("var i = 0;\nloop {\n    i++;\n}\n")),
        interrupt,
    );

    let mut group = c.benchmark_group("interrupt");
    // Each iteration takes about `SPIN` of wall time whatever the latency, and criterion plans the
    // iterations from the wall time of its warm-up: 50 samples of equal size fill the 3 s.
    group
        .sample_size(50)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("latency", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| worker.pause_latency()).sum())
    });
    group.finish();
    drop(worker);
}

criterion_group!(benches, interpreter, interrupt_latency);
criterion_main!(benches);
