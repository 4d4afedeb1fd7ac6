//! Creating tasks and running them: the layer executors build on.
//!
//! A task is an async-task allocation holding a [`Header`] (metadata plus the
//! abort flag) and a [`TaskFuture`], which wraps the user's future and gives
//! it drama's semantics:
//!
//! - a panic in `poll` (or in the future's destructor) is caught and becomes
//!   the task's output, `Err(JoinError::panic)`, so it never unwinds into the
//!   executor's thread;
//! - an aborted task's future is dropped, not polled, by the next poll, which
//!   runs on the executor; the output is `Err(JoinError::cancelled)`;
//! - a task whose [deadline](crate::Spawn::deadline) has passed by its first
//!   poll is not polled either: its future is dropped, the [`TaskGuard`] is
//!   told ([`TaskGuard::on_expired`]), and the output is
//!   `Err(JoinError::expired)`. Only the first poll looks: a task that has
//!   started runs to completion, because cutting it off halfway would leave
//!   half-done work. (An abort before the first poll wins over an expiry.)
//! - the future is dropped exactly once: when it completes, panics, is
//!   aborted, or when async-task closes the task (its `Runnable` was dropped
//!   by a shutting-down executor), whichever comes first;
//! - while it is polled, the task is [`current`](crate::current) and has a
//!   fresh cooperative budget.

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use crate::budget;
use crate::join::{JoinError, JoinHandle};
use crate::meta::{EnterTask, Header, Spawn, TaskMeta};

/// A task that is ready to be polled: what a scheduler queues and runs.
///
/// A `Runnable` exists only while its task is scheduled; [`run`](Self::run)
/// consumes it, and the task's schedule function receives a new one the next
/// time the task is woken. Dropping a `Runnable` without running it closes
/// the task: its future is dropped on the spot and its handle resolves to a
/// cancellation. Executors do that when they shut down.
pub struct Runnable {
    raw: async_task::Runnable<Header>,
}

impl Runnable {
    /// The task's metadata, for choosing its queue and whom to charge.
    pub fn meta(&self) -> &TaskMeta {
        &self.raw.metadata().meta
    }

    /// Polls the task once, on this thread.
    ///
    /// Returns `true` when the task woke itself while running (it yielded),
    /// in which case its schedule function has been handed a new `Runnable`
    /// by the time this returns.
    pub fn run(self) -> bool {
        self.raw.run()
    }

    /// Hands the runnable to the task's schedule function, as if the task had
    /// been woken. Executors call this once on the `Runnable` that
    /// [`new_task`] returns.
    pub fn schedule(self) {
        self.raw.schedule()
    }

    /// A waker for this task. It keeps the task's allocation alive, not the
    /// task itself: waking a finished task does nothing.
    pub fn waker(&self) -> Waker {
        self.raw.waker()
    }
}

impl fmt::Debug for Runnable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Runnable").field(self.meta()).finish()
    }
}

/// Why a task is being scheduled, passed to the schedule function.
#[derive(Clone, Copy, Debug)]
pub struct ScheduleInfo {
    woken_while_running: bool,
}

impl ScheduleInfo {
    /// `true` when the task woke itself while it was being polled (it
    /// yielded). Schedulers put such a task at the back of their queue rather
    /// than in a run-next slot, or a yielding task would never give way.
    pub fn woken_while_running(self) -> bool {
        self.woken_while_running
    }
}

/// What an executor keeps inside each task: told when the task's future
/// waits and when the task expires, and dropped right after the future is
/// dropped.
///
/// Executors use it to find idle tasks at shutdown. A task that is queued is
/// in the executor's queues; one that is running is on a worker; only a
/// task that returned `Pending` and is waiting for a wake-up sits nowhere.
/// So an executor can register a task lazily, in
/// [`on_pending`](TaskGuard::on_pending), and a task that finishes in its
/// first poll (most short tasks) never touches the registry at all.
pub trait TaskGuard: Send + 'static {
    /// Called on the polling thread every time the task's future returns
    /// `Pending`, with the task's waker, before the poll returns. (The
    /// default does nothing.)
    fn on_pending(&mut self, waker: &Waker) {
        let _ = waker;
    }

    /// Called on the polling thread, at most once, when the task expired:
    /// its [deadline](crate::Spawn::deadline) had passed at its first poll,
    /// so its future was dropped unpolled (it has been dropped by the time
    /// this is called) and its handle will say
    /// [`is_expired`](crate::JoinError::is_expired). `meta` is the task's,
    /// so that an executor can count expiries per tenant and class without
    /// keeping them in the guard. The guard is dropped right after. (The
    /// default does nothing.)
    fn on_expired(&mut self, meta: &TaskMeta) {
        let _ = meta;
    }

    /// Called on the polling thread, at most once, when the task's future
    /// ended by itself: it returned its output (`panicked` false), or it
    /// panicked (`panicked` true; a panic in the destructor of a future
    /// that returned counts too). Not called for a task aborted, cancelled
    /// or expired: a guard that heard nothing before it is dropped belongs
    /// to a task that did not run to its end. (The default does nothing.)
    fn on_output(&mut self, panicked: bool) {
        let _ = panicked;
    }
}

/// No guard: nothing to tell anyone.
impl TaskGuard for () {}

/// Creates a task, not yet scheduled: the building block of executors.
///
/// `spec` is resolved now (unset fields inherit from the current task).
/// `schedule` receives the task's [`Runnable`] every time the task is woken;
/// it should queue it and return quickly, and must not run it. `guard` (see
/// [`TaskGuard`]) hears of every `Pending` and is dropped right after the
/// task's future is dropped, on that thread, however the task ended;
/// executors use it to register and unregister the task.
///
/// The returned [`Runnable`] must be scheduled (or run) once to start the
/// task.
///
/// ```
/// use std::sync::mpsc;
/// use drama_core::{new_task, Spawn};
///
/// let (queue, ready) = mpsc::channel();
/// let (runnable, handle) = new_task(Spawn::new(), async { 6 * 7 }, move |r, _info| {
///     queue.send(r).unwrap();
/// }, ());
/// runnable.schedule();
/// ready.recv().unwrap().run();
/// assert!(handle.is_finished());
/// ```
pub fn new_task<F, S, G>(
    spec: Spawn,
    future: F,
    schedule: S,
    guard: G,
) -> (Runnable, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Fn(Runnable, ScheduleInfo) + Send + Sync + 'static,
    G: TaskGuard,
{
    let header = Header::new(spec.resolve());
    let schedule = move |raw, info: async_task::ScheduleInfo| {
        schedule(
            Runnable { raw },
            ScheduleInfo {
                woken_while_running: info.woken_while_running,
            },
        )
    };
    let (raw, task) = async_task::Builder::new().metadata(header).spawn(
        move |header: &Header| TaskFuture {
            header: HeaderRef(NonNull::from(header)),
            state: State::Unpolled,
            future: ManuallyDrop::new(future),
            guard,
        },
        async_task::WithInfo(schedule),
    );
    let handle = JoinHandle::new(task, raw.waker());
    (Runnable { raw }, handle)
}

/// Whether `TaskFuture::future` still holds a live value, and whether it
/// has been polled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Live and never polled: the next poll is the first, which checks the
    /// deadline.
    Unpolled,
    /// Live and polled at least once.
    Started,
    /// The inner future has been dropped (or is being dropped right now).
    Dropped,
}

/// A pointer to the task's own header, which lives in the same async-task
/// allocation as the `TaskFuture` holding it. A field of its own (rather
/// than a method of `TaskFuture`) so that the header can be read while
/// another field (the guard) is borrowed mutably.
struct HeaderRef(NonNull<Header>);

impl HeaderRef {
    fn get(&self) -> &Header {
        // SAFETY: a `HeaderRef` is only made by `new_task`, for the future
        // async-task stores in the same allocation as the header (our
        // metadata), and async-task frees that allocation only after the
        // future, and so this field, has been dropped; the header is never
        // moved or mutated through anything but its atomics. So the pointer
        // is valid for as long as `self` exists.
        unsafe { self.0.as_ref() }
    }
}

/// The future async-task runs: the user's future plus drama's semantics.
struct TaskFuture<F, G> {
    /// This task's header, inside the same async-task allocation.
    header: HeaderRef,
    /// Set to `Dropped` *before* `future` is dropped, so a destructor that
    /// panics can never cause a second drop.
    state: State,
    /// The user's future; dropped by hand, in place, exactly once.
    future: ManuallyDrop<F>,
    /// Dropped after `future` (field order), to tell the executor; told of
    /// every `Pending`. Not structurally pinned.
    guard: G,
}

// SAFETY: the only field that is not `Send` by itself is `header`, a pointer
// to a `Header`, which is `Sync` (immutable metadata, the deadline included,
// and an atomic flag).
// Sharing it across threads is therefore as safe as sending `&Header`.
unsafe impl<F: Send, G: Send> Send for TaskFuture<F, G> {}

impl<F, G> TaskFuture<F, G> {
    fn header(&self) -> &Header {
        self.header.get()
    }

    /// Drops the inner future, in place, catching a panic of its destructor.
    /// Returns the panic's payload, if any.
    fn drop_future(self: Pin<&mut Self>) -> Option<Box<dyn std::any::Any + Send>> {
        // SAFETY: we never move out of the pinned `self`; we only flip `state`
        // (which is `Unpin` data) and drop `future` in place.
        let this = unsafe { self.get_unchecked_mut() };
        if this.state == State::Dropped {
            return None;
        }
        this.state = State::Dropped;
        // SAFETY: `state` was not `Dropped`, so `future` holds a live value
        // that has not been dropped; we set `state` to `Dropped` first, so
        // even if the destructor panics no path drops it again. Dropping in
        // place keeps the pinning promise.
        catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut this.future)
        }))
        .err()
    }
}

impl<F, G: TaskGuard> TaskFuture<F, G> {
    /// Marks the task as started, and returns `true` when this was its first
    /// poll and its deadline has passed (the task should expire instead).
    ///
    /// The cost for a task without a deadline, on its first poll: a load
    /// and a comparison of its `deadline_ns`, in the header it just read its
    /// id and abort flag from; on every later poll, the comparison of
    /// `state`. No clock read, no atomic.
    #[inline]
    fn start(self: Pin<&mut Self>) -> bool {
        if self.state != State::Unpolled {
            return false;
        }
        // SAFETY: only `state`, plain data that is not structurally pinned,
        // is written; the pinned `future` is neither moved nor touched.
        let this = unsafe { self.get_unchecked_mut() };
        this.state = State::Started;
        this.header().meta.deadline_passed()
    }

    /// Drops the inner future of a task whose deadline passed before its
    /// first poll, tells the guard, and returns the task's error.
    #[cold]
    fn expire(mut self: Pin<&mut Self>) -> JoinError {
        // A panic while dropping an expired future is dropped with it, as
        // for an aborted one: the task expired, and the handle says so.
        let _ = self.as_mut().drop_future();
        // SAFETY: `guard` is not structurally pinned (nothing relies on its
        // address) and `header` is only read, so plain references to them
        // are fine; the pinned `future` (already dropped) is not touched.
        let this = unsafe { self.get_unchecked_mut() };
        let meta = &this.header.get().meta;
        this.guard.on_expired(meta);
        JoinError::expired(meta.id())
    }
}

impl<F: Future, G: TaskGuard> Future for TaskFuture<F, G> {
    type Output = Result<F::Output, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.header().meta.id();
        // async-task never polls a future again once it returned Ready, so
        // the future is live here.
        debug_assert!(self.state != State::Dropped);
        if self.header().is_aborted() {
            // A panic while dropping an aborted future is dropped with it: the
            // task was cancelled, and the handle says so.
            let _ = self.as_mut().drop_future();
            return Poll::Ready(Err(JoinError::cancelled(id)));
        }
        if self.as_mut().start() {
            return Poll::Ready(Err(self.expire()));
        }

        let polled = {
            // The task is current, with a fresh budget, for the span of its poll.
            // SAFETY: the header lives in the task's allocation, which this
            // poll keeps alive and in place (the task is pinned), and the
            // guard is dropped at the end of this block, inside the poll.
            let _task = unsafe { EnterTask::new(&self.header().meta) };
            let _budget = budget::Budget::enter(budget::DEFAULT_BUDGET);
            // SAFETY: `future` is structurally pinned: it is never moved while
            // `self` is pinned (it is dropped in place by `drop_future`), and
            // `state` is `Started`, so it holds a live value.
            let future = unsafe { self.as_mut().map_unchecked_mut(|this| &mut *this.future) };
            catch_unwind(AssertUnwindSafe(|| future.poll(cx)))
        };
        match polled {
            Ok(Poll::Pending) => {
                // SAFETY: `guard` is not structurally pinned (nothing relies
                // on its address), so a plain `&mut` to it is fine; the
                // pinned `future` is not touched.
                let guard = unsafe { &mut self.as_mut().get_unchecked_mut().guard };
                guard.on_pending(cx.waker());
                Poll::Pending
            }
            Ok(Poll::Ready(output)) => {
                let dropped = self.as_mut().drop_future();
                // SAFETY: as for `on_pending` above.
                let guard = unsafe { &mut self.as_mut().get_unchecked_mut().guard };
                guard.on_output(dropped.is_some());
                match dropped {
                    None => Poll::Ready(Ok(output)),
                    // The future finished but its destructor panicked; the
                    // panic is what the caller needs to know about.
                    Some(payload) => Poll::Ready(Err(JoinError::panic(id, payload))),
                }
            }
            Err(payload) => {
                // The payload of a second panic, in the destructor, is
                // dropped: the first one explains the failure.
                let _ = self.as_mut().drop_future();
                // SAFETY: as for `on_pending` above.
                let guard = unsafe { &mut self.as_mut().get_unchecked_mut().guard };
                guard.on_output(true);
                Poll::Ready(Err(JoinError::panic(id, payload)))
            }
        }
    }
}

impl<F, G> Drop for TaskFuture<F, G> {
    fn drop(&mut self) {
        // Reached when async-task closes a task that had not finished (its
        // Runnable was dropped) and after every normal ending, where the
        // inner future is already gone. A panic from the destructor here has
        // no handle left to go to, and must not unwind into whoever dropped
        // the task, so it is dropped.
        //
        // SAFETY: `self` is being dropped and will not be used again, so
        // treating it as pinned for `drop_future` (which only drops `future`
        // in place) keeps every pinning promise.
        let _ = unsafe { Pin::new_unchecked(self) }.drop_future();
    }
}
