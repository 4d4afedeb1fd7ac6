//! The registry of live tasks, so that shutdown can cancel every task,
//! including idle ones that sit in no queue.
//!
//! A task registers one waker when it is spawned and unregisters when its
//! future is dropped (a guard inside the task does it, however the task
//! ended). Shutdown takes every registered waker and wakes it; with the pool
//! closed, the schedule function then drops the task's `Runnable`, which
//! drops the future. Polls and wakes never touch the registry.
//!
//! The registry is split into shards, each a mutex-guarded slab, so that
//! spawns on different workers do not contend: a spawn uses the shard of the
//! worker it runs on (or a per-thread choice off the pool). This is the
//! same trade tokio's `OwnedTasks` makes: one uncontended lock per spawn and
//! one per completion.

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

    /// Registers a task in shard `hint % shards`: `make` receives the
    /// task's key, creates the task and returns it with its waker. One lock
    /// per spawn: the shard is held while the task is created (an
    /// allocation, nothing that could reach the registry).
    pub(crate) fn register<R>(&self, hint: usize, make: impl FnOnce(Key) -> (R, Waker)) -> R {
        let shard = hint % self.shards.len();
        let mut slab = lock(&self.shards[shard]);
        let entry = slab.vacant_entry();
        let key = Key {
            shard,
            index: entry.key(),
        };
        let (task, waker) = make(key);
        entry.insert(Some(waker));
        task
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
