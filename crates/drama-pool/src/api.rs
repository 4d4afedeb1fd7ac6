//! The public handles: [`Pool`] and [`Handle`].

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use drama_core::{JoinHandle, RejectReason, Rejected, Spawn};
use drama_metrics::Snapshot;
use drama_policy::{Class, IoKind, TenantId, Weight};

use crate::builder::Builder;
use crate::context;
use crate::pool::Shared;
use crate::sync::{Arc, AtomicBool, Ordering};
use crate::tenants::TenantError;

/// A thread pool that runs drama tasks fairly across tenants.
///
/// Built with [`Pool::builder`]. Dropping it shuts it down (see
/// [`shutdown_timeout`](Self::shutdown_timeout)) with a zero timeout.
pub struct Pool {
    handle: Handle,
    shut_down: bool,
}

/// A cheap, cloneable reference to a [`Pool`], for spawning from anywhere.
///
/// A handle does not keep the pool's threads alive: once the pool is shut
/// down, spawns through a handle are refused with
/// `RejectReason::ShuttingDown`.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

thread_local! {
    /// The pool whose `block_on` runs on this thread (innermost first).
    static ENTERED: RefCell<Vec<Handle>> = const { RefCell::new(Vec::new()) };
}

impl Pool {
    /// A builder with the default settings.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Pool {
        Pool {
            handle: Handle { shared },
            shut_down: false,
        }
    }

    /// Spawns `future` as a task described by `spec`.
    ///
    /// # Errors
    ///
    /// Hands the future back in a [`Rejected`] when the pool holds
    /// `max_tasks` tasks (`QueueFull`), is shutting down (`ShuttingDown`),
    /// or when the task's tenant (set in `spec`, or inherited from the
    /// current task) is at or above `max_tenants` (`InvalidTenant`).
    pub fn spawn<F>(&self, spec: Spawn, future: F) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(spec, future)
    }

    /// Runs the blocking closure `f` on one of `tenant`'s blocking lanes.
    ///
    /// # Errors
    ///
    /// Hands the closure back when the tenant's lane queue (or the total
    /// queue) is full (`QueueFull`), the pool is shutting down
    /// (`ShuttingDown`), or `tenant` is at or above `max_tenants`
    /// (`InvalidTenant`).
    pub fn spawn_blocking<F, R>(
        &self,
        tenant: TenantId,
        spec: Spawn,
        f: F,
    ) -> Result<JoinHandle<R>, Rejected<F>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(tenant, spec, f)
    }

    /// Sets `tenant`'s weight on every worker (from their next tick).
    ///
    /// # Errors
    ///
    /// A [`TenantError`] of kind
    /// [`IdOutOfRange`](crate::TenantErrorKind::IdOutOfRange) when `tenant`
    /// is at or above `max_tenants`.
    pub fn set_weight(&self, tenant: TenantId, weight: Weight) -> Result<(), TenantError> {
        self.handle.set_weight(tenant, weight)
    }

    /// A handle for spawning from elsewhere.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `future` to completion on the calling thread; tasks it spawns
    /// with [`Handle::current`] go to this pool.
    ///
    /// # Panics
    ///
    /// When called on one of this pool's worker threads: blocking a worker
    /// on a future that may need that worker would deadlock.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Stops admitting work, lets queued and running tasks go on for up to
    /// `timeout`, then cancels the rest: every task's future is dropped
    /// exactly once and every join handle resolves. Joins the pool's
    /// threads; a thread still inside a poll (or a blocking job) a stuck
    /// threshold after the timeout is detached, as it cannot be
    /// interrupted. Returns `true` when every thread was joined.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.shut_down = true;
        self.handle.shared.shutdown(timeout)
    }

    /// The load as admission sees it: the load score, the utilization and
    /// the standing queueing delay, as the monitor
    /// last estimated them (every couple of milliseconds while the pool is
    /// busy), and the spawns refused so far.
    pub fn load(&self) -> LoadReport {
        self.handle.load()
    }

    /// The scheduler's view; see [`Handle::snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        self.handle.snapshot()
    }

    /// Live tasks: spawned and not yet finished or cancelled.
    pub fn n_tasks(&self) -> usize {
        self.handle.shared.live.load(Ordering::Relaxed)
    }

    /// Worker threads alive now, replacements of stuck workers included.
    pub fn n_threads(&self) -> usize {
        self.handle.shared.threads.load(Ordering::Relaxed)
    }

    /// The number of worker slots.
    pub fn n_workers(&self) -> usize {
        self.handle.shared.slots.len()
    }

    /// How many stuck workers have been replaced so far.
    pub fn n_replaced(&self) -> u64 {
        self.handle.shared.replaced.load(Ordering::Relaxed)
    }

    /// Blocking-lane threads alive now (running a job or idle).
    pub fn n_blocking_threads(&self) -> usize {
        self.handle.shared.blocking.n_threads()
    }

    /// Blocking jobs waiting for a thread, over all tenants.
    pub fn n_blocking_queued(&self) -> usize {
        self.handle.shared.blocking.n_queued()
    }

    /// `tenant`'s blocking jobs running now.
    pub fn n_blocking_running(&self, tenant: TenantId) -> usize {
        self.handle.shared.blocking.n_running(tenant)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if !self.shut_down {
            self.handle.shared.shutdown(Duration::ZERO);
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.n_workers())
            .field("threads", &self.n_threads())
            .field("tasks", &self.n_tasks())
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// The pool this code runs in: the pool of the worker thread it is on,
    /// or the innermost [`Pool::block_on`] on this thread.
    pub fn current() -> Option<Handle> {
        if let Some(shared) = context::current_shared() {
            return Some(Handle { shared });
        }
        ENTERED
            .try_with(|entered| entered.borrow().last().cloned())
            .ok()
            .flatten()
    }

    /// Spawns `future` on the pool; see [`Pool::spawn`].
    ///
    /// # Errors
    ///
    /// As [`Pool::spawn`].
    pub fn spawn<F>(&self, spec: Spawn, future: F) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(spec, future)
    }

    /// Runs a blocking closure; see [`Pool::spawn_blocking`].
    ///
    /// # Errors
    ///
    /// As [`Pool::spawn_blocking`].
    pub fn spawn_blocking<F, R>(
        &self,
        tenant: TenantId,
        spec: Spawn,
        f: F,
    ) -> Result<JoinHandle<R>, Rejected<F>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        if !self.shared.state.is_open() {
            return Err(Rejected::new(f, RejectReason::ShuttingDown));
        }
        // Lanes are kept per tenant id: an id past the bound would be one
        // lane more than the runtime accounts for.
        if tenant.as_u32() >= self.shared.config.max_tenants {
            return Err(Rejected::new(f, RejectReason::InvalidTenant));
        }
        self.shared.blocking.spawn(tenant, spec, f)
    }

    /// The tenant called `name`, created on first use; the same name gives
    /// the same id for the life of the pool. Id 0 is `"default"`.
    ///
    /// # Errors
    ///
    /// A [`TenantError`] of kind
    /// [`TooMany`](crate::TenantErrorKind::TooMany) when the pool knows
    /// `max_tenants` tenants already, or
    /// [`NameTooLong`](crate::TenantErrorKind::NameTooLong) when `name` is
    /// longer than [`MAX_TENANT_NAME_LEN`](crate::MAX_TENANT_NAME_LEN)
    /// bytes.
    pub fn tenant(&self, name: &str) -> Result<TenantId, TenantError> {
        self.shared.tenants.intern(name)
    }

    /// The name of a tenant interned with [`tenant`](Self::tenant).
    pub fn tenant_name(&self, tenant: TenantId) -> Option<std::sync::Arc<str>> {
        self.shared.tenants.name(tenant)
    }

    /// Admission for work that is not a task: asks, as a spawn of
    /// `tenant`'s work in `class` would, whether the pool takes more now,
    /// and holds the place until the [`Permit`] is dropped. What an accept
    /// loop calls before it accepts a connection (with `Class::Accept`,
    /// the first class refused as the load rises). Never waits.
    ///
    /// # Errors
    ///
    /// A [`Rejected`] with the reason, the load and a retry hint, when the
    /// pool is loaded past the class's threshold (and the tenant is over
    /// its share, or nobody is), at its bound, or shutting down.
    pub fn try_admit(&self, tenant: TenantId, class: Class) -> Result<Permit, Rejected<()>> {
        try_admit(&self.shared, tenant, class)
    }

    /// As [`try_admit`](Self::try_admit), but a refusal by load waits for
    /// capacity: the waiter asks again at every monitor step (a couple of
    /// milliseconds), by the same rules, so waiting tenants are served
    /// fairly (the tenant over its share keeps waiting while the others
    /// are admitted). It gives up after its patience
    /// ([`DEFAULT_ADMIT_PATIENCE`](crate::DEFAULT_ADMIT_PATIENCE), or
    /// [`Admit::within`](crate::Admit::within)) with the last refusal;
    /// shutdown, an invalid tenant and a full waiting list
    /// (`MAX_WAITERS`, 4,096) refuse at once.
    pub fn admit(&self, tenant: TenantId, class: Class) -> crate::Admit {
        crate::Admit::new(self.shared.clone(), tenant, class)
    }

    /// Counts an IO operation of `kind` in flight for `tenant` until the
    /// guard is dropped: admission refuses new `Accept` and `Read` work
    /// while a kind is at its depth limit (`AdmissionConfig::io_depth_limit`),
    /// and the counts are part of the scheduler's view. Ids past
    /// `max_tenants` count in the totals only.
    pub fn io(&self, tenant: TenantId, kind: IoKind) -> IoGuard {
        self.shared.gate.io_begin(tenant, kind);
        IoGuard {
            shared: self.shared.clone(),
            tenant,
            kind,
        }
    }

    /// IO operations of `kind` in flight: `tenant`'s, or everyone's for
    /// `None`.
    pub fn n_io(&self, tenant: Option<TenantId>, kind: IoKind) -> u32 {
        self.shared.gate.io_in_flight(tenant, kind)
    }

    /// The scheduler's view now: the process's figures, each worker's and
    /// class's, and the ten heaviest tenants by CPU over the recent window,
    /// the ten with the deepest queues, and the ten most throttled, each
    /// with its row (see `drama_metrics::Snapshot`; `Display` prints it as
    /// a table). Read from the workers' counters without stopping them:
    /// the figures of one snapshot may be a poll apart. It costs
    /// O(tenants × workers) loads, about 8 ms with 100,000
    /// tenants; take it about once a second, not per request.
    pub fn snapshot(&self) -> Snapshot {
        crate::snapshot::snapshot(&self.shared, crate::snapshot::DEFAULT_TOP, &[])
    }

    /// As [`snapshot`](Self::snapshot), with rankings of `top` tenants
    /// (at most 1,000) and rows for the `tenants` named too, ranked or
    /// not (an exporter that labels chosen tenants needs their rows).
    pub fn snapshot_with(&self, top: usize, tenants: &[TenantId]) -> Snapshot {
        crate::snapshot::snapshot(&self.shared, top, tenants)
    }

    /// Where the status endpoint listens (`Builder::status_addr`), with
    /// the port chosen if port 0 was asked; `None` without one.
    #[cfg(feature = "status")]
    pub fn status_addr(&self) -> Option<std::net::SocketAddr> {
        self.shared.status_addr.get().copied()
    }

    /// The load; see [`Pool::load`].
    pub fn load(&self) -> LoadReport {
        let gate = &self.shared.gate;
        let load = gate.load();
        let (p50_ns, p99_ns, refusals_per_sec) = gate.reported();
        LoadReport {
            score: load.score,
            utilization: load.utilization,
            queue_delay: Duration::from_nanos(load.standing_delay_ns),
            queue_delay_p50: Duration::from_nanos(p50_ns),
            queue_delay_p99: Duration::from_nanos(p99_ns),
            refusals_per_sec,
            n_refused: gate.n_refused(),
            n_expired: gate.n_expired(),
        }
    }

    /// Sets `tenant`'s weight; see [`Pool::set_weight`].
    ///
    /// # Errors
    ///
    /// As [`Pool::set_weight`].
    pub fn set_weight(&self, tenant: TenantId, weight: Weight) -> Result<(), TenantError> {
        self.shared.set_weight(tenant, weight)
    }

    /// Runs `future` to completion on the calling thread; see
    /// [`Pool::block_on`].
    ///
    /// # Panics
    ///
    /// When called on one of this pool's worker threads.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        assert!(
            context::local_slot(&self.shared).is_none(),
            "block_on called on one of the pool's own worker threads; \
             await the future instead (blocking a worker can deadlock the pool)"
        );
        struct Exit;
        impl Drop for Exit {
            fn drop(&mut self) {
                let _ = ENTERED.try_with(|entered| entered.borrow_mut().pop());
            }
        }
        ENTERED.with(|entered| entered.borrow_mut().push(self.clone()));
        let _exit = Exit;
        let signal = Arc::new(ThreadSignal {
            thread: std::thread::current(),
            notified: AtomicBool::new(false),
        });
        let waker = Waker::from(signal.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            while !signal.notified.swap(false, Ordering::Acquire) {
                std::thread::park();
            }
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.slots.len())
            .finish_non_exhaustive()
    }
}

/// Wakes a thread blocked in `block_on`.
struct ThreadSignal {
    thread: std::thread::Thread,
    notified: AtomicBool,
}

impl Wake for ThreadSignal {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        if !self.notified.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

/// How loaded a pool is, as its admission control sees it.
///
/// ```
/// let pool = drama_pool::Pool::builder().workers(1).build()?;
/// let load = pool.load();
/// assert!(load.score() < 1.0, "an idle pool is not saturated");
/// # Ok::<(), drama_pool::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoadReport {
    score: f64,
    utilization: f64,
    queue_delay: Duration,
    queue_delay_p50: Duration,
    queue_delay_p99: Duration,
    refusals_per_sec: f64,
    n_refused: u64,
    n_expired: u64,
}

impl LoadReport {
    /// The load score: 0 idle, close to 1 with every worker busy, 1 when
    /// work admitted now would wait the target (500 µs by default) for a
    /// worker (saturated), above 1 overloaded, by that factor. New `Accept`
    /// work is refused from 1 by default, `Read` from 1.5, `Compute` from
    /// 2; `Write` only at the task bound. Bursts on idle workers are not
    /// refused: the predicted wait counts once the workers have stayed
    /// busy for a few milliseconds.
    pub fn score(&self) -> f64 {
        self.score
    }

    /// The share of the workers' time not out of work (polling, or ready
    /// to poll), averaged over a few milliseconds.
    pub fn utilization(&self) -> f64 {
        self.utilization
    }

    /// The standing queueing delay: the shortest wait of a runnable task
    /// for its poll over the last window (a few milliseconds), which a
    /// burst that drains does not raise.
    pub fn queue_delay(&self) -> Duration {
        self.queue_delay
    }

    /// The median queueing delay (from entering a worker's queue to the
    /// start of the poll) of the polls of about the last 100 ms, as the
    /// upper bound of its histogram bucket (at most a fifth over).
    pub fn queue_delay_p50(&self) -> Duration {
        self.queue_delay_p50
    }

    /// The 99th percentile of the same delays.
    pub fn queue_delay_p99(&self) -> Duration {
        self.queue_delay_p99
    }

    /// Spawns refused by admission per second, averaged over about the
    /// last 100 ms.
    pub fn refusals_per_sec(&self) -> f64 {
        self.refusals_per_sec
    }

    /// Spawns and admissions refused so far, by admission's rules or the
    /// task bound (not counting shutdown).
    pub fn n_refused(&self) -> u64 {
        self.n_refused
    }

    /// Tasks whose deadline passed before their first poll so far: dropped
    /// unpolled, their handles resolved as expired.
    pub fn n_expired(&self) -> u64 {
        self.n_expired
    }
}

/// A place in the pool for work that is not a task (a connection being
/// accepted, a request handled inline), from [`Handle::try_admit`]: it
/// counts as its tenant's work in flight until dropped.
#[must_use = "the place is given back when the permit is dropped"]
pub struct Permit {
    shared: Arc<Shared>,
    tenant: TenantId,
}

impl Permit {
    /// The tenant the place is held for.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.shared.gate.finish(self.tenant);
        self.shared.permits.fetch_sub(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// An IO operation in flight, counted for its tenant and kind until
/// dropped; from [`Handle::io`].
#[must_use = "the operation counts as in flight until the guard is dropped"]
pub struct IoGuard {
    shared: Arc<Shared>,
    tenant: TenantId,
    kind: IoKind,
}

impl Drop for IoGuard {
    fn drop(&mut self) {
        self.shared.gate.io_end(self.tenant, self.kind);
    }
}

impl fmt::Debug for IoGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoGuard")
            .field("tenant", &self.tenant)
            .field("kind", &self.kind)
            .finish()
    }
}

/// The admission of work that is not a task: the body of
/// [`Handle::try_admit`], for `Admit` too.
pub(crate) fn try_admit(
    shared: &Arc<Shared>,
    tenant: TenantId,
    class: Class,
) -> Result<Permit, Rejected<()>> {
    if !shared.state.is_open() {
        return Err(Rejected::new((), RejectReason::ShuttingDown));
    }
    match shared
        .gate
        .admit(tenant, class, false, shared.in_flight(), None)
    {
        Ok(()) => {
            shared.permits.fetch_add(1, Ordering::Relaxed);
            Ok(Permit {
                shared: shared.clone(),
                tenant,
            })
        }
        Err(refusal) => Err(Rejected::with_load(
            (),
            crate::gate::reject_reason(refusal.kind()),
            refusal.load().score,
            crate::gate::retry_after(&refusal),
        )),
    }
}
