//! The saturation estimate: a standing queueing delay and a utilization,
//! folded into one load score.

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
}

/// The load as the estimator sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Load {
    /// 0 idle, 1 saturated (the standing delay at the target), above 1
    /// overloaded (the standing delay past the target, by that factor).
    /// Below 1 it is the larger of the delay's part and the utilization,
    /// which approaches 1 as the workers stay busy: continuous, so that it
    /// rises before anything is refused.
    pub score: f64,
    /// The smallest queueing delay seen over the window: the standing
    /// queue, which a burst that drains within the window does not raise.
    pub standing_delay_ns: u64,
    /// The workers' utilization, averaged over about a window.
    pub utilization: f64,
}

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
    /// The last sample's time; `None` before the first.
    last_ns: Option<u64>,
}

impl Estimator {
    /// An estimator with `config`'s target and window, before any sample.
    pub fn with_config(config: &crate::AdmissionConfig) -> Estimator {
        Estimator::new(config.target_delay_ns, config.window_ns)
    }

    pub(crate) fn new(target_ns: u64, window_ns: u64) -> Estimator {
        Estimator {
            target_ns,
            window_ns,
            candidates: VecDeque::with_capacity(MAX_WINDOW_SAMPLES),
            utilization: 0.0,
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
    }

    /// The load after the steps so far.
    pub fn load(&self) -> Load {
        let standing_delay_ns = self.candidates.front().map_or(0, |&(_, d)| d);
        let delay_score = standing_delay_ns as f64 / self.target_ns as f64;
        Load {
            score: delay_score.max(self.utilization),
            standing_delay_ns,
            utilization: self.utilization,
        }
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
        }
    }

    #[test]
    fn bounded_when_sampled_densely() {
        let mut estimator = Estimator::new(MS, 4 * MS);
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
        let mut estimator = Estimator::new(MS, 4 * MS);
        estimator.observe(Sample {
            now_ns: 0,
            queue_delay_ns: 0,
            utilization: f64::NAN,
        });
        estimator.observe(Sample {
            now_ns: 100 * MS,
            queue_delay_ns: 0,
            utilization: 7.0,
        });
        let load = estimator.load();
        assert!(
            load.utilization <= 1.0 && load.utilization > 0.99,
            "{load:?}"
        );
    }
}
