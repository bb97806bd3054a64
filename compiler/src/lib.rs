//! `movac`'s library: the two front ends (the `.mova` compiler in [`mova`], the `.mvasm`
//! assembler in [`asm`]), the disassembler and the diagnostics they report.
//!
//! [`mova`], [`asm`], [`disasm`] and [`diag`] do no I/O: they turn text into
//! [`Program`](mova_lang::Program)s and back, and errors into [`Diagnostic`](diag::Diagnostic)s.
//! [`number`] and [`syntax_error`] are what both front ends share.
//! [`driver`] is the file-handling edge that the `movac` and `mova` binaries share, and [`stdio`]
//! how all three binaries write standard output and error. [`explain`] holds the long explanation
//! of every diagnostic code (`movac --explain`), and [`cligen`] the completion scripts and manual
//! pages all three binaries print. [`lsp`] is the language server (`movac lsp`).

pub mod asm;
pub mod cligen;
pub mod diag;
pub mod disasm;
pub mod driver;
pub mod explain;
pub mod fmt;
pub mod io;
pub mod lsp;
pub mod mova;
pub mod number;
pub mod shared;
pub mod snippet;
pub mod stdio;
pub mod syntax_error;

pub use asm::assemble;
pub use disasm::disassemble;
/// The `.mova` front end's entry point, [`compile::compile`], beside [`assemble`].
pub use mova::compile;
