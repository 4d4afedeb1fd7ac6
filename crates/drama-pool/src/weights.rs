//! The tenants' own weights, as `set_weight` left them, and how a change
//! reaches the workers and the balancer.
//!
//! Every change gets a version (the count of changes so far). A reader
//! (each worker, the balancer) remembers the version it applied last and
//! asks for what changed since: the tenants changed since then, each once,
//! with its current weight. The table keeps its tenants ordered by the
//! version of their last change, so that answer costs a logarithm and one
//! step per changed tenant, however many tenants there are and however far
//! behind the reader is: a worker that slept through 65,536 changes of one
//! tenant applies one, and a change of one tenant among 65,536 costs every
//! worker one `Policy::set_weight`, not 65,536.

use std::collections::BTreeMap;

use drama_policy::{TenantId, Weight};

use crate::pool::Shared;
use crate::sync::{Ordering, lock};
use crate::tenants::TenantError;

/// The tenants' own weights. Bounded by `max_tenants`: `set_weight`
/// refuses ids beyond it, and each tenant has one entry in each map.
pub(crate) struct WeightTable {
    /// Each tenant's own weight and the version of its last change (0:
    /// never set), by id: the balancer and `get` look one up in O(1).
    by_id: Vec<(Weight, u64)>,
    /// The tenants ever set, by the version of their last change.
    by_version: BTreeMap<u64, TenantId>,
    /// The number of changes so far.
    version: u64,
}

impl WeightTable {
    pub(crate) fn new() -> WeightTable {
        WeightTable {
            by_id: Vec::new(),
            by_version: BTreeMap::new(),
            version: 0,
        }
    }

    /// Sets `tenant`'s weight; the caller has checked the id against
    /// `max_tenants`.
    pub(crate) fn set(&mut self, tenant: TenantId, weight: Weight) {
        let id = tenant.as_u32() as usize;
        if id >= self.by_id.len() {
            self.by_id.resize(id + 1, (Weight::DEFAULT, 0));
        }
        let last = self.by_id[id].1;
        if last != 0 {
            let removed = self.by_version.remove(&last);
            debug_assert_eq!(removed, Some(tenant), "by_version and by_id disagree");
        }
        self.version += 1;
        self.by_id[id] = (weight, self.version);
        self.by_version.insert(self.version, tenant);
        debug_assert!(self.by_version.len() <= self.by_id.len());
    }

    /// The number of changes so far.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// `tenant`'s own weight (the default unless set).
    pub(crate) fn get(&self, tenant: TenantId) -> Weight {
        self.by_id
            .get(tenant.as_u32() as usize)
            .map_or(Weight::DEFAULT, |&(weight, _)| weight)
    }

    /// The tenants whose weight changed after version `seen`, each once,
    /// in the order of their last change, with their current weight.
    pub(crate) fn changed_since(&self, seen: u64) -> impl Iterator<Item = (TenantId, Weight)> + '_ {
        self.by_version
            .range(seen.saturating_add(1)..)
            .map(|(_, &tenant)| (tenant, self.get(tenant)))
    }
}

impl Shared {
    /// Sets `tenant`'s own weight; every worker applies the change at its
    /// next tick.
    pub(crate) fn set_weight(&self, tenant: TenantId, weight: Weight) -> Result<(), TenantError> {
        if tenant.as_u32() >= self.config.max_tenants {
            return Err(TenantError::id_out_of_range(
                tenant,
                self.config.max_tenants,
            ));
        }
        let mut weights = lock(&self.weights);
        weights.set(tenant, weight);
        // Under the lock, so the version only grows.
        self.weights_version
            .store(weights.version(), Ordering::Release);
        drop(weights);
        self.gate.set_weight(tenant, weight);
        for slot in self.slots.iter() {
            slot.parking.notify();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight(shares: u32) -> Weight {
        Weight::new(shares).unwrap()
    }

    fn changed(table: &WeightTable, seen: u64) -> Vec<(u32, u32)> {
        table
            .changed_since(seen)
            .map(|(t, w)| (t.as_u32(), w.get()))
            .collect()
    }

    #[test]
    fn a_reader_gets_each_changed_tenant_once_with_its_weight_now() {
        let mut table = WeightTable::new();
        assert_eq!(changed(&table, 0), []);
        table.set(TenantId::new(3), weight(300));
        table.set(TenantId::new(5), weight(500));
        table.set(TenantId::new(3), weight(301));
        assert_eq!(table.version(), 3);
        assert_eq!(changed(&table, 3), []);
        assert_eq!(changed(&table, 2), [(3, 301)]);
        assert_eq!(changed(&table, 1), [(5, 500), (3, 301)]);
        assert_eq!(changed(&table, 0), [(5, 500), (3, 301)]);
        assert_eq!(table.get(TenantId::new(3)).get(), 301);
        assert_eq!(table.get(TenantId::new(4)), Weight::DEFAULT);
    }

    #[test]
    fn a_reader_far_behind_gets_only_the_tenants_that_changed() {
        // 65,536 tenants set once, then one tenant changed 100,000 times: a
        // reader that saw the first pass gets one change, however far
        // behind; one that saw nothing gets every tenant once.
        let mut table = WeightTable::new();
        let n = 1u32 << 16;
        for id in 0..n {
            table.set(TenantId::new(id), weight(1 + id % 100));
        }
        let seen = table.version();
        for i in 0..100_000u32 {
            table.set(TenantId::new(7), weight(1 + i % 10_000));
        }
        assert_eq!(changed(&table, seen), [(7, 1 + 99_999 % 10_000)]);
        let all = changed(&table, 0);
        assert_eq!(all.len(), n as usize);
        let mut ids: Vec<u32> = all.iter().map(|&(t, _)| t).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n as usize);
    }
}
