//! The scheduling vocabulary of drama: who a piece of work belongs to
//! ([`TenantId`]) and what kind of work it is ([`Class`]).
//!
//! This crate is the bottom of drama's crate graph. It is pure: no threads,
//! no clock, no randomness, no atomics, no `unsafe`, and no `std` (only
//! `core`), so that the fair-queuing engine that will live here can run
//! unchanged inside a simulator. `drama-core` tags every task with these
//! types and the policy reads them, without either crate depending on the
//! other.
//!
//! ```
//! use drama_policy::{Class, TenantId};
//!
//! let acme = TenantId::new(7);
//! assert_eq!(acme.as_u32(), 7);
//! assert_ne!(acme, TenantId::DEFAULT);
//!
//! // Classes are ordered by priority, highest first.
//! assert!(Class::Write.priority() < Class::Accept.priority());
//! assert_eq!(Class::default(), Class::Compute);
//! assert_eq!(Class::ALL.len(), Class::COUNT);
//! ```
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod drr;
mod policy;
mod vocabulary;
mod weight;

pub use drr::{ConfigError, Drr, DrrConfig};
pub use policy::{Limit, Overflow, Picked, Policy};
pub use vocabulary::{Class, TenantId};
pub use weight::{InvalidWeight, Weight};
