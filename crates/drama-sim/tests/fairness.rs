//! The simulator sees the difference between a fair policy and a plain
//! queue: with weights 1:2:4:8 and in-flight counts in the opposite ratio,
//! DRR's CPU shares follow the weights and FIFO's follow the in-flight
//! counts.

use drama_policy::{Drr, Policy, Weight};
use drama_policy_fifo::Fifo;
use drama_sim::{
    Arrival, Report, RequestId, Service, SimConfig, Stream, Tenant, Workload, jain, run,
};

const WEIGHTS: [u32; 4] = [100, 200, 400, 800];
const IN_FLIGHT: [u32; 4] = [32, 16, 8, 4];

fn workload() -> Workload {
    let mut workload = Workload::new();
    for (shares, in_flight) in WEIGHTS.into_iter().zip(IN_FLIGHT) {
        workload = workload.tenant(
            Tenant::new(format!("w{shares}"))
                .weight(Weight::new(shares).expect("in range"))
                .stream(Stream::new(
                    Arrival::ClosedLoop { in_flight },
                    Service::Exponential { mean_ns: 100_000 },
                )),
        );
    }
    workload
}

fn shares(mut policy: impl Policy<RequestId>) -> (Report, Vec<f64>) {
    let config = SimConfig::new(1)
        .workers(2)
        .duration_ns(300_000_000)
        .warmup_ns(30_000_000);
    let report = run(&config, &workload(), &mut policy).expect("no invariant broken");
    let shares = (0..WEIGHTS.len()).map(|i| report.cpu_share(i)).collect();
    (report, shares)
}

/// Whether every share is within `tolerance` (relative) of `expected`'s
/// normalized value.
fn within(shares: &[f64], expected: [u32; 4], tolerance: f64) -> bool {
    let total: u32 = expected.iter().sum();
    shares
        .iter()
        .zip(expected)
        .all(|(s, e)| (s / (f64::from(e) / f64::from(total)) - 1.0).abs() <= tolerance)
}

#[test]
fn drr_shares_follow_weights() {
    let (report, shares) = shares(Drr::new());
    assert!(within(&shares, WEIGHTS, 0.10), "{shares:?}\n{report}");
    assert!(!within(&shares, IN_FLIGHT, 0.10), "{shares:?}");
    let per_weight: Vec<f64> = shares
        .iter()
        .zip(WEIGHTS)
        .map(|(s, w)| s / f64::from(w))
        .collect();
    assert!(jain(&per_weight) > 0.99, "{per_weight:?}");
}

#[test]
fn fifo_shares_follow_in_flight_counts() {
    let (report, shares) = shares(Fifo::new(1 << 20, 1 << 16));
    assert!(within(&shares, IN_FLIGHT, 0.10), "{shares:?}\n{report}");
    assert!(!within(&shares, WEIGHTS, 0.10), "{shares:?}");
}

/// A tenant that offers less than its share gets what it asks for, and the
/// rest goes to the tenant that wants more (work conservation).
#[test]
fn drr_is_work_conserving() {
    let workload = Workload::new()
        .tenant(Tenant::new("modest").stream(Stream::new(
            Arrival::Poisson {
                rate_per_s: 2_000.0,
            },
            Service::Constant { ns: 100_000 },
        )))
        .tenant(Tenant::new("greedy").stream(Stream::new(
            Arrival::ClosedLoop { in_flight: 16 },
            Service::Constant { ns: 100_000 },
        )));
    let config = SimConfig::new(1)
        .workers(2)
        .duration_ns(300_000_000)
        .warmup_ns(30_000_000);
    let report = run(&config, &workload, &mut Drr::new()).expect("no invariant broken");
    let busy = report.cpu_ns() as f64 / report.capacity_ns() as f64;
    assert!(busy > 0.99, "workers busy {busy}\n{report}");
    // 2,000/s of 100 µs is 0.2 of one worker, a tenth of the two.
    assert!((report.cpu_share(0) - 0.1).abs() < 0.02, "{report}");
    let modest = report.tenants[0].total();
    assert_eq!(modest.refused, 0);
    assert_eq!(modest.admitted_fraction(), 1.0);
}
