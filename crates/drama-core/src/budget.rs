//! Cooperative scheduling: [`yield_now`] and the per-poll budget.
//!
//! An async task only gives the thread back when it returns `Pending`. A task
//! that keeps finding ready work (a stream that always has an item, a channel
//! that is never empty) would therefore never give way, and every other task
//! on its worker would starve. drama bounds this the way tokio does: each
//! poll of a task starts with a budget of [`DEFAULT_BUDGET`] units, drama's
//! own primitives spend one unit each time they hand out a result, and once
//! the budget is spent they return `Pending` (after waking the task) until
//! the task's next poll.
//!
//! The unit is "one operation on a drama primitive" (awaiting a
//! [`JoinHandle`](crate::JoinHandle), [`consume_budget`]). Units alone do not
//! bound time: 128 expensive operations can take milliseconds. So an
//! executor can also give each poll a **deadline** on the
//! [`clock`](crate::clock) ([`set_poll_deadline_ns`]; drama's thread pool
//! does, from its `poll_budget`): every 16th unit spent checks the clock,
//! and past the deadline the budget counts as spent. The check costs one
//! clock read per 16 operations and nothing for tasks that never touch a
//! budgeted primitive. A primitive of your own joins in through
//! [`poll_proceed`]:
//!
//! ```
//! use std::pin::Pin;
//! use std::task::{ready, Context, Poll};
//! use drama_core::budget;
//!
//! /// A source that always has another item.
//! struct Ticks(u64);
//!
//! impl Ticks {
//!     fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<u64> {
//!         let progress = ready!(budget::poll_proceed(cx));
//!         self.0 += 1;
//!         // Only spend the unit when the result is handed out; dropping
//!         // `progress` instead gives it back.
//!         progress.made_progress();
//!         Poll::Ready(self.0)
//!     }
//! }
//! # let _ = Ticks(0);
//! ```
//!
//! Outside a task (plain code, or a thread without an executor) there is no
//! budget and primitives never yield for it.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// How many budget units a task gets per poll.
///
/// 128 follows tokio, whose measurements found it long enough that
/// well-behaved tasks almost never hit it (so it costs nothing) and short
/// enough that a task spinning on ready work gives way within tens of
/// microseconds.
pub const DEFAULT_BUDGET: u32 = 128;

thread_local! {
    /// The budget left to the task being polled on this thread; `None`
    /// outside a task, which means unconstrained.
    static BUDGET: Cell<Option<u32>> = const { Cell::new(None) };

    /// The clock reading (see [`crate::clock`]) past which the task being
    /// polled on this thread counts as having spent its budget; 0 for none.
    static DEADLINE_NS: Cell<u64> = const { Cell::new(0) };
}

/// How many units are spent between two looks at the poll deadline. A power
/// of two keeps the test a mask; 16 keeps the clock's cost (about 10 ns) at
/// under 1 ns per operation.
const DEADLINE_CHECK_EVERY: u32 = 16;

/// Sets the deadline of the polls that follow on this thread, as a reading
/// of [`clock::now_ns`](crate::clock::now_ns), or `None` for no deadline.
///
/// Executors call this before polling a task: once the clock passes the
/// deadline, the task's budget counts as spent, so drama's primitives make
/// it give way at their next budget check. Polls outside a task are never
/// affected.
pub fn set_poll_deadline_ns(deadline_ns: Option<u64>) {
    let _ = DEADLINE_NS.try_with(|d| d.set(deadline_ns.unwrap_or(0)));
}

/// Whether the deadline set by [`set_poll_deadline_ns`] has passed.
fn past_deadline() -> bool {
    let deadline = DEADLINE_NS.try_with(Cell::get).unwrap_or(0);
    deadline != 0 && crate::clock::now_ns() >= deadline
}

/// Sets the budget for a span of code and restores the previous one when
/// dropped (polls nest through `block_on` inside a task).
pub(crate) struct Budget {
    previous: Option<u32>,
}

impl Budget {
    pub(crate) fn enter(units: u32) -> Budget {
        let previous = BUDGET.try_with(|b| b.replace(Some(units))).ok().flatten();
        Budget { previous }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        let _ = BUDGET.try_with(|b| b.set(self.previous));
    }
}

/// The budget left to the current poll, or `None` when there is none (outside
/// a task).
pub fn remaining() -> Option<u32> {
    BUDGET.try_with(Cell::get).ok().flatten()
}

/// Asks to spend one unit of the current task's budget.
///
/// Returns `Pending`, after waking the task, when the budget is spent: the
/// caller returns `Pending` too, and the task resumes at its next poll with a
/// fresh budget. Otherwise returns a [`Progress`], which refunds the unit
/// when dropped unless [`Progress::made_progress`] is called, so that polling
/// something that turns out not to be ready costs nothing.
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<Progress> {
    let spent = BUDGET
        .try_with(|b| match b.get() {
            None => Some(false),
            Some(0) => None,
            // Every DEADLINE_CHECK_EVERY units (but not on the first unit of
            // a poll, which has only just started), look at the deadline.
            Some(n) if n % DEADLINE_CHECK_EVERY == 0 && n != DEFAULT_BUDGET && past_deadline() => {
                b.set(Some(0));
                None
            }
            Some(n) => {
                b.set(Some(n - 1));
                Some(true)
            }
        })
        // No thread-local left (the thread is exiting): no budget either.
        .unwrap_or(Some(false));
    match spent {
        Some(refundable) => Poll::Ready(Progress { refundable }),
        None => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// One unit of budget, taken by [`poll_proceed`]; refunded on drop unless
/// [`made_progress`](Self::made_progress) is called.
#[must_use = "dropping a Progress refunds the unit; call made_progress() when the result was handed out"]
#[derive(Debug)]
pub struct Progress {
    refundable: bool,
}

impl Progress {
    /// Keeps the unit spent: the operation produced a result.
    pub fn made_progress(mut self) {
        self.refundable = false;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.refundable {
            let _ = BUDGET.try_with(|b| b.set(b.get().map(|n| n + 1)));
        }
    }
}

/// Spends one unit of the current task's budget, yielding first if it is
/// spent. Put it in loops that never await a drama primitive but should
/// still give way.
pub fn consume_budget() -> ConsumeBudget {
    ConsumeBudget { _private: () }
}

/// The future returned by [`consume_budget`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct ConsumeBudget {
    _private: (),
}

impl Future for ConsumeBudget {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        std::task::ready!(poll_proceed(cx)).made_progress();
        Poll::Ready(())
    }
}

/// Gives the thread back to the scheduler once: the task is woken and goes
/// to the back of its queue, so every task that was ready runs before it
/// resumes.
///
/// ```
/// # let ex = drama_core::LocalExecutor::new();
/// # ex.block_on(async {
/// drama_core::yield_now().await;
/// # });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // Waking ourselves while running tells the scheduler (through
        // `ScheduleInfo::woken_while_running`) that this is a yield, so the
        // task goes to the back of the queue rather than a run-next slot.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
