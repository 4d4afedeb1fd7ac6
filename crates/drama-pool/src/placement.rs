//! Where a task goes when it is not queued on the worker that made it
//! runnable: random choices for spawns and wakes from outside the pool.

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

/// A per-thread number for spreading registry shards.
pub(crate) fn thread_hint() -> usize {
    random() as usize
}
