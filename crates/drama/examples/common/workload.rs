//! A multi-tenant service in miniature, for the examples that show the
//! scheduler's view: a driver thread offers requests of several tenants at
//! a steady rate (open loop, as clients do), and each request reads (an
//! `IoKind::Read` guard around a short sleep on a blocking lane, for a
//! tenant that reads from disk), computes, and answers (an
//! `IoKind::Write` guard across an await).
//!
//! The tenants, chosen so that every table has something to show:
//! - `acme`: most of the traffic, 150 µs of CPU a request (the heavy
//!   hitter; refused first when the offered load passes capacity);
//! - `globex`: a tenth of acme's rate, 1 ms a request, weight 2;
//! - `initech`: light and latency-sensitive, 40 µs a request, `Accept`;
//! - `umbrella`: reads from "disk" on a blocking lane;
//! - `small-00` ... `small-39`: a long tail, a request now and then.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use drama::{Class, Handle, IoKind, Runtime, Spawn, TenantId};

/// Burns CPU for `d`: a stand-in for a request's real work.
pub(crate) fn work(d: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// One tenant's traffic.
struct Stream {
    tenant: TenantId,
    class: Class,
    /// Requests per second at `scale` 1.
    rate_per_sec: f64,
    cpu: Duration,
    /// Whether each request reads from "disk" on a blocking lane first.
    disk: bool,
}

/// Offers the tenants' requests at `scale` times their base rates (about
/// 0.7 of two cores at 1) from a driver thread for `seconds` (forever with
/// `None`). Refused requests are dropped, as a server answers 503.
pub(crate) fn run(rt: &Runtime, scale: f64, seconds: Option<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let driver = start(rt, scale, stop.clone());
    match seconds {
        Some(s) => std::thread::sleep(Duration::from_secs(s)),
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
    stop.store(true, Ordering::Relaxed);
    driver.join().expect("the driver thread");
}

/// Starts the driver thread, which offers requests until `stop` is set.
fn start(rt: &Runtime, scale: f64, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let tenant = |name: &str| rt.tenant(name).expect("a tenant");
    let mut streams = vec![
        Stream {
            tenant: tenant("acme"),
            class: Class::Read,
            rate_per_sec: 6_000.0,
            cpu: Duration::from_micros(150),
            disk: false,
        },
        Stream {
            tenant: tenant("globex"),
            class: Class::Compute,
            rate_per_sec: 300.0,
            cpu: Duration::from_millis(1),
            disk: false,
        },
        Stream {
            tenant: tenant("initech"),
            class: Class::Accept,
            rate_per_sec: 2_000.0,
            cpu: Duration::from_micros(40),
            disk: false,
        },
        Stream {
            tenant: tenant("umbrella"),
            class: Class::Read,
            rate_per_sec: 200.0,
            cpu: Duration::from_micros(100),
            disk: true,
        },
    ];
    rt.set_weight(streams[1].tenant, 200).expect("a weight");
    for i in 0..40 {
        streams.push(Stream {
            tenant: tenant(&format!("small-{i:02}")),
            class: Class::Read,
            rate_per_sec: 200.0 / f64::from(i + 1),
            cpu: Duration::from_micros(80),
            disk: false,
        });
    }
    let handle = rt.handle();
    std::thread::spawn(move || drive(&handle, &streams, scale, &stop))
}

fn drive(handle: &Handle, streams: &[Stream], scale: f64, stop: &AtomicBool) {
    // Every millisecond, each stream's requests due by now.
    let start = Instant::now();
    let mut sent = vec![0u64; streams.len()];
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(1));
        let elapsed = start.elapsed().as_secs_f64();
        for (stream, sent) in streams.iter().zip(&mut sent) {
            let due = (elapsed * stream.rate_per_sec * scale) as u64;
            while *sent < due {
                *sent += 1;
                let (tenant, cpu, disk) = (stream.tenant, stream.cpu, stream.disk);
                let spec = Spawn::new()
                    .tenant(tenant)
                    .class(stream.class)
                    .timeout(Duration::from_millis(50));
                let h = handle.clone();
                let _ =
                    handle.spawn_with(spec, async move { request(&h, tenant, cpu, disk).await });
            }
        }
    }
}

async fn request(handle: &Handle, tenant: TenantId, cpu: Duration, disk: bool) {
    if disk {
        let _io = handle.io(tenant, IoKind::Read);
        if let Ok(read) =
            handle.spawn_blocking(tenant, || std::thread::sleep(Duration::from_micros(500)))
        {
            let _ = read.await;
        }
    }
    work(cpu);
    // Sending the answer: a write in flight across an await.
    let _io = handle.io(tenant, IoKind::Write);
    drama::yield_now().await;
}
