//! The registry of live tasks, so that shutdown can cancel every task,
//! including idle ones that sit in no queue.
//!
//! A queued task is in a queue and a running one is on a worker; only a
//! task that returned `Pending` and waits for a wake-up sits nowhere. So a
//! task registers one waker the first time its poll returns `Pending`
//! (`TaskGuard::on_pending`), and unregisters when its future is dropped (the
//! same guard, however the task ended). A task that finishes in its first
//! poll never touches the registry. Shutdown takes every registered waker
//! and wakes it; with the pool closed, the schedule function then drops the
//! task's `Runnable`, which drops the future.
//!
//! The registry is split into shards, each a mutex-guarded slab, so that
//! workers do not contend: a task registers in the shard of the worker that
//! polled it, and is usually dropped on that worker too. This is the trade
//! tokio's `OwnedTasks` makes (one uncontended lock at registration, one at
//! completion), paid only by tasks that wait.

use std::task::Waker;

use slab::Slab;

use crate::lifecycle::Lifecycle;
use crate::sync::{Mutex, lock};

/// The registry of live tasks.
pub(crate) struct Registry {
    shards: Box<[Mutex<Slab<Option<Waker>>>]>,
}

/// A task's place in the registry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key {
    shard: usize,
    index: usize,
}

impl Registry {
    pub(crate) fn new(n_shards: usize) -> Registry {
        Registry {
            shards: (0..n_shards.max(1))
                .map(|_| Mutex::new(Slab::new()))
                .collect(),
        }
    }

    /// Registers `waker` in shard `hint % shards`.
    fn insert(&self, hint: usize, waker: Waker) -> Key {
        let shard = hint % self.shards.len();
        let index = lock(&self.shards[shard]).insert(Some(waker));
        Key { shard, index }
    }

    /// Registers a task's `waker`, the first time its poll returns
    /// `Pending`, in shard `hint % shards`, unless the pool has closed
    /// meanwhile: then the task wakes itself, and the closed pool's
    /// schedule function drops it.
    ///
    /// This is the task's half of its race with shutdown, which closes the
    /// pool and then wakes every registered waker ([`wake_all`]). The
    /// shard's lock orders the two: if shutdown's take came after this
    /// insert it took this waker; if before, the close happened before
    /// the take, which happened before this insert, so the load below sees
    /// it. Either way the task is woken (loom: `registry_*` in `loom.rs`).
    ///
    /// [`wake_all`]: Self::wake_all
    pub(crate) fn register(&self, hint: usize, waker: &Waker, state: &Lifecycle) -> Key {
        let key = self.insert(hint, waker.clone());
        if state.is_closed() {
            waker.wake_by_ref();
        }
        key
    }

    /// Shutdown's half of the race ([`register`](Self::register)): wakes
    /// every waker registered so far, and takes it, so that no task is
    /// woken twice by this. Called after the pool is closed.
    pub(crate) fn wake_all(&self) {
        for waker in self.take_all() {
            waker.wake();
        }
    }

    /// Removes the entry (the task's future is gone).
    pub(crate) fn remove(&self, key: Key) {
        let waker = lock(&self.shards[key.shard]).try_remove(key.index);
        // Dropped outside the lock: dropping a waker may free the task.
        drop(waker);
    }

    /// Takes every registered waker, leaving the registry empty.
    fn take_all(&self) -> Vec<Waker> {
        let mut wakers = Vec::new();
        for shard in self.shards.iter() {
            let mut slab = lock(shard);
            // Entries are removed by their tasks' guards; here we only take
            // the wakers, so that a task dropped later still finds its entry.
            wakers.extend(slab.iter_mut().filter_map(|(_, waker)| waker.take()));
        }
        wakers
    }

    /// The number of registered tasks.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }
}
