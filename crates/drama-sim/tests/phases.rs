//! Loads that change over a run: streams limited to a window of time
//! (`Stream::during`), and arrival rates that ramp (`Arrival::Ramp`).
//! Arrivals are counted per millisecond through admission control that
//! never refuses: each monitor step reports what it admitted.

use drama_admission::AdmissionConfig;
use drama_policy::{Class, Drr};
use drama_sim::{Arrival, Service, SimConfig, SimErrorKind, Stream, Tenant, Workload, run};

const MS: u64 = 1_000_000;

/// Arrivals of `streams` (one tenant, 1 µs of work each, so nothing
/// queues) in each millisecond of a `duration_ms` run: element `k` counts
/// those in `k..k + 1` ms (the last millisecond has no monitor step).
fn arrivals_per_ms(streams: Vec<Stream>, duration_ms: u64) -> Vec<u64> {
    let tenant = streams.into_iter().fold(Tenant::new("t"), Tenant::stream);
    let never = AdmissionConfig::new().refuse_at(Class::Compute, f64::INFINITY);
    let config = SimConfig::new(1)
        .duration_ns(duration_ms * MS)
        .admission(Some(never));
    let report = run(&config, &Workload::new().tenant(tenant), &mut Drr::new())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.totals.refused, 0);
    report.load.iter().map(|p| p.admitted).collect()
}

fn poisson(rate_per_s: f64) -> Stream {
    Stream::new(
        Arrival::Poisson { rate_per_s },
        Service::Constant { ns: 1_000 },
    )
}

fn sum(counts: &[u64]) -> u64 {
    counts.iter().sum()
}

/// `got` is within `tolerance` (a fraction) of `expected`.
fn near(got: u64, expected: f64, tolerance: f64) -> bool {
    (got as f64 - expected).abs() <= tolerance * expected
}

#[test]
fn a_window_bounds_a_stream() {
    // 500 arrivals per ms all along, 2,000 more per ms in 20..40 ms.
    let counts = arrivals_per_ms(
        vec![
            poisson(500_000.0),
            poisson(2_000_000.0).during(20 * MS, 40 * MS),
        ],
        60,
    );
    let (before, step, after) = (&counts[..20], &counts[20..40], &counts[40..]);
    assert!(near(sum(before), 20.0 * 500.0, 0.05), "{before:?}");
    assert!(near(sum(step), 20.0 * 2_500.0, 0.05), "{step:?}");
    assert!(near(sum(after), 19.0 * 500.0, 0.05), "{after:?}");
    // The step is sharp: no millisecond outside it looks like one inside.
    assert!(before.iter().chain(after).all(|&n| n < 700), "{counts:?}");
    assert!(step.iter().all(|&n| n > 2_200), "{counts:?}");
}

#[test]
fn a_stream_outside_its_window_offers_nothing() {
    let counts = arrivals_per_ms(vec![poisson(1_000_000.0).during(5 * MS, 10 * MS)], 20);
    assert!(counts[..5].iter().all(|&n| n == 0), "{counts:?}");
    assert!(counts[5..10].iter().all(|&n| n > 800), "{counts:?}");
    assert!(counts[10..].iter().all(|&n| n == 0), "{counts:?}");
}

#[test]
fn a_ramp_changes_the_rate_linearly() {
    // From 200 to 2,200 per ms over 20 ms, starting at 10 ms, then flat.
    let ramp = Stream::new(
        Arrival::Ramp {
            from_rate_per_s: 200_000.0,
            to_rate_per_s: 2_200_000.0,
            ramp_ns: 20 * MS,
        },
        Service::Constant { ns: 1_000 },
    )
    .during(10 * MS, 40 * MS);
    let counts = arrivals_per_ms(vec![ramp], 41);
    assert!(counts[..10].iter().all(|&n| n == 0), "{counts:?}");
    // Each 5 ms quarter of the ramp: the mean of its rates at the ends.
    for (quarter, expected_per_ms) in [(0, 450.0), (1, 950.0), (2, 1_450.0), (3, 1_950.0)] {
        let from = 10 + 5 * quarter;
        let got = sum(&counts[from..from + 5]);
        assert!(
            near(got, 5.0 * expected_per_ms, 0.06),
            "quarter {quarter}: {got} in {:?}",
            &counts[from..from + 5]
        );
    }
    assert!(
        near(sum(&counts[30..40]), 10.0 * 2_200.0, 0.03),
        "{counts:?}"
    );
    assert!(counts[40..].iter().all(|&n| n == 0), "{counts:?}");
}

#[test]
fn a_ramp_down_and_a_flat_ramp() {
    let down = Stream::new(
        Arrival::Ramp {
            from_rate_per_s: 2_000_000.0,
            to_rate_per_s: 400_000.0,
            ramp_ns: 10 * MS,
        },
        Service::Constant { ns: 1_000 },
    );
    let counts = arrivals_per_ms(vec![down], 21);
    assert!(near(sum(&counts[..10]), 10.0 * 1_200.0, 0.03), "{counts:?}");
    assert!(near(sum(&counts[10..20]), 10.0 * 400.0, 0.06), "{counts:?}");
    // A ramp between equal rates, or of no length, is a Poisson stream.
    for (from, ramp_ns) in [(1_000_000.0, 10 * MS), (3_000.0, 0)] {
        let flat = Stream::new(
            Arrival::Ramp {
                from_rate_per_s: from,
                to_rate_per_s: 1_000_000.0,
                ramp_ns,
            },
            Service::Constant { ns: 1_000 },
        );
        let counts = arrivals_per_ms(vec![flat], 21);
        assert!(near(sum(&counts), 20.0 * 1_000.0, 0.03), "{counts:?}");
    }
}

#[test]
fn bad_windows_and_ramps_are_refused() {
    let refused = |stream: Stream| {
        let workload = Workload::new().tenant(Tenant::new("t").stream(stream));
        run(&SimConfig::new(1), &workload, &mut Drr::new())
            .expect_err("a bad stream")
            .kind()
    };
    assert_eq!(
        refused(poisson(1_000.0).during(5 * MS, 5 * MS)),
        SimErrorKind::InvalidConfig
    );
    let closed = Stream::new(
        Arrival::ClosedLoop { in_flight: 1 },
        Service::Constant { ns: 1_000 },
    );
    assert_eq!(refused(closed.during(0, MS)), SimErrorKind::InvalidConfig);
    let ramp = |from_rate_per_s, to_rate_per_s| {
        Stream::new(
            Arrival::Ramp {
                from_rate_per_s,
                to_rate_per_s,
                ramp_ns: MS,
            },
            Service::Constant { ns: 1_000 },
        )
    };
    assert_eq!(refused(ramp(0.0, 1_000.0)), SimErrorKind::InvalidConfig);
    assert_eq!(
        refused(ramp(1_000.0, f64::NAN)),
        SimErrorKind::InvalidConfig
    );
}
