//! `SimError`: why a run could not start, or which invariant it caught
//! broken.

use std::fmt;

/// What kind of problem a [`SimError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SimErrorKind {
    /// The configuration or the workload is out of range; nothing ran.
    InvalidConfig,
    /// The policy refused a tenant's weight before the run.
    WeightRefused,
    /// The policy was handed over with items already queued.
    PolicyNotEmpty,
    /// `Policy::len` disagreed with the simulator's own count of queued
    /// requests.
    LenMismatch,
    /// An item enqueued was neither picked nor still queued at the end, or
    /// `pick` returned nothing while items were queued.
    LostItem,
    /// An item came out of `pick` that was not queued (picked twice, or
    /// never enqueued), or with a tenant, class or enqueue time other than
    /// the ones it went in with.
    BadPick,
    /// An item came back in an `Overflow` other than the one enqueued.
    BadOverflow,
    /// A queued request waited longer than the run's `max_wait_bound_ns`.
    WaitBound,
}

impl SimErrorKind {
    /// A short, stable name for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            SimErrorKind::InvalidConfig => "invalid configuration",
            SimErrorKind::WeightRefused => "weight refused",
            SimErrorKind::PolicyNotEmpty => "policy not empty",
            SimErrorKind::LenMismatch => "len mismatch",
            SimErrorKind::LostItem => "lost item",
            SimErrorKind::BadPick => "bad pick",
            SimErrorKind::BadOverflow => "bad overflow",
            SimErrorKind::WaitBound => "wait bound exceeded",
        }
    }

    /// Whether this kind is a broken invariant of the policy under test (as
    /// opposed to a configuration mistake of the caller).
    pub const fn is_violation(self) -> bool {
        !matches!(
            self,
            SimErrorKind::InvalidConfig
                | SimErrorKind::WeightRefused
                | SimErrorKind::PolicyNotEmpty
        )
    }
}

impl fmt::Display for SimErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run that could not start, or stopped at a broken invariant.
///
/// ```
/// use drama_policy::Drr;
/// use drama_sim::{SimConfig, SimErrorKind, Workload};
///
/// // A warm-up as long as the run leaves nothing to measure.
/// let config = SimConfig::new(1).duration_ns(1_000).warmup_ns(1_000);
/// let err = drama_sim::run(&config, &Workload::new(), &mut Drr::new()).unwrap_err();
/// assert_eq!(err.kind(), SimErrorKind::InvalidConfig);
/// println!("{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimError {
    kind: SimErrorKind,
    reason: String,
    at_ns: Option<u64>,
}

impl SimError {
    pub(crate) fn new(kind: SimErrorKind, at_ns: u64, reason: impl Into<String>) -> SimError {
        SimError {
            kind,
            reason: reason.into(),
            at_ns: Some(at_ns),
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> SimError {
        SimError {
            kind: SimErrorKind::InvalidConfig,
            reason: reason.into(),
            at_ns: None,
        }
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> SimErrorKind {
        self.kind
    }

    /// What went wrong, in words.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The virtual time at which it was detected; `None` for problems found
    /// before the run started.
    pub fn at_ns(&self) -> Option<u64> {
        self.at_ns
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at_ns {
            Some(at_ns) => write!(f, "{} at {} ns: {}", self.kind, at_ns, self.reason),
            None => write!(f, "{}: {}", self.kind, self.reason),
        }
    }
}

impl std::error::Error for SimError {}
