//! Configuring and building a [`Pool`](crate::Pool).

use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use drama_core::Runnable;
use drama_policy::{Class, Drr, DrrConfig, Policy};

use crate::api::Pool;
use crate::blocking::BlockingLimits;
use crate::pool::{MAX_WORKERS, PolicyFactory, Shared, Start};
use crate::sync::Arc;

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
}

/// Builds a [`Pool`]: worker count, bounds, thresholds and the policy.
///
/// Every setter takes the value as given; [`build`](Self::build) checks them
/// all and refuses nonsense (zero workers, a zero bound, a threshold of
/// zero) with a [`BuildError`] that says which, never a panic.
///
/// ```
/// use std::time::Duration;
/// use drama_pool::Pool;
///
/// let pool = Pool::builder()
///     .workers(2)
///     .max_tasks(100_000)
///     .stuck_threshold(Duration::from_millis(20))
///     .build()?;
/// # drop(pool);
/// # Ok::<(), drama_pool::BuildError>(())
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

    /// A builder with the defaults: one worker per available core, the
    /// default `Drr` policy.
    pub fn new() -> Builder {
        Builder {
            workers: None,
            max_threads: None,
            max_tasks: Self::DEFAULT_MAX_TASKS,
            inbox_capacity: Self::DEFAULT_INBOX_CAPACITY,
            stuck_threshold: Self::DEFAULT_STUCK_THRESHOLD,
            poll_budget: Self::DEFAULT_POLL_BUDGET,
            thread_name: "drama".into(),
            max_tenants: DrrConfig::DEFAULT_MAX_TENANTS,
            blocking: BlockingLimits {
                max_threads: 64,
                max_threads_per_tenant: 8,
                max_queued_per_tenant: 1024,
                max_queued: 16 * 1024,
                keep_alive: Duration::from_secs(10),
                thread_name: "drama".into(),
            },
            policy: PolicyChoice::Drr(DrrConfig::new()),
        }
    }

    /// The number of worker threads (1 to 64). Default: the number of
    /// cores available to the process.
    pub fn workers(mut self, workers: usize) -> Builder {
        self.workers = Some(workers);
        self
    }

    /// The most worker threads alive at once, counting replacements of
    /// stuck workers while the stuck ones are still inside their poll.
    /// Default: twice the workers, at least workers + 4.
    pub fn max_threads(mut self, max_threads: usize) -> Builder {
        self.max_threads = Some(max_threads);
        self
    }

    /// The most live tasks (spawned and not finished); a spawn beyond it is
    /// refused with `RejectReason::QueueFull`. Default
    /// [`DEFAULT_MAX_TASKS`](Self::DEFAULT_MAX_TASKS).
    pub fn max_tasks(mut self, max_tasks: usize) -> Builder {
        self.max_tasks = max_tasks;
        self
    }

    /// The capacity of each worker's inbox, a power of two. Default
    /// [`DEFAULT_INBOX_CAPACITY`](Self::DEFAULT_INBOX_CAPACITY).
    pub fn inbox_capacity(mut self, inbox_capacity: usize) -> Builder {
        self.inbox_capacity = inbox_capacity;
        self
    }

    /// How long one poll may run before the monitor gives the worker's
    /// queue to a fresh thread. Default
    /// [`DEFAULT_STUCK_THRESHOLD`](Self::DEFAULT_STUCK_THRESHOLD).
    pub fn stuck_threshold(mut self, stuck_threshold: Duration) -> Builder {
        self.stuck_threshold = stuck_threshold;
        self
    }

    /// The poll-time budget (see `drama_core::budget`). Default
    /// [`DEFAULT_POLL_BUDGET`](Self::DEFAULT_POLL_BUDGET).
    pub fn poll_budget(mut self, poll_budget: Duration) -> Builder {
        self.poll_budget = poll_budget;
        self
    }

    /// The most tenants the pool knows by name (see `Handle::tenant`), and
    /// the tenant bound of the default `Drr` policy. Default 65,536.
    pub fn max_tenants(mut self, max_tenants: u32) -> Builder {
        self.max_tenants = max_tenants;
        self
    }

    /// The prefix of the pool's thread names. Default `"drama"`.
    pub fn thread_name(mut self, thread_name: impl Into<String>) -> Builder {
        self.thread_name = thread_name.into();
        self
    }

    /// Blocking lanes: at most `max_threads` blocking threads in all, at
    /// most `per_tenant` jobs of one tenant running at once. Defaults 64
    /// and 8.
    pub fn blocking_threads(mut self, max_threads: usize, per_tenant: usize) -> Builder {
        self.blocking.max_threads = max_threads;
        self.blocking.max_threads_per_tenant = per_tenant;
        self
    }

    /// Blocking lanes: at most `per_tenant` jobs of one tenant waiting for
    /// a thread, and `total` in all. Defaults 1,024 and 16,384.
    pub fn blocking_queue(mut self, per_tenant: usize, total: usize) -> Builder {
        self.blocking.max_queued_per_tenant = per_tenant;
        self.blocking.max_queued = total;
        self
    }

    /// How long an idle blocking thread lives. Default 10 s.
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.blocking.keep_alive = keep_alive;
        self
    }

    /// Runs drama's `Drr` policy with `config` (quantum, class weights, age
    /// bound, tenant bound). Its queue bounds are raised to the task bound
    /// if they are smaller, because a worker must be able to queue every
    /// live task.
    pub fn drr(mut self, config: DrrConfig) -> Builder {
        self.policy = PolicyChoice::Drr(config);
        self
    }

    /// Runs a policy of your own: `make(worker_index)` is called once per
    /// worker slot. The pool calls the policy only from the thread that
    /// owns the slot. Tasks a policy refuses (its bounds) are kept in a
    /// spill list and still run, so a small bound costs fairness, never a
    /// task.
    pub fn policy<P, F>(mut self, make: F) -> Builder
    where
        P: Policy<Runnable> + Send + 'static,
        F: Fn(usize) -> P + Send + Sync + 'static,
    {
        self.policy = PolicyChoice::Custom(Arc::new(move |index| Box::new(make(index))));
        self
    }

    /// Checks the configuration and starts the pool's threads.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the first bad setting, or the failure to
    /// start a thread.
    pub fn build(self) -> Result<Pool, BuildError> {
        let workers = match self.workers {
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map(NonZeroUsize::get)
                .unwrap_or(1)
                .min(MAX_WORKERS),
        };
        if workers == 0 || workers > MAX_WORKERS {
            return Err(BuildError::new("workers must be in 1..=64"));
        }
        let max_threads = self.max_threads.unwrap_or(workers + workers.max(4));
        if max_threads < workers {
            return Err(BuildError::new("max_threads must be at least workers"));
        }
        if self.max_tasks == 0 {
            return Err(BuildError::new("max_tasks must be at least 1"));
        }
        if self.inbox_capacity == 0 || !self.inbox_capacity.is_power_of_two() {
            return Err(BuildError::new("inbox_capacity must be a power of two"));
        }
        if self.stuck_threshold.is_zero() {
            return Err(BuildError::new("stuck_threshold must be more than zero"));
        }
        if self.poll_budget.is_zero() {
            return Err(BuildError::new("poll_budget must be more than zero"));
        }
        if self.max_tenants == 0 || self.max_tenants > DrrConfig::MAX_TENANTS {
            return Err(BuildError::new("max_tenants must be in 1..=16_777_216"));
        }
        let b = &self.blocking;
        if b.max_threads == 0
            || b.max_threads_per_tenant == 0
            || b.max_queued_per_tenant == 0
            || b.max_queued == 0
        {
            return Err(BuildError::new("blocking lane limits must be at least 1"));
        }
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
                Drr::<Runnable>::with_config(config).map_err(|e| BuildError::new(e.reason()))?;
                Arc::new(move |_| {
                    Box::new(Drr::with_config(config).expect("validated by build"))
                        as Box<dyn Policy<Runnable> + Send>
                })
            }
        };
        drama_core::clock::calibrate();
        let mut blocking = self.blocking;
        blocking.thread_name = self.thread_name.clone();
        let config = Config {
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
        };
        let shared = Shared::new(config, make_policy);
        let pool = Pool::from_shared(shared.clone());
        for index in 0..workers {
            shared
                .start_worker(index, Start::Fresh)
                .map_err(|e| BuildError::io("could not start a worker thread", e))?;
        }
        shared
            .start_monitor()
            .map_err(|e| BuildError::io("could not start the monitor thread", e))?;
        Ok(pool)
    }
}

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
/// start. [`reason`](Self::reason) says which.
#[derive(Debug)]
pub struct BuildError {
    reason: &'static str,
    source: Option<std::io::Error>,
}

impl BuildError {
    pub(crate) fn new(reason: &'static str) -> BuildError {
        BuildError {
            reason,
            source: None,
        }
    }

    fn io(reason: &'static str, source: std::io::Error) -> BuildError {
        BuildError {
            reason,
            source: Some(source),
        }
    }

    /// What was wrong, in words.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.reason),
            None => f.write_str(self.reason),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}
