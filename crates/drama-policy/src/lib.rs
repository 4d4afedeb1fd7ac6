//! drama's fair-queuing engine: who runs next.
//!
//! A scheduler that runs work (drama's worker threads, or the simulator in
//! `drama-sim`) hands each runnable item to a [`Policy`] together with the
//! [`TenantId`] it works for, its [`Class`] and the current time; asks the
//! policy which item to run next; runs it; and charges what the run cost
//! back. The default policy, [`Drr`], is:
//!
//! - **fair across tenants**: deficit round robin, weighted by [`Weight`],
//!   charged by measured cost after the fact (a tenant's deficit may go
//!   negative and is repaid from later turns, a debt of at most
//!   `max_debt_credits` credits, so one long poll cannot starve its tenant
//!   for long); work-conserving, with no credit banked by an idle tenant;
//!   O(1) per operation whatever the number of tenants;
//! - **weakly prioritized across classes** inside a tenant
//!   (`Write > Compute > Read > Accept`, weights 8:4:2:1): every backlogged
//!   class gets its weighted share, and priority decides ties and who runs
//!   first;
//! - **newest-first inside a class**, switching to oldest-first for work
//!   older than an age bound, so nothing waits for ever;
//! - **bounded**: a full policy hands the item back in an [`Overflow`].
//!
//! This crate is pure: no threads, no clock, no randomness, no atomics, no
//! `unsafe`, and no `std` (only `core` and `alloc`). Time and cost come in
//! as arguments, decisions go out as return values, so the same engine
//! runs on a worker thread and inside a discrete-event simulator. The
//! vocabulary types ([`TenantId`], [`Class`], [`Weight`]) live here, at the
//! bottom of the crate graph, so that `drama-core` can tag tasks with them
//! without the policy depending on it.
//!
//! To write your own policy, implement [`Policy`] in your crate; the
//! `drama-policy-fifo` crate is a complete example using only this API.
//!
//! ```
//! use drama_policy::{Class, Drr, Policy, TenantId, Weight};
//!
//! let mut drr = Drr::new();
//! let (light, heavy) = (TenantId::new(1), TenantId::new(2));
//! drr.set_weight(heavy, Weight::new(200).unwrap()).unwrap();
//!
//! // The heavy tenant has a backlog; the light one has a single request.
//! for i in 0..100 {
//!     drr.enqueue(i, heavy, Class::Compute, 0).unwrap();
//! }
//! drr.enqueue(1000, light, Class::Read, 0).unwrap();
//!
//! // A worker loop: pick, run (here: pretend it took 100 µs), charge.
//! let mut picked = Vec::new();
//! while let Some(p) = drr.pick(0) {
//!     picked.push((p.tenant, p.item));
//!     drr.charge(p.tenant, p.class, 100_000);
//! }
//! // The heavy tenant runs one turn (200 µs of credit), then the light
//! // request runs: it does not wait behind the whole backlog.
//! assert_eq!(picked[2], (light, 1000));
//! assert_eq!(picked.len(), 101);
//!
//! // Classes and tenants are plain values.
//! assert!(Class::Write.priority() < Class::Accept.priority());
//! assert_eq!(Class::default(), Class::Compute);
//! assert_eq!(TenantId::new(7).as_u32(), 7);
//! ```
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod drr;
mod policy;
mod vocabulary;
mod weight;

pub use drr::{ConfigError, ConfigErrorKind, Drr, DrrConfig};
pub use policy::{Limit, Overflow, Picked, Policy};
pub use vocabulary::{Class, IoKind, TenantId};
pub use weight::{InvalidWeight, Weight};
