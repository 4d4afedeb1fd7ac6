//! The screen, drawn on ratatui's `TestBackend` at the sizes an operator's
//! terminal has.

mod common;

use drama_top::{App, TenantTable, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The screen as lines of text.
fn draw(app: &App, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| render(frame, app)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| (0..width).map(|x| buffer[(x, y)].symbol()).collect())
        .collect()
}

fn app() -> App {
    let mut app = App::new("127.0.0.1:7070");
    app.update(common::snapshot());
    app
}

fn press(app: &mut App, c: char) {
    app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
}

/// The first line that shows `text`.
fn line_of(screen: &[String], text: &str) -> usize {
    screen
        .iter()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no `{text}` on the screen:\n{}", screen.join("\n")))
}

fn shows(screen: &[String], text: &str) -> bool {
    screen.iter().any(|l| l.contains(text))
}

#[test]
fn a_small_terminal_shows_the_process_and_the_heavy_hitters() {
    let screen = draw(&app(), 80, 24);
    for text in [
        "load 1.38",
        "saturated",
        "utilization 94%",
        "queue delay p50 42.0µs p99 3.5ms",
        "refused 96/s",
        "threads 5 (4 workers, 1 replaced)",
        "#2 100%",
        "compute",
        "globex",
        "acme",
        "initech",
        "q quit",
    ] {
        assert!(shows(&screen, text), "no `{text}`:\n{}", screen.join("\n"));
    }
    // Every line fits: nothing that matters is past the 80th column.
    assert!(screen.iter().all(|l| l.chars().count() == 80));
}

#[test]
fn a_large_terminal_shows_every_table_at_once() {
    let screen = draw(&app(), 160, 48);
    for text in [
        "load 1.38",
        "heavy hitters",
        "deep queues",
        "most throttled",
        "IO by kind",
        "umbrella",
        // The throttled table's reasons and the IO table's cells.
        "overloaded 800, over_share 100",
        "4 / 12.0k",
        "Tab/←→/1-4 table",
    ] {
        assert!(shows(&screen, text), "no `{text}`:\n{}", screen.join("\n"));
    }
}

#[test]
fn sorting_reorders_the_rows() {
    let mut app = app();
    // By rank: globex used the most CPU.
    let screen = draw(&app, 80, 24);
    assert!(line_of(&screen, "globex") < line_of(&screen, "acme"));
    assert!(shows(&screen, "by rank"));

    press(&mut app, 'n');
    let screen = draw(&app, 80, 24);
    assert!(line_of(&screen, "acme") < line_of(&screen, "globex"));
    assert!(shows(&screen, "by name ▲"));

    // The same key again reverses.
    press(&mut app, 'n');
    let screen = draw(&app, 80, 24);
    assert!(line_of(&screen, "umbrella") < line_of(&screen, "acme"));

    // acme has the most queued, umbrella next.
    press(&mut app, 'd');
    let screen = draw(&app, 80, 24);
    assert!(line_of(&screen, "acme") < line_of(&screen, "umbrella"));
    assert!(line_of(&screen, "umbrella") < line_of(&screen, "globex"));
    assert!(shows(&screen, "queued▼"));
}

#[test]
fn keys_switch_the_table() {
    let mut app = app();
    press(&mut app, '3');
    assert_eq!(app.table(), TenantTable::MostThrottled);
    let screen = draw(&app, 80, 24);
    assert!(shows(&screen, "overloaded 800"));
    // 90 refusals over 1.25 s.
    assert!(shows(&screen, "72"));
    assert!(!shows(&screen, "umbrella"));

    app.on_key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    assert_eq!(app.table(), TenantTable::Io);
    let screen = draw(&app, 80, 24);
    assert!(shows(&screen, "connect"));
    assert!(shows(&screen, "4 / 12.0k"));
}

#[test]
fn a_failed_fetch_keeps_the_last_snapshot_and_says_why() {
    let mut app = app();
    app.fetch_failed("cannot connect to 127.0.0.1:7070: Connection refused");
    app.fetch_failed("cannot connect to 127.0.0.1:7070: Connection refused");
    let screen = draw(&app, 80, 24);
    assert!(shows(&screen, "Connection refused"));
    assert!(shows(&screen, "globex"));
    assert!(shows(&screen, "load 1.38"));

    // Before any snapshot, the screen says what it waits for.
    let mut app = App::new("127.0.0.1:7070");
    let screen = draw(&app, 80, 24);
    assert!(shows(
        &screen,
        "waiting for the first snapshot from 127.0.0.1:7070"
    ));
    app.fetch_failed("cannot connect to 127.0.0.1:7070: Connection refused");
    assert!(shows(&draw(&app, 80, 24), "Connection refused"));
}

#[test]
fn tiny_terminals_do_not_break_it() {
    let app = app();
    for (w, h) in [(1, 1), (20, 5), (80, 10), (300, 100), (140, 36)] {
        draw(&app, w, h);
    }
    draw(&App::new("x"), 10, 3);
}

#[test]
fn the_tabs_stay_readable_whatever_the_order() {
    // Thirty tenants with IO, so that every table scrolls at 80×24.
    let mut snapshot = common::snapshot();
    let template = snapshot.tenants[0].clone();
    let mut ranked = snapshot.heavy_hitters[0];
    for id in 10..40 {
        let mut t = template.clone();
        t.id = id;
        t.name = format!("tenant-{id}");
        snapshot.tenants.push(t);
        ranked.id = id;
        for ranking in [
            &mut snapshot.heavy_hitters,
            &mut snapshot.deep_queues,
            &mut snapshot.most_throttled,
        ] {
            ranking.push(ranked);
        }
    }
    let mut app = App::new("127.0.0.1:7070");
    app.update(snapshot);
    for table in ['1', '2', '3', '4'] {
        press(&mut app, table);
        for key in ['o', 'c', 'd', 'r', 'f', 'n', 'n'] {
            press(&mut app, key);
            app.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE));
            let screen = draw(&app, 80, 24);
            let tabs = &screen[line_of(&screen, "1 heavy hitters")];
            assert!(tabs.contains("4 IO"), "table {table}, key {key}: {tabs}");
            // Which rows show, in some words.
            assert!(tabs.contains(" of 3") || tabs.contains("/3"), "{tabs}");
        }
    }
}
