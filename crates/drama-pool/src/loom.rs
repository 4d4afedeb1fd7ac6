//! loom models of the pool's concurrency protocols, run by
//! `cargo xtask loom` (`RUSTFLAGS="--cfg loom" cargo test -p drama-pool
//! --lib --release loom`, with `LOOM_MAX_PREEMPTIONS` set). loom runs each
//! model under every interleaving (and every permitted weak-memory outcome)
//! of its threads' atomic operations, up to the preemption bound, so the
//! models are small: two or three threads, capacities of two. Each model
//! drives the pool's own code (`Sleepers`, `Parking`, `Inbox`, `Outbox`,
//! `PollState`, `Registry`, `Lifecycle`); only the loops around it are the
//! model's.
//!
//! - `inbox_*`: the MPSC ring loses nothing, duplicates nothing, keeps each
//!   producer's order, and refuses when full.
//! - `idle_*`: the idle/wake protocol (`idle.rs`): remote pushes placed by
//!   `Sleepers::target_for_remote` (idle mask, `waking` flag) always reach
//!   a worker that runs them (no lost wake-up: a worker left asleep with
//!   work would deadlock the model); a worker asleep with the timeout that
//!   orphans use still wakes; the monitor asleep over an idle pool wakes
//!   when a worker leaves the idle state; shutdown's close and notify
//!   reach a sleeping worker.
//! - `registry_*`: a task registering its waker on its first `Pending`,
//!   racing shutdown's close and wake-all, is always woken.
//! - `outbox_*`: the SPSC outbox hands every entry over once, in order,
//!   across a chunk boundary, while its producer and consumer run on
//!   different threads (a stuck worker and its replacement), and whoever
//!   leaves second empties it.
//! - `handover_*`: a stuck worker's slot has exactly one owner after the
//!   monitor's steal races the end of the poll, and the new owner sees the
//!   old owner's writes.

use crate::sync::Arc;
use crate::sync::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

use std::task::{Wake, Waker};
use std::time::Duration;

use crate::handover::PollState;
use crate::idle::Sleepers;
use crate::inbox::Inbox;
use crate::lifecycle::Lifecycle;
use crate::outbox::Outbox;
use crate::park::Parking;
use crate::registry::Registry;
use crate::sync::UnsafeCell;

#[test]
fn inbox_two_producers_lose_nothing() {
    loom::model(|| {
        let inbox = Arc::new(Inbox::new(2));
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let inbox = inbox.clone();
                thread::spawn(move || {
                    // A full inbox hands the value back; count refusals.
                    inbox.push(p).is_ok()
                })
            })
            .collect();
        let mut seen = Vec::new();
        // SAFETY: this thread is the only consumer.
        if let Some(v) = unsafe { inbox.pop() } {
            seen.push(v);
        }
        let accepted = producers
            .into_iter()
            .map(|p| p.join().unwrap())
            .filter(|ok| *ok)
            .count();
        // SAFETY: as above.
        while let Some(v) = unsafe { inbox.pop() } {
            seen.push(v);
        }
        // Capacity 2, two pushes: both fit, none is lost or duplicated.
        assert_eq!(accepted, 2);
        seen.sort_unstable();
        assert_eq!(seen, [0, 1]);
    });
}

#[test]
fn inbox_full_refuses_and_wraps() {
    loom::model(|| {
        let inbox = Arc::new(Inbox::new(2));
        inbox.push(0).unwrap();
        inbox.push(1).unwrap();
        let producer = {
            let inbox = inbox.clone();
            thread::spawn(move || {
                // Either refused (full) or accepted after the pop below.
                inbox.push(2).is_ok()
            })
        };
        // SAFETY: this thread is the only consumer.
        assert_eq!(unsafe { inbox.pop() }, Some(0));
        let accepted = producer.join().unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { inbox.pop() }, Some(1));
        // SAFETY: as above.
        let third = unsafe { inbox.pop() };
        assert_eq!(third.is_some(), accepted);
        if let Some(v) = third {
            assert_eq!(v, 2);
        }
    });
}

/// The workers of a model: each with its inbox and parking spot, sharing
/// the pool's `Sleepers`.
struct Workers {
    sleepers: Sleepers,
    inboxes: Vec<Inbox<usize>>,
    parkings: Vec<Parking>,
    /// Tasks run so far, and whether the model is over (every task ran, or
    /// shutdown): the loops' business, not the protocol's.
    ran: AtomicUsize,
    done: AtomicBool,
}

impl Workers {
    fn new(n: usize) -> Workers {
        Workers {
            sleepers: Sleepers::new(n),
            inboxes: (0..n).map(|_| Inbox::new(2)).collect(),
            parkings: (0..n).map(|_| Parking::new()).collect(),
            ran: AtomicUsize::new(0),
            done: AtomicBool::new(false),
        }
    }

    /// `Shared::push_remote`: the target the protocol chooses (the picker
    /// stands in for the random less-loaded choice: the first worker of
    /// the mask it is given), a push, a notify.
    fn push_remote(&self, task: usize) {
        let n = self.inboxes.len();
        let target = self.sleepers.target_for_remote(|among| {
            let among = among & self.sleepers.all();
            if among == 0 {
                0
            } else {
                among.trailing_zeros() as usize
            }
        });
        assert!(target < n);
        self.inboxes[target]
            .push(task)
            .expect("capacity 2, two tasks");
        self.parkings[target].notify();
    }

    /// A worker's loop, cut to the protocol: run what the inbox holds,
    /// else sleep through `Sleepers::sleep`. The worker that runs the last
    /// of `tasks` ends the model and wakes the others.
    fn work(&self, index: usize, tasks: usize, timeout: Option<Duration>) {
        self.parkings[index].set_owner();
        let inbox = &self.inboxes[index];
        loop {
            // SAFETY: this thread is worker `index`, the inbox's only
            // consumer.
            if unsafe { inbox.pop() }.is_some() {
                if self.ran.fetch_add(1, Ordering::SeqCst) + 1 == tasks {
                    self.done.store(true, Ordering::SeqCst);
                    for parking in &self.parkings {
                        parking.notify();
                    }
                }
                continue;
            }
            if self.done.load(Ordering::SeqCst) {
                return;
            }
            self.sleepers.sleep(
                index,
                &self.parkings[index],
                || inbox.has_ready() || self.done.load(Ordering::SeqCst),
                timeout,
            );
        }
    }
}

#[test]
fn idle_remote_pushes_always_reach_a_running_worker() {
    loom::model(|| {
        let workers = Arc::new(Workers::new(2));
        let threads: Vec<_> = (0..2)
            .map(|index| {
                let workers = workers.clone();
                thread::spawn(move || workers.work(index, 2, None))
            })
            .collect();
        workers.push_remote(0);
        workers.push_remote(1);
        // A task left in the inbox of a worker asleep for good would leave
        // both workers parked: loom reports the deadlock.
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(workers.ran.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn idle_a_worker_sleeping_with_a_timeout_still_wakes() {
    // Orphans make a worker sleep with a timeout, which loom lets pass at
    // any moment: the worker loops, and must still run the task.
    loom::model(|| {
        let workers = Arc::new(Workers::new(1));
        let worker = {
            let workers = workers.clone();
            thread::spawn(move || workers.work(0, 1, Some(Duration::from_millis(1))))
        };
        workers.push_remote(0);
        worker.join().unwrap();
        assert_eq!(workers.ran.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn idle_the_monitor_wakes_when_a_worker_leaves_the_idle_state() {
    loom::model(|| {
        let workers = Arc::new(Workers::new(1));
        let worker = {
            let workers = workers.clone();
            thread::spawn(move || workers.work(0, 1, None))
        };
        let monitor = {
            let workers = workers.clone();
            thread::spawn(move || {
                workers.sleepers.monitor_starts();
                // The monitor's loop: sleep while the pool is idle, return
                // (here: end the model) once it is not. If leaving the idle
                // state could miss the sleeping monitor, loom reports the
                // deadlock.
                loop {
                    if !workers.sleepers.all_idle() || workers.done.load(Ordering::SeqCst) {
                        return;
                    }
                    workers
                        .sleepers
                        .monitor_sleep(|| workers.done.load(Ordering::SeqCst));
                }
            })
        };
        workers.push_remote(0);
        monitor.join().unwrap();
        worker.join().unwrap();
    });
}

#[test]
fn idle_shutdown_reaches_a_sleeping_worker() {
    loom::model(|| {
        let state = Arc::new(Lifecycle::new());
        let sleepers = Arc::new(Sleepers::new(1));
        let parking = Arc::new(Parking::new());
        let worker = {
            let (state, sleepers, parking) = (state.clone(), sleepers.clone(), parking.clone());
            thread::spawn(move || {
                parking.set_owner();
                while !state.is_closed() {
                    sleepers.sleep(0, &parking, || state.is_closed(), None);
                }
            })
        };
        // Shutdown: close, then notify every worker.
        state.close();
        parking.notify();
        worker.join().unwrap();
    });
}

/// A waker that counts its wakes.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn registry_a_task_registering_as_shutdown_closes_is_woken() {
    loom::model(|| {
        let registry = Arc::new(Registry::new(1));
        let state = Arc::new(Lifecycle::new());
        let wakes = std::sync::Arc::new(CountingWaker(AtomicUsize::new(0)));
        let task = {
            let (registry, state) = (registry.clone(), state.clone());
            let waker = Waker::from(wakes.clone());
            // The task's first `Pending` (`Registration::on_pending`).
            thread::spawn(move || registry.register(0, &waker, &state))
        };
        // Shutdown: close, then wake every registered task.
        state.close();
        registry.wake_all();
        task.join().unwrap();
        // Woken by shutdown, or by itself on seeing the close: either way
        // the closed pool drops it. Never forgotten.
        assert!(wakes.0.load(Ordering::SeqCst) >= 1);
    });
}

#[test]
fn handover_exactly_one_owner() {
    loom::model(|| {
        let state = Arc::new(PollState::new());
        // The slot's data, written by whoever owns the slot.
        let data = Arc::new(UnsafeCell::new(0u32));
        let owners = Arc::new(AtomicUsize::new(0));
        let epoch = 0;
        // The owner writes, then polls (begin), then tries to keep the slot.
        // SAFETY: no other thread exists yet.
        data.with_mut(|d| unsafe { *d = 1 });
        state.begin(epoch);
        let monitor = {
            let (state, data, owners) = (state.clone(), data.clone(), owners.clone());
            thread::spawn(move || {
                let word = state.load();
                if word & 1 == 1 {
                    if let Some(_new_epoch) = state.steal(word) {
                        owners.fetch_add(1, Ordering::SeqCst);
                        // The new owner sees the old owner's write, and may
                        // write itself: loom checks the accesses are ordered.
                        // SAFETY: the steal succeeded, so this thread owns
                        // the slot.
                        let seen = data.with_mut(|d| unsafe {
                            let seen = *d;
                            *d = 2;
                            seen
                        });
                        assert_eq!(seen, 1);
                    }
                }
            })
        };
        // The poll returns.
        if state.end(epoch).is_ok() {
            owners.fetch_add(1, Ordering::SeqCst);
            // SAFETY: end succeeded, so this thread still owns the slot.
            data.with_mut(|d| unsafe { *d = 3 });
        }
        monitor.join().unwrap();
        assert_eq!(owners.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn outbox_spsc_across_a_chunk() {
    loom::model(|| {
        // A stuck thread pushes three entries (two per chunk, so the
        // consumer may meet the link to a second chunk, or the end of the
        // first, at any point) and leaves; the slot's owner empties the
        // orphan the way `Worker::take_orphans_work` does, and lets it go
        // only after it saw the producer leave and emptied it since.
        let outbox = Arc::new(Outbox::new());
        let producer = {
            let outbox = outbox.clone();
            thread::spawn(move || {
                for i in 0..3 {
                    // SAFETY: this thread is the only producer.
                    unsafe { outbox.push(i) };
                }
                outbox.producer_leaves()
            })
        };
        let mut seen = Vec::new();
        loop {
            let left = outbox.producer_left();
            // SAFETY: this thread is the only consumer.
            while let Some(i) = unsafe { outbox.pop() } {
                seen.push(i);
            }
            if left {
                break;
            }
            // SAFETY: as above.
            if !unsafe { outbox.has_ready() } {
                thread::yield_now();
            }
        }
        assert_eq!(seen, [0, 1, 2]);
        assert!(!producer.join().unwrap(), "the consumer never left");
    });
}

#[test]
fn outbox_whoever_leaves_second_empties() {
    loom::model(|| {
        // A stuck thread pushes and leaves while the slot's owner pops and
        // leaves (shutdown): every entry is taken exactly once, by one of
        // them.
        let outbox = Arc::new(Outbox::new());
        let producer = {
            let outbox = outbox.clone();
            thread::spawn(move || {
                // SAFETY: this thread is the only producer.
                unsafe { outbox.push(1) };
                // SAFETY: as above.
                unsafe { outbox.push(2) };
                let mut taken = Vec::new();
                if outbox.producer_leaves() {
                    // The consumer left first: this thread empties it.
                    // SAFETY: the consumer has left, so this thread is
                    // the only consumer now.
                    while let Some(i) = unsafe { outbox.pop() } {
                        taken.push(i);
                    }
                }
                taken
            })
        };
        let mut taken = Vec::new();
        // SAFETY: this thread is the consumer until it leaves.
        while let Some(i) = unsafe { outbox.pop() } {
            taken.push(i);
        }
        if outbox.consumer_leaves() {
            // SAFETY: as above; the producer left, nothing more comes.
            while let Some(i) = unsafe { outbox.pop() } {
                taken.push(i);
            }
        }
        taken.extend(producer.join().unwrap());
        taken.sort_unstable();
        assert_eq!(taken, [1, 2]);
    });
}
