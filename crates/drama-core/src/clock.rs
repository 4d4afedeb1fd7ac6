//! A cheap monotonic clock in nanoseconds, for charging polls.
//!
//! The thread pool reads the clock once per poll to charge the poll's cost
//! to its tenant, so the read is on the hottest path drama has. On Linux
//! `Instant::now()` costs 20 to 35 ns (a vDSO call that reads the TSC and
//! converts it); reading the TSC directly costs under 10 ns. So on x86_64
//! CPUs whose TSC ticks at a constant rate in every power state (the
//! "invariant TSC" CPUID bit, present on every server CPU of the last decade
//! and in VMs that pass it through), [`now_ns`] reads the TSC and converts
//! ticks to nanoseconds with a factor calibrated once per process against
//! `Instant` over about a millisecond. Everywhere else it falls back to
//! `Instant`.
//!
//! The values are nanoseconds since an arbitrary origin fixed at the first
//! call. They are meant for durations and for ordering events seen by one
//! thread; readings taken on different cores may disagree by the TSC skew
//! between cores (tens of ns on current hardware), so differences of
//! readings from different threads must be taken with `saturating_sub`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long the TSC is calibrated against `Instant`. Each end of the window
/// is a TSC read bracketed by two `Instant` reads (see
/// [`PAIR_BRACKET`]), so the relative error of the factor is about
/// (error of the two ends) / window = 50 ns / 1 ms = 5e-5, far below
/// anything a scheduling decision could notice, and the process pays 1 ms
/// once.
const CALIBRATION_WINDOW: Duration = Duration::from_millis(1);

/// How wide a bracket of two `Instant` reads around a TSC read may be before
/// the pair is taken again. Two undisturbed `Instant` reads take 40 to
/// 100 ns; a bracket wider than this one was interrupted (preempted, or a
/// vCPU descheduled by the hypervisor), and would put the TSC read
/// anywhere inside a span of microseconds: one such end skewed the factor
/// by 1 % on a loaded VM.
const PAIR_BRACKET: Duration = Duration::from_nanos(250);

/// How many times a bracketed pair is taken at most; the narrowest is kept.
/// Bounds the calibration where `Instant::now` is itself slow (a clock
/// source without a vDSO path), at well under a millisecond.
const PAIR_TRIES: usize = 100;

/// The clock's origin and, where the TSC is usable, its calibration.
struct Origin {
    instant: Instant,
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    tsc: Option<Tsc>,
}

/// A calibrated TSC: `ns = (ticks - base) * mult >> 32`.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[derive(Clone, Copy)]
struct Tsc {
    base: u64,
    mult: u64,
}

static ORIGIN: OnceLock<Origin> = OnceLock::new();

fn origin() -> &'static Origin {
    ORIGIN.get_or_init(|| {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if let Some((instant, tsc)) = tsc::calibrate() {
            return Origin {
                instant,
                tsc: Some(tsc),
            };
        }
        Origin {
            instant: Instant::now(),
            #[cfg(all(target_arch = "x86_64", not(miri)))]
            tsc: None,
        }
    })
}

/// Nanoseconds since the clock's origin (the first call in the process).
///
/// ```
/// let a = drama_core::clock::now_ns();
/// let b = drama_core::clock::now_ns();
/// assert!(b >= a);
/// ```
#[inline]
pub fn now_ns() -> u64 {
    #[cfg(feature = "testing")]
    if let Some(ns) = VIRTUAL_NS.try_with(std::cell::Cell::get).ok().flatten() {
        return ns;
    }
    let origin = origin();
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if let Some(tsc) = origin.tsc {
        let ticks = tsc::read().saturating_sub(tsc.base);
        // The product needs up to 96 bits; one widening multiply.
        return ((u128::from(ticks) * u128::from(tsc.mult)) >> 32) as u64;
    }
    origin.instant.elapsed().as_nanos() as u64
}

#[cfg(feature = "testing")]
thread_local! {
    /// This thread's virtual clock, while `drama::testing` runs a test here.
    static VIRTUAL_NS: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Makes [`now_ns`] on this thread read `ns` (or the real clock again for
/// `None`): the virtual clock of `drama::testing`, which task deadlines
/// then follow. Only with the `testing` feature; the runtime's worker
/// threads never set it.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub fn set_virtual_ns(ns: Option<u64>) {
    let _ = VIRTUAL_NS.try_with(|v| v.set(ns));
}

/// The [`Instant`] of a [`now_ns`] reading, converted across the span from
/// now (one `Instant` read and one clock read).
///
/// Not across the span from the clock's origin: the two clocks drift apart
/// by the calibration's error, about 5e-5 (50 us per second), plus however
/// much NTP slews `Instant` (Linux's monotonic clock follows NTP's rate
/// corrections, up to 5e-4; the TSC does not). Over the life of a process
/// that adds up to seconds; over the span between a reading and now (a
/// task's age, the time left to its deadline) it stays in microseconds. The
/// difference of two converted readings is off by the drift over the span
/// between them, and by the time between the two conversions.
///
/// ```
/// use std::time::{Duration, Instant};
/// use drama_core::clock;
///
/// let before = Instant::now();
/// let then = clock::to_instant(clock::now_ns());
/// let slack = Duration::from_millis(1);
/// assert!(before - slack <= then && then <= Instant::now() + slack);
/// ```
///
/// # Panics
///
/// When `ns` lies so far from now that `Instant` cannot represent it
/// (centuries); never for a reading of [`now_ns`].
pub fn to_instant(ns: u64) -> Instant {
    checked_to_instant(ns).expect("a clock reading that Instant can represent")
}

/// As [`to_instant`], or `None` when `Instant` cannot represent the result.
pub(crate) fn checked_to_instant(ns: u64) -> Option<Instant> {
    let instant = Instant::now();
    let now = now_ns();
    if ns <= now {
        instant.checked_sub(Duration::from_nanos(now - ns))
    } else {
        instant.checked_add(Duration::from_nanos(ns - now))
    }
}

/// Makes sure the clock is calibrated, so that the first [`now_ns`] on a
/// hot path does not pay for it. Runtimes call this when they are built.
pub fn calibrate() {
    let _ = origin();
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
mod tsc {
    use std::arch::x86_64::{__cpuid, _rdtsc};
    use std::time::{Duration, Instant};

    use super::{CALIBRATION_WINDOW, PAIR_BRACKET, PAIR_TRIES, Tsc};

    /// Reads the time-stamp counter.
    #[inline]
    pub(super) fn read() -> u64 {
        // SAFETY: RDTSC exists on every x86_64 CPU and has no preconditions;
        // the intrinsic is only `unsafe` because intrinsics are.
        #[allow(unused_unsafe)]
        unsafe {
            _rdtsc()
        }
    }

    /// Whether the CPU says its TSC is invariant (CPUID leaf 0x8000_0007,
    /// EDX bit 8): constant rate across P-, C- and T-states.
    fn invariant() -> bool {
        // SAFETY: CPUID exists on every x86_64 CPU; asking for a leaf above
        // the maximum returns zeros or the highest basic leaf, never faults.
        #[allow(unused_unsafe)]
        let max_extended = unsafe { __cpuid(0x8000_0000) }.eax;
        if max_extended < 0x8000_0007 {
            return false;
        }
        // SAFETY: as above; the leaf is supported (checked just now).
        #[allow(unused_unsafe)]
        let edx = unsafe { __cpuid(0x8000_0007) }.edx;
        edx & (1 << 8) != 0
    }

    /// A point on both clocks: an `Instant` and the TSC read at the same
    /// moment, to within half of [`PAIR_BRACKET`] (the narrowest of up to
    /// [`PAIR_TRIES`] brackets, where none is that narrow).
    fn pair() -> (Instant, u64) {
        let mut narrowest: Option<(Duration, Instant, u64)> = None;
        for _ in 0..PAIR_TRIES {
            let before = Instant::now();
            let ticks = read();
            let after = Instant::now();
            let width = after - before;
            if narrowest.is_none_or(|(w, _, _)| width < w) {
                narrowest = Some((width, before + width / 2, ticks));
            }
            if width <= PAIR_BRACKET {
                break;
            }
        }
        let (_, instant, ticks) = narrowest.expect("PAIR_TRIES is not zero");
        (instant, ticks)
    }

    /// Calibrates ticks against `Instant` over [`CALIBRATION_WINDOW`];
    /// returns the origin (the instant of the calibration's first pair) and
    /// the calibration, or `None` when the TSC is not usable as a clock.
    pub(super) fn calibrate() -> Option<(Instant, Tsc)> {
        // CPUID comes before the first pair, never between two reads that
        // are paired: it traps to the hypervisor in a VM (two calls took 10
        // to 14 us on a KVM guest, 1 % of the window). The first
        // `Instant::now()` of a process may fault in the vDSO page; the
        // retries of `pair` absorb that.
        if !invariant() {
            return None;
        }
        let (start, base) = pair();
        while start.elapsed() < CALIBRATION_WINDOW {
            std::hint::spin_loop();
        }
        let (end, ticks) = pair();
        let ns = end.duration_since(start).as_nanos() as u64;
        let ticks = ticks.checked_sub(base)?;
        // A TSC slower than 1 tick per 4 ns (250 MHz) or one that did not
        // move is not a clock we trust.
        if ticks == 0 || ns / ticks >= 4 {
            return None;
        }
        let mult = ((u128::from(ns) << 32) / u128::from(ticks)) as u64;
        Some((start, Tsc { base, mult }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_instant() {
        let t0 = now_ns();
        let i0 = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let dt = now_ns() - t0;
        let di = i0.elapsed().as_nanos() as u64;
        // Generous: the two reads are not simultaneous and the machine may
        // be busy; a wrong factor would be off by a large ratio.
        assert!(
            dt.abs_diff(di) < di / 10 + 2_000_000,
            "clock {dt} ns vs Instant {di} ns"
        );
    }

    /// The rate, not only the order of magnitude: a deadline converted
    /// from an `Instant` is compared with this clock, so a clock that runs
    /// 1 % fast would expire a one-second deadline 10 ms early. Each end of
    /// the span is a clock read bracketed by two `Instant` reads, retried
    /// until the bracket is narrow, so preemption cannot blur it.
    #[test]
    fn rate_matches_instant() {
        /// A bracket this narrow pins a clock read to 5 us.
        const MAX_BRACKET: Duration = Duration::from_micros(5);
        /// 5 us at each end of 100 ms is 1e-4, ten times below the bound.
        const SPAN: Duration = Duration::from_millis(100);
        /// The calibration's own error is about 5e-5; the bug this test
        /// guards against (CPUID inside the window, on a VM) was 1.2e-2.
        const MAX_RATE_ERROR: f64 = 1e-3;

        /// Tries enough that a busy machine still yields a narrow bracket,
        /// and bounds the loop where `Instant::now` itself is slow.
        const MAX_TRIES: usize = 1_000;

        fn bracketed() -> (Instant, u64) {
            let mut narrowest = None;
            for _ in 0..MAX_TRIES {
                let before = Instant::now();
                let ns = now_ns();
                let after = Instant::now();
                let width = after - before;
                if narrowest.is_none_or(|(w, _, _)| width < w) {
                    narrowest = Some((width, before + width / 2, ns));
                }
                if width <= MAX_BRACKET {
                    break;
                }
            }
            let (_, instant, ns) = narrowest.expect("MAX_TRIES > 0");
            (instant, ns)
        }

        calibrate();
        let (i0, c0) = bracketed();
        std::thread::sleep(SPAN);
        let (i1, c1) = bracketed();
        let di = (i1 - i0).as_nanos() as f64;
        let dc = (c1 - c0) as f64;
        let error = (dc - di).abs() / di;
        assert!(
            error < MAX_RATE_ERROR,
            "clock {dc} ns vs Instant {di} ns: rate off by {error:e}"
        );
    }

    #[test]
    fn monotonic_on_one_thread() {
        let mut last = now_ns();
        for _ in 0..10_000 {
            let now = now_ns();
            assert!(now >= last);
            last = now;
        }
    }
}
