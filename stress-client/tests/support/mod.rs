//! Small in-process servers the integration tests run the client against, on 127.0.0.1:0.
//!
//! `EventsServer` speaks the stage 5–8 contract (POST /events → 202 or 503, GET /stats) with
//! scaled-down timings; `Loss` makes its `/stats` under-report processed jobs or balance, so
//! the server check has a real loss to catch. The others reproduce stage 1–2 behaviours.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Starts a real stage 3 on 127.0.0.1:0 in this process (the task ends with the test's
/// runtime) and returns its URL. The open-file limit is raised first, so the server side
/// is never what runs out of files.
pub async fn stage3_url() -> String {
    stress_client::platform::raise_open_file_limit().expect("raise this test's own limit");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(stage3::run(
        listener,
        stage3::Config::default(),
        std::future::pending(),
    ));
    format!("http://{addr}")
}

/// Runs the freshly built `stress-client` binary with `args` and waits for it.
pub fn client(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stress-client"))
        .args(args)
        .output()
        .expect("the freshly built binary runs")
}

/// `client` off the async runtime, so an in-process server on the same runtime keeps
/// answering while the binary talks to it.
pub async fn client_async(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        client(&refs)
    })
    .await
    .expect("the blocking task finishes")
}

#[derive(Clone, Debug)]
pub struct EventsConfig {
    pub workers: usize,
    pub capacity: usize,
    pub work: Duration,
    pub loss: Loss,
    /// Delay between enqueueing and answering, to provoke client timeouts.
    pub answer_delay: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            capacity: 10,
            work: Duration::from_millis(5),
            loss: Loss::None,
            answer_delay: Duration::ZERO,
        }
    }
}

/// How a deliberately broken server misreports its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    None,
    /// Every fifth job vanishes: neither counted as processed nor applied.
    DropJobs,
    /// Every fifth job is counted as processed but its amount never reaches the balance
    /// (a lost update): only the balance comparison can notice.
    LostUpdate,
}

#[derive(Default)]
struct Counters {
    jobs_seen: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    invalid: AtomicU64,
    processed: AtomicU64,
    balance_total: AtomicI64,
    queue_depth: AtomicU64,
    busy: AtomicU64,
    balances: Mutex<HashMap<String, i64>>,
    /// Bodies in order of arrival, for determinism tests.
    arrivals: Mutex<Vec<String>>,
    /// Connections the silent server accepted: a test waits on it instead of sleeping.
    connections: AtomicU64,
}

pub struct TestServer {
    pub addr: SocketAddr,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn arrivals(&self) -> Vec<String> {
        self.counters
            .arrivals
            .lock()
            .expect("test lock is never poisoned")
            .clone()
    }

    pub fn processed(&self) -> u64 {
        self.counters.processed.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::SeqCst)
    }
}

struct Job {
    user: String,
    amount: i64,
}

pub async fn events_server(config: EventsConfig) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let counters = Arc::new(Counters::default());
    let (sender, receiver) = mpsc::channel::<Job>(config.capacity);
    let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
    let started = Instant::now();
    for _ in 0..config.workers {
        let receiver = Arc::clone(&receiver);
        let counters = Arc::clone(&counters);
        let config = config.clone();
        tokio::spawn(async move {
            loop {
                let job = receiver.lock().await.recv().await;
                let Some(job) = job else { break };
                counters.queue_depth.fetch_sub(1, Ordering::SeqCst);
                counters.busy.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(config.work).await;
                let nth = counters.jobs_seen.fetch_add(1, Ordering::SeqCst);
                let faulty = config.loss != Loss::None && nth % 5 == 4;
                if !faulty {
                    *counters
                        .balances
                        .lock()
                        .expect("test lock is never poisoned")
                        .entry(job.user)
                        .or_default() += job.amount;
                    counters
                        .balance_total
                        .fetch_add(job.amount, Ordering::SeqCst);
                }
                if !faulty || config.loss == Loss::LostUpdate {
                    counters.processed.fetch_add(1, Ordering::SeqCst);
                }
                counters.busy.fetch_sub(1, Ordering::SeqCst);
            }
        });
    }
    let accept_counters = Arc::clone(&counters);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let counters = Arc::clone(&accept_counters);
            let sender = sender.clone();
            let config = config.clone();
            tokio::spawn(async move {
                let _ = serve_events(stream, counters, sender, config, started).await;
            });
        }
    });
    TestServer {
        addr,
        counters,
        task,
    }
}

/// Reads one request: (method, path, close requested, body). `None` at a clean EOF.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<(String, String, bool, Vec<u8>)>> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head_len)) = request.parse(buf) {
            let mut length = 0usize;
            let mut close = false;
            for h in request.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    length = std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                }
                if h.name.eq_ignore_ascii_case("connection")
                    && h.value.eq_ignore_ascii_case(b"close")
                {
                    close = true;
                }
            }
            let method = request.method.unwrap_or("").to_string();
            let path = request.path.unwrap_or("").to_string();
            while buf.len() < head_len + length {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(None);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[head_len..head_len + length].to_vec();
            buf.drain(..head_len + length);
            return Ok(Some((method, path, close, body)));
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    body: &str,
    close: bool,
) -> std::io::Result<()> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    let text = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{connection}\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes()).await
}

async fn serve_events(
    mut stream: TcpStream,
    counters: Arc<Counters>,
    sender: mpsc::Sender<Job>,
    config: EventsConfig,
    started: Instant,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    while let Some((method, path, close, body)) = read_request(&mut stream, &mut buf).await? {
        match (method.as_str(), path.as_str()) {
            ("GET", "/stats") => {
                let stats = serde_json::json!({
                    "stage": 6, "name": "test-queue",
                    "knobs": {"workers": config.workers, "capacity": config.capacity, "work_ms": config.work.as_millis() as u64},
                    "model_jobs_per_sec": config.workers as f64 * 1000.0 / (config.work.as_secs_f64() * 1000.0),
                    "model_formula": "workers × 1000 / work_ms",
                    "accepted": counters.accepted.load(Ordering::SeqCst),
                    "rejected": counters.rejected.load(Ordering::SeqCst),
                    "invalid": counters.invalid.load(Ordering::SeqCst),
                    "processed": counters.processed.load(Ordering::SeqCst),
                    "queue_depth": counters.queue_depth.load(Ordering::SeqCst),
                    "capacity": config.capacity,
                    "workers": config.workers,
                    "busy_workers": counters.busy.load(Ordering::SeqCst),
                    "users": counters.balances.lock().expect("test lock is never poisoned").len(),
                    "balance_total": counters.balance_total.load(Ordering::SeqCst),
                    "lock_wait_us": null, "lock_hold_us": null, "rss_bytes": null,
                    "uptime_secs": started.elapsed().as_secs_f64(),
                });
                respond(&mut stream, "200 OK", &stats.to_string(), close).await?;
            }
            ("POST", "/events") => {
                counters
                    .arrivals
                    .lock()
                    .expect("test lock is never poisoned")
                    .push(String::from_utf8_lossy(&body).into_owned());
                let parsed: Option<(String, i64)> =
                    serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| {
                            Some((
                                v.get("user")?.as_str()?.to_string(),
                                v.get("amount")?.as_i64()?,
                            ))
                        });
                let Some((user, amount)) = parsed else {
                    counters.invalid.fetch_add(1, Ordering::SeqCst);
                    respond(
                        &mut stream,
                        "400 Bad Request",
                        r#"{"status":"error","reason":"invalid_event","detail":"x"}"#,
                        close,
                    )
                    .await?;
                    continue;
                };
                counters.queue_depth.fetch_add(1, Ordering::SeqCst);
                match sender.try_send(Job { user, amount }) {
                    Ok(()) => {
                        counters.accepted.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(config.answer_delay).await;
                        respond(
                            &mut stream,
                            "202 Accepted",
                            r#"{"status":"accepted"}"#,
                            close,
                        )
                        .await?;
                    }
                    Err(_) => {
                        counters.queue_depth.fetch_sub(1, Ordering::SeqCst);
                        counters.rejected.fetch_add(1, Ordering::SeqCst);
                        respond(
                            &mut stream,
                            "503 Service Unavailable",
                            r#"{"status":"rejected","reason":"server_busy"}"#,
                            close,
                        )
                        .await?;
                    }
                }
            }
            _ => {
                respond(
                    &mut stream,
                    "404 Not Found",
                    r#"{"status":"error","reason":"not_found","detail":"x"}"#,
                    close,
                )
                .await?;
            }
        }
        if close {
            break;
        }
    }
    Ok(())
}

/// Stage 2 style: any request → 200 with the body echoed and `Connection: close`.
pub async fn echo_server() -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                if let Ok(Some((_, _, _, body))) = read_request(&mut stream, &mut buf).await {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    let _ = respond(&mut stream, "200 OK", &text, true).await;
                }
            });
        }
    });
    TestServer {
        addr,
        counters: Arc::new(Counters::default()),
        task,
    }
}

/// Accepts connections and never answers: a hung server.
pub async fn silent_server() -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let counters = Arc::new(Counters::default());
    let task = tokio::spawn({
        let counters = Arc::clone(&counters);
        async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
                counters.connections.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    TestServer {
        addr,
        counters,
        task,
    }
}

/// Stage 1 style: one thread, one connection at a time, blocking reads without a timeout.
/// Returns the address; the thread ends with the test process.
pub fn blocking_echo_server() -> SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read until a full head and its Content-Length body arrived, blocking forever.
            while let Ok(n) = stream.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut request = httparse::Request::new(&mut headers);
                if let Ok(httparse::Status::Complete(head_len)) = request.parse(&buf) {
                    let length: usize = request
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= head_len + length {
                        let body = &buf[head_len..head_len + length];
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(head.as_bytes());
                        let _ = stream.write_all(body);
                        break;
                    }
                }
            }
        }
    });
    addr
}

/// An address nothing listens on.
pub fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("bound address")
}
