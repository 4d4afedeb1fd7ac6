//! Where a task goes when it is not queued on the worker that made it
//! runnable: a spawn or wake from outside the pool goes to an idle worker
//! (`Sleepers::target_for_remote`) or else to the less loaded of two
//! workers chosen at random ([`less_loaded`], the power of two choices:
//! nearly the balance of asking every worker, for two loads).

use std::cell::Cell;

thread_local! {
    /// A per-thread random state, for placement choices.
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// A cheap per-thread random number (xorshift), for placement only.
#[inline]
fn random() -> u64 {
    RNG.with(|rng| {
        let mut x = rng.get();
        if x == 0 {
            // Seed from the address of a thread-local: distinct per thread.
            x = (rng as *const Cell<u64> as u64) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rng.set(x);
        x
    })
}

/// Two distinct worker indices chosen at random (equal when `n == 1`).
#[inline]
pub(crate) fn two_choices(n: usize) -> (usize, usize) {
    let r = random();
    let a = (r % n as u64) as usize;
    if n == 1 {
        return (0, 0);
    }
    let b = (a + 1 + ((r >> 32) % (n as u64 - 1)) as usize) % n;
    (a, b)
}

/// Of the two workers `pair` (chosen at random), the one to push to: the
/// one in `among` (a bit mask) if only one of them is; the first worker of
/// `among` if neither is; else the one with the smaller `load` (queued
/// tasks, as last published), the first on a tie. `all` is every worker's
/// bit. Pure, so that its cases are scripted below.
#[inline]
pub(crate) fn less_loaded(
    (a, b): (usize, usize),
    among: u64,
    all: u64,
    load: impl Fn(usize) -> usize,
) -> usize {
    let ok = |i: usize| among & (1u64 << i) != 0;
    match (ok(a), ok(b)) {
        (true, false) => a,
        (false, true) => b,
        (false, false) if among & all != 0 => (among & all).trailing_zeros() as usize,
        _ => {
            if load(a) <= load(b) {
                a
            } else {
                b
            }
        }
    }
}

/// A per-thread number for spreading registry shards.
pub(crate) fn thread_hint() -> usize {
    random() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A case: the pair drawn, the mask asked for, four workers' loads,
    /// and the worker expected.
    type Case = ((usize, usize), u64, [usize; 4], usize);

    fn check(cases: &[Case]) {
        for &(pair, among, loads, expect) in cases {
            let got = less_loaded(pair, among, 0b1111, |i| loads[i]);
            assert_eq!(
                got, expect,
                "pair {pair:?} among {among:#b} loads {loads:?}"
            );
        }
    }

    #[test]
    fn the_less_loaded_of_the_two_among_the_workers_asked_for() {
        check(&[
            // Both allowed: the smaller load, the first on a tie.
            ((0, 1), u64::MAX, [5, 3, 0, 0], 1),
            ((0, 1), u64::MAX, [3, 5, 0, 0], 0),
            ((2, 3), u64::MAX, [0, 0, 4, 4], 2),
            // One allowed (a wake is under way: only awake workers), whatever
            // the loads.
            ((0, 1), 0b0010, [0, 9, 0, 0], 1),
            ((0, 1), 0b0001, [9, 0, 0, 0], 0),
            // Neither allowed: the first allowed worker.
            ((0, 1), 0b1100, [0, 0, 7, 1], 2),
            // Nobody allowed (a mask past the workers): the loads decide.
            ((0, 1), 0b1_0000, [2, 1, 0, 0], 1),
        ]);
    }

    #[test]
    fn two_choices_are_distinct_and_in_range() {
        for n in 2..=64 {
            for _ in 0..100 {
                let (a, b) = two_choices(n);
                assert!(a < n && b < n && a != b, "{n}: {a} {b}");
            }
        }
        assert_eq!(two_choices(1), (0, 0));
    }
}
