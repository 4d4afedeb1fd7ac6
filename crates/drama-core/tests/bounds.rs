//! Bounds: the executor holds at most `max_tasks` live tasks; a refused
//! spawn hands the future back with the reason.

use std::future::pending;
use std::num::NonZeroUsize;

use drama_core::{LocalExecutor, RejectReason, yield_now};

#[test]
fn spawn_beyond_max_tasks_is_refused_and_nothing_is_lost() {
    let ex = LocalExecutor::with_max_tasks(NonZeroUsize::new(2).unwrap());
    assert_eq!(ex.max_tasks(), 2);
    let first = ex.spawn(pending::<()>()).unwrap();
    let second = ex.spawn(async { "second" }).unwrap();
    let refused = ex.spawn(async { "third" }).unwrap_err();
    assert_eq!(refused.reason(), RejectReason::QueueFull);
    assert_eq!(
        refused.to_string(),
        "spawn refused: the executor is at its task bound"
    );

    // Once a task finishes there is room again, and the refused future can
    // be spawned as it is.
    assert_eq!(ex.block_on(second).unwrap(), "second");
    let third = ex.spawn(refused.into_inner()).unwrap();
    assert_eq!(ex.block_on(third).unwrap(), "third");

    first.abort();
    assert!(ex.block_on(first).unwrap_err().is_cancelled());
    assert_eq!(ex.n_tasks(), 0);
}

/// Live tasks count until their future is gone, whether or not anyone
/// awaits them.
#[test]
fn detached_tasks_count_until_they_finish() {
    let ex = LocalExecutor::with_max_tasks(NonZeroUsize::new(1).unwrap());
    drop(ex.spawn(yield_now()).unwrap());
    assert_eq!(
        ex.spawn(async {}).unwrap_err().reason(),
        RejectReason::QueueFull
    );
    ex.block_on(async {
        yield_now().await;
        yield_now().await;
    });
    assert_eq!(ex.n_tasks(), 0);
    assert!(ex.spawn(async {}).is_ok());
}

#[test]
fn nested_block_on_of_the_same_executor_is_a_clear_panic() {
    let ex = LocalExecutor::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ex.block_on(async { ex.block_on(async {}) })
    }));
    let payload = caught.unwrap_err();
    let message = payload.downcast_ref::<&str>().unwrap();
    assert!(
        message.contains("inside a block_on of the same executor"),
        "{message}"
    );
    // Still usable.
    assert_eq!(ex.block_on(async { 1 }), 1);
}
