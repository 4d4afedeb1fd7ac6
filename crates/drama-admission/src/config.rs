//! [`AdmissionConfig`]: the targets, thresholds and bounds, validated.

use core::fmt;
use core::ops::{Range, RangeInclusive};

use drama_policy::{Class, IoKind};

/// The settings of an [`Admission`](crate::Admission): the queueing-delay
/// target and the window the estimate looks back over, the score at which
/// each class is refused, how much longer a tenant within its share is
/// admitted, the bounds on in-flight work and the IO depth limits.
///
/// Every setter takes the value as given; [`Admission::new`](crate::Admission::new)
/// checks them all and refuses nonsense with a [`ConfigError`].
///
/// ```
/// use drama_admission::{Admission, AdmissionConfig};
/// use drama_policy::{Class, IoKind};
///
/// let config = AdmissionConfig::new()
///     .target_delay_ns(500_000)
///     .refuse_at(Class::Read, 1.2)
///     .io_depth_limit(IoKind::Read, 64)
///     .max_in_flight(10_000);
/// let admission = Admission::new(config)?;
/// # drop(admission);
/// # Ok::<(), drama_admission::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdmissionConfig {
    pub(crate) target_delay_ns: u64,
    pub(crate) window_ns: u64,
    pub(crate) arm_utilization: f64,
    pub(crate) refuse_at: [f64; Class::COUNT],
    pub(crate) within_share_factor: f64,
    pub(crate) share_slack: f64,
    pub(crate) min_share_tasks: u32,
    pub(crate) max_in_flight: u64,
    pub(crate) max_in_flight_per_tenant: Option<u32>,
    pub(crate) reserve: f64,
    pub(crate) io_depth_limits: [Option<u32>; IoKind::COUNT],
    pub(crate) max_tenants: u32,
}

impl AdmissionConfig {
    /// The default queueing-delay target: 500 µs, the predicted wait at
    /// which the load score is 1. Breakwater's rule, five times the service
    /// time, for the 100 µs requests drama's benchmarks serve; `Compute` is
    /// refused at twice the target (1 ms), Breakwater's drop point, which
    /// leaves a 2 ms objective a millisecond for the work itself and for
    /// the prediction's error. With a 1 ms target the `Read` and `Compute`
    /// thresholds sat at 1.5 and 2 ms and the admitted p99 at the edge of
    /// the objective (drama-sim T1).
    pub const DEFAULT_TARGET_DELAY_NS: u64 = 500_000;
    /// The default window: 4 ms. The utilization that arms the load is
    /// averaged over about this long; a standing queue (the smallest delay
    /// seen over it, CoDel's test) or a backlog that takes this long to
    /// drain arms it at once. 4 ms keeps a burst of 40 requests of 100 µs
    /// landing on an idle pair of workers from being refused, and arms a
    /// step to 3× capacity within 2 ms (by the backlog), inside the 5 ms
    /// drama's benchmarks ask for.
    pub const DEFAULT_WINDOW_NS: u64 = 4_000_000;
    /// The default utilization from which admission refuses by load: 0.95.
    /// A backlog on workers that have been busy 95 % of the last window
    /// (averaged over it) is overload that stays; the same backlog on
    /// workers that were idle a moment ago is a burst, which the workers
    /// drain. At 0.9, a steady 0.7 of capacity had the average past the
    /// threshold now and then, and a few accepts in 14,000 were refused
    /// (drama-sim T5); at 0.95 none were, over ten seeds.
    pub const DEFAULT_ARM_UTILIZATION: f64 = 0.95;
    /// The default scores at which new work of each class is refused, by
    /// `Class::priority` (`Write`, `Compute`, `Read`, `Accept`): writes
    /// never by score (they finish requests and release resources; only
    /// the bounds refuse them), compute at 2 (work admitted now would wait
    /// twice the target), reads at 1.5, accepts at 1 (the pool is
    /// saturated; busy workers alone bring the score close to 1, not to
    /// it).
    pub const DEFAULT_REFUSE_AT: [f64; Class::COUNT] = [f64::INFINITY, 2.0, 1.5, 1.0];
    /// The default factor on a class's threshold for a tenant within its
    /// share, while another tenant holds more than its share: infinite,
    /// so such a tenant is refused only by the bounds. The fair queue
    /// serves it its share whatever the heavy tenant queued, so the global
    /// delay the heavy tenant causes is not the delay it will see; with a
    /// factor of 2, a heavy tenant flooding faster than the window can
    /// react (thousands of spawns a millisecond) pushed the score past 4
    /// and the light tenants were refused 99 % of the time on the real
    /// runtime. When nobody is over their share, everyone is refused at the
    /// threshold, so the ladder still holds.
    pub const DEFAULT_WITHIN_SHARE_FACTOR: f64 = f64::INFINITY;
    /// The default slack of the share test: a tenant is above its share
    /// when it holds more than 1.25 times its weight's share of the work in
    /// flight. Shares move with every spawn and finish; without slack a
    /// tenant exactly at its share would flip between the two sides.
    pub const DEFAULT_SHARE_SLACK: f64 = 0.25;
    /// The default number of in-flight tasks a tenant may hold whatever
    /// its share: 4. A tenant with a handful of tasks cannot be the cause
    /// of a standing queue on a pool of workers, and a light tenant's
    /// burst of a few requests must not count it as heavy.
    pub const DEFAULT_MIN_SHARE_TASKS: u32 = 4;
    /// The default bound on work in flight (admitted, not finished): 2^20,
    /// the runtime's default task bound.
    pub const DEFAULT_MAX_IN_FLIGHT: u64 = 1 << 20;
    /// The default reserve: the last eighth of the in-flight bound is kept
    /// for tenants within their share. Past seven eighths, a tenant above
    /// its share is refused: the room it borrowed is what is reclaimed
    /// first, and the light tenants still find room.
    pub const DEFAULT_RESERVE: f64 = 0.125;
    /// The default tenant bound: 65,536, the runtime's default.
    pub const DEFAULT_MAX_TENANTS: u32 = 1 << 16;
    /// The shortest target or window accepted: 1 µs. A wake-up and a
    /// reschedule alone take about that long, so a shorter target would
    /// call every queue overloaded, and a shorter window would average the
    /// utilization over less than one poll.
    pub const MIN_DELAY_NS: u64 = 1_000;
    /// The longest target or window accepted: 10 s. A queueing delay of
    /// seconds is an outage, not a target, and the arithmetic on scripted
    /// clocks stays far from overflow.
    pub const MAX_DELAY_NS: u64 = 10_000_000_000;
    /// The smallest tenant bound accepted: 1, room for the default tenant
    /// (id 0), as for the policy.
    pub const MIN_TENANTS: u32 = 1;
    /// The largest tenant bound accepted: 2^24, as for the policy.
    pub const MAX_TENANTS: u32 = 1 << 24;

    /// The defaults (see the constants).
    pub const fn new() -> AdmissionConfig {
        AdmissionConfig {
            target_delay_ns: Self::DEFAULT_TARGET_DELAY_NS,
            window_ns: Self::DEFAULT_WINDOW_NS,
            arm_utilization: Self::DEFAULT_ARM_UTILIZATION,
            refuse_at: Self::DEFAULT_REFUSE_AT,
            within_share_factor: Self::DEFAULT_WITHIN_SHARE_FACTOR,
            share_slack: Self::DEFAULT_SHARE_SLACK,
            min_share_tasks: Self::DEFAULT_MIN_SHARE_TASKS,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            max_in_flight_per_tenant: None,
            reserve: Self::DEFAULT_RESERVE,
            io_depth_limits: [None; IoKind::COUNT],
            max_tenants: Self::DEFAULT_MAX_TENANTS,
        }
    }

    /// Admission that never refuses by load: every class's threshold at
    /// infinity, no IO limits; only the bounds refuse (and the load is
    /// still measured). For a workload that must not be refused below its
    /// bounds, such as a test that floods the runtime on purpose.
    pub const fn off() -> AdmissionConfig {
        let mut config = AdmissionConfig::new();
        config.refuse_at = [f64::INFINITY; Class::COUNT];
        config
    }

    /// The queueing delay at which the load score is 1, in 1 µs..=10 s.
    pub const fn target_delay_ns(mut self, target_delay_ns: u64) -> AdmissionConfig {
        self.target_delay_ns = target_delay_ns;
        self
    }

    /// How far back the estimate looks, in 1 µs..=10 s and at least the
    /// target.
    pub const fn window_ns(mut self, window_ns: u64) -> AdmissionConfig {
        self.window_ns = window_ns;
        self
    }

    /// The utilization (averaged over about a window) from which the load
    /// refuses work, in 0..=1: below it a backlog is taken for a burst.
    /// 0 refuses by the backlog alone.
    pub const fn arm_utilization(mut self, utilization: f64) -> AdmissionConfig {
        self.arm_utilization = utilization;
        self
    }

    /// The load score at which new work of `class` is refused: positive,
    /// `f64::INFINITY` for never; lower classes (`Accept` lowest) must not
    /// be refused later than higher ones.
    pub const fn refuse_at(mut self, class: Class, score: f64) -> AdmissionConfig {
        self.refuse_at[class.priority()] = score;
        self
    }

    /// How much later (a factor on the class's threshold, at least 1;
    /// infinity for never by load) a tenant within its share is refused
    /// while another tenant holds more than its share.
    pub const fn within_share_factor(mut self, factor: f64) -> AdmissionConfig {
        self.within_share_factor = factor;
        self
    }

    /// The share test's slack, in 0..=10: a tenant is above its share when
    /// it holds more than `1 + slack` times its weight's share of the work
    /// in flight.
    pub const fn share_slack(mut self, slack: f64) -> AdmissionConfig {
        self.share_slack = slack;
        self
    }

    /// How many tasks in flight a tenant may hold whatever its share.
    pub const fn min_share_tasks(mut self, tasks: u32) -> AdmissionConfig {
        self.min_share_tasks = tasks;
        self
    }

    /// The bound on work in flight over all tenants, at least 1.
    pub const fn max_in_flight(mut self, max_in_flight: u64) -> AdmissionConfig {
        self.max_in_flight = max_in_flight;
        self
    }

    /// A bound on one tenant's work in flight, at least 1. Default none:
    /// a tenant may use room the others leave idle, and the reserve takes
    /// it back first when the pool fills up.
    pub const fn max_in_flight_per_tenant(mut self, max: u32) -> AdmissionConfig {
        self.max_in_flight_per_tenant = Some(max);
        self
    }

    /// The share of the in-flight bound kept for tenants within their
    /// share, in 0..1.
    pub const fn reserve(mut self, reserve: f64) -> AdmissionConfig {
        self.reserve = reserve;
        self
    }

    /// The most IO operations of `kind` in flight before new `Accept` and
    /// `Read` work is refused (the work that would start more IO), at
    /// least 1. Default: no limit.
    pub const fn io_depth_limit(mut self, kind: IoKind, limit: u32) -> AdmissionConfig {
        self.io_depth_limits[kind.index()] = Some(limit);
        self
    }

    /// The tenant ids admitted, `0..max_tenants`; 1..=2^24.
    pub const fn max_tenants(mut self, max_tenants: u32) -> AdmissionConfig {
        self.max_tenants = max_tenants;
        self
    }

    /// The queueing-delay target.
    pub const fn get_target_delay_ns(&self) -> u64 {
        self.target_delay_ns
    }

    /// The window.
    pub const fn get_window_ns(&self) -> u64 {
        self.window_ns
    }

    /// The score at which `class` is refused.
    pub const fn get_refuse_at(&self, class: Class) -> f64 {
        self.refuse_at[class.priority()]
    }

    /// The bound on work in flight.
    pub const fn get_max_in_flight(&self) -> u64 {
        self.max_in_flight
    }

    /// The tenant bound.
    pub const fn get_max_tenants(&self) -> u32 {
        self.max_tenants
    }

    /// The tasks a tenant may hold whatever its share.
    pub const fn get_min_share_tasks(&self) -> u32 {
        self.min_share_tasks
    }

    /// Checks every setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        use Refused as R;
        let refuse = |refused| Err(ConfigError(refused));
        let delay = Self::MIN_DELAY_NS..=Self::MAX_DELAY_NS;
        if !delay.contains(&self.target_delay_ns) {
            return refuse(R::TargetDelayNs(self.target_delay_ns));
        }
        if !delay.contains(&self.window_ns) || self.window_ns < self.target_delay_ns {
            return refuse(R::WindowNs {
                window_ns: self.window_ns,
                target_delay_ns: self.target_delay_ns,
            });
        }
        if !ARM_UTILIZATION.contains(&self.arm_utilization) {
            return refuse(R::ArmUtilization(self.arm_utilization));
        }
        for class in Class::ALL {
            let score = self.get_refuse_at(class);
            if score.is_nan() || score <= MIN_REFUSE_AT {
                return refuse(R::RefuseAt { class, score });
            }
        }
        // `Class::priority` order: each class must be refused no later
        // than the one above it.
        for pair in Class::ALL.windows(2) {
            let [higher, lower] = [pair[0], pair[1]];
            let (higher_score, score) = (self.get_refuse_at(higher), self.get_refuse_at(lower));
            if score > higher_score {
                return refuse(R::RefuseAtOrder {
                    class: lower,
                    score,
                    higher,
                    higher_score,
                });
            }
        }
        if self.within_share_factor.is_nan() || self.within_share_factor < MIN_WITHIN_SHARE_FACTOR {
            return refuse(R::WithinShareFactor(self.within_share_factor));
        }
        if !SHARE_SLACK.contains(&self.share_slack) {
            return refuse(R::ShareSlack(self.share_slack));
        }
        if self.max_in_flight < u64::from(MIN_BOUND) {
            return refuse(R::MaxInFlight(self.max_in_flight));
        }
        if let Some(max) = self.max_in_flight_per_tenant
            && max < MIN_BOUND
        {
            return refuse(R::MaxInFlightPerTenant(max));
        }
        if !RESERVE.contains(&self.reserve) {
            return refuse(R::Reserve(self.reserve));
        }
        for kind in IoKind::ALL {
            if let Some(limit) = self.io_depth_limits[kind.index()]
                && limit < MIN_BOUND
            {
                return refuse(R::IoDepthLimit(kind, limit));
            }
        }
        if !(Self::MIN_TENANTS..=Self::MAX_TENANTS).contains(&self.max_tenants) {
            return refuse(R::MaxTenants(self.max_tenants));
        }
        Ok(())
    }
}

/// The utilizations that may arm the load: a share of the workers' time,
/// from 0 (the backlog alone arms it) to 1 (never armed below full use).
const ARM_UTILIZATION: RangeInclusive<f64> = 0.0..=1.0;
/// `refuse_at` scores must be above this. The score is the predicted
/// queueing delay over the target, so a threshold of 0 or less would be
/// reached with nothing queued.
const MIN_REFUSE_AT: f64 = 0.0;
/// The smallest `within_share_factor`: 1, the class's threshold itself.
/// The factor says how much later than the threshold a tenant within its
/// share is refused: never sooner.
const MIN_WITHIN_SHARE_FACTOR: f64 = 1.0;
/// The share test's slack: from 0 (a tenant is above its share as soon as
/// it holds more than it) to 10 (more than eleven times its share). With
/// equal weights, a tenant holding all the work in flight is above its
/// share only when there are more than `1 + slack` tenants, so a larger
/// slack would leave the test refusing almost nobody.
const SHARE_SLACK: RangeInclusive<f64> = 0.0..=10.0;
/// The reserve, a share of the in-flight bound: from 0 (none) up to, not
/// including, 1, which would keep the whole bound for tenants within their
/// share and refuse a tenant above its share however little is in flight.
const RESERVE: Range<f64> = 0.0..1.0;
/// The smallest bound on work in flight (in all and per tenant), on IO in
/// flight and on tenant ids: 1. A bound of 0 would refuse everything.
const MIN_BOUND: u32 = 1;

impl Default for AdmissionConfig {
    fn default() -> AdmissionConfig {
        AdmissionConfig::new()
    }
}

/// A setting [`Admission::new`](crate::Admission::new) refused:
/// [`kind`](Self::kind) names it, and the message gives its limits and the
/// value refused.
///
/// ```
/// use drama_admission::{Admission, AdmissionConfig, ConfigErrorKind};
///
/// let error = Admission::new(AdmissionConfig::new().max_tenants(0)).unwrap_err();
/// assert_eq!(error.kind(), ConfigErrorKind::MaxTenants);
/// assert_eq!(
///     error.to_string(),
///     format!(
///         "invalid admission configuration: max_tenants must be in {}..={}, got 0",
///         AdmissionConfig::MIN_TENANTS,
///         AdmissionConfig::MAX_TENANTS,
///     ),
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfigError(Refused);

/// Which setting of an [`AdmissionConfig`] a [`ConfigError`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// [`AdmissionConfig::target_delay_ns`].
    TargetDelayNs,
    /// [`AdmissionConfig::window_ns`] (alone, or against the target).
    WindowNs,
    /// [`AdmissionConfig::arm_utilization`].
    ArmUtilization,
    /// [`AdmissionConfig::refuse_at`] (a score, or the order of the
    /// classes' scores).
    RefuseAt,
    /// [`AdmissionConfig::within_share_factor`].
    WithinShareFactor,
    /// [`AdmissionConfig::share_slack`].
    ShareSlack,
    /// [`AdmissionConfig::max_in_flight`].
    MaxInFlight,
    /// [`AdmissionConfig::max_in_flight_per_tenant`].
    MaxInFlightPerTenant,
    /// [`AdmissionConfig::reserve`].
    Reserve,
    /// [`AdmissionConfig::io_depth_limit`] (of any IO kind).
    IoDepthLimit,
    /// [`AdmissionConfig::max_tenants`].
    MaxTenants,
}

/// The setting refused and its value (with what the limit depends on):
/// what the message is built from, with the named limits.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Refused {
    TargetDelayNs(u64),
    WindowNs {
        window_ns: u64,
        target_delay_ns: u64,
    },
    ArmUtilization(f64),
    /// A score that is not positive.
    RefuseAt {
        class: Class,
        score: f64,
    },
    /// A class refused later than the class above it.
    RefuseAtOrder {
        class: Class,
        score: f64,
        higher: Class,
        higher_score: f64,
    },
    WithinShareFactor(f64),
    ShareSlack(f64),
    MaxInFlight(u64),
    MaxInFlightPerTenant(u32),
    Reserve(f64),
    IoDepthLimit(IoKind, u32),
    MaxTenants(u32),
}

impl ConfigError {
    /// Which setting was refused.
    pub const fn kind(&self) -> ConfigErrorKind {
        use ConfigErrorKind as K;
        match self.0 {
            Refused::TargetDelayNs(_) => K::TargetDelayNs,
            Refused::WindowNs { .. } => K::WindowNs,
            Refused::ArmUtilization(_) => K::ArmUtilization,
            Refused::RefuseAt { .. } | Refused::RefuseAtOrder { .. } => K::RefuseAt,
            Refused::WithinShareFactor(_) => K::WithinShareFactor,
            Refused::ShareSlack(_) => K::ShareSlack,
            Refused::MaxInFlight(_) => K::MaxInFlight,
            Refused::MaxInFlightPerTenant(_) => K::MaxInFlightPerTenant,
            Refused::Reserve(_) => K::Reserve,
            Refused::IoDepthLimit(..) => K::IoDepthLimit,
            Refused::MaxTenants(_) => K::MaxTenants,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        type C = AdmissionConfig;
        let (min_delay_ns, max_delay_ns) = (C::MIN_DELAY_NS, C::MAX_DELAY_NS);
        f.write_str("invalid admission configuration: ")?;
        match self.0 {
            Refused::TargetDelayNs(got) => write!(
                f,
                "target_delay_ns must be in {min_delay_ns}..={max_delay_ns}, got {got}"
            ),
            Refused::WindowNs {
                window_ns,
                target_delay_ns,
            } => write!(
                f,
                "window_ns must be in {min_delay_ns}..={max_delay_ns} and at least \
                 target_delay_ns ({target_delay_ns}), got {window_ns}"
            ),
            Refused::ArmUtilization(got) => {
                write!(
                    f,
                    "arm_utilization must be in {ARM_UTILIZATION:?}, got {got}"
                )
            }
            Refused::RefuseAt { class, score } => write!(
                f,
                "refuse_at({class}) must be above {MIN_REFUSE_AT:?}, got {score}"
            ),
            Refused::RefuseAtOrder {
                class,
                score,
                higher,
                higher_score,
            } => write!(
                f,
                "refuse_at({class}) must be at most refuse_at({higher}) ({higher_score}), \
                 got {score}"
            ),
            Refused::WithinShareFactor(got) => write!(
                f,
                "within_share_factor must be at least {MIN_WITHIN_SHARE_FACTOR:?}, got {got}"
            ),
            Refused::ShareSlack(got) => {
                write!(f, "share_slack must be in {SHARE_SLACK:?}, got {got}")
            }
            Refused::MaxInFlight(got) => {
                write!(f, "max_in_flight must be at least {MIN_BOUND}, got {got}")
            }
            Refused::MaxInFlightPerTenant(got) => write!(
                f,
                "max_in_flight_per_tenant must be at least {MIN_BOUND}, got {got}"
            ),
            Refused::Reserve(got) => write!(f, "reserve must be in {RESERVE:?}, got {got}"),
            Refused::IoDepthLimit(kind, got) => write!(
                f,
                "io_depth_limit({kind}) must be at least {MIN_BOUND}, got {got}"
            ),
            Refused::MaxTenants(got) => write!(
                f,
                "max_tenants must be in {}..={}, got {got}",
                C::MIN_TENANTS,
                C::MAX_TENANTS
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
