//! No request is lost or duplicated: every request a client issues ends the
//! run completed, refused, still queued or in a poll, under DRR and FIFO,
//! with and without refusals and yields.

use drama_policy::{Class, Drr, DrrConfig, Policy};
use drama_policy_fifo::Fifo;
use drama_sim::{Arrival, Report, RequestId, Service, SimConfig, Stream, Tenant, Workload, run};

/// 1.5× the capacity of 2 workers, so queues are never empty at the end,
/// plus a closed loop and bursts that run into small bounds.
fn overloaded() -> Workload {
    Workload::new()
        .tenant(Tenant::new("flood").stream(Stream::new(
            Arrival::Poisson {
                rate_per_s: 30_000.0,
            },
            Service::Exponential { mean_ns: 100_000 },
        )))
        .tenant(
            Tenant::new("loop")
                .stream(
                    Stream::new(
                        Arrival::ClosedLoop { in_flight: 24 },
                        Service::Uniform {
                            min_ns: 20_000,
                            max_ns: 300_000,
                        },
                    )
                    .class_mix([1.0, 1.0, 1.0, 0.0]),
                )
                .stream(
                    Stream::new(
                        Arrival::Bursty {
                            bursts_per_s: 300.0,
                            burst_len: 20,
                        },
                        Service::Constant { ns: 30_000 },
                    )
                    .class(Class::Accept),
                ),
        )
}

fn check(name: &str, mut policy: impl Policy<RequestId>, poll_slice_ns: Option<u64>) -> Report {
    // No warm-up, so that the report's per-class counts cover the whole run
    // and can be checked against the run totals.
    let config = SimConfig::new(11)
        .workers(2)
        .duration_ns(60_000_000)
        .poll_slice_ns(poll_slice_ns);
    let report = run(&config, &overloaded(), &mut policy)
        .unwrap_or_else(|e| panic!("{name}: invariant broken: {e}"));
    let t = report.totals;
    assert_eq!(
        t.generated,
        t.completed + t.refused + t.queued + t.in_service,
        "{name}: {t:?}"
    );
    assert_eq!(t.enqueues, t.picks + t.queued, "{name}: {t:?}");
    assert!(t.in_service <= 2, "{name}: {t:?}");
    assert!(
        t.queued > 0,
        "{name}: the run is overloaded, so work is left: {t:?}"
    );

    let classes = || report.tenants.iter().flat_map(|t| t.classes.iter());
    assert_eq!(
        classes().map(|c| c.generated).sum::<u64>(),
        t.generated,
        "{name}"
    );
    assert_eq!(
        classes().map(|c| c.completed).sum::<u64>(),
        t.completed,
        "{name}"
    );
    assert_eq!(
        classes().map(|c| c.refused).sum::<u64>(),
        t.refused,
        "{name}"
    );
    let latencies: usize = classes().map(|c| c.latency_ns.len()).sum();
    assert_eq!(
        latencies as u64, t.completed,
        "{name}: one latency per completion"
    );
    report
}

#[test]
fn drr_unbounded() {
    let report = check("drr", Drr::new(), None);
    assert_eq!(report.totals.refused, 0);
}

#[test]
fn drr_with_yields() {
    let report = check("drr yields", Drr::new(), Some(25_000));
    let t = report.totals;
    assert!(
        t.picks > t.completed + t.in_service,
        "requests were polled more than once: {t:?}"
    );
}

#[test]
fn drr_bounded_refuses_without_losing() {
    let config = DrrConfig::new().max_len(64).max_tenant_len(40);
    let drr = Drr::with_config(config).expect("valid configuration");
    let report = check("drr bounded", drr, Some(25_000));
    assert!(
        report.totals.refused > 0,
        "the bounds were reached: {:?}",
        report.totals
    );
    // The closed loop keeps going after refusals (it retries after a
    // back-off), so it completes work throughout.
    assert!(report.tenants[1].completed() > 0);
}

#[test]
fn fifo_unbounded() {
    let report = check("fifo", Fifo::new(1 << 20, 1 << 16), None);
    assert_eq!(report.totals.refused, 0);
}

#[test]
fn fifo_with_yields() {
    check("fifo yields", Fifo::new(1 << 20, 1 << 16), Some(25_000));
}

#[test]
fn fifo_bounded_refuses_without_losing() {
    let report = check("fifo bounded", Fifo::new(64, 40), Some(25_000));
    assert!(report.totals.refused > 0, "{:?}", report.totals);
}
