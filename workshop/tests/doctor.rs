//! The real `workshop doctor` on this machine: `cargo test -p workshop --test doctor`.
//!
//! What the machine answers differs from laptop to laptop, so these tests assert the
//! report's structure and the exit-code rule, not the verdicts; the verdicts themselves are
//! unit-tested with faked probes in `src/doctor/judge.rs`.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The items of the report, in order.
const ITEMS: [&str; 10] = [
    "rust",
    "crates",
    "release",
    "checks",
    "ports",
    "open files",
    "backlog",
    "cores",
    "terminal",
    "mdbook",
];

const STATUSES: [&str; 3] = ["OK", "WARN", "FAIL"];

/// Runs `workshop doctor` with its output piped, killing it if it outlives a minute
/// (every probe inside has its own shorter deadline).
fn doctor() -> Output {
    doctor_with(&mut Command::new(env!("CARGO_BIN_EXE_workshop")))
}

fn doctor_with(command: &mut Command) -> Output {
    let mut child = command
        .arg("doctor")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start workshop doctor");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("wait for doctor").is_none() {
        if Instant::now() > deadline {
            child.kill().expect("stop doctor");
            panic!("workshop doctor did not finish within 120 s");
        }
        thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("read doctor's output")
}

/// The lines that open an item (the others are indented continuations and fixes).
fn item_lines(stdout: &str) -> Vec<&str> {
    let lines = stdout.lines().filter(|line| !line.starts_with(' '));
    lines
        .filter(|line| STATUSES.iter().any(|s| line.starts_with(&format!("{s} "))))
        .collect()
}

fn status_of(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or_default()
}

#[test]
fn one_line_per_item_a_summary_and_exit_1_exactly_on_a_fail() {
    let output = doctor();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let items = item_lines(&stdout);
    assert_eq!(items.len(), ITEMS.len(), "{stdout}");
    for (line, item) in items.iter().zip(ITEMS) {
        let after_status = line[status_of(line).len()..].trim_start();
        assert!(after_status.starts_with(item), "expected `{item}`: {line}");
    }
    for line in stdout.lines() {
        assert!(line.chars().count() <= 80, "wider than 80 columns: {line}");
        assert!(
            !line.contains('\u{1b}'),
            "escape codes in piped output: {line}"
        );
    }
    // Each not-OK item is followed by its fix.
    let count = |status: &str| items.iter().filter(|l| status_of(l) == status).count();
    let fixes = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("fix: "))
        .count();
    assert_eq!(fixes, count("WARN") + count("FAIL"), "{stdout}");
    // The piped output cannot measure the terminal, and says so rather than failing.
    assert!(
        items.iter().any(|l| l.starts_with("WARN terminal")),
        "{stdout}"
    );

    let (ok, warn, fail) = (count("OK"), count("WARN"), count("FAIL"));
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with(&format!("{ok} OK, {warn} WARN, {fail} FAIL")),
        "{stdout}"
    );
    let expected_code = if fail > 0 { 1 } else { 0 };
    assert_eq!(output.status.code(), Some(expected_code), "{stdout}");
}

#[test]
fn a_busy_stage_port_is_a_warning_naming_it() {
    // Hold the first free default port: a port busy for another reason is skipped, never
    // failed, since a stage may legitimately be running on this machine.
    let held = (8081..=8088).find_map(|port| {
        let listener = TcpListener::bind(("127.0.0.1", port)).ok()?;
        Some((port, listener))
    });
    let Some((port, _listener)) = held else {
        eprintln!("skipped: every port 8081-8088 is already in use on this machine");
        return;
    };
    let output = doctor();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let ports = stdout
        .lines()
        .skip_while(|l| !l.contains(" ports "))
        .take_while(|l| l.contains(" ports ") || l.starts_with(' '));
    let ports: Vec<&str> = ports.collect();
    assert!(
        ports.first().is_some_and(|l| l.starts_with("WARN ports")),
        "{stdout}"
    );
    assert!(ports.concat().contains(&port.to_string()), "{stdout}");
    assert!(ports.concat().contains("--addr 127.0.0.1:0"), "{stdout}");
}

#[test]
fn a_machine_without_rust_on_path_fails_with_exit_1_instead_of_hanging() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_workshop"));
    command.env("PATH", "").env_remove("CARGO");
    let output = doctor_with(&mut command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let rust = item_lines(&stdout)
        .into_iter()
        .find(|l| l.contains(" rust "));
    assert!(rust.is_some_and(|l| l.starts_with("FAIL rust")), "{stdout}");
    assert!(stdout.contains("rustup"), "{stdout}");
    assert_eq!(output.status.code(), Some(1), "{stdout}");
}

#[test]
fn a_reader_that_stops_early_does_not_make_it_panic() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_workshop"))
        .arg("doctor")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start workshop doctor");
    // Closed before the report is written (the probes come first): every write then fails.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait for doctor");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_flags_are_a_usage_error_with_exit_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_workshop"))
        .args(["doctor", "--prepar"])
        .output()
        .expect("run workshop");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--prepare"));
}
