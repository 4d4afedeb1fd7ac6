//! Nonsense configuration is a typed BuildError, never a panic. (Every
//! limit and one past it: `drama-pool`'s builder tests; extreme values:
//! `extremes.rs`.)

use std::time::Duration;

use drama::admission::AdmissionConfig;
use drama::policy::{DrrConfig, Weight};
use drama::{BuildErrorKind, Builder, Runtime, TenantErrorKind, TenantId};

/// `builder` is refused with `expect`.
fn check(builder: drama::Builder, expect: BuildErrorKind) {
    match builder.build() {
        Ok(rt) => panic!("accepted ({rt:?}), expected {expect:?}"),
        Err(error) => assert_eq!(error.kind(), expect, "{error}"),
    }
}

#[test]
fn nonsense_is_refused() {
    use BuildErrorKind as K;
    check(Runtime::builder().workers(0), K::Workers);
    check(Runtime::builder().workers(65), K::Workers);
    check(Runtime::builder().max_tasks(0), K::MaxTasks);
    check(Runtime::builder().inbox_capacity(0), K::InboxCapacity);
    check(Runtime::builder().inbox_capacity(1), K::InboxCapacity);
    check(Runtime::builder().inbox_capacity(100), K::InboxCapacity);
    check(
        Runtime::builder().stuck_threshold(Duration::ZERO),
        K::StuckThreshold,
    );
    check(
        Runtime::builder().poll_budget(Duration::ZERO),
        K::PollBudget,
    );
    check(Runtime::builder().workers(4).max_threads(2), K::MaxThreads);
    check(Runtime::builder().max_tenants(0), K::MaxTenants);
    check(Runtime::builder().thread_name("dr\0ama"), K::ThreadName);
    check(
        Runtime::builder().blocking_threads(0, 1),
        K::BlockingThreads,
    );
    check(Runtime::builder().blocking_queue(1, 0), K::BlockingQueue);
    check(
        Runtime::builder().blocking_keep_alive(Duration::ZERO),
        K::BlockingKeepAlive,
    );
    let zero_quantum = DrrConfig::new().quantum_ns(0);
    check(Runtime::builder().drr(zero_quantum), K::Policy);
    let full_reserve = AdmissionConfig::new().reserve(1.0);
    check(Runtime::builder().admission(full_reserve), K::Admission);
}

#[test]
fn a_refusal_names_the_limits_and_the_value() {
    let refused = Builder::MAX_WORKERS + 1;
    let error = Runtime::builder().workers(refused).build().unwrap_err();
    let message = error.to_string();
    for part in [
        "workers".to_string(),
        format!("{}..={}", Builder::MIN_WORKERS, Builder::MAX_WORKERS),
        format!("got {refused}"),
    ] {
        assert!(message.contains(&part), "{part:?} not in {message:?}");
    }
    let rt = Runtime::builder().workers(1).build().unwrap();
    let message = rt.set_weight(TenantId::DEFAULT, 0).unwrap_err().to_string();
    for part in [
        format!("{}..={}", Weight::MIN, Weight::MAX),
        "got 0".to_string(),
    ] {
        assert!(message.contains(&part), "{part:?} not in {message:?}");
    }
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
