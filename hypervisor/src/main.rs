//! `movahv`: the Mova hypervisor. Lists VMs, pauses and resumes them, reads and writes their
//! state, migrates running computations between them, and inspects saved images. With no command
//! it is an interactive shell.

use clap::CommandFactory;
use mova_compiler::stdio;
use mova_compiler::{cligen, report};
use mova_hypervisor::commands::{self, HvCommand, State, output_closed};
use mova_hypervisor::{HvError, inspect, shell};
use std::process::ExitCode;

/// The status when a command fails, or its output cannot be written.
const FAILED: u8 = 1;
/// The status on a usage error (clap's own).
const USAGE: u8 = 2;

/// The Mova hypervisor: commands running VMs and moves their computations between them. Without a
/// command, an interactive shell (history, `help`, tab completion).
#[derive(Debug, clap::Parser)]
#[command(
    name = "movahv",
    version,
    after_help = "VMs are found through their runtime records in $MOVA_RUNTIME_DIR, else \
                  $XDG_RUNTIME_DIR/mova, else a per-user directory in /dev/shm or the temp \
                  dir.\n\
                  Exit status: 0 on success, also when the reader of the output goes away \
                  (`movahv ps | head -1`); 1 when a command fails or its output cannot be \
                  written; 2 on a usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<TopCommand>,
}

/// The commands of the command line: the shell's, and those that only make sense outside it.
#[derive(Debug, clap::Subcommand)]
enum TopCommand {
    #[command(flatten)]
    Hv(HvCommand),
    #[command(flatten)]
    Generate(cligen::Generate),
}

fn main() -> ExitCode {
    let cli: Cli = stdio::parse(FAILED);
    let Some(command) = cli.command else {
        return match shell::run_shell() {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(FAILED),
            Err(error) => ExitCode::from(error.report(FAILED)),
        };
    };
    let command = match command {
        TopCommand::Hv(command) => command,
        TopCommand::Generate(generate) => {
            return ExitCode::from(cligen::run(&generate, Cli::command(), FAILED));
        }
    };
    let result = commands::execute(command, &mut State::default())
        .and_then(|output| Ok(stdio::print(&output)?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away: it has what it wanted.
        Err(error) if output_closed(&error) => ExitCode::SUCCESS,
        Err(HvError::Output(error)) => ExitCode::from(error.report(FAILED)),
        Err(error @ HvError::Usage(_)) => {
            report!("error: {error}");
            ExitCode::from(USAGE)
        }
        Err(error) => {
            inspect::write_diagnostics(&error);
            report!("error: {error}");
            ExitCode::from(FAILED)
        }
    }
}
