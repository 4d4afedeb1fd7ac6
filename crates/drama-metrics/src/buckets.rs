//! Log-linear histogram buckets for durations in nanoseconds, recorded by
//! one thread with plain stores and read by any thread.
//!
//! Buckets: four per power of two (the two bits after the leading one), so
//! a percentile is within a fifth of the truth; durations of 0 to 3 ns have
//! a bucket each; the last bucket also takes everything from 2^42 ns (73
//! minutes) on. A recording is an index computation (a leading-zero count
//! and a shift) and one load and store: cheap enough for every poll.
//! Readers merge the counts of all workers into an [`hdrhistogram`] (see
//! [`Counts::summary`]), so the percentiles are computed once, when read.

use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two: 4, an error of at most 19 % (a bucket
/// spans a quarter of its octave), as fine as an operator reading "p99
/// 1.2 ms" needs and coarse enough for 164 buckets (1.3 KiB a histogram).
const SUB_BITS: u32 = 2;
const SUBS: usize = 1 << SUB_BITS;

/// The largest octave kept apart: 2^41 ns, about 36 minutes. A longer
/// duration is in the last bucket.
const MAX_OCTAVE: u32 = 41;

/// The number of buckets: the small values, then four per octave.
pub const BUCKETS: usize = SUBS + (MAX_OCTAVE as usize - SUB_BITS as usize + 1) * SUBS;

/// The bucket of a duration of `ns`.
pub fn bucket(ns: u64) -> usize {
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

/// The largest duration bucket `index` holds: what a percentile that falls
/// in it reports (an upper bound, never flattering).
pub fn upper_ns(index: usize) -> u64 {
    if index < SUBS {
        return index as u64;
    }
    let octave = (index - SUBS) / SUBS + SUB_BITS as usize;
    let sub = ((index - SUBS) % SUBS) as u64;
    let base = 1u64 << octave;
    let width = base >> SUB_BITS;
    base + (sub + 1) * width - 1
}

/// A histogram written by one thread (its owner) and read by any: counts
/// per bucket as atomics that the owner bumps with a relaxed load and
/// store (no read-modify-write, so no locked instruction), which is plain
/// memory on the owner's side.
pub struct Histogram {
    counts: Box<[AtomicU64; BUCKETS]>,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }

    /// Counts one duration of `ns`. Only the owner may call this: two
    /// writers would lose counts (never memory safety).
    #[inline]
    pub fn record(&self, ns: u64) {
        let count = &self.counts[bucket(ns)];
        count.store(
            count.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    /// The durations counted.
    pub fn count(&self) -> u64 {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    /// Adds this histogram's counts to `into`.
    pub fn add_to(&self, into: &mut Counts) {
        for (sum, count) in into.0.iter_mut().zip(self.counts.iter()) {
            *sum = sum.wrapping_add(count.load(Ordering::Relaxed));
        }
    }
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut counts = Counts::new();
        self.add_to(&mut counts);
        f.debug_struct("Histogram")
            .field("summary", &counts.summary())
            .finish()
    }
}

/// Bucket counts merged from histograms (plain memory, the reader's).
#[derive(Clone, PartialEq, Eq)]
pub struct Counts(Box<[u64; BUCKETS]>);

impl Counts {
    /// No counts.
    pub fn new() -> Counts {
        Counts(Box::new([0; BUCKETS]))
    }

    /// The count in each bucket.
    pub fn buckets(&self) -> &[u64; BUCKETS] {
        &self.0
    }

    /// Adds `n` durations of `ns` (for tests and for readers that merge
    /// counts of their own).
    pub fn add(&mut self, ns: u64, n: u64) {
        let i = bucket(ns);
        self.0[i] = self.0[i].wrapping_add(n);
    }

    /// The non-empty buckets: (upper bound in ns, count), in order.
    pub fn non_empty(&self) -> Vec<(u64, u64)> {
        self.0
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(i, &n)| (upper_ns(i), n))
            .collect()
    }

    /// The counts added since `base` was read, bucket by bucket (a bucket
    /// that reads lower, which single-writer counters never do, counts
    /// zero).
    pub fn since(&self, base: &Counts) -> Counts {
        let mut out = Counts::new();
        for ((out, &now), &was) in out.0.iter_mut().zip(self.0.iter()).zip(base.0.iter()) {
            *out = now.saturating_sub(was);
        }
        out
    }

    /// The counts as an [`hdrhistogram::Histogram`], each bucket recorded
    /// at its upper bound, and the percentiles an operator reads.
    pub fn summary(&self) -> Summary {
        let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("3 significant digits are valid");
        for (i, &n) in self.0.iter().enumerate() {
            if n > 0 {
                // An auto-resizing histogram takes any u64.
                h.record_n(upper_ns(i).max(1), n)
                    .expect("auto-resize takes any value");
            }
        }
        Summary::of(&h)
    }
}

impl Default for Counts {
    fn default() -> Counts {
        Counts::new()
    }
}

impl std::fmt::Debug for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Counts").field(&self.summary()).finish()
    }
}

/// A distribution of durations as an operator reads it: how many, the
/// mean, the percentiles and the largest, in nanoseconds (each within a
/// fifth of the truth, rounded up: see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default)
)]
pub struct Summary {
    /// Durations counted.
    pub count: u64,
    /// Their mean.
    pub mean_ns: f64,
    /// The median.
    pub p50_ns: u64,
    /// The 90th percentile.
    pub p90_ns: u64,
    /// The 99th percentile.
    pub p99_ns: u64,
    /// The 99.9th percentile.
    pub p999_ns: u64,
    /// The largest.
    pub max_ns: u64,
}

impl Summary {
    /// The summary of an hdrhistogram of nanoseconds.
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            mean_ns: h.mean(),
            p50_ns: h.value_at_quantile(0.5),
            p90_ns: h.value_at_quantile(0.9),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duration_is_within_its_bucket() {
        let mut ns = 0u64;
        while ns < (1 << 44) {
            let i = bucket(ns);
            // The last bucket takes everything from its start on.
            assert!(
                ns <= upper_ns(i) || i == BUCKETS - 1,
                "{ns} above bucket {i}"
            );
            if i > 0 && i < BUCKETS - 1 {
                assert!(ns > upper_ns(i - 1), "{ns} below bucket {i}");
                // A bucket spans at most a quarter of its octave: within a
                // fifth of the truth.
                assert!(upper_ns(i) as f64 <= ns as f64 * 1.25 + 1.0);
            }
            ns = ns * 9 / 8 + 1;
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let h = Histogram::new();
        // 99 polls of 10 µs and one of 5 ms.
        for _ in 0..99 {
            h.record(10_000);
        }
        h.record(5_000_000);
        let mut counts = Counts::new();
        h.add_to(&mut counts);
        let s = counts.summary();
        assert_eq!(s.count, 100);
        let near = |got: u64, want: u64| got >= want && (got as f64) <= want as f64 * 1.26;
        assert!(near(s.p50_ns, 10_000), "{s:?}");
        assert!(near(s.p99_ns, 10_000), "{s:?}");
        assert!(near(s.max_ns, 5_000_000), "{s:?}");
        assert_eq!(Counts::new().summary(), Summary::default());
    }
}
