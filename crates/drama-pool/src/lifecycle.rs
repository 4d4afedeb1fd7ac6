//! The pool's lifecycle: open, draining, closed. One byte every spawn and
//! every worker tick reads; only shutdown writes it, and only forwards.

use crate::sync::{AtomicU8, Ordering};

/// The pool takes spawns and runs tasks.
const OPEN: u8 = 0;
/// `shutdown_timeout` began: spawns are refused, queued and running work
/// goes on until the deadline.
const DRAINING: u8 = 1;
/// Workers stop; queued and idle tasks are cancelled (their `Runnable`s
/// dropped) wherever they are found.
const CLOSED: u8 = 2;

/// The pool's state: `OPEN`, then `DRAINING`, then `CLOSED`, never back.
pub(crate) struct Lifecycle(AtomicU8);

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle(AtomicU8::new(OPEN))
    }

    /// Whether spawns are taken. Acquire: a caller that reads `OPEN` after
    /// a close began may still spawn; shutdown cancels what it spawned.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        self.0.load(Ordering::Acquire) == OPEN
    }

    /// Whether workers must stop and runnables be dropped.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.0.load(Ordering::Acquire) == CLOSED
    }

    /// Refuses new work from now on (a second call does nothing).
    pub(crate) fn drain(&self) {
        let _ = self
            .0
            .compare_exchange(OPEN, DRAINING, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Stops the workers. Release: everything shutdown did before (its
    /// drain) is visible to whoever sees `CLOSED`.
    pub(crate) fn close(&self) {
        self.0.store(CLOSED, Ordering::Release);
    }
}
