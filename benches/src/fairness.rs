//! Fairness on the real runtime (BENCHMARKS.md T3, closed-loop form).
//!
//! - **T3a**: 8 tenants of equal weight; tenant `i` keeps `2^i` tasks in
//!   flight (1, 2, 4, ... 128). Every task loops: spin on the CPU for the
//!   work time (50 µs or 500 µs), add the time to its tenant's counter,
//!   yield. Over the measuring window each tenant should get 1/8 of the
//!   CPU whatever its parallelism; the figure is Jain's index over the
//!   tenants' CPU time (1 is perfectly fair, 1/8 is one tenant taking all).
//! - **T3b**: 4 tenants with weights 1:2:4:8, 8 tasks each, 100 µs of work
//!   per loop: the CPU shares against the weights, and Jain's index over
//!   CPU time divided by weight.
//!
//! tokio runs T3a beside drama for context: it has no tenants, so a
//! tenant's share follows its number of tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::runtimes::{Drama, Rt, Tokio};

/// One tenant of a fairness run.
#[derive(Clone, Debug)]
pub struct TenantSpec {
    /// Its name.
    pub name: String,
    /// Its weight (drama only; 100 is the default).
    pub weight: u32,
    /// Tasks it keeps in flight.
    pub tasks: usize,
}

/// What a fairness run measured.
#[derive(Clone, Debug)]
pub struct FairnessResult {
    /// The tenants, as run.
    pub tenants: Vec<TenantSpec>,
    /// CPU nanoseconds each tenant's tasks spent in their work loop during
    /// the measuring window.
    pub cpu_ns: Vec<u64>,
}

impl FairnessResult {
    /// Each tenant's share of the measured CPU time, in percent.
    pub fn shares_pct(&self) -> Vec<f64> {
        let total: u64 = self.cpu_ns.iter().sum();
        self.cpu_ns
            .iter()
            .map(|&c| 100.0 * c as f64 / total.max(1) as f64)
            .collect()
    }

    /// Each tenant's expected share by weight, in percent.
    pub fn expected_pct(&self) -> Vec<f64> {
        let total: u32 = self.tenants.iter().map(|t| t.weight).sum();
        self.tenants
            .iter()
            .map(|t| 100.0 * f64::from(t.weight) / f64::from(total))
            .collect()
    }

    /// Jain's index over CPU time divided by weight.
    pub fn jain(&self) -> f64 {
        let xs: Vec<f64> = self
            .cpu_ns
            .iter()
            .zip(&self.tenants)
            .map(|(&c, t)| c as f64 / f64::from(t.weight))
            .collect();
        jain(&xs)
    }
}

/// Jain's fairness index: `(sum x)^2 / (n * sum x^2)`.
pub fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let sum_sq: f64 = xs.iter().map(|x| x * x).sum();
    if sum_sq == 0.0 {
        return 0.0;
    }
    sum * sum / (xs.len() as f64 * sum_sq)
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

/// Spins on the CPU for `work`; returns the time spent.
fn spin(work: Duration) -> u64 {
    let start = Instant::now();
    while start.elapsed() < work {
        std::hint::spin_loop();
    }
    start.elapsed().as_nanos() as u64
}

/// Runs the closed loops of `tenants` on drama (2 workers) for `warmup`,
/// then measures for `window`.
pub fn run_drama(
    tenants: &[TenantSpec],
    work: Duration,
    warmup: Duration,
    window: Duration,
) -> FairnessResult {
    let rt = Drama::new(2);
    let specs: Vec<drama::Spawn> = tenants
        .iter()
        .map(|t| {
            let id = rt.runtime().tenant(&t.name).expect("the tenants fit");
            rt.runtime()
                .set_weight(id, t.weight)
                .expect("benchmark weights are valid");
            drama::Spawn::new().tenant(id)
        })
        .collect();
    run(&rt, tenants, work, warmup, window, |rt, i, fut| {
        rt.runtime()
            .spawn_with(specs[i].clone(), fut)
            .map_err(|r| r.reason())
            .expect("benchmark spawns fit")
    })
}

/// The same loops on tokio (2 workers); weights are ignored.
pub fn run_tokio(
    tenants: &[TenantSpec],
    work: Duration,
    warmup: Duration,
    window: Duration,
) -> FairnessResult {
    let rt = Tokio::new(2);
    run(&rt, tenants, work, warmup, window, |rt, _, fut| {
        rt.spawn(fut)
    })
}

fn run<R, H, S>(
    rt: &R,
    tenants: &[TenantSpec],
    work: Duration,
    warmup: Duration,
    window: Duration,
    spawn: S,
) -> FairnessResult
where
    R: Rt,
    H: Future + Send + 'static,
    S: Fn(&R, usize, std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> H,
{
    let stop = Arc::new(AtomicBool::new(false));
    let counters: Arc<Vec<AtomicU64>> =
        Arc::new(tenants.iter().map(|_| AtomicU64::new(0)).collect());
    let mut handles = Vec::new();
    for (i, tenant) in tenants.iter().enumerate() {
        for _ in 0..tenant.tasks {
            let (stop, counters, rt2) = (stop.clone(), counters.clone(), rt.clone());
            let task = Box::pin(async move {
                while !stop.load(Ordering::Relaxed) {
                    counters[i].fetch_add(spin(work), Ordering::Relaxed);
                    rt2.yield_now().await;
                }
            });
            handles.push(spawn(rt, i, task));
        }
    }
    std::thread::sleep(warmup);
    let before: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    std::thread::sleep(window);
    let after: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for handle in handles {
            let _ = handle.await;
        }
    });
    FairnessResult {
        tenants: tenants.to_vec(),
        cpu_ns: after.iter().zip(&before).map(|(a, b)| a - b).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_of_equal_and_of_one_hog() {
        assert!((jain(&[3.0, 3.0, 3.0, 3.0]) - 1.0).abs() < 1e-12);
        assert!((jain(&[1.0, 0.0, 0.0, 0.0]) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn a_short_run_measures_every_tenant() {
        let ms = Duration::from_millis;
        let r = run_drama(&t3b_tenants(), Duration::from_micros(50), ms(20), ms(50));
        assert_eq!(r.cpu_ns.len(), 4);
        assert!(r.cpu_ns.iter().all(|&c| c > 0), "{r:?}");
        let total: f64 = r.shares_pct().iter().sum();
        assert!((total - 100.0).abs() < 1e-6);
    }
}
