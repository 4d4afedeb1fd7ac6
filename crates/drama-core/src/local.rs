//! [`LocalExecutor`]: a single-threaded executor, the core of a worker loop.
//!
//! # Design
//!
//! Tasks are polled only on the thread that runs [`LocalExecutor::block_on`].
//! A woken task's [`Runnable`] goes to one of two queues:
//!
//! - the **local queue**, a plain `VecDeque` owned by the executor, when the
//!   wake happens on the executor's own thread while `block_on` runs (tasks
//!   waking or spawning tasks): no atomics, no lock;
//! - the **injector**, a lock-free MPSC channel, when the wake comes from any
//!   other thread; the waker then unparks the executor's thread if it sleeps.
//!
//! `block_on` works in ticks: it moves the injector's contents to the back
//! of the local queue, then runs up to `MAX_POLLS_PER_TICK` tasks before it
//! polls its own future again (when that was woken). So ready order is FIFO
//! across both queues (a task that yields goes behind every task that was
//! ready) and the main future's wait is bounded. With nothing to run the
//! thread parks; a wake between its last look and the park makes the park
//! return at once.
//!
//! Every task is in at most one queue at a time (async-task guarantees a task
//! is scheduled at most once until it runs), so both queues are bounded by
//! the number of live tasks, which is bounded by `max_tasks`
//! ([`DEFAULT_MAX_TASKS`] unless set).
//!
//! A **registry** of live tasks (a slab of one waker per task) exists so that
//! dropping the executor can cancel every task, including idle ones that sit
//! in no queue. Tasks spawned on the executor's own thread register in a
//! slab only that thread touches (no lock); tasks spawned from other threads
//! register in a mutex-guarded slab, which those spawns lock once, as does
//! the drop of their future. Polling and waking never touch either. The
//! bound on live tasks is one atomic counter. (tokio's and async-executor's
//! executors keep a registry of the same kind.)
//!
//! # Shutdown
//!
//! Dropping the executor closes it: new spawns are refused with
//! [`RejectReason::ShuttingDown`], queued tasks are dropped, and idle tasks
//! are woken into a schedule function that drops them. Every task's future
//! is dropped exactly once, on the dropping thread, and every
//! [`JoinHandle`] resolves to a cancellation. A push into the injector that
//! races with the close is drained by whichever side sees the other (a
//! SeqCst fence on each side). While the executor is open, its tasks'
//! futures are dropped only inside its `block_on`, on its thread, which is
//! what lets a task registered in the local slab unregister itself there.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::pin;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use crossbeam_channel::{Receiver, Sender};
use crossbeam_utils::sync::{Parker, Unparker};
use slab::Slab;

use crate::budget::{Budget, DEFAULT_BUDGET};
use crate::error::{RejectReason, Rejected};
use crate::join::JoinHandle;
use crate::meta::Spawn;
use crate::task::{Runnable, new_task};

/// The default bound on the number of live tasks of a [`LocalExecutor`].
pub const DEFAULT_MAX_TASKS: usize = 1 << 20;

/// How many tasks `block_on` runs before it polls its own future again (when
/// that future was woken). Bounds how long the main future waits behind a
/// busy run queue.
const MAX_POLLS_PER_TICK: usize = 64;

thread_local! {
    /// The executor whose `block_on` runs on this thread, or null. Lets a
    /// schedule function called on this thread reach that executor's local
    /// queue.
    static ACTIVE: Cell<*const LocalExecutor> = const { Cell::new(ptr::null()) };
}

/// A single-threaded executor: [`block_on`](Self::block_on) runs a future to
/// completion on the calling thread and, while it waits, runs the tasks
/// spawned onto the executor. Tasks may be woken, and spawned through a
/// [`Spawner`], from any thread.
///
/// ```
/// use drama_core::{LocalExecutor, yield_now};
///
/// let ex = LocalExecutor::new();
/// let spawner = ex.spawner();
/// let sum = ex.block_on(async move {
///     let mut handles = Vec::new();
///     for i in 0..10u64 {
///         handles.push(spawner.spawn(async move {
///             yield_now().await;
///             i * i
///         })?);
///     }
///     let mut sum = 0;
///     for h in handles {
///         sum += h.await?;
///     }
///     Ok::<u64, Box<dyn std::error::Error>>(sum)
/// })?;
/// assert_eq!(sum, 285);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LocalExecutor {
    shared: Arc<Shared>,
    /// Runnables scheduled on this thread while `block_on` runs.
    local: RefCell<VecDeque<Runnable>>,
    /// A waker for every live task spawned on this executor's own thread;
    /// only that thread touches it.
    local_registry: RefCell<Slab<Waker>>,
    parker: Parker,
    /// Whether `block_on` is running; a nested call would deadlock.
    running: Cell<bool>,
}

/// What a `LocalExecutor` shares with its tasks' schedule functions and with
/// its [`Spawner`]s.
struct Shared {
    injector_tx: Sender<Runnable>,
    injector_rx: Receiver<Runnable>,
    unparker: Unparker,
    /// Set once, under the `remote_registry` lock, when the executor is
    /// dropped.
    closed: AtomicBool,
    /// A waker for every live task spawned from another thread.
    remote_registry: Mutex<Slab<Waker>>,
    /// Live tasks, both registries together; never above `max_tasks`.
    n_tasks: AtomicUsize,
    max_tasks: usize,
}

impl LocalExecutor {
    /// An executor bounded to [`DEFAULT_MAX_TASKS`] live tasks.
    pub fn new() -> LocalExecutor {
        LocalExecutor::with_max_tasks(NonZeroUsize::new(DEFAULT_MAX_TASKS).expect("non-zero"))
    }

    /// An executor that holds at most `max_tasks` live (spawned and not yet
    /// finished) tasks; further spawns are refused with
    /// [`RejectReason::QueueFull`].
    pub fn with_max_tasks(max_tasks: NonZeroUsize) -> LocalExecutor {
        let (injector_tx, injector_rx) = crossbeam_channel::unbounded();
        let parker = Parker::new();
        LocalExecutor {
            shared: Arc::new(Shared {
                injector_tx,
                injector_rx,
                unparker: parker.unparker().clone(),
                closed: AtomicBool::new(false),
                remote_registry: Mutex::new(Slab::new()),
                n_tasks: AtomicUsize::new(0),
                max_tasks: max_tasks.get(),
            }),
            local: RefCell::new(VecDeque::new()),
            local_registry: RefCell::new(Slab::new()),
            parker,
            running: Cell::new(false),
        }
    }

    /// Spawns `future` as a task of the current task's tenant and class (or
    /// the defaults outside a task). It runs while `block_on` runs.
    pub fn spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_local(Spawn::new(), future)
    }

    /// Spawns `future` as a task described by `spec`.
    pub fn spawn_with<F>(
        &self,
        spec: Spawn,
        future: F,
    ) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_local(spec, future)
    }

    /// Spawns on the executor's own thread: registers in the local registry
    /// and queues the task locally, without a lock.
    fn spawn_local<F>(&self, spec: Spawn, future: F) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // No need to look at `closed`: it is only set by `drop`, which
        // cannot run while `self` is borrowed here.
        if !self.shared.reserve_task() {
            return Err(Rejected::new(future, RejectReason::QueueFull));
        }
        let (runnable, handle) = {
            let mut registry = self.local_registry.borrow_mut();
            let entry = registry.vacant_entry();
            let registration = Registration {
                shared: Arc::clone(&self.shared),
                key: entry.key(),
                local: true,
            };
            let (runnable, handle) = self.shared.new_task(spec, future, registration);
            entry.insert(runnable.waker());
            (runnable, handle)
        };
        // Runs at the next tick of `block_on`, like a task woken here.
        self.local.borrow_mut().push_back(runnable);
        Ok(handle)
    }

    /// A handle that spawns onto this executor from any thread.
    pub fn spawner(&self) -> Spawner {
        Spawner {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The number of live tasks: spawned and not yet finished.
    pub fn n_tasks(&self) -> usize {
        self.shared.n_tasks.load(Ordering::Relaxed)
    }

    /// The bound on live tasks.
    pub fn max_tasks(&self) -> usize {
        self.shared.max_tasks
    }

    /// Runs `future` to completion on this thread, running the executor's
    /// tasks whenever `future` is not ready. Parks the thread (no CPU used)
    /// when there is nothing to do; a wake from any thread unparks it.
    ///
    /// `future` is not a task: it has no metadata, and a panic in it
    /// propagates to the caller. Tasks that are still live when it returns
    /// stay on the executor and run during the next `block_on`.
    ///
    /// # Panics
    ///
    /// When called from inside a `block_on` of the same executor (which
    /// could never make progress), or when `future` panics.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _active = Active::enter(self);
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            unparker: self.parker.unparker().clone(),
        });
        let waker = Waker::from(Arc::clone(&main));
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            if main.woken.swap(false, Ordering::Acquire) {
                let _budget = Budget::enter(DEFAULT_BUDGET);
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
            }
            if self.run_tick() == 0 && !main.woken.load(Ordering::Acquire) {
                // Nothing queued, and the main future is waiting. Any wake
                // from now on either lands in the injector or sets `woken`,
                // and then unparks; `park` returns at once if that already
                // happened, so no wake-up is lost.
                self.parker.park();
            }
        }
    }

    /// Moves whatever other threads scheduled into the local queue, then
    /// runs up to `MAX_POLLS_PER_TICK` tasks from it; returns how many ran.
    ///
    /// Taking the injector's contents first keeps the order in which tasks
    /// became ready: a task that yields goes behind every task that was
    /// already waiting, wherever that task was woken from. Tasks woken from
    /// other threads during the tick wait for the next one, at most
    /// `MAX_POLLS_PER_TICK` polls away.
    fn run_tick(&self) -> usize {
        {
            let mut local = self.local.borrow_mut();
            // Bounded: each live task is queued at most once.
            local.extend(self.shared.injector_rx.try_iter());
        }
        for ran in 0..MAX_POLLS_PER_TICK {
            // The borrow ends with the statement, before the task runs.
            let next = self.local.borrow_mut().pop_front();
            match next {
                Some(runnable) => {
                    runnable.run();
                }
                None => return ran,
            }
        }
        MAX_POLLS_PER_TICK
    }
}

impl Default for LocalExecutor {
    fn default() -> LocalExecutor {
        LocalExecutor::new()
    }
}

impl fmt::Debug for LocalExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalExecutor")
            .field("n_tasks", &self.n_tasks())
            .field("max_tasks", &self.shared.max_tasks)
            .finish_non_exhaustive()
    }
}

impl Drop for LocalExecutor {
    fn drop(&mut self) {
        // Close under the remote registry's lock, so that a concurrent spawn
        // from another thread either registered its task before (and is
        // cancelled below) or sees `closed` and is refused. Spawns on this
        // thread cannot run concurrently with `drop`.
        let remote_tasks = {
            let mut registry = self.shared.lock_remote_registry();
            self.shared.closed.store(true, Ordering::SeqCst);
            std::mem::take(&mut *registry)
        };
        let local_tasks = std::mem::take(self.local_registry.get_mut());
        // Pairs with the fence in `Shared::schedule`: a runnable pushed to
        // the injector concurrently is drained either here or by its pusher.
        fence(Ordering::SeqCst);
        // Dropping a queued runnable closes its task and drops its future,
        // here. Futures that wake other tasks while being dropped find the
        // executor closed, and those are dropped on the spot too.
        drop(std::mem::take(self.local.get_mut()));
        self.shared.drain_injector();
        // Idle tasks sit in no queue: waking one hands its runnable to
        // `Shared::schedule`, which sees `closed` and drops it.
        for (_, waker) in local_tasks.into_iter().chain(remote_tasks) {
            waker.wake();
        }
    }
}

impl Shared {
    fn lock_remote_registry(&self) -> MutexGuard<'_, Slab<Waker>> {
        // The registry's invariants hold between any two statements (a slab
        // insert or remove is all that happens under the lock), so a
        // poisoned lock is still usable.
        self.remote_registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new live task, unless that would exceed `max_tasks`.
    fn reserve_task(&self) -> bool {
        self.n_tasks
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max_tasks).then_some(n + 1)
            })
            .is_ok()
    }

    /// Creates a task of this executor, not yet scheduled.
    fn new_task<F>(
        self: &Arc<Self>,
        spec: Spawn,
        future: F,
        registration: Registration,
    ) -> (Runnable, JoinHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = Arc::clone(self);
        new_task(
            spec,
            future,
            move |runnable, _info| shared.schedule(runnable),
            registration,
        )
    }

    /// Spawns from a thread other than the executor's own (or from its own
    /// thread outside `block_on`, through a `Spawner`).
    fn spawn_remote<F>(
        self: &Arc<Self>,
        spec: Spawn,
        future: F,
    ) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut registry = self.lock_remote_registry();
        if self.closed.load(Ordering::Relaxed) {
            return Err(Rejected::new(future, RejectReason::ShuttingDown));
        }
        if !self.reserve_task() {
            return Err(Rejected::new(future, RejectReason::QueueFull));
        }
        let entry = registry.vacant_entry();
        let registration = Registration {
            shared: Arc::clone(self),
            key: entry.key(),
            local: false,
        };
        let (runnable, handle) = self.new_task(spec, future, registration);
        entry.insert(runnable.waker());
        drop(registry);
        runnable.schedule();
        Ok(handle)
    }

    /// The schedule function of every task of this executor.
    fn schedule(&self, runnable: Runnable) {
        if self.closed.load(Ordering::Acquire) {
            // Shutting down: dropping the runnable closes the task and drops
            // its future here (see the module docs).
            drop(runnable);
            return;
        }
        let Err(runnable) = self.push_local(runnable) else {
            return;
        };
        self.injector_tx
            .send(runnable)
            .expect("the injector's receiver lives as long as its sender");
        // Pairs with the fence in `LocalExecutor::drop`: either the executor
        // drains what we just pushed, or we see `closed` and drain it.
        fence(Ordering::SeqCst);
        if self.closed.load(Ordering::Relaxed) {
            self.drain_injector();
        } else {
            self.unparker.unpark();
        }
    }

    /// Pushes to the local queue when called on the thread that runs this
    /// executor's `block_on`; hands the runnable back otherwise.
    fn push_local(&self, runnable: Runnable) -> Result<(), Runnable> {
        with_active(self, |active| {
            let Some(ex) = active else {
                return Err(runnable);
            };
            // The queue is only borrowed for a push or a pop, never across a
            // call into task code, so this always succeeds; falling back to
            // the injector keeps it correct even if that changed.
            match ex.local.try_borrow_mut() {
                Ok(mut local) => {
                    local.push_back(runnable);
                    Ok(())
                }
                Err(_) => Err(runnable),
            }
        })
    }

    fn drain_injector(&self) {
        while let Ok(runnable) = self.injector_rx.try_recv() {
            drop(runnable);
        }
    }
}

/// Runs `f` with the executor that owns `shared`, if that executor's
/// `block_on` is running on this thread, or with `None`.
///
/// The reference cannot escape `f`, which is what keeps it valid: the
/// executor is borrowed by a `block_on` frame further down this thread's
/// stack for as long as `f` runs.
fn with_active<R>(shared: &Shared, f: impl FnOnce(Option<&LocalExecutor>) -> R) -> R {
    let active = ACTIVE.try_with(Cell::get).unwrap_or(ptr::null());
    if active.is_null() {
        return f(None);
    }
    // SAFETY: ACTIVE is non-null only between `Active::enter(ex)` and the
    // guard's drop, which bracket a `block_on(&ex)` call on this very thread;
    // `ex` is borrowed for that whole call, so it is alive and does not move
    // while `f`, which runs inside that call, uses it.
    let ex = unsafe { &*active };
    if ptr::eq(Arc::as_ptr(&ex.shared), shared) {
        f(Some(ex))
    } else {
        f(None)
    }
}

/// Unregisters a task when its future is dropped (see `new_task`'s guard).
struct Registration {
    shared: Arc<Shared>,
    key: usize,
    /// Registered in the executor's `local_registry` rather than the remote
    /// one.
    local: bool,
}

/// Registered eagerly at spawn (see `spawn`), so the pending hook has
/// nothing to do.
impl crate::task::TaskGuard for Registration {}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.n_tasks.fetch_sub(1, Ordering::Relaxed);
        // After shutdown the registries are empty and this finds nothing.
        // Wakers are dropped after the registry is released.
        let waker = if self.local {
            // While the executor is open, its tasks' futures are dropped only
            // by its own `block_on` (when a task finishes or is aborted), on
            // its thread; so it is the active executor here, or it is closed.
            with_active(&self.shared, |active| {
                debug_assert!(
                    active.is_some() || self.shared.closed.load(Ordering::Relaxed),
                    "a task of an open LocalExecutor was dropped outside its block_on"
                );
                active.and_then(|ex| {
                    ex.local_registry
                        .try_borrow_mut()
                        .ok()?
                        .try_remove(self.key)
                })
            })
        } else {
            self.shared.lock_remote_registry().try_remove(self.key)
        };
        drop(waker);
    }
}

/// Marks an executor as the one running on this thread for the span of a
/// `block_on`, and restores the previous one (executors nest) on drop,
/// unwinding included.
struct Active<'a> {
    ex: &'a LocalExecutor,
    previous: *const LocalExecutor,
}

impl<'a> Active<'a> {
    fn enter(ex: &'a LocalExecutor) -> Active<'a> {
        assert!(
            !ex.running.replace(true),
            "LocalExecutor::block_on called from inside a block_on of the same executor"
        );
        let previous = ACTIVE.with(|active| active.replace(ex));
        Active { ex, previous }
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        ACTIVE.with(|active| active.set(self.previous));
        self.ex.running.set(false);
    }
}

/// The waker of `block_on`'s own future.
struct MainWaker {
    woken: AtomicBool,
    unparker: Unparker,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.unparker.unpark();
    }
}

/// Spawns onto a [`LocalExecutor`] from any thread; cheap to clone.
///
/// A `Spawner` may outlive its executor; spawns are then refused with
/// [`RejectReason::ShuttingDown`].
#[derive(Clone)]
pub struct Spawner {
    shared: Arc<Shared>,
}

impl Spawner {
    /// Spawns `future` as a task of the current task's tenant and class (or
    /// the defaults outside a task).
    pub fn spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(Spawn::new(), future)
    }

    /// Spawns `future` as a task described by `spec`.
    pub fn spawn_with<F>(
        &self,
        spec: Spawn,
        future: F,
    ) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // From inside the executor's own `block_on` (a task spawning a
        // task), take the lock-free path.
        with_active(&self.shared, |active| match active {
            Some(ex) => ex.spawn_local(spec, future),
            None => self.shared.spawn_remote(spec, future),
        })
    }
}

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner").finish_non_exhaustive()
    }
}
