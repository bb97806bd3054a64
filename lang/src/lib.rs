//! Mova's shared definitions: the opcode dictionary ([`isa`]), the semantics of its arithmetic
//! ([`ops`]) and the `.mvb` bytecode format ([`mvb`]).
//!
//! This crate does no I/O beyond byte buffers, and it is the one place each of these facts is
//! defined: the compiler, the VM and the hypervisor derive everything from it.

pub mod isa;
pub mod mvb;
pub mod ops;
pub mod srcmap;

pub use isa::{Instr, Opcode, OperandKind};
pub use mvb::{LoadError, Program};

#[cfg(feature = "strategies")]
pub mod strategies;
