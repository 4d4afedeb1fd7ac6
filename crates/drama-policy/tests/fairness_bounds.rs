//! The bounds written in docs/architecture.md ("drama-policy: fairness and
//! starvation bounds"), checked on random always-backlogged workloads.
//!
//! One sequential worker: pick, re-enqueue the item at once (a task that
//! yields: the wake comes during the poll), charge the poll's cost, advance
//! the clock by it. Every tenant and every class that has work keeps it, so
//! the DRR bounds for continuously backlogged tenants apply from time 0.
//! With `C` the largest cost of one poll and `q_i` tenant i's credit per
//! turn (`quantum_ns * w_i / 100`), after every step:
//!
//! 1. deficits: `-C < deficit_i <= q_i`;
//! 2. weighted service (DRR fairness): for every pair of tenants,
//!    `|S_i/q_i - S_j/q_j| <= 1 + max(1, C/q_i) + max(1, C/q_j)`, where `S`
//!    is the cost charged so far;
//! 3. no tenant starves: between two picks of tenant i, the other tenants
//!    are charged at most `ceil(C/q_i) * sum over j != i of (q_j + C)`;
//! 4. no class starves: between two picks of class c of a tenant, the
//!    tenant's other (backlogged) classes are charged at most
//!    `sum over c' != c of (C * w_c'/w_c + C)` (plus 1 ns per pick for the
//!    integer division of virtual time).

use drama_policy::{Class, Drr, DrrConfig, Policy, TenantId, Weight};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Workload {
    quantum_ns: u64,
    class_weights: [u32; 4],
    age_bound_ns: u64,
    /// Per tenant: weight and the classes of its backlog (1..=4 items).
    tenants: Vec<(u32, Vec<usize>)>,
    /// Costs of successive polls, cycled.
    costs_ns: Vec<u64>,
    picks: usize,
}

fn workload() -> impl Strategy<Value = Workload> {
    (
        prop_oneof![Just(100_000u64), 1_000..300_000u64],
        proptest::array::uniform4(1..=16u32),
        prop_oneof![Just(4_000_000u64), 0..2_000_000u64],
        proptest::collection::vec(
            (
                prop_oneof![Just(100u32), 10..=1_000u32, 1..=10_000u32],
                proptest::collection::vec(0..4usize, 1..=4),
            ),
            2..=6,
        ),
        1..=400_000u64,
        proptest::collection::vec(0.0..=1.0f64, 1..32),
        50..400usize,
    )
        .prop_map(
            |(quantum_ns, class_weights, age_bound_ns, tenants, max_cost_ns, fractions, picks)| {
                Workload {
                    quantum_ns,
                    class_weights,
                    age_bound_ns,
                    tenants,
                    costs_ns: fractions
                        .iter()
                        .map(|f| ((max_cost_ns as f64 * f) as u64).max(1))
                        .collect(),
                    picks,
                }
            },
        )
}

fn cases() -> u32 {
    std::env::var("DRAMA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(2_000, |n: u32| n / 5)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn backlogged_tenants_stay_within_the_drr_bounds(w in workload()) {
        let mut config = DrrConfig::new().quantum_ns(w.quantum_ns).age_bound_ns(w.age_bound_ns);
        for class in Class::ALL {
            config = config.class_weight(class, w.class_weights[class.priority()]);
        }
        let mut drr: Drr<u64> = Drr::with_config(config).unwrap();
        let n = w.tenants.len();
        let c_max = *w.costs_ns.iter().max().unwrap() as f64;
        let mut credit = vec![0f64; n];
        for (i, (weight, classes)) in w.tenants.iter().enumerate() {
            let weight = Weight::new(*weight).unwrap();
            drr.set_weight(TenantId::new(i as u32), weight).unwrap();
            credit[i] = drr.credit_ns(weight) as f64;
            for &c in classes {
                drr.enqueue(0, TenantId::new(i as u32), Class::ALL[c], 0).unwrap();
            }
        }
        let backlogged = |i: usize, c: usize| w.tenants[i].1.contains(&c);

        let mut now_ns = 0u64;
        let mut served = vec![0f64; n];
        // Service to others since tenant i was last picked.
        let mut others_since = vec![0f64; n];
        // Service to tenant i's other classes since (i, c) was last picked,
        // and the number of picks in that gap.
        let mut class_since = vec![[0f64; 4]; n];
        let mut class_picks_since = vec![[0u32; 4]; n];

        for step in 0..w.picks {
            let p = drr.pick(now_ns).expect("backlogged tenants always have work");
            let (i, c) = (p.tenant.as_u32() as usize, p.class.priority());
            let cost = w.costs_ns[step % w.costs_ns.len()];

            // 3. Tenant starvation bound.
            let sum_others: f64 = (0..n).filter(|&j| j != i).map(|j| credit[j] + c_max).sum();
            let tenant_bound = (c_max / credit[i]).ceil() * sum_others;
            prop_assert!(
                others_since[i] <= tenant_bound,
                "tenant {i} waited while others got {} ns > bound {tenant_bound}",
                others_since[i]
            );
            // 4. Class starvation bound.
            let wc = f64::from(w.class_weights[c]);
            let class_bound: f64 = (0..4)
                .filter(|&k| k != c && backlogged(i, k))
                .map(|k| c_max * f64::from(w.class_weights[k]) / wc + c_max)
                .sum::<f64>()
                + f64::from(class_picks_since[i][c]);
            prop_assert!(
                class_since[i][c] <= class_bound,
                "class {c} of tenant {i} waited while its siblings got {} ns > bound {class_bound}",
                class_since[i][c]
            );

            drr.enqueue(p.item, p.tenant, p.class, now_ns).unwrap();
            drr.charge(p.tenant, p.class, cost);
            now_ns += cost;

            let cost = cost as f64;
            served[i] += cost;
            others_since[i] = 0.0;
            for (j, since) in others_since.iter_mut().enumerate() {
                if j != i {
                    *since += cost;
                }
            }
            class_since[i][c] = 0.0;
            class_picks_since[i][c] = 0;
            for k in (0..4).filter(|&k| k != c) {
                class_since[i][k] += cost;
                class_picks_since[i][k] += 1;
            }

            for a in 0..n {
                // 1. Deficit bounds.
                let d = drr.deficit_ns(TenantId::new(a as u32)) as f64;
                prop_assert!(-c_max < d && d <= credit[a], "tenant {a}: deficit {d} out of (-{c_max}, {}]", credit[a]);
                // 2. Weighted service.
                for b in 0..n {
                    let gap = (served[a] / credit[a] - served[b] / credit[b]).abs();
                    let bound = 1.0 + (c_max / credit[a]).max(1.0) + (c_max / credit[b]).max(1.0);
                    prop_assert!(gap <= bound + 1e-9, "tenants {a},{b}: normalized service gap {gap} > {bound}");
                }
            }
        }
    }
}
