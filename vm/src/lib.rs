//! The Mova virtual machine: the interpreter ([`machine`]), the pause request it honours
//! ([`interrupt`]) and the buffered standard output it prints to ([`output`]).
//!
//! The `mova` binary is a thin shell over this library; tests and benchmarks drive [`Vm`] directly.

pub mod auth;
pub mod backtrace;
pub mod client;
pub mod control;
pub mod exit;
pub mod heap;
pub mod interrupt;
pub mod machine;
pub mod output;
pub mod protocol;
pub mod repl;
pub mod runtime;
pub mod session;
pub mod tls;

pub use interrupt::Interrupt;
pub use machine::{Outcome, RestoreError, STACK_LIMIT, Trap, TrapKind, Vm};
