//! Fairness on the real runtime, as a wiring check: the balancer's plan is
//! checked case by case in drama-pool (`plan/tests.rs`), and the figures
//! come from `cargo xtask bench fairness`. These tests only show that the
//! runtime carries the plan out, with bounds far from the broken
//! behaviour they guard against, so that a shared CI machine cannot make
//! them fail. Work is counted in thread CPU time, so a task preempted by
//! the OS in the middle of its work is not credited with the wait.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use cpu_time::ThreadTime;
use drama::{Runtime, Spawn, TenantId};

/// The tests of this file measure shares of the machine's cores, so they
/// run one at a time (the test harness runs tests in parallel).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Spins until this thread has used `d` of CPU; returns what it used.
fn spin(d: Duration) -> u64 {
    let start = ThreadTime::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
    start.elapsed().as_nanos() as u64
}

/// A task that spins 50 µs and yields until `stop`, adding its CPU time
/// to `cpu` while `measuring`.
fn looper(
    stop: &Arc<AtomicBool>,
    measuring: &Arc<AtomicBool>,
    cpu: &Arc<AtomicU64>,
) -> impl Future<Output = ()> + Send + 'static {
    let (stop, measuring, cpu) = (stop.clone(), measuring.clone(), cpu.clone());
    async move {
        while !stop.load(Ordering::Relaxed) {
            let ns = spin(Duration::from_micros(50));
            if measuring.load(Ordering::Relaxed) {
                cpu.fetch_add(ns, Ordering::Relaxed);
            }
            drama::yield_now().await;
        }
    }
}

/// Settles for `settle`, measures for `window`, stops the tasks and
/// returns each counter's share of the total.
fn shares(
    rt: &Runtime,
    stop: &AtomicBool,
    measuring: &AtomicBool,
    cpu: &[Arc<AtomicU64>],
    settle: Duration,
    window: Duration,
) -> Vec<f64> {
    std::thread::sleep(settle);
    measuring.store(true, Ordering::Relaxed);
    std::thread::sleep(window);
    measuring.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let used: Vec<f64> = cpu
        .iter()
        .map(|c| c.load(Ordering::Relaxed) as f64)
        .collect();
    let total: f64 = used.iter().sum();
    let _ = rt;
    used.iter().map(|u| u / total).collect()
}

fn percent(shares: &[f64]) -> String {
    let parts: Vec<String> = shares
        .iter()
        .map(|s| format!("{:.1}%", 100.0 * s))
        .collect();
    parts.join(", ")
}

#[test]
fn weighted_shares_follow_weights() {
    let _serial = one_at_a_time();
    // 4 tenants with weights 1:2:4:8, 8 tasks each, spawned from outside.
    let weights = [1u32, 2, 4, 8];
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (stop, measuring) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let cpu: Vec<Arc<AtomicU64>> = weights
        .iter()
        .map(|_| Arc::new(AtomicU64::new(0)))
        .collect();
    for (i, &w) in weights.iter().enumerate() {
        let tenant = rt.tenant(&format!("t{i}")).unwrap();
        rt.set_weight(tenant, w * 100).unwrap();
        for _ in 0..8 {
            drop(
                rt.spawn_with(
                    Spawn::new().tenant(tenant),
                    looper(&stop, &measuring, &cpu[i]),
                )
                .unwrap(),
            );
        }
    }
    let got = shares(
        &rt,
        &stop,
        &measuring,
        &cpu,
        Duration::from_millis(200),
        Duration::from_millis(1000),
    );
    eprintln!("shares: {}", percent(&got));
    for (share, w) in got.iter().zip(weights) {
        let fair = f64::from(w) / 15.0;
        assert!(
            (share - fair).abs() <= 0.05,
            "shares do not follow weights: {}",
            percent(&got)
        );
    }
}

#[test]
fn tenants_spawned_by_one_task_share_equally() {
    let _serial = one_at_a_time();
    // T3a spawned from inside one task (an accept loop's shape): 8 equal
    // tenants with 1, 2, ..., 128 tasks, all born on one worker. Before
    // the balancer moved work by weighted load, a shed sent whole tenants
    // to the other worker and p128 kept 50 % (the others 7 %).
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (stop, measuring) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let cpu: Vec<Arc<AtomicU64>> = (0..8).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let tenants: Vec<TenantId> = (0..8)
        .map(|i| rt.tenant(&format!("p{}", 1 << i)).unwrap())
        .collect();
    let tasks: Vec<(TenantId, Vec<_>)> = tenants
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            (
                t,
                (0..1usize << i)
                    .map(|_| looper(&stop, &measuring, &cpu[i]))
                    .collect(),
            )
        })
        .collect();
    let spawner = rt
        .spawn(async move {
            for (tenant, loops) in tasks {
                for task in loops {
                    drop(drama::spawn_with(Spawn::new().tenant(tenant), task).unwrap());
                }
            }
        })
        .unwrap();
    rt.block_on(spawner).unwrap();
    let got = shares(
        &rt,
        &stop,
        &measuring,
        &cpu,
        Duration::from_millis(200),
        Duration::from_millis(1000),
    );
    eprintln!("shares p1..p128: {}", percent(&got));
    for share in &got {
        assert!(
            (share - 0.125).abs() <= 0.04,
            "not an eighth each: {}",
            percent(&got)
        );
    }
}

#[test]
fn a_heavy_tenant_born_on_one_worker_spreads_to_its_share() {
    let _serial = one_at_a_time();
    // Three light tenants fill both workers; then a heavy tenant (weight
    // 12 against 1, 1, 1: 80% of the pool, 1.6 workers' worth) spawns its
    // tasks from inside a task, so they all start on that task's worker.
    // Held to that worker it would get 50 % (48 % was measured before the
    // balancer could move it).
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (stop, measuring) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let cpu: Vec<Arc<AtomicU64>> = (0..4).map(|_| Arc::new(AtomicU64::new(0))).collect();
    for (i, counter) in cpu.iter().enumerate().take(3) {
        let tenant = rt.tenant(&format!("light{i}")).unwrap();
        for _ in 0..8 {
            drop(
                rt.spawn_with(
                    Spawn::new().tenant(tenant),
                    looper(&stop, &measuring, counter),
                )
                .unwrap(),
            );
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let heavy = rt.tenant("heavy").unwrap();
    rt.set_weight(heavy, 1200).unwrap();
    let heavy_tasks: Vec<_> = (0..8).map(|_| looper(&stop, &measuring, &cpu[3])).collect();
    let spawner = rt
        .spawn_with(Spawn::new().tenant(heavy), async move {
            for task in heavy_tasks {
                drop(drama::spawn(task).unwrap());
            }
        })
        .unwrap();
    rt.block_on(spawner).unwrap();
    let got = shares(
        &rt,
        &stop,
        &measuring,
        &cpu,
        Duration::from_millis(300),
        Duration::from_millis(1000),
    );
    eprintln!("shares (light x3, heavy): {}", percent(&got));
    assert!(
        (got[3] - 0.8).abs() <= 0.1,
        "the heavy tenant should get 80%: {}",
        percent(&got)
    );
}

#[test]
fn a_class_born_on_one_worker_gets_its_share_of_the_pool() {
    // One tenant: 8 Compute and 8 Read loops from outside, then 8 Write
    // loops spawned by one task, all born on its worker. Classes weigh
    // 8:4:2 (Write:Compute:Read), so Write should get 8/14 = 57 % of the
    // pool; balanced per worker it got 28 % (half: it was on one worker).
    let _serial = one_at_a_time();
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (stop, measuring) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let cpu: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let tenant = rt.tenant("one").unwrap();
    for (i, class) in [(1, drama::Class::Compute), (2, drama::Class::Read)] {
        for _ in 0..8 {
            let spec = Spawn::new().tenant(tenant).class(class);
            drop(
                rt.spawn_with(spec, looper(&stop, &measuring, &cpu[i]))
                    .unwrap(),
            );
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let writes: Vec<_> = (0..8).map(|_| looper(&stop, &measuring, &cpu[0])).collect();
    let spawner = rt
        .spawn_with(
            Spawn::new().tenant(tenant).class(drama::Class::Write),
            async move {
                for task in writes {
                    drop(drama::spawn(task).unwrap());
                }
            },
        )
        .unwrap();
    rt.block_on(spawner).unwrap();
    let got = shares(
        &rt,
        &stop,
        &measuring,
        &cpu,
        Duration::from_millis(200),
        Duration::from_millis(1000),
    );
    eprintln!("shares (write, compute, read): {}", percent(&got));
    assert!(
        got[0] >= 0.9 * 8.0 / 14.0,
        "Write should get 57 %: {}",
        percent(&got)
    );
}
