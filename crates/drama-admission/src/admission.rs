//! [`Admission`]: the decisions, and the state they are made from.

use core::fmt;

use drama_policy::{Class, IoKind, TenantId, Weight};

use crate::config::{AdmissionConfig, ConfigError};
use crate::estimator::{Estimator, Load, Sample};

/// Admission control for one runtime: whether new work of a tenant and
/// class may start now. See the crate documentation for the rules.
///
/// Pure: the caller brings the measurements ([`observe`](Self::observe)),
/// says what it admitted and what finished, and gets decisions back as
/// values. Memory: a few words per tenant id seen, below `max_tenants`.
#[derive(Clone, Debug)]
pub struct Admission {
    rules: Rules,
    estimator: Estimator,
    /// Per tenant id, grown to the largest id seen (below `max_tenants`).
    tenants: Vec<TenantState>,
    /// The ids of the tenants with work in flight, each once.
    active: Vec<u32>,
    /// Work in flight (admitted, not finished), over all tenants.
    in_flight: u64,
    /// The sum of the weights of the tenants with work in flight.
    active_weight: u64,
    /// IO operations in flight, per kind, over all tenants.
    io_in_flight: [u32; IoKind::COUNT],
    /// The tenant holding the most work in flight per unit of weight, as
    /// far as known: recomputed at each measurement step, and taken over
    /// by a tenant admitted to more than it holds now.
    heaviest: Option<u32>,
}

#[derive(Clone, Copy, Debug)]
struct TenantState {
    in_flight: u32,
    weight: u32,
    /// Index in `Admission::active` while `in_flight > 0`.
    position: u32,
    io: [u32; IoKind::COUNT],
}

impl Default for TenantState {
    fn default() -> TenantState {
        TenantState {
            in_flight: 0,
            weight: Weight::DEFAULT.get(),
            position: 0,
            io: [0; IoKind::COUNT],
        }
    }
}

/// Why new work was refused; see [`Refusal::kind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalKind {
    /// The load score is past the work's class threshold (for a tenant
    /// within its share, past the threshold times `within_share_factor`).
    Overloaded,
    /// The tenant holds more than its share of the work in flight, and the
    /// load score is past its class's threshold, or the work in flight is
    /// past the reserve: the heavy tenant is refused before the others.
    OverShare,
    /// The bound on work in flight is reached.
    QueueFull,
    /// The tenant's own bound on work in flight is reached.
    TenantQueueFull,
    /// IO of this kind is at its depth limit, and the work is of a class
    /// that starts more IO (`Accept`, `Read`).
    IoDepth(IoKind),
    /// The work would wait past its deadline before its first poll: by the
    /// predicted wait while the load is armed (for a tenant that waits
    /// behind the backlog), else by the standing queueing delay.
    DeadlineUnreachable,
    /// The tenant id is not below `max_tenants`.
    UnknownTenant,
}

impl RefusalKind {
    /// A short description, for messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            RefusalKind::Overloaded => "overloaded for this class",
            RefusalKind::OverShare => "the tenant is over its share",
            RefusalKind::QueueFull => "the bound on work in flight is reached",
            RefusalKind::TenantQueueFull => "the tenant's bound on work in flight is reached",
            RefusalKind::IoDepth(_) => "IO of a kind is at its depth limit",
            RefusalKind::DeadlineUnreachable => "the deadline cannot be met",
            RefusalKind::UnknownTenant => "the tenant id is not below max_tenants",
        }
    }
}

/// New work refused: why, for which class, how loaded the runtime was, and
/// when a retry may find room.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Refusal {
    kind: RefusalKind,
    class: Class,
    load: Load,
    retry_after_ns: u64,
}

impl Refusal {
    /// Why.
    pub const fn kind(&self) -> RefusalKind {
        self.kind
    }

    /// The class of the work refused.
    pub const fn class(&self) -> Class {
        self.class
    }

    /// The load when it was refused.
    pub const fn load(&self) -> Load {
        self.load
    }

    /// A hint for a caller that retries: the predicted queueing delay
    /// (about the time the backlog takes to drain), at least the target.
    pub const fn retry_after_ns(&self) -> u64 {
        self.retry_after_ns
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} work refused: {} (load {:.2})",
            self.class,
            self.kind.as_str(),
            self.load.score
        )
    }
}

impl std::error::Error for Refusal {}

/// What a decision reads: the work's class, its tenant's state and the
/// runtime's. [`Admission`] fills it from its own counters; a concurrent
/// runtime fills it from its atomics and calls [`Rules::decide`], so that
/// both decide by the same rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ask {
    /// The class of the new work.
    pub class: Class,
    /// Whether the tenant id is below `max_tenants`.
    pub known_tenant: bool,
    /// The tenant's work in flight, before this.
    pub tenant_in_flight: u32,
    /// The tenant's weight (shares).
    pub tenant_weight: u32,
    /// Work in flight over all tenants, before this.
    pub in_flight: u64,
    /// The sum of the weights of the tenants with work in flight.
    pub active_weight: u64,
    /// IO operations in flight per kind (`IoKind::index` order).
    pub io_in_flight: [u32; IoKind::COUNT],
    /// The load now.
    pub load: Load,
    /// The tenant holding the most work in flight per unit of weight (as
    /// far as the caller keeps track): when it is over its share (with the
    /// asking tenant counted among the active ones), a tenant within its
    /// share outlasts it.
    pub heaviest: Holding,
    /// How long the work has until its deadline, if it has one: refused
    /// when the work would wait longer (see
    /// [`RefusalKind::DeadlineUnreachable`]).
    pub time_left_ns: Option<u64>,
}

/// What one tenant holds: its work in flight and its weight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Holding {
    /// Work in flight.
    pub in_flight: u32,
    /// Weight (shares).
    pub weight: u32,
}

impl Holding {
    /// Whether this holds more work in flight per unit of weight than
    /// `other`, or as much and more work (so that the heaviest of a set
    /// does not depend on the order it is searched in).
    pub fn heavier_than(&self, other: &Holding) -> bool {
        let mine = u64::from(self.in_flight) * u64::from(other.weight);
        let theirs = u64::from(other.in_flight) * u64::from(self.weight);
        mine > theirs || (mine == theirs && self.in_flight > other.in_flight)
    }
}

/// A decision: the refusal, if any, and whether the tenant was found over
/// its share on the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Why the work is refused; `None` when it is admitted.
    pub refusal: Option<RefusalKind>,
    /// Whether the tenant holds more than its share (with this work).
    pub over_share: bool,
}

/// The admission rules of a validated [`AdmissionConfig`], as a pure
/// function of an [`Ask`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rules {
    config: AdmissionConfig,
    /// Past this much work in flight, a tenant above its share is refused
    /// (`max_in_flight` less the reserve).
    soft_bound: u64,
}

impl Rules {
    /// The rules of `config`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn new(config: AdmissionConfig) -> Result<Rules, ConfigError> {
        config.validate()?;
        let soft_bound = ((config.max_in_flight as f64) * (1.0 - config.reserve)).floor() as u64;
        Ok(Rules {
            config,
            soft_bound: soft_bound.max(1),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AdmissionConfig {
        &self.config
    }

    /// Decides on new work; see the crate documentation for the order.
    pub fn decide(&self, ask: &Ask) -> Verdict {
        let refuse = |refusal, over_share| Verdict {
            refusal: Some(refusal),
            over_share,
        };
        if !ask.known_tenant {
            return refuse(RefusalKind::UnknownTenant, false);
        }
        if ask.in_flight >= self.config.max_in_flight {
            return refuse(RefusalKind::QueueFull, false);
        }
        if self
            .config
            .max_in_flight_per_tenant
            .is_some_and(|max| ask.tenant_in_flight >= max)
        {
            return refuse(RefusalKind::TenantQueueFull, false);
        }
        let over = self.over_share(ask, 1);
        if over && ask.in_flight >= self.soft_bound {
            return refuse(RefusalKind::OverShare, over);
        }
        if matches!(ask.class, Class::Accept | Class::Read)
            && let Some(kind) = IoKind::ALL.into_iter().find(|kind| {
                self.config.io_depth_limits[kind.index()]
                    .is_some_and(|limit| ask.io_in_flight[kind.index()] >= limit)
            })
        {
            return refuse(RefusalKind::IoDepth(kind), over);
        }
        // A tenant within its share outlasts the ones above theirs, when
        // there are any to refuse first: the heaviest holder, with the
        // asking tenant counted among the active ones (a light tenant whose
        // few tasks finish quickly is rarely active when the heavy one
        // asks, and would let it look entitled to all). Here the heaviest
        // needs only to hold more than the asking tenant would, not more
        // than `min_share_tasks`: that minimum keeps a tenant with a
        // handful of tasks from being refused as heavy, but a pool slow
        // enough that four tasks are the whole backlog (workers sharing
        // their cores) refused the light tenant while the heavy one held
        // four.
        let someone_over_share = || {
            self.holds_over_share_past(
                ask.heaviest,
                ask.active_weight
                    + if ask.tenant_in_flight == 0 {
                        u64::from(ask.tenant_weight)
                    } else {
                        0
                    },
                ask.in_flight + 1,
                ask.tenant_in_flight.saturating_add(1),
            )
        };
        let threshold = self.config.refuse_at[ask.class.priority()];
        if ask.in_flight >= self.in_flight_limit(&ask.load, threshold) {
            if over {
                return refuse(RefusalKind::OverShare, over);
            }
            if !someone_over_share()
                || ask.in_flight
                    >= self.in_flight_limit(&ask.load, threshold * self.config.within_share_factor)
            {
                return refuse(RefusalKind::Overloaded, over);
            }
        }
        // Work that would expire before its first poll is refused now,
        // with its future handed back, rather than queued and dropped. The
        // wait is the one the backlog predicts while the load is armed
        // (the queue is served about in order then: past DRR's age bound,
        // oldest first), for a tenant that waits behind it: not one within
        // its share while another is over its share, which the fair queue
        // serves its share whatever the heavy one queued. Otherwise (a
        // burst, which DRR serves newest first; or such a tenant) it is
        // the standing delay, the least any work waited over the window.
        if let Some(left) = ask.time_left_ns {
            let predicted = ask.load.armed && (over || !someone_over_share());
            let wait_ns = if predicted {
                ask.load
                    .delay_at(ask.in_flight)
                    .max(ask.load.standing_delay_ns)
            } else {
                ask.load.standing_delay_ns
            };
            if wait_ns > left {
                return refuse(RefusalKind::DeadlineUnreachable, over);
            }
        }
        Verdict {
            refusal: None,
            over_share: over,
        }
    }

    /// The work in flight from which new work of `class` is refused by
    /// `load`: where the backlog's predicted wait reaches the class's
    /// threshold, or the window while the load is not armed (`u64::MAX`
    /// for a class never refused by load, or before any poll was
    /// measured). A runtime computes it once per measurement step
    /// and hands it to [`surely_admits`](Self::surely_admits).
    pub fn class_limit(&self, load: &Load, class: Class) -> u64 {
        self.in_flight_limit(load, self.config.refuse_at[class.priority()])
    }

    /// The work in flight at which `load`'s score reaches `score` (see
    /// [`class_limit`](Self::class_limit)); while the load is not armed, a
    /// burst is admitted up to a window's wait.
    fn in_flight_limit(&self, load: &Load, score: f64) -> u64 {
        let score = if load.armed {
            score
        } else {
            score.max(load.window_ns as f64 / load.target_delay_ns as f64)
        };
        match load.backlog_limit(score) {
            u64::MAX => u64::MAX,
            backlog => (load.in_flight + backlog).saturating_sub(load.backlog),
        }
    }

    /// Whether [`decide`](Self::decide) surely admits new work of `class`
    /// with no deadline, for a known tenant holding `tenant_in_flight`,
    /// `in_flight` in all, where the class's limit is `class_limit` (from
    /// [`class_limit`](Self::class_limit)): below the reserve, under the
    /// tenant's bound, under the class's limit, and of a class no IO limit
    /// holds back. The common case on a runtime's spawn path, which then
    /// skips filling the rest of the [`Ask`] (the IO counts, the heaviest
    /// holder, the share test's arithmetic).
    pub fn surely_admits(
        &self,
        class: Class,
        tenant_in_flight: u32,
        in_flight: u64,
        class_limit: u64,
    ) -> bool {
        in_flight < self.soft_bound
            && in_flight < self.config.max_in_flight
            && self
                .config
                .max_in_flight_per_tenant
                .is_none_or(|max| tenant_in_flight < max)
            && in_flight < class_limit
            && (!matches!(class, Class::Accept | Class::Read)
                || self.config.io_depth_limits.iter().all(Option::is_none))
    }

    /// Whether the tenant of `ask`, with `extra` more tasks, holds more
    /// than its share of the work in flight: more than `1 + share_slack`
    /// times its weight's share among the tenants with work in flight, and
    /// more than `min_share_tasks`.
    pub fn over_share(&self, ask: &Ask, extra: u64) -> bool {
        let active_weight = if ask.tenant_in_flight == 0 {
            ask.active_weight + u64::from(ask.tenant_weight)
        } else {
            ask.active_weight
        };
        let holding = Holding {
            in_flight: ask.tenant_in_flight.saturating_add(extra as u32),
            weight: ask.tenant_weight,
        };
        self.holds_over_share(holding, active_weight, ask.in_flight + extra)
    }

    /// Whether `holding` is more than its share of `total` work in flight,
    /// among tenants whose weights sum to `active_weight`.
    fn holds_over_share(&self, holding: Holding, active_weight: u64, total: u64) -> bool {
        self.holds_over_share_past(holding, active_weight, total, self.config.min_share_tasks)
    }

    /// As `holds_over_share`, with `min_held` in place of
    /// `min_share_tasks`: at most `min_held` tasks is never over a share.
    fn holds_over_share_past(
        &self,
        holding: Holding,
        active_weight: u64,
        total: u64,
        min_held: u32,
    ) -> bool {
        let held = u64::from(holding.in_flight);
        if held <= u64::from(min_held) {
            return false;
        }
        // held / total > (1 + slack) * weight / active_weight, without the
        // divisions.
        held as f64 * active_weight as f64
            > (1.0 + self.config.share_slack) * f64::from(holding.weight) * total as f64
    }

    /// The refusal of `kind` for `class` at `load` with `in_flight` work in
    /// flight (its score is the one at that moment), with its retry hint:
    /// the predicted wait (about the time the backlog takes to drain), and
    /// at least the target.
    pub fn refusal(&self, kind: RefusalKind, class: Class, load: Load, in_flight: u64) -> Refusal {
        let mut load = load;
        load.score = load.score_at(in_flight);
        Refusal {
            kind,
            class,
            load,
            retry_after_ns: load.delay_at(in_flight).max(self.config.target_delay_ns),
        }
    }
}

impl Admission {
    /// Admission with `config`, idle and empty.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn new(config: AdmissionConfig) -> Result<Admission, ConfigError> {
        let rules = Rules::new(config)?;
        Ok(Admission {
            estimator: Estimator::with_config(&config),
            tenants: Vec::new(),
            active: Vec::new(),
            in_flight: 0,
            active_weight: 0,
            io_in_flight: [0; IoKind::COUNT],
            heaviest: None,
            rules,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AdmissionConfig {
        self.rules.config()
    }

    /// Takes a measurement step into the estimate, and finds the heaviest
    /// holder again.
    /// The sample's `in_flight` is replaced by the work in flight counted
    /// here.
    pub fn observe(&mut self, sample: Sample) {
        self.estimator.observe(Sample {
            in_flight: self.in_flight,
            ..sample
        });
        self.heaviest = None;
        for &id in &self.active {
            let candidate = self.holding(id);
            // Equal holdings: the lower id, so that the search order does
            // not matter.
            if self.heaviest.is_none_or(|heaviest| {
                let current = self.holding(heaviest);
                candidate.heavier_than(&current) || (candidate == current && id < heaviest)
            }) {
                self.heaviest = Some(id);
            }
        }
    }

    fn holding(&self, id: u32) -> Holding {
        let state = &self.tenants[id as usize];
        Holding {
            in_flight: state.in_flight,
            weight: state.weight,
        }
    }

    /// The load now.
    pub fn load(&self) -> Load {
        self.estimator.load()
    }

    /// Whether new work of `tenant` in `class` may start now; on `Ok` it is
    /// counted as in flight until [`finish`](Self::finish).
    ///
    /// # Errors
    ///
    /// A [`Refusal`] saying why; nothing is counted.
    pub fn admit(&mut self, tenant: TenantId, class: Class) -> Result<(), Refusal> {
        self.decide(tenant, class, None)?;
        self.count(tenant);
        Ok(())
    }

    /// As [`admit`](Self::admit), for work that must start by `deadline_ns`
    /// (on the clock of [`Sample::now_ns`]): also refused when waiting the
    /// standing queueing delay from `now_ns` would pass the deadline.
    ///
    /// # Errors
    ///
    /// As [`admit`](Self::admit), and
    /// [`DeadlineUnreachable`](RefusalKind::DeadlineUnreachable).
    pub fn admit_by(
        &mut self,
        tenant: TenantId,
        class: Class,
        now_ns: u64,
        deadline_ns: u64,
    ) -> Result<(), Refusal> {
        self.decide(tenant, class, Some(deadline_ns.saturating_sub(now_ns)))?;
        self.count(tenant);
        Ok(())
    }

    /// Whether new work of `tenant` in `class` would be admitted now,
    /// counting nothing.
    ///
    /// # Errors
    ///
    /// As [`admit`](Self::admit).
    pub fn check(&self, tenant: TenantId, class: Class) -> Result<(), Refusal> {
        let ask = self.ask(tenant, class, None);
        match self.rules.decide(&ask).refusal {
            Some(kind) => Err(self.rules.refusal(kind, class, ask.load, ask.in_flight)),
            None => Ok(()),
        }
    }

    /// As [`check`](Self::check), noting a tenant found over its share.
    fn decide(
        &mut self,
        tenant: TenantId,
        class: Class,
        time_left_ns: Option<u64>,
    ) -> Result<(), Refusal> {
        let ask = self.ask(tenant, class, time_left_ns);
        let verdict = self.rules.decide(&ask);
        match verdict.refusal {
            Some(kind) => Err(self.rules.refusal(kind, class, ask.load, ask.in_flight)),
            None => Ok(()),
        }
    }

    /// What a decision on new work of `tenant` in `class` reads.
    fn ask(&self, tenant: TenantId, class: Class, time_left_ns: Option<u64>) -> Ask {
        let known_tenant = tenant.as_u32() < self.rules.config().max_tenants;
        let state = self
            .tenants
            .get(tenant.as_u32() as usize)
            .copied()
            .unwrap_or_default();
        Ask {
            class,
            known_tenant,
            tenant_in_flight: state.in_flight,
            tenant_weight: state.weight,
            in_flight: self.in_flight,
            active_weight: self.active_weight,
            io_in_flight: self.io_in_flight,
            load: self.load(),
            heaviest: self
                .heaviest
                .map_or(Holding::default(), |id| self.holding(id)),
            time_left_ns,
        }
    }

    /// Counts work of `tenant` as in flight without asking (work the
    /// caller must run whatever the load). Ids past `max_tenants` are not
    /// counted.
    pub fn count(&mut self, tenant: TenantId) {
        let Some(index) = self.index(tenant) else {
            return;
        };
        let state = &mut self.tenants[index];
        if state.in_flight == 0 {
            state.position = self.active.len() as u32;
            self.active.push(index as u32);
            self.active_weight += u64::from(state.weight);
        }
        state.in_flight += 1;
        self.in_flight += 1;
        let id = index as u32;
        if self
            .heaviest
            .is_none_or(|heaviest| self.holding(id).heavier_than(&self.holding(heaviest)))
        {
            self.heaviest = Some(id);
        }
    }

    /// Work of `tenant` admitted earlier has finished (or was dropped).
    pub fn finish(&mut self, tenant: TenantId) {
        let Some(state) = self.tenants.get_mut(tenant.as_u32() as usize) else {
            return;
        };
        if state.in_flight == 0 {
            debug_assert!(false, "{tenant:?} finished more than it was admitted");
            return;
        }
        state.in_flight -= 1;
        self.in_flight -= 1;
        if state.in_flight == 0 {
            let position = state.position as usize;
            self.active_weight -= u64::from(state.weight);
            self.active.swap_remove(position);
            if let Some(&moved) = self.active.get(position) {
                self.tenants[moved as usize].position = position as u32;
            }
        }
    }

    /// Sets `tenant`'s weight: its share of the work in flight. Ids past
    /// `max_tenants` are ignored.
    pub fn set_weight(&mut self, tenant: TenantId, weight: Weight) {
        let Some(index) = self.index(tenant) else {
            return;
        };
        let state = &mut self.tenants[index];
        if state.in_flight > 0 {
            self.active_weight =
                self.active_weight - u64::from(state.weight) + u64::from(weight.get());
        }
        state.weight = weight.get();
    }

    /// An IO operation of `kind` started for `tenant`.
    pub fn io_begin(&mut self, tenant: TenantId, kind: IoKind) {
        let Some(index) = self.index(tenant) else {
            return;
        };
        self.tenants[index].io[kind.index()] += 1;
        self.io_in_flight[kind.index()] += 1;
    }

    /// An IO operation of `kind` that started for `tenant` ended.
    pub fn io_end(&mut self, tenant: TenantId, kind: IoKind) {
        let Some(state) = self.tenants.get_mut(tenant.as_u32() as usize) else {
            return;
        };
        let held = &mut state.io[kind.index()];
        if *held == 0 {
            debug_assert!(false, "{tenant:?} ended more {kind} IO than it began");
            return;
        }
        *held -= 1;
        self.io_in_flight[kind.index()] -= 1;
    }

    /// Work in flight, over all tenants.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// `tenant`'s work in flight.
    pub fn tenant_in_flight(&self, tenant: TenantId) -> u32 {
        self.tenants
            .get(tenant.as_u32() as usize)
            .map_or(0, |state| state.in_flight)
    }

    /// IO operations of `kind` in flight: `tenant`'s, or everyone's for
    /// `None`.
    pub fn io_in_flight(&self, tenant: Option<TenantId>, kind: IoKind) -> u32 {
        match tenant {
            None => self.io_in_flight[kind.index()],
            Some(tenant) => self
                .tenants
                .get(tenant.as_u32() as usize)
                .map_or(0, |state| state.io[kind.index()]),
        }
    }

    /// Whether `tenant` holds more than its share of the work in flight,
    /// by its weight among the tenants with work in flight (see
    /// [`Rules::over_share`]).
    pub fn is_over_share(&self, tenant: TenantId) -> bool {
        self.rules
            .over_share(&self.ask(tenant, Class::Compute, None), 0)
    }

    /// The index of `tenant`'s state, grown into the table if new; `None`
    /// past `max_tenants`.
    fn index(&mut self, tenant: TenantId) -> Option<usize> {
        let id = tenant.as_u32();
        if id >= self.rules.config().max_tenants {
            return None;
        }
        let index = id as usize;
        if index >= self.tenants.len() {
            self.tenants.resize(index + 1, TenantState::default());
        }
        Some(index)
    }
}
