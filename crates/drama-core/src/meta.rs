//! What every task carries: its id, tenant, class, spawn instant, deadline
//! and name; how a spawn asks for them ([`Spawn`]); and how a task finds its
//! own ([`current`]).

use std::cell::Cell;
use std::fmt;
use std::num::NonZeroU64;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use drama_policy::{Class, TenantId};

/// A task's unique id, unique for the life of the process.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(NonZeroU64);

impl TaskId {
    /// Takes the next unused id.
    fn next() -> TaskId {
        // Each thread takes ids from the global counter in blocks, so that
        // threads spawning at once do not fight over the counter's cache
        // line; ids stay distinct (not dense, and increasing only per
        // thread). Relaxed is enough: the counter only has to hand out
        // distinct blocks, it orders nothing else. At a billion spawns a
        // second it would take 584 years to wrap, so running out is not a
        // case we handle.
        const BLOCK: u64 = 1024;
        static NEXT: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            /// The next id of this thread's block, and the block's end.
            static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        let id = RANGE
            .try_with(|range| {
                let (mut next, mut end) = range.get();
                if next == end {
                    next = NEXT.fetch_add(BLOCK, Ordering::Relaxed);
                    end = next + BLOCK;
                }
                range.set((next + 1, end));
                next
            })
            // During thread teardown: one id straight from the counter.
            .unwrap_or_else(|_| NEXT.fetch_add(1, Ordering::Relaxed));
        TaskId(NonZeroU64::new(id).expect("task ids never wrap"))
    }

    /// The id as a number (never 0).
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The metadata every task carries, fixed when it is spawned.
///
/// Schedulers read it from a [`Runnable`](crate::Runnable) to decide where the
/// task goes and whom to charge; a task reads its own through [`current`].
#[derive(Clone)]
pub struct TaskMeta {
    id: TaskId,
    tenant: TenantId,
    class: Class,
    /// On [`clock::now_ns`](crate::clock::now_ns): a TSC read where there
    /// is one, not a system call per spawn.
    spawned_at_ns: u64,
    /// On the same clock: the first reading at which the task may no
    /// longer start. [`NO_DEADLINE`] for none, [`PASSED_AT_SPAWN`] for one
    /// that had passed when the task was spawned. A plain `u64` rather than
    /// an `Option<Instant>` (16 bytes, and a clock conversion at every
    /// check) because it sits in every task's header.
    deadline_ns: u64,
    name: Option<Arc<str>>,
}

/// The `deadline_ns` of a task without a deadline. `u64::MAX` rather than
/// 0 because it needs no case of its own when a timeout saturates: a
/// deadline 584 years after the clock's origin is none, and no clock
/// reading ever reaches it, so even a check that forgot to test for it
/// would never expire the task.
pub(crate) const NO_DEADLINE: u64 = u64::MAX;

/// The `deadline_ns` of a task whose deadline had passed when it was
/// spawned (an `Instant` in the past, or a zero timeout). The clock's origin
/// precedes every reading on every core, whereas the spawn's own reading
/// could be ahead of the reading of a core whose TSC lags by a few ns, and
/// so such a task is expired wherever its first poll runs.
const PASSED_AT_SPAWN: u64 = 0;

impl TaskMeta {
    /// The task's unique id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The tenant the task's work is charged to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The task's class, which sets its weak priority inside its tenant.
    pub fn class(&self) -> Class {
        self.class
    }

    /// When the task was spawned.
    pub fn spawned_at(&self) -> Instant {
        crate::clock::to_instant(self.spawned_at_ns)
    }

    /// The instant after which the task is not started, if it has a
    /// deadline (see [`Spawn::deadline`]).
    ///
    /// A deadline that had already passed when the task was spawned reads as
    /// the clock's origin (the first instant drama's clock knows of, before
    /// any task was spawned); one so far off that `Instant` cannot hold it
    /// reads as none.
    pub fn deadline(&self) -> Option<Instant> {
        if self.deadline_ns == NO_DEADLINE {
            return None;
        }
        crate::clock::checked_to_instant(self.deadline_ns)
    }

    /// Whether the task has a deadline and it has passed: a comparison, and
    /// a clock read only when there is a deadline, so that tasks without one
    /// pay nothing for the feature.
    #[inline]
    pub(crate) fn deadline_passed(&self) -> bool {
        self.deadline_ns != NO_DEADLINE && crate::clock::now_ns() >= self.deadline_ns
    }

    /// The task's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl fmt::Debug for TaskMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskMeta")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("class", &self.class)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// How to spawn a task: its tenant, class, deadline and name.
///
/// A tenant or class left unset is inherited from the task that spawns (so
/// a child stays with its parent's tenant and class), and outside any task
/// it takes the default: [`TenantId::DEFAULT`] and [`Class::Compute`]. The
/// deadline and the name are never inherited (see
/// [`deadline`](Self::deadline) for why).
///
/// ```
/// use std::time::Duration;
/// use drama_core::Spawn;
/// use drama_policy::{Class, TenantId};
///
/// let spec = Spawn::new()
///     .tenant(TenantId::new(3))
///     .class(Class::Read)
///     .timeout(Duration::from_millis(50))
///     .name("get");
/// # let _ = spec;
/// ```
#[derive(Clone, Default, Debug)]
#[must_use = "a Spawn does nothing until it is passed to a spawn function"]
pub struct Spawn {
    tenant: Option<TenantId>,
    class: Option<Class>,
    deadline: Deadline,
    name: Option<Arc<str>>,
}

/// A deadline as a spec states it; resolved into the task's `deadline_ns`
/// when the task is created.
#[derive(Clone, Copy, Default, Debug)]
enum Deadline {
    #[default]
    None,
    At(Instant),
    /// Relative to the spawn.
    After(Duration),
}

impl Deadline {
    /// The `deadline_ns` of a task spawned at the clock reading
    /// `spawned_at_ns`.
    fn resolve_ns(self, spawned_at_ns: u64) -> u64 {
        let timeout = match self {
            Deadline::None => return NO_DEADLINE,
            Deadline::After(timeout) => timeout,
            // Converted across the span from now to the deadline, not
            // through the clock's origin: drama's clock and `Instant` drift
            // apart over a process's life, not over a request's (see
            // `clock::to_instant`). The `Instant` is read only here, for
            // tasks given a deadline as an instant.
            Deadline::At(at) => at.saturating_duration_since(Instant::now()),
        };
        if timeout.is_zero() {
            return PASSED_AT_SPAWN;
        }
        // Saturating at both steps: a timeout beyond the clock's range
        // (`Duration::MAX`, or 584 years) lands on `NO_DEADLINE`.
        let timeout_ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        spawned_at_ns.saturating_add(timeout_ns)
    }
}

impl Spawn {
    /// A spec that inherits tenant and class and has no deadline and no
    /// name.
    pub fn new() -> Spawn {
        Spawn::default()
    }

    /// Charges the task to `tenant`.
    pub fn tenant(mut self, tenant: TenantId) -> Spawn {
        self.tenant = Some(tenant);
        self
    }

    /// Gives the task the class `class`.
    pub fn class(mut self, class: Class) -> Spawn {
        self.class = Some(class);
        self
    }

    /// Gives the task a deadline: if `at` has passed when the task is first
    /// polled, the task is not polled at all. Its future is dropped instead
    /// and its [`JoinHandle`](crate::JoinHandle) resolves to a
    /// [`JoinError`](crate::JoinError) that
    /// [`is_expired`](crate::JoinError::is_expired). Under overload this is
    /// what turns work whose caller has given up into capacity for work
    /// that can still be useful.
    ///
    /// Only the first poll looks at the deadline: once a task has started
    /// it runs to completion, however late, because stopping it halfway
    /// would leave half-done work behind (use
    /// [`JoinHandle::abort`](crate::JoinHandle::abort), or a timeout inside
    /// the task, to stop a task that started). An `at` that has already
    /// passed when the task is spawned means the task never runs. The last
    /// of `deadline` and [`timeout`](Self::timeout) called on a spec wins.
    ///
    /// The deadline is **not inherited**: a task spawned from inside a task
    /// with a deadline has none unless its spec gives it one. A request's
    /// handler often spawns work that must run even after the request's
    /// caller has given up (finishing a write, releasing a lock, cleaning
    /// up), and only the spawner knows which children serve the caller. A
    /// child that should share its parent's deadline is given it:
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use drama_core::{current, LocalExecutor, Spawn};
    ///
    /// let ex = LocalExecutor::new();
    /// let spawner = ex.spawner();
    /// let at = Instant::now() + Duration::from_secs(60);
    /// let parent = ex.spawn_with(Spawn::new().deadline(at), async move {
    ///     let mut spec = Spawn::new();
    ///     if let Some(at) = current().and_then(|me| me.deadline()) {
    ///         spec = spec.deadline(at);
    ///     }
    ///     let child = spawner.spawn_with(spec, async { current().and_then(|me| me.deadline()) })?;
    ///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(child.await?)
    /// })?;
    /// let inherited = ex.block_on(parent)??.expect("the child has a deadline");
    /// assert!(inherited.duration_since(at) < Duration::from_millis(1));
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn deadline(mut self, at: Instant) -> Spawn {
        self.deadline = Deadline::At(at);
        self
    }

    /// Gives the task a deadline `timeout` after its spawn: the deadline of
    /// [`deadline`](Self::deadline), resolved when the task is created (so
    /// a spec can be built once and used for many spawns). Saturating:
    /// [`Duration::MAX`] (or any timeout beyond the clock's 584 years)
    /// means no deadline, and so removes one set before on the spec;
    /// [`Duration::ZERO`] means the task never runs.
    ///
    /// ```
    /// use std::time::Duration;
    /// use drama_core::{LocalExecutor, Spawn};
    ///
    /// let ex = LocalExecutor::new();
    /// let late = ex.spawn_with(Spawn::new().timeout(Duration::ZERO), async { 1 })?;
    /// assert!(ex.block_on(late).unwrap_err().is_expired());
    /// let on_time = ex.spawn_with(Spawn::new().timeout(Duration::from_secs(60)), async { 2 })?;
    /// assert_eq!(ex.block_on(on_time)?, 2);
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Spawn {
        self.deadline = Deadline::After(timeout);
        self
    }

    /// Names the task, for metrics and debugging.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Spawn {
        self.name = Some(name.into());
        self
    }

    /// The tenant this spec names, if it names one (a spec without one
    /// inherits; see [`inherit`](Self::inherit)).
    #[inline]
    pub fn get_tenant(&self) -> Option<TenantId> {
        self.tenant
    }

    /// The class this spec names, if it names one (a spec without one
    /// inherits; see [`inherit`](Self::inherit)).
    #[inline]
    pub fn get_class(&self) -> Option<Class> {
        self.class
    }

    /// How long the task has from now until its deadline, if the spec
    /// gives it one ([`deadline`](Self::deadline) or
    /// [`timeout`](Self::timeout)), so that an executor can refuse work the
    /// queue would make miss it. Zero for a deadline already passed.
    pub fn time_left(&self) -> Option<Duration> {
        match self.deadline {
            Deadline::None => None,
            Deadline::At(at) => Some(at.saturating_duration_since(Instant::now())),
            Deadline::After(after) => Some(after),
        }
    }

    /// Fills the tenant and class left unset from the current task (or the
    /// defaults), as spawning would, so that an executor can check the
    /// tenant a task will be charged to before it creates the task.
    ///
    /// Spawning an inherited spec costs no more than spawning the original:
    /// the current task is looked up here instead of at the spawn.
    ///
    /// ```
    /// use drama_core::{Class, Spawn, TenantId};
    ///
    /// // Outside any task, the defaults.
    /// let spec = Spawn::new().class(Class::Read).inherit();
    /// assert_eq!(spec.get_tenant(), Some(TenantId::DEFAULT));
    /// ```
    #[inline]
    pub fn inherit(self) -> Spawn {
        if self.tenant.is_some() && self.class.is_some() {
            return self;
        }
        let parent = with_current(|meta| (meta.tenant, meta.class));
        let (parent_tenant, parent_class) = parent.unwrap_or_default();
        Spawn {
            tenant: Some(self.tenant.unwrap_or(parent_tenant)),
            class: Some(self.class.unwrap_or(parent_class)),
            // Not inherited (see `deadline`); a timeout stays relative to
            // the spawn, which has not happened yet.
            deadline: self.deadline,
            name: self.name,
        }
    }

    /// Fills the unset fields from the current task (or the defaults), takes
    /// a fresh id and the spawn instant, and resolves the deadline.
    pub(crate) fn resolve(self) -> TaskMeta {
        // `inherit` sets both fields; the defaults below are never used.
        let Spawn {
            tenant,
            class,
            deadline,
            name,
        } = self.inherit();
        let spawned_at_ns = crate::clock::now_ns();
        TaskMeta {
            id: TaskId::next(),
            tenant: tenant.unwrap_or_default(),
            class: class.unwrap_or_default(),
            spawned_at_ns,
            deadline_ns: deadline.resolve_ns(spawned_at_ns),
            name,
        }
    }
}

/// What async-task stores in each task's allocation: the metadata plus the
/// little mutable state drama-core keeps per task.
pub(crate) struct Header {
    pub(crate) meta: TaskMeta,
    /// Set once, by `JoinHandle::abort`, and never cleared. The task's future
    /// checks it before every poll and, when it is set, drops the inner
    /// future instead of polling it. Relaxed suffices: the abort also wakes
    /// the task, and async-task's wake/run handoff orders the flag's store
    /// before the poll that must see it.
    aborted: AtomicBool,
}

impl Header {
    pub(crate) fn new(meta: TaskMeta) -> Header {
        Header {
            meta,
            aborted: AtomicBool::new(false),
        }
    }

    pub(crate) fn abort(&self) {
        self.aborted.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Relaxed)
    }
}

thread_local! {
    /// The metadata of the task being polled on this thread, or null.
    static CURRENT: Cell<*const TaskMeta> = const { Cell::new(ptr::null()) };
}

/// Marks a task as the one being polled on this thread until dropped, then
/// restores whatever was current before (tasks can nest through `block_on`).
pub(crate) struct EnterTask {
    previous: *const TaskMeta,
}

impl EnterTask {
    /// Makes `meta` the current task's until the guard is dropped.
    ///
    /// # Safety
    ///
    /// `meta` must stay alive and in place until the guard is dropped:
    /// [`with_current`] dereferences the pointer it leaves in a
    /// thread-local, which the borrow checker cannot follow.
    pub(crate) unsafe fn new(meta: &TaskMeta) -> EnterTask {
        let previous = CURRENT.with(|current| current.replace(meta));
        EnterTask { previous }
    }
}

impl Drop for EnterTask {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.previous));
    }
}

/// Runs `f` on the current task's metadata, or returns `None` outside a task.
pub(crate) fn with_current<R>(f: impl FnOnce(&TaskMeta) -> R) -> Option<R> {
    let meta = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
    if meta.is_null() {
        return None;
    }
    // SAFETY: CURRENT is only non-null between `EnterTask::new(meta)` and the
    // guard's drop, and the caller of `EnterTask::new` keeps `meta` alive and
    // in place for that span (it is the header of the task being polled,
    // inside the task's allocation). We are on the same thread, inside that
    // span, so the pointer is valid.
    Some(f(unsafe { &*meta }))
}

/// The metadata of the task this is called from, or `None` when called
/// outside a task (including from a `block_on` future, which is not a task).
///
/// ```
/// use drama_core::{current, LocalExecutor, Spawn};
/// use drama_policy::{Class, TenantId};
///
/// let ex = LocalExecutor::new();
/// let h = ex.spawn_with(Spawn::new().tenant(TenantId::new(9)).class(Class::Read), async {
///     let me = current().expect("inside a task");
///     (me.tenant(), me.class())
/// })?;
/// assert_eq!(ex.block_on(h)?, (TenantId::new(9), Class::Read));
/// assert!(current().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn current() -> Option<TaskMeta> {
    with_current(TaskMeta::clone)
}
