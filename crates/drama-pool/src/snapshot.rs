//! The scheduler's view: reading the pool's counters into a
//! `drama_metrics::Snapshot`, without stopping a worker.
//!
//! Where each figure comes from:
//! - per tenant, the counters in the admission gate (`gate.rs`: tasks
//!   spawned and completed off the workers' threads, panicked, cancelled,
//!   expired, refused by reason, work and IO in flight, IO done), and the
//!   workers' recorders (each slot's `WorkerRecorder`: tasks spawned and
//!   completed on its thread, polls, CPU, queueing delay), summed;
//! - queued by class, from the runnable tasks (queued, or being polled)
//!   each busy worker publishes for the balancer: the snapshot asks each
//!   one to publish afresh and waits for it, up to [`PUBLISH_WAIT`] (a
//!   worker stuck in a long poll keeps its last view); tasks still in a
//!   worker's inbox are not in it yet; running, from each slot's `running`
//!   word;
//! - the process figures, from the load the monitor last published, the
//!   thread counters and the blocking lanes.
//!
//! A snapshot reads every tenant id whose gate page exists: O(tenants ×
//! workers) loads, about 8 ms for 100,000 tenants on 2 workers, taken by the
//! thread that asks (about once a second for drama-top). The window and
//! the rankings are drama-metrics' (`View`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use drama_core::clock;
use drama_metrics::{CLASSES, ClassReading, Process, Snapshot, TenantRow, WorkerReading};
use drama_policy::{Class, TenantId};

use crate::pool::Shared;
use crate::sync::{Ordering, lock};

/// The default length of each ranking in a snapshot: 10 tenants, what fits
/// on a terminal next to the process summary.
pub(crate) const DEFAULT_TOP: usize = 10;

/// The most tenants a ranking may hold: 1,000. A snapshot holds a row for
/// each tenant ranked, so this bounds its size (about 300 bytes a row).
pub(crate) const MAX_TOP: usize = 1000;

/// How long a snapshot waits for the busy workers to publish their
/// runnable tasks: 5 ms. A worker publishes at its next tick, within a poll
/// (microseconds, usually); one inside a longer poll keeps the view it
/// published last, at most a balancer beat or one snapshot old.
const PUBLISH_WAIT: Duration = Duration::from_millis(5);

/// How often the snapshot looks whether the workers have published while
/// it waits: a worker publishes at its next tick (a poll away), so a
/// tenth of a millisecond loses little, and fifty looks per wait cost
/// nothing.
const PUBLISH_POLL: Duration = Duration::from_micros(100);

/// Reads the pool into a snapshot whose rankings hold `top` tenants (at
/// most [`MAX_TOP`]), with rows for the `wanted` tenants too.
pub(crate) fn snapshot(shared: &Shared, top: usize, wanted: &[TenantId]) -> Snapshot {
    let top = top.min(MAX_TOP);
    let mut wanted: Vec<u32> = wanted.iter().map(|t| t.as_u32()).collect();
    wanted.sort_unstable();

    // Runnable and running tasks now, by tenant. An idle worker holds
    // nothing, whatever it last published (as the balancer reads it).
    let idle = shared.sleepers.idle_mask();
    for slot in shared.slots.iter() {
        slot.publish.store(true, Ordering::Release);
    }
    let until = Instant::now() + PUBLISH_WAIT;
    while Instant::now() < until
        && shared
            .slots
            .iter()
            .enumerate()
            .any(|(index, slot)| idle & (1 << index) == 0 && slot.publish.load(Ordering::Acquire))
    {
        std::thread::sleep(PUBLISH_POLL);
    }
    let mut queued: HashMap<u32, [u64; CLASSES]> = HashMap::new();
    let mut running: HashMap<u32, u64> = HashMap::new();
    for (index, slot) in shared.slots.iter().enumerate() {
        if idle & (1 << index) == 0 {
            let view = lock(&slot.presence);
            for group in &view.groups {
                queued.entry(group.tenant.as_u32()).or_default()[group.class.priority()] +=
                    u64::from(group.tasks);
            }
        }
        // The tenant of the last poll begun, if one is under way (the
        // poll word is odd during a poll): one store per poll, not two.
        let tenant = slot.running.load(Ordering::Relaxed);
        if tenant != 0 && slot.poll.load() & 1 == 1 {
            *running.entry(tenant - 1).or_default() += 1;
        }
    }

    let now_ns = clock::now_ns();
    let mut window = lock(&shared.window);
    let mut view = window.begin(now_ns, top);
    for id in shared.gate.ids_in_use() {
        let mut reading = TenantRow::default();
        reading.id = id;
        shared.gate.read_tenant(&mut reading);
        for slot in shared.slots.iter() {
            slot.recorder.add_tenant(id, &mut reading);
        }
        if let Some(q) = queued.get(&id) {
            reading.queued = *q;
            // The workers' views are a moment older than the gate's count:
            // a tenant never shows more queued than it has in flight.
            let mut over = q.iter().sum::<u64>().saturating_sub(reading.in_flight);
            for q in reading.queued.iter_mut().rev() {
                let cut = over.min(*q);
                *q -= cut;
                over -= cut;
            }
        }
        reading.running = running.get(&id).copied().unwrap_or(0);
        view.tenant(&reading, wanted.binary_search(&id).is_ok());
    }

    let workers: Vec<WorkerReading> = shared
        .slots
        .iter()
        .map(|slot| WorkerReading {
            idle_ns: slot.stats.idle_ns(now_ns),
            polls: slot.recorder.polls(),
        })
        .collect();
    let classes: Vec<ClassReading> = Class::ALL
        .iter()
        .map(|&class| {
            let (spawned, completed) = shared.gate.class_tasks(class);
            let mut reading = ClassReading {
                spawned,
                completed,
                refused: shared.gate.class_refused(class),
                ..ClassReading::default()
            };
            for slot in shared.slots.iter() {
                slot.recorder.add_class(class.priority(), &mut reading);
            }
            reading
        })
        .collect();

    let load = shared.gate.load();
    let (p50_ns, p99_ns, refusals_per_sec) = shared.gate.reported();
    let mut process = Process::default();
    process.load_score = load.score;
    process.utilization = load.utilization;
    process.armed = load.armed;
    process.queue_delay_p50_ns = p50_ns;
    process.queue_delay_p99_ns = p99_ns;
    process.refusals_per_sec = refusals_per_sec;
    process.tasks = shared.live.load(Ordering::Relaxed) as u64;
    process.in_flight = shared.in_flight();
    process.workers = shared.slots.len() as u64;
    process.threads = shared.threads.load(Ordering::Relaxed) as u64;
    process.stuck_replaced = shared.replaced.load(Ordering::Relaxed);
    process.stuck_unreplaced = shared.unreplaced.load(Ordering::Relaxed);
    process.blocking_threads = shared.blocking.n_threads() as u64;
    process.blocking_queued = shared.blocking.n_queued() as u64;
    view.finish(process, &workers, &classes, |id| {
        shared
            .tenants
            .name(TenantId::new(id))
            .map_or_else(|| format!("#{id}"), |name| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use drama_metrics::{CLASS_NAMES, IO_KIND_NAMES, REASON_NAMES};
    use drama_policy::IoKind;

    use super::*;

    /// drama-metrics keeps its own copy of the vocabulary (it depends on no
    /// drama crate): it must match.
    #[test]
    fn the_vocabularies_match() {
        assert_eq!(CLASSES, Class::COUNT);
        for class in Class::ALL {
            assert_eq!(CLASS_NAMES[class.priority()], class.as_str());
        }
        for kind in IoKind::ALL {
            assert_eq!(IO_KIND_NAMES[kind.index()], kind.as_str());
        }
        use drama_core::RejectReason::*;
        for (reason, name) in [
            (Overloaded, "overloaded"),
            (OverShare, "over_share"),
            (QueueFull, "queue_full"),
            (IoDepth, "io_depth"),
            (DeadlineUnreachable, "deadline_unreachable"),
            (InvalidTenant, "invalid_tenant"),
        ] {
            let index = crate::gate::reason_index(reason).expect("counted");
            assert_eq!(REASON_NAMES[index], name);
        }
        assert_eq!(crate::gate::reason_index(ShuttingDown), None);
    }
}
