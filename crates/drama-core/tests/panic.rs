//! Panics: a panicking task reports the panic through its handle, and the
//! executor's thread keeps running every other task.

mod common;

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use drama_core::{LocalExecutor, yield_now};

#[test]
fn payload_reaches_the_handle() {
    common::quiet_panics();
    let ex = LocalExecutor::new();
    let handle = ex.spawn(async { panic!("expected: boom") }).unwrap();
    let id = handle.id();
    let err = ex.block_on(handle).unwrap_err();
    assert!(err.is_panic());
    assert!(!err.is_cancelled());
    assert_eq!(err.id(), id);
    assert_eq!(
        err.to_string(),
        format!("task {id} panicked: expected: boom")
    );
    let payload = err.into_panic();
    assert_eq!(*payload.downcast::<&str>().unwrap(), "expected: boom");
}

#[test]
fn formatted_payload_reaches_the_handle() {
    common::quiet_panics();
    let ex = LocalExecutor::new();
    // A value only known at run time, so the message is formatted into a
    // `String` (a literal argument would be folded into a `&str`).
    let n = std::hint::black_box(42);
    let handle = ex.spawn(async move { panic!("expected: {n}") }).unwrap();
    let err = ex.block_on(handle).unwrap_err();
    assert_eq!(
        *err.into_panic().downcast::<String>().unwrap(),
        "expected: 42"
    );
}

#[test]
fn other_tasks_keep_running() {
    common::quiet_panics();
    let ex = LocalExecutor::new();
    let done = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..100 {
        let done = done.clone();
        handles.push(
            ex.spawn(async move {
                yield_now().await;
                if i % 2 == 0 {
                    panic!("expected: even task");
                }
                done.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap(),
        );
    }
    let (panicked, completed) = ex.block_on(async move {
        let (mut panicked, mut completed) = (0, 0);
        for h in handles {
            match h.await {
                Ok(()) => completed += 1,
                Err(e) if e.is_panic() => panicked += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        (panicked, completed)
    });
    assert_eq!((panicked, completed), (50, 50));
    assert_eq!(done.load(Ordering::SeqCst), 50);
}

/// 10,000 panicking tasks in a row leave the executor healthy.
#[test]
fn storm() {
    common::quiet_panics();
    let ex = LocalExecutor::new();
    let n = common::scaled(10_000);
    for _ in 0..n {
        let handle = ex.spawn(async { panic!("expected: storm") }).unwrap();
        assert!(ex.block_on(handle).unwrap_err().is_panic());
    }
    // And again all at once, detached.
    for _ in 0..n {
        drop(ex.spawn(async { panic!("expected: storm") }).unwrap());
    }
    assert_eq!(ex.block_on(async { 7 }), 7);
    let healthy = ex.spawn(async { "still here" }).unwrap();
    assert_eq!(ex.block_on(healthy).unwrap(), "still here");
    assert_eq!(ex.n_tasks(), 0);
}

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("expected: panic in drop");
    }
}

/// The future finished, but dropping it panicked: the handle gets the panic.
#[test]
fn in_the_future_destructor_after_completion() {
    common::quiet_panics();
    let ex = LocalExecutor::new();
    let handle = ex
        .spawn(async {
            let _bomb = PanicOnDrop;
            yield_now().await;
            1
        })
        .unwrap();
    let err = ex.block_on(handle).unwrap_err();
    assert!(err.is_panic());
    assert_eq!(ex.block_on(ex.spawn(async { 2 }).unwrap()).unwrap(), 2);
}

/// An aborted task whose destructor panics is still reported as cancelled,
/// and the executor survives.
#[test]
fn in_the_future_destructor_when_aborted() {
    common::quiet_panics();
    let ex = LocalExecutor::new();
    let handle = ex
        .spawn(async {
            let _bomb = PanicOnDrop;
            pending::<()>().await;
        })
        .unwrap();
    ex.block_on(yield_now());
    handle.abort();
    assert!(ex.block_on(handle).unwrap_err().is_cancelled());
    assert_eq!(ex.block_on(ex.spawn(async { 3 }).unwrap()).unwrap(), 3);
}

/// Dropping the executor drops a future whose destructor panics; the panic
/// does not escape the drop.
#[test]
fn in_the_future_destructor_at_shutdown() {
    common::quiet_panics();
    let ex = LocalExecutor::new();
    let handle = ex
        .spawn(async {
            let _bomb = PanicOnDrop;
            pending::<()>().await;
        })
        .unwrap();
    ex.block_on(yield_now());
    drop(ex);
    assert!(
        futures::executor::block_on(handle)
            .unwrap_err()
            .is_cancelled()
    );
}

/// The panic of `block_on`'s own future is the caller's, and propagates.
#[test]
fn in_the_main_future_propagates_to_the_caller() {
    common::quiet_panics();
    let ex = LocalExecutor::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ex.block_on(async { panic!("expected: main") })
    }));
    assert!(caught.is_err());
    // The executor is usable afterwards.
    assert_eq!(ex.block_on(ex.spawn(async { 4 }).unwrap()).unwrap(), 4);
}
