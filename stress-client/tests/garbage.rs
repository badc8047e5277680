//! `garbage` against servers that misbehave: one that never answers must be reported as hung,
//! and an echo server (which answers everything with 200) must not pass as compliant.
//! Run with `cargo test -p stress-client --test garbage`.

mod support;

use std::time::Duration;
use stress_client::garbage::{self, CaseVerdict};
use stress_client::target::Target;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_hung_and_fails() {
    let server = support::silent_server().await;
    let target = Target::from_addr(server.addr);
    let cases: Vec<_> = garbage::catalogue(&target).into_iter().take(3).collect();
    let report = garbage::run_cases(&target, &cases, Duration::from_millis(150)).await;
    assert_eq!(report.count(CaseVerdict::Hung), 3);
    assert!(!report.still_serving);
    assert!(report.failed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_server_survives_but_differs() {
    let server = support::echo_server().await;
    let target = Target::from_addr(server.addr);
    // Cases the echo server cannot frame (a claimed 10 GB body) hang until this timeout.
    let report = garbage::run_garbage(&target, Duration::from_millis(300)).await;
    assert!(report.still_serving, "{}", report.final_request);
    assert!(report.cases.len() >= 25);
    assert!(report.count(CaseVerdict::Matches) < report.cases.len() / 2);
    let text = garbage::render(&report, "heading", false);
    assert!(text.contains("still serving"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_server_fails() {
    let target = Target::from_addr(support::closed_port());
    let report = garbage::run_cases(&target, &[], Duration::from_secs(1)).await;
    assert!(!report.still_serving);
    assert!(report.failed());
}
