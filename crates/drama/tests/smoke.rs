//! Spawn, join and nested spawns across the pool's workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use drama::{Class, Runtime, Spawn, current};

mod common;

#[test]
fn spawn_and_join_across_workers() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let handles: Vec<_> = (0..1000)
        .map(|i| common::spawn_patiently(&rt, Spawn::new(), async move { i * 2 }))
        .collect();
    let sum: usize = handles.into_iter().map(|h| rt.block_on(h).unwrap()).sum();
    assert_eq!(sum, 999 * 1000);
    assert!(rt.shutdown_timeout(Duration::from_secs(5)));
}

#[test]
fn nested_spawns_inherit_tenant_and_class() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let acme = rt.tenant("acme").unwrap();
    assert_eq!(rt.tenant("acme").unwrap(), acme);
    assert_eq!(rt.tenant_name(acme).as_deref(), Some("acme"));
    let h = rt
        .spawn_with(Spawn::new().tenant(acme).class(Class::Write), async {
            let child = drama::spawn(async {
                let grandchild =
                    drama::spawn(async { current().map(|m| (m.tenant(), m.class())) }).unwrap();
                grandchild.await.unwrap()
            })
            .unwrap();
            child.await.unwrap()
        })
        .unwrap();
    assert_eq!(rt.block_on(h).unwrap(), Some((acme, Class::Write)));
}

#[test]
fn many_tasks_many_yields() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..200)
        .map(|_| {
            let count = count.clone();
            common::spawn_patiently(&rt, Spawn::new(), async move {
                for _ in 0..100 {
                    drama::yield_now().await;
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        rt.block_on(h).unwrap();
    }
    assert_eq!(count.load(Ordering::Relaxed), 200 * 100);
}

#[test]
fn spawn_outside_a_runtime_hands_the_future_back() {
    let refused = drama::spawn(async { 5 }).unwrap_err();
    assert_eq!(refused.reason(), drama::RejectReason::NoRuntime);
    assert_eq!(futures::executor::block_on(refused.into_inner()), 5);
}
