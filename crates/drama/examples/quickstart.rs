//! A tour of drama on its multi-threaded runtime: tenants with weights
//! sharing two workers fairly, a light tenant that stays fast next to a
//! heavy one, a caught panic, a refused spawn that hands its future back,
//! and a nursery.
//!
//! Run it with `cargo run --release --example quickstart` (or `cargo xtask
//! demo`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use drama::{Class, Runtime, Spawn, nursery};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Burns CPU for `d` (a stand-in for real work) and returns the time spent.
fn work(d: Duration) -> u64 {
    let t0 = Instant::now();
    while t0.elapsed() < d {
        std::hint::spin_loop();
    }
    t0.elapsed().as_nanos() as u64
}

fn main() -> Result<(), Error> {
    let rt = Runtime::builder().workers(2).build()?;

    println!("1. Three tenants with weights 1:2:4 keep two workers busy for a second.");
    println!("   Each has 8 CPU-bound tasks; drama shares the CPU by weight.");
    let stop = Arc::new(AtomicBool::new(false));
    let mut tenants = Vec::new();
    let mut handles = Vec::new();
    for (name, weight) in [("bronze", 100), ("silver", 200), ("gold", 400)] {
        let tenant = rt.tenant(name)?;
        rt.set_weight(tenant, weight)?;
        let cpu = Arc::new(AtomicU64::new(0));
        for _ in 0..8 {
            let (stop, cpu) = (stop.clone(), cpu.clone());
            handles.push(rt.spawn_with(Spawn::new().tenant(tenant), async move {
                while !stop.load(Ordering::Relaxed) {
                    cpu.fetch_add(work(Duration::from_micros(50)), Ordering::Relaxed);
                    drama::yield_now().await;
                }
            })?);
        }
        tenants.push((name, weight, cpu));
    }

    // Meanwhile a light tenant sends small requests; its latency stays low
    // because it is never behind more than one turn of the others.
    let light = rt.tenant("light")?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        let t0 = Instant::now();
        let request = rt.spawn_with(Spawn::new().tenant(light).class(Class::Read), async {
            work(Duration::from_micros(20))
        })?;
        rt.block_on(request)?;
        latencies.push(t0.elapsed());
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        rt.block_on(handle)?;
    }
    let total: u64 = tenants
        .iter()
        .map(|(_, _, cpu)| cpu.load(Ordering::Relaxed))
        .sum();
    println!("   tenant  weight  CPU share  fair share");
    for (name, weight, cpu) in &tenants {
        let share = 100.0 * cpu.load(Ordering::Relaxed) as f64 / total as f64;
        println!(
            "   {name:<7} {weight:>6}  {share:>8.1}%  {:>9.1}%",
            100.0 * *weight as f64 / 700.0
        );
    }
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    println!(
        "   light tenant: {} requests of 20 us, latency p50 {:?}, p99 {:?} (with 24 busy tasks beside it)",
        latencies.len(),
        p50,
        p99
    );

    println!("2. A panic is caught and reported through the task's handle.");
    std::panic::set_hook(Box::new(|_| {}));
    let crashing = rt.spawn(async {
        let empty: Vec<u32> = Vec::new();
        empty[3] // index out of bounds
    })?;
    println!("   {}", rt.block_on(crashing).unwrap_err());
    let _ = std::panic::take_hook();

    println!("3. At the task bound a spawn is refused, and the future comes back.");
    let small = Runtime::builder().workers(1).max_tasks(1).build()?;
    let filler = small.spawn(std::future::pending::<()>())?;
    let refused = small.spawn(async { 6 * 7 }).unwrap_err();
    println!("   {refused}");
    filler.abort();
    let _ = small.block_on(filler);
    let retried = small.spawn(refused.into_inner())?;
    println!(
        "   retried once there was room: {}",
        small.block_on(retried)?
    );

    println!("4. A nursery waits for its children; the first error cancels the rest.");
    let result: Result<(), Error> = rt.block_on(nursery(|n| async move {
        n.spawn(async { Err("the first child failed".into()) })?;
        n.spawn(std::future::pending())?; // cancelled
        Ok(())
    }));
    println!("   nursery returned: {}", result.unwrap_err());

    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
