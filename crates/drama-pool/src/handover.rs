//! Handing a stuck worker's slot to a replacement thread.
//!
//! Each worker slot (its policy, inbox and parking spot) is driven by one
//! thread at a time, its owner. When the owner's current poll runs longer
//! than the stuck threshold (a task blocked in a system call, a busy loop
//! that never awaits), the monitor moves the slot to a fresh thread, so the
//! slot's other tasks keep running; the old thread retires as soon as its
//! poll returns.
//!
//! The owner must never touch the slot's queue after the hand-over, and the
//! new owner must see every change the old one made. Both come from one
//! word, `PollState`: `epoch << 1 | polling`.
//!
//! - Before a poll the owner stores `epoch | 1` with release: everything it
//!   did to the slot so far is published.
//! - After the poll it CASes `epoch | 1` to `epoch + 2`. Success: it still
//!   owns the slot. Failure: the monitor took the slot while it was polling;
//!   it must not touch the slot again.
//! - The monitor, having seen the same `epoch | 1` for longer than the
//!   threshold, CASes it to `epoch + 2` with acquire and gives the slot to a
//!   new thread, which starts at `epoch + 2`. Exactly one of the two CASes
//!   succeeds, so exactly one thread owns the slot after the poll.
//!
//! The owner only publishes with a plain store before the poll, and the
//! worker's hot path pays one uncontended CAS per poll after it.
//! `cargo xtask loom` checks the protocol (src/loom.rs).

use crate::sync::{AtomicU64, Ordering};

/// The hand-over word of one slot (see the module doc).
pub(crate) struct PollState {
    word: AtomicU64,
}

/// The slot was handed to another thread while its owner was polling.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Stolen;

impl PollState {
    pub(crate) fn new() -> PollState {
        PollState {
            word: AtomicU64::new(0),
        }
    }

    /// The owner, at `epoch` (even), is about to poll a task.
    #[inline]
    pub(crate) fn begin(&self, epoch: u64) {
        debug_assert!(epoch & 1 == 0);
        // Release: the slot's state as the owner left it is published to
        // whoever takes the slot during the poll.
        self.word.store(epoch | 1, Ordering::Release);
    }

    /// The owner's poll returned. Returns the next epoch, or `Stolen`.
    #[inline]
    pub(crate) fn end(&self, epoch: u64) -> Result<u64, Stolen> {
        match self
            .word
            .compare_exchange(epoch | 1, epoch + 2, Ordering::AcqRel, Ordering::Relaxed)
        {
            Ok(_) => Ok(epoch + 2),
            Err(_) => Err(Stolen),
        }
    }

    /// The current word, for the monitor: odd means a poll is running.
    #[inline]
    pub(crate) fn load(&self) -> u64 {
        self.word.load(Ordering::Relaxed)
    }

    /// The monitor takes the slot from an owner seen polling at `observed`
    /// (odd). Returns the epoch the new owner starts at, or `None` when the
    /// poll has returned meanwhile.
    pub(crate) fn steal(&self, observed: u64) -> Option<u64> {
        debug_assert!(observed & 1 == 1);
        self.word
            .compare_exchange(observed, observed + 1, Ordering::AcqRel, Ordering::Relaxed)
            .ok()
            .map(|_| observed + 1)
    }
}
