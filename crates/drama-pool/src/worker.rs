//! The worker loop: pick, poll, charge, absorb, balance, park.
//!
//! A worker thread owns one slot (see `handover.rs` for how ownership moves
//! when a worker is stuck). Each iteration ("tick"):
//!
//! 1. **Maintenance**, a few relaxed loads as a rule: is the pool closing;
//!    did threads stuck in a poll leave work in their outboxes (orphans);
//!    did a tenant's weight change (`weights.rs`); did the balancer send
//!    moves or per-worker weights (`balance.rs`); is another worker idle
//!    while this one has a backlog (then shed, below)?
//! 2. **Choose the next task** (`turns.rs`): the hand-off slot (a task just
//!    woken by the task that ran before it on this thread: the
//!    message-passing fast path), at most `turns::MAX_HANDOFF_STREAK` times
//!    in a row; otherwise drain the inbox into the policy and ask the
//!    policy, or, on the spill list's turn, take the oldest task a user's
//!    policy refused.
//! 3. **Poll it**, timed on the cheap clock, bracketed by the hand-over
//!    word, with the poll budget as the poll's deadline.
//! 4. **Absorb** what the poll produced on this thread (its outbox, see
//!    `context.rs`): the newest task it woke takes the hand-off slot (the
//!    one it displaces is queued); other woken tasks and the tasks it
//!    spawned are queued here (`enqueue`), a spawned task at its tenant's
//!    home instead when this worker holds nothing of the tenant
//!    (`balance::Homes`); a task that yielded goes back with `requeue`,
//!    behind the tasks already waiting. Then **charge** the poll's cost to
//!    its tenant and class.
//!
//! **What a poll is charged.** Its duration on the clock, one read per
//! poll: the end of one poll is the start of the next one's charge. The
//! worker's own work in between (a large inbox drained, the balancer's
//! moves or weights applied, a shed, its view copied, per-tenant tables
//! grown) is nobody's cost: after it the clock is read again
//! (`skip_bookkeeping`). A poll that spawned or woke more than
//! `HEAVY_BOOKKEEPING` tasks is charged for queueing them. A long poll (at
//! least `LONG_POLL_NS`, or `SUSPECT_POLL_FACTOR` times this worker's
//! average and `MIN_SUSPECT_POLL_NS`) is charged its duration less the time
//! the OS kept the thread waiting on a run queue meanwhile (`run_delay.rs`):
//! a preempted poll is not its tenant's doing, while a poll blocked in a
//! system call holds the worker and is charged in full.
//!
//! **Shedding to an idle worker.** Workers never take from each other's
//! queues; a busy one gives. When the idle mask (`idle.rs`) shows another
//! worker idle and this one holds at least `SHED_MIN` tasks worth at least
//! `SHED_MIN_WORK_NS` (queue length times the average poll), it claims that
//! worker and moves half of every (tenant, class) it holds (and every
//! other single-task group; at most `SHED_MAX` tasks) out of its policy
//! with `Policy::withdraw` into the idle worker's inbox, with one
//! notification, so that both hold the same mix of tenants and classes. A
//! policy that cannot withdraw gives half its queue in pick order instead.
//! The donor sheds, not the balancer: only the slot's owner can take work
//! out of its policy without a lock, and it sees an idle worker within one
//! poll.
//!
//! With nothing to do, the worker spins (only while its recent idle spells
//! were shorter than `MAX_SPIN_NS`), then sleeps through `idle.rs`, which
//! marks it idle, so that work is given to it, and parks it (`park.rs`).

use std::time::Duration;

use drama_core::{budget, clock};

use crate::task::Task;
use drama_policy::{Class, TenantId};

use crate::balance::Export;
use crate::context::{self, Context, Entry, Origin};
use crate::core::Core;
use crate::delays;
use crate::outbox::Outbox;
use crate::plan::Move;
use crate::pool::{Shared, Start};
use crate::run_delay::{self, RunDelay};
use crate::shutdown::cancel;
use crate::sync::{Arc, Ordering, lock};
use crate::turns::{QueueTurn, Turns};

/// A worker sheds work to an idle one only when it has at least this many
/// tasks queued: with one, running it here is as fast as moving it.
pub(crate) const SHED_MIN: usize = 2;

/// At most this many tasks move in one shed; the idle worker asks again
/// when it runs dry.
const SHED_MAX: usize = 256;

/// The least queued work (queue length times the average poll time) worth
/// waking an idle worker for: several times the cost of a wake, so that a
/// worker never pays a futex round trip to give away a microsecond of work.
pub(crate) const SHED_MIN_WORK_NS: u64 = 20_000;

/// One poll counts for at most this much in the average poll time (a stuck
/// poll of seconds would otherwise skew it for a long time).
const MAX_AVG_SAMPLE_NS: u64 = 1_000_000;

/// One idle spell counts for at most this much in the average idle spell
/// (a second: longer spells all mean "park at once" to the spin budget,
/// and one of hours would keep the average high for as long).
const MAX_IDLE_SAMPLE_NS: u64 = 1_000_000_000;

/// The longest an idle worker spins before parking. It spins only while
/// its recent idle spells were short (`avg_idle_ns` below this): then work
/// comes back within microseconds (a burst of spawns from outside, the
/// reply to a message sent to another worker) and a spin saves a futex
/// round trip on both sides. When idle spells are long (a request every
/// 100 µs, an idle service) a spin would only burn CPU, and the worker
/// parks at once.
const MAX_SPIN_NS: u64 = 50_000;

/// Spin hints between two looks for work while spinning (well under a
/// microsecond).
const SPIN_BATCH: u32 = 16;

/// A poll at least this long, or at least `SUSPECT_POLL_FACTOR` times the
/// worker's average poll (and `MIN_SUSPECT_POLL_NS`), is charged its
/// duration less the time the OS kept the worker waiting meanwhile
/// (`run_delay.rs`). Reading that costs about a microsecond, at most 2 %
/// of a poll that long; a shorter poll is charged as measured. The OS
/// takes a core away for a time slice (hundreds of µs to milliseconds),
/// so a preempted poll is a long one, or at least much longer than its
/// neighbours.
const LONG_POLL_NS: u64 = 250_000;
const SUSPECT_POLL_FACTOR: u64 = 4;
const MIN_SUSPECT_POLL_NS: u64 = 50_000;

/// More tasks than this queued in one go (an inbox drained, a poll's spawns
/// absorbed) and the clock is read again, so that the time is charged to
/// the right poll (see `Worker::skip_bookkeeping`): a dispatcher's poll
/// that spawned 10,000 tasks was charged to nobody and the next task's
/// tenant paid for queueing them, milliseconds, ten rounds out of service
/// with 10,000 tenants. Below it a drain costs less than a clock read's
/// worth of error.
const HEAVY_BOOKKEEPING: usize = 16;

/// The run-queue wait clock is read at least this often while the worker
/// is busy (about 0.1 % of a core), so that the reading a long poll is
/// compared with was taken just before it began: waiting before the poll
/// is not discounted from it.
const DELAY_MARK_EVERY_NS: u64 = 1_000_000;

/// The span over which a worker's capacity (the share of the time its
/// thread was on a core when it wanted to be) is averaged: 50 ms, long
/// enough that one preemption (a time slice of a few ms) moves it by a few
/// percent, short enough that the balancer follows a neighbour process
/// that starts or stops within a tenth of a second.
const CAPACITY_WINDOW_NS: u64 = 50_000_000;

/// How long a worker whose slot holds the outbox of a stuck thread (an
/// orphan) sleeps at most before it looks into it again. The stuck thread
/// pushes without waking anyone (a wake per push would cost every poll a
/// fence), so a sleeping owner must look by itself: within a millisecond
/// of the push, well inside the stuck threshold that already passed, for
/// about a thousand wake-ups a second only while a thread is stuck.
const ORPHAN_CHECK_INTERVAL: Duration = Duration::from_millis(1);

/// Why a worker left its loop.
enum Exit {
    /// The pool closed.
    Closed,
    /// The monitor gave the slot to another thread during a poll.
    Stolen,
}

/// A worker thread's body.
pub(crate) fn run(shared: Arc<Shared>, index: usize, start: Start) {
    let epoch = match start {
        Start::Fresh => Some(0),
        Start::Steal(word) => shared.slots[index].poll.steal(word),
    };
    // `None`: a replacement thread found the stuck poll had returned
    // already; it leaves at once.
    if let Some(epoch) = epoch {
        {
            if matches!(start, Start::Steal(_)) {
                shared.replaced.fetch_add(1, Ordering::Relaxed);
            }
            let outbox = Arc::new(Outbox::new());
            let context = Context {
                shared: shared.clone(),
                index,
                outbox: outbox.clone(),
            };
            shared.slots[index].parking.set_owner();
            let entered = context::enter(&context);
            let mut worker = Worker {
                shared: &shared,
                context: &context,
                index,
                bit: 1 << index,
                epoch,
                turns: Turns::default(),
                handoff: None,
                last_ns: clock::now_ns(),
                avg_idle_ns: 0,
                run_delay: RunDelay::open(),
                delay_mark: None,
                capacity: 1.0,
                record: shared.config.record_metrics,
            };
            worker.adopt(outbox.clone());
            if matches!(start, Start::Steal(_)) {
                worker.close_stolen_poll();
            }
            let exit = worker.run();
            drop(entered);
            if let Some(runnable) = worker.handoff.take() {
                // Only left in hand when the loop ended between polls:
                // at shutdown.
                cancel(runnable);
            }
            drop(context);
            // This thread pushes nothing more (its context is gone).
            let consumer_left = outbox.producer_leaves();
            match exit {
                Exit::Closed => {
                    // Drop the slot's queues, this thread's outbox with
                    // them. Dropping a runnable cancels its task;
                    // destructors that wake other tasks find the pool
                    // closed.
                    // SAFETY: we still own the slot (we left the loop
                    // between polls, not by a steal).
                    unsafe { drain_slot(&shared, index) };
                    shared.slots[index].exited.store(true, Ordering::Release);
                }
                Exit::Stolen => {
                    // The slot's new owner empties this thread's outbox,
                    // unless it left already (the pool closed): then
                    // nobody else will.
                    if consumer_left {
                        // SAFETY: the consumer has left, so this thread is
                        // the outbox's only user.
                        while let Some((runnable, _)) = unsafe { outbox.pop() } {
                            cancel(runnable);
                        }
                    }
                }
            }
        }
    }
    shared.threads.fetch_sub(1, Ordering::AcqRel);
}

/// Wakes every worker whose bit is set in `mask`.
fn notify_all(shared: &Shared, mut mask: u64) {
    while mask != 0 {
        let index = mask.trailing_zeros() as usize;
        mask &= mask - 1;
        shared.slots[index].parking.notify();
    }
}

/// Drops everything queued in slot `index`: its core and its inbox.
///
/// # Safety
///
/// The caller owns the slot (it is the owner leaving at shutdown, or it
/// stole the slot, or the owner has exited).
pub(crate) unsafe fn drain_slot(shared: &Shared, index: usize) {
    let slot = &shared.slots[index];
    loop {
        // Take one task at a time and drop it outside any borrow: its
        // destructor may wake other tasks.
        // SAFETY: the caller owns the slot, so nobody else touches the core.
        let next = slot.core.with_mut(|core| unsafe {
            let core = &mut *core;
            core.policy
                .pick(0)
                .map(|picked| {
                    core.policy.charge(picked.tenant, picked.class, 0);
                    picked.item
                })
                .or_else(|| core.spill.pop_front())
        });
        match next {
            Some(runnable) => cancel(runnable),
            None => break,
        }
    }
    // The outboxes: the owner's and the orphans. Their producers may still
    // push (a thread stuck in a poll); whoever of the two leaves second
    // empties what is left.
    // SAFETY: as above.
    let outboxes: Vec<_> = slot.core.with_mut(|core| unsafe {
        let core = &mut *core;
        core.outbox
            .take()
            .into_iter()
            .chain(core.orphans.drain(..))
            .collect()
    });
    for outbox in outboxes {
        // SAFETY: the caller owns the slot, so it is the outboxes'
        // consumer until it leaves (and after, when their producer has
        // left too).
        while let Some((runnable, _)) = unsafe { outbox.pop() } {
            cancel(runnable);
        }
        if outbox.consumer_leaves() {
            // SAFETY: as above.
            while let Some((runnable, _)) = unsafe { outbox.pop() } {
                cancel(runnable);
            }
        }
    }
    // SAFETY: as above.
    unsafe { drain_queues(shared, index) };
}

/// Drops everything in slot `index`'s inbox and overflow list.
///
/// # Safety
///
/// The caller owns the slot, as for [`drain_slot`].
pub(crate) unsafe fn drain_queues(shared: &Shared, index: usize) {
    let slot = &shared.slots[index];
    // SAFETY: the caller owns the slot, so it is the inbox's only consumer.
    while let Some(runnable) = unsafe { slot.inbox.pop() } {
        cancel(runnable);
    }
    loop {
        let next = {
            let mut overflow = lock(&slot.overflow);
            let next = overflow.pop_front();
            if next.is_some() {
                // Under the lock, as every change of the count.
                slot.overflow_len.fetch_sub(1, Ordering::Relaxed);
            }
            next
        };
        match next {
            Some(runnable) => cancel(runnable),
            None => break,
        }
    }
}

/// The next task to poll, with whom to charge.
struct Next {
    runnable: Task,
    tenant: TenantId,
    class: Class,
    /// Whether it came from the core (counted in `Presence` until its poll
    /// ends), rather than from the hand-off slot.
    counted: bool,
    /// How long it waited in the policy's queue, for a task the policy
    /// picked (the queueing delay admission measures); `None` for the
    /// hand-off slot's and the spill list's.
    queued_ns: Option<u64>,
}

/// The state of the worker loop, on the worker thread's stack.
struct Worker<'a> {
    shared: &'a Arc<Shared>,
    context: &'a Context,
    index: usize,
    bit: u64,
    /// Even; see `handover.rs`.
    epoch: u64,
    /// The task the last poll woke last (not a yield): it runs next, on
    /// warm caches. Only ever full between a poll and the next pick.
    handoff: Option<Task>,
    /// Whose turn it is: the hand-off slot, the spill list, the policy.
    /// On the thread's stack, read at every pick (a replacement thread
    /// starts afresh, which costs the spill cadence one period at most).
    turns: Turns,
    /// The clock at the end of the last poll (or wake-up): the start of the
    /// next poll's charge.
    last_ns: u64,
    /// A moving average (1/4 to the newest) of how long this worker's idle
    /// spells lasted: the spin budget's guide.
    avg_idle_ns: u64,
    /// This thread's run-queue wait clock, and a reading of it with the
    /// clock time it was taken: a long poll is charged its duration less
    /// the waiting since then (see `run_delay.rs`).
    run_delay: RunDelay,
    delay_mark: Option<(u64, u64)>,
    /// The share of the time this thread was on a core when it wanted to
    /// be, averaged over about `CAPACITY_WINDOW_NS`: published for the
    /// balancer, which gives a worker the OS shortchanges less load.
    capacity: f64,
    /// Whether polls are recorded for the scheduler's view
    /// (`Builder::record_metrics`).
    record: bool,
}

impl Worker<'_> {
    /// The slot's core. Borrowing the worker mutably, the reference cannot
    /// outlive a step: the borrow checker proves that no two are live at
    /// once on this thread and that none is held across a poll (which
    /// takes `&mut self` too).
    fn core(&mut self) -> &mut Core {
        // SAFETY: this thread owns the slot: the worker exists only while
        // the last `PollState::end` succeeded (or no poll ran yet), and
        // `poll` ends the loop when the slot was stolen. So no other thread
        // accesses the core now, and the `&mut self` borrow makes this the
        // only reference on this thread.
        self.shared.slots[self.index]
            .core
            .with_mut(|core| unsafe { &mut *core })
    }

    /// The slot's core, to read (as [`core`](Self::core)).
    fn core_ref(&self) -> &Core {
        // SAFETY: as in `core`; the shared borrow of the worker excludes a
        // mutable reference on this thread.
        self.shared.slots[self.index]
            .core
            .with_mut(|core| unsafe { &*core })
    }

    fn run(&mut self) -> Exit {
        loop {
            if self.shared.state.is_closed() {
                return Exit::Closed;
            }
            self.maintain();
            match self.next() {
                Some(next) => {
                    if self.poll(next).is_err() {
                        return Exit::Stolen;
                    }
                }
                None => self.idle(),
            }
        }
    }

    /// Takes `reading` of the run-queue wait clock, at clock time `now`, as
    /// the new mark, and folds the interval since the last mark into the
    /// capacity estimate (weighted by its length, so that the estimate
    /// averages over time, not over readings).
    fn mark_delay(&mut self, now: u64, reading: Option<u64>) {
        if let (Some((then, before)), Some(after)) = (self.delay_mark, reading) {
            let elapsed = now.saturating_sub(then);
            if elapsed > 0 {
                let waited = after.saturating_sub(before).min(elapsed);
                let sample = 1.0 - waited as f64 / elapsed as f64;
                let weight = (elapsed as f64 / CAPACITY_WINDOW_NS as f64).min(1.0);
                self.capacity += weight * (sample - self.capacity);
            }
        }
        self.delay_mark = reading.map(|d| (now, d));
    }

    /// Makes this thread's outbox the slot's: the one emptied after each
    /// poll. The previous owner's, if the slot was stolen from it, becomes
    /// an orphan, emptied at every tick until that thread leaves.
    fn adopt(&mut self, outbox: Arc<Outbox<Entry>>) {
        let core = self.core();
        if let Some(previous) = core.outbox.replace(outbox) {
            core.orphans.push(previous);
        }
    }

    /// Queues the work that stuck threads (earlier owners of the slot)
    /// pushed into their outboxes, and lets go of the outboxes of those
    /// that have left.
    #[cold]
    fn take_orphans_work(&mut self) {
        let now = self.last_ns;
        let mut i = 0;
        while i < self.core().orphans.len() {
            let orphan = self.core().orphans[i].clone();
            // Read before emptying: once the producer has left, this
            // emptying takes its last pushes.
            let left = orphan.producer_left();
            // SAFETY: this thread owns the slot, so it is the consumer of
            // the slot's outboxes.
            while let Some((runnable, origin)) = unsafe { orphan.pop() } {
                match origin {
                    Origin::Spawned => self.queue_spawned(runnable, now),
                    // Not to the hand-off slot: the task that woke it is
                    // not running here.
                    Origin::Woken => self.queue(runnable, now, false),
                    Origin::Yielded => self.queue(runnable, now, true),
                }
            }
            if left {
                self.core().orphans.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// The first thing a thread that stole the slot from a stuck worker
    /// does: the stuck poll will never reach its own end (its thread may
    /// no longer touch the core), so its task is no longer counted here and
    /// its pick is closed (a policy keeps a pick in service until it is
    /// charged). With a zero charge: the time the poll held the old thread
    /// is unknown here, and "stuck" may be the OS keeping a busy machine's
    /// thread off its core for the stuck threshold, which is no tenant's
    /// doing; the replacement thread is what restores the capacity.
    fn close_stolen_poll(&mut self) {
        let core = self.core();
        if core.in_poll {
            core.in_poll = false;
            let (tenant, class, counted) = (core.poll_tenant, core.poll_class, core.poll_counted);
            if counted {
                core.presence.remove(tenant, class);
            }
            core.policy.charge(tenant, class, 0);
        }
    }

    /// Per-tick bookkeeping: weights, the balancer's moves, sheds to idle
    /// workers, the load report.
    fn maintain(&mut self) {
        let shared = self.shared;
        if !self.core().orphans.is_empty() {
            self.take_orphans_work();
            self.skip_bookkeeping();
        }
        let version = shared.weights_version.load(Ordering::Acquire);
        if version != self.core().weights_version {
            let weights = lock(&shared.weights);
            let core = self.core();
            // The tenants changed since this worker last looked, each once.
            for (tenant, weight) in weights.changed_since(core.weights_version) {
                // The balancer's per-worker weight takes precedence here;
                // the tenant's own comes back when the override goes
                // (`apply_overrides`).
                if core
                    .overridden
                    .binary_search_by_key(&tenant, |&(t, _)| t)
                    .is_ok()
                {
                    continue;
                }
                // A policy full of tenants refuses a new one; the weight is
                // applied if the tenant changes again when it has room.
                let _ = core.policy.set_weight(tenant, weight);
            }
            core.weights_version = weights.version();
            drop(weights);
            self.skip_bookkeeping();
        }
        let slot = &shared.slots[self.index];
        if slot.moves_pending.load(Ordering::Acquire) {
            slot.moves_pending.store(false, Ordering::Relaxed);
            let moves = std::mem::take(&mut *lock(&slot.moves));
            self.carry_out(&moves);
            self.skip_bookkeeping();
        }
        let overrides = slot.overrides_version.load(Ordering::Acquire);
        if overrides != self.core().overrides_version {
            self.apply_overrides(overrides);
            self.skip_bookkeeping();
        }
        if self
            .last_ns
            .wrapping_sub(self.delay_mark.map_or(0, |m| m.0))
            >= DELAY_MARK_EVERY_NS
        {
            let reading = self.run_delay.read_ns();
            self.mark_delay(self.last_ns, reading);
        }
        let idle = shared.sleepers.idle_mask() & !self.bit;
        if idle != 0 && self.core().len() >= SHED_MIN {
            // Waking an idle worker costs a few µs of system calls on both
            // sides; moving less work than that makes the pool slower.
            let core = self.core();
            if core.len() as u64 * core.avg_poll_ns >= SHED_MIN_WORK_NS
                && let Some(target) = shared.sleepers.claim(idle)
            {
                self.shed(target);
                self.skip_bookkeeping();
            }
        }
        let core = self.core();
        let len = core.len();
        // Between polls, presence counts exactly the tasks the core holds
        // (spawn refuses tenants past `max_tenants`, the only ones
        // presence does not count).
        debug_assert_eq!(
            core.presence.total, len,
            "presence and the core disagree on the tasks held"
        );
        shared.slots[self.index].load.store(len, Ordering::Relaxed);
    }

    /// Carries out the balancer's moves from this worker: takes the tasks
    /// out of the policy and hands them over, one notification per
    /// receiver. What the policy cannot withdraw now (tasks running, or a
    /// policy that cannot withdraw) is handed over as it passes through
    /// this worker (`Core::exports`).
    fn carry_out(&mut self, moves: &[Move]) {
        let shared = self.shared;
        let core = self.core();
        core.exports.clear();
        let mut receivers = 0u64;
        for m in moves {
            let mut left = m.tasks;
            while left > 0 {
                let Some(runnable) = core.policy.withdraw(m.tenant, m.class) else {
                    break;
                };
                core.presence.remove(m.tenant, m.class);
                shared.push_quietly(m.to, runnable);
                receivers |= 1 << m.to;
                left -= 1;
            }
            if left > 0 {
                core.exports.push(Export {
                    tasks: left,
                    ..Export::from(m)
                });
            }
        }
        notify_all(shared, receivers);
    }

    /// Applies the balancer's per-worker weights (see `balance.rs`):
    /// changed ones are set, tenants no longer overridden get their own
    /// weight back. Both lists are sorted by tenant: one merge.
    fn apply_overrides(&mut self, version: u64) {
        let shared = self.shared;
        let new = lock(&shared.slots[self.index].overrides).clone();
        let own = lock(&shared.weights);
        let core = self.core();
        let old = std::mem::take(&mut core.overridden);
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            let o = old.get(i).copied();
            let n = new.get(j).copied();
            match (o, n) {
                (Some(o), Some(n)) if o.0 == n.0 => {
                    if o.1 != n.1 {
                        let _ = core.policy.set_weight(n.0, n.1);
                    }
                    i += 1;
                    j += 1;
                }
                (Some(o), n) if n.is_none_or(|n| o.0.as_u32() < n.0.as_u32()) => {
                    let _ = core.policy.set_weight(o.0, own.get(o.0));
                    i += 1;
                }
                (_, Some(n)) => {
                    let _ = core.policy.set_weight(n.0, n.1);
                    j += 1;
                }
                (_, None) => unreachable!("the loop ends when both are done"),
            }
        }
        drop(own);
        core.overridden = new;
        core.overrides_version = version;
    }

    /// Moves work to the idle worker `target`: half of every group this
    /// worker holds (and every other single-task group), so that both
    /// workers hold the same mix of tenants and classes; with a policy
    /// that cannot withdraw, half the queue in the policy's order.
    fn shed(&mut self, target: usize) {
        let shared = self.shared;
        let now = self.last_ns;
        let core = self.core();
        let mut groups = std::mem::take(&mut core.groups);
        core.presence.snapshot(&mut groups);
        let mut moved = 0;
        'groups: for g in &groups {
            let n = if g.tasks >= 2 {
                g.tasks / 2
            } else {
                core.shed_odd = !core.shed_odd;
                u32::from(core.shed_odd)
            };
            for _ in 0..n {
                if moved == SHED_MAX {
                    break 'groups;
                }
                let Some(runnable) = core.policy.withdraw(g.tenant, g.class) else {
                    // The one task of the group is the one in hand, or the
                    // policy cannot withdraw.
                    break;
                };
                core.presence.remove(g.tenant, g.class);
                shared.push_quietly(target, runnable);
                moved += 1;
            }
        }
        core.groups = groups;
        if moved == 0 {
            // A policy that cannot withdraw: half the queue in its order.
            let n = (core.len() / 2).clamp(1, SHED_MAX);
            for _ in 0..n {
                let Some(picked) = core.policy.pick(now) else {
                    break;
                };
                // Nothing ran: a zero charge closes the pick.
                core.policy.charge(picked.tenant, picked.class, 0);
                core.presence.remove(picked.tenant, picked.class);
                shared.push_quietly(target, picked.item);
            }
        }
        shared.slots[target].parking.notify();
    }

    /// Queues a task spawned on this thread: here, or at its tenant's home
    /// when this worker holds nothing of the tenant (see `balance::Homes`).
    /// Only spawns: a woken task stays where it was woken, next to the
    /// data it was woken about (message passing would otherwise pay a
    /// cross-worker wake for every message).
    fn queue_spawned(&mut self, runnable: Task, now: u64) {
        let tenant = runnable.meta().tenant();
        if self.core().presence.tenant_tasks(tenant) == 0
            && let Some(home) = self.shared.homes.get(tenant)
            && home != self.index
            && home < self.shared.slots.len()
        {
            self.shared.push_to(home, runnable);
            return;
        }
        self.queue(runnable, now, false);
    }

    /// Queues a task here, or hands it to the worker the balancer wants
    /// its group on.
    #[inline]
    fn queue(&mut self, runnable: Task, now: u64, resumed: bool) {
        if let Some((runnable, to)) = self.core().enqueue(runnable, now, resumed) {
            self.shared.push_to(to, runnable);
        }
    }

    /// The next task: the hand-off slot, then the policy.
    fn next(&mut self) -> Option<Next> {
        if let Some(runnable) = self.handoff.take() {
            if self.turns.handoff() {
                let meta = runnable.meta();
                let (tenant, class) = (meta.tenant(), meta.class());
                return Some(Next {
                    runnable,
                    tenant,
                    class,
                    counted: false,
                    queued_ns: None,
                });
            }
            // The streak is over: the slot's task queues like any other.
            let now = self.last_ns;
            self.queue(runnable, now, false);
        }
        self.drain_inbox();
        let slot = &self.shared.slots[self.index];
        if slot.publish.load(Ordering::Relaxed) {
            // After the inbox is drained, so that tasks moved here count.
            // Skipped if the balancer is reading right now; next tick.
            if let Ok(mut published) = slot.presence.try_lock() {
                slot.publish.store(false, Ordering::Relaxed);
                self.core().presence.snapshot(&mut published.groups);
                published.capacity = self.capacity;
                let copied = published.groups.len();
                drop(published);
                if copied > HEAVY_BOOKKEEPING {
                    // Copying the view of 100,000 queued tenants takes
                    // milliseconds: the worker's cost, not the next poll's
                    // tenant's (the scheduler's view showed a tenant with
                    // one empty task as the heaviest).
                    self.skip_bookkeeping();
                }
            }
        }
        let now = self.last_ns;
        let core = self.core();
        let spilled = !core.spill.is_empty();
        // Asked of the policy (a virtual call) only when something is
        // spilled: the common case pays nothing.
        let policy_empty = spilled && core.policy.is_empty();
        let turn = self.turns.queue(spilled, || policy_empty);
        let core = self.core();
        if turn == QueueTurn::Spill {
            let runnable = core.spill.pop_front().expect("a spill turn has a task");
            let meta = runnable.meta();
            let (tenant, class) = (meta.tenant(), meta.class());
            return Some(Next {
                runnable,
                tenant,
                class,
                counted: true,
                queued_ns: None,
            });
        }
        core.policy.pick(now).map(|picked| Next {
            runnable: picked.item,
            tenant: picked.tenant,
            class: picked.class,
            counted: true,
            queued_ns: Some(now.saturating_sub(picked.enqueued_at_ns)),
        })
    }

    /// Moves the inbox (and overflow list) into the policy.
    fn drain_inbox(&mut self) {
        let slot = &self.shared.slots[self.index];
        let now = self.last_ns;
        let mut n = 0;
        // SAFETY: this thread owns the slot, so it is the inbox's only
        // consumer.
        while let Some(runnable) = unsafe { slot.inbox.pop() } {
            self.queue(runnable, now, false);
            n += 1;
        }
        if slot.overflow_len.load(Ordering::Acquire) > 0 {
            let moved: Vec<Task> = {
                let mut overflow = lock(&slot.overflow);
                let before = slot.overflow_len.swap(0, Ordering::Relaxed);
                // The count follows the list: both change under the lock.
                debug_assert_eq!(before, overflow.len(), "overflow_len and its list disagree");
                overflow.drain(..).collect()
            };
            n += moved.len();
            for runnable in moved {
                self.queue(runnable, now, false);
            }
        }
        let core = self.core();
        if n > HEAVY_BOOKKEEPING || std::mem::take(&mut core.grew) {
            // Queueing many tasks, or growing the per-tenant tables for a
            // new tenant (copies of up to megabytes with 100,000 tenants:
            // the scheduler's view showed tenants of one empty task among
            // the heaviest), is the worker's cost.
            self.skip_bookkeeping();
        }
    }

    /// Starts the next poll's charge now: the worker's own work since the
    /// last poll (a large inbox drained, the balancer's moves or weights
    /// applied, a shed) is nobody's cost. (Ordinarily one poll's end is the
    /// next one's start, one clock read per poll; the bookkeeping in
    /// between is a few relaxed loads.)
    fn skip_bookkeeping(&mut self) {
        self.last_ns = clock::now_ns();
    }

    /// Polls one task, then absorbs what it produced and charges it.
    fn poll(&mut self, next: Next) -> Result<(), crate::handover::Stolen> {
        // Separate fields, not one tuple: written at every poll, and a
        // tuple is assembled on the stack and read back whole (a stalled
        // store-to-load forward, measured at 4 % of `yield_many`).
        let core = self.core();
        core.in_poll = true;
        core.poll_tenant = next.tenant;
        core.poll_class = next.class;
        core.poll_counted = next.counted;
        let slot = &self.shared.slots[self.index];
        if self.record {
            slot.running
                .store(next.tenant.as_u32().wrapping_add(1), Ordering::Relaxed);
        }
        slot.poll.begin(self.epoch);
        budget::set_poll_deadline_ns(Some(
            self.last_ns
                .saturating_add(self.shared.config.poll_budget.as_nanos() as u64),
        ));
        next.runnable.run();
        let now = clock::now_ns();
        self.epoch = slot.poll.end(self.epoch)?;
        self.core().in_poll = false;
        let mut cost = now.saturating_sub(self.last_ns);
        let suspect_ns = (SUSPECT_POLL_FACTOR * self.core().avg_poll_ns)
            .clamp(MIN_SUSPECT_POLL_NS, LONG_POLL_NS);
        if cost >= suspect_ns {
            // Long enough that the OS may have taken the core away in the
            // middle: charge only the time the worker had it.
            let after = self.run_delay.read_ns();
            if let (Some((_, before)), Some(after)) = (self.delay_mark, after) {
                cost = run_delay::discount(cost, before, after);
            }
            self.mark_delay(now, after);
        }
        self.last_ns = now;
        if self.absorb(now) > HEAVY_BOOKKEEPING {
            // The poll spawned or woke many tasks: queueing them is its
            // cost, and not the next poll's.
            let end = clock::now_ns();
            cost += end.saturating_sub(now);
            self.last_ns = end;
        }
        if self.record {
            // The scheduler's view: a few loads and stores to the slot's
            // recorder, which only this thread writes.
            let slot = &self.shared.slots[self.index];
            let allocated = slot.recorder.record_poll(
                next.tenant.as_u32(),
                next.class.priority(),
                next.queued_ns,
                cost,
            );
            if allocated {
                // A page of the recorder: the worker's cost, not the next
                // poll's.
                self.skip_bookkeeping();
            }
        }
        let stats = &self.shared.slots[self.index].stats;
        let core = self.core();
        core.policy.charge(next.tenant, next.class, cost);
        // avg += (cost - avg) / 8, in unsigned arithmetic.
        core.avg_poll_ns =
            core.avg_poll_ns - core.avg_poll_ns / 8 + cost.min(MAX_AVG_SAMPLE_NS) / 8;
        if next.counted {
            core.presence.remove(next.tenant, next.class);
        }
        // The monitor's load sample: a few stores to lines it reads once
        // per step.
        if let Some(queued_ns) = next.queued_ns {
            core.delay_sum_ns = core.delay_sum_ns.wrapping_add(queued_ns);
            core.delayed_polls = core.delayed_polls.wrapping_add(1);
            let index = delays::bucket(queued_ns);
            core.delays[index] = core.delays[index].wrapping_add(1);
            stats.publish_delay(core, index);
        }
        stats.publish(core);
        Ok(())
    }

    /// Moves the tasks this thread's poll spawned, woke or yielded into the
    /// policy, and the last one it woke into the hand-off slot. Returns how
    /// many.
    fn absorb(&mut self, now: u64) -> usize {
        let outbox = &*self.context.outbox;
        let mut n = 0;
        // SAFETY: this thread owns the slot (the poll's end kept it), so it
        // is the consumer of the slot's outbox, its own.
        while let Some((runnable, origin)) = unsafe { outbox.pop() } {
            match origin {
                Origin::Spawned => self.queue_spawned(runnable, now),
                Origin::Woken => {
                    // The newest wake takes the slot (it is the likeliest
                    // to find its data in cache); the one it displaces is
                    // queued normally.
                    if let Some(previous) = self.handoff.replace(runnable) {
                        self.queue(previous, now, false);
                    }
                }
                Origin::Yielded => self.queue(runnable, now, true),
            }
            n += 1;
        }
        if n > 0 {
            // SAFETY: this thread is the outbox's producer, and its
            // consumer (above); no poll runs until this returns.
            unsafe { outbox.rewind() };
        }
        n
    }

    /// Whether there is anything to run without parking.
    fn has_work(&self) -> bool {
        let slot = &self.shared.slots[self.index];
        // This thread owns the slot, so it is the consumer of the slot's
        // outboxes. Its own outbox has work only if something outside a
        // poll (a destructor) woke a task.
        slot.inbox.has_ready()
            || slot.overflow_len.load(Ordering::Acquire) > 0
            || self.shared.state.is_closed()
            || self.shared.weights_version.load(Ordering::Relaxed) != self.core_ref().weights_version
            // SAFETY: as above.
            || unsafe { self.context.outbox.has_ready() }
            || self.core_ref().orphans.iter().any(|orphan| {
                // SAFETY: as above.
                unsafe { orphan.has_ready() }
            })
    }

    /// Nothing to run: spin briefly if work usually comes back soon, then
    /// park until notified.
    fn idle(&mut self) {
        // SAFETY: this thread owns the slot, so it is its outbox's consumer.
        if unsafe { self.context.outbox.has_ready() } {
            // Pushed outside a poll (a destructor that woke a task), so no
            // poll's end absorbed it.
            let now = self.last_ns;
            self.absorb(now);
            return;
        }
        let start = clock::now_ns();
        self.shared.slots[self.index].stats.idle_begins(start);
        if self.avg_idle_ns < MAX_SPIN_NS {
            let budget_ns = (2 * self.avg_idle_ns).clamp(1_000, MAX_SPIN_NS);
            loop {
                if self.has_work() {
                    self.idle_spell(start);
                    return;
                }
                if clock::now_ns().wrapping_sub(start) >= budget_ns {
                    break;
                }
                for _ in 0..SPIN_BATCH {
                    std::hint::spin_loop();
                }
            }
        } else if self.has_work() {
            self.idle_spell(start);
            return;
        }
        // A stuck thread may push into its outbox without waking us: with
        // orphans, look again after a while.
        let timeout = (!self.core_ref().orphans.is_empty()).then_some(ORPHAN_CHECK_INTERVAL);
        let shared = self.shared;
        let parking = &shared.slots[self.index].parking;
        shared
            .sleepers
            .sleep(self.index, parking, || self.has_work(), timeout);
        self.idle_spell(start);
    }

    /// Records an idle spell that began at `start`; time idle is nobody's
    /// cost.
    fn idle_spell(&mut self, start: u64) {
        let now = clock::now_ns();
        self.shared.slots[self.index]
            .stats
            .idle_ends(now.saturating_sub(start));
        let spell = now.wrapping_sub(start).min(MAX_IDLE_SAMPLE_NS);
        self.avg_idle_ns = self.avg_idle_ns - self.avg_idle_ns / 4 + spell / 4;
        self.last_ns = now;
    }
}
