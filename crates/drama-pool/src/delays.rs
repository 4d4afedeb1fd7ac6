//! The queueing delays the workers see, as a log-linear histogram: each
//! worker counts its polls' delays by bucket (one store per poll, to a line
//! of its own slot), the monitor folds the counts into a histogram that
//! decays with time and publishes its median and 99th percentile for
//! `LoadReport`.
//!
//! Buckets: four per power of two (the two bits after the leading one), so
//! a percentile is within a fifth of the truth; delays of 0 to 3 ns have a
//! bucket each; the last bucket also takes everything from 2^42 ns (73
//! minutes) on.

/// Sub-buckets per power of two: 4, an error of at most 19 % (a bucket
/// spans a quarter of its octave), as fine as an operator reading "p99
/// 1.2 ms" needs and coarse enough for 168 buckets.
const SUB_BITS: u32 = 2;
const SUBS: usize = 1 << SUB_BITS;

/// The largest octave kept apart: 2^41 ns, about 36 minutes. A task that
/// waited longer is in the last bucket.
const MAX_OCTAVE: u32 = 41;

/// The number of buckets: the small values, then four per octave.
pub(crate) const BUCKETS: usize = SUBS + (MAX_OCTAVE as usize - SUB_BITS as usize + 1) * SUBS;

/// The bucket of a delay of `ns`.
pub(crate) fn bucket(ns: u64) -> usize {
    if ns < SUBS as u64 {
        return ns as usize;
    }
    let octave = 63 - ns.leading_zeros(); // >= SUB_BITS
    if octave > MAX_OCTAVE {
        return BUCKETS - 1;
    }
    let sub = ((ns >> (octave - SUB_BITS)) as usize) & (SUBS - 1);
    SUBS + (octave - SUB_BITS) as usize * SUBS + sub
}

/// The largest delay bucket `index` holds: what a percentile that falls in
/// it reports (an upper bound, never flattering).
pub(crate) fn upper_ns(index: usize) -> u64 {
    if index < SUBS {
        return index as u64;
    }
    let octave = (index - SUBS) / SUBS + SUB_BITS as usize;
    let sub = ((index - SUBS) % SUBS) as u64;
    let base = 1u64 << octave;
    let width = base >> SUB_BITS;
    base + (sub + 1) * width - 1
}

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
    fn buckets_are_ordered_and_bound_their_values() {
        let mut last = 0;
        for ns in (0..100_000u64).chain([1 << 30, (1 << 40) + 7, u64::MAX]) {
            let b = bucket(ns);
            assert!(b >= last || ns > 100_000, "{ns}");
            assert!(b < BUCKETS);
            if ns < 1 << MAX_OCTAVE {
                // Within its bucket: at most the upper bound, more than the
                // previous bucket's.
                assert!(ns <= upper_ns(b), "{ns} > {}", upper_ns(b));
                assert!(b == 0 || ns > upper_ns(b - 1), "{ns}");
                // At most a fifth over.
                assert!(upper_ns(b) as f64 <= ns as f64 * 1.25 + 1.0, "{ns}");
            }
            if ns < 100_000 {
                last = b;
            }
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

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
