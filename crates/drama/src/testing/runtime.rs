//! The deterministic runtime: one thread, every choice drawn from a seed.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use drama_core::{
    Class, JoinHandle, RejectReason, Rejected, Runnable, ScheduleInfo, Spawn, TaskGuard, TaskMeta,
    TenantId, new_task,
};

use drama_policy::{Drr, Policy, Weight};

use super::plan::{Event, FaultPlan, Rng, Target, TaskLabel};

/// How the next task is chosen among the runnable ones.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Schedule {
    /// Uniformly at random (madsim's pick): every interleaving of the
    /// runnable tasks has a chance.
    Random,
    /// drama's own fair queue, as a worker of the real runtime runs it:
    /// `Drr` across tenants by weight ([`TestRuntime::set_weight`]), classes
    /// weakly prioritized, each poll charged a fixed virtual cost; with
    /// probability `perturb` the task picked goes back behind the others
    /// and the next is taken instead. For tests whose outcome depends on
    /// tenants and classes.
    Fair {
        /// The probability of a perturbed pick (0 to 1).
        perturb: f64,
    },
    /// Probabilistic concurrency testing (shuttle's PCT): every task gets
    /// a random priority when it is spawned, the highest-priority runnable
    /// task runs, and at `depth - 1` random steps among the first
    /// `steps_hint` the task running drops below every other. A bug that
    /// needs `depth` ordering constraints is found with probability at
    /// least 1 / (tasks × steps_hint^(depth - 1)) per seed.
    Pct {
        /// The bug depth searched for (1 or more).
        depth: u32,
        /// About how many steps a run takes, where the change points fall.
        steps_hint: u64,
    },
}

/// What one poll costs in virtual time, and is charged in
/// [`Schedule::Fair`]: a fixed cost, so that a run does not depend on how
/// fast the machine is (10 µs, a tenth of the default quantum: ten polls
/// per turn).
const VIRTUAL_POLL_NS: u64 = 10_000;

/// How often a waiting [`TestRuntime::admit`] asks again: about the real
/// runtime's monitor step (a couple of milliseconds).
pub const ADMIT_RETRY: Duration = Duration::from_millis(2);

/// PCT: spawned tasks get priorities at or above this, tasks lowered at a
/// change point get the numbers just below it, in the order of the change
/// points.
const PRIORITY_FLOOR: u64 = 1 << 63;

/// The most polls one run may take before it is called a livelock: a
/// test's program is small, and a run that polls a million times without
/// its main task ending is spinning (tasks that keep waking each other).
const MAX_STEPS: u64 = 1_000_000;

/// What a run did: its seed, its poll trace's hash (two runs of the same
/// program with the same seed have the same hash), the polls, and what
/// was injected.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed the run drew its choices from.
    pub seed: u64,
    /// FNV-1a over the ids of the tasks polled, in order.
    pub trace_hash: u64,
    /// Polls in the run.
    pub steps: u64,
    /// Every fault and perturbation injected, in order.
    pub events: Vec<Event>,
}

/// The shared state of one run.
pub(crate) struct Inner {
    state: Mutex<State>,
}

struct State {
    seed: u64,
    rng: Rng,
    plan: FaultPlan,
    schedule: Schedule,
    ready: Vec<Runnable>,
    /// [`Schedule::Fair`]'s queue (the other schedules use `ready`).
    fair: Drr<Runnable>,
    /// Tasks that returned `Pending` and were not woken since, with their
    /// waker and label: what a deadlock report lists, and what a spurious
    /// wake picks from.
    waiting: BTreeMap<u64, (Waker, TaskLabel)>,
    /// PCT: each task's priority, and the steps where the running task's
    /// priority drops.
    priority: HashMap<u64, u64>,
    change_points: Vec<u64>,
    next_low: u64,
    /// Virtual time (it advances `VIRTUAL_POLL_NS` per poll, and jumps to
    /// the next timer when every task waits) and the timers of `sleep`, by
    /// deadline then order.
    now_ns: u64,
    /// The real clock's reading when the run began: drama-core's clock on
    /// this thread reads `base_ns + now_ns` during the run, so that task
    /// deadlines follow virtual time.
    base_ns: u64,
    /// Wakes held back by the plan, with the step they are released at.
    delayed: Vec<(u64, Runnable)>,
    timers: BTreeMap<(u64, u64), Waker>,
    timer_seq: u64,
    steps: u64,
    trace: u64,
    events: Vec<Event>,
    tenants: HashMap<String, TenantId>,
    permits: usize,
    /// The task being polled, for the log.
    running: Option<TaskLabel>,
    /// Each task's number in the run, by its process-wide id: what the
    /// trace and the log use, so that a replay matches.
    numbers: HashMap<u64, u64>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Whether one of the plan's `rules` (a list of the plan, each with its
    /// target and probability) fires for a task of `tenant` in `class`
    /// named `name`; each matching rule is drawn in turn.
    fn fires(
        &mut self,
        rules: fn(&FaultPlan) -> &[(Target, f64)],
        tenant: TenantId,
        class: Class,
        name: Option<&str>,
    ) -> bool {
        let odds: Vec<f64> = rules(&self.plan)
            .iter()
            .filter(|(target, _)| target.matches(tenant, class, name))
            .map(|&(_, p)| p)
            .collect();
        odds.into_iter().any(|p| self.rng.chance(p))
    }

    /// Queues a runnable task: in the fair queue under `Schedule::Fair`
    /// (behind the others when it yielded), else in the ready set.
    fn push(&mut self, runnable: Runnable, yielded: bool) {
        if !matches!(self.schedule, Schedule::Fair { .. }) {
            self.ready.push(runnable);
            return;
        }
        let (tenant, class) = (runnable.meta().tenant(), runnable.meta().class());
        let now = self.policy_now_ns();
        let queued = if yielded {
            self.fair.requeue(runnable, tenant, class, now)
        } else {
            self.fair.enqueue(runnable, tenant, class, now)
        };
        if let Err(overflow) = queued {
            // Past the policy's bounds (a test of millions of tasks): the
            // ready set takes it, served first.
            self.ready.push(overflow.into_inner());
        }
    }

    /// Whether no task is runnable.
    fn nothing_runnable(&self) -> bool {
        self.ready.is_empty() && self.fair.is_empty()
    }

    /// The fair queue's clock: the virtual time.
    fn policy_now_ns(&self) -> u64 {
        self.now_ns
    }

    /// The next task to poll, by the schedule.
    fn next_task(&mut self) -> Runnable {
        if !self.ready.is_empty() {
            let index = pick(self);
            return self.ready.swap_remove(index);
        }
        let Schedule::Fair { perturb } = self.schedule else {
            unreachable!("the other schedules use the ready set");
        };
        let now = self.policy_now_ns();
        let picked = self.fair.pick(now).expect("something is runnable");
        if !self.fair.is_empty() && self.rng.chance(perturb) {
            // The pick goes back behind the others; the next one runs.
            self.fair.charge(picked.tenant, picked.class, 0);
            if let Err(overflow) = self
                .fair
                .requeue(picked.item, picked.tenant, picked.class, now)
            {
                self.ready.push(overflow.into_inner());
            }
            let next = self.fair.pick(now).expect("another task is queued");
            let task = Some(self.label(next.item.meta()));
            self.log("perturbed pick", task);
            self.fair.charge(next.tenant, next.class, VIRTUAL_POLL_NS);
            return next.item;
        }
        self.fair
            .charge(picked.tenant, picked.class, VIRTUAL_POLL_NS);
        picked.item
    }

    /// The run's label of a task.
    fn label(&self, meta: &TaskMeta) -> TaskLabel {
        TaskLabel {
            id: self.numbers.get(&meta.id().as_u64()).copied(),
            name: meta.name().map(str::to_string),
            tenant: meta.tenant(),
            class: meta.class(),
        }
    }

    fn log(&mut self, rule: impl Into<String>, task: Option<TaskLabel>) {
        self.events.push(Event {
            step: self.steps,
            rule: rule.into(),
            task,
        });
    }
}

thread_local! {
    /// The run under way on this thread, if any.
    static CURRENT: RefCell<Option<Arc<Inner>>> = const { RefCell::new(None) };
    /// The report of the last run that ended on this thread, however it
    /// ended (a panicking body's included).
    static LAST_REPORT: RefCell<Option<Report>> = const { RefCell::new(None) };
}

/// The report of the last run that ended on this thread.
pub(crate) fn take_last_report() -> Option<Report> {
    LAST_REPORT
        .try_with(|r| r.borrow_mut().take())
        .ok()
        .flatten()
}

/// The run under way on this thread.
pub(crate) fn current() -> Option<TestRuntime> {
    CURRENT
        .try_with(|c| c.borrow().clone())
        .ok()
        .flatten()
        .map(|inner| TestRuntime { inner })
}

/// A handle to the deterministic runtime, passed to the test's body; its
/// tasks' `drama::spawn` goes to it too.
#[derive(Clone)]
pub struct TestRuntime {
    inner: Arc<Inner>,
}

/// Keeps a waiting task in `State::waiting` (what a deadlock report lists
/// and a spurious wake picks from) and takes it out when its future is
/// dropped.
struct Guard {
    inner: Arc<Inner>,
    /// The task's id, known from its first `Pending` (the task polled is
    /// the scheduler's `running`).
    id: Option<u64>,
}

impl TaskGuard for Guard {
    fn on_pending(&mut self, waker: &Waker) {
        let mut state = self.inner.lock();
        if let Some(task) = state.running.clone() {
            let id = task.id.unwrap_or(u64::MAX);
            self.id = Some(id);
            state.waiting.insert(id, (waker.clone(), task));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let mut state = self.inner.lock();
            state.waiting.remove(&id);
            state.priority.remove(&id);
        }
    }
}

pin_project_lite::pin_project! {
    /// A task's future with the plan's per-poll faults.
    struct Faulty<F> {
        #[pin]
        inner: F,
        runtime: Arc<Inner>,
        polled: bool,
    }
}

impl<F: Future> Future for Faulty<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let yielded = {
            let mut state = this.runtime.lock();
            if !std::mem::replace(this.polled, true) {
                // The plan's panics, decided at the task's first poll, where
                // its tenant, class and name are known.
                let task = state.running.clone().expect("polled by the scheduler");
                let name = task.name.as_deref();
                if state.fires(|p| &p.panic, task.tenant, task.class, name) {
                    state.log("panic", Some(task));
                    drop(state);
                    panic!("drama::testing: injected panic");
                }
            }
            let p = state.plan.extra_yield;
            let yielded = state.rng.chance(p);
            if yielded {
                let task = state.running.clone();
                state.log("extra yield", task);
            }
            yielded
        };
        if yielded {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.inner.poll(cx)
    }
}

impl TestRuntime {
    fn new(seed: u64, schedule: Schedule, plan: FaultPlan) -> TestRuntime {
        let mut rng = Rng::new(seed);
        let change_points = match schedule {
            Schedule::Pct { depth, steps_hint } => (1..depth.max(1))
                .map(|_| rng.next_u64() % steps_hint.max(1))
                .collect(),
            Schedule::Random | Schedule::Fair { .. } => Vec::new(),
        };
        TestRuntime {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    seed,
                    rng,
                    plan,
                    schedule,
                    ready: Vec::new(),
                    fair: Drr::new(),
                    waiting: BTreeMap::new(),
                    priority: HashMap::new(),
                    change_points,
                    next_low: PRIORITY_FLOOR,
                    now_ns: 0,
                    base_ns: drama_core::clock::now_ns(),
                    delayed: Vec::new(),
                    timers: BTreeMap::new(),
                    timer_seq: 0,
                    steps: 0,
                    trace: 0xcbf2_9ce4_8422_2325,
                    events: Vec::new(),
                    tenants: HashMap::new(),
                    permits: 0,
                    running: None,
                    numbers: HashMap::new(),
                }),
            }),
        }
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.inner.lock().seed
    }

    /// The tenant called `name`: the same name gives the same id for the
    /// run (id 0 is the default tenant, named tenants start at 1).
    pub fn tenant(&self, name: &str) -> TenantId {
        let mut state = self.inner.lock();
        let next = state.tenants.len() as u32 + 1;
        *state
            .tenants
            .entry(name.to_string())
            .or_insert(TenantId::new(next))
    }

    /// Spawns `future` for the default tenant (or the current task's).
    ///
    /// # Errors
    ///
    /// A refusal the plan injected (`Overloaded`), the future handed back.
    pub fn spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(Spawn::new(), future)
    }

    /// Spawns `future` with `spec`, as `Handle::spawn_with` does.
    ///
    /// # Errors
    ///
    /// A refusal the plan injected (`Overloaded`), the future handed back.
    pub fn spawn_with<F>(
        &self,
        spec: Spawn,
        future: F,
    ) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_inner(spec, future, true)
    }

    /// Spawns, with the plan's refusals when `refusable` (the body itself
    /// is never refused).
    fn spawn_inner<F>(
        &self,
        spec: Spawn,
        future: F,
        refusable: bool,
    ) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut spec = spec.inherit();
        let tenant = spec.get_tenant().unwrap_or_default();
        let class = spec.get_class().unwrap_or_default();
        if refusable {
            let mut state = self.inner.lock();
            let spawn = || TaskLabel {
                id: None,
                name: None,
                tenant,
                class,
            };
            if spec.time_left().is_some() && state.fires(|p| &p.expire, tenant, class, None) {
                state.log("deadline expired early", Some(spawn()));
                spec = spec.timeout(Duration::ZERO);
            }
            if state.fires(|p| &p.refuse, tenant, class, None) {
                state.log("refused spawn", Some(spawn()));
                return Err(Rejected::new(future, RejectReason::Overloaded));
            }
        }
        let inner = self.inner.clone();
        let schedule = move |runnable: Runnable, info: ScheduleInfo| {
            let mut state = inner.lock();
            let number = state.numbers.get(&runnable.meta().id().as_u64()).copied();
            if let Some(number) = number {
                state.waiting.remove(&number);
            }
            let (p, max_steps) = state.plan.delay_wake;
            if state.rng.chance(p) {
                let release = state.steps + 1 + state.rng.below(max_steps as usize) as u64;
                let task = Some(state.label(runnable.meta()));
                state.log("delayed wake", task);
                state.delayed.push((release, runnable));
                return;
            }
            state.push(runnable, info.woken_while_running());
        };
        let wrapped = Faulty {
            inner: future,
            runtime: self.inner.clone(),
            polled: false,
        };
        let guard = Guard {
            inner: self.inner.clone(),
            id: None,
        };
        let (runnable, handle) = new_task(spec, wrapped, schedule, guard);
        {
            // PCT: a random priority for the new task (drawn in every
            // mode, so that a plan's draws do not depend on the mode).
            let mut state = self.inner.lock();
            let number = state.numbers.len() as u64;
            state.numbers.insert(runnable.meta().id().as_u64(), number);
            // Above every lowered priority (`next_low` counts down from
            // 2^63), so that a task a change point lowered runs last.
            let priority = PRIORITY_FLOOR | (state.rng.next_u64() >> 1);
            state.priority.insert(number, priority);
        }
        runnable.schedule();
        Ok(handle)
    }

    /// Admission that waits, as `Handle::admit`, on virtual time: a refusal
    /// the plan injects is asked again every [`ADMIT_RETRY`] of virtual
    /// time, for up to `patience` (`drama::DEFAULT_ADMIT_PATIENCE` is the
    /// real runtime's), then the last refusal is returned.
    ///
    /// # Errors
    ///
    /// The last refusal, once `patience` has passed.
    pub async fn admit(
        &self,
        tenant: TenantId,
        class: Class,
        patience: Duration,
    ) -> Result<Permit, Rejected<()>> {
        let until = self.now().saturating_add(patience);
        loop {
            match self.try_admit(tenant, class) {
                Ok(permit) => return Ok(permit),
                Err(refused) if self.now() >= until => return Err(refused),
                Err(_) => sleep(ADMIT_RETRY).await,
            }
        }
    }

    /// Admission for work that is not a task, as `Handle::try_admit`: the
    /// plan may refuse it. The permit is counted until dropped; a run that
    /// ends with permits held reports them as leaked.
    ///
    /// # Errors
    ///
    /// A refusal the plan injected (`Overloaded`).
    pub fn try_admit(&self, tenant: TenantId, class: Class) -> Result<Permit, Rejected<()>> {
        let mut state = self.inner.lock();
        if state.fires(|p| &p.refuse_admission, tenant, class, None) {
            let task = state.running.clone();
            state.log("refused admission", task);
            return Err(Rejected::new((), RejectReason::Overloaded));
        }
        state.permits += 1;
        Ok(Permit {
            inner: self.inner.clone(),
        })
    }

    /// Sets `tenant`'s weight in [`Schedule::Fair`]'s queue (shares, as
    /// `Handle::set_weight`; the other schedules ignore weights).
    ///
    /// # Errors
    ///
    /// When `weight` is not a valid weight (1 to 10,000).
    pub fn set_weight(
        &self,
        tenant: TenantId,
        weight: u32,
    ) -> Result<(), drama_policy::InvalidWeight> {
        let weight = Weight::new(weight)?;
        let _ = self.inner.lock().fair.set_weight(tenant, weight);
        Ok(())
    }

    /// The virtual clock: nanoseconds since the run began. It moves only
    /// when every task waits and a [`sleep`] is due: then it jumps to the
    /// earliest.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.inner.lock().now_ns)
    }
}

/// An admission permit of the test runtime (see
/// [`TestRuntime::try_admit`]).
#[must_use = "a permit holds its place until dropped"]
pub struct Permit {
    inner: Arc<Inner>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.inner.lock().permits -= 1;
    }
}

/// Waits `duration` of the test runtime's virtual time: no real time
/// passes; the clock jumps when every task waits. Outside a test run it
/// returns at once.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        duration,
        deadline_ns: None,
    }
}

/// The future of [`sleep`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    duration: Duration,
    deadline_ns: Option<u64>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(rt) = current() else {
            return Poll::Ready(());
        };
        let mut state = rt.inner.lock();
        let duration_ns = self.duration.as_nanos().min(u128::from(u64::MAX)) as u64;
        let now_ns = state.now_ns;
        let deadline = *self
            .deadline_ns
            .get_or_insert_with(|| now_ns.saturating_add(duration_ns));
        if state.now_ns >= deadline {
            return Poll::Ready(());
        }
        state.timer_seq += 1;
        let seq = state.timer_seq;
        state.timers.insert((deadline, seq), cx.waker().clone());
        Poll::Pending
    }
}

/// An error [`fault_point`](super::fault_point) returned because the plan
/// said so.
#[derive(Debug)]
pub struct InjectedFault {
    /// The fault point's name.
    pub name: String,
    /// The step it fired at.
    pub step: u64,
}

impl std::fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "drama::testing: fault injected at \"{}\" (step {})",
            self.name, self.step
        )
    }
}

impl std::error::Error for InjectedFault {}

/// The test-mode half of [`fault_point`](super::fault_point).
pub(crate) fn fault(name: &str) -> std::io::Result<()> {
    let Some(rt) = current() else {
        return Ok(());
    };
    let mut state = rt.inner.lock();
    let p: f64 = state
        .plan
        .faults
        .iter()
        .filter(|(n, _)| n == name)
        .map(|&(_, p)| p)
        .fold(0.0, f64::max);
    if !state.rng.chance(p) {
        return Ok(());
    }
    let task = state.running.clone();
    state.log(format!("fault {name}"), task);
    Err(std::io::Error::other(InjectedFault {
        name: name.to_string(),
        step: state.steps,
    }))
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Deadlock(waiting) => {
                write!(
                    f,
                    "deadlock: every task waits, none will be woken; waiting:"
                )?;
                for task in waiting {
                    write!(f, " [{task}]")?;
                }
                Ok(())
            }
            Failure::Livelock => write!(f, "livelock: {MAX_STEPS} polls and the body not done"),
            Failure::LeakedPermits(n) => {
                write!(f, "{n} admission permit(s) still held when the body ended")
            }
        }
    }
}

/// Why a run failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Every task waits, no timer is due, and the body has not finished.
    Deadlock(Vec<TaskLabel>),
    /// More than `MAX_STEPS` polls.
    Livelock,
    /// Permits held when the body finished.
    LeakedPermits(usize),
}

/// Runs `body` to its end on a fresh test runtime; the output, the report,
/// or the failure (the body's panic propagates as a panic).
pub(crate) fn run<B, Fut>(
    seed: u64,
    schedule: Schedule,
    plan: FaultPlan,
    body: B,
) -> (Result<Fut::Output, Failure>, Report)
where
    B: FnOnce(TestRuntime) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let rt = TestRuntime::new(seed, schedule, plan);
    let previous = CURRENT.with(|c| c.replace(Some(rt.inner.clone())));
    let base_ns = rt.inner.lock().base_ns;
    drama_core::clock::set_virtual_ns(Some(base_ns));
    /// Restores the thread's previous run and cancels what is left, even
    /// when the body panics.
    struct Exit(Option<Arc<Inner>>, Arc<Inner>);
    impl Drop for Exit {
        fn drop(&mut self) {
            let report = report(&TestRuntime {
                inner: self.1.clone(),
            });
            let _ = LAST_REPORT.try_with(|r| r.replace(Some(report)));
            cancel_all(&self.1);
            let previous = self.0.take();
            // The clock of the run this one nested in, or the real one.
            let clock = previous
                .as_ref()
                .map(|p| p.lock())
                .map(|state| state.base_ns + state.now_ns);
            drama_core::clock::set_virtual_ns(clock);
            let _ = CURRENT.try_with(|c| c.replace(previous));
        }
    }
    let _exit = Exit(previous, rt.inner.clone());
    let main = rt
        .spawn_inner(Spawn::new().name("main"), body(rt.clone()), false)
        .unwrap_or_else(|_| unreachable!("the body's spawn is not refusable"));
    let result = drive(&rt, &main);
    let output = match result {
        Ok(()) => {
            let mut main = std::pin::pin!(main);
            let waker = Waker::noop();
            match main.as_mut().poll(&mut Context::from_waker(waker)) {
                Poll::Ready(Ok(output)) => {
                    let permits = rt.inner.lock().permits;
                    if permits > 0 {
                        Err(Failure::LeakedPermits(permits))
                    } else {
                        Ok(output)
                    }
                }
                Poll::Ready(Err(error)) if error.is_panic() => {
                    let report = report(&rt);
                    print_events(&report);
                    std::panic::resume_unwind(error.into_panic())
                }
                Poll::Ready(Err(error)) => panic!("the test body did not finish: {error}"),
                Poll::Pending => unreachable!("drive returns once main is finished"),
            }
        }
        Err(failure) => Err(failure),
    };
    (output, report(&rt))
}

fn report(rt: &TestRuntime) -> Report {
    let state = rt.inner.lock();
    Report {
        seed: state.seed,
        trace_hash: state.trace,
        steps: state.steps,
        events: state.events.clone(),
    }
}

/// Prints the injected events of a failing run (the last 50).
pub(crate) fn print_events(report: &Report) {
    let skip = report.events.len().saturating_sub(50);
    for event in &report.events[skip..] {
        eprintln!("drama::testing:   {event}");
    }
}

/// The scheduler's loop: until `main` finishes, pick a runnable task by the
/// schedule and poll it; with nothing runnable, fire the earliest timer, or
/// report the deadlock.
fn drive<T>(rt: &TestRuntime, main: &JoinHandle<T>) -> Result<(), Failure> {
    loop {
        if main.is_finished() {
            return Ok(());
        }
        let (runnable, spurious) = {
            let mut state = rt.inner.lock();
            // Held-back wakes whose time came, or all of them when nothing
            // else can run.
            let steps = state.steps;
            let idle = state.nothing_runnable();
            if state.delayed.iter().any(|&(at, _)| idle || at <= steps) {
                let delayed = std::mem::take(&mut state.delayed);
                for (at, runnable) in delayed {
                    if idle || at <= steps {
                        state.push(runnable, false);
                    } else {
                        state.delayed.push((at, runnable));
                    }
                }
            }
            if state.nothing_runnable() {
                // Everything waits: the clock jumps to the next timer.
                let Some((&key, _)) = state.timers.iter().next() else {
                    let waiting = state.waiting.values().map(|(_, l)| l.clone()).collect();
                    return Err(Failure::Deadlock(waiting));
                };
                state.now_ns = state.now_ns.max(key.0);
                drama_core::clock::set_virtual_ns(Some(state.base_ns + state.now_ns));
                let due: Vec<_> = state
                    .timers
                    .range(..=(state.now_ns, u64::MAX))
                    .map(|(&k, _)| k)
                    .collect();
                let wakers: Vec<Waker> =
                    due.iter().filter_map(|k| state.timers.remove(k)).collect();
                drop(state);
                for waker in wakers {
                    waker.wake();
                }
                continue;
            }
            if state.steps >= MAX_STEPS {
                return Err(Failure::Livelock);
            }
            let runnable = state.next_task();
            let task = state.label(runnable.meta());
            let number = task.id.unwrap_or(u64::MAX);
            state.trace = (state.trace ^ number).wrapping_mul(0x0100_0000_01b3);
            state.steps += 1;
            state.now_ns += VIRTUAL_POLL_NS;
            drama_core::clock::set_virtual_ns(Some(state.base_ns + state.now_ns));
            state.running = Some(task);
            let p = state.plan.spurious_wake;
            let spurious = if !state.waiting.is_empty() && state.rng.chance(p) {
                let len = state.waiting.len();
                let n = state.rng.below(len);
                let (_, (waker, task)) = state.waiting.iter().nth(n).expect("in range");
                let (waker, task) = (waker.clone(), task.clone());
                state.log("spurious wake", Some(task));
                Some(waker)
            } else {
                None
            };
            (runnable, spurious)
        };
        if let Some(waker) = spurious {
            waker.wake();
        }
        runnable.run();
        rt.inner.lock().running = None;
    }
}

/// The index of the next task in `state.ready`, by the schedule.
fn pick(state: &mut State) -> usize {
    match state.schedule {
        Schedule::Random | Schedule::Fair { .. } => state.rng.below(state.ready.len()),
        Schedule::Pct { .. } => {
            let number = |state: &State, i: usize| {
                let id = state.ready[i].meta().id().as_u64();
                state.numbers.get(&id).copied().unwrap_or(u64::MAX)
            };
            let best = (0..state.ready.len())
                .max_by_key(|&i| {
                    let n = number(state, i);
                    (state.priority.get(&n).copied().unwrap_or(0), n)
                })
                .expect("not empty");
            if state.change_points.contains(&state.steps) {
                // The task about to run drops below every other, from now.
                let n = number(state, best);
                state.next_low -= 1;
                let low = state.next_low;
                state.priority.insert(n, low);
                let task = Some(state.label(state.ready[best].meta()));
                state.log("priority change", task);
            }
            best
        }
    }
}

/// Cancels every task left: queued ones are dropped, waiting ones are
/// woken into the (emptied) queue and dropped, until none is left.
fn cancel_all(inner: &Arc<Inner>) {
    for _ in 0..1_000 {
        let (ready, wakers): (Vec<Runnable>, Vec<Waker>) = {
            let mut state = inner.lock();
            let wakers = std::mem::take(&mut state.waiting)
                .into_values()
                .map(|(w, _)| w)
                .chain(std::mem::take(&mut state.timers).into_values())
                .collect();
            let mut ready = std::mem::take(&mut state.ready);
            ready.extend(
                std::mem::take(&mut state.delayed)
                    .into_iter()
                    .map(|(_, r)| r),
            );
            while let Some(picked) = state.fair.pick(0) {
                state.fair.charge(picked.tenant, picked.class, 0);
                ready.push(picked.item);
            }
            (ready, wakers)
        };
        if ready.is_empty() && wakers.is_empty() {
            return;
        }
        drop(ready);
        for waker in wakers {
            waker.wake();
        }
    }
}
