//! The cost of recording one poll for the scheduler's view
//! (`WorkerRecorder::record_poll`): what every poll of a drama worker pays
//! with `record_metrics` on, next to a poll of 50 ns to a few µs.
//!
//! - `record/one_tenant`: every poll of the same tenant (its cell stays in
//!   cache: the best case, a worker serving one busy tenant);
//! - `record/10000_tenants`: polls cycle over 10,000 tenants, so each
//!   touches a cell that has not been touched for 10,000 polls (320 KB of
//!   cells: a worker that round-robins many tenants).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use drama_metrics::WorkerRecorder;
use std::hint::black_box;

fn record(c: &mut Criterion) {
    let mut group = c.benchmark_group("record");
    for tenants in [1u32, 10_000] {
        let recorder = WorkerRecorder::new(65_536);
        let mut i = 0u64;
        group.bench_function(
            BenchmarkId::from_parameter(format!("{tenants}_tenants")),
            |b| {
                b.iter(|| {
                    i = i.wrapping_add(1);
                    let tenant = (i % u64::from(tenants)) as u32;
                    let poll_ns = 50 + (i & 1023);
                    let queued = (i & 1 == 0).then_some(poll_ns * 3);
                    recorder.record_poll(black_box(tenant), 1, queued, black_box(poll_ns));
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
