//! Standard output and error for the binaries (`movac`, `mova`, `movahv`), so that all three treat
//! a stream that cannot be written alike.
//!
//! - Standard output whose reader went away (a broken pipe: `movahv ps | head -1`) ends the
//!   program quietly with status 0, as ripgrep does: the reader has what it wanted.
//! - Any other failure to write standard output (`> /dev/full`) is reported as `error: cannot
//!   write to standard output: …` with the binary's failure status.
//! - A message that cannot be written to standard error is dropped: there is nowhere left to
//!   report it, and it must not change how the program ends (`eprintln!` would panic).
//!
//! `--help` and `--version` go through [`parse`], because clap's own exit ignores a failure to
//! print them.

use std::fmt;
use std::io::{self, Write};

/// Why standard output could not take what was written.
#[derive(Debug, thiserror::Error)]
pub enum StdoutError {
    /// Its reader went away (a broken pipe): the program ends quietly, with status 0.
    #[error("standard output was closed by its reader")]
    Closed,
    /// Anything else: a full disk, an I/O error.
    #[error("cannot write to standard output: {0}")]
    Failed(io::Error),
}

impl From<io::Error> for StdoutError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            StdoutError::Closed
        } else {
            StdoutError::Failed(error)
        }
    }
}

impl StdoutError {
    /// The status a binary whose failure status is `failure` ends with after this error.
    pub fn status(&self, failure: u8) -> u8 {
        match self {
            StdoutError::Closed => 0,
            StdoutError::Failed(_) => failure,
        }
    }

    /// Reports the error on standard error, unless the reader simply went away, and returns the
    /// status to end with ([`status`](Self::status)).
    pub fn report(&self, failure: u8) -> u8 {
        if let StdoutError::Failed(_) = self {
            eprint(format_args!("error: {self}\n"));
        }
        self.status(failure)
    }
}

/// Writes `bytes` to standard output and flushes it.
pub fn write(bytes: &[u8]) -> Result<(), StdoutError> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(StdoutError::from)
}

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> Result<(), StdoutError> {
    write(text.as_bytes())
}

/// Writes to standard error, dropping the message if it cannot be written (see the module).
pub fn eprint(message: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(message);
}

/// Like `eprintln!`, but a message standard error cannot take is dropped instead of panicking
/// (see [`stdio`](crate::stdio)).
#[macro_export]
macro_rules! report {
    ($($arg:tt)*) => {
        $crate::stdio::eprint(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Parses the command line like [`clap::Parser::parse`], but a `--help` or `--version` that
/// cannot be printed ends the program with `failure` and a message, as any other output would
/// (clap's own exit ignores the error). Usage errors are clap's: its message and status 2.
pub fn parse<C: clap::Parser>(failure: u8) -> C {
    match C::try_parse() {
        Ok(parsed) => parsed,
        Err(error) => std::process::exit(i32::from(parse_error(&error, failure))),
    }
}

/// Prints what a command line that did not parse gets, and returns the status to end with: for
/// `--help` and `--version`, their text on standard output, checked as any output is (0, or
/// `failure`); for a usage error, clap's message on standard error and clap's status (2). For a
/// binary that parses with `try_parse` itself.
pub fn parse_error(error: &clap::Error, failure: u8) -> u8 {
    if error.use_stderr() {
        // A message standard error cannot take is dropped, as `eprint` drops it.
        let _ = error.print();
        return u8::try_from(error.exit_code()).unwrap_or(2);
    }
    match error.print().and_then(|()| io::stdout().flush()) {
        Ok(()) => 0,
        Err(error) => StdoutError::from(error).report(failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_a_quiet_end_and_anything_else_an_error() {
        let closed = StdoutError::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(matches!(closed, StdoutError::Closed));
        assert_eq!(closed.status(4), 0);
        let full = StdoutError::from(io::Error::from_raw_os_error(28));
        assert!(
            full.to_string()
                .starts_with("cannot write to standard output: No space left on device"),
            "{full}"
        );
        assert_eq!(full.status(4), 4);
    }
}
