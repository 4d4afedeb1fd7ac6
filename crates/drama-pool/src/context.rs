//! What a task sees of the worker it runs on: the thread-local
//! [`Context`], and the paths through it: a spawn from inside a task
//! ([`stage`]) and the schedule function's local path
//! ([`schedule_local`]).
//!
//! Both put work in the thread's outbox (`outbox.rs`), never in the slot
//! directly, because the slot may be handed to another thread while this
//! one is stuck in a poll. This thread empties its outbox after each poll;
//! when the slot was taken from it meanwhile, the slot's new owner empties
//! it instead, at every tick, so that the work a stuck poll created runs
//! while it is stuck.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr;

use drama_core::ScheduleInfo;

use crate::task::Task;

use crate::outbox::Outbox;
use crate::pool::Shared;
use crate::sync::Arc;

/// How a task came to be in an outbox: what the worker does with it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Origin {
    /// Spawned by a task on this thread: queued here, or at its tenant's
    /// home (`Worker::queue_spawned`).
    Spawned,
    /// Woken by a task on this thread: the newest wake of a poll runs next
    /// (the hand-off slot), the others are queued here.
    Woken,
    /// Woken while it was running (it yielded): queued behind the others.
    Yielded,
}

/// A task in an outbox, with how it got there.
pub(crate) type Entry = (Task, Origin);

/// What a worker thread's tasks see of it (through a thread-local).
pub(crate) struct Context {
    pub(crate) shared: Arc<Shared>,
    pub(crate) index: usize,
    /// The tasks this thread spawned, woke or saw yield, for the slot's
    /// owner to queue: a wake stays where its waker ran, next to the data
    /// it was woken about. This thread is its only producer.
    pub(crate) outbox: Arc<Outbox<Entry>>,
}

thread_local! {
    /// The context of the worker running on this thread, or null.
    static CONTEXT: Cell<*const Context> = const { Cell::new(ptr::null()) };
}

/// Installs `context` as this thread's worker context until the guard is
/// dropped. The guard borrows the context, so the thread-local never
/// outlives it.
pub(crate) fn enter(context: &Context) -> Entered<'_> {
    CONTEXT.with(|c| c.set(context));
    Entered(PhantomData)
}

/// Clears this thread's worker context when dropped (see [`enter`]).
pub(crate) struct Entered<'a>(PhantomData<&'a Context>);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        // The thread-local may be gone when the thread is exiting; then
        // nothing can read it either.
        let _ = CONTEXT.try_with(|c| c.set(ptr::null()));
    }
}

/// Runs `f` with this thread's worker context if it is a worker of `shared`.
#[inline]
fn with_context<R>(shared: &Shared, f: impl FnOnce(&Context) -> R) -> Option<R> {
    let context = CONTEXT.try_with(Cell::get).unwrap_or(ptr::null());
    if context.is_null() {
        return None;
    }
    // SAFETY: CONTEXT is non-null only while `run` is on this thread's stack
    // with the context alive (it resets the pointer before the context is
    // dropped), and we are on that thread.
    let context = unsafe { &*context };
    ptr::eq(Arc::as_ptr(&context.shared), shared).then(|| f(context))
}

/// The slot index of this thread if it is a worker of `shared`.
#[inline]
pub(crate) fn local_slot(shared: &Shared) -> Option<usize> {
    with_context(shared, |context| context.index)
}

/// Queues a new task on this worker (the caller checked `local_slot`).
#[inline]
pub(crate) fn stage(runnable: Task) {
    let context = CONTEXT.with(Cell::get);
    debug_assert!(!context.is_null());
    // SAFETY: see `with_context`; the caller saw a non-null context on this
    // thread just before, and nothing in between can end `run`.
    let context = unsafe { &*context };
    // SAFETY: the context is this thread's, and this thread is its outbox's
    // only producer.
    unsafe { context.outbox.push((runnable, Origin::Spawned)) };
}

/// The schedule function's local path: a task woken on one of this pool's
/// worker threads stays on it. Returns the runnable when this thread is not
/// one of the pool's workers.
#[inline]
pub(crate) fn schedule_local(
    shared: &Shared,
    runnable: Task,
    info: ScheduleInfo,
) -> Result<(), Task> {
    let mut runnable = Some(runnable);
    let done = with_context(shared, |context| {
        let runnable = runnable.take().expect("taken once");
        // A task woken while it ran yielded: it goes behind the others,
        // never in the hand-off slot, or a yielding task would never give
        // way.
        let origin = if info.woken_while_running() {
            Origin::Yielded
        } else {
            Origin::Woken
        };
        // SAFETY: the context is this thread's, and this thread is its
        // outbox's only producer.
        unsafe { context.outbox.push((runnable, origin)) };
    });
    match done {
        Some(()) => Ok(()),
        None => Err(runnable.expect("not taken when there is no context")),
    }
}

/// The pool of the worker running on this thread, if any.
pub(crate) fn current_shared() -> Option<Arc<Shared>> {
    let context = CONTEXT.try_with(Cell::get).unwrap_or(ptr::null());
    if context.is_null() {
        return None;
    }
    // SAFETY: see `with_context`.
    Some(unsafe { &*context }.shared.clone())
}
