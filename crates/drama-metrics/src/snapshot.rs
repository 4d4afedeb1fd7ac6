//! The scheduler's view at one moment: what an operator reads.
//!
//! A [`Snapshot`] holds the process's figures, each worker's and each
//! class's, and three rankings of tenants (the heavy hitters by CPU over
//! the recent window, the deepest queues now, the most throttled over the
//! window) with a row for each tenant ranked. Its size is bounded by the
//! ranking's length (`top`), whatever the number of tenants. `Display`
//! prints it as a table.

use std::fmt;

use crate::buckets::Summary;
use crate::vocabulary::{CLASSES, IO_KIND_NAMES, IO_KINDS, REASON_NAMES, REASONS};

/// The scheduler's view at one moment. See the module docs.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default)
)]
#[non_exhaustive]
pub struct Snapshot {
    /// Time since the runtime started, ms.
    pub uptime_ms: u64,
    /// The span the recent figures (per-worker utilization, CPU and
    /// refusals in the rankings, the class histograms) cover, ms: from the
    /// reading the runtime kept at least a second ago (or its start) to
    /// now.
    pub window_ms: u64,
    /// The process as a whole.
    pub process: Process,
    /// Each worker.
    pub workers: Vec<WorkerRow>,
    /// Each class, in priority order (`write` first).
    pub classes: Vec<ClassRow>,
    /// Every tenant in a ranking (or asked for by name), by id.
    pub tenants: Vec<TenantRow>,
    /// The tenants that used the most CPU over the window, most first.
    pub heavy_hitters: Vec<Ranked>,
    /// The tenants with the most tasks queued now, most first.
    pub deep_queues: Vec<Ranked>,
    /// The tenants refused the most over the window, most first.
    pub most_throttled: Vec<Ranked>,
}

/// The process as a whole.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default)
)]
#[non_exhaustive]
pub struct Process {
    /// The load score: 0 idle, 1 at the target queueing delay, above 1
    /// overloaded.
    pub load_score: f64,
    /// The workers' utilization, as admission estimates it (0 to 1).
    pub utilization: f64,
    /// Whether admission refuses by load now (the pool is saturated).
    pub armed: bool,
    /// Recent queueing delays (about the last 100 ms): median and 99th
    /// percentile, ns.
    pub queue_delay_p50_ns: u64,
    /// See `queue_delay_p50_ns`.
    pub queue_delay_p99_ns: u64,
    /// Recent refusals per second.
    pub refusals_per_sec: f64,
    /// Tasks alive.
    pub tasks: u64,
    /// Work in flight as admission counts it (tasks and permits).
    pub in_flight: u64,
    /// Worker slots.
    pub workers: u64,
    /// Worker threads alive (replacements and retiring threads included).
    pub threads: u64,
    /// Stuck workers replaced by a fresh thread, and those that could not
    /// be (the thread bound was reached).
    pub stuck_replaced: u64,
    /// See `stuck_replaced`.
    pub stuck_unreplaced: u64,
    /// Blocking-lane threads alive, and closures queued on the lanes.
    pub blocking_threads: u64,
    /// See `blocking_threads`.
    pub blocking_queued: u64,
    /// Tasks queued now (runnable, waiting for a worker), every tenant.
    pub queued: u64,
    /// Tenants the runtime knows (named or seen).
    pub tenants: u64,
    /// Totals over every tenant since the start: see [`TenantRow`].
    pub totals: Totals,
    /// CPU used over the window by every tenant, ns.
    pub cpu_ns_window: u64,
    /// Refusals over the window, every tenant.
    pub refused_window: u64,
}

/// Counts over every tenant, since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default)
)]
#[non_exhaustive]
pub struct Totals {
    /// Tasks spawned (admitted).
    pub spawned: u64,
    /// Tasks that ran to completion.
    pub completed: u64,
    /// Tasks that panicked.
    pub panicked: u64,
    /// Tasks dropped before completing (aborted, or cancelled at shutdown).
    pub cancelled: u64,
    /// Tasks dropped unpolled because their deadline had passed.
    pub expired: u64,
    /// Spawns and admissions refused.
    pub refused: u64,
    /// Polls, and the CPU they used (ns).
    pub polls: u64,
    /// See `polls`.
    pub cpu_ns: u64,
}

/// One worker.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default)
)]
#[non_exhaustive]
pub struct WorkerRow {
    /// The share of the window the worker was not idle (0 to 1).
    pub utilization: f64,
    /// Polls over the window, per second.
    pub polls_per_sec: f64,
}

/// One class of work.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default)
)]
#[non_exhaustive]
pub struct ClassRow {
    /// `write`, `compute`, `read` or `accept`.
    pub name: String,
    /// Since the start: tasks spawned, completed, and refused.
    pub spawned: u64,
    /// See `spawned`.
    pub completed: u64,
    /// See `spawned`.
    pub refused: u64,
    /// Since the start: polls and their CPU, ns.
    pub polls: u64,
    /// See `polls`.
    pub cpu_ns: u64,
    /// Over the window: the queueing delay of polls started from the fair
    /// queue, and the poll times.
    pub queue_delay: Summary,
    /// See `queue_delay`.
    pub poll_time: Summary,
    /// Since the start, the bucket counts behind the two histograms:
    /// (the bucket's upper bound in ns, its count), non-empty buckets
    /// only, for exporters that keep histograms of their own (see
    /// `Exporter`).
    pub queue_delay_buckets: Vec<(u64, u64)>,
    /// See `queue_delay_buckets`.
    pub poll_time_buckets: Vec<(u64, u64)>,
}

/// One tenant: counts since the start, state now, and figures over the
/// window.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default)
)]
#[non_exhaustive]
pub struct TenantRow {
    /// The tenant's id and name.
    pub id: u32,
    /// See `id`.
    pub name: String,
    /// Its weight (shares).
    pub weight: u32,
    /// Tasks spawned (admitted) and completed. (By class, the class rows
    /// have them: a count per tenant and class would cost every worker
    /// four times the memory per tenant.)
    pub spawned: u64,
    /// See `spawned`.
    pub completed: u64,
    /// Tasks that panicked.
    pub panicked: u64,
    /// Tasks dropped before completing (aborted, cancelled at shutdown).
    pub cancelled: u64,
    /// Tasks dropped unpolled past their deadline.
    pub expired: u64,
    /// Spawns and admissions refused, by reason (see [`REASON_NAMES`]).
    pub refused: [u64; REASONS],
    /// Polls, their CPU (ns), and the polls started from the fair queue
    /// with their queueing delay in total (ns).
    pub polls: u64,
    /// See `polls`.
    pub cpu_ns: u64,
    /// See `polls`.
    pub queued_polls: u64,
    /// See `polls`.
    pub queue_delay_ns: u64,
    /// Now: work in flight (tasks alive and permits), tasks queued by
    /// class (runnable, waiting for a worker), tasks being polled.
    pub in_flight: u64,
    /// See `in_flight`.
    pub queued: [u64; CLASSES],
    /// See `in_flight`.
    pub running: u64,
    /// IO operations in flight now, and ended since the start, by kind
    /// (see [`IO_KIND_NAMES`]).
    pub io_in_flight: [u64; IO_KINDS],
    /// See `io_in_flight`.
    pub io_done: [u64; IO_KINDS],
    /// Over the window: CPU used (ns) and refusals.
    pub cpu_ns_window: u64,
    /// See `cpu_ns_window`.
    pub refused_window: u64,
}

impl TenantRow {
    /// Refusals, every reason.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }

    /// Tasks queued now, every class.
    pub fn queued_total(&self) -> u64 {
        self.queued.iter().sum()
    }

    /// Whether the tenant ever did anything (spawned, was refused, was
    /// polled, did IO): the others are left out of every ranking and total.
    pub fn is_active(&self) -> bool {
        self.spawned > 0
            || self.refused.iter().any(|&n| n > 0)
            || self.polls > 0
            || self.in_flight > 0
            || self
                .io_done
                .iter()
                .chain(&self.io_in_flight)
                .any(|&n| n > 0)
    }

    /// The reasons it was refused for, most first: `overloaded 120,
    /// over_share 3`.
    pub fn reasons(&self) -> String {
        let mut by: Vec<(usize, u64)> = self
            .refused
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, n)| n > 0)
            .collect();
        by.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        by.iter()
            .map(|&(i, n)| format!("{} {}", REASON_NAMES[i], fmt_count(n)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The mean queueing delay of its polls from the fair queue, ns.
    pub fn mean_queue_delay_ns(&self) -> u64 {
        self.queue_delay_ns
            .checked_div(self.queued_polls)
            .unwrap_or(0)
    }
}

/// A tenant's place in a ranking.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default)
)]
#[non_exhaustive]
pub struct Ranked {
    /// The tenant (its row is in [`Snapshot::tenants`]).
    pub id: u32,
    /// What it is ranked by: CPU ns over the window, tasks queued now, or
    /// refusals over the window.
    pub value: u64,
    /// Its share of the total over every tenant (0 to 1).
    pub share: f64,
}

impl Snapshot {
    /// The row of tenant `id`, if the snapshot has one.
    pub fn tenant(&self, id: u32) -> Option<&TenantRow> {
        self.tenants.iter().find(|t| t.id == id)
    }

    /// The row of the tenant named `name`, if the snapshot has one.
    pub fn tenant_named(&self, name: &str) -> Option<&TenantRow> {
        self.tenants.iter().find(|t| t.name == name)
    }

    fn window_secs(&self) -> f64 {
        (self.window_ms.max(1)) as f64 / 1e3
    }
}

/// A duration in ns, short: `850ns`, `12.3µs`, `4.5ms`, `2.1s`.
pub fn fmt_ns(ns: u64) -> String {
    let ns_f = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}µs", ns_f / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1}ms", ns_f / 1e6)
    } else {
        format!("{:.1}s", ns_f / 1e9)
    }
}

/// A count, short: `950`, `12.3k`, `4.5M`.
pub fn fmt_count(n: u64) -> String {
    let f = n as f64;
    if n < 10_000 {
        format!("{n}")
    } else if n < 10_000_000 {
        format!("{:.1}k", f / 1e3)
    } else if n < 10_000_000_000 {
        format!("{:.1}M", f / 1e6)
    } else {
        format!("{:.1}G", f / 1e9)
    }
}

/// An uptime, short: `42s`, `3m07s`, `2h05m`.
pub fn fmt_uptime(ms: u64) -> String {
    let s = ms / 1000;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s / 60) % 60)
    }
}

/// A tenant's name cut to `width` characters (with `…` when cut).
pub fn fit(name: &str, width: usize) -> String {
    if name.chars().count() <= width {
        name.to_string()
    } else {
        let mut s: String = name.chars().take(width.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.process;
        let secs = self.window_secs();
        writeln!(
            f,
            "drama  up {}  load {:.2}{}  utilization {:.0}%  queue delay p50 {} p99 {}  refused {:.0}/s",
            fmt_uptime(self.uptime_ms),
            p.load_score,
            if p.armed { " (saturated)" } else { "" },
            p.utilization * 100.0,
            fmt_ns(p.queue_delay_p50_ns),
            fmt_ns(p.queue_delay_p99_ns),
            p.refusals_per_sec,
        )?;
        writeln!(
            f,
            "tasks {}  in flight {}  tenants {}  threads {} ({} workers, {} replaced)  blocking {} threads, {} queued",
            fmt_count(p.tasks),
            fmt_count(p.in_flight),
            fmt_count(p.tenants),
            p.threads,
            p.workers,
            p.stuck_replaced,
            p.blocking_threads,
            p.blocking_queued,
        )?;
        let t = &p.totals;
        writeln!(
            f,
            "since start: spawned {}  completed {}  refused {}  expired {}  panicked {}  cancelled {}  cpu {}",
            fmt_count(t.spawned),
            fmt_count(t.completed),
            fmt_count(t.refused),
            fmt_count(t.expired),
            fmt_count(t.panicked),
            fmt_count(t.cancelled),
            fmt_ns(t.cpu_ns),
        )?;
        write!(f, "workers (last {secs:.1}s):")?;
        for (i, w) in self.workers.iter().enumerate() {
            write!(f, "  #{i} {:.0}%", w.utilization * 100.0)?;
        }
        writeln!(f)?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<8} {:>9} {:>9} {:>9} {:>9}  {:>8} {:>8}  {:>8} {:>8}",
            "class",
            "spawned",
            "completed",
            "refused",
            "cpu",
            "delay50",
            "delay99",
            "poll50",
            "poll99"
        )?;
        for c in &self.classes {
            writeln!(
                f,
                "{:<8} {:>9} {:>9} {:>9} {:>9}  {:>8} {:>8}  {:>8} {:>8}",
                c.name,
                fmt_count(c.spawned),
                fmt_count(c.completed),
                fmt_count(c.refused),
                fmt_ns(c.cpu_ns),
                fmt_ns(c.queue_delay.p50_ns),
                fmt_ns(c.queue_delay.p99_ns),
                fmt_ns(c.poll_time.p50_ns),
                fmt_ns(c.poll_time.p99_ns),
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "heavy hitters (CPU over the last {secs:.1}s)\n  {:<20} {:>6} {:>9} {:>8} {:>6} {:>9} {:>9} {:>9}",
            "tenant", "cpu%", "cpu", "weight", "queued", "in flight", "mean wait", "refused"
        )?;
        for r in &self.heavy_hitters {
            let Some(t) = self.tenant(r.id) else { continue };
            writeln!(
                f,
                "  {:<20} {:>5.1}% {:>9} {:>8} {:>6} {:>9} {:>9} {:>9}",
                fit(&t.name, 20),
                r.share * 100.0,
                fmt_ns(r.value),
                t.weight,
                fmt_count(t.queued_total()),
                fmt_count(t.in_flight),
                fmt_ns(t.mean_queue_delay_ns()),
                fmt_count(t.refused_total()),
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "deep queues (tasks queued now)\n  {:<20} {:>6} {:>7} {:>7} {:>7} {:>7} {:>9}",
            "tenant", "share", "write", "compute", "read", "accept", "in flight"
        )?;
        for r in &self.deep_queues {
            let Some(t) = self.tenant(r.id) else { continue };
            write!(f, "  {:<20} {:>5.1}%", fit(&t.name, 20), r.share * 100.0)?;
            for q in t.queued {
                write!(f, " {:>7}", fmt_count(q))?;
            }
            writeln!(f, " {:>9}", fmt_count(t.in_flight))?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "most throttled (refusals over the last {secs:.1}s)\n  {:<20} {:>6} {:>8} {:>9}  reasons since start",
            "tenant", "share", "per sec", "total"
        )?;
        for r in &self.most_throttled {
            let Some(t) = self.tenant(r.id) else { continue };
            writeln!(
                f,
                "  {:<20} {:>5.1}% {:>8.0} {:>9}  {}",
                fit(&t.name, 20),
                r.share * 100.0,
                r.value as f64 / secs,
                fmt_count(t.refused_total()),
                t.reasons(),
            )?;
        }
        let io: Vec<&TenantRow> = self
            .tenants
            .iter()
            .filter(|t| t.io_in_flight.iter().chain(&t.io_done).any(|&n| n > 0))
            .collect();
        if !io.is_empty() {
            writeln!(f)?;
            write!(f, "IO by kind (in flight / done)\n  {:<20}", "tenant")?;
            for name in IO_KIND_NAMES {
                write!(f, " {name:>13}")?;
            }
            writeln!(f)?;
            for t in io {
                write!(f, "  {:<20}", fit(&t.name, 20))?;
                for k in 0..IO_KINDS {
                    let cell = format!("{} / {}", t.io_in_flight[k], fmt_count(t.io_done[k]));
                    write!(f, " {cell:>13}")?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}
