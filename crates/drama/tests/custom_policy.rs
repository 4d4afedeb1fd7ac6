//! A policy from another crate (drama-policy-fifo) runs the real runtime.

use drama::Runtime;
use drama_policy_fifo::Fifo;

mod common;

#[test]
fn fifo_policy_runs_the_runtime() {
    let rt = Runtime::builder()
        .workers(2)
        .policy(|_worker| Fifo::new(1 << 20, 1 << 20))
        .build()
        .unwrap();
    let acme = rt.tenant("acme").unwrap();
    let handles: Vec<_> = (0..1000)
        .map(|i| {
            common::spawn_patiently(&rt, drama::Spawn::new().tenant(acme), async move {
                drama::yield_now().await;
                i
            })
        })
        .collect();
    let sum: usize = handles.into_iter().map(|h| rt.block_on(h).unwrap()).sum();
    assert_eq!(sum, 999 * 1000 / 2);
}

#[test]
fn tiny_policy_bounds_lose_nothing() {
    // A policy that holds 4 tasks: the rest spill, and still all run.
    let rt = Runtime::builder()
        .workers(2)
        .policy(|_worker| Fifo::new(4, 4))
        .build()
        .unwrap();
    let handles: Vec<_> = (0..500)
        .map(|i| {
            common::spawn_patiently(&rt, drama::Spawn::new(), async move {
                drama::yield_now().await;
                i
            })
        })
        .collect();
    let sum: usize = handles.into_iter().map(|h| rt.block_on(h).unwrap()).sum();
    assert_eq!(sum, 499 * 500 / 2);
}
