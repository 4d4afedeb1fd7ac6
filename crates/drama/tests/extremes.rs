//! Extreme settings and arguments give a typed error or a working runtime:
//! never a panic, an abort or a hang.
//!
//! Every builder setting is tried at its extremes (0, 1, the limits and one
//! past them, `MAX` of its type, `Duration::MAX`, a nanosecond, powers of
//! two far too large, names with NUL, empty and huge names), and so is every
//! runtime call that takes a tenant, a weight, a name or a timeout. A case
//! expects either a refusal of a given kind (checked with `kind()`, or
//! `reason()` for a refused spawn), or a runtime that works: a task runs to its value, a
//! blocking job too, and at shutdown a task left waiting is cancelled.
//!
//! The settings are one table (`settings`); the calls, and settings that
//! need a workout of their own, are cases with code of their own.
//!
//! Some extremes used to abort the process (a 16 TiB inbox allocated up
//! front; a panic while dropping a runtime that was already panicking), and
//! a hang is always possible; no assertion inside the test process can
//! catch either. So `extremes` runs every case in a child process (this
//! same test binary, running only `child` with `DRAMA_EXTREMES_CASE`
//! naming the case), two at a time, under a watchdog that kills a child
//! which does not finish in time, and fails with the names of the cases
//! that panicked, aborted or hung, and the end of their output.

use std::future::{Future, pending};
use std::io::Read;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use drama::{
    BuildErrorKind, Builder, RejectReason, Runtime, Spawn, TenantErrorKind, TenantId,
    policy::DrrConfig,
};

/// The environment variable that names the case a child runs.
const CASE_VAR: &str = "DRAMA_EXTREMES_CASE";

/// How long one case may take before its child is killed: a case takes
/// milliseconds, but a debug build on two busy cores can be slow to start a
/// process; a hang is what this catches, and it is far longer.
const CASE_TIMEOUT: Duration = Duration::from_secs(30);

/// Children run at once: the machine may have two cores, shared.
const PARALLEL_CHILDREN: usize = 2;

/// One nanosecond, for "one past the limit" on durations.
const NS: Duration = Duration::from_nanos(1);

/// A case that runs code of its own: its name, and what it checks (it
/// panics on failure).
type Case = (&'static str, fn());

/// A builder case: its name, the settings, and the expected outcome:
/// `Some(kind)` a refusal of that kind, [`WORKS`] a runtime that works.
type Setting = (&'static str, fn(Builder) -> Builder, Option<BuildErrorKind>);

/// A builder case's outcome: a runtime that works (see [`works`]).
const WORKS: Option<BuildErrorKind> = None;

/// Every builder setting at its extremes, from [`base`].
fn settings() -> Vec<Setting> {
    use BuildErrorKind as B;
    vec![
        ("workers = 0", |b| b.workers(0), Some(B::Workers)),
        ("workers = 1", |b| b.workers(1), WORKS),
        ("workers = MAX", |b| b.workers(Builder::MAX_WORKERS), WORKS),
        (
            "workers = MAX + 1",
            |b| b.workers(Builder::MAX_WORKERS + 1),
            Some(B::Workers),
        ),
        (
            "workers = usize::MAX",
            |b| b.workers(usize::MAX),
            Some(B::Workers),
        ),
        ("max_threads = 0", |b| b.max_threads(0), Some(B::MaxThreads)),
        (
            "max_threads = workers - 1",
            |b| b.workers(2).max_threads(1),
            Some(B::MaxThreads),
        ),
        (
            "max_threads = workers",
            |b| b.workers(2).max_threads(2),
            WORKS,
        ),
        (
            "max_threads = MAX",
            |b| b.max_threads(Builder::MAX_THREADS),
            WORKS,
        ),
        (
            "max_threads = MAX + 1",
            |b| b.max_threads(Builder::MAX_THREADS + 1),
            Some(B::MaxThreads),
        ),
        (
            "max_threads = usize::MAX",
            |b| b.max_threads(usize::MAX),
            Some(B::MaxThreads),
        ),
        ("max_tasks = 0", |b| b.max_tasks(0), Some(B::MaxTasks)),
        (
            "max_tasks = MAX",
            |b| b.max_tasks(Builder::MAX_TASKS),
            WORKS,
        ),
        (
            "max_tasks = MAX + 1",
            |b| b.max_tasks(Builder::MAX_TASKS + 1),
            Some(B::MaxTasks),
        ),
        (
            "max_tasks = 1 << 40",
            |b| b.max_tasks(1 << 40),
            Some(B::MaxTasks),
        ),
        (
            "max_tasks = usize::MAX",
            |b| b.max_tasks(usize::MAX),
            Some(B::MaxTasks),
        ),
        (
            "inbox_capacity = 0",
            |b| b.inbox_capacity(0),
            Some(B::InboxCapacity),
        ),
        (
            "inbox_capacity = 1",
            |b| b.inbox_capacity(1),
            Some(B::InboxCapacity),
        ),
        (
            "inbox_capacity = 3",
            |b| b.inbox_capacity(3),
            Some(B::InboxCapacity),
        ),
        (
            "inbox_capacity = 100",
            |b| b.inbox_capacity(100),
            Some(B::InboxCapacity),
        ),
        (
            "inbox_capacity = MAX",
            |b| b.inbox_capacity(Builder::MAX_INBOX_CAPACITY),
            WORKS,
        ),
        (
            "inbox_capacity = MAX * 2",
            |b| b.inbox_capacity(Builder::MAX_INBOX_CAPACITY * 2),
            Some(B::InboxCapacity),
        ),
        (
            "inbox_capacity = 1 << 40",
            |b| b.inbox_capacity(1 << 40),
            Some(B::InboxCapacity),
        ),
        (
            "inbox_capacity = 1 << 62",
            |b| b.inbox_capacity(1 << 62),
            Some(B::InboxCapacity),
        ),
        (
            "inbox_capacity = 1 << 63",
            |b| b.inbox_capacity(1 << 63),
            Some(B::InboxCapacity),
        ),
        (
            "inbox_capacity = usize::MAX",
            |b| b.inbox_capacity(usize::MAX),
            Some(B::InboxCapacity),
        ),
        (
            "stuck_threshold = 0",
            |b| b.stuck_threshold(Duration::ZERO),
            Some(B::StuckThreshold),
        ),
        (
            "stuck_threshold = 1 ns",
            |b| b.stuck_threshold(NS),
            Some(B::StuckThreshold),
        ),
        (
            "stuck_threshold = MIN - 1 ns",
            |b| b.stuck_threshold(Builder::MIN_STUCK_THRESHOLD - NS),
            Some(B::StuckThreshold),
        ),
        (
            "stuck_threshold = MIN",
            |b| b.stuck_threshold(Builder::MIN_STUCK_THRESHOLD),
            WORKS,
        ),
        (
            "stuck_threshold = MAX",
            |b| b.stuck_threshold(Builder::MAX_STUCK_THRESHOLD),
            WORKS,
        ),
        (
            "stuck_threshold = MAX + 1 ns",
            |b| b.stuck_threshold(Builder::MAX_STUCK_THRESHOLD + NS),
            Some(B::StuckThreshold),
        ),
        (
            "stuck_threshold = Duration::MAX",
            |b| b.stuck_threshold(Duration::MAX),
            Some(B::StuckThreshold),
        ),
        (
            "poll_budget = 0",
            |b| b.poll_budget(Duration::ZERO),
            Some(B::PollBudget),
        ),
        (
            "poll_budget = 1 ns",
            |b| b.poll_budget(NS),
            Some(B::PollBudget),
        ),
        (
            "poll_budget = MIN - 1 ns",
            |b| b.poll_budget(Builder::MIN_POLL_BUDGET - NS),
            Some(B::PollBudget),
        ),
        (
            "poll_budget = MIN",
            |b| b.poll_budget(Builder::MIN_POLL_BUDGET),
            WORKS,
        ),
        (
            "poll_budget = stuck_threshold",
            |b| b.stuck_threshold(MS_5).poll_budget(MS_5),
            WORKS,
        ),
        (
            "poll_budget = stuck_threshold + 1 ns",
            |b| b.stuck_threshold(MS_5).poll_budget(MS_5 + NS),
            Some(B::PollBudget),
        ),
        (
            "poll_budget = MAX",
            |b| {
                b.stuck_threshold(Builder::MAX_STUCK_THRESHOLD)
                    .poll_budget(Builder::MAX_POLL_BUDGET)
            },
            WORKS,
        ),
        (
            "poll_budget = MAX + 1 ns",
            |b| {
                b.stuck_threshold(Builder::MAX_STUCK_THRESHOLD)
                    .poll_budget(Builder::MAX_POLL_BUDGET + NS)
            },
            Some(B::PollBudget),
        ),
        (
            "poll_budget = Duration::MAX",
            |b| b.poll_budget(Duration::MAX),
            Some(B::PollBudget),
        ),
        ("max_tenants = 0", |b| b.max_tenants(0), Some(B::MaxTenants)),
        ("max_tenants = 1", |b| b.max_tenants(1), WORKS),
        (
            "max_tenants = MAX",
            |b| b.max_tenants(Builder::MAX_TENANTS),
            WORKS,
        ),
        (
            "max_tenants = MAX + 1",
            |b| b.max_tenants(Builder::MAX_TENANTS + 1),
            Some(B::MaxTenants),
        ),
        (
            "max_tenants = u32::MAX",
            |b| b.max_tenants(u32::MAX),
            Some(B::MaxTenants),
        ),
        (
            "thread_name = \"\"",
            |b| b.thread_name(""),
            Some(B::ThreadName),
        ),
        (
            "thread_name = \"dr\\0ama\"",
            |b| b.thread_name("dr\0ama"),
            Some(B::ThreadName),
        ),
        (
            "thread_name = \"\\0\"",
            |b| b.thread_name("\0"),
            Some(B::ThreadName),
        ),
        (
            "thread_name of MAX bytes",
            |b| b.thread_name(name(Builder::MAX_THREAD_NAME_LEN)),
            WORKS,
        ),
        (
            "thread_name of MAX + 1 bytes",
            |b| b.thread_name(name(Builder::MAX_THREAD_NAME_LEN + 1)),
            Some(B::ThreadName),
        ),
        (
            "thread_name of 1 MiB",
            |b| b.thread_name(name(1 << 20)),
            Some(B::ThreadName),
        ),
        (
            "thread_name of multi-byte characters",
            |b| b.thread_name("δράμα-δ"),
            WORKS,
        ),
        (
            "blocking_threads = 0, 1",
            |b| b.blocking_threads(0, 1),
            Some(B::BlockingThreads),
        ),
        (
            "blocking_threads = 1, 0",
            |b| b.blocking_threads(1, 0),
            Some(B::BlockingThreads),
        ),
        (
            "blocking_threads = 1, 1",
            |b| b.blocking_threads(1, 1),
            WORKS,
        ),
        (
            "blocking_threads = MAX, MAX",
            |b| b.blocking_threads(Builder::MAX_BLOCKING_THREADS, Builder::MAX_BLOCKING_THREADS),
            WORKS,
        ),
        (
            "blocking_threads = MAX + 1, 1",
            |b| b.blocking_threads(Builder::MAX_BLOCKING_THREADS + 1, 1),
            Some(B::BlockingThreads),
        ),
        (
            "blocking_threads = usize::MAX, usize::MAX",
            |b| b.blocking_threads(usize::MAX, usize::MAX),
            Some(B::BlockingThreads),
        ),
        (
            "blocking_queue = 0, 1",
            |b| b.blocking_queue(0, 1),
            Some(B::BlockingQueue),
        ),
        (
            "blocking_queue = 1, 0",
            |b| b.blocking_queue(1, 0),
            Some(B::BlockingQueue),
        ),
        ("blocking_queue = 1, 1", |b| b.blocking_queue(1, 1), WORKS),
        (
            "blocking_queue = MAX, MAX",
            |b| b.blocking_queue(Builder::MAX_BLOCKING_QUEUED, Builder::MAX_BLOCKING_QUEUED),
            WORKS,
        ),
        (
            "blocking_queue = 1 << 40, 1 << 40",
            |b| b.blocking_queue(1 << 40, 1 << 40),
            Some(B::BlockingQueue),
        ),
        (
            "blocking_queue = usize::MAX, usize::MAX",
            |b| b.blocking_queue(usize::MAX, usize::MAX),
            Some(B::BlockingQueue),
        ),
        (
            "blocking_keep_alive = 0",
            |b| b.blocking_keep_alive(Duration::ZERO),
            Some(B::BlockingKeepAlive),
        ),
        (
            "blocking_keep_alive = MIN",
            |b| b.blocking_keep_alive(Builder::MIN_BLOCKING_KEEP_ALIVE),
            WORKS,
        ),
        (
            "blocking_keep_alive = MAX",
            |b| b.blocking_keep_alive(Builder::MAX_BLOCKING_KEEP_ALIVE),
            WORKS,
        ),
        (
            "blocking_keep_alive = Duration::MAX",
            |b| b.blocking_keep_alive(Duration::MAX),
            Some(B::BlockingKeepAlive),
        ),
        (
            "drr quantum = 0",
            |b| b.drr(DrrConfig::new().quantum_ns(0)),
            Some(B::Policy),
        ),
        (
            "drr quantum = u64::MAX",
            |b| b.drr(DrrConfig::new().quantum_ns(u64::MAX)),
            Some(B::Policy),
        ),
        (
            "drr max_tenants = u32::MAX",
            |b| b.drr(DrrConfig::new().max_tenants(u32::MAX)),
            Some(B::Policy),
        ),
    ]
}

/// A thread name of `n` bytes.
fn name(n: usize) -> String {
    "n".repeat(n)
}

/// Five milliseconds: a stuck threshold for the poll budget to meet.
const MS_5: Duration = Duration::from_millis(5);

/// Settings whose runtime gets a workout of its own.
fn setting_cases() -> Vec<Case> {
    vec![
        ("max_tasks = 1", max_tasks_one),
        ("inbox_capacity = 2", inbox_capacity_two),
        (
            "stuck_threshold = MAX, then drop with a task waiting",
            drop_after_longest_threshold,
        ),
    ]
}

/// The runtime's calls at their extremes.
fn runtime_cases() -> Vec<Case> {
    use TenantErrorKind as T;
    vec![
        // spawn, spawn_with, spawn_blocking: tenant ids
        ("spawn_with tenant u32::MAX", || spawn_refused(u32::MAX)),
        ("spawn_with tenant max_tenants", || {
            spawn_refused(SMALL_MAX_TENANTS)
        }),
        ("spawn_with tenant max_tenants - 1", spawn_last_tenant),
        (
            "spawn inheriting a tenant past max_tenants",
            spawn_inheriting_out_of_range,
        ),
        ("spawn_blocking tenant u32::MAX", || {
            spawn_blocking_refused(u32::MAX)
        }),
        ("spawn_blocking tenant max_tenants", || {
            spawn_blocking_refused(SMALL_MAX_TENANTS)
        }),
        (
            "spawn_blocking tenant max_tenants - 1",
            spawn_blocking_last_tenant,
        ),
        // set_weight: ids and weights
        ("set_weight id u32::MAX", || {
            set_weight(u32::MAX, 100, Some(T::IdOutOfRange))
        }),
        ("set_weight id max_tenants", || {
            set_weight(SMALL_MAX_TENANTS, 100, Some(T::IdOutOfRange))
        }),
        ("set_weight id max_tenants - 1", || {
            set_weight(SMALL_MAX_TENANTS - 1, 100, None)
        }),
        ("set_weight weight 0", || {
            set_weight(1, 0, Some(T::WeightOutOfRange))
        }),
        ("set_weight weight 1", || set_weight(1, 1, None)),
        ("set_weight weight 10_000", || set_weight(1, 10_000, None)),
        ("set_weight weight 10_001", || {
            set_weight(1, 10_001, Some(T::WeightOutOfRange))
        }),
        ("set_weight weight u32::MAX", || {
            set_weight(1, u32::MAX, Some(T::WeightOutOfRange))
        }),
        ("set_weight weight 0 on id u32::MAX", || {
            set_weight(u32::MAX, 0, Some(T::WeightOutOfRange))
        }),
        ("set_weight 20_000 times on 20_000 tenants", set_weight_many),
        // tenant names
        ("tenant name empty", || tenant_name("", None)),
        ("tenant name with NUL", || tenant_name("ac\0me", None)),
        ("tenant name of MAX bytes", || {
            tenant_name(&"t".repeat(drama::MAX_TENANT_NAME_LEN), None)
        }),
        ("tenant name of MAX + 1 bytes", || {
            tenant_name(
                &"t".repeat(drama::MAX_TENANT_NAME_LEN + 1),
                Some(T::NameTooLong),
            )
        }),
        ("tenant name of 1 MiB", || {
            tenant_name(&"t".repeat(1 << 20), Some(T::NameTooLong))
        }),
        ("tenant interned past max_tenants", intern_past_max_tenants),
        // shutdown
        (
            "shutdown_timeout(0) with a task waiting",
            shutdown_zero_with_a_task_waiting,
        ),
        (
            "shutdown_timeout(Duration::MAX) with a task waiting",
            shutdown_max_with_a_task_waiting,
        ),
        ("shutdown_timeout(Duration::MAX) idle", || {
            let rt = runtime(|b| b);
            assert!(rt.shutdown_timeout(Duration::MAX));
        }),
    ]
}

/// The tenant bound of the runtime cases, small so that `max_tenants` and
/// `max_tenants - 1` are easy to name.
const SMALL_MAX_TENANTS: u32 = 8;

/// The builder every case starts from: two workers.
fn base() -> Builder {
    Runtime::builder().workers(2)
}

fn runtime(configure: impl FnOnce(Builder) -> Builder) -> Runtime {
    configure(base().max_tenants(SMALL_MAX_TENANTS))
        .build()
        .expect("a runtime")
}

/// The build is refused with `kind`.
fn refused(configure: impl FnOnce(Builder) -> Builder, kind: BuildErrorKind) {
    match configure(base()).build() {
        Ok(rt) => panic!("accepted; expected a refusal of kind {kind:?} ({rt:?})"),
        Err(error) => {
            assert_eq!(error.kind(), kind, "refused for another reason: {error}");
            assert!(!error.to_string().is_empty());
        }
    }
}

/// The build gives a runtime that works: a task and a blocking job run to
/// their values, and at shutdown a task left waiting is cancelled.
fn works(configure: impl FnOnce(Builder) -> Builder) {
    let rt = configure(base()).build().expect("a runtime");
    exercise(rt);
}

fn exercise(rt: Runtime) {
    let task = rt.spawn(async { 6 * 7 }).expect("spawn");
    assert_eq!(rt.block_on(task).expect("the task's value"), 42);
    let nested = rt
        .spawn(async { drama::spawn(async { 5 }).expect("a child").await })
        .expect("spawn");
    assert_eq!(
        rt.block_on(nested).expect("the task").expect("the child"),
        5
    );
    let job = rt
        .spawn_blocking(TenantId::DEFAULT, || 9)
        .expect("spawn_blocking");
    assert_eq!(rt.block_on(job).expect("the job's value"), 9);
    let waiting = rt.spawn(pending::<()>()).expect("spawn");
    // Whether every thread was joined is not the point here: a blocking
    // thread idle at a short deadline may be detached, and exits anyway.
    let _joined = rt.shutdown_timeout(Duration::from_millis(10));
    let error = futures::executor::block_on(waiting).expect_err("cancelled");
    assert!(error.is_cancelled(), "{error:?}");
}

/// `max_tasks(1)`: one task at a time; the second is handed back.
fn max_tasks_one() {
    let rt = base().max_tasks(1).build().expect("a runtime");
    let waiting = rt.spawn(pending::<()>()).expect("the one task");
    let refused = rt.spawn(async { 3 }).expect_err("a second task");
    assert_eq!(refused.reason(), RejectReason::QueueFull);
    assert_eq!(futures::executor::block_on(refused.into_inner()), 3);
    drop(rt);
    assert!(
        futures::executor::block_on(waiting)
            .unwrap_err()
            .is_cancelled()
    );
}

/// `inbox_capacity(2)`: many spawns from outside overflow the inboxes and
/// all still run. Admission is off: a burst of 1,000 spawns into a pool
/// that has not measured a poll yet can arm it by its backlog alone (a
/// weakness of the estimate's start: "armed" in docs/architecture.md),
/// and this case is about the inboxes.
fn inbox_capacity_two() {
    let rt = base()
        .inbox_capacity(2)
        .admission(drama::admission::AdmissionConfig::off())
        .build()
        .expect("a runtime");
    let handles: Vec<_> = (0..1_000u32)
        .map(|i| rt.spawn(async move { i }).expect("spawn"))
        .collect();
    for (i, handle) in (0..).zip(handles) {
        assert_eq!(rt.block_on(handle).unwrap(), i);
    }
    exercise(rt);
}

/// The longest stuck threshold: dropping the runtime (shutdown with a zero
/// timeout, plus a threshold's grace for polls) cancels a waiting task at
/// once, with no overflow computing the grace.
fn drop_after_longest_threshold() {
    let rt = base()
        .stuck_threshold(Builder::MAX_STUCK_THRESHOLD)
        .build()
        .expect("a runtime");
    let waiting = rt.spawn(pending::<()>()).expect("spawn");
    drop(rt);
    assert!(
        futures::executor::block_on(waiting)
            .unwrap_err()
            .is_cancelled()
    );
}

/// A spawn naming tenant `id` (past the bound) is refused and the future
/// comes back.
fn spawn_refused(id: u32) {
    let rt = runtime(|b| b);
    let spec = Spawn::new().tenant(TenantId::new(id));
    let refused = rt.spawn_with(spec, async { 11 }).expect_err("refused");
    assert_eq!(refused.reason(), RejectReason::InvalidTenant);
    assert!(!refused.reason().to_string().is_empty());
    assert_eq!(futures::executor::block_on(refused.into_inner()), 11);
    let handle = rt.handle();
    let refused = handle
        .spawn_with(Spawn::new().tenant(TenantId::new(id)), async { 12 })
        .expect_err("refused through a handle");
    assert_eq!(refused.reason(), RejectReason::InvalidTenant);
    exercise(rt);
}

fn spawn_last_tenant() {
    let rt = runtime(|b| b);
    let spec = Spawn::new().tenant(TenantId::new(SMALL_MAX_TENANTS - 1));
    let task = rt.spawn_with(spec, async { 13 }).expect("the last id");
    assert_eq!(rt.block_on(task).unwrap(), 13);
    exercise(rt);
}

/// A task of a runtime with many tenants spawns into one with few: the
/// child inherits a tenant the second runtime cannot keep, and is refused.
fn spawn_inheriting_out_of_range() {
    let big = runtime(|b| b.max_tenants(1_000));
    let small = runtime(|b| b);
    let into_small = small.handle();
    let parent = big
        .spawn_with(Spawn::new().tenant(TenantId::new(500)), async move {
            let refused = into_small.spawn(async { 1 }).expect_err("refused");
            let reason = refused.reason();
            // Naming a tenant the small runtime knows is fine.
            let child = into_small
                .spawn_with(Spawn::new().tenant(TenantId::DEFAULT), async { 2 })
                .expect("an explicit tenant");
            (reason, child.await.expect("the child's value"))
        })
        .expect("spawn");
    let (reason, value) = big.block_on(parent).expect("the parent");
    assert_eq!(reason, RejectReason::InvalidTenant);
    assert_eq!(value, 2);
    exercise(small);
    exercise(big);
}

fn spawn_blocking_refused(id: u32) {
    let rt = runtime(|b| b);
    let refused = rt
        .spawn_blocking(TenantId::new(id), || 14)
        .expect_err("refused");
    assert_eq!(refused.reason(), RejectReason::InvalidTenant);
    assert_eq!((refused.into_inner())(), 14);
    exercise(rt);
}

fn spawn_blocking_last_tenant() {
    let rt = runtime(|b| b);
    let job = rt
        .spawn_blocking(TenantId::new(SMALL_MAX_TENANTS - 1), || 15)
        .expect("the last id");
    assert_eq!(rt.block_on(job).unwrap(), 15);
    exercise(rt);
}

/// `set_weight(id, weight)` on the runtime and on a handle.
fn set_weight(id: u32, weight: u32, expect: Option<TenantErrorKind>) {
    let rt = runtime(|b| b);
    let tenant = TenantId::new(id);
    for result in [
        rt.set_weight(tenant, weight),
        rt.handle().set_weight(tenant, weight),
    ] {
        match (result, expect) {
            (Ok(()), None) => {}
            (Err(error), Some(kind)) => {
                assert_eq!(error.kind(), kind, "{error}");
                assert!(!error.to_string().is_empty());
            }
            (result, expect) => panic!("got {result:?}, expected an error of kind {expect:?}"),
        }
    }
    if expect.is_none() {
        // The tenant runs with its weight.
        let task = rt
            .spawn_with(Spawn::new().tenant(tenant), async { 16 })
            .expect("spawn");
        assert_eq!(rt.block_on(task).unwrap(), 16);
    }
    exercise(rt);
}

/// Many weight changes while tasks run: each worker applies the changes it
/// missed (or all weights, when far behind), never all weights per change.
fn set_weight_many() {
    const TENANTS: u32 = 20_000;
    let rt = runtime(|b| b.max_tenants(TENANTS));
    let busy: Vec<_> = (0..4)
        .map(|i| {
            rt.spawn_with(Spawn::new().tenant(TenantId::new(i)), async {
                for _ in 0..1_000 {
                    drama::yield_now().await;
                }
            })
            .expect("spawn")
        })
        .collect();
    for id in 0..TENANTS {
        rt.set_weight(TenantId::new(id), 1 + id % 10_000)
            .expect("an id in range");
    }
    for handle in busy {
        rt.block_on(handle).expect("the busy task");
    }
    exercise(rt);
}

/// `tenant(name)`: a name is interned (the same id twice), or refused with
/// `expect`.
fn tenant_name(name: &str, expect: Option<TenantErrorKind>) {
    let rt = runtime(|b| b);
    match (rt.tenant(name), expect) {
        (Ok(id), None) => {
            assert_eq!(rt.tenant(name).unwrap(), id, "the same id twice");
            assert_eq!(rt.tenant_name(id).as_deref(), Some(name));
            let task = rt
                .spawn_with(Spawn::new().tenant(id), async { 17 })
                .expect("spawn");
            assert_eq!(rt.block_on(task).unwrap(), 17);
        }
        (Err(error), Some(kind)) => assert_eq!(error.kind(), kind, "{error}"),
        (result, expect) => panic!("got {result:?}, expected an error of kind {expect:?}"),
    }
    exercise(rt);
}

/// Interning one name more than `max_tenants` (id 0 is "default") is
/// refused; the names already interned keep their ids.
fn intern_past_max_tenants() {
    let rt = runtime(|b| b);
    let ids: Vec<_> = (1..SMALL_MAX_TENANTS)
        .map(|i| rt.tenant(&format!("t{i}")).expect("room for it"))
        .collect();
    let error = rt.tenant("one too many").expect_err("refused");
    assert_eq!(error.kind(), TenantErrorKind::TooMany);
    assert_eq!(rt.tenant("t1").unwrap(), ids[0]);
    assert_eq!(rt.tenant("default").unwrap(), TenantId::DEFAULT);
    exercise(rt);
}

fn shutdown_zero_with_a_task_waiting() {
    let rt = runtime(|b| b);
    let waiting = rt.spawn(pending::<()>()).expect("spawn");
    let start = Instant::now();
    assert!(rt.shutdown_timeout(Duration::ZERO));
    assert!(
        futures::executor::block_on(waiting)
            .unwrap_err()
            .is_cancelled()
    );
    assert!(start.elapsed() < CASE_TIMEOUT / 2);
}

/// `shutdown_timeout(Duration::MAX)` waits for the waiting task (it is
/// woken soon) instead of cancelling it, then returns. (Shutdown adds the
/// timeout to an instant; this needs that deadline to saturate instead of
/// overflowing.)
fn shutdown_max_with_a_task_waiting() {
    let rt = runtime(|b| b);
    let gate = Gate::new();
    let waiting = rt
        .spawn({
            let gate = gate.clone();
            async move {
                gate.wait().await;
                18
            }
        })
        .expect("spawn");
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        gate.open();
    });
    assert!(rt.shutdown_timeout(Duration::MAX));
    assert_eq!(futures::executor::block_on(waiting).unwrap(), 18);
    opener.join().unwrap();
}

/// A future that waits until another thread opens the gate.
#[derive(Clone)]
struct Gate(Arc<Mutex<(bool, Option<Waker>)>>);

impl Gate {
    fn new() -> Gate {
        Gate(Arc::new(Mutex::new((false, None))))
    }

    fn open(&self) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            state.0 = true;
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        struct Wait(Gate);
        impl Future for Wait {
            type Output = ();
            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                let mut state = (self.0).0.lock().unwrap();
                if state.0 {
                    Poll::Ready(())
                } else {
                    state.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }
        Wait(self.clone())
    }
}

/// The child entry: runs the case named by `DRAMA_EXTREMES_CASE`, and
/// nothing when it is unset (an ordinary `cargo test` run).
#[test]
fn child() {
    let Ok(name) = std::env::var(CASE_VAR) else {
        return;
    };
    if let Some((_, configure, expect)) = settings().into_iter().find(|s| s.0 == name) {
        match expect {
            Some(kind) => refused(configure, kind),
            None => works(configure),
        }
        return;
    }
    let cases = cases();
    let (_, case) = cases
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no case named {name:?}"));
    case();
}

/// Every case that runs code of its own.
fn cases() -> Vec<Case> {
    let mut cases = setting_cases();
    cases.extend(runtime_cases());
    cases
}

/// Runs every case in a child process under a watchdog, two at a time.
#[test]
fn extremes() {
    if std::env::var_os(CASE_VAR).is_some() {
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let names: Vec<&str> = settings()
        .iter()
        .map(|s| s.0)
        .chain(cases().iter().map(|c| c.0))
        .collect();
    let n_cases = names.len();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), n_cases, "case names are unique");
    let mut failures = Vec::new();
    for batch in names.chunks(PARALLEL_CHILDREN) {
        let children: Vec<_> = batch
            .iter()
            .map(|name| {
                let child = Command::new(&exe)
                    .args(["--exact", "child", "--nocapture", "--test-threads=1"])
                    .env(CASE_VAR, name)
                    // The panic message, not a backtrace, is what the report needs.
                    .env("RUST_BACKTRACE", "0")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start a child");
                (*name, child)
            })
            .collect();
        for (name, child) in children {
            if let Err(failure) = watch(child) {
                failures.push(format!("case {name:?}: {failure}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n_cases} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Waits for `child` until `CASE_TIMEOUT`, killing it then; `Err` says how
/// it failed, with the end of its output.
fn watch(mut child: Child) -> Result<(), String> {
    let deadline = Instant::now() + CASE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // The panic message is on stderr; stdout has only the harness's lines
    // (and is shown when stderr is empty).
    let mut output = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut output);
    }
    if output.trim().is_empty()
        && let Some(mut out) = child.stdout.take()
    {
        let _ = out.read_to_string(&mut output);
    }
    let tail: String = {
        let lines: Vec<&str> = output.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    };
    match status {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(format!("{status} (a panic or an abort)\n{tail}")),
        None => Err(format!("hung: killed after {CASE_TIMEOUT:?}\n{tail}")),
    }
}
