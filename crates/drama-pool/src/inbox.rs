//! A worker's inbox: a bounded, lock-free, multi-producer single-consumer
//! ring of runnable tasks.
//!
//! Work reaches a worker from other threads through its inbox: tasks woken
//! or spawned off the worker, and work the balancer moves to it. The worker
//! that owns the slot drains the inbox into its policy between polls.
//!
//! The ring follows Dmitry Vyukov's bounded queue: every cell carries a
//! sequence number that says whose turn it is. For cell `i` of a ring of
//! capacity `C`, at lap `k`, the sequence is `i + k*C` while the cell is free
//! for the producer holding ticket `i + k*C`, and `i + k*C + 1` once that
//! producer has written it, until the consumer takes the value and sets it to
//! `i + (k+1)*C`, handing the cell to the next lap. Producers race for
//! tickets with one CAS on `tail`; the consumer needs no RMW at all.
//!
//! Bound: the capacity, a power of two of at least 2 fixed when the pool is
//! built (`Builder::inbox_capacity`). One cell is not enough: with a mask of
//! 0 the sequence a producer leaves in a cell it has written (`ticket + 1`)
//! is also the one that frees the cell for the next ticket (`ticket + 1 +
//! lap`, a lap being 1), so the next push would overwrite a value nobody
//! has taken. A push into a full inbox fails and hands the
//! task back; the pool then uses the slot's overflow list, whose size is
//! bounded by the number of live tasks (each task is queued at most once).

use std::mem::MaybeUninit;

use crate::sync::{AtomicUsize, Ordering, UnsafeCell};

/// One cell of the ring.
struct Cell<T> {
    /// Whose turn it is (see the module doc).
    sequence: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A bounded MPSC ring. `push` may be called from any thread; `pop` only by
/// the one thread that owns the inbox at the time (see [`Inbox::pop`]).
pub(crate) struct Inbox<T> {
    cells: Box<[Cell<T>]>,
    /// `capacity - 1`; the capacity is a power of two.
    mask: usize,
    /// The next ticket the consumer will read. Only the owner touches it;
    /// ownership moves between threads only through the slot protocol,
    /// which orders it, so `Relaxed` suffices. An atomic (rather than a
    /// `Cell`) keeps `Inbox: Sync` without unsafe.
    head: AtomicUsize,
    /// The next ticket a producer will take.
    tail: AtomicUsize,
}

// SAFETY: values of `T` move into the ring on one thread and out on another,
// so `T: Send` is required and sufficient; the cells are only touched by the
// holder of a ticket (producers) or by the single owner (consumer), as the
// sequence numbers arbitrate.
unsafe impl<T: Send> Send for Inbox<T> {}
// SAFETY: as above; `&Inbox` allows `push` from many threads, which the
// ticket CAS makes exclusive per cell.
unsafe impl<T: Send> Sync for Inbox<T> {}

impl<T> Inbox<T> {
    /// An empty inbox holding at most `capacity` items; `capacity` must be a
    /// power of two of at least 2 (see the module doc; the builder
    /// validates it, so a failure here is a bug in the pool).
    pub(crate) fn new(capacity: usize) -> Inbox<T> {
        assert!(
            capacity >= 2 && capacity.is_power_of_two(),
            "inbox capacity must be a power of two of at least 2"
        );
        let cells = (0..capacity)
            .map(|i| Cell {
                sequence: AtomicUsize::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Inbox {
            cells,
            mask: capacity - 1,
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        }
    }

    /// Adds `value`, or hands it back when the inbox is full.
    pub(crate) fn push(&self, value: T) -> Result<(), T> {
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let cell = &self.cells[tail & self.mask];
            // Acquire: if the cell is free, the consumer's read of the
            // previous lap's value happened before our write.
            let sequence = cell.sequence.load(Ordering::Acquire);
            let lag = sequence.wrapping_sub(tail) as isize;
            if lag == 0 {
                // The cell is free for ticket `tail`: try to take the ticket.
                match self.tail.compare_exchange_weak(
                    tail,
                    tail.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: holding ticket `tail` while the cell's
                        // sequence is `tail` gives us the cell exclusively:
                        // no other producer has this ticket, and the consumer
                        // waits for sequence `tail + 1`.
                        cell.value.with_mut(|slot| unsafe { (*slot).write(value) });
                        // Release: publishes the value to the consumer.
                        cell.sequence.store(tail.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(current) => tail = current,
                }
            } else if lag < 0 {
                // The cell still holds the previous lap's value: full.
                return Err(value);
            } else {
                // Another producer took this ticket; catch up.
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Takes the oldest value, if one has been fully written.
    ///
    /// # Safety
    ///
    /// Only the current owner of the inbox may call this (the worker thread
    /// that owns the slot, or the thread that took the slot over): calls
    /// from two threads at once could read one value twice. The pool's slot
    /// protocol gives each slot one owner at a time and orders every
    /// hand-over with an acquire/release pair.
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        let head = self.head.load(Ordering::Relaxed);
        let cell = &self.cells[head & self.mask];
        // Acquire: pairs with the producer's release, so its write of the
        // value is visible.
        let sequence = cell.sequence.load(Ordering::Acquire);
        if sequence != head.wrapping_add(1) {
            // Empty, or the producer holding this ticket has not finished
            // writing; it will notify the worker once it has.
            return None;
        }
        let value = cell.value.with_mut(|slot| {
            // SAFETY: sequence `head + 1` means the producer of ticket
            // `head` finished with the cell and released it to us, and we
            // are the only consumer: nobody else touches it until the
            // sequence store below.
            let slot = unsafe { &mut *slot };
            // SAFETY: that producer wrote the value (sequence `head + 1`);
            // reading moves it out, and the sequence store below hands the
            // now-empty cell to the next lap's producer, which overwrites it
            // without reading.
            unsafe { slot.assume_init_read() }
        });
        cell.sequence
            .store(head.wrapping_add(self.mask + 1), Ordering::Release);
        self.head.store(head.wrapping_add(1), Ordering::Relaxed);
        Some(value)
    }

    /// About how many values the inbox holds, for the monitor's estimate
    /// of the backlog: the tickets taken less the tickets read, by two
    /// relaxed loads that may see a push or pop in progress. The head is
    /// read first: it never passes the tail, so the tail read after it is
    /// not behind it (in the coherence order of each counter).
    #[cfg(not(loom))]
    pub(crate) fn len_hint(&self) -> usize {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        tail.wrapping_sub(head).min(self.mask + 1)
    }

    /// Whether a value is ready to pop. Only meaningful to the owner; a push
    /// in progress reads as empty (its producer notifies afterwards).
    pub(crate) fn has_ready(&self) -> bool {
        let head = self.head.load(Ordering::Relaxed);
        let cell = &self.cells[head & self.mask];
        cell.sequence.load(Ordering::Acquire) == head.wrapping_add(1)
    }
}

impl<T> Drop for Inbox<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` means no producer or consumer is left, so this
        // thread is the only consumer. Dropping the values closes their
        // tasks.
        while unsafe { self.pop() }.is_some() {}
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The tests pop from one thread only.
    fn pop<T>(inbox: &Inbox<T>) -> Option<T> {
        // SAFETY: each test has a single consumer thread.
        unsafe { inbox.pop() }
    }

    #[test]
    fn fifo_and_bound() {
        let inbox = Inbox::new(4);
        for i in 0..4 {
            inbox.push(i).unwrap();
        }
        assert_eq!(inbox.push(4), Err(4));
        assert_eq!(pop(&inbox), Some(0));
        inbox.push(4).unwrap();
        assert_eq!(
            (1..5).map(|_| pop(&inbox).unwrap()).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(pop(&inbox), None);
        assert!(!inbox.has_ready());
    }

    #[test]
    fn smallest_capacity() {
        // Two cells, the smallest ring whose "written" and "free for the
        // next lap" sequences differ: it holds two values, refuses a third,
        // and keeps the order over many laps.
        let inbox = Inbox::new(2);
        for lap in 0..100 {
            inbox.push(2 * lap).unwrap();
            inbox.push(2 * lap + 1).unwrap();
            assert_eq!(inbox.push(-1), Err(-1), "lap {lap}: a full ring refuses");
            assert_eq!(pop(&inbox), Some(2 * lap));
            assert_eq!(pop(&inbox), Some(2 * lap + 1));
            assert_eq!(pop(&inbox), None);
        }
        // Half full across the wrap: one in, one out.
        for i in 0..100 {
            inbox.push(i).unwrap();
            assert!(inbox.has_ready());
            assert_eq!(pop(&inbox), Some(i));
        }
    }

    #[test]
    #[should_panic(expected = "at least 2")]
    fn capacity_one_is_refused() {
        // With one cell a second push would overwrite the first (see the
        // module doc); the builder never asks for it.
        let _ = Inbox::<u32>::new(1);
    }

    #[test]
    fn destructors() {
        let value = Arc::new(());
        let inbox = Inbox::new(8);
        for _ in 0..5 {
            inbox.push(value.clone()).unwrap();
        }
        drop(pop(&inbox));
        drop(inbox);
        assert_eq!(Arc::strong_count(&value), 1);
    }

    #[test]
    fn stress_many_producers() {
        const PRODUCERS: usize = 4;
        const PER_PRODUCER: usize = if cfg!(miri) { 50 } else { 20_000 };
        let inbox = Arc::new(Inbox::new(64));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let inbox = inbox.clone();
                std::thread::spawn(move || {
                    for i in 0..PER_PRODUCER {
                        let mut value = (p, i);
                        while let Err(back) = inbox.push(value) {
                            value = back;
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        // Each producer's values must come out in its order, none lost.
        let mut next = [0usize; PRODUCERS];
        let mut received = 0;
        while received < PRODUCERS * PER_PRODUCER {
            match pop(&inbox) {
                Some((p, i)) => {
                    assert_eq!(i, next[p], "producer {p} out of order");
                    next[p] += 1;
                    received += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        for producer in producers {
            producer.join().unwrap();
        }
        assert_eq!(pop(&inbox), None);
    }
}
