//! T3c at 1,000 tenants (the binary runs 10, 1,000 and 10,000): one worker,
//! one task per tenant polled 20 µs at a time, one poll in 1,000 charged
//! 5 ms more than it ran. No task waits between two polls longer than the
//! starvation bound `Drr` states, and the tenants' CPU stays fair; without
//! the debt floor (1,000 credits: 100 ms, more than any charge here, so as
//! before the floor existed) the same run breaks that bound.

use drama_policy::{Drr, DrrConfig};
use drama_sim::scenarios::{t3c_config, t3c_gap_bound_ns, t3c_workload};
use drama_sim::{Report, jain, run};

const TENANTS: u32 = 1_000;

fn t3c(drr: &mut Drr<u64>) -> (Report, u64, f64) {
    let config = t3c_config(TENANTS, true, 1);
    let report = run(&config, &t3c_workload(TENANTS), drr).expect("no invariant broken");
    let gap_ns = report.max_poll_gap_ns().expect("every task ran twice");
    let cpu: Vec<f64> = report.tenants.iter().map(|t| t.cpu_ns() as f64).collect();
    (report, gap_ns, jain(&cpu))
}

#[test]
fn single_task_tenants_wait_at_most_the_stated_bound_despite_charge_noise() {
    let bound_ns = t3c_gap_bound_ns(TENANTS, true, &DrrConfig::new());
    // 11 rounds of 999 turns of 100 µs, plus 20 µs per turn.
    assert_eq!(bound_ns, 11 * 999 * 120_000);
    let (report, gap_ns, j) = t3c(&mut Drr::new());
    assert!(report.totals.noisy_charges > 100, "{:?}", report.totals);
    assert!(gap_ns <= bound_ns, "gap {gap_ns} ns > bound {bound_ns} ns");
    // Not a vacuous bound: a tenant charged 5 ms sits out 10 rounds and
    // more.
    assert!(gap_ns > bound_ns * 3 / 4, "gap {gap_ns} ns");
    assert!(j >= 0.99, "Jain {j}");
}

#[test]
fn without_the_debt_floor_charge_noise_breaks_the_bound() {
    let bound_ns = t3c_gap_bound_ns(TENANTS, true, &DrrConfig::new());
    let mut drr = Drr::with_config(DrrConfig::new().max_debt_credits(1_000)).expect("valid");
    let (_, gap_ns, j) = t3c(&mut drr);
    // A 5 ms charge costs its tenant about 50 rounds of 0.1 s.
    assert!(
        gap_ns > 3 * bound_ns,
        "gap {gap_ns} ns, bound {bound_ns} ns"
    );
    assert!(j < 0.99, "Jain {j}");
}
