//! Abort: an aborted task's future is dropped exactly once, on the executor,
//! whatever state the task was in, and its handle says it was cancelled.

mod common;

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::thread;

use common::{DropCounter, Tracked};
use drama_core::{LocalExecutor, yield_now};
use futures::channel::oneshot;

#[test]
fn before_first_poll() {
    let ex = LocalExecutor::new();
    let drops = DropCounter::new();
    let polled = Arc::new(AtomicBool::new(false));
    let flag = polled.clone();
    let handle = ex
        .spawn(Tracked::new(&drops, async move {
            flag.store(true, Ordering::SeqCst);
        }))
        .unwrap();
    handle.abort();
    let err = ex.block_on(handle).unwrap_err();
    assert!(err.is_cancelled());
    assert!(
        !polled.load(Ordering::SeqCst),
        "an aborted task is never polled"
    );
    assert_eq!(drops.drops(), 1);
    assert_eq!(drops.drop_threads(), vec![thread::current().id()]);
}

#[test]
fn while_pending() {
    let ex = LocalExecutor::new();
    let drops = DropCounter::new();
    let (started_tx, started_rx) = oneshot::channel();
    let handle = ex
        .spawn(Tracked::new(&drops, async move {
            started_tx.send(()).unwrap();
            pending::<()>().await;
        }))
        .unwrap();
    ex.block_on(started_rx).unwrap();
    assert_eq!(drops.drops(), 0);

    handle.abort();
    let err = ex.block_on(handle).unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.to_string(), format!("task {} was cancelled", err.id()));
    assert_eq!(drops.drops(), 1);
    assert_eq!(drops.drop_threads(), vec![thread::current().id()]);
    assert_eq!(ex.n_tasks(), 0);
}

/// The task is inside its poll on the executor thread when another thread
/// aborts it. The poll finishes; the future is then dropped on the executor
/// thread, not on the aborting one.
#[test]
fn while_running_on_another_thread() {
    let ex = LocalExecutor::new();
    let drops = DropCounter::new();
    let running = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (running_in, release_in) = (running.clone(), release.clone());
    let mut polls = 0;
    let busy = std::future::poll_fn(move |_cx| {
        polls += 1;
        assert_eq!(polls, 1, "an aborted task is not polled again");
        running_in.store(true, Ordering::SeqCst);
        while !release_in.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        // Pending without arranging a wake-up: only the abort wakes us.
        Poll::<()>::Pending
    });
    let handle = ex.spawn(Tracked::new(&drops, busy)).unwrap();

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let executor = thread::spawn(move || ex.block_on(stop_rx).unwrap());
    while !running.load(Ordering::SeqCst) {
        thread::yield_now();
    }
    handle.abort();
    assert_eq!(
        drops.drops(),
        0,
        "the future is not dropped by the aborting thread"
    );
    release.store(true, Ordering::SeqCst);

    let err = futures::executor::block_on(handle).unwrap_err();
    assert!(err.is_cancelled());
    stop_tx.send(()).unwrap();
    let executor_id = executor.thread().id();
    executor.join().unwrap();
    assert_eq!(drops.drops(), 1);
    assert_eq!(drops.drop_threads(), vec![executor_id]);
}

#[test]
fn after_completion_keeps_the_output() {
    let ex = LocalExecutor::new();
    let handle = ex.spawn(async { 5 }).unwrap();
    ex.block_on(yield_now());
    assert!(handle.is_finished());
    handle.abort();
    assert_eq!(ex.block_on(handle).unwrap(), 5);
}

#[test]
fn twice_is_the_same_as_once() {
    let ex = LocalExecutor::new();
    let drops = DropCounter::new();
    let handle = ex.spawn(Tracked::new(&drops, pending::<()>())).unwrap();
    ex.block_on(yield_now());
    handle.abort();
    handle.abort();
    assert!(ex.block_on(handle).unwrap_err().is_cancelled());
    assert_eq!(drops.drops(), 1);
}

/// Aborting one task leaves the others alone.
#[test]
fn only_the_aborted_task_stops() {
    let ex = LocalExecutor::new();
    let victim = ex.spawn(pending::<()>()).unwrap();
    let survivor = ex
        .spawn(async {
            for _ in 0..10 {
                yield_now().await;
            }
            "done"
        })
        .unwrap();
    victim.abort();
    assert!(ex.block_on(victim).unwrap_err().is_cancelled());
    assert_eq!(ex.block_on(survivor).unwrap(), "done");
}

/// A handle can be sent to, and shared with, the thread that aborts the
/// task.
#[test]
fn handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let ex = LocalExecutor::new();
    let handle = ex.spawn(async { 1 }).unwrap();
    assert_send_sync(&handle);
    let shared = Arc::new(handle);
    let aborter = shared.clone();
    thread::spawn(move || aborter.abort()).join().unwrap();
    let handle = Arc::into_inner(shared).unwrap();
    // Aborted before it ever ran.
    assert!(ex.block_on(handle).unwrap_err().is_cancelled());
}
