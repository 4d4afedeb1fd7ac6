//! `DrrConfig`: the knobs of the default policy, validated once.

use core::fmt;

use crate::Class;

/// The configuration of a [`Drr`](crate::Drr) policy.
///
/// Every field has a default chosen for a service with a 2 ms latency
/// objective and polls of a few microseconds to a few hundred; the setters
/// give the reasons. Validated by [`Drr::with_config`](crate::Drr::with_config).
///
/// ```
/// use drama_policy::{Class, Drr, DrrConfig};
///
/// let config = DrrConfig::new()
///     .quantum_ns(50_000)
///     .class_weight(Class::Accept, 2)
///     .age_bound_ns(2_000_000);
/// let drr: Drr<u64> = Drr::with_config(config).expect("a valid configuration");
/// assert_eq!(drr.config().get_quantum_ns(), 50_000);
///
/// let nonsense = DrrConfig::new().quantum_ns(0);
/// assert!(Drr::<u64>::with_config(nonsense).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrrConfig {
    pub(crate) quantum_ns: u64,
    pub(crate) class_weights: [u32; Class::COUNT],
    pub(crate) age_bound_ns: u64,
    pub(crate) max_len: usize,
    pub(crate) max_tenant_len: usize,
    pub(crate) max_tenants: u32,
    pub(crate) max_debt_credits: u32,
}

impl DrrConfig {
    /// Default credit per turn of a default-weight tenant: 100 µs.
    pub const DEFAULT_QUANTUM_NS: u64 = 100_000;
    /// Default class weights, `Write : Compute : Read : Accept` = 8:4:2:1.
    pub const DEFAULT_CLASS_WEIGHTS: [u32; Class::COUNT] = [8, 4, 2, 1];
    /// Default age bound: 500 µs (see [`age_bound_ns`](Self::age_bound_ns)).
    pub const DEFAULT_AGE_BOUND_NS: u64 = 500_000;
    /// Default bound on queued items, over all tenants: 2^20.
    pub const DEFAULT_MAX_LEN: usize = 1 << 20;
    /// Default bound on queued items of one tenant: 2^16.
    pub const DEFAULT_MAX_TENANT_LEN: usize = 1 << 16;
    /// Default bound on tenant ids: ids `0..2^16`.
    pub const DEFAULT_MAX_TENANTS: u32 = 1 << 16;
    /// The smallest quantum accepted: 1 ns. A quantum of 0 would give no
    /// tenant any credit, and nothing would ever be picked.
    pub const MIN_QUANTUM_NS: u64 = 1;
    /// The largest quantum accepted: 1 s.
    pub const MAX_QUANTUM_NS: u64 = 1_000_000_000;
    /// The smallest class weight accepted: 1. A weight of 0 would starve
    /// the class.
    pub const MIN_CLASS_WEIGHT: u32 = 1;
    /// The largest class weight accepted.
    pub const MAX_CLASS_WEIGHT: u32 = 1_000;
    /// The smallest bound on tenant ids accepted: 1, room for the default
    /// tenant (id 0), which every item without a tenant of its own runs as.
    pub const MIN_TENANTS: u32 = 1;
    /// The largest bound on tenant ids accepted: 2^24.
    pub const MAX_TENANTS: u32 = 1 << 24;
    /// Default bound on a tenant's debt, in credits of its own: 10 (see
    /// [`max_debt_credits`](Self::max_debt_credits) for why).
    pub const DEFAULT_MAX_DEBT_CREDITS: u32 = 10;
    /// The smallest bound on debt accepted, in credits: 1. A bound of 0
    /// would forgive every charge past the credit a tenant had left, so a
    /// tenant's long polls would cost it nothing.
    pub const MIN_DEBT_CREDITS: u32 = 1;
    /// The largest bound on debt accepted, in credits: 1,000. A debt of `k`
    /// credits costs `pick` at most `k + 1` refill steps, whatever the
    /// quantum, so this also bounds the work one debt can cause.
    pub const MAX_DEBT_CREDITS: u32 = 1_000;

    /// The defaults.
    pub const fn new() -> DrrConfig {
        DrrConfig {
            quantum_ns: Self::DEFAULT_QUANTUM_NS,
            class_weights: Self::DEFAULT_CLASS_WEIGHTS,
            age_bound_ns: Self::DEFAULT_AGE_BOUND_NS,
            max_len: Self::DEFAULT_MAX_LEN,
            max_tenant_len: Self::DEFAULT_MAX_TENANT_LEN,
            max_tenants: Self::DEFAULT_MAX_TENANTS,
            max_debt_credits: Self::DEFAULT_MAX_DEBT_CREDITS,
        }
    }

    /// The credit, in nanoseconds of charged cost, that a tenant of
    /// [`Weight::DEFAULT`](crate::Weight::DEFAULT) receives per turn of the
    /// round; a tenant of weight `w` receives `quantum_ns * w / 100`
    /// (at least 1 ns).
    ///
    /// The default, 100 µs, is tens of typical polls, so a busy tenant runs
    /// several polls in a row (good for caches), while a tenant that wakes
    /// up behind ten busy ones waits about a millisecond for its turn. Must
    /// be in `1..=1_000_000_000`.
    pub const fn quantum_ns(mut self, quantum_ns: u64) -> DrrConfig {
        self.quantum_ns = quantum_ns;
        self
    }

    /// The weight of `class` inside each tenant (default 8:4:2:1 for
    /// `Write : Compute : Read : Accept`). Must be in `1..=1_000`: a weight
    /// of 0 would starve the class, and the priority must stay weak.
    pub const fn class_weight(mut self, class: Class, weight: u32) -> DrrConfig {
        self.class_weights[class.priority()] = weight;
        self
    }

    /// Within a class, items younger than this run newest-first; once the
    /// oldest item is at least this old, the class runs oldest-first until
    /// it is not.
    ///
    /// The default, 500 µs, is admission control's target delay.
    /// Newest-first serves a short burst's freshest (and cache-warm) items
    /// first; an item that has waited the target needs a bound on its wait
    /// rather than priority, which oldest-first gives.
    /// With admission control holding the queue at about a millisecond of
    /// work under overload, a longer bound buries the oldest items of that
    /// full queue until the bound: in drama-sim's T1 at twice capacity, a
    /// 4 ms bound put the admitted p99 at 4.5 ms and the work done within
    /// the objective at 0.80 of capacity; 1 ms gives 1.8 ms and 0.999. On
    /// the real runtime (the overload benchmark at 1× capacity, three
    /// quick runs each) 1 ms gave an admitted p99 of 2.21–2.24 ms and 0.85
    /// of capacity within the objective, 500 µs 2.11–2.46 ms and
    /// 0.84–0.87, 250 µs 1.86–1.99 ms and 0.88; but at 250 µs the micro
    /// suite's ping-pong ran 15 % slower (more oldest-first picks, fewer
    /// cache-warm ones), at 500 µs as fast as at 1 ms.
    /// 0 makes every class FIFO; `u64::MAX` makes it LIFO (no age bound,
    /// which can starve old items).
    pub const fn age_bound_ns(mut self, age_bound_ns: u64) -> DrrConfig {
        self.age_bound_ns = age_bound_ns;
        self
    }

    /// The bound on queued items, over all tenants (default 2^20). At least 1.
    pub const fn max_len(mut self, max_len: usize) -> DrrConfig {
        self.max_len = max_len;
        self
    }

    /// The bound on queued items of one tenant (default 2^16). At least 1.
    pub const fn max_tenant_len(mut self, max_tenant_len: usize) -> DrrConfig {
        self.max_tenant_len = max_tenant_len;
        self
    }

    /// Tenant ids must be below this (default 2^16, at most 2^24). The
    /// policy keeps a table indexed by tenant id (drama's runtime interns
    /// tenant names to dense ids), so this bounds its memory.
    pub const fn max_tenants(mut self, max_tenants: u32) -> DrrConfig {
        self.max_tenants = max_tenants;
        self
    }

    /// The largest debt a tenant carries, in credits of its own (its
    /// credit at its current weight), or of a default-weight tenant if its
    /// own are smaller: a charge that would take its deficit below
    /// `-(max_debt_credits * max(credit, quantum_ns))` leaves it there, and
    /// the excess is forgiven. (Not below the default credit, so that the
    /// small weights a runtime gives a tenant on a worker where it has
    /// only a few of its tasks do not make the excess of their polls
    /// forgiven, which would give those tasks several times their share;
    /// a tenant of low weight waits the longer for it, as its weight
    /// says.) On one worker (every pick charged before the next, the
    /// runtime's case) that is the whole rule. When several workers share
    /// the policy, the floor is that much per pick the tenant had in
    /// service at once since its deficit was last refilled to positive, so
    /// that overlapping polls which each fit the bound are charged in full.
    /// A debt is also never more than 1 s, whatever this says. Must be in
    /// `1..=1_000`.
    ///
    /// Why a bound: a backlogged tenant in debt by `k` credits sits out `k`
    /// whole rounds (plus the one in progress) before it runs again, and a
    /// round is long when tenants are many. With 10,000 tenants taking
    /// 100 µs turns a round is about 1 s, so one poll charged 5 ms (a poll
    /// the OS preempted, or a slow one) would keep its tenant out for about
    /// 50 s; bounded at 10 credits, for about 11 s.
    ///
    /// Why 10 by default: drama's runtime gives each poll a budget of 1 ms,
    /// ten default credits, so the longest poll of a cooperative task is
    /// still charged in full at the default weight (its deficit was
    /// positive when it was picked); only the excess of a longer poll is
    /// forgiven.
    ///
    /// The price: a tenant whose polls cost more than `max_debt_credits`
    /// credits each gets more than its weighted share, since the excess of
    /// every such poll is forgiven. Raise the bound (up to 1,000) where
    /// polls are long and tenants few.
    pub const fn max_debt_credits(mut self, max_debt_credits: u32) -> DrrConfig {
        self.max_debt_credits = max_debt_credits;
        self
    }

    /// The configured quantum, in nanoseconds.
    pub const fn get_quantum_ns(&self) -> u64 {
        self.quantum_ns
    }

    /// The configured weight of `class`.
    pub const fn get_class_weight(&self, class: Class) -> u32 {
        self.class_weights[class.priority()]
    }

    /// The configured age bound, in nanoseconds.
    pub const fn get_age_bound_ns(&self) -> u64 {
        self.age_bound_ns
    }

    /// The configured bound on queued items, over all tenants.
    pub const fn get_max_len(&self) -> usize {
        self.max_len
    }

    /// The configured bound on queued items of one tenant.
    pub const fn get_max_tenant_len(&self) -> usize {
        self.max_tenant_len
    }

    /// The configured bound on tenant ids.
    pub const fn get_max_tenants(&self) -> u32 {
        self.max_tenants
    }

    /// The configured bound on a tenant's debt, in credits.
    pub const fn get_max_debt_credits(&self) -> u32 {
        self.max_debt_credits
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        use Refused as R;
        if !(Self::MIN_QUANTUM_NS..=Self::MAX_QUANTUM_NS).contains(&self.quantum_ns) {
            return Err(ConfigError(R::QuantumNs(self.quantum_ns)));
        }
        for class in Class::ALL {
            let weight = self.get_class_weight(class);
            if !(Self::MIN_CLASS_WEIGHT..=Self::MAX_CLASS_WEIGHT).contains(&weight) {
                return Err(ConfigError(R::ClassWeight(class, weight)));
            }
        }
        if self.max_len < MIN_QUEUE_BOUND {
            return Err(ConfigError(R::MaxLen(self.max_len)));
        }
        if self.max_tenant_len < MIN_QUEUE_BOUND {
            return Err(ConfigError(R::MaxTenantLen(self.max_tenant_len)));
        }
        if !(Self::MIN_TENANTS..=Self::MAX_TENANTS).contains(&self.max_tenants) {
            return Err(ConfigError(R::MaxTenants(self.max_tenants)));
        }
        if !(Self::MIN_DEBT_CREDITS..=Self::MAX_DEBT_CREDITS).contains(&self.max_debt_credits) {
            return Err(ConfigError(R::MaxDebtCredits(self.max_debt_credits)));
        }
        Ok(())
    }
}

/// The smallest bound on queued items (over all tenants, and of one)
/// accepted: 1. A bound of 0 would refuse every item.
const MIN_QUEUE_BOUND: usize = 1;

impl Default for DrrConfig {
    fn default() -> DrrConfig {
        DrrConfig::new()
    }
}

/// A [`DrrConfig`] with a value out of range: [`kind`](Self::kind) names
/// the setting, and the message gives its limits and the value refused.
///
/// ```
/// use drama_policy::{ConfigErrorKind, Drr, DrrConfig};
///
/// let error = Drr::<u64>::with_config(DrrConfig::new().quantum_ns(0)).err().unwrap();
/// assert_eq!(error.kind(), ConfigErrorKind::QuantumNs);
/// assert_eq!(
///     error.to_string(),
///     format!(
///         "invalid DRR configuration: quantum_ns must be in {}..={}, got 0",
///         DrrConfig::MIN_QUANTUM_NS,
///         DrrConfig::MAX_QUANTUM_NS,
///     ),
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError(Refused);

/// Which setting of a [`DrrConfig`] a [`ConfigError`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// [`DrrConfig::quantum_ns`].
    QuantumNs,
    /// [`DrrConfig::class_weight`] (of any class).
    ClassWeight,
    /// [`DrrConfig::max_len`].
    MaxLen,
    /// [`DrrConfig::max_tenant_len`].
    MaxTenantLen,
    /// [`DrrConfig::max_tenants`].
    MaxTenants,
    /// [`DrrConfig::max_debt_credits`].
    MaxDebtCredits,
}

/// The setting refused and its value: what the message is built from,
/// with the limits (the constants of [`DrrConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    QuantumNs(u64),
    ClassWeight(Class, u32),
    MaxLen(usize),
    MaxTenantLen(usize),
    MaxTenants(u32),
    MaxDebtCredits(u32),
}

impl ConfigError {
    /// Which setting was refused.
    pub const fn kind(&self) -> ConfigErrorKind {
        match self.0 {
            Refused::QuantumNs(_) => ConfigErrorKind::QuantumNs,
            Refused::ClassWeight(..) => ConfigErrorKind::ClassWeight,
            Refused::MaxLen(_) => ConfigErrorKind::MaxLen,
            Refused::MaxTenantLen(_) => ConfigErrorKind::MaxTenantLen,
            Refused::MaxTenants(_) => ConfigErrorKind::MaxTenants,
            Refused::MaxDebtCredits(_) => ConfigErrorKind::MaxDebtCredits,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        type C = DrrConfig;
        f.write_str("invalid DRR configuration: ")?;
        match self.0 {
            Refused::QuantumNs(got) => write!(
                f,
                "quantum_ns must be in {}..={}, got {got}",
                C::MIN_QUANTUM_NS,
                C::MAX_QUANTUM_NS
            ),
            Refused::ClassWeight(class, got) => write!(
                f,
                "class_weight({class}) must be in {}..={}, got {got}",
                C::MIN_CLASS_WEIGHT,
                C::MAX_CLASS_WEIGHT
            ),
            Refused::MaxLen(got) => {
                write!(f, "max_len must be at least {MIN_QUEUE_BOUND}, got {got}")
            }
            Refused::MaxTenantLen(got) => write!(
                f,
                "max_tenant_len must be at least {MIN_QUEUE_BOUND}, got {got}"
            ),
            Refused::MaxTenants(got) => write!(
                f,
                "max_tenants must be in {}..={}, got {got}",
                C::MIN_TENANTS,
                C::MAX_TENANTS
            ),
            Refused::MaxDebtCredits(got) => write!(
                f,
                "max_debt_credits must be in {}..={}, got {got}",
                C::MIN_DEBT_CREDITS,
                C::MAX_DEBT_CREDITS
            ),
        }
    }
}

impl core::error::Error for ConfigError {}
