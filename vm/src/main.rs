//! `mova`: runs a Mova program from `.mvb` bytecode, or from a `.mova` or `.mvasm` source compiled in
//! memory.

use clap::Parser;
use mova_compiler::diag::{ColorChoice, Diagnostic, ErrorFormat, Severity, render};
use mova_compiler::driver::{self, DriverError, Options};
use mova_vm::output::Stdout;
use mova_vm::{Interrupt, Outcome, Trap, TrapKind, Vm, exit};
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
    /// The program to run: `.mvb` bytecode, or a `.mova` or `.mvasm` source compiled in memory
    program: PathBuf,

    /// When to colour diagnostics
    #[arg(long, value_enum, default_value_t, value_name = "WHEN")]
    color: ColorChoice,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Sources are compiled with a source map, so that a trap can show the line that caused it.
    let options = Options {
        color: cli.color,
        error_format: ErrorFormat::Human,
        source_map: true,
    };
    let program = match driver::load_program(&cli.program, &options) {
        Ok(loaded) => {
            eprint!("{}", loaded.warnings);
            loaded.program
        }
        Err(error) => {
            if let DriverError::Source { rendered, .. } = &error {
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
                report_trap(&vm, &trap, cli.color);
                ExitCode::from(exit::OUTPUT_FAILED)
            }
            TrapKind::StackOverflow
            | TrapKind::StackUnderflow { .. }
            | TrapKind::Overflow { .. }
            | TrapKind::DivisionByZero { .. }
            | TrapKind::SlotOutOfRange { .. }
            | TrapKind::NegativeSleep { .. } => {
                report_trap(&vm, &trap, cli.color);
                ExitCode::from(exit::TRAPPED)
            }
        },
    }
}

/// Prints a trap: with the source line that caused it when the program has a source map, else as
/// one line naming the instruction.
fn report_trap(vm: &Vm, trap: &Trap, color: ColorChoice) {
    let Some((map, span)) = vm
        .program()
        .source_map()
        .and_then(|map| map.span(trap.ip).map(|span| (map, span)))
    else {
        eprintln!("error: {trap}");
        return;
    };
    let diagnostic = Diagnostic {
        severity: Severity::Error,
        code: None,
        message: trap.kind.to_string(),
        span,
        label: format!(
            "trapped here, at instruction {} (`{}`)",
            trap.ip, trap.instr
        ),
        secondary: Vec::new(),
        help: None,
    };
    eprint!(
        "{}",
        render(&[diagnostic], &map.file, &map.source, color.for_stderr())
    );
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
