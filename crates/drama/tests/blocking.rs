//! Blocking lanes on the real runtime: per-tenant and total thread bounds,
//! the bounded queue handing the closure back, fairness between lanes,
//! async tasks still running while every blocking thread is held, and the
//! spec of `spawn_blocking_with` (its tenant, inherited or set, and its
//! deadline).

use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use drama::{Handle, RejectReason, Runtime, Spawn, TenantId};

/// Waits (up to 10 s) until `cond` holds; the tests wait for state the
/// lanes reach asynchronously, never for a duration.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn lanes_bound_threads_per_tenant_and_in_total_and_refuse_when_full() {
    let rt = Runtime::builder()
        .workers(2)
        .blocking_threads(3, 2)
        .blocking_queue(2, 3)
        .build()
        .unwrap();
    let (heavy, light) = (rt.tenant("heavy").unwrap(), rt.tenant("light").unwrap());
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let job = |rx: Arc<std::sync::Mutex<mpsc::Receiver<()>>>| {
        move || {
            rx.lock().unwrap().recv().unwrap();
        }
    };

    let mut handles = Vec::new();
    // Heavy: two run (its per-tenant limit), two wait in its lane.
    for _ in 0..4 {
        handles.push(rt.spawn_blocking(heavy, job(release_rx.clone())).unwrap());
    }
    wait_until("two heavy jobs running", || {
        rt.n_blocking_running(heavy) == 2
    });
    assert_eq!(rt.n_blocking_queued(), 2);
    // Its lane is full (2 per tenant): the closure comes back untouched.
    let refused = rt
        .spawn_blocking(heavy, job(release_rx.clone()))
        .unwrap_err();
    assert_eq!(refused.reason(), RejectReason::QueueFull);
    drop(refused.into_inner());

    // Light still gets the third thread at once, past heavy's queue.
    handles.push(rt.spawn_blocking(light, job(release_rx.clone())).unwrap());
    wait_until("the light job running", || {
        rt.n_blocking_running(light) == 1
    });
    assert_eq!(rt.n_blocking_threads(), 3, "the total bound holds");
    // One more light job takes the last place of the total queue (3)...
    handles.push(rt.spawn_blocking(light, job(release_rx.clone())).unwrap());
    assert_eq!(rt.n_blocking_queued(), 3);
    // ... and then the total is full for everyone.
    let refused = rt.spawn_blocking(light, || 7).unwrap_err();
    assert_eq!(refused.reason(), RejectReason::QueueFull);
    assert_eq!((refused.into_inner())(), 7, "the closure comes back");

    // Async tasks do not wait for blocking threads.
    assert_eq!(rt.block_on(async { 1 + 1 }), 2);
    let task = rt.spawn(async { 40 + 2 }).unwrap();
    assert_eq!(rt.block_on(task).unwrap(), 42);

    for _ in 0..handles.len() {
        release_tx.send(()).unwrap();
    }
    for handle in handles {
        rt.block_on(handle).unwrap();
    }
    assert!(rt.n_blocking_threads() <= 3);
    assert_eq!(rt.n_blocking_queued(), 0);
}

#[test]
fn a_backlogged_tenant_does_not_hold_up_another_lane() {
    // One thread in all: heavy queues many jobs, light queues one. The
    // lanes take turns, so light's job runs after at most one more of
    // heavy's, not after all of them.
    let rt = Runtime::builder()
        .workers(1)
        .blocking_threads(1, 1)
        .build()
        .unwrap();
    let (heavy, light) = (rt.tenant("heavy").unwrap(), rt.tenant("light").unwrap());
    let gate = Arc::new(Barrier::new(2));
    let (order_tx, order_rx) = mpsc::channel();
    let first = {
        let gate = gate.clone();
        let tx = order_tx.clone();
        rt.spawn_blocking(heavy, move || {
            gate.wait();
            tx.send("heavy").unwrap();
        })
        .unwrap()
    };
    let mut handles = vec![first];
    for _ in 0..10 {
        let tx = order_tx.clone();
        handles.push(
            rt.spawn_blocking(heavy, move || tx.send("heavy").unwrap())
                .unwrap(),
        );
    }
    let tx = order_tx.clone();
    handles.push(
        rt.spawn_blocking(light, move || tx.send("light").unwrap())
            .unwrap(),
    );
    gate.wait();
    for handle in handles {
        rt.block_on(handle).unwrap();
    }
    drop(order_tx);
    let order: Vec<&str> = order_rx.iter().collect();
    let light_at = order.iter().position(|&t| t == "light").unwrap();
    assert!(
        light_at <= 2,
        "light ran {light_at}th, behind heavy's backlog: {order:?}"
    );
}

#[test]
fn a_panicking_blocking_job_is_reported_and_the_lane_goes_on() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let tenant = rt.tenant("t").unwrap();
    let failed = rt
        .spawn_blocking(tenant, || panic!("blocking job panicked"))
        .unwrap();
    let err = rt.block_on(failed).unwrap_err();
    assert!(err.is_panic());
    let ok = rt.spawn_blocking(tenant, || 5).unwrap();
    assert_eq!(rt.block_on(ok).unwrap(), 5);
}

#[test]
fn shutdown_joins_an_idle_blocking_thread() {
    // A blocking thread that ran a job idles (keep-alive), and a task is
    // still waiting at the deadline: shutdown cancels the task and joins
    // every thread, the idle blocking one included.
    let rt = Runtime::builder().workers(1).build().unwrap();
    let tenant = rt.tenant("t").unwrap();
    let job = rt.spawn_blocking(tenant, || 7).unwrap();
    assert_eq!(rt.block_on(job).unwrap(), 7);
    wait_until("the blocking thread is idle", || {
        rt.n_blocking_running(tenant) == 0
    });
    assert_eq!(rt.n_blocking_threads(), 1);
    let waiting = rt.spawn(std::future::pending::<()>()).unwrap();
    assert!(
        rt.shutdown_timeout(Duration::from_millis(50)),
        "a thread was left unjoined with nothing stuck"
    );
    assert!(
        futures::executor::block_on(waiting)
            .unwrap_err()
            .is_cancelled()
    );
}

#[test]
fn spawn_blocking_with_takes_the_tenant_from_the_spec() {
    let rt = Runtime::builder()
        .workers(1)
        .max_tenants(16)
        .build()
        .unwrap();
    let acme = rt.tenant("acme").unwrap();
    let tenant_seen = || drama::current().map(|meta| meta.tenant());

    // Set in the spec: the job runs on that tenant's lane, as that tenant.
    let job = rt
        .spawn_blocking_with(Spawn::new().tenant(acme).name("fsync"), tenant_seen)
        .unwrap();
    assert_eq!(rt.block_on(job).unwrap(), Some(acme));

    // Unset: inherited from the task that spawns it, as a spawn inherits.
    let parent = rt
        .spawn_with(Spawn::new().tenant(acme), async move {
            let here = Handle::current().expect("inside a task");
            here.spawn_blocking_with(Spawn::new(), tenant_seen)
                .expect("a lane has room")
                .await
        })
        .unwrap();
    assert_eq!(rt.block_on(parent).unwrap().unwrap(), Some(acme));

    // Outside any task, the default tenant.
    let job = rt.spawn_blocking_with(Spawn::new(), tenant_seen).unwrap();
    assert_eq!(rt.block_on(job).unwrap(), Some(TenantId::DEFAULT));

    // A tenant past `max_tenants` is refused, the closure handed back.
    let refused = rt
        .spawn_blocking_with(Spawn::new().tenant(TenantId::new(16)), || 3)
        .unwrap_err();
    assert_eq!(refused.reason(), RejectReason::InvalidTenant);
    assert_eq!(refused.into_inner()(), 3);
}

#[test]
fn a_blocking_job_past_its_deadline_is_not_run() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = ran.clone();
    let job = rt
        .spawn_blocking_with(Spawn::new().deadline(Instant::now()), move || {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
    assert!(rt.block_on(job).unwrap_err().is_expired());
    assert!(!ran.load(std::sync::atomic::Ordering::Relaxed));
}
