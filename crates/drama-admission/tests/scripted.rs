//! Scripted scenarios: a scripted clock, measurement steps, admissions and
//! the outcome each one must have.

use drama_admission::{Admission, AdmissionConfig, ConfigErrorKind, RefusalKind, Sample};
use drama_policy::{Class, IoKind, TenantId};

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

/// The polls and workers of every measurement step: 50 µs of queueing
/// delay per waiting task.
const POLL_NS: u64 = 100 * US;
const WORKERS: u32 = 2;

/// What an admission must come to.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Admitted,
    Refused(RefusalKind),
}
use Expect::{Admitted, Refused};

/// One step of a script.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Measurement steps every millisecond over `from_ms..=to_ms`: the
    /// standing delay, the utilization, and the backlog (on 2 workers
    /// whose polls take 100 µs, so each waiting task adds 50 µs: 10 tasks
    /// are the default 500 µs target).
    Load {
        from_ms: u64,
        to_ms: u64,
        delay_us: u64,
        utilization: f64,
        backlog: u64,
    },
    /// `n` admissions of `tenant` in `class`, all admitted.
    Fill {
        tenant: u32,
        class: Class,
        n: u32,
    },
    /// One admission and its outcome.
    Admit {
        tenant: u32,
        class: Class,
        expect: Expect,
    },
    /// One admission by a deadline `in_us` after the last step's time.
    AdmitBy {
        tenant: u32,
        in_us: u64,
        expect: Expect,
    },
    /// `n` of `tenant`'s tasks finish.
    Finish {
        tenant: u32,
        n: u32,
    },
    SetWeight {
        tenant: u32,
        weight: u32,
    },
    IoBegin {
        tenant: u32,
        kind: IoKind,
    },
    IoEnd {
        tenant: u32,
        kind: IoKind,
    },
    /// The load score is in `at_least..below`.
    Score {
        at_least: f64,
        below: f64,
    },
    /// Whether `tenant` holds more than its share.
    OverShare {
        tenant: u32,
        expect: bool,
    },
}
use Step::*;

/// Runs `script` on an admission with `config`, checking every expectation;
/// a failure names the step.
fn check(config: AdmissionConfig, script: &[Step]) {
    let mut admission = Admission::new(config).expect("a valid config");
    let mut now_ns = 0;
    let mut admitted = 0u64;
    for (i, step) in script.iter().enumerate() {
        match *step {
            Load {
                from_ms,
                to_ms,
                delay_us,
                utilization,
                backlog,
            } => {
                for t in from_ms..=to_ms {
                    now_ns = t * MS;
                    admission.observe(Sample {
                        now_ns,
                        queue_delay_ns: delay_us * US,
                        utilization,
                        backlog,
                        in_flight: 0,
                        poll_ns: POLL_NS,
                        workers: WORKERS,
                    });
                }
            }
            Fill { tenant, class, n } => {
                for k in 0..n {
                    if let Err(refusal) = admission.admit(TenantId::new(tenant), class) {
                        panic!("step {i} ({step:?}): admission {k} refused: {refusal}");
                    }
                    admitted += 1;
                }
            }
            Admit {
                tenant,
                class,
                expect,
            } => {
                let got = match admission.admit(TenantId::new(tenant), class) {
                    Ok(()) => {
                        admitted += 1;
                        Admitted
                    }
                    Err(refusal) => {
                        assert_eq!(refusal.class(), class);
                        assert!(
                            refusal.retry_after_ns() >= admission.config().get_target_delay_ns()
                        );
                        Refused(refusal.kind())
                    }
                };
                assert_eq!(
                    got,
                    expect,
                    "step {i} ({step:?}), load {:?}",
                    admission.load()
                );
            }
            AdmitBy {
                tenant,
                in_us,
                expect,
            } => {
                let deadline = now_ns + in_us * US;
                let got = match admission.admit_by(
                    TenantId::new(tenant),
                    Class::Compute,
                    now_ns,
                    deadline,
                ) {
                    Ok(()) => {
                        admitted += 1;
                        Admitted
                    }
                    Err(refusal) => Refused(refusal.kind()),
                };
                assert_eq!(
                    got,
                    expect,
                    "step {i} ({step:?}), load {:?}",
                    admission.load()
                );
            }
            Finish { tenant, n } => {
                for _ in 0..n {
                    admission.finish(TenantId::new(tenant));
                    admitted -= 1;
                }
            }
            SetWeight { tenant, weight } => {
                admission.set_weight(
                    TenantId::new(tenant),
                    drama_policy::Weight::new(weight).unwrap(),
                );
            }
            IoBegin { tenant, kind } => admission.io_begin(TenantId::new(tenant), kind),
            IoEnd { tenant, kind } => admission.io_end(TenantId::new(tenant), kind),
            Score { at_least, below } => {
                let score = admission.load().score;
                assert!(
                    score >= at_least && score < below,
                    "step {i} ({step:?}): score {score}"
                );
            }
            OverShare { tenant, expect } => {
                assert_eq!(
                    admission.is_over_share(TenantId::new(tenant)),
                    expect,
                    "step {i} ({step:?})"
                );
            }
        }
        // Nothing admitted is lost from the count.
        assert_eq!(admission.in_flight(), admitted, "step {i} ({step:?})");
    }
}

/// Measurement steps with a standing delay of `delay_us` from `from_ms`
/// to `to_ms`, workers half busy, no backlog.
fn delay(from_ms: u64, to_ms: u64, delay_us: u64) -> Step {
    Load {
        from_ms,
        to_ms,
        delay_us,
        utilization: 0.5,
        backlog: 0,
    }
}

/// Measurement steps from `from_ms` to `to_ms` with no standing delay,
/// workers busy `utilization` of the time and `tasks` waiting.
fn load(from_ms: u64, to_ms: u64, utilization: f64, tasks: u64) -> Step {
    Load {
        from_ms,
        to_ms,
        delay_us: 0,
        utilization,
        backlog: tasks,
    }
}

/// Measurement steps from `from_ms` to `to_ms` with busy workers and
/// `tasks` waiting: a score of `tasks / 10`.
fn backlog(from_ms: u64, to_ms: u64, tasks: u64) -> Step {
    load(from_ms, to_ms, 1.0, tasks)
}

fn score(at_least: f64, below: f64) -> Step {
    Score { at_least, below }
}

fn admit(tenant: u32, class: Class, expect: Expect) -> Step {
    Admit {
        tenant,
        class,
        expect,
    }
}

#[test]
fn a_burst_on_idle_workers_is_admitted_and_refusals_wait_for_busy_workers() {
    check(
        AdmissionConfig::new(),
        &[
            // 30 tasks waiting (1.5 ms of work) on workers busy a third of
            // the time: a burst, which the workers drain.
            load(0, 3, 0.3, 30),
            score(0.0, 0.31),
            admit(1, Class::Accept, Admitted),
            // The workers stay busy and the backlog stays: overload.
            backlog(4, 20, 40),
            score(4.0, 4.1),
            admit(1, Class::Accept, Refused(RefusalKind::Overloaded)),
        ],
    );
}

#[test]
fn a_burst_is_admitted_up_to_a_window_of_work() {
    check(
        AdmissionConfig::new(),
        &[
            load(0, 3, 0.3, 30),
            // Fifty more admitted: the last of them waits behind 79
            // others, 3.95 ms, within the 4 ms window.
            Fill {
                tenant: 1,
                class: Class::Accept,
                n: 50,
            },
            // The next would wait the window.
            admit(1, Class::Accept, Refused(RefusalKind::Overloaded)),
            admit(1, Class::Compute, Refused(RefusalKind::Overloaded)),
            admit(1, Class::Write, Admitted),
        ],
    );
}

#[test]
fn a_backlog_that_takes_a_window_to_drain_is_overload_at_once() {
    check(
        AdmissionConfig::new(),
        &[
            // 100 tasks: 5 ms of work, more than half the 4 ms window.
            load(0, 1, 0.2, 100),
            score(10.0, 10.1),
            admit(1, Class::Accept, Refused(RefusalKind::Overloaded)),
            admit(1, Class::Compute, Refused(RefusalKind::Overloaded)),
            admit(1, Class::Write, Admitted),
        ],
    );
}

#[test]
fn the_score_falls_as_soon_as_the_backlog_drains() {
    check(
        AdmissionConfig::new(),
        &[
            backlog(0, 20, 60),
            score(5.99, 6.01),
            backlog(21, 21, 0),
            score(0.9, 1.0),
            admit(1, Class::Accept, Admitted),
        ],
    );
}

#[test]
fn utilization_alone_approaches_one() {
    check(
        AdmissionConfig::new(),
        &[
            load(0, 40, 0.7, 0),
            score(0.69, 0.71),
            admit(1, Class::Accept, Admitted),
            // Busy but with no queue: nothing refused yet, the score says
            // how close it is.
            backlog(41, 100, 0),
            score(0.99, 1.0),
            admit(1, Class::Accept, Admitted),
            // Busy with the target's worth of backlog: saturated, accepts
            // are refused, the rest goes on.
            backlog(101, 110, 10),
            score(1.0, 1.01),
            admit(1, Class::Accept, Refused(RefusalKind::Overloaded)),
            admit(1, Class::Read, Admitted),
        ],
    );
}

#[test]
fn work_admitted_or_finished_since_the_step_moves_the_backlog() {
    check(
        AdmissionConfig::new(),
        &[
            backlog(0, 20, 0),
            // Nine tasks join the backlog after the step: 450 µs.
            Fill {
                tenant: 1,
                class: Class::Compute,
                n: 9,
            },
            admit(1, Class::Accept, Admitted),
            // Ten: the target, where accepts stop.
            admit(1, Class::Accept, Refused(RefusalKind::Overloaded)),
            admit(1, Class::Read, Admitted),
            // Two finish: room for an accept again.
            Finish { tenant: 1, n: 2 },
            admit(1, Class::Accept, Admitted),
        ],
    );
}

#[test]
fn the_ladder_refuses_accept_then_read_then_compute_and_never_write() {
    use Class::*;
    let overloaded = Refused(RefusalKind::Overloaded);
    check(
        AdmissionConfig::new(),
        &[
            // Busy for 20 ms: the utilization's average is past 0.95.
            backlog(0, 20, 12),
            admit(1, Accept, overloaded),
            admit(1, Read, Admitted),
            admit(1, Compute, Admitted),
            admit(1, Write, Admitted),
            backlog(21, 30, 17),
            admit(1, Accept, overloaded),
            admit(1, Read, overloaded),
            admit(1, Compute, Admitted),
            backlog(31, 40, 25),
            admit(1, Compute, overloaded),
            admit(1, Write, Admitted),
            backlog(41, 50, 100_000),
            admit(1, Write, Admitted),
        ],
    );
}

#[test]
fn the_tenant_over_its_share_is_refused_first() {
    use Class::*;
    let mut script = vec![Fill {
        tenant: 1,
        class: Compute,
        n: 100,
    }];
    for light in 2..=10 {
        script.push(Fill {
            tenant: light,
            class: Compute,
            n: 1,
        });
    }
    script.extend([
        OverShare {
            tenant: 1,
            expect: true,
        },
        OverShare {
            tenant: 2,
            expect: false,
        },
        backlog(0, 20, 12),
        // Past the accept threshold: the heavy tenant's accepts go, the
        // light ones' do not.
        admit(1, Accept, Refused(RefusalKind::OverShare)),
        admit(2, Accept, Admitted),
        admit(3, Accept, Admitted),
        // Past twice the threshold (this config's factor), everyone's
        // accepts go.
        backlog(21, 30, 21),
        admit(2, Accept, Refused(RefusalKind::Overloaded)),
        // Past the compute threshold, the heavy tenant's compute goes, the
        // light ones' stays.
        admit(1, Compute, Refused(RefusalKind::OverShare)),
        admit(2, Compute, Admitted),
        // Once the heavy tenant's work is done, nobody is over their share
        // and the ladder applies to all.
        Finish { tenant: 1, n: 100 },
        backlog(31, 40, 17),
        admit(2, Read, Refused(RefusalKind::Overloaded)),
    ]);
    check(AdmissionConfig::new().within_share_factor(2.0), &script);
}

#[test]
fn by_default_a_tenant_within_its_share_outlasts_any_load_while_another_is_over_its_share() {
    use Class::*;
    let mut script = vec![
        Fill {
            tenant: 1,
            class: Compute,
            n: 100,
        },
        Fill {
            tenant: 2,
            class: Compute,
            n: 1,
        },
    ];
    script.extend([
        backlog(0, 10, 1_000),
        admit(1, Compute, Refused(RefusalKind::OverShare)),
        // A hundred times the target: the light tenant is still admitted, as
        // the fair queue will serve it its share.
        admit(2, Accept, Admitted),
        // Once the heavy tenant's work is done, the ladder applies to all.
        Finish { tenant: 1, n: 100 },
        admit(2, Accept, Refused(RefusalKind::Overloaded)),
    ]);
    check(AdmissionConfig::new(), &script);
}

#[test]
fn room_others_leave_idle_may_be_used() {
    check(
        AdmissionConfig::new(),
        &[
            // Alone, a tenant holding everything is within its share.
            Fill {
                tenant: 1,
                class: Class::Compute,
                n: 1_000,
            },
            OverShare {
                tenant: 1,
                expect: false,
            },
            // A second tenant arrives: the first now holds more than half.
            Fill {
                tenant: 2,
                class: Class::Compute,
                n: 1,
            },
            OverShare {
                tenant: 1,
                expect: true,
            },
            // And loses that status as the other grows into its share.
            Fill {
                tenant: 2,
                class: Class::Compute,
                n: 999,
            },
            OverShare {
                tenant: 1,
                expect: false,
            },
        ],
    );
}

#[test]
fn weights_set_the_shares() {
    let compute = Class::Compute;
    check(
        AdmissionConfig::new(),
        &[
            SetWeight {
                tenant: 1,
                weight: 400,
            },
            Fill {
                tenant: 1,
                class: compute,
                n: 40,
            },
            Fill {
                tenant: 2,
                class: compute,
                n: 10,
            },
            // 80 % and 20 %: each at its share.
            OverShare {
                tenant: 1,
                expect: false,
            },
            OverShare {
                tenant: 2,
                expect: false,
            },
            Fill {
                tenant: 2,
                class: compute,
                n: 20,
            },
            // 30 of 70 is more than 1.25 times a fifth.
            OverShare {
                tenant: 2,
                expect: true,
            },
            // Equal weights: 40 of 70 is within 1.25 halves.
            SetWeight {
                tenant: 1,
                weight: 100,
            },
            OverShare {
                tenant: 2,
                expect: false,
            },
        ],
    );
}

#[test]
fn past_the_reserve_the_tenant_over_its_share_is_refused_and_at_the_bound_everyone() {
    use Class::*;
    let config = AdmissionConfig::new()
        .max_in_flight(16)
        .reserve(0.25)
        .min_share_tasks(1);
    check(
        config,
        &[
            Fill {
                tenant: 1,
                class: Compute,
                n: 11,
            },
            Fill {
                tenant: 2,
                class: Compute,
                n: 1,
            },
            // 12 of 16 in flight: past the reserve.
            admit(1, Write, Refused(RefusalKind::OverShare)),
            admit(2, Compute, Admitted),
            admit(2, Compute, Admitted),
            admit(2, Compute, Admitted),
            admit(2, Write, Admitted),
            // 16 of 16: nobody, not even a write.
            admit(2, Write, Refused(RefusalKind::QueueFull)),
            admit(3, Write, Refused(RefusalKind::QueueFull)),
            Finish { tenant: 1, n: 1 },
            admit(3, Write, Admitted),
        ],
    );
}

#[test]
fn a_tenant_bound_holds() {
    check(
        AdmissionConfig::new().max_in_flight_per_tenant(3),
        &[
            Fill {
                tenant: 1,
                class: Class::Write,
                n: 3,
            },
            admit(1, Class::Write, Refused(RefusalKind::TenantQueueFull)),
            admit(2, Class::Write, Admitted),
            Finish { tenant: 1, n: 1 },
            admit(1, Class::Write, Admitted),
        ],
    );
}

#[test]
fn io_at_its_depth_limit_refuses_accepts_and_reads() {
    use Class::*;
    let read_io = Refused(RefusalKind::IoDepth(IoKind::Read));
    check(
        AdmissionConfig::new().io_depth_limit(IoKind::Read, 2),
        &[
            IoBegin {
                tenant: 1,
                kind: IoKind::Read,
            },
            admit(2, Accept, Admitted),
            IoBegin {
                tenant: 2,
                kind: IoKind::Read,
            },
            admit(2, Accept, read_io),
            admit(3, Read, read_io),
            admit(3, Compute, Admitted),
            admit(3, Write, Admitted),
            // Other kinds have no limit.
            IoBegin {
                tenant: 1,
                kind: IoKind::Write,
            },
            IoEnd {
                tenant: 1,
                kind: IoKind::Read,
            },
            admit(3, Read, Admitted),
        ],
    );
}

#[test]
fn work_the_standing_delay_would_take_past_its_deadline_is_refused() {
    check(
        AdmissionConfig::new(),
        &[
            delay(0, 10, 1_500),
            AdmitBy {
                tenant: 1,
                in_us: 1_000,
                expect: Refused(RefusalKind::DeadlineUnreachable),
            },
            AdmitBy {
                tenant: 1,
                in_us: 5_000,
                expect: Admitted,
            },
        ],
    );
}

#[test]
fn work_the_predicted_wait_would_take_past_its_deadline_is_refused_once_armed() {
    check(
        AdmissionConfig::new(),
        &[
            // 15 tasks waiting on busy workers: 750 µs predicted, under
            // the compute threshold (1 ms).
            backlog(0, 20, 15),
            AdmitBy {
                tenant: 1,
                in_us: 500,
                expect: Refused(RefusalKind::DeadlineUnreachable),
            },
            AdmitBy {
                tenant: 1,
                in_us: 1_000,
                expect: Admitted,
            },
            // Not armed (a burst on idle workers), the standing delay
            // decides, and there is none.
            load(21, 200, 0.3, 15),
            AdmitBy {
                tenant: 1,
                in_us: 500,
                expect: Admitted,
            },
        ],
    );
}

#[test]
fn unknown_tenants_are_refused_and_not_counted() {
    check(
        AdmissionConfig::new().max_tenants(4),
        &[
            admit(3, Class::Write, Admitted),
            admit(4, Class::Write, Refused(RefusalKind::UnknownTenant)),
            admit(u32::MAX, Class::Write, Refused(RefusalKind::UnknownTenant)),
            IoBegin {
                tenant: u32::MAX,
                kind: IoKind::Read,
            },
            SetWeight {
                tenant: u32::MAX,
                weight: 7,
            },
        ],
    );
}

/// `config` is refused with `expect`.
fn check_config(config: AdmissionConfig, expect: ConfigErrorKind) {
    match Admission::new(config) {
        Ok(_) => panic!("{config:?}: accepted, expected {expect:?}"),
        Err(error) => assert_eq!(error.kind(), expect, "{config:?}: {error}"),
    }
}

#[test]
fn nonsense_settings_are_refused() {
    use ConfigErrorKind as K;
    type C = AdmissionConfig;
    let bad = [
        (C::new().target_delay_ns(0), K::TargetDelayNs),
        (
            C::new().target_delay_ns(C::MIN_DELAY_NS - 1),
            K::TargetDelayNs,
        ),
        (C::new().target_delay_ns(u64::MAX), K::TargetDelayNs),
        (C::new().window_ns(0), K::WindowNs),
        (C::new().window_ns(C::MAX_DELAY_NS + 1), K::WindowNs),
        (C::new().window_ns(MS / 4), K::WindowNs),
        (C::new().arm_utilization(1.5), K::ArmUtilization),
        (C::new().arm_utilization(-0.1), K::ArmUtilization),
        (C::new().arm_utilization(f64::NAN), K::ArmUtilization),
        (C::new().refuse_at(Class::Accept, 0.0), K::RefuseAt),
        (C::new().refuse_at(Class::Accept, f64::NAN), K::RefuseAt),
        (C::new().refuse_at(Class::Accept, 3.0), K::RefuseAt),
        (C::new().within_share_factor(0.5), K::WithinShareFactor),
        (C::new().within_share_factor(f64::NAN), K::WithinShareFactor),
        (C::new().share_slack(-1.0), K::ShareSlack),
        (C::new().share_slack(10.5), K::ShareSlack),
        (C::new().max_in_flight(0), K::MaxInFlight),
        (
            C::new().max_in_flight_per_tenant(0),
            K::MaxInFlightPerTenant,
        ),
        (C::new().reserve(1.0), K::Reserve),
        (C::new().reserve(f64::NAN), K::Reserve),
        (C::new().io_depth_limit(IoKind::Accept, 0), K::IoDepthLimit),
        (C::new().max_tenants(C::MIN_TENANTS - 1), K::MaxTenants),
        (C::new().max_tenants(C::MAX_TENANTS + 1), K::MaxTenants),
        (C::new().max_tenants(u32::MAX), K::MaxTenants),
    ];
    for (config, expect) in bad {
        check_config(config, expect);
    }
    let extremes = [
        AdmissionConfig::new().max_in_flight(u64::MAX),
        Class::ALL
            .into_iter()
            .fold(AdmissionConfig::new(), |config, class| {
                config.refuse_at(class, 1.0)
            }),
        AdmissionConfig::new()
            .within_share_factor(1.0)
            .share_slack(0.0)
            .reserve(0.0),
        AdmissionConfig::new().max_tenants(AdmissionConfig::MIN_TENANTS),
        AdmissionConfig::new().max_tenants(AdmissionConfig::MAX_TENANTS),
        AdmissionConfig::new()
            .target_delay_ns(AdmissionConfig::MIN_DELAY_NS)
            .window_ns(AdmissionConfig::MAX_DELAY_NS),
    ];
    for config in extremes {
        let mut admission = Admission::new(config).unwrap();
        admission.admit(TenantId::DEFAULT, Class::Write).unwrap();
    }
}

#[test]
fn a_refusal_names_the_limits_and_the_value() {
    let refused = AdmissionConfig::MAX_DELAY_NS + 1;
    let error = Admission::new(AdmissionConfig::new().target_delay_ns(refused)).unwrap_err();
    let message = error.to_string();
    for part in [
        "target_delay_ns".to_string(),
        format!(
            "{}..={}",
            AdmissionConfig::MIN_DELAY_NS,
            AdmissionConfig::MAX_DELAY_NS
        ),
        format!("got {refused}"),
    ] {
        assert!(message.contains(&part), "{part:?} not in {message:?}");
    }
    // A window shorter than the target names the target it must reach.
    let config = AdmissionConfig::new().target_delay_ns(2 * MS).window_ns(MS);
    let message = Admission::new(config).unwrap_err().to_string();
    for part in [format!("({})", 2 * MS), format!("got {MS}")] {
        assert!(message.contains(&part), "{part:?} not in {message:?}");
    }
    // A limit of one IO kind names the kind.
    let config = AdmissionConfig::new().io_depth_limit(IoKind::Connect, 0);
    let message = Admission::new(config).unwrap_err().to_string();
    assert!(message.contains(&IoKind::Connect.to_string()), "{message}");
}
