//! The balancer: runs the plan (`plan.rs`, pure) on the monitor thread
//! and hands it to the workers.
//!
//! Each round it reads the views the workers published (the runnable tasks
//! of each (tenant, class) they hold; an idle worker holds none), asks them
//! for fresh ones for the next round, plans, and gives each worker its part:
//! the moves it must make (it takes the tasks out of its own policy with
//! `Policy::withdraw` at its next tick) and its per-tenant weights (applied
//! with `Policy::set_weight`, only where they changed). It never touches a
//! worker's queue itself.
//!
//! The round after one that moved tasks only reweights: moves land in the
//! receivers' inboxes a tick later, and a plan made before they land would
//! see the same imbalance and move the same load again.
//!
//! A plan costs O(G log G) for G busy (tenant, class) groups: microseconds
//! with a few tenants, about a millisecond with 10,000. The balancer keeps
//! its share of the monitor thread's core below `1 / BALANCE_DUTY` by
//! waiting after each plan `BALANCE_DUTY` times as long as the plan took
//! (and at least the monitor's interval): with a few tenants it plans every
//! couple of milliseconds, with 10,000 every few tens.

use drama_core::clock;
use drama_policy::{Class, TenantId, Weight};

use crate::plan::{Move, Plan, Planner, Weights, WorkerView};
use crate::pool::Shared;
use crate::sync::{AtomicU32, Ordering, lock};

/// The balancer may use at most 1/50 (2 %) of the monitor thread's core:
/// after a plan that took `t`, the next waits at least `50 t`.
const BALANCE_DUTY: u64 = 50;

/// What the balancer keeps between rounds.
pub(crate) struct Balancer {
    planner: Planner,
    plan: Plan,
    views: Vec<WorkerView>,
    /// The tenants' own weights by id, copied from the pool's table when
    /// its version moves.
    weights: Vec<Weight>,
    weights_version: u64,
    class_weights: [u32; Class::COUNT],
    /// The overrides last sent to each worker, to send only changes.
    sent: Vec<Vec<(TenantId, Weight)>>,
    /// Whether the last plan moved tasks (then this one only reweights).
    moved: bool,
    /// The clock (ns) before which no plan runs.
    next_ns: u64,
}

impl Balancer {
    pub(crate) fn new(workers: usize, class_weights: [u32; Class::COUNT]) -> Balancer {
        Balancer {
            planner: Planner::new(),
            plan: Plan::default(),
            views: vec![WorkerView::default(); workers],
            weights: Vec::new(),
            weights_version: 0,
            class_weights,
            sent: vec![Vec::new(); workers],
            moved: false,
            next_ns: 0,
        }
    }

    /// One balancing round, if the duty cycle allows one now.
    pub(crate) fn run(&mut self, shared: &Shared, interval_ns: u64) {
        let workers = shared.slots.len();
        if workers < 2 {
            return;
        }
        let start = clock::now_ns();
        if start < self.next_ns {
            return;
        }
        let idle = shared.sleepers.idle_mask();
        for (index, slot) in shared.slots.iter().enumerate() {
            let view = &mut self.views[index];
            view.groups.clear();
            let published = lock(&slot.presence);
            view.capacity = published.capacity;
            // An idle worker holds nothing, whatever it last published.
            if idle & (1 << index) == 0 {
                view.groups.extend_from_slice(&published.groups);
            }
            drop(published);
            // Fresh views for the next round.
            slot.publish.store(true, Ordering::Release);
        }
        let version = shared.weights_version.load(Ordering::Acquire);
        if version != self.weights_version {
            // Only the tenants changed since the last plan: the cost does
            // not grow with the tenants whose weight stays.
            let table = lock(&shared.weights);
            for (tenant, weight) in table.changed_since(self.weights_version) {
                let id = tenant.as_u32() as usize;
                if id >= self.weights.len() {
                    self.weights.resize(id + 1, Weight::DEFAULT);
                }
                self.weights[id] = weight;
            }
            self.weights_version = table.version();
        }
        let weights = Weights {
            tenants: &self.weights,
            classes: self.class_weights,
        };
        self.planner
            .plan(&self.views, weights, !self.moved, &mut self.plan);
        self.moved = !self.plan.moves.is_empty();
        if self.moved {
            self.send_moves(shared);
        }
        for &(tenant, home) in &self.plan.homes {
            shared.homes.set(tenant, home);
        }
        for (index, overrides) in self.plan.overrides.iter().enumerate() {
            if *overrides != self.sent[index] {
                let slot = &shared.slots[index];
                lock(&slot.overrides).clone_from(overrides);
                slot.overrides_version.fetch_add(1, Ordering::Release);
                self.sent[index].clone_from(overrides);
            }
        }
        let took_ns = clock::now_ns().saturating_sub(start);
        self.next_ns = start + interval_ns.max(took_ns.saturating_mul(BALANCE_DUTY));
    }

    /// Gives each worker its moves (every worker gets a list, empty or not:
    /// a new list replaces whatever the worker still had to do).
    fn send_moves(&self, shared: &Shared) {
        for (index, slot) in shared.slots.iter().enumerate() {
            let mine = self.plan.moves.iter().filter(|m| m.from == index);
            let mut moves = lock(&slot.moves);
            moves.clear();
            moves.extend(mine.copied());
            drop(moves);
            slot.moves_pending.store(true, Ordering::Release);
        }
    }
}

/// Where tenants live: for a tenant whose runnable tasks were all on one
/// worker at the last plan, that worker. A task spawned (or woken) on a
/// worker that holds no task of its tenant goes to the tenant's home
/// instead, where the tenant has its place in the round (a tenant whose
/// queue just emptied keeps it for a round): a dispatcher that spawns each
/// tenant's next request wherever it happens to run would otherwise send
/// the tenant to the back of another worker's round with every request.
/// Written by the balancer, read by workers with one relaxed load.
///
/// A direct-mapped table of `HOME_SLOTS` entries by tenant id: memory is
/// fixed whatever the number of tenants; two tenants that share a slot
/// take turns in it, and a tenant without an entry simply has no home
/// (its tasks stay where they are spawned).
pub(crate) struct Homes {
    /// `tenant << 7 | (worker + 1)`, or 0 for none; workers are below 64
    /// and tenant ids below 2^24, so it fits.
    slots: Box<[AtomicU32]>,
}

/// The entries of the home table: 4,096 (16 KiB), enough that a few
/// thousand tenants on single workers rarely share one; more tenants than
/// that are many per worker, and a tenant sent to the back of a long round
/// loses little.
const HOME_SLOTS: usize = 4096;

impl Homes {
    pub(crate) fn new() -> Homes {
        Homes {
            slots: (0..HOME_SLOTS).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn slot(&self, tenant: TenantId) -> &AtomicU32 {
        &self.slots[tenant.as_u32() as usize % HOME_SLOTS]
    }

    /// Records `tenant`'s home (or that it has none).
    pub(crate) fn set(&self, tenant: TenantId, home: Option<usize>) {
        let slot = self.slot(tenant);
        match home {
            Some(worker) => slot.store(
                tenant.as_u32() << 7 | (worker as u32 + 1),
                Ordering::Relaxed,
            ),
            None => {
                // Clear only this tenant's entry, not another's.
                if slot.load(Ordering::Relaxed) >> 7 == tenant.as_u32() {
                    slot.store(0, Ordering::Relaxed);
                }
            }
        }
    }

    /// `tenant`'s home, if it has one.
    pub(crate) fn get(&self, tenant: TenantId) -> Option<usize> {
        let entry = self.slot(tenant).load(Ordering::Relaxed);
        (entry != 0 && entry >> 7 == tenant.as_u32()).then(|| (entry & 0x7f) as usize - 1)
    }
}

/// What a worker still has to move for the balancer when its policy cannot
/// withdraw queued tasks (or they were not queued when it tried): tasks of
/// the group passing through the worker's hands go to the receiver.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Export {
    pub(crate) tenant: TenantId,
    pub(crate) class: Class,
    pub(crate) tasks: u32,
    pub(crate) to: usize,
}

impl From<&Move> for Export {
    fn from(m: &Move) -> Export {
        Export {
            tenant: m.tenant,
            class: m.class,
            tasks: m.tasks,
            to: m.to,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homes_remember_one_worker_per_tenant() {
        let homes = Homes::new();
        let t = TenantId::new;
        assert_eq!(homes.get(t(7)), None);
        homes.set(t(7), Some(3));
        homes.set(t(8), Some(0));
        assert_eq!(homes.get(t(7)), Some(3));
        assert_eq!(homes.get(t(8)), Some(0));
        // Spread over several workers: no home.
        homes.set(t(7), None);
        assert_eq!(homes.get(t(7)), None);
        // Workers up to 63, tenant ids up to 2^24 - 1.
        let big = t((1 << 24) - 1);
        homes.set(big, Some(63));
        assert_eq!(homes.get(big), Some(63));
    }

    #[test]
    fn tenants_sharing_a_slot_never_see_each_others_home() {
        let homes = Homes::new();
        let (a, b) = (TenantId::new(5), TenantId::new(5 + HOME_SLOTS as u32));
        homes.set(a, Some(1));
        homes.set(b, Some(2));
        // b took the slot: a has no home now, and never b's.
        assert_eq!(homes.get(a), None);
        assert_eq!(homes.get(b), Some(2));
        // Clearing a does not clear b's entry.
        homes.set(a, None);
        assert_eq!(homes.get(b), Some(2));
    }
}
