//! Refused spawns: [`Rejected`] hands the future back with a reason.

use std::fmt;
use std::time::Duration;

/// A spawn that was refused. Nothing is lost: the future (or closure) comes
/// back through [`into_inner`](Self::into_inner), unpolled, and
/// [`reason`](Self::reason) says why.
///
/// ```
/// use std::num::NonZeroUsize;
/// use drama_core::{LocalExecutor, RejectReason};
///
/// let ex = LocalExecutor::with_max_tasks(NonZeroUsize::new(1).unwrap());
/// let _first = ex.spawn(std::future::pending::<()>())?;
/// let refused = ex.spawn(async { 7 }).unwrap_err();
/// assert_eq!(refused.reason(), RejectReason::QueueFull);
/// let future = refused.into_inner(); // retry later, or run it elsewhere
/// assert_eq!(futures::executor::block_on(future), 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Rejected<F> {
    inner: F,
    reason: RejectReason,
    /// The executor's load score when it refused (0 when it does not
    /// measure one).
    load: f64,
    /// When a retry may find room; `None` when retrying cannot help.
    retry_after: Option<Duration>,
}

/// Why a spawn was refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum RejectReason {
    /// A bound was reached: the executor holds as many tasks as it may.
    QueueFull,
    /// The executor is shutting down or gone and takes no new work.
    ShuttingDown,
    /// A spawn that needs a current runtime (a free `spawn` function) was
    /// called outside any.
    NoRuntime,
    /// The executor is overloaded for work of this class: its load score
    /// is past the class's threshold (new `Accept` work is refused first,
    /// then `Read`, then `Compute`; `Write` only at the bounds).
    Overloaded,
    /// The task's tenant holds more than its share of the work in flight
    /// while the executor is loaded: the heavy tenant is refused before the
    /// others.
    OverShare,
    /// IO of some kind is at its depth limit, and the work is of a class
    /// that would start more (`Accept`, `Read`).
    IoDepth,
    /// The task's deadline would pass before its first poll: the queueing
    /// delay alone is longer than the time it has left.
    DeadlineUnreachable,
    /// The task names a tenant the executor cannot keep apart from the
    /// others: an id at or above its tenant bound (`max_tenants`). Such a
    /// task would share its fair queue with nobody's weight and be counted
    /// by no view, so it is refused rather than run unfairly.
    InvalidTenant,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RejectReason::QueueFull => "the executor is at its task bound",
            RejectReason::ShuttingDown => "the executor is shutting down",
            RejectReason::NoRuntime => "called outside a runtime",
            RejectReason::Overloaded => "the executor is overloaded for this class of work",
            RejectReason::OverShare => "the tenant is over its share of a loaded executor",
            RejectReason::IoDepth => "IO is at its depth limit",
            RejectReason::DeadlineUnreachable => {
                "the queue alone would take the task past its deadline"
            }
            RejectReason::InvalidTenant => "the tenant id is not below the executor's max_tenants",
        })
    }
}

impl<F> Rejected<F> {
    /// Makes a refusal that hands `inner` back for `reason`.
    pub fn new(inner: F, reason: RejectReason) -> Rejected<F> {
        Rejected {
            inner,
            reason,
            load: 0.0,
            retry_after: None,
        }
    }

    /// A refusal by an executor that measures its load: `load` is its load
    /// score when it refused, `retry_after` when a retry may find room.
    pub fn with_load(
        inner: F,
        reason: RejectReason,
        load: f64,
        retry_after: Option<Duration>,
    ) -> Rejected<F> {
        Rejected {
            inner,
            reason,
            load,
            retry_after,
        }
    }

    /// The executor's load score when it refused: 0 idle, 1 saturated,
    /// above 1 overloaded (0 from an executor that does not measure it).
    pub fn load(&self) -> f64 {
        self.load
    }

    /// A hint for a caller that retries: after about this long the load
    /// that caused the refusal may have drained. `None` when retrying
    /// cannot help (shutting down, no runtime, an invalid tenant) or the
    /// executor gives no hint.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Why the spawn was refused.
    pub fn reason(&self) -> RejectReason {
        self.reason
    }

    /// The refused future (or closure), untouched.
    pub fn into_inner(self) -> F {
        self.inner
    }
}

impl<F> fmt::Debug for Rejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("reason", &self.reason)
            .field("load", &self.load)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for Rejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spawn refused: {}", self.reason)
    }
}

impl<F> std::error::Error for Rejected<F> {}
