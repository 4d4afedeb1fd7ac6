//! The event loop: virtual workers driving one policy in virtual time.
//!
//! # Model
//!
//! Time is a `u64` of virtual nanoseconds. Events sit in a binary heap
//! ordered by `(time, sequence number)`; the sequence number is the order
//! in which events were scheduled, so events at the same instant run in a
//! fixed order and the whole run is a function of the seed and the
//! configuration.
//!
//! A request is a task that needs `service_ns` of CPU in all. A worker
//! picks it from the policy and polls it for one slice (at most
//! `poll_slice_ns`). At the end of the poll, in this order:
//!
//! 1. if the request is not finished it yields: it is re-enqueued at once,
//!    because a yielding task wakes itself *during* its poll; if it is
//!    finished and belongs to a closed loop, the loop's next request is
//!    issued, again during the poll (a task waking its follow-up);
//! 2. the worker charges the slice to the request's tenant and class,
//!    because a runtime measures a poll only once it has returned (with
//!    [`ChargeNoise`], a seeded fraction of polls is charged more than it
//!    ran: a poll the OS preempted, measured by wall time);
//! 3. the worker picks again, or goes idle if nothing is queued.
//!
//! Enqueueing wakes one idle worker, which picks at the same instant but
//! after the events already scheduled for it (so a burst is enqueued whole
//! before anything of it is picked).
//!
//! # Admission control
//!
//! With [`SimConfig::admission`], a drama-admission [`Admission`] stands in
//! front of the policy, driven in virtual time exactly as the runtime will
//! drive it:
//!
//! - every request a client issues (new work) asks
//!   [`Admission::admit`] for its tenant and class before it is enqueued.
//!   A refused request is counted by its [`RefusalKind`] and dropped, or
//!   retried as a new request after the back-off by a closed loop, like a
//!   request the policy refuses. An admitted request is never asked again:
//!   its requeues after a yield are not new work;
//! - an admitted request calls [`Admission::finish`] when its last poll
//!   ends, or when the policy refuses it after all;
//! - a monitor step every `monitor_interval_ns` feeds [`Admission::observe`]
//!   a [`Sample`]: the mean queueing delay (arrival to the start of the
//!   first poll) of the requests first polled during the step, or the age
//!   of the oldest request still waiting for its first poll when that is
//!   more, and the workers' busy share of the step. The report keeps one
//!   [`LoadPoint`] per step.
//!
//! Without it (the default) nothing of this runs: no monitor event is
//! scheduled and the trace is the same as before admission existed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use drama_admission::{Admission, AdmissionConfig, RefusalKind, Sample};
use drama_policy::{Class, Policy, TenantId};

use crate::error::{SimError, SimErrorKind};
use crate::report::{ClassReport, LoadPoint, Refusals, Report, Samples, TenantReport, Totals};
use crate::rng::Rng;
use crate::trace::Fnv1a;
use crate::workload::{Arrival, Stream, Workload, round_ns};

/// The item the simulator queues in the policy: an index into the run's
/// requests, in issue order.
pub type RequestId = u64;

/// The most virtual workers a run may have.
pub const MAX_WORKERS: usize = 4_096;

/// The most monitor steps a run with admission control may take: 2^20,
/// about 17 minutes of virtual time at the default 1 ms step. It bounds the
/// report's load series (one [`LoadPoint`] per step, under 100 MiB at the
/// bound); a run that long at the benchmarks' load would hold tens of
/// millions of requests in its request table anyway.
pub const MAX_MONITOR_STEPS: u64 = 1 << 20;

/// Extra cost charged to a seeded fraction of polls, beyond the time they
/// ran: a poll the OS preempted, which a runtime that measures wall time
/// charges in full. Virtual time and the report's CPU figures count only
/// what ran; the policy sees the inflated charge.
///
/// ```
/// use drama_sim::{ChargeNoise, SimConfig};
///
/// // One poll in 1,000, at random, is charged 5 ms more than it ran.
/// let noise = ChargeNoise::new(1_000, 5_000_000);
/// let config = SimConfig::new(1).charge_noise(Some(noise));
/// assert_eq!(config.get_charge_noise(), Some(noise));
/// assert_eq!(noise.get_one_in_polls(), 1_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargeNoise {
    one_in_polls: u64,
    extra_ns: u64,
}

impl ChargeNoise {
    /// Each poll, independently, is charged `extra_ns` more than it ran
    /// with probability `1 / one_in_polls` (at least 1: every poll).
    pub const fn new(one_in_polls: u64, extra_ns: u64) -> ChargeNoise {
        ChargeNoise {
            one_in_polls,
            extra_ns,
        }
    }

    /// One poll in how many is charged extra, on average.
    pub const fn get_one_in_polls(&self) -> u64 {
        self.one_in_polls
    }

    /// The extra charge, in nanoseconds.
    pub const fn get_extra_ns(&self) -> u64 {
        self.extra_ns
    }
}

/// How a run is carried out: seed, workers, duration, the checks, and
/// optionally admission control in front of the policy.
///
/// ```
/// use drama_admission::AdmissionConfig;
/// use drama_sim::SimConfig;
///
/// let config = SimConfig::new(42)
///     .workers(2)
///     .duration_ns(2_000_000_000)
///     .warmup_ns(500_000_000)
///     .poll_slice_ns(Some(20_000))
///     .max_wait_bound_ns(Some(100_000_000))
///     .admission(Some(AdmissionConfig::new()));
/// assert_eq!(config.get_seed(), 42);
/// assert_eq!(config.get_monitor_interval_ns(), SimConfig::DEFAULT_MONITOR_INTERVAL_NS);
/// ```
// Not `Eq`: `AdmissionConfig` holds scores as `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    seed: u64,
    workers: usize,
    duration_ns: u64,
    warmup_ns: u64,
    poll_slice_ns: Option<u64>,
    retry_backoff_ns: u64,
    max_wait_bound_ns: Option<u64>,
    charge_noise: Option<ChargeNoise>,
    admission: Option<AdmissionConfig>,
    monitor_interval_ns: u64,
}

impl SimConfig {
    /// The default number of workers: 2, like the benchmark suite.
    pub const DEFAULT_WORKERS: usize = 2;
    /// The default duration: 1 s of virtual time.
    pub const DEFAULT_DURATION_NS: u64 = 1_000_000_000;
    /// The default back-off before a closed loop retries a refused
    /// request: 100 µs.
    pub const DEFAULT_RETRY_BACKOFF_NS: u64 = 100_000;
    /// The default monitor step: 1 ms of virtual time, the runtime
    /// monitor's beat at its fastest (drama-pool's `MONITOR_MIN_INTERVAL`),
    /// and the rate drama-admission's estimator is built for ("one sample
    /// per millisecond or more"): its 4 ms window then holds four steps,
    /// and a step is short beside the 5 ms within which BENCHMARKS.md's T5
    /// asks for the load signal.
    pub const DEFAULT_MONITOR_INTERVAL_NS: u64 = 1_000_000;

    /// Defaults with `seed`: 2 workers, 1 s, no warm-up, whole requests in
    /// one poll, 100 µs retry back-off, no wait bound, no charge noise, no
    /// admission control (every request is offered to the policy).
    pub const fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            workers: Self::DEFAULT_WORKERS,
            duration_ns: Self::DEFAULT_DURATION_NS,
            warmup_ns: 0,
            poll_slice_ns: None,
            retry_backoff_ns: Self::DEFAULT_RETRY_BACKOFF_NS,
            max_wait_bound_ns: None,
            charge_noise: None,
            admission: None,
            monitor_interval_ns: Self::DEFAULT_MONITOR_INTERVAL_NS,
        }
    }

    /// Sets the seed from which every random draw of the run follows.
    pub const fn seed(mut self, seed: u64) -> SimConfig {
        self.seed = seed;
        self
    }

    /// Virtual workers sharing the one policy, in `1..=MAX_WORKERS`.
    pub const fn workers(mut self, workers: usize) -> SimConfig {
        self.workers = workers;
        self
    }

    /// When arrivals stop and the run ends; must exceed the warm-up.
    pub const fn duration_ns(mut self, duration_ns: u64) -> SimConfig {
        self.duration_ns = duration_ns;
        self
    }

    /// The start of the run excluded from the report: requests arriving
    /// before it and CPU spent before it are not counted, so that the
    /// figures describe the steady state rather than the empty start.
    pub const fn warmup_ns(mut self, warmup_ns: u64) -> SimConfig {
        self.warmup_ns = warmup_ns;
        self
    }

    /// The longest poll: a request with more service left yields after this
    /// much and is re-enqueued. `None` (the default) runs each request in
    /// one poll. `Some(0)` is refused.
    pub const fn poll_slice_ns(mut self, poll_slice_ns: Option<u64>) -> SimConfig {
        self.poll_slice_ns = poll_slice_ns;
        self
    }

    /// How long a closed-loop slot waits before retrying a refused request
    /// (at least 1 ns, so that a loop against a full queue still lets
    /// virtual time advance).
    pub const fn retry_backoff_ns(mut self, retry_backoff_ns: u64) -> SimConfig {
        self.retry_backoff_ns = retry_backoff_ns;
        self
    }

    /// When set, the run fails with [`SimErrorKind::WaitBound`] as soon as
    /// a request is picked after waiting longer than this since it was
    /// enqueued, or is still queued at the end having waited longer. A
    /// check that the policy starves nothing, for workloads whose queues
    /// are bounded (closed loops).
    pub const fn max_wait_bound_ns(mut self, max_wait_bound_ns: Option<u64>) -> SimConfig {
        self.max_wait_bound_ns = max_wait_bound_ns;
        self
    }

    /// When set, a seeded fraction of polls is charged more than it ran
    /// (see [`ChargeNoise`]). `None` (the default) charges what ran. The
    /// noise draws from their own stream, so they change no arrival,
    /// class or service time of the run.
    pub const fn charge_noise(mut self, charge_noise: Option<ChargeNoise>) -> SimConfig {
        self.charge_noise = charge_noise;
        self
    }

    /// When set, admission control ([`Admission`] with this
    /// configuration) stands in front of the policy, driven in virtual time
    /// as the runtime drives it:
    ///
    /// - each request a client issues (new work) asks
    ///   [`Admission::admit`] before it is enqueued. A refused one counts
    ///   as refused, by [`RefusalKind`](drama_admission::RefusalKind), and
    ///   is dropped, or retried as a new request after the back-off by a
    ///   closed loop. An admitted one is never asked again: a requeue after
    ///   a yield is not new work;
    /// - an admitted request calls [`Admission::finish`] when its last poll
    ///   ends, or if the policy refuses it after all;
    /// - every [`monitor_interval_ns`](Self::monitor_interval_ns) a monitor
    ///   step feeds [`Admission::observe`] a sample: the mean queueing
    ///   delay (arrival to the start of the first poll) of the requests
    ///   first polled during the step, or the age of the oldest request
    ///   still waiting for its first poll when that is more, and the
    ///   workers' busy share of the step. The report keeps one
    ///   [`LoadPoint`](crate::LoadPoint) per step.
    ///
    /// `None` (the default) admits everything: no monitor runs, and a run
    /// has the same events and trace as before admission control existed.
    pub const fn admission(mut self, admission: Option<AdmissionConfig>) -> SimConfig {
        self.admission = admission;
        self
    }

    /// The monitor step of a run with admission control (at least 1 µs;
    /// the run may take at most [`MAX_MONITOR_STEPS`]). Unused without
    /// admission control.
    pub const fn monitor_interval_ns(mut self, monitor_interval_ns: u64) -> SimConfig {
        self.monitor_interval_ns = monitor_interval_ns;
        self
    }

    /// The seed.
    pub const fn get_seed(&self) -> u64 {
        self.seed
    }

    /// The number of workers.
    pub const fn get_workers(&self) -> usize {
        self.workers
    }

    /// The duration.
    pub const fn get_duration_ns(&self) -> u64 {
        self.duration_ns
    }

    /// The warm-up.
    pub const fn get_warmup_ns(&self) -> u64 {
        self.warmup_ns
    }

    /// The longest poll, if any.
    pub const fn get_poll_slice_ns(&self) -> Option<u64> {
        self.poll_slice_ns
    }

    /// The wait bound, if any.
    pub const fn get_max_wait_bound_ns(&self) -> Option<u64> {
        self.max_wait_bound_ns
    }

    /// The charge noise, if any.
    pub const fn get_charge_noise(&self) -> Option<ChargeNoise> {
        self.charge_noise
    }

    /// The admission control configuration, if any.
    pub const fn get_admission(&self) -> Option<&AdmissionConfig> {
        self.admission.as_ref()
    }

    /// The monitor step.
    pub const fn get_monitor_interval_ns(&self) -> u64 {
        self.monitor_interval_ns
    }

    fn validate(&self) -> Result<(), SimError> {
        if self.workers == 0 || self.workers > MAX_WORKERS {
            return Err(SimError::invalid(format!(
                "workers = {} must be in 1..={MAX_WORKERS}",
                self.workers
            )));
        }
        if self.warmup_ns >= self.duration_ns {
            return Err(SimError::invalid(format!(
                "warm-up ({} ns) must be shorter than the run ({} ns)",
                self.warmup_ns, self.duration_ns
            )));
        }
        if self.poll_slice_ns == Some(0) {
            return Err(SimError::invalid("poll_slice_ns must be at least 1"));
        }
        if self.retry_backoff_ns == 0 {
            return Err(SimError::invalid("retry_backoff_ns must be at least 1"));
        }
        if let Some(noise) = self.charge_noise
            && noise.one_in_polls == 0
        {
            return Err(SimError::invalid(
                "charge noise: one_in_polls must be at least 1",
            ));
        }
        if self.admission.is_some() {
            // Shorter steps would measure single polls, not a queue.
            if self.monitor_interval_ns < MIN_MONITOR_INTERVAL_NS {
                return Err(SimError::invalid(format!(
                    "monitor_interval_ns = {} must be at least {MIN_MONITOR_INTERVAL_NS}",
                    self.monitor_interval_ns
                )));
            }
            let steps = self.duration_ns / self.monitor_interval_ns;
            if steps > MAX_MONITOR_STEPS {
                return Err(SimError::invalid(format!(
                    "{steps} monitor steps ({} ns at {} ns each) exceed the {MAX_MONITOR_STEPS} a run may take",
                    self.duration_ns, self.monitor_interval_ns
                )));
            }
        }
        Ok(())
    }
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig::new(0)
    }
}

/// Runs `workload` against `policy` under `config` and reports what
/// happened.
///
/// `policy` must be empty; the simulator sets each tenant's weight, then
/// drives it alone until `duration_ns`. Any policy works, boxed or not:
/// `run(&config, &workload, &mut *boxed)` for a `Box<dyn Policy<u64>>`.
///
/// # Errors
///
/// A configuration or workload out of range, a weight the policy refuses,
/// or a broken invariant of the policy protocol (see [`SimErrorKind`]): a
/// `len` that disagrees with the simulator's count, an item lost,
/// duplicated or altered, or (with `max_wait_bound_ns`) a request left
/// waiting too long.
pub fn run<P>(config: &SimConfig, workload: &Workload, policy: &mut P) -> Result<Report, SimError>
where
    P: Policy<RequestId> + ?Sized,
{
    config.validate()?;
    workload.validate()?;
    let admission = match config.admission {
        Some(admission) => Some(
            Admission::new(admission)
                .map_err(|error| SimError::invalid(format!("admission: {error}")))?,
        ),
        None => None,
    };
    if !policy.is_empty() {
        return Err(SimError::new(
            SimErrorKind::PolicyNotEmpty,
            0,
            format!("the policy holds {} items before the run", policy.len()),
        ));
    }
    let mut sim = Sim::new(config, workload, policy, admission);
    sim.start()?;
    sim.run_events()?;
    sim.finish()
}

/// Slot number of a request that belongs to no closed loop.
const NO_SLOT: u32 = u32::MAX;

/// Trace record tags, hashed before each record's fields.
const TRACE_ENQUEUE: u64 = 1;
const TRACE_REFUSE: u64 = 2;
const TRACE_PICK: u64 = 3;
/// Only with admission control, so that a run without it keeps its trace.
const TRACE_ADMISSION_REFUSE: u64 = 4;
const TRACE_MONITOR: u64 = 5;

/// The shortest monitor step accepted: 1 µs, ten times shorter than the
/// shortest request of the scenarios. A shorter step would sample single
/// polls rather than a queue.
const MIN_MONITOR_INTERVAL_NS: u64 = 1_000;

/// The `purpose` of the charge noise's random stream (streams use 0 and 1),
/// drawn with tenant and stream coordinates no stream has.
const NOISE_PURPOSE: u64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// An open-loop stream's next arrival (one request, or a burst).
    Arrival { stream: usize },
    /// A closed-loop slot issues a request: at the start, and after the
    /// back-off following a refusal.
    Issue { stream: usize, slot: u32 },
    /// A worker's poll ends.
    PollEnd { worker: usize },
    /// An idle worker was woken by an enqueue.
    Wake { worker: usize },
    /// A monitor step ends (only with admission control).
    Monitor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReqState {
    Issued,
    Queued,
    Running,
    Done,
    Refused,
}

struct Request {
    stream: u32,
    slot: u32,
    class: Class,
    arrival_ns: u64,
    enqueued_at_ns: u64,
    picked: bool,
    remaining_ns: u64,
    state: ReqState,
    /// When the task's previous poll ended: this request's, or for the
    /// first request after a closed-loop slot's completion, the completing
    /// poll of the one before (the slot is one task serving requests in
    /// turn). `None` before its first poll otherwise.
    last_poll_end_ns: Option<u64>,
    /// Admission control admitted it: it must `finish` when it ends.
    admitted: bool,
}

#[derive(Debug, Clone, Copy)]
enum Worker {
    Idle,
    Waking,
    Busy {
        request: RequestId,
        start_ns: u64,
        slice_ns: u64,
    },
}

struct StreamState<'w> {
    tenant: usize,
    spec: &'w Stream,
    /// Draws inter-arrival gaps only, so arrival times do not depend on how
    /// many other draws the stream made.
    arrival_rng: Rng,
    /// Draws each request's class and service time.
    request_rng: Rng,
}

/// Per tenant and class, what the report needs.
#[derive(Default)]
struct Acc {
    generated: u64,
    completed: u64,
    refused: u64,
    admitted: u64,
    refused_by_admission: Refusals,
    cpu_ns: u64,
    polls: u64,
    max_poll_gap_ns: Option<u64>,
    latency_ns: Vec<u64>,
    queue_wait_ns: Vec<u64>,
}

impl Acc {
    fn poll_gap(&mut self, gap_ns: u64) {
        self.max_poll_gap_ns = Some(self.max_poll_gap_ns.map_or(gap_ns, |m| m.max(gap_ns)));
    }
}

struct Sim<'a, P: ?Sized> {
    config: &'a SimConfig,
    workload: &'a Workload,
    policy: &'a mut P,
    now_ns: u64,
    seq: u64,
    events: BinaryHeap<Reverse<(u64, u64, Event)>>,
    streams: Vec<StreamState<'a>>,
    requests: Vec<Request>,
    workers: Vec<Worker>,
    /// Idle workers, the most recently idled last: it is woken first, as a
    /// thread pool that parks its threads in LIFO order would.
    idle: Vec<usize>,
    /// Requests in the policy, by the simulator's own count.
    queued: usize,
    totals: Totals,
    acc: Vec<[Acc; Class::COUNT]>,
    trace: Fnv1a,
    /// Draws which polls are charged extra; used only with charge noise.
    noise_rng: Rng,
    /// Admission control, when the run has it.
    admission: Option<Admission>,
    /// What the current monitor step has seen so far.
    step: Step,
    /// One point per monitor step.
    load: Vec<LoadPoint>,
}

/// What the monitor measures over one step, and what admission decided
/// during it.
#[derive(Default)]
struct Step {
    start_ns: u64,
    /// Poll time within the step of the polls that ended during it (those
    /// still running at the end of the step are added then).
    busy_ns: u64,
    /// Requests whose first poll started during the step, and the sum of
    /// their waits from arrival.
    first_polls: u64,
    first_wait_sum_ns: u64,
    /// Polls that ended during the step, and the sum of their lengths.
    polls_ended: u64,
    poll_len_sum_ns: u64,
    admitted: u64,
    refused: u64,
    first_refusal_ns: Option<u64>,
    last_refusal_ns: Option<u64>,
    /// No request before this index waits for its first poll: requests
    /// are numbered in arrival order, and one that has been polled,
    /// refused or finished never waits for its first poll again, so the
    /// oldest waiting one is found by moving this forward only.
    oldest_waiting: usize,
}

impl<'a, P: Policy<RequestId> + ?Sized> Sim<'a, P> {
    fn new(
        config: &'a SimConfig,
        workload: &'a Workload,
        policy: &'a mut P,
        admission: Option<Admission>,
    ) -> Sim<'a, P> {
        let mut streams = Vec::new();
        for (tenant_idx, tenant) in workload.tenants().iter().enumerate() {
            for (stream_idx, spec) in tenant.streams().iter().enumerate() {
                streams.push(StreamState {
                    tenant: tenant_idx,
                    spec,
                    arrival_rng: Rng::for_stream(config.seed, tenant_idx, stream_idx, 0),
                    request_rng: Rng::for_stream(config.seed, tenant_idx, stream_idx, 1),
                });
            }
        }
        Sim {
            config,
            workload,
            policy,
            now_ns: 0,
            seq: 0,
            events: BinaryHeap::new(),
            streams,
            requests: Vec::new(),
            workers: vec![Worker::Idle; config.workers],
            idle: (0..config.workers).rev().collect(),
            queued: 0,
            totals: Totals::default(),
            acc: workload
                .tenants()
                .iter()
                .map(|_| Default::default())
                .collect(),
            trace: Fnv1a::new(),
            noise_rng: Rng::for_stream(config.seed, usize::MAX, usize::MAX, NOISE_PURPOSE),
            admission,
            step: Step::default(),
            load: Vec::new(),
        }
    }

    fn schedule(&mut self, at_ns: u64, event: Event) {
        self.events.push(Reverse((at_ns, self.seq, event)));
        self.seq += 1;
    }

    fn start(&mut self) -> Result<(), SimError> {
        for (idx, tenant) in self.workload.tenants().iter().enumerate() {
            self.policy
                .set_weight(tenant_id(idx), tenant.get_weight())
                .map_err(|overflow| {
                    SimError::new(
                        SimErrorKind::WeightRefused,
                        0,
                        format!(
                            "tenant `{}` ({}): {overflow}",
                            tenant.name(),
                            tenant_id(idx)
                        ),
                    )
                })?;
            if let Some(admission) = &mut self.admission {
                admission.set_weight(tenant_id(idx), tenant.get_weight());
            }
        }
        if self.admission.is_some() {
            self.schedule(self.config.monitor_interval_ns, Event::Monitor);
        }
        for stream in 0..self.streams.len() {
            match *self.streams[stream].spec.arrival() {
                Arrival::Poisson { .. } | Arrival::Bursty { .. } | Arrival::Ramp { .. } => {
                    self.schedule_next_arrival(stream);
                }
                Arrival::ClosedLoop { in_flight } => {
                    for slot in 0..in_flight {
                        self.schedule(0, Event::Issue { stream, slot });
                    }
                }
            }
        }
        Ok(())
    }

    fn run_events(&mut self) -> Result<(), SimError> {
        while let Some(&Reverse((at_ns, _, event))) = self.events.peek() {
            if at_ns >= self.config.duration_ns {
                break;
            }
            self.events.pop();
            self.now_ns = at_ns;
            match event {
                Event::Arrival { stream } => {
                    let n = match *self.streams[stream].spec.arrival() {
                        Arrival::Bursty { burst_len, .. } => burst_len,
                        _ => 1,
                    };
                    for _ in 0..n {
                        self.issue(stream, NO_SLOT, None)?;
                    }
                    self.schedule_next_arrival(stream);
                }
                Event::Issue { stream, slot } => self.issue(stream, slot, None)?,
                Event::PollEnd { worker } => self.poll_end(worker)?,
                Event::Wake { worker } => {
                    self.workers[worker] = Worker::Idle;
                    self.try_pick(worker)?;
                }
                Event::Monitor => self.monitor(),
            }
            self.check_len()?;
        }
        self.now_ns = self.config.duration_ns;
        Ok(())
    }

    /// Schedules an open-loop stream's next arrival, unless it would fall
    /// after the end of the run or of the stream's window.
    fn schedule_next_arrival(&mut self, stream: usize) {
        let state = &mut self.streams[stream];
        let (from_ns, until_ns) = state.spec.window_ns();
        let since_ns = self.now_ns.max(from_ns);
        let Some(gap_ns) = state
            .spec
            .arrival()
            .gap_ns(since_ns - from_ns, &mut state.arrival_rng)
        else {
            return;
        };
        let at_ns = since_ns.saturating_add(round_ns(gap_ns));
        if at_ns < self.config.duration_ns && at_ns < until_ns {
            self.schedule(at_ns, Event::Arrival { stream });
        }
    }

    /// A client issues a new request of `stream` (for closed-loop `slot`)
    /// now, and submits it to the policy. `last_poll_end_ns`: when the
    /// slot's task last ran, if it continues from a completed request.
    fn issue(
        &mut self,
        stream: usize,
        slot: u32,
        last_poll_end_ns: Option<u64>,
    ) -> Result<(), SimError> {
        let state = &mut self.streams[stream];
        let class = state.spec.draw_class(&mut state.request_rng);
        let service_ns = state.spec.service().draw_ns(&mut state.request_rng);
        let tenant = state.tenant;
        let id = self.requests.len() as RequestId;
        self.requests.push(Request {
            stream: stream as u32,
            slot,
            class,
            arrival_ns: self.now_ns,
            enqueued_at_ns: self.now_ns,
            picked: false,
            remaining_ns: service_ns,
            state: ReqState::Issued,
            last_poll_end_ns,
            admitted: false,
        });
        self.totals.generated += 1;
        let counted = self.now_ns >= self.config.warmup_ns;
        if counted {
            self.acc[tenant][class.priority()].generated += 1;
        }
        // New work asks admission control, when there is one, before it
        // reaches the policy.
        let verdict = match &mut self.admission {
            Some(admission) => match admission.admit(tenant_id(tenant), class) {
                Ok(()) => {
                    self.requests[id as usize].admitted = true;
                    Ok(())
                }
                Err(refusal) => Err(refusal.kind()),
            },
            None => Ok(()),
        };
        match verdict {
            Ok(()) => {
                self.totals.admitted += 1;
                if counted {
                    self.acc[tenant][class.priority()].admitted += 1;
                }
                self.step.admitted += 1;
                self.submit(id, false)
            }
            Err(kind) => {
                self.refuse(id, Some(kind));
                Ok(())
            }
        }
    }

    /// Enqueues request `id` now: a new request (`resumed` false), or one
    /// that yielded (requeued: behind its tenant's fresh work).
    fn submit(&mut self, id: RequestId, resumed: bool) -> Result<(), SimError> {
        let now_ns = self.now_ns;
        let r = &self.requests[id as usize];
        let tenant = self.streams[r.stream as usize].tenant;
        let class = r.class;
        let queued = if resumed {
            self.policy.requeue(id, tenant_id(tenant), class, now_ns)
        } else {
            self.policy.enqueue(id, tenant_id(tenant), class, now_ns)
        };
        match queued {
            Ok(()) => {
                let r = &mut self.requests[id as usize];
                r.state = ReqState::Queued;
                r.enqueued_at_ns = now_ns;
                self.queued += 1;
                self.totals.enqueues += 1;
                self.trace
                    .record(&[TRACE_ENQUEUE, now_ns, tenant as u64, class as u64, id]);
                self.wake_one();
            }
            Err(overflow) => {
                let back = overflow.into_inner();
                if back != id {
                    return Err(SimError::new(
                        SimErrorKind::BadOverflow,
                        now_ns,
                        format!(
                            "enqueue of request {id} was refused with request {back} handed back"
                        ),
                    ));
                }
                self.refuse(id, None);
            }
        }
        Ok(())
    }

    /// Request `id` is refused now: by admission control on arrival (with
    /// the kind of refusal), or by the policy (`None`). The client drops
    /// it; a closed loop issues a new request after the back-off.
    fn refuse(&mut self, id: RequestId, by_admission: Option<RefusalKind>) {
        let now_ns = self.now_ns;
        let r = &mut self.requests[id as usize];
        r.state = ReqState::Refused;
        let (slot, stream, class, arrival_ns) = (r.slot, r.stream as usize, r.class, r.arrival_ns);
        // Admitted work the policy refuses after all ends here.
        let finished = std::mem::take(&mut r.admitted);
        let tenant = self.streams[stream].tenant;
        self.totals.refused += 1;
        let counted = arrival_ns >= self.config.warmup_ns;
        if counted {
            self.acc[tenant][class.priority()].refused += 1;
        }
        match by_admission {
            None => {
                if finished && let Some(admission) = &mut self.admission {
                    admission.finish(tenant_id(tenant));
                }
                self.trace
                    .record(&[TRACE_REFUSE, now_ns, tenant as u64, class as u64, id]);
            }
            Some(kind) => {
                self.totals.admission_refused += 1;
                if counted {
                    self.acc[tenant][class.priority()]
                        .refused_by_admission
                        .add(kind, 1);
                }
                self.step.refused += 1;
                self.step.first_refusal_ns.get_or_insert(now_ns);
                self.step.last_refusal_ns = Some(now_ns);
                self.trace.record(&[
                    TRACE_ADMISSION_REFUSE,
                    now_ns,
                    tenant as u64,
                    class as u64,
                    id,
                    refusal_code(kind),
                ]);
            }
        }
        if slot != NO_SLOT {
            let at_ns = now_ns.saturating_add(self.config.retry_backoff_ns);
            self.schedule(at_ns, Event::Issue { stream, slot });
        }
    }

    fn wake_one(&mut self) {
        if let Some(worker) = self.idle.pop() {
            self.workers[worker] = Worker::Waking;
            self.schedule(self.now_ns, Event::Wake { worker });
        }
    }

    /// `worker` (idle) picks the next request, or stays idle.
    fn try_pick(&mut self, worker: usize) -> Result<(), SimError> {
        let now_ns = self.now_ns;
        let Some(picked) = self.policy.pick(now_ns) else {
            if self.queued > 0 {
                return Err(SimError::new(
                    SimErrorKind::LostItem,
                    now_ns,
                    format!("pick returned nothing with {} requests queued", self.queued),
                ));
            }
            self.idle.push(worker);
            return Ok(());
        };
        let id = picked.item;
        let bad_pick = |why: String| {
            SimError::new(
                SimErrorKind::BadPick,
                now_ns,
                format!("worker {worker} picked request {id}: {why}"),
            )
        };
        let Some(r) = self.requests.get_mut(id as usize) else {
            return Err(bad_pick("no such request".into()));
        };
        if r.state != ReqState::Queued {
            return Err(bad_pick(format!("it is not queued ({:?})", r.state)));
        }
        let tenant = self.streams[r.stream as usize].tenant;
        if picked.tenant != tenant_id(tenant) || picked.class != r.class {
            return Err(bad_pick(format!(
                "it was queued as ({}, {}) but came out as ({}, {})",
                tenant_id(tenant),
                r.class,
                picked.tenant,
                picked.class
            )));
        }
        if picked.enqueued_at_ns != r.enqueued_at_ns {
            return Err(bad_pick(format!(
                "it was enqueued at {} ns but came out stamped {} ns",
                r.enqueued_at_ns, picked.enqueued_at_ns
            )));
        }
        let waited_ns = now_ns - r.enqueued_at_ns;
        if let Some(bound_ns) = self.config.max_wait_bound_ns
            && waited_ns > bound_ns
        {
            return Err(SimError::new(
                SimErrorKind::WaitBound,
                now_ns,
                format!(
                    "request {id} of {} ({}) waited {waited_ns} ns, over the bound of {bound_ns} ns",
                    tenant_id(tenant),
                    r.class
                ),
            ));
        }
        r.state = ReqState::Running;
        let class = r.class;
        // The wait between two polls of one task, counted when it ends
        // after the warm-up.
        if let Some(end_ns) = r.last_poll_end_ns
            && now_ns >= self.config.warmup_ns
        {
            self.acc[tenant][class.priority()].poll_gap(now_ns - end_ns);
        }
        let slice_ns = match self.config.poll_slice_ns {
            Some(slice_ns) => r.remaining_ns.min(slice_ns),
            None => r.remaining_ns,
        };
        if !r.picked {
            r.picked = true;
            let wait_ns = now_ns - r.arrival_ns;
            if r.arrival_ns >= self.config.warmup_ns {
                self.acc[tenant][class.priority()]
                    .queue_wait_ns
                    .push(wait_ns);
            }
            if self.admission.is_some() {
                self.step.first_polls += 1;
                self.step.first_wait_sum_ns = self.step.first_wait_sum_ns.saturating_add(wait_ns);
            }
        }
        self.queued -= 1;
        self.totals.picks += 1;
        self.workers[worker] = Worker::Busy {
            request: id,
            start_ns: now_ns,
            slice_ns,
        };
        self.schedule(now_ns.saturating_add(slice_ns), Event::PollEnd { worker });
        self.trace.record(&[
            TRACE_PICK,
            now_ns,
            worker as u64,
            tenant as u64,
            class as u64,
            id,
        ]);
        Ok(())
    }

    fn poll_end(&mut self, worker: usize) -> Result<(), SimError> {
        let Worker::Busy {
            request: id,
            start_ns,
            slice_ns,
        } = self.workers[worker]
        else {
            // Only a pick schedules a PollEnd, and only the PollEnd ends
            // the Busy state, so this cannot happen.
            debug_assert!(false, "poll end of a worker that is not busy");
            return Ok(());
        };
        let now_ns = self.now_ns;
        let r = &mut self.requests[id as usize];
        r.remaining_ns -= slice_ns;
        let (stream, slot, class, arrival_ns) = (r.stream as usize, r.slot, r.class, r.arrival_ns);
        let tenant = self.streams[stream].tenant;
        // During the poll: the task yields (wakes itself), or finishes and
        // its closed loop issues the follow-up.
        if r.remaining_ns > 0 {
            r.last_poll_end_ns = Some(now_ns);
            self.submit(id, true)?;
        } else {
            r.state = ReqState::Done;
            if std::mem::take(&mut r.admitted)
                && let Some(admission) = &mut self.admission
            {
                admission.finish(tenant_id(tenant));
            }
            self.totals.completed += 1;
            if arrival_ns >= self.config.warmup_ns {
                let acc = &mut self.acc[tenant][class.priority()];
                acc.completed += 1;
                acc.latency_ns.push(now_ns - arrival_ns);
            }
            if slot != NO_SLOT {
                self.issue(stream, slot, Some(now_ns))?;
            }
        }
        // After the poll: charge what it cost (plus the noise, if this poll
        // draws it). Only the part after the warm-up counts in the report.
        let extra_ns = match self.config.charge_noise {
            Some(noise) if self.noise_rng.below(noise.one_in_polls) == 0 => {
                self.totals.noisy_charges += 1;
                noise.extra_ns
            }
            _ => 0,
        };
        self.policy
            .charge(tenant_id(tenant), class, slice_ns.saturating_add(extra_ns));
        let counted_from_ns = start_ns.max(self.config.warmup_ns);
        if now_ns > counted_from_ns {
            let acc = &mut self.acc[tenant][class.priority()];
            acc.cpu_ns += now_ns - counted_from_ns;
        }
        if now_ns > self.config.warmup_ns {
            self.acc[tenant][class.priority()].polls += 1;
        }
        if self.admission.is_some() {
            self.step.busy_ns += now_ns - start_ns.max(self.step.start_ns);
            self.step.polls_ended += 1;
            self.step.poll_len_sum_ns += now_ns - start_ns;
        }
        self.workers[worker] = Worker::Idle;
        self.try_pick(worker)
    }

    /// A monitor step ends: measure it, feed admission control, record the
    /// point, and schedule the next step.
    fn monitor(&mut self) {
        let now_ns = self.now_ns;
        let step = std::mem::take(&mut self.step);
        // The workers' poll time within the step: the polls that ended
        // during it, and the part so far of those still running.
        let running_ns: u64 = self
            .workers
            .iter()
            .map(|worker| match *worker {
                Worker::Busy { start_ns, .. } => now_ns - start_ns.max(step.start_ns),
                Worker::Idle | Worker::Waking => 0,
            })
            .sum();
        let busy_ns = step.busy_ns + running_ns;
        let capacity_ns = (now_ns - step.start_ns).saturating_mul(self.config.workers as u64);
        let utilization = if capacity_ns == 0 {
            0.0
        } else {
            busy_ns as f64 / capacity_ns as f64
        };
        // The queueing delay: the mean wait of the first polls the step
        // started, or the age of the oldest request still waiting for its
        // first poll when that is more. A queue behind polls that never end
        // starts no poll, and under a newest-first policy the waits of the
        // polls started say little about the ones left behind.
        let mean_wait_ns = step
            .first_wait_sum_ns
            .checked_div(step.first_polls)
            .unwrap_or(0);
        let mut oldest_waiting = step.oldest_waiting;
        while self
            .requests
            .get(oldest_waiting)
            .is_some_and(|r| r.picked || r.state != ReqState::Queued)
        {
            oldest_waiting += 1;
        }
        let oldest_age_ns = self
            .requests
            .get(oldest_waiting)
            .map_or(0, |r| now_ns - r.arrival_ns);
        let queue_delay_ns = mean_wait_ns.max(oldest_age_ns);
        let Some(admission) = &mut self.admission else {
            // Only a run with admission control schedules the monitor.
            debug_assert!(false, "a monitor step without admission control");
            return;
        };
        admission.observe(Sample {
            now_ns,
            queue_delay_ns,
            utilization,
            backlog: self.queued as u64,
            // Admission counts its own.
            in_flight: 0,
            poll_ns: step
                .poll_len_sum_ns
                .checked_div(step.polls_ended)
                .unwrap_or(0),
            workers: self.config.workers as u32,
        });
        let load = admission.load();
        // The sample's inputs, in integers: the load itself is computed
        // with `exp`, which need not round alike everywhere; the decisions
        // that follow from it are recorded as they happen.
        self.trace
            .record(&[TRACE_MONITOR, now_ns, queue_delay_ns, busy_ns]);
        self.load.push(LoadPoint {
            at_ns: now_ns,
            queue_delay_ns,
            utilization,
            load,
            admitted: step.admitted,
            refused: step.refused,
            first_refusal_ns: step.first_refusal_ns,
            last_refusal_ns: step.last_refusal_ns,
        });
        self.step = Step {
            start_ns: now_ns,
            oldest_waiting,
            ..Step::default()
        };
        let next_ns = now_ns.saturating_add(self.config.monitor_interval_ns);
        if next_ns < self.config.duration_ns {
            self.schedule(next_ns, Event::Monitor);
        }
    }

    fn check_len(&self) -> Result<(), SimError> {
        let len = self.policy.len();
        if len != self.queued {
            return Err(SimError::new(
                SimErrorKind::LenMismatch,
                self.now_ns,
                format!(
                    "policy.len() = {len} but {} requests are queued",
                    self.queued
                ),
            ));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Report, SimError> {
        let now_ns = self.now_ns;
        self.check_len()?;
        let len = self.policy.len() as u64;
        if self.totals.enqueues != self.totals.picks + len {
            return Err(SimError::new(
                SimErrorKind::LostItem,
                now_ns,
                format!(
                    "{} enqueues but {} picks and {len} still queued",
                    self.totals.enqueues, self.totals.picks
                ),
            ));
        }
        self.totals.queued = len;
        self.totals.in_service = self
            .workers
            .iter()
            .filter(|w| matches!(w, Worker::Busy { .. }))
            .count() as u64;
        let t = &self.totals;
        if t.generated != t.admitted + t.admission_refused {
            return Err(SimError::new(
                SimErrorKind::LostItem,
                now_ns,
                format!(
                    "generated {} != admitted {} + refused by admission {}",
                    t.generated, t.admitted, t.admission_refused
                ),
            ));
        }
        // Every request queued or in a poll was admitted and has not
        // finished: admission control must count exactly those in flight.
        if let Some(admission) = &self.admission
            && admission.in_flight() != t.queued + t.in_service
        {
            return Err(SimError::new(
                SimErrorKind::LostItem,
                now_ns,
                format!(
                    "admission control counts {} requests in flight, but {} are queued and {} in service",
                    admission.in_flight(),
                    t.queued,
                    t.in_service
                ),
            ));
        }
        if t.generated != t.completed + t.refused + t.queued + t.in_service {
            return Err(SimError::new(
                SimErrorKind::LostItem,
                now_ns,
                format!(
                    "generated {} != completed {} + refused {} + queued {} + in service {}",
                    t.generated, t.completed, t.refused, t.queued, t.in_service
                ),
            ));
        }
        // A task still waiting for its next poll at the end has waited at
        // least this long: its gap counts, or a task starved past the end
        // of the run would go unseen.
        for r in &self.requests {
            if let (ReqState::Queued, Some(end_ns)) = (r.state, r.last_poll_end_ns) {
                let tenant = self.streams[r.stream as usize].tenant;
                self.acc[tenant][r.class.priority()].poll_gap(now_ns - end_ns);
            }
        }
        if let Some(bound_ns) = self.config.max_wait_bound_ns {
            let stuck =
                self.requests.iter().enumerate().find(|(_, r)| {
                    r.state == ReqState::Queued && now_ns - r.enqueued_at_ns > bound_ns
                });
            if let Some((id, r)) = stuck {
                return Err(SimError::new(
                    SimErrorKind::WaitBound,
                    now_ns,
                    format!(
                        "request {id} of {} ({}) is still queued after {} ns, over the bound of {bound_ns} ns",
                        tenant_id(self.streams[r.stream as usize].tenant),
                        r.class,
                        now_ns - r.enqueued_at_ns
                    ),
                ));
            }
        }
        let tenants = self
            .workload
            .tenants()
            .iter()
            .zip(std::mem::take(&mut self.acc))
            .enumerate()
            .map(|(idx, (tenant, accs))| TenantReport {
                name: tenant.name().to_string(),
                id: tenant_id(idx),
                weight: tenant.get_weight(),
                classes: accs.map(|a| ClassReport {
                    generated: a.generated,
                    completed: a.completed,
                    refused: a.refused,
                    admitted: a.admitted,
                    refused_by_admission: a.refused_by_admission,
                    cpu_ns: a.cpu_ns,
                    polls: a.polls,
                    max_poll_gap_ns: a.max_poll_gap_ns,
                    latency_ns: Samples::from_unsorted(a.latency_ns),
                    queue_wait_ns: Samples::from_unsorted(a.queue_wait_ns),
                }),
            })
            .collect();
        Ok(Report {
            seed: self.config.seed,
            workers: self.config.workers,
            duration_ns: self.config.duration_ns,
            warmup_ns: self.config.warmup_ns,
            tenants,
            totals: self.totals,
            trace_hash: self.trace.finish(),
            load: self.load,
        })
    }
}

/// A refusal kind as a trace word: fixed numbers, so that a trace hash does
/// not depend on how the enum is laid out.
fn refusal_code(kind: RefusalKind) -> u64 {
    match kind {
        RefusalKind::Overloaded => 1,
        RefusalKind::OverShare => 2,
        RefusalKind::QueueFull => 3,
        RefusalKind::TenantQueueFull => 4,
        RefusalKind::DeadlineUnreachable => 5,
        RefusalKind::UnknownTenant => 6,
        RefusalKind::IoDepth(io) => 16 + io.index() as u64,
        // A kind newer than this simulator.
        _ => u64::from(u32::MAX),
    }
}

/// Tenant `idx` of the workload is scheduled as id `idx + 1`, leaving id 0
/// to drama's default tenant. The workload's validation keeps `idx + 1`
/// within `u32`.
fn tenant_id(idx: usize) -> TenantId {
    TenantId::new(idx as u32 + 1)
}
