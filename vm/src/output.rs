//! The program's standard output: locked once, buffered, and flushed where the VM says.
//!
//! On a terminal each line appears as it is printed; into a pipe or file, output is written in
//! 64 KiB blocks, as C's stdio does. Either way the VM flushes before every sleep, on pause, on
//! halt and on trap, so slow loops show their lines on time and nothing printed is lost.

use std::io::{self, BufWriter, IsTerminal, LineWriter, StdoutLock, Write};

/// The buffer size used when standard output is not a terminal.
const BLOCK_BUFFER: usize = 64 * 1024;

/// Buffered, locked standard output.
#[derive(Debug)]
pub enum Stdout {
    /// Line-buffered, for a terminal.
    Line(LineWriter<StdoutLock<'static>>),
    /// Block-buffered, for pipes and files.
    Block(BufWriter<StdoutLock<'static>>),
}

impl Stdout {
    /// Locks standard output for the life of the value, buffered to suit what it is.
    pub fn new() -> Stdout {
        let stdout = io::stdout();
        if stdout.is_terminal() {
            Stdout::Line(LineWriter::new(stdout.lock()))
        } else {
            Stdout::Block(BufWriter::with_capacity(BLOCK_BUFFER, stdout.lock()))
        }
    }
}

impl Default for Stdout {
    fn default() -> Self {
        Stdout::new()
    }
}

impl Write for Stdout {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stdout::Line(out) => out.write(buf),
            Stdout::Block(out) => out.write(buf),
        }
    }

    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stdout::Line(out) => out.write_all(buf),
            Stdout::Block(out) => out.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stdout::Line(out) => out.flush(),
            Stdout::Block(out) => out.flush(),
        }
    }
}
