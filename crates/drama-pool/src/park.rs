//! Parking an idle worker without losing a wake-up.
//!
//! A worker with nothing to do spins briefly, then parks its thread; a
//! thread that gives it work (a push into its inbox, a shutdown) notifies it.
//! The danger is the lost wake-up: the worker checks its inbox, finds it
//! empty, and parks just after a producer pushed and looked at the worker's
//! state, which still said "awake". The protocol is the store-fence-load
//! pattern on both sides (Dekker's):
//!
//! - the worker stores `PARKED`, issues a SeqCst fence, then checks for work
//!   once more, and only then sleeps;
//! - a producer publishes its work, issues a SeqCst fence, then loads the
//!   state, and wakes the worker if it reads `PARKED`.
//!
//! The two fences are totally ordered, so at least one side sees the other's
//! store: either the worker finds the work, or the producer finds `PARKED`.
//! Producers turn `PARKED` into `NOTIFIED` by CAS, so only one of them pays
//! for the unpark system call, and the worker sleeps until it observes
//! `NOTIFIED` (a spurious return from `park` just parks again).
//!
//! `cargo xtask loom` checks this protocol under every interleaving, as
//! the `idle_*` models in `src/loom.rs` drive it (through `idle.rs`).

use crate::sync::{AtomicU8, Mutex, Ordering, fence, lock, thread};

/// The worker is running, or spinning, and will look for work again
/// before it parks: producers need not wake it.
const AWAKE: u8 = 0;
/// The worker announced it is about to park, or is parked: a producer that
/// reads this must wake it.
const PARKED: u8 = 1;
/// A producer claimed the wake-up; the worker will (or did) get an unpark
/// and must look for work when it returns.
const NOTIFIED: u8 = 2;

/// The parking spot of one worker slot.
pub(crate) struct Parking {
    state: AtomicU8,
    /// The thread currently driving the slot. Replaced when a new thread
    /// takes the slot over (a stuck worker's replacement); read under the
    /// lock by `notify`, which is off the fast path (only for a parked
    /// worker).
    thread: Mutex<Option<thread::Thread>>,
}

impl Parking {
    pub(crate) fn new() -> Parking {
        Parking {
            state: AtomicU8::new(AWAKE),
            thread: Mutex::new(None),
        }
    }

    /// Records the calling thread as the one to wake; called by a thread
    /// when it starts driving the slot.
    pub(crate) fn set_owner(&self) {
        *lock(&self.thread) = Some(thread::current());
    }

    /// Announces that the worker is about to park. The caller must look for
    /// work after this returns and then either [`cancel`](Self::cancel) or
    /// [`park`](Self::park).
    pub(crate) fn prepare(&self) {
        self.state.store(PARKED, Ordering::SeqCst);
        // Orders the store before the caller's last look for work (the
        // worker's half of the store-fence-load pattern).
        fence(Ordering::SeqCst);
    }

    /// The worker found work after `prepare`: it stays awake. A notification
    /// that raced in is consumed; its unpark token, if any, only causes one
    /// spurious return from a later `park`, which the loop there absorbs.
    pub(crate) fn cancel(&self) {
        self.state.store(AWAKE, Ordering::Relaxed);
    }

    /// Sleeps until notified. Returns with the state `AWAKE`.
    pub(crate) fn park(&self) {
        while !self.take_notification() {
            thread::park();
        }
    }

    /// Turns `NOTIFIED` into `AWAKE`; whether there was a notification.
    fn take_notification(&self) -> bool {
        self.state
            .compare_exchange(NOTIFIED, AWAKE, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
    }

    /// Sleeps until notified or until `timeout` has passed. Returns with
    /// the state `AWAKE`.
    #[cfg(not(loom))]
    pub(crate) fn park_timeout(&self, timeout: std::time::Duration) {
        let start = std::time::Instant::now();
        while !self.take_notification() {
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                // A notification racing in now leaves only an unpark token,
                // which makes a later `park` return once spuriously.
                self.state.store(AWAKE, Ordering::SeqCst);
                return;
            }
            thread::park_timeout(timeout - elapsed);
        }
    }

    /// loom has no clock: a timeout may pass at any moment, so the model
    /// lets it pass at once (the caller must cope with a return without a
    /// notification, as after a real timeout).
    #[cfg(loom)]
    pub(crate) fn park_timeout(&self, _timeout: std::time::Duration) {
        if !self.take_notification() {
            self.state.store(AWAKE, Ordering::SeqCst);
            // A caller that loops on a timeout spins: tell loom, so that it
            // runs the other threads instead of this loop forever.
            thread::yield_now();
        }
    }

    /// Wakes the worker if it is parked or about to park. The caller must
    /// have published its work (pushed into the inbox, set a flag) before
    /// calling. Returns whether this call issued the unpark.
    pub(crate) fn notify(&self) -> bool {
        // The producer's half of the store-fence-load pattern.
        fence(Ordering::SeqCst);
        if self.state.load(Ordering::SeqCst) != PARKED {
            return false;
        }
        if self
            .state
            .compare_exchange(PARKED, NOTIFIED, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        if let Some(thread) = lock(&self.thread).as_ref() {
            thread.unpark();
        }
        true
    }
}
