//! Structured concurrency: [`nursery`].
//!
//! A nursery is a scope for child tasks. The children run as ordinary
//! tasks of the current runtime, charged to the tenant (and in the class)
//! of the task that opened the nursery. The nursery's future completes only
//! when every child has finished or been cancelled, so no child outlives
//! it. The first error (from the body or a child) cancels the remaining
//! children and is what the nursery returns; dropping the nursery's future
//! cancels every child too.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use drama_core::{JoinHandle, RejectReason, Rejected, Spawn};
use slab::Slab;

/// Runs `body` with a [`Nursery`] for spawning children, then waits for
/// every child.
///
/// Returns the body's value when the body and every child succeed, or the
/// first error otherwise (after the other children have been cancelled and
/// have finished). Must run inside a runtime (a task or `block_on`); outside
/// one, every `spawn` is refused with `RejectReason::NoRuntime`.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let rt = drama::Runtime::builder().workers(2).build()?;
/// let done = Arc::new(AtomicUsize::new(0));
/// let result: Result<(), Box<dyn std::error::Error + Send + Sync>> = rt.block_on({
///     let done = done.clone();
///     drama::nursery(|n| async move {
///         for _ in 0..10 {
///             let done = done.clone();
///             n.spawn(async move {
///                 done.fetch_add(1, Ordering::Relaxed);
///                 Ok(())
///             })?;
///         }
///         Ok(())
///     })
/// });
/// assert!(result.is_ok());
/// assert_eq!(done.load(Ordering::Relaxed), 10); // every child finished first
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn nursery<T, E, F, Fut>(body: F) -> Result<T, E>
where
    F: FnOnce(Nursery<E>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Send + 'static,
{
    let spec = match drama_core::current() {
        Some(me) => Spawn::new().tenant(me.tenant()).class(me.class()),
        None => Spawn::new(),
    };
    let scope = Arc::new(Scope {
        spec,
        state: Mutex::new(State {
            children: Slab::new(),
            first_error: None,
            cancelled: false,
            waiter: None,
        }),
    });
    // Dropping the nursery's future (its owner gave up on it) cancels the
    // children; disarmed once they are all done.
    let mut cancel_on_drop = CancelOnDrop(Some(scope.clone()));
    let value = body(Nursery {
        scope: scope.clone(),
    })
    .await;
    if let Err(error) = value {
        scope.fail(error);
        return finish(&scope, &mut cancel_on_drop, None).await;
    }
    finish(&scope, &mut cancel_on_drop, value.ok()).await
}

/// Waits for every child, then returns the first error or the value.
async fn finish<T, E>(
    scope: &Arc<Scope<E>>,
    cancel_on_drop: &mut CancelOnDrop<E>,
    value: Option<T>,
) -> Result<T, E> {
    poll_fn(|cx| {
        let mut state = scope.lock();
        if state.children.is_empty() {
            Poll::Ready(())
        } else {
            state.waiter = Some(cx.waker().clone());
            Poll::Pending
        }
    })
    .await;
    cancel_on_drop.0 = None;
    match scope.lock().first_error.take() {
        Some(error) => Err(error),
        None => Ok(value.expect("the body succeeded when no error was recorded")),
    }
}

/// Spawns the children of a [`nursery`]. Cheap to clone; clones may be
/// moved into children so that they spawn siblings.
pub struct Nursery<E> {
    scope: Arc<Scope<E>>,
}

impl<E> Clone for Nursery<E> {
    fn clone(&self) -> Nursery<E> {
        Nursery {
            scope: self.scope.clone(),
        }
    }
}

impl<E> fmt::Debug for Nursery<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nursery")
            .field("children", &self.scope.lock().children.len())
            .finish()
    }
}

impl<E: Send + 'static> Nursery<E> {
    /// Spawns a child on the current runtime, for the nursery's tenant.
    /// An `Err` from the child cancels its siblings and becomes the
    /// nursery's result (unless an error came first).
    ///
    /// # Errors
    ///
    /// Hands the future back when the runtime refuses it, or with
    /// `RejectReason::ShuttingDown` when the nursery is already cancelling
    /// its children.
    pub fn spawn<Fut>(&self, future: Fut) -> Result<(), Rejected<Fut>>
    where
        Fut: Future<Output = Result<(), E>> + Send + 'static,
    {
        let key = {
            let mut state = self.scope.lock();
            if state.cancelled {
                return Err(Rejected::new(future, RejectReason::ShuttingDown));
            }
            state.children.insert(None)
        };
        let child = Child {
            future,
            done: Some(Done {
                scope: self.scope.clone(),
                key,
            }),
        };
        match crate::spawn_with(self.scope.spec.clone(), child) {
            Ok(handle) => {
                let mut state = self.scope.lock();
                let cancelled = state.cancelled;
                if let Some(entry) = state.children.get_mut(key) {
                    // A sibling failed while we were spawning.
                    if cancelled {
                        handle.abort();
                    }
                    *entry = Some(handle);
                }
                // Else the child finished already and removed its entry;
                // dropping the handle detaches nothing that still runs.
                Ok(())
            }
            Err(rejected) => {
                let reason = rejected.reason();
                // Not spawned: dropping `done` removes the reservation.
                let Child { future, done } = rejected.into_inner();
                drop(done);
                Err(Rejected::new(future, reason))
            }
        }
    }
}

/// What the nursery and its children share.
struct Scope<E> {
    spec: Spawn,
    state: Mutex<State<E>>,
}

struct State<E> {
    /// One entry per child not yet finished; the handle is filled in once
    /// the spawn returns. Bounded by the runtime's task bound.
    children: Slab<Option<JoinHandle<()>>>,
    first_error: Option<E>,
    cancelled: bool,
    /// The nursery's future, waiting for the children.
    waiter: Option<Waker>,
}

impl<E> Scope<E> {
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `error` if it is the first, and cancels every child.
    fn fail(&self, error: E) {
        let mut state = self.lock();
        if state.first_error.is_none() {
            state.first_error = Some(error);
        }
        state.cancelled = true;
        for (_, handle) in state.children.iter() {
            if let Some(handle) = handle {
                handle.abort();
            }
        }
    }

    /// Cancels every child without recording an error.
    fn cancel(&self) {
        let mut state = self.lock();
        state.cancelled = true;
        for (_, handle) in state.children.iter() {
            if let Some(handle) = handle {
                handle.abort();
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A child's future: the user's future, plus the record of its end.
    /// (No `Drop` of its own, so a refused child can be taken apart to hand
    /// the user's future back.)
    struct Child<Fut, E> {
        #[pin]
        future: Fut,
        // Dropped (with the child's future) when the child ends in any
        // way: completion, error, cancellation, panic.
        done: Option<Done<E>>,
    }
}

impl<Fut, E> Future for Child<Fut, E>
where
    Fut: Future<Output = Result<(), E>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        match this.future.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                if let (Err(error), Some(done)) = (result, this.done.as_ref()) {
                    done.scope.fail(error);
                }
                Poll::Ready(())
            }
        }
    }
}

/// Removes a child's entry when the child ends, and wakes the nursery when
/// it was the last.
struct Done<E> {
    scope: Arc<Scope<E>>,
    key: usize,
}

impl<E> Drop for Done<E> {
    fn drop(&mut self) {
        let mut state = self.scope.lock();
        let handle = state.children.try_remove(self.key);
        let waiter = if state.children.is_empty() {
            state.waiter.take()
        } else {
            None
        };
        drop(state);
        // The child's own handle: dropping it detaches a task that is ending.
        drop(handle);
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}

/// Cancels the children if the nursery's future is dropped early.
struct CancelOnDrop<E>(Option<Arc<Scope<E>>>);

impl<E> Drop for CancelOnDrop<E> {
    fn drop(&mut self) {
        if let Some(scope) = self.0.take() {
            scope.cancel();
        }
    }
}
