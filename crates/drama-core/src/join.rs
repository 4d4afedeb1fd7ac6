//! Awaiting a task's output: [`JoinHandle`] and [`JoinError`].

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use crate::budget;
use crate::meta::{Header, TaskId};

type RawTask<T> = async_task::Task<Result<T, JoinError>, Header>;
type RawFallible<T> = async_task::FallibleTask<Result<T, JoinError>, Header>;

/// An owned permission to await a task's output, and to abort the task.
///
/// A `JoinHandle<T>` is a future that resolves to `Ok(T)` when the task
/// completes, or to a [`JoinError`] when it panicked, was cancelled
/// (aborted, or dropped by an executor that shut down), or expired (its
/// [deadline](crate::Spawn::deadline) passed before it started).
///
/// **Dropping the handle detaches the task**: it keeps running to completion
/// and its output is dropped. This is tokio's convention; use
/// [`abort`](Self::abort) to stop a task.
///
/// ```
/// use drama_core::LocalExecutor;
///
/// let ex = LocalExecutor::new();
/// let handle = ex.spawn(async { 1 + 1 })?;
/// let id = handle.id();
/// assert_eq!(ex.block_on(handle)?, 2);
/// # let _ = id;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a JoinHandle detaches the task; await it, or drop it on purpose"]
pub struct JoinHandle<T> {
    task: ManuallyDrop<RawFallible<T>>,
    /// The task's header, for `abort` and `id`. Async-task's `FallibleTask`
    /// (which, unlike `Task`, reports a closed task as `None` instead of
    /// panicking) has no metadata accessor, so we keep the pointer here.
    header: NonNull<Header>,
    /// Wakes the task so that an abort is acted on promptly even when the
    /// task is idle.
    waker: Waker,
    /// Set once the output has been returned; polling again is a bug.
    done: bool,
}

// SAFETY: `header` points at a `Header` (which is `Sync`) inside the task's
// allocation, kept alive by `task`; the other fields are `Send` when `T` is.
// Sending the handle therefore sends an `&Header` and a `Task<T>`, which is
// sound for `T: Send`.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: through `&JoinHandle` one can only read the header (`id`) and set
// its atomic abort flag, or ask whether the task finished; none of that
// touches `T`.
unsafe impl<T> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: RawTask<T>, waker: Waker) -> JoinHandle<T> {
        let header = NonNull::from(task.metadata());
        JoinHandle {
            task: ManuallyDrop::new(task.fallible()),
            header,
            waker,
            done: false,
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the header lives in the task's allocation, which `self.task`
        // keeps alive until `self` is dropped; it is only mutated through its
        // atomics.
        unsafe { self.header.as_ref() }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.header().meta.id()
    }

    /// Asks the task to stop. Its future is dropped, on the executor, the
    /// next time the task is scheduled, without being polled again; the
    /// handle then resolves to `Err(JoinError)` with
    /// [`is_cancelled`](JoinError::is_cancelled). A task that is running
    /// right now finishes its current poll first. Aborting a task that has
    /// already finished does nothing: the handle still returns its output
    /// (or its error: a task that expired stays expired). A task aborted
    /// before its first poll is cancelled even when its deadline has passed
    /// too: the abort is the caller's own word, and an expiry counted
    /// against the tenant would blame the scheduler for it.
    pub fn abort(&self) {
        self.header().abort();
        // Idle tasks must be scheduled to see the flag; a task that is
        // running or queued is marked to run again, which is harmless.
        self.waker.wake_by_ref();
    }

    /// Whether the task has finished (completed, panicked, been cancelled or
    /// expired). The answer may be stale as soon as it is returned.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.done, "JoinHandle polled after it returned");
        // Awaiting a handle is one of drama's own yield points: a task that
        // joins many finished tasks in a row gives way after its budget.
        let progress = std::task::ready!(budget::poll_proceed(cx));
        let output = std::task::ready!(Pin::new(&mut *self.task).poll(cx));
        progress.made_progress();
        self.done = true;
        Poll::Ready(match output {
            Some(result) => result,
            // async-task closed the task without running it to the end: an
            // executor dropped its runnable while shutting down.
            None => Err(JoinError::cancelled(self.id())),
        })
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: `task` is taken exactly once, here, and `self` is not used
        // afterwards.
        let task = unsafe { ManuallyDrop::take(&mut self.task) };
        // Dropping an async-task handle would cancel the task; ours detaches.
        task.detach();
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why a task did not return its output: it was cancelled, it panicked, or
/// it expired (its deadline passed before its first poll, so it never ran).
/// Exactly one of [`is_cancelled`](Self::is_cancelled),
/// [`is_panic`](Self::is_panic) and [`is_expired`](Self::is_expired) is
/// true.
///
/// ```
/// use drama_core::LocalExecutor;
///
/// let ex = LocalExecutor::new();
/// let handle = ex.spawn(async { panic!("boom") })?;
/// let err = ex.block_on(handle).unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JoinError {
    id: TaskId,
    repr: Repr,
}

enum Repr {
    Cancelled,
    /// The deadline passed before the first poll; the future was dropped
    /// unpolled.
    Expired,
    /// The payload sits behind a mutex only so that `JoinError` is `Sync`,
    /// as errors are expected to be; it is locked on cold paths alone.
    Panic(Mutex<Box<dyn Any + Send + 'static>>),
}

impl JoinError {
    pub(crate) fn cancelled(id: TaskId) -> JoinError {
        JoinError {
            id,
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn expired(id: TaskId) -> JoinError {
        JoinError {
            id,
            repr: Repr::Expired,
        }
    }

    pub(crate) fn panic(id: TaskId, payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            id,
            repr: Repr::Panic(Mutex::new(payload)),
        }
    }

    /// The id of the task that failed.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Whether the task was cancelled (aborted, or dropped at shutdown).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// Whether the task expired: its [deadline](crate::Spawn::deadline) had
    /// passed when it was due to be polled for the first time, so it was
    /// never polled and its future was dropped. Not a cancellation: nobody
    /// asked for it, the scheduler was late (or the deadline was in the
    /// past already).
    ///
    /// ```
    /// use std::time::Instant;
    /// use drama_core::{LocalExecutor, Spawn};
    ///
    /// let ex = LocalExecutor::new();
    /// let handle = ex.spawn_with(Spawn::new().deadline(Instant::now()), async { 1 })?;
    /// let err = ex.block_on(handle).unwrap_err();
    /// assert!(err.is_expired() && !err.is_cancelled() && !err.is_panic());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_expired(&self) -> bool {
        matches!(self.repr, Repr::Expired)
    }

    /// The panic's payload, to inspect it or to resume the panic with
    /// [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// When the task was cancelled or expired rather than panicked; see
    /// [`try_into_panic`](Self::try_into_panic).
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("JoinError::into_panic called on a task that did not panic")
    }

    /// The panic's payload, or the error back when the task was cancelled
    /// or expired.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(payload) => Ok(payload.into_inner().unwrap_or_else(|e| e.into_inner())),
            Repr::Cancelled | Repr::Expired => Err(self),
        }
    }
}

/// The text of a panic payload, when it is a string (as `panic!` makes it).
fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "task {} was cancelled", self.id),
            Repr::Expired => write!(
                f,
                "task {} expired: its deadline passed before it started",
                self.id
            ),
            Repr::Panic(payload) => {
                let payload = payload.lock().unwrap_or_else(|e| e.into_inner());
                match panic_message(&**payload) {
                    Some(message) => write!(f, "task {} panicked: {message}", self.id),
                    None => write!(f, "task {} panicked", self.id),
                }
            }
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "JoinError::Cancelled({:?})", self.id),
            Repr::Expired => write!(f, "JoinError::Expired({:?})", self.id),
            Repr::Panic(payload) => {
                let payload = payload.lock().unwrap_or_else(|e| e.into_inner());
                match panic_message(&**payload) {
                    Some(message) => write!(f, "JoinError::Panic({:?}, {message:?})", self.id),
                    None => write!(f, "JoinError::Panic({:?}, ..)", self.id),
                }
            }
        }
    }
}

impl std::error::Error for JoinError {}
