//! Deterministic testing: the program under test runs on one thread where
//! drama makes every scheduling choice from a seed, shakes the ordering,
//! and injects faults where they matter, reproducibly.
//!
//! Needs the `testing` cargo feature (a dev-dependency's, as tokio's
//! `test-util`); without it only [`fault_point`] exists, and costs
//! nothing.
//!
//! ```
//! use drama::testing::{FaultPlan, Seeds};
//!
//! // Two tasks update a shared counter across an await point. Every seed
//! // interleaves them differently; the body must hold for all.
//! Seeds::new().count(50).plan(FaultPlan::new().extra_yields(0.2)).run(|rt| async move {
//!     let counter = std::sync::Arc::new(std::sync::Mutex::new(0));
//!     let tasks: Vec<_> = (0..2)
//!         .map(|_| {
//!             let counter = counter.clone();
//!             rt.spawn(async move {
//!                 drama::yield_now().await;
//!                 *counter.lock().unwrap() += 1;
//!             })
//!             .unwrap()
//!         })
//!         .collect();
//!     for task in tasks {
//!         task.await.unwrap();
//!     }
//!     assert_eq!(*counter.lock().unwrap(), 2);
//! });
//! ```
//!
//! # What a run controls, and what it does not
//!
//! - **Controlled**: which runnable task is polled next ([`Schedule`]:
//!   uniformly at random, drama's own fair queue with perturbed picks, or
//!   PCT priority-change points); extra yields and spurious wake-ups;
//!   delayed wakes; spawns and admissions refused; panics injected into
//!   chosen tasks; deadlines expired early; errors at [`fault_point`]s;
//!   virtual time (10 µs per poll, jumping to the next [`sleep`] when every
//!   task waits), which task deadlines follow. `drama::spawn` and
//!   `drama::spawn_with` inside a task spawn on the test runtime. The same
//!   seed and program give the same polls in the same order
//!   ([`Report::trace_hash`]).
//! - **Detected**: a deadlock (every task waits, no timer is due, the body
//!   has not finished: the report lists the waiting tasks instead of
//!   hanging), a livelock (a million polls), admission permits still held
//!   when the body ends, and any panic of the body, each with its seed.
//! - **Not controlled**: real IO and real time (a socket, `Instant::now`),
//!   threads the program starts itself (a wake from one of them comes when
//!   it comes), and memory ordering between threads (that is loom's job). A program that waits on
//!   any of those is not deterministic under this runtime. Nor are the real
//!   runtime's thread pool, balancer and admission control under test
//!   here: only the task machinery and the fair queue are the same.
//!
//! `docs/testing.md` is the guide.
//!
//! # Seeds
//!
//! A failing seed is printed with the injected events; `DRAMA_SEED=<n>`
//! replays exactly that run, and `DRAMA_SEEDS=<n>` runs more seeds than
//! the test asked for (see [`Seeds`]).

// Without the feature the guide above still names the feature's items.
#![cfg_attr(not(feature = "testing"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "testing")]
mod plan;
#[cfg(feature = "testing")]
mod runtime;

#[cfg(feature = "testing")]
pub use plan::{Event, FaultPlan, Target, TaskLabel};
#[cfg(feature = "testing")]
pub use runtime::{
    ADMIT_RETRY, InjectedFault, Permit, Report, Schedule, Sleep, TestRuntime, sleep,
};

#[cfg(feature = "testing")]
pub(crate) use runtime::current;

/// A named place in the program's own IO paths where a test's
/// `FaultPlan` may inject an error (`plan.fault("disk.write",
/// 0.1)`): `Ok(())` unless a test run on this thread says otherwise. Without
/// the `testing` feature it is always `Ok(())`, inlined to nothing.
///
/// ```
/// fn write_block(block: &[u8]) -> std::io::Result<()> {
///     drama::testing::fault_point("disk.write")?;
///     // ... the real write ...
/// #   let _ = block;
///     Ok(())
/// }
/// assert!(write_block(b"data").is_ok());
/// ```
///
/// # Errors
///
/// Under a test run whose plan names `name`, with the plan's probability:
/// an `io::Error` of kind `Other` whose inner error is an `InjectedFault`.
#[inline]
pub fn fault_point(name: &str) -> std::io::Result<()> {
    #[cfg(feature = "testing")]
    {
        runtime::fault(name)
    }
    #[cfg(not(feature = "testing"))]
    {
        let _ = name;
        Ok(())
    }
}

/// How many seeds a [`Seeds`] run uses unless told otherwise: enough to
/// shake a small program's orderings in well under a second.
#[cfg(feature = "testing")]
pub const DEFAULT_SEEDS: u64 = 64;

/// A test body run over many seeds, each a fresh deterministic run.
///
/// `DRAMA_SEED=<n>` in the environment runs only seed `n` (the replay of a
/// failure); `DRAMA_SEEDS=<n>` runs `n` seeds when that is more than the
/// test asked for (a longer search, e.g. nightly).
#[cfg(feature = "testing")]
#[derive(Clone, Debug)]
#[must_use = "Seeds does nothing until run"]
pub struct Seeds {
    first: u64,
    count: u64,
    schedule: Schedule,
    plan: FaultPlan,
}

#[cfg(feature = "testing")]
impl Default for Seeds {
    fn default() -> Seeds {
        Seeds::new()
    }
}

#[cfg(feature = "testing")]
impl Seeds {
    /// Seeds `0..DEFAULT_SEEDS`, a uniformly random schedule, no faults.
    pub fn new() -> Seeds {
        Seeds {
            first: 0,
            count: DEFAULT_SEEDS,
            schedule: Schedule::Random,
            plan: FaultPlan::new(),
        }
    }

    /// Runs `count` seeds.
    pub fn count(mut self, count: u64) -> Seeds {
        self.count = count;
        self
    }

    /// Starts at seed `first`.
    pub fn first(mut self, first: u64) -> Seeds {
        self.first = first;
        self
    }

    /// The schedule of every run.
    pub fn schedule(mut self, schedule: Schedule) -> Seeds {
        self.schedule = schedule;
        self
    }

    /// The fault plan of every run.
    pub fn plan(mut self, plan: FaultPlan) -> Seeds {
        self.plan = plan;
        self
    }

    /// The seeds to run, after the environment's say.
    fn seeds(&self) -> std::ops::Range<u64> {
        let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        if let Some(seed) = env("DRAMA_SEED") {
            return seed..seed.saturating_add(1);
        }
        let count = env("DRAMA_SEEDS").map_or(self.count, |n| n.max(self.count));
        self.first..self.first.saturating_add(count)
    }

    /// Runs `body` once per seed. A run that fails (the body panics, a
    /// deadlock, a livelock, a leaked permit) prints its seed, the replay
    /// command and the events injected, and panics.
    ///
    /// # Panics
    ///
    /// On the first failing seed, as described.
    pub fn run<B, Fut>(&self, body: B)
    where
        B: Fn(TestRuntime) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        for seed in self.seeds() {
            if let Err(message) = self.run_one(seed, &body) {
                panic!("{message}");
            }
        }
    }

    /// The first seed whose run fails, or `None` if every seed passes: for
    /// tests that expect a bug to be found.
    pub fn find_failure<B, Fut>(&self, body: B) -> Option<Failed>
    where
        B: Fn(TestRuntime) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.seeds().find_map(|seed| {
            self.run_one(seed, &body).err().map(|message| Failed {
                seed,
                message,
                report: runtime::take_last_report().expect("every run leaves its report"),
            })
        })
    }

    /// One run; `Err` with the failure in words.
    fn run_one<B, Fut>(&self, seed: u64, body: &B) -> Result<Report, String>
    where
        B: Fn(TestRuntime) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime::run(seed, self.schedule, self.plan.clone(), body)
        }));
        let replay = format!("seed {seed} (replay with DRAMA_SEED={seed})");
        match outcome {
            Ok((Ok(()), report)) => Ok(report),
            Ok((Err(failure), report)) => {
                eprintln!("drama::testing: {replay} failed: {failure}");
                runtime::print_events(&report);
                Err(format!("{replay}: {failure}"))
            }
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_string());
                eprintln!("drama::testing: {replay} failed: {what}");
                Err(format!("{replay}: {what}"))
            }
        }
    }
}

/// A failing run found by [`Seeds::find_failure`].
#[cfg(feature = "testing")]
#[derive(Clone, Debug)]
pub struct Failed {
    /// Its seed.
    pub seed: u64,
    /// What failed, in words (the body's panic message, or the deadlock
    /// with the tasks waiting, ...).
    pub message: String,
    /// Its report: the same seed replays to the same trace and events.
    pub report: Report,
}

/// Runs `body` over [`DEFAULT_SEEDS`] seeds with a random schedule and no
/// faults: `Seeds::new().run(body)`.
///
/// # Panics
///
/// On the first failing seed (see [`Seeds::run`]).
#[cfg(feature = "testing")]
pub fn run_seeds<B, Fut>(body: B)
where
    B: Fn(TestRuntime) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    Seeds::new().run(body);
}

/// Runs `body` once with `seed`, and returns its output and report:
/// for a test that compares two runs (determinism) or reads the report.
///
/// # Panics
///
/// When the run fails: the body panics (its panic propagates), a deadlock,
/// a livelock or a leaked permit.
#[cfg(feature = "testing")]
pub fn run_once<B, Fut>(
    seed: u64,
    schedule: Schedule,
    plan: FaultPlan,
    body: B,
) -> (Fut::Output, Report)
where
    B: FnOnce(TestRuntime) -> Fut,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    match runtime::run(seed, schedule, plan, body) {
        (Ok(output), report) => (output, report),
        (Err(failure), report) => {
            runtime::print_events(&report);
            panic!("drama::testing: seed {seed} failed: {failure}")
        }
    }
}
