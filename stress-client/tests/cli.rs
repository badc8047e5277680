//! The binary end to end: flags, exit codes (0 ok, 1 unmet/loss, 2 usage) and `--json`.
//! Servers run in-process; the binary runs as a child process.
//! Run with `cargo test -p stress-client --test cli`.

mod support;

use std::process::Output;
use std::time::Duration;
use support::{client, client_async, EventsConfig, Loss};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_documents_every_run_flag() {
    let output = client(&["run", "--help"]);
    assert!(output.status.success());
    let help = stdout(&output);
    for flag in [
        "--requests",
        "--concurrency",
        "--users",
        "--seed",
        "--timeout",
        "--keep-alive",
        "--close",
        "--warmup",
        "--rate",
        "--idle",
        "--load-file",
        "--save-load",
        "--json",
        "--expect",
        "--quiet",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

/// A wrong port measures nothing: the run fails and says what to check, instead of
/// printing "lost 0" and exiting 0 as if the stage had passed.
#[test]
fn a_run_that_reaches_no_server_exits_1_and_says_why() {
    let output = client(&["run", "http://127.0.0.1:1", "--requests", "3", "--quiet"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("none of the 3 requests was accepted or rejected"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(client(&["run"]).status.code(), Some(2));
    assert_eq!(
        client(&["run", "http://127.0.0.1:1", "--expect", "p99<5"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(client(&["run", "ftp://127.0.0.1:1"]).status.code(), Some(2));
    assert_eq!(
        client(&[
            "run",
            "http://127.0.0.1:1",
            "--load-file",
            "/nonexistent/load.jsonl"
        ])
        .status
        .code(),
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn met_expectations_exit_0_and_write_json() {
    let server = support::events_server(EventsConfig {
        capacity: 1000,
        work: Duration::from_millis(1),
        ..EventsConfig::default()
    })
    .await;
    let json = std::env::temp_dir().join(format!("stress-cli-{}.json", std::process::id()));
    let args = vec![
        "run".to_string(),
        server.url(),
        "--requests=60".into(),
        "--concurrency=6".into(),
        "--expect=rejected==0,accepted==60,lost==0,p99<10s".into(),
        format!("--json={}", json.display()),
    ];
    let output = client_async(args).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    for part in [
        "Outcomes",
        "Latency",
        "Server check",
        "Expectations",
        "lost: 0",
    ] {
        assert!(text.contains(part), "{part} missing from:\n{text}");
    }
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("--json wrote the file"))
            .expect("valid JSON");
    let _ = std::fs::remove_file(&json);
    assert_eq!(document["schema_version"], 1);
    // The envelope every --json file shares: the command, and how it was invoked.
    assert_eq!(document["command"], "run");
    let invocation = document["invocation"].as_str().unwrap_or_default();
    assert!(
        invocation.starts_with("stress-client run ") && invocation.contains("--requests=60"),
        "{invocation}"
    );
    assert_eq!(document["run"]["requests"], 60);
    assert_eq!(document["check"]["verdict"], "ok");
    assert_eq!(document["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmet_expectation_exits_1() {
    let server = support::events_server(EventsConfig {
        capacity: 2,
        workers: 1,
        work: Duration::from_millis(20),
        ..EventsConfig::default()
    })
    .await;
    let args = vec![
        "run".to_string(),
        server.url(),
        "--requests=40".into(),
        "--concurrency=20".into(),
        "--expect=rejected==0".into(),
        "--quiet".into(),
    ];
    let output = client_async(args).await;
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loss_is_loud_and_exits_1() {
    let server = support::events_server(EventsConfig {
        loss: Loss::DropJobs,
        capacity: 1000,
        work: Duration::from_millis(1),
        ..EventsConfig::default()
    })
    .await;
    let args = vec![
        "run".to_string(),
        server.url(),
        "--requests=50".into(),
        "--concurrency=5".into(),
    ];
    let output = client_async(args).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("LOSS"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_load_then_load_file_replays_the_same_requests() {
    let path = std::env::temp_dir().join(format!("stress-cli-load-{}.jsonl", std::process::id()));
    let mut arrivals = Vec::new();
    for replay in [false, true] {
        let server = support::events_server(EventsConfig {
            capacity: 1000,
            work: Duration::from_millis(1),
            ..EventsConfig::default()
        })
        .await;
        let file_flag = if replay { "--load-file" } else { "--save-load" };
        let args = vec![
            "run".to_string(),
            server.url(),
            "--requests=25".into(),
            "--concurrency=1".into(),
            "--seed=9".into(),
            "--quiet".into(),
            format!("{file_flag}={}", path.display()),
        ];
        let output = client_async(args).await;
        assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
        arrivals.push(server.arrivals());
    }
    let _ = std::fs::remove_file(&path);
    assert_eq!(arrivals[0].len(), 25);
    assert_eq!(arrivals[0], arrivals[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_against_a_silent_server_exits_1() {
    let server = support::silent_server().await;
    let args = vec![
        "garbage".to_string(),
        server.url(),
        "--timeout=50ms".into(),
        "--quiet".into(),
    ];
    let output = client_async(args).await;
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
}
