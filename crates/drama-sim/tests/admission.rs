//! Admission control in front of the policy: every arrival asks it once,
//! nothing it admitted is lost or asked again, the monitor feeds it what the
//! runtime's monitor will, runs stay deterministic, and without it nothing
//! changes.

use drama_admission::{AdmissionConfig, RefusalKind};
use drama_policy::{Class, Drr, Policy};
use drama_policy_fifo::Fifo;
use drama_sim::{
    Arrival, Report, RequestId, Service, SimConfig, SimErrorKind, Stream, Tenant, Workload, run,
};

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

/// C: what 2 workers complete per second at 100 µs of mean work.
const CAPACITY_PER_S: f64 = 20_000.0;

fn fifo() -> Fifo<RequestId> {
    Fifo::new(1 << 20, 1 << 16)
}

/// 3 × C from one heavy tenant, a light open-loop tenant, a closed loop
/// (which retries refused requests) and accepts: every path of a refusal.
fn overloaded() -> Workload {
    Workload::new()
        .tenant(Tenant::new("heavy").stream(Stream::new(
            Arrival::Poisson {
                rate_per_s: 3.0 * CAPACITY_PER_S,
            },
            Service::Exponential { mean_ns: 100 * US },
        )))
        .tenant(
            Tenant::new("light").stream(
                Stream::new(
                    Arrival::Poisson { rate_per_s: 500.0 },
                    Service::Exponential { mean_ns: 50 * US },
                )
                .class_mix([0.2, 0.4, 0.2, 0.2]),
            ),
        )
        .tenant(
            Tenant::new("loop").stream(
                Stream::new(
                    Arrival::ClosedLoop { in_flight: 8 },
                    Service::Uniform {
                        min_ns: 20 * US,
                        max_ns: 300 * US,
                    },
                )
                .class(Class::Read),
            ),
        )
}

/// 2 workers, 60 ms, polls of at most 40 µs (most requests yield at least
/// once), admission control with `admission`.
fn config(seed: u64, admission: Option<AdmissionConfig>) -> SimConfig {
    SimConfig::new(seed)
        .workers(2)
        .duration_ns(60 * MS)
        .poll_slice_ns(Some(40 * US))
        .admission(admission)
}

/// Runs and checks what must hold of every run with or without admission
/// control: each arrival was asked once (admitted + refused by admission ==
/// generated, per tenant and class and in all), and every admitted request
/// completed, was refused by the policy, or is still queued or in a poll.
fn check(config: &SimConfig, workload: &Workload, mut policy: impl Policy<RequestId>) -> Report {
    let report = run(config, workload, &mut policy).unwrap_or_else(|e| panic!("{e}"));
    let t = report.totals;
    assert_eq!(t.generated, t.admitted + t.admission_refused, "{t:?}");
    let refused_by_policy = t.refused - t.admission_refused;
    assert_eq!(
        t.admitted,
        t.completed + refused_by_policy + t.queued + t.in_service,
        "{t:?}"
    );
    for tenant in &report.tenants {
        for class in Class::ALL {
            let c = tenant.class(class);
            assert_eq!(
                c.generated,
                c.admitted + c.refused_by_admission.total(),
                "{} {class}: {c:?}",
                tenant.name
            );
            assert!(c.refused >= c.refused_by_admission.total(), "{c:?}");
            assert!(c.completed <= c.admitted, "{c:?}");
        }
    }
    match config.get_admission() {
        None => {
            assert!(report.load.is_empty());
            assert_eq!(t.admission_refused, 0);
        }
        Some(_) => {
            // One point per monitor step that ends before the run does.
            let interval_ns = config.get_monitor_interval_ns();
            let steps = (config.get_duration_ns() - 1) / interval_ns;
            assert_eq!(report.load.len() as u64, steps);
            for (k, point) in report.load.iter().enumerate() {
                assert_eq!(point.at_ns, (k as u64 + 1) * interval_ns);
                assert!((0.0..=1.0).contains(&point.utilization), "{point:?}");
                assert_eq!(point.first_refusal_ns.is_some(), point.refused > 0);
            }
            let in_points: u64 = report.load.iter().map(|p| p.refused).sum();
            assert!(in_points <= t.admission_refused);
        }
    }
    report
}

#[test]
fn without_admission_nothing_changes() {
    // `None` is the default, and leaves the run as it was: no monitor, no
    // admission records, every arrival admitted. (tests/determinism.rs
    // holds a recorded trace hash from before admission control existed.)
    let workload = overloaded();
    let plain = check(&config(3, None), &workload, Drr::new());
    let default = check(
        &SimConfig::new(3)
            .workers(2)
            .duration_ns(60 * MS)
            .poll_slice_ns(Some(40 * US)),
        &workload,
        Drr::new(),
    );
    assert_eq!(plain, default);
    assert_eq!(plain.totals.admitted, plain.totals.generated);
    // The monitor interval means nothing without admission control.
    let other_interval = check(
        &config(3, None).monitor_interval_ns(250 * US),
        &workload,
        Drr::new(),
    );
    assert_eq!(plain.trace_hash, other_interval.trace_hash);
}

#[test]
fn every_arrival_is_asked_once_and_nothing_admitted_is_lost() {
    let workload = overloaded();
    for seed in 1..=3 {
        let drr = check(
            &config(seed, Some(AdmissionConfig::new())),
            &workload,
            Drr::new(),
        );
        let fifo = check(
            &config(seed, Some(AdmissionConfig::new())),
            &workload,
            fifo(),
        );
        for report in [&drr, &fifo] {
            assert!(report.totals.admission_refused > 0, "{report}");
            // The closed loop retries what was refused: its slots never
            // stop for good.
            assert!(report.tenants[2].completed() > 0, "{report}");
        }
    }
    // With a warm-up the per-class counts cover the arrivals after it, and
    // still add up.
    check(
        &config(4, Some(AdmissionConfig::new())).warmup_ns(20 * MS),
        &workload,
        Drr::new(),
    );
}

#[test]
fn a_yield_is_not_new_work() {
    // 4 slots of 100 µs requests polled 10 µs at a time against a bound of
    // 4 in flight: each request is requeued 9 times while it holds its
    // place. Asked again on a requeue, it would be refused as QueueFull.
    let workload = Workload::new().tenant(Tenant::new("loop").stream(Stream::new(
        Arrival::ClosedLoop { in_flight: 4 },
        Service::Constant { ns: 100 * US },
    )));
    let admission = AdmissionConfig::new().max_in_flight(4);
    let config = SimConfig::new(1)
        .workers(1)
        .duration_ns(20 * MS)
        .poll_slice_ns(Some(10 * US))
        .admission(Some(admission));
    let report = check(&config, &workload, Drr::new());
    assert_eq!(report.totals.refused, 0, "{report}");
    assert!(report.totals.enqueues > 9 * report.totals.completed);
    // A fifth slot finds the bound full on arrival, and after each back-off.
    let workload = Workload::new().tenant(Tenant::new("loop").stream(Stream::new(
        Arrival::ClosedLoop { in_flight: 5 },
        Service::Constant { ns: 100 * US },
    )));
    let report = check(&config, &workload, Drr::new());
    let refused = &report.tenants[0].class(Class::Compute).refused_by_admission;
    assert!(refused.get(RefusalKind::QueueFull) > 0, "{report}");
    assert_eq!(refused.total(), refused.get(RefusalKind::QueueFull));
}

/// What one monitor point must show: at `at_ms`, the sample's queueing
/// delay and the utilization, and the score admission computed from it.
#[derive(Debug, Clone, Copy)]
struct Point {
    at_ms: u64,
    delay_us: u64,
    utilization: f64,
    score: f64,
}

/// Runs `workload` on one worker under FIFO with default admission control
/// and checks the load series against `expect`.
fn check_monitor(workload: &Workload, duration_ms: u64, expect: &[Point]) {
    let config = SimConfig::new(1)
        .workers(1)
        .duration_ns(duration_ms * MS)
        .admission(Some(
            AdmissionConfig::new().refuse_at(Class::Compute, 100.0),
        ));
    let report = check(&config, workload, fifo());
    for want in expect {
        let got = report
            .load
            .iter()
            .find(|p| p.at_ns == want.at_ms * MS)
            .unwrap_or_else(|| panic!("no point at {} ms", want.at_ms));
        assert_eq!(got.queue_delay_ns, want.delay_us * US, "{want:?}: {got:?}");
        assert!(
            (got.utilization - want.utilization).abs() < 1e-9,
            "{want:?}: {got:?}"
        );
        assert!(
            (got.load.score - want.score).abs() < 1e-3,
            "{want:?}: {got:?}"
        );
    }
}

#[test]
fn the_monitor_measures_waits_and_busy_time() {
    // Ten slots of 1 ms requests on one worker, in FIFO order. The first
    // ten arrive at 0; request j starts at j ms, and at the end of step k
    // the oldest still waiting (request k) is k ms old: the sample. From
    // 10 ms on, each request waits 9 ms (nine ahead of it), and so does
    // the oldest one waiting. The worker is never idle.
    //
    // The score: at every step nine requests wait behind the one running,
    // and each poll takes 1 ms on the one worker: work admitted now would
    // wait 9 ms, 18 times the 500 µs target. Nine milliseconds of backlog
    // is past half the 4 ms window, so the load is armed from the first
    // step that knows the poll's length (a backlog that deep is not a
    // burst to wait out). At the first, the first poll has not ended yet
    // (it ends at 1 ms, after the step), so nothing predicts a wait.
    let ten_slots = Workload::new().tenant(Tenant::new("loop").stream(Stream::new(
        Arrival::ClosedLoop { in_flight: 10 },
        Service::Constant { ns: MS },
    )));
    let point = |at_ms: u64, delay_us, score| Point {
        at_ms,
        delay_us,
        utilization: 1.0,
        score,
    };
    check_monitor(
        &ten_slots,
        30,
        &[
            point(1, 1_000, 0.0),
            point(2, 2_000, 18.0),
            point(4, 4_000, 18.0),
            point(9, 9_000, 18.0),
            point(10, 9_000, 18.0),
            point(29, 9_000, 18.0),
        ],
    );
}

#[test]
fn a_poll_across_steps_counts_in_each() {
    // One slot of 2.5 ms requests on two workers: one worker is busy at
    // every instant, with polls that begin and end inside steps, and
    // nothing ever waits.
    let one_slot = Workload::new().tenant(Tenant::new("loop").stream(Stream::new(
        Arrival::ClosedLoop { in_flight: 1 },
        Service::Constant { ns: 2_500 * US },
    )));
    let config = SimConfig::new(1)
        .workers(2)
        .duration_ns(20 * MS)
        .admission(Some(AdmissionConfig::new()));
    let report = check(&config, &one_slot, fifo());
    assert!(
        report
            .load
            .iter()
            .all(|p| p.utilization == 0.5 && p.queue_delay_ns == 0),
        "{:?}",
        report.load
    );
}

#[test]
fn same_seed_same_trace_with_admission() {
    let workload = overloaded();
    let admission = Some(AdmissionConfig::new());
    let a = check(&config(5, admission), &workload, Drr::new());
    let b = check(&config(5, admission), &workload, Drr::new());
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a, b, "the whole report, load series included");
    // The decisions are in the hash: without admission, or with another
    // seed, the trace differs.
    let plain = check(&config(5, None), &workload, Drr::new());
    assert_ne!(a.trace_hash, plain.trace_hash);
    let other = check(&config(6, admission), &workload, Drr::new());
    assert_ne!(a.trace_hash, other.trace_hash);
}

#[test]
fn overload_is_refused_and_admitted_latency_stays_far_lower() {
    // One tenant at 3 × C for 300 ms. Without admission control the queue
    // grows by 2 × C the whole run: most of what was enqueued is still
    // waiting at the end. With it, the heavy share of the arrivals is
    // refused and what was admitted completes within milliseconds.
    let workload = Workload::new().tenant(Tenant::new("flood").stream(Stream::new(
        Arrival::Poisson {
            rate_per_s: 3.0 * CAPACITY_PER_S,
        },
        Service::Exponential { mean_ns: 100 * US },
    )));
    let config = |admission| {
        SimConfig::new(1)
            .workers(2)
            .duration_ns(300 * MS)
            .warmup_ns(50 * MS)
            .admission(admission)
    };
    let with = check(&config(Some(AdmissionConfig::new())), &workload, Drr::new());
    let without = check(&config(None), &workload, Drr::new());
    let (with_total, without_total) = (with.tenants[0].total(), without.tenants[0].total());
    assert_eq!(without.totals.refused, 0);
    assert!(
        with_total.refused as f64 > 0.5 * with_total.generated as f64,
        "{with}"
    );
    // Without: most of what arrived is still waiting. With: at most 20 ms
    // of work (400 requests on 2 workers), and the p99 of what completed
    // is under a tenth of the run without admission control's (about 13
    // against 200 ms with seed 1).
    let unfinished = |r: &Report| r.totals.queued + r.totals.in_service;
    assert!(
        2 * unfinished(&without) > without_total.generated,
        "{without}"
    );
    assert!(unfinished(&with) < 400, "{with}");
    let p99 = |c: &drama_sim::ClassReport| c.latency_ns.percentile(99.0).expect("completions");
    assert!(
        10 * p99(&with_total) < p99(&without_total),
        "{with}\n{without}"
    );
    assert!(p99(&with_total) < 20 * MS, "{with}");
}

#[test]
fn bad_settings_are_refused_before_the_run() {
    let workload = overloaded();
    let refused = |config: SimConfig| {
        run(&config, &workload, &mut Drr::new())
            .expect_err("a bad setting")
            .kind()
    };
    let base = config(1, Some(AdmissionConfig::new()));
    // The admission configuration is validated by drama-admission.
    assert_eq!(
        refused(
            base.clone()
                .admission(Some(AdmissionConfig::new().window_ns(0)))
        ),
        SimErrorKind::InvalidConfig
    );
    assert_eq!(
        refused(base.clone().monitor_interval_ns(0)),
        SimErrorKind::InvalidConfig
    );
    // The load series is bounded: at 1 µs a step, 2^20 steps are 1.05 s.
    assert_eq!(
        refused(
            base.clone()
                .monitor_interval_ns(1_000)
                .duration_ns(2_000 * MS)
        ),
        SimErrorKind::InvalidConfig
    );
    // Without admission control the interval is not looked at.
    assert!(
        run(
            &config(1, None).monitor_interval_ns(0),
            &workload,
            &mut Drr::new()
        )
        .is_ok()
    );
}
