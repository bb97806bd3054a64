//! The file-handling edge shared by the `movac` and `mova` binaries: choosing what to do by the
//! input's extension, reading files with size limits, loading a program from `.mova`, `.mvasm` or
//! `.mvb`, and rendering diagnostics as the command line asked. Everything else in this crate works
//! on strings and byte buffers.

use crate::diag::{ColorChoice, Diagnostic, ErrorFormat, Severity, render, render_json};
use mova_lang::mvb::{LoadError, MAX_FILE_LEN, Program};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The largest source file the tools read.
pub const MAX_SOURCE_LEN: usize = 64 << 20;

/// What a file holds, by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// `.mova`: the pseudo-language.
    Language,
    /// `.mvasm`: textual bytecode.
    Assembly,
    /// `.mvb`: binary bytecode.
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
                path: path.to_owned(),
            }),
        }
    }
}

/// Why a file could not be read or loaded.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The extension is not one the tools know.
    #[error("unsupported input `{}`: expected a `.mova`, `.mvasm` or `.mvb` file", path.display())]
    UnknownExtension {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A compile was asked of a file that is already bytecode.
    #[error("`{}` is already bytecode; to list it, run `movac dis {}`", path.display(), path.display())]
    AlreadyBytecode {
        /// The file.
        path: PathBuf,
    },
    /// A syntax tree was asked of a file that has none.
    #[error("`--emit ast` needs a `.mova` source, and `{}` is not one", path.display())]
    NoSyntaxTree {
        /// The file.
        path: PathBuf,
    },
    /// An output file could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is larger than the tools accept.
    #[error("`{}` is too large: the limit is {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// A source file is not UTF-8.
    #[error("`{}` is not UTF-8 text: invalid byte at offset {offset}", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// A `.mvb` file was refused by the verifier.
    #[error("cannot load `{}`: {source}", path.display())]
    Bytecode {
        /// The file.
        path: PathBuf,
        /// What the verifier found.
        source: LoadError,
    },
    /// A source file has errors; `rendered` holds their diagnostics.
    #[error(
        "could not {verb} `{}` due to {count} previous error{}",
        path.display(),
        if *count == 1 { "" } else { "s" }
    )]
    Source {
        /// The file.
        path: PathBuf,
        /// "compile" or "assemble".
        verb: &'static str,
        /// How many errors.
        count: usize,
        /// The rendered diagnostics (errors and warnings), to print before this error.
        rendered: String,
    },
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

/// A program loaded from a file, with the warnings its compilation gave (rendered; empty if none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// The program.
    pub program: Program,
    /// The rendered warnings.
    pub warnings: String,
}

/// Renders diagnostics about `source` (shown as `path`) as `options` ask.
pub fn render_diagnostics(
    diagnostics: &[Diagnostic],
    path: &Path,
    source: &str,
    options: &Options,
) -> String {
    let name = path.display().to_string();
    match options.error_format {
        ErrorFormat::Human => render(diagnostics, &name, source, options.color.for_stderr()),
        ErrorFormat::Json => render_json(diagnostics, &name, source),
    }
}

/// Reads at most `limit` bytes of `path`, failing if the file is longer: a huge or endless file
/// (a device, a pipe) can never make the tools allocate without bound.
pub fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>, DriverError> {
    let read_error = |source| DriverError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    file.take(cap).read_to_end(&mut bytes).map_err(read_error)?;
    if bytes.len() > limit {
        return Err(DriverError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// The UTF-8 byte order mark, which some editors put at the start of a text file.
const BOM: &str = "\u{FEFF}";

/// Reads a UTF-8 source file. A byte order mark at its start is skipped, as rustc and Python do,
/// so byte offsets in diagnostics count from after it.
pub fn read_source(path: &Path) -> Result<String, DriverError> {
    let mut text = String::from_utf8(read_limited(path, MAX_SOURCE_LEN)?).map_err(|error| {
        DriverError::NotUtf8 {
            path: path.to_owned(),
            offset: error.utf8_error().valid_up_to(),
        }
    })?;
    if text.starts_with(BOM) {
        text.drain(..BOM.len());
    }
    Ok(text)
}

/// Reads and verifies a `.mvb` file.
pub fn read_bytecode(path: &Path) -> Result<Program, DriverError> {
    let bytes = read_limited(path, MAX_FILE_LEN)?;
    Program::decode(&bytes).map_err(|source| DriverError::Bytecode {
        path: path.to_owned(),
        source,
    })
}

/// Compiles a `.mova` file or assembles a `.mvasm` file, as its extension says, rendering its
/// diagnostics as `options` ask.
pub fn build_file(path: &Path, options: &Options) -> Result<Loaded, DriverError> {
    let kind = InputKind::of(path)?;
    let source = read_source(path)?;
    let name = path.display().to_string();
    let map = options.source_map.then_some(name.as_str());
    let (program, diagnostics, verb): (Option<Program>, Vec<Diagnostic>, _) = match kind {
        InputKind::Language => match crate::compile::compile(&source, map) {
            Ok(compiled) => (
                Some(compiled.program),
                to_diagnostics(compiled.warnings),
                "compile",
            ),
            Err(all) => (None, to_diagnostics(all), "compile"),
        },
        InputKind::Assembly => {
            let (program, errors) = crate::asm::assemble_errors(&source, map);
            (program, to_diagnostics(errors), "assemble")
        }
        InputKind::Bytecode => {
            return Err(DriverError::AlreadyBytecode {
                path: path.to_owned(),
            });
        }
    };
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let rendered = render_diagnostics(&diagnostics, path, &source, options);
    match program {
        Some(program) if errors == 0 => Ok(Loaded {
            program,
            warnings: rendered,
        }),
        Some(_) | None => Err(DriverError::Source {
            path: path.to_owned(),
            verb,
            count: errors,
            rendered,
        }),
    }
}

fn to_diagnostics<E: Into<Diagnostic>>(errors: Vec<E>) -> Vec<Diagnostic> {
    errors.into_iter().map(Into::into).collect()
}

/// Loads a program from a `.mova`, `.mvasm` or `.mvb` file, chosen by its extension.
pub fn load_program(path: &Path, options: &Options) -> Result<Loaded, DriverError> {
    match InputKind::of(path)? {
        InputKind::Language | InputKind::Assembly => build_file(path, options),
        InputKind::Bytecode => Ok(Loaded {
            program: read_bytecode(path)?,
            warnings: String::new(),
        }),
    }
}
