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

use crate::{HvError, Target, connect};
use mova_vm::client::{Client, ClientError};
use mova_vm::protocol::{MigrationId, MigrationOutcome};
use mova_vm::runtime;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long to keep asking a VM whose answer was lost what became of it.
const SETTLE: Duration = Duration::from_secs(5);

/// One side of a migration: where the VM is and how to reach it again.
#[derive(Clone, Debug)]
pub struct Side {
    /// The VM.
    pub target: Target,
    /// Its token, for a remote VM.
    pub token: Option<String>,
}

impl Side {
    fn connect(&self) -> Result<Client, HvError> {
        connect(&self.target, self.token.as_deref())
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
    /// The migration's id.
    pub migration: MigrationId,
    /// The source.
    pub from: Endpoint,
    /// The target.
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

/// What became of a VM whose answer was lost.
#[derive(Debug)]
enum Fate {
    /// Its process is gone.
    Gone,
    /// It answers, not held by anyone: its `Info`.
    Answers(Value),
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
            Ok(info) if info["held"] != Value::Bool(true) => return Fate::Answers(info),
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

fn failed(message: String) -> HvError {
    HvError::Migration(message)
}

/// The migration id of a source's hand-off, from its `Info`.
fn handoff_of(info: &Value) -> Option<MigrationId> {
    info["handoff"]["migration"]
        .as_str()
        .and_then(MigrationId::from_hex)
}

/// What the source is after the migration gave up before it handed its state off: this
/// connection is closed, so the VM itself went back to running or paused as before. `image` is
/// the state taken from it, if any, rescued when the source is gone.
fn source_after_abort(from: &Side, image: Option<&[u8]>) -> String {
    match fate(from) {
        Fate::Answers(info) => source_state(&info),
        Fate::Gone => match image {
            Some(image) => format!("the source is gone too: {}", rescued(image)),
            None => String::from(
                "the source is gone: it exited (it ended, or was stopped, killed or migrated \
                 elsewhere by another client) before it gave its state to this migration, which \
                 took nothing from it",
            ),
        },
        Fate::Unknown(reason) => {
            format!("the source cannot be reached ({reason}): if it lives, it runs on as before")
        }
    }
}

/// Checks that the target may take a state: blank, or `force`d, and not busy.
fn check_target(to: &Side, info: &Value, force: bool) -> Result<(), HvError> {
    if info["held"] == Value::Bool(true) {
        return Err(failed(format!(
            "the target {to} is held by another client (a save, restore or migration is in \
             progress); nothing changed"
        )));
    }
    match info["state"].as_str() {
        Some("waiting") => Ok(()),
        Some(state @ ("in doubt" | "superseded")) => Err(failed(format!(
            "the target {to} is {state} (it handed its own state to a migration) and cannot \
             take another; nothing changed"
        ))),
        Some(state) if !force => Err(failed(format!(
            "the target {to} holds another computation ({}, {state}): migrating into it would \
             replace that; give --force to replace it, or migrate into a blank VM (`mova \
             serve`); nothing changed",
            info["source"]
                .as_str()
                .or_else(|| info["program"].as_str())
                .unwrap_or("a program")
        ))),
        Some(_) | None => Ok(()),
    }
}

/// Moves the computation of `from` into `to`. On failure the error says what went wrong, where
/// the computation is, and the one command that settles it if one is needed.
pub fn migrate(from: &Side, to: &Side, options: Options) -> Result<Stats, HvError> {
    let start = Instant::now();
    if from.target == to.target {
        return Err(HvError::Usage(format!("cannot migrate {from} onto itself")));
    }
    let mut source = from.connect().map_err(|error| {
        failed(format!(
            "cannot reach the source {from}: {error}; nothing changed"
        ))
    })?;
    let mut target = to.connect().map_err(|error| {
        failed(format!(
            "cannot reach the target {to}: {error}; nothing changed"
        ))
    })?;
    if source.addr() == target.addr() {
        return Err(HvError::Usage(format!(
            "cannot migrate {from} onto itself ({} is its own address)",
            target.addr()
        )));
    }
    let from_end = Endpoint::of(&from.target, &source);
    let to_end = Endpoint::of(&to.target, &target);
    let migration = MigrationId::random()
        .map_err(|error| failed(format!("cannot make a migration id: {error}")))?;

    // 0. Before anything changes: the source's state, and a target free to take the image.
    let source_running = match source.info() {
        Ok(info) => info["state"] == "running",
        Err(error) => {
            return Err(failed(format!(
                "cannot ask the source {from} about its state: {error}; nothing changed"
            )));
        }
    };
    let before = target.info().map_err(|error| {
        failed(format!(
            "cannot ask the target {to} about its state: {error}; nothing changed"
        ))
    })?;
    check_target(to, &before, options.force)?;
    let run = source_running || options.resume;

    // 1. Pause the source and take its state, with the program so a blank target can run it.
    let image = match source.save(true) {
        Ok(image) => image,
        Err(ClientError::Refused(reason)) => {
            return Err(failed(format!(
                "the source refused to save its state: {reason}; nothing changed"
            )));
        }
        Err(error) => {
            drop(source);
            return Err(failed(format!(
                "the source could not save its state: {error}; {}",
                source_after_abort(from, None)
            )));
        }
    };
    let paused_at = Instant::now();
    let bytes = image.len();

    // 2. The target checks and loads it, and stays paused.
    if let Err(error) = target.restore(migration, image.clone()) {
        drop(source);
        return Err(failed(format!(
            "the target refused the state: {}; {}",
            describe(&error),
            source_after_abort(from, Some(&image))
        )));
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
                    return Err(failed(format!(
                        "the source could not be held ({error}); the target dropped the state; {}",
                        source_state(&info)
                    )));
                }
                Fate::Unknown(reason) => {
                    drop(target);
                    let dropped = match target_outcome(to, migration) {
                        Ok(_) => "the target dropped the state",
                        Err(_) => "the target drops the state when it sees this connection close",
                    };
                    return Err(failed(format!(
                        "the source could not be held ({error}) and cannot be asked ({reason}); \
                         {dropped}, so the computation is the source's: if the hold reached it, \
                         it is paused in doubt and `movahv resume {from} --force` puts it back \
                         (the target never ran the state); if not, it runs on as before"
                    )));
                }
            }
        }
    };

    // 4. Commit: the target runs (or keeps paused) the state from the next instruction. Only
    // this connection can commit it, so if the target closed it already, it never will.
    if target.closed_by_peer() {
        drop(target);
        return Err(failed(format!(
            "the target closed the connection before it was told to take the state (it died or \
             was cut off), so it never runs it; {}",
            give_back(from, source, migration, source_running, &image)
        )));
    }
    if let Err(error) = target.commit(migration, run) {
        drop(target);
        match target_outcome(to, migration) {
            Ok(MigrationOutcome::Committed) => notes.push(format!(
                "the target's answer was lost ({error}), but it committed the state"
            )),
            Ok(MigrationOutcome::NotTaken | MigrationOutcome::Pending) => {
                return Err(failed(format!(
                    "the target failed before taking the state: {}; {}",
                    describe(&error),
                    give_back(from, source, migration, source_running, &image)
                )));
            }
            Err(reason) => {
                let rescue = match source {
                    Some(_) => String::new(),
                    None if matches!(fate(from), Fate::Gone) => format!(
                        "; the source is gone, so {} — run it only if {to} does not run the \
                         computation",
                        rescued(&image)
                    ),
                    None => String::new(),
                };
                return Err(failed(format!(
                    "cannot tell whether the target {to} took the state: {error}; {reason}. \
                     The source {from} holds the state, paused in doubt: once {to} can be \
                     asked, `movahv resume {from}` settles it (the source runs again only if \
                     {to} did not take the state); if {to} is gone for good, `movahv resume \
                     {from} --force` runs the source from where it paused (whatever {to} ran of \
                     it would run again) and `movahv kill {from}` ends it{rescue}"
                )));
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
) -> String {
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
    let done = if was_running {
        String::from("the source runs on as before")
    } else {
        String::from("the source is paused, as it was before")
    };
    if let Some(mut client) = source
        && let Ok(()) = back(&mut client)
    {
        return done;
    }
    if settled.get() {
        return taken_back(from);
    }
    match fate(from) {
        Fate::Gone => format!("the source is gone too: {}", rescued(image)),
        Fate::Answers(_) | Fate::Unknown(_) => match from
            .connect()
            .and_then(|mut again| back(&mut again).map_err(HvError::from))
        {
            Ok(()) => done,
            Err(_) if settled.get() => taken_back(from),
            Err(error) => format!(
                "the source is paused with the state, in doubt, and could not be told ({error}): \
                 `movahv resume {from} --force` runs it again (the target never ran the state)"
            ),
        },
    }
}

/// Where the computation is when the source took it back (it was told the target did not take
/// the state) but could not then be run on or kept paused as before: something else happened to
/// it in between.
fn taken_back(from: &Side) -> String {
    match fate(from) {
        Fate::Answers(info) => match info["state"].as_str() {
            Some("running") => String::from("the source runs on"),
            Some("paused") => format!(
                "the source holds its computation again, paused: `movahv resume {from}` runs it"
            ),
            state => format!(
                "the source took its computation back, and another client has taken it since (the \
                 source is {})",
                state.unwrap_or("in an unknown state")
            ),
        },
        Fate::Gone => String::from(
            "the source took its computation back, then went away before this migration could run \
             it on (another client migrated or stopped it, or it was killed), so the state this \
             migration took is not kept: whoever took the source has the computation",
        ),
        Fate::Unknown(reason) => format!(
            "the source took its computation back but cannot be asked now ({reason}): unless \
             another client took it since, `movahv resume {from}` runs it"
        ),
    }
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
    NeedsToken(String),
}

/// Finds the target a source handed its state to, from the hand-off its `Info` shows.
fn whereabouts(handoff: &Value, to_token: Option<&str>) -> Whereabouts {
    let addr = handoff["to_addr"].as_str().unwrap_or("").to_owned();
    if let Some(token) = to_token {
        return Whereabouts::Found(Side {
            target: Target::Remote(addr),
            token: Some(token.to_owned()),
        });
    }
    let local = runtime::runtime_dir()
        .map(|dir| runtime::list(&dir).records)
        .unwrap_or_default();
    if let Some(record) = local.iter().find(|record| record.addr.to_string() == addr) {
        return Whereabouts::Found(Side {
            target: Target::Pid(record.pid),
            token: None,
        });
    }
    match handoff["to_pid"].as_u64() {
        Some(pid) => Whereabouts::Gone(format!("{pid} ({addr}) is gone")),
        None => Whereabouts::NeedsToken(addr),
    }
}

/// Settles a VM that is in doubt — it handed its state to a migration that did not finish — by
/// asking that migration's target whether it took the state. If it did not, the VM holds its
/// computation again (paused; the caller resumes it); if it did, the VM learns it is superseded
/// and this fails, saying so. `force` settles it as not taken without asking (for a target gone
/// for good). A VM that is not in doubt is left alone.
pub fn resolve(side: &Side, force: bool, to_token: Option<&str>) -> Result<Resolution, HvError> {
    let mut client = side.connect()?;
    let info = client.info()?;
    if info["state"] == "superseded" {
        return Err(failed(superseded(side, &info["superseded_by"])));
    }
    let Some(migration) = handoff_of(&info) else {
        return Ok(Resolution::NotInDoubt);
    };
    let handoff = &info["handoff"];
    if force {
        client.settle(migration, false)?;
        return Ok(Resolution::GivenBack);
    }
    let cannot = |why: String| {
        failed(format!(
            "{side} handed its state to {} in migration {migration}, and {why}: if that VM does \
             not run the computation, `movahv resume {side} --force` runs it here from where it \
             paused; if it does, `movahv kill {side}` stops this copy",
            handoff["to_addr"].as_str().unwrap_or("another VM")
        ))
    };
    let target = match whereabouts(handoff, to_token) {
        Whereabouts::Found(target) => target,
        Whereabouts::Gone(what) => {
            return Err(cannot(format!(
                "{what}, so whether it took the state cannot be told"
            )));
        }
        Whereabouts::NeedsToken(addr) => {
            return Err(failed(format!(
                "{side} handed its state to {addr} in migration {migration}, which is not on \
                 this host: give its token to ask it, `movahv resume {side} --to-token TOKEN`"
            )));
        }
    };
    match target_outcome(&target, migration) {
        Ok(MigrationOutcome::Committed) => {
            client.settle(migration, true)?;
            Err(failed(superseded(side, handoff)))
        }
        Ok(MigrationOutcome::NotTaken | MigrationOutcome::Pending) => {
            client.settle(migration, false)?;
            Ok(Resolution::GivenBack)
        }
        Err(reason) => Err(cannot(format!(
            "whether it took the state cannot be told ({reason})"
        ))),
    }
}

/// Says that `side` is superseded by the target its hand-off names.
fn superseded(side: &Side, handoff: &Value) -> String {
    format!(
        "{side} is superseded: its computation moved to {} in migration {}, so this copy must \
         never run again; stop it with `movahv kill {side}`",
        handoff["to_addr"].as_str().unwrap_or("another VM"),
        handoff["migration"].as_str().unwrap_or("?")
    )
}

/// Asks the target of an in-doubt VM's hand-off, without changing anything there, whether it
/// committed the state; if so, tells the VM it is superseded. Returns whether it now is. Used
/// by `ps`, which must not disturb a migration in progress.
pub fn supersede_if_taken(side: &Side, info: &Value) -> bool {
    let Some(migration) = handoff_of(info) else {
        return false;
    };
    let Whereabouts::Found(target) = whereabouts(&info["handoff"], None) else {
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
fn source_state(info: &Value) -> String {
    match info["state"].as_str() {
        Some("running") => String::from("the source runs on as before"),
        Some("paused") => String::from("the source is paused, as it was before"),
        _ => format!("the source is {}", info["state"]),
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
fn rescued(image: &[u8]) -> String {
    let path = PathBuf::from(format!(
        "movahv-rescue-{}-{}.mvs",
        std::process::id(),
        runtime::now_ms()
    ));
    match std::fs::write(&path, image) {
        Ok(()) => format!(
            "the state is saved in {} — run it with `mova --restore {}`",
            path.display(),
            path.display()
        ),
        Err(error) => format!(
            "the state could not be saved in {} ({error}): it is lost",
            path.display()
        ),
    }
}
