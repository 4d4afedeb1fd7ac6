//! The exporter sets the series a metrics backend scrapes, with a bounded
//! tenant label: the labelled tenants keep their label, the rest are
//! summed as `other`.

use std::collections::{BTreeSet, HashMap};

use drama_metrics::{Exporter, OTHER, Process, Snapshot, TenantRow, Window};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

const SEC: u64 = 1_000_000_000;

/// 30 tenants: tenant `id` used `id` ms of CPU and spawned `id` tasks.
fn snapshot(window: &mut Window, at_ns: u64, scale: u64, wanted: &[u32]) -> Snapshot {
    let mut view = window.begin(at_ns, 10);
    for id in 0..30u32 {
        let mut r = TenantRow::default();
        r.id = id;
        r.weight = 1;
        r.polls = u64::from(id) * scale;
        r.cpu_ns = u64::from(id) * 1_000_000 * scale;
        r.spawned = u64::from(id) * scale;
        r.completed = u64::from(id) * scale;
        view.tenant(&r, wanted.contains(&id));
    }
    let mut process = Process::default();
    process.load_score = 0.5;
    view.finish(process, &[], &[], |id| format!("tenant-{id}"))
}

/// A series: its name and labels.
type Series = (String, Vec<(String, String)>);

/// The series the recorder holds, with their values.
fn series(recorder: &DebuggingRecorder) -> HashMap<Series, DebugValue> {
    recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            ((key.name().to_string(), labels), value)
        })
        .collect()
}

fn counter(all: &HashMap<Series, DebugValue>, name: &str, labels: &[(&str, &str)]) -> u64 {
    let labels = labels
        .iter()
        .map(|&(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match all.get(&(name.to_string(), labels)) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn the_tenant_label_is_bounded_and_the_rest_is_other() {
    let recorder = DebuggingRecorder::new();
    let mut exporter = Exporter::new(5);
    let mut window = Window::new(0);
    let snap = snapshot(&mut window, SEC, 1, &exporter.tenants());
    metrics::with_local_recorder(&recorder, || exporter.export(&snap));
    // The five heaviest got a label; the exporter asks for them from now on.
    assert_eq!(exporter.tenants(), [29, 28, 27, 26, 25]);
    let all = series(&recorder);
    let tenants: BTreeSet<String> = all
        .keys()
        .flat_map(|(_, labels)| labels.iter())
        .filter(|(k, _)| k == "tenant")
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(tenants.len(), 6, "{tenants:?}");
    assert!(tenants.contains(OTHER));
    let cpu = |t: &str| counter(&all, "drama_tenant_cpu_nanoseconds_total", &[("tenant", t)]);
    assert_eq!(cpu("tenant-29"), 29_000_000);
    // Every tenant's CPU is in exactly one series.
    let total: u64 = (0..30).map(|id| id * 1_000_000).sum();
    let labelled: u64 = (25..30).map(|id| id * 1_000_000).sum();
    assert_eq!(cpu(OTHER), total - labelled);
    assert_eq!(
        counter(
            &all,
            "drama_tenant_spawned_total",
            &[("tenant", "tenant-25")]
        ),
        25
    );
    assert!(matches!(
        all.get(&("drama_load_score".to_string(), vec![])),
        Some(DebugValue::Gauge(v)) if v.0 == 0.5
    ));

    // Later the labelled tenants keep their label and their rows are asked
    // for, ranked or not; the counters only grow.
    let snap = snapshot(&mut window, 3 * SEC, 2, &exporter.tenants());
    for id in exporter.tenants() {
        assert!(snap.tenant(id).is_some());
    }
    metrics::with_local_recorder(&recorder, || exporter.export(&snap));
    assert_eq!(exporter.tenants(), [29, 28, 27, 26, 25]);
    let all = series(&recorder);
    let cpu = |t: &str| counter(&all, "drama_tenant_cpu_nanoseconds_total", &[("tenant", t)]);
    assert_eq!(cpu("tenant-29"), 58_000_000);
    assert_eq!(cpu(OTHER), 2 * (total - labelled));
}

#[test]
fn class_histograms_get_what_each_export_added() {
    let recorder = DebuggingRecorder::new();
    let mut exporter = Exporter::default();
    let mut window = Window::new(0);
    let mut compute = drama_metrics::ClassReading::default();
    compute.poll_times.add(10_000, 3);
    let classes = |c: &drama_metrics::ClassReading| vec![Default::default(), c.clone()];
    let snap = window
        .begin(SEC, 10)
        .finish(Process::default(), &[], &classes(&compute), |_| {
            String::new()
        });
    metrics::with_local_recorder(&recorder, || exporter.export(&snap));
    // Two more polls, one of them slow: only they are recorded next time.
    compute.poll_times.add(10_000, 1);
    compute.poll_times.add(5_000_000, 1);
    let snap =
        window
            .begin(2 * SEC, 10)
            .finish(Process::default(), &[], &classes(&compute), |_| {
                String::new()
            });
    metrics::with_local_recorder(&recorder, || exporter.export(&snap));
    let all = series(&recorder);
    let key = (
        "drama_class_poll_time_seconds".to_string(),
        vec![("class".to_string(), "compute".to_string())],
    );
    let Some(DebugValue::Histogram(values)) = all.get(&key) else {
        panic!("no histogram: {:?}", all.keys().collect::<Vec<_>>());
    };
    // The debugging recorder keeps every value recorded since its last
    // snapshot: 3 + 2 polls, each at its bucket's upper bound.
    assert_eq!(values.len(), 5);
    let slow = values.iter().filter(|v| v.0 > 0.004).count();
    assert_eq!(slow, 1);
    assert!(values.iter().all(|v| v.0 >= 10e-6 && v.0 <= 6.3e-3));
}
