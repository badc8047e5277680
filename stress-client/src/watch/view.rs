//! The full-screen frame of `watch`, drawn from a `WatchState` with ratatui. Nothing here
//! polls or keeps time: `draw` is a pure function of the state, so the tests render recorded
//! `/stats` answers into a `TestBackend` and read the buffer.
//!
//! Sized for a projector: gauges three rows high, bold numbers, one panel per idea, top to
//! bottom in the order the lesson tells it (the queue, the workers, the rate against the
//! model, the rates over the last minute, the lock, the peaks).

use super::history::{Counter, WINDOW_SECS};
use super::state::{
    format_bytes, format_knobs, format_micros, format_uptime, has_lock_panel, Link, WatchState,
};
use crate::model::{self, ModelBound};
use crate::stats::{LockPercentiles, ServerStats};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Gauge, Paragraph, Sparkline};
use ratatui::Frame;

/// Rows of the header: title, knobs, model, and the status line, inside a border.
const HEADER_ROWS: u16 = 6;
const GAUGE_ROWS: u16 = 3;
/// Lock panel and peaks sit side by side at the bottom.
const BOTTOM_ROWS: u16 = 6;

pub fn draw(frame: &mut Frame, state: &WatchState) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(HEADER_ROWS),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(frame, header, state);
    frame.render_widget(
        Paragraph::new(format!(
            " q, Esc or Ctrl-C quits · polling GET /stats every {} ms",
            state.interval.as_millis()
        ))
        .style(Style::new().fg(Color::DarkGray)),
        footer,
    );
    match &state.latest {
        Some(stats) => draw_body(frame, body, state, stats),
        None => {
            let note = Paragraph::new(vec![
                Line::from(""),
                Line::from(format!(
                    "  waiting for {} to answer GET /stats …",
                    state.url
                ))
                .bold(),
                Line::from("  (start the stage, e.g. cargo run --release -p stage5)"),
            ]);
            frame.render_widget(note, body);
        }
    }
}

fn draw_header(frame: &mut Frame, area: Rect, state: &WatchState) {
    let status = match &state.link {
        Link::Live => Span::styled(" live ", Style::new().fg(Color::Black).bg(Color::Green)),
        Link::Waiting { .. } => {
            Span::styled(" waiting ", Style::new().fg(Color::Black).bg(Color::Yellow))
        }
        Link::Gone { .. } => Span::styled(
            " GONE ",
            Style::new().fg(Color::White).bg(Color::Red).bold(),
        ),
    };
    let mut lines = Vec::new();
    match &state.latest {
        Some(stats) => {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("stage {} · {}", stats.stage, stats.name),
                    Style::new().bold().fg(Color::Cyan),
                ),
                Span::raw(format!(
                    "   up {}   RSS {}",
                    format_uptime(stats.uptime_secs),
                    format_bytes(stats.rss_bytes)
                )),
            ]));
            lines.push(Line::from(format!("knobs: {}", format_knobs(stats))));
            // Inside the border: the frame's width less two.
            lines.push(model_line(stats, area.width.saturating_sub(2) as usize));
        }
        None => lines.push(Line::from("no stats yet")),
    }
    let detail = match &state.link {
        Link::Live => String::new(),
        Link::Waiting { reason } => format!(" {reason}: retrying"),
        Link::Gone { reason, since_secs } => format!(
            " for {:.0} s ({reason}): retrying; the numbers below are the last ones",
            (state.now_secs - since_secs).max(0.0)
        ),
    };
    lines.push(Line::from(vec![status, Span::raw(detail)]));
    let block = Block::bordered().title(format!(" stress-client watch {} ", state.url));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The model as the client applies it (`model::bound`): the server's own bound, except on
/// stage 8 when every event so far came from one user (`--users 1`), where one shard's lock
/// sets the pace; the server counts the users it has seen.
fn bound(stats: &ServerStats) -> Option<ModelBound> {
    let users = usize::try_from(stats.users).unwrap_or(usize::MAX);
    model::bound(stats, users)
}

/// The model: formula, value, then the lock's bound. Where that does not fit (80 columns),
/// the numbers come first and the formula last, so the border cuts only the formula,
/// never a number or its unit.
fn model_line(stats: &ServerStats, width: usize) -> Line<'static> {
    let wide = model_line_formula_first(stats);
    if wide.width() <= width {
        return wide;
    }
    let mut spans = match bound(stats) {
        Some(bound) => vec![
            Span::raw("model: "),
            Span::styled(
                format!("{:.1} jobs/s", bound.jobs_per_sec),
                Style::new().bold(),
            ),
        ],
        None => vec![Span::raw(format!("model: {}", model::NO_BOUND))],
    };
    if let Some(lock) = model::lock_bound(stats) {
        spans.push(Span::raw(format!(" · {}", lock.describe())));
    }
    if let Some(bound) = bound(stats) {
        spans.push(Span::raw(format!(" · {}", bound.formula)));
    }
    Line::from(spans)
}

fn model_line_formula_first(stats: &ServerStats) -> Line<'static> {
    let mut spans = match bound(stats) {
        Some(bound) => vec![
            Span::raw("model: "),
            Span::raw(bound.formula),
            Span::styled(
                format!(" = {:.1} jobs/s", bound.jobs_per_sec),
                Style::new().bold(),
            ),
        ],
        None => vec![Span::raw(format!("model: {}", model::NO_BOUND))],
    };
    if let Some(lock) = model::lock_bound(stats) {
        spans.push(Span::raw(format!(" · {}", lock.describe())));
    }
    Line::from(spans)
}

fn draw_body(frame: &mut Frame, area: Rect, state: &WatchState, stats: &ServerStats) {
    let [queue, busy, rate, charts, bottom] = Layout::vertical([
        Constraint::Length(GAUGE_ROWS),
        Constraint::Length(GAUGE_ROWS),
        Constraint::Length(GAUGE_ROWS),
        // The charts give way first on a short terminal: the panels below hold totals,
        // and a panel squeezed to fewer rows than lines drops numbers.
        Constraint::Min(0),
        Constraint::Length(BOTTOM_ROWS),
    ])
    .areas(area);
    let stale = !matches!(state.link, Link::Live);
    frame.render_widget(queue_gauge(stats, stale), queue);
    frame.render_widget(busy_gauge(stats, stale), busy);
    frame.render_widget(model_gauge(state, stats, stale), rate);
    draw_charts(frame, charts, state);
    if has_lock_panel(stats) {
        // Halves: at 80 columns each panel keeps 38 columns inside its border, enough for
        // the longest line of either; a line cut at the border would show a wrong number.
        let [lock, peaks] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(bottom);
        frame.render_widget(lock_panel(stats), lock);
        frame.render_widget(peaks_panel(state, stats), peaks);
    } else {
        frame.render_widget(peaks_panel(state, stats), bottom);
    }
}

/// A gauge with the numbers as its label; grey while the server is gone.
fn gauge(title: &str, ratio: f64, label: String, color: Color, stale: bool) -> Gauge<'static> {
    let color = if stale { Color::DarkGray } else { color };
    Gauge::default()
        .block(Block::bordered().title(format!(" {title} ")))
        .gauge_style(Style::new().fg(color).bg(Color::Black))
        .ratio(ratio.clamp(0.0, 1.0))
        .label(Span::styled(label, Style::new().bold().fg(Color::White)))
}

fn queue_gauge(stats: &ServerStats, stale: bool) -> Gauge<'static> {
    match stats.capacity {
        Some(capacity) if capacity > 0 => {
            let ratio = stats.queue_depth as f64 / capacity as f64;
            let color = if stats.queue_depth >= capacity {
                Color::Red
            } else {
                Color::Yellow
            };
            let label = format!("{} / {capacity} queued", stats.queue_depth);
            gauge("queue depth / capacity", ratio, label, color, stale)
        }
        _ => gauge(
            "queue depth (no bounded queue at this stage)",
            0.0,
            format!("{} queued", stats.queue_depth),
            Color::Yellow,
            stale,
        ),
    }
}

fn busy_gauge(stats: &ServerStats, stale: bool) -> Gauge<'static> {
    let workers = stats.workers.unwrap_or(1).max(1);
    let ratio = stats.busy_workers as f64 / workers as f64;
    let label = format!("{} / {workers} busy", stats.busy_workers);
    gauge("busy workers / workers", ratio, label, Color::Green, stale)
}

fn model_gauge(state: &WatchState, stats: &ServerStats, stale: bool) -> Gauge<'static> {
    let measured = state.history.measured_jobs_per_sec();
    let title = "processed jobs/s (last 5 s) / model bound";
    match (measured, bound(stats).map(|b| b.jobs_per_sec)) {
        (Some(measured), Some(bound)) => {
            let label = format!(
                "{measured:.1} / {bound:.1} jobs/s ({:.0} %)",
                measured / bound * 100.0
            );
            gauge(title, measured / bound, label, Color::Magenta, stale)
        }
        (None, Some(bound)) => {
            let label = format!("measuring … / {bound:.1} jobs/s");
            gauge(title, 0.0, label, Color::Magenta, stale)
        }
        (measured, None) => {
            let label = measured.map_or("measuring …".into(), |m| format!("{m:.1} jobs/s"));
            gauge(title, 0.0, label, Color::Magenta, stale)
        }
    }
}

/// Three sparklines, one bar per second of the last minute, stretched to the panel's width.
fn draw_charts(frame: &mut Frame, area: Rect, state: &WatchState) {
    let rows = Layout::vertical([Constraint::Ratio(1, 3); 3]).split(area);
    let colors = [Color::Green, Color::Red, Color::Blue];
    for (counter, (row, color)) in Counter::ALL.iter().zip(rows.iter().zip(colors)) {
        let data = state.history.per_second(*counter);
        // Each chart has its own scale, printed in its title: on a shared one a 3000/s
        // rejection burst flattens the 100/s of processed jobs, the rate the lesson is about.
        let max = data.iter().copied().max().unwrap_or(0).max(1);
        let now = state
            .history
            .rate(*counter)
            .map_or("-".to_string(), |r| format!("{r:.1}"));
        let title = Line::from(vec![
            Span::raw(format!(" {} ", counter.label())),
            Span::styled(format!("{now} "), Style::new().bold().fg(color)),
            Span::raw(format!(
                "(one bar a second, last {WINDOW_SECS} s, top {max}/s) "
            )),
        ]);
        let width = row.width.saturating_sub(2) as usize;
        let stretched = stretch(&data, width);
        let sparkline = Sparkline::default()
            .block(Block::bordered().title(title))
            .data(&stretched)
            .max(max)
            .style(Style::new().fg(color));
        frame.render_widget(sparkline, *row);
    }
}

/// Repeats each value so `data` fills `width` columns (the newest at the right edge).
fn stretch(data: &[u64], width: usize) -> Vec<u64> {
    if data.is_empty() || width == 0 {
        return Vec::new();
    }
    (0..width)
        .map(|col| data[col * data.len() / width])
        .collect()
}

fn lock_panel(stats: &ServerStats) -> Paragraph<'static> {
    let show = |summary: Option<LockPercentiles>, pick: fn(&LockPercentiles) -> u64| {
        summary.map_or("-".to_string(), |s| format_micros(pick(&s) as f64))
    };
    let (wait, hold) = (stats.lock_wait_us, stats.lock_hold_us);
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let lines = vec![
        Line::from(vec![
            Span::raw("wait  p50 "),
            Span::styled(show(wait, |s| s.p50), bold),
            Span::raw("   p99 "),
            Span::styled(show(wait, |s| s.p99), bold.fg(Color::Red)),
        ]),
        Line::from(vec![
            Span::raw("hold  p50 "),
            Span::styled(show(hold, |s| s.p50), bold),
            Span::raw("   p99 "),
            Span::styled(show(hold, |s| s.p99), bold),
        ]),
        Line::from(format!(
            "holders now {} (peak {})",
            stats.lock_holders.unwrap_or(0),
            stats
                .peak_lock_holders
                .map_or("-".to_string(), |p| p.to_string())
        )),
    ];
    Paragraph::new(lines).block(Block::bordered().title(" lock (wait = queueing for it) "))
}

fn peaks_panel(state: &WatchState, stats: &ServerStats) -> Paragraph<'static> {
    let peaks = &state.history.peaks;
    let lines = vec![
        Line::from(format!(
            "queue {}   busy workers {}",
            peaks.queue_depth,
            stats
                .peak_busy_workers
                .map_or("-".to_string(), |p| p.to_string())
        )),
        Line::from(format!(
            "accepted/s {:.1}  processed/s {:.1}",
            peaks.accepted_per_sec, peaks.processed_per_sec
        )),
        // Totals on two short lines, not one: one line of all three was cut at 80 columns
        // ("rejected 488" for 4884).
        Line::from(format!(
            "total accepted {}  rejected {}",
            stats.accepted, stats.rejected
        )),
        Line::from(format!("      processed {}", stats.processed)),
    ];
    Paragraph::new(lines).block(Block::bordered().title(" peaks "))
}
