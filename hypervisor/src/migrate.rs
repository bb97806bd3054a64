//! Live migration: moves a running computation from one VM into another without losing or
//! repeating a step.
//!
//! ```text
//! hypervisor            source VM                    target VM
//!   │── Save ───────────►│ pauses at a boundary,
//!   │◄── Image ──────────│ output flushed
//!   │── Restore(image) ─────────────────────────────►│ checks and loads it, stays paused
//!   │◄── Ok ──────────────────────────────────────────│
//!   │── Stop ───────────►│ exits
//!   │◄── Ok ─────────────│
//!   │── Resume ─────────────────────────────────────►│ runs on from the next instruction
//!   │◄── Ok ──────────────────────────────────────────│
//! ```
//!
//! **Invariant:** at no point do both VMs run the state. The source is paused before the target
//! has the image, and the target runs only after the source has stopped. If the target refuses
//! the image or cannot be reached, the source resumes; if the source cannot be stopped while it is
//! still alive, the target's uncommitted image is dropped (it drops it when this connection closes)
//! and the source resumes. Only when the target fails after the source stopped is the image all
//! that is left: it is written to a rescue file.

use crate::HvError;
use mova_vm::client::{Client, ClientError};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What a migration moved and how long it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The image's size.
    pub bytes: usize,
    /// From the source pausing to the target running: how long the computation stood still.
    pub downtime: Duration,
    /// From the first request to the target running.
    pub total: Duration,
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

/// Moves the computation of `source` into `target`. `source_alive` tells whether the source
/// process still exists (consulted only if stopping it fails). On failure the error says what
/// state each VM was left in.
pub fn migrate(
    source: &mut Client,
    target: &mut Client,
    target_label: &str,
    source_alive: impl Fn() -> bool,
) -> Result<Stats, HvError> {
    let start = Instant::now();
    // 1. Pause the source and take its state (with the program, so a blank target can run it).
    let image = match source.save(true) {
        Ok(image) => image,
        Err(error) => {
            let resumed = source.resume().is_ok();
            return Err(HvError::Migration(format!(
                "the source could not save its state: {error}; {}",
                if resumed {
                    "it runs on"
                } else {
                    "it could not be resumed"
                }
            )));
        }
    };
    let paused_at = Instant::now();
    let bytes = image.len();

    // 2. The target checks and loads it, and stays paused.
    if let Err(error) = target.restore(image.clone()) {
        let resumed = source.resume();
        return Err(HvError::Migration(format!(
            "the target refused the state: {}; {}",
            describe(&error),
            match resumed {
                Ok(()) => String::from("the source runs on as before"),
                Err(resume_error) => format!("and the source could not be resumed: {resume_error}"),
            }
        )));
    }

    // 3. Only now does the source stop.
    if let Err(error) = source.stop(&format!("migrated to {target_label}"))
        && source_alive()
    {
        // Not stopped and still there: give the computation back to it. Closing the target
        // connection (when `target` is dropped) makes the target drop the uncommitted image.
        let resumed = source.resume();
        return Err(HvError::Migration(format!(
            "the source could not be stopped ({error}); the target dropped the state; {}",
            match resumed {
                Ok(()) => String::from("the source runs on"),
                Err(resume_error) => format!("the source is paused ({resume_error})"),
            }
        )));
    }
    // The source stopped, or it died after saving (the stop failed and it is gone): either way the
    // target's copy is now the only one.

    // 4. Commit: the target runs from the next instruction.
    if let Err(error) = target.resume() {
        let rescue = rescue(&image);
        return Err(HvError::Migration(format!(
            "the source stopped, but the target failed before running the state: {error}; \
             the state is saved in {} — run it with `mova --restore {}`",
            rescue.display(),
            rescue.display()
        )));
    }
    let running_at = Instant::now();
    Ok(Stats {
        bytes,
        downtime: running_at - paused_at,
        total: running_at - start,
    })
}

fn describe(error: &ClientError) -> String {
    if let ClientError::Refused(reason) = error {
        reason.clone()
    } else {
        error.to_string()
    }
}

/// Writes an image that no VM holds any more to a file in the current directory.
fn rescue(image: &[u8]) -> PathBuf {
    let path = PathBuf::from(format!(
        "movahv-rescue-{}-{}.mvs",
        std::process::id(),
        mova_vm::runtime::now_ms()
    ));
    let _ = std::fs::write(&path, image);
    path
}
