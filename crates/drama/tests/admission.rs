//! Admission on the real runtime: floods stay within the bound and lose
//! nothing, the heavy tenant is refused and the light one is not, wakes are
//! never refused, and the load report follows the load.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use drama::admission::AdmissionConfig;
use drama::{Class, RejectReason, Runtime, Spawn};

/// Counts its drops, so that a test can see every future dropped once,
/// whether it ran, was refused and handed back, or was cancelled.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Busy for `duration`: the CPU-bound work that makes a queue stand.
fn spin(duration: Duration) {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

#[test]
fn a_spawn_flood_stays_within_the_bound_and_loses_nothing() {
    const ATTEMPTS: usize = if cfg!(miri) { 1_000 } else { 1_000_000 };
    const MAX_TASKS: usize = 10_000;
    let rt = Runtime::builder()
        .workers(2)
        .max_tasks(MAX_TASKS)
        .build()
        .unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut accepted, mut refused) = (0, 0);
    let mut most_live = 0;
    for i in 0..ATTEMPTS {
        let counted = Counted(drops.clone());
        match rt.spawn(async move {
            let _counted = counted;
            spin(Duration::from_micros(1));
        }) {
            Ok(handle) => {
                accepted += 1;
                drop(handle);
            }
            Err(rejected) => {
                refused += 1;
                assert!(matches!(
                    rejected.reason(),
                    RejectReason::QueueFull | RejectReason::Overloaded | RejectReason::OverShare
                ));
                // Nothing lost: the future comes back, and is dropped here.
                drop(rejected.into_inner());
            }
        }
        if i % 1024 == 0 {
            most_live = most_live.max(rt.n_tasks());
        }
    }
    assert_eq!(accepted + refused, ATTEMPTS);
    assert!(most_live <= MAX_TASKS, "{most_live} tasks alive");
    assert!(rt.shutdown_timeout(Duration::from_secs(10)));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        ATTEMPTS,
        "a future was not dropped"
    );
}

#[test]
fn a_fork_bomb_is_contained() {
    // Every task spawns two more, forever: the bound and the load refuse
    // the excess, every refused child comes back to its parent, and the
    // runtime stays alive and responsive.
    const MAX_TASKS: usize = 20_000;
    let rt = Runtime::builder()
        .workers(2)
        .max_tasks(MAX_TASKS)
        .build()
        .unwrap();
    let created = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    fn bomb(created: Arc<AtomicUsize>, drops: Arc<AtomicUsize>, refused: Arc<AtomicUsize>) {
        created.fetch_add(1, Ordering::SeqCst);
        let counted = Counted(drops.clone());
        let on_refusal = refused.clone();
        let child = async move {
            let _counted = counted;
            drama::yield_now().await;
            for _ in 0..2 {
                bomb(created.clone(), drops.clone(), refused.clone());
            }
        };
        match drama::spawn(child) {
            Ok(handle) => drop(handle),
            Err(rejected) => {
                on_refusal.fetch_add(1, Ordering::SeqCst);
                drop(rejected.into_inner());
            }
        }
    }
    let root = {
        let (created, drops, refused) = (created.clone(), drops.clone(), refused.clone());
        rt.spawn(async move { bomb(created, drops, refused) })
            .unwrap()
    };
    rt.block_on(root).unwrap();
    let until = Instant::now() + Duration::from_millis(500);
    let mut most_live = 0;
    while Instant::now() < until {
        most_live = most_live.max(rt.n_tasks());
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(most_live <= MAX_TASKS, "{most_live} tasks alive");
    assert!(refused.load(Ordering::SeqCst) > 0, "nothing was refused");
    // Still responsive: a write (never refused by load) runs.
    let write = rt
        .spawn_with(Spawn::new().class(Class::Write), async { 7 })
        .expect("a write below the bound is admitted");
    assert_eq!(rt.block_on(write).unwrap(), 7);
    assert!(rt.shutdown_timeout(Duration::from_secs(10)));
    // Every child created was dropped once: run, refused or cancelled.
    assert_eq!(drops.load(Ordering::SeqCst), created.load(Ordering::SeqCst));
}

#[test]
fn the_heavy_tenant_is_refused_and_the_light_one_is_not() {
    // A heavy tenant offers far more CPU-bound work than two workers can
    // run; a light tenant sends a little. The heavy one absorbs the
    // refusals. (Not a timed assertion: the outcome is which tenant is
    // refused, over a second of overload.)
    let rt = Arc::new(Runtime::builder().workers(2).build().unwrap());
    let heavy = rt.tenant("heavy").unwrap();
    let light = rt.tenant("light").unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let heavy_refused = Arc::new(AtomicUsize::new(0));
    let producer = {
        let (rt, stop, heavy_refused) = (rt.clone(), stop.clone(), heavy_refused.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let work = async { spin(Duration::from_micros(200)) };
                match rt.spawn_with(Spawn::new().tenant(heavy), work) {
                    Ok(handle) => drop(handle),
                    Err(_) => {
                        heavy_refused.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_micros(100));
                    }
                }
            }
        })
    };
    let (mut light_sent, mut light_refused) = (0, 0);
    let until = Instant::now() + Duration::from_secs(1);
    let mut most_score: f64 = 0.0;
    let mut most_refusal_rate: f64 = 0.0;
    while Instant::now() < until {
        light_sent += 1;
        let work = async { spin(Duration::from_micros(50)) };
        if let Err(rejected) = rt.spawn_with(Spawn::new().tenant(light), work) {
            light_refused += 1;
            if light_refused < 5 {
                eprintln!("light refused: {rejected:?}");
            }
        }
        most_score = most_score.max(rt.load().score());
        most_refusal_rate = most_refusal_rate.max(rt.load().refusals_per_sec());
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    let heavy_refused = heavy_refused.load(Ordering::Relaxed);
    eprintln!(
        "heavy refused {heavy_refused}; light refused {light_refused} of {light_sent}; \
         highest score {most_score:.2}"
    );
    assert!(heavy_refused > 0, "the overload was never refused");
    assert!(
        most_refusal_rate > 0.0,
        "the load report never showed the refusals"
    );
    assert!(
        light_refused * 100 <= light_sent,
        "the light tenant was refused {light_refused} times of {light_sent}"
    );
    let rt = Arc::into_inner(rt).unwrap();
    rt.shutdown_timeout(Duration::from_secs(5));
}

#[test]
fn wakes_are_never_refused() {
    // With every class refused at the slightest load, a task that waits is
    // still woken and finishes: admission gates new work only.
    let strict = Class::ALL
        .into_iter()
        .fold(AdmissionConfig::new(), |config, class| {
            config.refuse_at(class, 1e-9)
        });
    let rt = Runtime::builder()
        .workers(1)
        .admission(strict)
        .build()
        .unwrap();
    let (send, receive) = futures::channel::oneshot::channel::<u32>();
    let waiter = rt.spawn(async move { receive.await.unwrap() + 1 }).unwrap();
    // Load the runtime until new work is refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "nothing was ever refused");
        match rt.spawn(async { spin(Duration::from_micros(500)) }) {
            Ok(handle) => drop(handle),
            Err(rejected) => {
                assert_eq!(rejected.reason(), RejectReason::Overloaded);
                assert!(rejected.load() > 0.0);
                assert!(rejected.retry_after().is_some());
                break;
            }
        }
    }
    send.send(41).unwrap();
    assert_eq!(rt.block_on(waiter).unwrap(), 42);
}

#[test]
fn the_load_report_rises_under_load_and_falls_when_idle() {
    let rt = Runtime::builder()
        .workers(1)
        .admission(AdmissionConfig::off())
        .build()
        .unwrap();
    assert!(rt.load().score() < 0.5);
    // A standing queue: 200 tasks of 1 ms on one worker.
    let handles: Vec<_> = (0..200)
        .map(|_| rt.spawn(async { spin(Duration::from_millis(1)) }).unwrap())
        .collect();
    // The score rises with the backlog at once; the standing delay (the
    // least any task waited over the window) once the queue has stood a
    // window.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt.load().score() < 1.0 || rt.load().queue_delay() < Duration::from_millis(1) {
        assert!(Instant::now() < deadline, "the score never rose");
        std::thread::sleep(Duration::from_millis(1));
    }
    // The recent delays' percentiles: tasks behind a queue of 1 ms tasks
    // wait milliseconds.
    while rt.load().queue_delay_p50() < Duration::from_millis(1) {
        assert!(
            Instant::now() < deadline,
            "the delay percentiles never rose"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let load = rt.load();
    assert!(load.queue_delay_p99() >= load.queue_delay_p50(), "{load:?}");
    assert_eq!(
        load.refusals_per_sec(),
        0.0,
        "admission off refuses nothing"
    );
    for handle in handles {
        rt.block_on(handle).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt.load().score() >= 0.5 {
        assert!(Instant::now() < deadline, "the score never fell");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(rt.load().n_refused(), 0, "admission off refuses nothing");
}

#[test]
fn a_task_past_its_deadline_is_dropped_unpolled_and_counted() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let counted = Counted(drops.clone());
    let expired = rt
        .spawn_with(Spawn::new().timeout(Duration::ZERO), async move {
            let _counted = counted;
            panic!("polled past its deadline");
        })
        .unwrap();
    assert!(rt.block_on(expired).unwrap_err().is_expired());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(rt.load().n_expired(), 1);
}

#[test]
fn work_the_queue_would_make_miss_its_deadline_is_refused() {
    // Admission off for the load, so that only the deadline check refuses.
    let rt = Runtime::builder()
        .workers(1)
        .admission(AdmissionConfig::off())
        .build()
        .unwrap();
    let handles: Vec<_> = (0..200)
        .map(|_| rt.spawn(async { spin(Duration::from_millis(1)) }).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt.load().queue_delay() < Duration::from_millis(2) {
        assert!(Instant::now() < deadline, "the queue never stood");
        std::thread::sleep(Duration::from_millis(1));
    }
    let hurried = Spawn::new().timeout(Duration::from_micros(100));
    let refused = rt.spawn_with(hurried, async { 1 }).unwrap_err();
    assert_eq!(refused.reason(), RejectReason::DeadlineUnreachable);
    let patient = Spawn::new().timeout(Duration::from_secs(60));
    let admitted = rt.spawn_with(patient, async { 2 }).unwrap();
    for handle in handles {
        rt.block_on(handle).unwrap();
    }
    assert_eq!(rt.block_on(admitted).unwrap(), 2);
}

#[test]
fn io_at_its_depth_limit_refuses_accepts_and_reads_on_the_runtime() {
    let rt = Runtime::builder()
        .workers(1)
        .admission(AdmissionConfig::new().io_depth_limit(drama::IoKind::Read, 1))
        .build()
        .unwrap();
    let tenant = rt.tenant("t").unwrap();
    let reading = rt.io(tenant, drama::IoKind::Read);
    let accept = Spawn::new().tenant(tenant).class(Class::Accept);
    let refused = rt.spawn_with(accept.clone(), async {}).unwrap_err();
    assert_eq!(refused.reason(), RejectReason::IoDepth);
    assert_eq!(
        rt.try_admit(tenant, Class::Read).unwrap_err().reason(),
        RejectReason::IoDepth
    );
    // Compute and writes are not held back by IO depth.
    let compute = rt
        .spawn_with(Spawn::new().tenant(tenant), async { 1 })
        .unwrap();
    assert_eq!(rt.block_on(compute).unwrap(), 1);
    drop(reading);
    let accepted = rt.spawn_with(accept, async { 2 }).unwrap();
    assert_eq!(rt.block_on(accepted).unwrap(), 2);
}

#[test]
fn a_permit_holds_a_place_until_dropped() {
    let rt = Runtime::builder().workers(1).max_tasks(2).build().unwrap();
    let tenant = rt.tenant("t").unwrap();
    let first = rt.try_admit(tenant, Class::Accept).unwrap();
    let second = rt.try_admit(tenant, Class::Accept).unwrap();
    assert_eq!(first.tenant(), tenant);
    // Two places of two are held: a third, even a write, is refused.
    let refused = rt.try_admit(tenant, Class::Write).unwrap_err();
    assert_eq!(refused.reason(), RejectReason::QueueFull);
    drop((first, second));
    let task = rt.spawn(async { 3 }).unwrap();
    assert_eq!(rt.block_on(task).unwrap(), 3);
    drop(rt);
}

#[test]
fn a_waiter_is_admitted_when_room_comes_back() {
    let rt = Runtime::builder().workers(1).max_tasks(1).build().unwrap();
    let tenant = rt.tenant("t").unwrap();
    let held = rt.try_admit(tenant, Class::Accept).unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
    });
    // Full until the other place is given back; then the waiter gets it.
    let permit = rt
        .block_on(
            rt.admit(tenant, Class::Accept)
                .within(Duration::from_secs(10)),
        )
        .expect("admitted once the place came back");
    assert_eq!(permit.tenant(), tenant);
    releaser.join().unwrap();
}

#[test]
fn a_waiter_gives_up_after_its_patience_with_the_refusal() {
    let rt = Runtime::builder().workers(1).max_tasks(1).build().unwrap();
    let tenant = rt.tenant("t").unwrap();
    let _held = rt.try_admit(tenant, Class::Write).unwrap();
    let refused = rt
        .block_on(
            rt.admit(tenant, Class::Write)
                .within(Duration::from_millis(20)),
        )
        .unwrap_err();
    assert_eq!(refused.reason(), RejectReason::QueueFull);
    // Patience zero: one try, as try_admit.
    let refused = rt
        .block_on(rt.admit(tenant, Class::Write).within(Duration::ZERO))
        .unwrap_err();
    assert_eq!(refused.reason(), RejectReason::QueueFull);
}

#[test]
fn shutdown_wakes_waiters_with_a_refusal() {
    let rt = Runtime::builder().workers(1).max_tasks(2).build().unwrap();
    let tenant = rt.tenant("t").unwrap();
    let _held = rt.try_admit(tenant, Class::Write).unwrap();
    // A task waits for the second place... which the test fills first.
    let _also_held = rt.try_admit(tenant, Class::Write).unwrap();
    let handle = rt.handle();
    let (started, waiting) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let admit = handle
            .admit(tenant, Class::Write)
            .within(Duration::from_secs(60));
        started.send(()).unwrap();
        futures::executor::block_on(admit)
    });
    waiting.recv().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert!(rt.shutdown_timeout(Duration::ZERO));
    let refused = waiter.join().unwrap().unwrap_err();
    assert_eq!(refused.reason(), RejectReason::ShuttingDown);
}

#[test]
fn waiting_tenants_are_served_by_share_not_by_arrival() {
    // The pool is past its reserve (half the bound), the heavy tenant
    // holding most of it. A heavy waiter asks first and keeps waiting, as
    // it holds more than its share; a light tenant asking after it is
    // admitted: waiters are served by share, not in order of arrival.
    let admission = AdmissionConfig::new().reserve(0.5).min_share_tasks(1);
    let rt = Runtime::builder()
        .workers(1)
        .max_tasks(8)
        .admission(admission)
        .build()
        .unwrap();
    let heavy = rt.tenant("heavy").unwrap();
    let light = rt.tenant("light").unwrap();
    let mut held: Vec<_> = (0..3)
        .map(|_| rt.try_admit(heavy, Class::Write).unwrap())
        .collect();
    let _light_held = rt.try_admit(light, Class::Write).unwrap();
    // 4 of 8 in flight: past the reserve, the heavy tenant (3 of 4) is over
    // its share and refused; the light one is not.
    assert_eq!(
        rt.try_admit(heavy, Class::Write).unwrap_err().reason(),
        RejectReason::OverShare
    );
    let handle = rt.handle();
    let heavy_waiter = {
        let handle = handle.clone();
        std::thread::spawn(move || {
            futures::executor::block_on(
                handle
                    .admit(heavy, Class::Write)
                    .within(Duration::from_millis(300)),
            )
        })
    };
    let light_permit = rt
        .block_on(
            rt.admit(light, Class::Write)
                .within(Duration::from_secs(10)),
        )
        .expect("the light tenant, within its share, is admitted");
    assert_eq!(light_permit.tenant(), light);
    // The heavy waiter is still refused while it holds more than its share.
    let heavy_result = heavy_waiter.join().unwrap();
    assert_eq!(heavy_result.unwrap_err().reason(), RejectReason::OverShare);
    held.clear();
}
