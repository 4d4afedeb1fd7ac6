//! What drama-top remembers between refreshes: the last snapshot, the
//! recent history, the table shown and how each table is sorted, and what
//! the keys do to it.

use std::cmp::Reverse;
use std::collections::VecDeque;
use std::fmt;

use drama_metrics::{Ranked, Snapshot, TenantRow};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// How many refreshes the history sparklines remember: a minute at one
/// refresh a second.
pub const HISTORY: usize = 60;

/// The tables of tenants, in the order the keys `1` to `4` pick them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantTable {
    /// The tenants that used the most CPU over the window.
    HeavyHitters,
    /// The tenants with the most tasks queued now.
    DeepQueues,
    /// The tenants refused the most over the window.
    MostThrottled,
    /// IO in flight and done, by kind, for every tenant in the snapshot
    /// that did any.
    Io,
}

impl TenantTable {
    /// Every table, in key order.
    pub const ALL: [TenantTable; 4] = [
        TenantTable::HeavyHitters,
        TenantTable::DeepQueues,
        TenantTable::MostThrottled,
        TenantTable::Io,
    ];

    /// The table's title.
    pub fn title(self) -> &'static str {
        match self {
            TenantTable::HeavyHitters => "heavy hitters",
            TenantTable::DeepQueues => "deep queues",
            TenantTable::MostThrottled => "most throttled",
            TenantTable::Io => "IO by kind",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a table of tenants is sorted by. Numbers sort largest first and
/// names alphabetically, unless reversed; ties keep the ranking's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// The ranking's own order (for the IO table: IO in flight, then done).
    Rank,
    /// CPU over the window, then since the start.
    Cpu,
    /// Tasks queued now, every class.
    Queued,
    /// Refusals over the window, then since the start.
    Refused,
    /// Work in flight now (in the IO table: IO in flight).
    InFlight,
    /// The tenant's name.
    Name,
}

impl SortKey {
    /// The key's name, as the screen shows it.
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Rank => "rank",
            SortKey::Cpu => "cpu",
            SortKey::Queued => "queued",
            SortKey::Refused => "refused",
            SortKey::InFlight => "in flight",
            SortKey::Name => "name",
        }
    }
}

/// A table's order: the key, and whether it is reversed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    /// What the rows are sorted by.
    pub key: SortKey,
    /// Whether the order is the key's natural one turned around.
    pub reversed: bool,
}

impl Default for Sort {
    fn default() -> Sort {
        Sort {
            key: SortKey::Rank,
            reversed: false,
        }
    }
}

/// What the loop should do after a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep going.
    Continue,
    /// Restore the terminal and exit.
    Quit,
}

/// drama-top's state: the last snapshot, the history, and what the keys
/// chose. [`render`](crate::render) draws it.
#[derive(Debug)]
pub struct App {
    addr: String,
    snapshot: Option<Snapshot>,
    /// Load score and utilization at each refresh, oldest first; `None`
    /// where a fetch failed, so an outage shows as a gap.
    load: VecDeque<Option<f64>>,
    utilization: VecDeque<Option<f64>>,
    /// The last fetch's error, and how many fetches in a row failed.
    error: Option<String>,
    failures: u64,
    table: TenantTable,
    sorts: [Sort; 4],
    /// The first row shown, per table.
    scroll: [usize; 4],
}

/// One row of a table of tenants: the tenant and its place in the
/// ranking the table shows (none in the IO table).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry<'a> {
    pub(crate) row: &'a TenantRow,
    pub(crate) ranked: Option<Ranked>,
}

impl App {
    /// A new view of the runtime at `addr`, with no snapshot yet.
    pub fn new(addr: impl Into<String>) -> App {
        App {
            addr: addr.into(),
            snapshot: None,
            load: VecDeque::with_capacity(HISTORY),
            utilization: VecDeque::with_capacity(HISTORY),
            error: None,
            failures: 0,
            table: TenantTable::HeavyHitters,
            sorts: [Sort::default(); 4],
            scroll: [0; 4],
        }
    }

    /// The address the snapshots come from.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Takes a fresh snapshot: it replaces the last one and extends the
    /// history.
    pub fn update(&mut self, snapshot: Snapshot) {
        push(&mut self.load, Some(snapshot.process.load_score));
        push(&mut self.utilization, Some(snapshot.process.utilization));
        self.snapshot = Some(snapshot);
        self.error = None;
        self.failures = 0;
    }

    /// Notes a failed fetch: the last snapshot stays on screen, the
    /// history gets a gap, and the status line shows `error`.
    pub fn fetch_failed(&mut self, error: impl fmt::Display) {
        push(&mut self.load, None);
        push(&mut self.utilization, None);
        self.error = Some(error.to_string());
        self.failures += 1;
    }

    /// The snapshot on screen, if a fetch ever succeeded.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// The load score history, oldest first.
    pub(crate) fn load_history(&self) -> &VecDeque<Option<f64>> {
        &self.load
    }

    /// The utilization history, oldest first.
    pub(crate) fn utilization_history(&self) -> &VecDeque<Option<f64>> {
        &self.utilization
    }

    /// The last fetch's error, if it failed, and how many fetches in a row
    /// failed.
    pub fn error(&self) -> Option<(&str, u64)> {
        self.error.as_deref().map(|e| (e, self.failures))
    }

    /// The table of tenants selected (the one shown, on a small screen).
    pub fn table(&self) -> TenantTable {
        self.table
    }

    /// How `table` is sorted.
    pub fn sort(&self, table: TenantTable) -> Sort {
        self.sorts[table.index()]
    }

    /// Acts on a key:
    ///
    /// - `q`, `Q`, `Esc`, ctrl-c: quit (as in top and htop).
    /// - `Tab`, `→` / `Shift-Tab`, `←`: the next / previous table of
    ///   tenants; `1` to `4`: that table.
    /// - `c`, `d`, `r`, `f`, `n`: sort the selected table by CPU, queue
    ///   depth, refused, in flight or name; the same key again reverses the
    ///   order. `o`: back to the ranking's order.
    /// - `↑`/`k`, `↓`/`j`, `PgUp`, `PgDn`, `Home`, `End`: scroll it.
    pub fn on_key(&mut self, key: KeyEvent) -> Control {
        if key.kind == KeyEventKind::Release {
            return Control::Continue;
        }
        // Raw mode turns ctrl-c into a key, so it quits here, before `c`
        // sorts by CPU.
        if key.modifiers.contains(KeyModifiers::CONTROL) {
            return match key.code {
                KeyCode::Char('c' | 'C') => Control::Quit,
                _ => Control::Continue,
            };
        }
        let i = self.table.index();
        match key.code {
            KeyCode::Esc | KeyCode::Char('q' | 'Q') => return Control::Quit,
            KeyCode::Tab | KeyCode::Right => self.select((i + 1) % 4),
            KeyCode::BackTab | KeyCode::Left => self.select((i + 3) % 4),
            KeyCode::Char(c @ '1'..='4') => self.select(c as usize - '1' as usize),
            KeyCode::Char('o') => self.sort_by(SortKey::Rank),
            KeyCode::Char('c') => self.sort_by(SortKey::Cpu),
            KeyCode::Char('d') => self.sort_by(SortKey::Queued),
            KeyCode::Char('r') => self.sort_by(SortKey::Refused),
            KeyCode::Char('f') => self.sort_by(SortKey::InFlight),
            KeyCode::Char('n') => self.sort_by(SortKey::Name),
            KeyCode::Down | KeyCode::Char('j') => self.scroll_by(1),
            KeyCode::Up | KeyCode::Char('k') => self.scroll_by(-1),
            KeyCode::PageDown => self.scroll_by(10),
            KeyCode::PageUp => self.scroll_by(-10),
            KeyCode::Home => self.scroll[i] = 0,
            KeyCode::End => self.scroll_by(isize::MAX),
            _ => {}
        }
        Control::Continue
    }

    fn select(&mut self, index: usize) {
        self.table = TenantTable::ALL[index];
    }

    /// Sorts the selected table by `key`; the same key again reverses it.
    fn sort_by(&mut self, key: SortKey) {
        let i = self.table.index();
        let sort = &mut self.sorts[i];
        if sort.key == key {
            sort.reversed = !sort.reversed;
        } else {
            *sort = Sort {
                key,
                reversed: false,
            };
        }
        // A new order shows its top.
        self.scroll[i] = 0;
    }

    fn scroll_by(&mut self, rows: isize) {
        let i = self.table.index();
        let last = self.entries(self.table).len().saturating_sub(1);
        self.scroll[i] = self.scroll[i].saturating_add_signed(rows).min(last);
    }

    /// The first row `table` shows (before fitting it to the screen).
    pub(crate) fn scroll(&self, table: TenantTable) -> usize {
        self.scroll[table.index()]
    }

    /// The rows of `table`, in its order.
    pub(crate) fn entries(&self, table: TenantTable) -> Vec<Entry<'_>> {
        let Some(s) = &self.snapshot else {
            return Vec::new();
        };
        let ranked = |ranking: &[Ranked]| -> Vec<Entry<'_>> {
            ranking
                .iter()
                .filter_map(|r| {
                    s.tenant(r.id).map(|row| Entry {
                        row,
                        ranked: Some(*r),
                    })
                })
                .collect()
        };
        let mut entries = match table {
            TenantTable::HeavyHitters => ranked(&s.heavy_hitters),
            TenantTable::DeepQueues => ranked(&s.deep_queues),
            TenantTable::MostThrottled => ranked(&s.most_throttled),
            TenantTable::Io => {
                let mut io: Vec<Entry<'_>> = s
                    .tenants
                    .iter()
                    .filter(|t| io_in_flight(t) + io_done(t) > 0)
                    .map(|row| Entry { row, ranked: None })
                    .collect();
                io.sort_by_key(|e| Reverse((io_in_flight(e.row), io_done(e.row))));
                io
            }
        };
        let sort = self.sort(table);
        // `sort_by` is stable: ties keep the ranking's order.
        match sort.key {
            SortKey::Rank => {}
            SortKey::Name => entries.sort_by(|a, b| a.row.name.cmp(&b.row.name)),
            key => entries.sort_by(|a, b| {
                let value = |e: &Entry<'_>| value(table, key, e.row);
                value(b).cmp(&value(a))
            }),
        }
        if sort.reversed {
            entries.reverse();
        }
        entries
    }
}

/// What `key` sorts a row of `table` by, largest first.
fn value(table: TenantTable, key: SortKey, t: &TenantRow) -> (u64, u64) {
    match key {
        SortKey::Cpu => (t.cpu_ns_window, t.cpu_ns),
        SortKey::Queued => (t.queued_total(), 0),
        SortKey::Refused => (t.refused_window, t.refused_total()),
        SortKey::InFlight if table == TenantTable::Io => (io_in_flight(t), io_done(t)),
        SortKey::InFlight => (t.in_flight, 0),
        SortKey::Rank | SortKey::Name => (0, 0),
    }
}

pub(crate) fn io_in_flight(t: &TenantRow) -> u64 {
    t.io_in_flight.iter().sum()
}

pub(crate) fn io_done(t: &TenantRow) -> u64 {
    t.io_done.iter().sum()
}

fn push(history: &mut VecDeque<Option<f64>>, value: Option<f64>) {
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn snapshot() -> Snapshot {
        let mut s = Snapshot::default();
        for (id, name, cpu, queued) in [
            (1, "globex", 900, 1),
            (2, "acme", 500, 7),
            (3, "zeta", 100, 3),
        ] {
            let mut t = TenantRow::default();
            t.id = id;
            t.name = name.into();
            t.cpu_ns_window = cpu;
            t.queued[1] = queued;
            s.tenants.push(t);
            let mut r = Ranked::default();
            r.id = id;
            r.value = cpu;
            s.heavy_hitters.push(r);
        }
        s
    }

    fn names(app: &App) -> Vec<&str> {
        app.entries(app.table())
            .iter()
            .map(|e| e.row.name.as_str())
            .collect()
    }

    #[test]
    fn keys_sort_reverse_and_quit() {
        let mut app = App::new("x");
        app.update(snapshot());
        assert_eq!(names(&app), ["globex", "acme", "zeta"]);
        app.on_key(key(KeyCode::Char('n')));
        assert_eq!(names(&app), ["acme", "globex", "zeta"]);
        app.on_key(key(KeyCode::Char('n')));
        assert_eq!(names(&app), ["zeta", "globex", "acme"]);
        app.on_key(key(KeyCode::Char('d')));
        assert_eq!(names(&app), ["acme", "zeta", "globex"]);
        app.on_key(key(KeyCode::Char('o')));
        assert_eq!(names(&app), ["globex", "acme", "zeta"]);
        // Another table keeps its own order.
        app.on_key(key(KeyCode::Char('2')));
        assert_eq!(app.sort(TenantTable::DeepQueues), Sort::default());
        assert_eq!(app.on_key(key(KeyCode::Char('d'))), Control::Continue);
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), Control::Quit);
        assert_eq!(app.on_key(key(KeyCode::Char('Q'))), Control::Quit);
        assert_eq!(app.on_key(key(KeyCode::Esc)), Control::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.on_key(ctrl_c), Control::Quit);
    }

    #[test]
    fn scrolling_stays_within_the_rows() {
        let mut app = App::new("x");
        app.update(snapshot());
        app.on_key(key(KeyCode::End));
        assert_eq!(app.scroll(TenantTable::HeavyHitters), 2);
        app.on_key(key(KeyCode::Down));
        assert_eq!(app.scroll(TenantTable::HeavyHitters), 2);
        app.on_key(key(KeyCode::PageUp));
        assert_eq!(app.scroll(TenantTable::HeavyHitters), 0);
    }

    #[test]
    fn history_is_bounded_and_keeps_gaps() {
        let mut app = App::new("x");
        for _ in 0..HISTORY + 5 {
            app.update(snapshot());
        }
        app.fetch_failed("refused");
        assert_eq!(app.load_history().len(), HISTORY);
        assert_eq!(app.load_history().back(), Some(&None));
        assert_eq!(app.error(), Some(("refused", 1)));
        assert!(app.snapshot().is_some());
    }
}
