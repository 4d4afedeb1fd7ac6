//! Nonsense configuration is a typed BuildError, never a panic. (Every
//! limit and one past it: `drama-pool`'s builder tests; extreme values:
//! `extremes.rs`.)

use std::time::Duration;

use drama::policy::DrrConfig;
use drama::{BuildErrorKind, Runtime, TenantErrorKind, TenantId};

/// The kind of the refusal, and checks that its reason names the setting.
fn refused(builder: drama::Builder, setting: &str) -> BuildErrorKind {
    let error = builder.build().unwrap_err();
    assert!(error.reason().contains(setting), "{error}");
    error.kind()
}

#[test]
fn nonsense_is_refused() {
    use BuildErrorKind as K;
    let check = |builder, setting, kind| assert_eq!(refused(builder, setting), kind, "{setting}");
    check(Runtime::builder().workers(0), "workers", K::Workers);
    check(Runtime::builder().workers(65), "workers", K::Workers);
    check(Runtime::builder().max_tasks(0), "max_tasks", K::MaxTasks);
    check(
        Runtime::builder().inbox_capacity(0),
        "inbox",
        K::InboxCapacity,
    );
    check(
        Runtime::builder().inbox_capacity(1),
        "inbox",
        K::InboxCapacity,
    );
    check(
        Runtime::builder().inbox_capacity(100),
        "inbox",
        K::InboxCapacity,
    );
    check(
        Runtime::builder().stuck_threshold(Duration::ZERO),
        "stuck",
        K::StuckThreshold,
    );
    check(
        Runtime::builder().poll_budget(Duration::ZERO),
        "poll_budget",
        K::PollBudget,
    );
    check(
        Runtime::builder().workers(4).max_threads(2),
        "max_threads",
        K::MaxThreads,
    );
    check(
        Runtime::builder().max_tenants(0),
        "max_tenants",
        K::MaxTenants,
    );
    check(
        Runtime::builder().thread_name("dr\0ama"),
        "thread_name",
        K::ThreadName,
    );
    check(
        Runtime::builder().blocking_threads(0, 1),
        "blocking",
        K::BlockingThreads,
    );
    check(
        Runtime::builder().blocking_queue(1, 0),
        "blocking",
        K::BlockingQueue,
    );
    let zero_quantum = DrrConfig::new().quantum_ns(0);
    check(Runtime::builder().drr(zero_quantum), "quantum", K::Policy);
}

#[test]
fn bad_weights_and_tenant_bound() {
    let rt = Runtime::builder()
        .workers(1)
        .max_tenants(3)
        .build()
        .unwrap();
    let a = rt.tenant("a").unwrap();
    let kind = |result: Result<(), drama::TenantError>| result.unwrap_err().kind();
    assert_eq!(kind(rt.set_weight(a, 0)), TenantErrorKind::WeightOutOfRange);
    assert_eq!(
        kind(rt.set_weight(a, 10_001)),
        TenantErrorKind::WeightOutOfRange
    );
    rt.set_weight(a, 1).unwrap();
    let past = TenantId::new(3);
    assert_eq!(kind(rt.set_weight(past, 1)), TenantErrorKind::IdOutOfRange);
    rt.tenant("b").unwrap();
    // "default" is id 0, so a third name is one too many.
    assert_eq!(rt.tenant("c").unwrap_err().kind(), TenantErrorKind::TooMany);
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
