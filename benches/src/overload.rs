//! The overload suite of BENCHMARKS.md part B (T1, T2, T5, T6): drama with
//! its default admission control beside tokio (unbounded spawn), tokio
//! behind tower's `load_shed` + `concurrency_limit(N)`, and the same with a
//! per-tenant in-flight cap, under open-loop Poisson load.
//!
//! - [`arrivals`]: seeded arrival lists (Poisson, by thinning for ramps),
//!   the same for every executor of a repetition;
//! - [`harness`]: the executors, the request future, the generator (wakes
//!   every 100 µs, submits what is due, never waits) and the 1 ms sampler;
//! - [`flood`]: T6, the spawn flood and the fork bomb;
//! - [`report`]: the suite as `drama-bench overload` runs it, each (test,
//!   executor) in a child process of its own, and its markdown report.
//!
//! A child runs one scenario ([`run_child`]) and prints its figures as
//! `key value` lines; the parent takes medians over repetitions.

pub mod arrivals;
pub mod flood;
pub mod harness;
pub mod report;

use std::ops::Range;
use std::time::Duration;

use arrivals::{Segment, Stream};
use harness::{Exec, RunResult, SLO, WORK_MEAN, run_open_loop};

/// Mean work of T2's light tenants (BENCHMARKS.md T2).
pub const LIGHT_WORK: Duration = Duration::from_micros(50);

/// T2: tenants, light tenants' rate (× C_ref each) and the heavy one's.
pub const T2_TENANTS: usize = 10;
/// T2: each light tenant offers 0.05 × C_ref (BENCHMARKS.md T2).
pub const T2_LIGHT_RATE: f64 = 0.05;
/// T2: the heavy tenant offers 10 × its fair share of 0.1 × C_ref.
pub const T2_HEAVY_RATE: f64 = 1.0;

/// T5: the rates of the step (× C_ref): 0.5 → 3 → 0.5.
pub const T5_STEP: [f64; 3] = [0.5, 3.0, 0.5];
/// T5: the ramp, from and to (× C_ref), over two step lengths.
pub const T5_RAMP: (f64, f64) = (0.5, 1.5);
/// T5: the steady load that must see no refusal (× C_ref).
pub const T5_STEADY: f64 = 0.7;

/// T2's leftover capacity for the heavy tenant, in C_ref units: C_ref less
/// the light tenants' CPU counted in 100 µs requests (9 × 0.05 × C_ref
/// requests of 50 µs are 0.225 × C_ref requests of 100 µs).
pub fn t2_leftover() -> f64 {
    let light_cpu = (T2_TENANTS - 1) as f64
        * T2_LIGHT_RATE
        * (LIGHT_WORK.as_secs_f64() / WORK_MEAN.as_secs_f64());
    1.0 - light_cpu
}

/// One run's load: the tenants' arrival streams, how long, and the
/// tenant groups its figures are given for.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Arrival streams, one per tenant that offers load.
    pub streams: Vec<Stream>,
    /// Tenants the executor knows (T2's unloaded run has the heavy tenant
    /// but no load from it, so the tenant cap is the same).
    pub n_tenants: usize,
    /// The length of the arrivals.
    pub span: Duration,
    /// Named groups of tenants (`all`, or T2's `light` and `heavy`).
    pub groups: Vec<(&'static str, Range<usize>)>,
    /// Whether a 1 ms sampler runs (T5).
    pub sample: bool,
}

fn stream(tenant: u8, work: Duration, segments: Vec<Segment>) -> Stream {
    Stream {
        tenant,
        work_mean_ns: work.as_nanos() as f64,
        segments,
    }
}

/// The scenario of `test` (`t1`, `t2`, `t5`) and `case` (T1: the offered
/// load in C_ref; T2: `light` or `mixed`; T5: `step`, `ramp`, `steady`);
/// `secs` is the step length.
pub fn scenario(test: &str, case: &str, secs: f64, c_ref: f64) -> Result<Scenario, String> {
    let one = |segments: Vec<Segment>, span: f64, sample: bool| Scenario {
        streams: vec![stream(0, WORK_MEAN, segments)],
        n_tenants: 1,
        span: Duration::from_secs_f64(span),
        groups: vec![("all", 0..1)],
        sample,
    };
    match (test, case) {
        ("t1", x) => {
            let x: f64 = x.parse().map_err(|_| format!("bad T1 load `{x}`"))?;
            Ok(one(vec![Segment::flat(0.0, secs, x * c_ref)], secs, false))
        }
        ("t2", "light" | "mixed") => {
            let heavy = T2_TENANTS - 1;
            let mut streams: Vec<Stream> = (0..heavy)
                .map(|t| {
                    let rate = T2_LIGHT_RATE * c_ref;
                    stream(t as u8, LIGHT_WORK, vec![Segment::flat(0.0, secs, rate)])
                })
                .collect();
            if case == "mixed" {
                let rate = T2_HEAVY_RATE * c_ref;
                let seg = vec![Segment::flat(0.0, secs, rate)];
                streams.push(stream(heavy as u8, WORK_MEAN, seg));
            }
            Ok(Scenario {
                streams,
                n_tenants: T2_TENANTS,
                span: Duration::from_secs_f64(secs),
                groups: vec![("light", 0..heavy), ("heavy", heavy..T2_TENANTS)],
                sample: false,
            })
        }
        ("t5", "step") => {
            let [a, b, c] = T5_STEP.map(|x| x * c_ref);
            let segments = vec![
                Segment::flat(0.0, secs, a),
                Segment::flat(secs, 2.0 * secs, b),
                Segment::flat(2.0 * secs, 3.0 * secs, c),
            ];
            Ok(one(segments, 3.0 * secs, true))
        }
        ("t5", "ramp") => {
            let seg = Segment {
                from_s: 0.0,
                to_s: 2.0 * secs,
                rate_from: T5_RAMP.0 * c_ref,
                rate_to: T5_RAMP.1 * c_ref,
            };
            Ok(one(vec![seg], 2.0 * secs, true))
        }
        ("t5", "steady") => {
            let seg = Segment::flat(0.0, 2.0 * secs, T5_STEADY * c_ref);
            Ok(one(vec![seg], 2.0 * secs, true))
        }
        _ => Err(format!("unknown scenario `{test} {case}`")),
    }
}

/// `f` as a figure: NaN prints as `nan` and means "not measured".
fn ms(ns: f64) -> f64 {
    ns / 1e6
}

/// The figures of one run, as `(key, value)`; NaN where a figure does not
/// apply or could not be measured.
pub fn figures(scn: &Scenario, res: &RunResult, c_ref: f64, case: &str) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    let span_s = scn.span.as_secs_f64();
    let g = &res.gen_stats;
    for (name, range) in &scn.groups {
        let offered: u64 = g.offered[range.clone()].iter().sum();
        let refused: u64 = g.refused[range.clone()].iter().sum();
        let ts = &res.tenants[range.clone()];
        let sum = |f: fn(&harness::TenantOutcome) -> u64| ts.iter().map(f).sum::<u64>();
        let mut hist = harness::histogram();
        for t in ts {
            hist.add(&t.latency).expect("same bounds");
        }
        let pct = |n: u64| {
            if offered == 0 {
                f64::NAN
            } else {
                100.0 * n as f64 / offered as f64
            }
        };
        let q = |q: f64| {
            if hist.is_empty() {
                f64::NAN
            } else {
                ms(hist.value_at_quantile(q) as f64)
            }
        };
        let within = sum(|t| t.within_slo);
        for (key, value) in [
            ("offered", offered as f64),
            ("offered_cref", offered as f64 / span_s / c_ref),
            ("admitted_pct", pct(offered - refused)),
            ("refused_pct", pct(refused)),
            ("expired_pct", pct(sum(|t| t.expired))),
            ("censored_pct", pct(sum(|t| t.censored))),
            ("goodput", within as f64 / span_s / c_ref),
            ("p50_ms", q(0.5)),
            ("p99_ms", q(0.99)),
            ("p999_ms", q(0.999)),
            ("cpu_s", sum(|t| t.cpu_ns) as f64 / 1e9),
        ] {
            out.push((format!("{name}.{key}"), value));
        }
    }
    let offered: u64 = g.offered.iter().sum();
    let refusals = g.refusal_at_ns.len() as f64;
    let lag99 = g.lag_ns.value_at_quantile(0.99) as f64;
    let lag999 = g.lag_ns.value_at_quantile(0.999) as f64;
    let run_s = span_s.max(g.last_submit_ns as f64 / 1e9);
    let ended: u64 = res
        .tenants
        .iter()
        .map(|t| t.completed + t.expired + t.censored)
        .sum();
    let expired: u64 = res.tenants.iter().map(|t| t.expired).sum();
    out.extend([
        ("refusals".to_string(), refusals),
        (
            "refusal_p99_us".to_string(),
            if refusals > 0.0 {
                g.refusal_ns.value_at_quantile(0.99) as f64 / 1e3
            } else {
                f64::NAN
            },
        ),
        ("lag_p99_us".to_string(), lag99 / 1e3),
        ("lag_p999_us".to_string(), lag999 / 1e3),
        (
            "gen_ok".to_string(),
            f64::from(u8::from(lag99 <= harness::LAG_OK.as_nanos() as f64)),
        ),
        ("achieved_cref".to_string(), offered as f64 / run_s / c_ref),
        (
            "accounting_ok".to_string(),
            f64::from(u8::from(ended == res.admitted)),
        ),
        (
            "drama_expired_ok".to_string(),
            res.drama_expired
                .map_or(f64::NAN, |n| f64::from(u8::from(n == expired))),
        ),
    ]);
    out.push(("boost".to_string(), f64::from(u8::from(res.boost))));
    for (reason, n) in &g.reasons {
        out.push((format!("reason.{reason}"), *n as f64));
    }
    out.extend(reaction(scn, res, case));
    out
}

/// T5's reaction figures, in ms (NaN where they do not apply).
fn reaction(scn: &Scenario, res: &RunResult, case: &str) -> Vec<(String, f64)> {
    if !scn.sample {
        return Vec::new();
    }
    let g = &res.gen_stats;
    let first_refusal_after = |t_ns: u64| {
        let i = g.refusal_at_ns.partition_point(|&at| at < t_ns);
        g.refusal_at_ns
            .get(i)
            .map_or(f64::NAN, |&at| ms((at - t_ns) as f64))
    };
    let first_sample = |t_ns: u64, pred: &dyn Fn(f64) -> bool| {
        res.samples
            .iter()
            .find(|s| s.at_ns >= t_ns && pred(s.score))
            .map_or(f64::NAN, |s| ms((s.at_ns - t_ns) as f64))
    };
    let span_ns = scn.span.as_nanos() as u64;
    let mut out = Vec::new();
    match case {
        "step" => {
            let up = span_ns / 3;
            let down = 2 * span_ns / 3;
            out.push(("onset_ms".into(), first_sample(up, &|s| s >= 1.0)));
            out.push(("first_refusal_ms".into(), first_refusal_after(up)));
            // Recovery: the end of the last millisecond after the step down
            // with a refusal or a late request (completed past the SLO, or
            // expired). Not recovered when that is the run's last.
            let last_refusal = g.refusal_at_ns.last().copied().filter(|&t| t >= down);
            let down_ms = (down / 1_000_000) as usize;
            let last_late = res
                .late_bins
                .iter()
                .enumerate()
                .skip(down_ms)
                .rev()
                .find(|(_, n)| **n > 0)
                .map(|(i, _)| (i as u64 + 1) * 1_000_000);
            let last = last_refusal.max(last_late);
            let end_ms = res.late_bins.len() as u64;
            let (recovery, recovered) = match last {
                None => (0.0, true),
                Some(t) if t / 1_000_000 >= end_ms => (f64::NAN, false),
                Some(t) => (ms(t.saturating_sub(down) as f64), true),
            };
            out.push(("recovery_ms".into(), recovery));
            out.push(("recovered".into(), f64::from(u8::from(recovered))));
            out.push((
                "unrecovered_after_ms".into(),
                ms((end_ms * 1_000_000).saturating_sub(down) as f64),
            ));
        }
        "ramp" => {
            out.push(("score08_ms".into(), first_sample(0, &|s| s > 0.8)));
            out.push(("ramp_refusal_ms".into(), first_refusal_after(0)));
        }
        _ => {}
    }
    let peak_score = res.samples.iter().map(|s| s.score).fold(f64::NAN, f64::max);
    out.push(("peak_score".into(), peak_score));
    out.push((
        "samples".into(),
        res.samples.len() as f64 / scn.span.as_secs_f64().max(1e-9),
    ));
    out
}

/// Parses a child's argument.
fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("bad {what} `{s}`"))
}

/// The child's entry: `cref SECS SEED`, `run EXEC TEST CASE SECS CREF
/// SEED` or `flood EXEC a|b ATTEMPTS` (the flood's spawns, the bomb's
/// budget). Prints `key value` lines.
pub fn run_child(args: &[String]) -> Result<(), String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let figures: Vec<(String, f64)> = match args.as_slice() {
        ["cref", secs, seed] => {
            let window = Duration::from_secs_f64(parse(secs, "window")?);
            vec![(
                "c_ref".into(),
                harness::measure_c_ref(window, parse(seed, "seed")?),
            )]
        }
        ["run", exec, test, case, secs, c_ref, seed] => {
            let exec = Exec::parse(exec).ok_or_else(|| format!("unknown executor `{exec}`"))?;
            let c_ref: f64 = parse(c_ref, "C_ref")?;
            let scn = scenario(test, case, parse(secs, "step length")?, c_ref)?;
            let list = arrivals::generate(&scn.streams, parse(seed, "seed")?);
            let res = run_open_loop(exec, &list, scn.n_tenants, scn.span, c_ref, scn.sample);
            figures(&scn, &res, c_ref, case)
        }
        ["flood", exec, which, spawns] => {
            let exec = Exec::parse(exec).ok_or_else(|| format!("unknown executor `{exec}`"))?;
            let attempts = parse(spawns, "spawn count")?;
            let r = flood::run_flood(exec, *which == "b", attempts, flood::SETTLE);
            flood_figures(&r)
        }
        _ => return Err("child-overload cref SECS SEED | run EXEC TEST CASE SECS CREF SEED | flood EXEC a|b SPAWNS".into()),
    };
    for (key, value) in figures {
        println!("{key} {value}");
    }
    Ok(())
}

fn flood_figures(r: &flood::FloodResult) -> Vec<(String, f64)> {
    let mib = |k: Option<u64>| k.map_or(f64::NAN, |k| k as f64 / 1024.0);
    let back_pct = match (r.rss_before_kib, r.rss_after_kib) {
        (Some(b), Some(a)) if b > 0 => 100.0 * (a as f64 - b as f64) / b as f64,
        _ => f64::NAN,
    };
    let flag = |b: bool| f64::from(u8::from(b));
    vec![
        ("attempted".into(), r.attempted as f64),
        ("accepted".into(), r.accepted as f64),
        ("refused".into(), r.refused as f64),
        ("completed".into(), r.completed as f64),
        (
            "sum_ok".into(),
            flag(r.accepted + r.refused == r.attempted && r.completed == r.accepted),
        ),
        ("drained".into(), flag(r.drained)),
        ("peak_queue".into(), r.peak_queue as f64),
        ("bound".into(), r.bound.map_or(f64::NAN, |b| b as f64)),
        (
            "within_bound".into(),
            r.bound.map_or(f64::NAN, |b| flag(r.peak_queue <= b)),
        ),
        ("rss_before_mib".into(), mib(r.rss_before_kib)),
        ("peak_rss_mib".into(), mib(r.peak_rss_kib)),
        ("rss_after_mib".into(), mib(r.rss_after_kib)),
        ("rss_change_pct".into(), back_pct),
        (
            "refusal_p99_us".into(),
            if r.refused > 0 {
                r.refusal_ns.value_at_quantile(0.99) as f64 / 1e3
            } else {
                f64::NAN
            },
        ),
        ("flood_ms".into(), r.flood_time.as_secs_f64() * 1e3),
    ]
}

/// The SLO in ms, for reports.
pub fn slo_ms() -> f64 {
    SLO.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::EXECUTORS;

    /// Each scenario runs for a few milliseconds on each executor and
    /// accounts for every request (no timed assertion: only counts).
    #[test]
    fn every_scenario_runs_on_every_executor() {
        let c_ref = 10_000.0;
        for (test, case) in [("t1", "2"), ("t2", "mixed"), ("t5", "step"), ("t5", "ramp")] {
            let scn = scenario(test, case, 0.005, c_ref).unwrap();
            let list = arrivals::generate(&scn.streams, 1);
            assert!(!list.is_empty());
            for exec in EXECUTORS {
                let res = run_open_loop(exec, &list, scn.n_tenants, scn.span, c_ref, scn.sample);
                let f: std::collections::HashMap<String, f64> =
                    figures(&scn, &res, c_ref, case).into_iter().collect();
                assert_eq!(f["accounting_ok"], 1.0, "{test} {case} {}", exec.name());
                let offered: f64 = scn
                    .groups
                    .iter()
                    .map(|(g, _)| f[&format!("{g}.offered")])
                    .sum();
                assert_eq!(offered as usize, list.len());
                if exec == Exec::Tokio {
                    assert_eq!(f["refusals"], 0.0);
                }
            }
        }
    }

    #[test]
    fn floods_count_every_attempt() {
        for exec in [Exec::Drama, Exec::Tokio] {
            for bomb in [false, true] {
                let r = flood::run_flood(exec, bomb, 2_000, Duration::ZERO);
                assert!(r.drained);
                assert_eq!(r.accepted + r.refused, r.attempted);
                assert_eq!(r.completed, r.accepted);
                if bomb && exec == Exec::Tokio {
                    assert_eq!(r.attempted, 2_000);
                }
            }
        }
    }

    #[test]
    fn t2_leftover_is_c_ref_less_the_light_cpu() {
        assert!((t2_leftover() - 0.775).abs() < 1e-9);
        assert_eq!(harness::little_n(10_000.0), 20);
    }
}
