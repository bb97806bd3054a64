//! The hypervisor's commands: one clap definition ([`HvCommand`]) and what each does
//! ([`execute`]), shared by the one-shot command line and the interactive shell
//! ([`shell`](crate::shell)). The shell keeps state between commands ([`State`]), as the seed
//! describes: `bind` keeps a connection open, and `rstate` keeps the state it read for a later
//! `wstate`.

use crate::migrate::{self, Side};
use crate::{HvError, Remote, Target, connect, inspect, ps, record};
use clap::Subcommand;
use mova_compiler::stdio::{self, StdoutError};
use mova_lang::image::Image;
use mova_lang::seal::{self, SealKey};
use mova_vm::client::{Client, ClientError};
use mova_vm::protocol::{MigrationId, VmState};
use mova_vm::runtime;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The hypervisor's commands.
#[derive(Debug, Subcommand)]
pub enum HvCommand {
    /// List the Mova VMs on this host: pid, port, state, IP, stack depth, uptime, program
    Ps {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Print a local VM's runtime record (JSON): its address, its token and, when it listens off
    /// the loopback, its TLS fingerprint — what `movahv` on another host needs to reach it
    /// (`--token`, `--fingerprint`). Keep it secret: the token commands the VM
    Record {
        /// The VM's pid
        pid: u32,
    },
    /// Connect to a VM and keep the connection for the following commands (shell)
    Bind {
        /// The VM's pid
        pid: u32,
    },
    /// Close a connection `bind` kept (shell)
    Unbind {
        /// The VM's pid
        pid: u32,
    },
    /// Pause a VM at the next instruction boundary (its output flushed)
    Interrupt {
        /// The VM: a pid, or host:port with --token
        target: String,
        /// The token of a remote VM (hex, from its runtime record)
        #[arg(long)]
        token: Option<String>,
        /// The TLS certificate fingerprint of a remote VM off the loopback (from its runtime
        /// record) [default: the one the known hosts file holds, trusted on first use]
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: Option<String>,
    },
    /// Let a paused VM run on (one left in doubt by an unfinished migration runs only if that
    /// migration's target did not take its state)
    Resume {
        /// The VM: a pid, or host:port with --token
        target: String,
        /// The token of a remote VM
        #[arg(long)]
        token: Option<String>,
        /// The TLS certificate fingerprint of a remote VM
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: Option<String>,
        /// For a VM in doubt whose migration target is on another host: that target's token, to
        /// ask it whether it took the state
        #[arg(long, value_name = "TOKEN")]
        to_token: Option<String>,
        /// That target's TLS certificate fingerprint
        #[arg(long, value_name = "FINGERPRINT")]
        to_fingerprint: Option<String>,
        /// For a VM in doubt: run it again without asking its migration's target (when that
        /// target is gone for good; whatever it ran of the computation runs again)
        #[arg(long)]
        force: bool,
    },
    /// Read a VM's state: it stays paused (unless --leave-running); the shell keeps the state for
    /// `wstate`
    Rstate {
        /// The VM: a pid, or host:port with --token
        target: String,
        /// Write the image to FILE (`-` for standard output)
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Let the VM run on after reading its state
        #[arg(long)]
        leave_running: bool,
        /// Leave the program out of the image (it then restores only into a VM running it)
        #[arg(long)]
        no_program: bool,
        /// The token of a remote VM
        #[arg(long)]
        token: Option<String>,
        /// The TLS certificate fingerprint of a remote VM
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: Option<String>,
        /// Seal the image with the key in FILE (a private file of at least 32 bytes), so that
        /// `wstate`, `inspect` and `mova --restore` refuse it tampered [default: the file
        /// $MOVA_SEAL_KEY names, if set]
        #[arg(long, value_name = "FILE")]
        seal_key: Option<PathBuf>,
    },
    /// Write a state into a VM and run it: `wstate FROM TO` (FROM a pid or an image file), or in
    /// the shell `wstate TO` with the state `rstate` kept. FROM stays paused
    #[command(allow_missing_positional = true)]
    Wstate {
        /// Where the state comes from: a pid, an image file, or host:port with --from-token (in
        /// the shell, without FROM: the state `rstate` kept)
        from: Option<String>,
        /// The VM to write it into: a pid, or host:port with --token
        to: String,
        /// The token of a remote target VM
        #[arg(long)]
        token: Option<String>,
        /// The TLS certificate fingerprint of a remote target VM
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: Option<String>,
        /// The token of a remote source VM
        #[arg(long)]
        from_token: Option<String>,
        /// The TLS certificate fingerprint of a remote source VM
        #[arg(long, value_name = "FINGERPRINT")]
        from_fingerprint: Option<String>,
        /// The key a sealed image is sealed with; with one, an image not sealed with it is
        /// refused before it is read [default: the file $MOVA_SEAL_KEY names, if set]
        #[arg(long, value_name = "FILE")]
        seal_key: Option<PathBuf>,
    },
    /// Move a VM's running computation into another VM, losing and repeating nothing; the source
    /// stops once the target has the state
    Migrate {
        /// The source VM: a pid, or host:port with --from-token
        from: String,
        /// The target VM: a pid, or host:port with --token (e.g. a `mova serve` elsewhere)
        to: String,
        /// The token of a remote target VM
        #[arg(long)]
        token: Option<String>,
        /// The TLS certificate fingerprint of a remote target VM
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: Option<String>,
        /// The token of a remote source VM
        #[arg(long)]
        from_token: Option<String>,
        /// The TLS certificate fingerprint of a remote source VM
        #[arg(long, value_name = "FINGERPRINT")]
        from_fingerprint: Option<String>,
        /// Run the computation on the target even if the source was paused (a paused source's
        /// computation otherwise stays paused there)
        #[arg(long)]
        resume: bool,
        /// Migrate into a target that holds another computation, replacing it (without this, the
        /// target must be blank: `mova serve`)
        #[arg(long)]
        force: bool,
        /// Print the statistics as JSON
        #[arg(long)]
        json: bool,
    },
    /// Stop a VM (it flushes its output and exits)
    Kill {
        /// The VM: a pid, or host:port with --token
        target: String,
        /// The token of a remote VM
        #[arg(long)]
        token: Option<String>,
        /// The TLS certificate fingerprint of a remote VM
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: Option<String>,
    },
    /// Show what a saved state image holds: IP (with its instruction and source line), stack,
    /// program hash
    Inspect {
        /// The image (`.mvs`)
        file: PathBuf,
        /// The program, when the image does not carry it
        #[arg(long, value_name = "PROGRAM")]
        program: Option<PathBuf>,
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// The key a sealed image is sealed with; with one, an image not sealed with it is
        /// refused before it is read [default: the file $MOVA_SEAL_KEY names, if set]
        #[arg(long, value_name = "FILE")]
        seal_key: Option<PathBuf>,
    },
}

/// What the shell keeps between commands (empty for a one-shot command).
#[derive(Debug, Default)]
pub struct State {
    bound: BTreeMap<u32, Client>,
    kept: Option<(String, Vec<u8>)>,
    interactive: bool,
}

/// A connection for one command: one `bind` kept, taken out of the shell's state while in use, or
/// a new one.
struct Lease {
    client: Client,
    /// The pid it is kept for, if `bind` kept it.
    bound: Option<u32>,
}

impl State {
    /// The state of an interactive shell, which `bind` and `rstate` keep things in.
    pub fn interactive() -> State {
        State {
            interactive: true,
            ..State::default()
        }
    }

    /// A connection to `target`: the kept one if there is one, else a new one.
    fn lease(&mut self, target: &Target, remote: &Remote) -> Result<Lease, HvError> {
        if let Target::Pid(pid) = target
            && let Some(client) = self.bound.remove(pid)
        {
            return Ok(Lease {
                client,
                bound: Some(*pid),
            });
        }
        Ok(Lease {
            client: connect(target, remote)?,
            bound: None,
        })
    }

    /// Keeps a kept connection again, unless it is `dead` (closing it then tells the VM its
    /// client went away).
    fn give_back(&mut self, lease: Lease, dead: bool) {
        if let (Some(pid), false) = (lease.bound, dead) {
            self.bound.insert(pid, lease.client);
        }
    }

    /// Runs `command` against `target`, on the kept connection if there is one.
    fn with_client<T>(
        &mut self,
        target: &Target,
        remote: &Remote,
        run: impl FnOnce(&mut Client) -> Result<T, HvError>,
    ) -> Result<T, HvError> {
        let mut lease = self.lease(target, remote)?;
        let result = run(&mut lease.client);
        // A VM that went away leaves a dead connection: forget it.
        let dead = result.as_ref().is_err_and(connection_lost);
        self.give_back(lease, dead);
        result
    }
}

/// Whether `error` means the connection to the VM is gone.
fn connection_lost(error: &HvError) -> bool {
    match error {
        HvError::Client(ClientError::Frame { .. } | ClientError::NoAnswer { .. }) => true,
        HvError::Undone { error, .. } => connection_lost(error),
        HvError::NoSuchVm { .. }
        | HvError::Runtime(_)
        | HvError::Client(_)
        | HvError::File { .. }
        | HvError::Load(_)
        | HvError::Image { .. }
        | HvError::Seal { .. }
        | HvError::Usage(_)
        | HvError::Migrate(_)
        | HvError::Resolve(_)
        | HvError::Migration(_)
        | HvError::Output(_) => false,
    }
}

/// Whether `error` is, or was caused by, standard output's reader going away.
pub fn output_closed(error: &HvError) -> bool {
    match error {
        HvError::Output(StdoutError::Closed) => true,
        HvError::Undone { error, .. } => output_closed(error),
        HvError::NoSuchVm { .. }
        | HvError::Runtime(_)
        | HvError::Client(_)
        | HvError::File { .. }
        | HvError::Load(_)
        | HvError::Image { .. }
        | HvError::Seal { .. }
        | HvError::Usage(_)
        | HvError::Migrate(_)
        | HvError::Resolve(_)
        | HvError::Migration(_)
        | HvError::Output(StdoutError::Failed(_)) => false,
    }
}

/// Runs one command, returning what to print.
pub fn execute(command: HvCommand, state: &mut State) -> Result<String, HvError> {
    match command {
        HvCommand::Ps { json } => {
            let entries = ps::list()?;
            Ok(if json {
                format!("{}\n", ps::to_json(&entries))
            } else {
                ps::to_table(&entries)
            })
        }
        HvCommand::Bind { pid } => {
            if !state.interactive {
                return Err(HvError::Usage(
                    "`bind` keeps a connection for later commands, which only the shell has: run `movahv` without arguments".into(),
                ));
            }
            let client = Client::to_record(&record(pid)?)?;
            let addr = client.addr();
            state.bound.insert(pid, client);
            Ok(format!("bound to {pid} at {addr}\n"))
        }
        HvCommand::Unbind { pid } => match state.bound.remove(&pid) {
            Some(_) => Ok(format!("unbound from {pid}\n")),
            None if !state.interactive => Err(HvError::Usage(
                "`unbind` closes a connection `bind` kept, which only the shell has".into(),
            )),
            None => Err(HvError::Usage(format!("not bound to {pid}"))),
        },
        HvCommand::Record { pid } => Ok(format!("{}\n", record(pid)?.to_json())),
        HvCommand::Interrupt {
            target,
            token,
            fingerprint,
        } => {
            let target = Target::parse(&target)?;
            let remote = Remote::new(token, fingerprint);
            state.with_client(&target, &remote, |client| Ok(client.interrupt()?))?;
            Ok(format!("interrupted {target}\n"))
        }
        HvCommand::Resume {
            target,
            token,
            fingerprint,
            to_token,
            to_fingerprint,
            force,
        } => {
            let parsed = Target::parse(&target)?;
            let side = Side {
                target: parsed.clone(),
                remote: Remote::new(token, fingerprint),
            };
            let to = Remote::new(to_token, to_fingerprint);
            let settled = match migrate::resolve(&side, force, &to)? {
                migrate::Resolution::NotInDoubt => "",
                migrate::Resolution::GivenBack => {
                    " (it was in doubt: its migration's target did not take the state)"
                }
            };
            state.with_client(&parsed, &side.remote, |client| Ok(client.resume()?))?;
            Ok(format!("resumed {parsed}{settled}\n"))
        }
        HvCommand::Rstate {
            target,
            output,
            leave_running,
            no_program,
            token,
            fingerprint,
            seal_key,
        } => {
            let target = Target::parse(&target)?;
            let remote = Remote::new(token, fingerprint);
            let key = runtime::seal_key(seal_key.as_deref()).map_err(HvError::Usage)?;
            // Where the image goes is made ready before the VM is paused, so that a destination
            // that cannot take it (a missing directory, a terminal) fails with the VM untouched.
            let sink = Sink::open(output.as_deref(), state.interactive)?;
            let said_sink = sink.describe();
            let image = state.with_client(&target, &remote, |client| {
                let was_running = is_running(client)?;
                let image = client.save(!no_program)?;
                let written = match &key {
                    Some(key) => seal::seal(key, &image),
                    None => image.clone(),
                };
                if let Err(error) = sink.put(&written) {
                    return Err(put_back(client, &target, was_running, error));
                }
                if leave_running {
                    client.resume()?;
                } else {
                    client.interrupt()?;
                }
                Ok(image)
            })?;
            let said = match said_sink {
                Some(sink) => format!(
                    "read the state of {target} ({} bytes){}\n{sink}\n",
                    image.len(),
                    if leave_running {
                        "; it runs on"
                    } else {
                        "; it is paused"
                    }
                ),
                // The image itself went to standard output.
                None => String::new(),
            };
            if state.interactive {
                state.kept = Some((target.to_string(), image));
            }
            Ok(said)
        }
        HvCommand::Wstate {
            from,
            to,
            token,
            fingerprint,
            from_token,
            from_fingerprint,
            seal_key,
        } => {
            let to = Target::parse(&to)?;
            let key = runtime::seal_key(seal_key.as_deref()).map_err(HvError::Usage)?;
            let (to_remote, from_remote) = (
                Remote::new(token, fingerprint),
                Remote::new(from_token, from_fingerprint),
            );
            let (label, image) = match from
                .as_deref()
                .map(|from| source(from, key.as_ref()))
                .transpose()?
            {
                Some(Source::Vm(from)) => {
                    let bytes = copy_state(state, &from, &from_remote, &to, &to_remote)?;
                    return Ok(format!(
                        "wrote the state of {from} ({bytes} bytes) into {to}; it runs; {from} stays paused\n"
                    ));
                }
                Some(Source::Image { label, image }) => (label, image),
                None => match &state.kept {
                    Some((from, image)) => (from.clone(), image.clone()),
                    None => {
                        return Err(HvError::Usage(
                            "no state kept: run `rstate PID` first (in the shell), or give `wstate FROM TO`".into(),
                        ));
                    }
                },
            };
            let bytes = image.len();
            let mut lease = state.lease(&to, &to_remote)?;
            let result = restore_and_run(&mut lease.client, image);
            // A failed write closes a kept connection: the target then drops an image it did not
            // commit.
            state.give_back(lease, result.is_err());
            result?;
            Ok(format!(
                "wrote the state of {label} ({bytes} bytes) into {to}; it runs\n"
            ))
        }
        HvCommand::Migrate {
            from,
            to,
            token,
            fingerprint,
            from_token,
            from_fingerprint,
            resume,
            force,
            json,
        } => {
            // Connections of their own: a migration must not share a kept connection whose
            // closing would mean something else.
            let from = Side {
                target: Target::parse(&from)?,
                remote: Remote::new(from_token, from_fingerprint),
            };
            if let (Target::Remote(addr), None) = (&from.target, &from.remote.token) {
                return Err(HvError::Usage(format!(
                    "the source `{addr}` is a remote VM: give its token with --from-token"
                )));
            }
            let to = Side {
                target: Target::parse(&to)?,
                remote: Remote::new(token, fingerprint),
            };
            let stats = match migrate::migrate(&from, &to, migrate::Options { resume, force }) {
                Ok(stats) => stats,
                // The failure as data too, for scripts: its kind, where the source is, and the
                // command that settles the computation.
                Err(HvError::Migrate(error)) if json => {
                    stdio::print(&format!("{}\n", error.to_json()))?;
                    return Err(HvError::Migrate(error));
                }
                Err(error) => return Err(error),
            };
            if json {
                return Ok(format!("{}\n", stats.to_json()));
            }
            let mut said = format!("{stats}\n");
            for note in &stats.notes {
                said.push_str(&format!("note: {note}\n"));
            }
            Ok(said)
        }
        HvCommand::Kill {
            target,
            token,
            fingerprint,
        } => {
            let target = Target::parse(&target)?;
            state.with_client(&target, &Remote::new(token, fingerprint), |client| {
                Ok(client.stop("killed by movahv")?)
            })?;
            if let Target::Pid(pid) = target {
                state.bound.remove(&pid);
            }
            Ok(format!("stopped {target}\n"))
        }
        HvCommand::Inspect {
            file,
            program,
            json,
            seal_key,
        } => {
            let key = runtime::seal_key(seal_key.as_deref()).map_err(HvError::Usage)?;
            let inspected = inspect::read(&file, key.as_ref())?;
            let image = &inspected.image;
            let program = match program {
                // Warnings about the program are not what inspecting an image is about; errors
                // come with the error, for the caller to write.
                Some(path) => Some(
                    mova_compiler::driver::load_program(
                        &path,
                        &mova_compiler::driver::Options::default(),
                    )?
                    .program,
                ),
                None => None,
            };
            if let (Some(program), None) = (&program, image.program()) {
                image.check(program).map_err(|source| HvError::Image {
                    path: file.clone(),
                    source,
                })?;
            }
            Ok(if json {
                format!("{}\n", inspect::to_json(&inspected, program.as_ref()))
            } else {
                inspect::to_text(&file, &inspected, program.as_ref())
            })
        }
    }
}

/// Where `wstate FROM TO` takes the state from.
enum Source {
    /// A VM, saved at once.
    Vm(Target),
    /// An image file, read.
    Image {
        /// The file, as given.
        label: String,
        image: Vec<u8>,
    },
}

/// What FROM names: the local VM of that pid if there is one, else the image file of that name if
/// there is one, else a pid or host:port.
fn source(from: &str, key: Option<&SealKey>) -> Result<Source, HvError> {
    let is_vm = from.parse::<u32>().is_ok_and(|pid| record(pid).is_ok());
    let path = Path::new(from);
    if !is_vm && path.exists() {
        let image = inspect::read(path, key)?.image;
        return Ok(Source::Image {
            label: path.display().to_string(),
            image: image.encode(),
        });
    }
    Target::parse(from)
        .map(Source::Vm)
        .map_err(|_| HvError::File {
            what: "cannot read",
            path: path.to_owned(),
            source: io::Error::new(
                io::ErrorKind::NotFound,
                "there is no such file, and it is not a pid or a host:port",
            ),
        })
}

/// Writes `image` into the VM and runs it.
fn restore_and_run(client: &mut Client, image: Vec<u8>) -> Result<(), HvError> {
    let migration = new_migration()?;
    client.restore(migration, image)?;
    client.commit(migration, true)?;
    Ok(())
}

/// A fresh migration id, for a state written into a VM.
fn new_migration() -> Result<MigrationId, HvError> {
    MigrationId::random()
        .map_err(|error| HvError::Migration(format!("cannot make a migration id: {error}")))
}

/// `wstate FROM TO` from a VM: saves FROM, writes the state into TO and runs it there, and leaves
/// FROM paused; returns the image's size. If TO does not take the state, FROM is put back as it
/// was (running or paused). The order is a migration's (see [`migrate`]) without its end: once
/// TO has the image, FROM is held firmly, so that it cannot run on by itself while TO runs.
fn copy_state(
    state: &mut State,
    from: &Target,
    from_remote: &Remote,
    to: &Target,
    to_remote: &Remote,
) -> Result<usize, HvError> {
    if from == to {
        return Err(HvError::Usage(format!(
            "`wstate` from {from} into itself would change nothing: name another VM as TO"
        )));
    }
    if let (Target::Remote(addr), None) = (from, &from_remote.token) {
        return Err(HvError::Usage(format!(
            "the source `{addr}` is a remote VM: give its token with --from-token"
        )));
    }
    // The target first: one that cannot be reached fails the command before the source pauses.
    let mut target = state.lease(to, to_remote)?;
    let mut source = match state.lease(from, from_remote) {
        Ok(source) => source,
        Err(error) => {
            state.give_back(target, false);
            return Err(error);
        }
    };
    let result = copy_between(&mut source.client, from, &mut target.client, to);
    let dead = result.as_ref().is_err_and(connection_lost);
    state.give_back(source, dead);
    // As for an image file: a failure closes a kept connection to the target, which then drops
    // an image it did not commit.
    state.give_back(target, result.is_err());
    result
}

fn copy_between(
    source: &mut Client,
    from: &Target,
    target: &mut Client,
    to: &Target,
) -> Result<usize, HvError> {
    let was_running = is_running(source)?;
    let migration = new_migration()?;
    let image = source.save(true)?;
    let bytes = image.len();
    if let Err(error) = target.restore(migration, image) {
        return Err(put_back(source, from, was_running, error.into()));
    }
    // A lost connection would now let the source run on by itself: hand its state off, so that
    // it stays paused, in doubt, until this copy is settled.
    let to_pid = match to {
        Target::Pid(pid) => *pid,
        Target::Remote(_) => 0,
    };
    source.hold(migration, to_pid, &target.addr().to_string())?;
    match target.commit(migration, true) {
        Ok(()) => {}
        // The target refused: it did not commit the image, and drops it when this connection
        // closes.
        Err(error @ ClientError::Refused(_)) => {
            let _ = source.settle(migration, false);
            return Err(put_back(source, from, was_running, error.into()));
        }
        // The answer is lost: the target may run the state. The source must not run too.
        Err(error) => {
            return Err(HvError::Migration(format!(
                "{error}: whether {to} runs the state cannot be told; {from} stays paused in \
                 doubt (`movahv resume {from}` asks {to} and runs {from} again only if {to} did \
                 not take the state)"
            )));
        }
    }
    // A copy, as asked: the source holds its own state again, paused. Were this answer lost, the
    // source would stay in doubt, and `resume` would find the copy running and refuse.
    let _ = source.settle(migration, false);
    Ok(bytes)
}

/// Whether the VM is running now (so that a failed command can put it back).
fn is_running(client: &mut Client) -> Result<bool, HvError> {
    Ok(client.info()?.state == VmState::Running)
}

/// Puts a VM this client saved back as it was before, running or paused, after `error` ended the
/// command; returns the error to report, saying what became of the VM.
fn put_back(client: &mut Client, vm: &Target, was_running: bool, error: HvError) -> HvError {
    let restored = if was_running {
        client.resume()
    } else {
        client.interrupt()
    };
    match restored {
        Ok(()) => HvError::Undone {
            error: Box::new(error),
            vm: vm.clone(),
            was_running,
        },
        Err(lost) => HvError::Migration(format!(
            "{error}; {vm} could not be put back as it was ({lost}): see `movahv ps`"
        )),
    }
}

/// Where `rstate` puts the image.
enum Sink {
    /// Standard output (checked not to be a terminal).
    Stdout,
    File(PendingFile),
    /// The shell keeps it for `wstate TO`.
    Keep,
}

impl Sink {
    /// Makes the destination ready: `-` or nothing (outside the shell) is standard output.
    fn open(output: Option<&Path>, interactive: bool) -> Result<Sink, HvError> {
        match output {
            Some(path) if path != Path::new("-") => Ok(Sink::File(PendingFile::create(path)?)),
            None if interactive => Ok(Sink::Keep),
            Some(_) | None => {
                if io::stdout().is_terminal() {
                    return Err(HvError::Usage(
                        "refusing to write a binary image to a terminal: use -o FILE".into(),
                    ));
                }
                Ok(Sink::Stdout)
            }
        }
    }

    /// What `rstate` says of where the image went; `None` when the image itself is the output.
    fn describe(&self) -> Option<String> {
        match self {
            Sink::Stdout => None,
            Sink::File(file) => Some(format!("saved to {}", file.path.display())),
            Sink::Keep => Some(String::from("kept for `wstate TO`")),
        }
    }

    /// Puts the image there.
    fn put(self, image: &[u8]) -> Result<(), HvError> {
        match self {
            Sink::Stdout => Ok(stdio::write(image)?),
            Sink::File(file) => file.commit(image),
            Sink::Keep => Ok(()),
        }
    }
}

/// A file being written: to a temporary file beside it, renamed into place once complete, so that
/// a failure leaves no half-written file. Something that exists and is not a regular file
/// (`/dev/null`, a FIFO) is written directly, as `movac` does: renaming over it would replace it.
struct PendingFile {
    path: PathBuf,
    /// The temporary file, until it is renamed.
    temp: Option<PathBuf>,
    file: File,
}

impl PendingFile {
    fn create(path: &Path) -> Result<PendingFile, HvError> {
        let error = |source| HvError::File {
            what: "cannot write",
            path: path.to_owned(),
            source,
        };
        if fs::metadata(path).is_ok_and(|meta| !meta.is_file()) {
            return Ok(PendingFile {
                path: path.to_owned(),
                temp: None,
                file: File::create(path).map_err(error)?,
            });
        }
        let name = path
            .file_name()
            .map_or_else(|| "image".into(), |name| name.to_string_lossy());
        let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        // A stale temporary file of a process with this pid goes first; the new one is created
        // afresh, so that nothing already there is followed or overwritten in place.
        let _ = fs::remove_file(&temp);
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(error)?;
        Ok(PendingFile {
            path: path.to_owned(),
            temp: Some(temp),
            file,
        })
    }

    fn commit(mut self, bytes: &[u8]) -> Result<(), HvError> {
        let written = self.file.write_all(bytes).and_then(|()| self.file.flush());
        let renamed = written.and_then(|()| match self.temp.take() {
            Some(temp) => fs::rename(&temp, &self.path).inspect_err(|_| {
                let _ = fs::remove_file(&temp);
            }),
            None => Ok(()),
        });
        renamed.map_err(|source| HvError::File {
            what: "cannot write",
            path: self.path.clone(),
            source,
        })
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        // Not committed: nothing is left behind.
        if let Some(temp) = self.temp.take() {
            let _ = fs::remove_file(temp);
        }
    }
}

/// A state image, decoded: used by tests and tools that read `rstate` output.
pub fn decode_image(bytes: &[u8]) -> Result<Image, HvError> {
    Image::decode(bytes).map_err(|source| HvError::Image {
        path: PathBuf::from("<image>"),
        source,
    })
}
