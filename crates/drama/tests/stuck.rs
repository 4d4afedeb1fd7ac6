//! Workers stuck in blocking code are replaced: with every worker blocked
//! forever (until the test releases them), other tasks still complete.
//!
//! The runtimes here have admission control off: while workers are stuck
//! the pool drains nothing, and admission rightly refuses new work until
//! they are replaced (the wait it predicts is the stuck polls' length).
//! These tests are about the replacement, and their spawns must all land.

use std::future::Future;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use drama::Runtime;
use drama::admission::AdmissionConfig;

#[test]
fn stuck_workers_are_replaced() {
    let rt = Runtime::builder()
        .admission(AdmissionConfig::off())
        .workers(2)
        .max_threads(6)
        .stuck_threshold(Duration::from_millis(20))
        .build()
        .unwrap();
    let (release, blocked) = mpsc::channel::<()>();
    let blocked = std::sync::Arc::new(std::sync::Mutex::new(blocked));
    let (started_tx, started) = mpsc::channel();
    // Block both workers inside a poll until released.
    let blockers: Vec<_> = (0..2)
        .map(|_| {
            let blocked = blocked.clone();
            let started_tx = started_tx.clone();
            rt.spawn(async move {
                started_tx.send(()).unwrap();
                // A blocking receive inside a poll: what a stuck worker is.
                let _ = blocked.lock().unwrap().recv();
            })
            .unwrap()
        })
        .collect();
    // Wait until a blocker is running (the second one may be stuck behind
    // the first's lock, or queued on a stuck worker: both are stuck work).
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    // Other tasks still complete.
    let t0 = Instant::now();
    let handles: Vec<_> = (0..100)
        .map(|i| rt.spawn(async move { i }).unwrap())
        .collect();
    let sum: usize = handles.into_iter().map(|h| rt.block_on(h).unwrap()).sum();
    assert_eq!(sum, 99 * 100 / 2);
    assert!(rt.n_replaced() >= 1, "no worker was replaced");
    assert!(rt.n_threads() <= 6);
    // Release the blockers: the extra threads retire, the pool is back to
    // size.
    drop(release);
    for h in blockers {
        rt.block_on(h).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt.n_threads() > 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(rt.n_threads(), 2, "retired threads did not exit");
    let _ = t0;
    assert!(rt.shutdown_timeout(Duration::from_secs(5)));
}

#[test]
fn thread_bound_holds() {
    // More stuck tasks than max_threads allows: the bound is never passed.
    let rt = Runtime::builder()
        .admission(AdmissionConfig::off())
        .workers(1)
        .max_threads(3)
        .stuck_threshold(Duration::from_millis(10))
        .build()
        .unwrap();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Arc::new(std::sync::Mutex::new(release_rx));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let rx = release_rx.clone();
            rt.spawn(async move {
                let _ = rx.lock().unwrap().recv();
            })
            .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline {
        assert!(rt.n_threads() <= 3);
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(release_tx);
    for h in handles {
        rt.block_on(h).unwrap();
    }
}

/// How long a stuck task waits for the work it created before the test
/// calls it lost: far beyond the stuck threshold plus a balancing interval
/// (tens of milliseconds), so that only work that never leaves the stuck
/// thread fails it, never a slow machine.
const PATIENCE: Duration = Duration::from_secs(10);

fn one_stuck_worker() -> Runtime {
    Runtime::builder()
        .admission(AdmissionConfig::off())
        .workers(2)
        .max_threads(6)
        .stuck_threshold(Duration::from_millis(10))
        .build()
        .unwrap()
}

/// Spawns a child, then blocks the worker until the child reports that it
/// ran (or `PATIENCE` passes): whether it ran while its parent was stuck.
fn spawn_a_child_and_block_until_it_runs() -> bool {
    let (ran, child_ran) = mpsc::channel();
    drop(
        drama::spawn(async move {
            // The parent may have given up: no second panic.
            let _ = ran.send(());
        })
        .unwrap(),
    );
    child_ran.recv_timeout(PATIENCE).is_ok()
}

fn child_ran_while_parent_stuck(rt: &Runtime, parent: drama::JoinHandle<bool>) {
    assert!(
        rt.block_on(parent).unwrap(),
        "the child waited for its stuck parent's poll to end"
    );
    assert!(rt.n_replaced() >= 1, "the stuck worker was not replaced");
}

#[test]
fn a_child_spawned_by_a_stuck_task_runs_while_it_is_stuck() {
    // The parent spawns a child, then blocks its worker until the child
    // reports that it ran. The child sits in the stuck thread's buffers
    // unless the pool gets it to a live worker.
    let rt = one_stuck_worker();
    let parent = rt
        .spawn(async { spawn_a_child_and_block_until_it_runs() })
        .unwrap();
    child_ran_while_parent_stuck(&rt, parent);
}

#[test]
fn a_task_woken_by_a_stuck_task_runs_while_it_is_stuck() {
    // A task waits on a channel; the parent sends (a wake on the worker
    // thread, which would go to its hand-off slot), then blocks until the
    // woken task reports.
    let rt = one_stuck_worker();
    let (send, mut receive) = futures::channel::oneshot::channel::<()>();
    let (polled, first_poll) = mpsc::channel();
    let (ran, woken_ran) = mpsc::channel();
    let waiter = rt
        .spawn(async move {
            // Say when the receiver is registered (its first poll), so that
            // the send below is a wake, not a value found ready.
            let mut first = Some(polled);
            std::future::poll_fn(|cx| {
                let ready = std::pin::Pin::new(&mut receive).poll(cx);
                if let Some(polled) = first.take() {
                    polled.send(()).unwrap();
                }
                ready
            })
            .await
            .unwrap();
            let _ = ran.send(());
        })
        .unwrap();
    first_poll.recv_timeout(PATIENCE).unwrap();
    let parent = rt
        .spawn(async move {
            send.send(()).unwrap();
            woken_ran.recv_timeout(PATIENCE).is_ok()
        })
        .unwrap();
    assert!(
        rt.block_on(parent).unwrap(),
        "the woken task waited for its stuck waker's poll to end"
    );
    rt.block_on(waiter).unwrap();
}

#[test]
fn work_created_after_the_worker_was_replaced_runs_while_it_is_stuck() {
    // The parent is stuck long enough to be replaced first, and only then
    // spawns: its thread no longer owns a slot, and the child must still
    // reach one.
    let rt = one_stuck_worker();
    let parent = rt
        .spawn(async {
            let replaced_by = Instant::now() + Duration::from_millis(200);
            while Instant::now() < replaced_by {
                std::thread::sleep(Duration::from_millis(5));
            }
            spawn_a_child_and_block_until_it_runs()
        })
        .unwrap();
    child_ran_while_parent_stuck(&rt, parent);
}

#[test]
fn a_task_stuck_through_shutdown_is_cancelled_when_its_poll_returns() {
    // Shutdown gives up on a poll that does not return (it detaches the
    // thread). When the poll does return, later, with the task pending, the
    // task must still be cancelled: its future dropped, its handle
    // resolved, whatever the stuck thread still held (here, the task
    // itself, woken by its own late registration) not stranded.
    struct Dropped(mpsc::Sender<()>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let rt = one_stuck_worker();
    let (release, blocked) = mpsc::channel::<()>();
    let (started, running) = mpsc::channel();
    let (dropped, future_dropped) = mpsc::channel();
    let stuck = rt
        .spawn(async move {
            let _dropped = Dropped(dropped);
            started.send(()).unwrap();
            let _ = blocked.recv();
            // Back from the blocking call after shutdown: wait forever.
            std::future::pending::<()>().await;
        })
        .unwrap();
    running.recv_timeout(PATIENCE).unwrap();
    assert!(
        !rt.shutdown_timeout(Duration::from_millis(20)),
        "a thread stuck in a poll cannot be joined"
    );
    release.send(()).unwrap();
    future_dropped
        .recv_timeout(PATIENCE)
        .expect("the stuck task's future was never dropped");
    assert!(
        futures::executor::block_on(stuck)
            .unwrap_err()
            .is_cancelled()
    );
}
