//! drama: an async task scheduler for services that serve many tenants and
//! will sometimes be overloaded.
//!
//! This is the crate users depend on. Today it offers drama's task layer:
//! tasks tagged with a tenant and a class, join handles that report panics
//! and cancellation, cooperative yielding, and a single-threaded executor
//! ([`LocalExecutor`]). The multi-threaded, fair `Runtime` arrives with the
//! thread pool.
//!
//! ```
//! use drama::{Class, LocalExecutor, Spawn, TenantId};
//!
//! let ex = LocalExecutor::new();
//! let acme = TenantId::new(1);
//! let handle = ex.spawn_with(Spawn::new().tenant(acme).class(Class::Read).name("get"), async {
//!     "hello"
//! })?;
//! assert_eq!(ex.block_on(handle)?, "hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub use drama_core::budget;
pub use drama_core::{
    Class, JoinError, JoinHandle, LocalExecutor, RejectReason, Rejected, Spawn, Spawner, TaskId,
    TaskMeta, TenantId, YieldNow, current, yield_now,
};
