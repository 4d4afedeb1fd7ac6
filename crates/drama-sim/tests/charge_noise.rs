//! Charge noise: a seeded fraction of polls is charged more than it ran.
//! It reaches the policy, not the clock: arrivals, virtual time and the
//! report's CPU figures are those of the run without noise, and the run
//! stays a function of its seed.

use drama_policy::{Class, Drr, Overflow, Picked, Policy, TenantId, Weight};
use drama_sim::{
    Arrival, ChargeNoise, RequestId, Service, SimConfig, SimErrorKind, Stream, Tenant, Workload,
    run,
};

/// A Drr that records the total it was charged.
struct Recording {
    inner: Drr<RequestId>,
    charged_ns: u64,
    charges: u64,
}

impl Policy<RequestId> for Recording {
    fn enqueue(
        &mut self,
        item: RequestId,
        tenant: TenantId,
        class: Class,
        now_ns: u64,
    ) -> Result<(), Overflow<RequestId>> {
        self.inner.enqueue(item, tenant, class, now_ns)
    }

    fn requeue(
        &mut self,
        item: RequestId,
        tenant: TenantId,
        class: Class,
        now_ns: u64,
    ) -> Result<(), Overflow<RequestId>> {
        self.inner.requeue(item, tenant, class, now_ns)
    }

    fn pick(&mut self, now_ns: u64) -> Option<Picked<RequestId>> {
        self.inner.pick(now_ns)
    }

    fn charge(&mut self, tenant: TenantId, class: Class, cost_ns: u64) {
        self.charged_ns += cost_ns;
        self.charges += 1;
        self.inner.charge(tenant, class, cost_ns);
    }

    fn set_weight(&mut self, tenant: TenantId, weight: Weight) -> Result<(), Overflow<Weight>> {
        self.inner.set_weight(tenant, weight)
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn tenant_len(&self, tenant: TenantId) -> usize {
        self.inner.tenant_len(tenant)
    }
}

fn open_loop() -> Workload {
    Workload::new()
        .tenant(Tenant::new("a").stream(Stream::new(
            Arrival::Poisson {
                rate_per_s: 4_000.0,
            },
            Service::Exponential { mean_ns: 100_000 },
        )))
        .tenant(Tenant::new("b").stream(Stream::new(
            Arrival::Poisson {
                rate_per_s: 4_000.0,
            },
            Service::Constant { ns: 60_000 },
        )))
}

fn recorded(noise: Option<ChargeNoise>) -> (drama_sim::Report, u64, u64) {
    let config = SimConfig::new(3)
        .workers(2)
        .duration_ns(200_000_000)
        .poll_slice_ns(Some(50_000))
        .charge_noise(noise);
    let mut policy = Recording {
        inner: Drr::new(),
        charged_ns: 0,
        charges: 0,
    };
    let report = run(&config, &open_loop(), &mut policy).expect("no invariant broken");
    (report, policy.charged_ns, policy.charges)
}

#[test]
fn noisy_polls_are_charged_extra_and_nothing_else_changes() {
    let extra_ns = 5_000_000;
    let (quiet, quiet_ns, quiet_charges) = recorded(None);
    let (noisy, noisy_ns, noisy_charges) = recorded(Some(ChargeNoise::new(100, extra_ns)));
    assert_eq!(quiet.totals.noisy_charges, 0);
    // The open-loop arrivals are the same; the load is light (0.6 of a
    // worker on two), so every request runs to completion in both runs.
    assert_eq!(quiet.totals.generated, noisy.totals.generated);
    assert_eq!(quiet_charges, quiet.totals.picks);
    assert_eq!(noisy_charges, noisy.totals.picks);
    // Every poll is charged what it ran, plus the extra for noisy ones.
    let ran_ns = |r: &drama_sim::Report| -> u64 { r.tenants.iter().map(|t| t.cpu_ns()).sum() };
    assert_eq!(quiet_ns, ran_ns(&quiet));
    assert_eq!(
        noisy_ns,
        ran_ns(&noisy) + noisy.totals.noisy_charges * extra_ns
    );
    // About one poll in 100.
    let n = noisy.totals.noisy_charges as f64;
    let expected = noisy.totals.picks as f64 / 100.0;
    assert!(
        (n - expected).abs() < 4.0 * expected.sqrt(),
        "{n} vs {expected}"
    );
    // Seeded: the same run again is the same trace.
    assert_eq!(recorded(Some(ChargeNoise::new(100, extra_ns))).0, noisy);
}

#[test]
fn one_in_one_charges_every_poll_and_zero_is_refused() {
    let (all, _, _) = recorded(Some(ChargeNoise::new(1, 1)));
    assert_eq!(all.totals.noisy_charges, all.totals.picks);
    let config = SimConfig::new(1).charge_noise(Some(ChargeNoise::new(0, 1)));
    let err = run(&config, &open_loop(), &mut Drr::new()).unwrap_err();
    assert_eq!(err.kind(), SimErrorKind::InvalidConfig);
}
