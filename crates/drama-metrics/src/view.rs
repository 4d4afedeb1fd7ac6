//! From readings to a [`Snapshot`]: the recent window, the totals and the
//! rankings. Pure: the runtime streams in what it read (cumulative
//! counters, one tenant at a time) and the time; nothing here reads a
//! clock or touches a thread, so it is tested with scripted readings.
//!
//! **Window.** Counters are cumulative; the recent figures are differences
//! with a reading kept from an earlier snapshot. A [`Window`] keeps two
//! readings: the newer is replaced once it is at least [`MIN_WINDOW_NS`]
//! old, and the snapshot's baseline is the older one kept, so the window
//! is one to two seconds long when snapshots come once a second or more
//! often (drama-top), and the time since the previous snapshot when they
//! come less often (a scrape every 15 s). Before the first second the
//! window starts at the runtime's start.
//!
//! **Rankings.** Each ranking keeps its `top` tenants in a bounded heap as
//! the tenants stream by: the answer is exact (the inputs are exact
//! per-tenant counts, not a sketch) and the snapshot's size is bounded by
//! `top` whatever the number of tenants. The memory that grows with the
//! tenants is the window's two readings, 32 bytes a tenant (see
//! [`Window::memory_bytes`]), next to the runtime's own per-tenant
//! counters.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::buckets::Counts;
use crate::snapshot::{ClassRow, Process, Ranked, Snapshot, TenantRow, Totals, WorkerRow};
use crate::vocabulary::CLASS_NAMES;

/// The shortest window: 1 s. Shorter, and a ranking by CPU flickers with
/// each scheduling quantum; longer, and a tenant that turned heavy shows
/// late.
pub const MIN_WINDOW_NS: u64 = 1_000_000_000;

/// One worker's cumulative counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerReading {
    /// Time spent idle (spinning or parked), ns.
    pub idle_ns: u64,
    /// Polls.
    pub polls: u64,
}

/// One class's cumulative counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassReading {
    /// Tasks spawned and completed.
    pub spawned: u64,
    /// See `spawned`.
    pub completed: u64,
    /// Spawns and admissions refused (a tenant's refusals are by reason,
    /// not by class).
    pub refused: u64,
    /// Polls and their CPU (ns).
    pub polls: u64,
    /// See `polls`.
    pub poll_ns: u64,
    /// Queueing delays of the polls started from the fair queue, and poll
    /// times.
    pub queue_delays: Counts,
    /// See `queue_delays`.
    pub poll_times: Counts,
}

/// A reading kept for the next windows.
#[derive(Clone, Debug, Default)]
struct Mark {
    at_ns: u64,
    /// By tenant id: CPU ns and refusals.
    cpu_ns: Vec<u64>,
    refused: Vec<u64>,
    workers: Vec<WorkerReading>,
    /// By class: queueing delays and poll times.
    classes: Vec<(Counts, Counts)>,
}

/// The readings recent figures are measured from. See the module docs.
#[derive(Debug)]
pub struct Window {
    start_ns: u64,
    older: Mark,
    newer: Mark,
}

impl Window {
    /// A window for a runtime started at `start_ns` (on the clock the
    /// snapshots' `now_ns` come from).
    pub fn new(start_ns: u64) -> Window {
        let mark = Mark {
            at_ns: start_ns,
            ..Mark::default()
        };
        Window {
            start_ns,
            older: mark.clone(),
            newer: mark,
        }
    }

    /// Starts a snapshot at `now_ns` that ranks `top` tenants per ranking.
    pub fn begin(&mut self, now_ns: u64, top: usize) -> View<'_> {
        let rotate = now_ns.saturating_sub(self.newer.at_ns) >= MIN_WINDOW_NS;
        if rotate {
            self.older = std::mem::take(&mut self.newer);
        }
        View {
            now_ns,
            next: rotate.then(|| Mark {
                at_ns: now_ns,
                ..Mark::default()
            }),
            window: self,
            heavy: Top::new(top),
            deep: Top::new(top),
            throttled: Top::new(top),
            wanted: Vec::new(),
            totals: Totals::default(),
            tenants: 0,
            cpu_ns_window: 0,
            refused_window: 0,
            queued: 0,
        }
    }

    /// The memory the window holds, in bytes: 32 bytes per tenant id up to
    /// the largest seen (two readings of CPU and refusals), plus the
    /// workers' and classes' readings.
    pub fn memory_bytes(&self) -> usize {
        [&self.older, &self.newer]
            .iter()
            .map(|m| {
                (m.cpu_ns.capacity() + m.refused.capacity()) * 8
                    + m.workers.capacity() * std::mem::size_of::<WorkerReading>()
                    + m.classes.len() * 2 * crate::buckets::BUCKETS * 8
            })
            .sum()
    }
}

/// A snapshot being built: stream every tenant's reading through
/// [`tenant`](Self::tenant), then [`finish`](Self::finish).
#[derive(Debug)]
pub struct View<'a> {
    window: &'a mut Window,
    now_ns: u64,
    /// The reading to keep, when this snapshot replaces the newer one.
    next: Option<Mark>,
    heavy: Top,
    deep: Top,
    throttled: Top,
    /// Rows asked for by id, ranked or not.
    wanted: Vec<TenantRow>,
    totals: Totals,
    tenants: u64,
    cpu_ns_window: u64,
    refused_window: u64,
    queued: u64,
}

impl View<'_> {
    /// Adds a tenant's reading: its row with the counts since the start
    /// and its state now filled in (its name and window figures are this
    /// view's to fill). `wanted` puts its row in the snapshot even if it
    /// is in no ranking. Readings come in increasing id order.
    pub fn tenant(&mut self, reading: &TenantRow, wanted: bool) {
        let id = reading.id as usize;
        let refused: u64 = reading.refused.iter().sum();
        if let Some(next) = &mut self.next {
            // Ids not streamed (inactive ranges) read as zero.
            next.cpu_ns.resize(id, 0);
            next.refused.resize(id, 0);
            next.cpu_ns.push(reading.cpu_ns);
            next.refused.push(refused);
        }
        if !reading.is_active() && !wanted {
            return;
        }
        let base = &self.window.older;
        let cpu_window = reading
            .cpu_ns
            .saturating_sub(base.cpu_ns.get(id).copied().unwrap_or(0));
        let refused_window = refused.saturating_sub(base.refused.get(id).copied().unwrap_or(0));
        let queued: u64 = reading.queued.iter().sum();

        self.tenants += 1;
        let t = &mut self.totals;
        t.spawned += reading.spawned;
        t.completed += reading.completed;
        t.panicked += reading.panicked;
        t.cancelled += reading.cancelled;
        t.expired += reading.expired;
        t.refused += refused;
        t.polls += reading.polls;
        t.cpu_ns += reading.cpu_ns;
        self.cpu_ns_window += cpu_window;
        self.refused_window += refused_window;
        self.queued += queued;

        let key = |value: u64| (value, Reverse(reading.id));
        let takes = self.heavy.takes(key(cpu_window))
            || self.deep.takes(key(queued))
            || self.throttled.takes(key(refused_window));
        if !takes && !wanted {
            return;
        }
        let mut row = reading.clone();
        row.cpu_ns_window = cpu_window;
        row.refused_window = refused_window;
        self.heavy.offer(key(cpu_window), &row);
        self.deep.offer(key(queued), &row);
        self.throttled.offer(key(refused_window), &row);
        if wanted {
            self.wanted.push(row);
        }
    }

    /// The snapshot: `process` with the totals filled in, the workers' and
    /// classes' readings made rows, and `name` asked for the name of each
    /// tenant with a row.
    pub fn finish(
        self,
        mut process: Process,
        workers: &[WorkerReading],
        classes: &[ClassReading],
        mut name: impl FnMut(u32) -> String,
    ) -> Snapshot {
        let View {
            window,
            now_ns,
            next,
            heavy,
            deep,
            throttled,
            wanted,
            totals,
            tenants,
            cpu_ns_window,
            refused_window,
            queued,
        } = self;
        let base = &window.older;
        let span_ns = now_ns.saturating_sub(base.at_ns).max(1);
        let workers_rows = workers
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let was = base.workers.get(i).copied().unwrap_or_default();
                let idle = w.idle_ns.saturating_sub(was.idle_ns).min(span_ns);
                WorkerRow {
                    utilization: 1.0 - idle as f64 / span_ns as f64,
                    polls_per_sec: w.polls.saturating_sub(was.polls) as f64 * 1e9 / span_ns as f64,
                }
            })
            .collect();
        let empty = (Counts::new(), Counts::new());
        let class_rows = classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (delays, polls) = base.classes.get(i).unwrap_or(&empty);
                ClassRow {
                    name: CLASS_NAMES.get(i).copied().unwrap_or("?").to_string(),
                    spawned: c.spawned,
                    completed: c.completed,
                    refused: c.refused,
                    polls: c.polls,
                    cpu_ns: c.poll_ns,
                    queue_delay: c.queue_delays.since(delays).summary(),
                    poll_time: c.poll_times.since(polls).summary(),
                    queue_delay_buckets: c.queue_delays.non_empty(),
                    poll_time_buckets: c.poll_times.non_empty(),
                }
            })
            .collect();

        let mut rows: Vec<TenantRow> = Vec::new();
        let share = |value: u64, total: u64| {
            if total == 0 {
                0.0
            } else {
                value as f64 / total as f64
            }
        };
        let mut rank = |top: Top, total: u64| -> Vec<Ranked> {
            top.into_sorted()
                .into_iter()
                .map(|(value, row)| {
                    let ranked = Ranked {
                        id: row.id,
                        value,
                        share: share(value, total),
                    };
                    rows.push(row);
                    ranked
                })
                .collect()
        };
        let heavy_hitters = rank(heavy, cpu_ns_window);
        let deep_queues = rank(deep, queued);
        let most_throttled = rank(throttled, refused_window);
        rows.extend(wanted);
        rows.sort_by_key(|r| r.id);
        rows.dedup_by_key(|r| r.id);
        for row in &mut rows {
            row.name = name(row.id);
        }

        process.tenants = process.tenants.max(tenants);
        process.totals = totals;
        process.queued = queued;
        process.cpu_ns_window = cpu_ns_window;
        process.refused_window = refused_window;

        if let Some(mut next) = next {
            next.workers = workers.to_vec();
            next.classes = classes
                .iter()
                .map(|c| (c.queue_delays.clone(), c.poll_times.clone()))
                .collect();
            window.newer = next;
        }
        Snapshot {
            uptime_ms: now_ns.saturating_sub(window.start_ns) / 1_000_000,
            window_ms: span_ns / 1_000_000,
            process,
            workers: workers_rows,
            classes: class_rows,
            tenants: rows,
            heavy_hitters,
            deep_queues,
            most_throttled,
        }
    }
}

/// A ranking's key: the value, then the lower id first on ties.
type Key = (u64, Reverse<u32>);

/// The `k` largest keys seen, with their rows: a min-heap whose root is
/// the entry the next larger key evicts.
#[derive(Debug)]
struct Top {
    k: usize,
    heap: BinaryHeap<Reverse<Entry>>,
}

#[derive(Debug)]
struct Entry(Key, Box<TenantRow>);

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.0 == other.0
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl Top {
    fn new(k: usize) -> Top {
        Top {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Whether `key` would enter the ranking (a zero value never does).
    fn takes(&self, key: Key) -> bool {
        key.0 > 0
            && (self.heap.len() < self.k
                || self.heap.peek().is_some_and(|Reverse(least)| key > least.0))
    }

    fn offer(&mut self, key: Key, row: &TenantRow) {
        if !self.takes(key) {
            return;
        }
        self.heap.push(Reverse(Entry(key, Box::new(row.clone()))));
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }

    /// The entries, largest first.
    fn into_sorted(self) -> Vec<(u64, TenantRow)> {
        // `into_sorted_vec` of `Reverse`s is largest first.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(Entry((value, _), row))| (value, *row))
            .collect()
    }
}
