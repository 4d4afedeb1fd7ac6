//! The fairness suite as `drama-bench fairness` runs it, and its markdown
//! report (`docs/bench/fairness.md`).
//!
//! Runs go one at a time, each on a runtime of its own that is shut down
//! (dropped, its threads gone) before the next starts. Repetitions of a
//! case follow each other with the runtimes in rotating order, so that
//! drift of a shared machine spreads over both.

use std::fmt::Write as _;
use std::time::Duration;

use super::classes::{self, Birth, ClassRun};
use super::many::{self, ManyRun};
use super::{
    CONVERGENCE_TOLERANCE, CONVERGENCE_WINDOW, Engine, Pattern, SAMPLE_PERIOD, ShareRun,
    TenantSpec, Timing, WORKERS, run_pattern, t3a_tenants, t3b_tenants,
};
use crate::cpu::ClockSource;

/// Target: Jain's index over CPU / weight (the issue).
pub const JAIN_TARGET: f64 = 0.999;
/// Target: every share within ±3 % of its target, relative (the issue).
pub const SHARE_ERROR_TARGET_PCT: f64 = 3.0;
/// Target: converged within 100 ms of the start of spawning (the issue).
pub const CONVERGENCE_TARGET: Duration = Duration::from_millis(100);
/// T4 target: each backlogged class gets at least 0.9 × its weight share.
pub const CLASS_RATIO_TARGET: f64 = 0.9;
/// T4 target: the Accept probe's largest wait (BENCHMARKS.md T4).
pub const ACCEPT_MAX_WAIT_TARGET: Duration = Duration::from_millis(12);
/// T3c target: throughput at N tenants over throughput at 10.
pub const MANY_THROUGHPUT_TARGET: f64 = 0.95;
/// T3c target: Jain's index over the tenants' CPU.
pub const MANY_JAIN_TARGET: f64 = 0.99;
/// T3c target: the largest gap within twice the stated bound.
pub const GAP_BOUND_TARGET: f64 = 2.0;

/// The tenant counts of T3c.
pub const MANY_TENANTS: [usize; 3] = [10, 1_000, 10_000];

/// How long and how often the suite runs.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Whether this is `--quick`.
    pub quick: bool,
    /// Repetitions of each T3a/T3b/T4 case.
    pub reps: usize,
    /// Warm-up and window of T3a/T3b/T4 runs.
    pub timing: Timing,
    /// The measuring window of T3c runs.
    pub many_window: Duration,
    /// Which sections run (all by default; `--only` picks some, for
    /// development: the report then holds only those).
    pub sections: Sections,
}

/// The sections of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sections {
    /// T3a and T3b under the four spawn patterns.
    pub shares: bool,
    /// T4.
    pub classes: bool,
    /// T3c.
    pub many: bool,
}

impl Sections {
    /// Every section.
    pub const ALL: Sections = Sections {
        shares: true,
        classes: true,
        many: true,
    };

    /// The sections named in `list` (comma-separated: `t3ab`, `t4`,
    /// `t3c`).
    pub fn parse(list: &str) -> Result<Sections, String> {
        let mut s = Sections {
            shares: false,
            classes: false,
            many: false,
        };
        for name in list.split(',') {
            match name {
                "t3ab" => s.shares = true,
                "t4" => s.classes = true,
                "t3c" => s.many = true,
                other => return Err(format!("unknown section `{other}` (t3ab, t4, t3c)")),
            }
        }
        Ok(s)
    }
}

impl Plan {
    /// The default run (about 5 minutes on 2 cores: 72 T3a/T3b runs and 6
    /// T4 runs of 3.5 s, 4 T3c runs of 5 to 10 s) or `--quick` (about 1
    /// minute: one repetition, 1.8 s runs, 1.5 s T3c windows).
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                reps: 1,
                timing: Timing {
                    warmup: Duration::from_millis(300),
                    window: Duration::from_millis(1_500),
                },
                many_window: Duration::from_millis(1_500),
                sections: Sections::ALL,
            }
        } else {
            Plan {
                quick,
                reps: 3,
                timing: Timing {
                    warmup: Duration::from_millis(500),
                    window: Duration::from_secs(3),
                },
                many_window: Duration::from_secs(5),
                sections: Sections::ALL,
            }
        }
    }
}

/// One T3a/T3b case.
struct Case {
    title: &'static str,
    tenants: Vec<TenantSpec>,
    work: Duration,
}

/// The repetitions of one case under one pattern on one runtime.
struct Reps {
    engine: Engine,
    pattern: Pattern,
    /// Sorted by Jain's index, so the median is in the middle.
    runs: Vec<ShareRun>,
}

impl Reps {
    fn median(&self) -> &ShareRun {
        &self.runs[self.runs.len() / 2]
    }
    fn spread(&self) -> (f64, f64) {
        (self.runs[0].jain(), self.runs[self.runs.len() - 1].jain())
    }
}

/// Runs the whole suite and returns the report.
pub fn run_suite(plan: &Plan) -> String {
    let load_start = load_average();
    let started = std::time::Instant::now();
    let cases = [
        Case {
            title: "T3a: 8 equal tenants with 1..128 tasks in flight, 50 µs work",
            tenants: t3a_tenants(),
            work: Duration::from_micros(50),
        },
        Case {
            title: "T3a: 8 equal tenants with 1..128 tasks in flight, 500 µs work",
            tenants: t3a_tenants(),
            work: Duration::from_micros(500),
        },
        Case {
            title: "T3b: weights 1:2:4:8, 8 tasks each, 100 µs work",
            tenants: t3b_tenants(),
            work: Duration::from_micros(100),
        },
    ];
    let engines = [Engine::Drama, Engine::Tokio];
    let mut notes: Vec<String> = Vec::new();
    let mut share_results: Vec<Vec<Reps>> = Vec::new();
    for case in cases.iter().filter(|_| plan.sections.shares) {
        let mut per_case = Vec::new();
        for pattern in Pattern::ALL {
            let mut reps: Vec<Reps> = engines
                .iter()
                .map(|&engine| Reps {
                    engine,
                    pattern,
                    runs: Vec::new(),
                })
                .collect();
            for rep in 0..plan.reps {
                for k in 0..engines.len() {
                    let e = (rep + k) % engines.len();
                    let engine = engines[e];
                    let r = run_pattern(engine, &case.tenants, case.work, pattern, plan.timing);
                    eprintln!(
                        "{} | {} | {} | rep {}: Jain {:.4}, worst {:.1} %, convergence {}",
                        case.title,
                        pattern.name(),
                        engine.name(),
                        rep + 1,
                        r.jain(),
                        r.error().relative_pct,
                        convergence_text(r.convergence_ns)
                    );
                    if let Some(n) = &r.note {
                        notes.push(format!(
                            "{}, {}, {}: {n}",
                            case.title,
                            pattern.name(),
                            engine.name()
                        ));
                    }
                    reps[e].runs.push(r);
                }
            }
            for r in &mut reps {
                r.runs.sort_by(|a, b| a.jain().total_cmp(&b.jain()));
            }
            per_case.extend(reps);
        }
        share_results.push(per_case);
    }

    let mut class_results: Vec<Vec<ClassRun>> = Vec::new();
    let births = [Birth::Outside, Birth::WritesFromOneTask];
    for &birth in births.iter().filter(|_| plan.sections.classes) {
        let mut runs: Vec<ClassRun> = (0..plan.reps)
            .map(|rep| {
                let r = classes::run(birth, plan.timing);
                eprintln!(
                    "T4 {} | rep {}: ratios {:?}, accept max {}",
                    birth.name(),
                    rep + 1,
                    r.ratios()
                        .iter()
                        .map(|x| format!("{x:.2}"))
                        .collect::<Vec<_>>(),
                    ms_opt(r.accept.max_ns)
                );
                if let Some(n) = &r.note {
                    notes.push(format!("T4 {}: {n}", birth.name()));
                }
                r
            })
            .collect();
        runs.sort_by(|a, b| a.min_ratio().total_cmp(&b.min_ratio()));
        class_results.push(runs);
    }

    let mut many_results: Vec<ManyRun> = Vec::new();
    let many_runs = MANY_TENANTS
        .iter()
        .map(|&n| (n, WORKERS))
        .chain([(10_000, 1)]);
    for (n, workers) in many_runs.filter(|_| plan.sections.many) {
        let r = many::run(n, workers, plan.many_window);
        eprintln!(
            "T3c {n} tenants, {workers} worker(s): {:.0} loops/s, Jain {:.4}, gap {}, monitor {}",
            r.throughput(),
            r.jain(),
            ms(r.largest_gap_ns),
            r.monitor_pct().map_or("–".into(), |p| format!("{p:.1} %"))
        );
        if let Some(note) = &r.note {
            notes.push(format!("T3c {n} tenants, {workers} worker(s): {note}"));
        }
        many_results.push(r);
    }
    let load_end = load_average();

    let mut r = String::new();
    header(&mut r, plan, load_start, load_end, started.elapsed());
    for (case, results) in cases.iter().zip(&share_results) {
        share_section(&mut r, case, results);
    }
    if plan.sections.classes {
        class_section(&mut r, &class_results);
    }
    if plan.sections.many {
        many_section(&mut r, plan, &many_results);
    }
    if !notes.is_empty() {
        let _ = writeln!(r, "## Notes from the runs\n");
        for n in notes {
            let _ = writeln!(r, "- {n}");
        }
        let _ = writeln!(r);
    }
    r
}

/// The 1-minute load average, if the system says.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn header(
    r: &mut String,
    plan: &Plan,
    load_start: Option<f64>,
    load_end: Option<f64>,
    took: Duration,
) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = match (load_start, load_end) {
        (Some(a), Some(b)) => {
            format!("; 1-minute load average {a:.2} at the start, {b:.2} at the end")
        }
        _ => String::new(),
    };
    let t = plan.timing;
    let _ = writeln!(r, "# Fairness on the real runtime\n");
    let _ = writeln!(
        r,
        "`cargo xtask bench fairness{}`; {cores} cores seen by the process{load}; the suite \
         took {:.0} s. The machines this runs on are usually shared (other builds, other VMs): \
         OS preemption shows in every wall-clock figure here (waits, gaps, poll lengths), not \
         in the CPU shares, which count thread CPU time.\n",
        if plan.quick { " --quick" } else { "" },
        took.as_secs_f64()
    );
    let _ = writeln!(
        r,
        "Settings: {WORKERS} workers for every runtime (T3c also runs 10,000 tenants on 1); \
         drama with its defaults (DRR, 100 µs quantum, class weights 8:4:2:1, accounting on, as \
         users get it); tokio's multi-thread runtime beside it in T3a/T3b for context (it has no \
         tenants). T3a/T3b/T4: {} s of warm-up, then {} s measured, {} repetition(s); T3c: \
         warm-up until every task has run twice (at least {} s), then {} s measured, one run \
         each. Definitions: `benches/src/fairness.rs` and `benches/src/fairness/`.\n",
        t.warmup.as_secs_f64(),
        t.window.as_secs_f64(),
        plan.reps,
        many::MIN_WARMUP.as_secs_f64(),
        plan.many_window.as_secs_f64()
    );
    let _ = writeln!(r, "## How to read this\n");
    let _ = writeln!(
        r,
        "- **Work and counters.** A task's unit of work spins until its thread's CPU clock \
         (`cpu_time::ThreadTime`) has advanced by the work time, adding the CPU time to its \
         tenant's (or class's) counter every 10 µs. Every share here is computed from those \
         counters, never from drama's accounting; time a worker spends preempted by the OS is \
         nobody's work.\n\
         - **Spawn patterns.** *outside*: every task spawned from the calling thread. \
         *one-task*: one task of a tenant of its own (\"dispatcher\", default weight) spawns \
         them all with `drama::spawn_with(Spawn::new().tenant(t), ..)` (`tokio::spawn` on \
         tokio), so all are born on its worker. *per-tenant*: a starter task of each tenant \
         (spawned from outside) spawns that tenant's tasks with `drama::spawn` (inheriting the \
         tenant). *churn*: one task per request; one dispatcher task (tenant \"dispatcher\") \
         keeps each tenant's requests in flight (the tasks column: 1, 2, 4, … for T3a, 8 each \
         for T3b); a request spins the work time once, sends its tenant to the dispatcher over \
         an unbounded channel as its last act and ends, and the dispatcher spawns that \
         tenant's next request (a dispatcher with a per-tenant concurrency limit). The other \
         patterns run closed loops: spin, `yield_now`, until the run ends.\n\
         - **Shares** are over the measuring window (after the warm-up), of the repetition with \
         the median Jain's index. **Jain** is over CPU time / weight (1 is exactly fair; 1/8 is \
         one tenant of 8 taking all), median repetition, (min–max over the repetitions) \
         beside it. **Largest error**: the largest |share − expected| in percentage points, and \
         relative to the expected share. **Work CPU**: the tenants' counted CPU time over the \
         window in % of {WORKERS} cores × the window: 100 % means the tasks had both cores to \
         themselves; the runtime's own work, the dispatcher and other programs on the machine \
         take the rest.\n\
         - **Convergence**: from the start of spawning, the counters are read every {} ms; the \
         convergence time is the start of the first {} ms window after which every later {} ms \
         window (sliding by {} ms, to the end of the run) has every share within ±{:.0} % \
         (relative) of its target; \"not converged\" if the run ends outside it. It covers the \
         warm-up and the window.\n",
        SAMPLE_PERIOD.as_millis(),
        CONVERGENCE_WINDOW.as_millis(),
        CONVERGENCE_WINDOW.as_millis(),
        SAMPLE_PERIOD.as_millis(),
        CONVERGENCE_TOLERANCE * 100.0
    );
    let _ = writeln!(
        r,
        "Targets (the issue): Jain ≥ {JAIN_TARGET}, every share within ±{SHARE_ERROR_TARGET_PCT:.0} % \
         (relative) of its target, converged within {} ms. T4: every backlogged class ≥ \
         {CLASS_RATIO_TARGET} × its weight share, Accept max wait ≤ {} ms, p99 wait Write < \
         Compute < Read. T3c: throughput ≥ {MANY_THROUGHPUT_TARGET} × that at 10 tenants, Jain ≥ \
         {MANY_JAIN_TARGET}, largest gap ≤ {GAP_BOUND_TARGET} × the stated bound. A target missed \
         is marked **no**; tokio's rows are context, not judged.\n",
        CONVERGENCE_TARGET.as_millis(),
        ACCEPT_MAX_WAIT_TARGET.as_millis()
    );
}

fn yes_no(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}

fn convergence_text(ns: Option<u64>) -> String {
    ns.map_or("not converged".into(), |ns| {
        format!("{} ms", ns / 1_000_000)
    })
}

fn ms(ns: u64) -> String {
    format!("{:.2} ms", ns as f64 / 1e6)
}

fn ms_opt(ns: Option<u64>) -> String {
    ns.map_or("–".into(), ms)
}

fn share_section(r: &mut String, case: &Case, results: &[Reps]) {
    let _ = writeln!(r, "## {}\n", case.title);
    let _ = writeln!(r, "CPU shares in % of the measured CPU time:\n");
    // drama's columns first, then tokio's.
    let mut columns: Vec<&Reps> = results.iter().collect();
    columns.sort_by_key(|x| x.engine != Engine::Drama);
    let _ = write!(r, "| tenant | weight | tasks | expected % |");
    for reps in &columns {
        let _ = write!(r, " {} {} |", reps.engine.name(), reps.pattern.name());
    }
    let _ = writeln!(r);
    let _ = write!(r, "|---|---:|---:|---:|");
    for _ in &columns {
        let _ = write!(r, "---:|");
    }
    let _ = writeln!(r);
    let shares: Vec<Vec<f64>> = columns.iter().map(|x| x.median().shares()).collect();
    let expected = results[0].median().targets();
    for (i, t) in case.tenants.iter().enumerate() {
        let _ = write!(
            r,
            "| {} | {} | {} | {:.1} |",
            t.name,
            t.weight,
            t.tasks,
            100.0 * expected[i]
        );
        for s in &shares {
            let _ = write!(r, " {:.1} |", 100.0 * s[i]);
        }
        let _ = writeln!(r);
    }
    let _ = writeln!(r);
    let _ = writeln!(
        r,
        "| pattern | runtime | Jain (min–max) | largest error, points | largest error, relative | \
         convergence | work CPU | Jain ≥ {JAIN_TARGET} | shares ±{SHARE_ERROR_TARGET_PCT:.0} % | \
         converged < {} ms |",
        CONVERGENCE_TARGET.as_millis()
    );
    let _ = writeln!(r, "|---|---|---:|---:|---:|---:|---:|---|---|---|");
    let target_ns = CONVERGENCE_TARGET.as_nanos() as u64;
    for reps in results {
        let m = reps.median();
        let (lo, hi) = reps.spread();
        let e = m.error();
        let judged = reps.engine == Engine::Drama;
        let judge = |ok: bool| if judged { yes_no(ok) } else { "–" };
        let _ = writeln!(
            r,
            "| {} | {} | **{:.4}** ({lo:.4}–{hi:.4}) | {:.2} | {:.1} % | {} | {:.0} % | {} | {} | {} |",
            reps.pattern.name(),
            reps.engine.name(),
            m.jain(),
            e.points,
            e.relative_pct,
            convergence_text(m.convergence_ns),
            m.work_pct(),
            judge(m.jain() >= JAIN_TARGET),
            judge(e.relative_pct <= SHARE_ERROR_TARGET_PCT),
            judge(m.convergence_ns.is_some_and(|ns| ns < target_ns)),
        );
    }
    let _ = writeln!(r);
}

fn class_section(r: &mut String, results: &[Vec<ClassRun>]) {
    let _ = writeln!(r, "## T4: weak class priorities across the pool\n");
    let _ = writeln!(
        r,
        "One tenant; {} Write, {} Compute and {} Read closed loops (spin {} µs of thread CPU, \
         yield); class weights 8:4:2:1, so the backlogged Write, Compute and Read should get \
         8/14, 4/14 and 2/14 of the CPU they use (shares here are of their CPU; the probe's is \
         left out). Accept probe: the calling thread spawns a task of class Accept every {} ms \
         on a fixed schedule (100 requests/s); it spins {} µs; its wait runs from its intended \
         start to its first poll (a late generator counts). Loop wait: from a loop's \
         `yield_now` to its next poll. The repetition with the median smallest ratio is shown, \
         the smallest ratio's spread beside it. Convergence of the class shares (same \
         definition as above) counts from the start in (a) and from the Write loops' spawn in \
         (b).\n",
        classes::LOOPS_PER_CLASS,
        classes::LOOPS_PER_CLASS,
        classes::LOOPS_PER_CLASS,
        classes::LOOP_WORK.as_micros(),
        classes::PROBE_PERIOD.as_millis(),
        classes::PROBE_WORK.as_micros(),
    );
    let names = ["Write", "Compute", "Read"];
    let target_ns = CONVERGENCE_TARGET.as_nanos() as u64;
    for runs in results {
        let m = &runs[runs.len() / 2];
        let _ = writeln!(r, "### {}\n", m.birth.name());
        let _ = writeln!(
            r,
            "| class | class weight | weight share % | CPU share % | ratio | ≥ {CLASS_RATIO_TARGET} | \
             wait p99 | wait max |"
        );
        let _ = writeln!(r, "|---|---:|---:|---:|---:|---|---:|---:|");
        let shares = m.shares();
        let targets = ClassRun::targets();
        let ratios = m.ratios();
        for i in 0..3 {
            let _ = writeln!(
                r,
                "| {} | {} | {:.1} | {:.1} | {:.2} | {} | {} | {} |",
                names[i],
                classes::CLASS_WEIGHTS[i],
                100.0 * targets[i],
                100.0 * shares[i],
                ratios[i],
                yes_no(ratios[i] >= CLASS_RATIO_TARGET),
                ms_opt(m.wait_p99_ns[i]),
                ms_opt(m.wait_max_ns[i]),
            );
        }
        let a = &m.accept;
        let _ = writeln!(
            r,
            "| Accept (probe, {} requests) | {} | – | – | – | – | {} | {} |",
            a.requests,
            classes::CLASS_WEIGHTS[3],
            ms_opt(a.p99_ns),
            ms_opt(a.max_ns)
        );
        let order_ok = match m.wait_p99_ns {
            [Some(w), Some(c), Some(rd)] => w < c && c < rd,
            _ => false,
        };
        let accept_ok = a
            .max_ns
            .is_some_and(|ns| ns <= ACCEPT_MAX_WAIT_TARGET.as_nanos() as u64);
        let lo = runs[0].min_ratio();
        let hi = runs[runs.len() - 1].min_ratio();
        let _ = writeln!(
            r,
            "\nSmallest ratio {:.2} ({lo:.2}–{hi:.2}). Accept max wait in the window {} (≤ {} ms: \
             {}), over the whole run {}. p99 wait Write < Compute < Read: {}. Convergence{}: {} \
             (< {} ms: {}). Work CPU (the loops'): {:.0} %.\n",
            m.min_ratio(),
            ms_opt(a.max_ns),
            ACCEPT_MAX_WAIT_TARGET.as_millis(),
            yes_no(accept_ok),
            ms_opt(a.max_run_ns),
            yes_no(order_ok),
            if m.birth == Birth::WritesFromOneTask {
                " after the Write loops appear"
            } else {
                ""
            },
            convergence_text(m.convergence_ns),
            CONVERGENCE_TARGET.as_millis(),
            yes_no(m.convergence_ns.is_some_and(|ns| ns < target_ns)),
            m.work_pct(),
        );
    }
}

fn many_section(r: &mut String, plan: &Plan, results: &[ManyRun]) {
    let _ = writeln!(r, "## T3c: many tenants\n");
    let _ = writeln!(
        r,
        "N tenants with one task each (spin {} µs of thread CPU, yield), spawned from outside; \
         warm-up until every task has started {} iterations (at least {} s), then {} s \
         measured; one run each. **loops/s**: iterations completed in the window per second, \
         all tenants; **ratio**: to 10 tenants at the same worker count. **zero polls**: \
         tenants that completed no iteration in the window. **Largest gap**: the longest time \
         between the starts of two consecutive iterations of one task (wall clock, clipped to \
         the window; a task's open gap to the window's end counts). **C**: the longest poll \
         (iteration start to its yield, wall clock, what drama charges; OS preemption inside \
         a poll is in it). **N_w**: the most tenants whose task last ran on one worker thread \
         (the busiest worker, whose bound is the largest). **Stated bound**: `(floor(D/q)+1) * (N_w - 1) * (q + C)`, q = 100 µs, \
         D = min(C, 10 q), the policy author's per-worker starvation bound, from the measured \
         C. **Monitor / workers CPU**: CPU time of the `drama-monitor` thread{}, and of the \
         workers (the process's CPU time less the monitor's and the measuring thread's, so that \
         replaced workers count), over the window, in % of one core.\n",
        many::LOOP_WORK.as_micros(),
        many::WARM_LOOPS,
        many::MIN_WARMUP.as_secs_f64(),
        plan.many_window.as_secs_f64(),
        match results.iter().find_map(ManyRun::clock) {
            Some(ClockSource::Schedstat) => " (`/proc/self/task/<tid>/schedstat`, ns)",
            Some(ClockSource::StatTicks) =>
                " (`/proc/self/task/<tid>/stat` utime + stime, taken as 100 Hz ticks: 10 ms resolution)",
            None => " (not readable here)",
        }
    );
    let _ = writeln!(
        r,
        "| tenants | workers | warm-up | loops/s | ratio to 10 | Jain | zero polls | monitor CPU | \
         workers CPU | ratio ≥ {MANY_THROUGHPUT_TARGET} | Jain ≥ {MANY_JAIN_TARGET} |"
    );
    let _ = writeln!(r, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
    let pct = |p: Option<f64>| p.map_or("–".into(), |p| format!("{p:.1} %"));
    for m in results {
        let base = results
            .iter()
            .find(|b| b.n_tenants == MANY_TENANTS[0] && b.workers == m.workers);
        let ratio = base.map(|b| m.throughput() / b.throughput());
        let _ = writeln!(
            r,
            "| {} | {} | {:.2} s{} | {:.0} | {} | {:.4} | {} | {} | {} | {} | {} |",
            m.n_tenants,
            m.workers,
            m.warmup.as_secs_f64(),
            if m.all_warm { "" } else { " (not all ran)" },
            m.throughput(),
            ratio.map_or("–".into(), |x| format!("{x:.3}")),
            m.jain(),
            m.zero_polls,
            pct(m.monitor_pct()),
            pct(m.workers_pct()),
            ratio.map_or("–", |x| yes_no(x >= MANY_THROUGHPUT_TARGET)),
            yes_no(m.jain() >= MANY_JAIN_TARGET),
        );
    }
    let _ = writeln!(
        r,
        "\nThe largest gap beside the stated bound (judged with C as measured, wall clock; the \
         bound with C taken as the largest poll's CPU time, what an unpreempted machine would \
         show, is beside it for context):\n"
    );
    let _ = writeln!(
        r,
        "| tenants | workers | largest gap | C | N_w | stated bound | gap / bound | \
         gap ≤ {GAP_BOUND_TARGET} × bound | C (CPU) | bound (CPU C) | gap / bound (CPU C) |"
    );
    let _ = writeln!(r, "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|");
    for m in results {
        let ratio_to =
            |bound_ns: u64| (bound_ns > 0).then(|| m.largest_gap_ns as f64 / bound_ns as f64);
        let gap_ratio = ratio_to(m.bound_ns());
        let gap_ratio_cpu = ratio_to(m.bound_cpu_ns());
        let _ = writeln!(
            r,
            "| {} | {} | {} | {:.0} µs | {} | {} | {} | {} | {:.0} µs | {} | {} |",
            m.n_tenants,
            m.workers,
            ms(m.largest_gap_ns),
            m.largest_poll_ns as f64 / 1e3,
            m.busiest_worker_tenants,
            ms(m.bound_ns()),
            gap_ratio.map_or("–".into(), |x| format!("{x:.2}")),
            gap_ratio.map_or("–", |x| yes_no(x <= GAP_BOUND_TARGET)),
            m.largest_poll_cpu_ns as f64 / 1e3,
            ms(m.bound_cpu_ns()),
            gap_ratio_cpu.map_or("–".into(), |x| format!("{x:.2}")),
        );
    }
    let _ = writeln!(
        r,
        "\nEach worker thread's CPU over the window, in % of one core (`drama-0`, `drama-1`, then \
         replacements): {}.",
        results
            .iter()
            .map(|m| {
                let each: Vec<String> = m
                    .threads_cpu
                    .per_worker_ns
                    .iter()
                    .map(|&ns| format!("{:.0}", 100.0 * ns as f64 / m.window_ns.max(1) as f64))
                    .collect();
                format!(
                    "{} tenants on {}: [{}] ({} replacement(s))",
                    m.n_tenants,
                    m.workers,
                    each.join(", "),
                    m.replaced
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    );
    let replaced: u64 = results.iter().map(|m| m.replaced).sum();
    let _ = writeln!(
        r,
        "\nTenants per worker thread (`drama-0`, `drama-1`, then replacements of stuck workers; \
         by each task's latest poll): {}. Stuck-worker replacements during these runs: \
         {replaced} (the monitor replaces a worker whose current poll has run longer than the 10 ms \
         stuck threshold by the wall clock; compare C with C (CPU) above).\n",
        results
            .iter()
            .map(|m| format!(
                "{} tenants on {}: {:?}",
                m.n_tenants, m.workers, m.tenants_per_worker
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
}
