//! Snapshots through the [`metrics`] facade, with bounded label
//! cardinality.
//!
//! [`Exporter::export`] sets counters (absolute values, since they are
//! cumulative in the snapshot) and gauges on whatever recorder the
//! application installed (Prometheus, StatsD, ...). Series per tenant
//! carry a `tenant` label for at most `max_tenant_labels` tenants: the
//! first tenants to appear in any ranking (heavy hitters, deep queues,
//! most throttled) keep their own label for the life of the exporter, so
//! a series never changes meaning; every other tenant is summed under
//! `tenant="other"`. A tenant labelled later takes its past counts out of
//! `other`, which then stands still until it has caught up (a counter
//! never goes backwards).
//!
//! Series, all prefixed `drama_`:
//! - process gauges: `load_score`, `utilization`, `saturated`,
//!   `queue_delay_seconds{quantile}`, `refusals_per_second`, `tasks`,
//!   `in_flight`, `queued`, `threads`, `workers`, `tenants`,
//!   `blocking_threads`, `blocking_queued`, `worker_utilization{worker}`;
//!   the counter `stuck_replaced_total`;
//! - per class: counters `class_spawned_total`, `class_completed_total`,
//!   `class_refused_total`, `class_polls_total`, `class_cpu_nanoseconds_total`;
//!   histograms `class_queue_delay_seconds` and `class_poll_time_seconds`
//!   (what each export adds since the previous one, each value at its
//!   bucket's upper bound: within a fifth of the truth, rounded up);
//! - per tenant: counters `tenant_spawned_total`,
//!   `tenant_completed_total`, `tenant_refused_total{reason}`,
//!   `tenant_expired_total`, `tenant_cpu_nanoseconds_total`,
//!   `tenant_io_total{kind}`; gauges `tenant_queued{class}`,
//!   `tenant_in_flight`, `tenant_running`, `tenant_io_in_flight{kind}`.

use std::collections::BTreeMap;

use metrics::{counter, gauge, histogram};

use crate::snapshot::{Snapshot, TenantRow};
use crate::vocabulary::{CLASS_NAMES, IO_KIND_NAMES, IO_KINDS, REASON_NAMES};

/// The default bound on tenants with a label of their own: 20, few enough
/// for any metrics backend (20 tenants × 4 classes × a dozen series), and
/// more than the tenants an operator looks at.
pub const DEFAULT_TENANT_LABELS: usize = 20;

/// The label of the tenants without one of their own.
pub const OTHER: &str = "other";

/// Exports snapshots through the `metrics` facade. See the module docs.
#[derive(Debug, Clone)]
pub struct Exporter {
    max_tenant_labels: usize,
    /// Tenants with a label of their own: id and name.
    labelled: Vec<(u32, String)>,
    /// Per class, the bucket counts of the queueing-delay and poll-time
    /// histograms at the last export (at most `BUCKETS` each): what the
    /// next export records is the difference.
    histograms: BTreeMap<String, (Exported, Exported)>,
}

/// A histogram's bucket counts as last exported: upper bound (ns) to
/// count.
type Exported = BTreeMap<u64, u64>;

impl Default for Exporter {
    fn default() -> Exporter {
        Exporter::new(DEFAULT_TENANT_LABELS)
    }
}

impl Exporter {
    /// An exporter that gives at most `max_tenant_labels` tenants a label
    /// of their own.
    pub fn new(max_tenant_labels: usize) -> Exporter {
        Exporter {
            max_tenant_labels,
            labelled: Vec::new(),
            histograms: BTreeMap::new(),
        }
    }

    /// The tenants with a label of their own: pass them to the snapshot
    /// (`snapshot_with`) so that it has their rows even when they are in
    /// no ranking.
    pub fn tenants(&self) -> Vec<u32> {
        self.labelled.iter().map(|&(id, _)| id).collect()
    }

    /// Sets every series from `snapshot`.
    pub fn export(&mut self, snapshot: &Snapshot) {
        self.label_new_tenants(snapshot);
        process(snapshot);
        for c in &snapshot.classes {
            let (delays, polls) = self.histograms.entry(c.name.clone()).or_default();
            histogram_since(
                "drama_class_queue_delay_seconds",
                &c.name,
                &c.queue_delay_buckets,
                delays,
            );
            histogram_since(
                "drama_class_poll_time_seconds",
                &c.name,
                &c.poll_time_buckets,
                polls,
            );
        }

        // The labelled tenants' rows, and the rest summed as `other`.
        let mut other = Sums::default();
        let p = &snapshot.process;
        other.cpu_ns = p.totals.cpu_ns;
        other.expired = p.totals.expired;
        other.spawned = p.totals.spawned;
        other.completed = p.totals.completed;
        for (id, name) in &self.labelled {
            let Some(row) = snapshot.tenant(*id) else {
                continue;
            };
            tenant(name, row);
            other.cpu_ns = other.cpu_ns.saturating_sub(row.cpu_ns);
            other.expired = other.expired.saturating_sub(row.expired);
            other.spawned = other.spawned.saturating_sub(row.spawned);
            other.completed = other.completed.saturating_sub(row.completed);
        }
        counter!("drama_tenant_cpu_nanoseconds_total", "tenant" => OTHER).absolute(other.cpu_ns);
        counter!("drama_tenant_expired_total", "tenant" => OTHER).absolute(other.expired);
        counter!("drama_tenant_spawned_total", "tenant" => OTHER).absolute(other.spawned);
        counter!("drama_tenant_completed_total", "tenant" => OTHER).absolute(other.completed);
        // Refusals by reason are known per ranked row only; `other`'s are
        // those of the rows in the snapshot that have no label, plus the
        // refusals of unranked tenants, which the process total holds.
        let labelled_refused: u64 = self
            .labelled
            .iter()
            .filter_map(|(id, _)| snapshot.tenant(*id))
            .map(TenantRow::refused_total)
            .sum();
        counter!("drama_tenant_refused_total", "tenant" => OTHER, "reason" => "any")
            .absolute(p.totals.refused.saturating_sub(labelled_refused));
    }

    /// Gives a label to the ranked tenants without one, while there is
    /// room.
    fn label_new_tenants(&mut self, snapshot: &Snapshot) {
        let ranked = snapshot
            .heavy_hitters
            .iter()
            .chain(&snapshot.deep_queues)
            .chain(&snapshot.most_throttled);
        for r in ranked {
            if self.labelled.len() >= self.max_tenant_labels {
                return;
            }
            if self.labelled.iter().any(|&(id, _)| id == r.id) {
                continue;
            }
            if let Some(row) = snapshot.tenant(r.id) {
                self.labelled.push((r.id, row.name.clone()));
            }
        }
    }
}

#[derive(Default)]
struct Sums {
    cpu_ns: u64,
    expired: u64,
    spawned: u64,
    completed: u64,
}

fn process(s: &Snapshot) {
    let p = &s.process;
    gauge!("drama_load_score").set(p.load_score);
    gauge!("drama_utilization").set(p.utilization);
    gauge!("drama_saturated").set(if p.armed { 1.0 } else { 0.0 });
    gauge!("drama_queue_delay_seconds", "quantile" => "0.5").set(p.queue_delay_p50_ns as f64 / 1e9);
    gauge!("drama_queue_delay_seconds", "quantile" => "0.99")
        .set(p.queue_delay_p99_ns as f64 / 1e9);
    gauge!("drama_refusals_per_second").set(p.refusals_per_sec);
    gauge!("drama_tasks").set(p.tasks as f64);
    gauge!("drama_in_flight").set(p.in_flight as f64);
    gauge!("drama_queued").set(p.queued as f64);
    gauge!("drama_threads").set(p.threads as f64);
    gauge!("drama_workers").set(p.workers as f64);
    gauge!("drama_tenants").set(p.tenants as f64);
    gauge!("drama_blocking_threads").set(p.blocking_threads as f64);
    gauge!("drama_blocking_queued").set(p.blocking_queued as f64);
    counter!("drama_stuck_replaced_total").absolute(p.stuck_replaced);
    for (i, w) in s.workers.iter().enumerate() {
        gauge!("drama_worker_utilization", "worker" => i.to_string()).set(w.utilization);
    }
    for c in &s.classes {
        let class = c.name.clone();
        counter!("drama_class_spawned_total", "class" => class.clone()).absolute(c.spawned);
        counter!("drama_class_completed_total", "class" => class.clone()).absolute(c.completed);
        counter!("drama_class_refused_total", "class" => class.clone()).absolute(c.refused);
        counter!("drama_class_polls_total", "class" => class.clone()).absolute(c.polls);
        counter!("drama_class_cpu_nanoseconds_total", "class" => class.clone()).absolute(c.cpu_ns);
    }
}

/// Records into the histogram `name{class}` what `buckets` (cumulative,
/// as a snapshot gives them) added since `last` (the previous export's),
/// each bucket at its upper bound, in seconds; `last` becomes `buckets`.
fn histogram_since(name: &'static str, class: &str, buckets: &[(u64, u64)], last: &mut Exported) {
    let histogram = histogram!(name, "class" => class.to_string());
    for &(upper_ns, count) in buckets {
        let before = last.insert(upper_ns, count).unwrap_or(0);
        let new = count.saturating_sub(before);
        if new > 0 {
            histogram.record_many(
                upper_ns as f64 / 1e9,
                usize::try_from(new).unwrap_or(usize::MAX),
            );
        }
    }
}

fn tenant(name: &str, t: &TenantRow) {
    let tenant = name.to_string();
    counter!("drama_tenant_cpu_nanoseconds_total", "tenant" => tenant.clone()).absolute(t.cpu_ns);
    counter!("drama_tenant_expired_total", "tenant" => tenant.clone()).absolute(t.expired);
    gauge!("drama_tenant_in_flight", "tenant" => tenant.clone()).set(t.in_flight as f64);
    gauge!("drama_tenant_running", "tenant" => tenant.clone()).set(t.running as f64);
    counter!("drama_tenant_spawned_total", "tenant" => tenant.clone()).absolute(t.spawned);
    counter!("drama_tenant_completed_total", "tenant" => tenant.clone()).absolute(t.completed);
    for (i, class) in CLASS_NAMES.iter().enumerate() {
        gauge!("drama_tenant_queued", "tenant" => tenant.clone(), "class" => *class)
            .set(t.queued[i] as f64);
    }
    for (i, reason) in REASON_NAMES.iter().enumerate() {
        counter!("drama_tenant_refused_total", "tenant" => tenant.clone(), "reason" => *reason)
            .absolute(t.refused[i]);
    }
    for (i, kind) in IO_KIND_NAMES.iter().enumerate().take(IO_KINDS) {
        counter!("drama_tenant_io_total", "tenant" => tenant.clone(), "kind" => *kind)
            .absolute(t.io_done[i]);
        gauge!("drama_tenant_io_in_flight", "tenant" => tenant.clone(), "kind" => *kind)
            .set(t.io_in_flight[i] as f64);
    }
}
