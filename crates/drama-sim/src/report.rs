//! What a run measured: per tenant and class counts, CPU, latency and queue
//! wait, and the fairness helpers.

use std::fmt;

use drama_admission::{Load, RefusalKind};
use drama_policy::{Class, TenantId, Weight};

/// A sorted list of measurements in nanoseconds, with exact percentiles.
///
/// Runs are short enough to keep every sample, so percentiles are exact
/// (nearest rank) rather than estimated from a histogram.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Samples {
    sorted: Vec<u64>,
}

impl Samples {
    pub(crate) fn from_unsorted(mut values: Vec<u64>) -> Samples {
        values.sort_unstable();
        Samples { sorted: values }
    }

    /// All the samples of `parts` together (for example the latencies of
    /// several tenants).
    pub fn merged<'a>(parts: impl IntoIterator<Item = &'a Samples>) -> Samples {
        let mut all = Vec::new();
        for part in parts {
            all.extend_from_slice(&part.sorted);
        }
        Samples::from_unsorted(all)
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The samples, smallest first.
    pub fn as_slice(&self) -> &[u64] {
        &self.sorted
    }

    /// The `p`-th percentile by the nearest-rank method: the smallest
    /// sample with at least `p` % of the samples at or below it. `None`
    /// when there are no samples; `p` is clamped to `0..=100` (0 gives the
    /// minimum).
    pub fn percentile(&self, p: f64) -> Option<u64> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let p = if p.is_nan() {
            100.0
        } else {
            p.clamp(0.0, 100.0)
        };
        let rank = (p / 100.0 * n as f64).ceil() as usize;
        Some(self.sorted[rank.clamp(1, n) - 1])
    }

    /// The largest sample.
    pub fn max(&self) -> Option<u64> {
        self.sorted.last().copied()
    }

    /// The arithmetic mean.
    pub fn mean(&self) -> Option<f64> {
        if self.sorted.is_empty() {
            return None;
        }
        let sum: u128 = self.sorted.iter().map(|&x| u128::from(x)).sum();
        Some(sum as f64 / self.sorted.len() as f64)
    }
}

/// Jain's fairness index of `values`: `(Σx)² / (n · Σx²)`, from `1/n` (one
/// value has everything) to 1 (all equal).
///
/// An empty slice, or one of zeros only, is perfectly fair (1.0).
///
/// ```
/// use drama_sim::jain;
///
/// assert_eq!(jain(&[1.0, 1.0, 1.0, 1.0]), 1.0);
/// assert_eq!(jain(&[1.0, 0.0, 0.0, 0.0]), 0.25);
/// assert!(jain(&[1.0, 1.1]) > 0.99);
/// ```
pub fn jain(values: &[f64]) -> f64 {
    let sum: f64 = values.iter().sum();
    let sum_sq: f64 = values.iter().map(|x| x * x).sum();
    if values.is_empty() || sum_sq == 0.0 {
        return 1.0;
    }
    sum * sum / (values.len() as f64 * sum_sq)
}

/// Requests refused by admission control, counted by [`RefusalKind`].
///
/// The kinds are kept in the order they first occurred (a run is
/// deterministic, so the order is too); there are a handful at most.
///
/// ```
/// use drama_admission::RefusalKind;
/// use drama_sim::Refusals;
///
/// let none = Refusals::default();
/// assert_eq!(none.total(), 0);
/// assert_eq!(none.get(RefusalKind::Overloaded), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refusals {
    counts: Vec<(RefusalKind, u64)>,
}

impl Refusals {
    /// Refusals of `kind`.
    pub fn get(&self, kind: RefusalKind) -> u64 {
        self.counts
            .iter()
            .find(|&&(k, _)| k == kind)
            .map_or(0, |&(_, n)| n)
    }

    /// Refusals of every kind.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|&(_, n)| n).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Each kind that occurred, with its count, in the order first seen.
    pub fn iter(&self) -> impl Iterator<Item = (RefusalKind, u64)> + '_ {
        self.counts.iter().copied()
    }

    pub(crate) fn add(&mut self, kind: RefusalKind, n: u64) {
        match self.counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, count)) => *count += n,
            None => self.counts.push((kind, n)),
        }
    }

    fn add_all(&mut self, other: &Refusals) {
        for (kind, n) in other.iter() {
            self.add(kind, n);
        }
    }
}

impl fmt::Display for Refusals {
    /// `Overloaded 12, OverShare 3`, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.counts.is_empty() {
            return f.write_str("none");
        }
        for (i, (kind, n)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{kind:?} {n}")?;
        }
        Ok(())
    }
}

/// One monitor step of a run with admission control: what the simulator
/// measured over the step, the load the admission computed from it, and
/// what it decided during the step.
///
/// The series of them ([`Report::load`]) is what T5 reads: when the score
/// rose, when refusals began and when they stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct LoadPoint {
    /// The end of the step, when the sample was taken.
    pub at_ns: u64,
    /// The sample's queueing delay: the mean wait, from arrival to the
    /// start of its first poll, of the requests first polled during the
    /// step, or the age of the oldest request still waiting for its first
    /// poll when that is more.
    pub queue_delay_ns: u64,
    /// The sample's utilization: the workers' busy time over the step,
    /// divided by the workers' time.
    pub utilization: f64,
    /// The admission's load once it took the sample: what the decisions
    /// of the next step are made from.
    pub load: Load,
    /// New requests admitted during the step (since the previous point).
    pub admitted: u64,
    /// New requests refused by admission control during the step.
    pub refused: u64,
    /// When the step's first refusal happened; `None` without refusals.
    pub first_refusal_ns: Option<u64>,
    /// When the step's last refusal happened; `None` without refusals.
    pub last_refusal_ns: Option<u64>,
}

/// What a run measured for one tenant in one class (or, from
/// [`TenantReport::total`], over all its classes).
///
/// Counts and samples cover requests that *arrived* after the warm-up; CPU
/// covers poll time *spent* after the warm-up.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ClassReport {
    /// Requests that arrived after the warm-up.
    pub generated: u64,
    /// Of those, the ones that completed before the end.
    pub completed: u64,
    /// Of those, the ones refused (dropped by the client, or retried as a
    /// new request by a closed loop): by admission control on arrival, or
    /// by the policy's queue bound on an enqueue or a requeue.
    pub refused: u64,
    /// Of those, the ones admission control admitted (all of them in a run
    /// without admission control). A request is asked once, on arrival;
    /// once admitted it is never refused by admission again.
    pub admitted: u64,
    /// The part of `refused` that admission control refused, by kind; the
    /// rest was refused by the policy.
    pub refused_by_admission: Refusals,
    /// CPU charged, counting only poll time after the warm-up.
    pub cpu_ns: u64,
    /// Polls that ended after the warm-up.
    pub polls: u64,
    /// The longest wait of one task between two of its polls (from the end
    /// of one to the start of the next), over waits that ended after the
    /// warm-up or were still going on at the end of the run. A task is a
    /// request, or a closed-loop slot serving its requests one after
    /// another. `None` when no task was polled twice.
    pub max_poll_gap_ns: Option<u64>,
    /// Completion minus arrival, per completed request.
    pub latency_ns: Samples,
    /// First pick minus arrival, per request picked at least once.
    pub queue_wait_ns: Samples,
}

impl ClassReport {
    fn add(&mut self, other: &ClassReport) {
        self.generated += other.generated;
        self.completed += other.completed;
        self.refused += other.refused;
        self.admitted += other.admitted;
        self.refused_by_admission
            .add_all(&other.refused_by_admission);
        self.cpu_ns += other.cpu_ns;
        self.polls += other.polls;
        self.max_poll_gap_ns = match (self.max_poll_gap_ns, other.max_poll_gap_ns) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// The fraction of generated requests that were not refused, by
    /// admission control or the policy (1.0 when none were generated).
    pub fn admitted_fraction(&self) -> f64 {
        if self.generated == 0 {
            1.0
        } else {
            1.0 - self.refused as f64 / self.generated as f64
        }
    }
}

/// What a run measured for one tenant.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TenantReport {
    /// The tenant's name in the workload.
    pub name: String,
    /// The id it was scheduled under.
    pub id: TenantId,
    /// Its weight.
    pub weight: Weight,
    /// Per class, indexed by [`Class::priority`].
    pub classes: [ClassReport; Class::COUNT],
}

impl TenantReport {
    /// The tenant's figures in `class`.
    pub fn class(&self, class: Class) -> &ClassReport {
        &self.classes[class.priority()]
    }

    /// The tenant's figures over all classes (samples merged).
    pub fn total(&self) -> ClassReport {
        let mut total = ClassReport::default();
        for class in &self.classes {
            total.add(class);
        }
        total.latency_ns = Samples::merged(self.classes.iter().map(|c| &c.latency_ns));
        total.queue_wait_ns = Samples::merged(self.classes.iter().map(|c| &c.queue_wait_ns));
        total
    }

    /// CPU charged after the warm-up, over all classes.
    pub fn cpu_ns(&self) -> u64 {
        self.classes.iter().map(|c| c.cpu_ns).sum()
    }

    /// Requests completed (of those that arrived after the warm-up).
    pub fn completed(&self) -> u64 {
        self.classes.iter().map(|c| c.completed).sum()
    }

    /// Polls that ended after the warm-up, over all classes.
    pub fn polls(&self) -> u64 {
        self.classes.iter().map(|c| c.polls).sum()
    }

    /// The longest wait of one of its tasks between two polls, over all
    /// classes (see [`ClassReport::max_poll_gap_ns`]).
    pub fn max_poll_gap_ns(&self) -> Option<u64> {
        self.classes.iter().filter_map(|c| c.max_poll_gap_ns).max()
    }
}

/// Counts over the whole run, warm-up included, for conservation checks:
/// every generated request ends the run in exactly one of `completed`,
/// `refused`, `queued` or `in_service`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// Requests issued by the clients.
    pub generated: u64,
    /// Requests whose last poll finished.
    pub completed: u64,
    /// Requests refused: by admission control on arrival, or by the policy
    /// (on arrival, or when a yielding request was re-enqueued).
    pub refused: u64,
    /// Requests admission control admitted: every request issued, in a run
    /// without it.
    pub admitted: u64,
    /// Requests admission control refused (part of `refused`): `generated
    /// == admitted + admission_refused`.
    pub admission_refused: u64,
    /// Requests in the policy's queue at the end.
    pub queued: u64,
    /// Requests in a poll on a worker at the end.
    pub in_service: u64,
    /// Successful `enqueue` calls (a yielding request counts once per
    /// yield).
    pub enqueues: u64,
    /// `pick` calls that returned an item.
    pub picks: u64,
    /// Polls charged more than they ran (see
    /// [`ChargeNoise`](crate::ChargeNoise)).
    pub noisy_charges: u64,
}

/// The result of a run: per tenant and class figures, run totals, and the
/// hash of the trace.
///
/// `Display` prints a table, one row per tenant and one per active class of
/// each tenant with more than one; `gap max` is the longest wait of a task
/// between two of its polls.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// The run's seed.
    pub seed: u64,
    /// Virtual workers.
    pub workers: usize,
    /// Virtual time the run lasted.
    pub duration_ns: u64,
    /// Virtual time excluded from the figures at the start.
    pub warmup_ns: u64,
    /// Per tenant, in workload order.
    pub tenants: Vec<TenantReport>,
    /// Whole-run counts.
    pub totals: Totals,
    /// FNV-1a hash of every enqueue, refusal and pick (time, worker,
    /// tenant, class, request id), and with admission control of every
    /// monitor sample and admission refusal (with its kind): equal seeds
    /// and configurations give equal hashes.
    pub trace_hash: u64,
    /// With admission control, one point per monitor step, in time order,
    /// over the whole run (warm-up included: T5 reads the onset of
    /// overload from it); empty without. Bounded by
    /// [`MAX_MONITOR_STEPS`](crate::MAX_MONITOR_STEPS).
    pub load: Vec<LoadPoint>,
}

impl Report {
    /// The measured window: duration minus warm-up.
    pub fn window_ns(&self) -> u64 {
        self.duration_ns - self.warmup_ns
    }

    /// The CPU time the workers had in the window: workers × window.
    pub fn capacity_ns(&self) -> u64 {
        self.workers as u64 * self.window_ns()
    }

    /// CPU charged in the window, over all tenants.
    pub fn cpu_ns(&self) -> u64 {
        self.tenants.iter().map(TenantReport::cpu_ns).sum()
    }

    /// Requests completed in the window, over all tenants.
    pub fn completed(&self) -> u64 {
        self.tenants.iter().map(TenantReport::completed).sum()
    }

    /// Polls that ended in the window, over all tenants.
    pub fn polls(&self) -> u64 {
        self.tenants.iter().map(TenantReport::polls).sum()
    }

    /// The longest wait of any task between two of its polls.
    pub fn max_poll_gap_ns(&self) -> Option<u64> {
        self.tenants
            .iter()
            .filter_map(TenantReport::max_poll_gap_ns)
            .max()
    }

    /// Tenant `idx`'s fraction of the CPU charged in the window.
    pub fn cpu_share(&self, idx: usize) -> f64 {
        ratio(self.tenants[idx].cpu_ns(), self.cpu_ns())
    }

    /// Tenant `idx`'s fraction of the completions in the window.
    pub fn throughput_share(&self, idx: usize) -> f64 {
        ratio(self.tenants[idx].completed(), self.completed())
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Formats nanoseconds as microseconds with one decimal, or `-` for none.
pub(crate) fn us(ns: Option<u64>) -> String {
    match ns {
        Some(ns) => format!("{:.1}", ns as f64 / 1_000.0),
        None => "-".to_string(),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {}, {} workers, {:.3} s (warm-up {:.3} s), trace {:016x}; latency and wait in µs",
            self.seed,
            self.workers,
            self.duration_ns as f64 / 1e9,
            self.warmup_ns as f64 / 1e9,
            self.trace_hash
        )?;
        writeln!(
            f,
            "{:<12} {:<8} {:>6} {:>8} {:>7} {:>9} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "tenant",
            "class",
            "weight",
            "done",
            "refused",
            "cpu ms",
            "cpu%",
            "thr%",
            "lat p50",
            "lat p99",
            "lat p99.9",
            "lat max",
            "wait p50",
            "wait p99",
            "wait max",
            "gap max"
        )?;
        let cpu = self.cpu_ns();
        let completed = self.completed();
        for tenant in &self.tenants {
            let active: Vec<Class> = Class::ALL
                .into_iter()
                .filter(|&c| tenant.class(c).generated > 0 || tenant.class(c).cpu_ns > 0)
                .collect();
            let total = tenant.total();
            let label = if active.len() == 1 {
                active[0].as_str()
            } else {
                "all"
            };
            row(
                f,
                &tenant.name,
                label,
                Some(tenant.weight),
                &total,
                cpu,
                completed,
            )?;
            if active.len() > 1 {
                for class in active {
                    row(
                        f,
                        "",
                        class.as_str(),
                        None,
                        tenant.class(class),
                        cpu,
                        completed,
                    )?;
                }
            }
        }
        let t = &self.totals;
        write!(
            f,
            "run totals: generated {}, completed {}, refused {}, queued {}, in service {}",
            t.generated, t.completed, t.refused, t.queued, t.in_service
        )?;
        if let Some(peak) = self
            .load
            .iter()
            .max_by(|a, b| a.load.score.total_cmp(&b.load.score))
        {
            let mut by_kind = Refusals::default();
            for tenant in &self.tenants {
                by_kind.add_all(&tenant.total().refused_by_admission);
            }
            write!(
                f,
                "\nadmission: admitted {}, refused {} (run totals); after the warm-up refused by kind: {by_kind}; load score peak {:.2} at {:.1} ms",
                t.admitted,
                t.admission_refused,
                peak.load.score,
                peak.at_ns as f64 / 1e6
            )?;
        }
        Ok(())
    }
}

fn row(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    class: &str,
    weight: Option<Weight>,
    r: &ClassReport,
    cpu_ns: u64,
    completed: u64,
) -> fmt::Result {
    writeln!(
        f,
        "{:<12} {:<8} {:>6} {:>8} {:>7} {:>9.1} {:>6.2} {:>6.2} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        name,
        class,
        weight.map_or(String::new(), |w| w.to_string()),
        r.completed,
        r.refused,
        r.cpu_ns as f64 / 1e6,
        100.0 * ratio(r.cpu_ns, cpu_ns),
        100.0 * ratio(r.completed, completed),
        us(r.latency_ns.percentile(50.0)),
        us(r.latency_ns.percentile(99.0)),
        us(r.latency_ns.percentile(99.9)),
        us(r.latency_ns.max()),
        us(r.queue_wait_ns.percentile(50.0)),
        us(r.queue_wait_ns.percentile(99.0)),
        us(r.queue_wait_ns.max()),
        us(r.max_poll_gap_ns),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = Samples::from_unsorted((1..=100).rev().collect());
        assert_eq!(s.percentile(50.0), Some(50));
        assert_eq!(s.percentile(99.0), Some(99));
        assert_eq!(s.percentile(99.9), Some(100));
        assert_eq!(s.percentile(0.0), Some(1));
        assert_eq!(s.max(), Some(100));
        assert_eq!(Samples::default().percentile(50.0), None);
        let one = Samples::from_unsorted(vec![7]);
        assert_eq!(one.percentile(99.9), Some(7));
    }

    #[test]
    fn jain_bounds() {
        assert_eq!(jain(&[]), 1.0);
        assert_eq!(jain(&[0.0, 0.0]), 1.0);
        assert!((jain(&[3.0, 0.0, 0.0]) - 1.0 / 3.0).abs() < 1e-12);
    }
}
