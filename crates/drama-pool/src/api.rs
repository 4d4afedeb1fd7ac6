//! The public handles: [`Runtime`], which owns the threads, and [`Handle`],
//! which carries the API. `Runtime` derefs to `Handle`, so every method is
//! written once, on `Handle`, and a runtime and its handles behave alike.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use drama_core::{JoinHandle, RejectReason, Rejected, Spawn};
use drama_metrics::Snapshot;
use drama_policy::{Class, IoKind, TenantId, Weight};

use crate::builder::{BuildError, Builder};
use crate::context;
use crate::pool::Shared;
use crate::sync::{Arc, AtomicBool, Ordering};
use crate::tenants::TenantError;

/// A multi-threaded runtime that runs tasks fairly across tenants.
///
/// Built with [`Runtime::builder`] (or [`Runtime::new`] for the defaults).
/// The runtime owns its threads; what it does is [`Handle`]'s, which it
/// derefs to: `rt.spawn(future)` is [`Handle::spawn`], `rt.tenant(name)`
/// [`Handle::tenant`], and so on. Only what needs the runtime itself is
/// here: [`shutdown_timeout`](Self::shutdown_timeout), which consumes it,
/// and [`handle`](Self::handle), a clone of its handle to move elsewhere.
///
/// ```
/// # mod drama { pub use drama_pool::*; pub use drama_core::{Class, Spawn}; }
/// use drama::{Class, Runtime, Spawn};
///
/// let rt = Runtime::builder().workers(2).build()?;
/// let acme = rt.tenant("acme")?;
/// rt.set_weight(acme, 400)?; // four times the default share
/// let h = rt.spawn_with(Spawn::new().tenant(acme).class(Class::Read), async { 2 + 2 })?;
/// assert_eq!(rt.block_on(h)?, 4);
/// rt.shutdown_timeout(std::time::Duration::from_secs(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Dropping the runtime shuts it down with a zero timeout: queued and idle
/// tasks are cancelled, running polls finish.
pub struct Runtime {
    handle: Handle,
    shut_down: bool,
}

/// A cheap, cloneable reference to a [`Runtime`], and the runtime's API:
/// spawning, tenants and their weights, admission, the load and the
/// scheduler's view. A [`Runtime`] derefs to its handle; clone one
/// ([`Runtime::handle`]) to spawn from another thread.
///
/// A handle does not keep the runtime's threads alive: once the runtime is
/// shut down, spawns through a handle are refused with
/// `RejectReason::ShuttingDown`.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

thread_local! {
    /// The runtime whose `block_on` runs on this thread (innermost first).
    static ENTERED: RefCell<Vec<Handle>> = const { RefCell::new(Vec::new()) };
}

impl Runtime {
    /// A builder with the defaults.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A runtime with the default settings (one worker per core).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] of kind
    /// [`ThreadStart`](crate::BuildErrorKind::ThreadStart) when a thread
    /// cannot be started.
    pub fn new() -> Result<Runtime, BuildError> {
        Builder::new().build()
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Runtime {
        Runtime {
            handle: Handle { shared },
            shut_down: false,
        }
    }

    /// A handle to spawn from elsewhere: a clone, to move into another
    /// thread or struct (`&*rt`, through `Deref`, borrows the runtime's
    /// own).
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Stops admitting work, lets queued and running tasks go on for up to
    /// `timeout`, then cancels the rest: every task's future is dropped
    /// exactly once and every join handle resolves. Joins the runtime's
    /// threads; a thread still inside a poll (or a blocking job) a stuck
    /// threshold after the timeout is detached, as it cannot be
    /// interrupted.
    ///
    /// Returns `true` when every thread was joined: a refinement of the
    /// design sketch's `rt.shutdown_timeout(d)`, so that a caller can tell
    /// (and log) that a stuck thread was left behind.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.shut_down = true;
        self.handle.shared.shutdown(timeout)
    }
}

impl Deref for Runtime {
    type Target = Handle;

    fn deref(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.shut_down {
            self.handle.shared.shutdown(Duration::ZERO);
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.n_workers())
            .field("threads", &self.n_threads())
            .field("tasks", &self.n_tasks())
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// The runtime this code runs in: the runtime of the worker thread it
    /// is on, or of the innermost [`block_on`](Self::block_on) on this
    /// thread; `None` outside any.
    pub fn current() -> Option<Handle> {
        if let Some(shared) = context::current_shared() {
            return Some(Handle { shared });
        }
        ENTERED
            .try_with(|entered| entered.borrow().last().cloned())
            .ok()
            .flatten()
    }

    /// Spawns `future` for the default tenant in `Class::Compute` or,
    /// called from inside a task, for that task's tenant and class.
    ///
    /// # Errors
    ///
    /// Hands the future back in a [`Rejected`] whose
    /// [`reason`](Rejected::reason) says why: the runtime holds its maximum
    /// of tasks (`QueueFull`); admission refuses new work of this tenant
    /// and class at the present load (`Overloaded`, `OverShare`, `IoDepth`,
    /// `DeadlineUnreachable`, with the load and a retry hint); the runtime
    /// is shutting down (`ShuttingDown`); or the task's tenant, set or
    /// inherited, is at or above `max_tenants` (`InvalidTenant`).
    pub fn spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(Spawn::new(), future)
    }

    /// Spawns `future` with the tenant, class, name and deadline in `spec`;
    /// the tenant and class it leaves unset are inherited as
    /// [`spawn`](Self::spawn) inherits them.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    pub fn spawn_with<F>(
        &self,
        spec: Spawn,
        future: F,
    ) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(spec, future)
    }

    /// Runs the blocking closure `f` on `tenant`'s blocking lane: on
    /// threads bounded in all and per tenant, with bounded per-tenant
    /// queues served round robin (see
    /// [`Builder::blocking_threads`](crate::Builder::blocking_threads)).
    ///
    /// # Errors
    ///
    /// Hands the closure back when the tenant's lane queue (or the total
    /// queue) is full (`QueueFull`), the runtime is shutting down
    /// (`ShuttingDown`), or `tenant` is at or above `max_tenants`
    /// (`InvalidTenant`).
    pub fn spawn_blocking<F, R>(&self, tenant: TenantId, f: F) -> Result<JoinHandle<R>, Rejected<F>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn_blocking_with(Spawn::new().tenant(tenant), f)
    }

    /// As [`spawn_blocking`](Self::spawn_blocking), with a name and a
    /// deadline: the job runs on the lane of `spec`'s tenant (inherited
    /// from the current task when unset, as [`spawn_with`](Self::spawn_with)
    /// inherits it), and a job whose deadline passes before a thread takes
    /// it is not run (its handle says `is_expired`). Not in the design
    /// sketch, which has only `spawn_blocking(tenant, f)`: the spec's
    /// variant takes the tenant from the spec alone, so that no call names
    /// it twice.
    ///
    /// # Errors
    ///
    /// As [`spawn_blocking`](Self::spawn_blocking).
    pub fn spawn_blocking_with<F, R>(&self, spec: Spawn, f: F) -> Result<JoinHandle<R>, Rejected<F>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        if !self.shared.state.is_open() {
            return Err(Rejected::new(f, RejectReason::ShuttingDown));
        }
        let spec = spec.inherit();
        let tenant = spec.get_tenant().unwrap_or_default();
        // Lanes are kept per tenant id: an id past the bound would be one
        // lane more than the runtime accounts for.
        if tenant.as_u32() >= self.shared.config.max_tenants {
            return Err(Rejected::new(f, RejectReason::InvalidTenant));
        }
        self.shared.blocking.spawn(tenant, spec, f)
    }

    /// The tenant called `name`, created on first use. The same name always
    /// gives the same id for the life of the runtime; id 0 is `"default"`.
    /// Any string is a name, the empty one included.
    ///
    /// A refinement of the design sketch's `let acme: TenantId =
    /// rt.tenant("acme")`: a `Result`, because the tenants a runtime knows
    /// are bounded (`max_tenants`), and so is the length of their names.
    ///
    /// # Errors
    ///
    /// A [`TenantError`] of kind
    /// [`TooMany`](crate::TenantErrorKind::TooMany) when the runtime knows
    /// as many tenants as it may
    /// ([`Builder::max_tenants`](crate::Builder::max_tenants)), or
    /// [`NameTooLong`](crate::TenantErrorKind::NameTooLong) when `name` is
    /// longer than [`MAX_TENANT_NAME_LEN`](crate::MAX_TENANT_NAME_LEN)
    /// bytes.
    pub fn tenant(&self, name: &str) -> Result<TenantId, TenantError> {
        self.shared.tenants.intern(name)
    }

    /// The name of a tenant interned with [`tenant`](Self::tenant); `None`
    /// for an id no name was interned for.
    pub fn tenant_name(&self, tenant: TenantId) -> Option<std::sync::Arc<str>> {
        self.shared.tenants.name(tenant)
    }

    /// Sets `tenant`'s weight: its share of CPU relative to the others when
    /// they compete, in shares. The default weight is 100; 400 means four
    /// times the default share. Takes effect on each worker at its next
    /// tick.
    ///
    /// A refinement of the design sketch's `rt.set_weight(acme, 4)`: both
    /// the weight and the tenant id are checked, and one error type,
    /// [`TenantError`], covers every call that names a tenant. The weight
    /// stays a plain `u32` of shares (checked here into a
    /// `drama_policy::Weight`), so that a caller needs no policy type to
    /// set one.
    ///
    /// # Errors
    ///
    /// A [`TenantError`] of kind
    /// [`WeightOutOfRange`](crate::TenantErrorKind::WeightOutOfRange) when
    /// `weight` is not in 1..=10,000 (checked first), or
    /// [`IdOutOfRange`](crate::TenantErrorKind::IdOutOfRange) when `tenant`
    /// is at or above `max_tenants`.
    pub fn set_weight(&self, tenant: TenantId, weight: u32) -> Result<(), TenantError> {
        let weight = Weight::new(weight)?;
        self.shared.set_weight(tenant, weight)
    }

    /// Admission for work that is not a task, such as a connection an
    /// accept loop is about to accept: whether the runtime takes more of
    /// `tenant`'s work in `class` now (as a spawn would be decided), with
    /// the place held until the [`Permit`] is dropped. `Class::Accept` is
    /// the first class refused as the load rises. Never waits.
    ///
    /// ```
    /// # mod drama { pub use drama_pool::*; pub use drama_core::Class; }
    /// use drama::{Class, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let acme = rt.tenant("acme")?;
    /// match rt.try_admit(acme, Class::Accept) {
    ///     Ok(permit) => drop(permit), // accept the connection, serve it, then drop
    ///     Err(refused) => eprintln!("busy, retry in {:?}", refused.retry_after()),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`Rejected`] with the reason, the load and a retry hint, when the
    /// runtime is loaded past the class's threshold (and the tenant is over
    /// its share, or nobody is), at its bound, or shutting down.
    pub fn try_admit(&self, tenant: TenantId, class: Class) -> Result<Permit, Rejected<()>> {
        try_admit(&self.shared, tenant, class)
    }

    /// As [`try_admit`](Self::try_admit), but a refusal by load waits for
    /// capacity: the waiter asks again at every monitor step (a couple of
    /// milliseconds), by the same rules, so waiting tenants are served
    /// fairly (the tenant over its share keeps waiting while the others
    /// are admitted). It gives up after its patience
    /// ([`DEFAULT_ADMIT_PATIENCE`](crate::DEFAULT_ADMIT_PATIENCE), a
    /// second, or [`Admit::within`](crate::Admit::within)) with the last
    /// refusal; shutdown, an invalid tenant and a full waiting list
    /// (`MAX_WAITERS`, 4,096) refuse at once.
    ///
    /// ```
    /// # mod drama { pub use drama_pool::*; pub use drama_core::{Class, Rejected}; }
    /// use drama::{Class, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let acme = rt.tenant("acme")?;
    /// let served = rt.block_on(async {
    ///     let _permit = rt.admit(acme, Class::Accept).await?; // accept, serve, drop
    ///     Ok::<_, drama::Rejected<()>>("served")
    /// })?;
    /// assert_eq!(served, "served");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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

    /// How loaded the runtime is, as its admission control sees it: the
    /// load score (0 idle, 1 saturated, above 1 overloaded), the workers'
    /// utilization, the standing queueing delay, as the monitor last
    /// estimated them (every couple of milliseconds while the runtime is
    /// busy), and the spawns refused so far. A load balancer in front of
    /// the service can act on the score before anything is refused.
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

    /// The scheduler's view now: utilization and load, each worker and
    /// class (queueing-delay and poll-time percentiles), and the tenants
    /// that matter: the ten heaviest by CPU over the last second or two,
    /// the ten with the deepest queues, the ten most throttled, each with
    /// its row. `Display` prints it as a table; the `metrics` module's
    /// `Exporter` sends it to the `metrics` facade. Read from the workers'
    /// counters without stopping them, so the figures of one snapshot may
    /// be a poll apart. It costs O(tenants × workers) loads, about 8 ms
    /// with 100,000 tenants: take it about once a second, not per request.
    ///
    /// ```
    /// # mod drama { pub use drama_pool::*; pub use drama_core::Spawn; }
    /// let rt = drama::Runtime::builder().workers(1).build()?;
    /// let acme = rt.tenant("acme")?;
    /// let task = rt.spawn_with(drama::Spawn::new().tenant(acme), async { 1 + 1 })?;
    /// rt.block_on(task)?;
    /// // Its row is asked for by id: a tenant is ranked by what it used
    /// // over the window, and the poll's record lands just after the join.
    /// let snap = rt.snapshot_with(10, &[acme]);
    /// assert_eq!(snap.tenant_named("acme").unwrap().completed, 1);
    /// println!("{}", rt.snapshot());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        crate::snapshot::snapshot(&self.shared, crate::snapshot::DEFAULT_TOP, &[])
    }

    /// As [`snapshot`](Self::snapshot), with rankings of `top` tenants
    /// (at most 1,000) and rows for the `tenants` named too, ranked or
    /// not (an exporter that labels chosen tenants needs their rows).
    pub fn snapshot_with(&self, top: usize, tenants: &[TenantId]) -> Snapshot {
        crate::snapshot::snapshot(&self.shared, top, tenants)
    }

    /// Where the status endpoint listens
    /// ([`Builder::status_addr`](crate::Builder::status_addr)), with the
    /// port chosen if port 0 was asked; `None` without one.
    #[cfg(feature = "status")]
    pub fn status_addr(&self) -> Option<std::net::SocketAddr> {
        self.shared.status_addr.get().copied()
    }

    /// Runs `future` to completion on the calling thread. Inside it,
    /// `drama::spawn` (and [`Handle::current`]) find this runtime.
    ///
    /// # Panics
    ///
    /// When called on one of the runtime's worker threads: blocking a
    /// worker on a future that may need that worker would deadlock. Await
    /// the future instead.
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

    /// Live tasks: spawned and not yet finished or cancelled.
    pub fn n_tasks(&self) -> usize {
        self.shared.live.load(Ordering::Relaxed)
    }

    /// Worker threads alive now, replacements of stuck workers included.
    pub fn n_threads(&self) -> usize {
        self.shared.threads.load(Ordering::Relaxed)
    }

    /// The number of worker slots (`Builder::workers`).
    pub fn n_workers(&self) -> usize {
        self.shared.slots.len()
    }

    /// How many stuck workers have been replaced so far.
    pub fn n_replaced(&self) -> u64 {
        self.shared.replaced.load(Ordering::Relaxed)
    }

    /// Blocking-lane threads alive now (running a job or idle).
    pub fn n_blocking_threads(&self) -> usize {
        self.shared.blocking.n_threads()
    }

    /// Blocking jobs waiting for a thread, over all tenants.
    pub fn n_blocking_queued(&self) -> usize {
        self.shared.blocking.n_queued()
    }

    /// `tenant`'s blocking jobs running now.
    pub fn n_blocking_running(&self, tenant: TenantId) -> usize {
        self.shared.blocking.n_running(tenant)
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

/// How loaded a runtime is, as its admission control sees it
/// ([`Handle::load`]).
///
/// ```
/// # mod drama { pub use drama_pool::*; }
/// let rt = drama::Runtime::builder().workers(1).build()?;
/// let load = rt.load();
/// assert!(load.score() < 1.0, "an idle runtime is not saturated");
/// # Ok::<(), drama::BuildError>(())
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

/// A place in the runtime for work that is not a task (a connection being
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
