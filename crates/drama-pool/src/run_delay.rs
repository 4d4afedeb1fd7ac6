//! How long the OS kept a worker thread waiting while it was runnable: the
//! time a poll did not run although the worker was inside it.
//!
//! A poll is charged to its tenant by its duration on the clock. When the
//! OS preempts the worker thread in the middle of a poll (another process,
//! or the pool's own monitor thread, wants the core), the poll's duration
//! includes time in which the task did nothing, and its tenant paid for
//! it: on a busy 2-core machine a 20 µs poll was sometimes charged
//! milliseconds, and with 10,000 tenants (a DRR round of half a second) the
//! debt kept the tenant waiting for seconds. Linux reports, per thread, the
//! total time it spent waiting on a run queue (the second field of
//! `/proc/thread-self/schedstat`, in ns); the difference of two readings
//! around a poll is the time the OS took from it. CPU time would not do:
//! a poll that blocks in a system call (a synchronous read, a sleep) holds
//! the worker as surely as one that computes, and must be charged.
//!
//! A reading costs about a microsecond (a `pread` of a small procfs file),
//! so the worker reads it only around long polls (see `worker.rs`). Where
//! the file does not exist (another OS, a kernel without `SCHED_INFO`, a
//! sandbox that hides `/proc`) nothing is discounted.

use std::fs::File;

/// The run-queue wait clock of the thread that opened it.
pub(crate) struct RunDelay {
    /// `/proc/thread-self/schedstat`, opened by the worker thread itself
    /// (`thread-self` names the opening thread; the open file keeps
    /// reporting on it).
    #[cfg(target_os = "linux")]
    file: Option<File>,
}

impl RunDelay {
    /// The clock of the calling thread, if the OS provides one.
    pub(crate) fn open() -> RunDelay {
        RunDelay {
            #[cfg(target_os = "linux")]
            file: File::open("/proc/thread-self/schedstat").ok(),
        }
    }

    /// Nanoseconds this thread has spent runnable but not running, since it
    /// started; `None` where unknown.
    pub(crate) fn read_ns(&self) -> Option<u64> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::FileExt;
            let file = self.file.as_ref()?;
            // Three decimal u64s and two spaces and a newline: 64 bytes
            // hold any of them.
            let mut buf = [0u8; 64];
            let n = file.read_at(&mut buf, 0).ok()?;
            parse_run_delay(&buf[..n])
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }
}

/// The second field of a schedstat line: "<on cpu ns> <waiting ns> <slices>".
fn parse_run_delay(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    text.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// The cost to charge for a poll that took `cost_ns` on the clock, during
/// which the run-queue wait clock went from `delay_before_ns` to
/// `delay_after_ns`: the waiting was not the task's doing. Never below
/// zero, never more than the clock's figure.
pub(crate) fn discount(cost_ns: u64, delay_before_ns: u64, delay_after_ns: u64) -> u64 {
    cost_ns.saturating_sub(delay_after_ns.saturating_sub(delay_before_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_second_field() {
        assert_eq!(parse_run_delay(b"541370006 293184 19\n"), Some(293_184));
        assert_eq!(parse_run_delay(b"0 0 1\n"), Some(0));
        assert_eq!(parse_run_delay(b"12\n"), None);
        assert_eq!(parse_run_delay(b"a b c"), None);
        assert_eq!(parse_run_delay(b""), None);
    }

    #[test]
    fn discount_takes_away_the_wait_only() {
        // A 4 ms poll of which 3.98 ms waiting on a run queue: 20 µs.
        assert_eq!(discount(4_000_000, 1_000, 3_981_000), 20_000);
        // No waiting: the clock's figure.
        assert_eq!(discount(50_000, 7, 7), 50_000);
        // More waiting than the poll lasted (the reading is taken a little
        // before the poll began): nothing, not a negative charge.
        assert_eq!(discount(50_000, 0, 80_000), 0);
        // A clock that went backwards is ignored.
        assert_eq!(discount(50_000, 9, 3), 50_000);
    }

    #[test]
    fn a_busy_thread_reads_a_clock_that_does_not_go_backwards() {
        let clock = RunDelay::open();
        let Some(first) = clock.read_ns() else {
            // No schedstat here: nothing to check.
            return;
        };
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(5) {
            std::hint::spin_loop();
        }
        assert!(clock.read_ns().expect("it worked once") >= first);
    }
}
