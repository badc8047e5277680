//! `garbage` against servers that misbehave: one that never answers must be reported as hung,
//! and an echo server (which answers everything with 200) must not pass as compliant. And
//! against stages 3 and 8, which must answer every case as specified and let go of a client
//! that pipelines requests and never reads.
//! Run with `cargo test -p stress-client --test garbage`.

mod support;

use std::future::pending;
use std::time::Duration;
use stress_client::garbage::{self, CaseVerdict};
use stress_client::target::Target;
use tokio::net::TcpListener;

/// Short, so the slow reader sees the server's write timeout (the read timeout) fire.
const READ_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the slow reader waits: a generous bound that only turns a hold into a
/// failure; nothing is asserted about how fast the server lets go.
const SLOW_READER_WAIT: Duration = Duration::from_secs(30);

/// Asserts a stage answered every case as specified, let the slow reader go, and still
/// serves.
fn assert_compliant(report: &garbage::GarbageReport) {
    let differing: Vec<_> = report
        .cases
        .iter()
        .filter(|case| case.verdict != CaseVerdict::Matches)
        .map(|case| {
            format!(
                "{}: expected {}, got {}",
                case.name, case.expected, case.got
            )
        })
        .collect();
    assert!(differing.is_empty(), "{differing:#?}");
    assert_eq!(
        report.slow_reader_closed,
        Some(true),
        "{}",
        report.slow_reader
    );
    assert!(report.still_serving, "{}", report.final_request);
    assert!(!report.failed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage3_answers_every_case_and_lets_a_slow_reader_go() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = Target::from_addr(listener.local_addr().expect("address"));
    let config = stage3::Config {
        read_timeout: READ_TIMEOUT,
        ..stage3::Config::default()
    };
    let server = tokio::spawn(stage3::run(listener, config, pending()));
    let report = garbage::run_all(&target, Duration::from_secs(5), Some(SLOW_READER_WAIT)).await;
    server.abort();
    assert_compliant(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage8_answers_every_case_and_lets_a_slow_reader_go() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = Target::from_addr(listener.local_addr().expect("address"));
    let config = stage8::Config {
        read_timeout: READ_TIMEOUT,
        work_ms: 0,
        hold_ms: 0,
        ..stage8::Config::default()
    };
    let server = tokio::spawn(stage8::run(listener, config, pending()));
    let report = garbage::run_all(&target, Duration::from_secs(5), Some(SLOW_READER_WAIT)).await;
    server.abort();
    assert_compliant(&report);
}

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
