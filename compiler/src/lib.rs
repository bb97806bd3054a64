//! `movac`'s library: the `.mvasm` assembler, the disassembler and the diagnostics they report.
//!
//! [`asm`], [`disasm`] and [`diag`] do no I/O: they turn text into
//! [`Program`](mova_lang::Program)s and back, and errors into [`Diagnostic`](diag::Diagnostic)s.
//! [`driver`] is the file-handling edge that the `movac` and `mova` binaries share, and [`stdio`]
//! how all three binaries write standard output and error.

pub mod asm;
pub mod check;
pub mod codegen;
pub mod compile;
pub mod diag;
pub mod disasm;
pub mod driver;
pub mod errors;
pub mod hir;
pub mod number;
pub mod snippet;
pub mod stdio;
pub mod syntax;
pub mod syntax_error;

pub use asm::assemble;
pub use disasm::disassemble;
