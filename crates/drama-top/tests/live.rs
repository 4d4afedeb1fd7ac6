//! drama-top against a real runtime: a drama runtime serves its view on a
//! loopback port while tenants run, and `drama-top --once` prints them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use drama::{Class, Runtime, Spawn};

/// A runtime serving its view on a free loopback port. Admission is off:
/// the tests queue milliseconds of work at once, which admission rightly
/// refuses past its target, and they are about the view.
fn runtime() -> Runtime {
    Runtime::builder()
        .workers(2)
        .status_port(0)
        .admission(drama::admission::AdmissionConfig::off())
        .build()
        .unwrap()
}

/// Work for `tenant`: `n` tasks of about 200 µs each.
fn load(rt: &Runtime, tenant: &str, class: Class, n: usize) {
    let tenant = rt.tenant(tenant).unwrap();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            rt.spawn_with(Spawn::new().tenant(tenant).class(class), async {
                let until = Instant::now() + Duration::from_micros(200);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
            })
            .unwrap()
        })
        .collect();
    for h in handles {
        rt.block_on(h).unwrap();
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn once_prints_the_tenants_of_a_running_runtime() {
    let rt = runtime();
    load(&rt, "acme", Class::Read, 40);
    load(&rt, "globex", Class::Compute, 10);
    let addr = rt.status_addr().expect("serving");
    let out = Command::new(env!("CARGO_BIN_EXE_drama-top"))
        .args(["--once", &addr.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in ["heavy hitters", "acme", "globex", "compute", "read"] {
        assert!(stdout.contains(want), "{want} missing from:\n{stdout}");
    }
    // acme used about four times globex's CPU: it ranks first.
    let acme = stdout.find("acme").unwrap();
    let globex = stdout.find("globex").unwrap();
    assert!(acme < globex, "{stdout}");
}

#[test]
fn the_endpoint_serves_the_table_the_json_and_nothing_else() {
    let rt = runtime();
    load(&rt, "initech", Class::Accept, 5);
    let addr = rt.status_addr().unwrap();
    let table = get(addr, "/");
    assert!(table.starts_with("HTTP/1.0 200 OK\r\n"), "{table}");
    assert!(table.contains("initech"), "{table}");
    let json = get(addr, "/snapshot.json?top=3");
    let body = json.split_once("\r\n\r\n").unwrap().1;
    let snap: drama::metrics::Snapshot = serde_json::from_str(body).unwrap();
    assert_eq!(snap.tenant_named("initech").unwrap().completed, 5);
    assert!(get(addr, "/nope").starts_with("HTTP/1.0 404"));
    assert!(get(addr, "/").contains("initech"));
    // The endpoint's thread leaves with the runtime, and the port closes.
    assert!(rt.shutdown_timeout(Duration::from_secs(2)));
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err());
}

#[test]
fn a_taken_port_is_a_build_error() {
    let rt = runtime();
    let addr = rt.status_addr().unwrap();
    let err = Runtime::builder()
        .workers(1)
        .status_addr(addr)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), drama::BuildErrorKind::StatusEndpoint);
}
