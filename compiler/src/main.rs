//! `movac`: assembles `.mvasm` into `.mvb` bytecode, and disassembles `.mvb` back into `.mvasm`.

use clap::{Parser, Subcommand};
use mova_compiler::diag::ColorChoice;
use mova_compiler::driver::{self, DriverError, InputKind};
use mova_compiler::{disassemble, driver::assemble_file};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The Mova compiler: assembles `.mvasm` into `.mvb` bytecode, and disassembles `.mvb` back.
#[derive(Debug, Parser)]
#[command(
    name = "movac",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Exit status: 0 on success, 1 when the input has errors or a file cannot be \
                  read or written, 2 on a usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// The source to compile (`.mvasm`)
    #[arg(required = true, value_name = "INPUT")]
    input: Option<PathBuf>,

    /// Where to write the bytecode [default: INPUT with the extension `.mvb`]
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// When to colour diagnostics
    #[arg(long, value_enum, default_value_t, global = true, value_name = "WHEN")]
    color: ColorChoice,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Disassemble `.mvb` bytecode into `.mvasm` text that `movac` reads back
    Dis {
        /// The bytecode to disassemble (`.mvb`)
        input: PathBuf,

        /// Where to write the listing [default: standard output]
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match (cli.command, cli.input) {
        (Some(Command::Dis { input, output }), _) => dis(&input, output.as_deref()),
        (None, Some(input)) => build(&input, cli.output.as_deref(), cli.color),
        // clap requires INPUT when there is no subcommand.
        (None, None) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let DriverError::Assembly { rendered, .. } = &error {
                eprint!("{rendered}");
            }
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Assembles `input` and writes the bytecode; writes nothing if there are errors.
fn build(input: &Path, output: Option<&Path>, color: ColorChoice) -> Result<(), DriverError> {
    match InputKind::of(input)? {
        InputKind::Assembly => {}
        InputKind::Bytecode => {
            return Err(DriverError::AlreadyBytecode {
                path: input.to_owned(),
            });
        }
    }
    let program = assemble_file(input, color)?;
    let output = output.map_or_else(|| input.with_extension("mvb"), Path::to_owned);
    write_atomically(&output, &program.encode())
}

/// Disassembles `input` to `output`, or to standard output.
fn dis(input: &Path, output: Option<&Path>) -> Result<(), DriverError> {
    let listing = disassemble(&driver::read_bytecode(input)?);
    match output {
        Some(output) => write_atomically(output, listing.as_bytes()),
        None => {
            let mut stdout = io::stdout().lock();
            match stdout
                .write_all(listing.as_bytes())
                .and_then(|()| stdout.flush())
            {
                // A reader that stopped early (`movac dis x.mvb | head`) is not an error.
                Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
                    Err(DriverError::Write {
                        path: PathBuf::from("<stdout>"),
                        source: error,
                    })
                }
                Ok(()) | Err(_) => Ok(()),
            }
        }
    }
}

/// Writes `bytes` to a temporary file beside `path` and renames it into place, so that `path` is
/// never left half-written.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DriverError> {
    let file_name = path.file_name().map_or_else(
        || String::from("output"),
        |name| name.to_string_lossy().into_owned(),
    );
    let temp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = fs::write(&temp, bytes).and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(|source| DriverError::Write {
        path: path.to_owned(),
        source,
    })
}
