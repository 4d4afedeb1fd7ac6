//! The balancer: per-worker weights that make per-worker fair queuing add
//! up to fairness across the whole pool.
//!
//! Each worker runs its own DRR over the tasks it holds, so a tenant gets
//! its weighted share *of each worker it is on*. When every busy tenant is
//! on every worker that is exactly its share of the pool. When it is not (a
//! tenant with one task in flight is on one worker at a time; the others
//! are spread everywhere), the lonely tenant's share of its one worker is
//! diluted by every other tenant there, while on the other workers it
//! counts for nothing: with 8 equal tenants on 2 workers, a one-task tenant
//! would get 1/16 of the pool instead of 1/8.
//!
//! So, every couple of milliseconds (on the monitor thread, never on a
//! worker), the balancer reads which tenants each worker holds and how many
//! tasks of each (published by the workers), and computes for every
//! (tenant, worker) pair the weight that tenant should have on that worker:
//!
//! 1. **Target shares.** Each tenant's share of the pool, in workers, by
//!    water-filling: proportional to its weight, but never more than the
//!    number of workers it is on (it cannot use more), with the rest
//!    re-divided among the others. The shares sum to the worker count (or
//!    less, when there is not enough work to fill the pool).
//! 2. **Placement.** A tenant on one worker must get its whole share there;
//!    that leaves each worker some remaining capacity, and a tenant on
//!    several workers takes its share from them in proportion to what they
//!    have left.
//! 3. **Weights.** On each worker, the weights are the allocations scaled
//!    to average 100 (the default weight, so DRR's per-turn credit stays
//!    near one quantum), clamped to the `Weight` range.
//!
//! With 8 equal tenants of parallelism 1..128 on 2 workers, the one-task
//! tenant gets weight 2.33x the others on its worker, which gives every
//! tenant exactly 1/8 of the pool. When every tenant is on every worker the
//! weights are the tenants' own weights, so the balancer changes nothing.
//! The workers apply changed weights at their next tick; the policy's own
//! fairness bounds then hold per worker, with these weights.
//!
//! The balancer also evens out queue lengths between busy workers: when one
//! worker holds more than twice the tasks of the least loaded one (plus
//! two), it marks the least loaded "hungry", and a busy worker sheds half the
//! difference to it at its next tick. Idle workers need no such help: they
//! announce themselves.

use std::collections::HashMap;

use drama_policy::{TenantId, Weight};

use crate::pool::Shared;
use crate::sync::{Ordering, lock};

/// What the balancer keeps between runs.
pub(crate) struct Balancer {
    /// The overrides last sent to each worker, to skip sending unchanged
    /// ones.
    sent: Vec<Vec<(TenantId, Weight)>>,
    /// Scratch: per tenant, the workers it is on.
    on: HashMap<TenantId, Vec<usize>>,
    /// Scratch: (tenant, worker, tasks there), as published.
    counts: Vec<(TenantId, usize, u32)>,
}

impl Balancer {
    pub(crate) fn new(workers: usize) -> Balancer {
        Balancer {
            sent: vec![Vec::new(); workers],
            on: HashMap::new(),
            counts: Vec::new(),
        }
    }

    /// One balancing round.
    pub(crate) fn run(&mut self, shared: &Shared) {
        let workers = shared.slots.len();
        if workers < 2 {
            return;
        }
        self.mark_hungry(shared);
        self.on.clear();
        self.counts.clear();
        for (index, slot) in shared.slots.iter().enumerate() {
            for &(tenant, count) in lock(&slot.presence).iter() {
                self.on.entry(tenant).or_default().push(index);
                self.counts.push((tenant, index, count));
            }
        }
        let weights = lock(&shared.weights).clone();
        let weight_of = |tenant: TenantId| {
            weights
                .iter()
                .find(|&&(t, _)| t == tenant)
                .map_or(Weight::DEFAULT, |&(_, w)| w)
                .get()
        };
        let tenants: Vec<(TenantId, u32, usize)> = self
            .on
            .iter()
            .map(|(&tenant, on)| (tenant, weight_of(tenant), on.len()))
            .collect();
        let shares = water_fill(&tenants, workers as f64);
        self.spread(shared, &tenants, &shares);

        // Allocation of each tenant's share over its workers.
        let mut remaining = vec![1.0f64; workers];
        for (&(tenant, _, _), &share) in tenants.iter().zip(&shares) {
            if let [only] = self.on[&tenant][..] {
                remaining[only] -= share;
            }
        }
        let mut allocation: Vec<Vec<(TenantId, f64)>> = vec![Vec::new(); workers];
        for (&(tenant, _, _), &share) in tenants.iter().zip(&shares) {
            let on = &self.on[&tenant];
            if let [only] = on[..] {
                allocation[only].push((tenant, share));
                continue;
            }
            // A little capacity everywhere, so that a worker that lonely
            // tenants overfill still gives the spread tenants a share.
            let room: Vec<f64> = on.iter().map(|&k| remaining[k].max(0.05)).collect();
            let total: f64 = room.iter().sum();
            for (&k, r) in on.iter().zip(room) {
                allocation[k].push((tenant, share * r / total));
            }
        }

        // Weights averaging 100 on each worker.
        for (index, mut alloc) in allocation.into_iter().enumerate() {
            let sum: f64 = alloc.iter().map(|&(_, a)| a).sum();
            let mut overrides: Vec<(TenantId, Weight)> = if alloc.len() < 2 || sum <= 0.0 {
                // One tenant (or none) here: weights do not matter.
                Vec::new()
            } else {
                let scale = 100.0 * alloc.len() as f64 / sum;
                alloc
                    .drain(..)
                    .map(|(tenant, a)| {
                        let w = (a * scale).round().clamp(1.0, Weight::MAX.get() as f64);
                        (tenant, Weight::new(w as u32).unwrap_or(Weight::DEFAULT))
                    })
                    .collect()
            };
            overrides.sort_unstable_by_key(|&(t, _)| t.as_u32());
            if overrides != self.sent[index] {
                let slot = &shared.slots[index];
                *lock(&slot.overrides) = overrides.clone();
                slot.overrides_version.fetch_add(1, Ordering::Release);
                self.sent[index] = overrides;
            }
        }
    }
}

impl Balancer {
    /// Reweighting cannot give a tenant more than the workers it is on: a
    /// tenant whose fair share is larger (say weight 8 of 15 on 2 workers,
    /// 1.07 workers' worth) but whose tasks all sit on one worker would be
    /// held to that worker. When such a tenant has more tasks than workers
    /// it is on, the worker holding most of them is asked to hand half of
    /// them, as they yield, to the least loaded worker the tenant is not on.
    /// One request per worker at a time.
    fn spread(&self, shared: &Shared, tenants: &[(TenantId, u32, usize)], shares: &[f64]) {
        for (&(tenant, _, n_on), &share) in tenants.iter().zip(shares) {
            let workers = shared.slots.len();
            if n_on >= workers || share < n_on as f64 - 1e-6 {
                continue;
            }
            let mine = || self.counts.iter().filter(move |c| c.0 == tenant);
            let total: u32 = mine().map(|c| c.2).sum();
            if total as usize <= n_on {
                continue;
            }
            let Some(&(_, from, there)) = mine().max_by_key(|c| c.2) else {
                continue;
            };
            let on = &self.on[&tenant];
            let to = (0..workers)
                .filter(|k| !on.contains(k))
                .min_by_key(|&k| shared.slots[k].load.load(Ordering::Relaxed));
            let (Some(to), true) = (to, there >= 2) else {
                continue;
            };
            let slot = &shared.slots[from];
            if slot.export_pending.load(Ordering::Acquire) {
                continue;
            }
            *lock(&slot.export) = Some((tenant, there / 2, to));
            slot.export_pending.store(true, Ordering::Release);
        }
    }

    /// Marks the least loaded worker hungry when another holds more than
    /// twice its queue (plus two): the busy workers then shed to it at
    /// their next tick. Idle workers ask for work themselves; this catches
    /// the imbalance between busy ones (a worker running one long-lived
    /// task next to one holding hundreds), which idleness never reveals.
    fn mark_hungry(&self, shared: &Shared) {
        let loads: Vec<usize> = shared
            .slots
            .iter()
            .map(|slot| slot.load.load(Ordering::Relaxed))
            .collect();
        let (min_index, &min) = loads
            .iter()
            .enumerate()
            .min_by_key(|&(_, l)| *l)
            .expect("at least two workers");
        let max = loads.iter().copied().max().unwrap_or(0);
        let mask = if max >= 2 * min + 2 {
            1u64 << min_index
        } else {
            0
        };
        shared.hungry.store(mask, Ordering::Relaxed);
    }
}

/// Water-filling: each tenant's share of `capacity`, proportional to its
/// weight, capped at the number of workers it is on, the excess re-divided.
/// `tenants` holds (tenant, weight, workers on).
fn water_fill(tenants: &[(TenantId, u32, usize)], capacity: f64) -> Vec<f64> {
    let mut shares = vec![0.0; tenants.len()];
    let mut capped = vec![false; tenants.len()];
    let mut left = capacity;
    // Each round caps at least one tenant or finishes: at most n rounds.
    for _ in 0..=tenants.len() {
        let weight_sum: f64 = tenants
            .iter()
            .zip(&capped)
            .filter(|(_, c)| !**c)
            .map(|(t, _)| t.1 as f64)
            .sum();
        if weight_sum <= 0.0 {
            break;
        }
        let per_weight = left / weight_sum;
        let mut newly_capped = false;
        for (i, &(_, weight, on)) in tenants.iter().enumerate() {
            if !capped[i] && weight as f64 * per_weight > on as f64 {
                capped[i] = true;
                shares[i] = on as f64;
                left -= on as f64;
                newly_capped = true;
            }
        }
        if !newly_capped {
            for (i, &(_, weight, _)) in tenants.iter().enumerate() {
                if !capped[i] {
                    shares[i] = weight as f64 * per_weight;
                }
            }
            break;
        }
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u32) -> TenantId {
        TenantId::new(n)
    }

    #[test]
    fn water_fill_caps_and_redistributes() {
        // Two workers; a tenant on one worker with weight 4 would deserve
        // 1.6 workers but can use only 1.
        let shares = water_fill(&[(t(1), 400, 1), (t(2), 100, 2)], 2.0);
        assert!((shares[0] - 1.0).abs() < 1e-9);
        assert!((shares[1] - 1.0).abs() < 1e-9);
        // Equal tenants: equal shares summing to the capacity.
        let shares = water_fill(&[(t(1), 100, 1), (t(2), 100, 2), (t(3), 100, 2)], 2.0);
        for s in &shares {
            assert!((s - 2.0 / 3.0).abs() < 1e-9);
        }
        // Weighted 1:2:4:8 spread everywhere: proportional.
        let shares = water_fill(
            &[
                (t(1), 100, 2),
                (t(2), 200, 2),
                (t(3), 400, 2),
                (t(4), 800, 2),
            ],
            2.0,
        );
        for (s, w) in shares.iter().zip([1.0, 2.0, 4.0, 8.0]) {
            assert!((s - 2.0 * w / 15.0).abs() < 1e-9);
        }
    }
}
