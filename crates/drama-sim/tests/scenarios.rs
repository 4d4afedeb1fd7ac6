//! The benchmark scenarios run to completion under both policies with no
//! invariant broken, and print a table with a verdict per target. (Whether
//! DRR meets the targets is `cargo xtask sim`'s business, not a test's: the
//! figures belong to the policy, which changes independently.) T3c is left
//! out here: its full size (up to 10,000 tenants for 100 s of virtual time)
//! takes a minute in a debug build; `tests/many_tenants.rs` runs it at
//! 1,000 tenants, and a unit test of `scenarios` its table at small sizes.

use drama_sim::scenarios::Scenario;

#[test]
fn every_scenario_runs_under_drr_and_fifo() {
    for scenario in Scenario::ALL
        .into_iter()
        .filter(|&s| s != Scenario::T3cManyTenants)
    {
        let outcome = scenario
            .run(1, true)
            .unwrap_or_else(|e| panic!("{scenario}: {e}"));
        assert!(outcome.fifo.is_some(), "{scenario}");
        assert!(
            outcome.rows.iter().any(|r| r.verdict.is_some()),
            "{scenario}"
        );
        assert!(outcome.rows.iter().all(|r| r.fifo != "-"), "{scenario}");
        let table = outcome.to_string();
        assert!(table.starts_with(scenario.name()), "{table}");
        assert!(table.contains("PASS") || table.contains("FAIL"), "{table}");
        assert_eq!(
            Scenario::from_name(&scenario.name().to_lowercase()),
            Some(scenario)
        );
    }
}

#[test]
fn without_baseline_fifo_is_not_run() {
    let outcome = Scenario::T3bWeights
        .run(2, false)
        .expect("no invariant broken");
    assert!(outcome.fifo.is_none());
    assert!(outcome.rows.iter().all(|r| r.fifo == "-"));
}
