//! A flood of tasks that yield forever cannot starve other work: neither a
//! newly spawned task, nor a task that yields too, nor the same tenant's
//! older tasks. Nor does admission control refuse the new tasks: tasks
//! that yield wait behind fresh work, so they are not a backlog new work
//! waits for (the spawns below unwrap).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use drama::Runtime;

mod common;

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
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while spins.load(Ordering::Relaxed) < 1000 {
        assert!(std::time::Instant::now() < deadline, "the flood never ran");
        std::thread::sleep(Duration::from_millis(1));
    }
    // Each of these must finish while the flood goes on.
    for round in 0..20 {
        let h = rt
            .spawn(async move {
                for _ in 0..10 {
                    drama::yield_now().await;
                }
                round
            })
            .unwrap();
        assert_eq!(rt.block_on(h).unwrap(), round);
    }
    // And every flooding task made progress (each yields at least once).
    stop.store(true, Ordering::Relaxed);
    for h in flood {
        rt.block_on(h).unwrap();
    }
    assert!(spins.load(Ordering::Relaxed) >= 1000);
    assert!(rt.shutdown_timeout(Duration::from_secs(5)));
}
