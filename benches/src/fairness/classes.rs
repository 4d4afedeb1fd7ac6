//! T4: weak class priorities across the pool (BENCHMARKS.md T4).
//!
//! One tenant ("app"). 8 Write, 8 Compute and 8 Read closed loops, each
//! spinning [`LOOP_WORK`] of thread CPU and yielding; drama's default class
//! weights are 8:4:2:1 (Write:Compute:Read:Accept), so the three backlogged
//! classes should get 8/14, 4/14 and 2/14 of the CPU they use between them
//! (Accept is not backlogged and left out of the shares). Beside them an
//! Accept probe: every [`PROBE_PERIOD`] (100 requests/s) the calling thread
//! spawns a task of class Accept that spins [`PROBE_WORK`]; its wait runs
//! from its intended start (on the probe's fixed schedule, so a late
//! generator counts against the runtime, no coordinated omission) to its
//! first poll.
//!
//! Per class: the CPU share against the weight share and their ratio, and
//! the wait of a loop from its yield to its next poll (p99, max). Two
//! variants ([`Birth`]): all loops spawned from outside; or Compute and
//! Read from outside and, [`WRITES_AFTER`] later, the 8 Write loops spawned
//! by one task, so that they are all born on one worker. The convergence
//! time is measured from the Write loops' appearance.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drama::Class;

use super::measure::{self, Sample};
use super::{
    CONVERGENCE_TOLERANCE, CONVERGENCE_WINDOW, Control, Engine, Live, Started, Task, Timing,
    WORKERS, spawn_inherit, yield_now,
};
use crate::cpu::{PaddedCounter, counters, spin_cpu};

/// The backlogged classes, in the order of every per-class array here.
pub const LOOP_CLASSES: [Class; 3] = [Class::Write, Class::Compute, Class::Read];

/// Closed loops per backlogged class: 8, four times the workers, so that
/// each class keeps every worker busy on its own.
pub const LOOPS_PER_CLASS: usize = 8;

/// Work per loop iteration: 100 µs, drama's default quantum.
pub const LOOP_WORK: Duration = Duration::from_micros(100);

/// The Accept probe's period: 100 requests/s (BENCHMARKS.md T4).
pub const PROBE_PERIOD: Duration = Duration::from_millis(10);

/// Work per probe request: 20 µs, a short accept.
pub const PROBE_WORK: Duration = Duration::from_micros(20);

/// When the Write loops appear in [`Birth::WritesFromOneTask`]: 100 ms
/// after the others, long enough for Compute and Read to have settled on
/// both workers.
pub const WRITES_AFTER: Duration = Duration::from_millis(100);

/// drama's default class weights (Write, Compute, Read, Accept).
pub const CLASS_WEIGHTS: [u32; 4] = [8, 4, 2, 1];

/// Where the loops are born.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Birth {
    /// (a) Every loop spawned from outside the runtime.
    Outside,
    /// (b) Compute and Read from outside; [`WRITES_AFTER`] later one task
    /// of class Write spawns the 8 Write loops with `drama::spawn`
    /// (inheriting tenant and class), all on its worker.
    WritesFromOneTask,
}

impl Birth {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Birth::Outside => "(a) all from outside",
            Birth::WritesFromOneTask => "(b) Write loops born on one worker, 100 ms later",
        }
    }
}

/// The Accept probe's figures.
#[derive(Clone, Debug, Default)]
pub struct ProbeStats {
    /// Requests whose intended start fell in the measuring window.
    pub requests: usize,
    /// Their p99 wait (intended start to first poll).
    pub p99_ns: Option<u64>,
    /// Their largest wait.
    pub max_ns: Option<u64>,
    /// The largest wait over the whole run (warm-up and, in variant (b),
    /// the Write loops' arrival included).
    pub max_run_ns: Option<u64>,
}

/// What one T4 run measured.
#[derive(Clone, Debug)]
pub struct ClassRun {
    /// Where the loops were born.
    pub birth: Birth,
    /// CPU ns of Write, Compute, Read in the measuring window.
    pub cpu_ns: [u64; 3],
    /// The measuring window's length as sampled.
    pub window_ns: u64,
    /// p99 of the loops' wait from a yield to the next poll, per class.
    pub wait_p99_ns: [Option<u64>; 3],
    /// The largest such wait, per class.
    pub wait_max_ns: [Option<u64>; 3],
    /// The Accept probe.
    pub accept: ProbeStats,
    /// The convergence time of the class shares, from the start (a) or
    /// from the Write loops' spawn (b); `None`: not converged.
    pub convergence_ns: Option<u64>,
    /// Anything odd about the run.
    pub note: Option<String>,
}

impl ClassRun {
    /// Each backlogged class's share of their CPU (fractions).
    pub fn shares(&self) -> Vec<f64> {
        measure::fractions(&self.cpu_ns)
    }

    /// Each backlogged class's weight share: 8/14, 4/14, 2/14.
    pub fn targets() -> Vec<f64> {
        measure::weight_fractions(&CLASS_WEIGHTS[..3])
    }

    /// Share / weight share, per class.
    pub fn ratios(&self) -> Vec<f64> {
        self.shares()
            .iter()
            .zip(Self::targets())
            .map(|(s, t)| s / t)
            .collect()
    }

    /// The loops' CPU time in percent of the workers' capacity over the
    /// window ([`WORKERS`] cores).
    pub fn work_pct(&self) -> f64 {
        let total_ns: u64 = self.cpu_ns.iter().sum();
        100.0 * total_ns as f64 / (self.window_ns.max(1) * WORKERS as u64) as f64
    }

    /// The smallest of [`ratios`](Self::ratios): the figure the
    /// repetitions are ranked by.
    pub fn min_ratio(&self) -> f64 {
        self.ratios().into_iter().fold(f64::INFINITY, f64::min)
    }
}

/// Waits recorded by the loops of each class during the window, handed in
/// by each loop when it ends.
type WaitSink = Arc<Mutex<[Vec<u64>; 3]>>;

fn class_loop(
    class_idx: usize,
    cpu: Arc<Vec<PaddedCounter>>,
    measuring: Arc<AtomicBool>,
    sink: WaitSink,
    live: Live,
) -> Task {
    let work_ns = LOOP_WORK.as_nanos() as u64;
    Box::pin(async move {
        let mut waits = Vec::new();
        while !live.control().stopping() {
            spin_cpu(work_ns, &cpu[class_idx].0);
            let yielded = Instant::now();
            yield_now(Engine::Drama).await;
            // The time from the yield to this poll: the loop's queueing wait.
            if measuring.load(Ordering::Relaxed) {
                waits.push(yielded.elapsed().as_nanos() as u64);
            }
        }
        sink.lock().expect("no loop panics")[class_idx].extend(waits);
    })
}

/// Runs T4 with `birth`, warming up for `timing.warmup` after the last
/// loops appear, then measuring for `timing.window`.
pub fn run(birth: Birth, timing: Timing) -> ClassRun {
    let rt = Started::start(Engine::Drama, WORKERS);
    let tag = |class| rt.tag("app", 100, class);
    let tags = LOOP_CLASSES.map(tag);
    let accept_tag = tag(Class::Accept);
    // Counters: Write, Compute, Read, Accept.
    let cpu = Arc::new(counters(4));
    let control = Arc::new(Control::default());
    let measuring = Arc::new(AtomicBool::new(false));
    let sink: WaitSink = Arc::default();
    let probes: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let spawn_loops = |class_idx: usize| {
        for _ in 0..LOOPS_PER_CLASS {
            let task = class_loop(
                class_idx,
                cpu.clone(),
                measuring.clone(),
                sink.clone(),
                control.enlist(),
            );
            rt.spawn(&tags[class_idx], task);
        }
    };
    let writes_at_ns = match birth {
        Birth::Outside => 0,
        Birth::WritesFromOneTask => WRITES_AFTER.as_nanos() as u64,
    };
    let window_start_ns = writes_at_ns + timing.warmup.as_nanos() as u64;
    let window_end_ns = window_start_ns + timing.window.as_nanos() as u64;
    let t0 = Instant::now();
    let first = match birth {
        Birth::Outside => 0,
        Birth::WritesFromOneTask => 1,
    };
    for class_idx in first..3 {
        spawn_loops(class_idx);
    }
    let probe_period_ns = PROBE_PERIOD.as_nanos() as u64;
    let mut writes_due = birth == Birth::WritesFromOneTask;
    let samples = sample_until_window(
        t0,
        window_end_ns,
        |intended_ns| {
            if writes_due && intended_ns >= writes_at_ns {
                writes_due = false;
                let (cpu, measuring, sink, control2) = (
                    cpu.clone(),
                    measuring.clone(),
                    sink.clone(),
                    control.clone(),
                );
                let live = control.enlist();
                rt.spawn(
                    &tags[0],
                    Box::pin(async move {
                        for _ in 0..LOOPS_PER_CLASS {
                            let task = class_loop(
                                0,
                                cpu.clone(),
                                measuring.clone(),
                                sink.clone(),
                                control2.enlist(),
                            );
                            spawn_inherit(Engine::Drama, task);
                        }
                        drop(live);
                    }),
                );
            }
            if intended_ns >= window_start_ns {
                measuring.store(true, Ordering::Relaxed);
            }
            if intended_ns.is_multiple_of(probe_period_ns) {
                let intended = t0 + Duration::from_nanos(intended_ns);
                let (cpu, probes, live) = (cpu.clone(), probes.clone(), control.enlist());
                rt.spawn(
                    &accept_tag,
                    Box::pin(async move {
                        let wait_ns = intended.elapsed().as_nanos() as u64;
                        spin_cpu(PROBE_WORK.as_nanos() as u64, &cpu[3].0);
                        probes
                            .lock()
                            .expect("no probe panics")
                            .push((intended_ns, wait_ns));
                        drop(live);
                    }),
                );
            }
        },
        &cpu,
    );
    measuring.store(false, Ordering::Relaxed);
    let note = rt.finish(&control);

    let (cpu_ns, window_ns) = super::window_delta(&samples, window_start_ns);
    let waits = std::mem::take(&mut *sink.lock().expect("no loop panics"));
    let mut wait_p99_ns = [None; 3];
    let mut wait_max_ns = [None; 3];
    for (i, mut w) in waits.into_iter().enumerate() {
        wait_p99_ns[i] = measure::quantile(&mut w, 0.99);
        wait_max_ns[i] = w.last().copied();
    }
    let probes = std::mem::take(&mut *probes.lock().expect("no probe panics"));
    let mut in_window: Vec<u64> = probes
        .iter()
        .filter(|(at, _)| (window_start_ns..window_end_ns).contains(at))
        .map(|&(_, w)| w)
        .collect();
    let accept = ProbeStats {
        requests: in_window.len(),
        p99_ns: measure::quantile(&mut in_window, 0.99),
        max_ns: in_window.last().copied(),
        max_run_ns: probes.iter().map(|&(_, w)| w).max(),
    };
    // The convergence series starts when the Write loops are spawned.
    let series: Vec<Sample> = samples
        .iter()
        .filter(|s| s.at_ns >= writes_at_ns)
        .map(|s| Sample {
            at_ns: s.at_ns - writes_at_ns,
            counters: s.counters[..3].to_vec(),
        })
        .collect();
    ClassRun {
        birth,
        cpu_ns: [cpu_ns[0], cpu_ns[1], cpu_ns[2]],
        window_ns,
        wait_p99_ns,
        wait_max_ns,
        accept,
        convergence_ns: measure::convergence_ns(
            &series,
            &ClassRun::targets(),
            CONVERGENCE_WINDOW.as_nanos() as u64,
            CONVERGENCE_TOLERANCE,
        ),
        note,
    }
}

/// [`super::sample_until`] up to `end_ns`, reading the four counters.
fn sample_until_window(
    t0: Instant,
    end_ns: u64,
    tick: impl FnMut(u64),
    cpu: &Arc<Vec<PaddedCounter>>,
) -> Vec<Sample> {
    super::sample_until(t0, Duration::from_nanos(end_ns), tick, || {
        cpu.iter().map(PaddedCounter::get).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_births_measure_every_class_and_the_probe() {
        let timing = Timing {
            warmup: Duration::from_millis(20),
            window: Duration::from_millis(80),
        };
        for birth in [Birth::Outside, Birth::WritesFromOneTask] {
            let r = run(birth, timing);
            assert!(r.cpu_ns.iter().all(|&c| c > 0), "{r:?}");
            assert!(r.wait_p99_ns.iter().all(Option::is_some), "{r:?}");
            assert!(r.accept.requests > 0, "{r:?}");
        }
    }

    #[test]
    fn weight_shares() {
        let t = ClassRun::targets();
        assert!((t[0] - 8.0 / 14.0).abs() < 1e-12);
        assert!((t[2] - 2.0 / 14.0).abs() < 1e-12);
    }
}
