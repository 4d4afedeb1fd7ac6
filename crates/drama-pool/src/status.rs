//! The status endpoint (`Builder::status_addr`, the `status` feature): the
//! scheduler's view over plain HTTP/1.0, for `drama-top` and scripts.
//!
//! One thread of the pool's accepts a connection at a time, reads the
//! request line, answers and closes: `GET /` is the snapshot's table,
//! `GET /snapshot.json` its JSON (`drama_metrics::Snapshot` with serde);
//! `?top=N` sets the rankings' length (default 10, at most 1,000).
//! No async runtime, no thread per connection: a snapshot costs a few
//! milliseconds at most, and an operator's terminal asks once a second.
//! Each connection gets [`IO_TIMEOUT`] to send its request and take the
//! answer, so a client that connects and stalls holds the endpoint for
//! that long at most, and never the pool.
//!
//! The thread holds the pool weakly and leaves when the pool closes:
//! shutdown connects to the endpoint once to wake its `accept`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::pool::Shared;
use crate::sync::lock;

/// How long a connection may take to send its request and to take the
/// answer: 2 s, ample for a loopback client, short enough that a stalled
/// one does not keep an operator waiting long.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest request line read: 1 KiB (the paths served are short).
const MAX_REQUEST_LINE: u64 = 1024;

/// How long shutdown waits to connect to the endpoint to wake it.
const WAKE_TIMEOUT: Duration = Duration::from_millis(200);

/// Starts the endpoint's thread on `listener`.
pub(crate) fn start(shared: &Arc<Shared>, listener: TcpListener) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let _ = shared.status_addr.set(addr);
    let pool = Arc::downgrade(shared);
    let handle = std::thread::Builder::new()
        .name(format!("{}-status", shared.config.thread_name))
        .spawn(move || serve(&pool, &listener))?;
    lock(&shared.handles).push(handle);
    Ok(())
}

/// Wakes the endpoint's thread after the pool closed, so that it leaves.
pub(crate) fn wake(shared: &Shared) {
    if let Some(addr) = shared.status_addr.get() {
        let _ = TcpStream::connect_timeout(&wake_addr(*addr), WAKE_TIMEOUT);
    }
}

/// Where to connect to reach a listener bound to `addr` (a wildcard
/// address is reached on loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let mut to = addr;
    if to.ip().is_unspecified() {
        to.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    to
}

fn serve(pool: &Weak<Shared>, listener: &TcpListener) {
    for stream in listener.incoming() {
        let Some(shared) = pool.upgrade() else {
            return;
        };
        if shared.state.is_closed() {
            return;
        }
        match stream {
            // A client that goes away mid-answer is its own problem.
            Ok(stream) => drop(answer(&shared, stream)),
            // Out of descriptors, or a connection reset before it was
            // accepted: wait a little rather than spin, then go on.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Reads one request from `stream` and answers it.
fn answer(shared: &Shared, stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_REQUEST_LINE)).read_line(&mut line)?;
    let (status, content_type, body) = respond(shared, &line);
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// The answer to a request line: status, content type, body.
fn respond(shared: &Shared, request_line: &str) -> (&'static str, &'static str, String) {
    let mut words = request_line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if method != "GET" {
        return (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        );
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let top = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("top="))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(crate::snapshot::DEFAULT_TOP);
    match path {
        "/" | "/snapshot" => (
            "200 OK",
            "text/plain; charset=utf-8",
            crate::snapshot::snapshot(shared, top, &[]).to_string(),
        ),
        "/snapshot.json" => {
            match serde_json::to_string(&crate::snapshot::snapshot(shared, top, &[])) {
                Ok(json) => ("200 OK", "application/json", json),
                Err(e) => ("500 Internal Server Error", "text/plain", format!("{e}\n")),
            }
        }
        _ => (
            "404 Not Found",
            "text/plain",
            "try / or /snapshot.json\n".to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_address_is_woken_on_loopback() {
        let any: SocketAddr = "0.0.0.0:7070".parse().unwrap();
        assert_eq!(wake_addr(any), "127.0.0.1:7070".parse().unwrap());
        let v6: SocketAddr = "[::]:7070".parse().unwrap();
        assert_eq!(wake_addr(v6), "[::1]:7070".parse().unwrap());
        let lo: SocketAddr = "127.0.0.2:1".parse().unwrap();
        assert_eq!(wake_addr(lo), lo);
    }
}
