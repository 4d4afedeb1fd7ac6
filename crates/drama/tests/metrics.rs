//! The scheduler's view tells the truth: scripted workloads with known CPU
//! per tenant, known refusals, endings, queues and IO, checked in the
//! snapshot within tolerance.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use drama::admission::AdmissionConfig;
use drama::{Class, IoKind, RejectReason, Runtime, Spawn, TenantId};

/// Uses `ms` milliseconds of the thread's CPU time (a poll that long, or
/// longer if the OS takes the core away meanwhile): what the view should
/// charge, whatever else runs on the machine.
fn burn_cpu_ms(ms: u64) {
    let start = cpu_time::ThreadTime::now();
    while start.elapsed() < Duration::from_millis(ms) {
        std::hint::spin_loop();
    }
}

/// Keeps the thread busy for `ms` milliseconds of wall-clock time.
fn spin_ms(ms: u64) {
    let until = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Waits until `done` holds, for at most 10 s.
fn wait_for(mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < until, "timed out");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Two workers, admission off, and a stuck threshold far above any poll
/// here: on a loaded machine a poll of 1 ms of CPU can take more than the
/// default 10 ms of wall time, and a worker replaced meanwhile records
/// that poll beside its replacement (counts may be lost then; see
/// `Registration::drop` in drama-pool), which is not what these tests
/// measure.
fn runtime() -> Runtime {
    Runtime::builder()
        .workers(2)
        .admission(AdmissionConfig::off())
        .stuck_threshold(Duration::from_secs(1))
        .build()
        .unwrap()
}

#[test]
fn cpu_is_charged_to_the_tenant_that_used_it() {
    let rt = runtime();
    // Tenants of known cost: 40, 20 and 10 polls of 1 ms.
    let plan = [("heavy", 40), ("middle", 20), ("light", 10)];
    let mut handles = Vec::new();
    for (name, polls) in plan {
        let tenant = rt.tenant(name).unwrap();
        for _ in 0..polls {
            handles.push(
                rt.spawn_with(Spawn::new().tenant(tenant), async { burn_cpu_ms(1) })
                    .unwrap(),
            );
        }
    }
    for h in handles {
        rt.block_on(h).unwrap();
    }
    // A poll is recorded once it has returned, a moment after its task's
    // output reached the join: the last ones may not be in a snapshot
    // taken right after the joins.
    wait_for(|| {
        let snap = rt.snapshot();
        plan.iter()
            .all(|&(name, polls)| snap.tenant_named(name).is_some_and(|t| t.polls == polls))
    });
    let snap = rt.snapshot();
    for (name, polls) in plan {
        let row = snap.tenant_named(name).expect("ranked");
        assert_eq!(row.completed, polls, "{name}");
        assert_eq!(row.spawned, polls, "{name}");
        assert_eq!(row.polls, polls, "{name}");
        // At least the CPU burnt (less a few percent: the run-queue clock
        // that discounts preemption reads in ticks); at most half as much
        // again (the poll's own bookkeeping, a preemption the run-queue
        // clock did not see).
        let want_ns = polls * 1_000_000;
        assert!(
            row.cpu_ns >= want_ns * 9 / 10 && row.cpu_ns <= want_ns * 3 / 2,
            "{name}: {} ns for {want_ns} ns of work",
            row.cpu_ns
        );
    }
    // Heaviest first, with its share of the window's CPU (4/7 of it).
    let order: Vec<&str> = snap
        .heavy_hitters
        .iter()
        .map(|r| snap.tenant(r.id).unwrap().name.as_str())
        .collect();
    assert_eq!(order, ["heavy", "middle", "light"], "{snap}");
    let share = snap.heavy_hitters[0].share;
    assert!((share - 4.0 / 7.0).abs() < 0.05, "share {share}");
    // The class's histograms saw the polls: a median poll of about 1 ms.
    let compute = &snap.classes[Class::Compute as usize];
    assert_eq!(compute.name, "compute");
    assert!(compute.poll_time.count >= 70, "{compute:?}");
    let p50 = compute.poll_time.p50_ns;
    assert!((1_000_000..1_600_000).contains(&p50), "poll p50 {p50}");
    assert_eq!(snap.process.totals.completed, 70);
    assert!(snap.to_string().contains("heavy"), "{snap}");
}

#[test]
fn refusals_are_counted_by_tenant_and_reason() {
    let rt = Runtime::builder()
        .workers(1)
        .max_tasks(10)
        .admission(AdmissionConfig::off())
        .build()
        .unwrap();
    let greedy = rt.tenant("greedy").unwrap();
    let polite = rt.tenant("polite").unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    // Ten tasks that wait fill the bound; five more are refused.
    for _ in 0..10 {
        let release = release.clone();
        handles.push(
            rt.spawn_with(Spawn::new().tenant(greedy), async move {
                while !release.load(Ordering::Relaxed) {
                    drama::yield_now().await;
                }
            })
            .unwrap(),
        );
    }
    let mut refused = 0;
    for _ in 0..5 {
        let err = rt
            .spawn_with(Spawn::new().tenant(greedy), async {})
            .unwrap_err();
        assert_eq!(err.reason(), RejectReason::QueueFull);
        refused += 1;
    }
    let err = rt
        .spawn_with(Spawn::new().tenant(polite).class(Class::Read), async {})
        .unwrap_err();
    assert_eq!(err.reason(), RejectReason::QueueFull);
    // An id past `max_tenants` counts in its class only.
    assert!(
        rt.spawn_with(Spawn::new().tenant(TenantId::new(1 << 20)), async {})
            .is_err()
    );

    let snap = rt.snapshot();
    let row = snap.tenant_named("greedy").expect("ranked");
    assert_eq!(row.refused_total(), refused);
    assert_eq!(row.refused[2], refused, "queue_full is reason 2");
    assert_eq!(drama::metrics::REASON_NAMES[2], "queue_full");
    assert_eq!(row.in_flight, 10);
    let top = snap.most_throttled[0];
    assert_eq!(top.id, row.id);
    assert_eq!(top.value, 5);
    assert!((top.share - 5.0 / 6.0).abs() < 1e-9, "{top:?}");
    assert_eq!(snap.classes[Class::Read as usize].refused, 1);
    assert_eq!(snap.classes[Class::Compute as usize].refused, 6);
    assert_eq!(snap.process.totals.refused, 6);
    // The ten yield-looping tasks are runnable: the deepest queue (as the
    // worker last published it, a balancer beat ago).
    wait_for(|| {
        let snap = rt.snapshot();
        snap.deep_queues.first().map(|r| r.id) == Some(row.id)
            && snap.tenant(row.id).unwrap().queued_total() >= 8
    });
    release.store(true, Ordering::Relaxed);
    for h in handles {
        rt.block_on(h).unwrap();
    }
    let snap = rt.snapshot();
    let row = snap.tenant_named("greedy").expect("ranked");
    assert_eq!(row.completed, 10);
    assert_eq!(row.in_flight, 0);
}

#[test]
fn endings_are_told_apart() {
    let rt = runtime();
    let t = rt.tenant("t").unwrap();
    let spec = || Spawn::new().tenant(t);
    let ok = rt.spawn_with(spec(), async { 1 }).unwrap();
    let boom = rt.spawn_with(spec(), async { panic!("boom") }).unwrap();
    let forever = rt.spawn_with(spec(), std::future::pending::<()>()).unwrap();
    rt.block_on(ok).unwrap();
    assert!(rt.block_on(boom).unwrap_err().is_panic());
    forever.abort();
    assert!(rt.block_on(forever).unwrap_err().is_cancelled());
    // A task whose deadline passes while a long poll holds the only
    // worker it could run on expires unpolled.
    let rt1 = Runtime::builder()
        .workers(1)
        .admission(AdmissionConfig::off())
        .build()
        .unwrap();
    let e = rt1.tenant("late").unwrap();
    let blocker = rt1.spawn(async { spin_ms(30) }).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let late = rt1
        .spawn_with(
            Spawn::new().tenant(e).timeout(Duration::from_millis(1)),
            async {},
        )
        .unwrap();
    rt1.block_on(blocker).unwrap();
    assert!(rt1.block_on(late).unwrap_err().is_expired());

    wait_for(|| {
        rt.snapshot()
            .tenant_named("t")
            .is_some_and(|r| r.in_flight == 0)
    });
    let snap = rt.snapshot();
    let row = snap.tenant_named("t").unwrap();
    assert_eq!(row.spawned, 3);
    assert_eq!(row.completed, 1);
    assert_eq!(row.panicked, 1);
    assert_eq!(row.cancelled, 1);
    assert_eq!(snap.process.totals.panicked, 1);
    let snap1 = rt1.snapshot();
    let late = snap1.tenant_named("late").unwrap();
    assert_eq!((late.expired, late.completed, late.cancelled), (1, 0, 0));
}

#[test]
fn io_is_counted_by_tenant_and_kind() {
    let rt = runtime();
    let t = rt.tenant("storage").unwrap();
    let reads: Vec<_> = (0..3).map(|_| rt.io(t, IoKind::Read)).collect();
    let write = rt.io(t, IoKind::Write);
    drop(write);
    let mut reads = reads;
    let kept = reads.pop();
    drop(reads);
    let snap = rt.snapshot_with(10, &[t]);
    let row = snap.tenant(t.as_u32()).expect("asked for");
    let read = drama::metrics::IO_KIND_NAMES
        .iter()
        .position(|&k| k == "read")
        .unwrap();
    let write = drama::metrics::IO_KIND_NAMES
        .iter()
        .position(|&k| k == "write")
        .unwrap();
    assert_eq!((row.io_in_flight[read], row.io_done[read]), (1, 2));
    assert_eq!((row.io_in_flight[write], row.io_done[write]), (0, 1));
    assert!(snap.to_string().contains("IO by kind"), "{snap}");
    drop(kept);
}

#[test]
fn with_recording_off_what_admission_keeps_remains() {
    let rt = Runtime::builder()
        .workers(1)
        .max_tasks(1)
        .admission(AdmissionConfig::off())
        .record_metrics(false)
        .build()
        .unwrap();
    let t = rt.tenant("quiet").unwrap();
    let _io = rt.io(t, IoKind::Read);
    let h = rt
        .spawn_with(Spawn::new().tenant(t), async { spin_ms(2) })
        .unwrap();
    // The bound is one task: a second is refused.
    assert!(rt.spawn_with(Spawn::new().tenant(t), async {}).is_err());
    rt.block_on(h).unwrap();
    let snap = rt.snapshot_with(10, &[t]);
    let row = snap.tenant(t.as_u32()).unwrap();
    assert_eq!(row.refused_total(), 1);
    assert_eq!(row.io_in_flight[2], 1, "read is IO kind 2");
    // Not recorded: spawns, endings, polls.
    assert_eq!((row.spawned, row.completed), (0, 0));
    assert_eq!((row.polls, row.cpu_ns), (0, 0));
    assert!(snap.heavy_hitters.is_empty());
}

#[test]
fn workers_report_their_utilization() {
    let rt = runtime();
    // Both workers busy for a while (in polls of a millisecond, short of
    // the stuck threshold), then a snapshot: utilization is measured over
    // the window since the last kept reading.
    let handles: Vec<_> = (0..2)
        .map(|_| {
            rt.spawn(async {
                let until = Instant::now() + Duration::from_millis(300);
                while Instant::now() < until {
                    spin_ms(1);
                    drama::yield_now().await;
                }
            })
            .unwrap()
        })
        .collect();
    for h in handles {
        rt.block_on(h).unwrap();
    }
    let snap = rt.snapshot();
    assert_eq!(snap.workers.len(), 2);
    let busy: f64 = snap.workers.iter().map(|w| w.utilization).sum();
    // 600 ms of work over two workers in a window of at least the 300 ms
    // they ran (and the start-up before).
    assert!(busy > 0.3, "{snap}");
    assert!(
        snap.workers
            .iter()
            .all(|w| (0.0..=1.0).contains(&w.utilization))
    );
}

#[test]
fn the_heavy_hitters_among_100_000_tenants() {
    const TENANTS: u32 = 100_000;
    let rt = Runtime::builder()
        .workers(2)
        .max_tenants(TENANTS + 1)
        .admission(AdmissionConfig::off())
        .build()
        .unwrap();
    // Every tenant runs one empty task; the tenants of rank 1 to 40 (ids
    // scattered over the range) also use ceil(40 / rank) ms of CPU: a Zipf
    // workload's head over a long tail. A poll is charged its wall-clock
    // time less the time the OS kept the thread waiting to run; a stall
    // it does not see (the spawning thread's page faults on fresh memory
    // held the workers' faults back) stays on the charge: in a storm of
    // 100,000 new tenants, up to about a millisecond on one poll. The
    // checks leave that much room.
    let id_of_rank = |rank: u32| 1 + (rank * 7_919) % TENANTS;
    let mut handles = Vec::new();
    for id in 1..=TENANTS {
        let spec = Spawn::new().tenant(TenantId::new(id));
        handles.push(rt.spawn_with(spec, async {}).unwrap());
    }
    for rank in 1..=40u32 {
        let spec = || Spawn::new().tenant(TenantId::new(id_of_rank(rank)));
        for _ in 0..40u32.div_ceil(rank) {
            handles.push(
                rt.spawn_with(spec(), async {
                    let start = cpu_time::ThreadTime::now();
                    while start.elapsed() < Duration::from_millis(1) {
                        std::hint::spin_loop();
                    }
                })
                .unwrap(),
            );
        }
    }
    for h in handles {
        rt.block_on(h).unwrap();
    }
    let snap = rt.snapshot();
    assert_eq!(snap.process.tenants, u64::from(TENANTS));
    let heavy_tasks: u32 = (1..=40u32).map(|rank| 40u32.div_ceil(rank)).sum();
    assert_eq!(
        snap.process.totals.completed,
        u64::from(TENANTS + heavy_tasks)
    );
    let top: Vec<u32> = snap.heavy_hitters.iter().map(|r| r.id).collect();
    // The first three ranks (40, 20 and 14 ms) in order; the ten places
    // hold the first six ranks (down to 7 ms; the tail's tenants used a
    // few µs each).
    assert_eq!(
        top[..3],
        (1..=3).map(id_of_rank).collect::<Vec<_>>(),
        "{snap}"
    );
    for rank in 1..=6 {
        assert!(top.contains(&id_of_rank(rank)), "rank {rank}: {snap}");
    }
    // Bounded whatever the tenants: a row per ranked tenant.
    assert!(snap.tenants.len() <= 30);
}
