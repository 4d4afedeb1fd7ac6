//! drama-core: the task and waker primitives of drama, built on
//! [async-task](https://docs.rs/async-task).
//!
//! Every drama task carries [`TaskMeta`]: a unique [`TaskId`], the
//! [`TenantId`] it is charged to, its [`Class`], its spawn instant, an
//! optional deadline and an optional name. A task reads its own through
//! [`current`], and a task spawned from inside another inherits its tenant
//! and class (never its deadline) unless the [`Spawn`] says otherwise.
//!
//! A task whose deadline ([`Spawn::deadline`], [`Spawn::timeout`]) has
//! passed by its first poll is not polled at all: its future is dropped and
//! its handle reports the expiry. Under overload that turns CPU that would
//! have gone to work nobody waits for any more into capacity for work that
//! can still be useful. A task that has started always runs to completion.
//!
//! Awaiting a [`JoinHandle`] gives the task's output, or a [`JoinError`] when
//! the task panicked (the panic is caught and never unwinds into the
//! executor's thread), was cancelled ([`JoinHandle::abort`], or executor
//! shutdown) or expired ([`JoinError::is_expired`]). Dropping a handle
//! detaches the task. A refused spawn returns the future inside
//! [`Rejected`], so nothing is lost.
//!
//! [`yield_now`] and the cooperative [`budget`] keep one task from holding a
//! thread while it keeps finding ready work.
//!
//! [`LocalExecutor`] is a single-threaded executor: the core of a worker
//! loop, and what tests use. Executors of their own are built from
//! [`new_task`] and [`Runnable`]; their [`TaskGuard`] hears of every task
//! that expired, to count expiries per tenant.
//!
//! ```
//! use std::time::Instant;
//! use drama_core::{current, Class, LocalExecutor, Spawn, TenantId};
//!
//! let ex = LocalExecutor::new();
//! let spawner = ex.spawner();
//! let acme = TenantId::new(1);
//!
//! let parent = ex.spawn_with(Spawn::new().tenant(acme).class(Class::Read), async move {
//!     // A child inherits the tenant and class of the task that spawns it.
//!     let child = spawner.spawn(async { current().map(|me| (me.tenant(), me.class())) })?;
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(child.await?)
//! })?;
//! assert_eq!(ex.block_on(parent)??, Some((acme, Class::Read)));
//!
//! // A panic is delivered to the handle; the executor carries on.
//! let boom = ex.spawn(async { panic!("boom") })?;
//! assert!(ex.block_on(boom).unwrap_err().is_panic());
//!
//! // A task whose deadline passed before it could start never runs.
//! let late = ex.spawn_with(Spawn::new().deadline(Instant::now()), async { unreachable!() })?;
//! assert!(ex.block_on(late).unwrap_err().is_expired());
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```

pub mod budget;
pub mod clock;
mod error;
mod join;
mod local;
mod meta;
mod task;

pub use budget::{YieldNow, yield_now};
pub use drama_policy::{Class, TenantId};
pub use error::{RejectReason, Rejected};
pub use join::{JoinError, JoinHandle};
pub use local::{DEFAULT_MAX_TASKS, LocalExecutor, Spawner};
pub use meta::{Spawn, TaskId, TaskMeta, current};
pub use task::{Runnable, ScheduleInfo, TaskGuard, new_task};
