//! The idle/wake protocol, in one place: how a worker with nothing to do
//! goes to sleep, how work from elsewhere wakes it, and how the monitor
//! sleeps while every worker does.
//!
//! The state:
//!
//! - the **idle mask**: bit `i` is set while worker `i` is out of work. A
//!   worker sets its bit before it parks; whoever gives it work (a remote
//!   spawn or wake, a busy worker shedding half its queue) *claims* it by
//!   clearing the bit with `fetch_and`, so two givers never pick the same
//!   idle worker, then pushes into its inbox and notifies its parking spot;
//! - the **`waking` flag**: set by a remote push that claims an idle
//!   worker, cleared by any worker coming out of [`Sleepers::sleep`].
//!   While a wake is under way, remote pushes join a worker that is awake
//!   instead of waking another (one wake at a time, as tokio's "searching"
//!   workers do), so a burst of spawns from outside costs a few wakes, not
//!   one per spawn;
//! - each worker's [`Parking`] spot, and the monitor's.
//!
//! Why no wake-up is lost: the worker announces itself (its bit, then
//! `Parking::prepare`'s SeqCst store and fence) before its last look for
//! work; a giver publishes the work (the inbox push) before
//! `Parking::notify`'s fence and load. Of two SeqCst fences one comes
//! first, so either the worker's last look finds the work or the giver
//! finds it `PARKED` and wakes it (see `park.rs`). The mask and the flag
//! only choose *which* worker is woken; a wrong guess (a bit read stale, a
//! flag that outlives its wake) costs a busier worker, never a lost task:
//! every push notifies the worker it pushed to.
//!
//! The monitor sleeps only when the mask says every worker is idle; the
//! first worker to leave the idle state (its bit cleared, by itself or by a
//! claim) sees the full mask in the `fetch_and`'s return value and wakes
//! it.
//!
//! `cargo xtask loom` runs this code itself (the `idle_*` models in
//! `loom.rs`).

use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::park::Parking;
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// The idle mask, the `waking` flag and the monitor's parking spot (see
/// the module documentation).
pub(crate) struct Sleepers {
    /// Bit `i` is set while worker `i` is idle and wants work.
    mask: CachePadded<AtomicU64>,
    /// A remote push is waking an idle worker (see the module docs).
    waking: CachePadded<AtomicBool>,
    /// All workers' bits: the mask when the pool is idle.
    all: u64,
    /// Where the monitor sleeps while the pool is idle.
    monitor: Parking,
}

impl Sleepers {
    /// The protocol's state for `workers` workers (1 to 64: the mask is
    /// one `u64`).
    pub(crate) fn new(workers: usize) -> Sleepers {
        debug_assert!((1..=64).contains(&workers));
        Sleepers {
            mask: CachePadded::new(AtomicU64::new(0)),
            waking: CachePadded::new(AtomicBool::new(false)),
            all: u64::MAX >> (64 - workers),
            monitor: Parking::new(),
        }
    }

    /// The workers idle now, as a hint (a relaxed load: a busy worker looks
    /// at every tick, and a stale bit costs one wasted claim).
    #[inline]
    pub(crate) fn idle_mask(&self) -> u64 {
        self.mask.load(Ordering::Relaxed)
    }

    /// All workers' bits.
    #[inline]
    pub(crate) fn all(&self) -> u64 {
        self.all
    }

    /// Whether every worker is idle (the monitor's question).
    pub(crate) fn all_idle(&self) -> bool {
        self.mask.load(Ordering::Acquire) == self.all
    }

    /// Worker `index` found nothing to do: announce it (the mask, then the
    /// parking spot), look once more with `has_work`, and sleep unless it
    /// found some, until notified (or, with a `timeout`, until it passes).
    /// On the way out, un-announce, wake the monitor if the whole pool was
    /// idle, and end any wake under way.
    pub(crate) fn sleep(
        &self,
        index: usize,
        parking: &Parking,
        has_work: impl FnOnce() -> bool,
        timeout: Option<Duration>,
    ) {
        let bit = 1u64 << index;
        // SeqCst with the parking protocol's own SeqCst accesses: a giver
        // that reads the mask after the worker's `prepare` sees the bit.
        self.mask.fetch_or(bit, Ordering::SeqCst);
        parking.prepare();
        if has_work() {
            parking.cancel();
        } else {
            match timeout {
                None => parking.park(),
                Some(timeout) => parking.park_timeout(timeout),
            }
        }
        let previous = self.mask.fetch_and(!bit, Ordering::AcqRel);
        if previous & bit != 0 {
            self.left_idle(previous);
        }
        // Up again: the next remote push may wake another worker. (Only a
        // store when set: the flag's line is shared by every remote push.)
        if self.waking.load(Ordering::Relaxed) {
            self.waking.store(false, Ordering::Release);
        }
    }

    /// Where a task from outside the workers goes: an idle worker, claimed,
    /// when there is one and no wake is under way (or nobody is awake);
    /// else an awake worker, picked by `pick` among the workers of the mask
    /// it is given (`less_loaded`). The caller pushes to the worker
    /// returned and notifies it.
    #[inline]
    pub(crate) fn target_for_remote(&self, pick: impl Fn(u64) -> usize) -> usize {
        let idle = self.idle_mask();
        if idle == 0 {
            pick(u64::MAX)
        } else if idle == self.all || !self.waking.swap(true, Ordering::AcqRel) {
            // Nobody awake, or no wake under way: wake one. (If the claim
            // loses a race the idle workers are already being woken, and
            // the worker that won clears the flag when it is up. Should the
            // flag ever outlive every wake, the cost is bounded: pushes go
            // to awake workers, which shed to idle ones, and a fully idle
            // pool is woken regardless of the flag.)
            self.claim(idle).unwrap_or_else(|| pick(u64::MAX))
        } else {
            // A wake is under way: join an awake worker instead.
            pick(!idle)
        }
    }

    /// Claims one idle worker among `among` (a bit mask), clearing its bit
    /// so that nobody else claims it too. The caller gives it work and
    /// notifies it.
    #[inline]
    pub(crate) fn claim(&self, among: u64) -> Option<usize> {
        let mut idle = self.idle_mask() & among;
        while idle != 0 {
            let index = idle.trailing_zeros() as usize;
            let bit = 1u64 << index;
            let previous = self.mask.fetch_and(!bit, Ordering::AcqRel);
            if previous & bit != 0 {
                self.left_idle(previous);
                return Some(index);
            }
            idle = previous & among & !bit;
        }
        None
    }

    /// Called by whoever cleared an idle bit, with the mask before: when the
    /// pool was entirely idle, the monitor may be asleep and must start
    /// watching again.
    fn left_idle(&self, previous: u64) {
        if previous == self.all {
            self.monitor.notify();
        }
    }

    /// Called by the monitor thread before it first sleeps.
    pub(crate) fn monitor_starts(&self) {
        self.monitor.set_owner();
    }

    /// The monitor sleeps while every worker stays idle and `stop` says
    /// no; returns when a worker leaves the idle state, at `wake_monitor`,
    /// or at once if either happened already.
    pub(crate) fn monitor_sleep(&self, stop: impl FnOnce() -> bool) {
        self.monitor.prepare();
        if self.all_idle() && !stop() {
            self.monitor.park();
        } else {
            self.monitor.cancel();
        }
    }

    /// Wakes the monitor (shutdown, a caller waiting for admission).
    pub(crate) fn wake_monitor(&self) {
        self.monitor.notify();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_mask_of_all_workers() {
        assert_eq!(Sleepers::new(1).all(), 1);
        assert_eq!(Sleepers::new(3).all(), 0b111);
        assert_eq!(Sleepers::new(64).all(), u64::MAX);
    }

    #[test]
    fn a_claim_takes_each_idle_worker_once() {
        let sleepers = Sleepers::new(4);
        sleepers.mask.store(0b1010, Ordering::Relaxed);
        assert_eq!(sleepers.claim(u64::MAX), Some(1));
        assert_eq!(sleepers.claim(0b0111), None);
        assert_eq!(sleepers.claim(u64::MAX), Some(3));
        assert_eq!(sleepers.claim(u64::MAX), None);
        assert_eq!(sleepers.idle_mask(), 0);
    }

    #[test]
    fn remote_pushes_wake_one_worker_at_a_time() {
        let sleepers = Sleepers::new(4);
        // Workers 2 and 3 idle, 0 and 1 awake: the first push claims an
        // idle worker, the next ones join the awake workers while that
        // wake is under way.
        sleepers.mask.store(0b1100, Ordering::Relaxed);
        assert_eq!(sleepers.target_for_remote(|_| 99), 2);
        assert_eq!(
            sleepers.target_for_remote(|among| among as usize),
            !0b1000u64 as usize
        );
        // Once the woken worker is up, the next push may wake another.
        sleepers.waking.store(false, Ordering::Relaxed);
        assert_eq!(sleepers.target_for_remote(|_| 99), 3);
        // Nobody idle: the picker chooses among all.
        assert_eq!(
            sleepers.target_for_remote(|among| among as usize),
            u64::MAX as usize
        );
    }

    #[test]
    fn a_fully_idle_pool_is_woken_whatever_the_flag_says() {
        let sleepers = Sleepers::new(2);
        sleepers.mask.store(0b11, Ordering::Relaxed);
        sleepers.waking.store(true, Ordering::Relaxed);
        assert_eq!(sleepers.target_for_remote(|_| 99), 0);
    }
}
