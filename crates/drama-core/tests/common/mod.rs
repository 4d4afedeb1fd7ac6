//! Helpers shared by the behaviour tests.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};

/// Scales an iteration count down under Miri, which is ~1000x slower.
pub(crate) fn scaled(n: usize) -> usize {
    if cfg!(miri) { (n / 500).max(4) } else { n }
}

/// Counts drops of the values it hands out, and remembers on which threads
/// they happened.
#[derive(Clone, Default)]
pub(crate) struct DropCounter {
    drops: Arc<AtomicUsize>,
    threads: Arc<Mutex<Vec<ThreadId>>>,
}

impl DropCounter {
    pub(crate) fn new() -> DropCounter {
        DropCounter::default()
    }

    /// A value whose drop this counter counts.
    pub(crate) fn token(&self) -> Token {
        Token {
            counter: self.clone(),
        }
    }

    pub(crate) fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }

    pub(crate) fn drop_threads(&self) -> Vec<ThreadId> {
        self.threads.lock().unwrap().clone()
    }
}

/// Dropping it bumps its counter.
pub(crate) struct Token {
    counter: DropCounter,
}

impl Drop for Token {
    fn drop(&mut self) {
        self.counter
            .threads
            .lock()
            .unwrap()
            .push(thread::current().id());
        self.counter.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// Wraps a future and carries a token, so that dropping the future is
/// counted.
pub(crate) struct Tracked<F> {
    pub(crate) future: Pin<Box<F>>,
    _token: Token,
}

impl<F> Tracked<F> {
    pub(crate) fn new(counter: &DropCounter, future: F) -> Tracked<F> {
        Tracked {
            future: Box::pin(future),
            _token: counter.token(),
        }
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.future.as_mut().poll(cx)
    }
}

/// Silences the default panic hook's report for the panics these tests make
/// on purpose (thousands of them), keeping real failures readable.
pub(crate) fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let expected = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|m| m.starts_with("expected:"));
        if !expected {
            eprintln!("{info}");
        }
    }));
}
