//! What the integration tests share: a snapshot of a busy runtime, and a
//! fake status endpoint.

// Each test file uses some of these helpers, not all.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use drama_metrics::{CLASS_NAMES, ClassRow, Ranked, Snapshot, Summary, TenantRow, WorkerRow};

/// A tenant row: `queued` is per class, `refused` per reason.
fn tenant(
    id: u32,
    name: &str,
    cpu_ns_window: u64,
    queued: [u64; 4],
    refused: [u64; drama_metrics::REASONS],
) -> TenantRow {
    let mut t = TenantRow::default();
    t.id = id;
    t.name = name.to_string();
    t.weight = id;
    t.cpu_ns_window = cpu_ns_window;
    t.cpu_ns = cpu_ns_window * 50;
    t.queued = queued;
    t.refused = refused;
    t.refused_window = refused.iter().sum::<u64>() / 10;
    t.in_flight = queued.iter().sum::<u64>() + u64::from(id) * 3;
    t.spawned = 2_314;
    t.queued_polls = 100;
    t.queue_delay_ns = 100 * 25_000;
    t
}

fn ranked(id: u32, value: u64, share: f64) -> Ranked {
    let mut r = Ranked::default();
    r.id = id;
    r.value = value;
    r.share = share;
    r
}

/// A runtime under overload with five tenants. `globex` is the heaviest
/// hitter, `acme` has the deepest queue, `initech` is the most throttled.
/// The floats are exact in binary so that a JSON round trip keeps them.
pub(crate) fn snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    s.uptime_ms = 187_000;
    s.window_ms = 1_250;
    let p = &mut s.process;
    p.load_score = 1.375;
    p.utilization = 0.9375;
    p.armed = true;
    p.queue_delay_p50_ns = 42_000;
    p.queue_delay_p99_ns = 3_500_000;
    p.refusals_per_sec = 96.0;
    p.tasks = 1_234;
    p.in_flight = 1_500;
    p.workers = 4;
    p.threads = 5;
    p.stuck_replaced = 1;
    p.blocking_threads = 2;
    p.blocking_queued = 3;
    p.queued = 57;
    p.tenants = 42;
    for u in [0.5, 0.75, 1.0, 0.875] {
        let mut w = WorkerRow::default();
        w.utilization = u;
        w.polls_per_sec = 1_000.0;
        s.workers.push(w);
    }
    for (i, name) in CLASS_NAMES.iter().enumerate() {
        let mut c = ClassRow::default();
        c.name = name.to_string();
        c.spawned = 1_000 * (i as u64 + 1);
        c.completed = 900 * (i as u64 + 1);
        c.cpu_ns = 2_000_000_000;
        c.queue_delay = Summary {
            p50_ns: 40_000,
            p99_ns: 2_000_000,
            ..Summary::default()
        };
        s.classes.push(c);
    }
    let mut acme = tenant(1, "acme", 300_000_000, [0, 30, 10, 0], [5, 2, 0, 0, 0, 0]);
    acme.io_in_flight = [0, 0, 4, 1, 0];
    acme.io_done = [0, 3, 12_000, 800, 0];
    let mut globex = tenant(
        2,
        "globex",
        600_000_000,
        [0, 5, 0, 0],
        [0; drama_metrics::REASONS],
    );
    globex.io_done = [2, 0, 0, 0, 0];
    s.tenants = vec![
        acme,
        globex,
        tenant(
            3,
            "initech",
            100_000_000,
            [0, 2, 0, 0],
            [800, 100, 0, 0, 0, 0],
        ),
        tenant(
            4,
            "umbrella",
            50_000_000,
            [0, 12, 0, 0],
            [0; drama_metrics::REASONS],
        ),
    ];
    s.heavy_hitters = vec![
        ranked(2, 600_000_000, 0.5),
        ranked(1, 300_000_000, 0.25),
        ranked(3, 100_000_000, 0.125),
        ranked(4, 50_000_000, 0.0625),
    ];
    s.deep_queues = vec![
        ranked(1, 40, 0.625),
        ranked(4, 12, 0.1875),
        ranked(2, 5, 0.078125),
    ];
    s.most_throttled = vec![ranked(3, 90, 0.9375), ranked(1, 1, 0.0078125)];
    s
}

/// A whole HTTP/1.0 response with a JSON body.
pub(crate) fn json_response(snapshot: &Snapshot) -> Vec<u8> {
    let body = serde_json::to_vec(snapshot).unwrap();
    let mut response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend(body);
    response
}

/// A fake status endpoint on a free loopback port: it answers `count`
/// connections with `response` each, closing each after, and hands back
/// the requests' heads when done. Join it only after the client's
/// requests, since it waits for them.
pub(crate) fn serve(response: Vec<u8>, count: usize) -> (String, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = thread::spawn(move || {
        let mut requests = Vec::new();
        for _ in 0..count {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut request = Vec::new();
            let mut byte = [0; 1];
            // The head ends with an empty line; a GET has no body.
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            stream.write_all(&response).unwrap();
            requests.push(String::from_utf8_lossy(&request).into_owned());
        }
        requests
    });
    (addr, handle)
}

/// An address nothing listens on: a port the system just handed out and
/// took back.
pub(crate) fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}
