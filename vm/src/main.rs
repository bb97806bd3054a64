//! `mova`: runs a Mova program from `.mvb` bytecode, or from a `.mova` or `.mvasm` source compiled in
//! memory, under a control channel that can pause, save, restore and stop it.

use clap::{Args, CommandFactory, Parser, Subcommand};
use mova_compiler::diag::{ColorChoice, Diagnostic, ErrorFormat, Severity, render};
use mova_compiler::driver::{self, Options};
use mova_compiler::{cligen, report, stdio};
use mova_lang::image::{Image, MAX_IMAGE_LEN};
use mova_lang::mvb::Program;
use mova_lang::seal::{self, SEAL_HEADER_LEN};
use mova_vm::control::{self, Board, Event};
use mova_vm::output::Stdout;
use mova_vm::runtime::{self, Record};
use mova_vm::session::{End, Identity, Session};
use mova_vm::{Interrupt, Trap, TrapKind, Vm, backtrace, exit, tls};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};

/// The Mova virtual machine: runs a program until it halts, traps or is stopped, and can be
/// paused, saved, restored and migrated through its control channel (see `movahv`).
#[derive(Debug, Parser)]
#[command(
    name = "mova",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Exit status: 0 when the program halts, its output's reader goes away or a client \
                  stops it; 1 on a runtime trap; 2 on a usage error; 3 when the program or image \
                  cannot be loaded; 4 when output cannot be written; 5 when the control channel \
                  cannot be set up; 128+N when signal N (Ctrl-C: 130) stops it."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// The program to run: `.mvb` bytecode, or a `.mova` or `.mvasm` source compiled in memory
    /// (optional with --restore when the image carries its program)
    #[arg(required_unless_present = "restore", value_name = "PROGRAM")]
    program: Option<PathBuf>,

    /// Start from a saved state image (`.mvs`) instead of the beginning
    #[arg(long, value_name = "FILE")]
    restore: Option<PathBuf>,

    /// The key the --restore image is sealed with (a private file of at least 32 bytes); the
    /// image is refused unless sealed with it [default: the file $MOVA_SEAL_KEY names, if set]
    #[arg(long, value_name = "FILE", requires = "restore")]
    seal_key: Option<PathBuf>,

    /// Start paused, waiting for a `resume` from the control channel
    #[arg(long)]
    paused: bool,

    #[command(flatten)]
    control: ControlArgs,

    #[command(flatten)]
    heap: HeapArgs,

    /// When to colour diagnostics
    #[arg(long, value_enum, default_value_t, global = true, value_name = "WHEN")]
    color: ColorChoice,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a blank VM that waits for a state image carrying its program (a migration target)
    Serve {
        #[command(flatten)]
        control: ControlArgs,

        #[command(flatten)]
        heap: HeapArgs,
    },
    /// An interactive session: statements, functions and expressions entered one at a time,
    /// each run once, its variables and functions kept for the next (`:help` inside). Reads plain
    /// lines when standard input is not a terminal; then the exit status is 1 if an entry failed
    #[command(after_help = "See the `mova repl` section of docs/tools.md.")]
    Repl {
        #[command(flatten)]
        heap: HeapArgs,
    },
    #[command(flatten)]
    Generate(cligen::Generate),
}

#[derive(Clone, Copy, Debug, Args)]
struct HeapArgs {
    /// The most bytes the program's strings and arrays may take (a number with an optional
    /// binary suffix: K, M, G, e.g. 64M; at most 1G, so that a state image can carry the heap);
    /// beyond it the program traps with "out of memory", and an image whose heap is larger is
    /// refused [default: 1G]
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    max_heap: usize,
}

/// Parses a size in bytes: digits, then optionally `K`, `M`, `G` or `T` (powers of 1024, either
/// case, optionally followed by `B` or `iB`).
fn parse_size(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, suffix) = trimmed.split_at(digits);
    let number: usize = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size: expected a number like 64M"))?;
    let shift = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("`{text}` has an unknown unit: use K, M, G or T")),
    };
    let max = mova_lang::heap::MAX_HEAP;
    number
        .checked_mul(1usize << shift)
        .filter(|size| (1..=max).contains(size))
        .ok_or_else(|| {
            format!("`{text}` is not a usable heap size: 1 byte to 1G ({max} bytes), so that a state image can carry the heap")
        })
}

#[derive(Clone, Debug, Args)]
struct ControlArgs {
    /// The control channel's port [default: PID ^ 34567 when that is a usable port (1024–65535)
    /// and free, else one the system picks]
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,

    /// The address the control channel listens on. Off the loopback it speaks only TLS, with
    /// --tls-cert/--tls-key or else the user's own key pair (made once in the config directory);
    /// clients still need the token
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    listen: IpAddr,

    /// The TLS certificate chain (PEM) to present off the loopback, e.g. one signed by a CA
    /// [default: the user's own self-signed certificate]
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Drop a control client that stays silent this long (seconds, 1 to 604800); the VM runs on,
    /// and anything that client held is undone
    #[arg(long, value_name = "SECONDS", default_value_t = control::IDLE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    idle_timeout: u64,
}

fn main() -> ExitCode {
    let cli: Cli = stdio::parse(exit::OUTPUT_FAILED);
    let (program_path, control, heap, restore, paused) = match cli.command {
        Some(Command::Generate(generate)) => {
            return ExitCode::from(cligen::run(&generate, Cli::command(), exit::OUTPUT_FAILED));
        }
        Some(Command::Repl { heap }) => {
            return ExitCode::from(mova_vm::repl::run(heap.max_heap, cli.color));
        }
        Some(Command::Serve { control, heap }) => (None, control, heap, None, true),
        None => (cli.program, cli.control, cli.heap, cli.restore, cli.paused),
    };

    let loaded = load(
        program_path.as_deref(),
        restore.as_deref(),
        cli.seal_key.as_deref(),
        heap.max_heap,
        cli.color,
    );
    let vm = match loaded {
        Ok(vm) => vm,
        Err(code) => return code,
    };

    let (commands, receiver) = mpsc::channel();
    let interrupt = Interrupt::new();
    let board = Arc::new(Board::new(interrupt.clone()));
    let listener = match listen(&control) {
        Ok(listener) => listener,
        Err(message) => {
            report!("error: {message}");
            return ExitCode::from(exit::CONTROL_FAILED);
        }
    };
    let addr = listener
        .local_addr()
        .unwrap_or(SocketAddr::new(control.listen, 0));
    let program_name = program_path.as_ref().map_or_else(
        || String::from("(serve)"),
        |path| path.display().to_string(),
    );
    let identity = Identity {
        pid: std::process::id(),
        addr: addr.to_string(),
        program: program_name,
        started_ms: runtime::now_ms(),
    };
    let tls = match tls_identity(&control) {
        Ok(tls) => tls,
        Err(message) => {
            report!("error: {message}");
            return ExitCode::from(exit::CONTROL_FAILED);
        }
    };
    let fingerprint = tls.as_ref().map(|(_, fingerprint)| fingerprint.to_string());
    // The handlers go in before the record shows where the VM is: from then on a signal stops it
    // cleanly (its record removed), whenever it arrives.
    let signals = match watch_signals(&interrupt, commands.clone()) {
        Ok(signals) => signals,
        Err(error) => {
            report!("error: cannot install signal handlers: {error}");
            return ExitCode::from(exit::CONTROL_FAILED);
        }
    };
    let _record = match publish(&identity, addr, fingerprint) {
        Ok((record, token)) => {
            let idle = std::time::Duration::from_secs(control.idle_timeout);
            let config = tls.map(|(config, _)| config);
            if let Err(error) = control::spawn(
                listener,
                token,
                config,
                commands,
                Arc::clone(&board),
                idle,
                signals,
            ) {
                report!("error: cannot start the control channel: {error}");
                return ExitCode::from(exit::CONTROL_FAILED);
            }
            record
        }
        Err(message) => {
            report!("error: {message}");
            return ExitCode::from(exit::CONTROL_FAILED);
        }
    };

    if paused {
        // Nothing else shows that a VM waits, nor where a client finds it.
        let waiting = if vm.is_some() {
            "paused, waiting for a resume"
        } else {
            "waiting for a state image"
        };
        report!("mova[{}]: listening on {addr}: {waiting}", identity.pid);
    }
    let session = Session::new(
        vm,
        paused,
        interrupt,
        receiver,
        Stdout::new(),
        identity,
        board,
    )
    .with_heap_limit(heap.max_heap);
    let (end, vm) = session.run();
    let code = match end {
        End::Halted | End::Orphaned => ExitCode::from(exit::HALTED),
        End::Stopped(reason) => {
            report!("mova[{}]: stopped: {reason}", std::process::id());
            ExitCode::from(exit::HALTED)
        }
        End::Signal(number) => {
            let number = u8::try_from(number).unwrap_or(0);
            ExitCode::from(exit::SIGNAL_BASE.saturating_add(number))
        }
        End::Trapped(trap) => trap_exit(vm.as_ref(), &trap, cli.color),
    };
    // The VM's memory (its stacks, its heap) goes back with the process, output written and
    // nothing else to release: freeing it first would only cost a munmap per large block, each a
    // TLB shootdown across the CPUs while the control thread exists. The record is still removed
    // (its guard drops below).
    std::mem::forget(vm);
    code
}

/// Loads the program and, with `--restore`, the state to start from. `None` for a blank VM.
fn load(
    path: Option<&Path>,
    restore: Option<&Path>,
    seal_key: Option<&Path>,
    max_heap: usize,
    color: ColorChoice,
) -> Result<Option<Vm>, ExitCode> {
    let failed = |message: String| {
        report!("error: {message}");
        ExitCode::from(exit::LOAD_FAILED)
    };
    // Sources are compiled with a source map, so that a trap can show the line that caused it.
    let options = Options {
        color,
        error_format: ErrorFormat::Human,
        source_map: true,
    };
    let program: Option<Program> = match path {
        Some(path) => match driver::load_program(path, &options) {
            Ok(built) => {
                built.warnings.write(&mut io::stderr(), &options);
                Some(built.program)
            }
            Err(error) => {
                if let Some(report) = error.diagnostics() {
                    report.write(&mut io::stderr(), &options);
                }
                return Err(failed(error.to_string()));
            }
        },
        None => None,
    };
    let Some(image_path) = restore else {
        return Ok(program.map(|program| Vm::with_heap_limit(program, max_heap)));
    };
    let key = runtime::seal_key(seal_key).map_err(failed)?;
    // A sealed image is its seal's header longer than the image inside.
    let limit = MAX_IMAGE_LEN + key.as_ref().map_or(0, |_| SEAL_HEADER_LEN);
    let bytes = mova_compiler::io::read_limited(image_path, limit)
        .map_err(|error| failed(error.to_string()))?;
    // With a key, the seal is checked over the whole file before a byte of the image is decoded.
    let image = seal::unseal(key.as_ref(), &bytes)
        .map_err(|error| failed(format!("cannot load `{}`: {error}", image_path.display())))?;
    let image = Image::decode(image)
        .map_err(|error| failed(format!("cannot load `{}`: {error}", image_path.display())))?;
    let program = match (program, image.program()) {
        (Some(program), _) => program,
        (None, Some(embedded)) => embedded.clone(),
        (None, None) => {
            return Err(failed(format!(
                "`{}` does not carry its program: name the program too",
                image_path.display()
            )));
        }
    };
    Vm::from_image_with_heap_limit(program, &image, max_heap)
        .map(Some)
        .map_err(|error| {
            failed(format!(
                "cannot restore `{}`: {error}",
                image_path.display()
            ))
        })
}

/// Binds the control socket: on `--port` if given, else on PID ^ 34567 when that is a usable port
/// and free, else on a port the system picks.
fn listen(control: &ControlArgs) -> Result<TcpListener, String> {
    let bind = |port: u16| control::bind(SocketAddr::new(control.listen, port));
    match control.port {
        Some(port) => bind(port).map_err(|error| {
            let hint = if error.kind() == io::ErrorKind::AddrInUse {
                " (another process uses it; choose another with --port, or --port 0 to let the system pick)"
            } else {
                ""
            };
            format!("cannot listen on {}:{port}: {error}{hint}", control.listen)
        }),
        None => {
            let derived = u16::try_from(std::process::id() ^ 34567)
                .ok()
                .filter(|port| *port >= 1024);
            derived
                .and_then(|port| bind(port).ok())
                .map_or_else(|| bind(0), Ok)
                .map_err(|error| format!("cannot listen on {}: {error}", control.listen))
        }
    }
}

/// Removes the VM's runtime record when the VM exits.
struct RecordGuard(PathBuf);

impl Drop for RecordGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The TLS configuration of a channel off the loopback, and its certificate's fingerprint; none
/// on the loopback (where `--tls-cert` is refused rather than ignored).
fn tls_identity(
    control: &ControlArgs,
) -> Result<Option<(Arc<rustls::ServerConfig>, tls::Fingerprint)>, String> {
    if !tls::required_for(control.listen) {
        if control.tls_cert.is_some() {
            return Err(format!(
                "--tls-cert is for a channel off the loopback; on {} it is plain TCP (with the \
                 challenge-response handshake)",
                control.listen
            ));
        }
        return Ok(None);
    }
    let identity = match (&control.tls_cert, &control.tls_key) {
        (Some(cert), Some(key)) => tls::Identity::load(cert, key),
        (None, None) | (Some(_), None) | (None, Some(_)) => tls::Identity::default_own(),
    }
    .map_err(|error| format!("cannot set up TLS: {error}"))?;
    let config = identity
        .server_config()
        .map_err(|error| format!("cannot set up TLS: {error}"))?;
    Ok(Some((config, identity.fingerprint())))
}

/// Writes the VM's runtime record with a fresh token; returns its guard and the token's bytes.
fn publish(
    identity: &Identity,
    addr: SocketAddr,
    fingerprint: Option<String>,
) -> Result<(RecordGuard, Vec<u8>), String> {
    let dir = runtime::runtime_dir().map_err(|error| error.to_string())?;
    // Records of VMs that died without cleaning up go first.
    for skipped in runtime::list(&dir).skipped {
        report!("mova[{}]: warning: {skipped}", identity.pid);
    }
    let token = runtime::new_token().map_err(|error| format!("cannot make a token: {error}"))?;
    let record = Record {
        pid: identity.pid,
        addr,
        program: identity.program.clone(),
        started_ms: identity.started_ms,
        token: token.clone(),
        fingerprint,
    };
    let path = record.write(&dir).map_err(|error| error.to_string())?;
    let bytes = runtime::decode_hex(&token).unwrap_or_default();
    Ok((RecordGuard(path), bytes))
}

/// Reports a trap (on its source line when the program has a source map) and picks the status.
fn trap_exit(vm: Option<&Vm>, trap: &Trap, color: ColorChoice) -> ExitCode {
    match &trap.kind {
        TrapKind::Output(error) if error.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::from(exit::HALTED)
        }
        TrapKind::Output(_) => {
            report_trap(vm, trap, color);
            ExitCode::from(exit::OUTPUT_FAILED)
        }
        TrapKind::StackOverflow
        | TrapKind::CallDepth
        | TrapKind::NoCall
        | TrapKind::StackUnderflow { .. }
        | TrapKind::Arith { .. }
        | TrapKind::SlotOutOfRange { .. }
        | TrapKind::NegativeSleep { .. }
        | TrapKind::RefStackOverflow
        | TrapKind::RefStackUnderflow { .. }
        | TrapKind::RefSlotOutOfRange { .. }
        | TrapKind::IndexOutOfBounds { .. }
        | TrapKind::PopEmpty
        | TrapKind::NegativeLength { .. }
        | TrapKind::OutOfMemory { .. }
        | TrapKind::WrongKind { .. } => {
            report_trap(vm, trap, color);
            ExitCode::from(exit::TRAPPED)
        }
    }
}

/// Prints a trap: with the source line that caused it when the program has a source map, else as
/// one line naming the instruction; then, for a trap inside a function, the backtrace.
fn report_trap(vm: Option<&Vm>, trap: &Trap, color: ColorChoice) {
    let map = vm.and_then(|vm| vm.program().source_map());
    match map
        .as_ref()
        .and_then(|map| map.span(trap.ip).map(|span| (map, span)))
    {
        Some((map, span)) => {
            let diagnostic = Diagnostic {
                severity: Severity::Error,
                code: None,
                message: trap.kind.to_string(),
                span,
                label: format!(
                    "trapped here, at instruction {} (`{}`)",
                    trap.ip, trap.instr
                ),
                secondary: Vec::new(),
                help: None,
            };
            stdio::eprint(format_args!(
                "{}",
                render(&[diagnostic], &map.file, &map.source, color.for_stderr())
            ));
        }
        None => report!("error: {trap}"),
    }
    // A trap in the main program is all on its line; one in a call also says how it got there.
    if let Some(vm) = vm
        && !vm.frames().is_empty()
    {
        let symbols = backtrace::Symbols::of(Some(vm.program()));
        stdio::eprint(format_args!(
            "{}",
            backtrace::render(&symbols, &vm.backtrace())
        ));
    }
}

/// Turns SIGINT, SIGTERM and SIGHUP into a stop at the next instruction boundary, with output
/// flushed. A second signal ends the process at once. The control thread watches them.
fn watch_signals(
    interrupt: &Interrupt,
    commands: Sender<Event>,
) -> io::Result<control::SignalWatch> {
    let interrupt = interrupt.clone();
    let mut seen = false;
    control::SignalWatch::new(&[SIGINT, SIGTERM, SIGHUP], move |number| {
        // A second signal means the first could not stop the program in time (its output
        // blocked on a reader that does not read, say): end it at once.
        if seen {
            std::process::exit(i32::from(exit::SIGNAL_BASE) + number);
        }
        seen = true;
        let _ = commands.send(Event::Signal(number));
        interrupt.request();
    })
}
