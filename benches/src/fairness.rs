//! Fairness on the real runtime, measured the way users break it
//! (BENCHMARKS.md T3 and T4), with the programs' own counters.
//!
//! Every task's unit of work is a spin of *thread* CPU time
//! ([`spin_cpu`]): the task spins until its thread's CPU clock has advanced
//! by the work time and adds that CPU time to its tenant's (or class's)
//! counter. Figures come from those counters, never from drama's own
//! accounting, and OS preemption of a worker is not counted as anyone's
//! work. Every runtime has [`WORKERS`] workers; drama runs with its
//! accounting on, as users get it.
//!
//! This module: T3a and T3b under four spawn patterns ([`Pattern`]).
//!
//! - **T3a**: 8 tenants of equal weight; tenant `i` keeps `2^i` tasks in
//!   flight (1, 2, 4, ... 128), 50 µs or 500 µs of work per loop. Each
//!   should get 1/8 of the CPU whatever its parallelism.
//! - **T3b**: 4 tenants with weights 1:2:4:8, 8 tasks each, 100 µs of work:
//!   shares in proportion to the weights.
//!
//! For each run: every tenant's CPU share over the measuring window (after
//! a warm-up), Jain's index over CPU time / weight, the largest share error,
//! and the convergence time over the whole run (counters sampled every
//! [`SAMPLE_PERIOD`], see [`measure::convergence_ns`]). tokio runs the
//! same shapes for context: it has no tenants, so a tenant's share follows
//! its number of tasks.
//!
//! Submodules: [`classes`] (T4, weak class priorities across the pool),
//! [`many`] (T3c, 10 to 10,000 tenants), [`measure`] (the pure arithmetic)
//! and [`report`] (the suite and its markdown).

pub mod classes;
pub mod many;
pub mod measure;
pub mod report;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::cpu::{PaddedCounter, counters, spin_cpu, wait_threads_gone, worker_index};
pub use crate::runtimes::WORKERS;
use measure::{Sample, ShareError};

/// How often the counters are read for the convergence series. 5 ms is
/// twenty readings per convergence window, and the reading thread's cost
/// (a few atomic loads per reading) stays far below 1 % of a core.
pub const SAMPLE_PERIOD: Duration = Duration::from_millis(5);

/// The length of a convergence window: 100 ms, the convergence target.
/// A window must be long enough that a placement that is right shows as
/// right: DRR serves a tenant in turns of one credit (100 µs) or one poll,
/// whichever is longer, so with 500 µs polls a T3a tenant's share of a
/// 50 ms window (25 polls) moves by a poll, 4 %, from window to window
/// even when the placement is exactly right, and windows of 50 ms measured
/// that jitter rather than convergence. At 100 ms (and 2 workers: 200 ms
/// of CPU, 25 ms per T3a tenant) the steady state stays within a few
/// percent; the placements this looks for (a crowded tenant at 50 %, a
/// class at half its share) are off by 40 % or more.
pub const CONVERGENCE_WINDOW: Duration = Duration::from_millis(100);

/// How close every share must be to its target in every convergence
/// window: ±10 % of the target, above the steady state's window-to-window
/// jitter (see `CONVERGENCE_WINDOW`), far below a wrong placement's error.
/// The steady-state accuracy is judged separately, on the whole measuring
/// window (±3 %).
pub const CONVERGENCE_TOLERANCE: f64 = 0.10;

/// How long a run waits for its tasks to see the stop flag and end before
/// dropping the runtime anyway (which cancels them). A stopping task ends
/// at its next poll; even 10,000 tenants on one worker take well under a
/// second for that, so 10 s only trips on a wedged runtime.
pub const STOP_PATIENCE: Duration = Duration::from_secs(10);

/// One tenant of a fairness run.
#[derive(Clone, Debug)]
pub struct TenantSpec {
    /// Its name.
    pub name: String,
    /// Its weight (drama only; 100 is the default).
    pub weight: u32,
    /// Tasks (or, for the churn pattern, requests) it keeps in flight.
    pub tasks: usize,
}

/// The T3a tenants: equal weights, 1..128 tasks in flight.
pub fn t3a_tenants() -> Vec<TenantSpec> {
    (0..8)
        .map(|i| TenantSpec {
            name: format!("p{}", 1 << i),
            weight: 100,
            tasks: 1 << i,
        })
        .collect()
}

/// The T3b tenants: weights 1:2:4:8, 8 tasks each.
pub fn t3b_tenants() -> Vec<TenantSpec> {
    [100, 200, 400, 800]
        .into_iter()
        .map(|w| TenantSpec {
            name: format!("w{}", w / 100),
            weight: w,
            tasks: 8,
        })
        .collect()
}

/// The runtimes the fairness suite runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// drama with its default policy (DRR), accounting on.
    Drama,
    /// tokio's multi-thread runtime, for context (no tenants).
    Tokio,
}

impl Engine {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Drama => "drama",
            Engine::Tokio => "tokio",
        }
    }

    /// Whether a thread named `comm` belongs to a runtime of this engine:
    /// drama's workers (`drama-<n>`), monitor and blocking threads, or
    /// tokio's `tokio-runtime-worker` (cut to 15 bytes by the kernel).
    /// (`drama-bench`, this program's main thread, is none of them.)
    fn is_runtime_thread(self, comm: &str) -> bool {
        match self {
            Engine::Drama => {
                worker_index(comm, "drama").is_some()
                    || comm == "drama-monitor"
                    || comm.starts_with("drama-blocking")
            }
            Engine::Tokio => comm.starts_with("tokio-runtime"),
        }
    }
}

/// How a run's tasks come into being (BENCHMARKS.md T3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Every task spawned from the calling thread, outside the runtime.
    Outside,
    /// One dispatcher task (of a tenant of its own, "dispatcher", default
    /// weight) spawns every task with `drama::spawn_with(Spawn::new()
    /// .tenant(t), ..)`: what an accept loop or a dispatcher does. All are
    /// born on the dispatcher's worker.
    OneTask,
    /// Each tenant's tasks are spawned by a starter task of that tenant
    /// (spawned from outside) with `drama::spawn`, which inherits the
    /// tenant.
    PerTenant,
    /// Short tasks, one per request: one dispatcher task (tenant
    /// "dispatcher") keeps each tenant's number of requests in flight. A
    /// request spins the work time once, sends its tenant's index to the
    /// dispatcher over an unbounded channel as its last act, and ends; the
    /// dispatcher, awaiting that channel, spawns the tenant's next request.
    /// This is a server's dispatcher with a per-tenant concurrency limit:
    /// a completion frees a slot, the next queued request takes it.
    Churn,
}

impl Pattern {
    /// Every pattern, in report order.
    pub const ALL: [Pattern; 4] = [
        Pattern::Outside,
        Pattern::OneTask,
        Pattern::PerTenant,
        Pattern::Churn,
    ];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Outside => "outside",
            Pattern::OneTask => "one-task",
            Pattern::PerTenant => "per-tenant",
            Pattern::Churn => "churn",
        }
    }
}

/// How long a run warms up and then measures.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// From the start of spawning to the start of the measuring window:
    /// leaves the convergence period out of the shares.
    pub warmup: Duration,
    /// The measuring window.
    pub window: Duration,
}

/// A task as the harness hands it to either runtime.
pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The stop flag of a run and the count of its live tasks.
#[derive(Debug, Default)]
pub(crate) struct Control {
    stop: AtomicBool,
    live: AtomicUsize,
}

/// One live task of a run; dropping it (the task ended or was cancelled)
/// counts it out.
#[derive(Debug)]
pub(crate) struct Live(Arc<Control>);

impl Control {
    /// Counts a task in, before it is spawned, so that the count never
    /// reads zero while a spawn is under way.
    pub(crate) fn enlist(self: &Arc<Self>) -> Live {
        self.live.fetch_add(1, Ordering::Relaxed);
        Live(self.clone())
    }

    /// Whether the run is over.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

impl Live {
    /// The run this task belongs to.
    pub(crate) fn control(&self) -> &Control {
        &self.0
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::Release);
    }
}

/// A started runtime of either engine, shut down by [`Started::finish`].
pub(crate) enum Started {
    Drama(drama::Runtime),
    Tokio(tokio::runtime::Runtime),
}

/// How a task is spawned: drama's spec (tenant and class), or nothing for
/// tokio.
#[derive(Clone, Debug)]
pub(crate) enum Tag {
    Drama(drama::Spawn),
    Tokio,
}

impl Started {
    /// Starts `engine` with `workers` workers.
    pub(crate) fn start(engine: Engine, workers: usize) -> Started {
        match engine {
            Engine::Drama => Started::Drama(
                drama::Runtime::builder()
                    .workers(workers)
                    // The fairness suite keeps the workers saturated on
                    // purpose and measures the shares: admission must not
                    // refuse its load (the overload suite measures that).
                    .admission(drama::admission::AdmissionConfig::off())
                    .build()
                    .expect("a valid runtime configuration"),
            ),
            Engine::Tokio => Started::Tokio(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .build()
                    .expect("a valid runtime configuration"),
            ),
        }
    }

    /// drama's runtime, for what only drama has.
    pub(crate) fn drama(&self) -> &drama::Runtime {
        match self {
            Started::Drama(rt) => rt,
            Started::Tokio(_) => panic!("a drama-only workload on tokio"),
        }
    }

    fn engine(&self) -> Engine {
        match self {
            Started::Drama(_) => Engine::Drama,
            Started::Tokio(_) => Engine::Tokio,
        }
    }

    /// The spawn tag of tenant `name` with `weight`, in `class` (tokio
    /// ignores all three).
    pub(crate) fn tag(&self, name: &str, weight: u32, class: drama::Class) -> Tag {
        match self {
            Started::Drama(rt) => {
                let id = rt.tenant(name).expect("the benchmark's tenants fit");
                rt.set_weight(id, weight)
                    .expect("benchmark weights are valid");
                Tag::Drama(drama::Spawn::new().tenant(id).class(class))
            }
            Started::Tokio(_) => Tag::Tokio,
        }
    }

    /// Spawns `task` from outside the runtime, detached.
    pub(crate) fn spawn(&self, tag: &Tag, task: Task) {
        match (self, tag) {
            (Started::Drama(rt), Tag::Drama(spec)) => {
                // Dropping the handle detaches the task.
                if let Err(refused) = rt.spawn_with(spec.clone(), task) {
                    panic!("benchmark spawn refused: {:?}", refused.reason());
                }
            }
            (Started::Tokio(rt), Tag::Tokio) => drop(rt.spawn(task)),
            _ => panic!("a tag of one runtime used on another"),
        }
    }

    /// Ends the run: sets the stop flag, waits (up to [`STOP_PATIENCE`])
    /// for every task to end, drops the runtime and waits for its threads
    /// to be gone, so that the next run has the machine to itself.
    /// Returns a note when something was left behind.
    pub(crate) fn finish(self, control: &Control) -> Option<String> {
        let engine = self.engine();
        control.stop.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + STOP_PATIENCE;
        while control.live.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let live = control.live.load(Ordering::Acquire);
        drop(self);
        let left = wait_threads_gone(
            |comm| engine.is_runtime_thread(comm),
            Duration::from_secs(2),
        );
        let mut notes = Vec::new();
        if live > 0 {
            notes.push(format!(
                "{live} task(s) had not stopped after {STOP_PATIENCE:?}"
            ));
        }
        if !left.is_empty() {
            notes.push(format!("threads still alive after the drop: {left:?}"));
        }
        (!notes.is_empty()).then(|| notes.join("; "))
    }
}

/// Spawns `task` from inside a task of the runtime with `tag`:
/// `drama::spawn_with` or `tokio::spawn`.
pub(crate) fn spawn_inside(tag: &Tag, task: Task) {
    match tag {
        Tag::Drama(spec) => {
            if let Err(refused) = drama::spawn_with(spec.clone(), task) {
                refused_inside(refused.reason());
            }
        }
        Tag::Tokio => drop(tokio::spawn(task)),
    }
}

/// Spawns `task` from inside a task, inheriting its tenant and class:
/// `drama::spawn` or `tokio::spawn`.
pub(crate) fn spawn_inherit(engine: Engine, task: Task) {
    match engine {
        Engine::Drama => {
            if let Err(refused) = drama::spawn(task) {
                refused_inside(refused.reason());
            }
        }
        Engine::Tokio => drop(tokio::spawn(task)),
    }
}

/// A spawn refused inside a task is a benchmark bug; a panic there would
/// only end that task (drama catches it), and the run would report
/// figures without the task, so stop the whole program instead.
fn refused_inside(reason: drama::RejectReason) -> ! {
    eprintln!("drama-bench: a benchmark spawn inside a task was refused: {reason:?}");
    std::process::abort()
}

/// The runtime's own `yield_now`.
pub(crate) async fn yield_now(engine: Engine) {
    match engine {
        Engine::Drama => drama::yield_now().await,
        Engine::Tokio => tokio::task::yield_now().await,
    }
}

/// Reads `read()` every [`SAMPLE_PERIOD`] from `t0` until `t0 + total`,
/// calling `tick(intended_ns)` just before each reading with the reading's
/// intended time (ns since `t0`). The first reading is at `t0`.
pub(crate) fn sample_until(
    t0: Instant,
    total: Duration,
    mut tick: impl FnMut(u64),
    read: impl Fn() -> Vec<u64>,
) -> Vec<Sample> {
    let period_ns = SAMPLE_PERIOD.as_nanos() as u64;
    let total_ns = total.as_nanos() as u64;
    let mut samples = Vec::with_capacity((total_ns / period_ns + 2) as usize);
    let mut k = 0u64;
    loop {
        let intended_ns = k * period_ns;
        if intended_ns > total_ns {
            return samples;
        }
        let due = t0 + Duration::from_nanos(intended_ns);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        tick(intended_ns);
        let counters = read();
        samples.push(Sample {
            at_ns: t0.elapsed().as_nanos() as u64,
            counters,
        });
        k += 1;
    }
}

/// The counters' growth between the first sample at or after `from_ns`
/// and the last sample, and the time between those two samples.
pub(crate) fn window_delta(samples: &[Sample], from_ns: u64) -> (Vec<u64>, u64) {
    let last = samples.last().expect("a run has samples");
    let first = samples.iter().find(|s| s.at_ns >= from_ns).unwrap_or(last);
    let delta = last
        .counters
        .iter()
        .zip(&first.counters)
        .map(|(b, a)| b - a)
        .collect();
    (delta, last.at_ns - first.at_ns)
}

/// What one T3a/T3b run measured.
#[derive(Clone, Debug)]
pub struct ShareRun {
    /// The tenants' weights, as run.
    pub weights: Vec<u32>,
    /// CPU nanoseconds each tenant's tasks spent in their work during the
    /// measuring window.
    pub cpu_ns: Vec<u64>,
    /// The measuring window's length as sampled.
    pub window_ns: u64,
    /// The convergence time, from the start of spawning; `None`: not
    /// converged.
    pub convergence_ns: Option<u64>,
    /// Anything odd about the run (tasks that did not stop, threads left).
    pub note: Option<String>,
}

impl ShareRun {
    /// Each tenant's share of the measured CPU time (fractions).
    pub fn shares(&self) -> Vec<f64> {
        measure::fractions(&self.cpu_ns)
    }

    /// Each tenant's share by weight (fractions).
    pub fn targets(&self) -> Vec<f64> {
        measure::weight_fractions(&self.weights)
    }

    /// Jain's index over CPU time / weight.
    pub fn jain(&self) -> f64 {
        measure::jain_by_weight(&self.cpu_ns, &self.weights)
    }

    /// The largest share error.
    pub fn error(&self) -> ShareError {
        measure::share_error(&self.shares(), &self.targets())
    }

    /// The tenants' CPU time in percent of the workers' capacity over the
    /// window ([`WORKERS`] cores).
    pub fn work_pct(&self) -> f64 {
        let total_ns: u64 = self.cpu_ns.iter().sum();
        100.0 * total_ns as f64 / (self.window_ns.max(1) * WORKERS as u64) as f64
    }
}

/// A closed loop: spin `work_ns` of thread CPU for tenant `i`, yield,
/// until the run stops.
fn closed_loop(
    engine: Engine,
    work_ns: u64,
    cpu: Arc<Vec<PaddedCounter>>,
    i: usize,
    live: Live,
) -> Task {
    Box::pin(async move {
        while !live.control().stopping() {
            spin_cpu(work_ns, &cpu[i].0);
            yield_now(engine).await;
        }
    })
}

/// One churn request of tenant `i`: spin once, tell the dispatcher, end.
fn request(
    work_ns: u64,
    cpu: Arc<Vec<PaddedCounter>>,
    i: usize,
    done: tokio::sync::mpsc::UnboundedSender<usize>,
    live: Live,
) -> Task {
    Box::pin(async move {
        spin_cpu(work_ns, &cpu[i].0);
        // The dispatcher outlives every request it counts as in flight.
        let _ = done.send(i);
        drop(live);
    })
}

/// The churn dispatcher: keeps `in_flight[i]` requests of tenant `i` in
/// flight until the run stops, then waits for the last ones to end.
fn dispatcher(
    tags: Vec<Tag>,
    in_flight: Vec<usize>,
    work_ns: u64,
    cpu: Arc<Vec<PaddedCounter>>,
    control: Arc<Control>,
) -> Task {
    let live = control.enlist();
    Box::pin(async move {
        let (done, mut completions) = tokio::sync::mpsc::unbounded_channel::<usize>();
        let mut outstanding = 0usize;
        for (i, &n) in in_flight.iter().enumerate() {
            for _ in 0..n {
                let req = request(work_ns, cpu.clone(), i, done.clone(), control.enlist());
                spawn_inside(&tags[i], req);
                outstanding += 1;
            }
        }
        while outstanding > 0 {
            let Some(i) = completions.recv().await else {
                break;
            };
            outstanding -= 1;
            if !control.stopping() {
                let req = request(work_ns, cpu.clone(), i, done.clone(), control.enlist());
                spawn_inside(&tags[i], req);
                outstanding += 1;
            }
        }
        drop(live);
    })
}

/// Runs `tenants` with `work` per loop on `engine` under `pattern`: warms
/// up, measures, shuts the runtime down.
pub fn run_pattern(
    engine: Engine,
    tenants: &[TenantSpec],
    work: Duration,
    pattern: Pattern,
    timing: Timing,
) -> ShareRun {
    let rt = Started::start(engine, WORKERS);
    let tags: Vec<Tag> = tenants
        .iter()
        .map(|t| rt.tag(&t.name, t.weight, drama::Class::Compute))
        .collect();
    let work_ns = work.as_nanos() as u64;
    let cpu = Arc::new(counters(tenants.len()));
    let control = Arc::new(Control::default());
    let t0 = Instant::now();
    match pattern {
        Pattern::Outside => {
            for (i, t) in tenants.iter().enumerate() {
                for _ in 0..t.tasks {
                    let task = closed_loop(engine, work_ns, cpu.clone(), i, control.enlist());
                    rt.spawn(&tags[i], task);
                }
            }
        }
        Pattern::OneTask => {
            let dispatcher_tag = rt.tag("dispatcher", 100, drama::Class::Compute);
            let (tags, cpu, control2) = (tags.clone(), cpu.clone(), control.clone());
            let counts: Vec<usize> = tenants.iter().map(|t| t.tasks).collect();
            let live = control.enlist();
            rt.spawn(
                &dispatcher_tag,
                Box::pin(async move {
                    for (i, &n) in counts.iter().enumerate() {
                        for _ in 0..n {
                            let task =
                                closed_loop(engine, work_ns, cpu.clone(), i, control2.enlist());
                            spawn_inside(&tags[i], task);
                        }
                    }
                    drop(live);
                }),
            );
        }
        Pattern::PerTenant => {
            for (i, t) in tenants.iter().enumerate() {
                let (n, cpu, control2) = (t.tasks, cpu.clone(), control.clone());
                let live = control.enlist();
                rt.spawn(
                    &tags[i],
                    Box::pin(async move {
                        for _ in 0..n {
                            let task =
                                closed_loop(engine, work_ns, cpu.clone(), i, control2.enlist());
                            spawn_inherit(engine, task);
                        }
                        drop(live);
                    }),
                );
            }
        }
        Pattern::Churn => {
            let dispatcher_tag = rt.tag("dispatcher", 100, drama::Class::Compute);
            let counts: Vec<usize> = tenants.iter().map(|t| t.tasks).collect();
            let task = dispatcher(tags.clone(), counts, work_ns, cpu.clone(), control.clone());
            rt.spawn(&dispatcher_tag, task);
        }
    }
    let samples = sample_until(
        t0,
        timing.warmup + timing.window,
        |_| {},
        || cpu.iter().map(PaddedCounter::get).collect(),
    );
    let note = rt.finish(&control);
    let (cpu_ns, window_ns) = window_delta(&samples, timing.warmup.as_nanos() as u64);
    let weights: Vec<u32> = tenants.iter().map(|t| t.weight).collect();
    let targets = measure::weight_fractions(&weights);
    ShareRun {
        convergence_ns: measure::convergence_ns(
            &samples,
            &targets,
            CONVERGENCE_WINDOW.as_nanos() as u64,
            CONVERGENCE_TOLERANCE,
        ),
        weights,
        cpu_ns,
        window_ns,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_measures_every_tenant_on_both_runtimes() {
        // Long enough for every tenant to run on a busy machine; how fair
        // the run was is the benchmark's business, not a test's.
        let timing = Timing {
            warmup: Duration::from_millis(50),
            window: Duration::from_millis(150),
        };
        for engine in [Engine::Drama, Engine::Tokio] {
            for pattern in Pattern::ALL {
                let r = run_pattern(
                    engine,
                    &t3b_tenants(),
                    Duration::from_micros(50),
                    pattern,
                    timing,
                );
                assert_eq!(r.cpu_ns.len(), 4);
                assert!(
                    r.cpu_ns.iter().all(|&c| c > 0),
                    "{engine:?} {pattern:?}: {r:?}"
                );
                let total: f64 = r.shares().iter().sum();
                assert!((total - 1.0).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn a_window_delta_spans_warmup_to_end() {
        let s = |at_ns, a| Sample {
            at_ns,
            counters: vec![a],
        };
        let samples = [s(0, 0), s(5, 10), s(10, 30), s(15, 70)];
        assert_eq!(window_delta(&samples, 7), (vec![40], 5));
        assert_eq!(window_delta(&samples, 0), (vec![70], 15));
    }
}
