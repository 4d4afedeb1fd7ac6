//! T1 (goodput vs offered load) and T5 (signal and reaction): admission
//! control in front of the policy, in virtual time.
//!
//! Both offer one tenant open-loop Poisson arrivals of exponential work
//! (mean 100 µs) on 2 virtual workers, polled in slices of at most
//! [`POLL_BUDGET_NS`]. C_ref, the capacity, is 20,000 requests per second:
//! 2 workers at 100 µs, exactly, because the simulator has no overheads
//! (BENCHMARKS.md measures C_ref as tokio's throughput on the real
//! workload, which is lower). The SLO is 2 ms from arrival to completion.
//!
//! The admission columns use drama-admission as it is configured; the
//! defaults are judged, and a column with a configuration change shows
//! what meets the targets, naming the change. The columns without
//! admission control are shown for comparison and not judged.

use drama_admission::AdmissionConfig;
use drama_policy::{Class, Drr, DrrConfig, Policy};
use drama_policy_fifo::Fifo;

use super::{
    CAPACITY_PER_S, FIFO_MAX_LEN, FIFO_MAX_TENANT_LEN, MS, Outcome, POLL_BUDGET_NS, Row, Scenario,
    ScenarioError, US, WORKERS, ms, ratio,
};
use crate::report::{LoadPoint, Report};
use crate::sim::{RequestId, SimConfig, run};
use crate::workload::{Arrival, Service, Stream, Tenant, Workload};

/// BENCHMARKS.md's SLO: 2 ms from arrival to completion.
pub const SLO_NS: u64 = 2 * MS;

/// The mean work of a request: 100 µs, as in the benchmark harness.
const SERVICE_MEAN_NS: u64 = 100 * US;

/// T1's offered loads, in multiples of C_ref.
pub const T1_LOADS: [f64; 5] = [0.5, 1.0, 2.0, 4.0, 10.0];

/// How long T1 offers each load: 2 s, as in BENCHMARKS.md.
pub const T1_STEP_NS: u64 = 2_000 * MS;

/// The start of each T1 run left out of its figures: 200 ms. Each load
/// runs from an empty pool, and T1 judges a load's steady state; how fast
/// the pool reacts to a change of load is T5's subject. (The benchmark
/// runs the loads one after another, so each of its steps starts from the
/// previous load rather than from empty.)
pub const T1_WARMUP_NS: u64 = 200 * MS;

/// How long a T1 run goes on after its last arrival: 50 ms, so that the
/// admitted work can finish (admission control keeps the queue to
/// milliseconds of work). A request still queued at the end counts in the
/// p99 as later than any that completed.
pub const T1_DRAIN_NS: u64 = 50 * MS;

/// The DRR age bound of the comparison column: 4 ms, DRR's default
/// before admission control existed. Under saturation DRR serves the
/// newest request first and leaves the oldest until the age bound, so
/// with a 4 ms bound the admitted p99 sits near 4 ms whatever admission
/// control does; the column shows why the default is now 1 ms.
pub const T1_AGE_BOUND_NS: u64 = 4 * MS;

/// T5's phases: 200 ms at each level of the step.
pub const T5_PHASE_NS: u64 = 200 * MS;

/// T5's ramp from 0.5 to 1.5 × C_ref: 1 s, as in BENCHMARKS.md. The
/// steady 0.7 × C_ref run lasts as long.
pub const T5_RAMP_NS: u64 = 1_000 * MS;

/// The levels of T5's step, in multiples of C_ref.
const T5_LOW: f64 = 0.5;
const T5_HIGH: f64 = 3.0;
/// Where T5's ramp ends, and its steady load.
const T5_RAMP_TO: f64 = 1.5;
const T5_STEADY: f64 = 0.7;

/// T5's targets, from BENCHMARKS.md.
const T5_SIGNAL_NS: u64 = 5 * MS;
const T5_FIRST_REFUSAL_NS: u64 = 10 * MS;
const T5_RECOVERY_NS: u64 = 20 * MS;

/// The score at which the ramp counts as signalled: 0.8, high enough that
/// a 0.5 × C_ref load never shows it (its score is about its utilization,
/// 0.5 to 0.7), low enough that a balancer acting on it still has a fifth
/// of the capacity to spare.
const T5_RAMP_SIGNAL: f64 = 0.8;

/// How far above the highest score of the steady 0.5 × C_ref phase the
/// score must rise to count as "clearly above": 0.1, the spread of that
/// phase's score from millisecond to millisecond.
const T5_RISE_MARGIN: f64 = 0.1;

/// One way of running T1 or T5: the policy, admission control or none,
/// the class of every request, and whether the targets judge it.
#[derive(Debug, Clone, Copy)]
struct Setup {
    name: &'static str,
    /// What the name stands for, for the legend under the title.
    legend: &'static str,
    policy: PolicyChoice,
    admission: Option<AdmissionConfig>,
    class: Class,
    judged: bool,
}

#[derive(Debug, Clone, Copy)]
enum PolicyChoice {
    Drr(DrrConfig),
    Fifo,
}

impl Setup {
    const fn with_admission(
        name: &'static str,
        legend: &'static str,
        admission: AdmissionConfig,
        class: Class,
    ) -> Setup {
        Setup {
            name,
            legend,
            policy: PolicyChoice::Drr(DrrConfig::new()),
            admission: Some(admission),
            class,
            judged: true,
        }
    }

    fn run(&self, config: SimConfig, workload: &Workload) -> Result<Report, ScenarioError> {
        let config = config.admission(self.admission);
        let mut policy: Box<dyn Policy<RequestId>> = match self.policy {
            PolicyChoice::Drr(drr) => match Drr::with_config(drr) {
                Ok(drr) => Box::new(drr),
                Err(error) => {
                    return Err(ScenarioError {
                        policy: self.name,
                        error: crate::error::SimError::invalid(format!("DRR: {error}")),
                    });
                }
            },
            PolicyChoice::Fifo => Box::new(Fifo::new(FIFO_MAX_LEN, FIFO_MAX_TENANT_LEN)),
        };
        run(&config, workload, &mut *policy).map_err(|error| ScenarioError {
            policy: self.name,
            error,
        })
    }
}

/// Admission control with its defaults, every request `Compute`: refused
/// from a load score of 2.
const ADM_COMPUTE: Setup = Setup::with_admission(
    "adm Compute",
    "adm Compute: DRR and admission control, both with their defaults; every request Compute (refused from score 2)",
    AdmissionConfig::new(),
    Class::Compute,
);

/// The same, every request `Read`: refused from a load score of 1.5. The
/// class the overload benchmark's requests have on the real runtime.
const ADM_READ: Setup = Setup::with_admission(
    "adm Read",
    "adm Read: the same, every request Read (refused from score 1.5)",
    AdmissionConfig::new(),
    Class::Read,
);

/// The same, every request `Accept`: refused from a load score of 1, the
/// first class refused. Not judged: a stray accept refused at 0.7 ×
/// C_ref (a handful in 14,000 on some seeds) is the ladder doing its job.
const ADM_ACCEPT: Setup = Setup {
    judged: false,
    ..Setup::with_admission(
        "adm Accept",
        "adm Accept: the same, every request Accept (refused from score 1; not judged)",
        AdmissionConfig::new(),
        Class::Accept,
    )
};

/// The defaults with DRR's old age bound, for comparison.
const ADM_AGE_4MS: Setup = Setup {
    name: "age 4 ms",
    legend: "age 4 ms: adm Compute with DRR's age bound at 4 ms (the old default; not judged)",
    policy: PolicyChoice::Drr(DrrConfig::new().age_bound_ns(T1_AGE_BOUND_NS)),
    judged: false,
    ..ADM_COMPUTE
};

/// The runtime without admission control, for comparison.
const PLAIN_DRR: Setup = Setup {
    name: "DRR",
    legend: "DRR, FIFO: no admission control (shown for comparison, not judged)",
    policy: PolicyChoice::Drr(DrrConfig::new()),
    admission: None,
    class: Class::Compute,
    judged: false,
};
const PLAIN_FIFO: Setup = Setup {
    name: "FIFO",
    legend: "",
    policy: PolicyChoice::Fifo,
    ..PLAIN_DRR
};

/// A workload of one tenant: Poisson arrivals at `load` × C_ref of
/// `class`, during `from_ns..until_ns`.
fn poisson(load: f64, class: Class, from_ns: u64, until_ns: u64) -> Stream {
    Stream::new(
        Arrival::Poisson {
            rate_per_s: load * CAPACITY_PER_S,
        },
        Service::Exponential {
            mean_ns: SERVICE_MEAN_NS,
        },
    )
    .class(class)
    .during(from_ns, until_ns)
}

fn one_tenant(streams: impl IntoIterator<Item = Stream>) -> Workload {
    let tenant = streams
        .into_iter()
        .fold(Tenant::new("clients"), Tenant::stream);
    Workload::new().tenant(tenant)
}

fn base_config(seed: u64, duration_ns: u64, warmup_ns: u64) -> SimConfig {
    SimConfig::new(seed)
        .workers(WORKERS)
        .duration_ns(duration_ns)
        .warmup_ns(warmup_ns)
        .poll_slice_ns(Some(POLL_BUDGET_NS))
}

fn multiple(load: f64) -> String {
    format!("{load}×")
}

fn percent(share: f64) -> String {
    format!("{:.1} %", 100.0 * share)
}

// T1: goodput vs offered load ------------------------------------------------

/// T1's workload at `load` × C_ref, every request in `class`, for a step
/// of `step_ns` after the warm-up.
pub(super) fn t1_workload(load: f64, class: Class, step_ns: u64) -> Workload {
    one_tenant([poisson(load, class, 0, T1_WARMUP_NS + step_ns)])
}

/// T1's run configuration for a step of `step_ns`, without admission
/// control (each column adds its own).
pub(super) fn t1_config(seed: u64, step_ns: u64) -> SimConfig {
    base_config(seed, T1_WARMUP_NS + step_ns + T1_DRAIN_NS, T1_WARMUP_NS)
}

/// What T1 reads from a run.
struct T1Figures {
    /// Completions within the SLO per second of the step, over C_ref.
    goodput: f64,
    /// The p99 latency of the admitted requests, counting those still
    /// queued at the end as later than any completion: `None` when more
    /// than 1 % are.
    p99_ns: Option<u64>,
    /// The share of the admitted requests still queued at the end.
    unfinished: f64,
    /// The share of the arrivals refused (by admission control, or by the
    /// policy's queue bound).
    refused: f64,
}

fn t1_figures(report: &Report, step_ns: u64) -> T1Figures {
    let c = report.tenants[0].total();
    let latency = c.latency_ns.as_slice();
    let within_slo = latency.partition_point(|&ns| ns <= SLO_NS);
    let goodput = within_slo as f64 / (step_ns as f64 / 1e9) / CAPACITY_PER_S;
    // The admitted requests that the policy took (FIFO's and DRR's queue
    // bounds refuse some without admission control).
    let refused_by_policy = c.refused - c.refused_by_admission.total();
    let entered = c.admitted - refused_by_policy;
    let rank = (0.99 * entered as f64).ceil() as usize;
    let p99_ns = if entered == 0 {
        None
    } else {
        latency.get(rank.max(1) - 1).copied()
    };
    T1Figures {
        goodput,
        p99_ns,
        unfinished: ratio((entered - c.completed) as f64, entered as f64),
        refused: ratio(c.refused as f64, c.generated as f64),
    }
}

/// T1 with `seed`, each load offered for `step_ns` (BENCHMARKS.md:
/// [`T1_STEP_NS`]) after [`T1_WARMUP_NS`]; with `baseline`, also without
/// admission control under DRR and FIFO.
///
/// # Errors
///
/// A broken invariant in any run, naming its column.
pub fn t1(seed: u64, baseline: bool, step_ns: u64) -> Result<Outcome, ScenarioError> {
    let mut setups = vec![ADM_COMPUTE, ADM_READ, ADM_ACCEPT, ADM_AGE_4MS];
    if baseline {
        setups.extend([PLAIN_DRR, PLAIN_FIFO]);
    }
    let config = t1_config(seed, step_ns);
    // figures[setup][load]
    let mut figures = Vec::new();
    let mut reports = Vec::new();
    for setup in &setups {
        let mut per_load = Vec::new();
        for load in T1_LOADS {
            let report = setup.run(config.clone(), &t1_workload(load, setup.class, step_ns))?;
            per_load.push(t1_figures(&report, step_ns));
            reports.push((format!("{} {}", setup.name, multiple(load)), report));
        }
        figures.push(per_load);
    }
    let mut rows = Vec::new();
    for (i, load) in T1_LOADS.into_iter().enumerate() {
        let at = multiple(load);
        // BENCHMARKS.md's goodput targets; 0.5× and 4× have none.
        let goodput_target = if load == 1.0 || load == 2.0 {
            Some(0.90)
        } else if load == 10.0 {
            Some(0.85)
        } else {
            None
        };
        rows.push(t1_row(
            match goodput_target {
                Some(target) => format!("{at}: goodput ≥ {target:.2}"),
                None => format!("{at}: goodput (context)"),
            },
            &setups,
            &figures,
            |setup_figures| {
                let f = &setup_figures[i];
                (
                    format!("{:.3}", f.goodput),
                    goodput_target.map(|target| f.goodput >= target),
                )
            },
        ));
        rows.push(t1_row(
            format!("{at}: admitted p99 ≤ {}", ms(Some(SLO_NS))),
            &setups,
            &figures,
            |setup_figures| {
                let f = &setup_figures[i];
                let figure = match f.p99_ns {
                    Some(ns) => ms(Some(ns)),
                    None => format!("- ({} unfinished)", percent(f.unfinished)),
                };
                (figure, Some(f.p99_ns.is_some_and(|ns| ns <= SLO_NS)))
            },
        ));
        rows.push(t1_row(
            format!("{at}: refused (context)"),
            &setups,
            &figures,
            |setup_figures| (percent(setup_figures[i].refused), None),
        ));
    }
    Ok(Outcome {
        scenario: Scenario::T1Goodput,
        seed,
        setup: format!(
            "{WORKERS} workers, {:.1} s per load after {:.1} s of warm-up, then {:.0} ms without arrivals",
            step_ns as f64 / 1e9,
            T1_WARMUP_NS as f64 / 1e9,
            T1_DRAIN_NS as f64 / 1e6
        ),
        legend: legend(&setups),
        columns: setups.iter().map(|s| s.name.to_string()).collect(),
        rows,
        reports,
    })
}

/// A T1 row: per column, its figure and (for a judged column) verdict.
fn t1_row(
    target: String,
    setups: &[Setup],
    figures: &[Vec<T1Figures>],
    figure: impl Fn(&[T1Figures]) -> (String, Option<bool>),
) -> Row {
    let (figures, verdicts) = setups
        .iter()
        .zip(figures)
        .map(|(setup, per_load)| {
            let (text, verdict) = figure(per_load);
            (text, verdict.filter(|_| setup.judged))
        })
        .unzip();
    Row {
        target,
        figures,
        verdicts,
    }
}

fn legend(setups: &[Setup]) -> Vec<String> {
    setups
        .iter()
        .filter(|s| !s.legend.is_empty())
        .map(|s| s.legend.to_string())
        .collect()
}

// T5: signal and reaction ----------------------------------------------------

/// T5's step workload, every request in `class`: 0.5 × C_ref for three
/// phases of `phase_ns`, and 2.5 × C_ref more in the second.
pub(super) fn t5_step_workload(class: Class, phase_ns: u64) -> Workload {
    one_tenant([
        poisson(T5_LOW, class, 0, 3 * phase_ns),
        poisson(T5_HIGH - T5_LOW, class, phase_ns, 2 * phase_ns),
    ])
}

/// T5's ramp workload: 0.5 × C_ref for `phase_ns`, then from 0.5 to 1.5 ×
/// C_ref over `ramp_ns`.
fn t5_ramp_workload(class: Class, phase_ns: u64, ramp_ns: u64) -> Workload {
    let ramp = Stream::new(
        Arrival::Ramp {
            from_rate_per_s: T5_LOW * CAPACITY_PER_S,
            to_rate_per_s: T5_RAMP_TO * CAPACITY_PER_S,
            ramp_ns,
        },
        Service::Exponential {
            mean_ns: SERVICE_MEAN_NS,
        },
    )
    .class(class)
    .during(phase_ns, phase_ns + ramp_ns);
    one_tenant([poisson(T5_LOW, class, 0, phase_ns), ramp])
}

/// What T5 reads from the step run, in ns after the onset (or after the
/// step down, for the recovery).
struct StepFigures {
    /// The highest score of the second half of the first 0.5 × C_ref
    /// phase.
    baseline: f64,
    /// When the score first rose [`T5_RISE_MARGIN`] above the baseline.
    rise_ns: Option<u64>,
    /// When the score first reached 1.
    signal_ns: Option<u64>,
    /// The first refusal after the onset.
    first_refusal_ns: Option<u64>,
    /// Refusals before the onset (at 0.5 × C_ref).
    refused_before: u64,
    /// After the step down: the last refusal, and when the score fell
    /// below 1 for the rest of the run; `None` if it never did.
    last_refusal_ns: Option<u64>,
    below_one_ns: Option<u64>,
    /// The highest score, and the share of the 3 × C_ref phase's arrivals
    /// refused.
    peak: f64,
    refused_high: f64,
}

/// The points after `from_ns` (the series is in time order).
fn after(points: &[LoadPoint], from_ns: u64) -> &[LoadPoint] {
    &points[points.partition_point(|p| p.at_ns <= from_ns)..]
}

fn step_figures(report: &Report, phase_ns: u64) -> StepFigures {
    let points = &report.load;
    let (onset, down) = (phase_ns, 2 * phase_ns);
    let baseline = points
        .iter()
        .filter(|p| p.at_ns > phase_ns / 2 && p.at_ns <= onset)
        .map(|p| p.load.score)
        .fold(0.0, f64::max);
    let first = |pred: &dyn Fn(&LoadPoint) -> bool| {
        after(points, onset)
            .iter()
            .find(|p| pred(p))
            .map(|p| p.at_ns - onset)
    };
    let rise_ns = first(&|p| p.load.score >= baseline + T5_RISE_MARGIN);
    let signal_ns = first(&|p| p.load.score >= 1.0);
    let first_refusal_ns = after(points, onset)
        .iter()
        .find_map(|p| p.first_refusal_ns)
        .map(|ns| ns - onset);
    let refused_before = points
        .iter()
        .filter(|p| p.at_ns <= onset)
        .map(|p| p.refused)
        .sum();
    let tail = after(points, down);
    let last_refusal_ns = tail
        .iter()
        .rev()
        .find_map(|p| p.last_refusal_ns)
        .map(|ns| ns.saturating_sub(down));
    // The score is below 1 for good from the point after the last one at
    // or above it (or from the step down, if none after it is).
    let last_high = tail.iter().rposition(|p| p.load.score >= 1.0);
    let below_one_ns = match last_high {
        None => Some(0),
        Some(i) => tail.get(i + 1).map(|p| p.at_ns - down),
    };
    let (high_admitted, high_refused) = points
        .iter()
        .filter(|p| p.at_ns > onset && p.at_ns <= down)
        .fold((0, 0), |(a, r), p| (a + p.admitted, r + p.refused));
    StepFigures {
        baseline,
        rise_ns,
        signal_ns,
        first_refusal_ns,
        refused_before,
        last_refusal_ns,
        below_one_ns,
        peak: points.iter().map(|p| p.load.score).fold(0.0, f64::max),
        refused_high: ratio(high_refused as f64, (high_admitted + high_refused) as f64),
    }
}

/// What T5 reads from the ramp run: when the score first reached
/// [`T5_RAMP_SIGNAL`] and 1, and the first refusal, in ns after the ramp's
/// start.
struct RampFigures {
    signal_ns: Option<u64>,
    one_ns: Option<u64>,
    first_refusal_ns: Option<u64>,
    /// Refusals before the ramp.
    refused_before: u64,
}

fn ramp_figures(report: &Report, phase_ns: u64) -> RampFigures {
    let points = &report.load;
    let first = |level: f64| {
        after(points, phase_ns)
            .iter()
            .find(|p| p.load.score >= level)
            .map(|p| p.at_ns - phase_ns)
    };
    RampFigures {
        signal_ns: first(T5_RAMP_SIGNAL),
        one_ns: first(1.0),
        first_refusal_ns: after(points, phase_ns)
            .iter()
            .find_map(|p| p.first_refusal_ns)
            .map(|ns| ns - phase_ns),
        refused_before: points
            .iter()
            .filter(|p| p.at_ns <= phase_ns)
            .map(|p| p.refused)
            .sum(),
    }
}

/// The three runs of one T5 column.
struct T5Runs {
    step: StepFigures,
    ramp: RampFigures,
    /// The steady 0.7 × C_ref run: arrivals, refusals, the highest score.
    steady_generated: u64,
    steady_refused: u64,
    steady_peak: f64,
}

/// T5 with `seed`: the step with phases of `phase_ns` (BENCHMARKS.md:
/// [`T5_PHASE_NS`]), the ramp over `ramp_ns` ([`T5_RAMP_NS`]) after a
/// phase at 0.5 × C_ref, and a steady 0.7 × C_ref run as long as the
/// ramp.
///
/// # Errors
///
/// A broken invariant in any run, naming its column.
pub fn t5(seed: u64, phase_ns: u64, ramp_ns: u64) -> Result<Outcome, ScenarioError> {
    let setups = [ADM_COMPUTE, ADM_READ, ADM_ACCEPT, ADM_AGE_4MS];
    let mut runs = Vec::new();
    let mut reports = Vec::new();
    for setup in &setups {
        let step = setup.run(
            base_config(seed, 3 * phase_ns, 0),
            &t5_step_workload(setup.class, phase_ns),
        )?;
        let ramp = setup.run(
            base_config(seed, phase_ns + ramp_ns, 0),
            &t5_ramp_workload(setup.class, phase_ns, ramp_ns),
        )?;
        let steady = setup.run(
            base_config(seed, ramp_ns, 0),
            &one_tenant([poisson(T5_STEADY, setup.class, 0, ramp_ns)]),
        )?;
        runs.push(T5Runs {
            step: step_figures(&step, phase_ns),
            ramp: ramp_figures(&ramp, phase_ns),
            steady_generated: steady.totals.generated,
            steady_refused: steady.totals.admission_refused,
            steady_peak: steady.load.iter().map(|p| p.load.score).fold(0.0, f64::max),
        });
        reports.push((format!("{} step", setup.name), step));
        reports.push((format!("{} ramp", setup.name), ramp));
        reports.push((format!("{} 0.7×", setup.name), steady));
    }
    let after_ms = |ns: Option<u64>| ns.map_or_else(|| "never".to_string(), |ns| ms(Some(ns)));
    // The ramp's load at `ns` after its start.
    let at_load = |ns: Option<u64>| match ns {
        Some(ns) => format!(
            "{:.2}×",
            T5_LOW + (T5_RAMP_TO - T5_LOW) * ns as f64 / ramp_ns as f64
        ),
        None => "never".to_string(),
    };
    let row = |target: String, figure: &dyn Fn(&T5Runs) -> (String, Option<bool>)| {
        let (figures, verdicts) = runs
            .iter()
            .zip(&setups)
            .map(|(run, setup)| {
                let (text, verdict) = figure(run);
                (text, verdict.filter(|_| setup.judged))
            })
            .unzip();
        Row {
            target,
            figures,
            verdicts,
        }
    };
    let rows = vec![
        row(
            format!(
                "step: score ≥ 1 within {} of the onset",
                ms(Some(T5_SIGNAL_NS))
            ),
            &|r| {
                (
                    after_ms(r.step.signal_ns),
                    Some(r.step.signal_ns.is_some_and(|ns| ns <= T5_SIGNAL_NS)),
                )
            },
        ),
        row(
            format!("step: score {T5_RISE_MARGIN} above its 0.5× level, after the onset (context)"),
            &|r| {
                (
                    format!(
                        "{} (level {:.2})",
                        after_ms(r.step.rise_ns),
                        r.step.baseline
                    ),
                    None,
                )
            },
        ),
        row(
            format!(
                "step: first refusal within {} of the onset",
                ms(Some(T5_FIRST_REFUSAL_NS))
            ),
            &|r| {
                let ok = r.step.refused_before == 0
                    && r.step
                        .first_refusal_ns
                        .is_some_and(|ns| ns <= T5_FIRST_REFUSAL_NS);
                let figure = if r.step.refused_before > 0 {
                    format!(
                        "{} ({} refused before it)",
                        after_ms(r.step.first_refusal_ns),
                        r.step.refused_before
                    )
                } else {
                    after_ms(r.step.first_refusal_ns)
                };
                (figure, Some(ok))
            },
        ),
        row(
            format!(
                "step: recovery within {} of the step down (last refusal / score < 1 for good)",
                ms(Some(T5_RECOVERY_NS))
            ),
            &|r| {
                let recovery = r
                    .step
                    .below_one_ns
                    .map(|below| below.max(r.step.last_refusal_ns.unwrap_or(0)));
                (
                    format!(
                        "{} ({} / {})",
                        after_ms(recovery),
                        r.step
                            .last_refusal_ns
                            .map_or_else(|| "none".to_string(), |ns| ms(Some(ns))),
                        after_ms(r.step.below_one_ns)
                    ),
                    Some(recovery.is_some_and(|ns| ns <= T5_RECOVERY_NS)),
                )
            },
        ),
        row(
            "step: peak score, share refused at 3× (context)".to_string(),
            &|r| {
                (
                    format!("{:.2}, {}", r.step.peak, percent(r.step.refused_high)),
                    None,
                )
            },
        ),
        row(
            format!("ramp: score ≥ {T5_RAMP_SIGNAL} before the first refusal (load at each)"),
            &|r| {
                let ok = r.ramp.refused_before == 0
                    && match (r.ramp.signal_ns, r.ramp.first_refusal_ns) {
                        (Some(signal), Some(refusal)) => signal < refusal,
                        (Some(_), None) => true,
                        (None, _) => false,
                    };
                (
                    format!(
                        "{} / {}",
                        at_load(r.ramp.signal_ns),
                        at_load(r.ramp.first_refusal_ns)
                    ),
                    Some(ok),
                )
            },
        ),
        row("ramp: load at score ≥ 1 (context)".to_string(), &|r| {
            (at_load(r.ramp.one_ns), None)
        }),
        row(
            format!("{T5_STEADY}×: no refusals (refused, peak score)"),
            &|r| {
                (
                    format!(
                        "{} of {}, peak {:.2}",
                        r.steady_refused, r.steady_generated, r.steady_peak
                    ),
                    Some(r.steady_refused == 0),
                )
            },
        ),
    ];
    Ok(Outcome {
        scenario: Scenario::T5Signal,
        seed,
        setup: format!(
            "{WORKERS} workers, step phases of {:.0} ms, ramp over {:.1} s after {:.0} ms at 0.5×, 0.7× for {:.1} s; monitor step {}",
            phase_ns as f64 / 1e6,
            ramp_ns as f64 / 1e9,
            phase_ns as f64 / 1e6,
            ramp_ns as f64 / 1e9,
            ms(Some(SimConfig::DEFAULT_MONITOR_INTERVAL_NS))
        ),
        legend: legend(&setups),
        columns: setups.iter().map(|s| s.name.to_string()).collect(),
        rows,
        reports,
    })
}
