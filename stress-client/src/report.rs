//! Everything a person or a script reads after a run: tables on stdout (box-drawn on a
//! terminal, Markdown when piped so they paste into the book) and the `--json` document.
//! The top layer: it renders what `run`, `check` and `expect` produce and nothing below
//! imports it (progress bars live in `progress`, beneath the load loop).

use crate::check::{CheckReport, Verdict};
use crate::expect::ExpectationResult;
use crate::latency::{format_micros, LatencySummary};
use crate::run::{LatencyTables, RunReport, LATE_THRESHOLD};
use comfy_table::{presets, CellAlignment, Table};
use serde::Serialize;
use std::fmt::Write as _;

/// Bumped whenever a field of the JSON document changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

/// The widest a table is drawn on a terminal whose width cannot be read.
pub const FALLBACK_TERMINAL_WIDTH: u16 = 120;

/// Box-drawn tables on a terminal, fitted to its width; Markdown when piped.
pub fn new_table(terminal: bool) -> Table {
    // Asked only of a real terminal: a test renders "terminal" tables into a string.
    let measured = || {
        use std::io::IsTerminal;
        std::io::stdout()
            .is_terminal()
            .then(crossterm::terminal::size)
            .and_then(Result::ok)
            .map(|(columns, _)| columns)
    };
    let width = terminal.then(|| measured().unwrap_or(FALLBACK_TERMINAL_WIDTH));
    table_of_width(width)
}

/// `Some(width)`: a box-drawn table whose long cells (a sample error, a formula) wrap
/// inside their column, so no line is wider than the terminal (a terminal that wraps a
/// line itself scrambles every row). `None`: Markdown, never wrapped, because a table
/// row split over two lines is no longer Markdown.
pub fn table_of_width(width: Option<u16>) -> Table {
    let mut table = Table::new();
    match width {
        Some(width) => {
            table
                .load_preset(presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
                .set_width(width);
        }
        None => {
            table.load_preset(presets::ASCII_MARKDOWN);
        }
    }
    table
}

fn right_align(table: &mut Table, from_column: usize) {
    let columns = table.column_count();
    for index in from_column..columns {
        if let Some(column) = table.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

pub fn outcome_table(run: &RunReport, terminal: bool) -> Table {
    let mut table = new_table(terminal);
    table.set_header(vec!["outcome", "count", "%", "sample"]);
    for row in &run.outcomes {
        table.add_row(vec![
            row.outcome.name().to_string(),
            row.count.to_string(),
            format!("{:.1}", row.percent),
            row.sample.clone().unwrap_or_default(),
        ]);
    }
    right_align(&mut table, 1);
    if let Some(column) = table.column_mut(3) {
        column.set_cell_alignment(CellAlignment::Left);
    }
    table
}

fn latency_cells(class: &str, from: Option<&str>, summary: &LatencySummary) -> Vec<String> {
    let mut cells = vec![class.to_string()];
    if let Some(from) = from {
        cells.push(from.to_string());
    }
    cells.push(summary.n.to_string());
    for p in &summary.percentiles {
        cells.push(if summary.n == 0 {
            "-".into()
        } else if p.too_few_samples {
            format!("{}*", format_micros(p.micros as f64))
        } else {
            format_micros(p.micros as f64)
        });
    }
    if summary.n == 0 {
        cells.extend(["-".to_string(), "-".to_string()]);
    } else {
        cells.push(format_micros(summary.max_micros as f64));
        cells.push(format_micros(summary.mean_micros));
    }
    cells
}

pub fn latency_table(run: &RunReport, terminal: bool) -> Table {
    let mut table = new_table(terminal);
    let open_loop = run.latency_uncorrected.as_ref();
    let mut header = vec!["class"];
    if open_loop.is_some() {
        header.push("from");
    }
    header.extend(["n", "p50", "p90", "p99", "p99.9", "max", "mean"]);
    table.set_header(header);
    let rows = |tables: &LatencyTables| {
        [
            ("accepted", tables.accepted.clone()),
            ("rejected", tables.rejected.clone()),
            ("all", tables.all.clone()),
        ]
    };
    match open_loop {
        None => {
            for (class, summary) in rows(&run.latency) {
                table.add_row(latency_cells(class, None, &summary));
            }
        }
        Some(uncorrected) => {
            for ((class, corrected), (_, actual)) in
                rows(&run.latency).into_iter().zip(rows(uncorrected))
            {
                table.add_row(latency_cells(class, Some("intended"), &corrected));
                table.add_row(latency_cells(class, Some("actual"), &actual));
            }
        }
    }
    right_align(&mut table, if open_loop.is_some() { 2 } else { 1 });
    table
}

fn any_too_few(tables: &LatencyTables) -> bool {
    [&tables.accepted, &tables.rejected, &tables.all]
        .iter()
        .any(|s| s.n > 0 && s.percentiles.iter().any(|p| p.too_few_samples))
}

pub fn check_table(check: &CheckReport, terminal: bool) -> Table {
    let mut table = new_table(terminal);
    table.set_header(vec!["server check", "value", "meaning"]);
    let mut row = |name: &str, value: String, meaning: &str| {
        table.add_row(vec![name.to_string(), value, meaning.to_string()]);
    };
    row(
        "accepted (client)",
        check.client_accepted.to_string(),
        "2xx answers this run received, warmup included",
    );
    row(
        "accepted (server)",
        check.server_accepted.to_string(),
        "the server's accepted counter, delta over the run",
    );
    row(
        "rejected (server)",
        check.server_rejected.to_string(),
        "the server's rejected counter, delta",
    );
    row(
        "processed",
        check.processed.to_string(),
        "jobs applied to balances, delta after the drain",
    );
    row(
        "ambiguous",
        check.ambiguous.to_string(),
        "no answer but may have arrived: may still be applied",
    );
    if check.ambiguous_applied > 0 {
        row(
            "ambiguous applied",
            check.ambiguous_applied.to_string(),
            "ambiguous requests the server did apply",
        );
    }
    if check.pending > 0 {
        row(
            "pending",
            check.pending.to_string(),
            "still queued or running when the wait ended",
        );
    }
    row("lost", check.lost.to_string(), "accepted but never applied");
    row(
        "balance Δ",
        format!(
            "{} (client {})",
            check.balance_delta, check.client_amount_sum
        ),
        "server balance_total delta vs the sum of accepted amounts",
    );
    match &check.model {
        Some(model) => row(
            "model bound",
            format!("{:.1} jobs/s", model.jobs_per_sec),
            &model.formula,
        ),
        None => row(
            "model bound",
            crate::model::NO_BOUND.to_string(),
            "the stage serves no bound for this load: no efficiency to compute",
        ),
    }
    if let Some(lock) = &check.lock_bound {
        row(
            "lock",
            lock.clone(),
            "what the lock alone allows (1000 / hold_ms)",
        );
    }
    if let Some(expected) = check.expected_accepted {
        let formula = check.expected_formula.as_deref().unwrap_or_default();
        row("expected accepted", format!("≈{expected:.0}"), formula);
    }
    if let Some(measured) = check.measured_jobs_per_sec {
        row(
            "server jobs/s",
            format!("{measured:.1}"),
            "processed / (first request → last job done)",
        );
    }
    if let Some(efficiency) = check.efficiency_percent {
        row(
            "efficiency",
            format!("{efficiency:.0}%"),
            "server jobs/s against the model bound",
        );
    }
    right_align(&mut table, 1);
    if let Some(column) = table.column_mut(2) {
        column.set_cell_alignment(CellAlignment::Left);
    }
    table
}

/// The run's part of the report: heading, rates, outcome and latency tables. The server
/// check is rendered apart because it comes later (after the drain).
pub fn render_run(heading: &str, run: &RunReport, terminal: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{heading}");
    let _ = writeln!(
        out,
        "{} requests in {:.2} s: {:.0} requests/s (all sent within {:.2} s)",
        run.requests, run.duration_secs, run.requests_per_sec, run.send_duration_secs
    );
    if run.stopped_early {
        let _ = writeln!(
            out,
            "stopped early (Ctrl-C): the tables cover the {} requests sent",
            run.requests
        );
    }
    if let Some(idle) = &run.idle {
        let _ = writeln!(
            out,
            "idle connections: {} of {} opened and held silent for the run; the server closed {}{}",
            idle.opened,
            idle.requested,
            idle.closed_by_server,
            idle.first_error
                .as_ref()
                .map(|e| format!(" (first failure: {e})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "\nOutcomes\n{}", outcome_table(run, terminal));
    let latency_title = if run.rate.is_some() {
        "Latency: from each request's intended start (coordinated omission corrected) and from its actual start"
    } else {
        "Latency (closed loop: from each request's actual start)"
    };
    let _ = writeln!(out, "\n{latency_title}\n{}", latency_table(run, terminal));
    if any_too_few(&run.latency) {
        let _ = writeln!(
            out,
            "* too few samples for this percentile (p90 needs ≥ 10, p99 ≥ 100, p99.9 ≥ 1000): it is in effect the maximum"
        );
    }
    if let (Some(late), Some(rate)) = (run.late_starts, run.rate) {
        let _ = writeln!(
            out,
            "late starts: {late} of {} requests started more than {}ms after their intended time at {rate} requests/s{}",
            run.requests,
            LATE_THRESHOLD.as_millis(),
            if late > 0 {
                " (the connections were all busy: the corrected latency includes that wait)"
            } else {
                ""
            }
        );
    }
    out
}

pub fn render_expectations(expectations: &[ExpectationResult], terminal: bool) -> String {
    if expectations.is_empty() {
        return String::new();
    }
    let mut table = new_table(terminal);
    table.set_header(vec!["expectation", "actual", "met"]);
    for result in expectations {
        table.add_row(vec![
            result.expectation.clone(),
            result.detail.clone(),
            if result.met { "yes" } else { "NO" }.to_string(),
        ]);
    }
    format!("\nExpectations\n{table}\n")
}

pub fn render_check(check: &CheckReport, terminal: bool) -> String {
    let mut out = String::new();
    if check.verdict == Verdict::Skipped {
        let _ = writeln!(
            out,
            "Server check skipped: {}",
            check.skipped_reason.as_deref().unwrap_or("no /stats")
        );
        return out;
    }
    let _ = writeln!(
        out,
        "Server check: stage {} ({}), {} after {:.2} s",
        check.stage.unwrap_or(0),
        check.stage_name.as_deref().unwrap_or("?"),
        if check.drained {
            "drained"
        } else {
            "NOT drained"
        },
        check.drain_wait_secs
    );
    let _ = writeln!(out, "{}", check_table(check, terminal));
    for note in &check.notes {
        let _ = writeln!(out, "note: {note}");
    }
    match check.verdict {
        Verdict::Ok => {
            let _ = writeln!(out, "lost: 0 — every accepted event was applied");
        }
        Verdict::NotDrained => {
            let _ = writeln!(
                out,
                "lost: unknown — {} jobs still pending when the drain wait ended (raise --drain-timeout)",
                check.pending
            );
        }
        Verdict::Loss => {
            let banner = "!".repeat(72);
            let _ = writeln!(out, "{banner}");
            if check.lost > 0 {
                let _ = writeln!(
                    out,
                    "!!! LOSS: the server lost {} accepted events ({} accepted, {} applied)",
                    check.lost, check.client_accepted, check.processed
                );
            }
            if let Some(mismatch) = check.balance_mismatch {
                let _ = writeln!(
                    out,
                    "!!! LOSS: balance_total is off by {mismatch} from what the accepted events add up to"
                );
            }
            let _ = writeln!(out, "{banner}");
        }
        Verdict::Skipped => {}
    }
    out
}

/// The envelope every `--json` file shares (`run`, `garbage`, `compare`): a script reads
/// these four fields the same way whichever command wrote the file, and finds the command's
/// own fields beside them at the top level (flattened, so no existing field moved).
#[derive(Serialize)]
pub struct JsonEnvelope<'a, T: Serialize> {
    /// [`SCHEMA_VERSION`]: bumped when a field changes meaning or disappears.
    pub schema_version: u32,
    /// `run`, `garbage` or `compare`.
    pub command: &'static str,
    /// The command line as typed, so the file says how to reproduce it.
    pub invocation: &'a str,
    /// The exit status in one bit: `true` exactly when the command exited 0.
    pub ok: bool,
    #[serde(flatten)]
    pub body: T,
}

impl<'a, T: Serialize> JsonEnvelope<'a, T> {
    pub fn new(command: &'static str, invocation: &'a str, ok: bool, body: T) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            command,
            invocation,
            ok,
            body,
        }
    }
}

/// `run`'s fields inside the envelope.
#[derive(Serialize)]
pub struct JsonRunBody<'a> {
    pub url: &'a str,
    pub seed: Option<u64>,
    pub users: usize,
    pub run: &'a RunReport,
    pub check: Option<&'a CheckReport>,
    pub expectations: &'a [ExpectationResult],
}

pub fn write_json<T: Serialize>(path: &std::path::Path, document: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(document).map_err(|e| format!("JSON encoding: {e}"))?;
    std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_leads_and_the_command_fields_sit_beside_it() {
        #[derive(Serialize)]
        struct Body {
            url: &'static str,
        }
        let document = JsonEnvelope::new(
            "garbage",
            "stress-client garbage X",
            false,
            Body { url: "X" },
        );
        let text = serde_json::to_string(&document).expect("serializable");
        assert_eq!(
            text,
            r#"{"schema_version":1,"command":"garbage","invocation":"stress-client garbage X","ok":false,"url":"X"}"#
        );
    }

    #[test]
    fn terminal_tables_fit_the_width_and_markdown_stays_one_line_per_row() {
        let long = "connect: Too many open files (os error 24) ".repeat(4);
        let fill = |mut table: Table| {
            table.set_header(vec!["outcome", "count", "%", "sample"]);
            table.add_row(vec!["other_io", "1855", "92.8", long.as_str()]);
            table.to_string()
        };
        for width in [80, 120] {
            let text = fill(table_of_width(Some(width)));
            assert!(
                text.lines()
                    .all(|line| line.chars().count() <= usize::from(width)),
                "{text}"
            );
        }
        let markdown = fill(table_of_width(None));
        assert_eq!(markdown.lines().count(), 3, "{markdown}");
    }
}
