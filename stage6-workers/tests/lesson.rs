//! Stage 6's lesson, proved with a gauge rather than a stopwatch: exactly `workers` jobs
//! run at once (so the shared receiver's lock is never held during a job), while the
//! queue's promises from stage 5 still hold.

use reqwest::header::{HeaderValue, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;
use stage6::{run, Config};
use std::num::NonZeroUsize;
use test_kit::{http, json_event, post_event, start, stats, url, wait_for_stats};
use tokio::net::TcpListener;

fn config(workers: usize, capacity: usize, work_ms: u64) -> Config {
    Config {
        workers: NonZeroUsize::new(workers).expect("at least one worker"),
        capacity: NonZeroUsize::new(capacity).expect("room for at least one event"),
        work_ms,
        ..Config::default()
    }
}

fn drained(stats: &serde_json::Value) -> bool {
    stats["processed"] == stats["accepted"]
        && stats["queue_depth"] == 0
        && stats["busy_workers"] == 0
}

#[tokio::test]
async fn exactly_workers_jobs_run_at_once() {
    const WORKERS: u64 = 4;
    let addr = start(run, config(WORKERS as usize, 40, 300)).await;
    let http = http();
    for amount in 1..=12 {
        let (status, body) = post_event(&http, addr, "gina", amount).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }

    // Twelve queued events and four idle workers: all four must get busy together. If a
    // worker held the receiver's lock through its job, the gauge would stop at one.
    wait_for_stats(addr, |s| s["busy_workers"] == WORKERS).await;
    let after = wait_for_stats(addr, drained).await;
    assert_eq!(
        after["peak_busy_workers"], WORKERS,
        "never more than the pool"
    );
    assert_eq!(after["processed"], 12);
    assert_eq!(after["balance_total"], (1..=12).sum::<i64>());
}

#[tokio::test]
async fn a_burst_beyond_the_queue_is_refused_at_once_and_the_rest_applied() {
    const BURST: u32 = 12;
    let addr = start(run, config(2, 2, 1000)).await;
    let http = http();

    // Amounts are powers of two, so the balance total says exactly which events landed.
    let mut accepted_total = 0i64;
    let mut rejected = 0;
    for i in 0..BURST {
        let amount = 1i64 << i;
        let response = http
            .post(url(addr, "/events"))
            .json(&json_event("erin", amount))
            .send()
            .await
            .expect("an answer");
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let body: Value = response.json().await.expect("a JSON answer");
        match status {
            StatusCode::ACCEPTED => accepted_total += amount,
            StatusCode::SERVICE_UNAVAILABLE => {
                rejected += 1;
                assert_eq!(body["status"], "rejected");
                assert_eq!(body["reason"], "server_busy");
                assert_eq!(retry_after, Some(HeaderValue::from_static("1")));
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert!(rejected > 0, "a queue of 2 cannot take a burst of {BURST}");

    // The 503s did not wait for the queue to drain: accepted work is still pending.
    let during = stats(addr).await;
    assert_eq!(during["rejected"], rejected);
    assert!(
        during["processed"].as_u64() < during["accepted"].as_u64(),
        "rejections were answered while accepted events still waited: {during}"
    );
    assert!(during["queue_depth"].as_u64() <= Some(2), "{during}");

    let after = wait_for_stats(addr, drained).await;
    assert_eq!(
        after["accepted"].as_u64(),
        Some(u64::from(BURST - rejected))
    );
    assert_eq!(after["balance_total"], accepted_total);
    assert_eq!(after["users"], 1);
    assert!(after["peak_busy_workers"].as_u64() <= Some(2), "{after}");
}

#[tokio::test]
async fn shutdown_applies_every_queued_event() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, config(3, 30, 100), async {
        let _ = stopped.await;
    }));

    let http = http();
    for amount in 1..=20 {
        let (status, body) = post_event(&http, addr, "frank", amount).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    // Most of the twenty are still queued when the signal comes.
    stop.send(()).expect("server is running");

    let summary = tokio::time::timeout(test_kit::PATIENCE, server)
        .await
        .expect("run returns after shutdown")
        .expect("no panic");
    assert_eq!(
        summary.processed, 20,
        "every 202 was applied before run returned"
    );
    assert_eq!(summary.users, 1);
    assert_eq!(summary.balance_total, (1..=20).sum::<i64>());
}
