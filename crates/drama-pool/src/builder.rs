//! Configuring and building a [`Runtime`](crate::Runtime).

use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use drama_admission::{AdmissionConfig, Rules};
use drama_policy::{Class, Drr, DrrConfig, Policy};

use crate::api::Runtime;
use crate::blocking::BlockingLimits;
use crate::monitor::MONITOR_MIN_INTERVAL;
use crate::pool::{MAX_WORKERS, PolicyFactory, Shared, Start};
use crate::sync::Arc;
use crate::task::Task;

/// The validated configuration the pool runs with.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) max_threads: usize,
    pub(crate) max_tasks: usize,
    pub(crate) inbox_capacity: usize,
    pub(crate) stuck_threshold: Duration,
    pub(crate) poll_budget: Duration,
    pub(crate) thread_name: String,
    pub(crate) max_tenants: u32,
    pub(crate) blocking: BlockingLimits,
    /// The policy's class weights (`Class::priority` order), which the
    /// balancer needs to know each class's share: the `Drr` config's, or
    /// `Drr`'s defaults for a user's policy (whose own are unknown).
    pub(crate) class_weights: [u32; Class::COUNT],
    /// The admission rules (their bounds set to `max_tasks` and
    /// `max_tenants`).
    pub(crate) admission: Rules,
    /// Whether workers record their polls for the scheduler's view.
    pub(crate) record_metrics: bool,
}

/// Configures a [`Runtime`]: worker count, bounds, thresholds, blocking
/// lanes, admission, the scheduler's view and the policy. From
/// [`Runtime::builder`].
///
/// Every setter takes the value as given; [`build`](Self::build) checks them
/// all against named limits (the `MIN_*` and `MAX_*` constants, each with
/// its reason) and refuses what is out of range with a [`BuildError`] whose
/// [`kind`](BuildError::kind) names the setting: never a panic, an abort or
/// a hang.
///
/// ```
/// # mod drama { pub use drama_pool::*; }
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
/// # mod drama { pub use drama_pool::*; }
/// use std::time::Duration;
/// use drama::BuildErrorKind;
///
/// let refused = drama::Runtime::builder().stuck_threshold(Duration::MAX).build();
/// assert_eq!(refused.unwrap_err().kind(), BuildErrorKind::StuckThreshold);
/// ```
#[must_use = "a Builder does nothing until build() is called"]
pub struct Builder {
    workers: Option<usize>,
    max_threads: Option<usize>,
    max_tasks: usize,
    inbox_capacity: usize,
    stuck_threshold: Duration,
    poll_budget: Duration,
    thread_name: String,
    max_tenants: u32,
    blocking: BlockingLimits,
    policy: PolicyChoice,
    admission: AdmissionConfig,
    record_metrics: bool,
    #[cfg(feature = "status")]
    status_addr: Option<std::net::SocketAddr>,
}

/// Which policy each worker runs.
enum PolicyChoice {
    /// drama's `Drr`, with this configuration (its queue bounds raised to
    /// the pool's task bound, so that it never refuses a live task).
    Drr(DrrConfig),
    /// A user's policy, made once per worker slot.
    Custom(PolicyFactory),
}

impl Builder {
    /// The default task bound: a million live tasks.
    pub const DEFAULT_MAX_TASKS: usize = 1 << 20;
    /// The default inbox capacity per worker.
    pub const DEFAULT_INBOX_CAPACITY: usize = 1024;
    /// The default stuck threshold: a poll longer than this is a stuck
    /// worker. 10 ms is 100 default quanta: no well-behaved task polls that
    /// long, and a request waiting behind it has already missed a 2 ms SLO
    /// several times over.
    pub const DEFAULT_STUCK_THRESHOLD: Duration = Duration::from_millis(10);
    /// The default poll-time budget: after this long in one poll, drama's
    /// primitives make the task yield.
    pub const DEFAULT_POLL_BUDGET: Duration = Duration::from_millis(1);
    /// The default prefix of the runtime's thread names.
    pub const DEFAULT_THREAD_NAME: &'static str = "drama";
    /// The default bound on blocking threads: 64, enough for a burst of
    /// file or DNS calls from many tenants at once without a thread per
    /// connection.
    pub const DEFAULT_BLOCKING_THREADS: usize = 64;
    /// The default bound on one tenant's running blocking jobs: 8, an
    /// eighth of the threads, so that one tenant's flood leaves room for
    /// seven others.
    pub const DEFAULT_BLOCKING_THREADS_PER_TENANT: usize = 8;
    /// The default bound on one tenant's queued blocking jobs: 1,024.
    pub const DEFAULT_BLOCKING_QUEUED_PER_TENANT: usize = 1024;
    /// The default bound on queued blocking jobs over all tenants: 16,384.
    pub const DEFAULT_BLOCKING_QUEUED: usize = 16 * 1024;
    /// The default time an idle blocking thread waits for work before it
    /// exits: 10 s, long enough that a steady trickle of jobs reuses
    /// threads, short enough that a burst's threads are gone soon after.
    pub const DEFAULT_BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(10);

    /// The fewest workers: 1.
    pub const MIN_WORKERS: usize = 1;
    /// The most workers: 64, because the runtime's idle mask (a bit per
    /// worker) is one `u64`.
    pub const MAX_WORKERS: usize = MAX_WORKERS;
    /// The largest `max_threads` accepted: 1,024 worker threads, stuck ones
    /// included. Each thread reserves a stack (2 MiB by default), so 1,024
    /// reserve 2 GiB of address space and come close to many systems'
    /// per-user thread limits; a service with more workers stuck at once
    /// than that needs fewer blocking calls on its workers, not more
    /// threads. (The lower limit is `workers`.)
    pub const MAX_THREADS: usize = 1024;
    /// The smallest `max_tasks` accepted: 1. A bound of 0 would refuse
    /// every spawn, the first task included.
    pub const MIN_TASKS: usize = 1;
    /// The largest `max_tasks` accepted: 2^30 live tasks. A task takes at
    /// least about 128 bytes (its header, state and the smallest future),
    /// so 2^30 tasks hold more than 128 GiB: a larger bound bounds nothing
    /// on any machine drama runs on. (The lower limit is
    /// [`MIN_TASKS`](Self::MIN_TASKS).)
    pub const MAX_TASKS: usize = 1 << 30;
    /// The smallest inbox capacity: 2. The inbox is Vyukov's bounded ring,
    /// which tells a written cell from one free for the next lap by their
    /// sequence numbers (`ticket + 1` and `ticket + capacity`); with one
    /// cell they coincide, and a second push would overwrite the first.
    pub const MIN_INBOX_CAPACITY: usize = 2;
    /// The largest inbox capacity: 65,536. Each worker's ring is allocated
    /// up front (16 bytes a cell: 1 MiB per worker at this size), and
    /// pushes that find the ring full go to the slot's overflow list
    /// anyway, so a larger ring only costs memory.
    pub const MAX_INBOX_CAPACITY: usize = 1 << 16;
    /// The shortest stuck threshold: 1 ms. The monitor samples the
    /// workers' polls at most every millisecond, so a shorter threshold
    /// cannot be honoured, and it would mistake every time slice the OS
    /// takes from a worker for a stuck worker (and start a thread for it).
    pub const MIN_STUCK_THRESHOLD: Duration = Duration::from_millis(1);
    /// The longest stuck threshold: 1 hour. A poll that holds a worker for
    /// an hour is stuck by any measure, so a longer threshold is no
    /// threshold; and shutdown adds the threshold to instants, which a
    /// threshold near `Duration::MAX` would overflow.
    pub const MAX_STUCK_THRESHOLD: Duration = Duration::from_secs(60 * 60);
    /// The shortest poll budget: 10 µs. A task past its budget yields at
    /// its next budgeted operation, and a yield with its reschedule costs
    /// about a microsecond; a budget under ten of those makes every busy
    /// task spend a tenth or more of its time giving way.
    pub const MIN_POLL_BUDGET: Duration = Duration::from_micros(10);
    /// The longest poll budget: the longest stuck threshold. The budget
    /// must also be at most the configured stuck threshold: a poll allowed
    /// to run until its budget must not be declared stuck.
    pub const MAX_POLL_BUDGET: Duration = Self::MAX_STUCK_THRESHOLD;
    /// The smallest `max_tenants` accepted: 1, the default tenant (id 0),
    /// which every task spawned without a tenant runs as.
    pub const MIN_TENANTS: u32 = DrrConfig::MIN_TENANTS;
    /// The largest `max_tenants` accepted: 2^24, the largest tenant bound
    /// drama's `Drr` accepts (its tables are indexed by tenant id).
    /// (The lower limit is [`MIN_TENANTS`](Self::MIN_TENANTS).)
    pub const MAX_TENANTS: u32 = DrrConfig::MAX_TENANTS;
    /// The longest thread-name prefix, in bytes: 15, what Linux shows of a
    /// thread's name (`top`, `perf`, `gdb`; 16 bytes with the NUL). A longer
    /// prefix is cut off in every such tool, and with it the suffix that
    /// tells the runtime's threads apart (`-3`, `-monitor`, `-blocking-2`), so
    /// it is refused rather than silently truncated. Keep it short (6 bytes
    /// or fewer) to see the suffixes in full.
    pub const MAX_THREAD_NAME_LEN: usize = 15;
    /// The shortest thread-name prefix, in bytes: 1. Without a prefix the
    /// pool's threads are named by their suffixes alone (`-3`, `-monitor`),
    /// which no tool tells apart from another pool's.
    pub const MIN_THREAD_NAME_LEN: usize = 1;
    /// The smallest bound on blocking threads (in all, and per tenant): 1.
    /// A bound of 0 would leave blocking jobs no thread to run on.
    pub const MIN_BLOCKING_THREADS: usize = 1;
    /// The largest bound on blocking threads (in all, and per tenant):
    /// 1,024, for the same reason as [`MAX_THREADS`](Self::MAX_THREADS):
    /// stacks and the OS's thread limits. Blocking work that needs more
    /// threads at once needs its own pool. (The lower limit is
    /// [`MIN_BLOCKING_THREADS`](Self::MIN_BLOCKING_THREADS).)
    pub const MAX_BLOCKING_THREADS: usize = 1024;
    /// The largest bound on queued blocking jobs (per tenant, and in all):
    /// 2^20. A queued job is a task and its closure, a few hundred bytes;
    /// a million blocking jobs waiting for at most 1,024 threads is minutes
    /// of backlog even for millisecond jobs, past any caller's patience.
    /// (The lower limit is
    /// [`MIN_BLOCKING_QUEUED`](Self::MIN_BLOCKING_QUEUED).)
    pub const MAX_BLOCKING_QUEUED: usize = 1 << 20;
    /// The smallest bound on queued blocking jobs (per tenant, and in
    /// all): 1. With no room to queue, a job arriving while every thread is
    /// busy would be refused even for an instant's wait.
    pub const MIN_BLOCKING_QUEUED: usize = 1;
    /// The shortest blocking keep-alive: 1 ms. Starting a thread costs tens
    /// of microseconds; a thread that exits sooner than a millisecond after
    /// its job makes a steady trickle of jobs start a thread each.
    pub const MIN_BLOCKING_KEEP_ALIVE: Duration = Duration::from_millis(1);
    /// The longest blocking keep-alive: 1 hour. An idle thread kept for an
    /// hour is kept for good in practice (the bound on blocking threads
    /// bounds them either way), and the deadlines the lanes compute from it
    /// stay far from overflow.
    pub const MAX_BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(60 * 60);

    /// A builder with the defaults: one worker per available core, the
    /// default `Drr` policy. The same as [`Runtime::builder`].
    pub fn new() -> Builder {
        Builder {
            workers: None,
            max_threads: None,
            max_tasks: Self::DEFAULT_MAX_TASKS,
            inbox_capacity: Self::DEFAULT_INBOX_CAPACITY,
            stuck_threshold: Self::DEFAULT_STUCK_THRESHOLD,
            poll_budget: Self::DEFAULT_POLL_BUDGET,
            thread_name: Self::DEFAULT_THREAD_NAME.into(),
            max_tenants: DrrConfig::DEFAULT_MAX_TENANTS,
            blocking: BlockingLimits {
                max_threads: Self::DEFAULT_BLOCKING_THREADS,
                max_threads_per_tenant: Self::DEFAULT_BLOCKING_THREADS_PER_TENANT,
                max_queued_per_tenant: Self::DEFAULT_BLOCKING_QUEUED_PER_TENANT,
                max_queued: Self::DEFAULT_BLOCKING_QUEUED,
                keep_alive: Self::DEFAULT_BLOCKING_KEEP_ALIVE,
                thread_name: Self::DEFAULT_THREAD_NAME.into(),
            },
            policy: PolicyChoice::Drr(DrrConfig::new()),
            admission: AdmissionConfig::new(),
            record_metrics: true,
            #[cfg(feature = "status")]
            status_addr: None,
        }
    }

    /// The number of worker threads, in
    /// [`MIN_WORKERS`](Self::MIN_WORKERS)`..=`[`MAX_WORKERS`](Self::MAX_WORKERS)
    /// (1 to 64). Default: the number of cores available to the process
    /// (at most 64).
    pub fn workers(mut self, workers: usize) -> Builder {
        self.workers = Some(workers);
        self
    }

    /// The most worker threads alive at once, counting replacements of
    /// stuck workers (see [`stuck_threshold`](Self::stuck_threshold))
    /// while the stuck ones are still inside their poll.
    /// In `workers..=`[`MAX_THREADS`](Self::MAX_THREADS) (1,024). Default:
    /// twice the workers, at least workers + 4.
    pub fn max_threads(mut self, max_threads: usize) -> Builder {
        self.max_threads = Some(max_threads);
        self
    }

    /// The most live tasks (spawned and not finished); a spawn beyond it is
    /// refused with `RejectReason::QueueFull`, the future handed back. In
    /// `1..=`[`MAX_TASKS`](Self::MAX_TASKS) (2^30). Default
    /// [`DEFAULT_MAX_TASKS`](Self::DEFAULT_MAX_TASKS) (2^20).
    pub fn max_tasks(mut self, max_tasks: usize) -> Builder {
        self.max_tasks = max_tasks;
        self
    }

    /// The capacity of each worker's inbox (where spawns and wakes from
    /// other threads arrive; the excess waits in an overflow list): a
    /// power of two in
    /// [`MIN_INBOX_CAPACITY`](Self::MIN_INBOX_CAPACITY)`..=`[`MAX_INBOX_CAPACITY`](Self::MAX_INBOX_CAPACITY)
    /// (2 to 65,536). Default
    /// [`DEFAULT_INBOX_CAPACITY`](Self::DEFAULT_INBOX_CAPACITY) (1,024).
    pub fn inbox_capacity(mut self, inbox_capacity: usize) -> Builder {
        self.inbox_capacity = inbox_capacity;
        self
    }

    /// How long one poll may run before the monitor gives the worker's
    /// queue to a fresh thread (so that one task stuck in blocking code
    /// does not hold up the tasks queued behind it). In
    /// [`MIN_STUCK_THRESHOLD`](Self::MIN_STUCK_THRESHOLD)`..=`[`MAX_STUCK_THRESHOLD`](Self::MAX_STUCK_THRESHOLD)
    /// (1 ms to 1 hour). Default
    /// [`DEFAULT_STUCK_THRESHOLD`](Self::DEFAULT_STUCK_THRESHOLD) (10 ms).
    pub fn stuck_threshold(mut self, stuck_threshold: Duration) -> Builder {
        self.stuck_threshold = stuck_threshold;
        self
    }

    /// The poll-time budget (see the `budget` module): after this long in
    /// one poll, drama's primitives make the task yield. In
    /// [`MIN_POLL_BUDGET`](Self::MIN_POLL_BUDGET)`..=`[`MAX_POLL_BUDGET`](Self::MAX_POLL_BUDGET)
    /// (10 µs to 1 hour), and at most the stuck threshold. Default
    /// [`DEFAULT_POLL_BUDGET`](Self::DEFAULT_POLL_BUDGET) (1 ms).
    pub fn poll_budget(mut self, poll_budget: Duration) -> Builder {
        self.poll_budget = poll_budget;
        self
    }

    /// The most tenants the runtime knows (names interned with
    /// [`Handle::tenant`](crate::Handle::tenant), plus raw ids), and the
    /// tenant bound of the default `Drr` policy: tenant ids run from 0 to
    /// `max_tenants - 1`, and spawns, blocking spawns and `set_weight`
    /// naming a larger id are refused. In
    /// `1..=`[`MAX_TENANTS`](Self::MAX_TENANTS) (2^24). Default 65,536.
    pub fn max_tenants(mut self, max_tenants: u32) -> Builder {
        self.max_tenants = max_tenants;
        self
    }

    /// The prefix of the runtime's thread names (`"{prefix}-{n}"`,
    /// `"{prefix}-monitor"`, `"{prefix}-blocking-{n}"`): 1 to
    /// [`MAX_THREAD_NAME_LEN`](Self::MAX_THREAD_NAME_LEN) (15) bytes, without
    /// NUL (which no OS accepts in a thread name). Default `"drama"`.
    pub fn thread_name(mut self, thread_name: impl Into<String>) -> Builder {
        self.thread_name = thread_name.into();
        self
    }

    /// Blocking lanes ([`Handle::spawn_blocking`](crate::Handle::spawn_blocking)):
    /// at most `max_threads` blocking threads in all, at most `per_tenant`
    /// jobs of one tenant running at once. Both in
    /// `1..=`[`MAX_BLOCKING_THREADS`](Self::MAX_BLOCKING_THREADS) (1,024);
    /// a `per_tenant` above `max_threads` lets one tenant take every
    /// thread. Defaults 64 and 8.
    pub fn blocking_threads(mut self, max_threads: usize, per_tenant: usize) -> Builder {
        self.blocking.max_threads = max_threads;
        self.blocking.max_threads_per_tenant = per_tenant;
        self
    }

    /// Blocking lanes: at most `per_tenant` jobs of one tenant waiting for
    /// a thread, and `total` in all. Both in
    /// `1..=`[`MAX_BLOCKING_QUEUED`](Self::MAX_BLOCKING_QUEUED) (2^20).
    /// Defaults 1,024 and 16,384.
    pub fn blocking_queue(mut self, per_tenant: usize, total: usize) -> Builder {
        self.blocking.max_queued_per_tenant = per_tenant;
        self.blocking.max_queued = total;
        self
    }

    /// How long an idle blocking thread waits for work before it exits. In
    /// [`MIN_BLOCKING_KEEP_ALIVE`](Self::MIN_BLOCKING_KEEP_ALIVE)`..=`[`MAX_BLOCKING_KEEP_ALIVE`](Self::MAX_BLOCKING_KEEP_ALIVE)
    /// (1 ms to 1 hour). Default 10 s.
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.blocking.keep_alive = keep_alive;
        self
    }

    /// Runs drama's `Drr` policy (the default) with `config`: quantum,
    /// class weights, age bound, tenant bound. Its queue bounds are raised
    /// to `max_tasks` and its tenant bound to `max_tenants` if they are
    /// smaller, because a worker must be able to queue every live task of
    /// every tenant the runtime accepts.
    pub fn drr(mut self, config: DrrConfig) -> Builder {
        self.policy = PolicyChoice::Drr(config);
        self
    }

    /// Admission control (`AdmissionConfig`, in drama's `admission`
    /// module): which new work is refused as the load rises, `Accept`
    /// first and `Write` last, and the tenant over its share before the
    /// others; the load score's target and window, the class thresholds,
    /// the share test, the reserve and the IO depth limits. Its bounds on
    /// work in flight and on tenant ids are the runtime's: `max_tasks` and
    /// `max_tenants`. Default `AdmissionConfig::new()`.
    pub fn admission(mut self, config: AdmissionConfig) -> Builder {
        self.admission = config;
        self
    }

    /// Whether the runtime records for the scheduler's view
    /// ([`Handle::snapshot`](crate::Handle::snapshot)): each poll's tenant
    /// polls, CPU and queueing delay and its class's histograms (a few
    /// loads and stores by the worker), and each task's spawn and end per
    /// tenant and class (an atomic add next to admission's own). Default
    /// `true`. Off, a snapshot still has what admission keeps anyway
    /// (refusals, work and IO in flight, IO done, expiries) and the queues,
    /// without CPU, polls, histograms, spawns or endings.
    /// `docs/bench/recording.md` measures the difference.
    pub fn record_metrics(mut self, on: bool) -> Builder {
        self.record_metrics = on;
        self
    }

    /// Serves the scheduler's view on `addr` (loopback unless you choose
    /// otherwise: the view names tenants and is not authenticated), for
    /// `drama-top ADDR` and scripts: plain HTTP/1.0, `GET /` is the
    /// snapshot's table, `GET /snapshot.json` its JSON. One thread of the
    /// runtime's serves it, a request at a time; no async runtime is
    /// started. Off unless set. Port 0 picks a free port
    /// ([`Handle::status_addr`](crate::Handle::status_addr) says which). A
    /// bind that fails is a [`BuildError`] of kind
    /// [`StatusEndpoint`](BuildErrorKind::StatusEndpoint). Needs the
    /// `status` cargo feature.
    #[cfg(feature = "status")]
    pub fn status_addr(mut self, addr: impl Into<std::net::SocketAddr>) -> Builder {
        self.status_addr = Some(addr.into());
        self
    }

    /// Serves the scheduler's view on `port` of the loopback address
    /// (`127.0.0.1`): [`status_addr`](Self::status_addr) where only this
    /// machine may look. Needs the `status` cargo feature.
    #[cfg(feature = "status")]
    pub fn status_port(self, port: u16) -> Builder {
        self.status_addr((std::net::Ipv4Addr::LOCALHOST, port))
    }

    /// Runs a policy of your own instead of `Drr`: `make(worker_index)` is
    /// called once per worker slot, and the runtime calls each policy only
    /// from the thread that owns the slot. The policy orders [`Task`]s,
    /// which it may inspect but not run: the worker runs what the policy
    /// picks and charges its cost back. Tasks a policy refuses (its bounds)
    /// are kept in a spill list and still run, so a small bound costs
    /// fairness, never a task. See `drama-policy-fifo` for an example.
    pub fn policy<P, F>(mut self, make: F) -> Builder
    where
        P: Policy<Task> + Send + 'static,
        F: Fn(usize) -> P + Send + Sync + 'static,
    {
        self.policy = PolicyChoice::Custom(Arc::new(move |index| Box::new(make(index))));
        self
    }

    /// Checks every setting against its limits, in the order of the
    /// setters; `workers` is the worker count decided on.
    fn check(&self, workers: usize) -> Result<(), BuildError> {
        use Refused as R;
        fn refuse(refused: Refused) -> Result<(), BuildError> {
            Err(BuildError { refused })
        }
        if !(Self::MIN_WORKERS..=Self::MAX_WORKERS).contains(&workers) {
            return refuse(R::Workers(workers));
        }
        if let Some(max_threads) = self.max_threads
            && !(workers..=Self::MAX_THREADS).contains(&max_threads)
        {
            return refuse(R::MaxThreads {
                max_threads,
                workers,
            });
        }
        if !(Self::MIN_TASKS..=Self::MAX_TASKS).contains(&self.max_tasks) {
            return refuse(R::MaxTasks(self.max_tasks));
        }
        if !(Self::MIN_INBOX_CAPACITY..=Self::MAX_INBOX_CAPACITY).contains(&self.inbox_capacity)
            || !self.inbox_capacity.is_power_of_two()
        {
            return refuse(R::InboxCapacity(self.inbox_capacity));
        }
        if !(Self::MIN_STUCK_THRESHOLD..=Self::MAX_STUCK_THRESHOLD).contains(&self.stuck_threshold)
        {
            return refuse(R::StuckThreshold(self.stuck_threshold));
        }
        if !(Self::MIN_POLL_BUDGET..=Self::MAX_POLL_BUDGET).contains(&self.poll_budget)
            || self.poll_budget > self.stuck_threshold
        {
            return refuse(R::PollBudget {
                poll_budget: self.poll_budget,
                stuck_threshold: self.stuck_threshold,
            });
        }
        if !(Self::MIN_TENANTS..=Self::MAX_TENANTS).contains(&self.max_tenants) {
            return refuse(R::MaxTenants(self.max_tenants));
        }
        let name = &self.thread_name;
        let name_len = Self::MIN_THREAD_NAME_LEN..=Self::MAX_THREAD_NAME_LEN;
        if !name_len.contains(&name.len()) || name.contains('\0') {
            return refuse(R::ThreadName {
                len: name.len(),
                nul_at: name.find('\0'),
            });
        }
        let b = &self.blocking;
        let threads = Self::MIN_BLOCKING_THREADS..=Self::MAX_BLOCKING_THREADS;
        if !threads.contains(&b.max_threads) || !threads.contains(&b.max_threads_per_tenant) {
            return refuse(R::BlockingThreads {
                max_threads: b.max_threads,
                per_tenant: b.max_threads_per_tenant,
            });
        }
        let queued = Self::MIN_BLOCKING_QUEUED..=Self::MAX_BLOCKING_QUEUED;
        if !queued.contains(&b.max_queued_per_tenant) || !queued.contains(&b.max_queued) {
            return refuse(R::BlockingQueue {
                per_tenant: b.max_queued_per_tenant,
                total: b.max_queued,
            });
        }
        let keep_alive = Self::MIN_BLOCKING_KEEP_ALIVE..=Self::MAX_BLOCKING_KEEP_ALIVE;
        if !keep_alive.contains(&b.keep_alive) {
            return refuse(R::BlockingKeepAlive(b.keep_alive));
        }
        Ok(())
    }

    /// Checks the settings and starts the runtime's threads.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] whose [`kind`](BuildError::kind) names the first
    /// setting out of range, or [`ThreadStart`](BuildErrorKind::ThreadStart)
    /// when the OS refused to start a thread.
    pub fn build(self) -> Result<Runtime, BuildError> {
        let workers = match self.workers {
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map(NonZeroUsize::get)
                .unwrap_or(1)
                .min(MAX_WORKERS),
        };
        self.check(workers)?;
        let max_threads = self.max_threads.unwrap_or(workers + workers.max(4));
        let mut class_weights = DrrConfig::DEFAULT_CLASS_WEIGHTS;
        let make_policy: PolicyFactory = match self.policy {
            PolicyChoice::Custom(make) => make,
            PolicyChoice::Drr(config) => {
                class_weights = Class::ALL.map(|c| config.get_class_weight(c));
                let config = config
                    .max_tenants(config.get_max_tenants().max(self.max_tenants))
                    .max_len(config.get_max_len().max(self.max_tasks))
                    .max_tenant_len(config.get_max_tenant_len().max(self.max_tasks));
                // Validate once here, so a bad config is a BuildError.
                Drr::<Task>::with_config(config).map_err(BuildError::policy)?;
                Arc::new(move |_| {
                    Box::new(Drr::with_config(config).expect("validated by build"))
                        as Box<dyn Policy<Task> + Send>
                })
            }
        };
        drama_core::clock::calibrate();
        let mut blocking = self.blocking;
        blocking.thread_name = self.thread_name.clone();
        let admission = Rules::new(
            self.admission
                .max_in_flight(self.max_tasks as u64)
                .max_tenants(self.max_tenants),
        )
        .map_err(BuildError::admission)?;
        let config = Config {
            admission,
            workers,
            max_threads,
            max_tasks: self.max_tasks,
            inbox_capacity: self.inbox_capacity,
            stuck_threshold: self.stuck_threshold,
            poll_budget: self.poll_budget,
            thread_name: self.thread_name,
            max_tenants: self.max_tenants,
            blocking,
            class_weights,
            record_metrics: self.record_metrics,
        };
        // Bound before any thread starts, so that a taken port is a
        // `BuildError` and not a pool half started.
        #[cfg(feature = "status")]
        let status = match self.status_addr {
            Some(addr) => Some(
                std::net::TcpListener::bind(addr)
                    .map_err(|e| BuildError::status_endpoint(addr, e))?,
            ),
            None => None,
        };
        let shared = Shared::new(config, make_policy);
        let pool = Runtime::from_shared(shared.clone());
        for index in 0..workers {
            shared
                .start_worker(index, Start::Fresh)
                .map_err(|e| BuildError::io("could not start a worker thread", e))?;
        }
        shared
            .start_monitor()
            .map_err(|e| BuildError::io("could not start the monitor thread", e))?;
        #[cfg(feature = "status")]
        if let Some(listener) = status {
            crate::status::start(&shared, listener)
                .map_err(|e| BuildError::io("could not start the status endpoint's thread", e))?;
        }
        Ok(pool)
    }
}

// The limits and defaults agree with each other and with the pool, checked
// at compile time: the shortest stuck threshold is one the monitor can
// honour, the defaults are in range, and the default budget is within the
// default threshold.
const _: () = {
    let ns = Duration::as_nanos;
    assert!(ns(&Builder::MIN_STUCK_THRESHOLD) >= ns(&MONITOR_MIN_INTERVAL));
    assert!(ns(&Builder::MIN_POLL_BUDGET) <= ns(&Builder::MIN_STUCK_THRESHOLD));
    assert!(ns(&Builder::DEFAULT_STUCK_THRESHOLD) >= ns(&Builder::MIN_STUCK_THRESHOLD));
    assert!(ns(&Builder::DEFAULT_STUCK_THRESHOLD) <= ns(&Builder::MAX_STUCK_THRESHOLD));
    assert!(ns(&Builder::DEFAULT_POLL_BUDGET) >= ns(&Builder::MIN_POLL_BUDGET));
    assert!(ns(&Builder::DEFAULT_POLL_BUDGET) <= ns(&Builder::DEFAULT_STUCK_THRESHOLD));
    assert!(Builder::DEFAULT_INBOX_CAPACITY.is_power_of_two());
    assert!(Builder::DEFAULT_INBOX_CAPACITY >= Builder::MIN_INBOX_CAPACITY);
    assert!(Builder::DEFAULT_INBOX_CAPACITY <= Builder::MAX_INBOX_CAPACITY);
    assert!(Builder::MIN_INBOX_CAPACITY.is_power_of_two());
    assert!(Builder::MAX_INBOX_CAPACITY.is_power_of_two());
    assert!(Builder::DEFAULT_MAX_TASKS >= Builder::MIN_TASKS);
    assert!(Builder::DEFAULT_MAX_TASKS <= Builder::MAX_TASKS);
    assert!(DrrConfig::DEFAULT_MAX_TENANTS >= Builder::MIN_TENANTS);
    assert!(DrrConfig::DEFAULT_MAX_TENANTS <= Builder::MAX_TENANTS);
    assert!(Builder::DEFAULT_BLOCKING_THREADS_PER_TENANT >= Builder::MIN_BLOCKING_THREADS);
    assert!(Builder::DEFAULT_BLOCKING_QUEUED_PER_TENANT >= Builder::MIN_BLOCKING_QUEUED);
    assert!(Builder::DEFAULT_BLOCKING_THREADS <= Builder::MAX_BLOCKING_THREADS);
    assert!(Builder::DEFAULT_BLOCKING_THREADS_PER_TENANT <= Builder::DEFAULT_BLOCKING_THREADS);
    assert!(Builder::DEFAULT_BLOCKING_QUEUED <= Builder::MAX_BLOCKING_QUEUED);
    assert!(Builder::DEFAULT_BLOCKING_QUEUED_PER_TENANT <= Builder::DEFAULT_BLOCKING_QUEUED);
    assert!(ns(&Builder::DEFAULT_BLOCKING_KEEP_ALIVE) >= ns(&Builder::MIN_BLOCKING_KEEP_ALIVE));
    assert!(ns(&Builder::DEFAULT_BLOCKING_KEEP_ALIVE) <= ns(&Builder::MAX_BLOCKING_KEEP_ALIVE));
    assert!(Builder::DEFAULT_THREAD_NAME.len() >= Builder::MIN_THREAD_NAME_LEN);
    assert!(Builder::DEFAULT_THREAD_NAME.len() <= Builder::MAX_THREAD_NAME_LEN);
};

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("workers", &self.workers)
            .field("max_threads", &self.max_threads)
            .field("max_tasks", &self.max_tasks)
            .field("inbox_capacity", &self.inbox_capacity)
            .field("stuck_threshold", &self.stuck_threshold)
            .finish_non_exhaustive()
    }
}

/// A configuration [`Builder::build`] refused, or a thread it could not
/// start. [`kind`](Self::kind) names the setting; the message gives its
/// limits (the `MIN_*` and `MAX_*` constants of [`Builder`]) and the value
/// refused. A refused policy or admission configuration, and an error of
/// the OS, is the error's [`source`](std::error::Error::source).
///
/// ```
/// use std::time::Duration;
/// use drama_pool::{BuildErrorKind, Builder, Runtime};
///
/// let error = Runtime::builder().stuck_threshold(Duration::MAX).build().unwrap_err();
/// assert_eq!(error.kind(), BuildErrorKind::StuckThreshold);
///
/// let error = Runtime::builder().workers(0).build().unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     format!(
///         "workers must be in {}..={}, got 0",
///         Builder::MIN_WORKERS,
///         Builder::MAX_WORKERS,
///     ),
/// );
/// ```
#[derive(Debug)]
pub struct BuildError {
    refused: Refused,
}

/// Which setting a [`BuildError`] refused (or that a thread could not be
/// started).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum BuildErrorKind {
    /// [`Builder::workers`].
    Workers,
    /// [`Builder::max_threads`].
    MaxThreads,
    /// [`Builder::max_tasks`].
    MaxTasks,
    /// [`Builder::inbox_capacity`].
    InboxCapacity,
    /// [`Builder::stuck_threshold`].
    StuckThreshold,
    /// [`Builder::poll_budget`] (alone, or against the stuck threshold).
    PollBudget,
    /// [`Builder::max_tenants`].
    MaxTenants,
    /// [`Builder::thread_name`].
    ThreadName,
    /// [`Builder::blocking_threads`].
    BlockingThreads,
    /// [`Builder::blocking_queue`].
    BlockingQueue,
    /// [`Builder::blocking_keep_alive`].
    BlockingKeepAlive,
    /// The policy's configuration ([`Builder::drr`]); the error's
    /// [`source`](std::error::Error::source) is the policy's
    /// `drama_policy::ConfigError`.
    Policy,
    /// The admission configuration ([`Builder::admission`]); the error's
    /// [`source`](std::error::Error::source) is admission's
    /// `drama_admission::ConfigError`.
    Admission,
    /// The OS refused to start one of the pool's threads; the error's
    /// [`source`](std::error::Error::source) says why.
    ThreadStart,
    /// The status endpoint's address could not be bound (`status_addr`,
    /// with the `status` feature); the error's
    /// [`source`](std::error::Error::source) says why.
    StatusEndpoint,
}

/// What a [`BuildError`] refused: the setting and its value (with what its
/// limit depends on), from which the message is built with the limits.
#[derive(Debug)]
enum Refused {
    Workers(usize),
    MaxThreads {
        max_threads: usize,
        workers: usize,
    },
    MaxTasks(usize),
    InboxCapacity(usize),
    StuckThreshold(Duration),
    PollBudget {
        poll_budget: Duration,
        stuck_threshold: Duration,
    },
    MaxTenants(u32),
    ThreadName {
        len: usize,
        nul_at: Option<usize>,
    },
    BlockingThreads {
        max_threads: usize,
        per_tenant: usize,
    },
    BlockingQueue {
        per_tenant: usize,
        total: usize,
    },
    BlockingKeepAlive(Duration),
    /// The policy's refusal, kept whole as the source.
    Policy(drama_policy::ConfigError),
    /// Admission's refusal, kept whole as the source.
    Admission(drama_admission::ConfigError),
    /// The thread that could not be started, in words, and the OS's error.
    ThreadStart(&'static str, std::io::Error),
    /// The address that could not be bound, and the OS's error.
    #[cfg(feature = "status")]
    StatusEndpoint(std::net::SocketAddr, std::io::Error),
}

impl BuildError {
    /// The policy's configuration was refused.
    fn policy(source: drama_policy::ConfigError) -> BuildError {
        BuildError {
            refused: Refused::Policy(source),
        }
    }

    /// The admission configuration was refused.
    fn admission(source: drama_admission::ConfigError) -> BuildError {
        BuildError {
            refused: Refused::Admission(source),
        }
    }

    /// The OS refused to start a thread; `what` says which, in words.
    fn io(what: &'static str, source: std::io::Error) -> BuildError {
        BuildError {
            refused: Refused::ThreadStart(what, source),
        }
    }

    /// The status endpoint's address could not be bound.
    #[cfg(feature = "status")]
    fn status_endpoint(addr: std::net::SocketAddr, source: std::io::Error) -> BuildError {
        BuildError {
            refused: Refused::StatusEndpoint(addr, source),
        }
    }

    /// Which setting was refused.
    pub fn kind(&self) -> BuildErrorKind {
        use BuildErrorKind as Kind;
        match self.refused {
            Refused::Workers(_) => Kind::Workers,
            Refused::MaxThreads { .. } => Kind::MaxThreads,
            Refused::MaxTasks(_) => Kind::MaxTasks,
            Refused::InboxCapacity(_) => Kind::InboxCapacity,
            Refused::StuckThreshold(_) => Kind::StuckThreshold,
            Refused::PollBudget { .. } => Kind::PollBudget,
            Refused::MaxTenants(_) => Kind::MaxTenants,
            Refused::ThreadName { .. } => Kind::ThreadName,
            Refused::BlockingThreads { .. } => Kind::BlockingThreads,
            Refused::BlockingQueue { .. } => Kind::BlockingQueue,
            Refused::BlockingKeepAlive(_) => Kind::BlockingKeepAlive,
            Refused::Policy(_) => Kind::Policy,
            Refused::Admission(_) => Kind::Admission,
            Refused::ThreadStart(..) => Kind::ThreadStart,
            #[cfg(feature = "status")]
            Refused::StatusEndpoint(..) => Kind::StatusEndpoint,
        }
    }
}

/// The message names the setting, its limits (the constants of
/// [`Builder`]) and the value refused; durations are shown as `Debug`
/// shows them (`10ms`, `3600s`). With a source, the message includes the
/// source's.
impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        type B = Builder;
        match &self.refused {
            Refused::Workers(got) => write!(
                f,
                "workers must be in {}..={}, got {got}",
                B::MIN_WORKERS,
                B::MAX_WORKERS
            ),
            Refused::MaxThreads {
                max_threads,
                workers,
            } => write!(
                f,
                "max_threads must be in workers..={} (workers is {workers}), got {max_threads}",
                B::MAX_THREADS
            ),
            Refused::MaxTasks(got) => write!(
                f,
                "max_tasks must be in {}..={}, got {got}",
                B::MIN_TASKS,
                B::MAX_TASKS
            ),
            Refused::InboxCapacity(got) => write!(
                f,
                "inbox_capacity must be a power of two in {}..={}, got {got}",
                B::MIN_INBOX_CAPACITY,
                B::MAX_INBOX_CAPACITY
            ),
            Refused::StuckThreshold(got) => write!(
                f,
                "stuck_threshold must be in {:?}..={:?}, got {got:?}",
                B::MIN_STUCK_THRESHOLD,
                B::MAX_STUCK_THRESHOLD
            ),
            Refused::PollBudget {
                poll_budget,
                stuck_threshold,
            } => write!(
                f,
                "poll_budget must be in {:?}..={:?} and at most stuck_threshold \
                 ({stuck_threshold:?}), got {poll_budget:?}",
                B::MIN_POLL_BUDGET,
                B::MAX_POLL_BUDGET
            ),
            Refused::MaxTenants(got) => write!(
                f,
                "max_tenants must be in {}..={}, got {got}",
                B::MIN_TENANTS,
                B::MAX_TENANTS
            ),
            Refused::ThreadName { len, nul_at } => {
                write!(
                    f,
                    "thread_name must be {}..={} bytes without NUL, got {len} bytes",
                    B::MIN_THREAD_NAME_LEN,
                    B::MAX_THREAD_NAME_LEN
                )?;
                match nul_at {
                    Some(at) => write!(f, " with a NUL at byte {at}"),
                    None => Ok(()),
                }
            }
            Refused::BlockingThreads {
                max_threads,
                per_tenant,
            } => write!(
                f,
                "blocking_threads(max_threads, per_tenant) must each be in {}..={}, \
                 got ({max_threads}, {per_tenant})",
                B::MIN_BLOCKING_THREADS,
                B::MAX_BLOCKING_THREADS
            ),
            Refused::BlockingQueue { per_tenant, total } => write!(
                f,
                "blocking_queue(per_tenant, total) must each be in {}..={}, \
                 got ({per_tenant}, {total})",
                B::MIN_BLOCKING_QUEUED,
                B::MAX_BLOCKING_QUEUED
            ),
            Refused::BlockingKeepAlive(got) => write!(
                f,
                "blocking_keep_alive must be in {:?}..={:?}, got {got:?}",
                B::MIN_BLOCKING_KEEP_ALIVE,
                B::MAX_BLOCKING_KEEP_ALIVE
            ),
            // The sources' messages name their configuration, the
            // setting, its limits and the value refused.
            Refused::Policy(source) => write!(f, "{source}"),
            Refused::Admission(source) => write!(f, "{source}"),
            Refused::ThreadStart(what, source) => write!(f, "{what}: {source}"),
            #[cfg(feature = "status")]
            Refused::StatusEndpoint(addr, source) => write!(
                f,
                "could not bind the status endpoint's address {addr}: {source}"
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.refused {
            Refused::Policy(source) => Some(source),
            Refused::Admission(source) => Some(source),
            Refused::ThreadStart(_, source) => Some(source),
            #[cfg(feature = "status")]
            Refused::StatusEndpoint(_, source) => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drama_core::Spawn;

    use BuildErrorKind as Kind;

    /// One worker unless the case says otherwise: every accepted case
    /// starts a pool.
    fn base() -> Builder {
        Builder::new().workers(1)
    }

    /// A case: its name, the settings, and the refusal expected (if any).
    type Case = (&'static str, fn(Builder) -> Builder, Option<BuildErrorKind>);

    /// Builds each case from `base()`: `None` expects a working pool (a
    /// task runs to its value and the pool shuts down), `Some(kind)` a
    /// refusal of that kind.
    fn check(cases: &[Case]) {
        for (name, configure, expect) in cases {
            match (configure(base()).build(), expect) {
                (Ok(pool), None) => {
                    let handle = pool.spawn_with(Spawn::new(), async { 7 }).unwrap();
                    assert_eq!(pool.block_on(handle).unwrap(), 7, "{name}");
                    assert!(pool.shutdown_timeout(Duration::from_secs(5)), "{name}");
                }
                (Err(error), Some(kind)) => assert_eq!(error.kind(), *kind, "{name}: {error}"),
                (Ok(_), Some(kind)) => panic!("{name}: accepted, expected {kind:?}"),
                (Err(error), None) => panic!("{name}: refused ({error}), expected a pool"),
            }
        }
    }

    // Each limit and one past it, and the type's extremes, are thrown at
    // the runtime by the `drama` crate's tests/extremes.rs, each case in a
    // child process under a watchdog.

    #[test]
    fn the_defaults_build() {
        check(&[
            ("defaults", |b| b, None),
            ("no worker count", |_| Builder::new(), None),
        ]);
    }

    #[test]
    fn each_setting_is_refused_with_its_kind() {
        check(&[
            ("workers", |b| b.workers(0), Some(Kind::Workers)),
            (
                "max_threads",
                |b| b.workers(2).max_threads(1),
                Some(Kind::MaxThreads),
            ),
            ("max_tasks", |b| b.max_tasks(0), Some(Kind::MaxTasks)),
            (
                "inbox_capacity",
                |b| b.inbox_capacity(3),
                Some(Kind::InboxCapacity),
            ),
            (
                "stuck_threshold",
                |b| b.stuck_threshold(Duration::ZERO),
                Some(Kind::StuckThreshold),
            ),
            (
                "poll_budget",
                |b| b.poll_budget(Duration::ZERO),
                Some(Kind::PollBudget),
            ),
            (
                "poll_budget over stuck_threshold",
                |b| {
                    b.stuck_threshold(Duration::from_millis(2))
                        .poll_budget(Duration::from_millis(3))
                },
                Some(Kind::PollBudget),
            ),
            ("max_tenants", |b| b.max_tenants(0), Some(Kind::MaxTenants)),
            ("thread_name", |b| b.thread_name(""), Some(Kind::ThreadName)),
            (
                "blocking_threads",
                |b| b.blocking_threads(1, 0),
                Some(Kind::BlockingThreads),
            ),
            (
                "blocking_queue",
                |b| b.blocking_queue(0, 1),
                Some(Kind::BlockingQueue),
            ),
            (
                "blocking_keep_alive",
                |b| b.blocking_keep_alive(Duration::ZERO),
                Some(Kind::BlockingKeepAlive),
            ),
            (
                "drr",
                |b| b.drr(DrrConfig::new().quantum_ns(0)),
                Some(Kind::Policy),
            ),
            (
                "admission",
                |b| b.admission(AdmissionConfig::new().reserve(1.0)),
                Some(Kind::Admission),
            ),
        ]);
    }

    /// The parts a refusal's message must hold.
    fn says(error: &BuildError, parts: &[String]) {
        let message = error.to_string();
        for part in parts {
            assert!(message.contains(part), "{part:?} not in {message:?}");
        }
    }

    #[test]
    fn messages_name_the_limits_and_the_value() {
        let error = base()
            .workers(Builder::MAX_WORKERS + 1)
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), Kind::Workers);
        says(
            &error,
            &[
                "workers".into(),
                format!("{}..={}", Builder::MIN_WORKERS, Builder::MAX_WORKERS),
                format!("got {}", Builder::MAX_WORKERS + 1),
            ],
        );
        assert!(std::error::Error::source(&error).is_none());

        // A limit that is another setting names that setting's value.
        let threshold = Duration::from_millis(2);
        let budget = Duration::from_millis(3);
        let error = base()
            .stuck_threshold(threshold)
            .poll_budget(budget)
            .build()
            .unwrap_err();
        says(
            &error,
            &[
                format!("{:?}", Builder::MIN_POLL_BUDGET),
                format!("({threshold:?})"),
                format!("got {budget:?}"),
            ],
        );
    }

    #[test]
    fn the_policy_and_admission_refusals_are_the_source() {
        use std::error::Error as _;
        let error = base()
            .drr(DrrConfig::new().max_debt_credits(0))
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), Kind::Policy);
        let source = error.source().expect("the policy's refusal");
        let source = source
            .downcast_ref::<drama_policy::ConfigError>()
            .expect("a drama_policy::ConfigError");
        assert_eq!(source.kind(), drama_policy::ConfigErrorKind::MaxDebtCredits);
        says(&error, &[source.to_string()]);

        let error = base()
            .admission(AdmissionConfig::new().share_slack(-1.0))
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), Kind::Admission);
        let source = error.source().expect("admission's refusal");
        let source = source
            .downcast_ref::<drama_admission::ConfigError>()
            .expect("a drama_admission::ConfigError");
        assert_eq!(source.kind(), drama_admission::ConfigErrorKind::ShareSlack);
        says(&error, &[source.to_string()]);
    }
}
