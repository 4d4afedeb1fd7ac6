//! A small seeded random number generator and the distributions the
//! workloads draw from.
//!
//! The simulator carries its own generator instead of depending on `rand`
//! so that a seed names the same trace forever: a dependency upgrade cannot
//! change a stream of numbers, and every operation below is either integer
//! arithmetic or a basic IEEE-754 operation (`+ - * /`), which Rust rounds
//! identically on every platform. That is also why [`ln`] is written here
//! rather than taken from the platform's `libm`, whose last bit may differ
//! between systems.

/// SplitMix64: used only to expand a seed into xoshiro's 256-bit state, as
/// xoshiro's authors recommend (it turns similar seeds into unrelated
/// states).
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// xoshiro256**: fast, small state, good statistical quality for
/// simulation (not for cryptography).
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for `seed`, expanded through SplitMix64 so that the
    /// all-zero state (which xoshiro never leaves) cannot occur in practice.
    pub(crate) fn new(seed: u64) -> Rng {
        let mut sm = SplitMix64::new(seed);
        Rng {
            s: [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()],
        }
    }

    /// A generator for one purpose of one stream of a run: the run's seed
    /// mixed with the stream's coordinates, so that each stream draws from
    /// its own sequence. Adding a tenant or a stream therefore leaves the
    /// draws of the others unchanged (the noisy-neighbour scenario relies on
    /// this to give the light tenants the same arrivals with and without the
    /// heavy one).
    pub(crate) fn for_stream(seed: u64, tenant_idx: usize, stream_idx: usize, purpose: u64) -> Rng {
        let mut sm = SplitMix64::new(seed);
        let mut mixed = sm.next_u64();
        for part in [tenant_idx as u64, stream_idx as u64, purpose] {
            mixed = SplitMix64::new(mixed ^ part).next_u64();
        }
        Rng::new(mixed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform float in `[0, 1)` with 53 random bits (every value a
    /// multiple of 2^-53).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..span` (`span > 0`), by the multiply-high
    /// method: the bias is below `span / 2^64`, far under anything a run
    /// can measure, and it needs no rejection loop.
    pub(crate) fn below(&mut self, span: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u64
    }

    /// An exponential variate with mean `mean` (`mean >= 0`).
    pub(crate) fn exponential(&mut self, mean: f64) -> f64 {
        // 1 - u is in (0, 1], so the logarithm is finite.
        -mean * ln(1.0 - self.next_f64())
    }
}

/// The natural logarithm of `x` for `x` in `(0, 1]` (the only range the
/// exponential draw needs), accurate to a few units in the last place and
/// built from basic operations only, so it rounds the same everywhere.
///
/// `x = m * 2^e` with `m` in `[sqrt(1/2), sqrt(2))`, and
/// `ln(m) = 2 atanh(s)` with `s = (m - 1) / (m + 1)`, `|s| < 0.172`, whose
/// series `2 (s + s^3/3 + s^5/5 + ...)` converges by a factor `s^2 < 0.03`
/// per term; 14 terms take it below 2^-60.
pub(crate) fn ln(x: f64) -> f64 {
    const LN_2: f64 = core::f64::consts::LN_2;
    const SQRT_2: f64 = core::f64::consts::SQRT_2;
    debug_assert!(x > 0.0 && x <= 1.0);
    let mut m = x;
    let mut e = 0i32;
    // x >= 2^-53 here, so at most 54 halvings' worth of doublings; exact.
    while m < SQRT_2 / 2.0 {
        m *= 2.0;
        e -= 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    for _ in 0..14 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    2.0 * sum + f64::from(e) * LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_matches_std() {
        let mut rng = Rng::new(7);
        for _ in 0..10_000 {
            let x = 1.0 - rng.next_f64();
            let (ours, std) = (ln(x), x.ln());
            assert!(
                (ours - std).abs() <= 1e-14 * std.abs().max(1.0),
                "ln({x}): {ours} vs {std}"
            );
        }
        assert_eq!(ln(1.0), 0.0);
        let tiny = 1.0 / (1u64 << 53) as f64;
        assert!((ln(tiny) - tiny.ln()).abs() < 1e-12);
    }

    #[test]
    fn exponential_mean_and_spread() {
        let mut rng = Rng::new(1);
        let n = 200_000;
        let mean = 100_000.0;
        let draws: Vec<f64> = (0..n).map(|_| rng.exponential(mean)).collect();
        let avg = draws.iter().sum::<f64>() / n as f64;
        assert!((avg / mean - 1.0).abs() < 0.02, "mean {avg}");
        // An exponential's standard deviation equals its mean.
        let var = draws.iter().map(|d| (d - avg) * (d - avg)).sum::<f64>() / n as f64;
        assert!((var.sqrt() / mean - 1.0).abs() < 0.03, "sd {}", var.sqrt());
        // P(X > mean) = 1/e.
        let above = draws.iter().filter(|&&d| d > mean).count() as f64 / n as f64;
        assert!((above - (-1.0f64).exp()).abs() < 0.01, "tail {above}");
        assert!(draws.iter().all(|&d| d >= 0.0 && d.is_finite()));
    }

    #[test]
    fn uniform_float_and_integer() {
        let mut rng = Rng::new(2);
        let n = 100_000;
        let avg = (0..n).map(|_| rng.next_f64()).sum::<f64>() / f64::from(n);
        assert!((avg - 0.5).abs() < 0.01, "mean {avg}");
        let mut counts = [0u32; 10];
        for _ in 0..n {
            counts[rng.below(10) as usize] += 1;
        }
        for c in counts {
            assert!(
                (f64::from(c) / f64::from(n) - 0.1).abs() < 0.01,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn streams_are_distinct_and_reproducible() {
        let a: Vec<u64> = {
            let mut r = Rng::for_stream(1, 0, 0, 0);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let again: Vec<u64> = {
            let mut r = Rng::for_stream(1, 0, 0, 0);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let other: Vec<u64> = {
            let mut r = Rng::for_stream(1, 1, 0, 0);
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, again);
        assert_ne!(a, other);
    }
}
