//! drama-pool: drama's thread pool. N worker threads, each driving its own
//! fair-queuing [`Policy`](drama_policy::Policy) with no lock on its
//! pick/charge path; a work balancer instead of work stealing; parking;
//! replacement of workers stuck in blocking code; bounded per-tenant
//! blocking lanes.
//!
//! This crate is the engine, and holds the runtime's API: [`Runtime`] (which
//! owns the threads), [`Handle`] (the methods, which `Runtime` derefs to),
//! [`Builder`], and [`Task`], what a custom policy orders. Most users want
//! the `drama` crate, which re-exports them next to drama-core's task API and
//! adds structured concurrency (`drama::nursery`) and the free `drama::spawn`.
//!
//! ```
//! use drama_pool::Runtime;
//! use drama_core::{Class, Spawn};
//!
//! let rt = Runtime::builder().workers(2).build()?;
//! let acme = rt.tenant("acme")?;
//! let handle = rt.spawn_with(Spawn::new().tenant(acme).class(Class::Read), async { 6 * 7 })?;
//! assert_eq!(rt.block_on(handle)?, 42);
//! rt.shutdown_timeout(std::time::Duration::from_secs(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! **Per-worker policies.** Every worker slot owns a policy instance (drama's
//! `Drr` unless the builder says otherwise). Picking, charging and queueing
//! are plain method calls on the worker's own thread: no lock, no atomic.
//! Each poll is timed on a cheap clock (`drama_core::clock`, the TSC where it
//! is invariant) and its cost is charged to the task's tenant and class.
//!
//! **Inboxes.** Work reaches a worker from other threads through its bounded
//! lock-free inbox: spawns from outside the pool, wakes from other threads,
//! work moved by the balancer. Tasks spawned or woken *on* a worker stay on
//! it: they go into the thread's outbox, which the worker moves into its
//! policy after each poll, and which a replacement thread empties instead
//! when the poll is stuck (so a stuck task's children still run).
//!
//! **The hand-off slot.** A task woken by the task running on the same
//! worker goes into a one-task slot and runs next, skipping the queue (the
//! message-passing fast path: a request and its reply run back to back, on
//! warm caches). At most three slot tasks run in a row before the policy is
//! asked again, and each is charged to its tenant like any poll, so the slot
//! cannot be used to jump the fair queue for long.
//!
//! **Balancing, not stealing.** Workers never take tasks from each other's
//! queues. A worker that runs dry spins briefly, then sets its bit in the
//! pool's idle mask and parks. A worker with a backlog looks at the mask on
//! every tick (one relaxed load); when it sees an idle worker it claims it
//! (clears its bit) and hands it half of every (tenant, class) it holds,
//! taken out of its own policy with `Policy::withdraw`. Spawns and wakes
//! from outside go to an idle worker if there is one, else to the less
//! loaded of two random workers (power of two choices). Between busy
//! workers, the monitor thread runs a balancing *plan* (`plan.rs`, pure)
//! every couple of milliseconds: each group's share of the pool by
//! water-filling over the weights, each task's entitlement, moves that even
//! out the workers' weighted load (and spread a tenant's classes), and
//! per-worker weights that make each worker's DRR give every group its share
//! of the pool. See `plan.rs` for the model and its limits.
//!
//! **Parking.** `idle.rs` (the idle mask, one wake at a time, the
//! monitor's sleep) on `park.rs` (a store-fence-load protocol that cannot
//! lose a wake-up); an idle pool's threads all sleep (the monitor too).
//!
//! **Stuck workers.** A monitor thread samples each slot's poll word; when
//! one poll has run longer than the stuck threshold, a fresh thread takes
//! the slot over (its policy, inbox and parking spot) and runs the rest of
//! its tasks, while the stuck thread retires once its poll returns. The
//! number of threads is bounded by `max_threads`. See `handover.rs`.
//!
//! **Blocking lanes.** [`Handle::spawn_blocking`] runs closures on threads
//! bounded per tenant and in total, with bounded per-tenant queues served
//! round robin; a refusal hands the closure back.
//!
//! **Shutdown.** [`Runtime::shutdown_timeout`] refuses new spawns, lets the
//! queued and running work go on until the timeout, then cancels the rest:
//! every task's future is dropped exactly once and every join handle
//! resolves. Dropping the runtime does the same with a zero timeout.

// The loom build compiles only the modules its models drive, and of those
// the parts the rest of the pool uses go unused there.
#![cfg_attr(loom, allow(dead_code))]

#[cfg(not(loom))]
mod api;
#[cfg(not(loom))]
mod balance;
#[cfg(not(loom))]
mod blocking;
#[cfg(not(loom))]
mod builder;
#[cfg(not(loom))]
mod context;
#[cfg(not(loom))]
mod core;
#[cfg(not(loom))]
mod delays;
#[cfg(not(loom))]
mod gate;
mod handover;
mod idle;
mod inbox;
mod lifecycle;
#[cfg(all(test, loom))]
mod loom;
#[cfg(not(loom))]
mod monitor;
mod outbox;
mod park;
#[cfg(not(loom))]
mod placement;
#[cfg(not(loom))]
mod plan;
#[cfg(not(loom))]
mod pool;
mod registry;
#[cfg(not(loom))]
mod run_delay;
#[cfg(not(loom))]
mod shutdown;
#[cfg(not(loom))]
mod snapshot;
#[cfg(all(feature = "status", not(loom)))]
mod status;
mod sync;
#[cfg(not(loom))]
mod task;
#[cfg(not(loom))]
mod tenants;
#[cfg(not(loom))]
mod turns;
#[cfg(not(loom))]
mod waiters;
#[cfg(not(loom))]
mod weights;
#[cfg(not(loom))]
mod worker;

#[cfg(not(loom))]
pub use api::{Handle, IoGuard, LoadReport, Permit, Runtime};
#[cfg(not(loom))]
pub use builder::{BuildError, BuildErrorKind, Builder};
/// The scheduler's view (`Handle::snapshot`): drama-metrics' types.
#[cfg(not(loom))]
pub use drama_metrics::Snapshot;
#[cfg(not(loom))]
pub use pool::MAX_WORKERS;
#[cfg(not(loom))]
pub use task::Task;
#[cfg(not(loom))]
pub use tenants::{MAX_TENANT_NAME_LEN, TenantError, TenantErrorKind};
#[cfg(not(loom))]
pub use waiters::{Admit, DEFAULT_ADMIT_PATIENCE};
