//! drama's developer commands, run as `cargo xtask <command>`.
//!
//! - `ci`: what CI runs (`.ci/run`): format check, clippy, the test suite.
//! - `miri`: drama-core's tests and drama-pool's unit tests under Miri
//!   (needs a nightly toolchain with the miri component; CI does not
//!   depend on it).
//! - `demo`: the quick-start example.
//! - `sim`: the overload and fairness scenarios in the deterministic
//!   simulator (`drama-sim`, release build), DRR beside the FIFO baseline;
//!   fails if DRR misses a target or a run breaks an invariant. Arguments
//!   after `sim` go to the simulator (`--seed S`, `--seeds N`,
//!   `--scenario NAME`, `--reports`, `--help`).
//! - `loom`: the pool's loom models (idle/wake, shutdown, registry, inbox,
//!   outbox, hand-over), built with `--cfg loom` in a target directory of
//!   their own, `LOOM_MAX_PREEMPTIONS` 3 unless set. `.ci/run` runs it.
//! - `bench [micro|recording|fairness|overload|all] [--quick]`: the runtime
//!   benchmarks of `benches/` (release build), drama beside its peers
//!   (`recording`: drama with the scheduler's view recorded and not);
//!   writes `docs/bench/<suite>.md`.
#![forbid(unsafe_code)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci      run what CI runs (.ci/run): fmt --check, clippy -D warnings, cargo test --workspace
  miri    run drama-core's and drama-pool's unit tests under Miri (needs nightly with miri)
  demo    run the quick-start example
  sim     run the simulated overload scenarios (T1-T5: DRR vs FIFO, admission for T1, T5);
          `cargo xtask sim --help` for its options (--seed S, --seeds N, ...)
  loom    run the pool's loom models (idle/wake, shutdown, registry, inbox, outbox, hand-over)
  bench   [micro|recording|fairness|overload|all] [--quick]: drama beside tokio, async-executor,
          smolscale and async-global-executor (overload: beside tokio and tokio+tower);
          reports in docs/bench/";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let root = workspace_root();
    let result = match args.first().map(String::as_str) {
        Some("ci") => run(Command::new("bash")
            .arg(root.join(".ci/run"))
            .current_dir(&root)),
        Some("miri") => miri(&root, &args[1..]),
        Some("demo") => {
            run(cargo(&root).args(["run", "--release", "-p", "drama", "--example", "quickstart"]))
        }
        Some("sim") => run(cargo(&root)
            .args([
                "run",
                "--release",
                "-p",
                "drama-sim",
                "--bin",
                "drama-sim",
                "--",
            ])
            .args(&args[1..])),
        Some("loom") => run(cargo(&root)
            .args(["test", "-p", "drama-pool", "--lib", "--release", "loom"])
            .args(&args[1..])
            .env("RUSTFLAGS", "--cfg loom")
            // Three preemptions find the protocols' races (each model fails
            // with one step of its protocol reordered) and keep the whole
            // run within seconds; unbounded, the three-thread models run
            // for hours.
            .env(
                "LOOM_MAX_PREEMPTIONS",
                env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "3".into()),
            )
            .env("CARGO_TARGET_DIR", root.join("target/loom"))),
        Some("bench") => bench(&root, &args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
        None => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask's manifest sits one level below it.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

fn miri(root: &Path, extra: &[String]) -> Result<(), String> {
    // `cargo +nightly` must go through rustup's proxy, not the pinned cargo
    // that runs xtask, so call plain `cargo` here.
    let available = Command::new("cargo")
        .args(["+nightly", "miri", "--version"])
        .current_dir(root)
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false);
    if !available {
        return Err("Miri is not available: install it with \
             `rustup toolchain install nightly --component miri`"
            .into());
    }
    // drama-core whole; drama-pool's unit tests, which drive its unsafe
    // code (inbox, outbox, slot hand-over, the worker loop) on real threads
    // (its integration tests are the `drama` crate's, too slow for Miri).
    for package in [&["-p", "drama-core"][..], &["-p", "drama-pool", "--lib"]] {
        let mut cmd = Command::new("cargo");
        cmd.current_dir(root)
            .args(["+nightly", "miri", "test"])
            .args(package)
            .args(extra)
            // Stacked Borrows is Miri's default; many seeds shake out
            // interleavings of the cross-thread tests.
            .env(
                "MIRIFLAGS",
                env::var("MIRIFLAGS").unwrap_or_else(|_| "-Zmiri-many-seeds=0..4".into()),
            );
        run(&mut cmd)?;
    }
    Ok(())
}

fn bench(root: &Path, args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let suites: &[&str] = match args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str)
    {
        None | Some("all") => &["micro", "recording", "fairness", "overload"],
        Some("micro") => &["micro"],
        Some("recording") => &["recording"],
        Some("fairness") => &["fairness"],
        Some("overload") => &["overload"],
        Some(other) => {
            return Err(format!(
                "unknown bench suite `{other}` (micro, recording, fairness, overload, all)"
            ));
        }
    };
    std::fs::create_dir_all(root.join("docs/bench"))
        .map_err(|e| format!("cannot create docs/bench: {e}"))?;
    for suite in suites {
        let out = format!("docs/bench/{suite}.md");
        let mut cmd = cargo(root);
        cmd.args([
            "run",
            "--release",
            "-p",
            "drama-benches",
            "--bin",
            "drama-bench",
            "--",
        ])
        .args([suite, "--out", &out]);
        if quick {
            cmd.arg("--quick");
        }
        run(&mut cmd)?;
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}
