//! Shutdown: refuse new work, let the queued and running work go on until
//! the deadline, then cancel what is left, so that every task's future is
//! dropped exactly once and every join handle resolves.
//!
//! `Shared::shutdown` goes in steps:
//!
//! 1. **Drain** (`lifecycle.rs`: `OPEN` to `DRAINING`): spawns are refused
//!    with `ShuttingDown`, the blocking lanes take no more jobs (their idle
//!    threads leave at once, busy ones when the queues run dry), and callers
//!    waiting for admission are woken to be refused. Queued and running
//!    tasks go on until no task is live or the timeout passes
//!    (`Duration::MAX` is no timeout: deadlines saturate at [`NEVER`]).
//! 2. **Close** (`CLOSED`): the workers, the monitor and the status
//!    endpoint are woken; a worker leaves its loop at its next tick and
//!    drops what its slot holds (hand-off slot, policy, spill list,
//!    outboxes, inbox, overflow list).
//! 3. A slot whose owner is still inside a poll a stuck threshold later is
//!    stolen (`handover.rs`) and emptied by the shutting-down thread.
//! 4. Tasks that wait for a wake sit in no queue: the registry
//!    (`registry.rs`) wakes each, and the closed pool's schedule function
//!    drops it; repeated, a bounded number of times, while destructors wake
//!    more.
//! 5. The blocking lanes cancel the jobs that never started; the threads
//!    are joined, and one still inside a poll or a blocking job is
//!    detached, since it cannot be interrupted.
//!
//! Every drop of a task goes through [`cancel`], which never nests: a
//! future's destructor may wake the next task of a chain, and the first
//! `cancel` on a thread drops those one after another rather than inside
//! each other, so a long chain cannot overflow the stack. Dropping the
//! runtime is a shutdown with a zero timeout.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use crate::task::Task;

use crate::pool::Shared;
use crate::sync::{Ordering, lock};
use crate::worker;

/// How far off a deadline given as `Duration::MAX` (or any timeout too
/// long to add to an `Instant`) lies: a century is "never" for a process,
/// and adding it cannot overflow.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `start + after`, saturated at [`NEVER`]: a user's timeout of
/// `Duration::MAX` means no deadline, not an overflow.
pub(crate) fn deadline_after(start: Instant, after: Duration) -> Instant {
    start
        .checked_add(after.min(NEVER))
        .or_else(|| start.checked_add(NEVER))
        .unwrap_or(start)
}

thread_local! {
    /// The tasks this thread is cancelling: `Some` while a [`cancel`] call
    /// is under way on the thread, which drops them one after another.
    static CANCELLING: RefCell<Option<Vec<Task>>> = const { RefCell::new(None) };
}

/// Cancels a task by dropping its runnable: its future is dropped and its
/// handle resolves as cancelled. Never nested: a future's destructor may
/// wake another task of the closed pool, whose wake cancels it in turn (a
/// chain of tasks, each holding the sender the next one waits on), and
/// dropping each inside the previous one's destructor took a stack frame
/// per task: a chain of 40,000 overflowed the main thread's stack. The first
/// call on a thread drops its runnable and then, one after another, every
/// runnable the destructors cancelled meanwhile, which nested calls only
/// queue. The queue holds tasks woken by the destructors of the tasks being
/// dropped, at most every live task.
pub(crate) fn cancel(runnable: Task) {
    let mut runnable = Some(runnable);
    let first = CANCELLING.try_with(|cancelling| {
        let mut cancelling = cancelling.borrow_mut();
        match cancelling.as_mut() {
            Some(queued) => {
                queued.push(runnable.take().expect("not taken yet"));
                false
            }
            None => {
                *cancelling = Some(Vec::new());
                true
            }
        }
    });
    if !matches!(first, Ok(true)) {
        // Queued for the call under way, or the thread is exiting and its
        // thread-locals are gone: then it is dropped here.
        drop(runnable);
        return;
    }
    /// Ends the call under way, even if a destructor unwinds: what is still
    /// queued is dropped (each by a `cancel` of its own, should it cancel
    /// more).
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            let queued = CANCELLING.with(|cancelling| cancelling.borrow_mut().take());
            drop(queued);
        }
    }
    let _done = Done;
    drop(runnable);
    loop {
        let next =
            CANCELLING.with(|cancelling| cancelling.borrow_mut().as_mut().and_then(Vec::pop));
        match next {
            Some(runnable) => drop(runnable),
            None => break,
        }
    }
}

/// How often shutdown looks again while it waits (for the live tasks to
/// end, for the workers to leave, for a thread to finish): 200 µs, short
/// beside any timeout a user gives (milliseconds at least) and long enough
/// that the waiting thread costs nothing measurable.
const POLL_INTERVAL: Duration = Duration::from_micros(200);

/// How long shutdown waits for each thread to finish once its work is
/// over: workers have left their loops (or are stuck, and detached after
/// this), and the monitor leaves within one sampling interval (at most
/// `monitor::BALANCE_MAX_INTERVAL`, 2 ms); 100 ms is fifty of those, and
/// only a stuck thread ever uses it up.
const THREAD_EXIT_WAIT: Duration = Duration::from_millis(100);

/// How many rounds of "wake every registered task, drop what the wakes
/// queued" shutdown runs at most. Each round cancels every task registered
/// before it; a task's destructor that spawns or wakes another one makes
/// another round necessary, and a chain of such destructors is cancelled
/// in the same round by `cancel`'s loop. A task whose future outlives 16
/// rounds is held by a stuck poll, which no further round can cancel.
const CANCEL_ROUNDS: usize = 16;

impl Shared {
    /// Stops admitting, lets work run until `timeout`, cancels the rest,
    /// and joins the pool's threads. Returns whether every thread was
    /// joined (threads stuck inside a poll or a blocking job are detached).
    pub(crate) fn shutdown(&self, timeout: Duration) -> bool {
        let deadline = deadline_after(Instant::now(), timeout);
        // 1. Stop admitting; let the queued and running work go on. The
        // blocking lanes stop admitting too: their idle threads leave now,
        // the others when the lanes' queues run dry.
        self.state.drain();
        self.blocking.close();
        // Callers waiting for admission hear no at once.
        self.waiters.wake_all();
        loop {
            let now = Instant::now();
            if self.live.load(Ordering::Acquire) == 0 || now >= deadline {
                break;
            }
            std::thread::sleep(POLL_INTERVAL.min(deadline - now));
        }
        // 2. Close: workers stop at their next tick and drop what they hold.
        self.state.close();
        for slot in self.slots.iter() {
            slot.parking.notify();
        }
        self.sleepers.wake_monitor();
        #[cfg(feature = "status")]
        crate::status::wake(self);
        // A worker inside a poll finishes that poll first. Give polls the
        // stuck threshold to return; a thread still inside one after that
        // is stuck, and is detached.
        let grace = deadline_after(deadline.max(Instant::now()), self.config.stuck_threshold);
        while Instant::now() < grace && !self.slots.iter().all(|s| s.exited.load(Ordering::Acquire))
        {
            std::thread::sleep(POLL_INTERVAL);
        }
        // 3. Slots whose owner is stuck: take them over and empty them here.
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            if slot.exited.load(Ordering::Acquire) {
                continue;
            }
            let word = slot.poll.load();
            if word & 1 == 1 && slot.poll.steal(word).is_some() {
                // SAFETY: the steal succeeded, so this thread owns the slot
                // (the old owner's end-of-poll CAS will fail and it will
                // retire without touching the core).
                unsafe { worker::drain_slot(self, index) };
                slot.exited.store(true, Ordering::Release);
            }
        }
        // 4. Cancel idle tasks: wake every registered task; the schedule
        // function drops the runnable of a closed pool. Tasks woken while
        // we do this (by destructors) land in inboxes, drained below; loop
        // until nothing is left, with a bound in case a stuck task keeps
        // its future alive.
        for _ in 0..CANCEL_ROUNDS {
            self.registry.wake_all();
            for index in 0..self.slots.len() {
                if self.slots[index].exited.load(Ordering::Acquire) {
                    // SAFETY: the owner has left (or we took the slot over),
                    // so this thread is the only one touching the slot.
                    unsafe { worker::drain_queues(self, index) };
                }
            }
            if self.registry.len() == 0 {
                break;
            }
            std::thread::yield_now();
        }
        // 5. The blocking lanes, then the threads.
        let blocking_joined = self.blocking.shutdown(deadline);
        let handles = std::mem::take(&mut *lock(&self.handles));
        let mut joined = blocking_joined;
        for handle in handles {
            let until = Instant::now() + THREAD_EXIT_WAIT;
            while !handle.is_finished() && Instant::now() < until {
                std::thread::sleep(POLL_INTERVAL);
            }
            if handle.is_finished() {
                let _ = handle.join();
            } else {
                // Stuck inside a poll: detach it. It retires when the poll
                // returns, finding its slot taken and the pool closed.
                joined = false;
            }
        }
        joined
    }
}
