//! `movac`: compiles `.mova` and assembles `.mvasm` into `.mvb` bytecode, checks sources, and
//! disassembles `.mvb` back into `.mvasm`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use mova_compiler::diag::{ColorChoice, Diagnostic, ErrorFormat};
use mova_compiler::driver::{self, DriverError, InputKind, Options, render_diagnostics};
use mova_compiler::syntax::{self, ast, token_listing};
use mova_compiler::{asm, disassemble};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The Mova compiler: compiles `.mova` and assembles `.mvasm` into `.mvb` bytecode.
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

    /// The source to compile: `.mova` or `.mvasm`
    #[arg(required = true, value_name = "INPUT")]
    input: Option<PathBuf>,

    /// Where to write the output [default: INPUT with the extension `.mvb` for bytecode,
    /// standard output for the other kinds]
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// What to produce
    #[arg(long, value_enum, default_value_t = Emit::Mvb, value_name = "KIND")]
    emit: Emit,

    /// Embed a source map, so that runtime traps show the source line
    #[arg(short = 'g', long = "debug")]
    debug: bool,

    #[command(flatten)]
    report: Report,
}

/// How diagnostics are shown.
#[derive(Debug, Args)]
struct Report {
    /// When to colour diagnostics
    #[arg(long, value_enum, default_value_t, global = true, value_name = "WHEN")]
    color: ColorChoice,

    /// How to print diagnostics: for people, or one JSON object per line for tools
    #[arg(
        long,
        value_enum,
        default_value_t,
        global = true,
        value_name = "FORMAT"
    )]
    error_format: ErrorFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Emit {
    /// The tokens, one per line with their byte spans
    Tokens,
    /// The syntax tree (`.mova` only)
    Ast,
    /// The bytecode as `.mvasm` text
    Asm,
    /// The bytecode as a `.mvb` file
    Mvb,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a source for errors and warnings without writing anything
    Check {
        /// The source to check: `.mova` or `.mvasm`
        input: PathBuf,
    },
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
    let cli: Cli = mova_compiler::stdio::parse(1);
    let options = Options {
        color: cli.report.color,
        error_format: cli.report.error_format,
        source_map: cli.debug,
    };
    let result = match (cli.command, cli.input) {
        (Some(Command::Dis { input, output }), _) => dis(&input, output.as_deref()),
        (Some(Command::Check { input }), _) => check(&input, &options),
        (None, Some(input)) => build(&input, cli.output.as_deref(), cli.emit, &options),
        // clap requires INPUT when there is no subcommand.
        (None, None) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let DriverError::Source { rendered, .. } = &error {
                eprint!("{rendered}");
            }
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Builds `input` and writes what `emit` asks for; writes nothing if there are errors.
fn build(
    input: &Path,
    output: Option<&Path>,
    emit: Emit,
    options: &Options,
) -> Result<(), DriverError> {
    let kind = InputKind::of(input)?;
    if kind == InputKind::Bytecode {
        return Err(DriverError::AlreadyBytecode {
            path: input.to_owned(),
        });
    }
    match emit {
        Emit::Tokens => {
            let source = driver::read_source(input)?;
            let listing = match kind {
                InputKind::Language => token_listing(&syntax::tokens(&source)),
                InputKind::Assembly | InputKind::Bytecode => {
                    token_listing(&asm::lexer::lex(&source))
                }
            };
            write_text(output, &listing)
        }
        Emit::Ast => {
            if kind != InputKind::Language {
                return Err(DriverError::NoSyntaxTree {
                    path: input.to_owned(),
                });
            }
            let source = driver::read_source(input)?;
            let (stmts, errors) = syntax::parse(&source);
            write_text(output, &ast::dump(&stmts))?;
            if errors.is_empty() {
                return Ok(());
            }
            let diagnostics: Vec<Diagnostic> = errors.into_iter().map(Into::into).collect();
            Err(DriverError::Source {
                path: input.to_owned(),
                verb: "parse",
                count: diagnostics.len(),
                rendered: render_diagnostics(&diagnostics, input, &source, options),
            })
        }
        Emit::Asm => {
            let loaded = driver::build_file(input, options)?;
            eprint!("{}", loaded.warnings);
            write_text(output, &disassemble(&loaded.program))
        }
        Emit::Mvb => {
            let loaded = driver::build_file(input, options)?;
            eprint!("{}", loaded.warnings);
            let output = output.map_or_else(|| input.with_extension("mvb"), Path::to_owned);
            write_atomically(&output, &loaded.program.encode())
        }
    }
}

/// Checks `input`, printing its warnings; writes nothing.
fn check(input: &Path, options: &Options) -> Result<(), DriverError> {
    let loaded = driver::build_file(input, options)?;
    eprint!("{}", loaded.warnings);
    Ok(())
}

/// Disassembles `input` to `output`, or to standard output.
fn dis(input: &Path, output: Option<&Path>) -> Result<(), DriverError> {
    let listing = disassemble(&driver::read_bytecode(input)?);
    write_text(output, &listing)
}

/// Writes text to a file, or to standard output when there is no file.
fn write_text(output: Option<&Path>, text: &str) -> Result<(), DriverError> {
    match output {
        Some(output) => write_atomically(output, text.as_bytes()),
        None => {
            let mut stdout = io::stdout().lock();
            match stdout
                .write_all(text.as_bytes())
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
/// never left half-written. Something that exists and is not a regular file (`/dev/null`, a pipe)
/// is written to directly: renaming over it would replace it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DriverError> {
    let write_error = |source| DriverError::Write {
        path: path.to_owned(),
        source,
    };
    if fs::metadata(path).is_ok_and(|meta| !meta.is_file()) {
        return fs::write(path, bytes).map_err(write_error);
    }
    let file_name = path.file_name().map_or_else(
        || String::from("output"),
        |name| name.to_string_lossy().into_owned(),
    );
    let temp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = fs::write(&temp, bytes).and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(write_error)
}
