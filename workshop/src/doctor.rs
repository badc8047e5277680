//! `workshop doctor`: the pre-flight a participant runs the day before the workshop.
//!
//! ```text
//! cargo run -p workshop -- doctor            # a few seconds: is this laptop ready?
//! cargo run -p workshop -- doctor --prepare  # builds everything first (online, once)
//! ```
//!
//! One line per item, `OK`, `WARN` or `FAIL`, each not-OK line followed by its fix; exit
//! 1 on any FAIL, 0 otherwise. Probing the machine (`probe.rs`) is kept apart from judging
//! the answers (`judge.rs`), so every verdict is unit-tested with faked answers.

pub(crate) mod judge;
pub(crate) mod probe;
mod subprocess;

use crate::platform::Os;
use judge::{Finding, Status};
use std::io::Write;
use std::process::{Command, ExitCode};
use std::time::Duration;

/// The command that builds everything the day needs, for other commands to suggest.
pub use judge::PREPARE;

/// The room has no minute to spare for a compile, but a cold build of the whole workspace
/// takes minutes on a slow laptop: an hour only catches a build that has truly stopped.
const BUILD_LIMIT: Duration = Duration::from_secs(60 * 60);

/// The report's width: a default terminal, and what a projector shows legibly.
const WIDTH: usize = 80;

/// Runs the pre-flight (after the builds, with `prepare`) and prints the report.
pub fn run(prepare: bool) -> ExitCode {
    let mut findings = Vec::new();
    if prepare {
        findings.push(judge::prepared(&build_everything()));
    }
    findings.extend(examine());
    // A reader that stops early (`| head`) closes the pipe: the report is then unwanted,
    // not a reason to panic, and the exit code still tells the verdict.
    let _ = print_report(&findings);
    if findings.iter().any(|f| f.status == Status::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_report(findings: &[Finding]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for finding in findings {
        write!(out, "{}", render(finding))?;
    }
    writeln!(out, "{}", summary(findings))
}

/// The builds the day will need, with cargo's own progress on the terminal; `Err` names
/// the command that failed.
fn build_everything() -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for args in prepare_commands() {
        let shown = format!("cargo {}", args.join(" "));
        // Best effort, like the report: a closed stdout must not stop the build.
        let _ = writeln!(std::io::stdout(), "Running `{shown}`");
        match subprocess::stream(Command::new(&cargo).args(&args), BUILD_LIMIT) {
            Ok(true) => {}
            Ok(false) => return Err(format!("`{shown}` failed")),
            Err(reason) => return Err(reason),
        }
    }
    Ok(())
}

/// Exactly the builds the book's commands ask for, one package at a time. Cargo unifies
/// dependency features over the packages a command selects, so `cargo build --workspace`
/// builds tokio differently from `cargo run --release -p stage2`, and the room would
/// still compile (measured here: 14 s for stage 2, 9 s for stage 1's checks, after a
/// full workspace build). `--locked` keeps Cargo.lock as committed, so every laptop builds
/// the versions the book measured.
fn prepare_commands() -> Vec<Vec<String>> {
    let stages = stress_client::catalogue::STAGES;
    let packages = stages.iter().map(|s| s.package);
    let release = packages.chain([probe::CLIENT_PACKAGE]).map(|package| {
        let args = ["build", "--release", "--locked", "-p", package];
        args.map(str::to_owned).to_vec()
    });
    // `workshop check` builds the stage's own binary (debug) before its test, so a
    // solution that compiles only thanks to a dev-dependency's features is caught.
    let debug = stages.iter().map(|stage| {
        let args = ["build", "--locked", "-p", stage.package];
        args.map(str::to_owned).to_vec()
    });
    let checks = stages.iter().map(|stage| {
        let args = [
            "test",
            "--locked",
            "-p",
            stage.package,
            "--test",
            probe::EXERCISE_TEST,
            "--no-run",
        ];
        args.map(str::to_owned).to_vec()
    });
    release.chain(debug).chain(checks).collect()
}

/// Asks every question and judges every answer, in the order the report shows them.
fn examine() -> Vec<Finding> {
    let os = Os::current();
    let stages = stress_client::catalogue::STAGES;
    let (first, last) = (
        stages[0].default_port(),
        stages[stages.len() - 1].default_port(),
    );
    let mut findings = match probe::metadata() {
        Ok(metadata) => examine_workspace(&metadata),
        Err(reason) => judge::outside_workspace(&probe::rustc_version(), &reason),
    };
    findings.extend([
        judge::ports(first, last, &probe::busy_ports()),
        judge::open_files(os, &crate::platform::open_file_limits()),
        judge::backlog(os, &probe::backlog_cap(os)),
        judge::cores(probe::cores(), stage8::default_shards().get()),
        judge::terminal(&probe::terminal()),
        judge::mdbook(&probe::mdbook_version()),
    ]);
    findings
}

/// The items that need the workspace: its rust-version, its dependencies, its builds.
fn examine_workspace(metadata: &probe::Metadata) -> Vec<Finding> {
    let required = probe::required_rust(metadata);
    let release = probe::release_builds(metadata);
    let tests = probe::test_builds(metadata);
    vec![
        judge::toolchain(&probe::rustc_version(), &required),
        judge::crates_fetched(&probe::offline_fetch(metadata)),
        judge::builds("release", "release binaries", &release),
        judge::builds("checks", "exercise check builds", &tests),
    ]
}

/// `STATUS item  detail`, then `  fix: ...` when not OK, wrapped to 80 columns.
fn render(finding: &Finding) -> String {
    const ITEM_COLUMN: usize = 17;
    let head = format!("{:<5}{:<12}", finding.status.label(), finding.item);
    let mut text = wrap(&finding.detail, &head, ITEM_COLUMN);
    if let Some(fix) = &finding.fix {
        text.push_str(&wrap(
            fix,
            &format!("{:<ITEM_COLUMN$}fix: ", ""),
            ITEM_COLUMN + 5,
        ));
    }
    text
}

/// Words after `first_prefix`, continued under `indent` spaces, no line past `WIDTH`
/// unless one word is longer. A `code span` counts as one word, so a command is never
/// split across lines where a copy would break it.
fn wrap(text: &str, first_prefix: &str, indent: usize) -> String {
    let mut out = String::new();
    let mut line = first_prefix.to_owned();
    let mut line_is_empty = true;
    for word in words(text) {
        let wide = line.chars().count() + 1 + word.chars().count() > WIDTH;
        if !line_is_empty && wide {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(indent);
            line_is_empty = true;
        }
        if !line_is_empty {
            line.push(' ');
        }
        line.push_str(&word);
        line_is_empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// Splits on spaces outside backticks.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut in_code) = (String::new(), false);
    for c in text.chars() {
        if c == '`' {
            in_code = !in_code;
        }
        if c == ' ' && !in_code {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The last line: the counts, and what they mean for the day.
fn summary(findings: &[Finding]) -> String {
    let count = |status| findings.iter().filter(|f| f.status == status).count();
    let (ok, warn, fail) = (count(Status::Ok), count(Status::Warn), count(Status::Fail));
    let verdict = if fail > 0 {
        "not ready: fix each FAIL"
    } else if warn > 0 {
        "ready, with the warnings above"
    } else {
        "ready"
    };
    format!("{ok} OK, {warn} WARN, {fail} FAIL: {verdict}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(status: Status, detail: &str, fix: Option<&str>) -> Finding {
        Finding {
            status,
            item: "ports",
            detail: detail.to_owned(),
            fix: fix.map(str::to_owned),
        }
    }

    #[test]
    fn a_long_finding_wraps_within_80_columns_and_keeps_commands_whole() {
        let detail = "in use on 127.0.0.1: 8081 (in use), 8082 (in use), 8083 (in use), \
                      8084 (in use), 8085 (in use), 8086 (in use)";
        let fix = "a stage may still be running; stop it, or start stages with \
                   `--addr 127.0.0.1:0` and `cargo run -p workshop -- doctor --prepare`";
        let text = render(&finding(Status::Warn, detail, Some(fix)));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("WARN ports       in use on"), "{text}");
        assert!(lines.len() > 2, "{text}");
        assert!(
            lines.iter().all(|line| line.chars().count() <= WIDTH),
            "{text}"
        );
        assert!(
            lines[1..].iter().all(|line| line.starts_with(' ')),
            "{text}"
        );
        assert!(
            text.contains("`cargo run -p workshop -- doctor --prepare`"),
            "{text}"
        );
        assert!(text.contains("fix: a stage"), "{text}");
    }

    #[test]
    fn an_ok_finding_is_one_line() {
        let text = render(&finding(
            Status::Ok,
            "8081-8088 are free on 127.0.0.1",
            None,
        ));
        assert_eq!(text, "OK   ports       8081-8088 are free on 127.0.0.1\n");
    }

    #[test]
    fn prepare_builds_what_the_book_runs_for_every_stage() {
        let commands: Vec<String> = prepare_commands().iter().map(|c| c.join(" ")).collect();
        for stage in &stress_client::catalogue::STAGES {
            let run = format!("build --release --locked -p {}", stage.package);
            assert!(commands.contains(&run), "{commands:?}");
            let check = format!(
                "test --locked -p {} --test exercises --no-run",
                stage.package
            );
            assert!(commands.contains(&check), "{commands:?}");
            let binary = format!("build --locked -p {}", stage.package);
            assert!(commands.contains(&binary), "{commands:?}");
        }
        assert!(commands.contains(&"build --release --locked -p stress-client".to_owned()));
        // One package per command: a command selecting several would unify their features.
        assert!(commands.iter().all(|c| c.matches(" -p ").count() == 1));
        assert_eq!(
            commands.len(),
            3 * stress_client::catalogue::STAGES.len() + 1
        );
    }

    #[test]
    fn the_summary_counts_each_status() {
        let findings = [
            finding(Status::Ok, "", None),
            finding(Status::Warn, "", Some("x")),
            finding(Status::Warn, "", Some("x")),
            finding(Status::Fail, "", Some("x")),
        ];
        assert_eq!(
            summary(&findings),
            "1 OK, 2 WARN, 1 FAIL: not ready: fix each FAIL"
        );
        assert_eq!(summary(&findings[..1]), "1 OK, 0 WARN, 0 FAIL: ready");
    }
}
