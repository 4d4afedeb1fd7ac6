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
    pub(crate) fn insert(&self, hint: usize, waker: Waker) -> Key {
        let shard = hint % self.shards.len();
        let index = lock(&self.shards[shard]).insert(Some(waker));
        Key { shard, index }
    }

    /// Removes the entry (the task's future is gone).
    pub(crate) fn remove(&self, key: Key) {
        let waker = lock(&self.shards[key.shard]).try_remove(key.index);
        // Dropped outside the lock: dropping a waker may free the task.
        drop(waker);
    }

    /// Takes every registered waker, leaving the registry empty.
    pub(crate) fn take_all(&self) -> Vec<Waker> {
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
