//! The file-handling edge shared by the `movac` and `mova` binaries: choosing what to do by the
//! input's extension, reading files with size limits, and loading a program from either `.mvasm`
//! or `.mvb`. Everything else in this crate works on strings and byte buffers.

use crate::diag::{ColorChoice, render};
use mova_lang::mvb::{LoadError, MAX_FILE_LEN, Program};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The largest source file the tools read.
pub const MAX_SOURCE_LEN: usize = 64 << 20;

/// What a file holds, by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// `.mvasm`: textual bytecode.
    Assembly,
    /// `.mvb`: binary bytecode.
    Bytecode,
}

impl InputKind {
    /// The kind of `path`, by its extension.
    pub fn of(path: &Path) -> Result<InputKind, DriverError> {
        match path.extension().and_then(|ext| ext.to_str()) {
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
    #[error("unsupported input `{}`: expected a `.mvasm` or `.mvb` file", path.display())]
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
        "could not assemble `{}` due to {count} previous error{}",
        path.display(),
        if *count == 1 { "" } else { "s" }
    )]
    Assembly {
        /// The file.
        path: PathBuf,
        /// How many errors.
        count: usize,
        /// The rendered diagnostics, to print before this error.
        rendered: String,
    },
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

/// Reads a UTF-8 source file.
pub fn read_source(path: &Path) -> Result<String, DriverError> {
    String::from_utf8(read_limited(path, MAX_SOURCE_LEN)?).map_err(|error| DriverError::NotUtf8 {
        path: path.to_owned(),
        offset: error.utf8_error().valid_up_to(),
    })
}

/// Reads and verifies a `.mvb` file.
pub fn read_bytecode(path: &Path) -> Result<Program, DriverError> {
    let bytes = read_limited(path, MAX_FILE_LEN)?;
    Program::decode(&bytes).map_err(|source| DriverError::Bytecode {
        path: path.to_owned(),
        source,
    })
}

/// Assembles a `.mvasm` file, rendering its diagnostics (coloured as `color` says) on failure.
pub fn assemble_file(path: &Path, color: ColorChoice) -> Result<Program, DriverError> {
    let source = read_source(path)?;
    crate::asm::assemble(&source).map_err(|diagnostics| DriverError::Assembly {
        path: path.to_owned(),
        count: diagnostics.len(),
        rendered: render(
            &diagnostics,
            &path.display().to_string(),
            &source,
            color.for_stderr(),
        ),
    })
}

/// Loads a program from a `.mvasm` or `.mvb` file, chosen by its extension.
pub fn load_program(path: &Path, color: ColorChoice) -> Result<Program, DriverError> {
    match InputKind::of(path)? {
        InputKind::Assembly => assemble_file(path, color),
        InputKind::Bytecode => read_bytecode(path),
    }
}
