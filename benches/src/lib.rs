//! drama's runtime benchmarks, run by `cargo xtask bench`.
//!
//! The same workload code runs on drama and on its peers (tokio,
//! async-executor, smolscale, async-global-executor) through the [`Rt`]
//! trait, so a difference in a figure is a difference in scheduling:
//!
//! - [`micro`]: the micro suite of BENCHMARKS.md part A (scheduler
//!   overhead: spawning, yielding, message passing, idle CPU), each runtime
//!   in a process of its own, medians over rounds in rotating order;
//! - [`fairness`]: CPU shares between tenants on the real runtime (T3a:
//!   equal tenants of different parallelism; T3b: weights 1:2:4:8).
//!
//! The `drama-bench` binary runs them and writes the reports under
//! `docs/bench/`. Nothing here is a test with a timed assertion: the
//! library's tests only check that every workload runs.
//!
//! ```
//! use drama_benches::micro::msg_chain;
//! use drama_benches::runtimes::{Drama, Rt};
//!
//! let rt = Drama::new(2);
//! msg_chain(&rt, 1_000); // a ring of 100 tasks, 1,000 hops
//! assert_eq!(rt.name(), "drama");
//! ```
#![forbid(unsafe_code)]

pub mod fairness;
pub mod micro;
pub mod runtimes;
pub mod stats;

pub use runtimes::Rt;
