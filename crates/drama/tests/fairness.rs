//! Fairness on the real runtime: 2 workers, 4 tenants with weights
//! 1:2:4:8, all backlogged with CPU-bound tasks. Each tenant's share of the
//! CPU must follow its weight (within 5 percentage points here, a generous
//! bound for a shared CI machine; `cargo xtask bench fairness` reports the
//! tight figure).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use drama::{Runtime, Spawn};

/// Spins on the clock for `d` and returns the time it spun.
fn spin(d: Duration) -> u64 {
    let t0 = Instant::now();
    while t0.elapsed() < d {
        std::hint::spin_loop();
    }
    t0.elapsed().as_nanos() as u64
}

#[test]
fn weighted_shares_follow_weights() {
    const TASKS_PER_TENANT: usize = 8;
    let weights = [1u32, 2, 4, 8];
    let rt = Runtime::builder().workers(2).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let cpu: Vec<Arc<AtomicU64>> = weights
        .iter()
        .map(|_| Arc::new(AtomicU64::new(0)))
        .collect();
    let mut handles = Vec::new();
    for (i, &w) in weights.iter().enumerate() {
        let tenant = rt.tenant(&format!("t{i}")).unwrap();
        rt.set_weight(tenant, w * 100).unwrap();
        for _ in 0..TASKS_PER_TENANT {
            let (stop, measuring, cpu) = (stop.clone(), measuring.clone(), cpu[i].clone());
            handles.push(
                rt.spawn_with(Spawn::new().tenant(tenant), async move {
                    while !stop.load(Ordering::Relaxed) {
                        let ns = spin(Duration::from_micros(50));
                        if measuring.load(Ordering::Relaxed) {
                            cpu.fetch_add(ns, Ordering::Relaxed);
                        }
                        drama::yield_now().await;
                    }
                })
                .unwrap(),
            );
        }
    }
    // Let the placement settle, then measure.
    std::thread::sleep(Duration::from_millis(200));
    measuring.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(1500));
    measuring.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        rt.block_on(h).unwrap();
    }
    let used: Vec<f64> = cpu
        .iter()
        .map(|c| c.load(Ordering::Relaxed) as f64)
        .collect();
    let total: f64 = used.iter().sum();
    let weight_sum: u32 = weights.iter().sum();
    let report: Vec<String> = used
        .iter()
        .zip(weights)
        .map(|(u, w)| {
            format!(
                "w{w}: {:.1}% (fair {:.1}%)",
                100.0 * u / total,
                100.0 * w as f64 / weight_sum as f64
            )
        })
        .collect();
    eprintln!("shares: {}", report.join(", "));
    for (u, w) in used.iter().zip(weights) {
        let share = u / total;
        let fair = w as f64 / weight_sum as f64;
        assert!(
            (share - fair).abs() <= 0.05,
            "shares do not follow weights: {}",
            report.join(", ")
        );
    }
}
