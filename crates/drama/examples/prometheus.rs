//! The scheduler's view for Prometheus, served from drama itself.
//!
//! `metrics-exporter-prometheus` is installed as the `metrics` recorder
//! without its HTTP listener (which would start a tokio runtime behind the
//! user's back); a drama task serves `render()` on a loopback port over
//! async-io, and another exports a snapshot and runs the exporter's upkeep
//! every second. The multi-tenant workload of the `top` example gives it
//! something to show.
//!
//! ```text
//! cargo run --release --example prometheus -- 127.0.0.1:9898 [SECONDS]
//! curl -s http://127.0.0.1:9898/metrics | grep drama_tenant_cpu
//! ```

#[path = "common/workload.rs"]
#[allow(dead_code)]
mod workload;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use async_io::{Async, Timer};
use drama::metrics::Exporter;
use drama::{Class, Handle, JoinHandle, Runtime, Spawn};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How often the view is exported: once a second, the refresh of a
/// dashboard (a scrape every 15 s reads the latest export).
const EXPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The longest request read: 8 KiB (a scrape's request is a few hundred
/// bytes).
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// Installs the Prometheus recorder and starts, on `rt`, the exporting task
/// and the server on `addr`. Returns the address served and the two
/// tasks' handles (they run until the runtime shuts down).
pub(crate) fn serve(
    rt: &Runtime,
    addr: SocketAddr,
) -> Result<(SocketAddr, Vec<JoinHandle<()>>), Error> {
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let listener = Async::<TcpListener>::bind(addr)?;
    let addr = listener.get_ref().local_addr()?;
    // The server and the exporter are the service's own plumbing: a tenant
    // of their own, so that their cost shows apart from the tenants'.
    let ops = rt.tenant("ops")?;
    let spec = || Spawn::new().tenant(ops).class(Class::Accept);
    let handle = rt.handle();
    let exporting = rt
        .spawn_with(spec(), export(handle, prometheus.clone()))
        .map_err(|e| e.reason().to_string())?;
    let serving = rt
        .spawn_with(spec(), accept(listener, prometheus))
        .map_err(|e| e.reason().to_string())?;
    Ok((addr, vec![exporting, serving]))
}

/// Every `EXPORT_INTERVAL`: a snapshot through the exporter, then the
/// recorder's upkeep (it drains its histograms' buffers).
async fn export(rt: Handle, prometheus: PrometheusHandle) {
    let mut exporter = Exporter::default();
    loop {
        let tenants: Vec<_> = exporter
            .tenants()
            .into_iter()
            .map(drama::TenantId::new)
            .collect();
        exporter.export(&rt.snapshot_with(10, &tenants));
        prometheus.run_upkeep();
        Timer::after(EXPORT_INTERVAL).await;
    }
}

/// Accepts scrapes, one task per connection.
async fn accept(listener: Async<TcpListener>, prometheus: PrometheusHandle) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let prometheus = prometheus.clone();
        // A refused connection task (the runtime is overloaded) drops the
        // connection: the scraper retries at its next interval.
        let _ = drama::spawn(async move {
            let _ = answer(stream, &prometheus).await;
        });
    }
}

/// Reads a request (to the end of its headers) and answers with the
/// rendered metrics; `/metrics` and `/` are served, anything else is 404.
async fn answer(
    mut stream: Async<std::net::TcpStream>,
    prometheus: &PrometheusHandle,
) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST_BYTES {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&request);
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = if path == "/metrics" || path == "/" {
        ("200 OK", prometheus.render())
    } else {
        ("404 Not Found", "try /metrics\n".to_string())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:9898").parse()?;
    let seconds: Option<u64> = args.next().map(|s| s.parse()).transpose()?;
    let rt = Runtime::builder().workers(2).build()?;
    let (addr, _tasks) = serve(&rt, addr)?;
    println!("Prometheus metrics on http://{addr}/metrics");
    workload::run(&rt, 1.2, seconds);
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
