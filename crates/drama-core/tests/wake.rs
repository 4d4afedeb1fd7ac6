//! Wake from another thread: a parked executor wakes promptly when a task is
//! woken, or spawned, from another thread.

mod common;

use std::thread;
use std::time::Duration;

use drama_core::LocalExecutor;
use futures::StreamExt;
use futures::channel::{mpsc, oneshot};

#[test]
fn task_woken_from_another_thread() {
    let ex = LocalExecutor::new();
    let (tx, rx) = oneshot::channel();
    let handle = ex.spawn(async move { rx.await.unwrap() }).unwrap();
    let sender = thread::spawn(move || {
        // Long enough for the executor to run out of work and park.
        thread::sleep(Duration::from_millis(20));
        tx.send("hello").unwrap();
    });
    assert_eq!(ex.block_on(handle).unwrap(), "hello");
    sender.join().unwrap();
}

#[test]
fn main_future_woken_from_another_thread() {
    let ex = LocalExecutor::new();
    let (tx, rx) = oneshot::channel();
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        tx.send(5).unwrap();
    });
    assert_eq!(ex.block_on(rx).unwrap(), 5);
    sender.join().unwrap();
}

/// The executor thread parks inside `block_on`; a spawn from another thread
/// wakes it and the task runs.
#[test]
fn spawn_from_another_thread_wakes_the_executor() {
    let ex = LocalExecutor::new();
    let spawner = ex.spawner();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let executor = thread::spawn(move || ex.block_on(stop_rx).unwrap());
    thread::sleep(Duration::from_millis(20));
    for i in 0..common::scaled(100) {
        let handle = spawner.spawn(async move { i * 2 }).unwrap();
        assert_eq!(futures::executor::block_on(handle).unwrap(), i * 2);
    }
    stop_tx.send(()).unwrap();
    executor.join().unwrap();
}

/// Many threads wake one task many times; no wake-up is lost.
#[test]
fn stampede() {
    let ex = LocalExecutor::new();
    let (tx, mut rx) = mpsc::unbounded::<usize>();
    let threads = 4;
    let per_thread = common::scaled(2000);
    let consumer = ex
        .spawn(async move {
            let mut sum = 0;
            while let Some(v) = rx.next().await {
                sum += v;
            }
            sum
        })
        .unwrap();
    let senders: Vec<_> = (0..threads)
        .map(|_| {
            let tx = tx.clone();
            thread::spawn(move || {
                for _ in 0..per_thread {
                    tx.unbounded_send(1).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let sum = ex.block_on(consumer).unwrap();
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(sum, threads * per_thread);
}
