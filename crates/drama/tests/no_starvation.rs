//! A flood of tasks that yield forever cannot starve other work: neither a
//! newly spawned task, nor a task that yields too, nor the same tenant's
//! older tasks. Nor does admission control refuse the new tasks: tasks
//! that yield wait behind fresh work, so they are not a backlog new work
//! waits for (the spawns below unwrap).
//!
//! Every wait has a deadline (far longer than the work needs), so that
//! starvation fails the test instead of hanging it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use drama::Runtime;

mod common;

/// How long any one wait may take before the test calls it starvation.
const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn no_starvation() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let spins = Arc::new(AtomicUsize::new(0));
    let flood: Vec<_> = (0..1000)
        .map(|_| {
            let stop = stop.clone();
            let spins = spins.clone();
            // The flood itself is a burst from outside, which admission
            // may cut at a window's wait: its spawns retry as a patient
            // caller's would. The point is what comes after.
            common::spawn_patiently(&rt, drama::Spawn::new(), async move {
                while !stop.load(Ordering::Relaxed) {
                    spins.fetch_add(1, Ordering::Relaxed);
                    drama::yield_now().await;
                }
            })
        })
        .collect();
    // Until each flooding task has run once it is fresh work, a backlog
    // that new work does wait behind; from then on it only yields.
    let deadline = Instant::now() + DEADLINE;
    while spins.load(Ordering::Relaxed) < 1000 {
        assert!(Instant::now() < deadline, "the flood never ran");
        std::thread::sleep(Duration::from_millis(1));
    }
    // Each of these must finish while the flood goes on.
    let (done, finished) = mpsc::channel();
    for round in 0..20 {
        let done = done.clone();
        drop(
            rt.spawn(async move {
                for _ in 0..10 {
                    drama::yield_now().await;
                }
                let _ = done.send(round);
            })
            .unwrap(),
        );
        let got = finished
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("round {round} starved behind the flood"));
        assert_eq!(got, round);
    }
    // And every flooding task made progress (each yields at least once)
    // and ends once told to.
    stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + DEADLINE;
    for h in flood {
        while !h.is_finished() {
            assert!(Instant::now() < deadline, "a flooding task never ended");
            std::thread::sleep(Duration::from_millis(1));
        }
        rt.block_on(h).unwrap();
    }
    assert!(spins.load(Ordering::Relaxed) >= 1000);
    assert!(rt.shutdown_timeout(Duration::from_secs(5)));
}
