//! The view from readings: windows, totals and rankings, scripted and
//! against a naive model; bounded with 100,000 tenants.

use drama_metrics::{CLASSES, ClassReading, Process, Snapshot, TenantRow, Window, WorkerReading};
use proptest::prelude::*;

const SEC: u64 = 1_000_000_000;

/// A reading of tenant `id` with `cpu_ns` of CPU, `queued` tasks (class
/// `compute`) and `refused` refusals (reason `overloaded`).
fn reading(id: u32, cpu_ns: u64, queued: u64, refused: u64) -> TenantRow {
    let mut r = TenantRow::default();
    r.id = id;
    r.weight = 1;
    r.polls = cpu_ns.div_ceil(1000);
    r.cpu_ns = cpu_ns;
    r.queued[1] = queued;
    r.refused[0] = refused;
    r.spawned = r.polls + queued;
    r
}

fn take(window: &mut Window, now_ns: u64, top: usize, readings: &[TenantRow]) -> Snapshot {
    let mut view = window.begin(now_ns, top);
    for r in readings {
        view.tenant(r, false);
    }
    view.finish(Process::default(), &[], &[], |id| format!("t{id}"))
}

fn ids(ranked: &[drama_metrics::Ranked]) -> Vec<u32> {
    ranked.iter().map(|r| r.id).collect()
}

/// A script step: at `at_ns`, the tenants read these (cumulative) CPU and
/// refusal counts; the snapshot's heavy hitters and most throttled, with
/// their window values, and its window, are expected.
struct Step {
    at_ns: u64,
    readings: Vec<(u32, u64, u64)>,
    heavy: Vec<(u32, u64)>,
    throttled: Vec<(u32, u64)>,
    window_ms: u64,
}

fn check(steps: &[Step]) {
    let mut window = Window::new(0);
    for (i, step) in steps.iter().enumerate() {
        let readings: Vec<TenantRow> = step
            .readings
            .iter()
            .map(|&(id, cpu, refused)| reading(id, cpu, 0, refused))
            .collect();
        let snap = take(&mut window, step.at_ns, 10, &readings);
        let heavy: Vec<(u32, u64)> = snap.heavy_hitters.iter().map(|r| (r.id, r.value)).collect();
        let throttled: Vec<(u32, u64)> = snap
            .most_throttled
            .iter()
            .map(|r| (r.id, r.value))
            .collect();
        assert_eq!(heavy, step.heavy, "step {i}: heavy hitters");
        assert_eq!(throttled, step.throttled, "step {i}: most throttled");
        assert_eq!(snap.window_ms, step.window_ms, "step {i}: window");
    }
}

#[test]
fn the_window_covers_one_to_two_seconds_of_recent_work() {
    check(&[
        // Half a second in: the window starts at the start.
        Step {
            at_ns: SEC / 2,
            readings: vec![(1, 100, 0), (2, 300, 4)],
            heavy: vec![(2, 300), (1, 100)],
            throttled: vec![(2, 4)],
            window_ms: 500,
        },
        // At 1 s the newer reading (the start's) is a second old: it becomes
        // the baseline, and this reading is kept.
        Step {
            at_ns: SEC,
            readings: vec![(1, 1_000, 0), (2, 400, 4)],
            heavy: vec![(1, 1_000), (2, 400)],
            throttled: vec![(2, 4)],
            window_ms: 1_000,
        },
        // At 1.5 s the baseline is still the start.
        Step {
            at_ns: 3 * SEC / 2,
            readings: vec![(1, 1_000, 0), (2, 2_400, 5)],
            heavy: vec![(2, 2_400), (1, 1_000)],
            throttled: vec![(2, 5)],
            window_ms: 1_500,
        },
        // At 2 s the reading of 1 s is the baseline: tenant 1 stopped, and
        // tenant 2's refusals since then are 2.
        Step {
            at_ns: 2 * SEC,
            readings: vec![(1, 1_000, 0), (2, 3_400, 6), (3, 50, 0)],
            heavy: vec![(2, 3_000), (3, 50)],
            throttled: vec![(2, 2)],
            window_ms: 1_000,
        },
        // Ten seconds later, nothing since: the window is the time since
        // the last kept reading, and nobody ranks.
        Step {
            at_ns: 12 * SEC,
            readings: vec![(1, 1_000, 0), (2, 3_400, 6), (3, 50, 0)],
            heavy: vec![],
            throttled: vec![],
            window_ms: 10_000,
        },
    ]);
}

#[test]
fn ties_rank_the_lower_id_first_and_shares_add_up() {
    let mut window = Window::new(0);
    let readings: Vec<_> = (0..5).map(|id| reading(id, 100, 3, 0)).collect();
    let snap = take(&mut window, SEC, 3, &readings);
    assert_eq!(ids(&snap.heavy_hitters), [0, 1, 2]);
    assert_eq!(ids(&snap.deep_queues), [0, 1, 2]);
    assert!(
        snap.heavy_hitters
            .iter()
            .all(|r| (r.share - 0.2).abs() < 1e-9)
    );
    assert_eq!(snap.process.totals.cpu_ns, 500);
    assert_eq!(snap.process.queued, 15);
    assert_eq!(snap.process.tenants, 5);
    // A row per ranked tenant, named.
    assert_eq!(snap.tenants.len(), 3);
    assert_eq!(snap.tenants[2].name, "t2");
}

#[test]
fn wanted_tenants_get_a_row_and_idle_ones_count_nowhere() {
    let mut window = Window::new(0);
    let mut view = window.begin(SEC, 2);
    view.tenant(&reading(0, 0, 0, 0), false);
    view.tenant(&reading(1, 0, 0, 0), true);
    for id in 2..10 {
        view.tenant(&reading(id, u64::from(id) * 10, 0, 0), false);
    }
    let snap = view.finish(Process::default(), &[], &[], |id| format!("t{id}"));
    assert_eq!(ids(&snap.heavy_hitters), [9, 8]);
    let rows: Vec<u32> = snap.tenants.iter().map(|t| t.id).collect();
    assert_eq!(rows, [1, 8, 9]);
    // Tenant 0 did nothing: not counted; tenant 1 was asked for.
    assert_eq!(snap.process.tenants, 9);
}

#[test]
fn workers_and_classes_are_measured_over_the_window() {
    let mut window = Window::new(0);
    let class = |ns: u64, n: u64| {
        let mut c = ClassReading {
            polls: n,
            poll_ns: ns * n,
            ..ClassReading::default()
        };
        c.poll_times.add(ns, n);
        c.queue_delays.add(ns / 10, n);
        c
    };
    let classes = |n| (0..CLASSES).map(|_| class(1_000, n)).collect::<Vec<_>>();
    let workers = |idle_ns| {
        vec![
            WorkerReading { idle_ns, polls: 10 },
            WorkerReading {
                idle_ns: 0,
                polls: 20,
            },
        ]
    };
    let view = window.begin(SEC, 10);
    let first = view.finish(Process::default(), &workers(SEC / 4), &classes(100), |_| {
        String::new()
    });
    assert!((first.workers[0].utilization - 0.75).abs() < 1e-9);
    assert!((first.workers[1].utilization - 1.0).abs() < 1e-9);
    assert!((first.workers[1].polls_per_sec - 20.0).abs() < 1e-9);
    assert_eq!(first.classes[0].poll_time.count, 100);
    assert_eq!(first.classes[3].name, "accept");
    // A second later: worker 0 idled the whole second; the classes' window
    // histograms hold only the new polls.
    let view = window.begin(2 * SEC, 10);
    let second = view.finish(
        Process::default(),
        &workers(SEC / 4 + SEC),
        &classes(130),
        |_| String::new(),
    );
    assert!(second.workers[0].utilization.abs() < 1e-9);
    assert_eq!(second.classes[0].poll_time.count, 30);
    assert_eq!(second.classes[0].polls, 130);
}

/// A Zipf workload over 100,000 tenants: tenant of rank r (id r) uses CPU
/// proportional to 1 / r^1.1, with a deterministic jitter. The rankings
/// find the true top tenants, and the memory stays bounded.
#[test]
fn the_true_heavy_hitters_of_a_zipf_workload_over_100_000_tenants() {
    const TENANTS: u32 = 100_000;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut jitter = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 1000) as f64 / 1e4 // 0 to 10 %
    };
    // Ids in a shuffled order of rank, so that id order hides the answer.
    let rank_of = |id: u32| (u64::from(id) * 7_919 % u64::from(TENANTS)) as u32 + 1;
    let cpu: Vec<u64> = (0..TENANTS)
        .map(|id| {
            let r = f64::from(rank_of(id));
            (1e9 / r.powf(1.1) * (1.0 + jitter())) as u64
        })
        .collect();
    let readings: Vec<TenantRow> = (0..TENANTS)
        .map(|id| reading(id, cpu[id as usize], u64::from(id % 7), 0))
        .collect();
    let mut window = Window::new(0);
    let snap = take(&mut window, SEC, 10, &readings);

    let mut truth: Vec<u32> = (0..TENANTS).collect();
    truth.sort_by_key(|&id| (std::cmp::Reverse(cpu[id as usize]), id));
    assert_eq!(ids(&snap.heavy_hitters), truth[..10]);
    let total: u64 = cpu.iter().sum();
    let top = snap.heavy_hitters[0];
    assert!((top.share - cpu[truth[0] as usize] as f64 / total as f64).abs() < 1e-12);

    // Bounded: the snapshot holds at most 3 × 10 rows, whatever the
    // tenants; the window keeps 32 bytes per tenant id.
    assert!(snap.tenants.len() <= 30);
    assert!(window.memory_bytes() <= 2 * 2 * 8 * TENANTS as usize + 64 * 1024);
}

proptest! {
    /// Each ranking is the naive model's: sort every tenant by value
    /// (descending, then id), drop zeros, keep `top`.
    #[test]
    fn rankings_match_a_full_sort(
        values in proptest::collection::vec((0u64..50, 0u64..5, 0u64..5), 0..200),
        top in 0usize..12,
    ) {
        let readings: Vec<TenantRow> = values
            .iter()
            .enumerate()
            .map(|(id, &(cpu, queued, refused))| reading(id as u32, cpu, queued, refused))
            .collect();
        let mut window = Window::new(0);
        let snap = take(&mut window, SEC, top, &readings);
        let model = |value: &dyn Fn(&(u64, u64, u64)) -> u64| -> Vec<u32> {
            let mut all: Vec<(u64, u32)> = values
                .iter()
                .enumerate()
                .map(|(id, v)| (value(v), id as u32))
                .filter(|&(v, _)| v > 0)
                .collect();
            all.sort_by_key(|&(v, id)| (std::cmp::Reverse(v), id));
            all.into_iter().take(top).map(|(_, id)| id).collect()
        };
        prop_assert_eq!(ids(&snap.heavy_hitters), model(&|v| v.0));
        prop_assert_eq!(ids(&snap.deep_queues), model(&|v| v.1));
        prop_assert_eq!(ids(&snap.most_throttled), model(&|v| v.2));
        for r in snap.heavy_hitters.iter().chain(&snap.deep_queues).chain(&snap.most_throttled) {
            prop_assert!(snap.tenant(r.id).is_some());
        }
    }
}

#[cfg(feature = "serde")]
#[test]
fn a_snapshot_survives_json() {
    let mut window = Window::new(0);
    let readings: Vec<_> = (0..20)
        .map(|id| reading(id, u64::from(id) * 1000, 1, 1))
        .collect();
    let snap = take(&mut window, SEC, 5, &readings);
    let json = serde_json::to_string(&snap).unwrap();
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snap);
}

/// A drama-top newer or older than the runtime still reads its snapshot:
/// missing fields take their defaults, unknown ones are ignored.
#[cfg(feature = "serde")]
#[test]
fn a_snapshot_of_another_version_still_reads() {
    let older: Snapshot =
        serde_json::from_str(r#"{"uptime_ms": 5, "process": {"load_score": 0.5}}"#).unwrap();
    assert_eq!(older.uptime_ms, 5);
    assert_eq!(older.process.load_score, 0.5);
    assert!(older.tenants.is_empty());
    let newer: Snapshot =
        serde_json::from_str(r#"{"uptime_ms": 7, "a_field_from_the_future": [1, 2]}"#).unwrap();
    assert_eq!(newer.uptime_ms, 7);
}
