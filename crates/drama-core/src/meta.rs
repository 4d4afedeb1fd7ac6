//! What every task carries: its id, tenant, class, spawn instant and name;
//! how a spawn asks for them ([`Spawn`]); and how a task finds its own
//! ([`current`]).

use std::cell::Cell;
use std::fmt;
use std::num::NonZeroU64;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

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
    name: Option<Arc<str>>,
}

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

/// How to spawn a task: its tenant, class and name.
///
/// A field left unset is inherited from the task that spawns (so a child
/// stays with its parent's tenant and class), and outside any task it takes
/// the default: [`TenantId::DEFAULT`] and [`Class::Compute`]. The name is
/// never inherited.
///
/// ```
/// use drama_core::Spawn;
/// use drama_policy::{Class, TenantId};
///
/// let spec = Spawn::new().tenant(TenantId::new(3)).class(Class::Read).name("get");
/// # let _ = spec;
/// ```
#[derive(Clone, Default, Debug)]
#[must_use = "a Spawn does nothing until it is passed to a spawn function"]
pub struct Spawn {
    tenant: Option<TenantId>,
    class: Option<Class>,
    name: Option<Arc<str>>,
}

impl Spawn {
    /// A spec that inherits tenant and class and has no name.
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
            name: self.name,
        }
    }

    /// Fills the unset fields from the current task (or the defaults) and
    /// takes a fresh id and the spawn instant.
    pub(crate) fn resolve(self) -> TaskMeta {
        // `inherit` sets both fields; the defaults below are never used.
        let Spawn {
            tenant,
            class,
            name,
        } = self.inherit();
        TaskMeta {
            id: TaskId::next(),
            tenant: tenant.unwrap_or_default(),
            class: class.unwrap_or_default(),
            spawned_at_ns: crate::clock::now_ns(),
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
    /// `meta` must stay alive and in place until the guard is dropped.
    pub(crate) fn new(meta: &TaskMeta) -> EnterTask {
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
