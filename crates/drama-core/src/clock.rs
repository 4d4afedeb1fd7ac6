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

/// How long the TSC is calibrated against `Instant`. The relative error of
/// the factor is about (two clock reads) / window = 50 ns / 1 ms = 5e-5,
/// far below anything a scheduling decision could notice.
const CALIBRATION_WINDOW: Duration = Duration::from_millis(1);

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
        let instant = Instant::now();
        Origin {
            instant,
            #[cfg(all(target_arch = "x86_64", not(miri)))]
            tsc: tsc::calibrate(instant),
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
    let origin = origin();
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if let Some(tsc) = origin.tsc {
        let ticks = tsc::read().saturating_sub(tsc.base);
        // The product needs up to 96 bits; one widening multiply.
        return ((u128::from(ticks) * u128::from(tsc.mult)) >> 32) as u64;
    }
    origin.instant.elapsed().as_nanos() as u64
}

/// The [`Instant`] of a [`now_ns`] reading (to within the calibration's
/// error, well under a microsecond per second).
pub fn to_instant(ns: u64) -> Instant {
    origin().instant + Duration::from_nanos(ns)
}

/// Makes sure the clock is calibrated, so that the first [`now_ns`] on a
/// hot path does not pay for it. Runtimes call this when they are built.
pub fn calibrate() {
    let _ = origin();
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
mod tsc {
    use std::arch::x86_64::{__cpuid, _rdtsc};
    use std::time::Instant;

    use super::{CALIBRATION_WINDOW, Tsc};

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

    /// Calibrates ticks against `Instant` over [`CALIBRATION_WINDOW`], or
    /// returns `None` when the TSC is not usable as a clock.
    pub(super) fn calibrate(start: Instant) -> Option<Tsc> {
        if !invariant() {
            return None;
        }
        let base = read();
        let mut end = Instant::now();
        let mut ticks = read();
        while end.duration_since(start) < CALIBRATION_WINDOW {
            std::hint::spin_loop();
            end = Instant::now();
            ticks = read();
        }
        let ns = end.duration_since(start).as_nanos() as u64;
        let ticks = ticks.checked_sub(base)?;
        // A TSC slower than 1 tick per 4 ns (250 MHz) or one that did not
        // move is not a clock we trust.
        if ticks == 0 || ns / ticks >= 4 {
            return None;
        }
        let mult = ((u128::from(ns) << 32) / u128::from(ticks)) as u64;
        Some(Tsc { base, mult })
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
