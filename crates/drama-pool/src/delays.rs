//! The queueing delays the workers see, as a log-linear histogram: each
//! worker counts its polls' delays by bucket (one store per poll, to a line
//! of its own slot), the monitor folds the counts into a histogram that
//! decays with time and publishes its median and 99th percentile for
//! `LoadReport`.
//!
//! The buckets are drama-metrics' (four per power of two: a percentile is
//! within a fifth of the truth).

pub(crate) use drama_metrics::{BUCKETS, bucket, upper_ns};

/// A histogram of recent delays: each step's new counts are added to the
/// old ones decayed by `e^(-elapsed / horizon)`, so the percentiles cover
/// about the last `horizon`.
#[derive(Debug)]
pub(crate) struct RecentDelays {
    weights: Box<[f64; BUCKETS]>,
    horizon_ns: f64,
}

impl RecentDelays {
    pub(crate) fn new(horizon_ns: u64) -> RecentDelays {
        RecentDelays {
            weights: Box::new([0.0; BUCKETS]),
            horizon_ns: horizon_ns as f64,
        }
    }

    /// Adds a step of `elapsed_ns` whose delays counted `counts` (new
    /// polls per bucket).
    pub(crate) fn step(&mut self, elapsed_ns: u64, counts: &[u64; BUCKETS]) {
        let keep = (-(elapsed_ns as f64) / self.horizon_ns).exp();
        for (weight, &count) in self.weights.iter_mut().zip(counts.iter()) {
            *weight = *weight * keep + count as f64;
        }
    }

    /// The delay below which `q` (in 0..=1) of the recent polls started, as
    /// its bucket's upper bound; 0 with no polls.
    pub(crate) fn quantile_ns(&self, q: f64) -> u64 {
        let total: f64 = self.weights.iter().sum();
        if total <= 0.0 {
            return 0;
        }
        let rank = q.clamp(0.0, 1.0) * total;
        let mut seen = 0.0;
        for (index, weight) in self.weights.iter().enumerate() {
            seen += weight;
            if seen >= rank && *weight > 0.0 {
                return upper_ns(index);
            }
        }
        upper_ns(BUCKETS - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_mix() {
        let mut counts = [0u64; BUCKETS];
        // 98 polls waited 10 µs, 2 waited 5 ms.
        counts[bucket(10_000)] = 98;
        counts[bucket(5_000_000)] = 2;
        let mut recent = RecentDelays::new(100_000_000);
        recent.step(1_000_000, &counts);
        let p50 = recent.quantile_ns(0.5);
        let p99 = recent.quantile_ns(0.99);
        assert!((10_000..=12_500).contains(&p50), "{p50}");
        assert!((5_000_000..=6_250_000).contains(&p99), "{p99}");
        assert_eq!(RecentDelays::new(1).quantile_ns(0.99), 0);
    }

    #[test]
    fn old_delays_fade() {
        let mut slow = [0u64; BUCKETS];
        slow[bucket(5_000_000)] = 100;
        let mut fast = [0u64; BUCKETS];
        fast[bucket(10_000)] = 100;
        let mut recent = RecentDelays::new(100_000_000);
        recent.step(1_000_000, &slow);
        // A second of fast polls later, the slow ones weigh e^-10 of
        // theirs: the p99 is fast.
        for _ in 0..100 {
            recent.step(10_000_000, &fast);
        }
        assert!(recent.quantile_ns(0.99) <= 12_500);
    }
}
