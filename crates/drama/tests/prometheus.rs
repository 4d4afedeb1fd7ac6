//! The Prometheus example serves the scheduler's view: started here on a
//! free loopback port, scraped over HTTP, its series found.

#[path = "../examples/prometheus.rs"]
#[allow(dead_code)]
mod example;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use drama::{Runtime, Spawn};

/// GETs `path` from `addr`: the status line and the body. A connection
/// the example drops (its connection task refused by admission, as an
/// overloaded service does) is retried, as a scraper does at its next
/// interval, for up to 10 s.
fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let once = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    };
    let until = Instant::now() + Duration::from_secs(10);
    let response = loop {
        match once() {
            Ok(response) if !response.is_empty() => break response,
            other => {
                assert!(Instant::now() < until, "no answer from {addr}: {other:?}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    let (head, body) = response.split_once("\r\n\r\n").expect("a head");
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

#[test]
fn a_scrape_finds_the_tenants_series() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    // Work done before the first export: acme's CPU is in it.
    let acme = rt.tenant("acme").unwrap();
    let work = rt
        .spawn_with(Spawn::new().tenant(acme), async {
            let until = Instant::now() + Duration::from_millis(5);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        })
        .unwrap();
    rt.block_on(work).unwrap();

    let (addr, _tasks) = example::serve(&rt, "127.0.0.1:0".parse().unwrap()).unwrap();
    // The exporting task's first export comes as it starts; wait for it.
    let until = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (status, body) = get(addr, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        if body.contains("drama_tenant_cpu_nanoseconds_total{tenant=\"acme\"}") {
            break body;
        }
        assert!(Instant::now() < until, "no acme series in:\n{body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    for series in [
        "drama_load_score",
        "drama_utilization",
        "drama_worker_utilization{worker=\"1\"}",
        "drama_class_spawned_total{class=\"compute\"}",
        "drama_class_queue_delay_seconds{class=\"compute\",quantile=\"0.99\"}",
        "drama_tenant_spawned_total{tenant=\"acme\"} 1",
        "drama_tenant_completed_total{tenant=\"acme\"} 1",
        "drama_tenant_cpu_nanoseconds_total{tenant=\"other\"}",
    ] {
        assert!(body.contains(series), "{series} missing from:\n{body}");
    }
    let (status, _) = get(addr, "/nope");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    rt.shutdown_timeout(Duration::from_secs(1));
}
