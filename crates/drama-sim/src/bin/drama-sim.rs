//! `drama-sim`: runs the overload and fairness scenarios (T1, T2, T3a, T3b,
//! T3c, T4, T5) in virtual time: T2 to T4 against DRR and the FIFO
//! baseline, T1 and T5 with drama-admission in front of DRR (and T1 without
//! it beside). Prints one table per scenario, and exits non-zero if a
//! judged column misses a target or any run breaks an invariant. Run it
//! with `cargo xtask sim [args]`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use drama_sim::scenarios::Scenario;

const USAGE: &str = "usage: drama-sim [--seed S | --seeds N] [--scenario NAME]... [--reports]

  --seed S         run every scenario with seed S (default 1), DRR and FIFO
  --seeds N        run every scenario with seeds 1..=N: DRR for every seed,
                   FIFO beside it for seed 1; fail on any broken invariant
                   or missed target, naming the seed and scenario
  --scenario NAME  run only NAME (T1, T2, T3a, T3b, T3c, T4, T5); may be
                   repeated. T1 and T5 run admission control in front of
                   DRR (T1 also DRR and FIFO without it, for seed 1)
  --reports        also print the per-tenant report of every run
  -h, --help       this text";

/// What the command line asked for.
struct Args {
    seeds: Seeds,
    scenarios: Vec<Scenario>,
    reports: bool,
}

enum Seeds {
    One(u64),
    UpTo(u64),
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut seed = None;
    let mut seeds = None;
    let mut scenarios = Vec::new();
    let mut reports = false;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--seed" => seed = Some(parse_u64("--seed", &value("--seed")?)?),
            "--seeds" => {
                let n = parse_u64("--seeds", &value("--seeds")?)?;
                if n == 0 {
                    return Err("--seeds needs at least 1".into());
                }
                seeds = Some(n);
            }
            "--scenario" => {
                let name = value("--scenario")?;
                let scenario = Scenario::from_name(&name).ok_or_else(|| {
                    format!("unknown scenario `{name}` (T1, T2, T3a, T3b, T3c, T4, T5)")
                })?;
                if !scenarios.contains(&scenario) {
                    scenarios.push(scenario);
                }
            }
            "--reports" => reports = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let seeds = match (seed, seeds) {
        (Some(_), Some(_)) => return Err("give --seed or --seeds, not both".into()),
        (Some(s), None) => Seeds::One(s),
        (None, Some(n)) => Seeds::UpTo(n),
        (None, None) => Seeds::One(1),
    };
    if scenarios.is_empty() {
        scenarios = Scenario::ALL.to_vec();
    }
    Ok(Some(Args {
        seeds,
        scenarios,
        reports,
    }))
}

fn parse_u64(name: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{name} expects a non-negative integer, not `{value}`"))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (first, last) = match args.seeds {
        Seeds::One(s) => (s, s),
        Seeds::UpTo(n) => (1, n),
    };
    let sweep = first != last;
    let mut failures = Vec::new();
    for seed in first..=last {
        for &scenario in &args.scenarios {
            // The full table, with FIFO beside DRR, for the first seed; a
            // line per scenario for the others of a sweep.
            let full = seed == first;
            match scenario.run(seed, full) {
                Ok(outcome) => {
                    if full || !outcome.passed() {
                        println!("{outcome}");
                    } else {
                        println!("seed {seed} {scenario}: PASS");
                    }
                    if args.reports {
                        for (name, report) in &outcome.reports {
                            println!("{scenario} {name} report:\n{report}\n");
                        }
                    }
                    for miss in outcome.misses() {
                        failures.push(format!(
                            "seed {seed} {scenario}: {} misses `{}` with {}",
                            miss.column, miss.target, miss.figure
                        ));
                    }
                }
                Err(error) => {
                    let message = format!("seed {seed} {scenario}: invariant broken under {error}");
                    println!("{message}");
                    failures.push(message);
                }
            }
        }
    }
    println!();
    if failures.is_empty() {
        let seeds = if sweep {
            format!("seeds {first}..={last}")
        } else {
            format!("seed {first}")
        };
        println!("all targets met, no invariant broken ({seeds})");
        ExitCode::SUCCESS
    } else {
        println!("{} failure(s):", failures.len());
        for failure in &failures {
            println!("  {failure}");
        }
        ExitCode::FAILURE
    }
}
