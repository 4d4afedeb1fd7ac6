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

#[test]
fn a_heavy_tenant_born_on_one_worker_spreads_to_its_share() {
    // Three light tenants fill both workers; then a heavy tenant (weight
    // 12 against 1, 1, 1: 80% of the pool, 1.6 workers' worth) spawns its
    // tasks from inside a task, so they all start on that task's worker.
    // Reweighting alone would hold it to that one worker (50%); the
    // balancer must move some of its tasks to the other worker.
    let rt = Runtime::builder().workers(2).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let cpu: Vec<Arc<AtomicU64>> = (0..4).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let looper = |i: usize| {
        let (stop, measuring, cpu) = (stop.clone(), measuring.clone(), cpu[i].clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                let ns = spin(Duration::from_micros(50));
                if measuring.load(Ordering::Relaxed) {
                    cpu.fetch_add(ns, Ordering::Relaxed);
                }
                drama::yield_now().await;
            }
        }
    };
    let mut handles = Vec::new();
    for i in 0..3 {
        let tenant = rt.tenant(&format!("light{i}")).unwrap();
        for _ in 0..8 {
            handles.push(
                rt.spawn_with(Spawn::new().tenant(tenant), looper(i))
                    .unwrap(),
            );
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let heavy = rt.tenant("heavy").unwrap();
    rt.set_weight(heavy, 1200).unwrap();
    let heavy_tasks: Vec<_> = (0..8).map(|_| looper(3)).collect();
    let spawner = rt
        .spawn_with(Spawn::new().tenant(heavy), async move {
            heavy_tasks
                .into_iter()
                .map(|task| drama::spawn(task).unwrap())
                .collect::<Vec<_>>()
        })
        .unwrap();
    handles.extend(rt.block_on(spawner).unwrap());
    std::thread::sleep(Duration::from_millis(300));
    measuring.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(1000));
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
    let shares: Vec<String> = used
        .iter()
        .map(|u| format!("{:.1}%", 100.0 * u / total))
        .collect();
    eprintln!("shares (light x3, heavy): {}", shares.join(", "));
    let heavy_share = used[3] / total;
    assert!(
        (heavy_share - 0.8).abs() <= 0.05,
        "the heavy tenant should get 80%: {}",
        shares.join(", ")
    );
}
