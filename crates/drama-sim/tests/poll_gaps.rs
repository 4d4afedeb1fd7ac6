//! The report's longest wait of a task between two of its polls: measured
//! from the end of one poll to the start of the next, across the requests
//! of a closed-loop slot, and including a wait still going on at the end.

use drama_policy::{Drr, Policy, Weight};
use drama_policy_fifo::Fifo;
use drama_sim::{Arrival, Report, RequestId, Service, SimConfig, Stream, Tenant, Workload, run};

/// Each tenant: one task (a closed loop with one request in flight) whose
/// requests need 100 µs, polled in 20 µs slices on one worker.
fn single_tasks(weights: &[u32]) -> Workload {
    weights
        .iter()
        .enumerate()
        .fold(Workload::new(), |w, (i, &shares)| {
            w.tenant(
                Tenant::new(format!("t{i}"))
                    .weight(Weight::new(shares).expect("in range"))
                    .stream(Stream::new(
                        Arrival::ClosedLoop { in_flight: 1 },
                        Service::Constant { ns: 100_000 },
                    )),
            )
        })
}

fn gaps(workload: &Workload, duration_ns: u64, mut policy: impl Policy<RequestId>) -> Report {
    let config = SimConfig::new(1)
        .workers(1)
        .duration_ns(duration_ns)
        .poll_slice_ns(Some(20_000));
    run(&config, workload, &mut policy).expect("no invariant broken")
}

#[test]
fn drr_turns_of_one_credit_make_gaps_of_one_turn() {
    // A credit of 100 µs is five 20 µs polls, one request: each task waits
    // exactly the other's turn, also from one request to its follow-up.
    let report = gaps(&single_tasks(&[100, 100]), 10_000_000, Drr::new());
    for t in &report.tenants {
        assert_eq!(t.max_poll_gap_ns(), Some(100_000), "{report}");
    }
    assert_eq!(report.max_poll_gap_ns(), Some(100_000));
    // 10 ms of 20 µs polls; the one ending at 10 ms is still in service
    // when the run stops.
    assert_eq!(report.polls(), 499);
    assert_eq!(report.totals.in_service, 1);
}

#[test]
fn fifo_alternates_every_poll() {
    let report = gaps(&single_tasks(&[100, 100]), 10_000_000, Fifo::new(16, 16));
    for t in &report.tenants {
        assert_eq!(t.max_poll_gap_ns(), Some(20_000), "{report}");
    }
}

#[test]
fn a_wait_still_going_on_at_the_end_counts() {
    // Tenant 0 (credit 100 µs) runs first, then tenant 1 (weight 10,000:
    // credit 10 ms) runs until the end at 5 ms. Tenant 0 was never polled
    // again, but it has waited 4.9 ms; tenant 1 ran back to back.
    let report = gaps(&single_tasks(&[100, 10_000]), 5_000_000, Drr::new());
    assert_eq!(
        report.tenants[0].max_poll_gap_ns(),
        Some(4_900_000),
        "{report}"
    );
    assert_eq!(report.tenants[1].max_poll_gap_ns(), Some(0), "{report}");
    assert!(report.to_string().contains("gap max"));
}
