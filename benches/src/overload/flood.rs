//! T6, spawn flood: (a) 1,000,000 spawns of a trivial future at full speed
//! from one outside thread; (b) a fork bomb, each task spawning two
//! children until a spawn is refused or the bomb's attempt budget is
//! spent. drama against unbounded tokio: the live-task count sampled every
//! millisecond, the process's peak RSS, how long a refusal takes, and
//! whether the memory comes back once the flood is over.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::harness::{Exec, drama_runtime, histogram, tokio_runtime};

/// Spawns in the flood (BENCHMARKS.md T6).
pub const FLOOD_SPAWNS: u64 = 1_000_000;

/// The fork bomb's budget of spawn attempts. A bomb at the bound of a
/// bounded runtime would go on forever (each ending task frees the place
/// of one new child), and tokio never refuses: 4 × 2^20 attempts lets the
/// bomb pass drama's default bound of 2^20 live tasks (the bomb holds
/// about half its attempts live at its peak) and still end.
pub const BOMB_BUDGET: u64 = 4 << 20;

/// drama's bound on live tasks as [`drama_runtime`] builds it: the
/// default `max_tasks`, which `drama_runtime` leaves alone. Change both
/// together.
pub const DRAMA_TASK_BOUND: u64 = drama::Builder::DEFAULT_MAX_TASKS as u64;

/// How long the flood waits for its accepted tasks to finish before it
/// gives up (and says so): far above the second or two they take.
const DRAIN_PATIENCE: Duration = Duration::from_secs(60);

/// RSS is read again this long after the flood has drained (BENCHMARKS.md
/// T6: "RSS back within 10 % in 1 s").
pub const SETTLE: Duration = Duration::from_secs(1);

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// The two runtimes of T6.
enum Flooded {
    Drama(Arc<drama::Runtime>),
    Tokio(tokio::runtime::Runtime),
}

/// The counters every flood task shares.
struct Ctx {
    attempted: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    completed: AtomicU64,
    refusal_ns: Mutex<Histogram<u64>>,
    drama: bool,
    /// The bomb's attempt budget.
    budget: u64,
}

impl Ctx {
    fn refused(&self, ns: u64) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.refusal_ns
            .lock()
            .expect("no panic while recording")
            .saturating_record(ns.max(1));
    }
}

/// The trivial future of the flood.
struct Trivial(Arc<Ctx>);

impl Future for Trivial {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        self.0.completed.fetch_add(1, Ordering::AcqRel);
        Poll::Ready(())
    }
}

/// A fork-bomb task: spawns two children (on the runtime it runs on)
/// unless one is refused or the budget is spent, then ends.
struct Bomb(Arc<Ctx>);

/// The counters and the budget, for `Bomb`.
impl Ctx {
    /// Takes one attempt from the budget; `false` when it is spent.
    fn attempt(&self) -> bool {
        if self.attempted.fetch_add(1, Ordering::Relaxed) >= self.budget {
            self.attempted.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

impl Future for Bomb {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        let ctx = &self.0;
        for _ in 0..2 {
            if !ctx.attempt() {
                break;
            }
            let child = Bomb(ctx.clone());
            // Counted accepted before the spawn (and taken back if it is
            // refused), so that a child cannot be seen completed before it
            // is seen accepted: `completed == accepted` means drained.
            ctx.accepted.fetch_add(1, Ordering::AcqRel);
            let t0 = Instant::now();
            let ok = if ctx.drama {
                drama::spawn(child).map(drop).is_ok()
            } else {
                drop(tokio::spawn(child));
                true
            };
            let ns = t0.elapsed().as_nanos() as u64;
            if !ok {
                ctx.accepted.fetch_sub(1, Ordering::AcqRel);
                ctx.refused(ns);
                break;
            }
        }
        ctx.completed.fetch_add(1, Ordering::AcqRel);
        Poll::Ready(())
    }
}

/// What a flood measured.
#[derive(Clone, Debug)]
pub struct FloodResult {
    /// Spawn attempts.
    pub attempted: u64,
    /// Accepted spawns.
    pub accepted: u64,
    /// Refused spawns.
    pub refused: u64,
    /// Tasks that ran to completion.
    pub completed: u64,
    /// Whether every accepted task completed within the patience.
    pub drained: bool,
    /// The largest live-task count sampled (drama: `n_tasks()`; tokio:
    /// accepted − completed).
    pub peak_queue: u64,
    /// The runtime's bound on live tasks (`None`: unbounded).
    pub bound: Option<u64>,
    /// RSS before the flood, KiB.
    pub rss_before_kib: Option<u64>,
    /// Peak RSS of the process (VmHWM), KiB.
    pub peak_rss_kib: Option<u64>,
    /// RSS [`SETTLE`] after the flood drained, KiB.
    pub rss_after_kib: Option<u64>,
    /// Refused spawns' durations, ns.
    pub refusal_ns: Histogram<u64>,
    /// From the first spawn until every accepted task was done.
    pub flood_time: Duration,
}

/// Runs T6 (a) (`bomb == false`) or (b) on `exec` (drama or tokio) in
/// this process; `attempts` is the flood's size or the bomb's budget;
/// RSS is read again `settle` after the flood drained.
pub fn run_flood(exec: Exec, bomb: bool, attempts: u64, settle: Duration) -> FloodResult {
    let rt = match exec {
        Exec::Drama => Flooded::Drama(Arc::new(drama_runtime())),
        _ => Flooded::Tokio(tokio_runtime()),
    };
    let ctx = Arc::new(Ctx {
        attempted: AtomicU64::new(0),
        accepted: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        refusal_ns: Mutex::new(histogram()),
        drama: matches!(rt, Flooded::Drama(_)),
        budget: attempts,
    });
    let live = {
        let ctx = ctx.clone();
        let drama = match &rt {
            Flooded::Drama(rt) => Some(rt.clone()),
            Flooded::Tokio(_) => None,
        };
        move || match &drama {
            Some(rt) => rt.n_tasks() as u64,
            None => ctx
                .accepted
                .load(Ordering::Relaxed)
                .saturating_sub(ctx.completed.load(Ordering::Relaxed)),
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("flood-sampler".into())
            .spawn(move || {
                let mut peak = 0;
                while !stop.load(Ordering::Relaxed) {
                    peak = peak.max(live());
                    std::thread::sleep(Duration::from_millis(1));
                }
                peak.max(live())
            })
            .expect("start the sampler")
    };
    std::thread::sleep(Duration::from_millis(20));
    let rss_before_kib = status_kib("VmRSS");
    let t0 = Instant::now();
    if bomb {
        ctx.attempted.fetch_add(1, Ordering::Relaxed);
        spawn_outside(&rt, &ctx, Bomb(ctx.clone()));
    } else {
        for _ in 0..attempts {
            ctx.attempted.fetch_add(1, Ordering::Relaxed);
            spawn_outside(&rt, &ctx, Trivial(ctx.clone()));
        }
    }
    // Drained: every accepted task done, and (for the bomb) no attempt
    // still being made: attempts only come from running tasks.
    let deadline = Instant::now() + DRAIN_PATIENCE;
    let drained = loop {
        // Completed first: if every task accepted by then had completed,
        // none was left to spawn more (only running tasks spawn).
        let completed = ctx.completed.load(Ordering::Acquire);
        if ctx.accepted.load(Ordering::Acquire) == completed {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let flood_time = t0.elapsed();
    std::thread::sleep(settle);
    let rss_after_kib = status_kib("VmRSS");
    stop.store(true, Ordering::Relaxed);
    let peak_queue = sampler.join().expect("the sampler ends");
    let bound = match &rt {
        Flooded::Drama(_) => Some(DRAMA_TASK_BOUND),
        Flooded::Tokio(_) => None,
    };
    let result = FloodResult {
        attempted: ctx.attempted.load(Ordering::Relaxed),
        accepted: ctx.accepted.load(Ordering::Relaxed),
        refused: ctx.refused.load(Ordering::Relaxed),
        completed: ctx.completed.load(Ordering::Relaxed),
        drained,
        peak_queue,
        bound,
        rss_before_kib,
        peak_rss_kib: status_kib("VmHWM"),
        rss_after_kib,
        refusal_ns: ctx
            .refusal_ns
            .lock()
            .expect("no panic while recording")
            .clone(),
        flood_time,
    };
    match rt {
        Flooded::Drama(rt) => {
            if let Ok(rt) = Arc::try_unwrap(rt) {
                rt.shutdown_timeout(Duration::ZERO);
            }
        }
        Flooded::Tokio(rt) => rt.shutdown_timeout(Duration::from_secs(10)),
    }
    result
}

/// One timed spawn from the outside thread.
fn spawn_outside<F>(rt: &Flooded, ctx: &Arc<Ctx>, future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    ctx.accepted.fetch_add(1, Ordering::AcqRel); // as in `Bomb::poll`
    let t0 = Instant::now();
    let ok = match rt {
        Flooded::Drama(rt) => rt.spawn(future).map(drop).is_ok(),
        Flooded::Tokio(rt) => {
            drop(rt.spawn(future));
            true
        }
    };
    let ns = t0.elapsed().as_nanos() as u64;
    if !ok {
        ctx.accepted.fetch_sub(1, Ordering::AcqRel);
        ctx.refused(ns);
    }
}
