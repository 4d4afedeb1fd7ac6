//! drama-top: a terminal view of a running drama runtime.
//!
//! Point it at the runtime's status endpoint (a loopback address such as
//! `127.0.0.1:7070`) and it shows, refreshed every second, what the
//! runtime's [`Snapshot`](drama_metrics::Snapshot) says: the load score
//! and utilization with a minute of history, queueing delays, each class's
//! counts and latencies, and the tenants that matter now: the heavy
//! hitters by CPU, the deepest queues, the most throttled, and IO by kind.
//!
//! ```text
//! drama-top 127.0.0.1:7070          # the full-screen view; Q, Esc or ctrl-c quits
//! drama-top --once 127.0.0.1:7070   # one snapshot as a text table, for scripts
//! ```
//!
//! The runtime serves `GET /snapshot.json` (the snapshot as JSON) over
//! plain HTTP/1.0 and closes the connection; [`http`] is the small client
//! that reads it. A failed fetch keeps the last snapshot on screen, shows
//! the error on the status line and leaves a gap in the history; the next
//! refresh tries again.
//!
//! The library is the screen without the terminal: an [`App`] holds the
//! last snapshot, the history and what the keys chose, and [`render`]
//! draws it on any ratatui backend, so the screen is tested on a
//! `TestBackend`:
//!
//! ```
//! use drama_metrics::{Ranked, Snapshot, TenantRow};
//! use drama_top::App;
//! use ratatui::{Terminal, backend::TestBackend};
//!
//! // A snapshot with one heavy hitter. The metrics types are
//! // non-exhaustive: start from their defaults and set fields.
//! let mut snapshot = Snapshot::default();
//! snapshot.process.load_score = 0.42;
//! let mut acme = TenantRow::default();
//! acme.id = 1;
//! acme.name = "acme".to_string();
//! acme.cpu_ns_window = 750_000;
//! snapshot.tenants.push(acme);
//! let mut top = Ranked::default();
//! top.id = 1;
//! top.value = 750_000;
//! top.share = 1.0;
//! snapshot.heavy_hitters.push(top);
//!
//! let mut app = App::new("127.0.0.1:7070");
//! app.update(snapshot);
//!
//! let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
//! terminal.draw(|frame| drama_top::render(frame, &app)).unwrap();
//! let screen = terminal.backend().to_string();
//! assert!(screen.contains("load 0.42"));
//! assert!(screen.contains("acme"));
//! ```

#![forbid(unsafe_code)]

mod app;
pub mod http;
mod ui;

pub use app::{App, Control, HISTORY, Sort, SortKey, TenantTable};
pub use ui::render;
