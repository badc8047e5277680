//! Stage 4's lesson, proved structurally: requests that arrive together still take turns
//! at the lock, and every balance comes out exact.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use stage4::{run, Config};
use test_kit::{http, post_event, start, stats, wait_for_stats};
use tokio::net::TcpListener;

fn config(work_ms: u64) -> Config {
    Config {
        work_ms,
        ..Config::default()
    }
}

#[tokio::test]
async fn concurrent_requests_take_turns_at_the_lock() {
    const CLIENTS: i64 = 6;
    const WORK_MS: u64 = 100;
    let addr = start(run, config(WORK_MS)).await;

    // All six in flight at once, so the client opens a connection for each.
    let http = http();
    let started = Instant::now();
    let mut answers = Vec::new();
    for amount in 1..=CLIENTS {
        let http = http.clone();
        answers.push(tokio::spawn(async move {
            post_event(&http, addr, "alice", amount).await
        }));
    }
    let mut balances = Vec::new();
    for answer in answers {
        let (status, body) = answer.await.expect("client task");
        assert_eq!(status, StatusCode::OK, "{body}");
        balances.push(body["balance"].as_i64().expect("a balance"));
    }
    let elapsed = started.elapsed();

    // A lower bound only: serialized work cannot finish faster than one after another,
    // and a slow machine can only make it take longer.
    let serialized = Duration::from_millis(WORK_MS * CLIENTS as u64);
    assert!(
        elapsed >= serialized,
        "{CLIENTS} requests finished in {elapsed:?}, under the serialized {serialized:?}"
    );

    // Each answer saw a distinct running total, the last one the full sum.
    balances.sort_unstable();
    balances.dedup();
    assert_eq!(
        balances.len(),
        CLIENTS as usize,
        "every update saw the previous one"
    );
    let total = (1..=CLIENTS).sum::<i64>();
    assert_eq!(balances.last(), Some(&total));

    let stats = stats(addr).await;
    assert_eq!(stats["processed"], CLIENTS);
    assert_eq!(stats["accepted"], CLIENTS);
    assert_eq!(stats["users"], 1);
    assert_eq!(stats["balance_total"], total);
    assert_eq!(
        stats["peak_busy_workers"], 1,
        "the lock let one event in at a time"
    );
}

#[tokio::test]
async fn balances_are_exact_across_many_users() {
    let addr = start(run, config(0)).await;
    let mut tasks = Vec::new();
    for user in 0..10 {
        tasks.push(tokio::spawn(async move {
            // A client per user: one keep-alive connection each, ten at once.
            let http = http();
            for amount in [5, -2, 7] {
                let (status, body) = post_event(&http, addr, &format!("user{user}"), amount).await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
    let stats = stats(addr).await;
    assert_eq!(stats["users"], 10);
    assert_eq!(stats["processed"], 30);
    assert_eq!(stats["balance_total"], 10 * (5 - 2 + 7));
}

#[tokio::test]
async fn waiting_requests_show_up_as_queue_depth() {
    let addr = start(run, config(300)).await;
    let http = http();
    for amount in 1..=3 {
        let http = http.clone();
        tokio::spawn(async move { post_event(&http, addr, "bob", amount).await });
    }
    // One holds the lock, the other two wait in the mutex's queue.
    let stats = wait_for_stats(addr, |s| s["queue_depth"] == 2).await;
    assert_eq!(stats["busy_workers"], 1);
    assert!(stats["capacity"].is_null(), "nothing bounds that queue");
}

#[tokio::test]
async fn shutdown_finishes_every_event_in_progress() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, config(200), async {
        let _ = stopped.await;
    }));

    let http = http();
    let mut clients = Vec::new();
    for amount in [10, 20, 30] {
        let http = http.clone();
        clients.push(tokio::spawn(async move {
            post_event(&http, addr, "carol", amount).await
        }));
    }
    // All three requests are in: one working, two waiting for the lock.
    wait_for_stats(addr, |s| s["queue_depth"] == 2 && s["busy_workers"] == 1).await;
    stop.send(()).expect("server is running");

    let summary = tokio::time::timeout(test_kit::PATIENCE, server)
        .await
        .expect("run returns after shutdown")
        .expect("no panic");
    assert_eq!(summary.processed, 3);
    assert_eq!(summary.users, 1);
    assert_eq!(summary.balance_total, 60);
    for client in clients {
        let (status, body) = client.await.expect("client task");
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
