//! Behaviour tests talk through reqwest, the way any HTTP client would: these shortcuts
//! build requests, read the JSON answer every route gives, and poll `/stats`.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::PATIENCE;

/// A reqwest client for one test. Each test builds its own: a client's pooled
/// connections belong to the runtime that opened them, and every test has its own.
/// Requests sent one after another reuse one keep-alive connection; requests in flight
/// together each get a connection of their own.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .expect("an HTTP client")
}

/// The URL of `path` on a test server, so tests write the path and not the scheme.
pub fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// The JSON of a `buy` of `amount` for `user`: the one event shape the lesson tests need.
pub fn json_event(user: &str, amount: i64) -> Value {
    json!({ "user": user, "action": "buy", "amount": amount })
}

/// Sends a request and reads the status and the JSON answer every route gives.
pub async fn reply(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request
        .send()
        .await
        .expect("the server answers within the patience bound");
    let status = response.status();
    let body = response.json().await.expect("every answer body is JSON");
    (status, body)
}

/// `POST /events` with a `buy` of `amount` for `user`.
pub async fn post_event(
    http: &reqwest::Client,
    addr: SocketAddr,
    user: &str,
    amount: i64,
) -> (StatusCode, Value) {
    reply(
        http.post(url(addr, "/events"))
            .json(&json_event(user, amount)),
    )
    .await
}

/// Reads `/stats` on a connection of its own (a fresh client, dropped afterwards), so
/// reading the gauges never holds a connection the test is counting.
pub async fn stats(addr: SocketAddr) -> Value {
    let (status, body) = reply(http().get(url(addr, "/stats"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Polls `/stats` until `ready` holds. Bounded by the patience deadline; used to wait
/// for a state, never to assert how long reaching it took.
pub async fn wait_for_stats(addr: SocketAddr, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let stats = stats(addr).await;
        if ready(&stats) {
            return stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stats never got there: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
