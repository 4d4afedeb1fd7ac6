//! `Drr` against the naive reference model in `model/`: random traces of
//! enqueue, requeue, pick, charge, withdraw and weight changes must give
//! the same picks, the same withdrawn items, the same refusals, the same
//! lengths and the same deficits, step by step.
//!
//! 10,000 cases by default; set `DRAMA_PROPTEST_CASES` for more (the
//! `cargo xtask soak` habit: `DRAMA_PROPTEST_CASES=1000000`).

mod model;

use drama_policy::{Class, Drr, DrrConfig, Policy, TenantId, Weight};
use model::{Model, Params};
use proptest::prelude::*;

/// Tenant ids 0..=5 with `max_tenants` = 5, so id 5 exercises the refusal.
const TENANT_IDS: u32 = 6;

#[derive(Clone, Debug)]
enum Op {
    Enqueue {
        tenant: u32,
        class: usize,
        dt_ns: u64,
    },
    /// A requeue (an item that ran and yielded).
    Requeue {
        tenant: u32,
        class: usize,
        dt_ns: u64,
    },
    Pick {
        dt_ns: u64,
    },
    /// Charge the `which`-th outstanding pick (modulo their number).
    Charge {
        which: usize,
        cost_ns: u64,
    },
    /// A charge no pick accounts for.
    StrayCharge {
        tenant: u32,
        class: usize,
        cost_ns: u64,
    },
    SetWeight {
        tenant: u32,
        weight: u32,
    },
    /// The balancer takes a queued item of (tenant, class).
    Withdraw {
        tenant: u32,
        class: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let cost = prop_oneof![
        8 => 0..300_000u64,
        1 => Just(0u64),
        1 => 1_000_000..20_000_000u64,
    ];
    prop_oneof![
        6 => (0..TENANT_IDS, 0..4usize, 0..2_000_000u64)
            .prop_map(|(tenant, class, dt_ns)| Op::Enqueue { tenant, class, dt_ns }),
        3 => (0..TENANT_IDS, 0..4usize, 0..2_000_000u64)
            .prop_map(|(tenant, class, dt_ns)| Op::Requeue { tenant, class, dt_ns }),
        5 => (0..1_000_000u64).prop_map(|dt_ns| Op::Pick { dt_ns }),
        5 => (any::<usize>(), cost.clone()).prop_map(|(which, cost_ns)| Op::Charge { which, cost_ns }),
        1 => (0..TENANT_IDS, 0..4usize, cost)
            .prop_map(|(tenant, class, cost_ns)| Op::StrayCharge { tenant, class, cost_ns }),
        1 => (0..TENANT_IDS, prop_oneof![1..=10_000u32, Just(100u32), Just(1u32)])
            .prop_map(|(tenant, weight)| Op::SetWeight { tenant, weight }),
        2 => (0..TENANT_IDS, 0..4usize).prop_map(|(tenant, class)| Op::Withdraw { tenant, class }),
    ]
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop_oneof![Just(100_000u64), 1_000..500_000u64],
        prop_oneof![Just([8u32, 4, 2, 1]), proptest::array::uniform4(1..=20u32)],
        prop_oneof![Just(4_000_000u64), Just(0u64), 0..10_000_000u64],
        1..40usize,
        1..20usize,
        prop_oneof![Just(10u32), 1..=20u32, 1..=1_000u32],
    )
        .prop_map(
            |(
                quantum_ns,
                class_weights,
                age_bound_ns,
                max_len,
                max_tenant_len,
                max_debt_credits,
            )| {
                Params {
                    quantum_ns,
                    class_weights,
                    age_bound_ns,
                    max_len,
                    max_tenant_len,
                    max_tenants: 5,
                    max_debt_credits,
                }
            },
        )
}

fn drr_for(p: &Params) -> Drr<u64> {
    let mut config = DrrConfig::new()
        .quantum_ns(p.quantum_ns)
        .age_bound_ns(p.age_bound_ns)
        .max_len(p.max_len)
        .max_tenant_len(p.max_tenant_len)
        .max_tenants(p.max_tenants)
        .max_debt_credits(p.max_debt_credits);
    for class in Class::ALL {
        config = config.class_weight(class, p.class_weights[class.priority()]);
    }
    Drr::with_config(config).expect("generated configurations are valid")
}

fn cases() -> u32 {
    std::env::var("DRAMA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn drr_matches_reference_model(
        p in params(),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let mut drr = drr_for(&p);
        let mut model: Model<u64> = Model::new(p);
        let mut now_ns = 0u64;
        let mut next_item = 0u64;
        // Picks not yet charged: (tenant, class).
        let mut outstanding: Vec<(TenantId, Class)> = Vec::new();
        // Whether each item (every enqueue and requeue is a new one) is in
        // the policy: it must come out exactly once, picked or withdrawn.
        let mut queued: Vec<bool> = Vec::new();

        for op in ops {
            match op {
                Op::Enqueue { tenant, class, dt_ns } => {
                    now_ns += dt_ns;
                    let (tenant, class) = (TenantId::new(tenant), Class::ALL[class]);
                    let item = next_item;
                    next_item += 1;
                    let a = drr.enqueue(item, tenant, class, now_ns)
                        .map_err(|e| (e.limit(), e.into_inner()));
                    let b = model.enqueue(item, tenant, class, now_ns)
                        .map_err(|e| (e.limit(), e.into_inner()));
                    queued.push(a.is_ok());
                    prop_assert_eq!(a, b);
                }
                Op::Requeue { tenant, class, dt_ns } => {
                    now_ns += dt_ns;
                    let (tenant, class) = (TenantId::new(tenant), Class::ALL[class]);
                    let item = next_item;
                    next_item += 1;
                    let a = drr.requeue(item, tenant, class, now_ns)
                        .map_err(|e| (e.limit(), e.into_inner()));
                    let b = model.requeue(item, tenant, class, now_ns)
                        .map_err(|e| (e.limit(), e.into_inner()));
                    queued.push(a.is_ok());
                    prop_assert_eq!(a, b);
                }
                Op::Pick { dt_ns } => {
                    now_ns += dt_ns;
                    let a = drr.pick(now_ns);
                    let b = model.pick(now_ns);
                    prop_assert_eq!(&a, &b);
                    if let Some(picked) = a {
                        prop_assert!(std::mem::take(&mut queued[picked.item as usize]));
                        outstanding.push((picked.tenant, picked.class));
                    }
                }
                Op::Charge { which, cost_ns } => {
                    if outstanding.is_empty() {
                        continue;
                    }
                    let (tenant, class) = outstanding.swap_remove(which % outstanding.len());
                    drr.charge(tenant, class, cost_ns);
                    model.charge(tenant, class, cost_ns);
                }
                Op::StrayCharge { tenant, class, cost_ns } => {
                    let (tenant, class) = (TenantId::new(tenant), Class::ALL[class]);
                    drr.charge(tenant, class, cost_ns);
                    model.charge(tenant, class, cost_ns);
                }
                Op::Withdraw { tenant, class } => {
                    let (tenant, class) = (TenantId::new(tenant), Class::ALL[class]);
                    let a = drr.withdraw(tenant, class);
                    let b = model.withdraw(tenant, class);
                    prop_assert_eq!(a, b);
                    if let Some(item) = a {
                        prop_assert!(std::mem::take(&mut queued[item as usize]));
                    }
                }
                Op::SetWeight { tenant, weight } => {
                    let tenant = TenantId::new(tenant);
                    let weight = Weight::new(weight).expect("generated weights are valid");
                    let a = drr.set_weight(tenant, weight).map_err(|e| e.limit());
                    let b = model.set_weight(tenant, weight).map_err(|e| e.limit());
                    prop_assert_eq!(a, b);
                }
            }
            prop_assert_eq!(drr.len(), model.len());
            prop_assert_eq!(drr.active_tenants(), model.active_tenants());
            for id in 0..TENANT_IDS {
                let tenant = TenantId::new(id);
                prop_assert_eq!(drr.tenant_len(tenant), model.tenant_len(tenant));
                prop_assert_eq!(drr.deficit_ns(tenant), model.deficit_ns(tenant));
                for class in Class::ALL {
                    prop_assert_eq!(drr.class_len(tenant, class), model.class_len(tenant, class));
                }
            }
        }

        // Draining loses nothing: every queued item comes out exactly once.
        let len = drr.len();
        let mut drained = 0;
        while let Some(a) = drr.pick(now_ns) {
            let b = model.pick(now_ns);
            prop_assert_eq!(Some(&a), b.as_ref());
            prop_assert!(std::mem::take(&mut queued[a.item as usize]));
            drr.charge(a.tenant, a.class, 1_000);
            model.charge(a.tenant, a.class, 1_000);
            drained += 1;
        }
        prop_assert_eq!(drained, len);
        prop_assert!(model.pick(now_ns).is_none());
        prop_assert!(!queued.contains(&true), "an accepted item never came out");
    }
}
