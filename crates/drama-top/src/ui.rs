//! Drawing an [`App`] on a frame.
//!
//! Two layouts. On a small terminal (80×24 is the one to fit) the panels
//! stack: the header, the two history sparklines side by side, the class
//! table, and one table of tenants at a time under a row of tabs. On a
//! large one (from 140×36) the class table and the sparklines share a row
//! and the four tables of tenants show at once, in a grid, the selected
//! one highlighted. Panels have a top border only, so that an 80-column
//! table gets all 80 columns.

use drama_metrics::{IO_KIND_NAMES, IO_KINDS, Snapshot, fit, fmt_count, fmt_ns, fmt_uptime};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Paragraph, RenderDirection, Row, Sparkline, SparklineBar, Table,
};

use crate::app::{App, Entry, SortKey, TenantTable};

/// The narrowest terminal that gets the wide layout.
const WIDE_WIDTH: u16 = 140;

/// The shortest terminal that gets the wide layout.
const WIDE_HEIGHT: u16 = 36;

/// Between two items of the header: wide where there is room, narrower
/// on a small terminal, where it saves a line.
fn gap(width: u16) -> &'static str {
    if width < 100 { "  " } else { "   " }
}

/// Draws `app` on the whole frame.
pub fn render(frame: &mut Frame<'_>, app: &App) {
    let area = frame.area();
    let wide = area.width >= WIDE_WIDTH && area.height >= WIDE_HEIGHT;
    let header = header(app, area.width);
    let header_h = header.len() as u16;
    let classes_h = 2 + app.snapshot().map_or(4, |s| s.classes.len() as u16);
    if wide {
        let history_h = if area.height >= 44 { 4 } else { 3 };
        let [head, middle, tenants, status, help] = Layout::vertical([
            Constraint::Length(header_h),
            Constraint::Length(classes_h.max(2 * history_h)),
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        frame.render_widget(Paragraph::new(header), head);
        let [classes, history] =
            Layout::horizontal([Constraint::Length(CLASS_TABLE_WIDTH), Constraint::Fill(1)])
                .spacing(3)
                .areas(middle);
        render_classes(frame, app, classes);
        let [load, utilization] =
            Layout::vertical([Constraint::Length(history_h), Constraint::Length(history_h)])
                .areas(history);
        render_history(frame, app, load, utilization);
        let [top, bottom] =
            Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(tenants);
        let columns = || Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).spacing(3);
        let [a, b] = columns().areas(top);
        let [c, d] = columns().areas(bottom);
        for (table, area) in TenantTable::ALL.into_iter().zip([a, b, c, d]) {
            render_tenants(frame, app, table, area, false);
        }
        render_status(frame, app, status);
        render_help(frame, help);
    } else {
        let history_h = if area.height >= 40 { 5 } else { 3 };
        let [head, history, classes, tenants, status, help] = Layout::vertical([
            Constraint::Length(header_h),
            Constraint::Length(history_h),
            Constraint::Length(classes_h),
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        frame.render_widget(Paragraph::new(header), head);
        let [load, utilization] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)])
            .spacing(2)
            .areas(history);
        render_history(frame, app, load, utilization);
        render_classes(frame, app, classes);
        render_tenants(frame, app, app.table(), tenants, true);
        render_status(frame, app, status);
        render_help(frame, help);
    }
}

fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

fn dim() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

/// A panel: a top border with `title` on it.
fn panel<'a>(title: impl Into<Line<'a>>) -> Block<'a> {
    Block::new().borders(Borders::TOP).title(title)
}

/// The window the recent figures cover, in seconds.
fn window_secs(s: &Snapshot) -> f64 {
    s.window_ms.max(1) as f64 / 1e3
}

/// The load score's color: calm below 0.7, warm up to 1 (the target
/// queueing delay), hot above.
fn load_color(load: f64) -> Color {
    if load < 0.7 {
        Color::Green
    } else if load < 1.0 {
        Color::Yellow
    } else {
        Color::Red
    }
}

/// The header: the process's figures, flowed into as few lines as
/// `width` allows, then the workers' utilization on a line of its own.
fn header(app: &App, width: u16) -> Vec<Line<'static>> {
    let Some(s) = app.snapshot() else {
        return vec![Line::from(vec![
            Span::styled("drama-top", bold()),
            Span::raw(format!(
                "   waiting for the first snapshot from {}",
                app.addr()
            )),
        ])];
    };
    let p = &s.process;
    let value = |v: String| Span::styled(v, bold());
    let label = |l: &'static str| Span::raw(l);
    let mut load = vec![
        label("load "),
        Span::styled(
            format!("{:.2}", p.load_score),
            bold().fg(load_color(p.load_score)),
        ),
    ];
    if p.armed {
        load.push(Span::raw(" "));
        load.push(Span::styled(
            " saturated ",
            bold().fg(Color::White).bg(Color::Red),
        ));
    }
    let mut threads = vec![
        label("threads "),
        value(p.threads.to_string()),
        label(" ("),
        value(p.workers.to_string()),
        label(" workers, "),
        value(p.stuck_replaced.to_string()),
        label(" replaced"),
    ];
    if p.stuck_unreplaced > 0 {
        threads.push(label(", "));
        threads.push(Span::styled(
            format!("{} stuck", p.stuck_unreplaced),
            bold().fg(Color::Red),
        ));
    }
    threads.push(label(")"));
    let refused = if p.refusals_per_sec >= 0.5 {
        bold().fg(Color::Red)
    } else {
        bold()
    };
    let items = vec![
        vec![label("up "), value(fmt_uptime(s.uptime_ms))],
        load,
        vec![
            label("utilization "),
            value(format!("{:.0}%", p.utilization * 100.0)),
        ],
        vec![
            label("queue delay p50 "),
            value(fmt_ns(p.queue_delay_p50_ns)),
            label(" p99 "),
            value(fmt_ns(p.queue_delay_p99_ns)),
        ],
        vec![
            label("refused "),
            Span::styled(format!("{:.0}/s", p.refusals_per_sec), refused),
        ],
        vec![label("tasks "), value(fmt_count(p.tasks))],
        vec![label("in flight "), value(fmt_count(p.in_flight))],
        vec![label("queued "), value(fmt_count(p.queued))],
        threads,
        vec![
            label("blocking "),
            value(p.blocking_threads.to_string()),
            label(" threads, "),
            value(fmt_count(p.blocking_queued)),
            label(" queued"),
        ],
    ];
    let mut lines = flow(items, width);
    if !s.workers.is_empty() {
        lines.push(workers(s, width));
    }
    lines
}

/// Lays `items` out left to right, starting a new line where the next
/// one would not fit in `width`.
fn flow(items: Vec<Vec<Span<'static>>>, width: u16) -> Vec<Line<'static>> {
    let gap = gap(width);
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut line: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for item in items {
        let w: usize = item.iter().map(Span::width).sum();
        if !line.is_empty() && used + gap.len() + w > usize::from(width) {
            lines.push(Line::from(std::mem::take(&mut line)));
            used = 0;
        }
        if !line.is_empty() {
            line.push(Span::raw(gap));
            used += gap.len();
        }
        line.extend(item);
        used += w;
    }
    if !line.is_empty() {
        lines.push(Line::from(line));
    }
    lines
}

/// Each worker's utilization over the window: as percentages where they
/// fit, else as one bar a worker after the mean.
fn workers(s: &Snapshot, width: u16) -> Line<'static> {
    let label = format!("workers (last {:.1}s) ", window_secs(s));
    let percents: Vec<String> = s
        .workers
        .iter()
        .enumerate()
        .map(|(i, w)| format!("#{i} {:.0}%", w.utilization * 100.0))
        .collect();
    let full: usize = label.len() + percents.iter().map(|p| p.len() + 2).sum::<usize>();
    let mut spans = vec![Span::raw(label)];
    if full <= usize::from(width) {
        for p in percents {
            let (name, value) = p.split_once(' ').unwrap_or(("", &p));
            spans.push(Span::raw(format!("{name} ")));
            spans.push(Span::styled(format!("{value}  "), bold()));
        }
    } else {
        const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        let mean = s.workers.iter().map(|w| w.utilization).sum::<f64>() / s.workers.len() as f64;
        spans.push(Span::raw("mean "));
        spans.push(Span::styled(format!("{:.0}%", mean * 100.0), bold()));
        spans.push(Span::raw(" "));
        let bars: String = s
            .workers
            .iter()
            .map(|w| BARS[((w.utilization.clamp(0.0, 1.0) * 7.0).round()) as usize])
            .collect();
        spans.push(Span::styled(bars, Style::new().fg(Color::Cyan)));
    }
    Line::from(spans)
}

/// The two history sparklines: the load score and the utilization, the
/// newest at the right.
fn render_history(frame: &mut Frame<'_>, app: &App, load: Rect, utilization: Rect) {
    let percent = |v: f64| (v * 100.0).round().max(0.0) as u64;
    for (area, history, name, max, color) in [
        (load, app.load_history(), "load", None, Color::Yellow),
        (
            utilization,
            app.utilization_history(),
            "utilization",
            Some(100),
            Color::Cyan,
        ),
    ] {
        let as_text = |v: f64| {
            if name == "load" {
                format!("{v:.2}")
            } else {
                format!("{:.0}%", v * 100.0)
            }
        };
        // The points that fit, newest first: the title's figures are
        // about what the panel shows.
        let recent: Vec<Option<f64>> = history
            .iter()
            .rev()
            .take(usize::from(area.width))
            .copied()
            .collect();
        let now = recent.first().copied().flatten();
        let peak = recent.iter().flatten().copied().reduce(f64::max);
        let mut title = vec![
            Span::raw(format!("{name} ")),
            Span::styled(now.map_or("—".to_string(), as_text), bold()),
        ];
        if let Some(peak) = peak {
            title.push(Span::styled(
                format!("  max {} over {}s", as_text(peak), recent.len()),
                dim(),
            ));
        }
        // A load score of 1 is the target; scaling to at least 1 keeps an
        // idle runtime's wobble from filling the panel.
        let max = max.unwrap_or_else(|| peak.map_or(0, percent).max(100));
        let bars: Vec<SparklineBar> = recent
            .iter()
            .map(|v| SparklineBar::from(v.map(percent)))
            .collect();
        let sparkline = Sparkline::default()
            .block(panel(Line::from(title)))
            .data(bars)
            .max(max)
            .direction(RenderDirection::RightToLeft)
            .style(Style::new().fg(color))
            .absent_value_symbol("·")
            .absent_value_style(Style::new().fg(Color::Red));
        frame.render_widget(sparkline, area);
    }
}

/// The class table's columns and its width.
const CLASS_COLUMNS: [(&str, u16); 9] = [
    ("class", 7),
    ("spawned", 7),
    ("completed", 9),
    ("refused", 7),
    ("cpu", 7),
    ("delay p50", 9),
    ("delay p99", 9),
    ("poll p50", 8),
    ("poll p99", 8),
];
const CLASS_TABLE_WIDTH: u16 = 71 + 8;

fn render_classes(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let title = match app.snapshot() {
        Some(s) => format!(
            "classes · delays and poll times over the last {:.1}s",
            window_secs(s)
        ),
        None => "classes".to_string(),
    };
    let header = Row::new(
        CLASS_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, (name, _))| cell(name.to_string(), i > 0)),
    )
    .style(bold());
    let rows = app
        .snapshot()
        .into_iter()
        .flat_map(|s| &s.classes)
        .map(|c| {
            Row::new([
                cell(c.name.clone(), false),
                cell(fmt_count(c.spawned), true),
                cell(fmt_count(c.completed), true),
                cell(fmt_count(c.refused), true),
                cell(fmt_ns(c.cpu_ns), true),
                cell(fmt_ns(c.queue_delay.p50_ns), true),
                cell(fmt_ns(c.queue_delay.p99_ns), true),
                cell(fmt_ns(c.poll_time.p50_ns), true),
                cell(fmt_ns(c.poll_time.p99_ns), true),
            ])
        });
    let table = Table::new(rows, CLASS_COLUMNS.map(|(_, w)| Constraint::Length(w)))
        .header(header)
        .column_spacing(1)
        .block(panel(title));
    frame.render_widget(table, area);
}

/// A cell, right-aligned for numbers.
fn cell(text: String, right: bool) -> Cell<'static> {
    let line = Line::from(text);
    Cell::from(if right { line.right_aligned() } else { line })
}

/// A column of a table of tenants after the name: its header, its width,
/// and the sort key it shows (if any).
struct Column {
    header: &'static str,
    width: u16,
    key: Option<SortKey>,
}

const fn col(header: &'static str, width: u16, key: Option<SortKey>) -> Column {
    Column { header, width, key }
}

const HEAVY: [Column; 7] = [
    col("cpu%", 6, None),
    col("cpu", 8, Some(SortKey::Cpu)),
    col("weight", 6, None),
    col("queued", 7, Some(SortKey::Queued)),
    col("in flight", 9, Some(SortKey::InFlight)),
    col("mean wait", 9, None),
    col("refused", 8, Some(SortKey::Refused)),
];
const DEEP: [Column; 7] = [
    col("queued", 7, Some(SortKey::Queued)),
    col("share", 6, None),
    col("write", 7, None),
    col("compute", 7, None),
    col("read", 7, None),
    col("accept", 7, None),
    col("in flight", 9, Some(SortKey::InFlight)),
];
/// The reasons column comes last and takes what is left, at least this.
const REASONS_WIDTH: u16 = 12;
const THROTTLED: [Column; 3] = [
    col("per sec", 8, Some(SortKey::Refused)),
    col("share", 6, None),
    col("total", 8, None),
];
const IO_WIDTH: u16 = 12;
const IO: [Column; IO_KINDS] = [
    col(IO_KIND_NAMES[0], IO_WIDTH, None),
    col(IO_KIND_NAMES[1], IO_WIDTH, None),
    col(IO_KIND_NAMES[2], IO_WIDTH, None),
    col(IO_KIND_NAMES[3], IO_WIDTH, None),
    col(IO_KIND_NAMES[4], IO_WIDTH, None),
];

fn columns(table: TenantTable) -> &'static [Column] {
    match table {
        TenantTable::HeavyHitters => &HEAVY,
        TenantTable::DeepQueues => &DEEP,
        TenantTable::MostThrottled => &THROTTLED,
        TenantTable::Io => &IO,
    }
}

/// The cells after the name, in `columns(table)` order (and the reasons
/// for the most throttled).
fn cells(table: TenantTable, e: &Entry<'_>, secs: f64) -> Vec<String> {
    let t = e.row;
    let share = |e: &Entry<'_>| format!("{:.1}%", e.ranked.map_or(0.0, |r| r.share) * 100.0);
    let value = e.ranked.map_or(0, |r| r.value);
    match table {
        TenantTable::HeavyHitters => vec![
            share(e),
            fmt_ns(t.cpu_ns_window),
            t.weight.to_string(),
            fmt_count(t.queued_total()),
            fmt_count(t.in_flight),
            fmt_ns(t.mean_queue_delay_ns()),
            fmt_count(t.refused_total()),
        ],
        TenantTable::DeepQueues => {
            let mut cells = vec![fmt_count(t.queued_total()), share(e)];
            cells.extend(t.queued.iter().map(|&q| fmt_count(q)));
            cells.push(fmt_count(t.in_flight));
            cells
        }
        TenantTable::MostThrottled => vec![
            format!("{:.0}", value as f64 / secs),
            share(e),
            fmt_count(t.refused_total()),
            t.reasons(),
        ],
        TenantTable::Io => (0..IO_KINDS)
            .map(|k| {
                format!(
                    "{} / {}",
                    fmt_count(t.io_in_flight[k]),
                    fmt_count(t.io_done[k])
                )
            })
            .collect(),
    }
}

/// What a table ranks by, for its title.
fn measures(table: TenantTable, secs: f64) -> String {
    match table {
        TenantTable::HeavyHitters => format!("CPU over the last {secs:.1}s"),
        TenantTable::DeepQueues => "tasks queued now".to_string(),
        TenantTable::MostThrottled => format!("refusals over the last {secs:.1}s"),
        TenantTable::Io => "in flight / done since the start".to_string(),
    }
}

/// What an empty table says.
fn empty(table: TenantTable, secs: f64) -> String {
    match table {
        TenantTable::HeavyHitters => format!("no tenant used CPU in the last {secs:.1}s"),
        TenantTable::DeepQueues => "no tenant has tasks queued".to_string(),
        TenantTable::MostThrottled => format!("no tenant was refused in the last {secs:.1}s"),
        TenantTable::Io => "no tenant in the snapshot did IO".to_string(),
    }
}

/// The short names on the tabs.
fn tab_name(table: TenantTable) -> &'static str {
    match table {
        TenantTable::HeavyHitters => "heavy hitters",
        TenantTable::DeepQueues => "deep queues",
        TenantTable::MostThrottled => "throttled",
        TenantTable::Io => "IO",
    }
}

/// Draws one table of tenants. With `tabs`, its title is the row of
/// tabs; without, its own name, highlighted when selected.
fn render_tenants(frame: &mut Frame<'_>, app: &App, table: TenantTable, area: Rect, tabs: bool) {
    let selected = app.table() == table;
    let secs = app.snapshot().map_or(1.0, window_secs);
    let highlight = bold().fg(Color::Black).bg(Color::Cyan);
    let mut title: Line<'_> = if tabs {
        let mut spans = Vec::new();
        for (i, t) in TenantTable::ALL.into_iter().enumerate() {
            let style = if t == table { highlight } else { Style::new() };
            spans.push(Span::styled(format!(" {} {} ", i + 1, tab_name(t)), style));
            spans.push(Span::raw(" "));
        }
        Line::from(spans)
    } else {
        let style = if selected { highlight } else { bold() };
        Line::from(vec![
            Span::styled(format!(" {} {} ", table as usize + 1, table.title()), style),
            Span::raw(" "),
        ])
    };
    let entries = app.entries(table);
    // One line for the border, one for the column headers.
    let visible = usize::from(area.height.saturating_sub(2));
    let first = app.scroll(table).min(entries.len().saturating_sub(visible));
    let shown = &entries[first..entries.len().min(first + visible)];

    let sort = app.sort(table);
    let order = match sort.key {
        SortKey::Rank if !sort.reversed && table == TenantTable::Io => "IO in flight".to_string(),
        SortKey::Rank if !sort.reversed => "rank".to_string(),
        key => {
            // Numbers sort largest first, names alphabetically.
            let descending = (key != SortKey::Name) != sort.reversed;
            format!("{} {}", key.name(), if descending { '▼' } else { '▲' })
        }
    };
    let (last, total) = (first + shown.len(), entries.len());
    // The order and the rows shown, in as many words as fit beside the
    // title (a right-aligned title overwrites the left one).
    let info = [
        (shown.len() < total).then(|| format!(" by {order} · {}-{last} of {total} ", first + 1)),
        (shown.len() < total).then(|| format!(" {order} {}-{last}/{total} ", first + 1)),
        (shown.len() < total).then(|| format!(" {}-{last}/{total} ", first + 1)),
        Some(format!(" by {order} ")),
        Some(format!(" {order} ")),
        Some(String::new()),
    ]
    .into_iter()
    .flatten()
    .find(|info| title.width() + info.chars().count() + 2 <= usize::from(area.width))
    .unwrap_or_default();
    // What the table ranks by, where the title has room for it.
    let measures = format!("{} ", measures(table, secs));
    if title.width() + measures.chars().count() + info.chars().count() + 4
        <= usize::from(area.width)
    {
        title.push_span(Span::styled(measures, dim()));
    }
    let block = panel(title)
        .title_top(Line::styled(info, dim()).right_aligned())
        .border_style(if selected && !tabs {
            Style::new().fg(Color::Cyan)
        } else {
            Style::new()
        });

    let columns = columns(table);
    let fixed: u16 = columns.iter().map(|c| c.width + 1).sum();
    let reasons = table == TenantTable::MostThrottled;
    let room = area
        .width
        .saturating_sub(fixed + if reasons { REASONS_WIDTH + 1 } else { 0 });
    // As wide as the longest name in the table, so that the numbers sit
    // next to the names and the reasons get the rest, and the columns stay
    // put while scrolling; cut past 24 characters.
    let longest = entries
        .iter()
        .map(|e| e.row.name.chars().count())
        .max()
        .unwrap_or(0);
    let name_w = (longest.clamp(6, 24) as u16).min(room.max(6));

    let marker = |key: Option<SortKey>| match key {
        Some(k) if k == sort.key && k != SortKey::Rank => {
            let descending = (k != SortKey::Name) != sort.reversed;
            if descending { "▼" } else { "▲" }
        }
        _ => "",
    };
    let sorted = Style::new().fg(Color::Cyan);
    let header_cell = |text: String, key: Option<SortKey>, right: bool| {
        let m = marker(key);
        let text = format!("{text}{m}");
        let c = cell(text, right);
        if m.is_empty() { c } else { c.style(sorted) }
    };
    let mut header = vec![header_cell(
        "tenant".to_string(),
        Some(SortKey::Name),
        false,
    )];
    header.extend(
        columns
            .iter()
            .map(|c| header_cell(c.header.to_string(), c.key, true)),
    );
    let mut widths = vec![Constraint::Length(name_w)];
    widths.extend(columns.iter().map(|c| Constraint::Length(c.width)));
    if reasons {
        header.push(cell("reasons since start".to_string(), false));
        widths.push(Constraint::Fill(1));
    }

    let rows = shown.iter().map(|e| {
        let mut row = vec![cell(fit(&e.row.name, usize::from(name_w)), false)];
        let values = cells(table, e, secs);
        let n = columns.len();
        row.extend(values.iter().take(n).map(|v| cell(v.clone(), true)));
        row.extend(values.iter().skip(n).map(|v| cell(v.clone(), false)));
        Row::new(row)
    });
    let widget = Table::new(rows, widths)
        .header(Row::new(header).style(bold()))
        .column_spacing(1)
        .block(block);
    frame.render_widget(widget, area);

    if entries.is_empty() && area.height > 2 {
        let note = Rect {
            y: area.y + 2,
            height: 1,
            ..area
        };
        let text = if app.snapshot().is_some() {
            empty(table, secs)
        } else {
            String::new()
        };
        frame.render_widget(Paragraph::new(Span::styled(text, dim())), note);
    }
}

/// The status line: the last fetch's outcome.
fn render_status(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let line = match (app.error(), app.snapshot()) {
        (Some((error, failures)), snapshot) => {
            let error = Span::styled(format!("✗ {error}"), bold().fg(Color::Red));
            let long = match snapshot {
                Some(_) if failures == 1 => {
                    " · showing the previous snapshot · retrying every second".to_string()
                }
                Some(_) => format!(
                    " · showing the snapshot from {failures} refreshes ago · retrying every second"
                ),
                None => " · retrying every second".to_string(),
            };
            // The error comes first; what is on screen is said in short
            // when the whole would not fit.
            let after = if error.width() + long.chars().count() <= usize::from(area.width) {
                long
            } else if snapshot.is_some() {
                format!(" · stale ×{failures}")
            } else {
                String::new()
            };
            Line::from(vec![error, Span::styled(after, dim())])
        }
        (None, Some(s)) => Line::from(vec![
            Span::styled("● ", Style::new().fg(Color::Green)),
            Span::raw(app.addr().to_string()),
            Span::styled(
                format!(
                    " · refreshed every second · {} tenants in the snapshot of {}",
                    s.tenants.len(),
                    fmt_count(s.process.tenants)
                ),
                dim(),
            ),
        ]),
        (None, None) => Line::from(format!("connecting to {}…", app.addr())),
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The keys: long spelling, short spelling, and whether the shortest
/// help keeps them (`--help` lists them all).
const KEYS: [(&str, &str, &str, &str, bool); 9] = [
    ("q/Esc", "quit", "q", "quit", true),
    ("Tab/←→/1-4", "table", "1-4", "table", true),
    ("↑↓", "scroll", "↑↓", "scroll", false),
    ("c", "cpu", "c", "cpu", true),
    ("d", "queue depth", "d", "queued", true),
    ("r", "refused", "r", "refused", true),
    ("f", "in flight", "f", "flight", true),
    ("n", "name", "n", "name", true),
    (
        "o",
        "rank order (a sort key again reverses)",
        "o",
        "rank",
        true,
    ),
];

/// The key help: long where it fits, else short, else without the keys
/// that matter least.
fn render_help(frame: &mut Frame<'_>, area: Rect) {
    let spell = |long: bool, all: bool| -> Vec<Span<'static>> {
        let mut spans = Vec::new();
        for (i, &(key, what, short_key, short_what, essential)) in KEYS.iter().enumerate() {
            if !all && !essential {
                continue;
            }
            if i == 3 {
                spans.push(Span::styled("sort ", dim()));
            }
            let (k, w) = if long {
                (key, what)
            } else {
                (short_key, short_what)
            };
            spans.push(Span::styled(k, bold().fg(Color::Cyan)));
            spans.push(Span::raw(format!(" {w}  ")));
        }
        spans
    };
    let fits = |spans: &Vec<Span<'_>>| {
        // The last item's trailing gap may fall off the edge.
        spans.iter().map(Span::width).sum::<usize>() <= usize::from(area.width) + 2
    };
    let spans = [spell(true, true), spell(false, true)]
        .into_iter()
        .find(fits)
        .unwrap_or_else(|| spell(false, false));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
