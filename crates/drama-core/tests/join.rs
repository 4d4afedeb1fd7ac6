//! Join: a task's output reaches its handle, on any thread.

mod common;

use std::sync::mpsc;
use std::thread;

use drama_core::{LocalExecutor, yield_now};
use futures::channel::oneshot;

#[test]
fn smoke() {
    let ex = LocalExecutor::new();
    let handle = ex.spawn(async { 40 + 2 }).unwrap();
    assert_eq!(ex.block_on(handle).unwrap(), 42);
    assert_eq!(ex.n_tasks(), 0);
}

#[test]
fn outputs_of_many_tasks() {
    let ex = LocalExecutor::new();
    let n = common::scaled(1000) as u64;
    let handles: Vec<_> = (0..n)
        .map(|i| {
            ex.spawn(async move {
                yield_now().await;
                i
            })
            .unwrap()
        })
        .collect();
    let sum = ex.block_on(async move {
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, n * (n - 1) / 2);
}

/// The executor runs on one thread; tasks are spawned from a second and
/// their outputs awaited on a third.
#[test]
fn value_crosses_threads() {
    let ex = LocalExecutor::new();
    let spawner = ex.spawner();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let executor = thread::spawn(move || {
        ex.block_on(stop_rx).unwrap();
    });

    let (handles_tx, handles_rx) = mpsc::channel();
    let spawning = thread::spawn(move || {
        for i in 0..common::scaled(100) {
            let handle = spawner
                .spawn(async move { (i, thread::current().id()) })
                .unwrap();
            handles_tx.send(handle).unwrap();
        }
    });

    let awaiting = thread::spawn(move || {
        let mut ran_on = Vec::new();
        for (expected, handle) in handles_rx.iter().enumerate() {
            let (i, thread_id) = futures::executor::block_on(handle).unwrap();
            assert_eq!(i, expected);
            ran_on.push(thread_id);
        }
        ran_on
    });

    spawning.join().unwrap();
    let ran_on = awaiting.join().unwrap();
    stop_tx.send(()).unwrap();
    let executor_id = executor.thread().id();
    executor.join().unwrap();
    assert_eq!(ran_on.len(), common::scaled(100));
    assert!(
        ran_on.iter().all(|&id| id == executor_id),
        "tasks ran only on the executor thread"
    );
}

#[test]
fn handle_reports_finished() {
    let ex = LocalExecutor::new();
    let handle = ex.spawn(async { 1 }).unwrap();
    assert!(!handle.is_finished());
    ex.block_on(yield_now());
    assert!(handle.is_finished());
    assert_eq!(ex.block_on(handle).unwrap(), 1);
}
