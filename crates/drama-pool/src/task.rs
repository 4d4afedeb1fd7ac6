//! [`Task`]: what the runtime hands its policies to order.

use std::fmt;

use drama_core::{Runnable, TaskId, TaskMeta};

/// A task ready to run, as a [`Policy`](drama_policy::Policy) sees it: the
/// item of `Policy<Task>`, which a custom policy queues, orders and hands
/// back, and may inspect ([`meta`](Self::meta)), but can neither run nor
/// wake. Only the runtime polls a task, on the worker that picked it, so
/// that every poll is timed and charged to its tenant.
///
/// Dropping a `Task` cancels it (its future is dropped and its handle
/// resolves as cancelled), so a policy must hand back every task it was
/// given: from `pick`, `withdraw`, or inside an `Overflow`.
///
/// A zero-cost wrapper of drama-core's `Runnable` (`#[repr(transparent)]`).
///
/// ```
/// # mod drama { pub mod policy { pub use drama_pool::Task; } }
/// use drama::policy::Task;
///
/// // What a policy may look at to order a task.
/// fn label(task: &Task) -> String {
///     let meta = task.meta();
///     format!("{:?} of tenant {:?} in {:?}", task.id(), meta.tenant(), meta.class())
/// }
/// # let _ = label;
/// ```
///
/// What it may not do: run the task (nor reach the runnable inside).
///
/// ```compile_fail
/// # mod drama { pub mod policy { pub use drama_pool::Task; } }
/// fn run_it(task: drama::policy::Task) {
///     task.run();
/// }
/// ```
#[repr(transparent)]
pub struct Task(pub(crate) Runnable);

impl Task {
    /// The task's metadata: its id, tenant, class, spawn instant, deadline
    /// and name, for choosing its queue.
    pub fn meta(&self) -> &TaskMeta {
        self.0.meta()
    }

    /// The task's id, unique for the life of the process.
    pub fn id(&self) -> TaskId {
        self.0.meta().id()
    }

    /// Polls the task once, on this thread; `true` when it woke itself
    /// while running (see drama-core's `Runnable::run`). For the worker
    /// loop alone: a policy orders tasks, the worker runs them.
    #[inline]
    pub(crate) fn run(self) -> bool {
        self.0.run()
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Task").field(self.meta()).finish()
    }
}

// The wrapper costs nothing: a `Task` is a `Runnable`, one pointer.
const _: () = assert!(size_of::<Task>() == size_of::<Runnable>());
const _: () = assert!(size_of::<Task>() == size_of::<usize>());
