//! A worker thread's outbox: the tasks its polls spawned, woke or yielded,
//! on their way into a slot's policy.
//!
//! A task spawned or woken on a worker thread stays on that worker, and the
//! worker queues it after the poll that produced it (the task cannot go
//! into the policy during the poll: the policy is the slot's, and the slot
//! may be handed to another thread while the poll runs). Until then it sits
//! in the thread's outbox. Normally the same thread empties the outbox
//! right after the poll. But a poll that blocks (a stuck worker) keeps its
//! thread for as long as it likes, and the monitor gives the slot to a
//! replacement thread meanwhile: the work the stuck poll created before it
//! blocked, and whatever it creates while blocked (a child it spawns, a
//! task it wakes by sending on a channel), must reach the replacement, or
//! it waits for the blocked call to return (seconds, or forever). So the
//! outbox is shared: one thread produces into it (the thread whose polls
//! create the work), and one thread at a time consumes it (whoever owns the
//! slot: the producer itself, or after a steal the replacement, which keeps
//! the stuck thread's outbox as an orphan and empties it at every tick
//! until the stuck thread leaves).
//!
//! It is an unbounded single-producer single-consumer queue of chunks
//! (Vyukov's unbounded SPSC queue, with chunks instead of nodes): the
//! producer writes an entry and publishes it with a release store of the
//! chunk's `written` count (a plain store on x86: the hot path pays no
//! read-modify-write and no fence); the consumer reads `written` with
//! acquire. A full chunk links a new one, which the consumer frees the old
//! one on reaching. When the producer and the consumer are one thread and
//! the queue is empty, [`Outbox::rewind`] reuses the chunk from its start,
//! so a worker's steady state allocates nothing.
//!
//! Leaving: the producer (a thread retiring after its slot was stolen) and
//! the consumer (a slot's owner leaving at shutdown) each announce that
//! they leave with one CAS on `state`; whoever leaves second empties what
//! is left. So no task is stranded in an outbox nobody will read.
//!
//! Bound: none of its own, like the policy it feeds: every entry is a live
//! task queued once, so the outboxes together hold at most `max_tasks`
//! tasks. `cargo xtask loom` checks the queue and the leaving protocol
//! (src/loom.rs).

use std::mem::MaybeUninit;
use std::ptr;

use crate::sync::{AtomicPtr, AtomicU8, AtomicUsize, Ordering, UnsafeCell};

/// Entries per chunk: 64 entries of a runnable and its kind are 1 KiB, a
/// poll's worth of spawns in one allocation, and a chain of chunks only
/// for a poll that spawns more. Two under loom, to cross chunk boundaries
/// within a small model.
#[cfg(not(loom))]
const CHUNK: usize = 64;
#[cfg(loom)]
const CHUNK: usize = 2;

/// Both the producer and the consumer are there.
const OPEN: u8 = 0;
/// The producer left: it will push nothing more, and the consumer frees
/// the outbox once it has emptied it.
const PRODUCER_LEFT: u8 = 1;
/// The consumer left (the pool closed): the producer, when it leaves,
/// empties the outbox itself.
const CONSUMER_LEFT: u8 = 2;

struct Chunk<T> {
    entries: [UnsafeCell<MaybeUninit<T>>; CHUNK],
    /// How many entries the producer has written; only grows, except at a
    /// rewind, which only happens while one thread is both ends.
    written: AtomicUsize,
    /// The next chunk, set by the producer when this one is full.
    next: AtomicPtr<Chunk<T>>,
}

impl<T> Chunk<T> {
    fn alloc() -> *mut Chunk<T> {
        Box::into_raw(Box::new(Chunk {
            entries: std::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
            written: AtomicUsize::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
        }))
    }
}

/// One end's position: a chunk and an index in it.
struct End<T> {
    chunk: *mut Chunk<T>,
    index: usize,
}

/// An unbounded SPSC queue; see the module documentation.
pub(crate) struct Outbox<T> {
    /// Where the producer writes next. Only the producer touches it.
    tail: UnsafeCell<End<T>>,
    /// Where the consumer reads next. Only the consumer touches it.
    head: UnsafeCell<End<T>>,
    /// `OPEN`, `PRODUCER_LEFT` or `CONSUMER_LEFT`.
    state: AtomicU8,
}

// SAFETY: values of `T` move in on the producer's thread and out on the
// consumer's, so `T: Send` is required and sufficient. Each end's position is
// touched only by the thread playing that end (the callers' contract), and
// the entries and chunks they share are handed over by the release/acquire
// pairs on `written` and `next`.
unsafe impl<T: Send> Send for Outbox<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Outbox<T> {}

impl<T> Outbox<T> {
    pub(crate) fn new() -> Outbox<T> {
        let chunk = Chunk::alloc();
        Outbox {
            tail: UnsafeCell::new(End { chunk, index: 0 }),
            head: UnsafeCell::new(End { chunk, index: 0 }),
            state: AtomicU8::new(OPEN),
        }
    }

    /// Adds `value` at the tail.
    ///
    /// # Safety
    ///
    /// Only the producer calls this: one thread for the outbox's life.
    #[inline]
    pub(crate) unsafe fn push(&self, value: T) {
        self.tail.with_mut(|tail| {
            // SAFETY: only the producer touches `tail`.
            let tail = unsafe { &mut *tail };
            if tail.index == CHUNK {
                let next = Chunk::alloc();
                // SAFETY: the producer's chunk is alive: the consumer frees a
                // chunk only once `next` is set, after which the producer
                // never touches it again.
                let chunk = unsafe { &*tail.chunk };
                // Release: the new chunk's initialization is visible to the
                // consumer that follows the link.
                chunk.next.store(next, Ordering::Release);
                *tail = End {
                    chunk: next,
                    index: 0,
                };
            }
            // SAFETY: as above, the producer's chunk is alive.
            let chunk = unsafe { &*tail.chunk };
            // SAFETY: entry `index` is past `written`, so the consumer does
            // not read it, and only the producer writes.
            chunk.entries[tail.index].with_mut(|entry| unsafe { (*entry).write(value) });
            tail.index += 1;
            // Release: publishes the entry to the consumer.
            chunk.written.store(tail.index, Ordering::Release);
        });
    }

    /// Takes the oldest entry, if any.
    ///
    /// # Safety
    ///
    /// Only the consumer calls this: one thread at a time, each hand-over of
    /// the consumer's part ordered by a release/acquire pair (the pool's
    /// slot hand-over).
    #[inline]
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        self.head.with_mut(|head| {
            // SAFETY: only the consumer touches `head`.
            let head = unsafe { &mut *head };
            loop {
                // SAFETY: the consumer's chunk is alive: only the consumer
                // frees chunks, and only the ones it has left.
                let chunk = unsafe { &*head.chunk };
                // Acquire: pairs with the producer's release, so the entries
                // counted are written.
                if head.index < chunk.written.load(Ordering::Acquire) {
                    let value = chunk.entries[head.index].with_mut(|entry| {
                        // SAFETY: the entry is the consumer's alone: written
                        // (above), and the producer never touches it again.
                        let entry = unsafe { &mut *entry };
                        // SAFETY: it was written and not yet read (the
                        // consumer's index is past every entry it read);
                        // reading moves the value out, and the entry is
                        // never read again.
                        unsafe { entry.assume_init_read() }
                    });
                    head.index += 1;
                    return Some(value);
                }
                if head.index < CHUNK {
                    return None;
                }
                // Acquire: pairs with the producer's release of the link.
                let next = chunk.next.load(Ordering::Acquire);
                if next.is_null() {
                    return None;
                }
                // SAFETY: the producer linked a new chunk, so it never touches
                // this one again, and the consumer read all of its entries:
                // nobody uses it any more.
                drop(unsafe { Box::from_raw(head.chunk) });
                *head = End {
                    chunk: next,
                    index: 0,
                };
            }
        })
    }

    /// Whether [`pop`](Self::pop) would return an entry now.
    ///
    /// # Safety
    ///
    /// Only the consumer calls this, as for `pop`.
    pub(crate) unsafe fn has_ready(&self) -> bool {
        self.head.with_mut(|head| {
            // SAFETY: only the consumer touches `head`.
            let head = unsafe { &*head };
            // SAFETY: the consumer's chunk is alive (see `pop`).
            let chunk = unsafe { &*head.chunk };
            head.index < chunk.written.load(Ordering::Acquire)
                || (head.index == CHUNK && !chunk.next.load(Ordering::Acquire).is_null())
        })
    }

    /// Starts the chunk over when the outbox is empty and its chunk at
    /// least half used, so that a worker that pushes and pops a few entries
    /// per poll keeps reusing one chunk. (Only from half-way: the check
    /// costs a load, the rewind a few more, and a worker passing messages
    /// absorbs once per message.)
    ///
    /// # Safety
    ///
    /// The caller is both the producer and the consumer now: no other
    /// thread may push or pop until this returns.
    #[inline]
    // Not a concurrency protocol (one thread plays both ends): no loom model.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) unsafe fn rewind(&self) {
        self.head.with_mut(|head| {
            // SAFETY: the caller plays both ends, so nothing else touches
            // either position or the chunk.
            let head = unsafe { &mut *head };
            if head.index < CHUNK / 2 {
                return;
            }
            self.tail.with_mut(|tail| {
                // SAFETY: as above.
                let tail = unsafe { &mut *tail };
                if ptr::eq(tail.chunk, head.chunk) && tail.index == head.index {
                    // SAFETY: as above; the chunk is the one both ends hold.
                    unsafe { &*head.chunk }.written.store(0, Ordering::Relaxed);
                    tail.index = 0;
                    head.index = 0;
                }
            });
        });
    }

    /// The producer leaves: it pushes nothing more. Returns `true` when the
    /// consumer has left already; the caller must then empty the outbox
    /// itself (it is the only thread left that can).
    pub(crate) fn producer_leaves(&self) -> bool {
        // Release: every push happens before the consumer sees the state;
        // acquire: the consumer's last pops happen before the caller empties
        // the rest.
        self.state
            .compare_exchange(OPEN, PRODUCER_LEFT, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    }

    /// The consumer leaves: it pops nothing more after this. Returns `true`
    /// when the producer has left already; the caller must then empty what
    /// the producer pushed last, as the producer will not.
    pub(crate) fn consumer_leaves(&self) -> bool {
        // As in `producer_leaves`, the other way round.
        self.state
            .compare_exchange(OPEN, CONSUMER_LEFT, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    }

    /// Whether the producer has left: once the outbox is empty too, nothing
    /// more will come, and the consumer may let it go.
    pub(crate) fn producer_left(&self) -> bool {
        // Acquire: after it, the consumer sees every entry pushed.
        self.state.load(Ordering::Acquire) == PRODUCER_LEFT
    }
}

impl<T> Drop for Outbox<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no producer or consumer is left, so this thread
        // plays the consumer. Dropping the values closes their tasks.
        while unsafe { self.pop() }.is_some() {}
        self.head.with_mut(|head| {
            // SAFETY: as above.
            let chunk = unsafe { (*head).chunk };
            // SAFETY: `pop` returned `None`, so the consumer's chunk is the
            // last one (its `next` is null) and the only one left.
            drop(unsafe { Box::from_raw(chunk) });
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    // Safe wrappers: each test plays both ends from one thread unless it
    // says otherwise, which the contracts allow.

    fn push<T>(outbox: &Outbox<T>, value: T) {
        // SAFETY: one producer per test (see above).
        unsafe { outbox.push(value) }
    }

    fn pop<T>(outbox: &Outbox<T>) -> Option<T> {
        // SAFETY: one consumer per test (see above).
        unsafe { outbox.pop() }
    }

    fn has_ready<T>(outbox: &Outbox<T>) -> bool {
        // SAFETY: as for `pop`.
        unsafe { outbox.has_ready() }
    }

    #[test]
    fn fifo_across_chunks_and_rewind() {
        let outbox = Outbox::new();
        for round in 0..3 {
            for i in 0..3 * CHUNK + 5 {
                push(&outbox, (round, i));
            }
            for i in 0..3 * CHUNK + 5 {
                assert_eq!(pop(&outbox), Some((round, i)));
            }
            assert_eq!(pop(&outbox), None);
            assert!(!has_ready(&outbox));
            // SAFETY: this thread plays both ends.
            unsafe { outbox.rewind() };
        }
    }

    #[test]
    fn rewind_reuses_the_chunk() {
        let outbox = Outbox::new();
        let first = outbox.head.with_mut(|head| {
            // SAFETY: nothing else touches the positions in this test.
            unsafe { (*head).chunk }
        });
        for i in 0..10 * CHUNK {
            push(&outbox, i);
            assert_eq!(pop(&outbox), Some(i));
            // SAFETY: this thread plays both ends.
            unsafe { outbox.rewind() };
        }
        outbox.tail.with_mut(|tail| {
            outbox.head.with_mut(|head| {
                // SAFETY: nothing else touches the positions in this test.
                let tail = unsafe { &*tail };
                // SAFETY: as above.
                let head = unsafe { &*head };
                assert!(ptr::eq(tail.chunk, first), "a chunk was allocated");
                assert!(ptr::eq(head.chunk, first));
                assert!(head.index < CHUNK / 2);
            });
        });
    }

    #[test]
    fn has_ready_across_a_chunk_boundary() {
        let outbox = Outbox::new();
        for i in 0..CHUNK {
            push(&outbox, i);
        }
        for _ in 0..CHUNK {
            pop(&outbox).unwrap();
        }
        assert!(!has_ready(&outbox));
        push(&outbox, CHUNK);
        assert!(has_ready(&outbox));
        assert_eq!(pop(&outbox), Some(CHUNK));
        assert!(!has_ready(&outbox));
    }

    #[test]
    fn destructors() {
        let value = Arc::new(());
        let outbox = Outbox::new();
        for _ in 0..CHUNK + 3 {
            push(&outbox, value.clone());
        }
        drop(pop(&outbox));
        drop(outbox);
        assert_eq!(Arc::strong_count(&value), 1);
    }

    #[test]
    fn stress_one_producer_one_consumer() {
        const N: usize = if cfg!(miri) { 300 } else { 200_000 };
        let outbox = Arc::new(Outbox::new());
        let producer = {
            let outbox = outbox.clone();
            std::thread::spawn(move || {
                for i in 0..N {
                    // This thread is the only producer.
                    push(&outbox, i);
                }
                outbox.producer_leaves()
            })
        };
        let mut next = 0;
        loop {
            let left = outbox.producer_left();
            // This thread is the only consumer.
            while let Some(i) = pop(&outbox) {
                assert_eq!(i, next, "out of order");
                next += 1;
            }
            if left {
                break;
            }
            std::thread::yield_now();
        }
        assert_eq!(next, N);
        assert!(!producer.join().unwrap(), "the consumer had not left");
    }

    #[test]
    fn whoever_leaves_second_empties() {
        let outbox = Outbox::new();
        push(&outbox, 1);
        assert!(!outbox.consumer_leaves(), "the producer is still there");
        push(&outbox, 2);
        assert!(outbox.producer_leaves(), "the consumer left first");
        // The producer, last to leave, empties it.
        assert_eq!(pop(&outbox), Some(1));
        assert_eq!(pop(&outbox), Some(2));
    }
}
