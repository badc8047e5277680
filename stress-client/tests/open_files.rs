//! The open-file limit (Unix only: `prlimit` sets a child's limits, and Windows has no such
//! limit on sockets). macOS starts every process with a soft limit of 256; `prlimit` plays
//! that on Linux. A real stage 3 runs in-process with this test's own limit raised, so only
//! the client's side is under test. Run with `cargo test -p stress-client --test open_files`.
#![cfg(target_os = "linux")]

mod support;

use std::process::{Command, Output};
use support::stage3_url;

/// `stress-client run URL --idle 100 --requests 1000` (200 sending + 100 idle connections)
/// under `prlimit --nofile=LIMITS`.
async fn run_under(limits: &'static str, url: String) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new("prlimit")
            .arg(format!("--nofile={limits}"))
            .arg(env!("CARGO_BIN_EXE_stress-client"))
            .args([
                "run",
                &url,
                "--idle",
                "100",
                "--requests",
                "1000",
                "--quiet",
            ])
            .output()
            .expect("prlimit runs (util-linux)")
    })
    .await
    .expect("the blocking task finishes")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_limit_of_256_is_raised_and_every_connection_opens() {
    let url = stage3_url().await;
    // Soft 256, hard unchanged: the client raises its soft limit and needs nothing less.
    let output = run_under("256:", url).await;
    let all = text(&output);
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(!all.contains("Too many open files"), "{all}");
    assert!(!all.contains("open-file limit"), "ran with fewer: {all}");
    assert!(all.contains("1000 accepted"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_limit_of_256_runs_with_fewer_connections_and_says_so() {
    let url = stage3_url().await;
    let output = run_under("256:256", url).await;
    let all = text(&output);
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(!all.contains("Too many open files"), "{all}");
    assert!(
        all.contains("the open-file limit (256) allows 124 connections"),
        "{all}"
    );
    assert!(all.contains("1000 accepted"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_too_low_for_the_idle_connections_stops_with_a_reason() {
    let url = stage3_url().await;
    let output = run_under("64:64", url).await;
    let all = text(&output);
    assert_eq!(output.status.code(), Some(2), "{all}");
    assert!(all.contains("lower --idle or raise the limit"), "{all}");
    assert!(!all.contains("Too many open files"), "{all}");
}
