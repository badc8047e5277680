//! Stage 7's lesson, proved with gauges and histograms rather than a stopwatch: the one
//! lock admits one holder at a time, waiting for it grows with the number of workers,
//! and no update is lost however many workers fight over it.

use reqwest::header::{HeaderValue, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;
use stage7::{run, Config};
use std::num::NonZeroUsize;
use test_kit::{event, http, json_event, post_event, start, stats, url, wait_for_stats, Client};
use tokio::net::TcpListener;

fn config(workers: usize, capacity: usize, work_ms: u64) -> Config {
    Config {
        workers: NonZeroUsize::new(workers).expect("at least one worker"),
        capacity: NonZeroUsize::new(capacity).expect("room for at least one event"),
        work_ms,
        hold_ms: 0,
        ..Config::default()
    }
}

fn contended(workers: usize, hold_ms: u64) -> Config {
    Config {
        hold_ms,
        ..config(workers, 1000, 0)
    }
}

/// Sends `count` events in one write (HTTP/1.1 pipelining), so they are all queued
/// before the workers are done with the first, then reads every answer.
async fn burst(addr: std::net::SocketAddr, count: i64, users: i64) -> i64 {
    let mut client = Client::connect(addr).await;
    let mut requests = Vec::new();
    for i in 0..count {
        requests.extend_from_slice(&event(&format!("user{}", i % users), i));
    }
    client.send(&requests).await;
    for _ in 0..count {
        let answer = client.answer().await.expect("an answer per request");
        assert_eq!(answer.status, 202, "{answer:?}");
    }
    (0..count).sum()
}

#[tokio::test]
async fn the_lock_has_one_holder_at_a_time_and_loses_no_update() {
    let addr = start(run, contended(8, 2)).await;
    let total = burst(addr, 100, 10).await;
    let after = wait_for_stats(addr, drained).await;

    assert_eq!(after["peak_lock_holders"], 1, "mutual exclusion");
    assert!(after["peak_busy_workers"].as_u64() > Some(1), "{after}");
    assert_eq!(after["processed"], 100);
    assert_eq!(after["users"], 10);
    assert_eq!(after["balance_total"], total);
    let hold = &after["lock_hold_us"];
    assert_eq!(hold["count"], 100);
    // A lower bound: every holder slept `hold_ms` inside the lock.
    assert!(hold["p50"].as_u64() >= Some(2000), "{hold}");
}

#[tokio::test]
async fn waiting_for_the_lock_grows_with_workers() {
    let mean_wait = |stats: &serde_json::Value| stats["lock_wait_us"]["mean"].as_f64();

    let alone = start(run, contended(1, 5)).await;
    burst(alone, 40, 40).await;
    let alone = wait_for_stats(alone, drained).await;

    let crowded = start(run, contended(8, 5)).await;
    burst(crowded, 40, 40).await;
    let crowded = wait_for_stats(crowded, drained).await;

    // Distinct users, yet the workers still queue: one lock covers every key.
    assert!(
        mean_wait(&crowded) > mean_wait(&alone),
        "{crowded} vs {alone}"
    );
    // With eight workers queued at once, someone waits through at least one full hold.
    assert!(
        crowded["lock_wait_us"]["max"].as_u64() >= Some(5000),
        "{crowded}"
    );
}

fn drained(stats: &serde_json::Value) -> bool {
    stats["processed"] == stats["accepted"]
        && stats["queue_depth"] == 0
        && stats["busy_workers"] == 0
}

#[tokio::test]
async fn the_pool_still_runs_workers_jobs_at_once() {
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
    // Most of the twenty are still queued when the signal comes; without that, the
    // shutdown below would have nothing left to prove.
    let queued = test_kit::stats(addr).await["queue_depth"].as_u64();
    assert!(
        queued > Some(0),
        "setup: events should still be queued, got {queued:?}"
    );
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
