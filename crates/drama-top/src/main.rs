//! drama-top: the terminal, the arguments and the refresh loop; the
//! screen itself is the library's.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use drama_metrics::Snapshot;

use drama_top::{App, Control, http};
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event};

/// How often the screen fetches a snapshot.
const REFRESH: Duration = Duration::from_secs(1);

const USAGE: &str = "\
drama-top: a terminal view of a running drama runtime

usage:
  drama-top ADDR          the full-screen view, refreshed every second
  drama-top --once ADDR   print one snapshot as a text table and exit
  drama-top --help        this text

ADDR is the runtime's status endpoint, HOST:PORT (e.g. 127.0.0.1:7070:
drama's Builder::status_addr, feature `status`); drama-top reads
GET /snapshot.json from it.

keys:
  q, Esc, ctrl-c     quit
  Tab, ←, →, 1-4     switch the table of tenants
  ↑, ↓, PgUp, PgDn   scroll it
  c d r f n          sort it by cpu, queue depth, refused, in flight, name
                     (the same key again reverses the order)
  o                  back to the ranking's order

--once exits 0 after printing, or 1 with a message on stderr when the
snapshot cannot be fetched; a usage error exits 2.
";

/// What the command line asks for.
enum Command {
    Help,
    Once(String),
    Watch(String),
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut once = false;
    let mut addr = None;
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--once" => once = true,
            flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}`")),
            _ if addr.is_some() => return Err(format!("one address only, got `{arg}` too")),
            _ => addr = Some(normalize(&arg)),
        }
    }
    let addr = addr.ok_or("no address: which runtime? (e.g. 127.0.0.1:7070)")?;
    Ok(if once {
        Command::Once(addr)
    } else {
        Command::Watch(addr)
    })
}

/// Takes an address as an operator might paste it, `http://host:port/`
/// included, and keeps the `host:port`.
fn normalize(addr: &str) -> String {
    let addr = addr.strip_prefix("http://").unwrap_or(addr);
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.to_string()
}

fn main() -> ExitCode {
    let command = match parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("drama-top: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Once(addr) => match http::fetch_snapshot(&addr) {
            Ok(snapshot) => {
                // A closed pipe (`drama-top --once … | head`) is not an
                // error worth a message.
                let _ = write!(io::stdout(), "{snapshot}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("drama-top: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Watch(addr) => match watch(addr) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("drama-top: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// The full-screen view, until a key quits it; the error says what
/// failed.
fn watch(addr: String) -> Result<(), String> {
    // ratatui's panic hook restores raw mode and the main screen; this one,
    // called after it, shows the cursor again too, so that a panic leaves a
    // usable shell behind.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = ratatui::crossterm::execute!(io::stdout(), ratatui::crossterm::cursor::Show);
        hook(info);
    }));
    let mut terminal = ratatui::try_init().map_err(|e| {
        // Raw mode may be on even if the alternate screen failed; a
        // failure to undo what was never done is no news.
        let _ = ratatui::try_restore();
        format!("cannot take over the terminal ({e}); for scripts, use --once")
    })?;
    let result = run(&mut terminal, App::new(addr));
    ratatui::restore();
    result.map_err(|e| format!("the terminal failed: {e}"))
}

/// How long the screen waits for a key before it looks for a new
/// snapshot: keys are answered at once, snapshots within a tenth of a
/// second of their arrival.
const KEY_WAIT: Duration = Duration::from_millis(100);

fn run(terminal: &mut DefaultTerminal, mut app: App) -> io::Result<()> {
    // Fetching on a thread of its own: a runtime that answers slowly (or a
    // connection that stalls until its timeout) never holds the keys up.
    let (results, fetched) = mpsc::sync_channel(1);
    let addr = app.addr().to_string();
    std::thread::spawn(move || fetch_loop(&addr, &results));
    loop {
        terminal.draw(|frame| drama_top::render(frame, &app))?;
        // Take every key that came, then whatever snapshot arrived, and
        // draw again.
        let mut wait = KEY_WAIT;
        while event::poll(wait)? {
            if let Event::Key(key) = event::read()?
                && app.on_key(key) == Control::Quit
            {
                return Ok(());
            }
            wait = Duration::ZERO;
        }
        match fetched.try_recv() {
            Ok(Ok(snapshot)) => app.update(snapshot),
            Ok(Err(e)) => app.fetch_failed(e),
            Err(mpsc::TryRecvError::Empty) => {}
            // The fetching thread never leaves while the screen is up.
            Err(mpsc::TryRecvError::Disconnected) => return Ok(()),
        }
    }
}

/// Fetches a snapshot every `REFRESH` (from the end of the last fetch: a
/// slow runtime is asked once a second at most) and hands it over, until
/// the screen is gone.
fn fetch_loop(addr: &str, results: &mpsc::SyncSender<Result<Snapshot, http::FetchError>>) {
    while results.send(http::fetch_snapshot(addr)).is_ok() {
        std::thread::sleep(REFRESH);
    }
}
