//! Seeded open-loop arrivals: every executor of a repetition replays the
//! same list (times, tenants, work sizes), drawn before the run starts so
//! that drawing costs the generator nothing while it submits.

/// A small seeded generator (xorshift64*, seeded through splitmix64). The
/// suite needs reproducible, well-spread draws, not cryptographic ones, and
/// a generator of its own keeps the arrival list the same whatever version
/// of a random-number crate the lock file holds.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`; different seeds give unrelated sequences.
    pub fn new(seed: u64) -> Rng {
        // splitmix64: spreads nearby seeds (1, 2, 3...) over the state
        // space; `| 1` keeps xorshift off its one fixed point, zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponential with mean `mean`, by inverse CDF (`1 - u` is in (0, 1],
    /// so the logarithm is finite).
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

/// A stretch of time with an arrival rate that goes linearly from
/// `rate_from` to `rate_to` (requests per second); equal rates make a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    /// Start, seconds from the start of the run.
    pub from_s: f64,
    /// End, seconds from the start of the run.
    pub to_s: f64,
    /// The rate at the start, per second.
    pub rate_from: f64,
    /// The rate at the end, per second.
    pub rate_to: f64,
}

impl Segment {
    /// A constant `rate` from `from_s` to `to_s`.
    pub fn flat(from_s: f64, to_s: f64, rate: f64) -> Segment {
        Segment {
            from_s,
            to_s,
            rate_from: rate,
            rate_to: rate,
        }
    }
}

/// One tenant's arrivals: a Poisson process whose rate follows `segments`,
/// each request with exponential work of mean `work_mean_ns`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    /// The tenant's index.
    pub tenant: u8,
    /// Mean CPU work per request, ns.
    pub work_mean_ns: f64,
    /// The rate profile.
    pub segments: Vec<Segment>,
}

/// One request: when it is meant to arrive, its tenant and its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Intended arrival, ns from the start of the run.
    pub at_ns: u64,
    /// CPU work, ns (`u32`: 4 s is far above any draw, and 16 bytes per
    /// arrival keep 10× C_ref for seconds a few MiB).
    pub work_ns: u32,
    /// The tenant's index.
    pub tenant: u8,
}

/// Every stream's arrivals, merged in time order. Each stream draws from a
/// generator of its own (seeded from `seed` and its position), so adding a
/// tenant changes no other tenant's arrivals.
pub fn generate(streams: &[Stream], seed: u64) -> Vec<Arrival> {
    let mut out = Vec::new();
    for (i, stream) in streams.iter().enumerate() {
        let mut rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
        for seg in &stream.segments {
            // Thinning (Lewis and Shedler): candidates at the segment's
            // highest rate, each kept with probability rate(t) / max.
            let max = seg.rate_from.max(seg.rate_to);
            if max <= 0.0 || seg.to_s <= seg.from_s {
                continue;
            }
            let mut t = seg.from_s;
            loop {
                t += rng.exp(1.0 / max);
                if t >= seg.to_s {
                    break;
                }
                let x = (t - seg.from_s) / (seg.to_s - seg.from_s);
                let rate = seg.rate_from + (seg.rate_to - seg.rate_from) * x;
                let keep = rng.unit() * max < rate;
                // Draw the work either way, so that the work sizes do not
                // depend on which candidates were kept.
                let work = rng.exp(stream.work_mean_ns);
                if keep {
                    out.push(Arrival {
                        at_ns: (t * 1e9) as u64,
                        work_ns: work.min(f64::from(u32::MAX)) as u32,
                        tenant: stream.tenant,
                    });
                }
            }
        }
    }
    out.sort_by_key(|a| (a.at_ns, a.tenant));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_arrivals_and_about_the_rate() {
        let streams = [Stream {
            tenant: 0,
            work_mean_ns: 100_000.0,
            segments: vec![Segment::flat(0.0, 1.0, 10_000.0)],
        }];
        let a = generate(&streams, 7);
        assert_eq!(a, generate(&streams, 7));
        assert_ne!(a, generate(&streams, 8));
        // 10,000 expected, standard deviation 100: 5 % is 5 sigma.
        assert!((9_500..10_500).contains(&a.len()), "{}", a.len());
        let mean = a.iter().map(|x| f64::from(x.work_ns)).sum::<f64>() / a.len() as f64;
        assert!((90_000.0..110_000.0).contains(&mean), "{mean}");
        assert!(a.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
    }

    #[test]
    fn a_ramp_has_more_arrivals_at_its_high_end() {
        let streams = [Stream {
            tenant: 3,
            work_mean_ns: 1.0,
            segments: vec![Segment {
                from_s: 0.0,
                to_s: 1.0,
                rate_from: 0.0,
                rate_to: 20_000.0,
            }],
        }];
        let a = generate(&streams, 1);
        let late = a.iter().filter(|x| x.at_ns >= 500_000_000).count();
        // 3/4 of the arrivals fall in the second half of a linear ramp.
        assert!(late * 10 > a.len() * 7, "{late} of {}", a.len());
        assert!(a.iter().all(|x| x.tenant == 3));
    }
}
