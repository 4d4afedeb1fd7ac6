//! What a worker records at every poll, in memory of its own.
//!
//! Each worker owns one [`WorkerRecorder`] and is its only writer: a poll
//! adds to its tenant's cell and to its class's cell with relaxed loads and
//! stores (no locked instruction, no shared line, no allocation once the
//! tenant's page exists). Readers (a snapshot) load the same atomics from
//! any thread, without stopping the worker, and add the workers up.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::buckets::Histogram;
use crate::snapshot::TenantRow;
use crate::view::ClassReading;
use crate::vocabulary::CLASSES;

/// Tenants per page of a recorder: a page (48 KiB) is allocated when a
/// tenant of its range is first polled by that worker, so a pool with a
/// large `max_tenants` pays only for the ranges in use. 1,024 keeps the
/// first page small for services with a few tenants.
pub const PAGE_TENANTS: usize = 1024;

/// Bytes a page of tenant cells takes.
const PAGE_BYTES: usize = PAGE_TENANTS * std::mem::size_of::<TenantCell>();

/// One tenant's tasks and polls on one worker.
#[derive(Default)]
struct TenantCell {
    /// Tasks spawned from this worker, and tasks that completed on it.
    spawned: AtomicU64,
    completed: AtomicU64,
    polls: AtomicU64,
    poll_ns: AtomicU64,
    /// Polls started from the fair queue (not the hand-off slot), and
    /// their queueing delay in total.
    queued_polls: AtomicU64,
    queue_delay_ns: AtomicU64,
}

/// One class's tasks and polls on one worker (its polls are the poll-time
/// histogram's count).
struct ClassCell {
    spawned: AtomicU64,
    completed: AtomicU64,
    poll_ns: AtomicU64,
    queue_delays: Histogram,
    poll_times: Histogram,
}

/// A worker's polls, by tenant and by class. See the module docs.
pub struct WorkerRecorder {
    pages: Box<[OnceLock<Box<[TenantCell]>>]>,
    classes: [ClassCell; CLASSES],
}

impl WorkerRecorder {
    /// A recorder for tenant ids below `max_tenants` (larger ids are
    /// counted in their class only). Allocates the page table (one pointer
    /// per [`PAGE_TENANTS`] tenants) and the class histograms; pages come
    /// on first use.
    pub fn new(max_tenants: u32) -> WorkerRecorder {
        WorkerRecorder {
            pages: (0..(max_tenants as usize).div_ceil(PAGE_TENANTS))
                .map(|_| OnceLock::new())
                .collect(),
            classes: std::array::from_fn(|_| ClassCell {
                spawned: AtomicU64::new(0),
                completed: AtomicU64::new(0),
                poll_ns: AtomicU64::new(0),
                queue_delays: Histogram::new(),
                poll_times: Histogram::new(),
            }),
        }
    }

    /// Records a poll of `tenant`'s task of class `class` (an index below
    /// [`CLASSES`]) that took `poll_ns`, after waiting `queued_ns` in the
    /// fair queue (`None`: it did not come from the queue). Only the owner
    /// may call this. Returns whether it allocated the tenant's page (48
    /// KiB, the first poll of a tenant of its range here): an executor that
    /// charges the time between polls to the next one should not charge
    /// that.
    #[inline]
    pub fn record_poll(
        &self,
        tenant: u32,
        class: usize,
        queued_ns: Option<u64>,
        poll_ns: u64,
    ) -> bool {
        let class = &self.classes[class];
        bump(&class.poll_ns, poll_ns);
        class.poll_times.record(poll_ns);
        if let Some(ns) = queued_ns {
            class.queue_delays.record(ns);
        }
        self.cell(tenant, |cell| {
            bump(&cell.polls, 1);
            bump(&cell.poll_ns, poll_ns);
            if let Some(ns) = queued_ns {
                bump(&cell.queued_polls, 1);
                bump(&cell.queue_delay_ns, ns);
            }
        })
    }

    /// Records a task of `tenant` in `class` spawned by this worker's
    /// thread. Only the owner may call this.
    #[inline]
    pub fn record_spawn(&self, tenant: u32, class: usize) -> bool {
        bump(&self.classes[class].spawned, 1);
        self.cell(tenant, |cell| bump(&cell.spawned, 1))
    }

    /// Records a task of `tenant` in `class` that ran to completion on
    /// this worker. Only the owner may call this.
    #[inline]
    pub fn record_completion(&self, tenant: u32, class: usize) -> bool {
        bump(&self.classes[class].completed, 1);
        self.cell(tenant, |cell| bump(&cell.completed, 1))
    }

    /// Runs `f` on `tenant`'s cell (none past `max_tenants`); returns
    /// whether its page was allocated for it.
    #[inline]
    fn cell(&self, tenant: u32, f: impl FnOnce(&TenantCell)) -> bool {
        let index = tenant as usize;
        let Some(page) = self.pages.get(index / PAGE_TENANTS) else {
            return false;
        };
        let mut allocated = false;
        let cells = page.get_or_init(|| {
            allocated = true;
            new_page()
        });
        f(&cells[index % PAGE_TENANTS]);
        allocated
    }

    /// Adds `tenant`'s counts here to `into`'s spawned, completed, polls,
    /// CPU, and polls from the fair queue with their wait.
    pub fn add_tenant(&self, tenant: u32, into: &mut TenantRow) {
        let index = tenant as usize;
        let Some(cells) = self.pages.get(index / PAGE_TENANTS).and_then(OnceLock::get) else {
            return;
        };
        let cell = &cells[index % PAGE_TENANTS];
        let add = |sum: &mut u64, counter: &AtomicU64| {
            *sum = sum.wrapping_add(counter.load(Ordering::Relaxed));
        };
        add(&mut into.spawned, &cell.spawned);
        add(&mut into.completed, &cell.completed);
        add(&mut into.polls, &cell.polls);
        add(&mut into.cpu_ns, &cell.poll_ns);
        add(&mut into.queued_polls, &cell.queued_polls);
        add(&mut into.queue_delay_ns, &cell.queue_delay_ns);
    }

    /// Adds class `class`'s counts here to `into`.
    pub fn add_class(&self, class: usize, into: &mut ClassReading) {
        let cell = &self.classes[class];
        into.spawned = into
            .spawned
            .wrapping_add(cell.spawned.load(Ordering::Relaxed));
        into.completed = into
            .completed
            .wrapping_add(cell.completed.load(Ordering::Relaxed));
        into.polls = into.polls.wrapping_add(cell.poll_times.count());
        into.poll_ns = into
            .poll_ns
            .wrapping_add(cell.poll_ns.load(Ordering::Relaxed));
        cell.queue_delays.add_to(&mut into.queue_delays);
        cell.poll_times.add_to(&mut into.poll_times);
    }

    /// Polls here, every class.
    pub fn polls(&self) -> u64 {
        self.classes
            .iter()
            .map(|c| c.poll_times.count())
            .fold(0, u64::wrapping_add)
    }

    /// Whether any tenant of the page holding `tenant` was polled here: a
    /// reader skips the page's tenants otherwise.
    pub fn has_page(&self, tenant: u32) -> bool {
        self.pages
            .get(tenant as usize / PAGE_TENANTS)
            .is_some_and(|page| page.get().is_some())
    }

    /// The memory this recorder holds, in bytes: the page table, the pages
    /// in use and the class histograms. At most
    /// `max_tenants.div_ceil(PAGE_TENANTS) * (PAGE_BYTES + 8)` plus a
    /// constant, whatever the load.
    pub fn memory_bytes(&self) -> usize {
        let pages = self.pages.iter().filter(|p| p.get().is_some()).count();
        std::mem::size_of::<WorkerRecorder>()
            + self.pages.len() * std::mem::size_of::<OnceLock<Box<[TenantCell]>>>()
            + pages * PAGE_BYTES
            + CLASSES * 2 * crate::buckets::BUCKETS * 8
    }
}

impl std::fmt::Debug for WorkerRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerRecorder")
            .field("memory_bytes", &self.memory_bytes())
            .finish_non_exhaustive()
    }
}

fn new_page() -> Box<[TenantCell]> {
    (0..PAGE_TENANTS).map(|_| TenantCell::default()).collect()
}

/// Adds `n` to a counter only its owner writes: a load and a store.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_add_up_by_tenant_and_class() {
        let r = WorkerRecorder::new(5000);
        r.record_poll(3, 1, Some(1_000), 10_000);
        r.record_poll(3, 1, None, 20_000);
        r.record_poll(4097, 2, Some(3_000), 5_000);
        // Past max_tenants: in its class only.
        r.record_poll(9_999, 0, None, 7_000);
        let mut t = TenantRow::default();
        r.add_tenant(3, &mut t);
        assert_eq!(
            (t.polls, t.cpu_ns, t.queued_polls, t.queue_delay_ns),
            (2, 30_000, 1, 1_000)
        );
        let mut t = TenantRow::default();
        r.add_tenant(4097, &mut t);
        assert_eq!((t.polls, t.cpu_ns), (1, 5_000));
        let mut c = ClassReading::default();
        r.add_class(0, &mut c);
        assert_eq!((c.polls, c.poll_ns), (1, 7_000));
        let mut c = ClassReading::default();
        r.add_class(1, &mut c);
        assert_eq!(c.poll_times.summary().count, 2);
        assert_eq!(c.queue_delays.summary().count, 1);
        assert!(r.has_page(3) && r.has_page(4097) && !r.has_page(2048));
    }

    #[test]
    fn memory_is_bounded_by_the_pages_in_use() {
        let r = WorkerRecorder::new(100_000);
        let empty = r.memory_bytes();
        for tenant in 0..100_000 {
            r.record_poll(tenant, 2, None, 1);
        }
        let full = r.memory_bytes();
        assert_eq!(
            full - empty,
            100_000usize.div_ceil(PAGE_TENANTS) * PAGE_BYTES
        );
        // 48 bytes a tenant: 4.8 MB for 100,000 tenants on one worker.
        assert!(full < 100_000 * 49 + 64 * 1024, "{full}");
    }
}
