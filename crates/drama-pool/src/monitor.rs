//! The monitor thread: stuck workers, the balancer's beat, and the load
//! estimate admission decides by.
//!
//! One thread per pool, waking every couple of milliseconds while the pool
//! is busy (and sleeping while it is idle). At each step it samples every
//! slot's poll word (a poll that has run for the stuck threshold gets its
//! slot handed to a fresh thread, `handover.rs`), runs the balancer
//! (`balance.rs`), and folds the workers' queueing delays and idle time
//! into the admission estimate (`gate.rs`). Callers waiting in
//! `Handle::admit` are woken at every step (`waiters.rs`).
//!
//! A stuck slot's replacement thread counts against `max_threads`; at that
//! bound the stuck worker is counted, not replaced. The replacement closes
//! the stuck poll's books (its task leaves the view, its pick is charged
//! nothing: `Worker::close_stolen_poll`) and empties the stuck thread's
//! outbox at every tick until that thread leaves (`outbox.rs`).
//!
//! While the whole pool is idle the monitor keeps stepping on timed naps
//! (the load decays to nothing, so that work after a quiet spell is not
//! refused by the last busy one's load) for `MONITOR_SLEEP_AFTER`, and
//! then sleeps (`idle.rs`) until a worker leaves the idle state.

use std::time::{Duration, Instant};

use drama_admission::{Estimator, Sample};

use crate::balance::Balancer;
use crate::delays::{self, RecentDelays};
use crate::pool::{Shared, Start};
use crate::sync::{Arc, Ordering};

/// How often the monitor may run when nothing is stuck, at most.
pub(crate) const MONITOR_MIN_INTERVAL: Duration = Duration::from_millis(1);

/// The balancer (which runs on the monitor's beat) runs at least this
/// often while the pool is busy.
const BALANCE_MAX_INTERVAL: Duration = Duration::from_millis(2);

/// The monitor's nap while no poll has been measured yet: 250 µs. Before
/// the first measured poll admission cannot predict a wait and refuses
/// nothing by load, so a flood into a fresh pool is admitted until the
/// monitor's first estimate. A quarter of a millisecond lets polls of up
/// to that length end and be measured, and costs four wakes per
/// millisecond only until then. (It bounds the transient only when the
/// monitor gets a core: on 2 cores held by the workers and a flooding
/// thread, its first estimate came 2 to 5 ms late and a few thousand
/// tasks got in; once measured, the estimate is kept for the pool's life.)
const UNMEASURED_NAP: Duration = Duration::from_micros(250);

/// About how far back `LoadReport`'s queueing-delay percentiles and
/// refusal rate look: 100 ms. At the benchmarks' 20,000 polls a second
/// that is 2,000 delays, enough for a steady 99th percentile; an operator
/// (or a load balancer polling `load()`) sees a change within a tenth of a
/// second.
const REPORT_HORIZON: Duration = Duration::from_millis(100);

/// How long the whole pool must stay idle before the monitor stops its
/// timed naps and sleeps until a worker wakes it.
const MONITOR_SLEEP_AFTER: Duration = Duration::from_millis(50);

/// The monitor thread: notices workers stuck inside one poll and gives
/// their slot to a fresh thread.
///
/// It samples every slot's poll word every `stuck_threshold / 4` (1 to
/// 2 ms). A slot whose word stayed the same odd value (the same poll still
/// running) for the threshold is stuck. While the whole pool is idle the
/// monitor parks, so an idle pool burns no CPU; the first worker to leave
/// the idle state wakes it.
pub(crate) fn run(shared: Arc<Shared>) {
    shared.sleepers.monitor_starts();
    let threshold_ns = shared.config.stuck_threshold.as_nanos() as u64;
    // Sampling every quarter threshold (at most every 2 ms) finds a stuck
    // poll within the threshold plus two intervals at worst (first seen up
    // to an interval after it began, found stuck up to an interval after
    // the threshold): 10 to 14 ms at the default 10 ms, about 11.8 ms
    // measured; the work the stuck poll created runs right after (see
    // `outbox.rs`). The balancer runs on the same beat, at least every
    // 2 ms. (Sampling every eighth gained nothing measurable on the stuck
    // case and cost a burst of spawns from outside about 10 %.)
    let interval =
        (shared.config.stuck_threshold / 4).clamp(MONITOR_MIN_INTERVAL, BALANCE_MAX_INTERVAL);
    // Per slot: the word last seen, and since when (clock ns).
    let mut seen: Vec<(u64, u64)> = vec![(0, 0); shared.slots.len()];
    let mut balancer = Balancer::new(shared.slots.len(), shared.config.class_weights);
    let mut load = LoadSampler::new(&shared);
    let mut idle_since = Instant::now();
    loop {
        if shared.state.is_closed() {
            return;
        }
        if shared.sleepers.all_idle() {
            // A pool that idles between short bursts (a request every
            // 100 µs) would otherwise pay a monitor wake per burst; a
            // timed nap costs one wake per interval, and only a pool idle
            // for `MONITOR_SLEEP_AFTER` puts the monitor to sleep for good
            // (the first worker to leave the idle state wakes it).
            // Idle steps too: the load falls to nothing while the pool
            // idles, so that work after a quiet spell is not refused by
            // the load of the last busy one.
            load.step(&shared);
            // Waiters for admission ask again at every step, and keep the
            // monitor from sleeping for good while they wait.
            shared.waiters.wake_all();
            if idle_since.elapsed() < MONITOR_SLEEP_AFTER || shared.waiters.any() {
                std::thread::park_timeout(interval);
                continue;
            }
            shared.sleepers.monitor_sleep(|| shared.state.is_closed());
            idle_since = Instant::now();
            continue;
        }
        idle_since = Instant::now();
        // Sample first, nap after: a monitor woken from its sleep by a
        // worker that left the idle state sees that worker's poll at once,
        // and a stuck one is found a threshold after its start, not an
        // interval later.
        let now = drama_core::clock::now_ns();
        for (index, slot) in shared.slots.iter().enumerate() {
            let word = slot.poll.load();
            let (last, since) = seen[index];
            if word & 1 == 0 || word != last {
                seen[index] = (word, now);
                continue;
            }
            if now.saturating_sub(since) < threshold_ns {
                continue;
            }
            // Stuck. Replace it if the thread bound allows; the new thread
            // steals the slot (or exits if the poll returned meanwhile).
            if shared.threads.load(Ordering::Acquire) >= shared.config.max_threads
                || shared.start_worker(index, Start::Steal(word)).is_err()
            {
                shared.unreplaced.fetch_add(1, Ordering::Relaxed);
            }
            seen[index] = (word, now);
        }
        load.step(&shared);
        shared.waiters.wake_all();
        // Until a poll has been measured admission has no estimate of the
        // wait and refuses nothing by load: a flood on a fresh pool would
        // be admitted whole until the next step. Step again soon.
        std::thread::park_timeout(if load.measured() {
            interval
        } else {
            UNMEASURED_NAP
        });
        // After the nap: a burst that just woke the monitor is not
        // rebalanced before it has had an interval to settle (balancing at
        // once measurably slowed the micro suite's 10,000 spawns from
        // outside).
        balancer.run(&shared, interval.as_nanos() as u64);
    }
}

/// Folds the workers' counters into the admission estimate, one step per
/// monitor beat: the mean queueing delay of the polls the step started
/// (time from entering a worker's queue to the start of the poll), the
/// share of the workers' time not out of work, the mean poll, and the
/// backlog (tasks queued in the slots, their inboxes and overflow lists)
/// with the work in flight at the same moment.
struct LoadSampler {
    estimator: Estimator,
    /// The clock at the last step, and the workers' cumulative counters
    /// then: delay sum, polls, tasks requeued.
    last_ns: u64,
    last: (u64, u64, u64),
    /// The workers' time out of work at the last step, summed.
    last_idle_ns: u64,
    /// The workers' delay counts by bucket at the last step, summed, and
    /// the recent delays they make up.
    last_delays: Box<[u64; delays::BUCKETS]>,
    recent: RecentDelays,
    /// Refusals counted at the last step, and their recent rate per second.
    last_refused: u64,
    refusals_per_sec: f64,
    /// The share of the queued tasks that are fresh (not resumed after a
    /// yield), as the last step with polls measured it: a step without
    /// polls (every worker lost its core for the whole step) keeps it.
    fresh_share: f64,
}

impl LoadSampler {
    /// Whether a poll has been measured: the estimate can predict a wait.
    fn measured(&self) -> bool {
        self.estimator.load().delay_per_task_ns > 0.0
    }

    fn new(shared: &Shared) -> LoadSampler {
        let now_ns = drama_core::clock::now_ns();
        LoadSampler {
            estimator: Estimator::with_config(shared.config.admission.config()),
            last_ns: now_ns,
            last: totals(shared),
            last_idle_ns: idle_ns(shared, now_ns),
            last_delays: delay_counts(shared),
            recent: RecentDelays::new(REPORT_HORIZON.as_nanos() as u64),
            last_refused: shared.gate.n_refused(),
            refusals_per_sec: 0.0,
            fresh_share: 1.0,
        }
    }

    fn step(&mut self, shared: &Shared) {
        let now_ns = drama_core::clock::now_ns();
        let elapsed_ns = now_ns.saturating_sub(self.last_ns);
        if elapsed_ns == 0 {
            return;
        }
        let (delay_sum, polls, requeued) = totals(shared);
        let (last_delay_sum, last_polls, last_requeued) = self.last;
        let polls_started = polls.wrapping_sub(last_polls);
        let queue_delay_ns = delay_sum
            .wrapping_sub(last_delay_sum)
            .checked_div(polls_started)
            .unwrap_or(0);
        // Utilization: the workers' time not out of work. (Time polling
        // would read a pool whose workers lose their cores to other
        // threads as not saturated, however long its queue.)
        let capacity_ns = elapsed_ns as f64 * shared.slots.len() as f64;
        let idle_total = idle_ns(shared, now_ns).max(self.last_idle_ns);
        let idle_step_ns = idle_total - self.last_idle_ns;
        let utilization = 1.0 - idle_step_ns as f64 / capacity_ns;
        self.last_idle_ns = idle_total;
        // Worker time not idle per poll started from the queue: the rate at
        // which the workers drain it, with what slows them down included
        // (hand-off polls, bookkeeping, and the time their threads lose
        // their cores to others). Time polling alone read a queue drained
        // by workers preempted a tenth of the time as draining faster than
        // it did, and 2 to 7 % of the admitted requests at 1x capacity
        // outwaited their 2 ms deadline (the overload benchmark, T1).
        let working_ns = (elapsed_ns * shared.slots.len() as u64).saturating_sub(idle_step_ns);
        // The backlog and the work in flight are read together, so that a
        // decision comparing its own reading of the work in flight with
        // this one sees what joined the backlog since.
        let in_flight = shared.in_flight();
        let backlog: usize = shared
            .slots
            .iter()
            .map(|slot| {
                // Exact: the count changes under the overflow list's lock.
                let overflow = slot.overflow_len.load(Ordering::Relaxed);
                slot.load
                    .load(Ordering::Relaxed)
                    .saturating_add(slot.inbox.len_hint())
                    .saturating_add(overflow)
            })
            .fold(0usize, usize::saturating_add);
        // Tasks that yielded wait behind the fresh work of their class
        // (DRR serves a class's fresh tasks first, and new work is fresh),
        // so they do not delay new work: the backlog counts the fresh part,
        // estimated by the share of the step's polls that were not
        // resumptions. (A thousand tasks yielding in a loop otherwise read
        // as a standing backlog, and every new spawn was refused.)
        // A step with no poll started (both workers off their cores for
        // the whole step, on a loaded machine) says nothing of the share,
        // and keeps the last one: counting the whole queue as fresh then
        // had a thousand yielding tasks refuse every new spawn for a step.
        let resumed = requeued.wrapping_sub(last_requeued).min(polls_started);
        if polls_started > 0 {
            self.fresh_share = (polls_started - resumed) as f64 / polls_started as f64;
        }
        let fresh_backlog = (backlog as f64 * self.fresh_share).round() as u64;
        shared.gate.step(
            &mut self.estimator,
            Sample {
                now_ns,
                queue_delay_ns,
                utilization,
                // Read one after the other, the backlog may count a task
                // twice (in an inbox and in a queue) or one already gone;
                // it never holds more than the work in flight, and more
                // would outlive that work in every decision until the next
                // step.
                backlog: fresh_backlog.min(in_flight),
                in_flight,
                poll_ns: working_ns.checked_div(polls_started).unwrap_or(0),
                workers: shared.slots.len() as u32,
            },
        );
        self.last_ns = now_ns;
        self.last = (delay_sum, polls, requeued);
        // What `LoadReport` shows beyond the estimate: the recent delays'
        // percentiles and the refusal rate, over about `REPORT_HORIZON`.
        let counts = delay_counts(shared);
        let mut new = [0u64; delays::BUCKETS];
        for ((new, &now), &last) in new
            .iter_mut()
            .zip(counts.iter())
            .zip(self.last_delays.iter())
        {
            *new = now.wrapping_sub(last);
        }
        *self.last_delays = *counts;
        self.recent.step(elapsed_ns, &new);
        let refused = shared.gate.n_refused();
        let rate = refused.wrapping_sub(self.last_refused) as f64 * 1e9 / elapsed_ns as f64;
        self.last_refused = refused;
        let keep = (-(elapsed_ns as f64) / REPORT_HORIZON.as_nanos() as f64).exp();
        self.refusals_per_sec = self.refusals_per_sec * keep + rate * (1.0 - keep);
        shared.gate.report(
            self.recent.quantile_ns(0.5),
            self.recent.quantile_ns(0.99),
            self.refusals_per_sec,
        );
    }
}

/// The workers' cumulative counters, summed: queueing delay of the polls
/// started from the queue, those polls, tasks requeued after a yield.
fn totals(shared: &Shared) -> (u64, u64, u64) {
    shared.slots.iter().fold((0, 0, 0), |(d, n, r), slot| {
        let (delay_sum_ns, polls, requeued) = slot.stats.read();
        (
            d.wrapping_add(delay_sum_ns),
            n.wrapping_add(polls),
            r.wrapping_add(requeued),
        )
    })
}

/// The workers' time out of work up to `now_ns`, summed.
fn idle_ns(shared: &Shared, now_ns: u64) -> u64 {
    shared.slots.iter().fold(0u64, |sum, slot| {
        sum.wrapping_add(slot.stats.idle_ns(now_ns))
    })
}

/// The workers' polls by queueing-delay bucket, summed, cumulative.
fn delay_counts(shared: &Shared) -> Box<[u64; delays::BUCKETS]> {
    let mut sums = Box::new([0u64; delays::BUCKETS]);
    for slot in shared.slots.iter() {
        slot.stats.add_delays(&mut sums);
    }
    sums
}
