//! The bounds written in the module documentation of `Drr` (`src/drr/mod.rs`,
//! "Bounds"), checked on random always-backlogged workloads.
//!
//! One sequential worker, the runtime's case: pick, run, charge the poll's
//! cost, advance the clock by it, pick again. Every tenant and every class
//! that has work keeps it: the item is queued again during the poll (a
//! task that yields: before the charge), right after the charge (a
//! dispatcher that spawns the follow-up of a completed request: before the
//! next pick), or just after the next pick (a follow-up that arrives late:
//! spawned on another worker, or by a busy dispatcher). The ghost rule
//! treats the first two alike: the tenant is continuously backlogged, and
//! so is a late tenant with two items or more (one of them is always
//! queued at a pick). A late tenant with a single item is a ghost at the
//! next pick, which passes its turn over; it is not continuously
//! backlogged: it forfeits the credit it left unused at the pass (the
//! refill only tops it up to one credit), and a whole round can pass in
//! that one pick (every other tenant repaying debt), which removes it. So
//! the DRR bounds for continuously backlogged tenants apply from time 0
//! to all tenants but the single-item late ones, which are held to the
//! deficit and starvation bounds and excluded from the weighted-service
//! one. With `C` the largest
//! cost of one poll (at most `MAX_CHARGE_NS` = 1 s), `q_i` tenant i's
//! credit per turn (`quantum_ns * w_i / 100`), `k` = `max_debt_credits`
//! and `D_i = min(C - 1, k * max(q_i, q))` the largest debt tenant i can
//! carry, `q` the default-weight credit (a pick needs a positive deficit
//! and a charge takes at most `C`; the floor takes at most
//! `k * max(q_i, q)`), and `R_i = floor(D_i / q_i) + 1`, after
//! every step:
//!
//! 1. deficits: `-D_i <= deficit_i <= q_i`;
//! 2. weighted service (DRR fairness): for every pair of continuously
//!    backlogged tenants,
//!    `|S_i/q_i - S_j/q_j| <= 1 + max(1, D_i/q_i) + max(1, D_j/q_j)`, where
//!    `S` is the cost *debited* so far (charged minus the excess the debt
//!    floor forgave);
//! 3. no tenant starves: between two picks of tenant i, every other tenant
//!    has at most `R_i` turns (counted as runs of consecutive picks, which
//!    on one worker are at most its turns), and the other tenants are
//!    charged at most `R_i * sum over j != i of (q_j + C)`;
//! 4. no class starves: between two picks of class c of a tenant, the
//!    tenant's other (backlogged) classes are charged at most
//!    `sum over c' != c of (C * w_c'/w_c + C)` (plus 1 ns per pick for the
//!    integer division of virtual time).
//!
//! Two properties drive the same checks: a few tenants with costs around a
//! credit (many cases), and many tenants (up to 300) with rare huge
//! charges up to 1 s, a poll the OS preempted or a stuck one (fewer cases,
//! each long enough for a tenant in debt to come back).

use drama_policy::{Class, Drr, DrrConfig, Policy, TenantId, Weight};
use proptest::prelude::*;

/// What `MAX_CHARGE_NS` debits at most (the constant is crate-private).
const MAX_CHARGE_NS: u64 = 1_000_000_000;

#[derive(Clone, Debug)]
struct Workload {
    quantum_ns: u64,
    class_weights: [u32; 4],
    age_bound_ns: u64,
    max_debt_credits: u32,
    /// Per tenant: weight, the classes of its backlog (1..=4 items), and
    /// when it queues a picked item again.
    tenants: Vec<(u32, Vec<usize>, Again)>,
    /// Costs of successive polls.
    costs_ns: Vec<u64>,
}

fn cases(default: u32, divisor: u32) -> u32 {
    std::env::var("DRAMA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(default, |n: u32| (n / divisor).max(1))
}

/// When a tenant queues its picked item again.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Again {
    /// During the poll, before the charge: a task that yields.
    Yield,
    /// After the charge, before the next pick: a dispatcher that spawns
    /// the follow-up of a completed request at once.
    AfterCharge,
    /// Just after the next pick: a follow-up that arrives late. With one
    /// item, the tenant is a ghost at that pick.
    AfterNextPick,
}

fn tenant(weights: impl Strategy<Value = u32>) -> impl Strategy<Value = (u32, Vec<usize>, Again)> {
    (
        weights,
        // One item in four cases of ten: the late tenants that are ghosts
        // at the next pick.
        prop_oneof![
            4 => proptest::collection::vec(0..4usize, 1..=1),
            6 => proptest::collection::vec(0..4usize, 2..=4),
        ],
        prop_oneof![
            Just(Again::Yield),
            Just(Again::AfterCharge),
            Just(Again::AfterNextPick)
        ],
    )
}

/// A few tenants, costs up to 400 µs against credits of 1 µs and more.
fn few_tenants() -> impl Strategy<Value = Workload> {
    (
        prop_oneof![Just(100_000u64), 1_000..300_000u64],
        proptest::array::uniform4(1..=16u32),
        prop_oneof![Just(4_000_000u64), 0..2_000_000u64],
        prop_oneof![Just(10u32), 1..=20u32, 1..=1_000u32],
        proptest::collection::vec(
            tenant(prop_oneof![Just(100u32), 10..=1_000u32, 1..=10_000u32]),
            2..=6,
        ),
        1..=400_000u64,
        proptest::collection::vec(0.0..=1.0f64, 1..32),
        50..400usize,
    )
        .prop_map(
            |(
                quantum_ns,
                class_weights,
                age_bound_ns,
                k,
                tenants,
                max_cost_ns,
                fractions,
                picks,
            )| {
                Workload {
                    quantum_ns,
                    class_weights,
                    age_bound_ns,
                    max_debt_credits: k,
                    tenants,
                    costs_ns: (0..picks)
                        .map(|step| {
                            let f = fractions[step % fractions.len()];
                            ((max_cost_ns as f64 * f) as u64).max(1)
                        })
                        .collect(),
                }
            },
        )
}

/// SplitMix64, to draw long cost sequences from one seed (proptest then
/// shrinks the parameters, not thousands of costs).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Many tenants; most polls cost up to `small` times three credits of
/// the default weight, one in `huge_one_in` costs up to 1 s. Long enough
/// for every tenant to be served about `max_debt_credits + 3` rounds (at
/// most 20,000 picks).
fn many_tenants() -> impl Strategy<Value = Workload> {
    (
        prop_oneof![Just(100_000u64), 10_000..300_000u64],
        1..=12u32,
        proptest::collection::vec(tenant(prop_oneof![Just(100u32), 50..=400u32]), 2..=300),
        0.3..=1.0f64,
        prop_oneof![Just(50u64), 10..=1_000u64],
        any::<u64>(),
    )
        .prop_map(|(quantum_ns, k, tenants, small, huge_one_in, seed)| {
            let mut state = seed;
            let max_small_ns = ((3 * quantum_ns) as f64 * small) as u64;
            let mean_small_ns = max_small_ns / 2 + 1;
            let credits: u64 = tenants
                .iter()
                .map(|(w, _, _)| quantum_ns * u64::from(*w) / 100)
                .sum();
            let picks_per_round = (credits / mean_small_ns + tenants.len() as u64) as usize;
            let picks = (picks_per_round * (k as usize + 3)).min(20_000);
            let costs_ns = (0..picks)
                .map(|_| {
                    let draw = splitmix(&mut state);
                    if draw.is_multiple_of(huge_one_in) {
                        // From a few credits to 1 s, roughly log-uniform.
                        let exp = splitmix(&mut state) % 20;
                        (quantum_ns << exp).min(MAX_CHARGE_NS) + splitmix(&mut state) % quantum_ns
                    } else {
                        1 + splitmix(&mut state) % max_small_ns
                    }
                    .min(MAX_CHARGE_NS)
                })
                .collect();
            Workload {
                quantum_ns,
                class_weights: DrrConfig::DEFAULT_CLASS_WEIGHTS,
                age_bound_ns: DrrConfig::DEFAULT_AGE_BOUND_NS,
                max_debt_credits: k,
                tenants,
                costs_ns,
            }
        })
}

/// Runs `w` on one worker and checks the four bounds after every step.
fn check_bounds(w: &Workload) -> Result<(), TestCaseError> {
    let mut config = DrrConfig::new()
        .quantum_ns(w.quantum_ns)
        .age_bound_ns(w.age_bound_ns)
        .max_debt_credits(w.max_debt_credits);
    for class in Class::ALL {
        config = config.class_weight(class, w.class_weights[class.priority()]);
    }
    let mut drr: Drr<u64> = Drr::with_config(config).unwrap();
    let n = w.tenants.len();
    let c_max = *w.costs_ns.iter().max().unwrap();
    let k = i64::from(w.max_debt_credits);
    // Per tenant: credit q, largest debt D, rounds R, and m = max(1, D/q).
    let mut credit = vec![0i64; n];
    let mut max_debt = vec![0i64; n];
    let mut rounds = vec![0u64; n];
    for (i, (weight, classes, _)) in w.tenants.iter().enumerate() {
        let weight = Weight::new(*weight).unwrap();
        drr.set_weight(TenantId::new(i as u32), weight).unwrap();
        credit[i] = drr.credit_ns(weight);
        max_debt[i] = (c_max as i64 - 1).min(k * credit[i].max(drr.credit_ns(Weight::DEFAULT)));
        rounds[i] = (max_debt[i] / credit[i]) as u64 + 1;
        for &c in classes {
            drr.enqueue(0, TenantId::new(i as u32), Class::ALL[c], 0)
                .unwrap();
        }
    }
    let margin: Vec<f64> = (0..n)
        .map(|i| (max_debt[i] as f64 / credit[i] as f64).max(1.0))
        .collect();
    let per_turn_sum: f64 = credit.iter().map(|&q| q as f64 + c_max as f64).sum();
    let backlogged = |i: usize, c: usize| w.tenants[i].1.contains(&c);
    // Every tenant but a late one with a single item has an item queued at
    // every pick.
    let backlogged_throughout =
        |i: usize| w.tenants[i].2 != Again::AfterNextPick || w.tenants[i].1.len() > 1;

    let mut now_ns = 0u64;
    // Cost debited to each tenant so far.
    let mut debited = vec![0f64; n];
    // The item of a late tenant picked at the last pick, to queue again
    // just after this one.
    let mut late: Option<(u64, TenantId, Class)> = None;
    // Cost charged to others since tenant i was last picked.
    let mut others_since = vec![0f64; n];
    // Runs of consecutive picks of each tenant so far, and their number
    // when tenant i was last picked (all 0 at the start, which is as good
    // as a pick: every tenant starts with a full credit).
    let mut runs = vec![0u64; n];
    let mut runs_at_pick = vec![vec![0u64; n]; n];
    let mut last: Option<usize> = None;
    // Service to tenant i's other classes since (i, c) was last picked,
    // and the number of picks in that gap.
    let mut class_since = vec![[0f64; 4]; n];
    let mut class_picks_since = vec![[0u32; 4]; n];

    for &cost in &w.costs_ns {
        // At most one tenant's items are out of the policy between picks,
        // and there are at least two tenants.
        let p = drr
            .pick(now_ns)
            .expect("backlogged tenants always have work");
        if let Some((item, tenant, class)) = late.take() {
            drr.enqueue(item, tenant, class, now_ns).unwrap();
        }
        let (i, c) = (p.tenant.as_u32() as usize, p.class.priority());

        // 3. Tenant starvation bounds, for the wait that ends here.
        let tenant_bound = rounds[i] as f64 * (per_turn_sum - (credit[i] as f64 + c_max as f64));
        prop_assert!(
            others_since[i] <= tenant_bound,
            "tenant {i} waited while others got {} ns > bound {tenant_bound}",
            others_since[i]
        );
        if last != Some(i) {
            runs[i] += 1;
            // Every tenant waiting for its pick: i's turns since then.
            for (j, at_pick) in runs_at_pick.iter().enumerate() {
                if j != i {
                    let turns = runs[i] - at_pick[i];
                    prop_assert!(
                        turns <= rounds[j],
                        "tenant {j} (debt up to {} ns, credit {} ns) waited {turns} turns of tenant {i} > {} rounds",
                        max_debt[j],
                        credit[j],
                        rounds[j]
                    );
                }
            }
        }
        last = Some(i);
        runs_at_pick[i].copy_from_slice(&runs);
        // 4. Class starvation bound.
        let wc = f64::from(w.class_weights[c]);
        let class_bound: f64 = (0..4)
            .filter(|&k| k != c && backlogged(i, k))
            .map(|k| c_max as f64 * f64::from(w.class_weights[k]) / wc + c_max as f64)
            .sum::<f64>()
            + f64::from(class_picks_since[i][c]);
        prop_assert!(
            class_since[i][c] <= class_bound,
            "class {c} of tenant {i} waited while its siblings got {} ns > bound {class_bound}",
            class_since[i][c]
        );

        let again = w.tenants[i].2;
        if again == Again::Yield {
            drr.requeue(p.item, p.tenant, p.class, now_ns).unwrap();
        }
        // The debt floor forgives what would take the deficit below it:
        // the deficit ends above `before - cost` by that much. (Measured
        // this way, a positive credit forfeited by a tenant going idle is
        // not counted as service; it would hide a tenant that loses its
        // turn.)
        let before = drr.deficit_ns(p.tenant);
        drr.charge(p.tenant, p.class, cost);
        let forgiven = (drr.deficit_ns(p.tenant) - (before - cost as i64)).max(0);
        debited[i] += (cost as i64 - forgiven) as f64;
        match again {
            Again::Yield => {}
            Again::AfterCharge => drr.enqueue(p.item, p.tenant, p.class, now_ns).unwrap(),
            Again::AfterNextPick => late = Some((p.item, p.tenant, p.class)),
        }
        now_ns += cost;

        let cost = cost as f64;
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

        // 1. Deficit bounds.
        for a in 0..n {
            let d = drr.deficit_ns(TenantId::new(a as u32));
            prop_assert!(
                -max_debt[a] <= d && d <= credit[a],
                "tenant {a}: deficit {d} out of [-{}, {}]",
                max_debt[a],
                credit[a]
            );
        }
        // 2. Weighted service: the largest `x_a - m_a` against the smallest
        // `x_b + m_b` (a pair a = b never exceeds the bound, so this is
        // the worst pair in O(n)).
        let x = |a: usize| debited[a] / credit[a] as f64;
        let (hi, lo) = (0..n)
            .filter(|&a| backlogged_throughout(a))
            .fold((f64::MIN, f64::MAX), |(hi, lo), a| {
                (hi.max(x(a) - margin[a]), lo.min(x(a) + margin[a]))
            });
        prop_assert!(
            hi - lo <= 1.0 + 1e-9,
            "normalized service gap beyond 1 + max(1, D_a/q_a) + max(1, D_b/q_b) by {}",
            hi - lo - 1.0
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(2_000, 5),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn backlogged_tenants_stay_within_the_drr_bounds(w in few_tenants()) {
        check_bounds(&w)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(32, 300),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn huge_charges_push_a_tenant_back_at_most_its_debt_bound_in_rounds(w in many_tenants()) {
        check_bounds(&w)?;
    }
}
