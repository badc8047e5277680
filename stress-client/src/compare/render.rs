//! The comparison as text: one table (box-drawn on a terminal, Markdown when piped or
//! written with `--markdown`), notes under it, and the `--json` document. Pure functions of
//! the rows, so they are tested on canned rows: `cargo test -p stress-client compare::render`.

use super::{CompareReport, RowResult};
use crate::latency::format_micros;
use crate::report::{new_table, JsonEnvelope};
use comfy_table::{CellAlignment, Table};
use std::fmt::Write as _;

pub const COLUMNS: [&str; 13] = [
    "#",
    "row",
    "command",
    "accepted",
    "rejected",
    "errors",
    "p50",
    "p99",
    "server jobs/s",
    "model bound",
    "efficiency",
    "lost",
    "status",
];

fn or_dash<T>(value: Option<T>, format: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "-".to_string(), format)
}

/// The model column: the bound, "no bound" when the stage was checked but serves none, and
/// a dash when there was no check at all (stages 1-3, a failed start).
fn model_cell(row: &RowResult) -> String {
    match (row.model_jobs_per_sec, row.check_verdict.as_deref()) {
        (Some(jobs), _) => format!("{jobs:.1}"),
        (None, Some(verdict)) if verdict != "skipped" => crate::model::NO_BOUND.to_string(),
        (None, _) => "-".to_string(),
    }
}

/// The table of rows. On a terminal it leaves out the command column, which alone would
/// push the table past 120 columns, and [`render_text`] lists the commands under it, one
/// whole line each, so they still copy and paste; Markdown keeps every column.
pub fn comparison_table(rows: &[RowResult], terminal: bool) -> Table {
    let shown = |index: usize| !(terminal && COLUMNS[index] == "command");
    let mut table = new_table(terminal);
    table.set_header(
        COLUMNS
            .iter()
            .enumerate()
            .filter(|(index, _)| shown(*index))
            .map(|(_, name)| *name)
            .collect::<Vec<_>>(),
    );
    for (index, row) in rows.iter().enumerate() {
        let started = row.started;
        let count = |n: u64| if started { n.to_string() } else { "-".into() };
        let cells = [
            (index + 1).to_string(),
            if terminal {
                row.plan.label.clone()
            } else {
                flags_in_code_spans(&row.plan.label)
            },
            // A code span in Markdown: mdBook's smart punctuation would turn `--addr` in plain
            // table text into an en dash, and the command would no longer paste.
            format!("`{}`", row.plan.command_line()),
            count(row.accepted),
            count(row.rejected),
            count(row.errors),
            or_dash(row.latency_all, |l| format_micros(l.p50_us as f64)),
            or_dash(row.latency_all, |l| format_micros(l.p99_us as f64)),
            or_dash(row.server_jobs_per_sec, |j| format!("{j:.1}")),
            model_cell(row),
            or_dash(row.efficiency_percent, |e| format!("{e:.0}%")),
            or_dash(row.lost, |l| l.to_string()),
            row.status.clone(),
        ];
        table.add_row(
            cells
                .into_iter()
                .enumerate()
                .filter(|(index, _)| shown(*index))
                .map(|(_, cell)| cell)
                .collect::<Vec<_>>(),
        );
    }
    let numeric = [
        "#",
        "accepted",
        "rejected",
        "errors",
        "p50",
        "p99",
        "server jobs/s",
        "model bound",
        "efficiency",
        "lost",
    ];
    let visible: Vec<&str> = (0..COLUMNS.len())
        .filter(|i| shown(*i))
        .map(|i| COLUMNS[i])
        .collect();
    for (index, name) in visible.iter().enumerate() {
        if numeric.contains(name) {
            if let Some(column) = table.column_mut(index) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    table
}

/// Notes under the table, each once with the rows it concerns: "(rows 1, 2, 3) …".
pub fn notes(rows: &[RowResult]) -> Vec<String> {
    let mut grouped: Vec<(String, Vec<usize>)> = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        for note in &row.notes {
            match grouped.iter_mut().find(|(text, _)| text == note) {
                Some((_, members)) => members.push(index + 1),
                None => grouped.push((note.clone(), vec![index + 1])),
            }
        }
    }
    grouped
        .into_iter()
        .map(|(text, members)| {
            let which = members
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let noun = if members.len() == 1 { "row" } else { "rows" };
            format!("({noun} {which}) {text}")
        })
        .collect()
}

const LEGEND: &str = "p50/p99 over all requests of the row; server jobs/s = processed / (first request → last job done); efficiency = server jobs/s against the model bound (meaningful when the row was saturated, i.e. had rejections); lost = accepted but never applied (- where the stage has no /stats).";

fn load_line(report: &CompareReport) -> String {
    format!(
        "load: seed {}, {} users, request timeout 5 s, keep-alive{}; binaries in {}; machine: {}",
        report.seed,
        report.users,
        if report.quick { "; --quick" } else { "" },
        report.bin_dir.display(),
        report.machine
    )
}

fn summary_line(report: &CompareReport) -> String {
    let failed = report.rows.iter().filter(|r| !r.ok).count();
    format!(
        "{} rows in {:.1} s ({:.1} s of it building): {}",
        report.rows.len(),
        report.wall_secs,
        report.build_secs,
        if failed == 0 {
            "all ok".to_string()
        } else {
            format!("{failed} FAILED (see status)")
        }
    )
}

/// What `compare` prints on stdout.
pub fn render_text(report: &CompareReport, terminal: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "stress-client compare: {}", load_line(report));
    let _ = writeln!(out, "{}", comparison_table(&report.rows, terminal));
    if terminal {
        for (index, row) in report.rows.iter().enumerate() {
            let _ = writeln!(out, "{:>2}: {}", index + 1, row.plan.command_line());
        }
    }
    let _ = writeln!(out, "{LEGEND}");
    for note in notes(&report.rows) {
        let _ = writeln!(out, "note {note}");
    }
    let _ = writeln!(out, "{}", summary_line(report));
    out
}

/// The `--markdown` file: pastes into the book as it is.
pub fn render_markdown(report: &CompareReport, invocation: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# stress-client compare\n");
    let _ = writeln!(out, "```text\n{invocation}\n```\n");
    let _ = writeln!(out, "{}\n", flags_in_code_spans(&load_line(report)));
    let _ = writeln!(out, "{}\n", comparison_table(&report.rows, false));
    let _ = writeln!(out, "{LEGEND}\n");
    for note in notes(&report.rows) {
        let _ = writeln!(out, "- {}", flags_in_code_spans(&note));
    }
    let _ = writeln!(out, "\n{}", summary_line(report));
    out
}

/// Prose for Markdown with every flag, and the value after it, in a code span:
/// "(quick: --capacity 20)" becomes "(quick: `--capacity 20`)". mdBook's smart punctuation
/// turns a bare `--capacity` in labels and notes into an en dash, and a learner who copies
/// the flag from the book then pastes one cargo does not know. Text already in a code span
/// is left alone.
pub fn flags_in_code_spans(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut in_span = false;
    let mut index = 0;
    while index < words.len() {
        let word = words[index];
        let (lead, core, trail) = split_punctuation(word);
        if word.contains('`') || in_span || !is_flag(core) {
            in_span ^= word.matches('`').count() % 2 == 1;
            out.push(word.to_string());
            index += 1;
            continue;
        }
        // The span runs over flags and the one value after each, and ends at punctuation.
        let mut parts = vec![core];
        let mut end = trail;
        let mut after_flag = true;
        index += 1;
        while end.is_empty() && index < words.len() {
            let (next_lead, next, next_trail) = split_punctuation(words[index]);
            let flag = is_flag(next);
            if !next_lead.is_empty() || next.is_empty() || next.contains('`') {
                break;
            }
            if !flag && !after_flag {
                break;
            }
            after_flag = flag;
            parts.push(next);
            end = next_trail;
            index += 1;
        }
        out.push(format!("{lead}`{}`{end}", parts.join(" ")));
    }
    out.join(" ")
}

/// `--name`: two dashes and a letter (a bare `--` is punctuation, not a flag).
fn is_flag(word: &str) -> bool {
    word.strip_prefix("--")
        .and_then(|name| name.chars().next())
        .is_some_and(|first| first.is_ascii_alphabetic())
}

/// A word split into its leading "(", the word, and its trailing ")", ",", ";", ":" or ".".
fn split_punctuation(word: &str) -> (&str, &str, &str) {
    let rest = word.trim_start_matches(['(', '"']);
    let lead = &word[..word.len() - rest.len()];
    let core = rest.trim_end_matches([')', ',', ';', ':', '.', '"']);
    let trail = &rest[core.len()..];
    (lead, core, trail)
}

/// `compare`'s document: the shared envelope around the report's own fields.
pub fn json_document<'a>(
    report: &'a CompareReport,
    invocation: &'a str,
) -> JsonEnvelope<'a, &'a CompareReport> {
    JsonEnvelope::new("compare", invocation, report.ok(), report)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::compare::{plan, CompareOptions, RowLatency, RowResult};
    use crate::report::SCHEMA_VERSION;
    use std::path::PathBuf;

    /// Rows as a real run would produce them: stage 1 skipped check, stage 7 saturated,
    /// stage 5 failed to start.
    pub(crate) fn canned_report() -> CompareReport {
        let plans = plan(&CompareOptions {
            stages: Some(vec![1, 7, 5]),
            ..CompareOptions::default()
        });
        let mut rows: Vec<RowResult> = plans
            .into_iter()
            .map(|p| RowResult::failed(p, PathBuf::from("/t/release/x"), String::new(), 1.0))
            .collect();
        let stage1 = &mut rows[0];
        stage1.started = true;
        stage1.ok = true;
        stage1.status = "ok".into();
        stage1.accepted = 5000;
        stage1.latency_all = Some(RowLatency {
            n: 5000,
            p50_us: 2500,
            p90_us: 4000,
            p99_us: 9000,
            max_us: 12000,
        });
        stage1
            .notes
            .push("server check skipped: GET /stats answered 200 but not with stats JSON".into());
        let stage7 = &mut rows[1];
        stage7.started = true;
        stage7.ok = true;
        stage7.status = "ok".into();
        stage7.accepted = 117;
        stage7.rejected = 4883;
        stage7.latency_all = Some(RowLatency {
            n: 5000,
            p50_us: 3380,
            p90_us: 10970,
            p99_us: 22340,
            max_us: 25180,
        });
        stage7.latency_accepted = stage7.latency_all;
        stage7.server_jobs_per_sec = Some(91.1);
        stage7.model_jobs_per_sec = Some(100.0);
        stage7.efficiency_percent = Some(91.1);
        stage7.lost = Some(0);
        rows[2].status = "failed to start: no binary at /t/release/stage5".into();
        CompareReport {
            quick: false,
            users: crate::load::at_least_one(100),
            seed: 42,
            sweep: None,
            bin_dir: PathBuf::from("/t/release"),
            machine: "2 cores, linux x86_64".into(),
            rows,
            wall_secs: 12.5,
            build_secs: 0.0,
        }
    }

    #[test]
    fn markdown_table_has_a_row_per_stage_and_every_column() {
        let report = canned_report();
        let markdown = render_markdown(&report, "stress-client compare --stages 1,7,5");
        let table_lines: Vec<&str> = markdown.lines().filter(|l| l.starts_with('|')).collect();
        // Header, separator, three rows.
        assert_eq!(table_lines.len(), 5, "{markdown}");
        for column in COLUMNS {
            assert!(table_lines[0].contains(column), "{column} missing");
        }
        let stage7 = table_lines[3];
        for cell in [
            "7 contention",
            "117",
            "4883",
            "3.38ms",
            "22.34ms",
            "91.1",
            "100.0",
            "91%",
            "`stage7 --addr 127.0.0.1:0`",
        ] {
            assert!(stage7.contains(cell), "{cell} not in {stage7}");
        }
        assert!(table_lines[4].contains("failed to start"));
        assert!(
            table_lines[4].contains(" - |"),
            "a row that never ran shows dashes"
        );
        assert!(markdown.contains("1 FAILED"));
        assert!(markdown.contains("(row 1) server check skipped"));
    }

    #[test]
    fn flags_in_markdown_prose_sit_in_code_spans() {
        for (prose, expected) in [
            (
                "5 backpressure (quick: --capacity 20 --work-ms 100)",
                "5 backpressure (quick: `--capacity 20 --work-ms 100`)",
            ),
            (
                "under its lock (2/s at --work-ms 500), so the burst",
                "under its lock (2/s at `--work-ms 500`), so the burst",
            ),
            (
                "keep-alive; --quick; binaries",
                "keep-alive; `--quick`; binaries",
            ),
            ("8 --map sharded --shards 1", "8 `--map sharded --shards 1`"),
            ("already `--shards 1` here", "already `--shards 1` here"),
            ("no flag -- at all", "no flag -- at all"),
            ("6 workers", "6 workers"),
        ] {
            assert_eq!(flags_in_code_spans(prose), expected);
        }
    }

    #[test]
    fn no_bare_flag_reaches_the_markdown() {
        let mut report = canned_report();
        report.quick = true;
        report.rows[0].plan.label = "1 blocking (quick: --work-ms 100)".into();
        report.rows[0].notes = vec!["it applies 2/s at --work-ms 500, so".into()];
        let markdown = render_markdown(&report, "stress-client compare --quick");
        // Outside the fenced invocation, the code spans and the table's separator line,
        // no `--` may remain.
        let without_separator: String = markdown
            .lines()
            .filter(|line| !line.starts_with("|-"))
            .collect::<Vec<_>>()
            .join("\n");
        let prose = without_separator
            .split("```")
            .step_by(2)
            .flat_map(|part| part.split('`').step_by(2))
            .collect::<String>();
        assert!(!prose.contains("--"), "{markdown}");
        assert!(markdown.contains("(quick: `--work-ms 100`)"), "{markdown}");
        assert!(markdown.contains("at `--work-ms 500`, so"), "{markdown}");
    }

    #[test]
    fn terminal_table_is_box_drawn() {
        let text = render_text(&canned_report(), true);
        assert!(text.contains('│'));
        // Fitted to the terminal (120 columns when its width cannot be read, as here), with
        // each command whole under the table.
        assert!(text.contains(" 2: stage7 --addr 127.0.0.1:0"), "{text}");
        let table_lines = text.lines().filter(|line| line.contains(['│', '┌', '└']));
        assert!(
            table_lines.clone().count() > 3
                && table_lines.clone().all(|line| line.chars().count() <= 120),
            "{text}"
        );
    }

    #[test]
    fn notes_are_grouped_by_text() {
        let mut report = canned_report();
        for row in &mut report.rows {
            row.notes = vec!["same".into()];
        }
        report.rows[2].notes.push("only three".into());
        assert_eq!(
            notes(&report.rows),
            ["(rows 1, 2, 3) same", "(row 3) only three"]
        );
    }

    #[test]
    fn json_document_has_schema_version_and_rows() {
        let report = canned_report();
        let document = json_document(&report, "compare");
        let value = serde_json::to_value(&document).expect("serializable");
        assert_eq!(value["schema_version"], SCHEMA_VERSION);
        assert_eq!(value["command"], "compare");
        assert_eq!(value["ok"], false);
        let rows = value["rows"].as_array().expect("rows array");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1]["accepted"], 117);
        assert_eq!(rows[1]["plan"]["package"], "stage7");
        assert_eq!(rows[1]["model_jobs_per_sec"], 100.0);
    }

    #[test]
    fn a_checked_row_without_a_bound_says_so_instead_of_a_number() {
        let mut report = canned_report();
        let row = &mut report.rows[1];
        assert_eq!(model_cell(row), "100.0");
        row.model_jobs_per_sec = None;
        row.check_verdict = Some("ok".into());
        assert_eq!(model_cell(row), "no bound");
        row.check_verdict = Some("skipped".into());
        assert_eq!(model_cell(row), "-");
    }
}
