//! `mova`: runs a Mova program from `.mvb` bytecode, or from `.mvasm` assembled in memory.

use clap::Parser;
use mova_compiler::diag::ColorChoice;
use mova_compiler::driver::{self, DriverError};
use mova_vm::output::Stdout;
use mova_vm::{Interrupt, Outcome, TrapKind, Vm, exit};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

/// The Mova virtual machine: runs a program until it halts, traps or is stopped.
#[derive(Debug, Parser)]
#[command(
    name = "mova",
    version,
    after_help = "Exit status: 0 when the program halts (or its output's reader goes away), \
                  1 on a runtime trap, 2 on a usage error, 3 when the program cannot be loaded, \
                  4 when its output cannot be written, 128+N when signal N (Ctrl-C: 130) stops it."
)]
struct Cli {
    /// The program to run: `.mvb` bytecode, or `.mvasm` assembled in memory
    program: PathBuf,

    /// When to colour diagnostics
    #[arg(long, value_enum, default_value_t, value_name = "WHEN")]
    color: ColorChoice,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let program = match driver::load_program(&cli.program, cli.color) {
        Ok(program) => program,
        Err(error) => {
            if let DriverError::Assembly { rendered, .. } = &error {
                eprint!("{rendered}");
            }
            eprintln!("error: {error}");
            return ExitCode::from(exit::LOAD_FAILED);
        }
    };

    let interrupt = Interrupt::new();
    let signal = Arc::new(AtomicI32::new(0));
    if let Err(error) = watch_signals(&interrupt, &signal) {
        eprintln!("error: cannot install signal handlers: {error}");
        return ExitCode::from(exit::TRAPPED);
    }

    let mut vm = Vm::new(program);
    let mut stdout = Stdout::new();
    match vm.run(&mut stdout, &interrupt) {
        Outcome::Halted => ExitCode::from(exit::HALTED),
        Outcome::Paused => {
            // Only a signal pauses a VM that has no control channel: stop as the shell expects.
            let number = u8::try_from(signal.load(Ordering::SeqCst)).unwrap_or(0);
            ExitCode::from(exit::SIGNAL_BASE.saturating_add(number))
        }
        Outcome::Trapped(trap) => match &trap.kind {
            TrapKind::Output(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                ExitCode::from(exit::HALTED)
            }
            TrapKind::Output(_) => {
                eprintln!("error: {trap}");
                ExitCode::from(exit::OUTPUT_FAILED)
            }
            TrapKind::StackOverflow
            | TrapKind::StackUnderflow { .. }
            | TrapKind::Overflow { .. }
            | TrapKind::DivisionByZero { .. }
            | TrapKind::SlotOutOfRange { .. }
            | TrapKind::NegativeSleep { .. } => {
                eprintln!("error: {trap}");
                ExitCode::from(exit::TRAPPED)
            }
        },
    }
}

/// Turns SIGINT, SIGTERM and SIGHUP into a pause request (remembering which signal it was), so
/// the VM stops at an instruction boundary with its output flushed instead of dying mid-write.
/// A second signal ends the process at once.
fn watch_signals(interrupt: &Interrupt, signal: &Arc<AtomicI32>) -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let interrupt = interrupt.clone();
    let signal = Arc::clone(signal);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for number in signals.forever() {
                // A second signal means the first could not stop the program in time (its output
                // blocked on a reader that does not read, say): end it at once.
                if interrupt.is_requested() {
                    let status = i32::from(exit::SIGNAL_BASE) + number;
                    std::process::exit(status);
                }
                signal.store(number, Ordering::SeqCst);
                interrupt.request();
            }
        })?;
    Ok(())
}
