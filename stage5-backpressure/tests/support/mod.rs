//! The tests' two HTTP clients. Behaviour tests (statuses, JSON, counts) talk through
//! reqwest, the way any HTTP client would. Wire tests use the tiny raw client below: it
//! sends exactly the bytes a test writes, malformed ones included, and reads answers by
//! their Content-Length so one connection can carry many requests.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::header::{HeaderValue, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A generous bound on how long a test waits for an answer at all. It only turns a hang
/// into a failure; no assertion depends on how fast the server is.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub use stage5::{run, Config};

pub async fn start(config: Config) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(run(listener, config, std::future::pending()));
    addr
}

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

pub fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

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

/// Reads `/stats` on a connection of its own (a fresh client, dropped afterwards).
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

/// The raw bytes of a well-formed `POST /events`, for tests about the wire.
pub fn event(user: &str, amount: i64) -> Vec<u8> {
    post(
        &format!(r#"{{"user":"{user}","action":"buy","amount":{amount}}}"#),
        "",
    )
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: serde_json::Value,
}

impl Answer {
    pub fn reason(&self) -> &str {
        self.body["reason"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

pub struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buffer: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
    }

    /// Reads one answer, or `None` if the server closed the connection first.
    pub async fn answer(&mut self) -> Option<Answer> {
        tokio::time::timeout(PATIENCE, self.read_answer())
            .await
            .expect("the server answered or closed within the patience bound")
    }

    pub async fn roundtrip(&mut self, bytes: &[u8]) -> Answer {
        self.send(bytes).await;
        self.answer()
            .await
            .expect("an answer, not a closed connection")
    }

    /// True when the server closes the connection without sending anything more.
    pub async fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(PATIENCE, self.stream.read(&mut byte))
            .await
            .expect("the server closed within the patience bound");
        self.buffer.is_empty() && matches!(read, Ok(0) | Err(_))
    }

    async fn read_answer(&mut self) -> Option<Answer> {
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|line| {
                        let (key, value) = line.split_once(':')?;
                        key.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .expect("every answer has a Content-Length");
                let total = end + 4 + length;
                while self.buffer.len() < total {
                    if self.fill().await == 0 {
                        panic!("connection closed in the middle of an answer");
                    }
                }
                let body = serde_json::from_slice(&self.buffer[end + 4..total])
                    .expect("every answer body is JSON");
                let status = head[9..12].parse().expect("a numeric status");
                self.buffer.drain(..total);
                return Some(Answer { status, head, body });
            }
            if self.fill().await == 0 {
                return None;
            }
        }
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let read = self.stream.read(&mut chunk).await.unwrap_or(0);
        self.buffer.extend_from_slice(&chunk[..read]);
        read
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A well-formed `POST /events` with the given body and extra header lines.
pub fn post(body: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "POST /events HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub const VALID: &str = r#"{"user":"alice","action":"buy","amount":100}"#;

/// What a burst of events got back, counted by the clients.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Answered 202: the server promised to apply these.
    pub accepted: u64,
    /// The sum of the amounts of the accepted events.
    pub accepted_amount: i64,
    /// The distinct users among the accepted events.
    pub accepted_users: std::collections::HashSet<String>,
    /// Answered 503 server_busy with `Retry-After: 1`.
    pub rejected: u64,
    /// Sent but never answered: the server closed the connection first (shutdown).
    pub unanswered: u64,
    /// Anything else, with the answer, so a failure shows what went wrong.
    pub unexpected: Vec<String>,
}

/// Sends `requests` events from `concurrency` clients at a time, each a reqwest client
/// of its own (so one keep-alive connection) waiting for its answer before the next
/// request. Event `i` is for user `u{i % 97}` with amount `i + 1`, so sums identify
/// exactly which events were accepted. A client whose request fails (a server shutting
/// down refuses or closes its connection) just stops.
pub async fn load(addr: SocketAddr, requests: usize, concurrency: usize) -> LoadReport {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let next = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..concurrency)
        .map(|_| {
            let next = Arc::clone(&next);
            tokio::spawn(async move {
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
            })
        })
        .collect();
    let mut total = LoadReport::default();
    for client in clients {
        let report = client.await.expect("a load client panicked");
        total.accepted += report.accepted;
        total.accepted_amount += report.accepted_amount;
        total.accepted_users.extend(report.accepted_users);
        total.rejected += report.rejected;
        total.unanswered += report.unanswered;
        total.unexpected.extend(report.unexpected);
    }
    total
}

/// Reads `/stats` every few milliseconds until `stop` is set, and returns every
/// snapshot's `queue_depth` (to compare with the capacity). Each read is on a connection
/// of its own, as in [`stats`]: the client keeps no idle connection to reuse. Gives up
/// quietly once the server stops answering, since it also runs while a server shuts down.
pub async fn sample_queue_depth(
    addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<u64> {
    let http = reqwest::Client::builder()
        .timeout(PATIENCE)
        .pool_max_idle_per_host(0)
        .build()
        .expect("an HTTP client");
    let mut depths = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
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
