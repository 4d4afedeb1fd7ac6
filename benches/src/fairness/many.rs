//! T3c: many tenants (BENCHMARKS.md T3 (c)).
//!
//! N tenants (10, 1,000, 10,000) with one task each, spawned from outside;
//! each task loops: spin [`LOOP_WORK`] of thread CPU, yield. The run warms
//! up until every task has started at least [`WARM_LOOPS`] iterations (a
//! DRR round of 10,000 tenants is about 0.5 s at 2 workers), then measures
//! for a window. Figures:
//!
//! - throughput: loop iterations per second over the window, and its ratio
//!   to N = 10 (drama must not get slower with many tenants);
//! - Jain's index over the tenants' CPU time, and how many tenants got no
//!   poll at all in the window;
//! - the largest gap between the starts of two consecutive iterations of
//!   one task (wall clock, [`Instant`]), clipped to the window, with the
//!   open gap from a task's last start to the window's end counted too;
//! - beside it the starvation bound the policy's author states,
//!   `(floor(D/q)+1) * (N_w - 1) * (q + C)` per worker (q the 100 µs
//!   default quantum, C the largest poll measured here: wall time from an
//!   iteration's start to its yield, which is what drama charges; D =
//!   min(C, 10 q); N_w the tenants whose task last ran on that worker),
//!   for the busiest worker, whose bound is the largest;
//! - the CPU time of the monitor thread (`drama-monitor`, from
//!   `/proc/self/task/<tid>/schedstat`) and of the workers (the process's
//!   CPU time less the monitor's and the measuring thread's, so that
//!   replaced workers count), with each live worker thread's beside it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::measure;
use super::{Control, Engine, Live, Started, Task, yield_now};
use crate::cpu::{ClockSource, GroupCpu, ThreadClocks, current_worker, spin_cpu, threads};

/// How long to wait for a new runtime's threads to carry their names in
/// `/proc` (they name themselves once they first run): far more than a
/// thread start takes even on a busy machine.
const NAMING_PATIENCE: Duration = Duration::from_secs(2);

/// Work per loop iteration: 20 µs, a fifth of the quantum, so a tenant's
/// turn holds several polls and the per-poll cost of the scheduler shows.
pub const LOOP_WORK: Duration = Duration::from_micros(20);

/// drama's default DRR quantum (`DrrConfig::DEFAULT_QUANTUM_NS`), the `q`
/// of the stated bound.
pub const QUANTUM_NS: u64 = 100_000;

/// Iterations every task must have started before the window opens: 2, so
/// each task has been polled, yielded and been requeued at least once.
pub const WARM_LOOPS: u64 = 2;

/// The least warm-up, however fast every task ran: 300 ms lets the
/// balancer see the load and the workers settle.
pub const MIN_WARMUP: Duration = Duration::from_millis(300);

/// The most warm-up: with 10,000 tenants on one worker a DRR round is
/// about 1 s (10,000 quanta of 100 µs), and a tenant starts its 2
/// iterations within one turn, so 5 s is five rounds; it only trips when
/// some task is starved outright, and the window then starts anyway with
/// the starved tenants showing as zero polls.
pub const MAX_WARMUP: Duration = Duration::from_secs(5);

/// A task's own figures, alone on a cache line so that tasks on two
/// workers never share one.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot {
    cpu_ns: AtomicU64,
    loops: AtomicU64,
    /// When its latest iteration started, ns since the run's base instant.
    last_start_ns: AtomicU64,
    /// The largest gap its iterations closed inside the window.
    max_gap_ns: AtomicU64,
    /// Its longest poll (iteration start to yield) inside the window.
    max_poll_ns: AtomicU64,
    /// Its largest thread CPU time of one poll's work inside the window.
    max_poll_cpu_ns: AtomicU64,
    /// The worker of its latest poll (`u32::MAX`: not a drama worker).
    worker: AtomicU32,
}

/// The shared state of a run.
struct Board {
    base: Instant,
    /// The window's start, ns since `base`; `u64::MAX` until it opens.
    window_start_ns: AtomicU64,
    /// Set when the window has closed.
    window_over: AtomicBool,
    slots: Vec<Slot>,
}

impl Board {
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

fn tenant_loop(board: Arc<Board>, i: usize, live: Live) -> Task {
    let work_ns = LOOP_WORK.as_nanos() as u64;
    Box::pin(async move {
        let slot = &board.slots[i];
        while !live.control().stopping() {
            let start_ns = board.now_ns();
            let window_start_ns = board.window_start_ns.load(Ordering::Acquire);
            let measuring =
                window_start_ns != u64::MAX && !board.window_over.load(Ordering::Relaxed);
            if measuring {
                let prev_ns = slot.last_start_ns.load(Ordering::Relaxed);
                let gap_ns = measure::gap_in_window_ns(prev_ns, start_ns, window_start_ns);
                slot.max_gap_ns.fetch_max(gap_ns, Ordering::Relaxed);
            }
            slot.last_start_ns.store(start_ns, Ordering::Relaxed);
            slot.worker
                .store(current_worker().unwrap_or(u32::MAX), Ordering::Relaxed);
            let cpu_ns = spin_cpu(work_ns, &slot.cpu_ns);
            slot.loops.fetch_add(1, Ordering::Relaxed);
            if measuring {
                let poll_ns = board.now_ns() - start_ns;
                slot.max_poll_ns.fetch_max(poll_ns, Ordering::Relaxed);
                slot.max_poll_cpu_ns.fetch_max(cpu_ns, Ordering::Relaxed);
            }
            yield_now(Engine::Drama).await;
        }
    })
}

/// What one T3c run measured.
#[derive(Clone, Debug)]
pub struct ManyRun {
    /// Tenants (one task each).
    pub n_tenants: usize,
    /// Worker threads.
    pub workers: usize,
    /// How long the warm-up took, and whether every task had run
    /// [`WARM_LOOPS`] times by its end.
    pub warmup: Duration,
    /// Whether every task reached [`WARM_LOOPS`] within [`MAX_WARMUP`].
    pub all_warm: bool,
    /// The measuring window.
    pub window_ns: u64,
    /// Loop iterations completed in the window, all tenants.
    pub loops: u64,
    /// Each tenant's CPU ns in the window.
    pub cpu_ns: Vec<u64>,
    /// Tenants with no iteration completed in the window.
    pub zero_polls: usize,
    /// The largest gap of any task in the window.
    pub largest_gap_ns: u64,
    /// The most tenants whose task last ran on one worker thread (`N_w`
    /// of the bound, for the busiest worker: the largest bound).
    pub busiest_worker_tenants: usize,
    /// Tenants per worker thread (`drama-<n>`, replacements of stuck
    /// workers included), by the thread of each task's latest poll.
    pub tenants_per_worker: Vec<usize>,
    /// The longest poll of any task in the window, wall clock (`C` of the
    /// bound; OS preemption inside a poll lengthens it).
    pub largest_poll_ns: u64,
    /// The largest thread CPU time of one poll's work in the window: the
    /// `C` a machine without preemption would show.
    pub largest_poll_cpu_ns: u64,
    /// CPU of the runtime's threads over the window.
    pub threads_cpu: GroupCpu,
    /// Stuck workers replaced during the run (a worker preempted inside a
    /// poll for longer than the stuck threshold looks stuck).
    pub replaced: u64,
    /// Anything odd about the run.
    pub note: Option<String>,
}

impl ManyRun {
    /// Loop iterations per second over the window.
    pub fn throughput(&self) -> f64 {
        self.loops as f64 * 1e9 / self.window_ns.max(1) as f64
    }

    /// Jain's index over the tenants' CPU time.
    pub fn jain(&self) -> f64 {
        let xs: Vec<f64> = self.cpu_ns.iter().map(|&c| c as f64).collect();
        measure::jain(&xs)
    }

    /// The stated bound for the busiest worker.
    pub fn bound_ns(&self) -> u64 {
        measure::stated_bound_ns(
            self.busiest_worker_tenants as u64,
            self.largest_poll_ns,
            QUANTUM_NS,
        )
    }

    /// The stated bound with `C` taken as the largest poll's CPU time.
    pub fn bound_cpu_ns(&self) -> u64 {
        measure::stated_bound_ns(
            self.busiest_worker_tenants as u64,
            self.largest_poll_cpu_ns,
            QUANTUM_NS,
        )
    }

    /// The monitor's CPU over the window, in percent of one core.
    pub fn monitor_pct(&self) -> Option<f64> {
        self.threads_cpu
            .source
            .map(|_| 100.0 * self.threads_cpu.monitor_ns as f64 / self.window_ns.max(1) as f64)
    }

    /// The workers' CPU over the window, in percent of one core.
    pub fn workers_pct(&self) -> Option<f64> {
        self.threads_cpu
            .source
            .map(|_| 100.0 * self.threads_cpu.workers_ns as f64 / self.window_ns.max(1) as f64)
    }

    /// How the threads' CPU was read.
    pub fn clock(&self) -> Option<ClockSource> {
        self.threads_cpu.source
    }
}

/// Runs `n_tenants` single-task tenants on drama with `workers` workers,
/// measuring for `window` after the warm-up.
pub fn run(n_tenants: usize, workers: usize, window: Duration) -> ManyRun {
    let before = threads();
    let rt = Started::start(Engine::Drama, workers);
    let clocks = ThreadClocks::new("drama", &before);
    clocks.wait_named(workers, NAMING_PATIENCE);
    let board = Arc::new(Board {
        base: Instant::now(),
        window_start_ns: AtomicU64::new(u64::MAX),
        window_over: AtomicBool::new(false),
        slots: (0..n_tenants).map(|_| Slot::default()).collect(),
    });
    let control = Arc::new(Control::default());
    for i in 0..n_tenants {
        let tag = rt.tag(&format!("t{i}"), 100, drama::Class::Compute);
        rt.spawn(&tag, tenant_loop(board.clone(), i, control.enlist()));
    }
    let t0 = Instant::now();
    let all_warm = loop {
        let warm = board
            .slots
            .iter()
            .all(|s| s.loops.load(Ordering::Relaxed) >= WARM_LOOPS);
        let elapsed = t0.elapsed();
        if (warm && elapsed >= MIN_WARMUP) || elapsed >= MAX_WARMUP {
            break warm;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let warmup = t0.elapsed();
    let read = |board: &Board| -> (Vec<u64>, Vec<u64>) {
        board
            .slots
            .iter()
            .map(|s| {
                (
                    s.cpu_ns.load(Ordering::Relaxed),
                    s.loops.load(Ordering::Relaxed),
                )
            })
            .unzip()
    };
    let (cpu_before, loops_before) = read(&board);
    let cpu_start = clocks.snapshot();
    let window_start_ns = board.now_ns();
    board
        .window_start_ns
        .store(window_start_ns, Ordering::Release);
    std::thread::sleep(window);
    let end_ns = board.now_ns();
    board.window_over.store(true, Ordering::Relaxed);
    let cpu_end = clocks.snapshot();
    let (cpu_after, loops_after) = read(&board);
    let replaced = rt.drama().n_replaced();
    let note = rt.finish(&control);

    let cpu_ns: Vec<u64> = cpu_after
        .iter()
        .zip(&cpu_before)
        .map(|(a, b)| a - b)
        .collect();
    let loops_each: Vec<u64> = loops_after
        .iter()
        .zip(&loops_before)
        .map(|(a, b)| a - b)
        .collect();
    // Indexed by worker thread number: `drama-0` .. `drama-<workers-1>`,
    // then the replacements of stuck workers as they were started.
    let mut tenants_per_worker = vec![0usize; workers];
    let mut largest_gap_ns = 0u64;
    let mut largest_poll_ns = 0;
    let mut largest_poll_cpu_ns = 0;
    for s in &board.slots {
        let worker = s.worker.load(Ordering::Relaxed);
        if worker != u32::MAX {
            let w = worker as usize;
            if w >= tenants_per_worker.len() {
                tenants_per_worker.resize(w + 1, 0);
            }
            tenants_per_worker[w] += 1;
        }
        let gap_ns = measure::largest_gap_ns(
            s.max_gap_ns.load(Ordering::Relaxed),
            s.last_start_ns.load(Ordering::Relaxed),
            window_start_ns,
            end_ns,
        );
        largest_gap_ns = largest_gap_ns.max(gap_ns);
        largest_poll_ns = largest_poll_ns.max(s.max_poll_ns.load(Ordering::Relaxed));
        largest_poll_cpu_ns = largest_poll_cpu_ns.max(s.max_poll_cpu_ns.load(Ordering::Relaxed));
    }
    // The bound of the busiest worker: the task with the largest gap may
    // have last run on a worker thread that was replaced since, whose
    // tenant count says nothing about the slot's queue.
    let busiest_worker_tenants = tenants_per_worker.iter().copied().max().unwrap_or(0);
    ManyRun {
        n_tenants,
        workers,
        warmup,
        all_warm,
        window_ns: end_ns - window_start_ns,
        loops: loops_each.iter().sum(),
        zero_polls: loops_each.iter().filter(|&&l| l == 0).count(),
        cpu_ns,
        largest_gap_ns,
        busiest_worker_tenants,
        tenants_per_worker,
        largest_poll_ns,
        largest_poll_cpu_ns,
        threads_cpu: cpu_start.until(&cpu_end),
        replaced,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_of_many_tenants_measures_each() {
        // Structure only: how fair or fast the run was is the benchmark's
        // business, not a test's.
        let r = run(50, 2, Duration::from_millis(150));
        assert_eq!(r.cpu_ns.len(), 50);
        assert!(r.loops > 0 && r.largest_gap_ns > 0 && r.largest_poll_ns > 0);
        assert!((1..=50).contains(&r.tenants_per_worker.iter().sum::<usize>()));
        assert!(r.clock().is_some());
    }
}
