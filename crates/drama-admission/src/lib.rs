//! drama-admission: which new work may start now, decided early and fairly.
//!
//! A runtime that accepts every spawn under overload is an infinite queue:
//! latency explodes for every tenant, and the heavy tenant's backlog is
//! what everyone waits behind. [`Admission`] refuses new work instead,
//! early, in a fixed order, and the heavy tenant first:
//!
//! - **A saturation estimate, one load score.** The caller feeds measurement
//!   steps ([`Sample`]: the runnable tasks waiting, the work in flight, the
//!   mean poll, the workers' utilization, and the queueing delay of the
//!   polls started). The estimate predicts how long work admitted *now*
//!   would wait: the backlog at the step, plus what was admitted since,
//!   less what finished since, times the mean poll over the workers. So the
//!   prediction moves with every admission, not once per step, and the
//!   backlog is held at the threshold instead of swinging around it.
//!   The [`Load`] score is the larger of the utilization and that predicted
//!   delay over its target (500 µs by default): 0 idle, close to 1 when the
//!   workers are all busy, 1 saturated, above 1 overloaded. It is
//!   continuous, so it rises before anything is refused and an upstream
//!   load balancer can act on it first.
//! - **Bursts are not overload.** The predicted delay counts only while
//!   the load is *armed*: the workers have been busy (utilization averaged
//!   over a window, 4 ms, at least 0.95), or a queue has stood for the
//!   window (the smallest delay seen over it, CoDel's test, is past the
//!   window), or the backlog at a step still takes half the window to
//!   drain. A burst on idle workers is admitted up to a window of work;
//!   the work that would queue behind it, once the workers stay busy, is
//!   what is refused. Once armed, the load stays armed until the
//!   utilization falls to 0.85, so that a pool offered about its capacity
//!   does not disarm on every dip.
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
//! - **Deadlines.** [`Admission::admit_by`] refuses work that would wait
//!   past its deadline before its first poll: refused now, it comes back to
//!   its caller, rather than being queued and dropped unpolled. The wait is
//!   the predicted one while the load is armed (the queue is served about
//!   in order then), except for a tenant within its share while another is
//!   over its share (the fair queue serves it first); otherwise it is the
//!   standing delay, the least any work waited over the window.
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
//! // Busy workers (2, polls of 100 µs) with 40 tasks waiting for 20 ms:
//! // work admitted now would wait 2 ms, four times the 500 µs target.
//! for t in 0..=20 {
//!     admission.observe(Sample {
//!         now_ns: t * MS,
//!         queue_delay_ns: 0,
//!         utilization: 1.0,
//!         backlog: 40,
//!         in_flight: 0, // Admission counts its own
//!         poll_ns: 100_000,
//!         workers: 2,
//!     });
//! }
//! assert!(admission.load().score > 3.9);
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
pub use config::{AdmissionConfig, ConfigError, ConfigErrorKind};
pub use estimator::{Estimator, Load, Sample};
