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
use crate::sync::{Ordering, lock};

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
            weights_version: u64::MAX,
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
        let idle = shared.idle.load(Ordering::Acquire);
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
            lock(&shared.weights).copy_by_id(&mut self.weights);
            self.weights_version = version;
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
