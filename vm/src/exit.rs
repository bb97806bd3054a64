//! The exit statuses of `mova`, in one place (`docs/vm.md` documents them).

/// The program halted normally: it ran off the end of its code or executed `HALT`. Also used when
/// the reader of the output went away (`mova prog.mvb | head`), which ends the program quietly,
/// and when a client stopped the VM (after a migration, the program goes on elsewhere).
pub const HALTED: u8 = 0;
/// The program trapped: a runtime error such as an overflow or a stack underflow.
pub const TRAPPED: u8 = 1;
/// The command line was wrong (clap's own status for usage errors).
pub const USAGE: u8 = 2;
/// The program could not be loaded: unreadable file, unknown extension, a `.mvb` the verifier
/// refused, or `.mvasm` with errors.
pub const LOAD_FAILED: u8 = 3;
/// The program's output could not be written (other than its reader going away).
pub const OUTPUT_FAILED: u8 = 4;
/// The control channel could not be set up: its port is taken, or the runtime directory is not
/// usable.
pub const CONTROL_FAILED: u8 = 5;
/// Added to the number of the signal (SIGINT, SIGTERM, SIGHUP) that stopped the program, as shells do:
/// Ctrl-C gives 130.
pub const SIGNAL_BASE: u8 = 128;
