//! The HTTP client against a fake status endpoint.

mod common;

use drama_top::http;

#[test]
fn reads_a_snapshot_from_a_200() {
    let snapshot = common::snapshot();
    let (addr, server) = common::serve(common::json_response(&snapshot), 1);
    assert_eq!(http::fetch_snapshot(&addr).unwrap(), snapshot);
    let requests = server.join().unwrap();
    assert!(requests[0].starts_with("GET /snapshot.json?top=50 HTTP/1.0\r\n"));
    assert!(requests[0].contains(&format!("\r\nHost: {addr}\r\n")));
}

#[test]
fn reads_a_body_with_no_content_length() {
    let (addr, server) = common::serve(
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\ndrama  up 3s".to_vec(),
        1,
    );
    assert_eq!(http::get(&addr, "/").unwrap(), b"drama  up 3s");
    server.join().unwrap();
}

#[test]
fn rejects_a_404_with_a_clear_error() {
    let response =
        b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such page".to_vec();
    let (addr, server) = common::serve(response, 1);
    let error = http::fetch_snapshot(&addr).unwrap_err();
    assert_eq!(error.status(), Some(404));
    let message = error.to_string();
    assert!(message.contains(&addr), "{message}");
    assert!(message.contains("404 Not Found"), "{message}");
    assert!(message.contains("/snapshot.json"), "{message}");
    server.join().unwrap();
}

#[test]
fn rejects_a_body_that_is_not_a_snapshot() {
    // (An object with other fields would read as an empty snapshot: the
    // snapshot's fields default, so that versions apart still read.)
    let (addr, server) = common::serve(b"HTTP/1.0 200 OK\r\n\r\n[1, 2, 3]".to_vec(), 1);
    let message = http::fetch_snapshot(&addr).unwrap_err().to_string();
    assert!(message.contains("cannot read"), "{message}");
    server.join().unwrap();
}

#[test]
fn a_closed_port_is_a_connect_error() {
    let addr = common::closed_port();
    let message = http::fetch_snapshot(&addr).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("cannot connect to {addr}")),
        "{message}"
    );
}
