//! The scheduler's view for operators: what each tenant and each class
//! costs, who the heavy hitters are, whose queues are deep, who is
//! throttled, and how the process is doing, at a glance.
//!
//! drama-metrics depends on no other drama crate and holds no thread: the
//! runtime (drama-pool) owns the recording and the reading, and this crate
//! gives it the pieces, so that a simulator or another executor can use
//! them too.
//!
//! - [`WorkerRecorder`]: what a worker records at every poll (its tenant's
//!   polls, CPU and queueing delay; its class's histograms), in memory of
//!   its own, without a lock or an allocation; read from any thread.
//! - [`Window`] and [`View`]: cumulative readings in, a [`Snapshot`] out,
//!   with the recent window, the totals and three rankings of tenants
//!   (heavy hitters by CPU, deep queues, most throttled), exact and
//!   bounded by their length whatever the number of tenants.
//! - [`Snapshot`]: `Display` is the table an operator reads; with the
//!   `serde` feature it serializes (drama-top reads it as JSON).
//! - [`Exporter`]: a snapshot through the [`metrics`] facade, with the
//!   tenant label bounded.
//!
//! ```
//! use drama_metrics::{Process, TenantRow, Window, WorkerRecorder};
//!
//! // Two workers record polls of tenants 1 and 2 (class 1, `compute`).
//! let workers = [WorkerRecorder::new(16), WorkerRecorder::new(16)];
//! workers[0].record_poll(1, 1, Some(2_000), 900_000);
//! workers[1].record_poll(1, 1, None, 300_000);
//! workers[1].record_poll(2, 1, Some(5_000), 100_000);
//!
//! // A snapshot one second after the start: stream each tenant's reading.
//! let mut window = Window::new(0);
//! let mut view = window.begin(1_000_000_000, 10);
//! for id in 0..3 {
//!     let mut reading = TenantRow::default();
//!     reading.id = id;
//!     for worker in &workers {
//!         worker.add_tenant(id, &mut reading);
//!     }
//!     view.tenant(&reading, false);
//! }
//! let names = ["default", "acme", "globex"];
//! let snapshot = view.finish(Process::default(), &[], &[], |id| names[id as usize].to_string());
//!
//! let top = snapshot.heavy_hitters[0];
//! assert_eq!(snapshot.tenant(top.id).unwrap().name, "acme");
//! assert_eq!(top.value, 1_200_000); // 1.2 ms of CPU
//! assert!((top.share - 0.923).abs() < 0.001);
//! println!("{snapshot}");
//! ```

#![forbid(unsafe_code)]

mod buckets;
mod export;
mod recorder;
mod snapshot;
mod view;
mod vocabulary;

pub use buckets::{BUCKETS, Counts, Histogram, Summary, bucket, upper_ns};
pub use export::{DEFAULT_TENANT_LABELS, Exporter, OTHER};
pub use recorder::{PAGE_TENANTS, WorkerRecorder};
pub use snapshot::{
    ClassRow, Process, Ranked, Snapshot, TenantRow, Totals, WorkerRow, fit, fmt_count, fmt_ns,
    fmt_uptime,
};
pub use view::{ClassReading, MIN_WINDOW_NS, View, Window, WorkerReading};
pub use vocabulary::{CLASS_NAMES, CLASSES, IO_KIND_NAMES, IO_KINDS, REASON_NAMES, REASONS};
