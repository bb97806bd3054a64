//! Mova's shared definitions: the opcode dictionary ([`isa`]), the semantics of its arithmetic
//! ([`ops`]), the `.mvb` bytecode format ([`mvb`]), the stack heights a program can have at each
//! instruction ([`verify`]) and the `.mvs` state image ([`image`]): a paused program's IP and
//! stack, tied to its program by a hash.
//!
//! This crate does no I/O beyond byte buffers, and it is the one place each of these facts is
//! defined: the compiler, the VM and the hypervisor derive everything from it.

mod bytes;
pub mod container;
pub mod debuginfo;
pub mod func;
pub mod heap;
pub mod image;
pub mod isa;
pub mod mvb;
pub mod ops;
pub mod seal;
pub mod srcmap;
pub mod verify;

pub use isa::{Instr, Opcode, OperandKind};
pub use mvb::{LoadError, Program};

#[cfg(feature = "strategies")]
pub mod strategies;
