//! The `Policy` trait: the contract between a scheduler that runs work and
//! the engine that decides which piece of work runs next.

use core::fmt;

use crate::{Class, TenantId, Weight};

/// A fair-queuing engine: holds runnable items and decides which runs next.
///
/// A runtime worker (or the simulator) drives a policy with four calls:
///
/// 1. [`enqueue`](Policy::enqueue) each runnable item with its tenant, class
///    and the current time ([`requeue`](Policy::requeue) one that ran and
///    yielded);
/// 2. [`pick`](Policy::pick) the next item to run;
/// 3. run it, measure what it cost, and
/// 4. [`charge`](Policy::charge) that cost back to the item's tenant and
///    class. Every pick is followed by exactly one charge (with cost 0 if
///    nothing ran); a policy may use picks that are not yet charged to know
///    which tenants are still in service. A charge with no pick outstanding
///    is allowed and is simply debited.
///
/// A balancer that moves work between workers may also
/// [`withdraw`](Policy::withdraw) a queued item of a given tenant and class,
/// to run it elsewhere.
///
/// The policy is generic over the item `T` so that the simulator can queue
/// plain request ids and the runtime can queue task handles. It owns its
/// items: enqueue is bounded, and when a bound is hit the item comes back
/// inside an [`Overflow`], never dropped.
///
/// A policy is pure: time comes in as `now_ns` (nanoseconds on any clock
/// that does not go backwards; the policy only subtracts two readings) and
/// cost as `cost_ns`. It starts no threads and reads no clock, so the same
/// code runs on a worker thread and in a discrete-event simulation.
///
/// # Implementing your own
///
/// A policy crate needs only this trait and the vocabulary types; see the
/// `drama-policy-fifo` crate in the workspace for a complete example, and
/// `docs/architecture.md` for the invariants the runtime relies on (bounded
/// memory, no lost items, `len` exact).
pub trait Policy<T> {
    /// Queues `item` for `tenant` in `class`, at time `now_ns`.
    ///
    /// # Errors
    ///
    /// When a bound of the policy is reached, returns the item inside an
    /// [`Overflow`] that says which [`Limit`] refused it.
    fn enqueue(
        &mut self,
        item: T,
        tenant: TenantId,
        class: Class,
        now_ns: u64,
    ) -> Result<(), Overflow<T>>;

    /// Queues `item` again after it ran and gave way of its own accord (a
    /// task that yielded, or that used up its poll budget): it goes behind
    /// the tenant's other ready work in its class instead of in front of
    /// it, so that a task yielding in a loop takes turns with its siblings.
    ///
    /// The default treats it as a new arrival ([`enqueue`](Policy::enqueue)),
    /// which is right for a FIFO policy; a newest-first policy overrides it.
    ///
    /// # Errors
    ///
    /// As [`enqueue`](Policy::enqueue).
    fn requeue(
        &mut self,
        item: T,
        tenant: TenantId,
        class: Class,
        now_ns: u64,
    ) -> Result<(), Overflow<T>> {
        self.enqueue(item, tenant, class, now_ns)
    }

    /// Removes and returns the item that should run next, or `None` when
    /// nothing is queued.
    fn pick(&mut self, now_ns: u64) -> Option<Picked<T>>;

    /// Charges `cost_ns` of measured work (for example the poll time of a
    /// task) to `tenant` and `class`.
    fn charge(&mut self, tenant: TenantId, class: Class, cost_ns: u64);

    /// Takes one queued item of `tenant` in `class` out of the policy, so
    /// that the runtime can run it on another worker (the balancer moves
    /// work this way). The item was never picked: nothing is in service
    /// and nothing will be charged for it. [`len`](Policy::len) and
    /// [`tenant_len`](Policy::tenant_len) drop by one when it returns
    /// `Some`.
    ///
    /// Returns `None` when no such item is queued, and always for a policy
    /// that does not support it (the default); the runtime then moves work
    /// only as it passes through its hands (a task it has just polled, or
    /// one it picked).
    fn withdraw(&mut self, tenant: TenantId, class: Class) -> Option<T> {
        let _ = (tenant, class);
        None
    }

    /// Sets `tenant`'s weight (its share relative to other tenants). Takes
    /// effect from the tenant's next turn; work already queued is kept.
    ///
    /// # Errors
    ///
    /// When the policy cannot track one more tenant, returns the weight
    /// inside an [`Overflow`] with [`Limit::Tenants`].
    fn set_weight(&mut self, tenant: TenantId, weight: Weight) -> Result<(), Overflow<Weight>>;

    /// The number of queued items, over all tenants.
    fn len(&self) -> usize;

    /// The number of queued items of `tenant`.
    fn tenant_len(&self, tenant: TenantId) -> usize;

    /// Whether no item is queued.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An item returned by [`Policy::pick`], with what the caller needs to
/// charge it afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picked<T> {
    /// The item.
    pub item: T,
    /// The tenant it was queued for.
    pub tenant: TenantId,
    /// The class it was queued in.
    pub class: Class,
    /// The `now_ns` it was enqueued at; `pick`'s `now_ns` minus this is its
    /// queueing delay.
    pub enqueued_at_ns: u64,
}

/// Which bound of a policy refused an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// The total number of queued items reached its bound.
    Total,
    /// The tenant's number of queued items reached its per-tenant bound.
    Tenant,
    /// The policy tracks as many tenants as it may (or the tenant id is
    /// beyond the range it accepts).
    Tenants,
}

impl Limit {
    /// A short, stable name for logs and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Limit::Total => "total",
            Limit::Tenant => "tenant",
            Limit::Tenants => "tenants",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation a policy refused because a bound was reached; it hands the
/// value (the item, or the weight) back.
pub struct Overflow<T> {
    value: T,
    limit: Limit,
}

impl<T> Overflow<T> {
    /// Wraps the refused `value` with the `limit` that refused it. Policy
    /// implementations construct this; callers take it apart.
    pub const fn new(value: T, limit: Limit) -> Overflow<T> {
        Overflow { value, limit }
    }

    /// Which bound refused the operation.
    pub const fn limit(&self) -> Limit {
        self.limit
    }

    /// The refused value, handed back.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> fmt::Debug for Overflow<T> {
    // The value is often a future or task handle with no useful Debug, so
    // only the reason is printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Overflow")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for Overflow<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy bound reached: {}", self.limit)
    }
}

impl<T> core::error::Error for Overflow<T> {}
