//! drama: an async task scheduler for services that serve many tenants and
//! will sometimes be overloaded.
//!
//! A [`Runtime`] runs tasks on a pool of worker threads. Every task belongs
//! to a tenant ([`TenantId`], interned by name with [`Handle::tenant`]) and
//! a [`Class`]; each poll is timed and charged to its tenant, and the
//! workers share CPU between tenants by deficit round robin with weights
//! ([`Handle::set_weight`]), classes weakly prioritized
//! `Write > Compute > Read > Accept`. Every queue is bounded: a spawn the
//! runtime cannot take comes back in a [`Rejected`], future included. A
//! task given a deadline ([`Spawn::deadline`], or [`Spawn::timeout`] from
//! its spawn) that has passed before the task first runs is not run at
//! all: its future is dropped and its handle resolves to a [`JoinError`]
//! that [`is_expired`](JoinError::is_expired), so that under overload the
//! workers spend no time on requests whose callers have given up.
//!
//! ```
//! use drama::{Class, Runtime, Spawn};
//!
//! let rt = Runtime::builder().workers(2).build()?;
//! let acme = rt.tenant("acme")?;
//! let globex = rt.tenant("globex")?;
//! rt.set_weight(acme, 200)?; // twice globex's share when both are busy
//!
//! let get = rt.spawn_with(Spawn::new().tenant(globex).class(Class::Read), async {
//!     // Children inherit the tenant and class of the task that spawns them.
//!     let child = drama::spawn(async { "value" })?;
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(child.await?)
//! })?;
//! assert_eq!(rt.block_on(get)??, "value");
//!
//! // A panic is caught and reported through the handle; workers carry on.
//! let boom = rt.spawn(async { panic!("boom") })?;
//! assert!(rt.block_on(boom).unwrap_err().is_panic());
//!
//! rt.shutdown_timeout(std::time::Duration::from_secs(1));
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! A [`Runtime`] owns the threads and derefs to its [`Handle`], which
//! carries the API (spawning, tenants, admission, the load, the
//! scheduler's view); clone a handle ([`Runtime::handle`]) to spawn from
//! elsewhere, or use the free [`spawn`] inside a task.
//!
//! Structured concurrency comes with [`nursery`]; blocking work goes on
//! bounded per-tenant lanes with [`Handle::spawn_blocking`]; a policy of
//! your own replaces the default DRR through [`Builder::policy`] (see the
//! [`policy`] module: a policy orders [`policy::Task`]s, which it can
//! inspect but not run). [`LocalExecutor`] is the single-threaded executor
//! of drama's task layer, for tests and embedding.
#![forbid(unsafe_code)]

mod nursery;
mod runtime;
pub mod testing;

// The examples of docs/testing.md compile and run as doc tests.
#[cfg(all(doctest, feature = "testing"))]
#[doc = include_str!("../../../docs/testing.md")]
struct TestingGuide;

pub use drama_core::budget;
pub use drama_core::{
    Class, JoinError, JoinHandle, LocalExecutor, RejectReason, Rejected, Spawn, Spawner, TaskId,
    TaskMeta, TenantId, YieldNow, current, yield_now,
};
pub use drama_policy::IoKind;
pub use drama_pool::{
    Admit, BuildError, BuildErrorKind, Builder, DEFAULT_ADMIT_PATIENCE, Handle, IoGuard,
    LoadReport, MAX_TENANT_NAME_LEN, Permit, Runtime, TenantError, TenantErrorKind,
};
pub use nursery::{Nursery, nursery};
pub use runtime::{spawn, spawn_with};

/// Admission control's configuration: the load score's target and window,
/// the class thresholds, the share test, the reserve, IO depth limits
/// (see [`Builder::admission`]).
pub mod admission {
    pub use drama_admission::{AdmissionConfig, ConfigError, ConfigErrorKind};
}

/// The scheduler's view ([`Handle::snapshot`]): the [`Snapshot`](metrics::Snapshot)
/// and its rows, and the [`Exporter`](metrics::Exporter) that sends it to
/// the `metrics` facade (Prometheus and others) with bounded labels.
pub mod metrics {
    pub use drama_metrics::{
        CLASS_NAMES, ClassRow, DEFAULT_TENANT_LABELS, Exporter, IO_KIND_NAMES, OTHER, Process,
        REASON_NAMES, Ranked, Snapshot, Summary, TenantRow, Totals, WorkerRow,
    };
}

/// Fair-queuing policies: the [`Policy`](policy::Policy) trait a custom
/// policy implements for [`Task`](policy::Task)s (see
/// [`Builder::policy`](crate::Builder::policy)), and drama's default,
/// [`Drr`](policy::Drr).
pub mod policy {
    pub use drama_policy::{
        ConfigError, ConfigErrorKind, Drr, DrrConfig, InvalidWeight, Limit, Overflow, Picked,
        Policy, Weight,
    };
    pub use drama_pool::Task;
}
