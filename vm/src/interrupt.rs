//! A request to pause the VM, shared between the interpreter and whoever asks it to stop: the
//! signal handler and the control channel.
//!
//! The interpreter polls [`Interrupt::is_requested`] on backward jumps, calls and returns (one
//! relaxed atomic load, so tight loops and recursion stay fast) and sleeps through [`Interrupt::sleep`], which a request wakes at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A cloneable handle to one pause request flag.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requested: AtomicBool,
    /// Guards nothing but the wake-up: a sleeper checks the flag and waits while holding it, and a
    /// requester takes it before notifying, so a request can never slip between the check and the
    /// wait.
    lock: Mutex<()>,
    wake: Condvar,
}

impl Interrupt {
    /// A handle with no request pending.
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Asks the VM to pause at the next instruction boundary it checks, waking it if it sleeps.
    pub fn request(&self) {
        self.inner.requested.store(true, Ordering::SeqCst);
        let _guard = self
            .inner
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.inner.wake.notify_all();
    }

    /// Withdraws a pending request, so the VM can be resumed.
    pub fn clear(&self) {
        self.inner.requested.store(false, Ordering::SeqCst);
    }

    /// The flag itself, for a loop that polls it without going through the handle each time.
    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.inner.requested
    }

    /// Whether a pause has been requested.
    #[inline]
    pub fn is_requested(&self) -> bool {
        self.inner.requested.load(Ordering::Relaxed)
    }

    /// Sleeps for `duration`, or until a pause is requested. Returns `None` when the full duration
    /// passed, or the time that was left when the request arrived.
    pub fn sleep(&self, duration: Duration) -> Option<Duration> {
        let start = Instant::now();
        // A duration too long to add to the clock is, in practice, forever.
        let deadline = start.checked_add(duration);
        let mut guard = self
            .inner
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.inner.requested.load(Ordering::SeqCst) {
                return Some(duration.saturating_sub(start.elapsed()));
            }
            guard = match deadline {
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    self.inner
                        .wake
                        .wait_timeout(guard, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .inner
                    .wake
                    .wait(guard)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

/// Test support: requests a pause on `interrupt` after `delay`, from another thread.
#[cfg(test)]
pub(crate) fn request_after(interrupt: &Interrupt, delay: Duration) -> std::thread::JoinHandle<()> {
    let interrupt = interrupt.clone();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        interrupt.request();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uninterrupted_sleep_lasts_its_duration() {
        let interrupt = Interrupt::new();
        let start = Instant::now();
        assert_eq!(interrupt.sleep(Duration::from_millis(20)), None);
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn a_request_cuts_a_long_sleep_short_and_reports_the_rest() {
        let interrupt = Interrupt::new();
        let handle = request_after(&interrupt, Duration::from_millis(30));
        let left = interrupt.sleep(Duration::from_secs(3600));
        handle.join().unwrap();
        let left = left.expect("the sleep was interrupted");
        assert!(left > Duration::from_secs(3500), "{left:?}");
        assert!(interrupt.is_requested());
    }

    #[test]
    fn a_pending_request_returns_at_once_and_clear_withdraws_it() {
        let interrupt = Interrupt::new();
        interrupt.request();
        let start = Instant::now();
        let left = interrupt
            .sleep(Duration::from_secs(3600))
            .expect("returns at once");
        assert!(left > Duration::from_secs(3599), "{left:?}");
        assert!(start.elapsed() < Duration::from_secs(60));
        interrupt.clear();
        assert!(!interrupt.is_requested());
        assert_eq!(interrupt.sleep(Duration::from_millis(1)), None);
    }

    #[test]
    fn an_endless_sleep_still_wakes_on_request() {
        let interrupt = Interrupt::new();
        let handle = request_after(&interrupt, Duration::from_millis(20));
        assert!(interrupt.sleep(Duration::MAX).is_some());
        handle.join().unwrap();
    }
}
