//! A deterministic discrete-event simulator for drama's scheduling
//! policies.
//!
//! It drives any [`Policy`](drama_policy::Policy) alone, with no threads,
//! no clock and no async: virtual workers share one policy instance, pick
//! requests from it, "run" them for their service time in virtual
//! nanoseconds, and charge the cost back, exactly as a runtime worker
//! would. Workloads are seeded, so a run is a pure function of its seed and
//! configuration; the [`Report`] carries a hash of the whole trace to prove
//! it.
//!
//! - [`Workload`]: tenants (weight, name), each with [`Stream`]s of
//!   requests: an [`Arrival`] process (Poisson, bursty, closed loop), a
//!   [`Service`] time distribution and a class or class mix.
//! - [`SimConfig`]: seed, workers, duration and warm-up, poll slice, retry
//!   back-off, an optional bound on queue wait, optional [`ChargeNoise`]
//!   (polls charged more than they ran), and optional admission control:
//!   drama-admission's `Admission` asked for every arrival and fed by a
//!   monitor step every millisecond of virtual time, as the runtime will.
//! - [`run`]: the event loop. It checks the policy protocol as it goes
//!   (`len` exact, no item lost, duplicated or altered, the wait bound;
//!   with admission control, that it counts exactly the admitted work not
//!   yet finished) and returns a [`SimError`] at the first broken
//!   invariant.
//! - [`Report`]: per tenant and class completions, refusals (by
//!   admission control's [`Refusals`] kinds too), CPU, polls, latency and
//!   queue-wait percentiles, the longest wait of a task between two polls,
//!   and with admission control the load score over time ([`LoadPoint`]);
//!   `Display` prints it as a table. [`jain`] computes Jain's fairness
//!   index.
//! - [`scenarios`]: the overload and fairness scenarios of the benchmark
//!   specification, with their targets, run by the `drama-sim` binary
//!   (`cargo xtask sim`).
//!
//! ```
//! use drama_policy::{Class, Drr, Weight};
//! use drama_sim::{Arrival, Service, SimConfig, Stream, Tenant, Workload};
//!
//! // Two backlogged tenants, one with twice the weight of the other.
//! let backlogged = || Stream::new(Arrival::ClosedLoop { in_flight: 4 }, Service::Constant { ns: 50_000 });
//! let workload = Workload::new()
//!     .tenant(Tenant::new("small").stream(backlogged()))
//!     .tenant(Tenant::new("large").weight(Weight::new(200)?).stream(backlogged().class(Class::Read)));
//! let config = SimConfig::new(7).workers(2).duration_ns(50_000_000).warmup_ns(10_000_000);
//!
//! let report = drama_sim::run(&config, &workload, &mut Drr::new())?;
//! let large_share = report.cpu_share(1);
//! assert!((large_share - 2.0 / 3.0).abs() < 0.05, "{report}");
//!
//! // Same seed, same trace.
//! let again = drama_sim::run(&config, &workload, &mut Drr::new())?;
//! assert_eq!(report.trace_hash, again.trace_hash);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod error;
mod report;
mod rng;
pub mod scenarios;
mod sim;
mod trace;
mod workload;

pub use error::{SimError, SimErrorKind};
pub use report::{ClassReport, LoadPoint, Refusals, Report, Samples, TenantReport, Totals, jain};
pub use sim::{ChargeNoise, MAX_MONITOR_STEPS, MAX_WORKERS, RequestId, SimConfig, run};
pub use workload::{Arrival, MAX_IN_FLIGHT, MAX_RATE_PER_S, Service, Stream, Tenant, Workload};
