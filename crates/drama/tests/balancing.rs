//! The runtime carries the balancer's plan out: work born on one worker
//! while every worker is busy (so no worker is idle to shed to) still
//! reaches the other worker. These are liveness checks, not timed ones:
//! each waits for what must eventually happen, with a deadline of a
//! minute only so that a bug fails the test instead of hanging it. The
//! plan itself is checked case by case in drama-pool (`plan/tests.rs`),
//! and the shares it gives are measured, beside peers, by
//! `cargo xtask bench fairness` (T3: weights and spawn patterns, T4:
//! classes).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use drama::{Class, Runtime, Spawn, TenantId};

/// How long a check waits for what must happen before it fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// Two workers, and a stuck threshold long enough that a worker preempted
/// on a loaded machine is not replaced (a replacement's thread has a new
/// name, which would count as a second worker).
fn runtime() -> Runtime {
    Runtime::builder()
        .workers(2)
        .stuck_threshold(Duration::from_secs(10))
        .poll_budget(Duration::from_millis(1))
        .build()
        .unwrap()
}

/// The worker threads a group of tasks has run on.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<HashSet<String>>>);

impl Seen {
    fn record(&self) {
        let name = std::thread::current().name().unwrap_or("?").to_string();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name);
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A task that spins 50 µs and yields until `stop`, noting the threads it
/// ran on.
async fn looper(stop: Arc<AtomicBool>, seen: Seen) {
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_micros(50) {
            std::hint::spin_loop();
        }
        seen.record();
        drama::yield_now().await;
    }
}

/// Keeps both workers busy with 8 tasks of each of `tenants` (spawned
/// from outside, so spread over the workers).
fn fill(rt: &Runtime, tenants: &[TenantId], class: Class, stop: &Arc<AtomicBool>) {
    for &tenant in tenants {
        for _ in 0..8 {
            let spec = Spawn::new().tenant(tenant).class(class);
            drop(
                rt.spawn_with(spec, looper(stop.clone(), Seen::default()))
                    .unwrap(),
            );
        }
    }
}

/// Spawns 8 loops from inside one task of `tenant` in `class`, so that all
/// are born on that task's worker; waits until they have run on both
/// workers.
fn born_on_one_worker_reaches_both(rt: &Runtime, tenant: TenantId, class: Class) {
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Seen::default();
    let loops: Vec<_> = (0..8).map(|_| looper(stop.clone(), seen.clone())).collect();
    let spawner = rt
        .spawn_with(Spawn::new().tenant(tenant).class(class), async move {
            for task in loops {
                drop(drama::spawn(task).unwrap());
            }
        })
        .unwrap();
    rt.block_on(spawner).unwrap();
    let until = Instant::now() + DEADLINE;
    while seen.count() < 2 {
        assert!(
            Instant::now() < until,
            "tasks born on one busy worker never ran on the other"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
}

#[test]
fn a_heavy_tenant_born_on_one_busy_worker_reaches_the_other() {
    // Three light tenants keep both workers busy; then a heavy tenant
    // (weight 12 against 1, 1, 1: 80 % of the pool) spawns its tasks from
    // inside a task. Only the balancer's plan can move them: no worker is
    // idle to shed to.
    let rt = runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let lights: Vec<TenantId> = (0..3)
        .map(|i| rt.tenant(&format!("light{i}")).unwrap())
        .collect();
    fill(&rt, &lights, Class::Compute, &stop);
    let heavy = rt.tenant("heavy").unwrap();
    rt.set_weight(heavy, 1200).unwrap();
    born_on_one_worker_reaches_both(&rt, heavy, Class::Compute);
    stop.store(true, Ordering::Relaxed);
    assert!(rt.shutdown_timeout(Duration::from_secs(10)));
}

#[test]
fn a_class_born_on_one_busy_worker_reaches_the_other() {
    // One tenant's Compute and Read loops keep both workers busy; then
    // its Write loops (the heaviest class, 8 against 4 and 2) are spawned
    // by one task.
    let rt = runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let tenant = rt.tenant("one").unwrap();
    fill(&rt, &[tenant], Class::Compute, &stop);
    fill(&rt, &[tenant], Class::Read, &stop);
    born_on_one_worker_reaches_both(&rt, tenant, Class::Write);
    stop.store(true, Ordering::Relaxed);
    assert!(rt.shutdown_timeout(Duration::from_secs(10)));
}
