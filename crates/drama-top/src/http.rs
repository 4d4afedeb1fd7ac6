//! Just enough HTTP/1.0 to read the runtime's status endpoint.
//!
//! The runtime answers `GET /snapshot.json` with the snapshot as JSON and
//! closes the connection, so a request is one connection: connect, send
//! the request, read to the end, split the head from the body. Nothing
//! here keeps a connection alive, follows a redirect or reads a chunked
//! body, since the endpoint does none of that; a response that needs them
//! is refused with an error that says so.

use std::error::Error;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use drama_metrics::Snapshot;

/// How long connecting, and each read or write, may take: long enough for
/// a runtime under overload to answer, short enough that the screen does
/// not freeze for long when it does not.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The path the runtime serves its snapshot at, as JSON, with rankings of
/// 50 tenants: rows enough to fill a tall terminal, and still a snapshot of
/// a few tens of kilobytes.
pub const SNAPSHOT_PATH: &str = "/snapshot.json?top=50";

/// The most a response may hold. A snapshot is bounded by its rankings'
/// length (a few kilobytes); anything much larger is not one, and reading
/// it whole would only use memory.
const MAX_RESPONSE_BYTES: u64 = 16 << 20;

/// Why a request failed. `Display` says what happened in a sentence an
/// operator can act on, naming the address.
#[derive(Debug)]
pub struct FetchError {
    addr: String,
    path: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The address does not parse or resolve.
    Address(Option<io::Error>),
    /// No connection could be made.
    Connect(io::Error),
    /// The connection broke, or went quiet for longer than [`TIMEOUT`].
    Io(io::Error),
    /// What came back is not an HTTP response this client reads.
    Malformed(String),
    /// A response other than `200`: its status code and the status line
    /// after the version (`404 Not Found`).
    Status(u16, String),
    /// A `200` whose body is not a snapshot.
    Json(serde_json::Error),
}

impl FetchError {
    fn new(addr: &str, path: &str, kind: Kind) -> FetchError {
        FetchError {
            addr: addr.to_string(),
            path: path.to_string(),
            kind,
        }
    }

    /// The status code, when the server answered with one other than 200.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            Kind::Status(code, _) => Some(code),
            _ => None,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addr = &self.addr;
        match &self.kind {
            Kind::Address(None) => write!(
                f,
                "`{addr}` is not an address: expected HOST:PORT, such as 127.0.0.1:7070"
            ),
            Kind::Address(Some(e)) => write!(
                f,
                "`{addr}` is not an address ({e}): expected HOST:PORT, such as 127.0.0.1:7070"
            ),
            Kind::Connect(e) => write!(f, "cannot connect to {addr}: {e}"),
            Kind::Io(e) if is_timeout(e) => write!(
                f,
                "{addr} did not answer GET {} within {}s",
                self.path,
                TIMEOUT.as_secs()
            ),
            Kind::Io(e) => write!(f, "GET {} from {addr} failed: {e}", self.path),
            Kind::Malformed(what) => write!(
                f,
                "{addr} answered GET {} with no HTTP response this client reads: {what}",
                self.path
            ),
            Kind::Status(_, line) => write!(
                f,
                "{addr} answered GET {} with `{line}`, not `200 OK`: is it a drama status endpoint?",
                self.path
            ),
            Kind::Json(e) => write!(
                f,
                "{addr} sent a snapshot drama-top cannot read ({e}): are the runtime and drama-top the same version?"
            ),
        }
    }
}

impl Error for FetchError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            Kind::Address(Some(e)) | Kind::Connect(e) | Kind::Io(e) => Some(e),
            Kind::Json(e) => Some(e),
            _ => None,
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    // A read past its timeout is `WouldBlock` on Unix and `TimedOut` on
    // Windows.
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Fetches the runtime's snapshot from `addr` (`HOST:PORT`).
pub fn fetch_snapshot(addr: &str) -> Result<Snapshot, FetchError> {
    let body = get(addr, SNAPSHOT_PATH)?;
    serde_json::from_slice(&body).map_err(|e| FetchError::new(addr, SNAPSHOT_PATH, Kind::Json(e)))
}

/// Sends `GET path` to `addr` (`HOST:PORT`) and returns the body of a
/// `200` response; any other status is an error.
pub fn get(addr: &str, path: &str) -> Result<Vec<u8>, FetchError> {
    let fail = |kind| FetchError::new(addr, path, kind);
    let mut stream = connect(addr).map_err(fail)?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: */*\r\n\r\n");
    let mut response = Vec::new();
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .and_then(|()| stream.write_all(request.as_bytes()))
        .and_then(|()| {
            (&mut stream)
                .take(MAX_RESPONSE_BYTES + 1)
                .read_to_end(&mut response)
        })
        .or_else(|e| {
            // A server that answers and closes without reading all of the
            // request makes the kernel reset the connection, which can
            // surface here after the whole response came. What did come
            // is parsed; if it is cut short, the parse says so.
            let reset = matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
            );
            if reset && !response.is_empty() {
                Ok(0)
            } else {
                Err(fail(Kind::Io(e)))
            }
        })?;
    if response.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(fail(Kind::Malformed(format!(
            "the response is larger than {} MiB",
            MAX_RESPONSE_BYTES >> 20
        ))));
    }
    body(&response).map(<[u8]>::to_vec).map_err(fail)
}

/// Connects to the first of `addr`'s socket addresses that accepts.
fn connect(addr: &str) -> Result<TcpStream, Kind> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| Kind::Address(Some(e)))?
        .collect();
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or(Kind::Address(None), Kind::Connect))
}

/// The body of a whole response, if its status is 200.
fn body(response: &[u8]) -> Result<&[u8], Kind> {
    let malformed = |what: &str| Kind::Malformed(what.to_string());
    if response.is_empty() {
        return Err(malformed("the connection closed with nothing sent"));
    }
    // Lines end in CRLF; a bare LF is read too, as most clients do.
    let (head, body) = split_head(response)
        .ok_or_else(|| malformed("the connection closed before the end of the headers"))?;
    let head = std::str::from_utf8(head).map_err(|_| malformed("the headers are not text"))?;
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let (version, status) = status_line.split_once(' ').unwrap_or((status_line, ""));
    if !version.starts_with("HTTP/") {
        return Err(Kind::Malformed(format!(
            "the status line is `{}`",
            status_line.chars().take(60).collect::<String>()
        )));
    }
    let status = status.trim();
    let code: u16 = status
        .split(' ')
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Kind::Malformed(format!("the status line is `{status_line}`")))?;
    if code != 200 {
        return Err(Kind::Status(code, status.to_string()));
    }
    let mut body = body;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let length: usize = value
                .parse()
                .map_err(|_| Kind::Malformed(format!("the Content-Length is `{value}`")))?;
            if body.len() < length {
                return Err(Kind::Malformed(format!(
                    "the body ends after {} of its {length} bytes",
                    body.len()
                )));
            }
            body = &body[..length];
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && !value.eq_ignore_ascii_case("identity")
        {
            return Err(Kind::Malformed(format!(
                "the body is sent with Transfer-Encoding `{value}`, which HTTP/1.0 does not have"
            )));
        }
    }
    Ok(body)
}

/// The head (status line and headers) and the body.
fn split_head(response: &[u8]) -> Option<(&[u8], &[u8])> {
    let crlf = response.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = response.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(c), Some(l)) if l < c => Some((&response[..l], &response[l + 2..])),
        (Some(c), _) => Some((&response[..c], &response[c + 4..])),
        (None, Some(l)) => Some((&response[..l], &response[l + 2..])),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(response: &str) -> String {
        FetchError::new("127.0.0.1:1", "/x", body(response.as_bytes()).unwrap_err()).to_string()
    }

    #[test]
    fn reads_the_body_of_a_200() {
        let response = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":1}";
        assert_eq!(body(response).unwrap(), b"{\"a\":1}");
        // Content-Length, when sent, bounds the body.
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}junk";
        assert_eq!(body(response).unwrap(), b"{}");
        // Bare LFs.
        assert_eq!(body(b"HTTP/1.0 200 OK\nA: b\n\nhi").unwrap(), b"hi");
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(error("HTTP/1.0 404 Not Found\r\n\r\nno").contains("`404 Not Found`"));
        assert!(error("").contains("nothing sent"));
        assert!(error("HTTP/1.0 200 OK\r\nContent-Type: x").contains("end of the headers"));
        assert!(error("SSH-2.0-OpenSSH\r\n\r\n").contains("status line is `SSH-2.0"));
        assert!(error("HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n{}").contains("2 of its 10"));
        assert!(
            error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}")
                .contains("chunked")
        );
    }

    #[test]
    fn a_bad_address_says_what_one_looks_like() {
        let e = get("no-port-here", "/").unwrap_err();
        assert!(e.to_string().contains("HOST:PORT"), "{e}");
    }
}
