//! Scripted scenarios for `Drr`: each states a rule of the policy and shows
//! it on a small trace, with `check(script, expect)`.
//!
//! Script steps, separated by `;`:
//! - `+T C ITEM @NOW`: enqueue ITEM for tenant T in class C (`W`, `C`, `R`,
//!   `A`) at time NOW (ns);
//! - `pick @NOW COST`: pick, record the item, charge COST;
//! - `yield @NOW COST`: pick, record, requeue it (a task that yields),
//!   charge COST;
//! - `serve @NOW COST`: pick, record, charge COST, then enqueue it again
//!   (a request whose follow-up a dispatcher spawns right after the
//!   completion was charged, before the worker's next pick);
//! - `pick*N @NOW COST` / `yield*N ...` / `serve*N ...`: the same N times;
//! - `take T C`: withdraw an item of tenant T in class C (the balancer),
//!   record it;
//! - `cost T COST`: from now on, tenant T's polls are charged COST,
//!   whatever the step says;
//! - `late T`: from now on, whatever the step, an item of tenant T that is
//!   picked is charged and then enqueued again just after the worker's
//!   next pick (a follow-up request that arrives late: spawned on another
//!   worker, or by a dispatcher that was busy); one still waiting when
//!   the script ends is dropped.
//!
//! The expectation is the recorded items, space-separated, `-` for an empty
//! pick.

use drama_policy::{
    Class, ConfigErrorKind, Drr, DrrConfig, Limit, Picked, Policy, TenantId, Weight,
};

fn class(s: &str) -> Class {
    match s {
        "W" => Class::Write,
        "C" => Class::Compute,
        "R" => Class::Read,
        "A" => Class::Accept,
        other => panic!("unknown class {other}"),
    }
}

fn at(s: &str) -> u64 {
    s.strip_prefix('@').expect("time as @NOW").parse().unwrap()
}

fn run(drr: &mut Drr<String>, script: &str) -> String {
    let mut out = Vec::new();
    let mut late: Vec<TenantId> = Vec::new();
    let mut costs: Vec<(TenantId, u64)> = Vec::new();
    // Items of late tenants picked at the last pick, to enqueue after the
    // next one.
    let mut follow_ups: Vec<Picked<String>> = Vec::new();
    for step in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let words: Vec<&str> = step.split_whitespace().collect();
        if words[0] == "late" {
            late.push(TenantId::new(words[1].parse().unwrap()));
            continue;
        }
        if words[0] == "cost" {
            let tenant = TenantId::new(words[1].parse().unwrap());
            costs.push((tenant, words[2].parse().unwrap()));
            continue;
        }
        if let Some(tenant) = words[0].strip_prefix('+') {
            let tenant = TenantId::new(tenant.parse().unwrap());
            drr.enqueue(words[2].to_string(), tenant, class(words[1]), at(words[3]))
                .expect("scripted enqueues fit");
            continue;
        }
        if words[0] == "take" {
            let tenant = TenantId::new(words[1].parse().unwrap());
            let item = drr.withdraw(tenant, class(words[2]));
            out.push(item.unwrap_or_else(|| "-".to_string()));
            continue;
        }
        let (verb, times) = match words[0].split_once('*') {
            Some((verb, n)) => (verb, n.parse().unwrap()),
            None => (words[0], 1),
        };
        let now = at(words[1]);
        let step_cost: u64 = words[2].parse().unwrap();
        for _ in 0..times {
            let picked = drr.pick(now);
            // The follow-ups of the previous pick arrive while this one runs.
            for f in follow_ups.drain(..) {
                drr.enqueue(f.item, f.tenant, f.class, now).unwrap();
            }
            let Some(p) = picked else {
                out.push("-".to_string());
                continue;
            };
            out.push(p.item.clone());
            let cost = costs
                .iter()
                .rev()
                .find(|&&(t, _)| t == p.tenant)
                .map_or(step_cost, |&(_, c)| c);
            match verb {
                _ if late.contains(&p.tenant) => {
                    drr.charge(p.tenant, p.class, cost);
                    follow_ups.push(p);
                }
                "pick" => drr.charge(p.tenant, p.class, cost),
                "yield" => {
                    drr.requeue(p.item, p.tenant, p.class, now).unwrap();
                    drr.charge(p.tenant, p.class, cost);
                }
                "serve" => {
                    drr.charge(p.tenant, p.class, cost);
                    drr.enqueue(p.item, p.tenant, p.class, now).unwrap();
                }
                _ => panic!("unknown step {step}"),
            }
        }
    }
    out.join(" ")
}

#[track_caller]
fn check(script: &str, expect: &str) {
    check_with(&mut Drr::new(), script, expect);
}

#[track_caller]
fn check_with(drr: &mut Drr<String>, script: &str, expect: &str) {
    assert_eq!(run(drr, script), expect, "script: {script}");
}

#[test]
fn an_empty_policy_picks_nothing() {
    check("pick @0 0", "-");
}

#[test]
fn newest_first_inside_a_class() {
    check("+1 C a @0; +1 C b @1; +1 C c @2; pick*4 @3 10", "c b a -");
}

#[test]
fn oldest_first_once_the_oldest_is_past_the_age_bound() {
    // Default age bound: 500 µs. At 500 µs `a` (enqueued at 0) is due;
    // `b` (at 200 µs) is not yet, so after `a` the class is newest-first
    // again.
    check(
        "+1 C a @0; +1 C b @200000; +1 C c @400000; pick*3 @500000 10",
        "a c b",
    );
    // At 700 µs both `a` and `b` are due.
    check(
        "+1 C a @0; +1 C b @200000; +1 C c @400000; pick*3 @700000 10",
        "a b c",
    );
}

#[test]
fn tenants_share_by_weight() {
    let mut drr = Drr::new();
    drr.set_weight(TenantId::new(1), Weight::new(300).unwrap())
        .unwrap();
    // Polls of 100 µs: tenant 1 (credit 300 µs) runs three per turn,
    // tenant 2 (credit 100 µs) one.
    check_with(
        &mut drr,
        "+1 C a @0; +2 C b @0; yield*8 @0 100000",
        "a a a b a a a b",
    );
}

#[test]
fn a_debt_is_paid_from_later_turns() {
    // Tenant 1's first poll costs 250 µs against a 100 µs credit: it then
    // sits out two turns of tenant 2 (its refills bring it to -50, then +50).
    check(
        "+1 C a @0; +2 C b @0; yield @0 250000; yield*4 @0 100000",
        "a b b a b",
    );
}

#[test]
fn a_yielding_single_task_keeps_its_turn() {
    // Tenant 1 has one task that yields: when it is picked its queue is
    // empty, but it is still in service, so its re-enqueue resumes its turn
    // at the front instead of queueing behind tenant 2. Inside tenant 2,
    // the yielded b2 goes behind its fresh sibling b1.
    check(
        "+1 C a @0; +2 C b1 @0; +2 C b2 @0; yield*6 @0 50000",
        "a a b2 b1 a a",
    );
}

#[test]
fn work_arriving_after_the_charge_but_before_the_next_pick_keeps_the_turn() {
    // Tenant 1's only item runs and is charged; its next item arrives
    // before the worker picks again. Tenant 1 was left at the front as a
    // ghost, so the new item resumes its turn (and its credit) instead of
    // queueing behind tenant 2.
    let mut drr = Drr::new();
    check_with(
        &mut drr,
        "+1 C a1 @0; +2 C b1 @0; +2 C b2 @0; pick @0 10000; +1 C a2 @0; pick @0 10000",
        "a1 a2",
    );
    assert_eq!(
        drr.deficit_ns(TenantId::new(1)),
        80_000,
        "the same turn's credit"
    );
    // A dispatcher that spawns each request of tenant 1 right after the
    // previous one was charged: tenant 1 keeps four 25 µs polls per turn,
    // as tenant 2 with its backlog does, not one per round. (Inside tenant
    // 2, the re-enqueued b2 is the newest item each time.)
    check(
        "+1 C a @0; +2 C b1 @0; +2 C b2 @0; serve*12 @0 25000",
        "a a a a b2 b2 b2 b2 a a a a",
    );
}

#[test]
fn work_arriving_after_the_next_pick_waits_for_the_round() {
    // The same, but the worker picks (tenant 2) before a2 arrives: that
    // pick found tenant 1's ghost at the front and passed its turn, topping
    // its 90 µs up to one credit, and moved it behind tenant 2. a2 keeps
    // that place: it runs after tenant 2's turn, with a full credit.
    let mut drr = Drr::new();
    check_with(
        &mut drr,
        "+1 C a1 @0; +2 C b1 @0; +2 C b2 @0; pick @0 10000; pick @0 10000; +1 C a2 @0",
        "a1 b2",
    );
    assert_eq!(
        drr.deficit_ns(TenantId::new(1)),
        100_000,
        "topped up to one credit"
    );
    check_with(&mut drr, "pick*3 @0 10000", "b1 a2 -");
}

#[test]
fn work_arriving_within_the_round_keeps_the_place_and_gets_a_full_turn() {
    // Tenant 2 (x) runs a 250 µs poll: 150 µs in debt, it needs two
    // refills. Tenant 1 then picks its last item, a1, and is left a ghost
    // at the front with 90 µs, tenant 2 right behind it. The next pick
    // passes tenant 1's turn (to the back, topped up to 100 µs), ends
    // tenant 2's turn (refilled to 50 µs, to the back) and picks tenant
    // 3's y. Only then do tenant 1's next four items arrive: it kept its
    // place ahead of tenant 2, whose turn ended after its pass, and runs a
    // full turn of four 25 µs polls. (When the ghost left at that pick,
    // tenant 1 rejoined behind tenant 2, and x ran first.)
    let mut drr = Drr::new();
    check_with(
        &mut drr,
        "+1 C a1 @0; +1 C a2 @0; +2 C x @0; +3 C y @0; \
         pick @0 100000; yield @0 250000; yield @0 100000; pick @0 10000; yield @0 100000",
        "a2 x y a1 y",
    );
    assert_eq!(drr.deficit_ns(TenantId::new(1)), 100_000);
    assert_eq!(drr.deficit_ns(TenantId::new(2)), 50_000);
    check_with(
        &mut drr,
        "+1 C a3 @0; +1 C a4 @0; +1 C a5 @0; +1 C a6 @0; pick*4 @0 25000; yield @0 10000",
        "a6 a5 a4 a3 x",
    );
}

#[test]
fn a_tenant_away_for_a_whole_round_leaves_and_rejoins_at_the_back() {
    // Tenant 1's only item runs; its ghost is passed over at the next pick
    // and, with nothing queued a round later (tenants 2 and 3 each had a
    // turn), removed: idle, its credit forfeited. Tenant 4 arrives, then
    // tenant 1 again: it joins behind tenant 4, with one fresh credit.
    let mut drr = Drr::new();
    check_with(
        &mut drr,
        "+1 C a1 @0; +2 C b @0; +3 C c @0; pick @0 10000; yield*3 @0 100000",
        "a1 b c b",
    );
    assert_eq!(drr.deficit_ns(TenantId::new(1)), 0, "credit forfeited");
    check_with(&mut drr, "+4 C d @0; +1 C a2 @0", "");
    assert_eq!(drr.deficit_ns(TenantId::new(1)), 100_000, "one credit");
    check_with(&mut drr, "yield*4 @0 100000", "c d a2 b");
}

#[test]
fn a_passed_ghost_is_topped_up_to_one_credit_and_repays_one_credit_of_debt() {
    // Unused credit: 90 µs left becomes 100 µs, not 190 µs (nothing is
    // banked by being away).
    let mut drr = Drr::new();
    check_with(
        &mut drr,
        "+1 C a @0; +2 C b1 @0; +2 C b2 @0; pick @0 10000",
        "a",
    );
    assert_eq!(drr.deficit_ns(TenantId::new(1)), 90_000);
    check_with(&mut drr, "pick @0 10000", "b2");
    assert_eq!(drr.deficit_ns(TenantId::new(1)), 100_000);
    // Exactly used up: 0 becomes one credit, as for a backlogged tenant.
    let mut drr = Drr::new();
    check_with(
        &mut drr,
        "+1 C a @0; +2 C b1 @0; +2 C b2 @0; pick @0 100000; pick @0 10000",
        "a b2",
    );
    assert_eq!(drr.deficit_ns(TenantId::new(1)), 100_000);
    // A debt of 150 µs is repaid by one credit, to 50 µs.
    let mut drr = Drr::new();
    check_with(
        &mut drr,
        "+1 C a @0; +2 C b1 @0; +2 C b2 @0; pick @0 250000",
        "a",
    );
    assert_eq!(drr.deficit_ns(TenantId::new(1)), -150_000);
    check_with(&mut drr, "pick @0 10000", "b2");
    assert_eq!(drr.deficit_ns(TenantId::new(1)), -50_000);
}

#[test]
fn a_tenant_whose_follow_up_arrives_after_the_next_pick_gets_its_share() {
    // Tenants 2 and 3 are backlogged, polls of 200 µs; tenant 1 has one
    // request at a time, polls of 300 µs, and its follow-up arrives just
    // after the pick that passed its ghost over. Every poll exceeds a
    // credit, so the tenants take turns repaying debt, and a turn often
    // ends (refill, to the back) in the same pick that passes tenant 1.
    // Tenant 1 keeps its place ahead of those turn ends and gets the same
    // CPU as the others, exactly, over every 8 picks. (When the ghost
    // left at that pick, tenant 1 rejoined behind them, and the pattern
    // was `a b c b c`: 300 µs for it against 400 µs for each of the
    // others, 27 % of the CPU.)
    let script = "+1 C a @0; +2 C b @0; +3 C c @0; late 1; cost 1 300000";
    check(
        &format!("{script}; yield*16 @0 200000"),
        "a b c b c a b c a b c b c a b c",
    );
    let out = run(&mut Drr::new(), &format!("{script}; yield*2400 @0 200000"));
    let picks = |item: &str| out.split(' ').filter(|&w| w == item).count() as u64;
    let cpu_us = [picks("a") * 300, picks("b") * 200, picks("c") * 200];
    assert_eq!(cpu_us, [180_000; 3]);
}

#[test]
fn withdrawing_a_tenants_only_item_leaves_a_ghost_that_costs_nothing() {
    // Tenant 2's only item is withdrawn: it stays in the round (second) as
    // a ghost. When it reaches the front the pick passes its turn over (an
    // empty turn, charged nothing) and goes on to tenant 3 in the same
    // call; the lengths dropped by one at the withdraw and nothing else
    // was lost.
    let mut drr = Drr::new();
    check_with(
        &mut drr,
        "+1 C a @0; +2 C b @0; +3 C c1 @0; +3 C c2 @0; take 2 C",
        "b",
    );
    assert_eq!((drr.len(), drr.tenant_len(TenantId::new(2))), (3, 0));
    assert_eq!(drr.active_tenants(), 2, "a ghost has no queued work");
    check_with(&mut drr, "pick*4 @0 10000", "a c2 c1 -");
    // Work for a ghost before it reaches the front keeps its place and its
    // credit: b2 runs before tenant 3, not behind it.
    let mut drr = Drr::new();
    check_with(
        &mut drr,
        "+1 C a1 @0; +1 C a2 @0; +2 C b @0; +3 C c @0; take 2 C; +2 C b2 @0",
        "b",
    );
    assert_eq!(drr.deficit_ns(TenantId::new(2)), 100_000);
    check_with(&mut drr, "pick*5 @0 10000", "a2 a1 b2 c -");
}

#[test]
fn withdraw_prefers_resumed_items_then_the_oldest_fresh() {
    // r2 then r1 ran and yielded (resumed, in that order); f1 and f2
    // arrived fresh. A yielder moved to another worker moves lasting load;
    // among fresh items the oldest is the one newest-first serves last.
    check(
        "+1 C r1 @0; +1 C r2 @0; yield*2 @0 10; +1 C f1 @1; +1 C f2 @2; \
         take 1 W; take 9 C; take 1 C; take 1 C; take 1 C; take 1 C; take 1 C; pick @3 0",
        "r2 r1 - - r2 r1 f1 f2 - -",
    );
}

#[test]
fn yielders_take_turns_behind_fresh_work() {
    // b and c yield in a loop: they alternate (FIFO among the resumed)
    // instead of one running again at once, and the fresh d, woken in
    // between, runs before either of them.
    check(
        "+1 C b @0; +1 C c @1; yield*3 @2 10; +1 C d @3; yield*3 @4 10",
        "c b c d b c",
    );
}

#[test]
fn an_overdue_yielder_runs_before_fresh_work() {
    // The age bound (500 µs) applies across fresh and resumed items: at
    // 600 µs the yielder a (resumed at 0) is the oldest and overdue, so it
    // runs before the newer fresh b and c.
    check(
        "+1 C a @0; yield @0 10; +1 C b @400000; +1 C c @420000; pick*3 @600000 10",
        "a a c b",
    );
}

#[test]
fn an_idle_tenant_banks_no_credit() {
    let mut drr = Drr::new();
    // Tenant 1 uses 10 µs of its 100 µs turn. Charged with nothing queued
    // it is a ghost, not yet idle (work arriving before the next pick would
    // resume its turn); the next pick passes its turn over (topping it up
    // to one credit), meets it again at once, alone in the round, and
    // removes it: it goes idle.
    check_with(&mut drr, "+1 C a @0; pick @0 10000", "a");
    assert_eq!(
        drr.deficit_ns(TenantId::new(1)),
        90_000,
        "a ghost keeps its credit"
    );
    check_with(&mut drr, "pick @0 0", "-");
    assert_eq!(
        drr.deficit_ns(TenantId::new(1)),
        0,
        "credit forfeited at idle"
    );
    // Back with tenant 2 busy: it gets one quantum, not two.
    check_with(
        &mut drr,
        "+2 C b @0; +1 C a @0; yield*4 @0 100000",
        "b a b a",
    );
}

#[test]
fn an_idle_tenant_keeps_its_debt() {
    let mut drr = Drr::new();
    // The empty pick passes the ghost over, which repays one credit of its
    // debt (a round passed, if a round of one), then removes it: tenant 1
    // is idle from then, with the rest of its debt.
    check_with(&mut drr, "+1 C a @0; pick @0 350000; pick @0 0", "a -");
    assert_eq!(drr.deficit_ns(TenantId::new(1)), -150_000);
    // Comes back behind a busy tenant 2: it needs two more credits.
    check_with(
        &mut drr,
        "+2 C b @0; +1 C a @0; yield*5 @0 100000",
        "b b a b a",
    );
}

#[test]
fn classes_share_a_tenant_by_weight_8_4_2_1() {
    let mut drr = Drr::new();
    let t = TenantId::new(1);
    for c in Class::ALL {
        drr.enqueue(c.as_str().to_string(), t, c, 0).unwrap();
    }
    let mut counts = [0u32; 4];
    for _ in 0..15_000 {
        let p = drr.pick(0).unwrap();
        counts[p.class.priority()] += 1;
        drr.enqueue(p.item, p.tenant, p.class, 0).unwrap();
        drr.charge(p.tenant, p.class, 10_000);
    }
    assert_eq!(counts, [8_000, 4_000, 2_000, 1_000]);
}

#[test]
fn a_newly_active_class_runs_next_in_priority_order() {
    // Reads are backlogged; a write arriving later runs at its next pick,
    // and on a tie (all fresh) higher classes go first.
    check(
        "+1 R r @0; yield*3 @0 10000; +1 W w @0; pick @0 10000; pick @0 10000",
        "r r r w r",
    );
    check(
        "+1 A a @0; +1 R r @0; +1 C c @0; +1 W w @0; pick*4 @0 1000",
        "w c r a",
    );
}

#[test]
fn a_class_idle_for_long_banks_nothing() {
    // Writes run alone for 100 polls; then a read arrives. It runs at once
    // (it starts at the tenant's virtual time), then gets its 2:8 share:
    // not a burst of reads to make up for the time it was idle.
    let mut drr = Drr::new();
    check_with(&mut drr, "+1 W w @0", "");
    check_with(&mut drr, "yield*100 @0 10000", &["w"; 100].join(" "));
    check_with(
        &mut drr,
        "+1 R r @0; yield*10 @0 10000",
        "r w w w w r w w w w",
    );
}

#[test]
fn bounds_refuse_and_hand_the_item_back() {
    let config = DrrConfig::new().max_len(3).max_tenant_len(2).max_tenants(4);
    let mut drr: Drr<u32> = Drr::with_config(config).unwrap();
    let (a, b) = (TenantId::new(1), TenantId::new(2));
    drr.enqueue(1, a, Class::Read, 0).unwrap();
    drr.enqueue(2, a, Class::Read, 0).unwrap();
    let refused = drr.enqueue(3, a, Class::Write, 0).unwrap_err();
    assert_eq!((refused.limit(), refused.into_inner()), (Limit::Tenant, 3));
    drr.enqueue(4, b, Class::Read, 0).unwrap();
    let refused = drr.enqueue(5, b, Class::Read, 0).unwrap_err();
    assert_eq!((refused.limit(), refused.into_inner()), (Limit::Total, 5));
    let refused = drr
        .enqueue(6, TenantId::new(4), Class::Read, 0)
        .unwrap_err();
    assert_eq!((refused.limit(), refused.into_inner()), (Limit::Tenants, 6));
    let refused = drr
        .set_weight(TenantId::new(9), Weight::DEFAULT)
        .unwrap_err();
    assert_eq!(refused.limit(), Limit::Tenants);
    assert_eq!((drr.len(), drr.tenant_len(a), drr.tenant_len(b)), (3, 2, 1));
}

/// `config` is refused with `expect`, or accepted when `expect` is `None`.
fn check_config(config: DrrConfig, expect: Option<ConfigErrorKind>) {
    match (Drr::<u8>::with_config(config), expect) {
        (Ok(_), None) => {}
        (Err(error), Some(kind)) => assert_eq!(error.kind(), kind, "{config:?}: {error}"),
        (Ok(_), Some(kind)) => panic!("{config:?}: accepted, expected {kind:?}"),
        (Err(error), None) => panic!("{config:?}: refused ({error}), expected it accepted"),
    }
}

#[test]
fn nonsense_configurations_are_typed_errors() {
    use ConfigErrorKind as K;
    type C = DrrConfig;
    let cases = [
        (
            C::new().quantum_ns(C::MIN_QUANTUM_NS - 1),
            Some(K::QuantumNs),
        ),
        (C::new().quantum_ns(C::MIN_QUANTUM_NS), None),
        (C::new().quantum_ns(C::MAX_QUANTUM_NS), None),
        (
            C::new().quantum_ns(C::MAX_QUANTUM_NS + 1),
            Some(K::QuantumNs),
        ),
        (C::new().class_weight(Class::Read, 0), Some(K::ClassWeight)),
        (
            C::new().class_weight(Class::Accept, C::MAX_CLASS_WEIGHT),
            None,
        ),
        (
            C::new().class_weight(Class::Write, C::MAX_CLASS_WEIGHT + 1),
            Some(K::ClassWeight),
        ),
        (C::new().max_len(0), Some(K::MaxLen)),
        (C::new().max_len(1), None),
        (C::new().max_tenant_len(0), Some(K::MaxTenantLen)),
        (C::new().max_tenant_len(1), None),
        (
            C::new().max_tenants(C::MIN_TENANTS - 1),
            Some(K::MaxTenants),
        ),
        (C::new().max_tenants(C::MIN_TENANTS), None),
        (C::new().max_tenants(C::MAX_TENANTS), None),
        (
            C::new().max_tenants(C::MAX_TENANTS + 1),
            Some(K::MaxTenants),
        ),
        (
            C::new().max_debt_credits(C::MIN_DEBT_CREDITS - 1),
            Some(K::MaxDebtCredits),
        ),
        (
            C::new().max_debt_credits(C::MAX_DEBT_CREDITS + 1),
            Some(K::MaxDebtCredits),
        ),
    ];
    for (config, expect) in cases {
        check_config(config, expect);
    }
    // A weight has one way to be wrong, and says which value it refused.
    assert_eq!(Weight::new(0).unwrap_err().shares(), 0);
    assert!(Weight::new(Weight::MAX.get() + 1).is_err());
    assert_eq!(Weight::new(Weight::MIN.get()), Ok(Weight::MIN));
    assert_eq!(Weight::new(Weight::MAX.get()), Ok(Weight::MAX));
}

#[test]
fn a_refusal_names_the_limits_and_the_value() {
    let refused = DrrConfig::MAX_DEBT_CREDITS + 1;
    let error = Drr::<u8>::with_config(DrrConfig::new().max_debt_credits(refused))
        .err()
        .expect("refused");
    let message = error.to_string();
    for part in [
        "max_debt_credits".to_string(),
        format!(
            "{}..={}",
            DrrConfig::MIN_DEBT_CREDITS,
            DrrConfig::MAX_DEBT_CREDITS
        ),
        format!("got {refused}"),
    ] {
        assert!(message.contains(&part), "{part:?} not in {message:?}");
    }
    let class = Class::Compute;
    let error = Drr::<u8>::with_config(DrrConfig::new().class_weight(class, 0))
        .err()
        .expect("refused");
    assert!(error.to_string().contains(&class.to_string()), "{error}");

    let error = Weight::new(Weight::MAX.get() + 1).unwrap_err();
    assert_eq!(error.shares(), Weight::MAX.get() + 1);
    let message = error.to_string();
    for part in [
        format!("{}..={}", Weight::MIN, Weight::MAX),
        format!("got {}", Weight::MAX.get() + 1),
    ] {
        assert!(message.contains(&part), "{part:?} not in {message:?}");
    }
}

#[test]
fn the_debt_bound_is_configurable() {
    for k in [
        1,
        DrrConfig::DEFAULT_MAX_DEBT_CREDITS,
        DrrConfig::MAX_DEBT_CREDITS,
    ] {
        let drr = Drr::<u8>::with_config(DrrConfig::new().max_debt_credits(k)).expect("in range");
        assert_eq!(drr.config().get_max_debt_credits(), k);
    }
    assert_eq!(DrrConfig::new().get_max_debt_credits(), 10);
}

#[test]
fn a_huge_charge_pushes_a_tenant_back_at_most_max_debt_credits_plus_one_rounds() {
    // Three tenants with a yielding task each; a poll of 100 µs is one
    // credit, so every turn is one poll. Tenant 1's first poll is charged
    // 1 s (a poll the OS preempted): its debt is floored at 10 credits
    // (1 ms), so it needs 11 refills, one per round, and the others get 11
    // turns each before it runs again; not the 10,000 rounds its charge
    // would cost in full.
    let b_c = |rounds: usize| vec!["b c"; rounds].join(" ");
    let script = "+1 C a @0; +2 C b @0; +3 C c @0; yield @0 1000000000";
    let mut drr = Drr::new();
    check_with(&mut drr, script, "a");
    assert_eq!(drr.deficit_ns(TenantId::new(1)), -1_000_000, "10 credits");
    check_with(&mut drr, "yield*23 @0 100000", &format!("{} a", b_c(11)));
    // With the bound at 3 credits: 4 rounds.
    let mut drr = Drr::with_config(DrrConfig::new().max_debt_credits(3)).unwrap();
    check_with(
        &mut drr,
        &format!("{script}; yield*9 @0 100000"),
        &format!("a {} a", b_c(4)),
    );
    // The bound is in the tenant's own credits: at weight 300 (credit
    // 300 µs), 10 credits are 3 ms, still 11 rounds.
    let mut drr = Drr::new();
    drr.set_weight(TenantId::new(1), Weight::new(300).unwrap())
        .unwrap();
    check_with(&mut drr, script, "a");
    assert_eq!(drr.deficit_ns(TenantId::new(1)), -3_000_000);
    check_with(&mut drr, "yield*23 @0 100000", &format!("{} a", b_c(11)));
    // Below the default weight the bound is in default credits: at weight
    // 10 (credit 10 µs) the debt still reaches 1 ms, 100 of its own
    // credits, so a poll of 500 µs (a few of a tenant's tasks on a worker
    // where the runtime gives it a small weight) is charged in full.
    let mut drr = Drr::new();
    drr.set_weight(TenantId::new(1), Weight::new(10).unwrap())
        .unwrap();
    check_with(&mut drr, "+1 C a @0; +2 C b @0; yield @0 500000", "a");
    assert_eq!(drr.deficit_ns(TenantId::new(1)), 10_000 - 500_000);
    let mut drr = Drr::new();
    drr.set_weight(TenantId::new(1), Weight::new(10).unwrap())
        .unwrap();
    check_with(&mut drr, script, "a");
    assert_eq!(
        drr.deficit_ns(TenantId::new(1)),
        -1_000_000,
        "10 default credits"
    );
}

/// Tenant 1 is charged `u64::MAX` twice (once for its pick, once stray);
/// then it and tenant 2 poll at `cost_ns` each. Returns tenant 1's deficit
/// after the absurd charges and the polls tenant 2 runs before tenant 1
/// runs again.
fn polls_until_back(config: DrrConfig, cost_ns: u64) -> (i64, u32) {
    let mut drr: Drr<u32> = Drr::with_config(config).unwrap();
    let (a, b) = (TenantId::new(1), TenantId::new(2));
    drr.enqueue(1, a, Class::Compute, 0).unwrap();
    drr.enqueue(2, b, Class::Compute, 0).unwrap();
    let p = drr.pick(0).unwrap();
    drr.enqueue(p.item, p.tenant, p.class, 0).unwrap();
    drr.charge(p.tenant, p.class, u64::MAX);
    drr.charge(p.tenant, p.class, u64::MAX); // stray: the floor holds
    let debt = drr.deficit_ns(a);
    let mut b_polls = 0;
    loop {
        let p = drr.pick(0).unwrap();
        drr.enqueue(p.item, p.tenant, p.class, 0).unwrap();
        drr.charge(p.tenant, p.class, cost_ns);
        if p.tenant == a {
            return (debt, b_polls);
        }
        b_polls += 1;
    }
}

#[test]
fn absurd_charges_are_bounded() {
    // A charge of u64::MAX (a broken clock, a stuck poll) is debited as
    // 1 s, and the debt is floored at 10 credits: the tenant is back after
    // 11 turns of the other, one 100 µs poll each.
    assert_eq!(
        polls_until_back(DrrConfig::new(), 100_000),
        (-1_000_000, 11)
    );
    // Where 1,000 credits exceed 1 s (a 10 ms quantum), the 1 s floor
    // holds: 101 turns of 10 ms, and `pick` does not loop for ever.
    let config = DrrConfig::new()
        .quantum_ns(10_000_000)
        .max_debt_credits(1_000);
    assert_eq!(polls_until_back(config, 10_000_000), (-1_000_000_000, 101));
}
