//! Workers stuck in blocking code are replaced: with every worker blocked
//! forever (until the test releases them), other tasks still complete.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use drama::Runtime;

#[test]
fn stuck_workers_are_replaced() {
    let rt = Runtime::builder()
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
