//! Destructors: every future and every output is dropped exactly once,
//! however its task ends: completed and joined, completed and detached,
//! aborted, panicked, or cancelled because the executor was dropped.

mod common;

use std::future::pending;
use std::thread;

use common::{DropCounter, Token, Tracked};
use drama_core::{LocalExecutor, RejectReason, yield_now};
use futures::channel::oneshot;

#[test]
fn completed_tasks_joined_and_detached() {
    let ex = LocalExecutor::new();
    let futures = DropCounter::new();
    let outputs = DropCounter::new();
    let n = common::scaled(1000);
    let mut joined = Vec::new();
    for i in 0..n {
        let output = outputs.token();
        let handle = ex
            .spawn(Tracked::new(&futures, async move {
                yield_now().await;
                output
            }))
            .unwrap();
        if i % 2 == 0 {
            joined.push(handle);
        } // else: detached; the task drops its own output.
    }
    let tokens: Vec<Token> = ex.block_on(async move {
        let mut tokens = Vec::new();
        for h in joined {
            tokens.push(h.await.unwrap());
        }
        tokens
    });
    assert_eq!(futures.drops(), n, "every future dropped once it completed");
    assert_eq!(
        outputs.drops(),
        n / 2,
        "detached outputs dropped, joined ones handed out"
    );
    drop(tokens);
    assert_eq!(outputs.drops(), n);
    drop(ex);
    assert_eq!(futures.drops(), n);
    assert_eq!(outputs.drops(), n);
}

#[test]
fn aborted_and_panicked_tasks() {
    common::quiet_panics();
    let ex = LocalExecutor::new();
    let futures = DropCounter::new();
    let n = common::scaled(1000);
    let mut handles = Vec::new();
    for i in 0..n {
        let handle = ex
            .spawn(Tracked::new(&futures, async move {
                yield_now().await;
                if i % 2 == 0 {
                    panic!("expected: half of them panic");
                }
                pending::<()>().await;
            }))
            .unwrap();
        handles.push(handle);
    }
    // Run until every task has had its second poll, where half of them panic.
    ex.block_on(async {
        while futures.drops() < n / 2 {
            yield_now().await;
        }
    });
    assert_eq!(
        futures.drops(),
        n / 2,
        "panicked futures are dropped at once"
    );
    for h in &handles {
        h.abort();
    }
    let (panicked, cancelled) = ex.block_on(async move {
        let (mut panicked, mut cancelled) = (0, 0);
        for h in handles {
            let err = h.await.unwrap_err();
            panicked += usize::from(err.is_panic());
            cancelled += usize::from(err.is_cancelled());
        }
        (panicked, cancelled)
    });
    assert_eq!((panicked, cancelled), (n / 2, n / 2));
    assert_eq!(futures.drops(), n);
    drop(ex);
    assert_eq!(futures.drops(), n);
}

/// Dropping the executor cancels every live task: those queued and never
/// polled, those idle after a poll, and those waiting on another thread. Each
/// future is dropped once, on the dropping thread, and every handle resolves
/// to a cancellation.
#[test]
fn executor_drop_cancels_every_live_task() {
    let ex = LocalExecutor::new();
    let futures = DropCounter::new();
    let n = common::scaled(1000);
    let mut handles = Vec::new();
    // Idle after their first poll, waiting for nothing.
    for _ in 0..n {
        handles.push(ex.spawn(Tracked::new(&futures, pending::<()>())).unwrap());
    }
    ex.block_on(yield_now());
    // Waiting on senders that another thread holds.
    let mut senders = Vec::new();
    for _ in 0..n {
        let (tx, rx) = oneshot::channel::<()>();
        senders.push(tx);
        handles.push(
            ex.spawn(Tracked::new(&futures, async move {
                let _ = rx.await;
                pending::<()>().await;
            }))
            .unwrap(),
        );
    }
    ex.block_on(yield_now());
    // Queued, never polled.
    for _ in 0..n {
        handles.push(ex.spawn(Tracked::new(&futures, pending::<()>())).unwrap());
    }
    assert_eq!(ex.n_tasks(), 3 * n);
    assert_eq!(futures.drops(), 0);

    let holder = thread::spawn(move || senders);
    drop(ex);
    assert_eq!(futures.drops(), 3 * n);
    assert!(
        futures
            .drop_threads()
            .iter()
            .all(|&t| t == thread::current().id())
    );

    // Waking the cancelled tasks afterwards does nothing.
    for tx in holder.join().unwrap() {
        let _ = tx.send(());
    }
    assert_eq!(futures.drops(), 3 * n);
    for h in handles {
        assert!(futures::executor::block_on(h).unwrap_err().is_cancelled());
    }
}

/// A spawn after the executor is gone is refused, and the future comes back
/// untouched.
#[test]
fn spawn_after_drop_hands_the_future_back() {
    let ex = LocalExecutor::new();
    let spawner = ex.spawner();
    drop(ex);
    let futures = DropCounter::new();
    let refused = spawner
        .spawn(Tracked::new(&futures, async { 11 }))
        .unwrap_err();
    assert_eq!(refused.reason(), RejectReason::ShuttingDown);
    assert_eq!(futures.drops(), 0);
    assert_eq!(futures::executor::block_on(refused.into_inner()), 11);
    assert_eq!(futures.drops(), 1);
}

/// Tasks spawned from inside tasks at shutdown are cancelled too.
#[test]
fn executor_drop_with_a_spawn_chain() {
    let ex = LocalExecutor::new();
    let futures = DropCounter::new();
    let spawner = ex.spawner();
    let counter = futures.clone();
    fn chain(spawner: drama_core::Spawner, counter: DropCounter, depth: usize) {
        let next = spawner.clone();
        let c = counter.clone();
        let _ = spawner.spawn(Tracked::new(&counter, async move {
            if depth > 0 {
                chain(next, c, depth - 1);
            }
            pending::<()>().await;
        }));
    }
    chain(spawner, counter, common::scaled(100));
    for _ in 0..4 {
        ex.block_on(yield_now());
    }
    let live = ex.n_tasks();
    assert!(live > 0);
    drop(ex);
    assert_eq!(futures.drops(), common::scaled(100) + 1);
}
