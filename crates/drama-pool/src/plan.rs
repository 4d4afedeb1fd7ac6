//! The balancing plan: where work should be, and with which per-worker
//! weights, so that per-worker fair queuing adds up to weighted fairness
//! across the pool. Pure: views and weights in, a [`Plan`] out; no threads,
//! no clock, no atomics, no hash-map order. `balance.rs` gathers the views
//! on the monitor thread and hands the plan to the workers.
//!
//! # The model
//!
//! Each worker runs its own DRR over the tasks it holds, so a tenant gets
//! its weighted share *of each worker it is on*, and inside a tenant each
//! class gets its class-weighted share of the tenant's time there. Whether
//! that adds up to the right share of the *pool* depends on where the tasks
//! are. The planner reasons about *groups*, the runnable tasks of one
//! (tenant, class), the unit the policy serves:
//!
//! 1. **Target shares.** Each tenant's share of the pool, in workers, by
//!    water-filling: proportional to its weight, but never more than it can
//!    use (one worker per runnable task, at most every worker), the rest
//!    re-divided among the others. Inside a tenant, the same over its
//!    classes with the class weights.
//!    Shares are in units of a worker's *capacity*: the share of time the
//!    OS actually gives its thread (1 on an unloaded machine; less when
//!    other processes or threads compete for the cores).
//! 2. **Task loads.** A group's share divided by its tasks is what each of
//!    its tasks is entitled to. A worker's *load* is the sum of the
//!    entitlements of the tasks it holds. When every worker's load is the
//!    same relative to its capacity, weighting each tenant on each worker
//!    by the entitlements it holds there gives every group exactly its
//!    target share. This is how Linux balances a task group's load by
//!    weight rather than by task count.
//! 3. **Moves.** A tenant's classes are spread evenly (see `spread`).
//!    Then, while the most and the least loaded workers (relative to
//!    capacity) differ by more than [`MIN_GAP`], the planner moves tasks
//!    from the former to the latter: first from the groups that are most
//!    unevenly split between the two (each taken only down to an even
//!    split, so a crowded tenant spreads and no tenant moves whole), then
//!    from any group, as many tasks as bring the moved load closest to the
//!    transfer that evens the two. A move that would not shrink the gap by
//!    [`MIN_IMPROVEMENT`] is not made; loads that cannot be evened (three
//!    equal single-task tenants on two workers) are rotated instead (see
//!    `rotate`), one pair per plan.
//! 4. **Weights.** On each worker, each tenant's weight is proportional to
//!    the entitlements of the tasks it holds there (after the moves),
//!    scaled so that the worker's tenants keep their own average weight.
//!    Only weights that differ from the tenant's own are listed. When every
//!    group is spread evenly there is nothing to list.
//! 5. **Homes.** A tenant whose tasks are all on one worker lives there;
//!    the runtime sends its new tasks there (see `balance::Homes`).
//!
//! Cost: O(G log G) for G busy groups (entries sorted once, water-filling
//! by sorting, a sort of one worker's groups per move round); tenants that
//! hold no runnable task anywhere cost nothing.

use std::collections::HashMap;

use drama_policy::{Class, TenantId, Weight};

/// The planner moves work only while the most and the least loaded worker
/// differ by more than this, in load per capacity: 2 % of a worker.
/// Smaller gaps cost the tenants of the busier worker at most 1 % of their
/// share, which is below what a noisy machine measures, while chasing them
/// would move tasks on every plan as counts flicker.
pub(crate) const MIN_GAP: f64 = 0.02;

/// A class of a tenant with several classes may stay split unevenly by
/// this many tasks between two workers. Spreading evens out only larger
/// differences, and balancing the load never makes one: the load balancing
/// may have to leave a group one task off an even split (a single-task
/// tenant on one worker is balanced by a task of another tenant on the
/// other), and with a tolerance of zero the next plan's spreading would
/// undo it, and so on for ever.
pub(crate) const SPREAD_TOLERANCE: u32 = 2;

/// A set of moves must shrink the gap between the two workers by at least
/// this much (in workers), else it is not worth losing the tasks' caches.
pub(crate) const MIN_IMPROVEMENT: f64 = 0.01;

/// At most this many tasks move per plan. The planner runs every couple of
/// milliseconds; a large imbalance is evened over a few plans rather than
/// by flooding one inbox (and the moves of one plan are planned from one
/// snapshot, which is stale by the time a large batch lands).
pub(crate) const MAX_MOVED_TASKS: u32 = 1024;

/// Two loads within this relative difference are the same load: the loads
/// are sums of float shares, so a group's load computed twice by
/// different paths may differ in the last bits; a billionth is far above
/// that rounding and far below any difference the plan acts on
/// (`MIN_GAP`).
const SAME_LOAD: f64 = 1e-9;

/// How many runnable tasks (queued, or being polled) of one tenant's class
/// one worker holds: the planner's view of a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GroupCount {
    pub(crate) tenant: TenantId,
    pub(crate) class: Class,
    pub(crate) tasks: u32,
}

/// What one worker holds, and how much of a core it gets.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct WorkerView {
    /// Its runnable tasks by (tenant, class), in any order.
    pub(crate) groups: Vec<GroupCount>,
    /// The share of the wall-clock time its thread was on a core when it
    /// wanted to be (1.0 on an unloaded machine): the OS may give a worker
    /// less than a core (other processes, other threads of this one), and
    /// the tenants on it would get less than their share. Loads are evened
    /// relative to capacity. Values below `MIN_CAPACITY` count as it.
    pub(crate) capacity: f64,
}

/// Workers whose capacities differ by less than this fraction count as
/// equal: 5 %. On an unloaded 2-core machine the workers' capacities
/// wander between about 0.96 and 1.0 (the monitor thread takes its slice
/// of one core, interrupts land on one or the other), and evening loads
/// against that noise moved single-task tenants back and forth, each move
/// sending a task to the back of another round. A neighbour process that
/// takes a real share of a core shows as 10 % and more.
pub(crate) const CAPACITY_NOISE: f64 = 0.05;

/// The least capacity a worker is credited with: a worker the OS starves
/// still gets some load, and no division blows up.
pub(crate) const MIN_CAPACITY: f64 = 0.05;

/// A move the plan asks for: worker `from` hands `tasks` of its queued
/// tasks of `tenant`'s `class` to worker `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Move {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) tenant: TenantId,
    pub(crate) class: Class,
    pub(crate) tasks: u32,
}

/// What the planner decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Plan {
    /// Net transfers, one per (from, to, tenant, class), sorted so: each
    /// takes only tasks its `from` worker holds now.
    pub(crate) moves: Vec<Move>,
    /// Per worker, the tenants that must run there with a weight other
    /// than their own, sorted by tenant.
    pub(crate) overrides: Vec<Vec<(TenantId, Weight)>>,
    /// Where each tenant seen lives after the moves: `Some(worker)` when
    /// all its runnable tasks are on that worker, `None` when they are on
    /// several; sorted by tenant. New tasks of a tenant that a worker does
    /// not hold go to its home, where its place in the round is (see
    /// `balance::Homes`).
    pub(crate) homes: Vec<(TenantId, Option<usize>)>,
}

/// The planner's inputs besides the views.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Weights<'a> {
    /// Each tenant's own weight, indexed by tenant id; ids past the end
    /// have the default weight.
    pub(crate) tenants: &'a [Weight],
    /// The policy's class weights, in `Class::priority` order.
    pub(crate) classes: [u32; Class::COUNT],
}

impl Weights<'_> {
    fn tenant(&self, tenant: u32) -> Weight {
        self.tenants
            .get(tenant as usize)
            .copied()
            .unwrap_or(Weight::DEFAULT)
    }
}

/// One (group, worker) pair with tasks.
#[derive(Clone, Copy, Debug)]
struct Entry {
    tenant: u32,
    class: u8,
    worker: u32,
    tasks: u32,
    /// Index into `Planner::groups`.
    group: u32,
}

/// One (tenant, class) over the whole pool.
#[derive(Clone, Copy, Debug)]
struct Group {
    tenant: u32,
    /// `Class::priority` of the class.
    class: u8,
    tasks: u32,
    /// Entitlement per task, in workers.
    load: f64,
    /// Its range in `Planner::entries` (sorted by worker).
    entries: (u32, u32),
}

/// One tenant over the whole pool.
#[derive(Clone, Copy, Debug)]
struct TenantSum {
    tenant: u32,
    tasks: u32,
    /// Its target share of the pool, in capacity.
    share: f64,
    /// Its range in `Planner::groups` (in class order).
    groups: (u32, u32),
}

/// The planner and its scratch space (kept between plans so that a plan
/// allocates little once the pool's shape is known).
#[derive(Default)]
pub(crate) struct Planner {
    /// The views, sorted by (tenant, class, worker); moves update the
    /// counts in place.
    entries: Vec<Entry>,
    /// The entries' task counts as the views gave them.
    original: Vec<u32>,
    /// (group, worker) pairs that moves created during this plan, in the
    /// (deterministic) order they were created, and where each is in
    /// `extra` (a hash map for lookups only: never iterated).
    extra: Vec<Entry>,
    extra_index: HashMap<(u32, u32), usize>,
    groups: Vec<Group>,
    tenants: Vec<TenantSum>,
    loads: Vec<f64>,
    /// Each worker's capacity, floored at `MIN_CAPACITY`.
    capacity: Vec<f64>,
    /// Scratch: one group's tasks per worker.
    dense: Vec<u32>,
    /// Scratch: (group, its tasks on the donor, on the receiver).
    candidates: Vec<(u32, u32, u32)>,
    fill_weights: Vec<f64>,
    fill_caps: Vec<f64>,
    fill_shares: Vec<f64>,
    fill_order: Vec<u32>,
    /// Scratch: (worker, tenant, entitlement held there).
    entitled: Vec<(u32, u32, f64)>,
    /// Scratch: (tenant, worker) pairs with tasks, for `homes`.
    homes: Vec<(u32, u32)>,
    /// The tenant whose task `rotate` last moved off a crowded worker.
    rotation: u32,
}

impl Planner {
    pub(crate) fn new() -> Planner {
        Planner::default()
    }

    /// Plans for the workers whose views are `views` (one per worker: what
    /// it holds; an idle worker's view is empty), into `plan` (its buffers
    /// are reused). With `moves` false the plan only reweights: the caller
    /// uses that while the moves of the previous plan may still be under
    /// way, so that it never plans twice from the same imbalance.
    pub(crate) fn plan(
        &mut self,
        views: &[WorkerView],
        weights: Weights<'_>,
        moves: bool,
        plan: &mut Plan,
    ) {
        let workers = views.len();
        self.capacity.clear();
        self.capacity
            .extend(views.iter().map(|v| v.capacity.clamp(MIN_CAPACITY, 1.0)));
        // Differences of a few percent are noise (the monitor's own slice
        // of a core, interrupts, a measurement window that caught one
        // preemption more): treated as equal, they move no task.
        let best = self.capacity.iter().copied().fold(MIN_CAPACITY, f64::max);
        for c in &mut self.capacity {
            if *c >= best * (1.0 - CAPACITY_NOISE) {
                *c = best;
            }
        }
        plan.moves.clear();
        plan.homes.clear();
        plan.overrides.resize_with(workers, Vec::new);
        plan.overrides.truncate(workers);
        for list in &mut plan.overrides {
            list.clear();
        }
        if workers < 2 {
            // One worker's DRR is the pool's: nothing to place or reweight.
            return;
        }
        self.collect(views);
        self.shares(workers, weights);
        self.loads.clear();
        self.loads.resize(workers, 0.0);
        for e in &self.entries {
            self.loads[e.worker as usize] +=
                self.groups[e.group as usize].load * f64::from(e.tasks);
        }
        if moves {
            let mut budget = MAX_MOVED_TASKS;
            self.spread(workers, &mut budget, plan);
            self.balance(workers, &mut budget, plan);
            self.rotate(&mut budget, plan);
            self.net_moves(plan);
        }
        self.overrides(weights, plan);
        self.homes(plan);
    }

    /// Flattens the views into entries sorted by (tenant, class, worker),
    /// merging duplicates, and builds the group and tenant sums.
    fn collect(&mut self, views: &[WorkerView]) {
        self.entries.clear();
        self.extra.clear();
        self.extra_index.clear();
        for (worker, view) in views.iter().enumerate() {
            for g in view.groups.iter().filter(|g| g.tasks > 0) {
                self.entries.push(Entry {
                    tenant: g.tenant.as_u32(),
                    class: g.class.priority() as u8,
                    worker: worker as u32,
                    tasks: g.tasks,
                    group: 0,
                });
            }
        }
        self.entries
            .sort_unstable_by_key(|e| (e.tenant, e.class, e.worker));
        self.entries.dedup_by(|later, earlier| {
            let same = (later.tenant, later.class, later.worker)
                == (earlier.tenant, earlier.class, earlier.worker);
            if same {
                earlier.tasks = earlier.tasks.saturating_add(later.tasks);
            }
            same
        });
        self.original.clear();
        self.original.extend(self.entries.iter().map(|e| e.tasks));
        self.groups.clear();
        self.tenants.clear();
        for (index, e) in self.entries.iter_mut().enumerate() {
            let index = index as u32;
            let new_group = self
                .groups
                .last()
                .is_none_or(|g| (g.tenant, g.class) != (e.tenant, e.class));
            if new_group {
                if self.tenants.last().is_none_or(|t| t.tenant != e.tenant) {
                    let first = self.groups.len() as u32;
                    self.tenants.push(TenantSum {
                        tenant: e.tenant,
                        tasks: 0,
                        share: 0.0,
                        groups: (first, first),
                    });
                }
                self.groups.push(Group {
                    tenant: e.tenant,
                    class: e.class,
                    tasks: 0,
                    load: 0.0,
                    entries: (index, index),
                });
                self.tenants.last_mut().expect("pushed above").groups.1 += 1;
            }
            let group = self.groups.len() - 1;
            e.group = group as u32;
            let g = &mut self.groups[group];
            g.tasks = g.tasks.saturating_add(e.tasks);
            g.entries.1 = index + 1;
            let t = self.tenants.last_mut().expect("pushed above");
            t.tasks = t.tasks.saturating_add(e.tasks);
        }
    }

    /// Target shares of tenants, then of their classes, then each group's
    /// entitlement per task.
    fn shares(&mut self, workers: usize, weights: Weights<'_>) {
        // In units of capacity: a task can use one worker's, the average.
        let capacity: f64 = self.capacity.iter().sum();
        let per_worker = capacity / workers as f64;
        let cap = |tasks: u32| f64::from(tasks).min(workers as f64) * per_worker;
        self.fill_weights.clear();
        self.fill_caps.clear();
        for t in &self.tenants {
            self.fill_weights
                .push(f64::from(weights.tenant(t.tenant).get()));
            self.fill_caps.push(cap(t.tasks));
        }
        self.fill_shares.clear();
        self.fill_shares.resize(self.tenants.len(), 0.0);
        water_fill(
            &self.fill_weights,
            &self.fill_caps,
            capacity,
            &mut self.fill_order,
            &mut self.fill_shares,
        );
        let mut class_weights = [0.0; Class::COUNT];
        let mut class_caps = [0.0; Class::COUNT];
        let mut class_shares = [0.0; Class::COUNT];
        for (t, &tenant_share) in self.tenants.iter_mut().zip(&self.fill_shares) {
            t.share = tenant_share;
            let groups = &mut self.groups[t.groups.0 as usize..t.groups.1 as usize];
            let n = groups.len();
            for (i, group) in groups.iter().enumerate() {
                class_weights[i] = f64::from(weights.classes[group.class as usize].max(1));
                class_caps[i] = cap(group.tasks);
            }
            water_fill(
                &class_weights[..n],
                &class_caps[..n],
                tenant_share,
                &mut self.fill_order,
                &mut class_shares[..n],
            );
            for (group, share) in groups.iter_mut().zip(class_shares) {
                group.load = share / f64::from(group.tasks.max(1));
            }
        }
    }

    /// Evens out every class of a tenant with several classes that is split
    /// more unevenly than [`SPREAD_TOLERANCE`] (to within one task between
    /// any two workers), most crowded worker first. The policy weighs a
    /// tenant's classes per worker, so a class crowded onto one worker gets
    /// its class share of that worker only (Write loops all born on one
    /// worker got half their share); when each class of the tenant is
    /// spread evenly, the class ratio on every worker is the pool's. A
    /// tenant with one class needs no spreading: its weight on each worker
    /// follows the tasks it has there.
    fn spread(&mut self, workers: usize, budget: &mut u32, plan: &mut Plan) {
        for group in 0..self.groups.len() as u32 {
            let g = self.groups[group as usize];
            if g.tasks < 2 || !self.multi_class(group) {
                continue;
            }
            self.dense.clear();
            self.dense.resize(workers, 0);
            for e in &self.entries[g.entries.0 as usize..g.entries.1 as usize] {
                self.dense[e.worker as usize] = e.tasks;
            }
            loop {
                let (hi, lo) = extremes_by(&self.dense, |&n| f64::from(n));
                let diff = self.dense[hi] - self.dense[lo];
                let m = (diff / 2).min(*budget);
                if diff <= SPREAD_TOLERANCE || m == 0 {
                    break;
                }
                self.dense[hi] -= m;
                self.dense[lo] += m;
                self.move_tasks(group, hi, lo, m, budget, plan);
            }
        }
    }

    /// The most and the least loaded worker, relative to capacity, and
    /// the gap between their relative loads.
    fn extremes(&self) -> (usize, usize, f64) {
        let relative = |k: usize| self.loads[k] / self.capacity[k];
        let (mut max, mut min) = (0, 0);
        for k in 1..self.loads.len() {
            if relative(k) > relative(max) {
                max = k;
            }
            if relative(k) < relative(min) {
                min = k;
            }
        }
        (max, min, relative(max) - relative(min))
    }

    /// The gap between the relative loads of `max` and `min` after
    /// `moved` load went from the one to the other.
    fn gap_after(&self, max: usize, min: usize, moved: f64) -> f64 {
        ((self.loads[max] - moved) / self.capacity[max]
            - (self.loads[min] + moved) / self.capacity[min])
            .abs()
    }

    /// Moves load from the most to the least loaded worker (relative to
    /// capacity) until their gap is small or cannot be shrunk.
    fn balance(&mut self, workers: usize, budget: &mut u32, plan: &mut Plan) {
        // Each round evens the extreme pair; a pool of W workers needs
        // about W rounds, and each round either moves or stops.
        for _ in 0..2 * workers {
            let (max, min, gap) = self.extremes();
            if gap <= MIN_GAP || *budget == 0 {
                break;
            }
            // The transfer that makes the two relative loads equal.
            let (c_max, c_min) = (self.capacity[max], self.capacity[min]);
            let want = (self.loads[max] * c_min - self.loads[min] * c_max) / (c_max + c_min);
            let chosen = self.choose(max, min, want, *budget);
            let moved: f64 = chosen
                .iter()
                .map(|&(group, m)| self.groups[group as usize].load * f64::from(m))
                .sum();
            if moved <= 0.0 || self.gap_after(max, min, moved) > gap - MIN_IMPROVEMENT {
                // Nothing to gain between the extremes: stop.
                break;
            }
            for (group, m) in chosen {
                self.move_tasks(group, max, min, m, budget, plan);
            }
        }
    }

    /// When the loads cannot be evened (three equal single-task tenants on
    /// two workers: two share one worker, one has the other), swaps two
    /// tasks of equal entitlement between the most and the least loaded
    /// worker, so that over successive plans every tenant takes its turn on
    /// the crowded worker and gets its share on average. The task leaving
    /// the crowded worker is the next one after the last one rotated out,
    /// in tenant order (the planner's only state besides scratch), so they
    /// take turns.
    fn rotate(&mut self, budget: &mut u32, plan: &mut Plan) {
        let (max, min, gap) = self.extremes();
        if gap <= MIN_GAP || *budget < 2 {
            return;
        }
        // The first group with tasks on `worker` whose tenant comes after
        // `after` in cyclic order and whose entitlement per task is `load`
        // (any entitlement when `load` is None).
        let next_on = |worker: usize, after: u32, load: Option<f64>| -> Option<u32> {
            let matches = |e: &&Entry| {
                e.worker as usize == worker
                    && e.tasks > 0
                    && load.is_none_or(|l| {
                        let mine = self.groups[e.group as usize].load;
                        (mine - l).abs() <= SAME_LOAD * l.max(mine)
                    })
            };
            let here = self.entries.iter().chain(&self.extra).filter(matches);
            // Smallest tenant after `after`, else the smallest overall.
            let key = |e: &Entry| (e.tenant <= after, e.tenant, e.class);
            here.min_by_key(|e| key(e)).map(|e| e.group)
        };
        let Some(out) = next_on(max, self.rotation, None) else {
            return;
        };
        let load = self.groups[out as usize].load;
        if self.gap_after(max, min, load) < gap - MIN_IMPROVEMENT {
            // Moving the task alone would shrink the gap; the balancing
            // left it for a reason (a class kept spread): no rotation.
            return;
        }
        let Some(back) = next_on(min, self.rotation, Some(load)) else {
            return;
        };
        if load <= 0.0 || out == back {
            return;
        }
        self.rotation = self.groups[out as usize].tenant;
        self.move_tasks(out, max, min, 1, budget, plan);
        self.move_tasks(back, min, max, 1, budget, plan);
    }

    /// Chooses tasks on worker `from` to hand to worker `to`, about `want`
    /// of load: first from the groups most unevenly split between the two
    /// (each only down to an even split), then from any (a class of a
    /// tenant with several classes only as long as it stays within
    /// [`SPREAD_TOLERANCE`] of an even split). Returns (group, tasks)
    /// pairs.
    fn choose(&mut self, from: usize, to: usize, want: f64, budget: u32) -> Vec<(u32, u32)> {
        self.candidates.clear();
        let here = self.entries.iter().chain(&self.extra);
        for e in here.filter(|e| e.worker as usize == from && e.tasks > 0) {
            let there = self.count(e.group, to);
            self.candidates.push((e.group, e.tasks, there));
        }
        // The most unevenly split first; ties in (tenant, class) order.
        self.candidates
            .sort_unstable_by_key(|&(group, here, there)| {
                (std::cmp::Reverse(i64::from(here) - i64::from(there)), group)
            });
        let mut chosen: Vec<(u32, u32)> = Vec::new();
        let mut moved = 0.0;
        let mut left = budget;
        let multi_class: Vec<bool> = self
            .candidates
            .iter()
            .map(|&(group, _, _)| self.multi_class(group))
            .collect();
        for pass in 0..2 {
            for (c_index, c) in self.candidates.iter_mut().enumerate() {
                let (group, here, there) = *c;
                let load = self.groups[group as usize].load;
                if load <= 0.0 {
                    continue;
                }
                // Moving m makes the split (here - m, there + m): on the
                // first pass no further than even, on the second no
                // further than the tolerance the other way if the class
                // must stay spread, as far as it takes otherwise.
                let limit = match pass {
                    0 => 0,
                    _ if multi_class[c_index] => i64::from(SPREAD_TOLERANCE),
                    _ => i64::from(here) + i64::from(there),
                };
                let cap =
                    ((limit + i64::from(here) - i64::from(there)) / 2).clamp(0, i64::from(here));
                let m = closest_count(want - moved, load).min(cap as u32).min(left);
                if m == 0 {
                    continue;
                }
                *c = (group, here - m, there + m);
                left -= m;
                moved += load * f64::from(m);
                match chosen.iter_mut().find(|(g, _)| *g == group) {
                    Some(entry) => entry.1 += m,
                    None => chosen.push((group, m)),
                }
            }
        }
        chosen
    }

    /// Rewrites the planned moves as net transfers: a task may have been
    /// planned from A to B and later from B to C, but the workers carry out
    /// a plan at once, each giving only what it holds. Per group, workers
    /// that end with fewer tasks than they hold give to those that end
    /// with more, in worker order. The result is one move per (from, to,
    /// tenant, class), sorted so.
    fn net_moves(&mut self, plan: &mut Plan) {
        let mut touched: Vec<u32> = plan
            .moves
            .iter()
            .map(|m| self.group_of(m.tenant, m.class))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        plan.moves.clear();
        let mut givers: Vec<(usize, u32)> = Vec::new();
        let mut takers: Vec<(usize, u32)> = Vec::new();
        for group in touched {
            givers.clear();
            takers.clear();
            let (start, end) = self.groups[group as usize].entries;
            let placed = self.entries[start as usize..end as usize]
                .iter()
                .zip(&self.original[start as usize..end as usize])
                .map(|(e, &before)| (e.worker as usize, before, e.tasks));
            let added = self
                .extra
                .iter()
                .filter(|e| e.group == group)
                .map(|e| (e.worker as usize, 0, e.tasks));
            for (worker, before, now) in placed.chain(added) {
                if now < before {
                    givers.push((worker, before - now));
                } else if now > before {
                    takers.push((worker, now - before));
                }
            }
            givers.sort_unstable();
            takers.sort_unstable();
            let g = self.groups[group as usize];
            let (mut i, mut j) = (0, 0);
            while i < givers.len() && j < takers.len() {
                let m = givers[i].1.min(takers[j].1);
                plan.moves.push(Move {
                    from: givers[i].0,
                    to: takers[j].0,
                    tenant: TenantId::new(g.tenant),
                    class: Class::ALL[g.class as usize],
                    tasks: m,
                });
                givers[i].1 -= m;
                takers[j].1 -= m;
                if givers[i].1 == 0 {
                    i += 1;
                }
                if takers[j].1 == 0 {
                    j += 1;
                }
            }
        }
        plan.moves
            .sort_unstable_by_key(|m| (m.from, m.to, m.tenant.as_u32(), m.class.priority()));
    }

    /// The group of (tenant, class); it exists (a move named it).
    fn group_of(&self, tenant: TenantId, class: Class) -> u32 {
        let key = (tenant.as_u32(), class.priority() as u8);
        let i = self.groups.partition_point(|g| (g.tenant, g.class) < key);
        debug_assert_eq!((self.groups[i].tenant, self.groups[i].class), key);
        i as u32
    }

    /// Each tenant's home: the one worker that holds all its runnable tasks
    /// after the moves, if there is one and the tenant's share fits in it
    /// (a tenant entitled to more than one worker must not have its new
    /// tasks drawn to one). Reads `entitled`, whose rows are one per
    /// (worker, tenant) with tasks.
    fn homes(&mut self, plan: &mut Plan) {
        self.homes.clear();
        self.homes.extend(
            self.entitled
                .iter()
                .map(|&(worker, tenant, _)| (tenant, worker)),
        );
        self.homes.sort_unstable();
        let mut sums = self.tenants.iter();
        for same in self.homes.chunk_by(|a, b| a.0 == b.0) {
            let tenant = same[0].0;
            let share = sums
                .find(|t| t.tenant == tenant)
                .map_or(f64::INFINITY, |t| t.share);
            let home = match same {
                [(_, worker)] if share <= self.capacity[*worker as usize] + 1e-9 => {
                    Some(*worker as usize)
                }
                _ => None,
            };
            plan.homes.push((TenantId::new(tenant), home));
        }
    }

    /// Whether `group`'s tenant has other classes runnable too.
    fn multi_class(&self, group: u32) -> bool {
        let tenant = self.groups[group as usize].tenant;
        let neighbour = |g: Option<&Group>| g.is_some_and(|g| g.tenant == tenant);
        let i = group as usize;
        neighbour(i.checked_sub(1).and_then(|j| self.groups.get(j)))
            || neighbour(self.groups.get(i + 1))
    }

    /// Records a move of `m` tasks of `group` and updates counts and loads.
    fn move_tasks(
        &mut self,
        group: u32,
        from: usize,
        to: usize,
        m: u32,
        budget: &mut u32,
        plan: &mut Plan,
    ) {
        self.add(group, from, -i64::from(m));
        self.add(group, to, i64::from(m));
        let load = self.groups[group as usize].load * f64::from(m);
        self.loads[from] -= load;
        self.loads[to] += load;
        *budget -= m;
        let g = self.groups[group as usize];
        let m = Move {
            from,
            to,
            tenant: TenantId::new(g.tenant),
            class: Class::ALL[g.class as usize],
            tasks: m,
        };
        plan.moves.push(m);
    }

    /// The tasks of `group` on `worker`, as planned so far.
    fn count(&self, group: u32, worker: usize) -> u32 {
        match self.find(group, worker) {
            Some(Ok(i)) => self.entries[i].tasks,
            Some(Err(i)) => self.extra[i].tasks,
            None => 0,
        }
    }

    /// Where the (group, worker) pair is: `Ok` in `entries`, `Err` in
    /// `extra`.
    fn find(&self, group: u32, worker: usize) -> Option<Result<usize, usize>> {
        let (start, end) = self.groups[group as usize].entries;
        let range = &self.entries[start as usize..end as usize];
        match range.binary_search_by_key(&(worker as u32), |e| e.worker) {
            Ok(i) => Some(Ok(start as usize + i)),
            Err(_) => self
                .extra_index
                .get(&(group, worker as u32))
                .map(|&i| Err(i)),
        }
    }

    /// Adds `delta` tasks of `group` on `worker`.
    fn add(&mut self, group: u32, worker: usize, delta: i64) {
        let entry = match self.find(group, worker) {
            Some(Ok(i)) => &mut self.entries[i],
            Some(Err(i)) => &mut self.extra[i],
            None => {
                let g = self.groups[group as usize];
                self.extra_index
                    .insert((group, worker as u32), self.extra.len());
                self.extra.push(Entry {
                    tenant: g.tenant,
                    class: g.class,
                    worker: worker as u32,
                    tasks: 0,
                    group,
                });
                self.extra.last_mut().expect("pushed above")
            }
        };
        let tasks = i64::from(entry.tasks) + delta;
        debug_assert!(tasks >= 0, "a move takes only tasks that are there");
        entry.tasks = tasks.max(0) as u32;
    }

    /// Per-worker weights: each tenant weighted by the entitlements of the
    /// tasks it holds there, scaled to the worker's tenants' own average.
    fn overrides(&mut self, weights: Weights<'_>, plan: &mut Plan) {
        self.entitled.clear();
        for e in self.entries.iter().chain(&self.extra) {
            if e.tasks > 0 {
                let amount = self.groups[e.group as usize].load * f64::from(e.tasks);
                self.entitled.push((e.worker, e.tenant, amount));
            }
        }
        self.entitled
            .sort_unstable_by_key(|&(worker, tenant, _)| (worker, tenant));
        // Merge a tenant's classes: one (worker, tenant) row each.
        self.entitled.dedup_by(|later, earlier| {
            let same = (later.0, later.1) == (earlier.0, earlier.1);
            if same {
                earlier.2 += later.2;
            }
            same
        });
        for rows in self.entitled.chunk_by(|a, b| a.0 == b.0) {
            let worker = rows[0].0 as usize;
            let entitled_sum: f64 = rows.iter().map(|r| r.2).sum();
            if rows.len() < 2 || entitled_sum <= 0.0 {
                // Alone on the worker: weights do not matter.
                continue;
            }
            let own_sum: f64 = rows
                .iter()
                .map(|r| f64::from(weights.tenant(r.1).get()))
                .sum();
            let scale = own_sum / entitled_sum;
            for &(_, tenant, entitled) in rows {
                let own = weights.tenant(tenant);
                let w = (entitled * scale)
                    .round()
                    .clamp(f64::from(Weight::MIN.get()), f64::from(Weight::MAX.get()));
                let w = Weight::new(w as u32).unwrap_or(own);
                if w != own {
                    plan.overrides[worker].push((TenantId::new(tenant), w));
                }
            }
        }
    }
}

/// The indices of the largest and the smallest value (lowest index on
/// ties).
fn extremes_by<T>(values: &[T], key: impl Fn(&T) -> f64) -> (usize, usize) {
    let (mut max, mut min) = (0, 0);
    for (k, v) in values.iter().enumerate() {
        if key(v) > key(&values[max]) {
            max = k;
        }
        if key(v) < key(&values[min]) {
            min = k;
        }
    }
    (max, min)
}

/// How many tasks of entitlement `load` bring a transfer closest to
/// `want`; on a tie, fewer (no move for nothing).
fn closest_count(want: f64, load: f64) -> u32 {
    let x = want / load;
    if x <= 0.5 + 1e-9 {
        0
    } else {
        ((x - 0.5 - 1e-9).ceil() as u32).max(1)
    }
}

/// Water-filling: splits `capacity` among claimants in proportion to
/// `weights`, none above its cap, the excess re-divided among the others;
/// writes `shares` (as long as `weights`). O(n log n): claimants are
/// visited by cap per weight, and those that reach their cap drop out.
pub(crate) fn water_fill(
    weights: &[f64],
    caps: &[f64],
    capacity: f64,
    order: &mut Vec<u32>,
    shares: &mut [f64],
) {
    debug_assert!(weights.len() == caps.len() && caps.len() == shares.len());
    order.clear();
    order.extend(0..weights.len() as u32);
    order.sort_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        (caps[a] / weights[a])
            .total_cmp(&(caps[b] / weights[b]))
            .then(a.cmp(&b))
    });
    let mut left = capacity;
    let mut weight_left: f64 = weights.iter().sum();
    let mut capped = 0;
    for &i in order.iter() {
        let i = i as usize;
        if weight_left <= 0.0 || weights[i] * left / weight_left < caps[i] {
            break;
        }
        shares[i] = caps[i];
        left -= caps[i];
        weight_left -= weights[i];
        capped += 1;
    }
    for &i in &order[capped..] {
        let i = i as usize;
        shares[i] = if weight_left > 0.0 {
            weights[i] * left / weight_left
        } else {
            0.0
        };
    }
}

#[cfg(test)]
mod tests;
