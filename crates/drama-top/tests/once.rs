//! `drama-top --once`, end to end: the built binary against a fake
//! status endpoint.

mod common;

use std::process::Command;

fn drama_top(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drama-top"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn once_prints_the_table() {
    let snapshot = common::snapshot();
    let (addr, server) = common::serve(common::json_response(&snapshot), 1);
    let out = drama_top(&["--once", &addr]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    // The snapshot's own table, as the runtime's `GET /` would show it.
    assert_eq!(stdout, snapshot.to_string());
    assert!(
        stdout.contains("acme") && stdout.contains("globex"),
        "{stdout}"
    );
    assert!(stdout.contains("load 1.38 (saturated)"), "{stdout}");
    server.join().unwrap();
}

#[test]
fn once_against_a_closed_port_fails_with_a_message() {
    let addr = common::closed_port();
    let out = drama_top(&["--once", &addr]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot connect to {addr}")),
        "{stderr}"
    );
}

#[test]
fn once_against_a_404_fails_with_a_message() {
    let (addr, server) = common::serve(b"HTTP/1.0 404 Not Found\r\n\r\n".to_vec(), 1);
    let out = drama_top(&["--once", &format!("http://{addr}/")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("404 Not Found"));
    server.join().unwrap();
}

#[test]
fn help_and_usage_errors() {
    let out = drama_top(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("drama-top --once ADDR"));

    for args in [
        &[][..],
        &["--once"],
        &["--bogus", "127.0.0.1:1"],
        &["a:1", "b:2"],
    ] {
        let out = drama_top(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
    }
}
