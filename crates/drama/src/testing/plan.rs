//! The seeded generator, the fault plan and the attribution log.

use std::fmt;

use drama_core::{Class, TenantId};

/// SplitMix64: a tiny generator whose whole state is one `u64`, so that a
/// run is a function of its seed.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p` (0 never draws: a rule that is off costs
    /// no number, so adding an unused rule does not change a run).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        p > 0.0 && unit < p
    }
}

/// Which tasks a rule applies to: every task, or those of a tenant, a
/// class, or a name.
#[derive(Clone, Debug, Default)]
pub struct Target {
    tenant: Option<TenantId>,
    class: Option<Class>,
    name: Option<String>,
}

impl Target {
    /// Every task.
    pub fn any() -> Target {
        Target::default()
    }

    /// The tasks of `tenant`.
    pub fn tenant(tenant: TenantId) -> Target {
        Target {
            tenant: Some(tenant),
            ..Target::default()
        }
    }

    /// The tasks of `class`.
    pub fn class(class: Class) -> Target {
        Target {
            class: Some(class),
            ..Target::default()
        }
    }

    /// The tasks named `name` (`Spawn::name`).
    pub fn named(name: impl Into<String>) -> Target {
        Target {
            name: Some(name.into()),
            ..Target::default()
        }
    }

    pub(crate) fn matches(&self, tenant: TenantId, class: Class, name: Option<&str>) -> bool {
        self.tenant.is_none_or(|t| t == tenant)
            && self.class.is_none_or(|c| c == class)
            && self.name.as_deref().is_none_or(|n| Some(n) == name)
    }
}

/// What the scheduler injects, each with its probability, drawn from the
/// run's seed. The default plan injects nothing: the run only explores
/// orderings (see [`Schedule`](super::Schedule)).
///
/// ```
/// use drama::Class;
/// use drama::testing::{FaultPlan, Target};
///
/// let plan = FaultPlan::new()
///     .extra_yields(0.1)
///     .spurious_wakes(0.05)
///     .refuse_spawns(Target::class(Class::Read), 0.2)
///     .fault("disk.write", 0.1);
/// # drop(plan);
/// ```
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    pub(crate) extra_yield: f64,
    pub(crate) spurious_wake: f64,
    pub(crate) delay_wake: (f64, u64),
    pub(crate) expire: Vec<(Target, f64)>,
    pub(crate) refuse: Vec<(Target, f64)>,
    pub(crate) refuse_admission: Vec<(Target, f64)>,
    pub(crate) panic: Vec<(Target, f64)>,
    pub(crate) faults: Vec<(String, f64)>,
}

impl FaultPlan {
    /// A plan that injects nothing.
    pub fn new() -> FaultPlan {
        FaultPlan::default()
    }

    /// Before any poll, with probability `p`, the task is made to yield
    /// instead (woken at once, polled later): an await point that happens
    /// to wait.
    pub fn extra_yields(mut self, p: f64) -> FaultPlan {
        self.extra_yield = p;
        self
    }

    /// At every step, with probability `p`, one waiting task is woken
    /// though nothing it waits for happened: futures must cope with a poll
    /// that finds nothing new.
    pub fn spurious_wakes(mut self, p: f64) -> FaultPlan {
        self.spurious_wake = p;
        self
    }

    /// A wake is held back with probability `p`, for 1 to `max_steps`
    /// polls of other tasks (or until nothing else is runnable): the
    /// message that arrives late.
    pub fn delay_wakes(mut self, p: f64, max_steps: u64) -> FaultPlan {
        self.delay_wake = (p, max_steps.max(1));
        self
    }

    /// A task of `target` spawned with a deadline has it expire at once
    /// with probability `p`: it is dropped unpolled and its handle says
    /// `is_expired`, as when the runtime was too busy to start it in time.
    pub fn expire_early(mut self, target: Target, p: f64) -> FaultPlan {
        self.expire.push((target, p));
        self
    }

    /// Spawns of `target`'s tasks are refused with probability `p`, with
    /// `RejectReason::Overloaded` and the future handed back, as an
    /// overloaded runtime does.
    pub fn refuse_spawns(mut self, target: Target, p: f64) -> FaultPlan {
        self.refuse.push((target, p));
        self
    }

    /// `TestRuntime::try_admit` for `target` (its tenant and class) is
    /// refused with probability `p`, with `RejectReason::Overloaded`;
    /// `TestRuntime::admit` asks again on virtual time.
    pub fn refuse_admission(mut self, target: Target, p: f64) -> FaultPlan {
        self.refuse_admission.push((target, p));
        self
    }

    /// `target`'s tasks panic at their first poll with probability `p`
    /// (decided at their spawn); the panic reaches their join handle, as a
    /// real one does.
    pub fn panics(mut self, target: Target, p: f64) -> FaultPlan {
        self.panic.push((target, p));
        self
    }

    /// [`fault_point(name)`](super::fault_point) returns an error with
    /// probability `p`.
    pub fn fault(mut self, name: impl Into<String>, p: f64) -> FaultPlan {
        self.faults.push((name.into(), p));
        self
    }
}

/// What a task was, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskLabel {
    /// The task's number in the run: 0 for the body, then in the order of
    /// their spawns (`None` for a spawn that was refused). Unlike a
    /// `TaskId`, which counts every task of the process, it is the same in
    /// every replay of a seed.
    pub id: Option<u64>,
    /// Its name, if it had one.
    pub name: Option<String>,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its class.
    pub class: Class,
}

impl fmt::Display for TaskLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "task #{id}")?,
            None => f.write_str("a spawn")?,
        }
        if let Some(name) = &self.name {
            write!(f, " \"{name}\"")?;
        }
        write!(f, " (tenant {}, {:?})", self.tenant.as_u32(), self.class)
    }
}

/// An injected fault or perturbation, with where and when: a failing seed
/// explains itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The scheduler's step (polls so far) when it fired.
    pub step: u64,
    /// The rule that fired: `extra yield`, `spurious wake`, `refused
    /// spawn`, `refused admission`, `panic`, `fault <name>`, `priority
    /// change`.
    pub rule: String,
    /// The task concerned (the one polled, spawned, woken, or the one
    /// running when a fault point was reached).
    pub task: Option<TaskLabel>,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: {}", self.step, self.rule)?;
        if let Some(task) = &self.task {
            write!(f, " on {task}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_a_function_of_its_seed() {
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..8).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let mut rng = Rng::new(1);
        assert!(!rng.chance(0.0));
        assert!((0..100).all(|_| rng.chance(1.0)));
        assert!((0..100).all(|_| rng.below(3) < 3));
    }

    #[test]
    fn targets_match_what_they_name() {
        let (a, b) = (TenantId::new(1), TenantId::new(2));
        assert!(Target::any().matches(a, Class::Read, None));
        assert!(Target::tenant(a).matches(a, Class::Read, None));
        assert!(!Target::tenant(a).matches(b, Class::Read, None));
        assert!(Target::class(Class::Write).matches(b, Class::Write, Some("x")));
        assert!(!Target::class(Class::Write).matches(b, Class::Read, Some("x")));
        assert!(Target::named("x").matches(a, Class::Read, Some("x")));
        assert!(!Target::named("x").matches(a, Class::Read, None));
    }
}
