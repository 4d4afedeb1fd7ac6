//! The runtimes under test behind one trait, so that every workload is the
//! same code for each of them.
//!
//! Each runtime gets 2 worker threads (BENCHMARKS.md part A) except
//! smolscale, which sizes its pool by itself (one thread per core, more
//! when a thread blocks); on the 2-core machine the suite targets, that is
//! 2. `block_on` runs on the calling thread, which is never one of the
//! workers, for every runtime alike.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Worker threads per runtime in every suite (BENCHMARKS.md: 2, the
/// cores of the machine the suites are sized for).
pub const WORKERS: usize = 2;

/// What the workloads need from a runtime.
pub trait Rt: Clone + Send + Sync + 'static {
    /// The handle a spawn returns, resolving to the task's output (a panic
    /// or cancellation of a benchmark task is a bug, so it panics).
    type Join<T: Send + 'static>: Future<Output = T> + Send + 'static;

    /// The runtime's name in reports.
    fn name(&self) -> &'static str;

    /// Spawns `future` on the runtime (from inside a task or from outside).
    fn spawn<F>(&self, future: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Spawns `future` and lets it run on without a handle. (Dropping the
    /// handle does that on drama and tokio; it cancels the task on the
    /// smol family, which detaches explicitly.)
    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.spawn(future));
    }

    /// Runs `future` to completion on the calling thread.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// The runtime's own `yield_now`.
    fn yield_now(&self) -> impl Future<Output = ()> + Send + 'static;
}

/// The names `runtime_by_name` knows, drama first.
pub const RUNTIMES: [&str; 5] = [
    "drama",
    "tokio",
    "async-executor",
    "smolscale",
    "async-global-executor",
];

/// drama with its default policy (DRR), every task charged to one tenant
/// in the default class: accounting on, as in production.
#[derive(Clone)]
pub struct Drama {
    rt: Arc<drama::Runtime>,
    spec: drama::Spawn,
    name: &'static str,
}

impl Drama {
    /// A 2-worker runtime with a tenant named "bench".
    pub fn new(workers: usize) -> Drama {
        Drama::with_recording(workers, true)
    }

    /// As [`new`](Self::new), with the workers' recording for the
    /// scheduler's view on or off (`Builder::record_metrics`): the
    /// recording suite's two sides.
    pub fn with_recording(workers: usize, record: bool) -> Drama {
        let rt = drama::Runtime::builder()
            .workers(workers)
            .record_metrics(record)
            // The micro suite's workloads spawn thousands of tasks at once
            // and need every one: admission decides on each spawn (its
            // cost is measured) but never refuses by load, as the peers
            // have no admission to refuse with.
            .admission(drama::admission::AdmissionConfig::off())
            .build()
            .expect("a valid runtime configuration");
        let tenant = rt.tenant("bench").expect("one tenant fits");
        Drama {
            rt: Arc::new(rt),
            spec: drama::Spawn::new().tenant(tenant),
            name: if record { "drama" } else { "drama-unrecorded" },
        }
    }

    /// The runtime, for workloads that need drama's own API (weights).
    pub fn runtime(&self) -> &drama::Runtime {
        &self.rt
    }
}

/// A join handle whose error (panic, cancellation) is a benchmark bug.
pub struct Unwrapping<H>(H);

impl<H, T, E> Future for Unwrapping<H>
where
    H: Future<Output = Result<T, E>> + Unpin,
    E: std::fmt::Debug,
{
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.expect("benchmark tasks neither panic nor get cancelled"))
    }
}

impl Rt for Drama {
    type Join<T: Send + 'static> = Unwrapping<drama::JoinHandle<T>>;

    fn name(&self) -> &'static str {
        self.name
    }

    fn spawn<F>(&self, future: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // Through the runtime's handle, from a worker or from outside:
        // drama routes a spawn on its own worker to that worker's queue.
        match self.rt.spawn_with(self.spec.clone(), future) {
            Ok(handle) => Unwrapping(handle),
            Err(rejected) => panic!("benchmark spawn refused: {:?}", rejected.reason()),
        }
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }

    fn yield_now(&self) -> impl Future<Output = ()> + Send + 'static {
        drama::yield_now()
    }
}

/// tokio's multi-threaded runtime.
#[derive(Clone)]
pub struct Tokio {
    rt: Arc<tokio::runtime::Runtime>,
}

impl Tokio {
    /// A multi-threaded runtime with `workers` worker threads.
    pub fn new(workers: usize) -> Tokio {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .build()
            .expect("a valid runtime configuration");
        Tokio { rt: Arc::new(rt) }
    }
}

impl Rt for Tokio {
    type Join<T: Send + 'static> = Unwrapping<tokio::task::JoinHandle<T>>;

    fn name(&self) -> &'static str {
        "tokio"
    }

    fn spawn<F>(&self, future: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrapping(self.rt.spawn(future))
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }

    fn yield_now(&self) -> impl Future<Output = ()> + Send + 'static {
        tokio::task::yield_now()
    }
}

/// async-executor: one `Executor` run by `workers` threads
/// (`Executor::run`), stopped when the last clone is dropped.
#[derive(Clone)]
pub struct AsyncExecutor {
    inner: Arc<AsyncExecutorInner>,
}

struct AsyncExecutorInner {
    ex: Arc<async_executor::Executor<'static>>,
    stop: async_channel::Sender<()>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl AsyncExecutor {
    /// An executor run by `workers` threads.
    pub fn new(workers: usize) -> AsyncExecutor {
        let ex = Arc::new(async_executor::Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let threads = (0..workers)
            .map(|i| {
                let ex = ex.clone();
                let stopped = stopped.clone();
                std::thread::Builder::new()
                    .name(format!("async-executor-{i}"))
                    .spawn(move || {
                        let _ = futures_lite::future::block_on(ex.run(stopped.recv()));
                    })
                    .expect("start an executor thread")
            })
            .collect();
        AsyncExecutor {
            inner: Arc::new(AsyncExecutorInner { ex, stop, threads }),
        }
    }
}

impl Drop for AsyncExecutorInner {
    fn drop(&mut self) {
        // Closing the channel ends every `recv`, so every `run` returns.
        self.stop.close();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Rt for AsyncExecutor {
    type Join<T: Send + 'static> = async_executor::Task<T>;

    fn name(&self) -> &'static str {
        "async-executor"
    }

    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn(future).detach();
    }

    fn spawn<F>(&self, future: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.ex.spawn(future)
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        futures_lite::future::block_on(future)
    }

    fn yield_now(&self) -> impl Future<Output = ()> + Send + 'static {
        futures_lite::future::yield_now()
    }
}

/// smolscale's global executor (sizes itself: one thread per core).
#[derive(Clone)]
pub struct Smolscale;

impl Rt for Smolscale {
    type Join<T: Send + 'static> = async_executor::Task<T>;

    fn name(&self) -> &'static str {
        "smolscale"
    }

    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn(future).detach();
    }

    fn spawn<F>(&self, future: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        smolscale::spawn(future)
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        futures_lite::future::block_on(future)
    }

    fn yield_now(&self) -> impl Future<Output = ()> + Send + 'static {
        futures_lite::future::yield_now()
    }
}

/// async-global-executor, configured for exactly `workers` threads.
#[derive(Clone)]
pub struct AsyncGlobalExecutor;

impl AsyncGlobalExecutor {
    /// Configures the global executor; only the first call in a process
    /// takes effect (it is global).
    pub fn new(workers: usize) -> AsyncGlobalExecutor {
        async_global_executor::init_with_config(
            async_global_executor::GlobalExecutorConfig::default()
                .with_min_threads(workers)
                .with_max_threads(workers),
        );
        AsyncGlobalExecutor
    }
}

impl Rt for AsyncGlobalExecutor {
    type Join<T: Send + 'static> = async_global_executor::Task<T>;

    fn name(&self) -> &'static str {
        "async-global-executor"
    }

    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn(future).detach();
    }

    fn spawn<F>(&self, future: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        async_global_executor::spawn(future)
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        futures_lite::future::block_on(future)
    }

    fn yield_now(&self) -> impl Future<Output = ()> + Send + 'static {
        futures_lite::future::yield_now()
    }
}
