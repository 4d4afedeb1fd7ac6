//! Deadlines: a task whose deadline passed before its first poll is never
//! polled; its future is dropped exactly once and its handle says it
//! expired. A task that started before its deadline runs to completion.
//!
//! No assertion here depends on how fast the machine is: deadlines are far
//! in the past or far in the future, or the test waits for a deadline to
//! pass before it takes the next step.

mod common;

use std::future::{pending, poll_fn};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use common::{DropCounter, Tracked};
use drama_core::{
    Class, JoinError, LocalExecutor, Spawn, TaskGuard, TaskMeta, TenantId, current, new_task,
    yield_now,
};
use futures::channel::oneshot;

/// A day before now: before the clock's origin in any test process, so it
/// also covers deadlines the clock cannot express. (Where `Instant` cannot
/// go back that far, now: a deadline at the spawn has passed too.)
fn long_ago() -> Instant {
    let now = Instant::now();
    now.checked_sub(Duration::from_secs(24 * 3600))
        .unwrap_or(now)
}

/// Far enough that no test outlives it.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

/// The difference of two instants, whichever comes first.
fn distance(a: Instant, b: Instant) -> Duration {
    a.saturating_duration_since(b)
        .max(b.saturating_duration_since(a))
}

/// How far a deadline read back through `TaskMeta::deadline` may be from
/// the one given: the clock conversions (TSC to `Instant`) are accurate to
/// microseconds over the spans these tests see.
const READBACK_SLACK: Duration = Duration::from_millis(1);

/// A future that must never be polled, carrying a drop counter's token.
fn never_polled(drops: &DropCounter) -> Tracked<impl Future<Output = u32> + use<>> {
    Tracked::new(
        drops,
        poll_fn(|_cx| -> Poll<u32> { panic!("an expired task was polled") }),
    )
}

fn assert_expired(err: &JoinError) {
    assert!(err.is_expired(), "{err:?}");
    assert!(!err.is_cancelled(), "an expiry is not a cancellation");
    assert!(!err.is_panic(), "an expiry is not a panic");
}

#[test]
fn an_expired_task_is_never_polled_and_dropped_once() {
    let ex = LocalExecutor::new();
    let drops = DropCounter::new();
    let handle = ex
        .spawn_with(Spawn::new().deadline(long_ago()), never_polled(&drops))
        .unwrap();
    let id = handle.id();
    let err = ex.block_on(handle).unwrap_err();
    assert_expired(&err);
    assert_eq!(err.id(), id);
    assert_eq!(drops.drops(), 1);
    // Dropped on the executor, by what would have been the first poll.
    assert_eq!(drops.drop_threads(), vec![thread::current().id()]);
    assert_eq!(ex.n_tasks(), 0);
}

#[test]
fn an_expiry_is_neither_a_panic_nor_a_cancellation() {
    let ex = LocalExecutor::new();
    let handle = ex
        .spawn_with(Spawn::new().deadline(long_ago()), async { 1 })
        .unwrap();
    let err = ex.block_on(handle).unwrap_err();
    assert_expired(&err);
    assert_eq!(
        err.to_string(),
        format!(
            "task {} expired: its deadline passed before it started",
            err.id()
        )
    );
    assert_eq!(
        format!("{err:?}"),
        format!("JoinError::Expired({:?})", err.id())
    );
    let err = err.try_into_panic().unwrap_err();
    assert!(err.is_expired(), "try_into_panic hands the error back");
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert!(boxed.to_string().contains("expired"));
}

#[test]
fn a_task_before_its_deadline_runs() {
    let ex = LocalExecutor::new();
    let at = far_future();
    let handle = ex
        .spawn_with(Spawn::new().deadline(at), async {
            current().unwrap().deadline()
        })
        .unwrap();
    let deadline = ex
        .block_on(handle)
        .unwrap()
        .expect("the task has a deadline");
    assert!(
        distance(deadline, at) < READBACK_SLACK,
        "{deadline:?} vs {at:?}"
    );
}

/// The deadline is checked before the first poll only: a task that started
/// in time and is still running when its deadline passes completes.
///
/// The first poll has to come before the deadline, which no timeout is
/// short enough to guarantee on a busy machine; so the test tries longer
/// timeouts until one works (a task that expired first says so), and then
/// waits, with no bound, for the deadline to pass before waking the task.
#[test]
fn a_task_that_started_in_time_runs_past_its_deadline() {
    let ex = LocalExecutor::new();
    let drops = DropCounter::new();
    for timeout_ms in [20, 200, 2_000, 20_000] {
        let polls = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = oneshot::channel::<Instant>();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let counted = Arc::clone(&polls);
        let mut started_tx = Some(started_tx);
        let mut go_rx = go_rx;
        let task = poll_fn(move |cx| {
            counted.fetch_add(1, Ordering::SeqCst);
            if let Some(tx) = started_tx.take() {
                let deadline = current().unwrap().deadline().unwrap();
                tx.send(deadline).unwrap();
            }
            std::pin::Pin::new(&mut go_rx).poll(cx).map(|_| "finished")
        });
        let handle = ex
            .spawn_with(
                Spawn::new().timeout(Duration::from_millis(timeout_ms)),
                Tracked::new(&drops, task),
            )
            .unwrap();
        let deadline = match ex.block_on(started_rx) {
            Ok(deadline) => deadline,
            Err(_) => {
                // Not started in time: expired without a poll. Try longer.
                assert_expired(&ex.block_on(handle).unwrap_err());
                assert_eq!(polls.load(Ordering::SeqCst), 0);
                continue;
            }
        };
        while Instant::now() < deadline + READBACK_SLACK {
            thread::sleep(Duration::from_millis(1));
        }
        go_tx.send(()).unwrap();
        assert_eq!(ex.block_on(handle).unwrap(), "finished");
        assert_eq!(polls.load(Ordering::SeqCst), 2, "polled again, late");
        return;
    }
    panic!("no first poll came within 20 s of its spawn");
}

#[test]
fn an_instant_far_in_the_future_is_a_deadline_that_never_passes() {
    let ex = LocalExecutor::new();
    let century = Duration::from_secs(100 * 365 * 24 * 3600);
    let at = Instant::now()
        .checked_add(century)
        .unwrap_or_else(far_future);
    let handle = ex
        .spawn_with(Spawn::new().deadline(at), async { current().unwrap() })
        .unwrap();
    let meta = ex.block_on(handle).unwrap();
    let deadline = meta.deadline().expect("a century is still a deadline");
    assert!(distance(deadline, at) < READBACK_SLACK);
}

#[test]
fn timeout_max_means_no_deadline() {
    let ex = LocalExecutor::new();
    let handle = ex
        .spawn_with(Spawn::new().timeout(Duration::MAX), async {
            current().unwrap().deadline()
        })
        .unwrap();
    assert_eq!(ex.block_on(handle).unwrap(), None);

    // The last of `deadline` and `timeout` wins: `Duration::MAX` clears a
    // deadline that would have expired the task.
    let handle = ex
        .spawn_with(
            Spawn::new().deadline(long_ago()).timeout(Duration::MAX),
            async { 7 },
        )
        .unwrap();
    assert_eq!(ex.block_on(handle).unwrap(), 7);

    // And the other way round.
    let drops = DropCounter::new();
    let handle = ex
        .spawn_with(
            Spawn::new().timeout(Duration::MAX).deadline(long_ago()),
            never_polled(&drops),
        )
        .unwrap();
    assert_expired(&ex.block_on(handle).unwrap_err());
    assert_eq!(drops.drops(), 1);
}

#[test]
fn timeout_zero_expires() {
    let ex = LocalExecutor::new();
    let drops = DropCounter::new();
    let handle = ex
        .spawn_with(Spawn::new().timeout(Duration::ZERO), never_polled(&drops))
        .unwrap();
    assert_expired(&ex.block_on(handle).unwrap_err());
    assert_eq!(drops.drops(), 1);
}

/// A timeout is resolved when the task is created, so one spec serves many
/// spawns, each with its own deadline.
#[test]
fn timeout_is_relative_to_the_spawn() {
    let ex = LocalExecutor::new();
    let hour = Duration::from_secs(3600);
    let spec = Spawn::new().timeout(hour);
    for _ in 0..3 {
        let handle = ex
            .spawn_with(spec.clone(), async { current().unwrap() })
            .unwrap();
        let meta = ex.block_on(handle).unwrap();
        let deadline = meta.deadline().unwrap();
        assert!(
            distance(deadline, meta.spawned_at() + hour) < READBACK_SLACK,
            "deadline {deadline:?}, spawned at {:?}",
            meta.spawned_at()
        );
    }
}

/// A deadline that had passed at the spawn is kept as the clock's origin:
/// still a deadline, and earlier than the spawn.
#[test]
fn a_deadline_passed_at_spawn_reads_as_before_the_spawn() {
    let (runnable, handle) = new_task(
        Spawn::new().deadline(long_ago()),
        async {},
        |_runnable, _info| {},
        (),
    );
    let meta = runnable.meta();
    let deadline = meta.deadline().expect("a passed deadline is a deadline");
    assert!(deadline <= meta.spawned_at());
    // Never scheduled: dropping the runnable cancels the task.
    drop(runnable);
    assert!(
        futures::executor::block_on(handle)
            .unwrap_err()
            .is_cancelled()
    );
}

#[test]
fn a_child_does_not_inherit_the_deadline() {
    let ex = LocalExecutor::new();
    let spawner = ex.spawner();
    let parent = ex
        .spawn_with(
            Spawn::new().tenant(TenantId::new(4)).deadline(far_future()),
            async move {
                // A child spawned to finish the parent's work runs whatever
                // the parent's deadline; it keeps the tenant and class.
                let child = spawner.spawn(async { current().unwrap() }).unwrap();
                let child = child.await.unwrap();
                // A child given a deadline of its own is held to it.
                let late = spawner
                    .spawn_with(Spawn::new().deadline(long_ago()), async {})
                    .unwrap();
                (child, late.await.unwrap_err())
            },
        )
        .unwrap();
    let (child, late) = ex.block_on(parent).unwrap();
    assert_eq!(child.deadline(), None);
    assert_eq!(child.tenant(), TenantId::new(4));
    assert_expired(&late);
}

#[test]
fn aborting_an_expired_task_is_harmless() {
    let ex = LocalExecutor::new();

    // After it expired: the handle still says expired, nothing is dropped
    // twice.
    let drops = DropCounter::new();
    let handle = ex
        .spawn_with(Spawn::new().deadline(long_ago()), never_polled(&drops))
        .unwrap();
    // One tick of the executor runs (expires) the task.
    ex.block_on(yield_now());
    assert!(handle.is_finished());
    handle.abort();
    handle.abort();
    assert_expired(&ex.block_on(handle).unwrap_err());
    assert_eq!(drops.drops(), 1);

    // Before its first poll: the abort, the caller's own word, wins.
    let drops = DropCounter::new();
    let handle = ex
        .spawn_with(Spawn::new().deadline(long_ago()), never_polled(&drops))
        .unwrap();
    handle.abort();
    let err = ex.block_on(handle).unwrap_err();
    assert!(err.is_cancelled() && !err.is_expired(), "{err:?}");
    assert_eq!(drops.drops(), 1);
    assert_eq!(ex.n_tasks(), 0);
}

/// An executor dropped before an expired task's first poll cancels it, as
/// it does every task it never ran.
#[test]
fn shutdown_before_the_first_poll_cancels() {
    let ex = LocalExecutor::new();
    let drops = DropCounter::new();
    let handle = ex
        .spawn_with(Spawn::new().deadline(long_ago()), never_polled(&drops))
        .unwrap();
    drop(ex);
    assert_eq!(drops.drops(), 1);
    assert!(
        futures::executor::block_on(handle)
            .unwrap_err()
            .is_cancelled()
    );
}

/// Spawned from another thread (the injector path), an expired task
/// expires just the same.
#[test]
fn remote_spawns_expire_too() {
    let ex = LocalExecutor::new();
    let spawner = ex.spawner();
    let drops = DropCounter::new();
    let remote_drops = drops.clone();
    let handle = thread::spawn(move || {
        spawner
            .spawn_with(
                Spawn::new().deadline(long_ago()),
                never_polled(&remote_drops),
            )
            .unwrap()
    })
    .join()
    .unwrap();
    assert_expired(&ex.block_on(handle).unwrap_err());
    assert_eq!(drops.drops(), 1);
    assert_eq!(drops.drop_threads(), vec![thread::current().id()]);
    assert_eq!(ex.n_tasks(), 0);
}

/// Many expired and live tasks, interleaved: each expired one is dropped
/// once and never polled; each live one runs.
#[test]
fn many() {
    let ex = LocalExecutor::new();
    let drops = DropCounter::new();
    let n = common::scaled(1000);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let spec = if i % 2 == 0 {
                Spawn::new().deadline(long_ago())
            } else {
                Spawn::new().deadline(far_future())
            };
            let future: std::pin::Pin<Box<dyn Future<Output = u32> + Send>> = if i % 2 == 0 {
                Box::pin(never_polled(&drops))
            } else {
                Box::pin(Tracked::new(&drops, async move {
                    yield_now().await;
                    u32::try_from(i).unwrap()
                }))
            };
            ex.spawn_with(spec, future).unwrap()
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        match ex.block_on(handle) {
            Ok(value) => assert_eq!((i % 2, value as usize), (1, i)),
            Err(err) => {
                assert_eq!(i % 2, 0);
                assert_expired(&err);
            }
        }
    }
    assert_eq!(drops.drops(), n);
    assert_eq!(ex.n_tasks(), 0);
}

/// What an executor's guard hears of an expiry: once, with the task's
/// metadata, after the future was dropped and before the guard is.
#[derive(Clone, Default)]
struct Heard {
    events: Arc<Mutex<Vec<String>>>,
}

struct Guard {
    heard: Heard,
    drops: DropCounter,
}

impl TaskGuard for Guard {
    fn on_expired(&mut self, meta: &TaskMeta) {
        self.heard.events.lock().unwrap().push(format!(
            "expired {:?} {:?} after {} drops",
            meta.tenant(),
            meta.class(),
            self.drops.drops()
        ));
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.heard
            .events
            .lock()
            .unwrap()
            .push("guard dropped".into());
    }
}

#[test]
fn the_guard_hears_of_an_expiry_once() {
    let heard = Heard::default();
    let drops = DropCounter::new();
    let (queue, ready) = mpsc::channel();
    let schedule = move |runnable, _info| queue.send(runnable).unwrap();
    let (runnable, handle) = new_task(
        Spawn::new()
            .tenant(TenantId::new(5))
            .class(Class::Read)
            .deadline(long_ago()),
        never_polled(&drops),
        schedule.clone(),
        Guard {
            heard: heard.clone(),
            drops: drops.clone(),
        },
    );
    assert!(
        runnable.meta().deadline().is_some(),
        "a scheduler sees the deadline in the runnable's metadata"
    );
    runnable.schedule();
    ready.recv().unwrap().run();
    assert_expired(&futures::executor::block_on(handle).unwrap_err());
    assert_eq!(
        *heard.events.lock().unwrap(),
        vec![
            format!(
                "expired {:?} {:?} after 1 drops",
                TenantId::new(5),
                Class::Read
            ),
            "guard dropped".to_string(),
        ]
    );

    // A task that runs, and one that is aborted, are not expiries.
    let heard = Heard::default();
    for abort in [false, true] {
        let (runnable, handle) = new_task(
            Spawn::new().deadline(far_future()),
            pending::<()>(),
            schedule.clone(),
            Guard {
                heard: heard.clone(),
                drops: DropCounter::new(),
            },
        );
        if abort {
            handle.abort();
        }
        runnable.run();
        if !abort {
            handle.abort();
        }
        while let Ok(runnable) = ready.try_recv() {
            runnable.run();
        }
        assert!(
            futures::executor::block_on(handle)
                .unwrap_err()
                .is_cancelled()
        );
    }
    assert_eq!(
        *heard.events.lock().unwrap(),
        vec!["guard dropped".to_string(), "guard dropped".to_string()]
    );
}
