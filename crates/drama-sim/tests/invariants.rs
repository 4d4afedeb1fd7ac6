//! The simulator catches a policy that breaks the protocol and reports it
//! as a typed error, naming the broken invariant, instead of panicking or
//! printing wrong figures.

use drama_policy::{Class, Drr, Overflow, Picked, Policy, TenantId, Weight};
use drama_sim::{
    Arrival, RequestId, Service, SimConfig, SimErrorKind, Stream, Tenant, Workload, run,
};

/// A policy that wraps DRR and misbehaves in one chosen way.
struct Broken {
    inner: Drr<RequestId>,
    fault: Fault,
    enqueues: u64,
    last_picked: Option<Picked<RequestId>>,
}

#[derive(Clone, Copy)]
enum Fault {
    /// Accepts every 50th item but drops it.
    DropsItems,
    /// Reports one item more than it holds, once it holds any.
    LenOffByOne,
    /// Returns the previous pick again every 50th pick.
    PicksTwice,
    /// Returns a different item inside an Overflow.
    SwapsRefused,
}

impl Broken {
    fn new(fault: Fault) -> Broken {
        Broken {
            inner: Drr::new(),
            fault,
            enqueues: 0,
            last_picked: None,
        }
    }
}

impl Policy<RequestId> for Broken {
    fn enqueue(
        &mut self,
        item: RequestId,
        tenant: TenantId,
        class: Class,
        now_ns: u64,
    ) -> Result<(), Overflow<RequestId>> {
        self.enqueues += 1;
        match self.fault {
            Fault::DropsItems if self.enqueues.is_multiple_of(50) => Ok(()),
            Fault::SwapsRefused if self.enqueues.is_multiple_of(50) => {
                Err(Overflow::new(item + 1, drama_policy::Limit::Total))
            }
            _ => self.inner.enqueue(item, tenant, class, now_ns),
        }
    }

    fn pick(&mut self, now_ns: u64) -> Option<Picked<RequestId>> {
        if let (Fault::PicksTwice, Some(last)) = (self.fault, &self.last_picked)
            && self.enqueues.is_multiple_of(50)
        {
            return Some(last.clone());
        }
        let picked = self.inner.pick(now_ns);
        self.last_picked.clone_from(&picked);
        picked
    }

    fn charge(&mut self, tenant: TenantId, class: Class, cost_ns: u64) {
        self.inner.charge(tenant, class, cost_ns);
    }

    fn set_weight(&mut self, tenant: TenantId, weight: Weight) -> Result<(), Overflow<Weight>> {
        self.inner.set_weight(tenant, weight)
    }

    fn len(&self) -> usize {
        match self.fault {
            Fault::LenOffByOne if self.enqueues > 0 => self.inner.len() + 1,
            _ => self.inner.len(),
        }
    }

    fn tenant_len(&self, tenant: TenantId) -> usize {
        self.inner.tenant_len(tenant)
    }
}

fn busy() -> Workload {
    Workload::new().tenant(Tenant::new("a").stream(Stream::new(
        Arrival::Poisson {
            rate_per_s: 15_000.0,
        },
        Service::Exponential { mean_ns: 100_000 },
    )))
}

fn kind_of(fault: Fault) -> SimErrorKind {
    let config = SimConfig::new(5).duration_ns(50_000_000);
    let err = run(&config, &busy(), &mut Broken::new(fault)).expect_err("the fault is caught");
    assert!(err.kind().is_violation(), "{err}");
    assert!(err.at_ns().is_some(), "{err}");
    err.kind()
}

#[test]
fn dropped_item_is_caught() {
    // The policy's len stays in step with what it holds, so the simulator
    // sees the item missing from the count.
    assert_eq!(kind_of(Fault::DropsItems), SimErrorKind::LenMismatch);
}

#[test]
fn wrong_len_is_caught() {
    assert_eq!(kind_of(Fault::LenOffByOne), SimErrorKind::LenMismatch);
}

#[test]
fn duplicate_pick_is_caught() {
    assert_eq!(kind_of(Fault::PicksTwice), SimErrorKind::BadPick);
}

#[test]
fn swapped_overflow_is_caught() {
    assert_eq!(kind_of(Fault::SwapsRefused), SimErrorKind::BadOverflow);
}

/// Newest-first with no age bound starves the oldest requests of an
/// overloaded tenant; the wait bound turns that into an error.
#[test]
fn starvation_breaks_the_wait_bound() {
    let lifo = drama_policy::DrrConfig::new().age_bound_ns(u64::MAX);
    let mut drr = Drr::with_config(lifo).expect("valid configuration");
    let config = SimConfig::new(5)
        .duration_ns(200_000_000)
        .max_wait_bound_ns(Some(50_000_000));
    let overloaded = Workload::new().tenant(Tenant::new("a").stream(Stream::new(
        Arrival::Poisson {
            rate_per_s: 25_000.0,
        },
        Service::Exponential { mean_ns: 100_000 },
    )));
    let err = run(&config, &overloaded, &mut drr).expect_err("starvation is caught");
    assert_eq!(err.kind(), SimErrorKind::WaitBound, "{err}");

    // The default age bound serves the oldest first once it is 4 ms old, so
    // the same tenant below capacity keeps every wait bounded.
    let below_capacity = Workload::new().tenant(Tenant::new("a").stream(Stream::new(
        Arrival::Poisson {
            rate_per_s: 15_000.0,
        },
        Service::Exponential { mean_ns: 100_000 },
    )));
    run(&config, &below_capacity, &mut Drr::new()).expect("no request waits 50 ms");
}

#[test]
fn policy_not_empty_is_refused() {
    let mut drr = Drr::new();
    drr.enqueue(99, TenantId::new(1), Class::Compute, 0)
        .expect("room");
    let err = run(&SimConfig::new(1), &busy(), &mut drr).expect_err("refused");
    assert_eq!(err.kind(), SimErrorKind::PolicyNotEmpty);
}

#[test]
fn invalid_configurations_are_refused() {
    let cases = [
        SimConfig::new(1).workers(0),
        SimConfig::new(1).duration_ns(10).warmup_ns(10),
        SimConfig::new(1).poll_slice_ns(Some(0)),
        SimConfig::new(1).retry_backoff_ns(0),
    ];
    for config in cases {
        let err = run(&config, &busy(), &mut Drr::new()).expect_err("refused");
        assert_eq!(err.kind(), SimErrorKind::InvalidConfig, "{config:?}");
        assert!(!err.kind().is_violation());
    }
    let bad_streams = [
        Stream::new(
            Arrival::Poisson { rate_per_s: 0.0 },
            Service::Constant { ns: 1 },
        ),
        Stream::new(
            Arrival::Poisson {
                rate_per_s: f64::NAN,
            },
            Service::Constant { ns: 1 },
        ),
        Stream::new(
            Arrival::ClosedLoop { in_flight: 0 },
            Service::Constant { ns: 1 },
        ),
        Stream::new(
            Arrival::Bursty {
                bursts_per_s: 1.0,
                burst_len: 0,
            },
            Service::Constant { ns: 1 },
        ),
        Stream::new(
            Arrival::ClosedLoop { in_flight: 1 },
            Service::Uniform {
                min_ns: 5,
                max_ns: 4,
            },
        ),
        Stream::new(
            Arrival::ClosedLoop { in_flight: 1 },
            Service::Constant { ns: 1 },
        )
        .class_mix([0.0; 4]),
        Stream::new(
            Arrival::ClosedLoop { in_flight: 1 },
            Service::Constant { ns: 1 },
        )
        .class_mix([1.0, -1.0, 1.0, 1.0]),
    ];
    for stream in bad_streams {
        let workload = Workload::new().tenant(Tenant::new("bad").stream(stream.clone()));
        let err = run(&SimConfig::new(1), &workload, &mut Drr::new()).expect_err("refused");
        assert_eq!(err.kind(), SimErrorKind::InvalidConfig, "{stream:?}");
    }
}

#[test]
fn refused_weight_is_reported() {
    // DRR's default bound on tenant ids is 2^16; the simulator gives tenant
    // i the id i + 1, so a bound of 1 refuses the first tenant.
    let config = drama_policy::DrrConfig::new().max_tenants(1);
    let mut drr = Drr::with_config(config).expect("valid configuration");
    let err = run(&SimConfig::new(1), &busy(), &mut drr).expect_err("refused");
    assert_eq!(err.kind(), SimErrorKind::WeightRefused, "{err}");
}
