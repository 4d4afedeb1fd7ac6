//! The part of a worker slot that only its owner touches ([`Core`]: the
//! policy, the spill list, the balancer's exports, the outboxes), what it
//! knows of the tasks it holds ([`Presence`], the balancer's view), and the
//! load counters it publishes for the monitor ([`WorkerStats`]).

use std::collections::VecDeque;

use crate::task::Task;
use drama_policy::{Class, Policy, TenantId, Weight};

use crate::balance::Export;
use crate::context::Entry;
use crate::delays;
use crate::outbox::Outbox;
use crate::plan::GroupCount;
use crate::sync::{Arc, AtomicU64, Ordering};
use crate::worker::{SHED_MIN, SHED_MIN_WORK_NS};

/// A worker's load counters as the monitor reads them: written only by
/// the slot's owner (plain stores of its own running totals), read by the
/// monitor once per step.
pub(crate) struct WorkerStats {
    pub(crate) delay_sum_ns: AtomicU64,
    pub(crate) delayed_polls: AtomicU64,
    /// Tasks requeued after a yield (cumulative).
    pub(crate) requeued: AtomicU64,
    /// The polls started from the policy, by queueing-delay bucket
    /// (`delays::bucket`), cumulative: the monitor's percentiles.
    pub(crate) delays: [AtomicU64; delays::BUCKETS],
    /// Time the owner spent out of work (spinning or parked in `idle`), in
    /// finished spells, and the start of the spell going on (0: none).
    /// The monitor's utilization is the time not idle: a worker that has
    /// work but lost its core to another thread is not idle, so the pool
    /// reads as saturated on a machine it shares.
    pub(crate) idle_ns: AtomicU64,
    pub(crate) idle_since_ns: AtomicU64,
}

impl WorkerStats {
    pub(crate) fn new() -> WorkerStats {
        WorkerStats {
            delay_sum_ns: AtomicU64::new(0),
            delayed_polls: AtomicU64::new(0),
            requeued: AtomicU64::new(0),
            delays: std::array::from_fn(|_| AtomicU64::new(0)),
            idle_ns: AtomicU64::new(0),
            idle_since_ns: AtomicU64::new(0),
        }
    }

    /// The owner ran out of work at `start_ns`.
    #[inline]
    pub(crate) fn idle_begins(&self, start_ns: u64) {
        self.idle_since_ns.store(start_ns.max(1), Ordering::Relaxed);
    }

    /// The owner's idle spell of `spell_ns` ended. Only the owner writes,
    /// so a load and a store do.
    #[inline]
    pub(crate) fn idle_ends(&self, spell_ns: u64) {
        let idle_ns = self.idle_ns.load(Ordering::Relaxed);
        self.idle_ns
            .store(idle_ns.wrapping_add(spell_ns), Ordering::Relaxed);
        self.idle_since_ns.store(0, Ordering::Relaxed);
    }

    /// Time the owner spent out of work up to `now_ns`, the spell going on
    /// included. Racing the end of a spell, it may count that spell twice
    /// for one reading; the monitor never lets the total go backwards.
    pub(crate) fn idle_ns(&self, now_ns: u64) -> u64 {
        let since = self.idle_since_ns.load(Ordering::Relaxed);
        let done = self.idle_ns.load(Ordering::Relaxed);
        if since == 0 {
            done
        } else {
            done.wrapping_add(now_ns.saturating_sub(since))
        }
    }

    #[inline]
    pub(crate) fn publish(&self, core: &Core) {
        self.delay_sum_ns
            .store(core.delay_sum_ns, Ordering::Relaxed);
        self.delayed_polls
            .store(core.delayed_polls, Ordering::Relaxed);
        self.requeued.store(core.requeued, Ordering::Relaxed);
    }

    /// Publishes the count of delay bucket `index` from `core`.
    #[inline]
    pub(crate) fn publish_delay(&self, core: &Core, index: usize) {
        self.delays[index].store(core.delays[index], Ordering::Relaxed);
    }

    /// Adds the cumulative count of each delay bucket to `sums`.
    pub(crate) fn add_delays(&self, sums: &mut [u64; delays::BUCKETS]) {
        for (sum, count) in sums.iter_mut().zip(&self.delays) {
            *sum = sum.wrapping_add(count.load(Ordering::Relaxed));
        }
    }

    /// The queueing delay of the polls started from the policy, those
    /// polls, and the tasks requeued after a yield, all cumulative.
    pub(crate) fn read(&self) -> (u64, u64, u64) {
        (
            self.delay_sum_ns.load(Ordering::Relaxed),
            self.delayed_polls.load(Ordering::Relaxed),
            self.requeued.load(Ordering::Relaxed),
        )
    }
}

/// How many runnable tasks of each (tenant, class) a worker holds (queued,
/// or being polled), and which groups have any: the worker's view for the
/// balancer. Plain memory, owned by the slot's owner: two indexed updates
/// per poll.
pub(crate) struct Presence {
    /// Tasks held, by group key (`tenant * Class::COUNT + class`). Grows to
    /// the largest key seen, below `max_tenants * Class::COUNT` (larger
    /// ids are not tracked).
    pub(crate) count: Vec<u32>,
    /// Each tracked group's index in `active`.
    pub(crate) position: Vec<u32>,
    /// The keys of the groups with at least one task here.
    pub(crate) active: Vec<u32>,
    /// The sum of `count`: the tasks the core holds (checked against the
    /// policy in debug builds).
    pub(crate) total: usize,
    pub(crate) max_tenants: u32,
}

impl Presence {
    pub(crate) fn new(max_tenants: u32) -> Presence {
        Presence {
            count: Vec::new(),
            position: Vec::new(),
            active: Vec::new(),
            total: 0,
            max_tenants,
        }
    }

    #[inline]
    pub(crate) fn key(tenant: TenantId, class: Class) -> usize {
        tenant.as_u32() as usize * Class::COUNT + class.priority()
    }

    /// Counts a task of `tenant` in `class`; returns whether the tables
    /// grew (a tenant id larger than any before: the policy's tables grow
    /// with it, and the time is the worker's, see `Worker::drain_inbox`).
    #[inline]
    pub(crate) fn add(&mut self, tenant: TenantId, class: Class) -> bool {
        if tenant.as_u32() >= self.max_tenants {
            return false;
        }
        let i = Self::key(tenant, class);
        let grew = i >= self.count.len();
        if grew {
            self.count.resize(i + 1, 0);
            self.position.resize(i + 1, 0);
        }
        if self.count[i] == 0 {
            self.position[i] = self.active.len() as u32;
            self.active.push(i as u32);
        }
        self.count[i] += 1;
        self.total += 1;
        // The active list and the positions agree: the group is where its
        // position says.
        debug_assert_eq!(self.active[self.position[i] as usize] as usize, i);
        grew
    }

    #[inline]
    pub(crate) fn remove(&mut self, tenant: TenantId, class: Class) {
        let i = Self::key(tenant, class);
        let Some(count) = self.count.get_mut(i) else {
            return;
        };
        // Every removal pairs with an add: a task leaves the count it
        // entered (untracked tenants, past `max_tenants`, took the early
        // return above on both sides).
        debug_assert!(*count > 0, "a task left a group it was not counted in");
        if *count == 0 {
            return;
        }
        *count -= 1;
        self.total -= 1;
        if *count == 0 {
            let position = self.position[i] as usize;
            debug_assert_eq!(self.active[position] as usize, i);
            self.active.swap_remove(position);
            if let Some(&moved) = self.active.get(position) {
                self.position[moved as usize] = position as u32;
            }
        }
        debug_assert_eq!(self.total == 0, self.active.is_empty());
    }

    /// The runnable tasks of `tenant` here, over its classes.
    #[inline]
    pub(crate) fn tenant_tasks(&self, tenant: TenantId) -> u32 {
        let first = Self::key(tenant, Class::ALL[0]);
        self.count
            .get(first..first + Class::COUNT)
            .map_or(0, |counts| counts.iter().sum())
    }

    /// The group at `key`, with its count.
    pub(crate) fn group(&self, key: u32) -> GroupCount {
        let key = key as usize;
        GroupCount {
            tenant: TenantId::new((key / Class::COUNT) as u32),
            class: Class::ALL[key % Class::COUNT],
            tasks: self.count[key],
        }
    }

    pub(crate) fn snapshot(&self, out: &mut Vec<GroupCount>) {
        out.clear();
        out.extend(self.active.iter().map(|&key| self.group(key)));
    }
}

/// The part of a slot that only its owner touches.
pub(crate) struct Core {
    pub(crate) policy: Box<dyn Policy<Task> + Send>,
    /// Tasks the policy refused (a bound of a user policy smaller than the
    /// pool's). Bounded by the number of live tasks.
    pub(crate) spill: VecDeque<Task>,
    /// The `weights_version` last applied.
    pub(crate) weights_version: u64,
    /// The slot's `overrides_version` last applied, and the overrides in
    /// force here (sorted by tenant).
    pub(crate) overrides_version: u64,
    pub(crate) overridden: Vec<(TenantId, Weight)>,
    /// Moves the policy could not carry out at once (see `Export`).
    /// Bounded by `plan::MAX_MOVED_TASKS` tasks.
    pub(crate) exports: Vec<Export>,
    /// The outbox of the thread that owns the slot (emptied after each of
    /// its polls), and those of earlier owners still stuck in a poll,
    /// emptied at every tick until their thread leaves. At most
    /// `max_threads` orphans: one per thread the slot had that is alive.
    pub(crate) outbox: Option<Arc<Outbox<Entry>>>,
    pub(crate) orphans: Vec<Arc<Outbox<Entry>>>,
    pub(crate) presence: Presence,
    /// Whether a poll is under way, and of which task: its tenant, class
    /// and whether it is counted in `presence`. A thread that steals the
    /// slot from a stuck worker closes that poll's books (see
    /// `Worker::close_stolen_poll`).
    pub(crate) in_poll: bool,
    pub(crate) poll_tenant: TenantId,
    pub(crate) poll_class: Class,
    pub(crate) poll_counted: bool,
    /// Scratch for a shed: the groups held.
    pub(crate) groups: Vec<GroupCount>,
    /// Which half of the single-task groups the next shed gives away.
    pub(crate) shed_odd: bool,
    /// A moving average of the poll time here (1/8 weight to the newest):
    /// with the queue length, the work a shed would move.
    pub(crate) avg_poll_ns: u64,
    /// Cumulative, for the monitor's load estimate (published to
    /// `Slot::stats`): the queueing delay of the polls started from the
    /// policy, and those polls. Kept here, with the
    /// slot, so that a thread taking a stuck slot over carries them on.
    pub(crate) delay_sum_ns: u64,
    pub(crate) delayed_polls: u64,
    /// Tasks requeued here after a yield.
    pub(crate) requeued: u64,
    /// Polls started from the policy, by queueing-delay bucket.
    pub(crate) delays: Box<[u64; delays::BUCKETS]>,
    /// Set when queueing a task grew the per-tenant tables (a new largest
    /// tenant id): the time is the worker's, not the next poll's.
    pub(crate) grew: bool,
}

impl Core {
    pub(crate) fn new(policy: Box<dyn Policy<Task> + Send>, max_tenants: u32) -> Core {
        Core {
            policy,
            spill: VecDeque::new(),
            weights_version: 0,
            overrides_version: 0,
            overridden: Vec::new(),
            exports: Vec::new(),
            outbox: None,
            orphans: Vec::new(),
            presence: Presence::new(max_tenants),
            in_poll: false,
            poll_tenant: TenantId::DEFAULT,
            poll_class: Class::Compute,
            poll_counted: false,
            groups: Vec::new(),
            shed_odd: false,
            // Until measured, assume polls long enough that two queued
            // tasks are worth moving.
            avg_poll_ns: SHED_MIN_WORK_NS / SHED_MIN as u64,
            delay_sum_ns: 0,
            delayed_polls: 0,
            requeued: 0,
            delays: Box::new([0; delays::BUCKETS]),
            grew: false,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.policy.len() + self.spill.len()
    }

    /// Queues a task in the policy (or in the spill list if it refuses),
    /// unless the balancer wants this task's group elsewhere: then returns
    /// the task and the worker to hand it to.
    #[inline]
    pub(crate) fn enqueue(
        &mut self,
        runnable: Task,
        now_ns: u64,
        resumed: bool,
    ) -> Option<(Task, usize)> {
        let (tenant, class) = (runnable.meta().tenant(), runnable.meta().class());
        if !self.exports.is_empty()
            && let Some(i) = self
                .exports
                .iter()
                .position(|e| e.tenant == tenant && e.class == class)
        {
            let to = self.exports[i].to;
            self.exports[i].tasks -= 1;
            if self.exports[i].tasks == 0 {
                self.exports.swap_remove(i);
            }
            return Some((runnable, to));
        }
        self.grew |= self.presence.add(tenant, class);
        let queued = if resumed {
            self.requeued = self.requeued.wrapping_add(1);
            self.policy.requeue(runnable, tenant, class, now_ns)
        } else {
            self.policy.enqueue(runnable, tenant, class, now_ns)
        };
        if let Err(overflow) = queued {
            self.spill.push_back(overflow.into_inner());
        }
        None
    }
}
