//! Nonsense configuration is a typed BuildError, never a panic.

use std::time::Duration;

use drama::Runtime;
use drama::policy::DrrConfig;

fn reason(builder: drama::Builder) -> &'static str {
    builder.build().unwrap_err().reason()
}

#[test]
fn nonsense_is_refused() {
    assert!(reason(Runtime::builder().workers(0)).contains("workers"));
    assert!(reason(Runtime::builder().workers(65)).contains("workers"));
    assert!(reason(Runtime::builder().max_tasks(0)).contains("max_tasks"));
    assert!(reason(Runtime::builder().inbox_capacity(0)).contains("inbox"));
    assert!(reason(Runtime::builder().inbox_capacity(100)).contains("inbox"));
    assert!(reason(Runtime::builder().stuck_threshold(Duration::ZERO)).contains("stuck"));
    assert!(reason(Runtime::builder().poll_budget(Duration::ZERO)).contains("poll_budget"));
    assert!(reason(Runtime::builder().workers(4).max_threads(2)).contains("max_threads"));
    assert!(reason(Runtime::builder().max_tenants(0)).contains("max_tenants"));
    assert!(reason(Runtime::builder().blocking_threads(0, 1)).contains("blocking"));
    assert!(reason(Runtime::builder().blocking_queue(1, 0)).contains("blocking"));
    assert!(reason(Runtime::builder().drr(DrrConfig::new().quantum_ns(0))).contains("quantum"));
}

#[test]
fn bad_weights_and_tenant_bound() {
    let rt = Runtime::builder()
        .workers(1)
        .max_tenants(3)
        .build()
        .unwrap();
    let a = rt.tenant("a").unwrap();
    assert!(rt.set_weight(a, 0).is_err());
    assert!(rt.set_weight(a, 10_001).is_err());
    rt.set_weight(a, 1).unwrap();
    rt.tenant("b").unwrap();
    // "default" is id 0, so a third name is one too many.
    assert!(rt.tenant("c").is_err());
    assert_eq!(rt.tenant("a").unwrap(), a);
}

#[test]
fn task_bound_hands_the_future_back() {
    let rt = Runtime::builder().workers(1).max_tasks(2).build().unwrap();
    let _a = rt.spawn(std::future::pending::<()>()).unwrap();
    let _b = rt.spawn(std::future::pending::<()>()).unwrap();
    let refused = rt.spawn(async { 9 }).unwrap_err();
    assert_eq!(refused.reason(), drama::RejectReason::QueueFull);
    assert_eq!(futures::executor::block_on(refused.into_inner()), 9);
}
