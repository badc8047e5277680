//! `compare` end to end on one fast stage: build it through the real path (`cargo build`,
//! `cargo metadata`'s target directory; the dev profile, so the build takes seconds), start
//! it on 127.0.0.1:0, replay a few hundred requests, check, stop it (SIGINT on Unix), render the
//! row. Also the failures that must become rows instead of hangs, and the CLI's flags.
//! Run with `cargo test -p stress-client --test compare`.

use std::path::{Path, PathBuf};
use std::process::Command;
use stress_client::compare::process::{self, Profile};
use stress_client::compare::{self, chart, render, spec, CompareOptions, CompareReport, RowPlan};
use stress_client::load::at_least_one;
use stress_client::platform::{self, StopMethod};

const USERS: std::num::NonZeroUsize = at_least_one(20);

fn stage8_plan(requests: usize, variant: Option<&str>) -> RowPlan {
    let options = match variant {
        Some(text) => CompareOptions {
            variants: vec![spec::parse_variant(text).expect("valid variant")],
            requests: Some(at_least_one(requests)),
            concurrency: Some(at_least_one(20)),
            ..CompareOptions::default()
        },
        None => CompareOptions {
            stages: Some(vec![8]),
            requests: Some(at_least_one(requests)),
            concurrency: Some(at_least_one(20)),
            ..CompareOptions::default()
        },
    };
    compare::plan(&options).remove(0)
}

async fn built(package: &'static str) -> PathBuf {
    let built =
        tokio::task::spawn_blocking(move || process::build(&[package], Profile::Dev, false))
            .await
            .expect("the build thread finishes");
    assert_eq!(built.len(), 1);
    if let Some(error) = &built[0].1 {
        panic!("building {package} failed: {error}");
    }
    process::binary_dir(Profile::Dev)
        .expect("cargo metadata names the target directory")
        .join(platform::binary_file_name(package, platform::OS))
}

async fn built_stage8() -> PathBuf {
    built("stage8").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage8_row_runs_checks_and_stops_cleanly() {
    let binary = built_stage8().await;
    let row = compare::run_row(stage8_plan(300, None), &binary, USERS, 7, false).await;
    assert!(row.ok, "status: {}; notes: {:?}", row.status, row.notes);
    assert_eq!(row.status, "ok");
    assert_eq!(row.accepted + row.rejected + row.errors, 300);
    assert!(row.accepted > 0);
    assert_eq!(row.lost, Some(0));
    assert_eq!(row.check_verdict.as_deref(), Some("ok"));
    assert!(row.model_jobs_per_sec.is_some_and(|m| m > 0.0));
    let shutdown = row.shutdown.clone().unwrap_or_default();
    assert!(shutdown.starts_with("exit 0"), "{shutdown}");
    let summary = row.final_summary.clone().unwrap_or_default();
    assert!(
        summary.starts_with(&format!("stopped: processed {}", row.accepted)),
        "{summary}"
    );

    // A stage given a flag it does not know exits at once: a row with clap's reason.
    let bad = compare::run_row(
        stage8_plan(10, Some("8 typo: --no-such-flag 1")),
        &binary,
        USERS,
        7,
        false,
    )
    .await;
    assert!(!bad.ok);
    assert!(bad.status.starts_with("failed to start"), "{}", bad.status);
    assert!(bad.status.contains("--no-such-flag"), "{}", bad.status);

    let report = CompareReport {
        quick: false,
        users: USERS,
        seed: 7,
        sweep: None,
        bin_dir: binary.parent().map(Path::to_path_buf).unwrap_or_default(),
        machine: compare::machine_description(),
        rows: vec![row, bad],
        wall_secs: 1.0,
        build_secs: 0.0,
    };
    let markdown = render::render_markdown(&report, "test");
    assert!(markdown.contains("| 8 sharding"), "{markdown}");
    assert!(markdown.contains("1 FAILED"));
    let svg = chart::render_svg(&report).expect("chart renders");
    assert!(svg.trim_end().ends_with("</svg>"));
    let json = serde_json::to_value(render::json_document(&report, "test")).expect("JSON");
    assert_eq!(json["rows"][0]["lost"], 0);
}

/// The Windows stop path, taken on any OS: the stage gets `--stop-on-stdin-close` and a
/// stdin pipe, and closing the pipe must end it exactly as Ctrl-C does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs --stop-on-stdin-close from the stages branch"]
async fn closing_stdin_stops_a_stage_cleanly() {
    let binary = built_stage8().await;
    let mut plan = stage8_plan(100, None);
    plan.stop_method = StopMethod::CloseStdin;
    let row = compare::run_row(plan, &binary, USERS, 7, false).await;
    assert!(row.ok, "status: {}; notes: {:?}", row.status, row.notes);
    let shutdown = row.shutdown.clone().unwrap_or_default();
    assert!(
        shutdown.starts_with("exit 0") && shutdown.contains("stdin"),
        "{shutdown}"
    );
    let summary = row.final_summary.clone().unwrap_or_default();
    assert!(summary.starts_with("stopped: processed"), "{summary}");
}

/// Stage 1 has no graceful shutdown: it is killed, and its row says that is expected
/// instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage1_is_killed_and_its_row_says_that_is_expected() {
    let binary = built("stage1").await;
    let options = CompareOptions {
        stages: Some(vec![1]),
        requests: Some(at_least_one(20)),
        concurrency: Some(at_least_one(2)),
        ..CompareOptions::default()
    };
    let plan = compare::plan(&options).remove(0);
    assert_eq!(plan.stop_method, StopMethod::Kill);
    let row = compare::run_row(plan, &binary, USERS, 7, false).await;
    assert!(row.ok, "status: {}; notes: {:?}", row.status, row.notes);
    let shutdown = row.shutdown.clone().unwrap_or_default();
    assert!(shutdown.contains("as expected"), "{shutdown}");
}

#[tokio::test]
async fn a_missing_binary_is_a_failed_row() {
    let row = compare::run_row(
        stage8_plan(10, None),
        Path::new("/nonexistent/stage8"),
        USERS,
        7,
        false,
    )
    .await;
    assert!(!row.ok);
    assert!(!row.started);
    assert!(row.status.contains("no binary at"), "{}", row.status);
}

fn client(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stress-client"))
        .args(args)
        .output()
        .expect("the freshly built binary runs")
}

#[test]
fn compare_help_documents_every_flag() {
    let output = client(&["compare", "--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--stages",
        "--variant",
        "--sweep",
        "--quick",
        "--requests",
        "--concurrency",
        "--users",
        "--seed",
        "--bin-dir",
        "--markdown",
        "--json",
        "--svg",
        "--quiet",
    ] {
        assert!(help.contains(flag), "{flag} missing from compare --help");
    }
}

#[test]
fn bad_compare_flags_exit_2_with_a_hint() {
    for args in [
        ["compare", "--stages", "9"],
        ["compare", "--variant", "8 --workers 2"],
        ["compare", "--sweep", "workers"],
    ] {
        let output = client(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("e.g.") || stderr.contains("use a number"),
            "{stderr}"
        );
    }
}

#[test]
fn missing_bin_dir_rows_fail_without_hanging() {
    let dir = std::env::temp_dir().join(format!("no-stages-{}", std::process::id()));
    let output = client(&[
        "compare",
        "--stages",
        "3,8",
        "--bin-dir",
        dir.to_str().expect("UTF-8 temp path"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.matches("failed to start: no binary at").count(),
        2,
        "{stdout}"
    );
}
