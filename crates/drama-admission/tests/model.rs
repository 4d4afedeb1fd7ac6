//! `Admission` against a naive reference model: the same rules computed
//! from scratch at every step (sums over every tenant, the window's minimum
//! over every sample kept, the backlog's predicted delay from the counts),
//! under random operations. Checks that every
//! decision matches, that nothing admitted is lost from the counts, and
//! that the bounds hold.

use std::collections::BTreeMap;

use drama_admission::{Admission, AdmissionConfig, Holding, RefusalKind, Sample};
use drama_policy::{Class, IoKind, TenantId, Weight};
use proptest::prelude::*;

const TARGET_NS: u64 = 1_000_000;
const WINDOW_NS: u64 = 4_000_000;
const MAX_IN_FLIGHT: u64 = 24;
const RESERVE: f64 = 0.25;
const MIN_SHARE_TASKS: u32 = 2;
const SLACK: f64 = 0.25;
const FACTOR: f64 = 2.0;
const MAX_TENANTS: u32 = 4;
const READ_IO_LIMIT: u32 = 2;
const REFUSE_AT: [f64; Class::COUNT] = AdmissionConfig::DEFAULT_REFUSE_AT;
const ARM_UTILIZATION: f64 = AdmissionConfig::DEFAULT_ARM_UTILIZATION;
const WORKERS: u32 = 2;

fn config(tenant_cap: Option<u32>) -> AdmissionConfig {
    let config = AdmissionConfig::new()
        .target_delay_ns(TARGET_NS)
        .window_ns(WINDOW_NS)
        .max_in_flight(MAX_IN_FLIGHT)
        .reserve(RESERVE)
        .min_share_tasks(MIN_SHARE_TASKS)
        .share_slack(SLACK)
        .within_share_factor(FACTOR)
        .max_tenants(MAX_TENANTS)
        .io_depth_limit(IoKind::Read, READ_IO_LIMIT);
    match tenant_cap {
        Some(cap) => config.max_in_flight_per_tenant(cap),
        None => config,
    }
}

#[derive(Clone, Debug)]
enum Op {
    Admit(u32, usize),
    Finish(u32),
    Observe {
        dt_us: u64,
        delay_us: u64,
        utilization_pct: u32,
        backlog: u64,
        poll_us: u64,
    },
    SetWeight(u32, u32),
    IoBegin(u32, usize),
    IoEnd(u32, usize),
}

fn op() -> impl Strategy<Value = Op> {
    // Tenant 4 is past max_tenants.
    let tenant = 0u32..=MAX_TENANTS;
    prop_oneof![
        4 => (tenant.clone(), 0..Class::COUNT).prop_map(|(t, c)| Op::Admit(t, c)),
        2 => tenant.clone().prop_map(Op::Finish),
        2 => (0u64..3_000, 0u64..6_000, 0u32..=100, 0u64..60, 0u64..300).prop_map(
            |(dt_us, delay_us, utilization_pct, backlog, poll_us)| {
                Op::Observe { dt_us, delay_us, utilization_pct, backlog, poll_us }
            }
        ),
        1 => (tenant.clone(), 1u32..=500).prop_map(|(t, w)| Op::SetWeight(t, w)),
        1 => (tenant.clone(), 0..IoKind::COUNT).prop_map(|(t, k)| Op::IoBegin(t, k)),
        1 => (tenant, 0..IoKind::COUNT).prop_map(|(t, k)| Op::IoEnd(t, k)),
    ]
}

/// The rules, computed from scratch.
#[derive(Default)]
struct Model {
    tenant_cap: Option<u32>,
    in_flight: BTreeMap<u32, u32>,
    weights: BTreeMap<u32, u32>,
    io: BTreeMap<(u32, usize), u32>,
    /// Every sample, with the first one's "no queue yet" in front.
    samples: Vec<(u64, u64)>,
    last_ns: Option<u64>,
    utilization: f64,
    /// The mean poll (0 before any), the backlog and the work in flight at
    /// the last step.
    poll_ns: f64,
    backlog: u64,
    in_flight_at_step: u64,
    /// Busy workers, a standing queue, or a backlog of half a window's
    /// work at a step; once armed, until the utilization falls 0.1 below
    /// the arming level.
    armed: bool,
    /// The heaviest holder as the rule tracks it: found again at each
    /// measurement step, taken over by a tenant admitted past it.
    heaviest: Option<u32>,
}

impl Model {
    fn weight(&self, t: u32) -> u32 {
        self.weights
            .get(&t)
            .copied()
            .unwrap_or(Weight::DEFAULT.get())
    }

    fn held(&self, t: u32) -> u32 {
        self.in_flight.get(&t).copied().unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.in_flight.values().map(|&n| u64::from(n)).sum()
    }

    fn over_share(&self, t: u32, extra: u64) -> bool {
        let held = u64::from(self.held(t)) + extra;
        if held <= u64::from(MIN_SHARE_TASKS) {
            return false;
        }
        let mut active: u64 = (0..MAX_TENANTS)
            .filter(|&u| self.held(u) > 0)
            .map(|u| u64::from(self.weight(u)))
            .sum();
        if self.held(t) == 0 {
            active += u64::from(self.weight(t));
        }
        let total = self.total() + extra;
        held as f64 * active as f64 > (1.0 + SLACK) * f64::from(self.weight(t)) * total as f64
    }

    fn standing_ns(&self) -> u64 {
        let now = self.last_ns.unwrap_or(0);
        let newest = self.samples.last().map_or(0, |&(_, d)| d);
        self.samples
            .iter()
            .filter(|&&(t, _)| t + WINDOW_NS > now)
            .map(|&(_, d)| d)
            .min()
            .unwrap_or(newest)
    }

    /// The queueing delay each waiting task adds.
    fn delay_per_task_ns(&self) -> f64 {
        self.poll_ns / f64::from(WORKERS)
    }

    /// The backlog now: the step's, plus what was admitted since, less
    /// what finished since.
    fn backlog_now(&self) -> u64 {
        (self.backlog + self.total()).saturating_sub(self.in_flight_at_step)
    }

    /// Armed at the last step.
    fn armed(&self) -> bool {
        self.armed
    }

    /// Whether the backlog's predicted delay is `score` times the target.
    fn past(&self, score: f64) -> bool {
        let score = if self.armed() {
            score
        } else {
            score.max(WINDOW_NS as f64 / TARGET_NS as f64)
        };
        self.backlog_now() as f64 >= (score * TARGET_NS as f64 / self.delay_per_task_ns()).ceil()
    }

    fn observe(
        &mut self,
        now_ns: u64,
        delay_ns: u64,
        utilization: f64,
        backlog: u64,
        poll_ns: u64,
    ) {
        let (now, span) = match self.last_ns {
            None => {
                self.samples.push((now_ns, 0));
                (now_ns, 0)
            }
            Some(last) => (now_ns.max(last), now_ns.max(last) - last),
        };
        self.last_ns = Some(now);
        let weight = 1.0 - (-(span as f64) / WINDOW_NS as f64).exp();
        self.utilization += weight * (utilization - self.utilization);
        if poll_ns > 0 {
            if self.poll_ns == 0.0 {
                self.poll_ns = poll_ns as f64;
            } else {
                self.poll_ns += weight * (poll_ns as f64 - self.poll_ns);
            }
        }
        self.backlog = backlog;
        self.in_flight_at_step = self.total();
        self.samples.push((now, delay_ns));
        let backlog_delay_ns = backlog as f64 * self.poll_ns / f64::from(WORKERS);
        self.armed = self.utilization >= ARM_UTILIZATION
            || self.standing_ns() >= WINDOW_NS
            || backlog_delay_ns >= (WINDOW_NS / 2) as f64
            || (self.armed && self.utilization >= ARM_UTILIZATION - 0.1);
        self.heaviest = None;
        for t in 0..MAX_TENANTS {
            if self.held(t) > 0
                && self
                    .heaviest
                    .is_none_or(|h| self.holding(t).heavier_than(&self.holding(h)))
            {
                self.heaviest = Some(t);
            }
        }
    }

    fn holding(&self, t: u32) -> Holding {
        Holding {
            in_flight: self.held(t),
            weight: self.weight(t),
        }
    }

    fn admitted(&mut self, t: u32) {
        *self.in_flight.entry(t).or_default() += 1;
        if self
            .heaviest
            .is_none_or(|h| self.holding(t).heavier_than(&self.holding(h)))
        {
            self.heaviest = Some(t);
        }
    }

    /// Whether the heaviest holder is over its share, with the asking
    /// tenant `t` counted among the active ones.
    fn someone_over_share(&self, t: u32) -> bool {
        let Some(h) = self.heaviest else {
            return false;
        };
        let held = u64::from(self.held(h));
        // More than the asking tenant would hold (not `MIN_SHARE_TASKS`).
        if held <= u64::from(self.held(t)) + 1 {
            return false;
        }
        let active: u64 = (0..MAX_TENANTS)
            .filter(|&u| self.held(u) > 0 || u == t)
            .map(|u| u64::from(self.weight(u)))
            .sum();
        let total = self.total() + 1;
        held as f64 * active as f64 > (1.0 + SLACK) * f64::from(self.weight(h)) * total as f64
    }

    fn decide(&self, t: u32, class: Class) -> Result<(), RefusalKind> {
        if t >= MAX_TENANTS {
            return Err(RefusalKind::UnknownTenant);
        }
        let total = self.total();
        if total >= MAX_IN_FLIGHT {
            return Err(RefusalKind::QueueFull);
        }
        if self.tenant_cap.is_some_and(|cap| self.held(t) >= cap) {
            return Err(RefusalKind::TenantQueueFull);
        }
        let over = self.over_share(t, 1);
        let soft = ((MAX_IN_FLIGHT as f64) * (1.0 - RESERVE)).floor() as u64;
        if over && total >= soft.max(1) {
            return Err(RefusalKind::OverShare);
        }
        let read_io: u32 = (0..MAX_TENANTS)
            .map(|u| {
                self.io
                    .get(&(u, IoKind::Read.index()))
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        if matches!(class, Class::Accept | Class::Read) && read_io >= READ_IO_LIMIT {
            return Err(RefusalKind::IoDepth(IoKind::Read));
        }
        let threshold = REFUSE_AT[class.priority()];
        if self.past(threshold) {
            if over {
                return Err(RefusalKind::OverShare);
            }
            if !self.someone_over_share(t) || self.past(threshold * FACTOR) {
                return Err(RefusalKind::Overloaded);
            }
        }
        Ok(())
    }
}

/// Runs `ops` on both; returns the refusal kinds seen.
fn run(ops: &[Op], tenant_cap: Option<u32>) -> Vec<RefusalKind> {
    let mut admission = Admission::new(config(tenant_cap)).unwrap();
    let mut model = Model {
        tenant_cap,
        ..Model::default()
    };
    let (mut attempted, mut accepted, mut refused, mut finished) = (0u64, 0u64, 0u64, 0u64);
    let mut now_ns = 0;
    let mut seen = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Admit(t, c) => {
                let class = Class::ALL[c];
                attempted += 1;
                let expect = model.decide(t, class);
                let got = admission
                    .admit(TenantId::new(t), class)
                    .map_err(|refusal| refusal.kind());
                assert_eq!(got, expect, "op {i} {op:?}");
                match got {
                    Ok(()) => {
                        accepted += 1;
                        model.admitted(t);
                    }
                    Err(kind) => {
                        refused += 1;
                        if !seen.contains(&kind) {
                            seen.push(kind);
                        }
                    }
                }
            }
            Op::Finish(t) => {
                if model.held(t) > 0 {
                    admission.finish(TenantId::new(t));
                    *model.in_flight.get_mut(&t).unwrap() -= 1;
                    finished += 1;
                }
            }
            Op::Observe {
                dt_us,
                delay_us,
                utilization_pct,
                backlog,
                poll_us,
            } => {
                now_ns += dt_us * 1_000;
                let utilization = f64::from(utilization_pct) / 100.0;
                admission.observe(Sample {
                    now_ns,
                    queue_delay_ns: delay_us * 1_000,
                    utilization,
                    backlog,
                    // Admission counts its own.
                    in_flight: 0,
                    poll_ns: poll_us * 1_000,
                    workers: WORKERS,
                });
                model.observe(
                    now_ns,
                    delay_us * 1_000,
                    utilization,
                    backlog,
                    poll_us * 1_000,
                );
            }
            Op::SetWeight(t, w) => {
                admission.set_weight(TenantId::new(t), Weight::new(w).unwrap());
                if t < MAX_TENANTS {
                    model.weights.insert(t, w);
                }
            }
            Op::IoBegin(t, k) => {
                admission.io_begin(TenantId::new(t), IoKind::ALL[k]);
                if t < MAX_TENANTS {
                    *model.io.entry((t, k)).or_default() += 1;
                }
            }
            Op::IoEnd(t, k) => {
                if model.io.get(&(t, k)).is_some_and(|&n| n > 0) {
                    admission.io_end(TenantId::new(t), IoKind::ALL[k]);
                    *model.io.get_mut(&(t, k)).unwrap() -= 1;
                }
            }
        }
        // Nothing lost, bounds held, the estimate as the model has it.
        assert_eq!(accepted + refused, attempted);
        assert_eq!(admission.in_flight(), accepted - finished, "op {i}");
        assert_eq!(admission.in_flight(), model.total(), "op {i}");
        assert!(admission.in_flight() <= MAX_IN_FLIGHT);
        for t in 0..MAX_TENANTS {
            let held = admission.tenant_in_flight(TenantId::new(t));
            assert_eq!(held, model.held(t));
            assert!(tenant_cap.is_none_or(|cap| held <= cap));
        }
        let load = admission.load();
        assert_eq!(load.standing_delay_ns, model.standing_ns(), "op {i}");
        assert!((load.utilization - model.utilization).abs() < 1e-9);
        assert_eq!(load.armed, model.armed(), "op {i}");
        assert_eq!(
            load.backlog_at(admission.in_flight()),
            model.backlog_now(),
            "op {i}"
        );
    }
    seen
}

#[test]
fn the_random_operations_reach_every_rule() {
    // The properties below are only as good as the cases they meet: with
    // the operations' mix, every kind of refusal shows up.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = Vec::new();
    for _ in 0..200 {
        let ops = prop::collection::vec(op(), 1..200)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        for cap in [None, Some(6)] {
            for kind in run(&ops, cap) {
                if !seen.contains(&kind) {
                    seen.push(kind);
                }
            }
        }
    }
    for kind in [
        RefusalKind::Overloaded,
        RefusalKind::OverShare,
        RefusalKind::QueueFull,
        RefusalKind::TenantQueueFull,
        RefusalKind::IoDepth(IoKind::Read),
        RefusalKind::UnknownTenant,
    ] {
        assert!(seen.contains(&kind), "{kind:?} never refused: {seen:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 512 }))]

    #[test]
    fn matches_the_model_without_a_tenant_bound(ops in prop::collection::vec(op(), 1..200)) {
        run(&ops, None);
    }


    #[test]
    fn matches_the_model_with_a_tenant_bound(ops in prop::collection::vec(op(), 1..200)) {
        run(&ops, Some(6));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 2048 }))]

    /// The fast path never admits what `decide` would refuse.
    #[test]
    fn surely_admits_only_what_decide_admits(
        class in 0..Class::COUNT,
        tenant_in_flight in 0u32..30,
        in_flight in 0u64..40,
        active_weight in 0u64..2_000,
        tenant_weight in 1u32..500,
        heaviest_in_flight in 0u32..30,
        heaviest_weight in 1u32..500,
        standing_delay_ns in 0u64..5_000_000,
        backlog in 0u64..40,
        in_flight_at_step in 0u64..40,
        delay_per_task_ns in 0.0f64..200_000.0,
        armed in any::<bool>(),
        cap in prop::option::of(1u32..10),
        io_limited in any::<bool>(),
    ) {
        let mut config = config(cap);
        if !io_limited {
            config = AdmissionConfig::new()
                .max_in_flight(MAX_IN_FLIGHT)
                .reserve(RESERVE)
                .min_share_tasks(MIN_SHARE_TASKS);
            if let Some(cap) = cap {
                config = config.max_in_flight_per_tenant(cap);
            }
        }
        let rules = drama_admission::Rules::new(config).unwrap();
        let class = Class::ALL[class];
        let ask = drama_admission::Ask {
            class,
            known_tenant: true,
            tenant_in_flight,
            tenant_weight,
            in_flight: in_flight.max(u64::from(tenant_in_flight)),
            active_weight,
            io_in_flight: [READ_IO_LIMIT; IoKind::COUNT],
            load: drama_admission::Load {
                score: 0.5,
                standing_delay_ns,
                utilization: 0.5,
                backlog,
                in_flight: in_flight_at_step,
                delay_per_task_ns,
                target_delay_ns: TARGET_NS,
                armed,
                window_ns: WINDOW_NS,
            },
            heaviest: Holding { in_flight: heaviest_in_flight, weight: heaviest_weight },
            time_left_ns: None,
        };
        let limit = rules.class_limit(&ask.load, class);
        if rules.surely_admits(class, ask.tenant_in_flight, ask.in_flight, limit) {
            prop_assert_eq!(rules.decide(&ask).refusal, None);
        }
    }
}
