//! The pool's shared state, its spawn and wake paths, and shutdown.
//!
//! See the crate documentation for the design; this module holds the pieces
//! every thread touches: the worker [`Slot`]s, the idle mask, the task
//! registry and the pool's lifecycle state.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::task::Waker;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use drama_core::{JoinHandle, RejectReason, Rejected, ScheduleInfo, Spawn, TaskGuard, new_task};
use drama_metrics::{Window, WorkerRecorder};
use drama_policy::{Class, Policy, TenantId, Weight};

use crate::balance::Homes;
use crate::blocking::BlockingLanes;
use crate::builder::Config;
use crate::gate::{self, Ending, Gate};
use crate::handover::PollState;
use crate::inbox::Inbox;
use crate::park::Parking;
use crate::plan::{Move, WorkerView};
use crate::registry::{Key, Registry};
use crate::sync::{
    Arc, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Mutex, Ordering, UnsafeCell, lock,
};
use crate::task::Task;
use crate::tenants::{TenantError, Tenants};
use crate::waiters::Waiters;
use crate::worker::{self, Core, WorkerStats};

/// The pool takes spawns and runs tasks.
pub(crate) const OPEN: u8 = 0;
/// `shutdown_timeout` began: spawns are refused, queued and running work
/// goes on until the deadline.
pub(crate) const DRAINING: u8 = 1;
/// Workers stop; queued and idle tasks are cancelled (their `Runnable`s
/// dropped) wherever they are found.
pub(crate) const CLOSED: u8 = 2;

/// The most workers a pool may have: the idle mask is one `u64`.
pub const MAX_WORKERS: usize = 64;

/// How far off a deadline given as `Duration::MAX` (or any timeout too
/// long to add to an `Instant`) lies: a century is "never" for a process,
/// and adding it cannot overflow.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `start + after`, saturated at [`NEVER`]: a user's timeout of
/// `Duration::MAX` means no deadline, not an overflow.
pub(crate) fn deadline_after(start: Instant, after: Duration) -> Instant {
    start
        .checked_add(after.min(NEVER))
        .or_else(|| start.checked_add(NEVER))
        .unwrap_or(start)
}

thread_local! {
    /// The tasks this thread is cancelling: `Some` while a [`cancel`] call
    /// is under way on the thread, which drops them one after another.
    static CANCELLING: RefCell<Option<Vec<Task>>> = const { RefCell::new(None) };
}

/// Cancels a task by dropping its runnable: its future is dropped and its
/// handle resolves as cancelled. Never nested: a future's destructor may
/// wake another task of the closed pool, whose wake cancels it in turn (a
/// chain of tasks, each holding the sender the next one waits on), and
/// dropping each inside the previous one's destructor took a stack frame
/// per task: a chain of 40,000 overflowed the main thread's stack. The first
/// call on a thread drops its runnable and then, one after another, every
/// runnable the destructors cancelled meanwhile, which nested calls only
/// queue. The queue holds tasks woken by the destructors of the tasks being
/// dropped, at most every live task.
pub(crate) fn cancel(runnable: Task) {
    let mut runnable = Some(runnable);
    let first = CANCELLING.try_with(|cancelling| {
        let mut cancelling = cancelling.borrow_mut();
        match cancelling.as_mut() {
            Some(queued) => {
                queued.push(runnable.take().expect("not taken yet"));
                false
            }
            None => {
                *cancelling = Some(Vec::new());
                true
            }
        }
    });
    if !matches!(first, Ok(true)) {
        // Queued for the call under way, or the thread is exiting and its
        // thread-locals are gone: then it is dropped here.
        drop(runnable);
        return;
    }
    /// Ends the call under way, even if a destructor unwinds: what is still
    /// queued is dropped (each by a `cancel` of its own, should it cancel
    /// more).
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            let queued = CANCELLING.with(|cancelling| cancelling.borrow_mut().take());
            drop(queued);
        }
    }
    let _done = Done;
    drop(runnable);
    loop {
        let next =
            CANCELLING.with(|cancelling| cancelling.borrow_mut().as_mut().and_then(Vec::pop));
        match next {
            Some(runnable) => drop(runnable),
            None => break,
        }
    }
}

/// A function that makes one policy instance per worker slot.
pub(crate) type PolicyFactory = Arc<dyn Fn(usize) -> Box<dyn Policy<Task> + Send> + Send + Sync>;

/// How a worker thread comes to own its slot.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Start {
    /// The slot is new (the pool is being built): start at epoch 0.
    Fresh,
    /// Take the slot over from an owner seen stuck at this poll word; give
    /// up (and exit) if that poll has returned meanwhile. The replacement
    /// steals the slot itself, so that a thread that could not be started
    /// never leaves a slot without an owner.
    Steal(u64),
}

/// What the pool's threads share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) slots: Box<[CachePadded<Slot>]>,
    /// `OPEN`, `DRAINING` or `CLOSED`.
    pub(crate) state: AtomicU8,
    /// Bit `i` is set while worker `i` is idle and wants work. Donors and
    /// remote spawns clear a bit to claim that worker (`fetch_and`), so two
    /// of them do not both pick the same idle worker.
    pub(crate) idle: CachePadded<AtomicU64>,
    /// Set by a remote push that woke an idle worker, cleared by that worker
    /// once it is up: while a wake is under way, remote pushes join a worker
    /// that is awake instead of waking another one (one wake at a time, as
    /// tokio's "searching" workers do), so a burst of spawns from outside
    /// costs a few wakes, not one per spawn.
    pub(crate) waking: CachePadded<AtomicBool>,
    /// All workers' bits; when `idle` equals it the pool is idle and the
    /// monitor sleeps.
    pub(crate) all_idle: u64,
    /// Every weight set so far, applied by each worker when
    /// `weights_version` moves (the recent changes, or all of them for a
    /// worker far behind), and read by the balancer.
    pub(crate) weights: Mutex<WeightTable>,
    pub(crate) weights_version: AtomicU64,
    /// Tasks alive (spawned, future not yet dropped). Bound: `max_tasks`.
    pub(crate) live: CachePadded<AtomicUsize>,
    pub(crate) registry: Registry,
    /// Worker threads alive, retiring ones included. Bound: `max_threads`.
    pub(crate) threads: AtomicUsize,
    /// Join handles of every thread the pool started (workers, monitor).
    pub(crate) handles: Mutex<Vec<std::thread::JoinHandle<()>>>,
    pub(crate) monitor: Parking,
    pub(crate) blocking: BlockingLanes,
    /// How many stuck workers were replaced, and how many stuck workers
    /// could not be because `max_threads` was reached.
    pub(crate) replaced: AtomicU64,
    pub(crate) unreplaced: AtomicU64,
    pub(crate) next_thread: AtomicUsize,
    pub(crate) tenants: Tenants,
    /// Where tenants live, by the balancer's last plan.
    pub(crate) homes: Homes,
    /// Admission: the rules, the load they decide by, the tenants' work in
    /// flight.
    pub(crate) gate: Gate,
    /// Permits held (`Handle::try_admit`): work in flight that is not a
    /// task, counted with `live` in admission's total.
    pub(crate) permits: AtomicUsize,
    /// Callers waiting in `Handle::admit`, woken at every monitor step.
    /// Bounded by `waiters::MAX_WAITERS`.
    pub(crate) waiters: Waiters,
    /// The readings the scheduler's view measures its recent window from
    /// (`view.rs`).
    pub(crate) window: Mutex<Window>,
    /// Where the status endpoint listens, once started (`status.rs`).
    #[cfg(feature = "status")]
    pub(crate) status_addr: std::sync::OnceLock<std::net::SocketAddr>,
}

/// How many of the latest weight changes the table remembers: 1,024.
///
/// A worker applies the weight changes at its next tick: the ones it missed
/// if they are all in the log, else every weight ever set (at most
/// `max_tenants`). Over `n` changes a worker therefore re-applies
/// everything at most `n / WEIGHT_LOG_LEN` times, so the log's length
/// divides what would be a quadratic cost (20,000 `set_weight` calls: at
/// most 20 full passes instead of 20,000), and a worker that ticks at least
/// once per 1,024 changes (any busy one) never needs a full pass. The log
/// costs 4 KiB.
const WEIGHT_LOG_LEN: usize = 1024;

/// The tenants' own weights: indexed by tenant id, so that the balancer and
/// the workers look one up in O(1); the ids ever set, so that a worker far
/// behind can re-apply them all; and a log of the latest changes, so that a
/// worker a little behind applies just those. Bounded by `max_tenants`
/// (`set_weight` refuses ids beyond it) and `WEIGHT_LOG_LEN`.
pub(crate) struct WeightTable {
    by_id: Vec<Weight>,
    /// Whether `by_id[i]` was ever set (so `set` lists each id once).
    is_set: Vec<bool>,
    set: Vec<TenantId>,
    /// The number of changes so far: the table's version.
    version: u64,
    /// The tenants of the last (at most `WEIGHT_LOG_LEN`) changes, oldest
    /// first. Their versions are implicit: the last entry is change
    /// `version`, the one before it `version - 1`, and so on.
    log: VecDeque<TenantId>,
}

impl WeightTable {
    fn new() -> WeightTable {
        WeightTable {
            by_id: Vec::new(),
            is_set: Vec::new(),
            set: Vec::new(),
            version: 0,
            log: VecDeque::with_capacity(WEIGHT_LOG_LEN),
        }
    }

    /// Sets `tenant`'s weight; the caller has checked the id against
    /// `max_tenants`.
    fn set(&mut self, tenant: TenantId, weight: Weight) {
        let id = tenant.as_u32() as usize;
        if id >= self.by_id.len() {
            self.by_id.resize(id + 1, Weight::DEFAULT);
            self.is_set.resize(id + 1, false);
        }
        if !self.is_set[id] {
            self.is_set[id] = true;
            self.set.push(tenant);
        }
        self.by_id[id] = weight;
        if self.log.len() == WEIGHT_LOG_LEN {
            self.log.pop_front();
        }
        self.log.push_back(tenant);
        self.version += 1;
    }

    /// The number of changes so far.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// `tenant`'s own weight (the default unless set).
    pub(crate) fn get(&self, tenant: TenantId) -> Weight {
        self.by_id
            .get(tenant.as_u32() as usize)
            .copied()
            .unwrap_or(Weight::DEFAULT)
    }

    /// What changed after version `seen`, as (tenant, current weight): the
    /// logged changes when the log reaches back that far (a tenant changed
    /// twice comes twice, with its current weight both times), else every
    /// weight ever set.
    pub(crate) fn changed_since(&self, seen: u64) -> impl Iterator<Item = (TenantId, Weight)> + '_ {
        let behind = self.version.saturating_sub(seen);
        let (recent, all) = match usize::try_from(behind) {
            Ok(behind) if behind <= self.log.len() => {
                (self.log.range(self.log.len() - behind..), &self.set[..0])
            }
            _ => (self.log.range(0..0), &self.set[..]),
        };
        recent.chain(all).map(|&tenant| (tenant, self.get(tenant)))
    }

    /// Copies the weights by id into `out`.
    pub(crate) fn copy_by_id(&self, out: &mut Vec<Weight>) {
        out.clone_from(&self.by_id);
    }
}

/// One worker slot: the queue state a worker thread drives, and how other
/// threads reach it.
pub(crate) struct Slot {
    /// Work from other threads. Bound: `inbox_capacity`.
    pub(crate) inbox: Inbox<Task>,
    /// Work that found the inbox full; bounded by the number of live tasks.
    pub(crate) overflow: Mutex<VecDeque<Task>>,
    pub(crate) overflow_len: AtomicUsize,
    pub(crate) parking: Parking,
    pub(crate) poll: PollState,
    /// Queued tasks, as last published by the owner (for spawn placement).
    pub(crate) load: AtomicUsize,
    /// Set by the owner when it leaves its loop at shutdown.
    pub(crate) exited: AtomicBool,
    /// The owner's load counters, for the monitor's estimate.
    pub(crate) stats: WorkerStats,
    /// The owner's polls by tenant and class, for the scheduler's view
    /// (written by the owner alone, read by snapshots), and the tenant of
    /// the last poll begun, plus one (0: none; under way while the poll
    /// word is odd). On lines of their own: the
    /// owner writes them at every poll, and next to the inbox's tail and
    /// the published load (which spawning threads write and read) they
    /// cost spawns from outside a third (`spawn_many_remote`).
    pub(crate) recorder: CachePadded<WorkerRecorder>,
    pub(crate) running: CachePadded<AtomicU32>,
    /// The runnable tasks of each (tenant, class) the owner holds, and the
    /// share of a core its thread gets, as it last published them for the
    /// balancer (when `publish` asked).
    /// Bounded by `max_tenants` times the classes.
    pub(crate) presence: Mutex<WorkerView>,
    /// Set by the balancer after it read `presence`: the owner publishes
    /// afresh at its next tick.
    pub(crate) publish: AtomicBool,
    /// The balancer's weights for this worker's copies of tenants, and a
    /// version the owner compares once per tick.
    pub(crate) overrides: Mutex<Vec<(TenantId, Weight)>>,
    pub(crate) overrides_version: AtomicU64,
    /// The balancer's moves from this worker, taken by the owner at its
    /// next tick (`moves_pending` says there are new ones). Bounded by
    /// `plan::MAX_MOVED_TASKS`.
    pub(crate) moves: Mutex<Vec<Move>>,
    pub(crate) moves_pending: AtomicBool,
    /// The slot's policy and local state; only the owner touches it, as the
    /// hand-over protocol (`handover.rs`) arbitrates.
    pub(crate) core: UnsafeCell<Core>,
}

// SAFETY: `core` is the only field that is not `Sync` by itself. It is
// accessed only by the slot's current owner, and ownership passes between
// threads through `PollState`, whose release/acquire pair orders every access
// of the old owner before every access of the new one.
unsafe impl Sync for Slot {}

impl Shared {
    pub(crate) fn new(config: Config, make_policy: PolicyFactory) -> Arc<Shared> {
        let workers = config.workers;
        let slots = (0..workers)
            .map(|index| {
                CachePadded::new(Slot {
                    inbox: Inbox::new(config.inbox_capacity),
                    overflow: Mutex::new(VecDeque::new()),
                    overflow_len: AtomicUsize::new(0),
                    parking: Parking::new(),
                    poll: PollState::new(),
                    load: AtomicUsize::new(0),
                    exited: AtomicBool::new(false),
                    stats: WorkerStats::new(),
                    recorder: CachePadded::new(WorkerRecorder::new(config.max_tenants)),
                    running: CachePadded::new(AtomicU32::new(0)),
                    presence: Mutex::new(WorkerView {
                        groups: Vec::new(),
                        capacity: 1.0,
                    }),
                    publish: AtomicBool::new(true),
                    overrides: Mutex::new(Vec::new()),
                    overrides_version: AtomicU64::new(0),
                    moves: Mutex::new(Vec::new()),
                    moves_pending: AtomicBool::new(false),
                    core: UnsafeCell::new(Core::new(make_policy(index), config.max_tenants)),
                })
            })
            .collect();
        let blocking = BlockingLanes::new(config.blocking.clone());
        Arc::new(Shared {
            all_idle: if workers == 64 {
                u64::MAX
            } else {
                (1u64 << workers) - 1
            },
            slots,
            state: AtomicU8::new(OPEN),
            idle: CachePadded::new(AtomicU64::new(0)),
            waking: CachePadded::new(AtomicBool::new(false)),
            weights: Mutex::new(WeightTable::new()),
            weights_version: AtomicU64::new(0),
            live: CachePadded::new(AtomicUsize::new(0)),
            registry: Registry::new(workers * 2),
            threads: AtomicUsize::new(0),
            handles: Mutex::new(Vec::new()),
            monitor: Parking::new(),
            blocking,
            replaced: AtomicU64::new(0),
            unreplaced: AtomicU64::new(0),
            next_thread: AtomicUsize::new(0),
            tenants: Tenants::new(config.max_tenants),
            homes: Homes::new(),
            gate: Gate::new(config.admission),
            permits: AtomicUsize::new(0),
            waiters: Waiters::new(),
            window: Mutex::new(Window::new(drama_core::clock::now_ns())),
            #[cfg(feature = "status")]
            status_addr: std::sync::OnceLock::new(),
            config,
        })
    }

    /// Starts a worker thread for slot `index`.
    pub(crate) fn start_worker(
        self: &Arc<Self>,
        index: usize,
        start: Start,
    ) -> std::io::Result<()> {
        let shared = self.clone();
        let n = self.next_thread.fetch_add(1, Ordering::Relaxed);
        self.threads.fetch_add(1, Ordering::AcqRel);
        let started = std::thread::Builder::new()
            .name(format!("{}-{}", self.config.thread_name, n))
            .spawn(move || worker::run(shared, index, start));
        match started {
            Ok(handle) => {
                let mut handles = lock(&self.handles);
                // Forget the handles of threads that have already finished
                // (retired replacements), so the list stays bounded by the
                // threads alive.
                handles.retain(|h| !h.is_finished());
                handles.push(handle);
                Ok(())
            }
            Err(error) => {
                self.threads.fetch_sub(1, Ordering::AcqRel);
                Err(error)
            }
        }
    }

    pub(crate) fn start_monitor(self: &Arc<Self>) -> std::io::Result<()> {
        let shared = self.clone();
        let handle = std::thread::Builder::new()
            .name(format!("{}-monitor", self.config.thread_name))
            .spawn(move || crate::monitor::run(shared))?;
        lock(&self.handles).push(handle);
        Ok(())
    }

    /// Spawns `future` with `spec`: the path of every spawn API.
    /// Admission's work in flight: live tasks and admission permits.
    pub(crate) fn in_flight(&self) -> u64 {
        self.live.load(Ordering::Relaxed) as u64 + self.permits.load(Ordering::Relaxed) as u64
    }

    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        spec: Spawn,
        future: F,
    ) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if self.state.load(Ordering::Acquire) != OPEN {
            return Err(Rejected::new(future, RejectReason::ShuttingDown));
        }
        // A tenant no queue of ours can keep apart would run unfairly (in a
        // policy's spill list, counted by no view): refuse it. `inherit`
        // resolves an unset tenant now instead of inside `new_task`.
        let spec = spec.inherit();
        let tenant = spec.get_tenant().unwrap_or_default();
        let class = spec.get_class().unwrap_or_default();
        if tenant.as_u32() >= self.config.max_tenants {
            self.gate.refuse(tenant, class, RejectReason::InvalidTenant);
            return Err(Rejected::new(future, RejectReason::InvalidTenant));
        }
        // Admission: new work only (a wake never comes this way), decided
        // by drama-admission's rules on the load the monitor estimates; a
        // refusal costs a few loads and hands the future back.
        let in_flight = self.in_flight();
        // A spawn on a worker's thread is counted for the view in that
        // worker's recorder (plain stores); one from elsewhere by the gate.
        let local = worker::local_slot(self);
        let count_in_gate = self.config.record_metrics && local.is_none();
        if let Err(refusal) =
            self.gate
                .admit(tenant, class, count_in_gate, in_flight, spec.time_left())
        {
            return Err(Rejected::with_load(
                future,
                gate::reject_reason(refusal.kind()),
                refusal.load().score,
                gate::retry_after(&refusal),
            ));
        }
        // Reserve one of `max_tasks` places before creating anything, so a
        // refusal hands the future back untouched.
        if self.live.fetch_add(1, Ordering::Relaxed) >= self.config.max_tasks {
            self.live.fetch_sub(1, Ordering::Relaxed);
            self.gate.unspawn(tenant, class, count_in_gate);
            self.gate.refuse(tenant, class, RejectReason::QueueFull);
            let load = self.gate.load();
            return Err(Rejected::with_load(
                future,
                RejectReason::QueueFull,
                load.score,
                Some(Duration::from_nanos(load.standing_delay_ns)),
            ));
        }
        if let (true, Some(index)) = (self.config.record_metrics, local) {
            self.slots[index]
                .recorder
                .record_spawn(tenant.as_u32(), class.priority());
        }
        let guard = Registration {
            shared: self.clone(),
            key: None,
            tenant,
            class,
            ending: Ending::Cancelled,
        };
        let shared = self.clone();
        let (runnable, handle) = new_task(
            spec,
            future,
            move |runnable, info| shared.schedule(Task(runnable), info),
            guard,
        );
        let runnable = Task(runnable);
        match local {
            // Spawned by a task on one of our workers: stays on that worker
            // (the balancer moves it if another worker is idle).
            Some(_) => worker::stage(runnable),
            None => self.push_remote(runnable),
        }
        Ok(handle)
    }

    /// The schedule function of every task: where a woken task goes.
    fn schedule(&self, runnable: Task, info: ScheduleInfo) {
        if let Err(runnable) = worker::schedule_local(self, runnable, info) {
            self.push_remote(runnable);
        }
    }

    /// Queues a task woken or spawned off the pool's workers: on an idle
    /// worker if there is one (it starts right away), otherwise on the less
    /// loaded of two workers chosen at random.
    pub(crate) fn push_remote(&self, runnable: Task) {
        if self.state.load(Ordering::Acquire) == CLOSED {
            cancel(runnable);
            return;
        }
        let idle = self.idle.load(Ordering::Relaxed);
        let target = if idle == 0 {
            self.less_loaded(u64::MAX)
        } else if idle == self.all_idle || !self.waking.swap(true, Ordering::AcqRel) {
            // Nobody awake, or no wake under way: wake one. (If the claim
            // loses a race the idle workers are already being woken, and
            // the worker that won clears the flag when it is up. Should the
            // flag ever outlive every wake, the cost is bounded: pushes go
            // to awake workers, which shed to idle ones, and a fully idle
            // pool is woken regardless of the flag.)
            self.claim_idle(idle)
                .unwrap_or_else(|| self.less_loaded(u64::MAX))
        } else {
            // A wake is under way: join an awake worker instead.
            self.less_loaded(!idle)
        };
        self.push_to(target, runnable);
    }

    /// The less loaded of two workers chosen at random, preferring those in
    /// `among` (a bit mask; all workers when it names none).
    fn less_loaded(&self, among: u64) -> usize {
        let n = self.slots.len();
        let (a, b) = worker::two_choices(n);
        let ok = |i: usize| among & (1u64 << i) != 0;
        match (ok(a), ok(b)) {
            (true, false) => a,
            (false, true) => b,
            (false, false) if among & self.all_idle != 0 => {
                (among & self.all_idle).trailing_zeros() as usize
            }
            _ => {
                if self.slots[a].load.load(Ordering::Relaxed)
                    <= self.slots[b].load.load(Ordering::Relaxed)
                {
                    a
                } else {
                    b
                }
            }
        }
    }

    /// Queues `runnable` on worker `index` and wakes it if it sleeps.
    pub(crate) fn push_to(&self, index: usize, runnable: Task) {
        self.push_quietly(index, runnable);
        self.slots[index].parking.notify();
    }

    /// Queues `runnable` on worker `index` without waking it: the caller
    /// notifies once after a batch.
    pub(crate) fn push_quietly(&self, index: usize, runnable: Task) {
        let slot = &self.slots[index];
        if let Err(runnable) = slot.inbox.push(runnable) {
            lock(&slot.overflow).push_back(runnable);
            slot.overflow_len.fetch_add(1, Ordering::Release);
        }
    }

    /// Claims one idle worker among `among` (a bit mask), clearing its idle
    /// bit so that nobody else claims it too.
    pub(crate) fn claim_idle(&self, among: u64) -> Option<usize> {
        let mut idle = self.idle.load(Ordering::Relaxed) & among;
        while idle != 0 {
            let index = idle.trailing_zeros() as usize;
            let bit = 1u64 << index;
            let previous = self.idle.fetch_and(!bit, Ordering::AcqRel);
            if previous & bit != 0 {
                self.left_idle(previous);
                return Some(index);
            }
            idle = previous & among & !bit;
        }
        None
    }

    /// Called by whoever cleared an idle bit, with the mask before: when the
    /// pool was entirely idle, the monitor sleeps and must start watching
    /// again.
    pub(crate) fn left_idle(&self, previous: u64) {
        if previous == self.all_idle {
            self.monitor.notify();
        }
    }

    /// Sets `tenant`'s own weight; every worker applies the change at its
    /// next tick.
    pub(crate) fn set_weight(&self, tenant: TenantId, weight: Weight) -> Result<(), TenantError> {
        if tenant.as_u32() >= self.config.max_tenants {
            return Err(TenantError::id_out_of_range(
                tenant,
                self.config.max_tenants,
            ));
        }
        let mut weights = lock(&self.weights);
        weights.set(tenant, weight);
        // Under the lock, so the version only grows.
        self.weights_version
            .store(weights.version(), Ordering::Release);
        drop(weights);
        self.gate.set_weight(tenant, weight);
        for slot in self.slots.iter() {
            slot.parking.notify();
        }
        Ok(())
    }

    /// Stops admitting, lets work run until `timeout`, cancels the rest,
    /// and joins the pool's threads. Returns whether every thread was
    /// joined (threads stuck inside a poll or a blocking job are detached).
    pub(crate) fn shutdown(&self, timeout: Duration) -> bool {
        let deadline = deadline_after(Instant::now(), timeout);
        // 1. Stop admitting; let the queued and running work go on. The
        // blocking lanes stop admitting too: their idle threads leave now,
        // the others when the lanes' queues run dry.
        let _ = self
            .state
            .compare_exchange(OPEN, DRAINING, Ordering::AcqRel, Ordering::Acquire);
        self.blocking.close();
        // Callers waiting for admission hear no at once.
        self.waiters.wake_all();
        loop {
            let now = Instant::now();
            if self.live.load(Ordering::Acquire) == 0 || now >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_micros(200).min(deadline - now));
        }
        // 2. Close: workers stop at their next tick and drop what they hold.
        self.state.store(CLOSED, Ordering::Release);
        for slot in self.slots.iter() {
            slot.parking.notify();
        }
        self.monitor.notify();
        #[cfg(feature = "status")]
        crate::status::wake(self);
        // A worker inside a poll finishes that poll first. Give polls the
        // stuck threshold to return; a thread still inside one after that
        // is stuck, and is detached.
        let grace = deadline_after(deadline.max(Instant::now()), self.config.stuck_threshold);
        while Instant::now() < grace && !self.slots.iter().all(|s| s.exited.load(Ordering::Acquire))
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        // 3. Slots whose owner is stuck: take them over and empty them here.
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            if slot.exited.load(Ordering::Acquire) {
                continue;
            }
            let word = slot.poll.load();
            if word & 1 == 1 && slot.poll.steal(word).is_some() {
                // SAFETY: the steal succeeded, so this thread owns the slot
                // (the old owner's end-of-poll CAS will fail and it will
                // retire without touching the core).
                unsafe { worker::drain_slot(self, index) };
                slot.exited.store(true, Ordering::Release);
            }
        }
        // 4. Cancel idle tasks: wake every registered task; the schedule
        // function drops the runnable of a closed pool. Tasks woken while
        // we do this (by destructors) land in inboxes, drained below; loop
        // until nothing is left, with a bound in case a stuck task keeps
        // its future alive.
        for _ in 0..16 {
            for waker in self.registry.take_all() {
                waker.wake();
            }
            for index in 0..self.slots.len() {
                if self.slots[index].exited.load(Ordering::Acquire) {
                    // SAFETY: the owner has left (or we took the slot over),
                    // so this thread is the only one touching the slot.
                    unsafe { worker::drain_queues(self, index) };
                }
            }
            if self.registry.len() == 0 {
                break;
            }
            std::thread::yield_now();
        }
        // 5. The blocking lanes, then the threads.
        let blocking_joined = self.blocking.shutdown(deadline);
        let handles = std::mem::take(&mut *lock(&self.handles));
        let mut joined = blocking_joined;
        for handle in handles {
            // Workers have left their loops (or are stuck); the monitor
            // leaves within one sampling interval. Wait briefly for both.
            let until = Instant::now() + Duration::from_millis(100);
            while !handle.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_micros(200));
            }
            if handle.is_finished() {
                let _ = handle.join();
            } else {
                // Stuck inside a poll: detach it. It retires when the poll
                // returns, finding its slot taken and the pool closed.
                joined = false;
            }
        }
        joined
    }
}

/// Unregisters a task when its future is dropped: the guard `new_task`
/// drops right after the future.
struct Registration {
    shared: Arc<Shared>,
    /// The task's entry in the registry, once it has waited.
    key: Option<Key>,
    /// Whose work in flight it counts as (for admission), and its class.
    tenant: TenantId,
    class: Class,
    /// How the task ended, as far as told: `Cancelled` until the task says
    /// otherwise (a task dropped without an ending of its own was aborted
    /// or cancelled).
    ending: Ending,
}

impl TaskGuard for Registration {
    fn on_expired(&mut self, _meta: &drama_core::TaskMeta) {
        self.shared.gate.expired(self.tenant);
        self.ending = Ending::Expired;
    }

    fn on_output(&mut self, panicked: bool) {
        self.ending = if panicked {
            Ending::Panicked
        } else {
            Ending::Completed
        };
    }

    fn on_pending(&mut self, waker: &Waker) {
        if self.key.is_some() {
            return;
        }
        let shared = &self.shared;
        let hint = worker::local_slot(shared).unwrap_or_else(worker::thread_hint);
        self.key = Some(shared.registry.insert(hint, waker.clone()));
        // Shutdown closes the pool, then takes the registry's wakers. A task
        // registering after that (its poll outlived the close) wakes itself
        // instead: the closed pool's schedule function then drops it. The
        // shard's lock orders the two: if the take came after our insert it
        // took our waker; if before, the close is visible here.
        if shared.state.load(Ordering::SeqCst) == CLOSED {
            waker.wake_by_ref();
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.shared.registry.remove(key);
        }
        let shared = &self.shared;
        if shared.config.record_metrics {
            // A task ends in a poll, on a worker's thread, as a rule: its
            // completion is counted in that worker's recorder, without a
            // locked instruction, and here, before its output is published:
            // a snapshot taken after the join sees it. (Counting it with the
            // poll's record, after the poll, saved a cell lookup and lost
            // that order: a test joined every task and found one missing.) (A thread replaced while stuck still
            // writes to its old slot's recorder beside the new owner:
            // counts may be lost then, never memory.)
            match (self.ending, worker::local_slot(shared)) {
                (Ending::Completed, Some(index)) => {
                    shared.slots[index]
                        .recorder
                        .record_completion(self.tenant.as_u32(), self.class.priority());
                }
                (ending, _) => shared.gate.ended(self.tenant, self.class, ending),
            }
        }
        shared.gate.finish(self.tenant);
        shared.live.fetch_sub(1, Ordering::Release);
    }
}

#[cfg(test)]
mod weight_table_tests {
    use super::*;

    fn weight(shares: u32) -> Weight {
        Weight::new(shares).unwrap()
    }

    fn changed(table: &WeightTable, seen: u64) -> Vec<(u32, u32)> {
        table
            .changed_since(seen)
            .map(|(t, w)| (t.as_u32(), w.get()))
            .collect()
    }

    #[test]
    fn a_worker_a_little_behind_gets_the_changes() {
        let mut table = WeightTable::new();
        assert_eq!(changed(&table, 0), []);
        table.set(TenantId::new(3), weight(300));
        table.set(TenantId::new(5), weight(500));
        table.set(TenantId::new(3), weight(301));
        assert_eq!(table.version(), 3);
        assert_eq!(changed(&table, 3), []);
        // A tenant changed twice comes twice, with its current weight.
        assert_eq!(changed(&table, 1), [(5, 500), (3, 301)]);
        assert_eq!(changed(&table, 0), [(3, 301), (5, 500), (3, 301)]);
    }

    #[test]
    fn a_worker_far_behind_gets_every_weight_once() {
        let mut table = WeightTable::new();
        let n = WEIGHT_LOG_LEN as u32 + 10;
        for id in 0..n {
            table.set(TenantId::new(id), weight(1 + id % 100));
        }
        table.set(TenantId::new(0), weight(7));
        assert_eq!(table.version(), u64::from(n) + 1);
        // Within the log: the last changes only.
        let recent = changed(&table, table.version() - 2);
        assert_eq!(recent, [(n - 1, 1 + (n - 1) % 100), (0, 7)]);
        // The whole log, exactly.
        let whole = changed(&table, table.version() - WEIGHT_LOG_LEN as u64);
        assert_eq!(whole.len(), WEIGHT_LOG_LEN);
        // Past it: every weight set, each once.
        let all = changed(&table, table.version() - WEIGHT_LOG_LEN as u64 - 1);
        assert_eq!(all.len(), n as usize);
        assert_eq!(all[0], (0, 7));
        assert_eq!(changed(&table, 0).len(), n as usize);
    }
}
