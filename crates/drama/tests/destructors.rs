//! Shutdown drops every task's future exactly once: pending, queued and
//! running ones, with 100,000 of them alive.

use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

mod common;
use common::flood_runtime;

/// Counts its drops; panics on a second drop of the same value (which a
/// double drop of a future would cause).
struct Counted {
    drops: Arc<AtomicUsize>,
    dropped: bool,
}

impl Drop for Counted {
    fn drop(&mut self) {
        assert!(!self.dropped, "dropped twice");
        self.dropped = true;
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future that wakes itself forever (always queued somewhere); the
/// counter is held only to be dropped with the future.
struct Busy(#[allow(dead_code)] Counted);

impl Future for Busy {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn destructors_at_shutdown() {
    const PENDING: usize = 100_000;
    const BUSY: usize = 100;
    let drops = Arc::new(AtomicUsize::new(0));
    let rt = flood_runtime();
    let mut handles = Vec::new();
    for _ in 0..PENDING {
        let counted = Counted {
            drops: drops.clone(),
            dropped: false,
        };
        handles.push(
            rt.spawn(async move {
                let _counted = counted;
                pending::<()>().await;
            })
            .unwrap(),
        );
    }
    for _ in 0..BUSY {
        let counted = Counted {
            drops: drops.clone(),
            dropped: false,
        };
        handles.push(rt.spawn(Busy(counted)).unwrap());
    }
    assert_eq!(rt.n_tasks(), PENDING + BUSY);
    assert!(rt.shutdown_timeout(Duration::from_millis(10)));
    assert_eq!(drops.load(Ordering::SeqCst), PENDING + BUSY);
    for handle in handles {
        let error = futures::executor::block_on(handle).unwrap_err();
        assert!(error.is_cancelled());
    }
}

#[test]
fn drop_runtime_cancels_everything() {
    let drops = Arc::new(AtomicUsize::new(0));
    let rt = flood_runtime();
    let handles: Vec<_> = (0..1000)
        .map(|_| {
            let counted = Counted {
                drops: drops.clone(),
                dropped: false,
            };
            rt.spawn(async move {
                let _counted = counted;
                pending::<()>().await;
            })
            .unwrap()
        })
        .collect();
    drop(rt);
    assert_eq!(drops.load(Ordering::SeqCst), 1000);
    for handle in handles {
        assert!(
            futures::executor::block_on(handle)
                .unwrap_err()
                .is_cancelled()
        );
    }
}

#[test]
fn shutdown_lets_running_work_finish() {
    let rt = flood_runtime();
    let handles: Vec<_> = (0..100)
        .map(|i| {
            rt.spawn(async move {
                for _ in 0..10 {
                    drama::yield_now().await;
                }
                i
            })
            .unwrap()
        })
        .collect();
    let refused_later = rt.handle();
    assert!(rt.shutdown_timeout(Duration::from_secs(5)));
    let sum: usize = handles
        .into_iter()
        .map(|h| futures::executor::block_on(h).unwrap())
        .sum();
    assert_eq!(sum, 99 * 100 / 2);
    let refused = refused_later.spawn(async {}).unwrap_err();
    assert_eq!(refused.reason(), drama::RejectReason::ShuttingDown);
}

#[test]
fn shutdown_drops_a_million_chained_tasks_on_a_small_stack() {
    // Task k holds the sender that task k + 1 waits on. Once the pool is
    // closed, dropping task k drops that sender, which wakes task k + 1,
    // whose wake on a closed pool drops it, which drops the next sender:
    // unless shutdown drops woken tasks in a loop, one nested call per task
    // and the dropping thread's stack overflows.
    const TASKS: usize = 1_000_000;
    /// A stack a chain of nested drops would overflow within a few
    /// thousand tasks.
    const SMALL_STACK: usize = 256 * 1024;
    let rt = flood_runtime();
    let polled = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let (first_send, mut receive) = futures::channel::oneshot::channel::<()>();
    for _ in 0..TASKS {
        let (send, next_receive) = futures::channel::oneshot::channel::<()>();
        let waits_on = std::mem::replace(&mut receive, next_receive);
        let counted = Counted {
            drops: drops.clone(),
            dropped: false,
        };
        let polled = polled.clone();
        let waiting = rt.spawn(async move {
            let _counted = counted;
            let _holds = send;
            polled.fetch_add(1, Ordering::Relaxed);
            let _ = waits_on.await;
        });
        drop(waiting.unwrap());
    }
    while polled.load(Ordering::Relaxed) < TASKS {
        std::thread::sleep(Duration::from_millis(1));
    }
    let dropper = std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(move || drop(rt))
        .unwrap();
    dropper
        .join()
        .expect("the thread dropping the runtime died");
    assert_eq!(drops.load(Ordering::SeqCst), TASKS);
    drop((first_send, receive));
}
