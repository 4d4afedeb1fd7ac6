//! drama-admission: which new work may start now, decided early and fairly.
//!
//! A runtime that accepts every spawn under overload is an infinite queue:
//! latency explodes for every tenant, and the heavy tenant's backlog is
//! what everyone waits behind. [`Admission`] refuses new work instead,
//! early, in a fixed order, and the heavy tenant first:
//!
//! - **A saturation estimate, one load score.** The caller feeds measurement
//!   steps ([`Sample`]: the queueing delay of runnable tasks, from spawn or
//!   wake to the start of their poll, and the workers' utilization). The
//!   delay counts as the *standing* delay, the smallest seen over a window
//!   (CoDel): a burst that drains within the window does not raise it. The
//!   [`Load`] score is the larger of the utilization and the standing delay
//!   over its target: 0 idle, close to 1 when the workers are all busy, 1
//!   saturated (the standing delay at the target), above 1 overloaded. It is
//!   continuous, so it rises before anything is refused and an upstream
//!   load balancer can act on it first.
//! - **The class ladder.** New work of each class is refused past a score:
//!   `Accept` first (1 by default), then `Read` (1.5), then `Compute` (2);
//!   `Write`, which finishes requests and frees resources, only at the
//!   bounds.
//! - **Fair refusals.** A tenant holding more than its weight's share of
//!   the work in flight (among the tenants with work in flight: room that
//!   others leave idle may be used) is refused at its class's threshold;
//!   while such a tenant exists (the heaviest holder is over its share,
//!   counting the asking tenant among the active ones), the tenants within
//!   their shares are not
//!   refused by load at all (by default; see
//!   [`AdmissionConfig::within_share_factor`]), so the heavy tenant absorbs
//!   the refusals. With nobody over their share, everyone is refused at the
//!   threshold.
//! - **Bounds.** A bound on work in flight; past all but a reserve of it
//!   (an eighth), the tenant over its share is refused, so the room it
//!   borrowed is reclaimed first; an optional bound per tenant.
//! - **IO depth.** IO operations in flight are counted per tenant and kind;
//!   while a kind is at its depth limit, new `Accept` and `Read` work (which
//!   would start more IO) is refused.
//! - **Deadlines.** [`Admission::admit_by`] refuses work that the standing
//!   queueing delay alone would take past its deadline.
//!
//! Pure, like the policy: no threads, no clock, no atomics. Time comes in
//! with the samples, so a simulator drives it in virtual time and a test
//! scripts it; the runtime calls it from its monitor and its spawn path.
//!
//! ```
//! use drama_admission::{Admission, AdmissionConfig, RefusalKind, Sample};
//! use drama_policy::{Class, TenantId};
//!
//! const MS: u64 = 1_000_000;
//! let mut admission = Admission::new(AdmissionConfig::new())?;
//! let (heavy, light) = (TenantId::new(1), TenantId::new(2));
//! admission.admit(light, Class::Accept).unwrap();
//! for _ in 0..100 {
//!     admission.admit(heavy, Class::Accept).unwrap();
//! }
//! // A queue that stands: 1.5 ms of delay for 5 ms, past the 4 ms window.
//! for t in 0..=5 {
//!     admission.observe(Sample { now_ns: t * MS, queue_delay_ns: 3 * MS / 2, utilization: 1.0 });
//! }
//! assert!(admission.load().score > 1.0);
//! // The heavy tenant's new accepts are refused; the light one's are not.
//! let refused = admission.admit(heavy, Class::Accept).unwrap_err();
//! assert_eq!(refused.kind(), RefusalKind::OverShare);
//! assert!(admission.admit(light, Class::Accept).is_ok());
//! // Writes, which finish requests, are not refused by the load.
//! assert!(admission.admit(heavy, Class::Write).is_ok());
//! # Ok::<(), drama_admission::ConfigError>(())
//! ```

#![forbid(unsafe_code)]

mod admission;
mod config;
mod estimator;

pub use admission::{Admission, Ask, Holding, Refusal, RefusalKind, Rules, Verdict};
pub use config::{AdmissionConfig, ConfigError};
pub use estimator::{Estimator, Load, Sample};
