//! Live migration: moves a running computation from one VM into another without losing or
//! repeating a step.
//!
//! ```text
//! hypervisor            source VM                    target VM
//!   │── Info ───────────►│ running or paused?        │
//!   │── Info ───────────────────────────────────────►│ blank (or --force), not held
//!   │── Save ───────────►│ pauses at a boundary, held by this connection,
//!   │◄── Image ──────────│ output flushed
//!   │── Restore(M, image) ──────────────────────────►│ checks and loads it, stays paused
//!   │◄── Ok ──────────────────────────────────────────│
//!   │── Hold(M, target) ►│ in doubt: stays paused whatever happens to any connection
//!   │── Commit(M) ──────────────────────────────────►│ runs on from the next instruction
//!   │── Settle(M, taken)►│ superseded: can never run again
//!   │── Stop ───────────►│ exits
//! ```
//!
//! **Invariant:** at most one VM runs the computation. Until the `Hold`, the source undoes its
//! own pause if this connection closes; until the `Commit`, the target drops the state if its
//! connection closes. After the `Hold` the source is *in doubt*: it runs again only when told,
//! by someone holding the migration id `M`, that the target did not take the state — which the
//! target answers with certainty (`Outcome` with abort drops a pending state first). When an
//! answer is lost (a connection cut, a VM killed), the hypervisor does not guess: it asks the VM
//! again on a new connection, and when a VM that could tell is gone, it leaves the source in
//! doubt and says how to settle it ([`resolve`]).

use crate::{HvError, Remote, Target, connect};
use mova_vm::client::{Client, ClientError};
use mova_vm::protocol::{Handoff, MigrationId, MigrationOutcome, VmInfo, VmState};
use mova_vm::runtime;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to keep asking a VM whose answer was lost what became of it.
const SETTLE: Duration = Duration::from_secs(5);

/// One side of a migration: where the VM is and how to reach it again.
#[derive(Clone, Debug)]
pub struct Side {
    pub target: Target,
    /// Its token and fingerprint, for a remote VM.
    pub remote: Remote,
}

impl Side {
    fn connect(&self) -> Result<Client, HvError> {
        connect(&self.target, &self.remote)
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.target.fmt(f)
    }
}

/// How to migrate.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Run the computation on the target even if the source was paused (a running source's
    /// always runs on).
    pub resume: bool,
    /// Replace the computation a target that is not blank holds.
    pub force: bool,
}

/// A VM as a migration names it: its pid when it is local, and the address reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The pid, for a VM on this host.
    pub pid: Option<u32>,
    /// Its control channel's address.
    pub addr: SocketAddr,
}

impl Endpoint {
    fn of(target: &Target, client: &Client) -> Endpoint {
        Endpoint {
            pid: match target {
                Target::Pid(pid) => Some(*pid),
                Target::Remote(_) => None,
            },
            addr: client.addr(),
        }
    }

    /// As JSON: `{"pid": 4250, "addr": "127.0.0.1:40001"}` (`pid` null for a remote VM).
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "pid": self.pid, "addr": self.addr.to_string() })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "{pid} ({})", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// What a migration moved and how long it took.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    pub migration: MigrationId,
    pub from: Endpoint,
    pub to: Endpoint,
    /// The image's size.
    pub bytes: usize,
    /// From the source pausing to the target committing: how long the computation stood still.
    pub downtime: Duration,
    /// From the first request to the target committing.
    pub total: Duration,
    /// Whether the target runs the computation (it stays paused if the source was paused,
    /// unless asked to resume).
    pub running: bool,
    /// What went wrong on the way without stopping the migration (a lost answer, a source that
    /// would not stop).
    pub notes: Vec<String>,
}

impl Stats {
    /// The statistics as one JSON object.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "migration": self.migration.to_string(),
            "from": self.from.to_json(),
            "to": self.to.to_json(),
            "bytes": self.bytes,
            "downtime_ms": self.downtime.as_secs_f64() * 1e3,
            "total_ms": self.total.as_secs_f64() * 1e3,
            "running": self.running,
            "notes": self.notes,
        })
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "migrated {} → {}: {} bytes, downtime {:.3} ms, total {:.3} ms{}",
            self.from,
            self.to,
            self.bytes,
            self.downtime.as_secs_f64() * 1e3,
            self.total.as_secs_f64() * 1e3,
            if self.running {
                ""
            } else {
                "; it is paused there, as the source was (`movahv resume` runs it)"
            }
        )
    }
}

/// Which side of a migration a VM is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Source,
    Target,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Source => "source",
            Role::Target => "target",
        })
    }
}

/// Why a migration failed, and where it left the computation. The message says both, and the
/// command that settles the computation when one is needed; the variant, its fields and
/// [`settle`](Self::settle) say the same as data.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// It failed before anything changed: the source runs on, or stays paused, as before, and the
    /// target holds what it held.
    #[error("{0}; nothing changed")]
    Unchanged(Unchanged),
    #[error("cannot make a migration id: {0}")]
    NoMigrationId(std::io::Error),
    /// The source's connection failed while it saved its state.
    #[error("the source could not save its state: {error}; {after}")]
    SaveLost {
        error: ClientError,
        after: SourceAfter,
    },
    #[error("the target refused the state: {reason}; {after}")]
    TargetRefused { reason: String, after: SourceAfter },
    /// The source undid its save before it could be held, so the target dropped the state.
    #[error("the source could not be held ({error}); the target dropped the state; {after}")]
    HoldRefused {
        error: ClientError,
        after: SourceAfter,
    },
    /// Whether the hold reached the source cannot be told; the target dropped the state.
    #[error(
        "the source could not be held ({error}) and cannot be asked ({reason}); {}, so the \
         computation is the source's: if the hold reached it, it is paused in doubt and `{}` \
         puts it back (the target never ran the state); if not, it runs on as before",
        if *.target_dropped {
            "the target dropped the state"
        } else {
            "the target drops the state when it sees this connection close"
        },
        resume(.from, true)
    )]
    HoldUnknown {
        error: ClientError,
        reason: String,
        /// Whether the target said it dropped the state (else it drops it on seeing the
        /// connection close).
        target_dropped: bool,
        from: Target,
    },
    /// The target closed its connection before the commit, so it never runs the state.
    #[error(
        "the target closed the connection before it was told to take the state (it died or was \
         cut off), so it never runs it; {after}"
    )]
    TargetClosed { after: SourceAfter },
    /// The target said it did not take the state.
    #[error("the target failed before taking the state: {reason}; {after}")]
    TargetFailed { reason: String, after: SourceAfter },
    /// The target's answer to the commit was lost and it cannot be asked: the source holds the
    /// state, paused in doubt.
    #[error(
        "cannot tell whether the target {to} took the state: {error}; {reason}. The source {from} \
         holds the state, paused in doubt: once {to} can be asked, `{}` settles it (the source \
         runs again only if {to} did not take the state); if {to} is gone for good, `{}` runs \
         the source from where it paused (whatever {to} ran of it would run again) and `movahv \
         kill {from}` ends it{}",
        resume(.from, false),
        resume(.from, true),
        .rescue.as_ref().map_or_else(String::new, |rescue| format!(
            "; the source is gone, so {rescue} — run it only if {} does not run the computation",
            .to
        ))
    )]
    InDoubt {
        from: Target,
        to: Target,
        error: ClientError,
        /// Why the target cannot be asked.
        reason: String,
        /// The image, when the source is gone too.
        rescue: Option<Rescue>,
    },
}

/// Why a migration stopped before it changed anything.
#[derive(Debug, thiserror::Error)]
pub enum Unchanged {
    #[error("cannot reach the {role} {vm}: {error}")]
    Unreachable {
        role: Role,
        vm: Target,
        error: Box<HvError>,
    },
    #[error("cannot ask the {role} {vm} about its state: {error}")]
    NoInfo {
        role: Role,
        vm: Target,
        error: ClientError,
    },
    #[error(
        "the target {to} is held by another client (a save, restore or migration is in progress)"
    )]
    TargetHeld { to: Target },
    #[error(
        "the target {to} is {state} (it handed its own state to a migration) and cannot take \
         another"
    )]
    TargetHandedOff { to: Target, state: VmState },
    #[error(
        "the target {to} holds another computation ({program}, {state}): migrating into it would \
         replace that; give --force to replace it, or migrate into a blank VM (`mova serve`)"
    )]
    TargetBusy {
        to: Target,
        /// Its program's source file, or what it was started with.
        program: String,
        state: VmState,
    },
    #[error("the source refused to save its state: {reason}")]
    SaveRefused { reason: String },
}

/// Where the computation is, as far as the source goes, once a migration gave up before the
/// target took the state.
#[derive(Debug, thiserror::Error)]
pub enum SourceAfter {
    #[error("the source runs on as before")]
    RunsAsBefore,
    #[error("the source is paused, as it was before")]
    PausedAsBefore,
    /// Another client changed it since (the state is quoted, as the message always had it).
    #[error("the source is \"{0}\"")]
    Is(VmState),
    /// It exited before it gave this migration its state.
    #[error(
        "the source is gone: it exited (it ended, or was stopped, killed or migrated elsewhere by \
         another client) before it gave its state to this migration, which took nothing from it"
    )]
    GoneBeforeSave,
    /// It is gone, and the image this migration took is the only copy.
    #[error("the source is gone too: {0}")]
    Gone(Rescue),
    #[error("the source cannot be reached ({0}): if it lives, it runs on as before")]
    Unreachable(String),
    /// It could not be told that the target never took the state.
    #[error(
        "the source is paused with the state, in doubt, and could not be told ({error}): `{}` \
         runs it again (the target never ran the state)",
        resume(.from, true)
    )]
    NotTold { error: Box<HvError>, from: Target },
    /// It took its computation back and runs it.
    #[error("the source runs on")]
    TookBackRunning,
    #[error(
        "the source holds its computation again, paused: `{}` runs it",
        resume(.from, false)
    )]
    TookBackPaused { from: Target },
    #[error(
        "the source took its computation back, and another client has taken it since (the source \
         is {0})"
    )]
    TakenSince(VmState),
    #[error(
        "the source took its computation back, then went away before this migration could run it \
         on (another client migrated or stopped it, or it was killed), so the state this \
         migration took is not kept: whoever took the source has the computation"
    )]
    WentAway,
    #[error(
        "the source took its computation back but cannot be asked now ({reason}): unless another \
         client took it since, `{}` runs it",
        resume(.from, false)
    )]
    TookBackUnknown { reason: String, from: Target },
}

/// The image a failed migration took, when no VM holds the computation any more.
#[derive(Debug, thiserror::Error)]
pub enum Rescue {
    #[error("the state is saved in {} — run it with `{}`", .0.display(), Settle::Restore(.0.clone()))]
    Saved(PathBuf),
    #[error("the state could not be saved in {} ({error}): it is lost", .path.display())]
    Lost {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// A command that settles the computation a failed migration left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settle {
    /// `movahv resume VM`, or with `--force` (the target never ran the state, or is gone).
    Resume { vm: Target, force: bool },
    /// `mova --restore FILE`: the rescued image.
    Restore(PathBuf),
}

fn resume(vm: &Target, force: bool) -> Settle {
    Settle::Resume {
        vm: vm.clone(),
        force,
    }
}

impl std::fmt::Display for Settle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Settle::Resume { vm, force: false } => write!(f, "movahv resume {vm}"),
            Settle::Resume { vm, force: true } => write!(f, "movahv resume {vm} --force"),
            Settle::Restore(path) => write!(f, "mova --restore {}", path.display()),
        }
    }
}

impl MigrateError {
    /// The variant's name, as `movahv migrate --json` reports it.
    pub fn kind(&self) -> &'static str {
        match self {
            MigrateError::Unchanged(_) => "unchanged",
            MigrateError::NoMigrationId(_) => "no-migration-id",
            MigrateError::SaveLost { .. } => "save-lost",
            MigrateError::TargetRefused { .. } => "target-refused",
            MigrateError::HoldRefused { .. } => "hold-refused",
            MigrateError::HoldUnknown { .. } => "hold-unknown",
            MigrateError::TargetClosed { .. } => "target-closed",
            MigrateError::TargetFailed { .. } => "target-failed",
            MigrateError::InDoubt { .. } => "in-doubt",
        }
    }

    /// Where the source is, when the migration gave up before the target took the state.
    pub fn source_after(&self) -> Option<&SourceAfter> {
        match self {
            MigrateError::SaveLost { after, .. }
            | MigrateError::TargetRefused { after, .. }
            | MigrateError::HoldRefused { after, .. }
            | MigrateError::TargetClosed { after }
            | MigrateError::TargetFailed { after, .. } => Some(after),
            MigrateError::Unchanged(_)
            | MigrateError::NoMigrationId(_)
            | MigrateError::HoldUnknown { .. }
            | MigrateError::InDoubt { .. } => None,
        }
    }

    /// The command the user is told to run to settle the computation, if there is one (for a
    /// source in doubt, the `resume` to try first).
    pub fn settle(&self) -> Option<Settle> {
        match self {
            MigrateError::HoldUnknown { from, .. } => Some(Settle::Resume {
                vm: from.clone(),
                force: true,
            }),
            MigrateError::InDoubt { from, .. } => Some(Settle::Resume {
                vm: from.clone(),
                force: false,
            }),
            MigrateError::Unchanged(_) | MigrateError::NoMigrationId(_) => None,
            MigrateError::SaveLost { after, .. }
            | MigrateError::TargetRefused { after, .. }
            | MigrateError::HoldRefused { after, .. }
            | MigrateError::TargetClosed { after }
            | MigrateError::TargetFailed { after, .. } => after.settle(),
        }
    }

    /// The rescue file the image was written to, if it was.
    pub fn rescued(&self) -> Option<&Path> {
        let rescue = match (self, self.source_after()) {
            (MigrateError::InDoubt { rescue, .. }, _) => rescue.as_ref(),
            (_, Some(SourceAfter::Gone(rescue))) => Some(rescue),
            (_, Some(_) | None) => None,
        };
        match rescue {
            Some(Rescue::Saved(path)) => Some(path),
            Some(Rescue::Lost { .. }) | None => None,
        }
    }

    /// The error as `movahv migrate --json` prints it: the message, and the same as data.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "error": self.to_string(),
            "kind": self.kind(),
            "source": self.source_after().map(SourceAfter::kind),
            "settle": self.settle().map(|settle| settle.to_string()),
            "rescued": self.rescued().map(|path| path.display().to_string()),
        })
    }
}

impl SourceAfter {
    /// The variant's name, as `movahv migrate --json` reports it.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceAfter::RunsAsBefore => "runs-as-before",
            SourceAfter::PausedAsBefore => "paused-as-before",
            SourceAfter::Is(_) => "changed",
            SourceAfter::GoneBeforeSave => "gone-before-save",
            SourceAfter::Gone(_) => "gone",
            SourceAfter::Unreachable(_) => "unreachable",
            SourceAfter::NotTold { .. } => "not-told",
            SourceAfter::TookBackRunning => "took-back-running",
            SourceAfter::TookBackPaused { .. } => "took-back-paused",
            SourceAfter::TakenSince(_) => "taken-since",
            SourceAfter::WentAway => "went-away",
            SourceAfter::TookBackUnknown { .. } => "took-back-unknown",
        }
    }

    /// The command its message tells the user to run, if any.
    pub fn settle(&self) -> Option<Settle> {
        match self {
            SourceAfter::NotTold { from, .. } => Some(Settle::Resume {
                vm: from.clone(),
                force: true,
            }),
            SourceAfter::TookBackPaused { from } | SourceAfter::TookBackUnknown { from, .. } => {
                Some(Settle::Resume {
                    vm: from.clone(),
                    force: false,
                })
            }
            SourceAfter::Gone(Rescue::Saved(path)) => Some(Settle::Restore(path.clone())),
            SourceAfter::RunsAsBefore
            | SourceAfter::PausedAsBefore
            | SourceAfter::Is(_)
            | SourceAfter::GoneBeforeSave
            | SourceAfter::Gone(Rescue::Lost { .. })
            | SourceAfter::Unreachable(_)
            | SourceAfter::TookBackRunning
            | SourceAfter::TakenSince(_)
            | SourceAfter::WentAway => None,
        }
    }
}

/// What became of a VM whose answer was lost.
#[derive(Debug)]
enum Fate {
    /// Its process is gone.
    Gone,
    /// It answers, not held by anyone: its `Info`.
    Answers(VmInfo),
    /// It cannot be reached or stays held, and whether it lives cannot be told.
    Unknown(String),
}

/// Asks the VM on a new connection what it is now, for up to [`SETTLE`]: a VM that is exiting,
/// or still holding for a connection it has not yet seen close, is asked again.
fn fate(side: &Side) -> Fate {
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Target::Pid(pid) = side.target
            && !runtime::alive(pid)
        {
            return Fate::Gone;
        }
        let reason = match side
            .connect()
            .and_then(|mut client| client.info().map_err(HvError::from))
        {
            Ok(info) if !info.held => return Fate::Answers(info),
            Ok(_) => String::from("it stays held by a connection that is gone"),
            Err(error) => error.to_string(),
        };
        if Instant::now() >= deadline {
            return Fate::Unknown(reason);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asks the target, on a new connection and for up to [`SETTLE`], whether it took the state of
/// `migration`, dropping it first if it is still pending: the answer is final. `Err` says why
/// no answer could be had (the target is gone or cannot be reached).
fn target_outcome(side: &Side, migration: MigrationId) -> Result<MigrationOutcome, String> {
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Target::Pid(pid) = side.target
            && !runtime::alive(pid)
        {
            return Err(format!("{side} is gone"));
        }
        let reason = match side
            .connect()
            .and_then(|mut client| client.outcome(migration, true).map_err(HvError::from))
        {
            Ok(outcome) => return Ok(outcome),
            Err(error) => error.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!("{side} cannot be asked: {reason}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn unchanged(why: Unchanged) -> HvError {
    MigrateError::Unchanged(why).into()
}

/// The migration id of a source's hand-off, from its `Info`.
fn handoff_of(info: &VmInfo) -> Option<MigrationId> {
    match &info.state {
        VmState::InDoubt(handoff) => Some(handoff.migration),
        VmState::Running
        | VmState::Paused
        | VmState::Restored
        | VmState::Waiting
        | VmState::Superseded(_) => None,
    }
}

/// What the source is after the migration gave up before it handed its state off: this
/// connection is closed, so the VM itself went back to running or paused as before. `image` is
/// the state taken from it, if any, rescued when the source is gone.
fn source_after_abort(from: &Side, image: Option<&[u8]>) -> SourceAfter {
    match fate(from) {
        Fate::Answers(info) => source_state(info),
        Fate::Gone => match image {
            Some(image) => SourceAfter::Gone(rescued(image)),
            None => SourceAfter::GoneBeforeSave,
        },
        Fate::Unknown(reason) => SourceAfter::Unreachable(reason),
    }
}

/// Checks that the target may take a state: blank, or `force`d, and not busy.
fn check_target(to: &Side, info: &VmInfo, force: bool) -> Result<(), HvError> {
    let to = to.target.clone();
    if info.held {
        return Err(unchanged(Unchanged::TargetHeld { to }));
    }
    match &info.state {
        VmState::Waiting => Ok(()),
        state @ (VmState::InDoubt(_) | VmState::Superseded(_)) => {
            Err(unchanged(Unchanged::TargetHandedOff {
                to,
                state: state.clone(),
            }))
        }
        state @ (VmState::Running | VmState::Paused | VmState::Restored) if !force => {
            Err(unchanged(Unchanged::TargetBusy {
                to,
                program: info
                    .loaded
                    .as_ref()
                    .and_then(|loaded| loaded.source.clone())
                    .unwrap_or_else(|| info.program.clone()),
                state: state.clone(),
            }))
        }
        VmState::Running | VmState::Paused | VmState::Restored => Ok(()),
    }
}

/// Moves the computation of `from` into `to`. On failure the error says what went wrong, where
/// the computation is, and the one command that settles it if one is needed.
pub fn migrate(from: &Side, to: &Side, options: Options) -> Result<Stats, HvError> {
    let start = Instant::now();
    if from.target == to.target {
        return Err(HvError::Usage(format!("cannot migrate {from} onto itself")));
    }
    let unreachable = |role, side: &Side| {
        let vm = side.target.clone();
        move |error| {
            unchanged(Unchanged::Unreachable {
                role,
                vm,
                error: Box::new(error),
            })
        }
    };
    let mut source = from.connect().map_err(unreachable(Role::Source, from))?;
    let mut target = to.connect().map_err(unreachable(Role::Target, to))?;
    if source.addr() == target.addr() {
        return Err(HvError::Usage(format!(
            "cannot migrate {from} onto itself ({} is its own address)",
            target.addr()
        )));
    }
    let from_end = Endpoint::of(&from.target, &source);
    let to_end = Endpoint::of(&to.target, &target);
    let migration = MigrationId::random().map_err(MigrateError::NoMigrationId)?;

    // 0. Before anything changes: the source's state, and a target free to take the image.
    let source_running = match source.info() {
        Ok(info) => info.state == VmState::Running,
        Err(error) => {
            return Err(unchanged(Unchanged::NoInfo {
                role: Role::Source,
                vm: from.target.clone(),
                error,
            }));
        }
    };
    let before = target.info().map_err(|error| {
        unchanged(Unchanged::NoInfo {
            role: Role::Target,
            vm: to.target.clone(),
            error,
        })
    })?;
    check_target(to, &before, options.force)?;
    let run = source_running || options.resume;

    // 1. Pause the source and take its state, with the program so a blank target can run it.
    let image = match source.save(true) {
        Ok(image) => image,
        Err(ClientError::Refused(reason)) => {
            return Err(unchanged(Unchanged::SaveRefused { reason }));
        }
        Err(error) => {
            drop(source);
            return Err(MigrateError::SaveLost {
                error,
                after: source_after_abort(from, None),
            }
            .into());
        }
    };
    let paused_at = Instant::now();
    let bytes = image.len();

    // 2. The target checks and loads it, and stays paused.
    if let Err(error) = target.restore(migration, image.clone()) {
        drop(source);
        return Err(MigrateError::TargetRefused {
            reason: describe(&error),
            after: source_after_abort(from, Some(&image)),
        }
        .into());
    }

    // 3. The source hands its state off: from here on it stays paused, in doubt, until settled.
    let mut notes = Vec::new();
    let to_pid = to_end.pid.unwrap_or(0);
    let source = match source.hold(migration, to_pid, &to_end.addr.to_string()) {
        Ok(()) => Some(source),
        Err(error) => {
            drop(source);
            match fate(from) {
                Fate::Gone => {
                    notes.push(format!(
                        "the source died after saving ({error}): the target's copy is the only one"
                    ));
                    None
                }
                // The hold reached it and only its answer was lost: it is in doubt, as wanted.
                Fate::Answers(info) if handoff_of(&info) == Some(migration) => None,
                Fate::Answers(info) => {
                    // It undid its save when the connection closed: it may run again, so the
                    // target must not.
                    drop(target);
                    let _ = target_outcome(to, migration);
                    return Err(MigrateError::HoldRefused {
                        error,
                        after: source_state(info),
                    }
                    .into());
                }
                Fate::Unknown(reason) => {
                    drop(target);
                    return Err(MigrateError::HoldUnknown {
                        error,
                        reason,
                        target_dropped: target_outcome(to, migration).is_ok(),
                        from: from.target.clone(),
                    }
                    .into());
                }
            }
        }
    };

    // 4. Commit: the target runs (or keeps paused) the state from the next instruction. Only
    // this connection can commit it, so if the target closed it already, it never will.
    if target.closed_by_peer() {
        drop(target);
        return Err(MigrateError::TargetClosed {
            after: give_back(from, source, migration, source_running, &image),
        }
        .into());
    }
    if let Err(error) = target.commit(migration, run) {
        drop(target);
        match target_outcome(to, migration) {
            Ok(MigrationOutcome::Committed) => notes.push(format!(
                "the target's answer was lost ({error}), but it committed the state"
            )),
            Ok(MigrationOutcome::NotTaken | MigrationOutcome::Pending) => {
                return Err(MigrateError::TargetFailed {
                    reason: describe(&error),
                    after: give_back(from, source, migration, source_running, &image),
                }
                .into());
            }
            Err(reason) => {
                let rescue = match source {
                    Some(_) => None,
                    None if matches!(fate(from), Fate::Gone) => Some(rescued(&image)),
                    None => None,
                };
                return Err(MigrateError::InDoubt {
                    from: from.target.clone(),
                    to: to.target.clone(),
                    error,
                    reason,
                    rescue,
                }
                .into());
            }
        }
    }
    let running_at = Instant::now();

    // 5. The source is superseded, then stopped.
    if let Some(note) = retire_source(from, source, migration, &to_end) {
        notes.push(note);
    }
    Ok(Stats {
        migration,
        from: from_end,
        to: to_end,
        bytes,
        downtime: running_at - paused_at,
        total: running_at - start,
        running: run,
        notes,
    })
}

/// Tells the source its state was taken (it can never run again) and stops it, on a new
/// connection if need be. A note if it could not be stopped.
fn retire_source(
    from: &Side,
    source: Option<Client>,
    migration: MigrationId,
    to: &Endpoint,
) -> Option<String> {
    let reason = format!("migrated to {to}");
    let retire = |client: &mut Client| -> Result<(), ClientError> {
        client.settle(migration, true)?;
        client.stop(&reason)
    };
    let first = match source {
        Some(mut client) => match retire(&mut client) {
            Ok(()) => return None,
            Err(error) => error.to_string(),
        },
        None => String::from("its connection was lost"),
    };
    if matches!(fate(from), Fate::Gone) {
        return None;
    }
    match from
        .connect()
        .and_then(|mut again| retire(&mut again).map_err(HvError::from))
    {
        Ok(()) => None,
        Err(again) => Some(format!(
            "the source could not be stopped ({first}; {again}): it is paused and can never run \
             again (once asked, it knows it is superseded); stop it with `movahv kill {from}`"
        )),
    }
}

/// Gives the source back its computation after the target definitely did not take it: settles
/// it as not taken and runs it again if it ran. Says where the computation is.
///
/// Once the source has been told that the target did not take the state, the computation is its
/// own again, and until it is run on it is a paused VM like any other: another client may take it
/// (a second migration), stop it or run it. The image this migration took is then no longer the
/// only copy of anything, so it is never rescued from that point on — running it could run the
/// computation twice; what became of the source is reported instead ([`taken_back`]).
fn give_back(
    from: &Side,
    source: Option<Client>,
    migration: MigrationId,
    was_running: bool,
    image: &[u8],
) -> SourceAfter {
    // Whether the source was told, on either connection: it then holds its computation again.
    let settled = std::cell::Cell::new(false);
    let back = |client: &mut Client| -> Result<(), ClientError> {
        client.settle(migration, false)?;
        settled.set(true);
        if was_running {
            client.resume()
        } else {
            client.interrupt()
        }
    };
    let done = || {
        if was_running {
            SourceAfter::RunsAsBefore
        } else {
            SourceAfter::PausedAsBefore
        }
    };
    if let Some(mut client) = source
        && let Ok(()) = back(&mut client)
    {
        return done();
    }
    if settled.get() {
        return taken_back(from);
    }
    match fate(from) {
        Fate::Gone => SourceAfter::Gone(rescued(image)),
        Fate::Answers(_) | Fate::Unknown(_) => match from
            .connect()
            .and_then(|mut again| back(&mut again).map_err(HvError::from))
        {
            Ok(()) => done(),
            Err(_) if settled.get() => taken_back(from),
            Err(error) => SourceAfter::NotTold {
                error: Box::new(error),
                from: from.target.clone(),
            },
        },
    }
}

/// Where the computation is when the source took it back (it was told the target did not take
/// the state) but could not then be run on or kept paused as before: something else happened to
/// it in between.
fn taken_back(from: &Side) -> SourceAfter {
    match fate(from) {
        Fate::Answers(info) => match info.state {
            VmState::Running => SourceAfter::TookBackRunning,
            VmState::Paused => SourceAfter::TookBackPaused {
                from: from.target.clone(),
            },
            state @ (VmState::Restored
            | VmState::Waiting
            | VmState::InDoubt(_)
            | VmState::Superseded(_)) => SourceAfter::TakenSince(state),
        },
        Fate::Gone => SourceAfter::WentAway,
        Fate::Unknown(reason) => SourceAfter::TookBackUnknown {
            reason,
            from: from.target.clone(),
        },
    }
}

/// Why [`resolve`] did not give a VM in doubt its computation back. The target's address comes
/// from the VM's `Info` answer, so it is shown escaped (`\u{1b}`): an escape sequence in it
/// could make the terminal show another address than the one a token would be sent to.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The target took the state: this copy must never run again.
    #[error(
        "{vm} is superseded: its computation moved to {} in migration {}, so this copy must never \
         run again; stop it with `movahv kill {vm}`",
        .by.to_addr.escape_debug(),
        .by.migration
    )]
    Superseded { vm: Target, by: Handoff },
    /// Whether the target took the state cannot be told.
    #[error(
        "{vm} handed its state to {} in migration {}, and {why}: if that VM does not run the \
         computation, `{}` runs it here from where it paused; if it does, `movahv kill {vm}` \
         stops this copy",
        .handoff.to_addr.escape_debug(),
        .handoff.migration,
        resume(.vm, true)
    )]
    CannotTell {
        vm: Target,
        handoff: Handoff,
        /// Why the target cannot be asked.
        why: String,
    },
    /// The target is on another host: its token is needed to ask it.
    #[error(
        "{vm} handed its state to {} in migration {}, which is not on this host: give its token \
         to ask it, `movahv resume {vm} --to-token TOKEN`",
        .handoff.to_addr.escape_debug(),
        .handoff.migration
    )]
    NeedsToken { vm: Target, handoff: Handoff },
}

/// How [`resolve`] left a VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// It was not in doubt: nothing was done.
    NotInDoubt,
    /// It was in doubt and holds its computation again (paused).
    GivenBack,
}

/// Where the target of a hand-off can be asked.
enum Whereabouts {
    Found(Side),
    Gone(String),
    NeedsToken,
}

/// Finds the target a source handed its state to, from the hand-off its `Info` shows.
fn whereabouts(handoff: &Handoff, to: &Remote) -> Whereabouts {
    let addr = handoff.to_addr.clone();
    if to.token.is_some() {
        return Whereabouts::Found(Side {
            target: Target::Remote(addr),
            remote: to.clone(),
        });
    }
    let local = runtime::runtime_dir()
        .map(|dir| runtime::list(&dir).records)
        .unwrap_or_default();
    if let Some(record) = local.iter().find(|record| record.addr.to_string() == addr) {
        return Whereabouts::Found(Side {
            target: Target::Pid(record.pid),
            remote: Remote::default(),
        });
    }
    match handoff.to_pid {
        Some(pid) => Whereabouts::Gone(format!("{pid} ({addr}) is gone")),
        None => Whereabouts::NeedsToken,
    }
}

/// Settles a VM that is in doubt — it handed its state to a migration that did not finish — by
/// asking that migration's target whether it took the state. If it did not, the VM holds its
/// computation again (paused; the caller resumes it); if it did, the VM learns it is superseded
/// and this fails, saying so. `force` settles it as not taken without asking (for a target gone
/// for good). A VM that is not in doubt is left alone.
pub fn resolve(side: &Side, force: bool, to: &Remote) -> Result<Resolution, HvError> {
    let mut client = side.connect()?;
    let vm = side.target.clone();
    let handoff = match client.info()?.state {
        VmState::Superseded(by) => return Err(ResolveError::Superseded { vm, by }.into()),
        VmState::InDoubt(handoff) => handoff,
        VmState::Running | VmState::Paused | VmState::Restored | VmState::Waiting => {
            return Ok(Resolution::NotInDoubt);
        }
    };
    let migration = handoff.migration;
    if force {
        client.settle(migration, false)?;
        return Ok(Resolution::GivenBack);
    }
    let cannot = |handoff: Handoff, why: String| -> HvError {
        ResolveError::CannotTell {
            vm: vm.clone(),
            handoff,
            why,
        }
        .into()
    };
    let target = match whereabouts(&handoff, to) {
        Whereabouts::Found(target) => target,
        Whereabouts::Gone(what) => {
            return Err(cannot(
                handoff,
                format!("{what}, so whether it took the state cannot be told"),
            ));
        }
        Whereabouts::NeedsToken => {
            return Err(ResolveError::NeedsToken { vm, handoff }.into());
        }
    };
    match target_outcome(&target, migration) {
        Ok(MigrationOutcome::Committed) => {
            client.settle(migration, true)?;
            Err(ResolveError::Superseded { vm, by: handoff }.into())
        }
        Ok(MigrationOutcome::NotTaken | MigrationOutcome::Pending) => {
            client.settle(migration, false)?;
            Ok(Resolution::GivenBack)
        }
        Err(reason) => Err(cannot(
            handoff,
            format!("whether it took the state cannot be told ({reason})"),
        )),
    }
}

/// Asks the target of an in-doubt VM's `handoff`, without changing anything there, whether it
/// committed the state; if so, tells the VM it is superseded. Returns whether it now is. Used
/// by `ps`, which must not disturb a migration in progress.
pub fn supersede_if_taken(side: &Side, handoff: &Handoff) -> bool {
    let migration = handoff.migration;
    let Whereabouts::Found(target) = whereabouts(handoff, &Remote::default()) else {
        return false;
    };
    let taken = target
        .connect()
        .and_then(|mut client| Ok(client.outcome(migration, false)?))
        .is_ok_and(|outcome| outcome == MigrationOutcome::Committed);
    taken
        && side
            .connect()
            .and_then(|mut client| Ok(client.settle(migration, true)?))
            .is_ok()
}

/// What the source's Info says it is now, as `migrate` reports it.
fn source_state(info: VmInfo) -> SourceAfter {
    match info.state {
        VmState::Running => SourceAfter::RunsAsBefore,
        VmState::Paused => SourceAfter::PausedAsBefore,
        state @ (VmState::Restored
        | VmState::Waiting
        | VmState::InDoubt(_)
        | VmState::Superseded(_)) => SourceAfter::Is(state),
    }
}

fn describe(error: &ClientError) -> String {
    if let ClientError::Refused(reason) = error {
        reason.clone()
    } else {
        error.to_string()
    }
}

/// Writes an image that no VM holds any more to a file in the current directory, and says where.
fn rescued(image: &[u8]) -> Rescue {
    let path = PathBuf::from(format!(
        "movahv-rescue-{}-{}.mvs",
        std::process::id(),
        runtime::now_ms()
    ));
    match std::fs::write(&path, image) {
        Ok(()) => Rescue::Saved(path),
        Err(error) => Rescue::Lost { path, error },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost() -> ClientError {
        ClientError::NoAnswer {
            addr: ([127, 0, 0, 1], 40001).into(),
            after: Duration::from_secs(5),
        }
    }

    /// The messages are those `movahv` printed before its errors were typed, word for word.
    #[test]
    fn messages_are_unchanged() {
        let (from, to) = (Target::Pid(4242), Target::Pid(4250));
        let handoff = Handoff {
            migration: MigrationId([0x5f; 16]),
            since_ms: 0,
            to_addr: "127.0.0.1:40001".into(),
            to_pid: Some(4250),
        };
        let cases: [(MigrateError, &str); 6] = [
            (
                MigrateError::Unchanged(Unchanged::TargetHandedOff {
                    to: to.clone(),
                    state: VmState::InDoubt(handoff.clone()),
                }),
                "the target 4250 is in doubt (it handed its own state to a migration) and cannot \
                 take another; nothing changed",
            ),
            (
                MigrateError::Unchanged(Unchanged::TargetBusy {
                    to: to.clone(),
                    program: "loop.mova".into(),
                    state: VmState::Paused,
                }),
                "the target 4250 holds another computation (loop.mova, paused): migrating into it \
                 would replace that; give --force to replace it, or migrate into a blank VM (`mova \
                 serve`); nothing changed",
            ),
            (
                MigrateError::HoldRefused {
                    error: lost(),
                    after: SourceAfter::Is(VmState::Waiting),
                },
                "the source could not be held (127.0.0.1:40001 did not answer within 5 s (is the \
                 VM stopped, or cut off?)); the target dropped the state; the source is \
                 \"waiting\"",
            ),
            (
                MigrateError::HoldUnknown {
                    error: lost(),
                    reason: "gone".into(),
                    target_dropped: false,
                    from: from.clone(),
                },
                "the source could not be held (127.0.0.1:40001 did not answer within 5 s (is the \
                 VM stopped, or cut off?)) and cannot be asked (gone); the target drops the state \
                 when it sees this connection close, so the computation is the source's: if the \
                 hold reached it, it is paused in doubt and `movahv resume 4242 --force` puts it \
                 back (the target never ran the state); if not, it runs on as before",
            ),
            (
                MigrateError::TargetFailed {
                    reason: "no".into(),
                    after: SourceAfter::TookBackPaused { from: from.clone() },
                },
                "the target failed before taking the state: no; the source holds its computation \
                 again, paused: `movahv resume 4242` runs it",
            ),
            (
                MigrateError::InDoubt {
                    from: from.clone(),
                    to: to.clone(),
                    error: lost(),
                    reason: "4250 is gone".into(),
                    rescue: Some(Rescue::Saved("movahv-rescue-1-2.mvs".into())),
                },
                "cannot tell whether the target 4250 took the state: 127.0.0.1:40001 did not \
                 answer within 5 s (is the VM stopped, or cut off?); 4250 is gone. The source \
                 4242 holds the state, paused in doubt: once 4250 can be asked, `movahv resume \
                 4242` settles it (the source runs again only if 4250 did not take the state); if \
                 4250 is gone for good, `movahv resume 4242 --force` runs the source from where \
                 it paused (whatever 4250 ran of it would run again) and `movahv kill 4242` ends \
                 it; the source is gone, so the state is saved in movahv-rescue-1-2.mvs — run it \
                 with `mova --restore movahv-rescue-1-2.mvs` — run it only if 4250 does not run \
                 the computation",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message, "{error:?}");
        }
        let id = "5f".repeat(16);
        let resolve_cases = [
            (
                ResolveError::Superseded {
                    vm: from.clone(),
                    by: handoff.clone(),
                },
                format!(
                    "4242 is superseded: its computation moved to 127.0.0.1:40001 in migration \
                     {id}, so this copy must never run again; stop it with `movahv kill 4242`"
                ),
            ),
            (
                ResolveError::CannotTell {
                    vm: from.clone(),
                    handoff: handoff.clone(),
                    why: "4250 (127.0.0.1:40001) is gone, so whether it took the state cannot be \
                          told"
                        .into(),
                },
                format!(
                    "4242 handed its state to 127.0.0.1:40001 in migration {id}, and 4250 \
                     (127.0.0.1:40001) is gone, so whether it took the state cannot be told: if \
                     that VM does not run the computation, `movahv resume 4242 --force` runs it \
                     here from where it paused; if it does, `movahv kill 4242` stops this copy"
                ),
            ),
            (
                ResolveError::NeedsToken {
                    vm: from.clone(),
                    handoff: handoff.clone(),
                },
                format!(
                    "4242 handed its state to 127.0.0.1:40001 in migration {id}, which is not on \
                     this host: give its token to ask it, `movahv resume 4242 --to-token TOKEN`"
                ),
            ),
        ];
        for (error, message) in resolve_cases {
            assert_eq!(error.to_string(), message, "{error:?}");
        }
        // The address is the VM's to say: an escape sequence in it could make the terminal show
        // another one than a token given for it would be sent to.
        let forged = ResolveError::NeedsToken {
            vm: from.clone(),
            handoff: Handoff {
                to_addr: "evil:1\u{1b}[8m\u{1b}[1K\r10.0.0.2:40001".into(),
                ..handoff.clone()
            },
        };
        assert!(
            forged.to_string().starts_with(
                "4242 handed its state to evil:1\\u{1b}[8m\\u{1b}[1K\\r10.0.0.2:40001 "
            ),
            "{forged}"
        );
    }

    /// What a failure says as data: its kind, where the source is, the command that settles it.
    #[test]
    fn failures_say_as_data_what_settles_them() {
        let from = Target::Pid(4242);
        let in_doubt = MigrateError::InDoubt {
            from: from.clone(),
            to: Target::Pid(4250),
            error: lost(),
            reason: "gone".into(),
            rescue: None,
        };
        assert_eq!(
            in_doubt.settle(),
            Some(Settle::Resume {
                vm: from.clone(),
                force: false
            })
        );
        let rescued = MigrateError::TargetRefused {
            reason: "no".into(),
            after: SourceAfter::Gone(Rescue::Saved("r.mvs".into())),
        };
        assert_eq!(rescued.settle(), Some(Settle::Restore("r.mvs".into())));
        assert_eq!(rescued.rescued(), Some(Path::new("r.mvs")));
        let json = rescued.to_json();
        assert_eq!(json["kind"], "target-refused");
        assert_eq!(json["source"], "gone");
        assert_eq!(json["settle"], "mova --restore r.mvs");
        assert_eq!(json["error"], rescued.to_string());
        let not_told = MigrateError::TargetClosed {
            after: SourceAfter::NotTold {
                error: Box::new(HvError::Usage("x".into())),
                from: from.clone(),
            },
        };
        assert_eq!(
            not_told.to_json()["settle"],
            format!("movahv resume {from} --force")
        );
        let unchanged = MigrateError::Unchanged(Unchanged::SaveRefused {
            reason: "no".into(),
        });
        assert_eq!(unchanged.to_json()["settle"], Value::Null);
        assert_eq!(unchanged.to_json()["source"], Value::Null);
    }
}
