//! The admission gate: drama-admission's rules, decided on the spawn path
//! from atomics, with the load the monitor estimates.
//!
//! `drama_admission::Rules::decide` is a pure function of an `Ask` (the
//! tenant's work in flight and weight, the totals, IO in flight, the load).
//! Here every spawning thread fills the `Ask` from shared counters and
//! decides by itself, with no lock: the load comes from the monitor, which
//! runs the estimator on its beat and publishes the result; the counters
//! move with each admission and each task's end. The counters are read
//! and moved separately, so two spawns racing for the last room may both
//! get it: the shares and thresholds are soft, and the hard bound on tasks
//! is the pool's `live` reservation, which never overshoots.

use std::sync::OnceLock;
use std::time::Duration;

use drama_admission::{Ask, Estimator, Holding, Load, Refusal, RefusalKind, Rules, Sample};
use drama_core::RejectReason;
use drama_metrics::{REASONS, TenantRow};
use drama_policy::{Class, IoKind, TenantId, Weight};

use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Tenants per page of the counters: a page (112 KiB: 224 bytes a tenant,
/// most of them the scheduler's view's counts) is allocated when a tenant
/// of its range first shows up, so that `max_tenants` of 2^24 costs memory
/// only for the ranges in use (and 32,768 page pointers, 256 KiB). Pages of
/// 4,096 tenants (900 KiB, mapped afresh and zeroed by the spawning thread)
/// stalled the workers' own page faults for half a millisecond, which the
/// poll then running was charged: the scheduler's view showed a new
/// tenant every 4,096 among the heaviest. A page under the allocator's
/// mapping threshold (128 KiB) comes from the heap.
const PAGE: usize = 512;

/// No tenant: `heaviest` before any admission. Past every valid id
/// (`max_tenants` is at most 2^24).
const NO_TENANT: u32 = u32::MAX;

/// One tenant's counters.
struct TenantCell {
    in_flight: AtomicU32,
    weight: AtomicU32,
    /// IO operations in flight, per kind.
    io: [AtomicU32; IoKind::COUNT],
    /// Tasks whose deadline passed before their first poll.
    expired: AtomicU32,
    /// For the scheduler's view (cumulative): tasks spawned and completed
    /// by class off the workers' threads (those on a worker are counted
    /// in its recorder, without a locked instruction), tasks that panicked
    /// or were dropped before completing, refusals by reason
    /// (`drama_metrics::REASON_NAMES`), IO ended by kind.
    spawned: [AtomicU64; Class::COUNT],
    completed: [AtomicU64; Class::COUNT],
    panicked: AtomicU64,
    cancelled: AtomicU64,
    refused: [AtomicU64; REASONS],
    io_done: [AtomicU64; IoKind::COUNT],
}

/// How a task ended, for the scheduler's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Its future returned its output.
    Completed,
    /// It panicked.
    Panicked,
    /// It was dropped before its end (aborted, or cancelled at shutdown).
    Cancelled,
    /// Its deadline had passed at its first poll (counted by `expired`).
    Expired,
}

/// The shared side of admission for one pool.
pub(crate) struct Gate {
    rules: Rules,
    /// `rules`' `min_share_tasks`, at hand for the spawn path.
    min_share_tasks: u32,
    pages: Box<[OnceLock<Box<[TenantCell]>>]>,
    /// The sum of the weights of the tenants with work in flight.
    active_weight: AtomicU64,
    io_in_flight: [AtomicU32; IoKind::COUNT],
    /// The last load the monitor estimated, field by field (`f64`s as
    /// bits). The fields are published one by one: a decision racing the
    /// monitor's step may read fields of two steps, a soft error of one
    /// step that the next decision does not repeat.
    score_bits: AtomicU64,
    utilization_bits: AtomicU64,
    standing_delay_ns: AtomicU64,
    backlog: AtomicU64,
    in_flight_at_step: AtomicU64,
    delay_per_task_bits: AtomicU64,
    armed: AtomicBool,
    /// Per class (by priority), the work in flight from which the last
    /// load refuses the class (`Rules::class_limit`): the spawn path's
    /// common case compares with it and reads nothing else of the load.
    class_limits: [AtomicU64; Class::COUNT],
    /// The tenant holding the most work in flight per unit of weight, as
    /// far as known (`NO_TENANT` before any): taken over by a tenant
    /// admitted past what it holds now. Kept up by the admissions alone,
    /// so a heavy tenant that stops asking may be missed until it asks
    /// again; the shield it gives the light tenants then waits for that.
    heaviest: AtomicU32,
    /// Spawns refused so far (by the rules and by the pool's bounds), in
    /// total and by class.
    refused: AtomicU64,
    class_refused: [AtomicU64; Class::COUNT],
    /// For `LoadReport`, from the monitor: the recent queueing delays'
    /// median and 99th percentile (ns), and the recent refusals per
    /// second (`f64` bits).
    delay_p50_ns: AtomicU64,
    delay_p99_ns: AtomicU64,
    refusal_rate_bits: AtomicU64,
    /// Tasks expired before their first poll so far.
    expired: AtomicU64,
}

impl Gate {
    pub(crate) fn new(rules: Rules) -> Gate {
        let max_tenants = rules.config().get_max_tenants() as usize;
        let pages = (0..max_tenants.div_ceil(PAGE))
            .map(|_| OnceLock::new())
            .collect();
        Gate {
            min_share_tasks: rules.config().get_min_share_tasks(),
            rules,
            pages,
            active_weight: AtomicU64::new(0),
            io_in_flight: std::array::from_fn(|_| AtomicU32::new(0)),
            score_bits: AtomicU64::new(0f64.to_bits()),
            utilization_bits: AtomicU64::new(0f64.to_bits()),
            standing_delay_ns: AtomicU64::new(0),
            backlog: AtomicU64::new(0),
            in_flight_at_step: AtomicU64::new(0),
            delay_per_task_bits: AtomicU64::new(0f64.to_bits()),
            armed: AtomicBool::new(false),
            class_limits: std::array::from_fn(|_| AtomicU64::new(u64::MAX)),
            heaviest: AtomicU32::new(NO_TENANT),
            refused: AtomicU64::new(0),
            class_refused: std::array::from_fn(|_| AtomicU64::new(0)),
            delay_p50_ns: AtomicU64::new(0),
            delay_p99_ns: AtomicU64::new(0),
            refusal_rate_bits: AtomicU64::new(0f64.to_bits()),
            expired: AtomicU64::new(0),
        }
    }

    fn cell(&self, tenant: TenantId) -> Option<&TenantCell> {
        let id = tenant.as_u32() as usize;
        let page = self.pages.get(id / PAGE)?;
        let cells = page.get_or_init(|| {
            (0..PAGE)
                .map(|_| TenantCell {
                    in_flight: AtomicU32::new(0),
                    weight: AtomicU32::new(Weight::DEFAULT.get()),
                    io: std::array::from_fn(|_| AtomicU32::new(0)),
                    expired: AtomicU32::new(0),
                    spawned: std::array::from_fn(|_| AtomicU64::new(0)),
                    completed: std::array::from_fn(|_| AtomicU64::new(0)),
                    panicked: AtomicU64::new(0),
                    cancelled: AtomicU64::new(0),
                    refused: std::array::from_fn(|_| AtomicU64::new(0)),
                    io_done: std::array::from_fn(|_| AtomicU64::new(0)),
                })
                .collect()
        });
        Some(&cells[id % PAGE])
    }

    /// The load the monitor last published.
    pub(crate) fn load(&self) -> Load {
        Load {
            score: f64::from_bits(self.score_bits.load(Ordering::Relaxed)),
            standing_delay_ns: self.standing_delay_ns.load(Ordering::Relaxed),
            utilization: f64::from_bits(self.utilization_bits.load(Ordering::Relaxed)),
            backlog: self.backlog.load(Ordering::Relaxed),
            in_flight: self.in_flight_at_step.load(Ordering::Relaxed),
            delay_per_task_ns: f64::from_bits(self.delay_per_task_bits.load(Ordering::Relaxed)),
            target_delay_ns: self.rules.config().get_target_delay_ns(),
            armed: self.armed.load(Ordering::Relaxed),
            window_ns: self.rules.config().get_window_ns(),
        }
    }

    /// Decides on new work of `tenant` in `class`, with `in_flight` tasks
    /// alive in the pool; admitted work is counted for its tenant until
    /// [`finish`](Self::finish), and counted as a task spawned if `task`
    /// (a task spawned off the workers, for the view; undone by
    /// [`unspawn`](Self::unspawn) if the pool then refuses it).
    pub(crate) fn admit(
        &self,
        tenant: TenantId,
        class: Class,
        task: bool,
        in_flight: u64,
        time_left: Option<Duration>,
    ) -> Result<(), Refusal> {
        let cell = self.cell(tenant);
        // The common case, a pool below its thresholds: decided from two
        // loads, without the rest of the `Ask`.
        if let Some(cell) = cell
            && time_left.is_none()
        {
            let held = cell.in_flight.load(Ordering::Relaxed);
            let limit = self.class_limits[class.priority()].load(Ordering::Relaxed);
            if self.rules.surely_admits(class, held, in_flight, limit) {
                self.count(tenant, cell, class, task);
                return Ok(());
            }
        }
        let ask = Ask {
            class,
            known_tenant: cell.is_some(),
            tenant_in_flight: cell.map_or(0, |c| c.in_flight.load(Ordering::Relaxed)),
            tenant_weight: cell.map_or(Weight::DEFAULT.get(), |c| c.weight.load(Ordering::Relaxed)),
            in_flight,
            active_weight: self.active_weight.load(Ordering::Relaxed),
            io_in_flight: std::array::from_fn(|k| self.io_in_flight[k].load(Ordering::Relaxed)),
            load: self.load(),
            heaviest: self.holding(self.heaviest.load(Ordering::Relaxed)),
            time_left_ns: time_left.map(|left| u64::try_from(left.as_nanos()).unwrap_or(u64::MAX)),
        };
        let verdict = self.rules.decide(&ask);
        if let Some(kind) = verdict.refusal {
            self.refuse(tenant, class, reject_reason(kind));
            return Err(self.rules.refusal(kind, class, ask.load, in_flight));
        }
        if let Some(cell) = cell {
            self.count(tenant, cell, class, task);
        }
        Ok(())
    }

    /// Counts admitted work of `tenant` (whose counters are `cell`), and a
    /// `task` of `class` as spawned.
    fn count(&self, tenant: TenantId, cell: &TenantCell, class: Class, task: bool) {
        let held = cell.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        if task {
            // Next to `in_flight`, on a line this thread just took.
            cell.spawned[class.priority()].fetch_add(1, Ordering::Relaxed);
        }
        if held == 1 {
            self.active_weight.fetch_add(
                u64::from(cell.weight.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        // Take the heaviest's place if this tenant now holds more (only a
        // tenant past the minimum can be over its share, so lighter ones
        // skip the look). A race between two admissions may keep the
        // lighter one for a moment; the next admission of the heavier one
        // corrects it.
        if held > self.min_share_tasks {
            let heaviest = self.heaviest.load(Ordering::Relaxed);
            let holding = Holding {
                in_flight: held,
                weight: cell.weight.load(Ordering::Relaxed),
            };
            if heaviest != tenant.as_u32() && holding.heavier_than(&self.holding(heaviest)) {
                self.heaviest.store(tenant.as_u32(), Ordering::Relaxed);
            }
        }
    }

    /// What tenant `id` holds now (nothing for `NO_TENANT`).
    fn holding(&self, id: u32) -> Holding {
        match self.cell(TenantId::new(id)) {
            Some(cell) if id != NO_TENANT => Holding {
                in_flight: cell.in_flight.load(Ordering::Relaxed),
                weight: cell.weight.load(Ordering::Relaxed),
            },
            _ => Holding::default(),
        }
    }

    /// Work of `tenant` admitted earlier ended (its future was dropped).
    pub(crate) fn finish(&self, tenant: TenantId) {
        let Some(cell) = self.cell(tenant) else {
            return;
        };
        if cell.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.active_weight.fetch_sub(
                u64::from(cell.weight.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
    }

    /// A task admitted for `tenant` in `class` (and counted as spawned if
    /// `task`) was refused by the pool's own bound after all: its
    /// admission and its spawn are undone.
    pub(crate) fn unspawn(&self, tenant: TenantId, class: Class, task: bool) {
        if let Some(cell) = self.cell(tenant)
            && task
        {
            cell.spawned[class.priority()].fetch_sub(1, Ordering::Relaxed);
        }
        self.finish(tenant);
    }

    /// Counts how a task of `tenant` in `class` ended, for the view (a
    /// completion on a worker is counted in its recorder instead).
    pub(crate) fn ended(&self, tenant: TenantId, class: Class, ending: Ending) {
        if let Some(cell) = self.cell(tenant) {
            let counter = match ending {
                Ending::Completed => Some(&cell.completed[class.priority()]),
                Ending::Panicked => Some(&cell.panicked),
                Ending::Cancelled => Some(&cell.cancelled),
                // Counted when it expired (`expired`).
                Ending::Expired => None,
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A spawn or an admission of `tenant` in `class` was refused for
    /// `reason`.
    pub(crate) fn refuse(&self, tenant: TenantId, class: Class, reason: RejectReason) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.class_refused[class.priority()].fetch_add(1, Ordering::Relaxed);
        if let (Some(cell), Some(index)) = (self.cell(tenant), reason_index(reason)) {
            cell.refused[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Tasks of class `class` spawned and completed off the workers so
    /// far (a sum over the tenants' counters: for snapshots only).
    pub(crate) fn class_tasks(&self, class: Class) -> (u64, u64) {
        let (mut spawned, mut completed) = (0u64, 0u64);
        for cells in self.pages.iter().filter_map(OnceLock::get) {
            for cell in cells.iter() {
                spawned += cell.spawned[class.priority()].load(Ordering::Relaxed);
                completed += cell.completed[class.priority()].load(Ordering::Relaxed);
            }
        }
        (spawned, completed)
    }

    /// Refusals of class `class` so far.
    pub(crate) fn class_refused(&self, class: Class) -> u64 {
        self.class_refused[class.priority()].load(Ordering::Relaxed)
    }

    /// The tenant ids whose counters exist (their page was needed): every
    /// tenant that was ever admitted, refused or did IO is among them.
    pub(crate) fn ids_in_use(&self) -> impl Iterator<Item = u32> + '_ {
        self.pages
            .iter()
            .enumerate()
            .filter(|(_, page)| page.get().is_some())
            .flat_map(|(i, _)| (i * PAGE) as u32..((i + 1) * PAGE) as u32)
    }

    /// Fills in what the gate knows of tenant `reading.id`: its weight,
    /// work in flight and IO now, its tasks' endings and its refusals.
    pub(crate) fn read_tenant(&self, reading: &mut TenantRow) {
        let Some(cell) = self
            .pages
            .get(reading.id as usize / PAGE)
            .and_then(OnceLock::get)
        else {
            return;
        };
        let cell = &cell[reading.id as usize % PAGE];
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        reading.weight = cell.weight.load(Ordering::Relaxed);
        reading.in_flight = u64::from(cell.in_flight.load(Ordering::Relaxed));
        reading.spawned = cell.spawned.iter().map(load).sum();
        reading.completed = cell.completed.iter().map(load).sum();
        reading.panicked = load(&cell.panicked);
        reading.cancelled = load(&cell.cancelled);
        reading.expired = u64::from(cell.expired.load(Ordering::Relaxed));
        reading.refused = std::array::from_fn(|i| load(&cell.refused[i]));
        reading.io_in_flight =
            std::array::from_fn(|i| u64::from(cell.io[i].load(Ordering::Relaxed)));
        reading.io_done = std::array::from_fn(|i| load(&cell.io_done[i]));
    }

    /// `tenant`'s weight changed.
    pub(crate) fn set_weight(&self, tenant: TenantId, weight: Weight) {
        let Some(cell) = self.cell(tenant) else {
            return;
        };
        let old = cell.weight.swap(weight.get(), Ordering::Relaxed);
        if cell.in_flight.load(Ordering::Relaxed) > 0 {
            // Approximate under a race with the tenant's first or last
            // task: the sum is a soft input of the share test.
            self.active_weight
                .fetch_add(u64::from(weight.get()), Ordering::Relaxed);
            self.active_weight
                .fetch_sub(u64::from(old), Ordering::Relaxed);
        }
    }

    /// An IO operation of `kind` began for `tenant`.
    pub(crate) fn io_begin(&self, tenant: TenantId, kind: IoKind) {
        if let Some(cell) = self.cell(tenant) {
            cell.io[kind.index()].fetch_add(1, Ordering::Relaxed);
        }
        self.io_in_flight[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// An IO operation of `kind` that began for `tenant` ended.
    pub(crate) fn io_end(&self, tenant: TenantId, kind: IoKind) {
        if let Some(cell) = self.cell(tenant) {
            cell.io[kind.index()].fetch_sub(1, Ordering::Relaxed);
            cell.io_done[kind.index()].fetch_add(1, Ordering::Relaxed);
        }
        self.io_in_flight[kind.index()].fetch_sub(1, Ordering::Relaxed);
    }

    /// IO operations of `kind` in flight: `tenant`'s, or everyone's.
    pub(crate) fn io_in_flight(&self, tenant: Option<TenantId>, kind: IoKind) -> u32 {
        match tenant {
            None => self.io_in_flight[kind.index()].load(Ordering::Relaxed),
            Some(tenant) => self
                .cell(tenant)
                .map_or(0, |cell| cell.io[kind.index()].load(Ordering::Relaxed)),
        }
    }

    /// A task of `tenant` expired before its first poll (it was dropped
    /// unpolled).
    pub(crate) fn expired(&self, tenant: TenantId) {
        if let Some(cell) = self.cell(tenant) {
            cell.expired.fetch_add(1, Ordering::Relaxed);
        }
        self.expired.fetch_add(1, Ordering::Relaxed);
    }

    /// Tasks expired before their first poll so far.
    pub(crate) fn n_expired(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }

    /// The monitor's report: the recent queueing delays' median and 99th
    /// percentile, and the recent refusals per second.
    pub(crate) fn report(&self, p50_ns: u64, p99_ns: u64, refusals_per_sec: f64) {
        self.delay_p50_ns.store(p50_ns, Ordering::Relaxed);
        self.delay_p99_ns.store(p99_ns, Ordering::Relaxed);
        self.refusal_rate_bits
            .store(refusals_per_sec.to_bits(), Ordering::Relaxed);
    }

    /// The last report: delay median, delay 99th percentile (ns), refusals
    /// per second.
    pub(crate) fn reported(&self) -> (u64, u64, f64) {
        (
            self.delay_p50_ns.load(Ordering::Relaxed),
            self.delay_p99_ns.load(Ordering::Relaxed),
            f64::from_bits(self.refusal_rate_bits.load(Ordering::Relaxed)),
        )
    }

    /// Spawns refused by the rules so far.
    pub(crate) fn n_refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The monitor's step: the estimate is published.
    pub(crate) fn step(&self, estimator: &mut Estimator, sample: Sample) {
        estimator.observe(sample);
        let load = estimator.load();
        self.publish(&load);
    }

    /// Publishes `load` for the deciding threads.
    fn publish(&self, load: &Load) {
        self.score_bits
            .store(load.score.to_bits(), Ordering::Relaxed);
        self.utilization_bits
            .store(load.utilization.to_bits(), Ordering::Relaxed);
        self.standing_delay_ns
            .store(load.standing_delay_ns, Ordering::Relaxed);
        self.backlog.store(load.backlog, Ordering::Relaxed);
        self.in_flight_at_step
            .store(load.in_flight, Ordering::Relaxed);
        self.delay_per_task_bits
            .store(load.delay_per_task_ns.to_bits(), Ordering::Relaxed);
        self.armed.store(load.armed, Ordering::Relaxed);
        for class in Class::ALL {
            self.class_limits[class.priority()]
                .store(self.rules.class_limit(load, class), Ordering::Relaxed);
        }
    }
}

/// The reason a refusal of the rules gives a spawner.
pub(crate) fn reject_reason(kind: RefusalKind) -> RejectReason {
    match kind {
        RefusalKind::Overloaded => RejectReason::Overloaded,
        RefusalKind::OverShare => RejectReason::OverShare,
        RefusalKind::IoDepth(_) => RejectReason::IoDepth,
        RefusalKind::UnknownTenant => RejectReason::InvalidTenant,
        RefusalKind::DeadlineUnreachable => RejectReason::DeadlineUnreachable,
        // The bounds: the executor is full for this work.
        _ => RejectReason::QueueFull,
    }
}

/// Where a refusal's reason counts in the view's per-reason tables
/// (`drama_metrics::REASON_NAMES`); `None` for a reason no tenant's spawn
/// gets.
pub(crate) fn reason_index(reason: RejectReason) -> Option<usize> {
    Some(match reason {
        RejectReason::Overloaded => 0,
        RejectReason::OverShare => 1,
        RejectReason::QueueFull => 2,
        RejectReason::IoDepth => 3,
        RejectReason::DeadlineUnreachable => 4,
        RejectReason::InvalidTenant => 5,
        _ => return None,
    })
}

/// The retry hint of a refusal, as a `Duration`.
pub(crate) fn retry_after(refusal: &Refusal) -> Option<Duration> {
    match refusal.kind() {
        RefusalKind::UnknownTenant => None,
        _ => Some(Duration::from_nanos(refusal.retry_after_ns())),
    }
}
