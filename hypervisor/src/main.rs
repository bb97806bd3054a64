//! `movahv`: the Mova hypervisor. Lists VMs, pauses and resumes them, reads and writes their
//! state, migrates running computations between them, and inspects saved images. With no command
//! it is an interactive shell.

use clap::Parser;
use mova_hypervisor::HvError;
use mova_hypervisor::shell::{self, HvCommand, State};
use std::process::ExitCode;

/// The Mova hypervisor: commands running VMs and moves their computations between them. Without a
/// command, an interactive shell (history, `help`, tab completion).
#[derive(Debug, Parser)]
#[command(
    name = "movahv",
    version,
    after_help = "VMs are found through their runtime records in $MOVA_RUNTIME_DIR, else \
                  $XDG_RUNTIME_DIR/mova, else a per-user directory in the temp dir.\n\
                  Exit status: 0 on success, 1 when a command fails, 2 on a usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<HvCommand>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        return if shell::run_shell() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    };
    match shell::execute(command, &mut State::default()) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(error @ HvError::Usage(_)) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
