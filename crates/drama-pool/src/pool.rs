//! The pool's shared state, its spawn and wake paths, and shutdown.
//!
//! See the crate documentation for the design; this module holds the pieces
//! every thread touches: the worker [`Slot`]s, the idle mask, the task
//! registry and the pool's lifecycle state.

use std::collections::VecDeque;
use std::future::Future;
use std::task::Waker;
use std::time::Duration;

use crossbeam_utils::CachePadded;
use drama_core::{JoinHandle, RejectReason, Rejected, ScheduleInfo, Spawn, TaskGuard, new_task};
use drama_metrics::{Window, WorkerRecorder};
use drama_policy::{Class, Policy, TenantId, Weight};

use crate::balance::Homes;
use crate::blocking::BlockingLanes;
use crate::builder::Config;
use crate::context;
use crate::core::{Core, WorkerStats};
use crate::gate::{self, Ending, Gate};
use crate::handover::PollState;
use crate::idle::Sleepers;
use crate::inbox::Inbox;
use crate::lifecycle::Lifecycle;
use crate::park::Parking;
use crate::placement;
use crate::plan::{Move, WorkerView};
use crate::registry::{Key, Registry};
use crate::shutdown::cancel;
use crate::sync::{
    Arc, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Mutex, Ordering, UnsafeCell, lock,
};
use crate::task::Task;
use crate::tenants::Tenants;
use crate::waiters::Waiters;
use crate::weights::WeightTable;
use crate::worker;

/// The most workers a pool may have: the idle mask is one `u64`.
pub const MAX_WORKERS: usize = 64;

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
    pub(crate) state: Lifecycle,
    /// The idle mask, the `waking` flag and the monitor's parking spot:
    /// the idle/wake protocol (`idle.rs`).
    pub(crate) sleepers: Sleepers,
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
        // The builder's checks, restated where the limits are relied on:
        // the idle mask has one bit per worker, and a stuck worker's
        // replacement needs a thread beyond the workers.
        debug_assert!((1..=MAX_WORKERS).contains(&workers));
        debug_assert!(config.max_threads >= workers);
        debug_assert!(config.inbox_capacity.is_power_of_two());
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
            slots,
            state: Lifecycle::new(),
            sleepers: Sleepers::new(workers),
            weights: Mutex::new(WeightTable::new()),
            weights_version: AtomicU64::new(0),
            live: CachePadded::new(AtomicUsize::new(0)),
            registry: Registry::new(workers * 2),
            threads: AtomicUsize::new(0),
            handles: Mutex::new(Vec::new()),
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
        if !self.state.is_open() {
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
        let local = context::local_slot(self);
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
            Some(_) => context::stage(runnable),
            None => self.push_remote(runnable),
        }
        Ok(handle)
    }

    /// The schedule function of every task: where a woken task goes.
    fn schedule(&self, runnable: Task, info: ScheduleInfo) {
        if let Err(runnable) = context::schedule_local(self, runnable, info) {
            self.push_remote(runnable);
        }
    }

    /// Queues a task woken or spawned off the pool's workers: on an idle
    /// worker if there is one (it starts right away), otherwise on the less
    /// loaded of two workers chosen at random.
    pub(crate) fn push_remote(&self, runnable: Task) {
        if self.state.is_closed() {
            cancel(runnable);
            return;
        }
        let target = self
            .sleepers
            .target_for_remote(|among| self.less_loaded(among));
        self.push_to(target, runnable);
    }

    /// The less loaded of two workers chosen at random, preferring those in
    /// `among` (see `placement::less_loaded`).
    fn less_loaded(&self, among: u64) -> usize {
        placement::less_loaded(
            placement::two_choices(self.slots.len()),
            among,
            self.sleepers.all(),
            |i| self.slots[i].load.load(Ordering::Relaxed),
        )
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
            // The count changes under the list's lock, so that it is never
            // behind the list: a reader that sees it non-zero finds the
            // task, and the monitor reads no count below zero.
            let mut overflow = lock(&slot.overflow);
            overflow.push_back(runnable);
            slot.overflow_len.fetch_add(1, Ordering::Release);
        }
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
        let hint = context::local_slot(shared).unwrap_or_else(placement::thread_hint);
        self.key = Some(shared.registry.register(hint, waker, &shared.state));
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
            match (self.ending, context::local_slot(shared)) {
                (Ending::Completed, Some(index)) => {
                    shared.slots[index]
                        .recorder
                        .record_completion(self.tenant.as_u32(), self.class.priority());
                }
                (ending, _) => shared.gate.ended(self.tenant, self.class, ending),
            }
        }
        shared.gate.finish(self.tenant);
        let before = shared.live.fetch_sub(1, Ordering::Release);
        // Each task is counted once at its spawn and uncounted once here.
        debug_assert_ne!(before, 0, "more tasks ended than were spawned");
    }
}
