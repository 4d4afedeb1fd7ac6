//! A first-in first-out [`Policy`] for drama: one queue, no tenants, no
//! classes, no weights.
//!
//! It exists for two reasons. It is the baseline the simulator sets beside
//! [`Drr`](drama_policy::Drr) (what a plain runtime queue does under the
//! same load), and it is the template for writing a policy in your own
//! crate: it uses nothing but `drama-policy`'s public API, so anything it
//! does a user's crate can do.
//!
//! ```
//! use drama_policy::{Class, Policy, TenantId};
//! use drama_policy_fifo::Fifo;
//!
//! let mut fifo = Fifo::new(1024, 256);
//! let (a, b) = (TenantId::new(1), TenantId::new(2));
//! fifo.enqueue("a1", a, Class::Read, 0).unwrap();
//! fifo.enqueue("b1", b, Class::Write, 1).unwrap();
//! fifo.enqueue("a2", a, Class::Read, 2).unwrap();
//!
//! let mut order = Vec::new();
//! while let Some(p) = fifo.pick(3) {
//!     order.push(p.item);
//!     fifo.charge(p.tenant, p.class, 1_000);
//! }
//! assert_eq!(order, ["a1", "b1", "a2"]);
//! ```
#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};

use drama_policy::{Class, Limit, Overflow, Picked, Policy, TenantId, Weight};

/// First in, first out, across every tenant and class.
///
/// Bounded like any drama policy: at most `max_len` queued items in all and
/// `max_tenant_len` per tenant; a refused item comes back in an
/// [`Overflow`]. Weights are accepted and ignored (FIFO has no notion of
/// share), and charges are ignored. It keeps the default
/// [`Policy::withdraw`] (always `None`): finding one tenant's item in a
/// single arrival-ordered queue is a linear search, not the O(1) the
/// balancer's path needs.
pub struct Fifo<T> {
    /// Arrival order. Bound: `max_len`.
    queue: VecDeque<Picked<T>>,
    /// Queued items per tenant, for the per-tenant bound and `tenant_len`.
    /// Entries are removed at zero, so its size is bounded by `max_len`.
    per_tenant: HashMap<TenantId, usize>,
    max_len: usize,
    max_tenant_len: usize,
}

impl<T> Fifo<T> {
    /// A FIFO holding at most `max_len` items, `max_tenant_len` per tenant.
    /// A bound of 0 refuses everything (with [`Limit::Total`] or
    /// [`Limit::Tenant`]), which is legal if useless.
    pub fn new(max_len: usize, max_tenant_len: usize) -> Fifo<T> {
        Fifo {
            queue: VecDeque::new(),
            per_tenant: HashMap::new(),
            max_len,
            max_tenant_len,
        }
    }
}

impl<T> Policy<T> for Fifo<T> {
    fn enqueue(
        &mut self,
        item: T,
        tenant: TenantId,
        class: Class,
        now_ns: u64,
    ) -> Result<(), Overflow<T>> {
        if self.queue.len() >= self.max_len {
            return Err(Overflow::new(item, Limit::Total));
        }
        let n = self.per_tenant.entry(tenant).or_insert(0);
        if *n >= self.max_tenant_len {
            if *n == 0 {
                self.per_tenant.remove(&tenant);
            }
            return Err(Overflow::new(item, Limit::Tenant));
        }
        *n += 1;
        self.queue.push_back(Picked {
            item,
            tenant,
            class,
            enqueued_at_ns: now_ns,
        });
        Ok(())
    }

    fn pick(&mut self, _now_ns: u64) -> Option<Picked<T>> {
        let picked = self.queue.pop_front()?;
        if let Some(n) = self.per_tenant.get_mut(&picked.tenant) {
            *n -= 1;
            if *n == 0 {
                self.per_tenant.remove(&picked.tenant);
            }
        }
        Some(picked)
    }

    fn charge(&mut self, _tenant: TenantId, _class: Class, _cost_ns: u64) {}

    fn set_weight(&mut self, _tenant: TenantId, _weight: Weight) -> Result<(), Overflow<Weight>> {
        Ok(())
    }

    fn len(&self) -> usize {
        self.queue.len()
    }

    fn tenant_len(&self, tenant: TenantId) -> usize {
        self.per_tenant.get(&tenant).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hand_the_item_back() {
        let mut fifo = Fifo::new(3, 2);
        let t = TenantId::new(1);
        fifo.enqueue(1, t, Class::Compute, 0).unwrap();
        fifo.enqueue(2, t, Class::Compute, 0).unwrap();
        let refused = fifo.enqueue(3, t, Class::Compute, 0).unwrap_err();
        assert_eq!(refused.limit(), Limit::Tenant);
        assert_eq!(refused.into_inner(), 3);

        let u = TenantId::new(2);
        fifo.enqueue(4, u, Class::Compute, 0).unwrap();
        let refused = fifo.enqueue(5, u, Class::Compute, 0).unwrap_err();
        assert_eq!(refused.limit(), Limit::Total);
        assert_eq!(refused.into_inner(), 5);
        assert_eq!(
            (fifo.len(), fifo.tenant_len(t), fifo.tenant_len(u)),
            (3, 2, 1)
        );

        let order: Vec<i32> = std::iter::from_fn(|| fifo.pick(0).map(|p| p.item)).collect();
        assert_eq!(order, [1, 2, 4]);
        assert!(fifo.is_empty());
        assert_eq!(fifo.tenant_len(t), 0);
    }
}
