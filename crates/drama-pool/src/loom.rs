//! loom models of the pool's concurrency protocols, run by
//! `cargo xtask loom` (`RUSTFLAGS="--cfg loom" cargo test -p drama-pool
//! --lib --release loom`). loom runs each model under every interleaving
//! (and every permitted weak-memory outcome) of its threads' atomic
//! operations, up to a preemption bound, so the models are small: two or
//! three threads, capacities of two.
//!
//! - `inbox_*`: the MPSC ring loses nothing, duplicates nothing, keeps each
//!   producer's order, and refuses when full.
//! - `park_*`: a worker that parks after a producer published work always
//!   wakes (no lost wake-up), and shutdown's notify reaches a parked
//!   worker.
//! - `outbox_*`: the SPSC outbox hands every entry over once, in order,
//!   across a chunk boundary, while its producer and consumer run on
//!   different threads (a stuck worker and its replacement), and whoever
//!   leaves second empties it.
//! - `handover_*`: a stuck worker's slot has exactly one owner after the
//!   monitor's steal races the end of the poll, and the new owner sees the
//!   old owner's writes.

use crate::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

use crate::handover::PollState;
use crate::inbox::Inbox;
use crate::outbox::Outbox;
use crate::park::Parking;
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

#[test]
fn park_no_lost_wakeup() {
    loom::model(|| {
        let inbox = Arc::new(Inbox::new(2));
        let parking = Arc::new(Parking::new());
        let worker = {
            let (inbox, parking) = (inbox.clone(), parking.clone());
            thread::spawn(move || {
                parking.set_owner();
                loop {
                    // SAFETY: the worker is the only consumer.
                    if let Some(v) = unsafe { inbox.pop() } {
                        return v;
                    }
                    parking.prepare();
                    if inbox.has_ready() {
                        parking.cancel();
                    } else {
                        parking.park();
                    }
                }
            })
        };
        inbox.push(7).unwrap();
        parking.notify();
        // If a wake-up could be lost, the worker would park forever and
        // loom would report a deadlock.
        assert_eq!(worker.join().unwrap(), 7);
    });
}

#[test]
fn park_shutdown_flag_reaches_a_parked_worker() {
    loom::model(|| {
        let closed = Arc::new(AtomicBool::new(false));
        let parking = Arc::new(Parking::new());
        let worker = {
            let (closed, parking) = (closed.clone(), parking.clone());
            thread::spawn(move || {
                parking.set_owner();
                loop {
                    if closed.load(Ordering::SeqCst) {
                        return;
                    }
                    parking.prepare();
                    if closed.load(Ordering::SeqCst) {
                        parking.cancel();
                    } else {
                        parking.park();
                    }
                }
            })
        };
        closed.store(true, Ordering::SeqCst);
        parking.notify();
        worker.join().unwrap();
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
