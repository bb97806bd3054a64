//! `movac`: compiles `.mova` and assembles `.mvasm` into `.mvb` bytecode, checks sources, and
//! disassembles `.mvb` back into `.mvasm`.

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use mova_compiler::diag::{self, ColorChoice, Diagnostic, ErrorFormat, Severity};
use mova_compiler::driver::{self, DriverError, Input, InputKind, Opened, Options, STDIO_ARG};
use mova_compiler::mova::syntax::{self, ast, token_listing};
use mova_compiler::{asm, cligen, disassemble, explain};
use mova_lang::mvb::Program;
use std::ffi::OsString;
use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The Mova compiler: compiles `.mova` and assembles `.mvasm` into `.mvb` bytecode.
#[derive(Debug, Parser)]
#[command(
    name = "movac",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "An INPUT or FILE of `-` is standard input or standard output.\n\n\
                  Exit status: 0 on success, 1 when the input has errors or a file cannot be \
                  read or written, 2 on a usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    source: SourceArgs,

    /// Where to write the output [default: INPUT with the extension `.mvb` for bytecode (standard
    /// output when INPUT is `-`), standard output for the other kinds]
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

    /// Print the long explanation of a diagnostic's code (E0005, W0001, A0003: the letter in
    /// either case, with or without the leading zeros) and exit
    #[arg(long, value_name = "CODE", exclusive = true)]
    explain: Option<String>,
}

/// The source to read and how to read it.
#[derive(Debug, Args)]
struct SourceArgs {
    /// The source: `.mova` or `.mvasm`, or `-` for standard input
    #[arg(required = true, value_name = "INPUT")]
    input: Option<PathBuf>,

    /// Further inputs, only to name them in the error: `movac` takes one.
    #[arg(hide = true)]
    more: Vec<PathBuf>,

    /// Read INPUT as this kind, whatever its extension [default: by the extension; `.mova` for
    /// standard input, or `.mvb` when it starts with the bytecode signature]
    #[arg(long, value_enum, value_name = "KIND")]
    input_kind: Option<InputKind>,
}

/// How diagnostics are shown.
#[derive(Debug, Args)]
struct Report {
    /// When to colour diagnostics
    #[arg(long, value_enum, default_value_t, global = true, value_name = "WHEN")]
    color: ColorChoice,

    /// How to print diagnostics: for people, or one JSON object per line for tools (every line
    /// on standard error is then a JSON object)
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
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Format `.mova` sources in place in the one canonical layout (a directory: every `.mova`
    /// file under it; `-` or nothing: standard input to standard output)
    Fmt {
        /// The sources, directories of sources, or `-` for standard input
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,

        /// Change nothing: list the sources that are not formatted, and exit with 1 if there is
        /// one
        #[arg(long)]
        check: bool,
    },
    /// Disassemble `.mvb` bytecode into `.mvasm` text that `movac` reads back
    Dis {
        /// The bytecode to disassemble (`.mvb`), or `-` for standard input
        #[arg(required = true, value_name = "INPUT")]
        input: Option<PathBuf>,

        /// Further inputs, only to name them in the error.
        #[arg(hide = true)]
        more: Vec<PathBuf>,

        /// Where to write the listing [default: standard output]
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Run the language server, speaking the Language Server Protocol on standard input and
    /// output (editors start it; see docs/tools.md)
    Lsp {
        /// Use standard input and output, the default and only transport (accepted because
        /// clients such as VS Code's pass it)
        #[arg(long)]
        stdio: bool,

        /// The editor's process id, which clients may pass; not used (the server ends when its
        /// standard input does)
        #[arg(long = "clientProcessId", value_name = "PID")]
        client_process_id: Option<u32>,
    },
    #[command(flatten)]
    Generate(cligen::Generate),
}

/// The names of the subcommands, for suggestions.
const COMMANDS: [&str; 6] = ["check", "dis", "fmt", "lsp", "completions", "man"];

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_failure(&error),
    };
    if let Some(code) = &cli.explain {
        return explain(code);
    }
    let options = Options {
        color: cli.report.color,
        error_format: cli.report.error_format,
        source_map: cli.debug,
    };
    let result = match cli.command {
        Some(Command::Fmt { files, check }) => return fmt(&files, check, &options),
        Some(Command::Lsp { .. }) => return ExitCode::from(mova_compiler::lsp::serve_stdio()),
        Some(Command::Generate(generate)) => {
            return ExitCode::from(cligen::run(&generate, Cli::command(), 1));
        }
        Some(Command::Dis {
            input,
            more,
            output,
        }) => single_input(input.as_deref(), &more, Some("dis"))
            .map(|input| dis(&input, output.as_deref())),
        Some(Command::Check { source }) => {
            single_input(source.input.as_deref(), &source.more, Some("check"))
                .map(|input| check(&input, source.input_kind, &options))
        }
        None => single_input(cli.source.input.as_deref(), &cli.source.more, None).map(|input| {
            build(
                &input,
                cli.source.input_kind,
                cli.output.as_deref(),
                cli.emit,
                &options,
            )
        }),
    };
    match result {
        Err(usage) => usage_failure(&usage),
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            report_error(&error, &options);
            ExitCode::FAILURE
        }
    }
}

/// Prints the long explanation of `code` (`--explain`), or says it is no code.
fn explain(code: &str) -> ExitCode {
    match explain::Code::parse(code) {
        Ok(code) => match mova_compiler::stdio::print(code.explanation()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => ExitCode::from(error.report(1)),
        },
        Err(error) => {
            mova_compiler::report!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The one input of a command, or a usage error naming what is wrong: several inputs (which
/// `movac` does not take, as rustc does not), or at the top level a first word that is no file
/// but is close to a subcommand's name (as cargo suggests).
fn single_input(
    input: Option<&Path>,
    more: &[PathBuf],
    subcommand: Option<&str>,
) -> Result<Input, clap::Error> {
    let top_level = subcommand.is_none();
    // The error shows the usage of the command it is about.
    let usage = |kind, message: String| {
        let mut command = Cli::command();
        command.build();
        match subcommand.and_then(|name| command.find_subcommand_mut(name)) {
            Some(sub) => sub.error(kind, message),
            None => command.error(kind, message),
        }
    };
    // clap requires INPUT, so it is there; an absent one is reported as clap would.
    let Some(first) = input else {
        return Err(usage(
            ErrorKind::MissingRequiredArgument,
            "no input file".into(),
        ));
    };
    if top_level && first.extension().is_none() && !first.exists() {
        let word = first.to_string_lossy();
        if let Some(command) = diag::did_you_mean(&word, COMMANDS) {
            return Err(usage(
                ErrorKind::InvalidSubcommand,
                format!("no such command `{word}`; did you mean `{command}`?"),
            ));
        }
    }
    match more.first() {
        None => Ok(Input::new(first)),
        Some(second) => Err(usage(
            ErrorKind::TooManyValues,
            format!(
                "multiple input files: `{}` and `{}` (movac takes one)",
                first.display(),
                second.display()
            ),
        )),
    }
}

/// Prints a command-line error as clap does (help and version go to standard output), or as one
/// JSON object when `--error-format json` was asked for, and picks the exit status.
fn usage_failure(error: &clap::Error) -> ExitCode {
    if !error.use_stderr() || !wants_json(std::env::args_os()) {
        // Help and version go to standard output, whose failures are reported there.
        return ExitCode::from(mova_compiler::stdio::parse_error(error, 1));
    }
    let status = ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
    let text = error.render().to_string();
    let message = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ");
    eprintln!("{}", diag::json_message(Severity::Error, None, message));
    status
}

/// Whether the command line asks for JSON diagnostics, read from the raw arguments because a
/// usage error means they could not be parsed.
fn wants_json(args: impl IntoIterator<Item = OsString>) -> bool {
    let mut previous_is_flag = false;
    for arg in args {
        if arg == "--error-format=json" || (previous_is_flag && arg == "json") {
            return true;
        }
        previous_is_flag = arg == "--error-format";
    }
    false
}

/// Builds `input` and writes what `emit` asks for; writes nothing if there are errors.
fn build(
    input: &Input,
    kind: Option<InputKind>,
    output: Option<&Path>,
    emit: Emit,
    options: &Options,
) -> Result<(), DriverError> {
    let default_output = match (emit, input.path()) {
        (Emit::Mvb, Some(path)) => path.with_extension("mvb"),
        (Emit::Mvb, None) | (Emit::Tokens | Emit::Ast | Emit::Asm, _) => PathBuf::from(STDIO_ARG),
    };
    let output = output.unwrap_or(&default_output);
    // Reading first lets a `.mvb` input be named as such; the input is never written.
    let opened = driver::open(input, kind)?;
    opened.refuse_bytecode()?;
    driver::check_output(input, output)?;
    if emit == Emit::Mvb && output == Path::new(STDIO_ARG) && io::stdout().is_terminal() {
        return Err(DriverError::BinaryToTerminal);
    }
    let kind = opened.kind;
    let name = opened.name.clone();
    match emit {
        Emit::Tokens => {
            let source = opened.text()?;
            let listing = match kind {
                InputKind::Language => token_listing(&syntax::tokens(&source)),
                InputKind::Assembly | InputKind::Bytecode => {
                    token_listing(&asm::lexer::lex(&source))
                }
            };
            write_output(output, listing.as_bytes())
        }
        Emit::Ast => {
            if kind != InputKind::Language {
                return Err(DriverError::NoSyntaxTree { file: name });
            }
            let source = opened.text()?;
            let (stmts, errors) = syntax::parse(&source);
            write_output(output, ast::dump(&stmts).as_bytes())?;
            if errors.is_empty() {
                return Ok(());
            }
            let diagnostics: Vec<Diagnostic> = errors.into_iter().map(Into::into).collect();
            Err(DriverError::Source {
                file: name.clone(),
                verb: "parse",
                count: diagnostics.len(),
                diagnostics: Box::new(driver::Diagnostics {
                    name,
                    source,
                    diagnostics,
                }),
            })
        }
        Emit::Asm => {
            let program = build_reporting(opened, options)?;
            write_output(output, disassemble(&program).as_bytes())
        }
        Emit::Mvb => {
            let program = build_reporting(opened, options)?;
            write_output(output, &program.encode())
        }
    }
}

/// Builds an opened source, writing its warnings; its errors are written with the error.
fn build_reporting(opened: Opened, options: &Options) -> Result<Program, DriverError> {
    let built = driver::build(opened, options)?;
    built.warnings.write(&mut io::stderr(), options);
    Ok(built.program)
}

/// Checks `input`, printing its warnings; writes nothing.
fn check(input: &Input, kind: Option<InputKind>, options: &Options) -> Result<(), DriverError> {
    let opened = driver::open(input, kind)?;
    build_reporting(opened, options).map(drop)
}

/// `movac fmt`: formats each source in place (standard input to standard output), or with
/// `check` lists those that are not formatted. Every file is tried; the status is 1 if one had
/// an error or, with `check`, was not formatted.
fn fmt(files: &[PathBuf], check: bool, options: &Options) -> ExitCode {
    let stdin = [PathBuf::from(STDIO_ARG)];
    let files = if files.is_empty() { &stdin[..] } else { files };
    let mut failed = false;
    for input in files.iter().flat_map(|path| sources_under(path)) {
        let result = input.and_then(|input| {
            let formatted = driver::format(&input)?;
            match input.path() {
                None if check => {}
                None => write_output(Path::new(STDIO_ARG), formatted.text.as_bytes())?,
                Some(_) if !formatted.changed => {}
                Some(_) if check => {}
                Some(path) => write_atomically(path, formatted.text.as_bytes())?,
            }
            Ok(formatted)
        });
        match result {
            Ok(formatted) => {
                if check && formatted.changed {
                    println!("{}", formatted.name);
                    failed = true;
                }
            }
            Err(error) => {
                failed = true;
                report_error(&error, options);
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The sources `movac fmt` takes from one argument: the file itself, or every `.mova` file
/// under a directory, in name order, not following symbolic links and skipping hidden entries
/// and `target` directories. A directory that cannot be read is an error in the list.
fn sources_under(path: &Path) -> Vec<Result<Input, DriverError>> {
    let is_dir = |path: &Path| fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir());
    if path == Path::new(STDIO_ARG) || !is_dir(path) {
        return vec![Ok(Input::new(path))];
    }
    let mut found = Vec::new();
    // Directories still to list, the next one last.
    let mut pending = vec![path.to_owned()];
    while let Some(dir) = pending.pop() {
        let mut entries: Vec<PathBuf> = match fs::read_dir(&dir) {
            Ok(entries) => entries.flatten().map(|entry| entry.path()).collect(),
            Err(source) => {
                found.push(Err(DriverError::Read(mova_compiler::io::ReadError::Io {
                    file: dir.display().to_string(),
                    source,
                })));
                continue;
            }
        };
        entries.retain(|entry| {
            entry
                .file_name()
                .is_some_and(|name| !name.to_string_lossy().starts_with('.'))
        });
        entries.sort();
        let (dirs, files): (Vec<PathBuf>, Vec<PathBuf>) =
            entries.into_iter().partition(|entry| is_dir(entry));
        found.extend(
            files
                .iter()
                .filter(|file| {
                    file.extension().is_some_and(|ext| ext == "mova")
                        && fs::symlink_metadata(file).is_ok_and(|meta| meta.is_file())
                })
                .map(|file| Ok(Input::new(file))),
        );
        pending.extend(
            dirs.into_iter()
                .rev()
                .filter(|dir| !dir.ends_with("target")),
        );
    }
    found
}

/// Writes an error with its diagnostics, as `main` does.
fn report_error(error: &DriverError, options: &Options) {
    if let Some(report) = error.diagnostics() {
        report.write(&mut io::stderr(), options);
    }
    match options.error_format {
        ErrorFormat::Human => eprintln!("error: {error}"),
        ErrorFormat::Json => eprintln!(
            "{}",
            diag::json_message(Severity::Error, error.file(), &error.to_string())
        ),
    }
}

/// Disassembles `input` to `output`, or to standard output.
fn dis(input: &Input, output: Option<&Path>) -> Result<(), DriverError> {
    let output = output.unwrap_or(Path::new(STDIO_ARG));
    driver::check_output(input, output)?;
    let program = driver::open(input, Some(InputKind::Bytecode))?.program()?;
    write_output(output, disassemble(&program).as_bytes())
}

/// Writes an output to its file, or to standard output for `-`.
fn write_output(output: &Path, bytes: &[u8]) -> Result<(), DriverError> {
    if output != Path::new(STDIO_ARG) {
        return write_atomically(output, bytes);
    }
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        // A reader that stopped early (`movac dis x.mvb | head`) is not an error.
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(DriverError::Write {
            file: String::from("<stdout>"),
            source: error,
        }),
        Ok(()) | Err(_) => Ok(()),
    }
}

/// Writes `bytes` to a temporary file beside `path` and renames it into place, so that `path` is
/// never left half-written. Something that exists and is not a regular file (`/dev/null`, a pipe)
/// is written to directly: renaming over it would replace it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DriverError> {
    let write_error = |source| DriverError::Write {
        file: path.display().to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_recognised_in_both_spellings() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(wants_json(args(&["movac", "--error-format", "json", "x"])));
        assert!(wants_json(args(&["movac", "x", "--error-format=json"])));
        assert!(!wants_json(args(&[
            "movac",
            "json",
            "--error-format",
            "human"
        ])));
    }
}
