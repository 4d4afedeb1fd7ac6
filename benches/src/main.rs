//! `drama-bench`: runs the benchmark suites and writes their reports.
//!
//! ```text
//! drama-bench micro    [--quick] [--out FILE]   the micro suite, drama beside its peers
//! drama-bench fairness [--quick] [--out FILE] [--only t3ab,t4,t3c]
//!                                               T3a/T3b spawn patterns, T4 classes, T3c many tenants
//! drama-bench overload [--quick] [--out FILE] [--only t1,t2,t5,t6]
//!                                               T1 goodput, T2 noisy neighbour, T5 signal
//!                                               and reaction, T6 spawn flood (part B)
//! drama-bench recording [--quick] [--out FILE]  the micro suite on drama with the workers'
//!                                               recording for the scheduler's view on and off
//! drama-bench loop RUNTIME WORKLOAD SECONDS     one workload in a loop, for a profiler
//! ```
//!
//! `cargo xtask bench` calls it with `--out docs/bench/<suite>.md`. The
//! micro suite runs each runtime in a child process of its own (this binary
//! with `child-micro RUNTIME ...`), so that global executors, thread pools
//! and the process CPU clock of one runtime never touch another's figures;
//! rounds visit the runtimes in rotating order so that drift of a shared
//! machine spreads over all of them. The overload suite does the same per
//! run (`child-overload ...`, see `drama_benches::overload`).
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::process::{Command, ExitCode};
use std::time::Duration;

use drama_benches::fairness;
use drama_benches::micro::{self, WORKLOADS};
use drama_benches::overload;
use drama_benches::runtimes::{
    AsyncExecutor, AsyncGlobalExecutor, Drama, RUNTIMES, Rt, Smolscale, Tokio, WORKERS,
};
use drama_benches::stats::{Summary, summarize};

const USAGE: &str = "usage: drama-bench <micro|recording|fairness|overload> [--quick] [--out FILE]
       drama-bench fairness ... --only t3ab,t4,t3c   (some sections only, for development)
       drama-bench overload ... --only t1,t2,t5,t6   (some tests only, for development)";

/// The idle_cpu message period.
const IDLE_PERIOD: Duration = Duration::from_micros(100);

/// Settings of one suite run.
struct Settings {
    quick: bool,
    out: Option<String>,
    /// `--only SECTIONS` (fairness, overload): run some sections only.
    only: Option<String>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("micro") => settings(&args[1..]).and_then(|s| micro_suite(&s)),
        Some("recording") => settings(&args[1..]).and_then(|s| recording_suite(&s)),
        Some("fairness") => settings(&args[1..]).and_then(|s| fairness_suite(&s)),
        Some("overload") => settings(&args[1..]).and_then(|s| overload_suite(&s)),
        Some("child-micro") => child_micro(&args[1..]),
        Some("child-overload") => overload::run_child(&args[1..]),
        Some("loop") => loop_workload(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("drama-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn settings(args: &[String]) -> Result<Settings, String> {
    let mut s = Settings {
        quick: false,
        out: None,
        only: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => s.quick = true,
            "--out" => s.out = Some(it.next().ok_or("--out needs a file")?.clone()),
            "--only" => s.only = Some(it.next().ok_or("--only needs sections")?.clone()),
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    Ok(s)
}

fn write_report(settings: &Settings, report: &str) -> Result<(), String> {
    print!("{report}");
    if let Some(path) = &settings.out {
        std::fs::write(path, report).map_err(|e| format!("cannot write {path}: {e}"))?;
        eprintln!("report written to {path}");
    }
    Ok(())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores seen by the process, {WORKERS} workers per runtime")
}

// ---------------------------------------------------------------- micro ---

/// One child's figures: per workload its samples (ns per run), and the
/// idle CPU seconds.
#[derive(Default)]
struct ChildFigures {
    samples: Vec<(String, f64)>,
    idle_cpu_s: Option<f64>,
}

/// A micro-suite run's rounds, samples and idle window: `quick` or `full`
/// as `settings` asks; `--only` is refused (it belongs to other suites).
fn micro_plan(
    settings: &Settings,
    quick: (usize, usize, Duration),
    full: (usize, usize, Duration),
) -> Result<(usize, usize, Duration), String> {
    if settings.only.is_some() {
        return Err("--only is an option of the fairness and overload suites".into());
    }
    Ok(if settings.quick { quick } else { full })
}

impl ChildFigures {
    /// The summary of `workload`'s samples, if any.
    fn summary(&self, workload: &str) -> Option<Summary> {
        let xs: Vec<f64> = self
            .samples
            .iter()
            .filter(|(w, _)| w == workload)
            .map(|&(_, v)| v)
            .collect();
        summarize(&xs)
    }
}

fn micro_suite(settings: &Settings) -> Result<(), String> {
    let (rounds, samples, idle_window) = micro_plan(
        settings,
        (1, 7, Duration::from_secs(1)),
        (3, 21, Duration::from_secs(2)),
    )?;
    let figures = run_children(&RUNTIMES, rounds, samples, idle_window)?;
    let report = micro_report(settings, rounds, samples, idle_window, &figures);
    write_report(settings, &report)
}

/// Runs the micro suite in a child per runtime named, `rounds` times in
/// rotating order: each runtime's figures.
fn run_children(
    names: &[&str],
    rounds: usize,
    samples: usize,
    idle_window: Duration,
) -> Result<Vec<ChildFigures>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let mut figures: Vec<ChildFigures> = names.iter().map(|_| ChildFigures::default()).collect();
    for round in 0..rounds {
        for k in 0..names.len() {
            let index = (round + k) % names.len();
            let name = names[index];
            eprintln!("round {}/{rounds}: {name}", round + 1);
            let out = Command::new(&exe)
                .args([
                    "child-micro",
                    name,
                    &samples.to_string(),
                    &idle_window.as_millis().to_string(),
                ])
                .output()
                .map_err(|e| format!("cannot start the {name} child: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "the {name} child failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            parse_child(&String::from_utf8_lossy(&out.stdout), &mut figures[index])
                .map_err(|e| format!("{name}: {e}"))?;
        }
    }
    Ok(figures)
}

/// The cost of the workers' recording for the scheduler's view: the micro
/// suite on drama with `record_metrics` on and off, in alternating child
/// processes. Target: within 5 % (issue: the metrics crate).
fn recording_suite(settings: &Settings) -> Result<(), String> {
    let (rounds, samples, idle_window) = micro_plan(
        settings,
        (2, 7, Duration::from_secs(1)),
        (12, 21, Duration::from_secs(1)),
    )?;
    let names = ["drama", "drama-unrecorded"];
    let figures = run_children(&names, rounds, samples, idle_window)?;
    let mut r = String::new();
    let _ = writeln!(
        r,
        "# The cost of recording the scheduler's view
"
    );
    let _ = writeln!(
        r,
        "`cargo xtask bench recording{}`; {}; {rounds} rounds of {samples} samples per workload and side, each side in its own process, alternating. drama with the workers' recording on (the default: each poll adds to its tenant's and class's counters and histograms) and off (`Builder::record_metrics(false)`). Cells: median (p10–p90) of the time per run, as in `micro.md`. Ratio: on / off, medians; target ≤ 1.05.\n",
        if settings.quick { " --quick" } else { "" },
        machine(),
    );
    let _ = writeln!(
        r,
        "| workload | unit | recording on | recording off | on / off | ≤ 1.05 |"
    );
    let _ = writeln!(r, "|---|---|---:|---:|---:|---|");
    for workload in WORKLOADS.iter().map(|w| w.name).chain(["idle_cpu"]) {
        if let (Some(on), Some(off)) = (figures[0].summary(workload), figures[1].summary(workload))
        {
            let ratio = on.median / off.median;
            let _ = writeln!(
                r,
                "| {workload} | {} | {} | {} | {ratio:.3} | {} |",
                unit(workload),
                format_value(workload, &on),
                format_value(workload, &off),
                if ratio <= 1.05 { "yes" } else { "**no**" }
            );
        }
    }
    let _ = writeln!(
        r,
        "\nOn a shared 2-core machine a run's spread is wider than the effect; the cost of \
         one recorded poll in isolation is `cargo bench -p drama-metrics --bench record` \
         (a few ns, against polls of 100 ns and more in these workloads)."
    );
    write_report(settings, &r)
}

fn parse_child(text: &str, into: &mut ChildFigures) -> Result<(), String> {
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["sample", workload, ns] => {
                let ns: f64 = ns.parse().map_err(|_| format!("bad line `{line}`"))?;
                into.samples.push((workload.to_string(), ns));
            }
            ["idle", cpu_s, _messages] => {
                let cpu: f64 = cpu_s.parse().map_err(|_| format!("bad line `{line}`"))?;
                // One idle figure per round: keep them all as samples.
                into.samples.push(("idle_cpu".to_string(), cpu));
                into.idle_cpu_s = Some(cpu);
            }
            _ => return Err(format!("unexpected line `{line}`")),
        }
    }
    Ok(())
}

/// The target ratio (drama / best peer) of a workload.
fn target(workload: &str) -> f64 {
    match workload {
        "ping_pong" | "msg_chain" | "idle_cpu" => 1.0,
        _ => 1.2,
    }
}

fn format_value(workload: &str, s: &Summary) -> String {
    let f = |v: f64| match workload {
        "idle_cpu" => format!("{v:.3}"),
        "spawn_one" => format!("{:.2}", v / 1e3),
        _ => format!("{:.3}", v / 1e6),
    };
    format!("{} ({}–{})", f(s.median), f(s.p10), f(s.p90))
}

fn unit(workload: &str) -> &'static str {
    match workload {
        "idle_cpu" => "CPU s",
        "spawn_one" => "µs",
        _ => "ms",
    }
}

fn micro_report(
    settings: &Settings,
    rounds: usize,
    samples: usize,
    idle_window: Duration,
    figures: &[ChildFigures],
) -> String {
    let mut r = String::new();
    let _ = writeln!(r, "# Micro suite: drama beside its peers\n");
    let _ = writeln!(
        r,
        "`cargo xtask bench micro{}`; {}; {rounds} round(s) of {samples} samples per workload \
         and runtime (each runtime in its own process, rotating order), idle_cpu over {} s per round. \
         Cells: median (p10–p90) of the time per run of the workload, or CPU seconds for \
         idle_cpu; lower is better. Ratio: drama's median over the best peer's median.\n",
        if settings.quick { " --quick" } else { "" },
        machine(),
        idle_window.as_secs_f64()
    );
    let _ = write!(r, "| workload | unit |");
    for name in RUNTIMES {
        let _ = write!(r, " {name} |");
    }
    let _ = writeln!(r, " best peer | drama / best | target | met |");
    let _ = write!(r, "|---|---|");
    for _ in RUNTIMES {
        let _ = write!(r, "---:|");
    }
    let _ = writeln!(r, "---|---:|---:|---|");
    let names: Vec<&str> = WORKLOADS
        .iter()
        .map(|w| w.name)
        .chain(["idle_cpu"])
        .collect();
    for workload in names {
        let summaries: Vec<Option<Summary>> = figures.iter().map(|f| f.summary(workload)).collect();
        let _ = write!(r, "| {workload} | {} |", unit(workload));
        for s in &summaries {
            match s {
                Some(s) => {
                    let _ = write!(r, " {} |", format_value(workload, s));
                }
                None => {
                    let _ = write!(r, " – |");
                }
            }
        }
        let best = summaries
            .iter()
            .enumerate()
            .skip(1)
            .filter_map(|(i, s)| s.map(|s| (i, s.median)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match (summaries[0], best) {
            (Some(drama), Some((i, best))) => {
                let ratio = drama.median / best;
                let goal = target(workload);
                let _ = writeln!(
                    r,
                    " {} | {ratio:.2} | ≤ {goal:.1} | {} |",
                    RUNTIMES[i],
                    if ratio <= goal { "yes" } else { "**no**" }
                );
            }
            _ => {
                let _ = writeln!(r, " – | – | – | – |");
            }
        }
    }
    let _ = writeln!(
        r,
        "\nWorkload definitions: `benches/src/micro.rs` (tokio's `rt_multi_threaded` \
         and async-executor's benches; BENCHMARKS.md part A). drama runs with accounting on: \
         every task is charged to a tenant in the default class."
    );
    r
}

/// `child-micro RUNTIME SAMPLES IDLE_MS`: runs the suite on one runtime and
/// prints `sample WORKLOAD NS` and `idle CPU_S MESSAGES` lines.
fn child_micro(args: &[String]) -> Result<(), String> {
    let [name, samples, idle_ms] = args else {
        return Err("child-micro RUNTIME SAMPLES IDLE_MS".into());
    };
    let samples: usize = samples.parse().map_err(|_| "bad sample count")?;
    let idle = Duration::from_millis(idle_ms.parse().map_err(|_| "bad idle window")?);
    match name.as_str() {
        "drama" => child_run(&Drama::new(WORKERS), samples, idle),
        "drama-unrecorded" => child_run(&Drama::with_recording(WORKERS, false), samples, idle),
        "tokio" => child_run(&Tokio::new(WORKERS), samples, idle),
        "async-executor" => child_run(&AsyncExecutor::new(WORKERS), samples, idle),
        "smolscale" => child_run(&Smolscale, samples, idle),
        "async-global-executor" => child_run(&AsyncGlobalExecutor::new(WORKERS), samples, idle),
        other => return Err(format!("unknown runtime `{other}`")),
    }
    Ok(())
}

/// `loop RUNTIME WORKLOAD SECONDS`: runs one micro workload over and over
/// (to attach a profiler), then prints the mean time per run.
fn loop_workload(args: &[String]) -> Result<(), String> {
    let [name, workload, seconds] = args else {
        return Err("loop RUNTIME WORKLOAD SECONDS".into());
    };
    let workload = WORKLOADS
        .iter()
        .find(|w| w.name == workload)
        .ok_or_else(|| format!("unknown workload `{workload}`"))?;
    let seconds: f64 = seconds.parse().map_err(|_| "bad duration")?;
    let window = Duration::from_secs_f64(seconds);
    fn go<R: Rt>(rt: &R, workload: &micro::Workload, window: Duration) {
        let start = std::time::Instant::now();
        let mut samples = 0u32;
        while start.elapsed() < window {
            micro::sample(rt, workload);
            samples += 1;
        }
        let per_run = start.elapsed() / (samples * workload.runs_per_sample);
        println!("{} {}: {per_run:?} per run", rt.name(), workload.name);
    }
    match name.as_str() {
        "drama" => go(&Drama::new(WORKERS), workload, window),
        "drama-unrecorded" => go(&Drama::with_recording(WORKERS, false), workload, window),
        "tokio" => go(&Tokio::new(WORKERS), workload, window),
        "async-executor" => go(&AsyncExecutor::new(WORKERS), workload, window),
        "smolscale" => go(&Smolscale, workload, window),
        "async-global-executor" => go(&AsyncGlobalExecutor::new(WORKERS), workload, window),
        other => return Err(format!("unknown runtime `{other}`")),
    }
    Ok(())
}

fn child_run<R: Rt>(rt: &R, samples: usize, idle: Duration) {
    const WARMUP_SAMPLES: usize = 2;
    for workload in &WORKLOADS {
        for i in 0..WARMUP_SAMPLES + samples {
            let t = micro::sample(rt, workload);
            if i >= WARMUP_SAMPLES {
                println!("sample {} {}", workload.name, t.as_nanos());
            }
        }
    }
    let idle = micro::idle_cpu(rt, IDLE_PERIOD, idle);
    println!("idle {:.6} {}", idle.cpu_s, idle.messages);
}

// ------------------------------------------------------------- fairness ---

fn fairness_suite(settings: &Settings) -> Result<(), String> {
    let mut plan = fairness::report::Plan::new(settings.quick);
    if let Some(only) = &settings.only {
        plan.sections = fairness::report::Sections::parse(only)?;
    }
    let report = fairness::report::run_suite(&plan);
    write_report(settings, &report)
}

// ------------------------------------------------------------- overload ---

fn overload_suite(settings: &Settings) -> Result<(), String> {
    let mut plan = overload::report::Plan::new(settings.quick);
    if let Some(only) = &settings.only {
        plan.sections = overload::report::Sections::parse(only)?;
    }
    let report = overload::report::run_suite(&plan)?;
    write_report(settings, &report)
}
