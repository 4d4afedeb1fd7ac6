//! Detach: dropping a JoinHandle lets the task run to completion.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use drama_core::{LocalExecutor, yield_now};
use futures::channel::oneshot;

#[test]
fn detached_task_runs_to_completion() {
    let ex = LocalExecutor::new();
    let (done_tx, done_rx) = oneshot::channel();
    let handle = ex
        .spawn(async move {
            for _ in 0..10 {
                yield_now().await;
            }
            done_tx.send("finished").unwrap();
        })
        .unwrap();
    drop(handle);
    assert_eq!(ex.block_on(done_rx).unwrap(), "finished");
    assert_eq!(ex.n_tasks(), 0);
}

#[test]
fn detached_from_another_thread() {
    let ex = LocalExecutor::new();
    let spawner = ex.spawner();
    let count = Arc::new(AtomicUsize::new(0));
    let n = common::scaled(100);
    let (done_tx, done_rx) = oneshot::channel();
    let counter = count.clone();
    thread::spawn(move || {
        let done_tx = Arc::new(std::sync::Mutex::new(Some(done_tx)));
        for _ in 0..n {
            let (counter, done_tx) = (counter.clone(), done_tx.clone());
            // Spawned and immediately detached.
            let handle = spawner
                .spawn(async move {
                    yield_now().await;
                    if counter.fetch_add(1, Ordering::SeqCst) + 1 == n {
                        done_tx.lock().unwrap().take().unwrap().send(()).unwrap();
                    }
                })
                .unwrap();
            drop(handle);
        }
    })
    .join()
    .unwrap();
    ex.block_on(done_rx).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), n);
}
