//! Budget: a task that keeps finding ready work gives way after a bounded
//! amount of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use drama_core::budget::{self, DEFAULT_BUDGET};
use drama_core::{LocalExecutor, yield_now};

/// A stream that always has an item, and plays by the budget.
struct AlwaysReady;

impl AlwaysReady {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let progress = std::task::ready!(budget::poll_proceed(cx));
        progress.made_progress();
        Poll::Ready(())
    }

    async fn next(&mut self) {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }
}

/// Task A drains an always-ready stream until task B tells it to stop. On a
/// single thread, B only ever runs if A gives way: without a budget this
/// test would hang. A gives way after exactly one budget's worth of items.
#[test]
fn always_ready_stream_yields_to_others() {
    let ex = LocalExecutor::new();
    let stop = Arc::new(AtomicBool::new(false));
    let items = Arc::new(AtomicUsize::new(0));
    let (stop_a, items_a) = (stop.clone(), items.clone());
    let greedy = ex
        .spawn(async move {
            let mut stream = AlwaysReady;
            while !stop_a.load(Ordering::SeqCst) {
                stream.next().await;
                items_a.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    let (stop_b, items_b) = (stop.clone(), items.clone());
    let polite = ex
        .spawn(async move {
            let seen = items_b.load(Ordering::SeqCst);
            stop_b.store(true, Ordering::SeqCst);
            seen
        })
        .unwrap();
    let seen_by_b = ex.block_on(polite).unwrap();
    ex.block_on(greedy).unwrap();
    assert_eq!(seen_by_b, DEFAULT_BUDGET as usize);
}

#[test]
fn consume_budget_gives_way_too() {
    let ex = LocalExecutor::new();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_a = stop.clone();
    let spinner = ex
        .spawn(async move {
            let mut rounds = 0u64;
            while !stop_a.load(Ordering::SeqCst) {
                budget::consume_budget().await;
                rounds += 1;
            }
            rounds
        })
        .unwrap();
    let stopper = ex
        .spawn(async move { stop.store(true, Ordering::SeqCst) })
        .unwrap();
    ex.block_on(stopper).unwrap();
    // One budget's worth of rounds in the first poll; the round that was
    // waiting for a fresh budget completes in the second, which then sees
    // the stop flag.
    assert_eq!(ex.block_on(spinner).unwrap(), u64::from(DEFAULT_BUDGET) + 1);
}

#[test]
fn each_poll_starts_with_a_full_budget() {
    let ex = LocalExecutor::new();
    let handle = ex
        .spawn(async {
            let start = budget::remaining();
            budget::consume_budget().await;
            let after_one = budget::remaining();
            yield_now().await;
            let after_yield = budget::remaining();
            (start, after_one, after_yield)
        })
        .unwrap();
    let full = Some(DEFAULT_BUDGET);
    assert_eq!(
        ex.block_on(handle).unwrap(),
        (full, Some(DEFAULT_BUDGET - 1), full)
    );
}

/// Polling something that is not ready costs nothing.
#[test]
fn progress_is_refunded_unless_made() {
    let ex = LocalExecutor::new();
    let handle = ex
        .spawn(async {
            std::future::poll_fn(|cx| {
                let before = budget::remaining();
                let progress = std::task::ready!(budget::poll_proceed(cx));
                let during = budget::remaining();
                drop(progress);
                Poll::Ready((before, during, budget::remaining()))
            })
            .await
        })
        .unwrap();
    let full = Some(DEFAULT_BUDGET);
    assert_eq!(
        ex.block_on(handle).unwrap(),
        (full, Some(DEFAULT_BUDGET - 1), full)
    );
}

/// Awaiting a JoinHandle spends budget: joining finished tasks in a loop
/// gives way too.
#[test]
fn joining_spends_budget() {
    let ex = LocalExecutor::new();
    let spawner = ex.spawner();
    let handle = ex
        .spawn(async move {
            let child = spawner.spawn(async { 1 }).unwrap();
            yield_now().await;
            let before = budget::remaining().unwrap();
            child.await.unwrap();
            before - budget::remaining().unwrap()
        })
        .unwrap();
    assert_eq!(ex.block_on(handle).unwrap(), 1);
}

#[test]
fn no_budget_outside_tasks() {
    assert_eq!(budget::remaining(), None);
    let ex = LocalExecutor::new();
    let handle = ex.spawn(async { budget::remaining() }).unwrap();
    assert_eq!(ex.block_on(handle).unwrap(), Some(DEFAULT_BUDGET));
    assert_eq!(budget::remaining(), None);
}
