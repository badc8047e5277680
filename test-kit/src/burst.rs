//! Overload from the outside, for the queue stages (5 to 8): a burst of events from many
//! clients, counted by what each client got back, and a sampler of the queue gauge while
//! the burst runs. The tests compare these counts with the server's own, which is what
//! makes a gauge the server reports worth believing.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;

use crate::api::{http, json_event, url};
use crate::PATIENCE;

/// What a burst of events got back, counted by the clients.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Answered 202: the server promised to apply these.
    pub accepted: u64,
    /// The sum of the amounts of the accepted events.
    pub accepted_amount: i64,
    /// The distinct users among the accepted events.
    pub accepted_users: HashSet<String>,
    /// Answered 503 server_busy with `Retry-After: 1`.
    pub rejected: u64,
    /// Sent but never answered: the server closed the connection first (shutdown).
    pub unanswered: u64,
    /// Anything else, with the answer, so a failure shows what went wrong.
    pub unexpected: Vec<String>,
}

impl LoadReport {
    /// Adds one client's counts to the total.
    fn absorb(&mut self, other: LoadReport) {
        self.accepted += other.accepted;
        self.accepted_amount += other.accepted_amount;
        self.accepted_users.extend(other.accepted_users);
        self.rejected += other.rejected;
        self.unanswered += other.unanswered;
        self.unexpected.extend(other.unexpected);
    }
}

/// Sends `requests` events from `concurrency` clients at a time, each a reqwest client
/// of its own (so one keep-alive connection) waiting for its answer before the next
/// request. Event `i` is for user `u{i % 97}` with amount `i + 1`, so sums identify
/// exactly which events were accepted. A client whose request fails (a server shutting
/// down refuses or closes its connection) just stops.
pub async fn load(addr: SocketAddr, requests: usize, concurrency: usize) -> LoadReport {
    let next = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(one_client(addr, requests, Arc::clone(&next))))
        .collect();
    let mut total = LoadReport::default();
    for client in clients {
        total.absorb(client.await.expect("a load client panicked"));
    }
    total
}

/// One of [`load`]'s clients: takes the next event number until all `requests` are taken.
async fn one_client(addr: SocketAddr, requests: usize, next: Arc<AtomicUsize>) -> LoadReport {
    let http = http();
    let mut report = LoadReport::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= requests {
            break;
        }
        let user = format!("u{}", i % 97);
        let amount = i as i64 + 1;
        let sent = http
            .post(url(addr, "/events"))
            .json(&json_event(&user, amount))
            .send()
            .await;
        let Ok(response) = sent else {
            report.unanswered += 1;
            break;
        };
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match status {
            StatusCode::ACCEPTED => {
                report.accepted += 1;
                report.accepted_amount += amount;
                report.accepted_users.insert(user);
            }
            StatusCode::SERVICE_UNAVAILABLE
                if retry_after == Some(HeaderValue::from_static("1"))
                    && body["reason"] == "server_busy" =>
            {
                report.rejected += 1;
            }
            _ => report
                .unexpected
                .push(format!("{status} {retry_after:?} {body}")),
        }
    }
    report
}

/// Reads `/stats` every few milliseconds until `stop` is set, and returns every
/// snapshot's `queue_depth` (to compare with the capacity). Each read is on a connection
/// of its own, as in [`crate::stats`]: the client keeps no idle connection to reuse.
/// Gives up quietly once the server stops answering, since it also runs while a server
/// shuts down.
pub async fn sample_queue_depth(addr: SocketAddr, stop: Arc<AtomicBool>) -> Vec<u64> {
    let http = reqwest::Client::builder()
        .timeout(PATIENCE)
        .pool_max_idle_per_host(0)
        .build()
        .expect("an HTTP client");
    let mut depths = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let Ok(response) = http.get(url(addr, "/stats")).send().await else {
            break;
        };
        let Ok(stats) = response.json::<Value>().await else {
            break;
        };
        depths.extend(stats["queue_depth"].as_u64());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    depths
}
