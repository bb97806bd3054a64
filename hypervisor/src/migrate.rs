//! Live migration: moves a running computation from one VM into another without losing or
//! repeating a step.
//!
//! ```text
//! hypervisor            source VM                    target VM
//!   │── Info ───────────────────────────────────────►│ not held by anyone; restores so far
//!   │── Save ───────────►│ pauses at a boundary, held by this connection,
//!   │◄── Image ──────────│ output flushed
//!   │── Restore(image) ─────────────────────────────►│ checks and loads it, stays paused
//!   │◄── Ok ──────────────────────────────────────────│
//!   │── Hold ───────────►│ stays paused even if this connection is lost
//!   │── Resume ─────────────────────────────────────►│ commits: runs on from the next instruction
//!   │── Stop ───────────►│ exits
//! ```
//!
//! **Invariant:** at most one VM runs the computation, and exactly one unless the source died
//! before the target acknowledged the image. Until the `Hold`, the source's pause is undone by
//! the VM itself if this connection closes; until the `Resume`, the target drops the image if its
//! connection closes. So `movahv` dying at any point leaves at most the source, paused or
//! running. When an answer is lost (a connection cut, a VM killed), the hypervisor does not
//! guess: it asks the VM again on a new connection ([`fate`]) — the target's `restores` count
//! tells whether it committed, a live source answers — and acts on what it learns. Only if the
//! source is gone and the target does not have the state is the image written to a rescue file.

use crate::{HvError, Target, connect};
use mova_vm::client::{Client, ClientError};
use mova_vm::runtime;
use serde_json::Value;
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

/// What a migration moved and how long it took.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// The image's size.
    pub bytes: usize,
    /// From the source pausing to the target running: how long the computation stood still.
    pub downtime: Duration,
    /// From the first request to the target running.
    pub total: Duration,
    /// The target: its pid and address, or its address.
    pub target_label: String,
    /// What went wrong on the way without stopping the migration (a lost answer, a source that
    /// would not stop).
    pub notes: Vec<String>,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes, downtime {:.3} ms, total {:.3} ms",
            self.bytes,
            self.downtime.as_secs_f64() * 1e3,
            self.total.as_secs_f64() * 1e3
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

fn failed(message: String) -> HvError {
    HvError::Migration(message)
}

/// What the source is after the migration gave up before holding it firmly: this connection is
/// closed, so the VM itself went back to running or paused as before. `image` is the state taken
/// from it, if any, rescued when the source is gone.
fn source_after_abort(from: &Side, image: Option<&[u8]>) -> String {
    match fate(from) {
        Fate::Answers(info) => source_state(&info),
        Fate::Gone => match image {
            Some(image) => format!("the source is gone too: {}", rescued(image)),
            None => String::from("the source died: its computation ended with it"),
        },
        Fate::Unknown(reason) => {
            format!("the source cannot be reached ({reason}): if it lives, it runs on as before")
        }
    }
}

/// Moves the computation of `from` into `to`. On failure the error says what went wrong and
/// what state each VM was left in.
pub fn migrate(from: &Side, to: &Side) -> Result<Stats, HvError> {
    let start = Instant::now();
    if from.target == to.target {
        return Err(HvError::Usage(format!("cannot migrate {from} onto itself")));
    }
    let mut source = from.connect()?;
    let mut target = to.connect()?;
    if source.addr() == target.addr() {
        return Err(HvError::Usage(format!(
            "cannot migrate {from} onto itself ({} is its own address)",
            target.addr()
        )));
    }
    let target_label = match &to.target {
        Target::Pid(pid) => format!("{pid} ({})", target.addr()),
        Target::Remote(_) => target.addr().to_string(),
    };

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
    if before["held"] == Value::Bool(true) {
        return Err(failed(format!(
            "the target {to} is held by another client (a save, restore or migration is in \
             progress); nothing changed"
        )));
    }
    let restores_before = before["restores"].as_u64();

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
    if let Err(error) = target.restore(image.clone()) {
        drop(source);
        return Err(failed(format!(
            "the target refused the state: {}; {}",
            describe(&error),
            source_after_abort(from, Some(&image))
        )));
    }

    // 3. From here on the source stays paused whatever happens to this connection.
    let mut notes = Vec::new();
    let mut source = match source.hold() {
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
                Fate::Answers(_) | Fate::Unknown(_) => {
                    // It may be running again: the target must not run too.
                    drop(target);
                    return Err(failed(format!(
                        "the source could not be held ({error}); the target dropped the state; {}",
                        restore_source(from, source_running)
                    )));
                }
            }
        }
    };

    // 4. Commit: the target runs from the next instruction.
    if let Err(error) = target.resume() {
        drop(target);
        let committed = match fate(to) {
            Fate::Answers(info) => match (info["restores"].as_u64(), restores_before) {
                (Some(now), Some(before)) if now > before => Some(true),
                (Some(_), Some(_)) => Some(false),
                _ => None,
            },
            Fate::Gone => Some(false),
            Fate::Unknown(_) => None,
        };
        match (committed, source.as_mut()) {
            (Some(true), _) => notes.push(format!(
                "the target's answer was lost ({error}), but it committed the state and runs it"
            )),
            (Some(false), Some(source)) => {
                let given_back = if source_running {
                    source.resume()
                } else {
                    source.interrupt()
                };
                return Err(failed(format!(
                    "the target failed before running the state: {error}; {}",
                    match given_back {
                        Ok(()) if source_running => String::from("the source runs on as before"),
                        Ok(()) => String::from("the source is paused, as it was before"),
                        Err(_) => format!(
                            "the source is paused with the state: resume it with `movahv resume {from}`"
                        ),
                    }
                )));
            }
            (Some(false), None) => {
                return Err(failed(format!(
                    "the target failed before running the state ({error}) and the source died \
                     after saving it: {}",
                    rescued(&image)
                )));
            }
            (None, Some(_)) => {
                return Err(failed(format!(
                    "cannot tell whether the target runs the state: {error}; the source is \
                     paused with it: if {to} does not run it, `movahv resume {from}`; if it \
                     does, `movahv kill {from}`"
                )));
            }
            (None, None) => {
                return Err(failed(format!(
                    "cannot tell whether the target runs the state ({error}), and the source \
                     died after saving it: {}; run that only if {to} does not run it",
                    rescued(&image)
                )));
            }
        }
    }
    let running_at = Instant::now();

    // 5. The source is done.
    if let Some(mut source) = source
        && let Err(error) = source.stop(&format!("migrated to {target_label}"))
    {
        drop(source);
        if !matches!(fate(from), Fate::Gone) {
            let stopped = from
                .connect()
                .and_then(|mut again| Ok(again.stop(&format!("migrated to {target_label}"))?));
            if let Err(again) = stopped {
                notes.push(format!(
                    "the source could not be stopped ({error}; {again}): it is paused; stop it \
                     with `movahv kill {from}`"
                ));
            }
        }
    }
    Ok(Stats {
        bytes,
        downtime: running_at - paused_at,
        total: running_at - start,
        target_label,
        notes,
    })
}

/// Puts the source back as it was before the migration, on a new connection, once its hold
/// ended; says what it is now.
fn restore_source(from: &Side, was_running: bool) -> String {
    match fate(from) {
        Fate::Answers(info) if was_running && info["state"] == "paused" => {
            match from.connect().and_then(|mut client| Ok(client.resume()?)) {
                Ok(()) => String::from("the source runs on as before"),
                Err(error) => format!(
                    "the source is paused and could not be resumed ({error}): `movahv resume {from}`"
                ),
            }
        }
        Fate::Answers(info) => source_state(&info),
        Fate::Gone => String::from("the source died: its computation ended with it"),
        Fate::Unknown(reason) => format!("the source cannot be reached ({reason})"),
    }
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
