//! Bounded per-tenant blocking lanes: what `spawn_blocking` runs on.
//!
//! A blocking closure must not run on a worker thread (it would hold the
//! worker, and every task queued behind it, for as long as it blocks), and it
//! must not run on one shared unbounded pool either (one tenant's flood of
//! slow file reads would then take every thread, or an unbounded number of
//! them). [`BlockingLanes`] gives each tenant a *lane*: a bounded queue of
//! jobs waiting for a thread, and a bounded number of jobs running at once,
//! served from a bounded set of threads.
//!
//! # Design
//!
//! A job is a drama task whose future is `async move { f() }`, made with
//! [`drama_core::new_task`]. Its [`JoinHandle`], its
//! [`JoinError`](drama_core::JoinError)s (a panic
//! in the closure, a cancellation) and its abort behave exactly as for async
//! tasks; a blocking thread runs a job by calling [`Runnable::run`] once,
//! which calls the closure to completion (the future never returns
//! `Pending`).
//!
//! All the state sits behind one mutex: blocking work is slow
//! by nature (a job is a system call or more), so one short critical section
//! per spawn and per finished job costs nothing that matters, and a single
//! lock keeps every invariant below obviously true. (The mutex and the
//! condition variables are `crate::sync`'s, like every one of the pool's,
//! which are `std`'s outside loom; nothing here is a lock-free protocol, and
//! no loom model covers this module.)
//!
//! - **Lanes.** Every tenant with a job queued or running has a lane: its
//!   queue of jobs waiting for a thread and its count of running jobs. A lane
//!   with nothing queued and nothing running is removed, so the table of
//!   lanes holds at most `max_queued + max_threads` entries, however many
//!   tenants come and go.
//! - **The ring.** The tenants that have a job queued *and* are under
//!   `max_threads_per_tenant` form a round-robin ring. A thread looking for
//!   work takes the first job of the tenant at the front of the ring and
//!   moves that tenant to the back. A tenant with a hundred queued jobs
//!   therefore delays another tenant's single job by at most one job per
//!   free thread, never by its whole backlog.
//! - **Threads.** At most `max_threads` blocking threads live at once, over
//!   all tenants. They are started on demand (a job can run, no thread is
//!   idle, and there are fewer than `max_threads`) and exit after
//!   `keep_alive` without work. Work is handed to an idle thread directly,
//!   through its own slot, and the idle thread that went idle last is woken
//!   first, so that a pool with more threads than work lets the extra ones
//!   reach their `keep_alive` and exit.
//!
//! Architecture Invariant: a job is charged to its tenant's running count
//! from the moment it is handed to a thread until that thread has finished
//! it, so `n_running(tenant) <= max_threads_per_tenant` always holds, and
//! every running job has a thread of its own.
//!
//! Architecture Invariant: when the ring is not empty, no thread is idle and
//! no more threads can be started (barring a failure of the OS to start
//! one). Every change that can put a tenant in the ring is followed by a
//! dispatch that hands work to idle or new threads while both exist.
//!
//! # Bounds
//!
//! Every queue has a named bound:
//!
//! | what                         | bound                              |
//! |------------------------------|------------------------------------|
//! | one lane's queue             | `max_queued_per_tenant`            |
//! | all lanes' queues together   | `max_queued`                       |
//! | one tenant's running jobs    | `max_threads_per_tenant`           |
//! | blocking threads             | `max_threads`                      |
//! | the ring of tenants          | tenants with a queued job, at most `max_queued` |
//! | the idle stack               | `max_threads`                      |
//! | lanes (table entries)        | `max_queued + max_threads`         |
//! | exited threads to be joined  | `max_threads`                      |
//!
//! A spawn whose job can start at once (its tenant is under its running
//! limit and has nothing queued, nobody else is waiting, and a thread is idle
//! or can be started) goes straight to a thread and takes no queue space. Any
//! other spawn takes a place in its lane's queue; when the lane's queue or
//! the total is full, the spawn is refused with [`RejectReason::QueueFull`]
//! and the closure comes back untouched. The capacity is checked, and the
//! job queued, in the same critical section, before the task is created, so
//! a refusal never has a task to undo.
//!
//! # Shutdown
//!
//! [`BlockingLanes::shutdown`] closes the lanes: later spawns are refused
//! with [`RejectReason::ShuttingDown`]. Queued and running jobs go on until
//! the deadline; threads that run out of work exit instead of idling. At the
//! deadline, jobs that have not started are cancelled (those still queued,
//! and those handed to a thread that has not taken them yet): their
//! `Runnable`s are dropped,
//! which drops each closure exactly once (on the calling thread, outside the
//! lock) and resolves each handle to a cancellation. A thread still running
//! a job then is detached, since a blocking closure cannot be interrupted;
//! it exits once its job returns. Every thread that exited is joined, and
//! `shutdown` returns `true` when no blocking thread is left. Calling it
//! again is harmless (and joins threads that have exited since). Dropping
//! the lanes shuts them down with a deadline of now.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use drama_core::{JoinHandle, RejectReason, Rejected, Runnable, ScheduleInfo, Spawn, new_task};
use drama_policy::TenantId;
use slab::Slab;

use crate::sync::{Condvar, Mutex};

/// How long shutdown waits for blocking threads that have no job to exit
/// (they only need to be scheduled once): far more than that takes, even on
/// a loaded machine, and short enough that a thread that is somehow slower
/// costs shutdown little.
const EXIT_GRACE: Duration = Duration::from_millis(100);

/// The limits of the blocking lanes. The pool's builder validates them, so
/// every number is at least 1.
#[derive(Clone, Debug)]
pub(crate) struct BlockingLimits {
    /// Blocking threads alive at once, over all tenants.
    pub(crate) max_threads: usize,
    /// Jobs of one tenant running at once.
    pub(crate) max_threads_per_tenant: usize,
    /// Jobs of one tenant waiting for a thread.
    pub(crate) max_queued_per_tenant: usize,
    /// Jobs waiting for a thread, over all tenants.
    pub(crate) max_queued: usize,
    /// How long a blocking thread waits for work before it exits.
    pub(crate) keep_alive: Duration,
    /// The prefix of the threads' names: they are named
    /// `"{thread_name}-blocking-{n}"`.
    pub(crate) thread_name: String,
}

/// The bounded per-tenant blocking lanes; see the module documentation.
pub(crate) struct BlockingLanes {
    shared: Arc<Shared>,
}

/// What the lanes share with their threads and with their jobs' schedule
/// functions.
struct Shared {
    limits: BlockingLimits,
    state: Mutex<State>,
    /// Signalled whenever a blocking thread exits, for `shutdown` to wait on.
    exited: Condvar,
}

/// Everything that changes, under `Shared::state`.
struct State {
    /// The lane of every tenant with a job queued or running; bounded by
    /// `max_queued + max_threads` entries, as an entry is removed as soon as
    /// its lane is empty.
    lanes: HashMap<TenantId, Lane>,
    /// The tenants that have a queued job and are under
    /// `max_threads_per_tenant`, in round-robin order; each at most once, so
    /// bounded by the number of queued jobs (`max_queued`).
    ring: VecDeque<TenantId>,
    /// Jobs waiting in all lanes' queues together; at most `max_queued`
    /// (a re-scheduled job may go past it; see `Shared::reschedule`).
    n_queued: usize,
    /// One slot per blocking thread alive; at most `max_threads`.
    threads: Slab<ThreadSlot>,
    /// The keys of the idle threads, the one that went idle last at the top;
    /// at most `max_threads`. A thread is on it exactly when it has no job
    /// and may be handed one.
    idle: Vec<usize>,
    /// Set by `shutdown`: spawns are refused and threads without work exit.
    closed: bool,
    /// Set by `shutdown` at its deadline, after `closed`: the queues have
    /// been emptied and a re-scheduled job is dropped instead of queued.
    cancelled: bool,
    /// Threads that exited after `closed` was set, waiting for `shutdown` to
    /// join them; at most `max_threads`, as each thread exits once.
    to_join: Vec<std::thread::JoinHandle<()>>,
    /// The number in the name of the next thread started.
    next_thread_n: u64,
}

/// One tenant's lane.
#[derive(Default)]
struct Lane {
    /// Jobs waiting for a thread, oldest first; at most
    /// `max_queued_per_tenant`.
    queue: VecDeque<Runnable>,
    /// Jobs handed to a thread and not yet finished; at most
    /// `max_threads_per_tenant`.
    running: usize,
    /// Whether the tenant is in the ring; true exactly when `queue` is not
    /// empty and `running < max_threads_per_tenant`.
    in_ring: bool,
}

/// A blocking thread, as the lanes see it.
struct ThreadSlot {
    /// The thread's handle; `None` only between the thread's start and the
    /// end of the critical section that started it, which the thread cannot
    /// observe (it needs the lock to do anything).
    handle: Option<std::thread::JoinHandle<()>>,
    /// A job handed to this thread, which it has not taken yet.
    job: Option<Job>,
    /// Wakes this thread alone, when it is handed a job or must exit. One
    /// condition variable per thread (all used with `Shared::state`) lets a
    /// job go to the thread chosen for it, with no spurious contest.
    wake: Arc<Condvar>,
}

/// A job handed to a thread, already charged to its tenant.
struct Job {
    tenant: TenantId,
    runnable: Runnable,
}

impl BlockingLanes {
    /// Empty lanes with the given limits. Starts no thread: threads are
    /// started when there is work for them.
    pub(crate) fn new(limits: BlockingLimits) -> BlockingLanes {
        debug_assert!(limits.max_threads >= 1 && limits.max_threads_per_tenant >= 1);
        debug_assert!(limits.max_queued >= 1 && limits.max_queued_per_tenant >= 1);
        BlockingLanes {
            shared: Arc::new(Shared {
                limits,
                state: Mutex::new(State {
                    lanes: HashMap::new(),
                    ring: VecDeque::new(),
                    n_queued: 0,
                    threads: Slab::new(),
                    idle: Vec::new(),
                    closed: false,
                    cancelled: false,
                    to_join: Vec::new(),
                    next_thread_n: 0,
                }),
                exited: Condvar::new(),
            }),
        }
    }

    /// Runs `f` on a blocking thread, charged to `tenant`. `spec` gives the
    /// job's class and name; its tenant is set to `tenant`.
    ///
    /// # Errors
    ///
    /// Hands `f` back, untouched, with [`RejectReason::ShuttingDown`] once
    /// [`shutdown`](Self::shutdown) has begun, and with
    /// [`RejectReason::QueueFull`] when the job would have to wait and
    /// `tenant`'s queue or the total queue is full (or when no blocking
    /// thread exists and the OS refused to start one, so that nothing could
    /// ever run the job).
    pub(crate) fn spawn<F, R>(
        &self,
        tenant: TenantId,
        spec: Spawn,
        f: F,
    ) -> Result<JoinHandle<R>, Rejected<F>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let shared = &self.shared;
        let limits = &shared.limits;
        let mut state = shared.lock();
        if state.closed {
            return Err(Rejected::new(f, RejectReason::ShuttingDown));
        }
        // A job that can start at once takes no queue space. Start the thread
        // it needs before creating the task, so that if the OS refuses, the
        // closure can still be handed back.
        let starts_now = state.can_start_now(tenant, limits)
            && (!state.idle.is_empty()
                || (state.threads.len() < limits.max_threads
                    && state.start_idle_thread(shared).is_ok()));
        if !starts_now {
            let queued_here = state.lanes.get(&tenant).map_or(0, |lane| lane.queue.len());
            if queued_here >= limits.max_queued_per_tenant || state.n_queued >= limits.max_queued {
                return Err(Rejected::new(f, RejectReason::QueueFull));
            }
            if state.threads.is_empty() {
                // No thread exists and none could be started (the OS refused):
                // a queued job would wait forever, so it is better refused.
                return Err(Rejected::new(f, RejectReason::QueueFull));
            }
        }
        // The task is created under the lock, so that the capacity checked
        // above is the capacity it takes. `new_task` only allocates; it calls
        // nothing that could take the lock again.
        let weak = Arc::downgrade(shared);
        let (runnable, handle) = new_task(
            spec.tenant(tenant),
            async move { f() },
            move |runnable: Runnable, _info: ScheduleInfo| schedule(&weak, runnable),
            (),
        );
        state.push(tenant, runnable, limits);
        state.dispatch(shared);
        debug_assert!(!starts_now || state.lanes.get(&tenant).is_some_and(|l| l.running > 0));
        Ok(handle)
    }

    /// Stops admitting jobs; queued and running jobs go on. Idle threads
    /// exit now, the others once the queues are empty. Idempotent. The pool
    /// calls it when its shutdown begins, so that the idle threads are gone
    /// by the time [`shutdown`](Self::shutdown) joins them: called only at
    /// the deadline, it woke them and did not wait, and reported a thread
    /// left unjoined with nothing stuck.
    pub(crate) fn close(&self) {
        let mut state = self.shared.lock();
        if !state.closed {
            state.closed = true;
            // Idle threads have nothing to do (the ring is empty whenever a
            // thread is idle); woken, they see `closed` and exit.
            for &key in &state.idle {
                state.threads[key].wake.notify_one();
            }
        }
    }

    /// Stops admitting jobs, lets queued and running jobs go on until
    /// `deadline`, then cancels the jobs that have not started and detaches
    /// the threads still running one; see the module documentation. Returns
    /// `true` when every blocking thread has exited and been joined.
    /// Idempotent.
    ///
    /// Called from a blocking thread (a job that shuts the pool down), it
    /// waits until `deadline` for its own thread, which cannot exit while it
    /// waits, and then returns `false`.
    pub(crate) fn shutdown(&self, deadline: Instant) -> bool {
        self.close();
        let shared = &self.shared;
        // Queued and running jobs go on until the deadline; a thread that
        // runs out of work exits, so an empty `threads` means all work is
        // done.
        let state =
            shared.wait_for_exits(shared.lock(), deadline, |state| state.threads.is_empty());
        // Cancel what has not started. The runnables are dropped after the
        // lock is released: dropping one drops its closure, whose destructor
        // may do anything, including spawning here again. (Reborrowing the
        // guard as a plain `&mut State` lets the loops below touch two of
        // its fields at once.)
        let mut guard = state;
        let state = &mut *guard;
        state.cancelled = true;
        let mut cancelled = Vec::with_capacity(state.n_queued);
        state.ring.clear();
        for lane in state.lanes.values_mut() {
            cancelled.extend(lane.queue.drain(..));
            lane.in_ring = false;
        }
        debug_assert_eq!(cancelled.len(), state.n_queued);
        state.n_queued = 0;
        // A job handed to a thread that has not taken it yet has not started
        // either. Its thread, woken, finds no job and exits.
        for (_, slot) in &mut state.threads {
            if let Some(job) = slot.job.take() {
                let lane = state
                    .lanes
                    .get_mut(&job.tenant)
                    .expect("a tenant with a running job has a lane");
                lane.running -= 1;
                cancelled.push(job.runnable);
                slot.wake.notify_one();
            }
        }
        state.lanes.retain(|_, lane| lane.running > 0);
        let running: usize = state.lanes.values().map(|lane| lane.running).sum();
        drop(guard);
        drop(cancelled);
        // Threads without a job (idle ones `close` woke, and those whose job
        // was just cancelled) exit at once: wait for them, briefly, so that
        // they are joined rather than reported as left behind. A thread
        // still running a job is stuck in it and is detached.
        let grace = Instant::now() + EXIT_GRACE;
        let mut state =
            shared.wait_for_exits(shared.lock(), grace, |state| state.threads.len() <= running);
        let to_join = std::mem::take(&mut state.to_join);
        let all_exited = state.threads.is_empty();
        drop(state);
        let mut joined = all_exited;
        for handle in to_join {
            // A blocking thread catches every panic of its jobs, so an `Err`
            // here would be a bug in this module; it still counts as a
            // thread that was not joined cleanly.
            joined &= handle.join().is_ok();
        }
        joined
    }

    /// Blocking threads alive now.
    pub(crate) fn n_threads(&self) -> usize {
        self.shared.lock().threads.len()
    }

    /// Jobs waiting for a thread now, over all tenants.
    pub(crate) fn n_queued(&self) -> usize {
        self.shared.lock().n_queued
    }

    /// `tenant`'s running jobs: handed to a thread and not yet finished.
    ///
    /// A thread gives its job's place back right after the job returns,
    /// which may be a moment after the job's handle resolved.
    pub(crate) fn n_running(&self, tenant: TenantId) -> usize {
        self.shared
            .lock()
            .lanes
            .get(&tenant)
            .map_or(0, |lane| lane.running)
    }
}

impl Drop for BlockingLanes {
    fn drop(&mut self) {
        // Cancels every queued job now and detaches the threads still running
        // one; they exit when their job returns.
        self.shutdown(Instant::now());
    }
}

impl fmt::Debug for BlockingLanes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("BlockingLanes")
            .field("threads", &state.threads.len())
            .field("idle", &state.idle.len())
            .field("queued", &state.n_queued)
            .field("tenants", &state.lanes.len())
            .field("closed", &state.closed)
            .finish_non_exhaustive()
    }
}

/// The schedule function of every blocking job.
///
/// A job's future finishes on its first poll, so async-task never asks to
/// schedule it again in the normal course of things; this is here for the
/// cases it might (a wake racing with the end of the task) and must be safe
/// at any time, during or after shutdown, and after the lanes are gone.
fn schedule(shared: &Weak<Shared>, runnable: Runnable) {
    match shared.upgrade() {
        Some(shared) => shared.reschedule(runnable),
        // The lanes are gone and nothing would ever run the job: dropping the
        // runnable cancels it, and its handle says so.
        None => drop(runnable),
    }
}

impl Shared {
    /// Locks the state, ignoring poisoning: no critical section here calls
    /// user code or leaves the state half-changed, and a panic elsewhere
    /// must not take the lanes down with it.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits, on `exited`, until `done` holds or `until` has passed.
    fn wait_for_exits<'a>(
        &self,
        mut state: MutexGuard<'a, State>,
        until: Instant,
        done: impl Fn(&State) -> bool,
    ) -> MutexGuard<'a, State> {
        while !done(&state) {
            let now = Instant::now();
            if now >= until {
                break;
            }
            state = self
                .exited
                .wait_timeout(state, until - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state
    }

    /// Queues a job that was already admitted and is scheduled again.
    ///
    /// It is not a new admission, so it is not refused when its lane's queue
    /// is full: refusing it would cancel a task the caller was promised would
    /// run. Each job can be queued at most once at a time (async-task
    /// schedules a task at most once until it runs), so the overshoot is
    /// bounded by the number of admitted jobs.
    fn reschedule(self: &Arc<Self>, runnable: Runnable) {
        let mut state = self.lock();
        if state.cancelled {
            // The queues have been emptied for good; a job queued now would
            // never run. Drop it (which cancels it) outside the lock.
            drop(state);
            drop(runnable);
            return;
        }
        let tenant = runnable.meta().tenant();
        state.push(tenant, runnable, &self.limits);
        state.dispatch(self);
    }
}

impl State {
    /// Whether a new job of `tenant` could go to a thread at once without
    /// overtaking anyone: nothing else is waiting, and `tenant` is under its
    /// running limit. (Whether a thread is free is the caller's business.)
    fn can_start_now(&self, tenant: TenantId, limits: &BlockingLimits) -> bool {
        self.ring.is_empty()
            && self.lanes.get(&tenant).is_none_or(|lane| {
                lane.queue.is_empty() && lane.running < limits.max_threads_per_tenant
            })
    }

    /// Puts `runnable` at the back of `tenant`'s queue, and `tenant` in the
    /// ring if it may run another job.
    fn push(&mut self, tenant: TenantId, runnable: Runnable, limits: &BlockingLimits) {
        let lane = self.lanes.entry(tenant).or_default();
        lane.queue.push_back(runnable);
        self.n_queued += 1;
        if !lane.in_ring && lane.running < limits.max_threads_per_tenant {
            lane.in_ring = true;
            self.ring.push_back(tenant);
        }
    }

    /// Takes the next job round robin: the first job of the tenant at the
    /// front of the ring, charged to that tenant, which moves to the back of
    /// the ring if it still has a job queued and room to run it.
    fn next_job(&mut self, limits: &BlockingLimits) -> Option<Job> {
        let tenant = self.ring.pop_front()?;
        let lane = self
            .lanes
            .get_mut(&tenant)
            .expect("a tenant in the ring has a lane");
        debug_assert!(lane.in_ring && lane.running < limits.max_threads_per_tenant);
        let runnable = lane
            .queue
            .pop_front()
            .expect("a tenant in the ring has a queued job");
        self.n_queued -= 1;
        lane.running += 1;
        debug_assert!(lane.running <= limits.max_threads_per_tenant);
        if !lane.queue.is_empty() && lane.running < limits.max_threads_per_tenant {
            self.ring.push_back(tenant);
        } else {
            lane.in_ring = false;
        }
        Some(Job { tenant, runnable })
    }

    /// Accounts for a finished job of `tenant`: frees its running place,
    /// puts the tenant back in the ring if it was waiting for that place,
    /// and removes its lane if it is empty.
    fn finish(&mut self, tenant: TenantId, limits: &BlockingLimits) {
        let lane = self
            .lanes
            .get_mut(&tenant)
            .expect("a tenant with a running job has a lane");
        debug_assert!(lane.running > 0 && lane.running <= limits.max_threads_per_tenant);
        lane.running -= 1;
        if !lane.queue.is_empty() && !lane.in_ring {
            // The tenant was at its running limit; it is under it now. It goes
            // to the back, behind the tenants that waited while it ran.
            lane.in_ring = true;
            self.ring.push_back(tenant);
        } else if lane.queue.is_empty() && lane.running == 0 {
            debug_assert!(!lane.in_ring);
            self.lanes.remove(&tenant);
        }
    }

    /// Hands queued jobs to idle threads, most recently idle first, then to
    /// new threads, while there are both jobs in the ring and threads for
    /// them.
    fn dispatch(&mut self, shared: &Arc<Shared>) {
        while !self.ring.is_empty() {
            let key = match self.idle.pop() {
                Some(key) => key,
                None if self.threads.len() < shared.limits.max_threads && !self.cancelled => {
                    match self.start_thread(shared) {
                        Ok(key) => key,
                        // The OS refused a thread: the jobs wait for the
                        // threads that exist, which take them as they finish.
                        Err(_) => break,
                    }
                }
                None => break,
            };
            let job = self
                .next_job(&shared.limits)
                .expect("the ring is not empty");
            let slot = &mut self.threads[key];
            debug_assert!(slot.job.is_none());
            slot.job = Some(job);
            slot.wake.notify_one();
        }
    }

    /// Starts a thread and puts it on the idle stack, for `dispatch` to hand
    /// it a job.
    fn start_idle_thread(&mut self, shared: &Arc<Shared>) -> std::io::Result<()> {
        let key = self.start_thread(shared)?;
        self.idle.push(key);
        Ok(())
    }

    /// Starts a blocking thread with no job; returns its key. The thread
    /// cannot look at its slot before the caller releases the lock, so the
    /// caller may hand it a job or put it on the idle stack meanwhile.
    fn start_thread(&mut self, shared: &Arc<Shared>) -> std::io::Result<usize> {
        debug_assert!(self.threads.len() < shared.limits.max_threads);
        let entry = self.threads.vacant_entry();
        let key = entry.key();
        let name = format!(
            "{}-blocking-{}",
            shared.limits.thread_name, self.next_thread_n
        );
        let thread_shared = Arc::clone(shared);
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || thread_main(thread_shared, key))?;
        self.next_thread_n += 1;
        entry.insert(ThreadSlot {
            handle: Some(handle),
            job: None,
            wake: Arc::new(Condvar::new()),
        });
        Ok(key)
    }

    /// Removes the exiting thread `key` from the lanes. After `closed` its
    /// handle is kept for `shutdown` to join; before, the thread is leaving
    /// on its `keep_alive`, nobody waits for it, and it is detached.
    fn retire(&mut self, key: usize) {
        // A thread leaves from the idle stack (keep_alive ran out, or it was
        // closed while idle) or straight after a job (closed); only the first
        // finds itself on it.
        self.idle.retain(|&idle| idle != key);
        let slot = self.threads.remove(key);
        debug_assert!(slot.job.is_none(), "a thread never exits holding a job");
        if let Some(handle) = slot.handle
            && self.closed
        {
            self.to_join.push(handle);
        }
    }
}

/// The loop of a blocking thread `key`: run the job handed to it, then the
/// next one round robin, and wait on the idle stack when there is none,
/// until `keep_alive` passes idle or the lanes close.
fn thread_main(shared: Arc<Shared>, key: usize) {
    let limits = &shared.limits;
    let mut state = shared.lock();
    let wake = Arc::clone(&state.threads[key].wake);
    // `None` when `keep_alive` is too long to add to an instant: the thread
    // then never exits for idleness.
    let mut idle_deadline = Instant::now().checked_add(limits.keep_alive);
    loop {
        if let Some(Job { tenant, runnable }) = state.threads[key].job.take() {
            drop(state);
            // Nothing in `run` is expected to unwind: the task catches a
            // panic of the closure (and of its destructor) and reports it
            // through the handle. Catching here as well is the second line
            // of defence: a thread that unwound would take its tenant's
            // running place and its own slot with it, for good.
            let _ = catch_unwind(AssertUnwindSafe(|| runnable.run()));
            state = shared.lock();
            state.finish(tenant, limits);
            if let Some(next) = state.next_job(limits) {
                state.threads[key].job = Some(next);
                // The ring may still hold work that an idle or new thread
                // could take (it only happens after the OS refused a thread);
                // this is a cheap no-op otherwise.
                state.dispatch(&shared);
                continue;
            }
            if state.closed {
                break;
            }
            state.idle.push(key);
            idle_deadline = Instant::now().checked_add(limits.keep_alive);
            continue;
        }
        // No job: the thread is on the idle stack and the ring is empty (a
        // dispatch would have handed it a job otherwise), or `shutdown`
        // cancelled the job it had been handed.
        if state.closed {
            break;
        }
        // Woken by a hand-off, by `shutdown`, by the timeout or spuriously:
        // the loop looks at the job slot, `closed` and the deadline again.
        state = match idle_deadline {
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                wake.wait_timeout(state, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => wake.wait(state).unwrap_or_else(PoisonError::into_inner),
        };
    }
    state.retire(key);
    drop(state);
    shared.exited.notify_all();
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::thread;

    use futures::executor::block_on;

    use super::*;
    use crate::sync::{AtomicUsize, Ordering};

    /// How long any test waits for something that should happen at once;
    /// generous, since a loaded CI machine can be slow. Only a failing test
    /// ever waits this long.
    const PATIENCE: Duration = Duration::from_secs(5);

    fn limits(
        max_threads: usize,
        max_threads_per_tenant: usize,
        max_queued_per_tenant: usize,
        max_queued: usize,
    ) -> BlockingLimits {
        BlockingLimits {
            max_threads,
            max_threads_per_tenant,
            max_queued_per_tenant,
            max_queued,
            keep_alive: Duration::from_secs(10),
            thread_name: "test".into(),
        }
    }

    fn tenant(n: u32) -> TenantId {
        TenantId::new(n)
    }

    /// A gate jobs wait at until the test opens it (or `PATIENCE` passes, so
    /// that a failing test does not leave threads blocked forever).
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        cv: Condvar,
    }

    impl Gate {
        fn new() -> Arc<Gate> {
            Arc::new(Gate::default())
        }

        /// Waits for the gate to open; `true` if it did in time.
        fn wait(&self) -> bool {
            let open = self.open.lock().unwrap();
            let (open, _) = self
                .cv
                .wait_timeout_while(open, PATIENCE, |open| !*open)
                .unwrap();
            *open
        }

        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.cv.notify_all();
        }
    }

    /// Counts its drops: a closure that captures one shows how many times
    /// the closure was dropped (run or not).
    struct CountDrop(Arc<AtomicUsize>);

    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Polls `cond` until it holds or `PATIENCE` passes; returns whether it
    /// held.
    fn eventually(mut cond: impl FnMut() -> bool) -> bool {
        let until = Instant::now() + PATIENCE;
        while Instant::now() < until {
            if cond() {
                return true;
            }
            thread::sleep(Duration::from_millis(1));
        }
        cond()
    }

    /// Occupies the only thread of `lanes` (tenant 99) until `gate` opens,
    /// and returns once the job is running.
    fn occupy(lanes: &BlockingLanes, gate: &Arc<Gate>) -> JoinHandle<bool> {
        let (started_tx, started_rx) = mpsc::channel();
        let gate = Arc::clone(gate);
        let handle = lanes
            .spawn(tenant(99), Spawn::new(), move || {
                started_tx.send(()).unwrap();
                gate.wait()
            })
            .unwrap();
        started_rx
            .recv_timeout(PATIENCE)
            .expect("the blocker started");
        handle
    }

    #[test]
    fn smoke() {
        let lanes = BlockingLanes::new(limits(2, 1, 4, 8));
        let acme = tenant(7);
        let handle = lanes
            .spawn(acme, Spawn::new().name("read"), || {
                let meta = drama_core::current().expect("a job runs as a task");
                let name = thread::current().name().map(str::to_owned);
                (meta.tenant(), meta.name().map(str::to_owned), name)
            })
            .unwrap();
        let (job_tenant, job_name, thread_name) = block_on(handle).unwrap();
        assert_eq!(job_tenant, acme);
        assert_eq!(job_name.as_deref(), Some("read"));
        assert!(
            thread_name
                .as_deref()
                .is_some_and(|n| n.starts_with("test-blocking-")),
            "{thread_name:?}"
        );
        assert_eq!(lanes.n_threads(), 1, "the thread stays for keep_alive");
        assert_eq!(lanes.n_queued(), 0);
        // An idle lane leaves no state behind. (The thread accounts for a
        // job right after running it, a moment after its handle resolved.)
        assert!(eventually(|| lanes.n_running(acme) == 0));
        assert!(eventually(|| lanes.shared.lock().lanes.is_empty()));
        assert!(
            lanes.shutdown(Instant::now() + PATIENCE),
            "the idle thread is joined"
        );
        assert_eq!(lanes.n_threads(), 0);
    }

    #[test]
    fn running_limits_are_never_exceeded() {
        const TENANTS: usize = 3;
        const JOBS_PER_TENANT: usize = 6;
        const MAX_THREADS: usize = 4;
        const PER_TENANT: usize = 2;

        #[derive(Default)]
        struct Probe {
            running: [AtomicUsize; TENANTS],
            peak: [AtomicUsize; TENANTS],
            total: AtomicUsize,
            total_peak: AtomicUsize,
        }

        let lanes = BlockingLanes::new(limits(MAX_THREADS, PER_TENANT, 16, 64));
        let probe = Arc::new(Probe::default());
        let mut handles = Vec::new();
        for t in 0..TENANTS {
            for _ in 0..JOBS_PER_TENANT {
                let probe = Arc::clone(&probe);
                let handle = lanes
                    .spawn(tenant(t as u32), Spawn::new(), move || {
                        let now = probe.running[t].fetch_add(1, Ordering::SeqCst) + 1;
                        probe.peak[t].fetch_max(now, Ordering::SeqCst);
                        let total = probe.total.fetch_add(1, Ordering::SeqCst) + 1;
                        probe.total_peak.fetch_max(total, Ordering::SeqCst);
                        // Stay until two jobs of this tenant have run at once,
                        // so that the test sees the limit reached, not only
                        // respected.
                        let reached =
                            eventually(|| probe.peak[t].load(Ordering::SeqCst) >= PER_TENANT);
                        probe.total.fetch_sub(1, Ordering::SeqCst);
                        probe.running[t].fetch_sub(1, Ordering::SeqCst);
                        reached
                    })
                    .unwrap();
                handles.push(handle);
            }
        }
        // Sample the lanes' own counts while the jobs run.
        while !handles.iter().all(JoinHandle::is_finished) {
            assert!(lanes.n_threads() <= MAX_THREADS);
            for t in 0..TENANTS {
                assert!(lanes.n_running(tenant(t as u32)) <= PER_TENANT);
            }
            thread::yield_now();
        }
        for handle in handles {
            assert!(
                block_on(handle).unwrap(),
                "two jobs of one tenant ran at once"
            );
        }
        for t in 0..TENANTS {
            assert_eq!(probe.peak[t].load(Ordering::SeqCst), PER_TENANT);
        }
        let total_peak = probe.total_peak.load(Ordering::SeqCst);
        assert!(
            (PER_TENANT..=MAX_THREADS).contains(&total_peak),
            "{total_peak}"
        );
        assert!(lanes.n_threads() <= MAX_THREADS);
        assert!(eventually(|| lanes.shared.lock().lanes.is_empty()));
    }

    #[test]
    fn full_queue_hands_the_closure_back() {
        // One thread, two queued jobs per tenant, three in all.
        let lanes = BlockingLanes::new(limits(1, 1, 2, 3));
        let gate = Gate::new();
        let blocker = occupy(&lanes, &gate);

        let a1 = lanes.spawn(tenant(1), Spawn::new(), || 1).unwrap();
        let a2 = lanes.spawn(tenant(1), Spawn::new(), || 2).unwrap();
        assert_eq!(lanes.n_queued(), 2);
        let refused = lanes.spawn(tenant(1), Spawn::new(), || 3).unwrap_err();
        assert_eq!(refused.reason(), RejectReason::QueueFull);
        assert_eq!(refused.into_inner()(), 3, "the closure comes back callable");

        // Tenant 2 still has room in its lane, and takes the last total place.
        let b1 = lanes.spawn(tenant(2), Spawn::new(), || 4).unwrap();
        assert_eq!(lanes.n_queued(), 3);
        let refused = lanes.spawn(tenant(3), Spawn::new(), || 5).unwrap_err();
        assert_eq!(refused.reason(), RejectReason::QueueFull);
        assert_eq!(refused.into_inner()(), 5);

        gate.open();
        assert!(block_on(blocker).unwrap());
        assert_eq!(block_on(a1).unwrap(), 1);
        assert_eq!(block_on(a2).unwrap(), 2);
        assert_eq!(block_on(b1).unwrap(), 4);
        assert_eq!(lanes.n_queued(), 0);
    }

    #[test]
    fn a_job_that_can_start_takes_no_queue_space() {
        // Two jobs of one tenant may run at once but only one may wait: the
        // second spawn must go to a thread, not be refused for a full queue.
        let lanes = BlockingLanes::new(limits(2, 2, 1, 1));
        let gate = Gate::new();
        let jobs: Vec<_> = (0..2)
            .map(|_| {
                let gate = Arc::clone(&gate);
                lanes
                    .spawn(tenant(1), Spawn::new(), move || gate.wait())
                    .unwrap()
            })
            .collect();
        assert_eq!(lanes.n_queued(), 0);
        assert_eq!(lanes.n_running(tenant(1)), 2);
        let queued = lanes.spawn(tenant(1), Spawn::new(), || true).unwrap();
        assert_eq!(lanes.n_queued(), 1);
        let refused = lanes.spawn(tenant(1), Spawn::new(), || true).unwrap_err();
        assert_eq!(refused.reason(), RejectReason::QueueFull);
        gate.open();
        for job in jobs {
            assert!(block_on(job).unwrap());
        }
        assert!(block_on(queued).unwrap());
    }

    #[test]
    fn refused_after_shutdown() {
        let lanes = BlockingLanes::new(limits(1, 1, 1, 1));
        assert!(lanes.shutdown(Instant::now()), "no thread was ever started");
        let refused = lanes.spawn(tenant(1), Spawn::new(), || 42).unwrap_err();
        assert_eq!(refused.reason(), RejectReason::ShuttingDown);
        assert_eq!(refused.into_inner()(), 42);
        assert!(lanes.shutdown(Instant::now()), "shutdown is idempotent");
        assert_eq!(lanes.n_threads(), 0);
    }

    #[test]
    fn panic_is_reported_and_the_thread_survives() {
        let lanes = BlockingLanes::new(limits(1, 1, 4, 4));
        let (id_tx, id_rx) = mpsc::channel();
        let boom = lanes
            .spawn(tenant(1), Spawn::new(), move || {
                id_tx.send(thread::current().id()).unwrap();
                panic!("boom");
            })
            .unwrap();
        let err = block_on(boom).unwrap_err();
        assert!(err.is_panic());
        assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
        let next = lanes
            .spawn(tenant(1), Spawn::new(), || thread::current().id())
            .unwrap();
        let panicked_on = id_rx.recv_timeout(PATIENCE).unwrap();
        assert_eq!(
            block_on(next).unwrap(),
            panicked_on,
            "the same thread ran on"
        );
        assert_eq!(lanes.n_threads(), 1);
        assert!(eventually(|| lanes.n_running(tenant(1)) == 0));
    }

    #[test]
    fn no_starvation_round_robin() {
        // One thread. Tenant A fills its queue behind a running job of its
        // own; tenant B then submits one job, which must run within the next
        // two jobs, not after all of A's.
        let lanes = BlockingLanes::new(limits(1, 1, 8, 16));
        let gate = Gate::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        let a = tenant(1);
        let b = tenant(2);
        let record = |who: &'static str, n: usize| {
            let order = Arc::clone(&order);
            move || order.lock().unwrap().push((who, n))
        };

        let first = {
            let gate = Arc::clone(&gate);
            let record = record("a", 0);
            let (started_tx, started_rx) = mpsc::channel();
            let handle = lanes
                .spawn(a, Spawn::new(), move || {
                    started_tx.send(()).unwrap();
                    gate.wait();
                    record();
                })
                .unwrap();
            started_rx.recv_timeout(PATIENCE).unwrap();
            handle
        };
        let mut handles = vec![first];
        for n in 1..=8 {
            handles.push(lanes.spawn(a, Spawn::new(), record("a", n)).unwrap());
        }
        assert!(
            lanes.spawn(a, Spawn::new(), || ()).is_err(),
            "A's queue is full"
        );
        handles.push(lanes.spawn(b, Spawn::new(), record("b", 0)).unwrap());
        gate.open();
        for handle in handles {
            block_on(handle).unwrap();
        }
        let order = order.lock().unwrap();
        assert_eq!(order.len(), 10);
        assert_eq!(order[0], ("a", 0));
        let b_at = order.iter().position(|&(who, _)| who == "b").unwrap();
        assert!(b_at <= 2, "B's job ran at {b_at}: {order:?}");
        // A's own jobs keep their order.
        let a_jobs: Vec<usize> = order.iter().filter(|e| e.0 == "a").map(|e| e.1).collect();
        assert_eq!(a_jobs, (0..=8).collect::<Vec<_>>());
    }

    #[test]
    fn destructors_shutdown_cancels_queued_jobs_once() {
        let lanes = BlockingLanes::new(limits(1, 1, 8, 8));
        let gate = Gate::new();
        let blocker = occupy(&lanes, &gate);
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let queued: Vec<_> = (0..5u32)
            .map(|n| {
                let guard = CountDrop(Arc::clone(&drops));
                let ran = Arc::clone(&ran);
                lanes
                    .spawn(tenant(n % 2), Spawn::new(), move || {
                        let _guard = guard;
                        ran.fetch_add(1, Ordering::SeqCst);
                    })
                    .unwrap()
            })
            .collect();
        assert_eq!(lanes.n_queued(), 5);

        // The blocker holds the only thread past the deadline: the queued
        // jobs are cancelled and the thread is detached.
        let joined = lanes.shutdown(Instant::now() + Duration::from_millis(20));
        assert!(!joined, "the busy thread cannot be joined");
        assert_eq!(drops.load(Ordering::SeqCst), 5, "each closure dropped once");
        assert_eq!(lanes.n_queued(), 0);
        for handle in queued {
            assert!(block_on(handle).unwrap_err().is_cancelled());
        }

        // The running job is not interrupted; its thread exits after it.
        gate.open();
        assert!(block_on(blocker).unwrap());
        assert!(eventually(|| lanes.n_threads() == 0));
        assert!(lanes.shutdown(Instant::now()), "a second shutdown joins it");
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(drops.load(Ordering::SeqCst), 5);
        assert!(lanes.shared.lock().lanes.is_empty());
    }

    #[test]
    fn shutdown_lets_queued_jobs_finish_before_the_deadline() {
        let lanes = BlockingLanes::new(limits(1, 1, 8, 8));
        let gate = Gate::new();
        let blocker = occupy(&lanes, &gate);
        let queued: Vec<_> = (0..3)
            .map(|n| lanes.spawn(tenant(1), Spawn::new(), move || n).unwrap())
            .collect();
        let opener = {
            let gate = Arc::clone(&gate);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(10));
                gate.open();
            })
        };
        assert!(
            lanes.shutdown(Instant::now() + PATIENCE),
            "all work done, thread joined"
        );
        opener.join().unwrap();
        assert!(block_on(blocker).unwrap());
        for (n, handle) in queued.into_iter().enumerate() {
            assert_eq!(block_on(handle).unwrap(), n);
        }
        assert_eq!(lanes.n_threads(), 0);
    }

    #[test]
    fn destructors_drop_cancels_queued_jobs_once() {
        let lanes = BlockingLanes::new(limits(1, 1, 8, 8));
        let gate = Gate::new();
        let blocker = occupy(&lanes, &gate);
        let drops = Arc::new(AtomicUsize::new(0));
        let queued: Vec<_> = (0..4)
            .map(|_| {
                let guard = CountDrop(Arc::clone(&drops));
                lanes
                    .spawn(tenant(1), Spawn::new(), move || drop(guard))
                    .unwrap()
            })
            .collect();
        drop(lanes);
        assert_eq!(drops.load(Ordering::SeqCst), 4);
        for handle in queued {
            assert!(block_on(handle).unwrap_err().is_cancelled());
        }
        gate.open();
        assert!(block_on(blocker).unwrap(), "the running job went on");
        assert_eq!(drops.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn destructors_drop_racing_a_hand_off() {
        // A job handed to a new thread just as the lanes are dropped either
        // runs or is cancelled; either way its closure is dropped exactly
        // once and its handle resolves.
        for _ in 0..50 {
            let lanes = BlockingLanes::new(limits(2, 2, 2, 2));
            let drops = Arc::new(AtomicUsize::new(0));
            let guard = CountDrop(Arc::clone(&drops));
            let handle = lanes
                .spawn(tenant(1), Spawn::new(), move || drop(guard))
                .unwrap();
            drop(lanes);
            if let Err(err) = block_on(handle) {
                assert!(err.is_cancelled());
            }
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        }
    }

    #[test]
    fn keep_alive_too_long_for_an_instant() {
        // `Duration::MAX` cannot be added to an instant; the thread then
        // waits without a timeout, and shutdown still wakes it.
        let mut limits = limits(1, 1, 1, 1);
        limits.keep_alive = Duration::MAX;
        let lanes = BlockingLanes::new(limits);
        let job = lanes.spawn(tenant(1), Spawn::new(), || 3).unwrap();
        assert_eq!(block_on(job).unwrap(), 3);
        assert!(lanes.shutdown(Instant::now() + PATIENCE));
        assert_eq!(lanes.n_threads(), 0);
    }

    #[test]
    fn abort_of_a_queued_job_drops_it_unrun() {
        let lanes = BlockingLanes::new(limits(1, 1, 8, 8));
        let gate = Gate::new();
        let blocker = occupy(&lanes, &gate);
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let guard = CountDrop(Arc::clone(&drops));
        let ran_too = Arc::clone(&ran);
        let job = lanes
            .spawn(tenant(1), Spawn::new(), move || {
                let _guard = guard;
                ran_too.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        job.abort();
        let after = lanes.spawn(tenant(1), Spawn::new(), || 7).unwrap();
        gate.open();
        assert!(block_on(blocker).unwrap());
        assert!(block_on(job).unwrap_err().is_cancelled());
        assert_eq!(block_on(after).unwrap(), 7, "the lane goes on");
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(eventually(|| lanes.n_running(tenant(1)) == 0));
    }

    #[test]
    fn idle_threads_exit_after_keep_alive() {
        let mut limits = limits(3, 3, 4, 4);
        limits.keep_alive = Duration::from_millis(50);
        let lanes = BlockingLanes::new(limits);
        let gate = Gate::new();
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let gate = Arc::clone(&gate);
                lanes
                    .spawn(tenant(1), Spawn::new(), move || gate.wait())
                    .unwrap()
            })
            .collect();
        assert_eq!(lanes.n_threads(), 3);
        gate.open();
        for handle in handles {
            assert!(block_on(handle).unwrap());
        }
        assert!(eventually(|| lanes.n_threads() == 0), "idle threads exited");
        // The lanes start threads again on demand.
        let again = lanes.spawn(tenant(1), Spawn::new(), || 5).unwrap();
        assert_eq!(block_on(again).unwrap(), 5);
        assert!(lanes.shutdown(Instant::now() + PATIENCE));
    }

    #[test]
    fn a_wake_after_shutdown_drops_the_runnable() {
        let lanes = BlockingLanes::new(limits(1, 1, 1, 1));
        let weak = Arc::downgrade(&lanes.shared);
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = CountDrop(Arc::clone(&drops));
        let (runnable, handle) = new_task(
            Spawn::new(),
            async move { drop(guard) },
            move |runnable: Runnable, _info: ScheduleInfo| schedule(&weak, runnable),
            (),
        );
        assert!(lanes.shutdown(Instant::now()));
        // Scheduling after shutdown goes to `schedule`, which must drop it.
        runnable.schedule();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(lanes.n_queued(), 0);
        assert!(block_on(handle).unwrap_err().is_cancelled());

        // And after the lanes are gone altogether.
        let lanes = BlockingLanes::new(limits(1, 1, 1, 1));
        let weak = Arc::downgrade(&lanes.shared);
        let (runnable, handle) = new_task(
            Spawn::new(),
            async {},
            move |runnable: Runnable, _info: ScheduleInfo| schedule(&weak, runnable),
            (),
        );
        drop(lanes);
        runnable.schedule();
        assert!(block_on(handle).unwrap_err().is_cancelled());
    }
}
