//! drama's runtime benchmarks, run by `cargo xtask bench`.
//!
//! The same workload code runs on drama and on its peers (tokio,
//! async-executor, smolscale, async-global-executor) through the [`Rt`]
//! trait, so a difference in a figure is a difference in scheduling:
//!
//! - [`micro`]: the micro suite of BENCHMARKS.md part A (scheduler
//!   overhead: spawning, yielding, message passing, idle CPU), each runtime
//!   in a process of its own, medians over rounds in rotating order;
//! - [`fairness`]: fairness on the real runtime, measured with the
//!   programs' own thread-CPU counters: T3a (equal tenants of different
//!   parallelism) and T3b (weights 1:2:4:8) under four spawn patterns,
//!   T4 (class priorities across the pool), T3c (10 to 10,000 tenants);
//! - [`overload`]: the overload suite of part B (T1 goodput, T2 noisy
//!   neighbour, T5 signal and reaction, T6 spawn flood): drama with its
//!   default admission beside tokio, tokio + tower, and tokio + tower with
//!   a per-tenant cap, under seeded open-loop load, each run in a child
//!   process;
//! - [`cpu`]: the thread-CPU spin that is the fairness suite's unit of
//!   work, and the CPU clocks of the runtime's threads.
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

pub mod cpu;
pub mod fairness;
pub mod micro;
pub mod overload;
pub mod runtimes;
pub mod stats;

pub use runtimes::Rt;
