//! `Drr`, the default policy: deficit round robin across tenants, weighted
//! virtual-time fair queuing across the classes of a tenant, and
//! newest-first with an age bound inside a class.
//!
//! # The three levels
//!
//! **Tenants: deficit round robin, charged after the fact.** Tenants with
//! queued work stand in a round (a FIFO of tenant ids, holding each tenant
//! at most once; it may also hold ghosts, below). The tenant at the front
//! is served while its deficit is positive; each item's measured cost
//! is charged back later, so the deficit may go negative, and the tenant
//! then pays that debt out of later quanta. When the front tenant's deficit
//! is not positive, it receives its quantum for its next turn
//! (`quantum_ns * weight / 100`) and moves to the back. Picking is O(1)
//! amortized: every refill step is paid for by at least one quantum of
//! charged cost, and every ghost's two passes at the front (below) by the
//! pick or withdraw that left it, whatever the number of tenants.
//!
//! A tenant is *in service* while one of its picks is not yet charged. When
//! its last queued item is picked (or withdrawn: `Policy::withdraw` takes a
//! queued item out for the balancer to move) it stays in the round, at its
//! place, as a *ghost*: in the round with nothing queued, for one round.
//! Work enqueued or requeued for a ghost simply joins its queues: the
//! tenant keeps its place and its deficit, and is an ordinary member of the
//! round again. The first `pick` that finds the ghost at the front passes
//! its turn without work. That is a turn end whose refill cannot bank: the
//! deficit becomes `min(deficit + credit, credit)` (a debt is repaid by one
//! credit, as by any refill; unused credit is topped up to one credit,
//! never above), and the ghost moves to the back, *skipped* once. The next
//! `pick` that finds a skipped ghost at the front removes it, which is not
//! a turn end (no refill). On one worker (pick, run, charge, pick) this
//! means that work arriving for a tenant before the worker's next pick
//! resumes its turn and credit (a task that yields, or the follow-up
//! request a dispatcher spawns right after the previous one completed and
//! was charged), and work arriving later but within a round finds the
//! tenant in its place, with a full credit for its turn, however many turns
//! of others ended meanwhile (the follow-up request spawned on another
//! worker, or by a dispatcher that drained several completions first). When
//! a ghost left at its first pass, such a tenant rejoined behind every
//! tenant whose turn had ended since, and each of them was served once more
//! before it, for every request. A tenant gets at most one credit per
//! round, working or not, and one that still has nothing a round later
//! leaves. A round is counted in passes at the front, not in time: when
//! every other member is repaying debt, rounds pass within one pick, and a
//! ghost whose work is still on its way leaves in that pick. A ghost that
//! reaches the front while it still has picks in service (possible when
//! several workers share one policy) leaves the round at once; it may come
//! back while in service: it then returns to the front, resuming the turn
//! it had. Other workers may have ended turns while it was out of the
//! round; it then also receives its pro-rata share of those refills (the
//! turns it missed, a ghost's empty pass included, over the number of other
//! members whose next pass ends a turn: tenants with queued work and ghosts
//! not yet skipped; at most one round), with its deficit capped at two
//! credits. A tenant becomes *idle* when it is out of the round and has
//! nothing in service; it then forfeits any positive deficit (no banked
//! credit) but keeps a debt. An idle tenant that enqueues again receives
//! its quantum for its coming turn and joins at the back.
//!
//! **Debt is bounded in credits.** A tenant's deficit is floored at
//! `-(max_debt_credits * max(credit, quantum))`: that many of its own
//! credits, or of a default-weight tenant's if its own are smaller
//! (`DrrConfig::max_debt_credits`, default 10), and at -1 s whatever the
//! credit; the excess of a charge is forgiven. (When several workers share
//! the policy, the credit floor is multiplied by the most picks the tenant
//! had in service at once since its deficit was last refilled to
//! positive: overlapping polls that each fit the bound are charged in
//! full. On one worker that number is 1.) Each credit of debt costs a
//! backlogged tenant one round out of service, and a round is long when
//! tenants are many, so an unbounded debt turns one slow or mis-measured
//! poll into seconds of starvation. See the bounds below, and
//! `DrrConfig::max_debt_credits` for why 10.
//!
//! **Classes: virtual-time fair queuing by class weight.** Inside a tenant,
//! each class has a virtual time that advances by `cost * 1000 / weight` on
//! every charge. The class with queued work and the smallest virtual time is
//! picked; ties go to the higher priority (`Write > Compute > Read >
//! Accept`). A class that becomes active starts at the tenant's current
//! virtual time, so it is served next (low latency for a newly arrived write
//! or accept) but banks nothing. Backlogged classes share the tenant's time
//! in the ratio of their weights: the priority is weak, no class starves.
//! With only four classes the scan is O(1); a round robin is not needed.
//!
//! **Items: newest first, oldest first past the age bound.** Each class
//! holds two deques ordered by arrival: *fresh* items (enqueued: spawned or
//! woken) and *resumed* ones (requeued after they ran and yielded). If the
//! oldest item of the class has waited at least the age bound it is picked;
//! otherwise the newest fresh item; and only when no fresh item is queued,
//! the oldest resumed one. Newest-first serves the request whose client is
//! most likely still waiting (and whose data is warm in cache); putting a
//! yielder behind fresh work and rotating yielders FIFO keeps a task that
//! yields in a loop from running again ahead of its siblings. "Oldest" means
//! the smallest enqueue time, a fresh item first on a tie.
//!
//! # Bounds
//!
//! On one worker (the runtime's case: every pick is charged before the
//! next pick), with `q_i` tenant i's credit, `C` the largest single charge
//! (at most 1 s), `q` the default-weight credit (`quantum_ns`), `k` =
//! `max_debt_credits`, and `D_i = min(C - 1 ns, k * max(q_i, q))` the
//! largest debt tenant i carries (a pick needs a positive deficit of at
//! least 1 ns, a charge takes at most `C`, and the floor stops a debt at
//! `k * max(q_i, q)`):
//!
//! - **Deficit:** `-D_i <= deficit_i <= q_i`; a refill happens only at or
//!   below zero, and a ghost's pass tops its deficit up to `q_i` at most.
//! - **No tenant starves:** between two consecutive picks of a
//!   continuously backlogged tenant i, at most
//!   `R_i = floor(D_i / q_i) + 1` rounds pass (`min(ceil(C / q_i), k + 1)`
//!   for a tenant of at least the default weight),
//!   in each of which every other tenant j has at most one turn, and a
//!   turn of j is charged less than `q_j + C`; so the others are charged
//!   at most `R_i * sum_{j != i} (q_j + C)` in between. Why: after its pick
//!   tenant i is at the front (with queued work, or as a ghost whose work
//!   arrives before the next pick). If its deficit is still positive it is
//!   picked next. Otherwise it is in debt by some `d <= D_i` and needs
//!   `floor(d / q_i) + 1` refills; it receives one each time it reaches the
//!   front, and then goes to the back, behind every other tenant, each of
//!   which has at most one turn before i is at the front again (a tenant
//!   that leaves the round comes back behind i; a ghost's pass is an empty
//!   turn, charged nothing, that also moves it behind i, where work that
//!   arrives for it waits). A turn starts with at most
//!   `q_j` and picks only while the deficit is positive, so the picks
//!   before its last are charged less than `q_j` and the last at most `C`.
//!   For `N` equal tenants with polls of at most `q`, that is one round,
//!   `(N - 1) * (q + C)`; however long a poll, at most `k + 1` rounds at
//!   the default weight or above, `k * q / q_i + 1` below it.
//! - **Weighted service:** for tenants continuously backlogged since both
//!   became active, `|S_i/q_i - S_j/q_j| <= 1 + max(1, D_i/q_i) + max(1,
//!   D_j/q_j)`, where `S` is the cost debited (charged, less what the debt
//!   floor forgave): every tenant receives one credit per round, so the
//!   numbers of credits received differ by at most one, and
//!   `S = credits * q - deficit`.
//!
//! The price of the debt floor: the excess of a charge beyond it is
//! forgiven, so a tenant whose polls each cost more than `k` credits gets
//! more than its weighted share of the CPU. Without the floor the
//! starvation bound would be `ceil(C / q_i)` rounds, and `C` is what one
//! preempted or stuck poll makes it: with 10,000 tenants taking 100 µs
//! turns a round is about 1 s, and one poll charged 5 ms would keep its
//! tenant out for about 50 s; with the default floor, at most 11 rounds.
//!
//! Inside a tenant, with `w_c` the class weights:
//!
//! - **No class starves:** between two picks of a backlogged class c, the
//!   tenant's other classes are charged at most
//!   `sum_{c' != c} (C * w_c' / w_c + C)`: a class c' runs only while its
//!   virtual time is at most c's, which a pick of c advances by at most
//!   `C * 1000 / w_c`.
//! - **No item waits for ever:** an item is due once it has waited the age
//!   bound, and the due items of a class are served oldest first, so an
//!   item is picked within `max_tenant_len` picks of its class after it is
//!   due, each of which the two bounds above bound in turn.
//!
//! `tests/fairness_bounds.rs` checks the deficit, weighted-service, tenant
//! and class bounds after every step of random workloads.
//!
//! With several workers sharing one policy (the simulator's case) picks
//! are outstanding on other workers, and the in-service rules let a
//! deficit reach two credits and the debt floor scale with the picks in
//! service, so the bounds loosen (by about one `C` per outstanding pick,
//! and one credit); they are neither proven nor property-tested there
//! (the simulator's scenarios are the evidence). The runtime gives each
//! worker its own policy: the one-worker case.
//!
//! Memory: one boxed state per tenant id used (ids below `max_tenants`)
//! and one deque entry per queued item (at most `max_len`, and
//! `max_tenant_len` per tenant); the round holds each tenant at most once.

mod config;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

pub use config::{ConfigError, ConfigErrorKind, DrrConfig};

use crate::{Class, Limit, Overflow, Picked, Policy, TenantId, Weight};

/// Class virtual time advances by `cost_ns * VTIME_SCALE / class_weight`;
/// with class weights at most 1,000 this keeps one unit at or below 1 ns,
/// and with charges at most `MAX_CHARGE_NS` one charge adds at most 2^40.
const VTIME_SCALE: u64 = 1_000;

/// When a tenant's virtual time passes this, every class time of the tenant
/// is shifted down by it (keeping their differences), so that a tenant busy
/// for years never overflows.
const VTIME_REBASE_AT: u64 = 1 << 62;

/// The largest cost one charge debits: 1 s. A longer poll is a stuck
/// worker (the pool's monitor handles those); charging it in full would let
/// one absurd measurement put its tenant out of service for hours, and would
/// make the refill loop of `pick` arbitrarily long.
pub(crate) const MAX_CHARGE_NS: u64 = 1_000_000_000;

/// The largest debt a tenant carries whatever its credit: 1 s. The tighter
/// floor is `max_debt_credits` of the tenant's credits, or of a
/// default-weight tenant's if its own are smaller (`DrrConfig`); this
/// one remains so that a large quantum and weight cannot make a debt, and
/// the refill work it causes in `pick`, larger than the longest charge.
pub(crate) const MAX_DEBT_NS: i64 = MAX_CHARGE_NS as i64;

/// The default policy: fair across tenants by weight, weakly prioritized
/// across classes, newest-first with an age bound inside a class.
///
/// See the [module documentation](self) for the algorithm and its
/// fairness and starvation bounds.
///
/// ```
/// use drama_policy::{Class, Drr, Policy, TenantId, Weight};
///
/// let mut drr = Drr::new();
/// let (acme, globex) = (TenantId::new(1), TenantId::new(2));
/// drr.set_weight(acme, Weight::new(300).unwrap()).unwrap();
///
/// for i in 0..4 {
///     drr.enqueue(("acme", i), acme, Class::Compute, 0).unwrap();
///     drr.enqueue(("globex", i), globex, Class::Compute, 0).unwrap();
/// }
/// // Each poll costs 100 µs: acme (weight 300) runs three in a row, then
/// // globex (weight 100) runs one.
/// let mut order = Vec::new();
/// while let Some(p) = drr.pick(0) {
///     order.push(p.item.0);
///     drr.charge(p.tenant, p.class, 100_000);
/// }
/// assert_eq!(order[..4], ["acme", "acme", "acme", "globex"]);
/// ```
pub struct Drr<T> {
    config: DrrConfig,
    /// Indexed by tenant id; `None` for ids never used.
    tenants: Vec<Option<Box<Tenant<T>>>>,
    /// Tenants with queued work, and ghosts (tenants whose queue emptied,
    /// kept until their second pass at the front), in turn order. Bound:
    /// at most one entry per tenant (`Tenant::in_round`), so at most
    /// `max_tenants`.
    round: VecDeque<u32>,
    /// The ghosts in `round`: `round.len() - ghosts` tenants have queued
    /// work.
    ghosts: usize,
    /// The ghosts in `round` already skipped once (`Tenant::skipped`),
    /// which leave when they next reach the front. Bound: at most `ghosts`.
    skipped: usize,
    len: usize,
    /// Turns ended so far (refills at the front of the round, a ghost's
    /// empty pass included): the clock by which a tenant in service
    /// measures the turns it missed.
    refills: u64,
}

struct Tenant<T> {
    weight: Weight,
    /// The credit per turn at `weight` (`credit_ns`), and the debt floor
    /// per pick in service at once (`max_debt_credits` of the larger of it
    /// and the default credit, at most `MAX_DEBT_NS`): both follow the
    /// weight, kept here so that `pick` and `charge` divide nothing.
    credit_ns: i64,
    debt_unit_ns: i64,
    deficit_ns: i64,
    /// Queued items over all classes. Bound: `max_tenant_len`.
    len: usize,
    /// Picks not yet charged.
    in_flight: u32,
    /// The most picks in service at once since the tenant's deficit was
    /// last refilled to positive: its debt floor is `max_debt_credits`
    /// credits per such pick. On one
    /// worker it is at most 1; with several workers sharing the policy,
    /// polls that each fit the bound but overlap are charged in full.
    peak_in_flight: u32,
    /// Whether the tenant's id is in `Drr::round`. Invariant: `len > 0`
    /// implies `in_round`; `in_round && len == 0` is a ghost.
    in_round: bool,
    /// Whether the tenant, a ghost, has already reached the front once
    /// since its queue emptied (its turn passed without work): the next
    /// pick that finds it at the front removes it. Invariant: `skipped`
    /// implies a ghost; work enqueued or requeued clears it.
    skipped: bool,
    /// `Drr::refills` when the tenant last left the round in service (a
    /// ghost removed while one of its picks was not yet charged).
    left_at_refills: u64,
    /// The virtual time of the last class picked; classes that become
    /// active start here.
    vtime: u64,
    classes: [ClassQueue<T>; Class::COUNT],
}

struct ClassQueue<T> {
    /// Fresh items, oldest at the front, newest at the back. Bound, with
    /// `resumed`: the tenant's `max_tenant_len` over all its classes.
    items: VecDeque<Entry<T>>,
    /// Requeued items, in the order they were requeued. Same bound.
    resumed: VecDeque<Entry<T>>,
    vtime: u64,
    in_flight: u32,
}

struct Entry<T> {
    item: T,
    enqueued_at_ns: u64,
}

impl<T> ClassQueue<T> {
    fn len(&self) -> usize {
        self.items.len() + self.resumed.len()
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty() && self.resumed.is_empty()
    }

    /// Removes the item to serve next (see the module documentation).
    fn take(&mut self, now_ns: u64, age_bound_ns: u64) -> Option<Entry<T>> {
        // The oldest item is the front of one of the two deques.
        let fresh_oldest = match (self.items.front(), self.resumed.front()) {
            (Some(f), Some(r)) => f.enqueued_at_ns <= r.enqueued_at_ns,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let oldest = if fresh_oldest {
            &self.items
        } else {
            &self.resumed
        };
        let overdue = oldest
            .front()
            .is_some_and(|e| now_ns.saturating_sub(e.enqueued_at_ns) >= age_bound_ns);
        if overdue && fresh_oldest {
            self.items.pop_front()
        } else if overdue {
            self.resumed.pop_front()
        } else {
            self.items.pop_back().or_else(|| self.resumed.pop_front())
        }
    }
}

impl<T> Tenant<T> {
    fn new(credit_ns: i64, debt_unit_ns: i64) -> Tenant<T> {
        Tenant {
            weight: Weight::DEFAULT,
            credit_ns,
            debt_unit_ns,
            deficit_ns: 0,
            len: 0,
            in_flight: 0,
            peak_in_flight: 0,
            in_round: false,
            skipped: false,
            left_at_refills: 0,
            vtime: 0,
            classes: core::array::from_fn(|_| ClassQueue {
                items: VecDeque::new(),
                resumed: VecDeque::new(),
                vtime: 0,
                in_flight: 0,
            }),
        }
    }

    /// Nothing queued and nothing in service: forfeit credit (keep debt)
    /// and forget class history, which only matters while the tenant is busy.
    fn go_idle(&mut self) {
        self.deficit_ns = self.deficit_ns.min(0);
        self.peak_in_flight = 0;
        self.vtime = 0;
        for class in &mut self.classes {
            class.vtime = 0;
        }
    }
}

impl<T> Drr<T> {
    /// A policy with the default configuration.
    pub fn new() -> Drr<T> {
        Drr::build(DrrConfig::new())
    }

    /// A policy with `config`.
    ///
    /// # Errors
    ///
    /// A value of `config` out of range; see [`DrrConfig`].
    pub fn with_config(config: DrrConfig) -> Result<Drr<T>, ConfigError> {
        config.validate()?;
        Ok(Drr::build(config))
    }

    fn build(config: DrrConfig) -> Drr<T> {
        Drr {
            config,
            tenants: Vec::new(),
            round: VecDeque::new(),
            ghosts: 0,
            skipped: 0,
            len: 0,
            refills: 0,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &DrrConfig {
        &self.config
    }

    /// `tenant`'s weight ([`Weight::DEFAULT`] unless set).
    pub fn weight(&self, tenant: TenantId) -> Weight {
        self.tenant(tenant).map_or(Weight::DEFAULT, |t| t.weight)
    }

    /// `tenant`'s current deficit: positive is credit left in its turn,
    /// negative is debt to repay from later quanta.
    pub fn deficit_ns(&self, tenant: TenantId) -> i64 {
        self.tenant(tenant).map_or(0, |t| t.deficit_ns)
    }

    /// The number of queued items of `tenant` in `class`.
    pub fn class_len(&self, tenant: TenantId, class: Class) -> usize {
        self.tenant(tenant)
            .map_or(0, |t| t.classes[class.priority()].len())
    }

    /// The number of tenants with queued work (ghosts, which have none,
    /// are not counted).
    pub fn active_tenants(&self) -> usize {
        debug_assert!(self.ghosts <= self.round.len(), "ghosts are in the round");
        self.round.len() - self.ghosts
    }

    /// The credit a tenant of `weight` receives per turn.
    pub fn credit_ns(&self, weight: Weight) -> i64 {
        credit_ns(self.config.quantum_ns, weight)
    }

    fn tenant(&self, tenant: TenantId) -> Option<&Tenant<T>> {
        self.tenants
            .get(tenant.as_u32() as usize)
            .and_then(|slot| slot.as_deref())
    }

    /// The tenant's state, created on first use; `None` when the id is out
    /// of the configured range.
    fn tenant_mut(&mut self, tenant: TenantId) -> Option<&mut Tenant<T>> {
        let idx = tenant.as_u32();
        if idx >= self.config.max_tenants {
            return None;
        }
        let idx = idx as usize;
        if idx >= self.tenants.len() {
            self.tenants.resize_with(idx + 1, || None);
        }
        if self.tenants[idx].is_none() {
            let (credit, debt_unit) = self.credits(Weight::DEFAULT);
            self.tenants[idx] = Some(Box::new(Tenant::new(credit, debt_unit)));
        }
        self.tenants[idx].as_deref_mut()
    }

    /// A tenant's credit per turn at `weight`, and its debt floor per pick
    /// in service: `max_debt_credits` credits, of its own or of a
    /// default-weight tenant's if those are more (so that the small weight
    /// a runtime gives a tenant on a worker where it has few tasks does not
    /// make the excess of their polls forgiven: they would get several
    /// times their share), and at most `MAX_DEBT_NS`.
    fn credits(&self, weight: Weight) -> (i64, i64) {
        let quantum_ns = self.config.quantum_ns;
        let credit = credit_ns(quantum_ns, weight);
        let unit = credit.max(credit_ns(quantum_ns, Weight::DEFAULT));
        // At most 1,000 * 1e11 < 2^63.
        let debt_unit = (i64::from(self.config.max_debt_credits) * unit).min(MAX_DEBT_NS);
        (credit, debt_unit)
    }
}

fn credit_ns(quantum_ns: u64, weight: Weight) -> i64 {
    // quantum_ns <= 1e9 and weight <= 1e4, so the product fits in i64.
    let credit = quantum_ns * u64::from(weight.get()) / u64::from(Weight::DEFAULT.get());
    credit.max(1) as i64
}

impl<T> Default for Drr<T> {
    fn default() -> Drr<T> {
        Drr::new()
    }
}

impl<T> Drr<T> {
    /// `enqueue` (`resumed` false) and `requeue` (true): they differ only in
    /// the deque the item joins.
    fn insert(
        &mut self,
        item: T,
        tenant: TenantId,
        class: Class,
        now_ns: u64,
        resumed: bool,
    ) -> Result<(), Overflow<T>> {
        if tenant.as_u32() >= self.config.max_tenants {
            return Err(Overflow::new(item, Limit::Tenants));
        }
        if self.len >= self.config.max_len {
            return Err(Overflow::new(item, Limit::Total));
        }
        let max_tenant_len = self.config.max_tenant_len;
        // The other members of the round whose next pass at the front ends
        // a turn (a refill, counted in `refills`): tenants with queued work
        // and ghosts not yet skipped. A skipped ghost leaves at its next
        // pass, without a refill. The tenant itself is in the round only
        // when `rejoin` below is `None`, where `others` is unused.
        let others = (self.round.len() - self.skipped) as u64;
        let refills = self.refills;
        let Some(t) = self.tenant_mut(tenant) else {
            return Err(Overflow::new(item, Limit::Tenants));
        };
        if t.len >= max_tenant_len {
            return Err(Overflow::new(item, Limit::Tenant));
        }
        let vtime = t.vtime;
        let queue = &mut t.classes[class.priority()];
        if queue.is_empty() && queue.in_flight == 0 {
            // A class becoming active starts at the tenant's virtual time:
            // served soon, but with nothing banked from its idle time.
            queue.vtime = queue.vtime.max(vtime);
        }
        let entry = Entry {
            item,
            enqueued_at_ns: now_ns,
        };
        if resumed {
            queue.resumed.push_back(entry);
        } else {
            queue.items.push_back(entry);
        }
        let was_ghost = t.in_round && t.len == 0;
        // With work, a ghost is an ordinary member of the round again: if
        // its queue empties later, it gets a full round again.
        let was_skipped = core::mem::take(&mut t.skipped);
        t.len += 1;
        let rejoin = if t.in_round {
            // With queued work already, or a ghost (skipped once or not):
            // it keeps its place and its deficit, whatever it is.
            None
        } else {
            t.in_round = true;
            if t.in_flight > 0 {
                // Still in service: resume the turn it was in, at the
                // front. Other workers may have ended turns meanwhile; had
                // the tenant stayed in the round it would have had its share
                // of those refills, so it gets it now, pro rata (the turns
                // it missed over the number of members that end one when
                // they pass, at most one round: a ghost's empty pass counts
                // on both sides). The deficit is capped at two credits:
                // enough for a tenant whose few tasks cannot keep up with
                // the round (one task on two workers) to keep its share,
                // too little to bank a burst.
                let missed = refills - t.left_at_refills;
                if others > 0 && missed > 0 {
                    let credit = t.credit_ns;
                    let bonus = (credit as u64 * missed.min(others) / others) as i64;
                    t.deficit_ns = (t.deficit_ns + bonus).min((2 * credit).max(t.deficit_ns));
                }
                Some(true)
            } else {
                // Idle until now (its credit already forfeited): receive
                // the quantum for the coming turn and wait behind the
                // others.
                t.deficit_ns += t.credit_ns;
                Some(false)
            }
        };
        debug_assert!(t.in_round, "a tenant with queued work is in the round");
        match rejoin {
            Some(true) => self.round.push_front(tenant.as_u32()),
            Some(false) => self.round.push_back(tenant.as_u32()),
            None if was_ghost => {
                self.ghosts -= 1;
                if was_skipped {
                    self.skipped -= 1;
                }
            }
            None => {}
        }
        self.len += 1;
        Ok(())
    }
}

impl<T> Policy<T> for Drr<T> {
    fn enqueue(
        &mut self,
        item: T,
        tenant: TenantId,
        class: Class,
        now_ns: u64,
    ) -> Result<(), Overflow<T>> {
        self.insert(item, tenant, class, now_ns, false)
    }

    fn requeue(
        &mut self,
        item: T,
        tenant: TenantId,
        class: Class,
        now_ns: u64,
    ) -> Result<(), Overflow<T>> {
        self.insert(item, tenant, class, now_ns, true)
    }

    fn pick(&mut self, now_ns: u64) -> Option<Picked<T>> {
        let age_bound_ns = self.config.age_bound_ns;
        loop {
            let idx = *self.round.front()?;
            let t = self.tenants[idx as usize]
                .as_deref_mut()
                .expect("a tenant in the round has state");
            if t.len == 0 && t.in_flight == 0 && !t.skipped {
                // A ghost reaching the front for the first time since its
                // queue emptied: its turn passes without work, and it
                // stays for one more round, so that work arriving within
                // the round (a follow-up request spawned after the next
                // pick) finds it in its place. A turn end like any other:
                // a debt is repaid by one credit, but unused credit is only
                // topped up to one credit, so that staying away banks
                // nothing (a tenant in the round gets one credit per round,
                // working or not).
                let credit = t.credit_ns;
                t.deficit_ns = (t.deficit_ns + credit).min(credit);
                if t.deficit_ns > 0 {
                    // As at any refill to positive (nothing is in service).
                    t.peak_in_flight = t.in_flight;
                }
                t.skipped = true;
                self.skipped += 1;
                debug_assert!(self.skipped <= self.ghosts, "only ghosts are skipped");
                // A turn that a tenant out of the round in service misses
                // like any other: had it stayed, the front would have
                // passed this ghost before reaching it again. (`insert`
                // divides by the members whose pass is counted here.)
                self.refills += 1;
                self.round.pop_front();
                self.round.push_back(idx);
                continue;
            }
            if t.len == 0 {
                // A ghost at the front that was already skipped once, or
                // one still in service (possible when several workers share
                // the policy), leaves the round. Not a turn end: no refill.
                // In service, it may still come back to the front (see
                // `insert`); otherwise it is idle from now.
                self.round.pop_front();
                self.ghosts -= 1;
                if t.skipped {
                    t.skipped = false;
                    self.skipped -= 1;
                }
                t.in_round = false;
                if t.in_flight > 0 {
                    t.left_at_refills = self.refills;
                } else {
                    t.go_idle();
                }
                continue;
            }
            if t.deficit_ns <= 0 {
                // Turn over: credit for the next one, then to the back.
                let credit = t.credit_ns;
                // Alone in the round, the tenant would meet only itself at
                // the front again: add every credit it needs at once (the
                // same result as looping, without the loop).
                let turns = if self.round.len() == 1 {
                    -t.deficit_ns / credit + 1
                } else {
                    1
                };
                t.deficit_ns += turns * credit;
                if t.deficit_ns > 0 {
                    // Debt repaid: count again from the picks in service.
                    t.peak_in_flight = t.in_flight;
                }
                self.refills += turns as u64;
                // pop + push, not rotate_left(1): no call into memmove.
                self.round.pop_front();
                self.round.push_back(idx);
                continue;
            }
            debug_assert!(t.in_round, "only tenants in the round are served");
            let class = pick_class(t);
            let queue = &mut t.classes[class.priority()];
            let entry = queue
                .take(now_ns, age_bound_ns)
                .expect("the picked class has queued work");
            queue.in_flight = queue.in_flight.saturating_add(1);
            t.in_flight = t.in_flight.saturating_add(1);
            t.peak_in_flight = t.peak_in_flight.max(t.in_flight);
            t.len -= 1;
            if t.len == 0 {
                // It stays at the front as a ghost, so that work arriving
                // before the next pick (a yield, a follow-up request)
                // resumes its turn, and in the round for one more round
                // after that (the first pass at the front, above).
                self.ghosts += 1;
            }
            self.len -= 1;
            return Some(Picked {
                item: entry.item,
                tenant: TenantId::new(idx),
                class,
                enqueued_at_ns: entry.enqueued_at_ns,
            });
        }
    }

    fn charge(&mut self, tenant: TenantId, class: Class, cost_ns: u64) {
        let class_weight = u64::from(self.config.class_weights[class.priority()]);
        // Nothing can have been picked for an id out of range.
        let Some(t) = self.tenant_mut(tenant) else {
            return;
        };
        let cost_ns = cost_ns.min(MAX_CHARGE_NS);
        // The floor: `max_debt_credits` credits at the tenant's current
        // weight, or at the default weight if that is more, per pick in
        // service at once (one, on one worker), and never more than 1 s.
        // It bounds how many rounds a debt keeps a backlogged tenant out
        // (on one worker at most `max_debt_credits + 1` at the default
        // weight or above) and the refill work the debt causes in `pick`.
        // Not below the default credit: a runtime that reweights a tenant
        // per worker (a few of its tasks on a worker get a small weight
        // there) must not make the excess of its polls forgiven, or those
        // few tasks would get several times their share. The product is
        // at most 1,000 * 1e11 * 2^32 < 2^90: it is taken in i128. The
        // deficit is within -1 s and two credits, and the cost at most 1 s,
        // so the subtraction does not overflow.
        let max_debt_ns = match t.peak_in_flight {
            0 | 1 => t.debt_unit_ns,
            picks => {
                (i128::from(t.debt_unit_ns) * i128::from(picks)).min(i128::from(MAX_DEBT_NS)) as i64
            }
        };
        t.deficit_ns = (t.deficit_ns - cost_ns as i64).max(-max_debt_ns);
        let queue = &mut t.classes[class.priority()];
        queue.vtime = queue
            .vtime
            .saturating_add(cost_ns * VTIME_SCALE / class_weight);
        queue.in_flight = queue.in_flight.saturating_sub(1);
        t.in_flight = t.in_flight.saturating_sub(1);
        // A ghost is not idle yet: work may still arrive for it before
        // it leaves the round.
        if t.len == 0 && t.in_flight == 0 && !t.in_round {
            t.go_idle();
        }
    }

    /// Takes the oldest *resumed* item of the class if there is one (a
    /// task that yields in a loop: moving it moves lasting load), else the
    /// oldest fresh one (the one newest-first would serve last). A tenant
    /// left with nothing queued stays in the round as a ghost, under the
    /// same rules as one left by `pick` (its turn passes at its first pass
    /// at the front, it leaves at the second), so this is O(1) and never
    /// searches the round.
    fn withdraw(&mut self, tenant: TenantId, class: Class) -> Option<T> {
        let t = self
            .tenants
            .get_mut(tenant.as_u32() as usize)?
            .as_deref_mut()?;
        let queue = &mut t.classes[class.priority()];
        let entry = queue
            .resumed
            .pop_front()
            .or_else(|| queue.items.pop_front())?;
        debug_assert!(t.in_round, "a tenant with queued work is in the round");
        t.len -= 1;
        if t.len == 0 {
            // It had queued work, so it is in the round: a ghost now.
            self.ghosts += 1;
        }
        self.len -= 1;
        Some(entry.item)
    }

    fn set_weight(&mut self, tenant: TenantId, weight: Weight) -> Result<(), Overflow<Weight>> {
        let (credit, debt_unit) = self.credits(weight);
        match self.tenant_mut(tenant) {
            Some(t) => {
                t.weight = weight;
                t.credit_ns = credit;
                t.debt_unit_ns = debt_unit;
                Ok(())
            }
            None => Err(Overflow::new(weight, Limit::Tenants)),
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn tenant_len(&self, tenant: TenantId) -> usize {
        self.tenant(tenant).map_or(0, |t| t.len)
    }
}

/// The class to serve next inside `t`: the smallest virtual time among
/// classes with queued work, ties to the higher priority. Advances the
/// tenant's virtual time to it.
fn pick_class<T>(t: &mut Tenant<T>) -> Class {
    let mut best: Option<usize> = None;
    for (i, queue) in t.classes.iter().enumerate() {
        if queue.is_empty() {
            continue;
        }
        // Strictly smaller: on a tie the earlier (higher-priority) class wins.
        if best.is_none_or(|b| queue.vtime < t.classes[b].vtime) {
            best = Some(i);
        }
    }
    let best = best.expect("a tenant served (not a ghost) has queued work");
    t.vtime = t.vtime.max(t.classes[best].vtime);
    if t.vtime >= VTIME_REBASE_AT {
        let base = t.vtime;
        t.vtime = 0;
        for queue in &mut t.classes {
            queue.vtime = queue.vtime.saturating_sub(base);
        }
    }
    Class::ALL[best]
}
