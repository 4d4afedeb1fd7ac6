//! The micro suite (BENCHMARKS.md part A): scheduler overhead, the same
//! workload code for every runtime.
//!
//! The definitions follow tokio's `benches/rt_multi_threaded.rs`
//! (`spawn_many_*`, `yield_many`, `ping_pong`, `chained_spawn`) and
//! async-executor's benches (`spawn_one`):
//!
//! | workload | one run |
//! |---|---|
//! | `spawn_one` | `block_on(spawn(no-op))`: one no-op task spawned from outside and awaited |
//! | `spawn_many_local` | a task spawns 10,000 no-op tasks and awaits them all |
//! | `spawn_many_remote` | the main thread spawns 10,000 no-op tasks, then awaits them all |
//! | `yield_many` | 200 tasks spawned from outside, each yielding 1,000 times |
//! | `ping_pong` | a task spawns 1,000 tasks; each spawns a partner and bounces a message off it over two oneshot channels |
//! | `chained_spawn` | a chain of 1,000 tasks, each spawning the next |
//! | `msg_chain` | a ring of 100 tasks linked by channels passes one message around for 100,000 hops |
//! | `idle_cpu` | a thread outside the runtime sends a message every 100 µs for 2 s to a task that receives it: CPU seconds (user+sys) of the process, minus the sender thread's own |
//!
//! The channels are tokio's `sync` ones for every runtime (they work on
//! any executor), so the runtimes differ only in scheduling.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::runtimes::Rt;

/// A workload of the suite: its name and the unit its figure is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// The name in BENCHMARKS.md.
    pub name: &'static str,
    /// Runs of the workload timed together as one sample (a sample of a
    /// workload shorter than a few hundred µs is too noisy alone).
    pub runs_per_sample: u32,
}

/// The timed workloads, in report order (`idle_cpu` is separate).
pub const WORKLOADS: [Workload; 7] = [
    Workload {
        name: "spawn_one",
        runs_per_sample: 1_000,
    },
    Workload {
        name: "spawn_many_local",
        runs_per_sample: 1,
    },
    Workload {
        name: "spawn_many_remote",
        runs_per_sample: 1,
    },
    Workload {
        name: "yield_many",
        runs_per_sample: 1,
    },
    Workload {
        name: "ping_pong",
        runs_per_sample: 1,
    },
    Workload {
        name: "chained_spawn",
        runs_per_sample: 4,
    },
    Workload {
        name: "msg_chain",
        runs_per_sample: 1,
    },
];

const NUM_SPAWN: usize = 10_000;
const YIELD_TASKS: usize = 200;
const NUM_YIELD: usize = 1_000;
const NUM_PINGS: usize = 1_000;
const CHAIN_LEN: usize = 1_000;
const RING_LEN: usize = 100;
const RING_HOPS: u64 = 100_000;

/// Runs `workload` once on `rt`.
pub fn run_once<R: Rt>(rt: &R, workload: &str) {
    match workload {
        "spawn_one" => spawn_one(rt),
        "spawn_many_local" => spawn_many_local(rt),
        "spawn_many_remote" => spawn_many_remote(rt),
        "yield_many" => yield_many(rt),
        "ping_pong" => ping_pong(rt),
        "chained_spawn" => chained_spawn(rt),
        "msg_chain" => msg_chain(rt, RING_HOPS),
        other => panic!("unknown workload {other}"),
    }
}

/// Times one sample of `workload` on `rt`: `runs_per_sample` runs, the
/// result per run.
pub fn sample<R: Rt>(rt: &R, workload: &Workload) -> Duration {
    let start = Instant::now();
    for _ in 0..workload.runs_per_sample {
        run_once(rt, workload.name);
    }
    start.elapsed() / workload.runs_per_sample
}

fn spawn_one<R: Rt>(rt: &R) {
    rt.block_on(rt.spawn(async {}));
}

fn spawn_many_local<R: Rt>(rt: &R) {
    let inner = rt.clone();
    let outer = rt.spawn(async move {
        let handles: Vec<_> = (0..NUM_SPAWN).map(|_| inner.spawn(async {})).collect();
        for handle in handles {
            handle.await;
        }
    });
    rt.block_on(outer);
}

fn spawn_many_remote<R: Rt>(rt: &R) {
    let handles: Vec<_> = (0..NUM_SPAWN).map(|_| rt.spawn(async {})).collect();
    rt.block_on(async {
        for handle in handles {
            handle.await;
        }
    });
}

fn yield_many<R: Rt>(rt: &R) {
    let handles: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            let rt2 = rt.clone();
            rt.spawn(async move {
                for _ in 0..NUM_YIELD {
                    rt2.yield_now().await;
                }
            })
        })
        .collect();
    rt.block_on(async {
        for handle in handles {
            handle.await;
        }
    });
}

fn ping_pong<R: Rt>(rt: &R) {
    let (done_tx, done_rx) = std_mpsc::sync_channel::<()>(1);
    let rem = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(NUM_PINGS));
    let rt1 = rt.clone();
    rt.spawn_detached(async move {
        for _ in 0..NUM_PINGS {
            let rem = rem.clone();
            let done_tx = done_tx.clone();
            let rt2 = rt1.clone();
            rt1.spawn_detached(async move {
                let (tx1, rx1) = oneshot::channel::<()>();
                let (tx2, rx2) = oneshot::channel::<()>();
                rt2.spawn_detached(async move {
                    rx1.await.expect("ping");
                    tx2.send(()).expect("pong");
                });
                tx1.send(()).expect("ping");
                rx2.await.expect("pong");
                if rem.fetch_sub(1, std::sync::atomic::Ordering::Relaxed) == 1 {
                    done_tx.send(()).expect("done");
                }
            });
        }
    });
    done_rx.recv().expect("every ping answered");
}

fn chained_spawn<R: Rt>(rt: &R) {
    fn link<R: Rt>(rt: R, done: std_mpsc::SyncSender<()>, n: usize) {
        if n == 0 {
            done.send(()).expect("done");
        } else {
            let next = rt.clone();
            rt.spawn_detached(async move { link(next, done, n - 1) });
        }
    }
    let (done_tx, done_rx) = std_mpsc::sync_channel::<()>(1);
    let rt1 = rt.clone();
    rt.spawn_detached(async move { link(rt1, done_tx, CHAIN_LEN) });
    done_rx.recv().expect("the chain ends");
}

/// A ring of `RING_LEN` tasks; one message makes `hops` hops and then the
/// ring winds down (each task ends when its inbound channel closes).
pub fn msg_chain<R: Rt>(rt: &R, hops: u64) {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..RING_LEN)
        .map(|_| mpsc::unbounded_channel::<u64>())
        .unzip();
    let inject = txs[0].clone();
    let handles: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(i, mut inbound)| {
            let next = txs[(i + 1) % RING_LEN].clone();
            rt.spawn(async move {
                while let Some(left) = inbound.recv().await {
                    if left == 0 {
                        // Dropping `next` closes the next task's channel,
                        // and so on around the ring.
                        return;
                    }
                    // The next task may have ended already (it got the 0).
                    let _ = next.send(left - 1);
                }
            })
        })
        .collect();
    drop(txs);
    inject.send(hops).expect("the ring is listening");
    drop(inject);
    rt.block_on(async {
        for handle in handles {
            handle.await;
        }
    });
}

/// What `idle_cpu` measured.
#[derive(Clone, Copy, Debug)]
pub struct IdleCpu {
    /// CPU seconds (user + sys) of the process over the window, minus the
    /// sender thread's own.
    pub cpu_s: f64,
    /// Messages received.
    pub messages: u64,
}

/// One message every `period` for `window` from a plain thread to a task
/// on `rt`; the CPU the process spent on it, the sender's own excluded.
pub fn idle_cpu<R: Rt>(rt: &R, period: Duration, window: Duration) -> IdleCpu {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let receiver = rt.spawn(async move {
        let mut n = 0u64;
        while rx.recv().await.is_some() {
            n += 1;
        }
        n
    });
    // Let the runtime settle into its idle state first.
    std::thread::sleep(Duration::from_millis(100));
    let start = cpu_time::ProcessTime::now();
    let sender = std::thread::spawn(move || {
        let own = cpu_time::ThreadTime::now();
        let begin = Instant::now();
        let mut next = begin;
        while next - begin < window {
            next += period;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            tx.send(())
                .expect("the receiver lives until the sender ends");
        }
        drop(tx);
        own.elapsed()
    });
    let sender_cpu = sender.join().expect("the sender thread does not panic");
    let messages = rt.block_on(receiver);
    let process_cpu = start.elapsed();
    IdleCpu {
        cpu_s: process_cpu.saturating_sub(sender_cpu).as_secs_f64(),
        messages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtimes::{Drama, Tokio};

    /// Every workload runs to completion (no assertion on time).
    fn runs_everything<R: Rt>(rt: &R) {
        for w in WORKLOADS {
            if w.name == "msg_chain" {
                msg_chain(rt, 1_000);
            } else {
                run_once(rt, w.name);
            }
        }
        let idle = idle_cpu(rt, Duration::from_millis(1), Duration::from_millis(20));
        assert!(idle.messages >= 10, "messages arrive: {idle:?}");
    }

    #[test]
    fn workloads_run_on_drama() {
        runs_everything(&Drama::new(2));
    }

    #[test]
    fn workloads_run_on_tokio() {
        runs_everything(&Tokio::new(2));
    }
}
