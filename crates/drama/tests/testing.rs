//! The deterministic runtime finds real bugs: small programs with planted
//! bugs that a plain run on the real runtime passes are found within 100
//! seeds, the failing seed replays to the same failure, and the fixed
//! programs pass 1,000 seeds. And a run is a function of its seed.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use drama::testing::{FaultPlan, Schedule, Seeds, Target, TestRuntime, run_once};
use drama::{Class, Spawn};

/// How many seeds a planted bug must be found within.
const FIND_WITHIN: u64 = 100;
/// How many seeds a fixed program must pass.
const FIXED_PASSES: u64 = 1_000;

/// Finds the planted bug within `FIND_WITHIN` seeds, then replays the
/// failing seed alone and expects the same failure.
fn found_and_replayed<B, Fut>(seeds: Seeds, body: B) -> String
where
    B: Fn(TestRuntime) -> Fut + Clone,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let failed = seeds
        .clone()
        .count(FIND_WITHIN)
        .find_failure(body.clone())
        .expect("the planted bug is found within 100 seeds");
    let replayed = seeds
        .first(failed.seed)
        .count(1)
        .find_failure(body)
        .expect("the failing seed fails again");
    assert_eq!(replayed.seed, failed.seed);
    assert_eq!(
        replayed.report.trace_hash, failed.report.trace_hash,
        "another order"
    );
    assert_eq!(replayed.report.steps, failed.report.steps);
    assert_eq!(replayed.report.events, failed.report.events);
    failed.message
}

// A lost update: two tasks read a shared cache, await, and write back.

async fn bump_across_an_await(cache: Arc<Mutex<u32>>) {
    let seen = *cache.lock().unwrap();
    drama::yield_now().await; // e.g. a lookup elsewhere
    *cache.lock().unwrap() = seen + 1;
}

async fn bump_atomically(cache: Arc<Mutex<u32>>) {
    drama::yield_now().await;
    *cache.lock().unwrap() += 1;
}

fn two_bumps<F, Fut>(
    bump: F,
) -> impl Fn(TestRuntime) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Clone
where
    F: Fn(Arc<Mutex<u32>>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    move |rt: TestRuntime| {
        let bump = bump.clone();
        Box::pin(async move {
            let cache = Arc::new(Mutex::new(0));
            let a = rt.spawn(bump(cache.clone())).unwrap();
            let b = rt.spawn(bump(cache.clone())).unwrap();
            a.await.unwrap();
            b.await.unwrap();
            assert_eq!(*cache.lock().unwrap(), 2, "an update was lost");
        })
    }
}

#[test]
fn a_lost_update_across_an_await_is_found() {
    let failure = found_and_replayed(Seeds::new(), two_bumps(bump_across_an_await));
    assert!(failure.contains("an update was lost"), "{failure}");
    // PCT finds it too.
    let pct = Schedule::Pct {
        depth: 2,
        steps_hint: 8,
    };
    let failure = found_and_replayed(Seeds::new().schedule(pct), two_bumps(bump_across_an_await));
    assert!(failure.contains("an update was lost"), "{failure}");
    Seeds::new()
        .count(FIXED_PASSES)
        .run(two_bumps(bump_atomically));
}

// An error path that leaks an admission permit.

async fn serve(rt: TestRuntime, in_flight: Arc<Mutex<Vec<drama::testing::Permit>>>, fixed: bool) {
    let tenant = rt.tenant("acme");
    let Ok(permit) = rt.try_admit(tenant, Class::Write) else {
        return;
    };
    in_flight.lock().unwrap().push(permit);
    drama::yield_now().await;
    if drama::testing::fault_point("disk.write").is_err() && !fixed {
        // The bug: the error path returns with the permit still held.
        return;
    }
    in_flight.lock().unwrap().pop();
}

fn requests(
    fixed: bool,
) -> impl Fn(TestRuntime) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Clone
{
    move |rt: TestRuntime| {
        Box::pin(async move {
            let in_flight = Arc::new(Mutex::new(Vec::new()));
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    rt.spawn(serve(rt.clone(), in_flight.clone(), fixed))
                        .unwrap()
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            // The service's registry of requests in flight lives on (here:
            // a background task that holds it): the permits of requests
            // that never finished are still held when the body ends, and
            // the run reports them.
            let registry = in_flight.clone();
            drop(rt.spawn(async move {
                let _registry = registry;
                std::future::pending::<()>().await;
            }));
        })
    }
}

#[test]
fn a_permit_leaked_on_an_error_path_is_found() {
    let plan = FaultPlan::new().fault("disk.write", 0.2);
    let failure = found_and_replayed(Seeds::new().plan(plan.clone()), requests(false));
    assert!(failure.contains("permit"), "{failure}");
    Seeds::new()
        .count(FIXED_PASSES)
        .plan(plan)
        .run(requests(true));
}

// A task that assumes its spawn is never refused.

fn fan_out(
    fixed: bool,
) -> impl Fn(TestRuntime) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Clone
{
    move |rt: TestRuntime| {
        Box::pin(async move {
            let parent = async move {
                let mut sum = 0;
                for i in 0..4u32 {
                    let work = async move { i * 10 };
                    sum += if fixed {
                        // A refused spawn hands the future back: run it here.
                        match drama::spawn(work) {
                            Ok(child) => child.await.unwrap(),
                            Err(refused) => refused.into_inner().await,
                        }
                    } else {
                        drama::spawn(work).unwrap().await.unwrap()
                    };
                }
                sum
            };
            let sum = if fixed {
                match rt.spawn(parent) {
                    Ok(parent) => parent.await.unwrap(),
                    Err(refused) => refused.into_inner().await,
                }
            } else {
                rt.spawn(parent).unwrap().await.unwrap()
            };
            assert_eq!(sum, 60);
        })
    }
}

#[test]
fn a_task_that_assumes_its_spawn_is_never_refused_is_found() {
    let plan = FaultPlan::new().refuse_spawns(Target::class(Class::Compute), 0.1);
    let failure = found_and_replayed(Seeds::new().plan(plan.clone()), fan_out(false));
    assert!(
        failure.contains("panic") || failure.contains("Overloaded"),
        "{failure}"
    );
    Seeds::new()
        .count(FIXED_PASSES)
        .plan(plan)
        .run(fan_out(true));
}

// A waker lost on one path: the sender's error path stores the result but
// does not wake the receiver. A plain run would hang; the test runtime
// reports the deadlock and who waits.

#[derive(Default)]
struct Slot {
    value: Option<Result<u32, ()>>,
    waker: Option<Waker>,
}

struct Receive(Arc<Mutex<Slot>>);

impl std::future::Future for Receive {
    type Output = Result<u32, ()>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<u32, ()>> {
        let mut slot = self.0.lock().unwrap();
        match slot.value.take() {
            Some(value) => Poll::Ready(value),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

fn send(slot: &Arc<Mutex<Slot>>, fixed: bool) {
    let mut slot = slot.lock().unwrap();
    if drama::testing::fault_point("net.send").is_err() {
        slot.value = Some(Err(()));
        if !fixed {
            return; // the bug: nobody wakes the receiver
        }
    } else {
        slot.value = Some(Ok(7));
    }
    if let Some(waker) = slot.waker.take() {
        waker.wake();
    }
}

fn exchange(
    fixed: bool,
) -> impl Fn(TestRuntime) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Clone
{
    move |rt: TestRuntime| {
        Box::pin(async move {
            let slot = Arc::new(Mutex::new(Slot::default()));
            let receiver = rt
                .spawn_with(Spawn::new().name("receiver"), Receive(slot.clone()))
                .unwrap();
            let sender = rt
                .spawn(async move {
                    drama::yield_now().await;
                    send(&slot, fixed);
                })
                .unwrap();
            sender.await.unwrap();
            let _ = receiver.await.unwrap();
        })
    }
}

#[test]
fn a_lost_waker_is_reported_as_a_deadlock_with_who_waits() {
    let plan = FaultPlan::new().fault("net.send", 0.2);
    let failure = found_and_replayed(Seeds::new().plan(plan.clone()), exchange(false));
    assert!(failure.contains("deadlock"), "{failure}");
    assert!(failure.contains("\"receiver\""), "{failure}");
    Seeds::new()
        .count(FIXED_PASSES)
        .plan(plan)
        .run(exchange(true));
}

// Determinism, virtual time, attribution.

async fn busy(rt: TestRuntime) -> u32 {
    let tenants = [rt.tenant("a"), rt.tenant("b")];
    let tasks: Vec<_> = (0..8u32)
        .map(|i| {
            let spec = Spawn::new().tenant(tenants[i as usize % 2]);
            rt.spawn_with(spec, async move {
                for _ in 0..3 {
                    drama::yield_now().await;
                }
                i
            })
            .unwrap()
        })
        .collect();
    let mut sum = 0;
    for task in tasks {
        sum += task.await.unwrap();
    }
    sum
}

#[test]
fn the_same_seed_gives_the_same_polls_in_the_same_order() {
    let plan = || FaultPlan::new().extra_yields(0.2).spurious_wakes(0.2);
    let (a, first) = run_once(42, Schedule::Random, plan(), busy);
    let (b, second) = run_once(42, Schedule::Random, plan(), busy);
    assert_eq!((a, b), (28, 28));
    assert_eq!(first.trace_hash, second.trace_hash);
    assert_eq!(first.steps, second.steps);
    assert_eq!(first.events, second.events);
    // Other seeds order the polls otherwise.
    let hashes: std::collections::HashSet<u64> = (0..10)
        .map(|seed| run_once(seed, Schedule::Random, plan(), busy).1.trace_hash)
        .collect();
    assert!(
        hashes.len() >= 5,
        "{} distinct orders in 10 seeds",
        hashes.len()
    );
}

#[test]
fn virtual_time_jumps_when_every_task_sleeps() {
    let (order, report) = run_once(1, Schedule::Random, FaultPlan::new(), |rt| async move {
        let order = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = [30u64, 10, 20]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                rt.spawn(async move {
                    drama::testing::sleep(Duration::from_millis(ms)).await;
                    order.lock().unwrap().push(ms);
                })
                .unwrap()
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        // 30 ms of sleep, plus the polls' own virtual cost (10 µs each).
        assert!(rt.now() >= Duration::from_millis(30), "{:?}", rt.now());
        assert!(rt.now() < Duration::from_millis(31), "{:?}", rt.now());
        order.lock().unwrap().clone()
    });
    assert_eq!(order, [10, 20, 30]);
    assert!(report.events.is_empty());
}

#[test]
fn injected_faults_say_where_and_when() {
    let plan = FaultPlan::new()
        .refuse_spawns(Target::any(), 0.5)
        .panics(Target::named("doomed"), 1.0);
    let ((), report) = run_once(3, Schedule::Random, plan, |rt| async move {
        let doomed = rt.spawn_with(Spawn::new().name("doomed"), async {});
        if let Ok(doomed) = doomed {
            assert!(doomed.await.unwrap_err().is_panic());
        }
        for _ in 0..8 {
            let _ = rt.spawn(async {});
        }
    });
    let rules: Vec<&str> = report.events.iter().map(|e| e.rule.as_str()).collect();
    assert!(rules.contains(&"refused spawn"), "{rules:?}");
    for event in &report.events {
        let line = event.to_string();
        assert!(line.starts_with("step "), "{line}");
        assert!(line.contains("tenant 0"), "{line}");
        if event.rule == "panic" {
            assert!(line.contains("\"doomed\""), "{line}");
        }
    }
}

#[test]
fn fault_points_outside_a_run_are_ok() {
    assert!(drama::testing::fault_point("disk.write").is_ok());
}

#[test]
fn the_fair_schedule_shares_polls_by_weight() {
    // Two tenants, weights 1:3, four looping tasks each: drama's own fair
    // queue gives the heavier one three polls in four, deterministically.
    for perturb in [0.0, 0.05] {
        let ((a, b), _) = run_once(
            7,
            Schedule::Fair { perturb },
            FaultPlan::new(),
            |rt| async move {
                let (light, heavy) = (rt.tenant("light"), rt.tenant("heavy"));
                rt.set_weight(light, 100).unwrap();
                rt.set_weight(heavy, 300).unwrap();
                let total = Arc::new(Mutex::new(0u32));
                let counts = [Arc::new(Mutex::new(0u32)), Arc::new(Mutex::new(0u32))];
                let tasks: Vec<_> = (0..8)
                    .map(|i| {
                        let (total, count) = (total.clone(), counts[i % 2].clone());
                        let tenant = [light, heavy][i % 2];
                        rt.spawn_with(Spawn::new().tenant(tenant), async move {
                            loop {
                                {
                                    let mut total = total.lock().unwrap();
                                    if *total >= 4_000 {
                                        return;
                                    }
                                    *total += 1;
                                }
                                *count.lock().unwrap() += 1;
                                drama::yield_now().await;
                            }
                        })
                        .unwrap()
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                let [a, b] = counts.map(|c| *c.lock().unwrap());
                (a, b)
            },
        );
        let share = f64::from(b) / f64::from(a + b);
        assert!(
            (share - 0.75).abs() < 0.05,
            "heavy got {share} (perturb {perturb})"
        );
    }
}

// A caller that assumes a task with a deadline always runs.

fn lookup(
    fixed: bool,
) -> impl Fn(TestRuntime) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Clone
{
    move |rt: TestRuntime| {
        Box::pin(async move {
            let spec = Spawn::new()
                .timeout(Duration::from_millis(50))
                .name("lookup");
            let task = rt.spawn_with(spec, async { 42 }).unwrap();
            let value = match task.await {
                Ok(value) => value,
                // Too late to be worth running: answer from elsewhere.
                Err(error) if fixed && error.is_expired() => 42,
                Err(error) => panic!("lookup failed: {error}"),
            };
            assert_eq!(value, 42);
        })
    }
}

#[test]
fn an_expiry_nobody_handles_is_found() {
    let plan = FaultPlan::new().expire_early(Target::any(), 0.1);
    let failure = found_and_replayed(Seeds::new().plan(plan.clone()), lookup(false));
    assert!(failure.contains("lookup failed"), "{failure}");
    Seeds::new()
        .count(FIXED_PASSES)
        .plan(plan)
        .run(lookup(true));
}

#[test]
fn delayed_wakes_reorder_messages_and_lose_none() {
    // Four producers send over a channel whose messages arrive late, in
    // another order; all arrive, and a run replays.
    let plan = || FaultPlan::new().delay_wakes(0.5, 20);
    let body = |rt: TestRuntime| async move {
        let (sender, receiver) = std::sync::mpsc::channel();
        let tasks: Vec<_> = (0..4u32)
            .map(|i| {
                let sender = sender.clone();
                rt.spawn(async move {
                    drama::yield_now().await;
                    sender.send(i).unwrap();
                })
                .unwrap()
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let mut got: Vec<u32> = receiver.try_iter().collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2, 3]);
    };
    let ((), first) = run_once(5, Schedule::Fair { perturb: 0.0 }, plan(), body);
    let ((), again) = run_once(5, Schedule::Fair { perturb: 0.0 }, plan(), body);
    assert!(first.events.iter().any(|e| e.rule == "delayed wake"));
    assert_eq!(first.trace_hash, again.trace_hash);
    assert_eq!(first.events, again.events);
}

#[test]
fn a_waiting_admission_retries_on_virtual_time() {
    // Admission refused half the time: a waiting caller is admitted within
    // its patience on most seeds, and told no after it on the others; no
    // real time passes either way.
    let plan = FaultPlan::new().refuse_admission(Target::any(), 0.5);
    let (outcomes, _) = run_once(9, Schedule::Random, plan, |rt| async move {
        let tenant = rt.tenant("acme");
        let mut outcomes = Vec::new();
        for _ in 0..20 {
            let start = rt.now();
            let admitted = rt
                .admit(tenant, Class::Accept, Duration::from_millis(5))
                .await
                .is_ok();
            let waited = rt.now() - start;
            outcomes.push((admitted, waited));
        }
        outcomes
    });
    assert!(outcomes.iter().any(|&(ok, _)| ok));
    assert!(
        outcomes
            .iter()
            .any(|&(_, waited)| waited >= drama::testing::ADMIT_RETRY)
    );
    for (admitted, waited) in outcomes {
        // Told no only once the patience has passed.
        assert!(admitted || waited >= Duration::from_millis(5), "{waited:?}");
    }
}
