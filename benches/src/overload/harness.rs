//! The open-loop harness: the executors under test, the request future,
//! the recorder of outcomes, the load generator and the 1 ms sampler.
//!
//! A request is a [`Request`] future: one poll that spins its CPU work
//! ([`spin_cpu`]) and records its latency from its *intended* arrival, so
//! a generator that falls behind or a queue that grows shows in the
//! latency instead of hiding it (no coordinated omission). A request whose
//! future is dropped unrun records too, when it is dropped: that is when
//! drama resolves the handle of an expired task, and the caller waited
//! that long. At the cut-off the runtime is shut down and what is still
//! queued is dropped: those requests count as *censored*, with the time
//! they had waited so far (a lower bound of their latency) in the
//! histogram, so a backlog cannot make the percentiles look better.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use drama::{Class, Spawn, TenantId};
use hdrhistogram::Histogram;
use tower::{Service, ServiceBuilder, service_fn};

use super::arrivals::{Arrival, Rng};
use crate::cpu::{PaddedCounter, spin_cpu};
use crate::runtimes::WORKERS;

/// The latency objective (BENCHMARKS.md B): 2 ms from intended arrival.
pub const SLO: Duration = Duration::from_millis(2);

/// The generator's period (BENCHMARKS.md B): it wakes every 100 µs and
/// submits every arrival whose time has come. Sleeping between batches
/// leaves the CPU to the workers on a 2-core machine; spinning would take
/// a core from them.
pub const BATCH: Duration = Duration::from_micros(100);

/// The class of every request: a request handler reads (serves a request).
/// drama refuses `Read` from load score 1.5 by default.
pub const REQUEST_CLASS: Class = Class::Read;

/// How long after the last arrival the run goes on before the cut-off: a
/// request that arrived last and completes within the SLO is still
/// counted, and a few milliseconds more let the last polls end.
pub const GRACE: Duration = Duration::from_millis(5);

/// The generator keeps up when its p99 lag (submission time less intended
/// time) is within 10 batch periods; beyond, the offered load is not what
/// the test names, and the report says so.
pub const LAG_OK: Duration = Duration::from_millis(1);

/// Mean work of a request (BENCHMARKS.md B).
pub const WORK_MEAN: Duration = Duration::from_micros(100);

/// The sampler's period (the brief: `rt.load()` every 1 ms).
pub const SAMPLE_PERIOD: Duration = Duration::from_millis(1);

/// drama's runtime as the suite runs it: 2 workers and drama's default
/// admission control, untouched. This is the one place to configure drama
/// for the overload suite (admission is being tuned elsewhere).
pub fn drama_runtime() -> drama::Runtime {
    drama::Runtime::builder()
        .workers(WORKERS)
        .build()
        .expect("a valid runtime configuration")
}

/// A tokio multi-threaded runtime with the suite's 2 workers.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .expect("a valid runtime configuration")
}

/// A histogram of nanoseconds from 1 ns to an hour at 3 significant
/// digits (0.1 % resolution, far finer than any target).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// The executors under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exec {
    /// drama with its default admission.
    Drama,
    /// tokio, unbounded spawn.
    Tokio,
    /// tokio behind tower's `load_shed` + `concurrency_limit(N)`.
    Tower,
    /// As `Tower`, plus a per-tenant in-flight cap.
    TowerCap,
}

/// Every executor, drama first (the order of the report's columns).
pub const EXECUTORS: [Exec; 4] = [Exec::Drama, Exec::Tokio, Exec::Tower, Exec::TowerCap];

impl Exec {
    /// The name in reports and on the child's command line.
    pub fn name(self) -> &'static str {
        match self {
            Exec::Drama => "drama",
            Exec::Tokio => "tokio",
            Exec::Tower => "tokio+tower",
            Exec::TowerCap => "tokio+tower+cap",
        }
    }

    /// The executor named `name`.
    pub fn parse(name: &str) -> Option<Exec> {
        EXECUTORS.into_iter().find(|e| e.name() == name)
    }
}

/// tower's concurrency limit by Little's law: the requests in flight when
/// the executor serves C_ref per second and each takes at most the SLO,
/// N = ceil(C_ref × SLO). More in flight could only wait past the SLO.
pub fn little_n(c_ref: f64) -> usize {
    ((c_ref * SLO.as_secs_f64()).ceil() as usize).max(1)
}

/// One tenant's outcomes.
struct TenantRec {
    /// Completed, expired and censored requests, ns from intended arrival.
    latency: Mutex<Histogram<u64>>,
    completed: AtomicU64,
    within_slo: AtomicU64,
    expired: AtomicU64,
    censored: AtomicU64,
    /// CPU the tenant's work used (ns), from the spin's thread clock.
    cpu: PaddedCounter,
}

/// Where requests record how they ended.
pub struct Recorder {
    start: Instant,
    tenants: Vec<TenantRec>,
    /// Requests handed to the executor (not refused).
    admitted: AtomicU64,
    /// Per millisecond from the start: completions past the SLO and
    /// expiries (by the time they ended), for T5's recovery.
    late_bins: Vec<AtomicU32>,
    /// Set at the cut-off: a request dropped unrun after it is censored,
    /// not expired.
    cutoff: AtomicBool,
}

impl Recorder {
    /// A recorder for `n_tenants` and a run of about `span` (late events
    /// after the span go in its last bin).
    pub fn new(start: Instant, n_tenants: usize, span: Duration) -> Arc<Recorder> {
        let bins = span.as_millis() as usize + 1;
        Arc::new(Recorder {
            start,
            tenants: (0..n_tenants)
                .map(|_| TenantRec {
                    latency: Mutex::new(histogram()),
                    completed: AtomicU64::new(0),
                    within_slo: AtomicU64::new(0),
                    expired: AtomicU64::new(0),
                    censored: AtomicU64::new(0),
                    cpu: PaddedCounter::default(),
                })
                .collect(),
            admitted: AtomicU64::new(0),
            late_bins: (0..bins).map(|_| AtomicU32::new(0)).collect(),
            cutoff: AtomicBool::new(false),
        })
    }

    fn record(&self, tenant: usize, intended: Instant, now: Instant) -> u64 {
        let ns = now.saturating_duration_since(intended).as_nanos() as u64;
        self.tenants[tenant]
            .latency
            .lock()
            .expect("no panic while recording")
            .saturating_record(ns.max(1));
        ns
    }

    fn late(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.start).as_millis() as usize;
        self.late_bins[ms.min(self.late_bins.len() - 1)].fetch_add(1, Ordering::Relaxed);
    }

    fn completed(&self, tenant: usize, intended: Instant) {
        let now = Instant::now();
        let ns = self.record(tenant, intended, now);
        let t = &self.tenants[tenant];
        t.completed.fetch_add(1, Ordering::Relaxed);
        if ns <= SLO.as_nanos() as u64 {
            t.within_slo.fetch_add(1, Ordering::Relaxed);
        } else {
            self.late(now);
        }
    }

    fn unrun(&self, tenant: usize, intended: Instant) {
        let now = Instant::now();
        self.record(tenant, intended, now);
        let t = &self.tenants[tenant];
        if self.cutoff.load(Ordering::Relaxed) {
            t.censored.fetch_add(1, Ordering::Relaxed);
        } else {
            t.expired.fetch_add(1, Ordering::Relaxed);
            self.late(now);
        }
    }

    /// Requests admitted and not yet ended: the in-flight count the
    /// sampler reports for every executor.
    pub fn in_flight(&self) -> u64 {
        let ended: u64 = self
            .tenants
            .iter()
            .map(|t| {
                t.completed.load(Ordering::Relaxed)
                    + t.expired.load(Ordering::Relaxed)
                    + t.censored.load(Ordering::Relaxed)
            })
            .sum();
        self.admitted.load(Ordering::Relaxed).saturating_sub(ended)
    }
}

/// What one tenant's requests came to, read after the run.
#[derive(Clone, Debug)]
pub struct TenantOutcome {
    /// Completed, expired and censored latencies, ns.
    pub latency: Histogram<u64>,
    /// Completed requests.
    pub completed: u64,
    /// Completed within the SLO.
    pub within_slo: u64,
    /// Dropped unrun before the cut-off (expired).
    pub expired: u64,
    /// Still queued at the cut-off.
    pub censored: u64,
    /// CPU ns of the tenant's work.
    pub cpu_ns: u64,
}

/// A request: one poll that does its work and records its latency.
pub struct Request {
    rec: Arc<Recorder>,
    intended: Instant,
    work_ns: u64,
    tenant: usize,
    /// Whether dropping it unrun is an outcome (expired or censored). A
    /// refused request is disarmed: it was never admitted.
    armed: bool,
    done: bool,
}

impl Request {
    /// The request for `arrival` of a run that started at `rec.start`.
    pub fn new(rec: &Arc<Recorder>, arrival: &Arrival) -> Request {
        Request {
            rec: rec.clone(),
            intended: rec.start + Duration::from_nanos(arrival.at_ns),
            work_ns: u64::from(arrival.work_ns),
            tenant: usize::from(arrival.tenant),
            armed: true,
            done: false,
        }
    }

    /// The request's tenant.
    pub fn tenant(&self) -> usize {
        self.tenant
    }

    fn set_armed(&mut self, armed: bool) {
        self.armed = armed;
    }
}

impl Future for Request {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        spin_cpu(this.work_ns, &this.rec.tenants[this.tenant].cpu.0);
        this.done = true;
        this.rec.completed(this.tenant, this.intended);
        Poll::Ready(())
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if self.armed && !self.done {
            self.rec.unrun(self.tenant, self.intended);
        }
    }
}

/// A refused submission: how long the refusing call took, and why.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// The refusing call's duration, ns.
    pub ns: u64,
    /// The reason, as the executor names it.
    pub reason: String,
}

/// One executor, started: how the generator submits to it, what the
/// sampler reads, how it is shut down at the cut-off.
pub struct Running {
    /// Submits one request; never waits.
    pub submit: Box<dyn FnMut(Request) -> Result<(), Refusal>>,
    /// drama's runtime, for the sampler's `load()` and `n_tasks()`.
    pub drama: Option<Arc<drama::Runtime>>,
    tokio: Option<tokio::runtime::Runtime>,
}

impl Running {
    /// Shuts the executor down now: queued requests are dropped (censored)
    /// and running polls end. Call after the sampler has stopped.
    pub fn shutdown(self) {
        drop(self.submit); // the tower stack and the runtime handles
        if let Some(rt) = self.drama {
            match Arc::try_unwrap(rt) {
                Ok(rt) => {
                    rt.shutdown_timeout(Duration::ZERO);
                }
                Err(_) => panic!("the sampler still holds drama's runtime"),
            }
        }
        if let Some(rt) = self.tokio {
            // tokio cancels every task at shutdown; the timeout is only for
            // blocking threads, of which there are none.
            rt.shutdown_timeout(Duration::from_secs(10));
        }
    }
}

/// Starts `exec` for `n_tenants` tenants; `c_ref` sizes tower's limit.
pub fn start(exec: Exec, n_tenants: usize, c_ref: f64) -> Running {
    match exec {
        Exec::Drama => {
            let rt = Arc::new(drama_runtime());
            let tenants: Vec<TenantId> = (0..n_tenants)
                .map(|i| rt.tenant(&format!("t{i}")).expect("tenants fit"))
                .collect();
            let spawner = rt.clone();
            let submit = move |req: Request| {
                let spec = Spawn::new()
                    .tenant(tenants[req.tenant()])
                    .class(REQUEST_CLASS)
                    .timeout(SLO);
                let t0 = Instant::now();
                match spawner.spawn_with(spec, req) {
                    // Dropping a drama handle detaches the task.
                    Ok(handle) => {
                        drop(handle);
                        Ok(())
                    }
                    Err(rejected) => {
                        let ns = t0.elapsed().as_nanos() as u64;
                        let reason = format!("{:?}", rejected.reason());
                        let mut req = rejected.into_inner();
                        req.set_armed(false);
                        drop(req);
                        Err(Refusal { ns, reason })
                    }
                }
            };
            Running {
                submit: Box::new(submit),
                drama: Some(rt),
                tokio: None,
            }
        }
        Exec::Tokio => {
            let rt = tokio_runtime();
            let handle = rt.handle().clone();
            let submit = move |req: Request| {
                drop(handle.spawn(req));
                Ok(())
            };
            Running {
                submit: Box::new(submit),
                drama: None,
                tokio: Some(rt),
            }
        }
        Exec::Tower | Exec::TowerCap => {
            let rt = tokio_runtime();
            let n = little_n(c_ref);
            let caps = (exec == Exec::TowerCap).then(|| tenant_caps(n, n_tenants));
            let submit = tower_submit(rt.handle().clone(), n, caps);
            Running {
                submit: Box::new(submit),
                drama: None,
                tokio: Some(rt),
            }
        }
    }
}

/// One semaphore per tenant with N × the tenant's weight share permits
/// (equal weights: N / n_tenants, at least 1).
pub fn tenant_caps(n: usize, n_tenants: usize) -> Vec<Arc<tokio::sync::Semaphore>> {
    let per = (n / n_tenants).max(1);
    (0..n_tenants)
        .map(|_| Arc::new(tokio::sync::Semaphore::new(per)))
        .collect()
}

/// The tokio user's admission control, decided on the generator's thread:
/// the optional tenant cap first, then tower's readiness, polled with a
/// no-op waker. `load_shed` is always ready; when the concurrency limit is
/// reached its `call` fails fast without calling the inner service, which
/// is how the generator tells a shed request from an admitted one (the
/// inner service sets `called`). An admitted response future holds its
/// concurrency permit (and tenant permit) until the request is done.
fn tower_submit(
    handle: tokio::runtime::Handle,
    n: usize,
    caps: Option<Vec<Arc<tokio::sync::Semaphore>>>,
) -> impl FnMut(Request) -> Result<(), Refusal> {
    let called = Rc::new(Cell::new(false));
    let flag = called.clone();
    let mut svc = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(n)
        .service(service_fn(move |mut req: Request| {
            flag.set(true);
            req.set_armed(true);
            async move {
                req.await;
                Ok::<(), Infallible>(())
            }
        }));
    move |mut req: Request| {
        let t0 = Instant::now();
        let permit = match &caps {
            Some(caps) => match caps[req.tenant()].clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    let ns = t0.elapsed().as_nanos() as u64;
                    req.set_armed(false);
                    drop(req);
                    return Err(Refusal {
                        ns,
                        reason: "TenantCap".into(),
                    });
                }
            },
            None => None,
        };
        // Disarmed until the inner service takes it: shed inside `call`,
        // it is dropped there, refused.
        req.set_armed(false);
        called.set(false);
        let mut cx = Context::from_waker(Waker::noop());
        match svc.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => {}
            _ => unreachable!("load_shed is always ready and its inner limit never fails"),
        }
        let response = svc.call(req);
        if !called.get() {
            let ns = t0.elapsed().as_nanos() as u64;
            drop(response);
            drop(permit);
            return Err(Refusal {
                ns,
                reason: "Overloaded".into(),
            });
        }
        drop(handle.spawn(async move {
            let _permit = permit;
            let _ = response.await;
        }));
        Ok(())
    }
}

/// The generator's own figures.
#[derive(Clone, Debug)]
pub struct GenStats {
    /// Arrivals per tenant.
    pub offered: Vec<u64>,
    /// Refusals per tenant.
    pub refused: Vec<u64>,
    /// Refusing calls' durations, ns.
    pub refusal_ns: Histogram<u64>,
    /// Submission time less intended time, ns, per arrival.
    pub lag_ns: Histogram<u64>,
    /// When each refusal happened, ns from the start.
    pub refusal_at_ns: Vec<u64>,
    /// Refusals by reason.
    pub reasons: std::collections::BTreeMap<String, u64>,
    /// When the last arrival was submitted, ns from the start.
    pub last_submit_ns: u64,
}

/// Submits `arrivals` open loop: every batch period it submits each
/// arrival whose intended time has come, in one go, and never waits for a
/// completion. Returns once the last is submitted.
pub fn drive(
    arrivals: &[Arrival],
    rec: &Arc<Recorder>,
    n_tenants: usize,
    submit: &mut dyn FnMut(Request) -> Result<(), Refusal>,
) -> GenStats {
    let mut g = GenStats {
        offered: vec![0; n_tenants],
        refused: vec![0; n_tenants],
        refusal_ns: histogram(),
        lag_ns: histogram(),
        refusal_at_ns: Vec::new(),
        reasons: Default::default(),
        last_submit_ns: 0,
    };
    let start = rec.start;
    let batch_ns = BATCH.as_nanos() as u64;
    let mut i = 0;
    while i < arrivals.len() {
        let now_ns = Instant::now().saturating_duration_since(start).as_nanos() as u64;
        while i < arrivals.len() && arrivals[i].at_ns <= now_ns {
            let a = &arrivals[i];
            let t = usize::from(a.tenant);
            g.lag_ns.saturating_record((now_ns - a.at_ns).max(1));
            g.offered[t] += 1;
            match submit(Request::new(rec, a)) {
                Ok(()) => {
                    rec.admitted.fetch_add(1, Ordering::Relaxed);
                }
                Err(r) => {
                    g.refused[t] += 1;
                    g.refusal_ns.saturating_record(r.ns.max(1));
                    g.refusal_at_ns.push(now_ns);
                    *g.reasons.entry(r.reason).or_default() += 1;
                }
            }
            i += 1;
        }
        g.last_submit_ns = now_ns;
        if i < arrivals.len() {
            let next = ((now_ns / batch_ns + 1) * batch_ns).max(arrivals[i].at_ns);
            let elapsed = Instant::now().saturating_duration_since(start).as_nanos() as u64;
            if next > elapsed {
                std::thread::sleep(Duration::from_nanos(next - elapsed));
            }
        }
    }
    g
}

/// One sample of the 1 ms sampler.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// ns from the start.
    pub at_ns: u64,
    /// drama's load score (NaN for the peers).
    pub score: f64,
    /// drama's utilization (NaN for the peers).
    pub utilization: f64,
    /// drama's standing queueing delay, ns (NaN for the peers).
    pub queue_delay_ns: f64,
    /// Requests admitted and not ended (every executor).
    pub in_flight: u64,
}

/// Samples every [`SAMPLE_PERIOD`] until `stop`.
pub fn sampler(
    rec: Arc<Recorder>,
    drama: Option<Arc<drama::Runtime>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Sample>> {
    std::thread::Builder::new()
        .name("overload-sampler".into())
        .spawn(move || {
            // As the generator: the sampler must sample every 1 ms
            // whatever the workers do.
            boost_this_thread();
            let mut out = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let at_ns = Instant::now()
                    .saturating_duration_since(rec.start)
                    .as_nanos() as u64;
                let (score, utilization, queue_delay_ns) = match &drama {
                    Some(rt) => {
                        let l = rt.load();
                        (
                            l.score(),
                            l.utilization(),
                            l.queue_delay().as_nanos() as f64,
                        )
                    }
                    None => (f64::NAN, f64::NAN, f64::NAN),
                };
                out.push(Sample {
                    at_ns,
                    score,
                    utilization,
                    queue_delay_ns,
                    in_flight: rec.in_flight(),
                });
                std::thread::sleep(SAMPLE_PERIOD);
            }
            out
        })
        .expect("start the sampler")
}

/// How the load generator (and the sampler) are kept from being starved
/// by the workers they measure: on a 2-core machine two busy workers and
/// the generator compete for the CPU, and a generator that waits for a
/// core delays every arrival of its batch, which then counts against the
/// executor under test. The generator stands for the clients outside the
/// service, so it runs at a higher priority: `renice -n -10` on its own
/// thread (a CFS weight about 9 times a worker's). Not real-time
/// (`chrt -f`): tried, it made tokio's outside spawns stall for tens of
/// milliseconds (the generator preempting the worker it then waits on).
/// Returns whether the calling thread was boosted (`false`: it runs at the
/// workers' priority, and the report shows that through the lag).
pub fn boost_this_thread() -> bool {
    // `/proc/thread-self` links to `/proc/<pid>/task/<tid>`.
    let Some(tid) = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|link| Some(link.file_name()?.to_str()?.to_string()))
    else {
        return false;
    };
    std::process::Command::new("renice")
        .args(["-n", "-10", "-p", &tid])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Everything one open-loop run measured.
pub struct RunResult {
    /// The generator's figures.
    pub gen_stats: GenStats,
    /// Per tenant.
    pub tenants: Vec<TenantOutcome>,
    /// Per millisecond: late completions and expiries.
    pub late_bins: Vec<u32>,
    /// The 1 ms samples (empty without a sampler).
    pub samples: Vec<Sample>,
    /// Requests admitted.
    pub admitted: u64,
    /// drama's own expired count over the run (`LoadReport::n_expired`),
    /// to check the harness's count against.
    pub drama_expired: Option<u64>,
    /// How the generator thread was boosted ([`boost_this_thread`]).
    pub boost: bool,
}

/// Runs `arrivals` on `exec` open loop, then cuts off [`GRACE`] after the
/// last arrival. With `sample`, a sampler thread records every 1 ms.
pub fn run_open_loop(
    exec: Exec,
    arrivals: &[Arrival],
    n_tenants: usize,
    span: Duration,
    c_ref: f64,
    sample: bool,
) -> RunResult {
    let boost = if std::env::var_os("OVERLOAD_NO_BOOST").is_some() {
        false
    } else {
        boost_this_thread()
    };
    let mut running = start(exec, n_tenants, c_ref);
    // Tasks of the runtime's start-up are done before the clock starts;
    // 20 ms lets every worker reach its idle loop.
    std::thread::sleep(Duration::from_millis(20));
    let expired_before = running.drama.as_ref().map(|rt| rt.load().n_expired());
    let rec = Recorder::new(Instant::now(), n_tenants, span + GRACE);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample.then(|| sampler(rec.clone(), running.drama.clone(), stop.clone()));
    let gen_stats = drive(arrivals, &rec, n_tenants, &mut running.submit);
    let end = rec.start + span.max(Duration::from_nanos(gen_stats.last_submit_ns)) + GRACE;
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.map_or_else(Vec::new, |s| s.join().expect("the sampler ends"));
    let drama_expired = running
        .drama
        .as_ref()
        .zip(expired_before)
        .map(|(rt, before)| rt.load().n_expired() - before);
    rec.cutoff.store(true, Ordering::Relaxed);
    running.shutdown();
    let tenants = rec
        .tenants
        .iter()
        .map(|t| TenantOutcome {
            latency: t.latency.lock().expect("no panic while recording").clone(),
            completed: t.completed.load(Ordering::Relaxed),
            within_slo: t.within_slo.load(Ordering::Relaxed),
            expired: t.expired.load(Ordering::Relaxed),
            censored: t.censored.load(Ordering::Relaxed),
            cpu_ns: t.cpu.get(),
        })
        .collect();
    RunResult {
        gen_stats,
        tenants,
        late_bins: rec
            .late_bins
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect(),
        samples,
        admitted: rec.admitted.load(Ordering::Relaxed),
        drama_expired,
        boost,
    }
}

/// In flight per worker in the closed-loop C_ref measurement: 8 keeps
/// both workers' queues from ever running dry (a request ends, its
/// successor is spawned, 7 others wait) while each request is still a
/// task spawned the ordinary way.
const CREF_IN_FLIGHT_PER_WORKER: usize = 8;

/// C_ref: tokio's throughput on this workload, closed loop (each completed
/// request spawns its successor), in requests per second over `window`
/// after a 200 ms warm-up.
pub fn measure_c_ref(window: Duration, seed: u64) -> f64 {
    let rt = tokio_runtime();
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let cpu = Arc::new(PaddedCounter::default());
    fn next(
        handle: tokio::runtime::Handle,
        mut rng: Rng,
        done: Arc<AtomicU64>,
        stop: Arc<AtomicBool>,
        cpu: Arc<PaddedCounter>,
    ) {
        let h = handle.clone();
        drop(handle.spawn(async move {
            spin_cpu(rng.exp(WORK_MEAN.as_nanos() as f64) as u64, &cpu.0);
            done.fetch_add(1, Ordering::Relaxed);
            if !stop.load(Ordering::Relaxed) {
                next(h, rng, done, stop, cpu);
            }
        }));
    }
    for i in 0..CREF_IN_FLIGHT_PER_WORKER * WORKERS {
        next(
            rt.handle().clone(),
            Rng::new(seed.wrapping_add(i as u64)),
            done.clone(),
            stop.clone(),
            cpu.clone(),
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    let (t0, n0) = (Instant::now(), done.load(Ordering::Relaxed));
    std::thread::sleep(window);
    let (t1, n1) = (Instant::now(), done.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_secs(1));
    (n1 - n0) as f64 / (t1 - t0).as_secs_f64()
}
