//! The dispatch cost of [`Drr`]: one steady-state `enqueue` + `pick` cycle
//! with 10, 1,000 and 10,000 backlogged tenants.
//!
//! Each benchmark builds a `Drr<u64>` with the default configuration
//! (quantum 100 µs, default weights) and gives every one of `N` tenants a
//! backlog of [`BACKLOG`] items spread over the four classes. One measured
//! iteration is one dispatch cycle as a worker drives it:
//!
//! 1. `pick(now)`;
//! 2. `charge(tenant, class, cost)`, as if the poll took `cost`;
//! 3. `enqueue` the same item back for the same tenant and class (a task
//!    that yields), so the backlog stays constant and every tenant stays in
//!    the round;
//! 4. advance `now` by `cost`.
//!
//! The policy lives across iterations, so the figures are for a policy that
//! has been dispatching for a while, not for a fresh one. Two cost groups:
//!
//! - `dispatch/cost_2us/N`: a typical short poll. A tenant's 100 µs turn
//!   covers about 50 picks, so the round rotates once every ~50 cycles.
//! - `dispatch/cost_100us/N`: one pick uses a whole quantum, so every
//!   pick ends the turn and rotates the round to the next tenant: the worst
//!   case for the rotation and for the cache (each cycle touches a tenant
//!   that has not been touched for `N` cycles).
//!
//! - `dispatch/scattered_100us/N`: as `cost_100us`, but the tenants' state
//!   is created in a shuffled order with other allocations in between, and
//!   the round order is another shuffle, so rotating the round does not walk
//!   memory in allocation order (a long-running service's heap looks like
//!   this; the plain groups flatter the prefetcher).
//!
//! Target: `Drr` claims O(1) dispatch whatever the number of tenants; the
//! cost per cycle at 10,000 tenants should be at most 1.2 × the cost at 10,
//! in both groups.
//!
//! Run with `cargo bench -p drama-policy --bench dispatch`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use drama_policy::{Class, Drr, DrrConfig, Policy, TenantId};

/// The tenant counts compared.
const TENANTS: [u32; 3] = [10, 1_000, 10_000];

/// Queued items per tenant, kept constant by the benchmark.
const BACKLOG: u32 = 8;

/// A policy with `tenants` tenants, each holding [`BACKLOG`] items whose
/// classes cycle through `Write, Compute, Read, Accept`.
fn backlogged(tenants: u32) -> Drr<u64> {
    let config = DrrConfig::new();
    assert!(tenants <= config.get_max_tenants());
    let mut drr = Drr::with_config(config).expect("the default configuration is valid");
    for t in 0..tenants {
        for i in 0..BACKLOG {
            let item = u64::from(t) * u64::from(BACKLOG) + u64::from(i);
            let class = Class::ALL[i as usize % Class::COUNT];
            drr.enqueue(item, TenantId::new(t), class, 0)
                .expect("the backlog is within the default bounds");
        }
    }
    assert_eq!(drr.len(), (tenants * BACKLOG) as usize);
    assert_eq!(drr.active_tenants(), tenants as usize);
    drr
}

/// A permutation of `0..n` (a multiplicative step coprime with `n` would
/// do; an LCG-driven Fisher-Yates keeps it obviously a permutation).
fn shuffled(n: u32, seed: u64) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n).collect();
    let mut x = seed;
    for i in (1..v.len()).rev() {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        v.swap(i, (x >> 33) as usize % (i + 1));
    }
    v
}

/// Like [`backlogged`], but tenant state is allocated in one shuffled order
/// (with filler allocations between tenants, kept alive in the returned
/// `Vec`) and tenants join the round in another.
fn scattered(tenants: u32) -> (Drr<u64>, Vec<Vec<u8>>) {
    let mut drr = Drr::with_config(DrrConfig::new()).expect("the default configuration is valid");
    let mut filler = Vec::new();
    // `set_weight` creates a tenant's state without queueing anything.
    for t in shuffled(tenants, 1) {
        drr.set_weight(TenantId::new(t), drama_policy::Weight::DEFAULT)
            .expect("within max_tenants");
        filler.push(vec![0u8; 512]);
    }
    for i in 0..BACKLOG {
        for t in shuffled(tenants, 2 + u64::from(i)) {
            let item = u64::from(t) * u64::from(BACKLOG) + u64::from(i);
            let class = Class::ALL[i as usize % Class::COUNT];
            drr.enqueue(item, TenantId::new(t), class, 0)
                .expect("the backlog is within the default bounds");
            if i == 0 {
                filler.push(vec![0u8; 256]);
            }
        }
    }
    assert_eq!(drr.active_tenants(), tenants as usize);
    (drr, filler)
}

/// One `dispatch/<name>/N` group: every poll costs `cost_ns`.
fn dispatch_group(c: &mut Criterion, name: &str, cost_ns: u64) {
    dispatch_group_with(c, name, cost_ns, |n| (backlogged(n), Vec::new()));
}

fn dispatch_group_with(
    c: &mut Criterion,
    name: &str,
    cost_ns: u64,
    build: impl Fn(u32) -> (Drr<u64>, Vec<Vec<u8>>),
) {
    let mut group = c.benchmark_group(format!("dispatch/{name}"));
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .throughput(Throughput::Elements(1));
    for tenants in TENANTS {
        let (mut drr, _filler) = build(tenants);
        let mut now_ns = 0_u64;
        group.bench_function(BenchmarkId::from_parameter(tenants), |b| {
            b.iter(|| {
                let picked = drr
                    .pick(black_box(now_ns))
                    .expect("every tenant stays backlogged");
                drr.charge(picked.tenant, picked.class, black_box(cost_ns));
                drr.enqueue(black_box(picked.item), picked.tenant, picked.class, now_ns)
                    .expect("the backlog stays constant");
                now_ns += cost_ns;
            });
        });
        // The cycle must have kept the steady state it claims to measure.
        assert_eq!(drr.len(), (tenants * BACKLOG) as usize);
        assert_eq!(drr.active_tenants(), tenants as usize);
    }
    group.finish();
}

fn dispatch(c: &mut Criterion) {
    dispatch_group(c, "cost_2us", 2_000);
    dispatch_group(c, "cost_100us", 100_000);
    dispatch_group_with(c, "scattered_100us", 100_000, scattered);
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
