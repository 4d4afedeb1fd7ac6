//! The saturation estimate: how long a task admitted now would wait for a
//! worker, whether the pool is busy enough for that to be overload, and
//! one load score.

use std::collections::VecDeque;

/// One measurement step, from the runtime's monitor (or a simulator).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// The end of the step, on the caller's clock, in ns. Steps are taken
    /// in order; a time before the last one counts as the last one.
    pub now_ns: u64,
    /// How long runnable tasks waited during the step, from their spawn or
    /// wake to the start of their poll: the mean over the polls the step
    /// started, or the age of the oldest task still waiting when that is
    /// more (a queue behind polls that never end starts none).
    pub queue_delay_ns: u64,
    /// The share of the workers' time spent polling during the step, in
    /// 0..=1 (values outside are clamped).
    pub utilization: f64,
    /// Runnable tasks waiting for a worker at the end of the step (queued,
    /// not being polled).
    pub backlog: u64,
    /// Admitted work in flight at the end of the step, as the caller counts
    /// it for [`Ask::in_flight`](crate::Ask::in_flight): what the
    /// decisions until the next step compare with, to see how much new
    /// work has joined the backlog since.
    pub in_flight: u64,
    /// The mean length of the polls that ended during the step, in ns; 0
    /// when none did (the estimate keeps the last one).
    pub poll_ns: u64,
    /// The workers that drain the backlog (at least 1).
    pub workers: u32,
}

/// The load as the estimator sees it, at its last step.
///
/// The decisions until the next step read it with the work in flight at
/// the time of the decision ([`backlog_at`](Self::backlog_at),
/// [`delay_at`](Self::delay_at), [`score_at`](Self::score_at)): work
/// admitted since the step is in the backlog now, work finished since has
/// left it, so the estimate of the wait moves with every spawn instead of
/// once per step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Load {
    /// 0 idle, 1 saturated (a task admitted at the step would wait the
    /// target), above 1 overloaded, by that factor: the larger of the
    /// utilization and the backlog's predicted wait over the target. The
    /// utilization part approaches 1 as the workers stay busy: continuous,
    /// so the score rises before anything is refused.
    pub score: f64,
    /// The smallest queueing delay seen over the window: the standing
    /// queue, which a burst that drains within the window does not raise.
    pub standing_delay_ns: u64,
    /// The workers' utilization, averaged over about a window.
    pub utilization: f64,
    /// The runnable tasks waiting at the step.
    pub backlog: u64,
    /// The work in flight at the step.
    pub in_flight: u64,
    /// How much queueing delay each waiting task adds, in ns: the mean poll
    /// (averaged over about a window) over the workers.
    pub delay_per_task_ns: f64,
    /// The queueing-delay target (score 1).
    pub target_delay_ns: u64,
    /// Whether a backlog is overload rather than a burst to wait out: the
    /// workers' utilization (over about a window) is at least the
    /// configured `arm_utilization`, or a queue has stood for the window
    /// (the standing delay is past it), or the backlog at the step takes
    /// half a window to drain. While not armed, only a backlog predicted to
    /// wait the window is refused (a burst is admitted up to that).
    pub armed: bool,
    /// The window: the longest predicted wait admitted while not armed.
    pub window_ns: u64,
}

impl Load {
    /// The load of an idle pool before any step, for a `target_delay_ns`
    /// and a `window_ns`.
    pub const fn idle(target_delay_ns: u64, window_ns: u64) -> Load {
        Load {
            score: 0.0,
            standing_delay_ns: 0,
            utilization: 0.0,
            backlog: 0,
            in_flight: 0,
            delay_per_task_ns: 0.0,
            target_delay_ns,
            armed: false,
            window_ns,
        }
    }

    /// The backlog with `in_flight` work in flight now: the step's backlog,
    /// plus the work admitted since, less the work finished since. (A task
    /// that finishes leaves a worker, not the queue, but with one poll per
    /// task a worker it leaves takes the next one from the queue at once.)
    pub const fn backlog_at(&self, in_flight: u64) -> u64 {
        (self.backlog + in_flight).saturating_sub(self.in_flight)
    }

    /// The predicted queueing delay of work admitted with `in_flight` work
    /// in flight now, in ns.
    pub fn delay_at(&self, in_flight: u64) -> u64 {
        (self.backlog_at(in_flight) as f64 * self.delay_per_task_ns) as u64
    }

    /// The load score with `in_flight` work in flight now (see
    /// [`score`](Self::score)).
    /// Not armed, the predicted wait counts from the window on.
    pub fn score_at(&self, in_flight: u64) -> f64 {
        let delay_ns = self.delay_at(in_flight);
        if !self.armed && delay_ns < self.window_ns {
            return self.utilization;
        }
        (delay_ns as f64 / self.target_delay_ns as f64).max(self.utilization)
    }

    /// The backlog at which the predicted delay reaches `score` times the
    /// target; `u64::MAX` for an infinite score or before any poll was
    /// measured.
    pub fn backlog_limit(&self, score: f64) -> u64 {
        let tasks = (score * self.target_delay_ns as f64 / self.delay_per_task_ns).ceil();
        if tasks.is_nan() || tasks >= u64::MAX as f64 {
            u64::MAX
        } else {
            tasks as u64
        }
    }
}

/// How far below the arming utilization the utilization must fall for an
/// armed load to disarm: 0.1 (from 0.95, at 0.85). A pool offered about
/// its capacity idles now and then, and its utilization's average wanders
/// around 0.95; without the margin the load disarmed on every dip and let
/// a burst of up to a window's wait in (on the real runtime, 2 to 7 % of
/// the requests at 1x capacity then expired: the overload benchmark, T1).
/// At 0.15 a steady 0.7x load, whose average reaches 0.8 now and then,
/// stayed armed and had requests refused (drama-sim T5, seed 8).
pub(crate) const DISARM_MARGIN: f64 = 0.1;

/// At most this many samples are kept for the window's minimum; past it,
/// a new sample is merged into the newest kept one (which then lives a
/// little longer: by one sampling interval, and only for a caller that
/// samples more than 256 times per window, which the runtime's monitor, at
/// one sample per millisecond or more, never does).
pub(crate) const MAX_WINDOW_SAMPLES: usize = 256;

/// The saturation estimate: the standing delay (CoDel's minimum over an
/// interval) and the utilization (a time-weighted moving average over about
/// a window), folded into a [`Load`]. [`Admission`](crate::Admission) holds
/// one; a concurrent runtime holds one in its monitor and publishes the
/// load to the threads that decide.
#[derive(Clone, Debug)]
pub struct Estimator {
    target_ns: u64,
    window_ns: u64,
    /// The samples that may still become the window's minimum, as
    /// (time, delay): times increasing, delays strictly increasing (a
    /// sample with a smaller delay after an older one makes the older one
    /// useless). The front is the minimum. Bounded by
    /// `MAX_WINDOW_SAMPLES`.
    candidates: VecDeque<(u64, u64)>,
    utilization: f64,
    /// The mean poll, averaged like the utilization; 0 before any.
    poll_ns: f64,
    /// The utilization from which the load is armed.
    arm_utilization: f64,
    /// Whether the load is armed (see [`Load::armed`]), as of the last
    /// step.
    armed: bool,
    /// The last sample, for its backlog, work in flight and workers.
    last: Option<Sample>,
    /// The last sample's time; `None` before the first.
    last_ns: Option<u64>,
}

impl Estimator {
    /// An estimator with `config`'s target and window, before any sample.
    pub fn with_config(config: &crate::AdmissionConfig) -> Estimator {
        Estimator::new(
            config.target_delay_ns,
            config.window_ns,
            config.arm_utilization,
        )
    }

    pub(crate) fn new(target_ns: u64, window_ns: u64, arm_utilization: f64) -> Estimator {
        Estimator {
            target_ns,
            window_ns,
            candidates: VecDeque::with_capacity(MAX_WINDOW_SAMPLES),
            utilization: 0.0,
            poll_ns: 0.0,
            arm_utilization,
            armed: false,
            last: None,
            last_ns: None,
        }
    }

    /// Takes one measurement step in.
    pub fn observe(&mut self, sample: Sample) {
        let utilization = if sample.utilization.is_nan() {
            0.0
        } else {
            sample.utilization.clamp(0.0, 1.0)
        };
        let (now, span) = match self.last_ns {
            // The first sample starts the clock, with "no standing queue"
            // as the evidence so far: a queue must stand for a whole window
            // from here to count.
            None => {
                self.candidates.push_back((sample.now_ns, 0));
                (sample.now_ns, 0)
            }
            Some(last) => {
                let now = sample.now_ns.max(last);
                (now, now - last)
            }
        };
        self.last_ns = Some(now);
        // Utilization: each sample weighs by the time it covers, so the
        // average does not depend on how often the caller samples.
        let weight = 1.0 - (-(span as f64) / self.window_ns as f64).exp();
        self.utilization += weight * (utilization - self.utilization);
        // The mean poll, from the steps that ended polls; the first one
        // sets it outright (there is nothing to average with).
        if sample.poll_ns > 0 {
            if self.poll_ns == 0.0 {
                self.poll_ns = sample.poll_ns as f64;
            } else {
                self.poll_ns += weight * (sample.poll_ns as f64 - self.poll_ns);
            }
        }
        self.last = Some(sample);

        // The window's minimum, with a monotonic deque.
        let delay = sample.queue_delay_ns;
        while self.candidates.back().is_some_and(|&(_, d)| d >= delay) {
            self.candidates.pop_back();
        }
        if self.candidates.len() == MAX_WINDOW_SAMPLES {
            // Merge into the newest candidate (smaller than `delay`, as
            // the loop above left it): it stands in for this sample too.
            let back = self.candidates.back_mut().expect("full, so not empty");
            back.0 = now;
        } else {
            self.candidates.push_back((now, delay));
        }
        // Samples older than the window no longer count; the newest always
        // does.
        while self.candidates.len() > 1
            && self
                .candidates
                .front()
                .is_some_and(|&(t, _)| t.saturating_add(self.window_ns) <= now)
        {
            self.candidates.pop_front();
        }
        // Armed by workers that stay busy, by a queue that stands, or by a
        // backlog still half a window deep at a step: that is not a burst
        // to wait out (the burst itself was admitted; the work that would
        // queue behind it is what is refused). Without the last, a step to
        // 3x capacity armed only once the utilization's average caught up,
        // 6 ms after the onset (drama-sim T5, seed 4). Once armed, the load
        // stays armed until the utilization falls `DISARM_MARGIN` below the
        // arming level.
        let backlog_delay_ns =
            sample.backlog as f64 * self.poll_ns / f64::from(sample.workers.max(1));
        let standing_delay_ns = self.candidates.front().map_or(0, |&(_, d)| d);
        self.armed = self.utilization >= self.arm_utilization
            || standing_delay_ns >= self.window_ns
            || backlog_delay_ns >= (self.window_ns / 2) as f64
            || (self.armed && self.utilization >= self.arm_utilization - DISARM_MARGIN);
    }

    /// The load after the steps so far.
    pub fn load(&self) -> Load {
        let Some(last) = self.last else {
            return Load::idle(self.target_ns, self.window_ns);
        };
        let standing_delay_ns = self.candidates.front().map_or(0, |&(_, d)| d);
        let mut load = Load {
            score: 0.0,
            standing_delay_ns,
            utilization: self.utilization,
            backlog: last.backlog,
            in_flight: last.in_flight,
            delay_per_task_ns: self.poll_ns / f64::from(last.workers.max(1)),
            target_delay_ns: self.target_ns,
            armed: false,
            window_ns: self.window_ns,
        };
        load.armed = self.armed;
        load.score = load.score_at(last.in_flight);
        load
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn sample(now_ns: u64, queue_delay_ns: u64) -> Sample {
        Sample {
            now_ns,
            queue_delay_ns,
            utilization: 1.0,
            backlog: 0,
            in_flight: 0,
            poll_ns: 0,
            workers: 1,
        }
    }

    #[test]
    fn bounded_when_sampled_densely() {
        let mut estimator = Estimator::new(MS, 4 * MS, 0.9);
        // Increasing delays every nanosecond: every sample is a candidate.
        for t in 0..10_000 {
            estimator.observe(sample(t, t));
            assert!(estimator.candidates.len() <= MAX_WINDOW_SAMPLES);
        }
        // The minimum is still from inside the window, or merged into it.
        assert!(estimator.load().standing_delay_ns <= 10_000);
    }

    #[test]
    fn nan_and_out_of_range_utilization_are_clamped() {
        let mut estimator = Estimator::new(MS, 4 * MS, 0.9);
        estimator.observe(Sample {
            utilization: f64::NAN,
            ..sample(0, 0)
        });
        estimator.observe(Sample {
            utilization: 7.0,
            ..sample(100 * MS, 0)
        });
        let load = estimator.load();
        assert!(
            load.utilization <= 1.0 && load.utilization > 0.99,
            "{load:?}"
        );
    }
}
