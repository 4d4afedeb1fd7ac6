//! The overload suite as `drama-bench overload` runs it, and its markdown
//! report (`docs/bench/overload.md`).
//!
//! Every run is a child process (this binary with `child-overload ...`),
//! so that each executor starts from a fresh process: its RSS, its global
//! state and its threads are its own, and a backlog it leaves behind dies
//! with it. C_ref is measured once, first, in a child of its own.
//! Repetitions visit the executors of each case in a seeded random order,
//! so that drift of a shared machine spreads over all of them.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use super::arrivals::Rng;
use super::flood::{BOMB_BUDGET, FLOOD_SPAWNS};
use super::harness::{BATCH, EXECUTORS, Exec, GRACE, LAG_OK, REQUEST_CLASS, WORK_MEAN, little_n};
use super::{
    T2_HEAVY_RATE, T2_LIGHT_RATE, T2_TENANTS, T5_RAMP, T5_STEADY, T5_STEP, slo_ms, t2_leftover,
};
use crate::runtimes::WORKERS;
use crate::stats::{Summary, summarize};

/// T1's offered loads, × C_ref (BENCHMARKS.md T1).
pub const T1_LOADS: [&str; 5] = ["0.5", "1", "2", "4", "10"];
/// T1 target: goodput at 1× and 2× C_ref.
pub const T1_GOODPUT: f64 = 0.90;
/// T1 target: goodput at 10× C_ref.
pub const T1_GOODPUT_10X: f64 = 0.85;
/// T1 target: refusal returned within 20 µs at p99.
pub const T1_REFUSAL_US: f64 = 20.0;
/// T2 targets: light p99 within 2×, p99.9 within 3× their unloaded values;
/// 99.9 % of light requests admitted; heavy ≥ 0.9 × leftover.
pub const T2_P99_RATIO: f64 = 2.0;
/// See [`T2_P99_RATIO`].
pub const T2_P999_RATIO: f64 = 3.0;
/// See [`T2_P99_RATIO`].
pub const T2_ADMITTED_PCT: f64 = 99.9;
/// See [`T2_P99_RATIO`].
pub const T2_HEAVY_SHARE: f64 = 0.9;
/// T5 targets (ms): signal onset, first refusal, recovery.
pub const T5_ONSET_MS: f64 = 5.0;
/// See [`T5_ONSET_MS`].
pub const T5_REFUSAL_MS: f64 = 10.0;
/// See [`T5_ONSET_MS`].
pub const T5_RECOVERY_MS: f64 = 20.0;
/// T6 targets: refusal p99 within 10 µs; RSS back within 10 % after 1 s.
pub const T6_REFUSAL_US: f64 = 10.0;
/// See [`T6_REFUSAL_US`].
pub const T6_RSS_PCT: f64 = 10.0;

/// The suite's base seed: runs are reproducible, repetitions differ.
const SEED: u64 = 0x00DD_BA11;

/// Which tests run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sections {
    /// T1.
    pub t1: bool,
    /// T2.
    pub t2: bool,
    /// T5.
    pub t5: bool,
    /// T6.
    pub t6: bool,
}

impl Sections {
    /// Every test.
    pub const ALL: Sections = Sections {
        t1: true,
        t2: true,
        t5: true,
        t6: true,
    };

    /// The tests named in `list` (comma-separated `t1,t2,t5,t6`).
    pub fn parse(list: &str) -> Result<Sections, String> {
        let mut s = Sections {
            t1: false,
            t2: false,
            t5: false,
            t6: false,
        };
        for name in list.split(',') {
            match name {
                "t1" => s.t1 = true,
                "t2" => s.t2 = true,
                "t5" => s.t5 = true,
                "t6" => s.t6 = true,
                other => return Err(format!("unknown test `{other}` (t1, t2, t5, t6)")),
            }
        }
        Ok(s)
    }
}

/// How long and how often the suite runs.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// `--quick`.
    pub quick: bool,
    /// Repetitions.
    pub reps: usize,
    /// C_ref's closed-loop window, s.
    pub cref_secs: f64,
    /// T1 step and T2 run length, s.
    pub step_secs: f64,
    /// T5's step length, s (the ramp and the steady run take two).
    pub t5_secs: f64,
    /// T6's flood size.
    pub spawns: u64,
    /// Which tests.
    pub sections: Sections,
}

impl Plan {
    /// The full run (3 repetitions, 2 s steps, 1 s T5 steps: about 5
    /// minutes on 2 cores, 180 child processes) or `--quick` (1
    /// repetition, 0.5 s steps, 0.5 s T5 steps: about 40 s).
    pub fn new(quick: bool) -> Plan {
        Plan {
            quick,
            reps: if quick { 1 } else { 3 },
            cref_secs: if quick { 1.0 } else { 2.0 },
            step_secs: if quick { 0.5 } else { 2.0 },
            t5_secs: if quick { 0.5 } else { 1.0 },
            spawns: FLOOD_SPAWNS,
            sections: Sections::ALL,
        }
    }
}

/// One child's figures.
pub type Figures = HashMap<String, f64>;

/// Parses a child's `key value` lines.
pub fn parse_figures(text: &str) -> Result<Figures, String> {
    text.lines()
        .map(|line| {
            let (k, v) = line
                .split_once(' ')
                .ok_or_else(|| format!("bad line `{line}`"))?;
            let v: f64 = v.parse().map_err(|_| format!("bad value in `{line}`"))?;
            Ok((k.to_string(), v))
        })
        .collect()
}

fn child(exe: &Path, args: &[String]) -> Result<Figures, String> {
    let out = Command::new(exe)
        .arg("child-overload")
        .args(args)
        .output()
        .map_err(|e| format!("cannot start a child: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "child {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse_figures(&String::from_utf8_lossy(&out.stdout))
}

/// The runs of one (test, case, executor) over the repetitions.
type Runs = BTreeMap<(String, String, &'static str), Vec<Figures>>;

/// Runs the suite and returns its report.
pub fn run_suite(plan: &Plan) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let figures = child(
        &exe,
        &["cref".into(), plan.cref_secs.to_string(), SEED.to_string()],
    )?;
    let c_ref = *figures
        .get("c_ref")
        .ok_or("the C_ref child printed no c_ref")?;
    eprintln!(
        "C_ref = {c_ref:.0} requests/s (tokio, closed loop, {} s); tower's N = {}",
        plan.cref_secs,
        little_n(c_ref)
    );
    let mut cases: Vec<(&str, &str)> = Vec::new();
    let s = plan.sections;
    if s.t1 {
        cases.extend(T1_LOADS.iter().map(|x| ("t1", *x)));
    }
    if s.t2 {
        cases.extend([("t2", "light"), ("t2", "mixed")]);
    }
    if s.t5 {
        cases.extend([("t5", "step"), ("t5", "ramp"), ("t5", "steady")]);
    }
    if s.t6 {
        cases.extend([("t6", "a"), ("t6", "b")]);
    }
    let mut runs = Runs::new();
    for rep in 0..plan.reps {
        for (ci, &(test, case)) in cases.iter().enumerate() {
            // The same arrivals for every executor of this case and
            // repetition; another order of executors per case.
            let seed = SEED ^ ((rep as u64) << 32) ^ ci as u64;
            let mut order: Vec<Exec> = if test == "t6" {
                vec![Exec::Drama, Exec::Tokio]
            } else {
                EXECUTORS.to_vec()
            };
            shuffle(&mut order, &mut Rng::new(seed));
            for exec in order {
                eprintln!(
                    "rep {}/{}: {test} {case} {}",
                    rep + 1,
                    plan.reps,
                    exec.name()
                );
                let secs = if test == "t5" {
                    plan.t5_secs
                } else {
                    plan.step_secs
                };
                let args: Vec<String> = if test == "t6" {
                    let attempts = if case == "a" {
                        plan.spawns
                    } else {
                        BOMB_BUDGET
                    };
                    vec![
                        "flood".into(),
                        exec.name().into(),
                        case.into(),
                        attempts.to_string(),
                    ]
                } else {
                    vec![
                        "run".into(),
                        exec.name().into(),
                        test.into(),
                        case.into(),
                        secs.to_string(),
                        c_ref.to_string(),
                        seed.to_string(),
                    ]
                };
                let f = child(&exe, &args)?;
                runs.entry((test.into(), case.into(), exec.name()))
                    .or_default()
                    .push(f);
            }
        }
    }
    Ok(report(plan, c_ref, &runs))
}

/// Fisher–Yates with the suite's generator.
fn shuffle<T>(xs: &mut [T], rng: &mut Rng) {
    for i in (1..xs.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        xs.swap(i, j);
    }
}

/// The summary of `key` over the runs of (test, case, exec), finite
/// values only (`None`: not measured in any run).
fn med(runs: &Runs, test: &str, case: &str, exec: Exec, key: &str) -> Option<Summary> {
    let xs: Vec<f64> = runs
        .get(&(test.to_string(), case.to_string(), exec.name()))?
        .iter()
        .filter_map(|f| f.get(key).copied())
        .filter(|v| v.is_finite())
        .collect();
    summarize(&xs)
}

/// The median alone.
fn m(runs: &Runs, test: &str, case: &str, exec: Exec, key: &str) -> Option<f64> {
    med(runs, test, case, exec, key).map(|s| s.median)
}

/// Whether any run of (test, case, exec) printed `key` as 0 (a failed
/// check: generator behind, accounting off, not recovered).
fn any_zero(runs: &Runs, test: &str, case: &str, exec: Exec, key: &str) -> bool {
    runs.get(&(test.to_string(), case.to_string(), exec.name()))
        .is_some_and(|v| v.iter().any(|f| f.get(key) == Some(&0.0)))
}

/// A cell: the median with its p10–p90 spread when there are several
/// runs and they differ; `n/a` when not measured.
fn cell(s: Option<Summary>, prec: usize) -> String {
    match s {
        None => "n/a".into(),
        Some(s) if s.n > 1 && s.p10 != s.p90 => {
            format!("{:.prec$} ({:.prec$}–{:.prec$})", s.median, s.p10, s.p90)
        }
        Some(s) => format!("{:.prec$}", s.median),
    }
}

fn num(v: Option<f64>, prec: usize) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.prec$}"))
}

fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "PASS",
        Some(false) => "**FAIL**",
        None => "n/a",
    }
}

/// A targets table: each row is a target, drama's figure, the peers'
/// figures and drama's verdict.
struct Targets {
    rows: Vec<(String, Vec<String>, Option<bool>)>,
}

impl Targets {
    fn new() -> Targets {
        Targets { rows: Vec::new() }
    }

    fn row(&mut self, target: String, cells: Vec<String>, pass: Option<bool>) {
        self.rows.push((target, cells, pass));
    }

    fn write(&self, r: &mut String) {
        let _ = write!(r, "\n| target |");
        for e in EXECUTORS {
            let _ = write!(r, " {} |", e.name());
        }
        let _ = writeln!(r, " drama's verdict |");
        let _ = writeln!(r, "|---|{}---|", "---:|".repeat(EXECUTORS.len()));
        for (target, cells, pass) in &self.rows {
            let _ = writeln!(
                r,
                "| {target} | {} | {} |",
                cells.join(" | "),
                verdict(*pass)
            );
        }
        let _ = writeln!(r);
    }
}

fn report(plan: &Plan, c_ref: f64, runs: &Runs) -> String {
    let mut r = String::new();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(r, "# Overload suite: drama beside tokio and tower\n");
    let _ = writeln!(
        r,
        "`cargo xtask bench overload{}`; {cores} cores seen by the process, {WORKERS} workers \
         per executor; {} repetition(s), medians (p10–p90 where runs differ). \
         **C_ref = {c_ref:.0} requests/s** (tokio, closed loop); SLO = {} ms; \
         tower's concurrency limit N = ceil(C_ref × SLO) = {} (Little's law).\n",
        if plan.quick { " --quick" } else { "" },
        plan.reps,
        slo_ms(),
        little_n(c_ref),
    );
    how_measured(&mut r, plan);
    if plan.sections.t1 {
        t1(&mut r, runs);
    }
    if plan.sections.t2 {
        t2(&mut r, runs);
    }
    if plan.sections.t5 {
        t5(&mut r, runs);
    }
    if plan.sections.t6 {
        t6(&mut r, runs);
    }
    r
}

fn how_measured(r: &mut String, plan: &Plan) {
    let _ = writeln!(r, "## How measured\n");
    let _ = writeln!(
        r,
        "- Each (test, executor, repetition) runs in a child process of its own; executors \
         of a case run in a seeded random order per repetition.\n\
         - Load: seeded Poisson arrivals, the same list for every executor of a case and \
         repetition, submitted open loop by one generator thread that wakes every {} µs and \
         submits every arrival that is due in one go, never waiting for a completion. \
         \"achieved\" is arrivals over the time the generator took; the generator *keeps up* \
         when its p99 lag (submission less intended arrival) is within {} ms, otherwise the \
         row says \"generator behind\". The generator and the sampler run at nice -10 \
         (`renice`, where allowed) so that the workers they measure do not starve them.\n\
         - Work: a thread-CPU-time spin (`cpu::spin_cpu`), exponential, mean {} µs (T2's \
         light tenants: 50 µs). Each request is one task of one poll.\n\
         - Latency: from each request's *intended* arrival to its end, in HdrHistograms. \
         Admitted latency counts completed requests, expired ones (drama drops a request \
         whose deadline passed before its first poll; latency = when it was dropped) and \
         requests still queued at the cut-off ({} ms after the last arrival), with the time \
         they had waited (a lower bound; \"censored %\").\n\
         - Goodput = requests completed within the SLO per second of the run / C_ref. \
         Refused % and expired % are of the offered requests.\n\
         - drama: `drama_runtime()` (2 workers, default admission), every request \
         `spawn_with(Spawn::new().tenant(t).class({REQUEST_CLASS:?}).timeout(SLO))`; a refusal \
         is a `spawn_with` that returns `Err(Rejected)`, timed. tokio: `Handle::spawn`. \
         tokio+tower: `ServiceBuilder::new().load_shed().concurrency_limit(N)`, readiness \
         polled with a no-op waker on the generator thread, the response future (holding its \
         permit) spawned on tokio; a refusal is a shed `poll_ready` + `call`, timed. \
         tokio+tower+cap: the same behind a `tokio::sync::Semaphore` per tenant with \
         max(1, N / tenants) permits (`try_acquire_owned`, held until the request is done).\n\
         - Step length {} s (T1, T2), T5 steps {} s; C_ref over {} s.\n",
        BATCH.as_micros(),
        LAG_OK.as_millis(),
        WORK_MEAN.as_micros(),
        GRACE.as_millis(),
        plan.step_secs,
        plan.t5_secs,
        plan.cref_secs,
    );
}

fn t1(r: &mut String, runs: &Runs) {
    let _ = writeln!(r, "## T1 goodput vs offered load\n");
    let _ = writeln!(
        r,
        "One tenant; offered 0.5, 1, 2, 4, 10 × C_ref, each step a fresh process.\n"
    );
    let _ = writeln!(
        r,
        "| offered × C_ref | executor | achieved × C_ref | goodput | p50 ms | p99 ms | p99.9 ms \
         | refused % | expired % | censored % | refusal p99 µs |"
    );
    let _ = writeln!(r, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for x in T1_LOADS {
        for e in EXECUTORS {
            let g = |k: &str, p: usize| cell(med(runs, "t1", x, e, k), p);
            let achieved = if any_zero(runs, "t1", x, e, "gen_ok") {
                format!("generator behind ({})", g("achieved_cref", 2))
            } else {
                g("achieved_cref", 2)
            };
            let _ = writeln!(
                r,
                "| {x} | {} | {achieved} | {} | {} | {} | {} | {} | {} | {} | {} |",
                e.name(),
                g("all.goodput", 3),
                g("all.p50_ms", 2),
                g("all.p99_ms", 2),
                g("all.p999_ms", 2),
                g("all.refused_pct", 1),
                g("all.expired_pct", 1),
                g("all.censored_pct", 1),
                g("refusal_p99_us", 1),
            );
        }
    }
    let _ = writeln!(r);
    checks(r, runs, "t1", &T1_LOADS);
    let mut t = Targets::new();
    let per = |key: &str, x: &str, p: usize| -> Vec<String> {
        EXECUTORS
            .iter()
            .map(|&e| num(m(runs, "t1", x, e, key), p))
            .collect()
    };
    for (x, goal) in [("1", T1_GOODPUT), ("2", T1_GOODPUT), ("10", T1_GOODPUT_10X)] {
        let d = m(runs, "t1", x, Exec::Drama, "all.goodput");
        t.row(
            format!("goodput at {x}× ≥ {goal:.2}"),
            per("all.goodput", x, 3),
            d.map(|v| v >= goal),
        );
    }
    for x in T1_LOADS {
        let d = m(runs, "t1", x, Exec::Drama, "all.p99_ms");
        t.row(
            format!("admitted p99 at {x}× ≤ {} ms", slo_ms()),
            per("all.p99_ms", x, 2),
            d.map(|v| v <= slo_ms()),
        );
    }
    // The worst step's refusal p99 (median over repetitions).
    let worst: Vec<String> = EXECUTORS
        .iter()
        .map(|&e| {
            num(
                T1_LOADS
                    .iter()
                    .filter_map(|x| m(runs, "t1", x, e, "refusal_p99_us"))
                    .reduce(f64::max),
                1,
            )
        })
        .collect();
    let d = T1_LOADS
        .iter()
        .filter_map(|x| m(runs, "t1", x, Exec::Drama, "refusal_p99_us"))
        .reduce(f64::max);
    t.row(
        format!("refusal p99 ≤ {T1_REFUSAL_US} µs (worst step)"),
        worst,
        d.map(|v| v <= T1_REFUSAL_US),
    );
    t.write(r);
}

/// Notes the harness's own checks when they failed in any run.
fn checks(r: &mut String, runs: &Runs, test: &str, cases: &[&str]) {
    for case in cases {
        for e in EXECUTORS {
            if any_zero(runs, test, case, e, "accounting_ok") {
                let _ = writeln!(
                    r,
                    "- **{test} {case} {}: admitted ≠ completed + expired + censored** \
                     (a request was lost by the harness)",
                    e.name()
                );
            }
            if any_zero(runs, test, case, e, "drama_expired_ok") {
                let _ = writeln!(
                    r,
                    "- {test} {case} {}: the harness's expired count differs from \
                     `LoadReport::n_expired`",
                    e.name()
                );
            }
            if any_zero(runs, test, case, e, "boost") {
                let _ = writeln!(
                    r,
                    "- {test} {case} {}: the generator ran at the workers' priority \
                     (`renice` refused)",
                    e.name()
                );
            }
            if any_zero(runs, test, case, e, "gen_ok") {
                let _ = writeln!(
                    r,
                    "- {test} {case} {}: the generator fell behind (p99 lag {} µs, p99.9 {} µs)",
                    e.name(),
                    num(m(runs, test, case, e, "lag_p99_us"), 0),
                    num(m(runs, test, case, e, "lag_p999_us"), 0)
                );
            }
        }
    }
}

fn t2(r: &mut String, runs: &Runs) {
    let left = t2_leftover();
    let _ = writeln!(r, "## T2 noisy neighbour\n");
    let _ = writeln!(
        r,
        "{T2_TENANTS} equal-weight tenants: {} light at {T2_LIGHT_RATE} × C_ref each (50 µs \
         work), 1 heavy at {T2_HEAVY_RATE} × C_ref (100 µs work, 10× its fair share). \
         \"unloaded\": the light tenants alone. Leftover capacity for the heavy tenant = \
         1 − {} × {T2_LIGHT_RATE} × (50 µs / 100 µs) = {left:.3} × C_ref; heavy goodput is \
         given over that.\n",
        T2_TENANTS - 1,
        T2_TENANTS - 1,
    );
    let _ = writeln!(
        r,
        "| executor | unloaded light p99 ms | unloaded light p99.9 ms | light p99 ms | light \
         p99.9 ms | light admitted % | heavy goodput / leftover | heavy refused % | light \
         expired % |"
    );
    let _ = writeln!(r, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for e in EXECUTORS {
        let g = |c: &str, k: &str, p: usize| cell(med(runs, "t2", c, e, k), p);
        let heavy = med(runs, "t2", "mixed", e, "heavy.goodput").map(|s| Summary {
            median: s.median / left,
            p10: s.p10 / left,
            p90: s.p90 / left,
            n: s.n,
        });
        let _ = writeln!(
            r,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            e.name(),
            g("light", "light.p99_ms", 2),
            g("light", "light.p999_ms", 2),
            g("mixed", "light.p99_ms", 2),
            g("mixed", "light.p999_ms", 2),
            g("mixed", "light.admitted_pct", 2),
            cell(heavy, 3),
            g("mixed", "heavy.refused_pct", 1),
            g("mixed", "light.expired_pct", 2),
        );
    }
    let _ = writeln!(r);
    checks(r, runs, "t2", &["light", "mixed"]);
    let ratio =
        |e: Exec, k: &str| Some(m(runs, "t2", "mixed", e, k)? / m(runs, "t2", "light", e, k)?);
    let mut t = Targets::new();
    let all = |f: &dyn Fn(Exec) -> Option<f64>, p: usize| -> Vec<String> {
        EXECUTORS.iter().map(|&e| num(f(e), p)).collect()
    };
    let d = ratio(Exec::Drama, "light.p99_ms");
    t.row(
        format!("light p99 / unloaded ≤ {T2_P99_RATIO}"),
        all(&|e| ratio(e, "light.p99_ms"), 2),
        d.map(|v| v <= T2_P99_RATIO),
    );
    let d = ratio(Exec::Drama, "light.p999_ms");
    t.row(
        format!("light p99.9 / unloaded ≤ {T2_P999_RATIO}"),
        all(&|e| ratio(e, "light.p999_ms"), 2),
        d.map(|v| v <= T2_P999_RATIO),
    );
    let adm = |e: Exec| m(runs, "t2", "mixed", e, "light.admitted_pct");
    t.row(
        format!("light admitted ≥ {T2_ADMITTED_PCT} %"),
        all(&adm, 2),
        adm(Exec::Drama).map(|v| v >= T2_ADMITTED_PCT),
    );
    let heavy = |e: Exec| m(runs, "t2", "mixed", e, "heavy.goodput").map(|v| v / left);
    t.row(
        format!("heavy goodput ≥ {T2_HEAVY_SHARE} × leftover"),
        all(&heavy, 3),
        heavy(Exec::Drama).map(|v| v >= T2_HEAVY_SHARE),
    );
    t.write(r);
}

fn t5(r: &mut String, runs: &Runs) {
    let _ = writeln!(r, "## T5 signal and reaction\n");
    let [a, b, c] = T5_STEP;
    let _ = writeln!(
        r,
        "Step {a} → {b} → {c} × C_ref (one step length each), ramp {} → {} × C_ref over two \
         step lengths, steady {T5_STEADY} × C_ref for two. drama's load score is sampled every \
         1 ms (`rt.load()`); the peers have no signal (n/a). Onset: the first sample after the \
         step up with score ≥ 1. Recovery: from the step down to the end of the last \
         millisecond with a refusal, a completion past the SLO or an expiry. Ramp: when the \
         score first exceeds 0.8, and the first refusal, from the ramp's start.\n",
        T5_RAMP.0, T5_RAMP.1,
    );
    let _ = writeln!(
        r,
        "| executor | onset ms | first refusal ms | recovery ms | peak score | ramp: score > 0.8 \
         at ms | ramp: first refusal at ms | refusals at {T5_STEADY}× | samples/s |"
    );
    let _ = writeln!(r, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let recovery = |e: Exec| -> (String, Option<f64>) {
        if any_zero(runs, "t5", "step", e, "recovered") {
            let after = num(m(runs, "t5", "step", e, "unrecovered_after_ms"), 0);
            (format!("not recovered (> {after})"), None)
        } else {
            let s = med(runs, "t5", "step", e, "recovery_ms");
            (cell(s, 1), s.map(|s| s.median))
        }
    };
    for e in EXECUTORS {
        let g = |c: &str, k: &str, p: usize| cell(med(runs, "t5", c, e, k), p);
        let _ = writeln!(
            r,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            e.name(),
            g("step", "onset_ms", 1),
            g("step", "first_refusal_ms", 1),
            recovery(e).0,
            g("step", "peak_score", 2),
            g("ramp", "score08_ms", 1),
            g("ramp", "ramp_refusal_ms", 1),
            g("steady", "refusals", 0),
            g("step", "samples", 0),
        );
    }
    let _ = writeln!(r);
    checks(r, runs, "t5", &["step", "ramp", "steady"]);
    let mut t = Targets::new();
    let all =
        |f: &dyn Fn(Exec) -> String| -> Vec<String> { EXECUTORS.iter().map(|&e| f(e)).collect() };
    let onset = m(runs, "t5", "step", Exec::Drama, "onset_ms");
    t.row(
        format!("signal onset ≤ {T5_ONSET_MS} ms"),
        all(&|e| num(m(runs, "t5", "step", e, "onset_ms"), 1)),
        Some(onset.is_some_and(|v| v <= T5_ONSET_MS)),
    );
    let first = m(runs, "t5", "step", Exec::Drama, "first_refusal_ms");
    t.row(
        format!("first refusal ≤ {T5_REFUSAL_MS} ms"),
        all(&|e| num(m(runs, "t5", "step", e, "first_refusal_ms"), 1)),
        Some(first.is_some_and(|v| v <= T5_REFUSAL_MS)),
    );
    t.row(
        format!("recovery ≤ {T5_RECOVERY_MS} ms"),
        all(&|e| recovery(e).0),
        Some(recovery(Exec::Drama).1.is_some_and(|v| v <= T5_RECOVERY_MS)),
    );
    let signal_first = |e: Exec| -> Option<bool> {
        let score = m(runs, "t5", "ramp", e, "score08_ms");
        let refusal = m(runs, "t5", "ramp", e, "ramp_refusal_ms");
        match (score, refusal) {
            (_, None) => Some(true),
            (Some(s), Some(f)) => Some(s < f),
            (None, Some(_)) => Some(false),
        }
    };
    t.row(
        "ramp: signal before the first refusal".into(),
        all(&|e| match e {
            Exec::Drama => verdict(signal_first(e)).to_string(),
            _ => "n/a".into(),
        }),
        signal_first(Exec::Drama),
    );
    let steady = m(runs, "t5", "steady", Exec::Drama, "refusals");
    t.row(
        format!("no refusals at {T5_STEADY}×"),
        all(&|e| num(m(runs, "t5", "steady", e, "refusals"), 0)),
        steady.map(|v| v == 0.0),
    );
    t.write(r);
}

fn t6(r: &mut String, runs: &Runs) {
    let _ = writeln!(r, "## T6 spawn flood\n");
    let _ = writeln!(
        r,
        "(a) {FLOOD_SPAWNS} spawns of a trivial future (`rt.spawn`, drama's default tenant \
         and class) from one outside thread at full speed; (b) a fork bomb: a task spawned \
         from outside spawns two children, each does the same, a task stops at its first \
         refused spawn, and the bomb stops at {BOMB_BUDGET} attempts (tokio never refuses). \
         Peak queue: live tasks sampled every 1 ms (drama `n_tasks()`, tokio accepted − \
         completed). Peak RSS: the child's VmHWM; RSS before the flood and 1 s after every \
         accepted task is done (VmRSS). Only drama and tokio run (tower adds nothing to a \
         spawn flood).\n"
    );
    let _ = writeln!(
        r,
        "| flood | executor | attempted | accepted | refused | accepted + refused = attempted \
         | peak queue | bound | peak RSS MiB | RSS before → after MiB (change %) | refusal p99 \
         µs | flood ms |"
    );
    let _ = writeln!(
        r,
        "|---|---|---:|---:|---:|---|---:|---:|---:|---|---:|---:|"
    );
    let floods = [Exec::Drama, Exec::Tokio];
    for case in ["a", "b"] {
        for e in floods {
            let g = |k: &str, p: usize| cell(med(runs, "t6", case, e, k), p);
            let sum_ok = if any_zero(runs, "t6", case, e, "sum_ok") {
                "**no**"
            } else {
                "yes"
            };
            let drained = if any_zero(runs, "t6", case, e, "drained") {
                " (not drained)"
            } else {
                ""
            };
            let bound = match m(runs, "t6", case, e, "bound") {
                Some(b) => format!("{b:.0}"),
                None => "unbounded".into(),
            };
            let _ = writeln!(
                r,
                "| {case} | {} | {} | {} | {} | {sum_ok} | {} | {bound} | {} | {} → {} ({}) | {} | {}{drained} |",
                e.name(),
                g("attempted", 0),
                g("accepted", 0),
                g("refused", 0),
                g("peak_queue", 0),
                g("peak_rss_mib", 1),
                g("rss_before_mib", 1),
                g("rss_after_mib", 1),
                g("rss_change_pct", 1),
                g("refusal_p99_us", 2),
                g("flood_ms", 0),
            );
        }
    }
    let _ = writeln!(r);
    let mut t = Targets::new();
    for case in ["a", "b"] {
        let all = |k: &str, p: usize| -> Vec<String> {
            EXECUTORS
                .iter()
                .map(|&e| {
                    if floods.contains(&e) {
                        num(m(runs, "t6", case, e, k), p)
                    } else {
                        "–".into()
                    }
                })
                .collect()
        };
        let d = |k: &str| m(runs, "t6", case, Exec::Drama, k);
        t.row(
            format!("({case}) peak queue ≤ bound"),
            all("peak_queue", 0),
            if any_zero(runs, "t6", case, Exec::Drama, "within_bound") {
                Some(false)
            } else {
                d("within_bound").map(|v| v == 1.0)
            },
        );
        t.row(
            format!("({case}) refusal p99 ≤ {T6_REFUSAL_US} µs"),
            all("refusal_p99_us", 2),
            d("refusal_p99_us").map(|v| v <= T6_REFUSAL_US),
        );
        t.row(
            format!("({case}) RSS 1 s after within {T6_RSS_PCT} % of before"),
            all("rss_change_pct", 1),
            d("rss_change_pct").map(|v| v.abs() <= T6_RSS_PCT),
        );
        t.row(
            format!("({case}) accepted + refused = attempted"),
            all("sum_ok", 0),
            Some(!any_zero(runs, "t6", case, Exec::Drama, "sum_ok")),
        );
    }
    t.write(r);
}
