//! The pure arithmetic of the fairness suite: shares, Jain's index, share
//! errors, convergence over a sampled series, gaps between polls, and the
//! policy's stated starvation bound. No clocks and no threads here, so
//! every piece is tested on synthetic numbers.

/// Jain's fairness index: `(sum x)^2 / (n * sum x^2)`: 1 when every `x` is
/// equal, `1/n` when one takes everything; 0 for no data.
pub fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let sum_sq: f64 = xs.iter().map(|x| x * x).sum();
    if sum_sq == 0.0 {
        return 0.0;
    }
    sum * sum / (xs.len() as f64 * sum_sq)
}

/// Each value's fraction of the total (all 0 when the total is 0).
pub fn fractions(values: &[u64]) -> Vec<f64> {
    let total: u64 = values.iter().sum();
    values
        .iter()
        .map(|&v| {
            if total == 0 {
                0.0
            } else {
                v as f64 / total as f64
            }
        })
        .collect()
}

/// The fractions weights entitle their holders to.
pub fn weight_fractions(weights: &[u32]) -> Vec<f64> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    weights
        .iter()
        .map(|&w| f64::from(w) / total.max(1) as f64)
        .collect()
}

/// Jain's index over CPU time divided by weight.
pub fn jain_by_weight(cpu_ns: &[u64], weights: &[u32]) -> f64 {
    let xs: Vec<f64> = cpu_ns
        .iter()
        .zip(weights)
        .map(|(&c, &w)| c as f64 / f64::from(w))
        .collect();
    jain(&xs)
}

/// The largest error of `shares` against `targets` (both fractions): in
/// percentage points, and relative to the target, in percent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShareError {
    /// `max |share - target|`, in percentage points.
    pub points: f64,
    /// `max |share - target| / target`, in percent.
    pub relative_pct: f64,
}

/// The largest errors of `shares` against `targets`.
pub fn share_error(shares: &[f64], targets: &[f64]) -> ShareError {
    let mut e = ShareError {
        points: 0.0,
        relative_pct: 0.0,
    };
    for (&s, &t) in shares.iter().zip(targets) {
        e.points = e.points.max(100.0 * (s - t).abs());
        if t > 0.0 {
            e.relative_pct = e.relative_pct.max(100.0 * (s - t).abs() / t);
        }
    }
    e
}

/// Whether every share is within `tolerance` (relative: 0.05 is ±5 %) of
/// its target.
pub fn within(shares: &[f64], targets: &[f64], tolerance: f64) -> bool {
    shares
        .iter()
        .zip(targets)
        .all(|(&s, &t)| (s - t).abs() <= tolerance * t)
}

/// One reading of the counters: when (ns since the series began) and each
/// counter's value (cumulative).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Nanoseconds since the start of the series.
    pub at_ns: u64,
    /// The cumulative counters.
    pub counters: Vec<u64>,
}

/// The convergence time of a sampled series: the start of the first
/// window of `window_ns` after which every later window (every one that
/// starts at a later sample and ends by the last sample) has every share
/// within `tolerance` of its target. Windows start at every sample, so
/// they slide by the sampling period; a window runs from its first sample
/// to the first sample at least `window_ns` later. `None`: not converged
/// (the last window misses, or the series is shorter than one window).
pub fn convergence_ns(
    samples: &[Sample],
    targets: &[f64],
    window_ns: u64,
    tolerance: f64,
) -> Option<u64> {
    let mut end = 0;
    let mut converged_at = None;
    // Scan forward, remembering the start of the latest run of good
    // windows that has not been broken since.
    for (start, first) in samples.iter().enumerate() {
        end = end.max(start + 1);
        while end < samples.len() && samples[end].at_ns < first.at_ns + window_ns {
            end += 1;
        }
        if end == samples.len() {
            break;
        }
        let deltas: Vec<u64> = samples[end]
            .counters
            .iter()
            .zip(&first.counters)
            .map(|(b, a)| b.saturating_sub(*a))
            .collect();
        let good = deltas.iter().any(|&d| d > 0) && within(&fractions(&deltas), targets, tolerance);
        match (good, converged_at) {
            (true, None) => converged_at = Some(first.at_ns),
            (false, _) => converged_at = None,
            (true, Some(_)) => {}
        }
    }
    converged_at
}

/// The gap a task's loop iteration starting at `start_ns` closes: the time
/// since the previous iteration started (`prev_start_ns`), counted from
/// `window_start_ns` when the previous start lies before the window, so
/// that only time inside the measuring window counts.
pub fn gap_in_window_ns(prev_start_ns: u64, start_ns: u64, window_start_ns: u64) -> u64 {
    start_ns.saturating_sub(prev_start_ns.max(window_start_ns))
}

/// The largest gap of a task over a window that ended at `end_ns`: the
/// largest gap its iterations closed (`closed_max_ns`), or the open one
/// from its last start (or the window's start) to the end, whichever is
/// larger. A task never polled in the window has a gap of the whole
/// window.
pub fn largest_gap_ns(
    closed_max_ns: u64,
    last_start_ns: u64,
    window_start_ns: u64,
    end_ns: u64,
) -> u64 {
    closed_max_ns.max(gap_in_window_ns(last_start_ns, end_ns, window_start_ns))
}

/// The starvation bound the policy's author states, per worker:
/// `(floor(D/q) + 1) * (N_w - 1) * (q + C)` with `q` the quantum, `C` the
/// largest poll, `D = min(C, 10 q)` and `N_w` the tenants on the worker.
pub fn stated_bound_ns(n_tenants_on_worker: u64, largest_poll_ns: u64, quantum_ns: u64) -> u64 {
    let d_ns = largest_poll_ns.min(10 * quantum_ns);
    (d_ns / quantum_ns + 1) * n_tenants_on_worker.saturating_sub(1) * (quantum_ns + largest_poll_ns)
}

/// The value at quantile `q` (0..=1, nearest rank) of `xs`, which it
/// sorts; `None` for no values.
pub fn quantile(xs: &mut [u64], q: f64) -> Option<u64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_unstable();
    let rank = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    Some(xs[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn jain_of_equal_and_of_one_hog() {
        assert!((jain(&[3.0, 3.0, 3.0, 3.0]) - 1.0).abs() < 1e-12);
        assert!((jain(&[1.0, 0.0, 0.0, 0.0]) - 0.25).abs() < 1e-12);
        assert_eq!(jain(&[0.0, 0.0]), 0.0);
        // Weighted: CPU in proportion to weight is perfectly fair.
        assert!((jain_by_weight(&[100, 200, 400], &[1, 2, 4]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn share_errors_in_points_and_relative() {
        let e = share_error(&[0.30, 0.70], &[0.25, 0.75]);
        assert!((e.points - 5.0).abs() < 1e-9);
        assert!((e.relative_pct - 20.0).abs() < 1e-9);
        assert!(within(&[0.26, 0.74], &[0.25, 0.75], 0.05));
        assert!(!within(&[0.27, 0.73], &[0.25, 0.75], 0.05));
    }

    /// A series sampled every 5 ms of two counters that grow at the rates
    /// `rate(t)` gives (CPU ns per ms for each).
    fn series(len_ms: u64, rate: impl Fn(u64) -> (u64, u64)) -> Vec<Sample> {
        let mut out = Vec::new();
        let (mut a, mut b) = (0, 0);
        for t in 0..=len_ms {
            if t % 5 == 0 {
                out.push(Sample {
                    at_ns: t * MS,
                    counters: vec![a, b],
                });
            }
            let (ra, rb) = rate(t);
            a += ra;
            b += rb;
        }
        out
    }

    #[test]
    fn converges_when_the_shares_settle() {
        // 1:3 for the first 200 ms, then 1:1 to the end.
        let s = series(1_000, |t| if t < 200 { (1, 3) } else { (1, 1) });
        let at = convergence_ns(&s, &[0.5, 0.5], 50 * MS, 0.05).unwrap();
        // The first window that holds no unfair millisecond starts at 200 ms;
        // one that starts a little earlier is still within ±5 %.
        assert!((190 * MS..=200 * MS).contains(&at), "{at}");
        // Fair from the start: converged at once.
        let s = series(500, |_| (2, 2));
        assert_eq!(convergence_ns(&s, &[0.5, 0.5], 50 * MS, 0.05), Some(0));
    }

    #[test]
    fn a_late_relapse_resets_convergence() {
        // Fair, then unfair for 100 ms at 600 ms, then fair again.
        let s = series(1_000, |t| {
            if (600..700).contains(&t) {
                (1, 3)
            } else {
                (1, 1)
            }
        });
        let at = convergence_ns(&s, &[0.5, 0.5], 50 * MS, 0.05).unwrap();
        assert!((690 * MS..=700 * MS).contains(&at), "{at}");
    }

    #[test]
    fn not_converged_when_the_end_is_unfair_or_short() {
        let s = series(1_000, |t| if t < 950 { (1, 1) } else { (1, 3) });
        assert_eq!(convergence_ns(&s, &[0.5, 0.5], 50 * MS, 0.05), None);
        let s = series(40, |_| (1, 1));
        assert_eq!(convergence_ns(&s, &[0.5, 0.5], 50 * MS, 0.05), None);
        // Nothing ran at all: no window is good.
        let s = series(200, |_| (0, 0));
        assert_eq!(convergence_ns(&s, &[0.5, 0.5], 50 * MS, 0.05), None);
    }

    #[test]
    fn gaps_count_only_inside_the_window() {
        // Iterations at 10, 20 (window starts at 15), 50; window ends at 80.
        assert_eq!(gap_in_window_ns(10, 20, 15), 5);
        assert_eq!(gap_in_window_ns(20, 50, 15), 30);
        assert_eq!(largest_gap_ns(30, 50, 15, 80), 30);
        assert_eq!(largest_gap_ns(30, 50, 15, 90), 40);
        // Never polled in the window (last start before it): the whole window.
        assert_eq!(largest_gap_ns(0, 10, 15, 80), 65);
    }

    #[test]
    fn the_stated_bound() {
        // C below the quantum: floor(D/q) = 0, so (N_w - 1)(q + C).
        assert_eq!(stated_bound_ns(5_000, 25_000, 100_000), 4_999 * 125_000);
        // C of 2.5 quanta: D = C, floor(D/q) + 1 = 3.
        assert_eq!(stated_bound_ns(3, 250_000, 100_000), 3 * 2 * 350_000);
        // D is capped at 10 q.
        assert_eq!(stated_bound_ns(2, 5_000_000, 100_000), 11 * 5_100_000);
        assert_eq!(stated_bound_ns(1, 25_000, 100_000), 0);
    }

    #[test]
    fn nearest_rank_quantiles() {
        let mut xs: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(quantile(&mut xs, 0.99), Some(99));
        assert_eq!(quantile(&mut xs, 1.0), Some(100));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
