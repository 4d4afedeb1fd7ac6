//! A naive reference model of `Drr`: the same rules, written the obvious
//! way. Tenants are found by a linear search, the round is a `Vec` whose
//! element 0 is the front, "in the round" is `round.contains`, a ghost is a
//! tenant in the round whose length (counted from its classes) is 0, and
//! each class is an unordered bag of fresh and resumed (requeued) items,
//! searched for the one to take. A ghost's pass at the front is marked on
//! the tenant (`skipped`). Every operation is O(n), and every rule is
//! one line that can be checked against the module documentation of
//! `drama_policy::Drr`.

#![allow(dead_code)]

use drama_policy::{Class, Limit, Overflow, Picked, Policy, TenantId, Weight};

/// The parameters the model needs (a mirror of `DrrConfig`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    pub(crate) quantum_ns: u64,
    pub(crate) class_weights: [u32; 4],
    pub(crate) age_bound_ns: u64,
    pub(crate) max_len: usize,
    pub(crate) max_tenant_len: usize,
    pub(crate) max_tenants: u32,
    pub(crate) max_debt_credits: u32,
}

struct ModelClass<T> {
    /// (arrival number, item, enqueued_at_ns, resumed), in no particular
    /// order.
    bag: Vec<(u64, T, u64, bool)>,
    vtime: u64,
    in_flight: u32,
}

struct ModelTenant<T> {
    id: u32,
    weight: u32,
    deficit_ns: i64,
    in_flight: u32,
    /// The most picks in service at once since the deficit was last
    /// refilled to positive.
    peak_in_flight: u32,
    left_at_refills: u64,
    /// A ghost whose turn already passed once without work: it leaves at
    /// its next pass.
    skipped: bool,
    vtime: u64,
    classes: Vec<ModelClass<T>>,
}

impl<T> ModelTenant<T> {
    fn len(&self) -> usize {
        self.classes.iter().map(|c| c.bag.len()).sum()
    }

    /// Idle: forfeit credit, keep debt, forget class history.
    fn go_idle(&mut self) {
        self.deficit_ns = self.deficit_ns.min(0);
        self.peak_in_flight = 0;
        self.vtime = 0;
        for class in &mut self.classes {
            class.vtime = 0;
        }
    }
}

pub(crate) struct Model<T> {
    p: Params,
    tenants: Vec<ModelTenant<T>>,
    /// Element 0 is the front of the round.
    round: Vec<u32>,
    arrivals: u64,
    /// Refills so far (turns ended).
    refills: u64,
}

impl<T> Model<T> {
    pub(crate) fn new(p: Params) -> Model<T> {
        Model {
            p,
            tenants: Vec::new(),
            round: Vec::new(),
            arrivals: 0,
            refills: 0,
        }
    }

    fn credit(&self, weight: u32) -> i64 {
        (self.p.quantum_ns * u64::from(weight) / 100).max(1) as i64
    }

    fn find(&self, id: u32) -> Option<usize> {
        self.tenants.iter().position(|t| t.id == id)
    }

    fn find_or_create(&mut self, id: u32) -> usize {
        match self.find(id) {
            Some(i) => i,
            None => {
                self.tenants.push(ModelTenant {
                    id,
                    weight: 100,
                    deficit_ns: 0,
                    in_flight: 0,
                    peak_in_flight: 0,
                    left_at_refills: 0,
                    skipped: false,
                    vtime: 0,
                    classes: (0..4)
                        .map(|_| ModelClass {
                            bag: Vec::new(),
                            vtime: 0,
                            in_flight: 0,
                        })
                        .collect(),
                });
                self.tenants.len() - 1
            }
        }
    }

    pub(crate) fn deficit_ns(&self, tenant: TenantId) -> i64 {
        self.find(tenant.as_u32())
            .map_or(0, |i| self.tenants[i].deficit_ns)
    }

    pub(crate) fn class_len(&self, tenant: TenantId, class: Class) -> usize {
        self.find(tenant.as_u32())
            .map_or(0, |i| self.tenants[i].classes[class.priority()].bag.len())
    }

    /// Tenants in the round with queued work (ghosts excluded).
    pub(crate) fn active_tenants(&self) -> usize {
        self.round
            .iter()
            .filter(|&&id| self.tenants[self.find(id).unwrap()].len() > 0)
            .count()
    }

    /// Tenants in the round whose next pass at the front ends a turn: those
    /// with queued work and ghosts not yet skipped.
    fn turn_takers(&self) -> usize {
        self.round
            .iter()
            .filter(|&&id| {
                let t = &self.tenants[self.find(id).unwrap()];
                t.len() > 0 || !t.skipped
            })
            .count()
    }
}

impl<T> Model<T> {
    fn insert(
        &mut self,
        item: T,
        tenant: TenantId,
        class: Class,
        now_ns: u64,
        resumed: bool,
    ) -> Result<(), Overflow<T>> {
        let id = tenant.as_u32();
        if id >= self.p.max_tenants {
            return Err(Overflow::new(item, Limit::Tenants));
        }
        if self.len() >= self.p.max_len {
            return Err(Overflow::new(item, Limit::Total));
        }
        let i = self.find_or_create(id);
        if self.tenants[i].len() >= self.p.max_tenant_len {
            return Err(Overflow::new(item, Limit::Tenant));
        }
        let was_in_round = self.round.contains(&id);
        let credit = self.credit(self.tenants[i].weight);
        let arrival = self.arrivals;
        self.arrivals += 1;
        // The tenant is not in the round when `others` is used.
        let others = self.turn_takers() as u64;
        let refills = self.refills;
        let t = &mut self.tenants[i];
        let tenant_vtime = t.vtime;
        let c = &mut t.classes[class.priority()];
        // A class becoming active starts at the tenant's virtual time.
        if c.bag.is_empty() && c.in_flight == 0 {
            c.vtime = c.vtime.max(tenant_vtime);
        }
        c.bag.push((arrival, item, now_ns, resumed));
        // In the round already (with work, or a ghost, skipped or not):
        // nothing changes but its queues, and it is no ghost any more.
        t.skipped = false;
        if !was_in_round {
            if t.in_flight > 0 {
                // In service: back to the front, resuming its turn, with
                // its pro-rata share of the turns others ended meanwhile
                // (at most one round); the deficit is capped at 2 credits.
                let missed = refills - t.left_at_refills;
                if others > 0 && missed > 0 {
                    let bonus = (credit as u64 * missed.min(others) / others) as i64;
                    let cap = if t.deficit_ns > 2 * credit {
                        t.deficit_ns
                    } else {
                        2 * credit
                    };
                    t.deficit_ns = (t.deficit_ns + bonus).min(cap);
                }
                self.round.insert(0, id);
            } else {
                // Idle: credit for the coming turn, then the back.
                t.deficit_ns += credit;
                self.round.push(id);
            }
        }
        Ok(())
    }
}

impl<T> Policy<T> for Model<T> {
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
        loop {
            let id = *self.round.first()?;
            let i = self.find(id).expect("a tenant in the round exists");
            let credit = self.credit(self.tenants[i].weight);
            let t = &mut self.tenants[i];
            if t.len() == 0 && t.in_flight == 0 && !t.skipped {
                // A ghost's first pass: a turn end whose refill tops up to
                // one credit at most; to the back, marked.
                t.deficit_ns = (t.deficit_ns + credit).min(credit);
                if t.deficit_ns > 0 {
                    t.peak_in_flight = t.in_flight;
                }
                t.skipped = true;
                self.refills += 1;
                let front = self.round.remove(0);
                self.round.push(front);
                continue;
            }
            if t.len() == 0 {
                // A ghost skipped once, or in service, leaves, without a
                // refill; idle now unless in service.
                self.round.remove(0);
                t.skipped = false;
                if t.in_flight > 0 {
                    t.left_at_refills = self.refills;
                } else {
                    t.go_idle();
                }
                continue;
            }
            if t.deficit_ns <= 0 {
                t.deficit_ns += credit;
                if t.deficit_ns > 0 {
                    t.peak_in_flight = t.in_flight;
                }
                self.refills += 1;
                let front = self.round.remove(0);
                self.round.push(front);
                continue;
            }
            // The non-empty class with the smallest virtual time; on a tie
            // the first in priority order.
            let mut best: Option<usize> = None;
            for c in 0..4 {
                if t.classes[c].bag.is_empty() {
                    continue;
                }
                match best {
                    Some(b) if t.classes[b].vtime <= t.classes[c].vtime => {}
                    _ => best = Some(c),
                }
            }
            let c = best.expect("a tenant in the round has work");
            t.vtime = t.vtime.max(t.classes[c].vtime);
            if t.vtime >= 1 << 62 {
                let base = t.vtime;
                t.vtime = 0;
                for class in &mut t.classes {
                    class.vtime = class.vtime.saturating_sub(base);
                }
            }
            // The oldest item: the smallest enqueue time, fresh before
            // resumed, then by arrival. Overdue, it is taken; otherwise the
            // newest fresh item, or, with none, the oldest resumed one.
            let bag = &mut t.classes[c].bag;
            let oldest = (0..bag.len())
                .min_by_key(|&k| (bag[k].2, bag[k].3, bag[k].0))
                .unwrap();
            let newest_fresh = (0..bag.len())
                .filter(|&k| !bag[k].3)
                .max_by_key(|&k| bag[k].0);
            let oldest_resumed = (0..bag.len())
                .filter(|&k| bag[k].3)
                .min_by_key(|&k| bag[k].0);
            let take = if now_ns.saturating_sub(bag[oldest].2) >= self.p.age_bound_ns {
                oldest
            } else {
                newest_fresh.or(oldest_resumed).unwrap()
            };
            let (_, item, enqueued_at_ns, _) = bag.remove(take);
            t.classes[c].in_flight = t.classes[c].in_flight.saturating_add(1);
            t.in_flight = t.in_flight.saturating_add(1);
            t.peak_in_flight = t.peak_in_flight.max(t.in_flight);
            // With nothing left it stays at the front (a ghost).
            return Some(Picked {
                item,
                tenant: TenantId::new(id),
                class: Class::ALL[c],
                enqueued_at_ns,
            });
        }
    }

    fn charge(&mut self, tenant: TenantId, class: Class, cost_ns: u64) {
        let id = tenant.as_u32();
        if id >= self.p.max_tenants {
            return;
        }
        let i = self.find_or_create(id);
        let cw = u64::from(self.p.class_weights[class.priority()]);
        let in_round = self.round.contains(&id);
        let credit = self
            .credit(self.tenants[i].weight)
            .max(self.credit(Weight::DEFAULT.get()));
        let t = &mut self.tenants[i];
        // One charge debits at most 1 s; a debt is at most max_debt_credits
        // credits (at least default-weight ones) per pick in service at
        // once, and at most 1 s.
        let cost_ns = cost_ns.min(1_000_000_000);
        let picks = i128::from(t.peak_in_flight.max(1));
        let floor = (i128::from(self.p.max_debt_credits) * i128::from(credit) * picks)
            .min(1_000_000_000) as i64;
        t.deficit_ns = (t.deficit_ns - cost_ns as i64).max(-floor);
        let c = &mut t.classes[class.priority()];
        c.vtime = c.vtime.saturating_add(cost_ns * 1000 / cw);
        c.in_flight = c.in_flight.saturating_sub(1);
        t.in_flight = t.in_flight.saturating_sub(1);
        // A ghost stays in the round, not idle.
        if t.len() == 0 && t.in_flight == 0 && !in_round {
            t.go_idle();
        }
    }

    fn withdraw(&mut self, tenant: TenantId, class: Class) -> Option<T> {
        // The oldest resumed item (by arrival, which for resumed items is
        // requeue order), else the oldest fresh one. A tenant left empty
        // stays in the round (a ghost).
        let i = self.find(tenant.as_u32())?;
        let bag = &mut self.tenants[i].classes[class.priority()].bag;
        let oldest_of = |resumed: bool| {
            (0..bag.len())
                .filter(|&k| bag[k].3 == resumed)
                .min_by_key(|&k| bag[k].0)
        };
        let take = oldest_of(true).or_else(|| oldest_of(false))?;
        Some(bag.remove(take).1)
    }

    fn set_weight(&mut self, tenant: TenantId, weight: Weight) -> Result<(), Overflow<Weight>> {
        if tenant.as_u32() >= self.p.max_tenants {
            return Err(Overflow::new(weight, Limit::Tenants));
        }
        let i = self.find_or_create(tenant.as_u32());
        self.tenants[i].weight = weight.get();
        Ok(())
    }

    fn len(&self) -> usize {
        self.tenants.iter().map(ModelTenant::len).sum()
    }

    fn tenant_len(&self, tenant: TenantId) -> usize {
        self.find(tenant.as_u32())
            .map_or(0, |i| self.tenants[i].len())
    }
}
