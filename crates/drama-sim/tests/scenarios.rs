//! The benchmark scenarios run to completion under both policies with no
//! invariant broken, and print a table with a verdict per target. (Whether
//! DRR meets the targets is `cargo xtask sim`'s business, not a test's: the
//! figures belong to the policy, which changes independently.) T3c is left
//! out here: its full size (up to 10,000 tenants for 100 s of virtual time)
//! takes a minute in a debug build; `tests/many_tenants.rs` runs it at
//! 1,000 tenants, and a unit test of `scenarios` its table at small sizes.
//! T1 and T5 (admission control) run here with shorter loads and phases.

use drama_sim::scenarios::{self, Scenario};

const MS: u64 = 1_000_000;

#[test]
fn every_scenario_runs_under_drr_and_fifo() {
    for scenario in Scenario::ALL.into_iter().filter(|&s| {
        !matches!(
            s,
            Scenario::T3cManyTenants | Scenario::T1Goodput | Scenario::T5Signal
        )
    }) {
        let outcome = scenario
            .run(1, true)
            .unwrap_or_else(|e| panic!("{scenario}: {e}"));
        assert!(outcome.report("FIFO").is_some(), "{scenario}");
        assert!(
            outcome.rows.iter().any(|r| r.verdicts[0].is_some()),
            "{scenario}"
        );
        assert!(
            outcome.rows.iter().all(|r| r.figures[1] != "-"),
            "{scenario}"
        );
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
    assert!(outcome.report("FIFO").is_none());
    assert!(outcome.rows.iter().all(|r| r.figures[1] == "-"));
}

#[test]
fn t1_judges_the_admission_columns_at_every_load() {
    let outcome = scenarios::t1(1, true, 50 * MS).expect("no invariant broken");
    assert_eq!(
        outcome.columns,
        [
            "adm Compute",
            "adm Read",
            "adm Accept",
            "age 4 ms",
            "DRR",
            "FIFO"
        ]
    );
    // Goodput, p99 and refusals per load; every run's report.
    assert_eq!(outcome.rows.len(), 3 * scenarios::T1_LOADS.len());
    assert_eq!(
        outcome.reports.len(),
        outcome.columns.len() * scenarios::T1_LOADS.len()
    );
    for row in &outcome.rows {
        assert_eq!(row.figures.len(), outcome.columns.len(), "{row:?}");
        // The defaults with `Compute` and with `Read` requests are judged
        // where the row has a target; the comparison columns never are.
        let judged = row.verdicts[0].is_some();
        assert!(
            row.verdicts[..2].iter().all(|v| v.is_some() == judged),
            "{row:?}"
        );
        assert!(row.verdicts[2..].iter().all(Option::is_none), "{row:?}");
    }
    let p99_rows = outcome.rows.iter().filter(|r| r.target.contains("p99"));
    assert_eq!(p99_rows.filter(|r| r.verdicts[0].is_some()).count(), 5);
    let table = outcome.to_string();
    assert!(table.starts_with("T1 (seed 1)"), "{table}");
    assert!(table.contains("10×: goodput ≥ 0.85"), "{table}");
    // Without a baseline only the admission columns run.
    let judged_only = scenarios::t1(2, false, 20 * MS).expect("no invariant broken");
    assert_eq!(judged_only.columns.len(), 4);
    assert!(judged_only.report("FIFO 10×").is_none());
    assert!(judged_only.report("adm Compute 10×").is_some());
}

#[test]
fn t5_reads_signal_refusals_and_recovery_from_the_load_series() {
    let outcome = scenarios::t5(1, 50 * MS, 100 * MS).expect("no invariant broken");
    assert_eq!(
        outcome.columns,
        ["adm Compute", "adm Read", "adm Accept", "age 4 ms"]
    );
    // A step, a ramp and a steady run per column, each with its series.
    assert_eq!(outcome.reports.len(), 3 * outcome.columns.len());
    assert!(outcome.reports.iter().all(|(_, r)| !r.load.is_empty()));
    let judged = outcome
        .rows
        .iter()
        .filter(|r| {
            r.verdicts[..2].iter().all(Option::is_some)
                && r.verdicts[2..].iter().all(Option::is_none)
        })
        .count();
    assert_eq!(judged, 5, "{outcome}");
    // A 3× step is overload however it is configured: it is refused, and
    // the first refusal comes after the onset, with a time.
    let first_refusal = outcome
        .rows
        .iter()
        .find(|r| r.target.starts_with("step: first refusal"))
        .expect("the row");
    assert!(
        first_refusal.figures.iter().all(|f| f.ends_with(" ms")),
        "{first_refusal:?}"
    );
    let table = outcome.to_string();
    assert!(table.starts_with("T5 (seed 1)"), "{table}");
    assert_eq!(Scenario::from_name("t5"), Some(Scenario::T5Signal));
    assert_eq!(Scenario::from_name("T1"), Some(Scenario::T1Goodput));
}
