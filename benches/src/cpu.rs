//! CPU time as the benchmark programs count it, never as drama accounts it.
//!
//! - [`spin_cpu`]: the unit of work of the fairness suite. It spins until
//!   the calling thread has run for the work time on the CPU (its *thread*
//!   CPU clock, `cpu_time::ThreadTime`), so time the OS spends running
//!   someone else while the worker is preempted is not work: on a shared
//!   machine a wall-clock spin would count a preempted worker's wait as
//!   its tenant's CPU.
//! - [`ThreadClocks`]: the CPU time of the runtime's own threads (workers,
//!   the monitor), read from `/proc/self/task`, to show what the scheduler
//!   itself costs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cpu_time::{ProcessTime, ThreadTime};

/// How much CPU time a spin accumulates before it adds it to its counter.
/// The fairness suite samples the counters every 5 ms; flushing every
/// 10 µs keeps a sample within 10 µs per worker of the truth while the
/// spin touches the shared counter only a few times per work unit.
const FLUSH_NS: u64 = 10_000;

/// How long a spin runs on the wall clock between two reads of its thread
/// CPU clock. Reading the thread CPU clock is a system call (about a
/// microsecond in a VM), the wall clock is not: checking every 5 µs keeps
/// the work mostly plain user-space spinning, as real work is, and a spin
/// overshoots its work time by at most one clock read.
const CHECK_NS: u64 = 5_000;

/// A counter alone on its cache line(s): two workers adding to the
/// counters of two different tenants must not slow each other down by
/// sharing a line. 128 bytes covers the adjacent-line prefetch of x86.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct PaddedCounter(pub AtomicU64);

impl PaddedCounter {
    /// The counter's value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// `n` zeroed padded counters.
pub fn counters(n: usize) -> Vec<PaddedCounter> {
    (0..n).map(|_| PaddedCounter::default()).collect()
}

/// Spins until the calling thread has used `work_ns` of CPU time, adding
/// the CPU time to `counter` as it goes (every [`FLUSH_NS`] or so), so that
/// a sampler reading the counter mid-spin sees the work done so far.
/// Returns the CPU nanoseconds spent (at least `work_ns`).
pub fn spin_cpu(work_ns: u64, counter: &AtomicU64) -> u64 {
    let start = ThreadTime::now();
    let mut flushed_ns = 0;
    loop {
        let done_ns = start.elapsed().as_nanos() as u64;
        if done_ns >= work_ns || done_ns - flushed_ns >= FLUSH_NS {
            counter.fetch_add(done_ns - flushed_ns, Ordering::Relaxed);
            flushed_ns = done_ns;
            if done_ns >= work_ns {
                return done_ns;
            }
        }
        // At most the work left: a wall-clock spin never runs longer on
        // the CPU than it does on the wall.
        let spin_ns = (work_ns - done_ns).min(CHECK_NS);
        let wall = Instant::now();
        while (wall.elapsed().as_nanos() as u64) < spin_ns {
            std::hint::spin_loop();
        }
    }
}

/// How the CPU time of a thread was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// `/proc/self/task/<tid>/schedstat`, first field: nanoseconds on the
    /// CPU.
    Schedstat,
    /// `/proc/self/task/<tid>/stat`, utime + stime in clock ticks, taken as
    /// 100 Hz (the usual `USER_HZ`; not asked of `sysconf`): 10 ms
    /// resolution.
    StatTicks,
}

/// A thread of this process: its id and its name (`comm`, at most 15
/// bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadInfo {
    /// The kernel's thread id.
    pub tid: u32,
    /// The thread's name as the kernel has it.
    pub comm: String,
}

/// The threads of this process now; empty where `/proc` is missing.
pub fn threads() -> Vec<ThreadInfo> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out: Vec<ThreadInfo> = dir
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let tid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            Some(ThreadInfo {
                tid,
                comm: comm.trim_end().to_string(),
            })
        })
        .collect();
    out.sort_by_key(|t| t.tid);
    out
}

/// The CPU time thread `tid` of this process has used, in nanoseconds, and
/// how it was read; `None` when the thread is gone or `/proc` says nothing.
pub fn thread_cpu_ns(tid: u32) -> Option<(u64, ClockSource)> {
    let base = format!("/proc/self/task/{tid}");
    if let Ok(text) = std::fs::read_to_string(format!("{base}/schedstat"))
        && let Some(ns) = text.split_whitespace().next().and_then(|f| f.parse().ok())
    {
        return Some((ns, ClockSource::Schedstat));
    }
    let text = std::fs::read_to_string(format!("{base}/stat")).ok()?;
    // The name in parentheses may hold spaces: count fields after its end.
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); after the name,
    // which is field 2, they are the 12th and 13th.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    const NS_PER_TICK: u64 = 10_000_000; // 100 Hz, see `ClockSource::StatTicks`
    Some(((utime + stime) * NS_PER_TICK, ClockSource::StatTicks))
}

/// Finds the threads of one runtime by name and reads their CPU clocks.
#[derive(Clone, Debug)]
pub struct ThreadClocks {
    prefix: String,
    /// Threads that were there before the runtime started: never its own.
    before: Vec<u32>,
}

/// What a thread of the runtime is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Monitor,
    /// Worker thread number `n` (`<prefix>-<n>`).
    Worker(u32),
}

/// The CPU clocks of a runtime's threads at one moment.
#[derive(Clone, Debug, Default)]
pub struct CpuSnapshot {
    /// Per thread: its id, its role, its CPU ns.
    threads: Vec<(u32, Role, u64)>,
    source: Option<ClockSource>,
    /// The whole process's CPU ns (threads that have exited included).
    process_ns: u64,
    /// The CPU ns of the thread that took the snapshot.
    caller_ns: u64,
}

/// CPU nanoseconds a runtime's threads used over an interval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupCpu {
    /// The monitor's CPU time.
    pub monitor_ns: u64,
    /// The workers' CPU time, summed: the process's CPU time less the
    /// monitor's and the measuring thread's. Worker threads that were
    /// replaced and exited during the interval are in it, where the
    /// per-thread clocks lose them.
    pub workers_ns: u64,
    /// Each live worker thread's CPU time, by thread number
    /// (`<prefix>-<n>`), from its own clock.
    pub per_worker_ns: Vec<u64>,
    /// How the clocks were read (`None`: no thread could be read).
    pub source: Option<ClockSource>,
}

impl ThreadClocks {
    /// The clocks of the threads named `<prefix>-monitor` and
    /// `<prefix>-<digits>` that are not among `before` (the threads of this
    /// process before the runtime started).
    pub fn new(prefix: &str, before: &[ThreadInfo]) -> ThreadClocks {
        ThreadClocks {
            prefix: prefix.to_string(),
            before: before.iter().map(|t| t.tid).collect(),
        }
    }

    /// The runtime's threads now and their roles.
    fn members(&self) -> Vec<(u32, Role)> {
        let monitor = format!("{}-monitor", self.prefix);
        threads()
            .into_iter()
            .filter(|t| !self.before.contains(&t.tid))
            .filter_map(|t| {
                if t.comm == monitor {
                    Some((t.tid, Role::Monitor))
                } else {
                    worker_index(&t.comm, &self.prefix).map(|n| (t.tid, Role::Worker(n)))
                }
            })
            .collect()
    }

    /// Waits up to `patience` until `workers` workers and a monitor carry
    /// their names: a new thread names itself once it runs, so right after
    /// a runtime is built `/proc` may still show its parent's name.
    pub fn wait_named(&self, workers: usize, patience: std::time::Duration) {
        let deadline = std::time::Instant::now() + patience;
        loop {
            let m = self.members();
            let n_monitors = m.iter().filter(|(_, role)| *role == Role::Monitor).count();
            if (m.len() - n_monitors >= workers && n_monitors >= 1)
                || std::time::Instant::now() >= deadline
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Every thread's CPU clock now, and the process's. Take the two
    /// snapshots of an interval on the same thread, which must not be one
    /// of the runtime's: its own CPU is taken out of the workers'.
    pub fn snapshot(&self) -> CpuSnapshot {
        let mut snap = CpuSnapshot {
            process_ns: ProcessTime::now().as_duration().as_nanos() as u64,
            caller_ns: ThreadTime::now().as_duration().as_nanos() as u64,
            ..CpuSnapshot::default()
        };
        for (tid, role) in self.members() {
            if let Some((ns, source)) = thread_cpu_ns(tid) {
                snap.threads.push((tid, role, ns));
                snap.source = Some(source);
            }
        }
        snap
    }
}

impl CpuSnapshot {
    /// The CPU used between `self` (earlier) and `end`. In the per-thread
    /// figures a thread that started in between (a replacement worker)
    /// counts all its CPU, and one that ended in between counts nothing:
    /// its last clock is gone with it.
    pub fn until(&self, end: &CpuSnapshot) -> GroupCpu {
        let mut cpu = GroupCpu {
            source: end.source,
            ..GroupCpu::default()
        };
        for &(tid, role, ns) in &end.threads {
            let start_ns = self.threads.iter().find(|t| t.0 == tid).map_or(0, |t| t.2);
            let used_ns = ns.saturating_sub(start_ns);
            match role {
                Role::Monitor => cpu.monitor_ns += used_ns,
                Role::Worker(n) => {
                    let n = n as usize;
                    if n >= cpu.per_worker_ns.len() {
                        cpu.per_worker_ns.resize(n + 1, 0);
                    }
                    cpu.per_worker_ns[n] += used_ns;
                }
            }
        }
        let others_ns = cpu.monitor_ns + end.caller_ns.saturating_sub(self.caller_ns);
        cpu.workers_ns = end
            .process_ns
            .saturating_sub(self.process_ns)
            .saturating_sub(others_ns);
        cpu
    }
}

/// The index `n` of a worker thread named `<prefix>-<n>`, if `name` is one.
pub fn worker_index(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

thread_local! {
    /// This thread's drama worker index, parsed from its name once.
    static WORKER: std::cell::Cell<Option<Option<u32>>> = const { std::cell::Cell::new(None) };
}

/// The index of the drama worker the caller runs on (its thread is named
/// `drama-<n>`), or `None` off the workers. Cached per thread.
pub fn current_worker() -> Option<u32> {
    WORKER.with(|cell| {
        if let Some(known) = cell.get() {
            return known;
        }
        let index = std::thread::current()
            .name()
            .and_then(|name| worker_index(name, "drama"));
        cell.set(Some(index));
        index
    })
}

/// Waits up to `patience` for every thread whose name `is_runtime_thread`
/// accepts to be gone; returns the names of those left. Runs are measured
/// one runtime at a time: a thread of the last runtime still spinning
/// would take CPU from the next.
pub fn wait_threads_gone(
    is_runtime_thread: impl Fn(&str) -> bool,
    patience: std::time::Duration,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        let left: Vec<String> = threads()
            .into_iter()
            .filter(|t| is_runtime_thread(&t.comm))
            .map(|t| t.comm)
            .collect();
        if left.is_empty() || std::time::Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spin_counts_its_work_into_the_counter() {
        let counter = AtomicU64::new(0);
        let spent_ns = spin_cpu(200_000, &counter);
        assert!(spent_ns >= 200_000);
        assert_eq!(counter.load(Ordering::Relaxed), spent_ns);
    }

    #[test]
    fn worker_names() {
        assert_eq!(worker_index("drama-0", "drama"), Some(0));
        assert_eq!(worker_index("drama-12", "drama"), Some(12));
        assert_eq!(worker_index("drama-monitor", "drama"), None);
        assert_eq!(worker_index("drama-blocking-1", "drama"), None);
        assert_eq!(worker_index("drama-", "drama"), None);
        assert_eq!(worker_index("dramatic-1", "drama"), None);
    }

    #[test]
    fn finds_a_named_thread_and_its_clock() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let before = threads();
        let t = std::thread::Builder::new()
            .name("cputest-7".into())
            .spawn(move || {
                let _ = rx.recv();
            })
            .unwrap();
        let clocks = ThreadClocks::new("cputest", &before);
        let start = CpuSnapshot::default();
        // The thread names itself once it runs: wait for that.
        clocks.wait_named(1, std::time::Duration::from_secs(5));
        let snap = clocks.snapshot();
        assert_eq!(snap.threads.len(), 1, "{:?}", threads());
        assert!(start.until(&snap).source.is_some());
        tx.send(()).unwrap();
        t.join().unwrap();
    }
}
