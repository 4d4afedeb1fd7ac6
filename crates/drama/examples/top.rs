//! A multi-tenant service to watch with `drama-top`: the runtime serves its
//! view on a loopback port while a driver offers several tenants'
//! requests, a little more than two workers can take (so that the tables
//! of heavy hitters, deep queues and most throttled all have something to
//! show).
//!
//! ```text
//! cargo run --release --features status --example top -- 127.0.0.1:7070 [SCALE] [SECONDS]
//! cargo run --release -p drama-top -- 127.0.0.1:7070
//! ```
//!
//! SCALE multiplies the offered load (default 1.4); SECONDS bounds the run
//! (default: until killed).

#[path = "common/workload.rs"]
mod workload;

use std::net::SocketAddr;
use std::time::Duration;

use drama::Runtime;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:7070").parse()?;
    let scale: f64 = args.next().map_or(Ok(1.4), |s| s.parse())?;
    let seconds: Option<u64> = args.next().map(|s| s.parse()).transpose()?;

    let rt = Runtime::builder().workers(2).status_addr(addr).build()?;
    let addr = rt.status_addr().expect("the endpoint was asked for");
    println!("serving the scheduler's view on http://{addr}/ (drama-top {addr})");
    workload::run(&rt, scale, seconds);
    println!("{}", rt.snapshot());
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
