//! What a run offers the policy: tenants, each with one or more streams of
//! requests.

use drama_policy::{Class, Weight};

use crate::error::SimError;
use crate::rng::Rng;

/// The largest arrival rate accepted, per stream: one request per virtual
/// nanosecond on average. Beyond it virtual time would stop advancing
/// between arrivals.
pub const MAX_RATE_PER_S: f64 = 1e9;

/// The largest number of requests a closed-loop stream keeps in flight, and
/// the largest burst: bounds what one stream can put in the event queue.
pub const MAX_IN_FLIGHT: u32 = 1 << 20;

/// The offered load of a run: a list of tenants.
///
/// Tenant `i` of the list (counting from 0) is scheduled as
/// `TenantId::new(i + 1)`; id 0 is left to drama's default tenant.
///
/// ```
/// use drama_policy::{Class, Weight};
/// use drama_sim::{Arrival, Service, Stream, Tenant, Workload};
///
/// let workload = Workload::new()
///     .tenant(Tenant::new("web").stream(Stream::new(
///         Arrival::Poisson { rate_per_s: 1_000.0 },
///         Service::Exponential { mean_ns: 50_000 },
///     )))
///     .tenant(
///         Tenant::new("batch")
///             .weight(Weight::new(200).unwrap())
///             .stream(Stream::new(Arrival::ClosedLoop { in_flight: 8 }, Service::Constant { ns: 500_000 }).class(Class::Compute)),
///     );
/// assert_eq!(workload.tenants().len(), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Workload {
    tenants: Vec<Tenant>,
}

impl Workload {
    /// An empty workload.
    pub fn new() -> Workload {
        Workload::default()
    }

    /// Adds a tenant (it gets the next tenant id).
    pub fn tenant(mut self, tenant: Tenant) -> Workload {
        self.tenants.push(tenant);
        self
    }

    /// The tenants, in id order.
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    pub(crate) fn validate(&self) -> Result<(), SimError> {
        if self.tenants.len() >= u32::MAX as usize {
            return Err(SimError::invalid("too many tenants for a u32 tenant id"));
        }
        for tenant in &self.tenants {
            for stream in &tenant.streams {
                stream.validate().map_err(|reason| {
                    SimError::invalid(format!("tenant `{}`: {reason}", tenant.name))
                })?;
            }
        }
        Ok(())
    }
}

/// One tenant: a name for the report, a weight, and its streams of
/// requests.
#[derive(Debug, Clone)]
pub struct Tenant {
    name: String,
    weight: Weight,
    streams: Vec<Stream>,
}

impl Tenant {
    /// A tenant of [`Weight::DEFAULT`] with no streams yet.
    pub fn new(name: impl Into<String>) -> Tenant {
        Tenant {
            name: name.into(),
            weight: Weight::DEFAULT,
            streams: Vec::new(),
        }
    }

    /// Sets the weight the policy is given for this tenant before the run.
    pub fn weight(mut self, weight: Weight) -> Tenant {
        self.weight = weight;
        self
    }

    /// Adds a stream of requests.
    pub fn stream(mut self, stream: Stream) -> Tenant {
        self.streams.push(stream);
        self
    }

    /// The tenant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tenant's weight.
    pub fn get_weight(&self) -> Weight {
        self.weight
    }

    /// The tenant's streams.
    pub fn streams(&self) -> &[Stream] {
        &self.streams
    }
}

/// A stream of requests of one tenant: how they arrive, how long each
/// runs, and which class each is in.
///
/// A tenant with several streams models, for example, saturated writes
/// beside an occasional accept, each with its own arrival process and
/// service time.
#[derive(Debug, Clone)]
pub struct Stream {
    arrival: Arrival,
    service: Service,
    classes: ClassMix,
    from_ns: u64,
    until_ns: u64,
}

impl Stream {
    /// A stream of [`Class::Compute`] requests.
    pub fn new(arrival: Arrival, service: Service) -> Stream {
        Stream {
            arrival,
            service,
            classes: ClassMix::Single(Class::Compute),
            from_ns: 0,
            until_ns: u64::MAX,
        }
    }

    /// The stream offers requests only from `from_ns` until `until_ns`
    /// (excluded), instead of for the whole run: a phase of the offered
    /// load. Several streams of one tenant with windows make a load that
    /// steps up and down (the sum of Poisson processes is one). Open-loop
    /// arrivals only; `from_ns` is also the start of an
    /// [`Arrival::Ramp`].
    ///
    /// ```
    /// use drama_sim::{Arrival, Service, Stream};
    ///
    /// const MS: u64 = 1_000_000;
    /// // 40,000 requests per second more between 200 and 400 ms.
    /// let surge = Stream::new(Arrival::Poisson { rate_per_s: 40_000.0 }, Service::Constant { ns: 100_000 })
    ///     .during(200 * MS, 400 * MS);
    /// assert_eq!(surge.window_ns(), (200 * MS, 400 * MS));
    /// ```
    pub fn during(mut self, from_ns: u64, until_ns: u64) -> Stream {
        self.from_ns = from_ns;
        self.until_ns = until_ns;
        self
    }

    /// When the stream offers requests: from, until (excluded).
    pub fn window_ns(&self) -> (u64, u64) {
        (self.from_ns, self.until_ns)
    }

    /// Every request of the stream is in `class`.
    pub fn class(mut self, class: Class) -> Stream {
        self.classes = ClassMix::Single(class);
        self
    }

    /// Each request's class is drawn with these relative probabilities,
    /// indexed by [`Class::priority`] (`[write, compute, read, accept]`).
    pub fn class_mix(mut self, probabilities: [f64; Class::COUNT]) -> Stream {
        self.classes = ClassMix::Weighted(probabilities);
        self
    }

    /// The arrival process.
    pub fn arrival(&self) -> &Arrival {
        &self.arrival
    }

    /// The service-time distribution.
    pub fn service(&self) -> &Service {
        &self.service
    }

    fn validate(&self) -> Result<(), String> {
        if self.from_ns >= self.until_ns {
            return Err(format!(
                "the window {}..{} ns is empty",
                self.from_ns, self.until_ns
            ));
        }
        match self.arrival {
            Arrival::Poisson { rate_per_s } => check_rate(rate_per_s)?,
            Arrival::Ramp {
                from_rate_per_s,
                to_rate_per_s,
                ..
            } => {
                check_rate(from_rate_per_s)?;
                check_rate(to_rate_per_s)?;
            }
            Arrival::Bursty {
                bursts_per_s,
                burst_len,
            } => {
                check_rate(bursts_per_s * f64::from(burst_len))?;
                check_count("burst_len", burst_len)?;
            }
            Arrival::ClosedLoop { in_flight } => {
                check_count("in_flight", in_flight)?;
                if (self.from_ns, self.until_ns) != (0, u64::MAX) {
                    return Err("a closed loop runs for the whole run: no window".into());
                }
            }
        }
        match self.service {
            Service::Constant { .. } | Service::Exponential { .. } => {}
            Service::Uniform { min_ns, max_ns } => {
                if min_ns > max_ns {
                    return Err(format!(
                        "uniform service range {min_ns}..={max_ns} is empty"
                    ));
                }
            }
        }
        if let ClassMix::Weighted(p) = self.classes
            && (p.iter().any(|x| !x.is_finite() || *x < 0.0) || p.iter().sum::<f64>() <= 0.0)
        {
            return Err(format!(
                "class mix {p:?} must be non-negative with a positive sum"
            ));
        }
        Ok(())
    }

    /// Draws one request's class.
    pub(crate) fn draw_class(&self, rng: &mut Rng) -> Class {
        match self.classes {
            ClassMix::Single(class) => class,
            ClassMix::Weighted(p) => {
                let mut x = rng.next_f64() * p.iter().sum::<f64>();
                for (class, weight) in Class::ALL.into_iter().zip(p) {
                    if x < weight {
                        return class;
                    }
                    x -= weight;
                }
                // Rounding can leave x at the very top of the range: give it
                // to the last class with a positive probability.
                Class::ALL
                    .into_iter()
                    .zip(p)
                    .rev()
                    .find(|&(_, w)| w > 0.0)
                    .map_or(Class::Compute, |(class, _)| class)
            }
        }
    }
}

fn check_rate(rate_per_s: f64) -> Result<(), String> {
    if rate_per_s.is_finite() && rate_per_s > 0.0 && rate_per_s <= MAX_RATE_PER_S {
        Ok(())
    } else {
        Err(format!(
            "arrival rate {rate_per_s}/s must be in (0, {MAX_RATE_PER_S}]"
        ))
    }
}

fn check_count(what: &str, n: u32) -> Result<(), String> {
    if (1..=MAX_IN_FLIGHT).contains(&n) {
        Ok(())
    } else {
        Err(format!("{what} = {n} must be in 1..={MAX_IN_FLIGHT}"))
    }
}

/// How the requests of a stream arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Arrival {
    /// Open loop: arrivals form a Poisson process of this rate, whatever
    /// the policy does (the clients do not wait for answers).
    Poisson {
        /// Mean arrivals per virtual second.
        rate_per_s: f64,
    },
    /// Open loop, on/off: bursts start as a Poisson process, and each burst
    /// is `burst_len` requests arriving at the same instant.
    Bursty {
        /// Mean bursts per virtual second.
        bursts_per_s: f64,
        /// Requests per burst.
        burst_len: u32,
    },
    /// Open loop, a Poisson process whose rate changes linearly from
    /// `from_rate_per_s` at the stream's start (0, or the start of its
    /// [`Stream::during`] window) to `to_rate_per_s` `ramp_ns` later, and
    /// stays there: a load that ramps up (or down).
    Ramp {
        /// Mean arrivals per virtual second at the start.
        from_rate_per_s: f64,
        /// Mean arrivals per virtual second from `ramp_ns` on.
        to_rate_per_s: f64,
        /// How long the change takes.
        ramp_ns: u64,
    },
    /// Closed loop: `in_flight` requests are issued at the start, and each
    /// time one completes the next for the same slot is issued at the same
    /// instant (during the completing poll, as a task waking its follow-up
    /// would). A refused request is retried after the run's back-off, so a
    /// loop never stops for good.
    ClosedLoop {
        /// Requests kept in flight.
        in_flight: u32,
    },
}

/// The distribution of a request's service time: the CPU time it needs in
/// all, over however many polls it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Service {
    /// Always `ns`.
    Constant {
        /// The service time.
        ns: u64,
    },
    /// Exponential with mean `mean_ns`.
    Exponential {
        /// The mean service time.
        mean_ns: u64,
    },
    /// Uniform over `min_ns..=max_ns`.
    Uniform {
        /// The shortest service time.
        min_ns: u64,
        /// The longest service time.
        max_ns: u64,
    },
}

impl Service {
    /// Draws one service time, at least 1 ns so that every poll advances
    /// virtual time.
    pub(crate) fn draw_ns(&self, rng: &mut Rng) -> u64 {
        let ns = match *self {
            Service::Constant { ns } => ns,
            Service::Exponential { mean_ns } => round_ns(rng.exponential(mean_ns as f64)),
            Service::Uniform { min_ns, max_ns } => match (max_ns - min_ns).checked_add(1) {
                Some(span) => min_ns + rng.below(span),
                // The full u64 range.
                None => rng.next_u64(),
            },
        };
        ns.max(1)
    }
}

impl Arrival {
    /// The time from `now_ns` (ns after the stream's start) to the next
    /// arrival of an open-loop process, with one draw from `rng`: an
    /// exponential gap for a constant rate; for a ramp, the time over which
    /// the rate integrates to an exponential variate of mean 1 (inverting
    /// the integrated rate). Only basic IEEE-754 operations and a square
    /// root, which round alike everywhere, so a trace stays
    /// platform-independent. `None` for a closed loop.
    pub(crate) fn gap_ns(&self, now_ns: u64, rng: &mut Rng) -> Option<f64> {
        let per_ns = |per_s: f64| per_s / 1e9;
        match *self {
            // Drawn as they always were, so that traces recorded before
            // ramps existed still hold.
            Arrival::Poisson { rate_per_s } => Some(rng.exponential(1e9 / rate_per_s)),
            Arrival::Bursty { bursts_per_s, .. } => Some(rng.exponential(1e9 / bursts_per_s)),
            Arrival::Ramp {
                from_rate_per_s,
                to_rate_per_s,
                ramp_ns,
            } => {
                let unit = rng.exponential(1.0);
                let (from, to) = (per_ns(from_rate_per_s), per_ns(to_rate_per_s));
                let t = now_ns as f64;
                let end = ramp_ns as f64;
                if t >= end {
                    return Some(unit / to);
                }
                let slope = (to - from) / end;
                let rate = from + slope * t;
                // What is left of the ramp integrates to the trapezoid.
                let left = (rate + to) / 2.0 * (end - t);
                if unit > left {
                    return Some(end - t + (unit - left) / to);
                }
                // rate * g + slope * g^2 / 2 = unit, in the form that
                // neither cancels nor divides by a zero slope.
                let root = (rate * rate + 2.0 * slope * unit).max(0.0).sqrt();
                Some(2.0 * unit / (rate + root))
            }
            Arrival::ClosedLoop { .. } => None,
        }
    }
}

/// Rounds a non-negative duration to whole nanoseconds, saturating.
pub(crate) fn round_ns(ns: f64) -> u64 {
    // `as` saturates and maps NaN to 0; the draws are finite and >= 0.
    (ns + 0.5) as u64
}

/// Which class each request of a stream is in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ClassMix {
    Single(Class),
    Weighted([f64; Class::COUNT]),
}
