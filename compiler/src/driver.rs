//! The file-handling edge shared by the `movac` and `mova` binaries: naming inputs (a file, or
//! standard input as `-`), choosing what to do by the input's kind, reading it within its kind's
//! limit (through [`io`](crate::io)), loading a program from `.mova`, `.mvasm` or `.mvb`, and
//! writing diagnostics as the command line asked. Everything else in this crate works on strings
//! and byte buffers.

use crate::diag::{ColorChoice, Diagnostic, ErrorFormat, Severity, write_human, write_json};
use crate::io::{ReadError, read_capped, read_limited};
use mova_lang::mvb::{LoadError, MAX_FILE_LEN, Program, SIGNATURE};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The largest `.mova` source the tools read (`.mvasm` has its own limit, see
/// [`InputKind::max_len`]).
pub const MAX_SOURCE_LEN: usize = 64 << 20;

/// The command-line name of standard input and standard output.
pub const STDIO_ARG: &str = "-";

/// The name diagnostics give standard input, as rustc does.
pub const STDIN_NAME: &str = "<stdin>";

/// What an input holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputKind {
    /// `.mova`: the pseudo-language.
    #[value(name = "mova")]
    Language,
    /// `.mvasm`: textual bytecode.
    #[value(name = "mvasm")]
    Assembly,
    /// `.mvb`: binary bytecode.
    #[value(name = "mvb")]
    Bytecode,
}

impl InputKind {
    /// The kind of `path`, by its extension.
    pub fn of(path: &Path) -> Result<InputKind, DriverError> {
        match path.extension().and_then(|ext| ext.to_str()) {
            Some("mova") => Ok(InputKind::Language),
            Some("mvasm") => Ok(InputKind::Assembly),
            Some("mvb") => Ok(InputKind::Bytecode),
            Some(_) | None => Err(DriverError::UnknownExtension {
                file: path.display().to_string(),
            }),
        }
    }

    /// The kind of bytes read from a stream that has no name to tell: bytecode if they start with
    /// the `.mvb` signature, else a `.mova` source (as rustc takes standard input to be Rust).
    pub fn sniff(bytes: &[u8]) -> InputKind {
        if bytes.starts_with(&SIGNATURE) {
            InputKind::Bytecode
        } else {
            InputKind::Language
        }
    }

    /// The largest input of this kind the tools read: for `.mvasm`, the longest listing
    /// `movac dis` can print, so that every listing is read back.
    pub fn max_len(self) -> usize {
        match self {
            InputKind::Language => MAX_SOURCE_LEN,
            InputKind::Assembly => crate::disasm::max_listing_len(),
            InputKind::Bytecode => MAX_FILE_LEN,
        }
    }
}

/// An input named on the command line: a file, or standard input when it is `-`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    path: PathBuf,
}

impl Input {
    /// The input a command-line argument names.
    pub fn new(path: &Path) -> Input {
        Input {
            path: path.to_owned(),
        }
    }

    /// Whether this is standard input.
    pub fn is_stdin(&self) -> bool {
        self.path == Path::new(STDIO_ARG)
    }

    /// The file, unless this is standard input.
    pub fn path(&self) -> Option<&Path> {
        (!self.is_stdin()).then_some(self.path.as_path())
    }

    /// What diagnostics call it: the path as given, or `<stdin>`.
    pub fn name(&self) -> String {
        match self.path() {
            Some(path) => path.display().to_string(),
            None => STDIN_NAME.to_owned(),
        }
    }

    /// How to name it again on a command line.
    fn arg(&self) -> String {
        self.path.display().to_string()
    }
}

/// Why an input could not be read or loaded, or an output not written.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The extension is not one the tools know.
    #[error(
        "unsupported input `{file}`: expected a `.mova`, `.mvasm` or `.mvb` file (or name its kind \
         with `--input-kind`)"
    )]
    UnknownExtension {
        /// The input's name.
        file: String,
    },
    /// The input could not be read, or is larger than the tools accept.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A compile was asked of an input that is already bytecode.
    #[error("`{file}` is already bytecode; to list it, run `movac dis {arg}`")]
    AlreadyBytecode {
        /// The input's name.
        file: String,
        /// The input as the command line names it.
        arg: String,
    },
    /// `movac fmt` was given a file that is not a `.mova` source.
    #[error("`movac fmt` formats `.mova` sources, and `{file}` is not one")]
    NotFormattable {
        /// The input's name.
        file: String,
    },
    /// The formatter would have changed the program (its own bug): the file is left alone.
    #[error("cannot format `{file}`: {reason}")]
    Format {
        /// The input's name.
        file: String,
        /// What went wrong.
        reason: String,
    },
    /// A syntax tree was asked of an input that has none.
    #[error("`--emit ast` needs a `.mova` source, and `{file}` is not one")]
    NoSyntaxTree {
        /// The input's name.
        file: String,
    },
    /// The output names the input file, which writing would destroy (as rustc refuses).
    #[error("the input `{input}` would be overwritten by the output `{output}`")]
    OutputIsInput {
        /// The input's name.
        input: String,
        /// The output as given.
        output: String,
    },
    /// Bytecode was to go to standard output, and that is a terminal.
    #[error("refusing to write bytecode to a terminal: use -o FILE, or redirect standard output")]
    BinaryToTerminal,
    /// An output could not be written.
    #[error("cannot write `{file}`: {source}")]
    Write {
        /// The output's name (`<stdout>` for standard output).
        file: String,
        source: io::Error,
    },
    /// A source is not UTF-8.
    #[error("`{file}` is not UTF-8 text: invalid byte at offset {offset}")]
    NotUtf8 {
        /// The input's name.
        file: String,
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// A `.mvb` input was refused by the verifier.
    #[error("cannot load `{file}`: {source}")]
    Bytecode {
        /// The input's name.
        file: String,
        /// What the verifier found.
        source: LoadError,
    },
    /// A source has errors. Its diagnostics come with it, for the binary to write before this
    /// line (see [`DriverError::diagnostics`]).
    #[error(
        "could not {verb} `{file}` due to {count} previous error{}",
        if *count == 1 { "" } else { "s" }
    )]
    Source {
        /// The input's name.
        file: String,
        /// "compile", "assemble" or "parse".
        verb: &'static str,
        /// How many errors.
        count: usize,
        /// The errors, and any warnings.
        diagnostics: Box<Diagnostics>,
    },
}

impl DriverError {
    /// The diagnostics of a source with errors, which the binary writes before the error itself.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            DriverError::Source { diagnostics, .. } => Some(diagnostics),
            DriverError::UnknownExtension { .. }
            | DriverError::Read(_)
            | DriverError::AlreadyBytecode { .. }
            | DriverError::NoSyntaxTree { .. }
            | DriverError::OutputIsInput { .. }
            | DriverError::BinaryToTerminal
            | DriverError::Write { .. }
            | DriverError::NotUtf8 { .. }
            | DriverError::NotFormattable { .. }
            | DriverError::Format { .. }
            | DriverError::Bytecode { .. } => None,
        }
    }

    /// The file the error is about, if one is.
    pub fn file(&self) -> Option<&str> {
        match self {
            DriverError::UnknownExtension { file }
            | DriverError::AlreadyBytecode { file, .. }
            | DriverError::NoSyntaxTree { file }
            | DriverError::Write { file, .. }
            | DriverError::NotUtf8 { file, .. }
            | DriverError::NotFormattable { file }
            | DriverError::Format { file, .. }
            | DriverError::Bytecode { file, .. }
            | DriverError::Source { file, .. } => Some(file),
            DriverError::Read(error) => Some(error.file()),
            DriverError::OutputIsInput { input, .. } => Some(input),
            DriverError::BinaryToTerminal => None,
        }
    }
}

/// How the tools report diagnostics and what they put in the programs they build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// When to colour human-readable diagnostics.
    pub color: ColorChoice,
    /// Human-readable or JSON diagnostics.
    pub error_format: ErrorFormat,
    /// Whether compiled programs carry a source map.
    pub source_map: bool,
}

/// An input's bytes, read within its kind's limit, and its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// What it holds.
    pub kind: InputKind,
    /// What diagnostics call it.
    pub name: String,
    arg: String,
    bytes: Vec<u8>,
}

impl Opened {
    /// The text of a source: UTF-8, without the byte order mark that may start it (skipped as
    /// rustc and Python do, so byte offsets in diagnostics count from after it).
    pub fn text(self) -> Result<String, DriverError> {
        let mut text = String::from_utf8(self.bytes).map_err(|error| DriverError::NotUtf8 {
            file: self.name.clone(),
            offset: error.utf8_error().valid_up_to(),
        })?;
        if text.starts_with(BOM) {
            text.drain(..BOM.len());
        }
        Ok(text)
    }

    /// Refuses a `.mvb` input where a source is needed, suggesting `movac dis`.
    pub fn refuse_bytecode(&self) -> Result<(), DriverError> {
        if self.kind == InputKind::Bytecode {
            return Err(DriverError::AlreadyBytecode {
                file: self.name.clone(),
                arg: self.arg.clone(),
            });
        }
        Ok(())
    }

    /// The verified program in a `.mvb` input.
    pub fn program(self) -> Result<Program, DriverError> {
        Program::decode(&self.bytes).map_err(|source| DriverError::Bytecode {
            file: self.name,
            source,
        })
    }
}

/// The UTF-8 byte order mark, which some editors put at the start of a text file.
const BOM: &str = "\u{FEFF}";

/// Reads `input`. Its kind is `kind` when given, else a file's extension, else (for standard
/// input) what its first bytes say; a file of an unknown extension is refused before it is read.
pub fn open(input: &Input, kind: Option<InputKind>) -> Result<Opened, DriverError> {
    let name = input.name();
    let (kind, bytes) = match (input.path(), kind) {
        (Some(path), kind) => {
            let kind = match kind {
                Some(kind) => kind,
                None => InputKind::of(path)?,
            };
            (kind, read_limited(path, kind.max_len())?)
        }
        (None, kind) => {
            // The kind may depend on the bytes, so read up to the largest limit and check the
            // kind's own limit afterwards.
            let largest = [
                InputKind::Language,
                InputKind::Assembly,
                InputKind::Bytecode,
            ]
            .map(InputKind::max_len)
            .into_iter()
            .max()
            .unwrap_or(MAX_FILE_LEN);
            let bytes = read_capped(io::stdin().lock(), largest, &name)?;
            let kind = kind.unwrap_or_else(|| InputKind::sniff(&bytes));
            if bytes.len() > kind.max_len() {
                return Err(DriverError::Read(ReadError::TooLarge {
                    file: name,
                    limit: kind.max_len(),
                }));
            }
            (kind, bytes)
        }
    };
    Ok(Opened {
        kind,
        name,
        arg: input.arg(),
        bytes,
    })
}

/// Refuses an output that is the input file itself, under whatever path (`./x.mova`, a hard link,
/// a symbolic link): writing it would destroy the input. Files are compared by device and inode.
pub fn check_output(input: &Input, output: &Path) -> Result<(), DriverError> {
    let Some(path) = input.path() else {
        return Ok(());
    };
    if output == Path::new(STDIO_ARG) {
        return Ok(());
    }
    match (std::fs::metadata(path), std::fs::metadata(output)) {
        (Ok(input_meta), Ok(output_meta))
            if input_meta.dev() == output_meta.dev() && input_meta.ino() == output_meta.ino() =>
        {
            Err(DriverError::OutputIsInput {
                input: input.name(),
                output: output.display().to_string(),
            })
        }
        (Ok(_) | Err(_), Ok(_) | Err(_)) => Ok(()),
    }
}

/// Writes diagnostics about `source` (called `name`) to `out` as `options` ask, a diagnostic at a
/// time, so that their text is never all in memory at once.
pub fn report(
    out: &mut dyn Write,
    diagnostics: &[Diagnostic],
    name: &str,
    source: &str,
    options: &Options,
) {
    let mut out = BufWriter::new(out);
    let written = match options.error_format {
        ErrorFormat::Human => write_human(
            &mut out,
            diagnostics,
            name,
            source,
            options.color.for_stderr(),
        ),
        ErrorFormat::Json => write_json(&mut out, diagnostics, name, source),
    };
    // Diagnostics go to standard error; when that cannot be written there is nowhere left to say
    // so, and the exit status still tells.
    let _ = written.and_then(|()| out.flush());
}

/// Diagnostics about one source, with its name and the text they point into: what a binary
/// writes, as its command line asks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// What the diagnostics call the source.
    pub name: String,
    pub source: String,
    /// In source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Writes the diagnostics to `out` as `options` ask (see [`report`]); nothing if there are
    /// none.
    pub fn write(&self, out: &mut dyn Write, options: &Options) {
        if !self.diagnostics.is_empty() {
            report(out, &self.diagnostics, &self.name, &self.source, options);
        }
    }
}

/// A `.mova` input formatted by [`format`]: its text as read (without a byte order mark), the
/// formatted text (with the mark again if the input had one), and whether they differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Formatted {
    pub name: String,
    /// The input's bytes were not its formatted bytes.
    pub changed: bool,
    /// What the input should hold.
    pub text: String,
}

/// Reads a `.mova` input and formats it ([`crate::fmt::format_source`]); a source that does not
/// parse comes back as [`DriverError::Source`] with its syntax errors, and writes nothing.
pub fn format(input: &Input) -> Result<Formatted, DriverError> {
    if let Some(path) = input.path()
        && InputKind::of(path).ok() != Some(InputKind::Language)
    {
        return Err(DriverError::NotFormattable { file: input.name() });
    }
    let opened = open(input, Some(InputKind::Language))?;
    let name = opened.name.clone();
    let bom = opened.bytes.starts_with(BOM.as_bytes());
    let source = opened.text()?;
    match crate::fmt::format_source(&source) {
        Ok(mut text) => {
            let changed = text != source;
            if bom {
                text.insert_str(0, BOM);
            }
            Ok(Formatted {
                name,
                changed,
                text,
            })
        }
        Err(crate::fmt::FormatError::Syntax(errors)) => Err(DriverError::Source {
            file: name.clone(),
            verb: "format",
            count: errors.len(),
            diagnostics: Box::new(Diagnostics {
                name,
                source,
                diagnostics: to_diagnostics(errors),
            }),
        }),
        Err(error @ crate::fmt::FormatError::Changed(_)) => Err(DriverError::Format {
            file: name,
            reason: error.to_string(),
        }),
    }
}

/// A program built from a source, and the warnings found on the way, for the binary to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    pub program: Program,
    pub warnings: Diagnostics,
}

/// Compiles a `.mova` or assembles a `.mvasm` input. Its diagnostics come back, with the
/// program or in the error, for the caller to write.
pub fn build(opened: Opened, options: &Options) -> Result<Built, DriverError> {
    opened.refuse_bytecode()?;
    let kind = opened.kind;
    let name = opened.name.clone();
    let source = opened.text()?;
    let map = options.source_map.then_some(name.as_str());
    let (program, diagnostics, verb): (Option<Program>, Vec<Diagnostic>, _) = match kind {
        InputKind::Language => match crate::mova::compile::compile(&source, map) {
            Ok(compiled) => (
                Some(compiled.program),
                to_diagnostics(compiled.warnings),
                "compile",
            ),
            Err(all) => (None, to_diagnostics(all), "compile"),
        },
        // Bytecode was refused above; it is named here only to keep the match exhaustive.
        InputKind::Assembly | InputKind::Bytecode => {
            let (program, errors) = crate::asm::assemble_errors(&source, map);
            (program, to_diagnostics(errors), "assemble")
        }
    };
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let report = Diagnostics {
        name: name.clone(),
        source,
        diagnostics,
    };
    match program {
        Some(program) if errors == 0 => Ok(Built {
            program,
            warnings: report,
        }),
        Some(_) | None => Err(DriverError::Source {
            file: name,
            verb,
            count: errors,
            diagnostics: Box::new(report),
        }),
    }
}

fn to_diagnostics<E: Into<Diagnostic>>(errors: Vec<E>) -> Vec<Diagnostic> {
    errors.into_iter().map(Into::into).collect()
}

/// Loads a program from a `.mova`, `.mvasm` or `.mvb` file, or from standard input for `-`, by
/// its kind. A source's diagnostics come back, as from [`build`], for the caller to write.
pub fn load_program(path: &Path, options: &Options) -> Result<Built, DriverError> {
    let opened = open(&Input::new(path), None)?;
    match opened.kind {
        InputKind::Language | InputKind::Assembly => build(opened, options),
        InputKind::Bytecode => Ok(Built {
            program: opened.program()?,
            warnings: Diagnostics::default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(kind: InputKind, bytes: &[u8]) -> Opened {
        Opened {
            kind,
            name: "t.mova".into(),
            arg: "t.mova".into(),
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn a_byte_order_mark_is_skipped_once() {
        assert_eq!(
            opened(InputKind::Language, b"\xEF\xBB\xBFvar")
                .text()
                .unwrap(),
            "var"
        );
        assert_eq!(
            opened(InputKind::Language, b"\xEF\xBB\xBF\xEF\xBB\xBFx")
                .text()
                .unwrap(),
            "\u{FEFF}x"
        );
    }

    #[test]
    fn standard_input_is_bytecode_only_with_the_signature() {
        assert_eq!(InputKind::sniff(&SIGNATURE), InputKind::Bytecode);
        assert_eq!(InputKind::sniff(b"PUT 1\n"), InputKind::Language);
        assert_eq!(InputKind::sniff(b""), InputKind::Language);
    }

    #[test]
    fn stdin_is_named_like_rustc_does() {
        let stdin = Input::new(Path::new("-"));
        assert!(stdin.is_stdin());
        assert_eq!(stdin.name(), "<stdin>");
        assert_eq!(Input::new(Path::new("./-x")).name(), "./-x");
    }
}
