//! [`Runtime`], its [`Builder`], tenant names, and the free spawn functions.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use drama_core::{JoinHandle, RejectReason, Rejected, Spawn};
use drama_policy::{DrrConfig, Policy, TenantId, Weight};

use drama_admission::AdmissionConfig;
use drama_metrics::Snapshot;
use drama_policy::{Class, IoKind};
use drama_pool::{Admit, IoGuard, LoadReport, Permit};

pub use drama_pool::{
    BuildError, BuildErrorKind, MAX_TENANT_NAME_LEN, TenantError, TenantErrorKind,
};

/// A multi-threaded runtime that runs tasks fairly across tenants.
///
/// ```
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
    pool: drama_pool::Pool,
    handle: Handle,
}

/// A cloneable reference to a [`Runtime`], to spawn from anywhere.
#[derive(Clone)]
pub struct Handle {
    pool: drama_pool::Handle,
}

/// Configures a [`Runtime`]. Every setting has a range (the `MIN_*` and
/// `MAX_*` constants of [`drama_pool::Builder`], each with its reason, and
/// in each setter's documentation); [`build`](Self::build) refuses a value
/// out of range with a [`BuildError`] whose [`kind`](BuildError::kind)
/// names the setting, never a panic, an abort or a hang.
///
/// ```
/// use std::time::Duration;
///
/// let rt = drama::Runtime::builder()
///     .workers(2)
///     .max_tasks(100_000)
///     .stuck_threshold(Duration::from_millis(20))
///     .build()?;
/// # drop(rt);
/// # Ok::<(), drama::BuildError>(())
/// ```
///
/// ```
/// use std::time::Duration;
/// use drama::BuildErrorKind;
///
/// let refused = drama::Runtime::builder().stuck_threshold(Duration::MAX).build();
/// assert_eq!(refused.unwrap_err().kind(), BuildErrorKind::StuckThreshold);
/// ```
#[must_use = "a Builder does nothing until build() is called"]
pub struct Builder {
    pool: drama_pool::Builder,
}

impl Runtime {
    /// A builder with the defaults.
    pub fn builder() -> Builder {
        Builder {
            pool: drama_pool::Builder::new(),
        }
    }

    /// A runtime with the default settings (one worker per core).
    ///
    /// # Errors
    ///
    /// When a thread cannot be started.
    pub fn new() -> Result<Runtime, BuildError> {
        Runtime::builder().build()
    }

    /// The tenant called `name`, created on first use. The same name always
    /// gives the same id for the life of the runtime.
    ///
    /// # Errors
    ///
    /// A [`TenantError`] of kind [`TooMany`](TenantErrorKind::TooMany) when
    /// the runtime already knows as many tenants as it may
    /// ([`Builder::max_tenants`]), or
    /// [`NameTooLong`](TenantErrorKind::NameTooLong) when `name` is longer
    /// than [`MAX_TENANT_NAME_LEN`] bytes. Any other string is a name, the
    /// empty one included.
    pub fn tenant(&self, name: &str) -> Result<TenantId, TenantError> {
        self.handle.tenant(name)
    }

    /// The name of an interned tenant.
    pub fn tenant_name(&self, tenant: TenantId) -> Option<Arc<str>> {
        self.handle.pool.tenant_name(tenant)
    }

    /// Sets `tenant`'s weight: its share of CPU relative to the others when
    /// they compete. The default weight is 100; 400 means four times the
    /// default share. Takes effect on each worker at its next tick.
    ///
    /// # Errors
    ///
    /// A [`TenantError`] of kind
    /// [`WeightOutOfRange`](TenantErrorKind::WeightOutOfRange) when
    /// `weight` is not in 1..=10,000, or
    /// [`IdOutOfRange`](TenantErrorKind::IdOutOfRange) when `tenant` is at
    /// or above [`Builder::max_tenants`].
    ///
    /// This refines the design sketch's `rt.set_weight(acme, 4)`: the
    /// weight and the tenant id are both checked, and one error type,
    /// [`TenantError`], covers every call that names a tenant (a refused
    /// weight used to be a `policy::InvalidWeight`; the value refused is in
    /// the error's message).
    pub fn set_weight(&self, tenant: TenantId, weight: u32) -> Result<(), TenantError> {
        self.handle.set_weight(tenant, weight)
    }

    /// Spawns `future` for the default tenant in [`Class::Compute`](crate::Class)
    /// (or, called from inside a task, for that task's tenant and class).
    ///
    /// # Errors
    ///
    /// Hands the future back in a [`Rejected`] when the runtime holds its
    /// maximum of tasks (`QueueFull`), is shutting down (`ShuttingDown`), or
    /// the task's tenant, set or inherited, is at or above
    /// [`Builder::max_tenants`] (`InvalidTenant`).
    pub fn spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.pool.spawn(Spawn::new(), future)
    }

    /// Spawns `future` with the tenant, class and name in `spec`.
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
        self.pool.spawn(spec, future)
    }

    /// Runs the blocking closure `f` on `tenant`'s bounded blocking lane.
    ///
    /// # Errors
    ///
    /// Hands the closure back when the tenant's lane queue is full
    /// (`QueueFull`), the runtime is shutting down (`ShuttingDown`), or
    /// `tenant` is at or above [`Builder::max_tenants`] (`InvalidTenant`).
    pub fn spawn_blocking<F, R>(&self, tenant: TenantId, f: F) -> Result<JoinHandle<R>, Rejected<F>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.pool.spawn_blocking(tenant, Spawn::new(), f)
    }

    /// Runs `future` to completion on the calling thread. Inside it,
    /// [`spawn`](crate::spawn) spawns onto this runtime.
    ///
    /// # Panics
    ///
    /// When called on one of the runtime's worker threads (it would block a
    /// worker, which can deadlock): await the future instead.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.pool.block_on(future)
    }

    /// A handle for spawning from elsewhere.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Stops admitting work, lets queued and running tasks go on for up to
    /// `timeout`, then cancels the rest. Every task's future is dropped
    /// exactly once and every join handle resolves. Returns `true` when
    /// every thread was joined (a thread stuck in a poll or a blocking job
    /// cannot be interrupted and is detached).
    pub fn shutdown_timeout(self, timeout: Duration) -> bool {
        self.pool.shutdown_timeout(timeout)
    }

    /// Admission for work that is not a task, such as a connection an
    /// accept loop is about to accept: whether the runtime takes more of
    /// `tenant`'s work in `class` now (as a spawn would be decided), with
    /// the place held until the [`Permit`] is dropped. Never waits.
    ///
    /// ```
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
    /// A [`Rejected`] with the reason, the load and a retry hint.
    pub fn try_admit(&self, tenant: TenantId, class: Class) -> Result<Permit, Rejected<()>> {
        self.handle.try_admit(tenant, class)
    }

    /// Counts an IO operation of `kind` in flight for `tenant` until the
    /// guard is dropped; admission refuses new `Accept` and `Read` work
    /// while a kind is at its depth limit.
    pub fn io(&self, tenant: TenantId, kind: IoKind) -> IoGuard {
        self.handle.io(tenant, kind)
    }

    /// As [`try_admit`](Self::try_admit), but waits for capacity: the
    /// waiter asks again every couple of milliseconds, by the same rules,
    /// so waiting tenants are served fairly (the tenant over its share
    /// waits while the others are admitted), and gives up after its
    /// patience (a second by default, [`Admit::within`]) with the last
    /// refusal. Shutdown wakes every waiter with a refusal.
    ///
    /// ```
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
    pub fn admit(&self, tenant: TenantId, class: Class) -> Admit {
        self.handle.admit(tenant, class)
    }

    /// How loaded the runtime is, as its admission control sees it: the
    /// load score (0 idle, 1 saturated, above 1 overloaded), the workers'
    /// utilization, the standing queueing delay, the spawns refused so far.
    /// A load balancer in front of the service can act on the score before
    /// anything is refused.
    pub fn load(&self) -> LoadReport {
        self.pool.load()
    }

    /// The scheduler's view now: utilization and load, each worker and
    /// class (queueing-delay and poll-time percentiles), and the tenants
    /// that matter: the heavy hitters by CPU over the last second or two,
    /// the deepest queues, the most throttled. `Display` prints it as a
    /// table; [`metrics::Exporter`](crate::metrics::Exporter) sends it to
    /// the `metrics` facade. Read without stopping the workers; take it
    /// about once a second (it reads every tenant's counters).
    ///
    /// ```
    /// let rt = drama::Runtime::builder().workers(1).build()?;
    /// let acme = rt.tenant("acme")?;
    /// let task = rt.spawn_with(drama::Spawn::new().tenant(acme), async { 1 + 1 })?;
    /// rt.block_on(task)?;
    /// let snap = rt.snapshot();
    /// assert_eq!(snap.tenant_named("acme").unwrap().completed, 1);
    /// println!("{snap}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        self.handle.snapshot()
    }

    /// As [`snapshot`](Self::snapshot), with rankings of `top` tenants (at
    /// most 1,000) and rows for the `tenants` named, ranked or not.
    pub fn snapshot_with(&self, top: usize, tenants: &[TenantId]) -> Snapshot {
        self.handle.snapshot_with(top, tenants)
    }

    /// Where the status endpoint listens ([`Builder::status_addr`]).
    #[cfg(feature = "status")]
    pub fn status_addr(&self) -> Option<std::net::SocketAddr> {
        self.pool.handle().status_addr()
    }

    /// Live tasks: spawned and not yet finished or cancelled.
    pub fn n_tasks(&self) -> usize {
        self.pool.n_tasks()
    }

    /// Worker threads alive, replacements of stuck workers included.
    pub fn n_threads(&self) -> usize {
        self.pool.n_threads()
    }

    /// How many stuck workers have been replaced so far.
    pub fn n_replaced(&self) -> u64 {
        self.pool.n_replaced()
    }

    /// Blocking-lane threads alive now (running a job or idle).
    pub fn n_blocking_threads(&self) -> usize {
        self.pool.n_blocking_threads()
    }

    /// Blocking jobs waiting for a thread, over all tenants.
    pub fn n_blocking_queued(&self) -> usize {
        self.pool.n_blocking_queued()
    }

    /// `tenant`'s blocking jobs running now.
    pub fn n_blocking_running(&self, tenant: TenantId) -> usize {
        self.pool.n_blocking_running(tenant)
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("pool", &self.pool).finish()
    }
}

impl Handle {
    /// The handle of the runtime this code runs in (a task of it, or its
    /// `block_on`), if any.
    pub fn current() -> Option<Handle> {
        drama_pool::Handle::current().map(|pool| Handle { pool })
    }

    /// Spawns `future`; see [`Runtime::spawn`].
    ///
    /// # Errors
    ///
    /// As [`Runtime::spawn`].
    pub fn spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.pool.spawn(Spawn::new(), future)
    }

    /// Spawns `future` with `spec`; see [`Runtime::spawn_with`].
    ///
    /// # Errors
    ///
    /// As [`Runtime::spawn`].
    pub fn spawn_with<F>(
        &self,
        spec: Spawn,
        future: F,
    ) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.pool.spawn(spec, future)
    }

    /// Runs a blocking closure on `tenant`'s lane; see
    /// [`Runtime::spawn_blocking`].
    ///
    /// # Errors
    ///
    /// As [`Runtime::spawn_blocking`].
    pub fn spawn_blocking<F, R>(&self, tenant: TenantId, f: F) -> Result<JoinHandle<R>, Rejected<F>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.pool.spawn_blocking(tenant, Spawn::new(), f)
    }

    /// The tenant called `name`; see [`Runtime::tenant`].
    ///
    /// # Errors
    ///
    /// As [`Runtime::tenant`].
    pub fn tenant(&self, name: &str) -> Result<TenantId, TenantError> {
        self.pool.tenant(name)
    }

    /// Sets a tenant's weight; see [`Runtime::set_weight`].
    ///
    /// # Errors
    ///
    /// As [`Runtime::set_weight`].
    pub fn set_weight(&self, tenant: TenantId, weight: u32) -> Result<(), TenantError> {
        let weight = Weight::new(weight)?;
        self.pool.set_weight(tenant, weight)
    }

    /// Runs `future` to completion on the calling thread; see
    /// [`Runtime::block_on`].
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.pool.block_on(future)
    }

    /// The load; see [`Runtime::load`].
    pub fn load(&self) -> LoadReport {
        self.pool.load()
    }

    /// The scheduler's view; see [`Runtime::snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        self.pool.snapshot()
    }

    /// See [`Runtime::snapshot_with`].
    pub fn snapshot_with(&self, top: usize, tenants: &[TenantId]) -> Snapshot {
        self.pool.snapshot_with(top, tenants)
    }

    /// Admission for work that is not a task; see [`Runtime::try_admit`].
    ///
    /// # Errors
    ///
    /// As [`Runtime::try_admit`].
    pub fn try_admit(&self, tenant: TenantId, class: Class) -> Result<Permit, Rejected<()>> {
        self.pool.try_admit(tenant, class)
    }

    /// Counts an IO operation in flight; see [`Runtime::io`].
    pub fn io(&self, tenant: TenantId, kind: IoKind) -> IoGuard {
        self.pool.io(tenant, kind)
    }

    /// Waits for admission; see [`Runtime::admit`].
    pub fn admit(&self, tenant: TenantId, class: Class) -> Admit {
        self.pool.admit(tenant, class)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("pool", &self.pool).finish()
    }
}

impl Builder {
    // The limits of the settings, as `drama_pool::Builder` states them with
    // their reasons; repeated here so that a user of the facade alone can
    // name them.
    /// The fewest workers: 1. See [`drama_pool::Builder::MIN_WORKERS`] for why.
    pub const MIN_WORKERS: usize = drama_pool::Builder::MIN_WORKERS;
    /// The most workers: 64 (the idle mask is one `u64`). See
    /// [`drama_pool::Builder::MAX_WORKERS`] for why.
    pub const MAX_WORKERS: usize = drama_pool::Builder::MAX_WORKERS;
    /// The largest `max_threads`: 1,024 (thread stacks and OS limits). See
    /// [`drama_pool::Builder::MAX_THREADS`] for why.
    pub const MAX_THREADS: usize = drama_pool::Builder::MAX_THREADS;
    /// The largest `max_tasks`: 2^30 (more tasks than fit in memory bound
    /// nothing). See [`drama_pool::Builder::MAX_TASKS`] for why.
    pub const MAX_TASKS: usize = drama_pool::Builder::MAX_TASKS;
    /// The smallest inbox capacity: 2 (the ring cannot work with one cell). See
    /// [`drama_pool::Builder::MIN_INBOX_CAPACITY`] for why.
    pub const MIN_INBOX_CAPACITY: usize = drama_pool::Builder::MIN_INBOX_CAPACITY;
    /// The largest inbox capacity: 65,536 (allocated up front; the overflow
    /// list takes the excess). See [`drama_pool::Builder::MAX_INBOX_CAPACITY`]
    /// for why.
    pub const MAX_INBOX_CAPACITY: usize = drama_pool::Builder::MAX_INBOX_CAPACITY;
    /// The shortest stuck threshold: 1 ms (the monitor samples at most every
    /// millisecond). See [`drama_pool::Builder::MIN_STUCK_THRESHOLD`] for why.
    pub const MIN_STUCK_THRESHOLD: Duration = drama_pool::Builder::MIN_STUCK_THRESHOLD;
    /// The longest stuck threshold: 1 hour (a longer one is no threshold). See
    /// [`drama_pool::Builder::MAX_STUCK_THRESHOLD`] for why.
    pub const MAX_STUCK_THRESHOLD: Duration = drama_pool::Builder::MAX_STUCK_THRESHOLD;
    /// The shortest poll budget: 10 µs (shorter makes busy tasks spend their
    /// time yielding). See [`drama_pool::Builder::MIN_POLL_BUDGET`] for why.
    pub const MIN_POLL_BUDGET: Duration = drama_pool::Builder::MIN_POLL_BUDGET;
    /// The longest poll budget: 1 hour, and at most the stuck threshold. See
    /// [`drama_pool::Builder::MAX_POLL_BUDGET`] for why.
    pub const MAX_POLL_BUDGET: Duration = drama_pool::Builder::MAX_POLL_BUDGET;
    /// The largest `max_tenants`: 2^24 (the largest `Drr` accepts). See
    /// [`drama_pool::Builder::MAX_TENANTS`] for why.
    pub const MAX_TENANTS: u32 = drama_pool::Builder::MAX_TENANTS;
    /// The longest thread-name prefix: 15 bytes (what Linux shows). See
    /// [`drama_pool::Builder::MAX_THREAD_NAME_LEN`] for why.
    pub const MAX_THREAD_NAME_LEN: usize = drama_pool::Builder::MAX_THREAD_NAME_LEN;
    /// The largest bound on blocking threads, in all and per tenant: 1,024. See
    /// [`drama_pool::Builder::MAX_BLOCKING_THREADS`] for why.
    pub const MAX_BLOCKING_THREADS: usize = drama_pool::Builder::MAX_BLOCKING_THREADS;
    /// The largest bound on queued blocking jobs, per tenant and in all: 2^20.
    /// See [`drama_pool::Builder::MAX_BLOCKING_QUEUED`] for why.
    pub const MAX_BLOCKING_QUEUED: usize = drama_pool::Builder::MAX_BLOCKING_QUEUED;
    /// The shortest blocking keep-alive: 1 ms (shorter starts a thread per
    /// job). See [`drama_pool::Builder::MIN_BLOCKING_KEEP_ALIVE`] for why.
    pub const MIN_BLOCKING_KEEP_ALIVE: Duration = drama_pool::Builder::MIN_BLOCKING_KEEP_ALIVE;
    /// The longest blocking keep-alive: 1 hour. See
    /// [`drama_pool::Builder::MAX_BLOCKING_KEEP_ALIVE`] for why.
    pub const MAX_BLOCKING_KEEP_ALIVE: Duration = drama_pool::Builder::MAX_BLOCKING_KEEP_ALIVE;

    /// The number of worker threads, 1 to 64. Default: one per core (at
    /// most 64).
    pub fn workers(mut self, workers: usize) -> Builder {
        self.pool = self.pool.workers(workers);
        self
    }

    /// The most worker threads alive at once, replacements of stuck
    /// workers included: from `workers` to 1,024. Default: twice the
    /// workers, at least workers + 4.
    pub fn max_threads(mut self, max_threads: usize) -> Builder {
        self.pool = self.pool.max_threads(max_threads);
        self
    }

    /// The most live tasks; spawns beyond are refused with the future
    /// handed back. 1 to 2^30; default 2^20.
    pub fn max_tasks(mut self, max_tasks: usize) -> Builder {
        self.pool = self.pool.max_tasks(max_tasks);
        self
    }

    /// The capacity of each worker's inbox: a power of two from 2 to
    /// 65,536. Default 1,024.
    pub fn inbox_capacity(mut self, inbox_capacity: usize) -> Builder {
        self.pool = self.pool.inbox_capacity(inbox_capacity);
        self
    }

    /// How long one poll may run before its worker's queue moves to a
    /// fresh thread: 1 ms to 1 hour. Default 10 ms.
    pub fn stuck_threshold(mut self, stuck_threshold: Duration) -> Builder {
        self.pool = self.pool.stuck_threshold(stuck_threshold);
        self
    }

    /// After this long in one poll, drama's primitives make a task yield:
    /// 10 µs to 1 hour, and at most the stuck threshold. Default 1 ms.
    pub fn poll_budget(mut self, poll_budget: Duration) -> Builder {
        self.pool = self.pool.poll_budget(poll_budget);
        self
    }

    /// The prefix of the runtime's thread names: 1 to 15 bytes (what Linux
    /// shows of a thread name), without NUL. Default `"drama"`.
    pub fn thread_name(mut self, thread_name: impl Into<String>) -> Builder {
        self.pool = self.pool.thread_name(thread_name);
        self
    }

    /// The most tenants the runtime knows (names interned plus raw ids):
    /// tenant ids run from 0 to `max_tenants - 1`, and spawns, blocking
    /// spawns and `set_weight` naming a larger id are refused. 1 to 2^24;
    /// default 65,536.
    pub fn max_tenants(mut self, max_tenants: u32) -> Builder {
        self.pool = self.pool.max_tenants(max_tenants);
        self
    }

    /// Blocking lanes: at most `max_threads` blocking threads, at most
    /// `per_tenant` jobs of one tenant running at once. Both 1 to 1,024;
    /// defaults 64 and 8.
    pub fn blocking_threads(mut self, max_threads: usize, per_tenant: usize) -> Builder {
        self.pool = self.pool.blocking_threads(max_threads, per_tenant);
        self
    }

    /// Blocking lanes: at most `per_tenant` jobs of one tenant waiting, and
    /// `total` in all. Both 1 to 2^20; defaults 1,024 and 16,384.
    pub fn blocking_queue(mut self, per_tenant: usize, total: usize) -> Builder {
        self.pool = self.pool.blocking_queue(per_tenant, total);
        self
    }

    /// How long an idle blocking thread waits for work before it exits:
    /// 1 ms to 1 hour. Default 10 s.
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.pool = self.pool.blocking_keep_alive(keep_alive);
        self
    }

    /// The `Drr` policy's settings (quantum, class weights, age bound).
    /// Its tenant bound is raised to `max_tenants` if smaller.
    pub fn drr(mut self, config: DrrConfig) -> Builder {
        self.pool = self.pool.drr(config);
        self
    }

    /// Admission control (see [`crate::admission`]): which new work is
    /// refused as the load rises, `Accept` first and `Write` last, and the
    /// tenant over its share before the others. Its bounds are the
    /// runtime's `max_tasks` and `max_tenants`.
    pub fn admission(mut self, config: AdmissionConfig) -> Builder {
        self.pool = self.pool.admission(config);
        self
    }

    /// Whether the runtime records for the scheduler's view: each poll's
    /// tenant CPU and queueing delay and its class's histograms, each
    /// task's spawn and end. Default `true`; off, a [`Runtime::snapshot`]
    /// keeps refusals, work and IO in flight and the queues, without CPU,
    /// polls, histograms, spawns or endings (`docs/bench/recording.md`
    /// measures the difference).
    pub fn record_metrics(mut self, on: bool) -> Builder {
        self.pool = self.pool.record_metrics(on);
        self
    }

    /// Serves the scheduler's view on `addr` for `drama-top ADDR` (plain
    /// HTTP/1.0: `/` the table, `/snapshot.json` the JSON), from one
    /// thread of the runtime's; no async runtime is started. Off unless
    /// set; keep it on loopback (`127.0.0.1:PORT`): the view names tenants
    /// and the endpoint has no authentication. Port 0 picks a free port
    /// ([`Runtime::status_addr`]). Needs the `status` cargo feature.
    #[cfg(feature = "status")]
    pub fn status_addr(mut self, addr: impl Into<std::net::SocketAddr>) -> Builder {
        self.pool = self.pool.status_addr(addr);
        self
    }

    /// Serves the scheduler's view on `port` of the loopback address
    /// (`127.0.0.1`): [`status_addr`](Self::status_addr) where only this
    /// machine may look.
    #[cfg(feature = "status")]
    pub fn status_port(self, port: u16) -> Builder {
        self.status_addr((std::net::Ipv4Addr::LOCALHOST, port))
    }

    /// Runs your own [`Policy`] instead of `Drr`: `make(worker_index)` is
    /// called once per worker. See `drama-policy-fifo` for an example.
    pub fn policy<P, F>(mut self, make: F) -> Builder
    where
        P: Policy<drama_core::Runnable> + Send + 'static,
        F: Fn(usize) -> P + Send + Sync + 'static,
    {
        self.pool = self.pool.policy(make);
        self
    }

    /// Checks the settings and starts the runtime.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] whose [`kind`](BuildError::kind) names the first
    /// setting out of range, or says a thread could not be started.
    pub fn build(self) -> Result<Runtime, BuildError> {
        let pool = self.pool.build()?;
        let handle = Handle {
            pool: pool.handle().clone(),
        };
        Ok(Runtime { pool, handle })
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder").field("pool", &self.pool).finish()
    }
}

/// Spawns `future` on the current runtime, inheriting the current task's
/// tenant and class.
///
/// ```
/// let rt = drama::Runtime::builder().workers(1).build()?;
/// let sum = rt.block_on(async {
///     let child = drama::spawn(async { 20 + 1 })?;
///     Ok::<_, Box<dyn std::error::Error>>(child.await? * 2)
/// })?;
/// assert_eq!(sum, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Hands the future back with [`RejectReason::NoRuntime`] outside a
/// runtime, and as [`Runtime::spawn`] otherwise.
pub fn spawn<F>(future: F) -> Result<JoinHandle<F::Output>, Rejected<F>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_with(Spawn::new(), future)
}

/// Spawns `future` with `spec` on the current runtime.
///
/// # Errors
///
/// As [`spawn`].
pub fn spawn_with<F>(spec: Spawn, future: F) -> Result<JoinHandle<F::Output>, Rejected<F>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match drama_pool::Handle::current() {
        Some(pool) => pool.spawn(spec, future),
        None => Err(Rejected::new(future, RejectReason::NoRuntime)),
    }
}
