//! Stage 5: a bounded queue and a worker; a full queue answers 503 at once.
//!
//! Run it with `cargo run -p stage5`, then:
//!
//! ```text
//! curl -i -d '{"user":"alice","action":"buy","amount":100}' http://127.0.0.1:8085/events
//! cargo run --release -p stress-client -- run http://127.0.0.1:8085
//! curl -s http://127.0.0.1:8085/stats
//! ```
//!
//! Stage 4 did the slow work inside the request, holding a lock, and let an unbounded
//! line of waiting requests pile up in memory. Here the request path only validates the
//! event and *tries* to put it on a bounded queue: if there is room the answer is `202
//! Accepted` at once, and if there is not, the answer is `503` with `Retry-After` at
//! once. A worker takes events off the queue and does the slow work, outside any lock;
//! only the balance update itself is a (short) critical section. The server still does
//! `1000 / work_ms` events per second, but now it says so honestly, to every client,
//! within microseconds, and its memory no longer grows with the overload.

pub mod cli;
pub mod event;
pub mod http;
pub mod ledger;
pub mod platform;
pub mod startup;
pub mod stats;
pub mod work;

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::event::Event;
use crate::http::{Connection, Limits, Request, Response};
use crate::ledger::Ledger;
use crate::stats::{Counters, Report};

/// How long to wait before accepting again after `accept` failed (for example when the
/// process is out of file descriptors), so the loop does not spin on the error.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The server's knobs, written once: clap reads them from the command line (the
/// `#[arg]` defaults are the only defaults), tests fill them from code, and `/stats`
/// serialises them as its `knobs`.
#[derive(Clone, Debug, clap::Args, Serialize)]
pub struct Config {
    /// Largest request body accepted, in bytes; a larger Content-Length is answered 413
    /// before any of the body is read.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_body: usize,
    /// How long a request may take to arrive, and an idle keep-alive connection may stay
    /// open (e.g. 500ms, 1.5s, 2m; a bare number is seconds).
    #[arg(long, default_value = "10s", value_parser = cli::parse_duration)]
    #[serde(rename = "read_timeout_ms", serialize_with = "cli::as_millis")]
    pub read_timeout: Duration,
    /// Simulated slow work per event, in milliseconds, done by the worker outside any lock.
    #[arg(long, default_value_t = 500)]
    pub work_ms: u64,
    /// How many accepted events may wait for the worker; when full, new events get 503.
    #[arg(long, default_value = "100", value_parser = cli::at_least_one)]
    pub capacity: NonZeroUsize,
}

/// The throughput model of this stage, printed in the banner and served in `/stats`.
pub const MODEL_FORMULA: &str = "1000 / work_ms";

impl Config {
    /// The most events per second this stage can process: one worker, `work_ms` each.
    pub fn model_jobs_per_sec(&self) -> Option<f64> {
        (self.work_ms > 0).then(|| 1000.0 / self.work_ms as f64)
    }
}

impl Default for Config {
    /// The command line's defaults: a default is written only in its `#[arg]` above.
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            config: Config,
        }
        Defaults::parse_from(["defaults"]).config
    }
}

/// What every connection task shares.
struct App {
    /// The limits each connection enforces while reading.
    limits: Limits,
    /// The knobs as started: the work reads its timings here, and `/stats` shows them.
    config: Config,
    /// Every user's balance behind one lock, with the totals beside it.
    ledger: Ledger,
    /// What the server has done so far, in atomics, so counting never makes a request
    /// wait and `/stats` can read them at any moment.
    counters: Counters,
    /// When the server started: `/stats` reports the uptime, so two snapshots can be
    /// told apart from a restart.
    started: Instant,
}

/// What `run` reports when it returns, for the final summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub processed: u64,
    pub users: u64,
    pub balance_total: i64,
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// Serves connections until `shutdown` completes, then lets every connection finish the
/// request it is working on and returns once all of them have closed.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Summary {
    let app = Arc::new(App {
        limits: Limits {
            max_body: config.max_body,
            read_timeout: config.read_timeout,
        },
        config: config.clone(),
        ledger: Ledger::default(),
        counters: Counters::default(),
        started: Instant::now(),
    });
    // The queue between the request path and the worker. Bounded: its capacity is the
    // promise of how much accepted-but-unfinished work we are willing to hold.
    let (queue, jobs) = mpsc::channel(config.capacity.get());
    let worker = tokio::spawn(work(Arc::clone(&app), jobs));
    // Connections wait on this between requests: `true` means "close instead of
    // waiting for another request". A watch channel, because every connection needs
    // to see the same single change, including ones that subscribe late.
    let (stop_sender, stop) = watch::channel(false);
    // Tracking the tasks lets shutdown wait for them instead of cutting answers short.
    let mut connections = JoinSet::new();

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let connection = serve_connection(stream, Arc::clone(&app), queue.clone(), stop.clone());
                    connections.spawn(connection);
                }
                // Accept errors are usually temporary (a client that reset before we got
                // to it, or no free file descriptor); they must never end the server.
                Err(err) => {
                    eprintln!("accept failed: {err}; retrying");
                    tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                }
            },
            // Collect finished tasks as we go, so the set does not grow with every
            // client ever served.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    // Closing the listener first makes new clients get "connection refused" at once
    // instead of waiting in the backlog for a server that is leaving.
    drop(listener);
    let _ = stop_sender.send(true);
    while connections.join_next().await.is_some() {}
    // Every connection has ended, so this is the last sender. Dropping it closes the
    // queue, and the worker stops only after it has taken every event still queued:
    // each one we answered 202 is applied before `run` returns.
    drop(queue);
    if let Err(err) = worker.await {
        eprintln!("the worker failed: {err}");
    }
    Summary {
        processed: app.counters.processed.load(Ordering::Relaxed),
        users: app.ledger.totals.users.load(Ordering::Relaxed),
        balance_total: app.ledger.totals.balance_total.load(Ordering::Relaxed),
    }
}

/// Serves one connection: as many requests as the client sends, until it closes, goes
/// silent, breaks the framing, or the server shuts down.
async fn serve_connection(
    stream: TcpStream,
    app: Arc<App>,
    queue: mpsc::Sender<Event>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connection = Connection::new(stream);
    loop {
        let request = tokio::select! {
            // A request that has not fully arrived has not been accepted either, so
            // dropping it at shutdown loses nothing the client was told we had.
            _ = stop.wait_for(|&stopping| stopping) => return,
            request = connection.read_request(&app.limits) => request,
        };
        let (response, keep_alive) = match request {
            Ok(Some(request)) => (route(&app, &queue, &request), request.keep_alive),
            Ok(None) => return,
            Err(response) => (response, false),
        };
        if (400..500).contains(&response.status) {
            app.counters.invalid.fetch_add(1, Ordering::Relaxed);
        }
        if connection
            .write_response(&response, keep_alive)
            .await
            .is_err()
        {
            return;
        }
        if !keep_alive {
            connection.close().await;
            return;
        }
    }
}

fn route(app: &App, queue: &mpsc::Sender<Event>, request: &Request) -> Response {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/events") => accept_event(app, queue, &request.body),
        // HEAD is GET without the body, which `http` leaves out when it answers.
        ("GET" | "HEAD", "/stats") => stats(app, queue),
        (_, "/stats") => Response::error(
            405,
            "method_not_allowed",
            format!(
                "{} /stats is not supported; use GET or HEAD",
                request.method
            ),
        )
        .with_headers(&[("Allow", "GET, HEAD")]),
        (_, "/events") => Response::error(
            405,
            "method_not_allowed",
            format!("{} /events is not supported; use POST", request.method),
        )
        .with_headers(&[("Allow", "POST")]),
        (_, path) => Response::error(
            404,
            "not_found",
            format!("there is nothing at {path}; events go to POST /events"),
        ),
    }
}

// ANCHOR: accept_event
fn accept_event(app: &App, queue: &mpsc::Sender<Event>, body: &[u8]) -> Response {
    let event = match Event::from_json(body) {
        Ok(event) => event,
        Err(rejection) => return Response::error(400, rejection.reason, rejection.detail),
    };
    // `try_send`, never `send().await`: waiting for room would turn a full queue back
    // into stage 4's invisible line of waiting requests. Either the event fits now, or
    // the client hears "busy, retry in a second" now.
    match queue.try_send(event) {
        Ok(()) => {
            app.counters.accepted.fetch_add(1, Ordering::Relaxed);
            let accepted = Status {
                status: "accepted",
                reason: None,
            };
            Response::json(202, &accepted)
        }
        // Full is the normal overload case. Closed cannot happen while connections are
        // open (the worker outlives them), but if it did, "busy" is still the truth.
        Err(_full_or_closed) => {
            app.counters.rejected.fetch_add(1, Ordering::Relaxed);
            let rejected = Status {
                status: "rejected",
                reason: Some("server_busy"),
            };
            Response::json(503, &rejected).with_headers(&[("Retry-After", "1")])
        }
    }
}
// ANCHOR_END: accept_event

// ANCHOR: work
/// The worker: takes events off the queue one at a time until the queue is closed and
/// empty.
async fn work(app: Arc<App>, mut jobs: mpsc::Receiver<Event>) {
    while let Some(event) = jobs.recv().await {
        app.counters.start_work();

        // The slow work runs outside any lock: it does not touch the balances, so
        // nothing else has to wait for it.
        work::slow_call(Duration::from_millis(app.config.work_ms)).await;

        // The critical section is just the update.
        app.ledger.apply(event);

        app.counters.finish_work();
    }
}
// ANCHOR_END: work

fn stats(app: &App, queue: &mpsc::Sender<Event>) -> Response {
    let counters = &app.counters;
    let report = Report {
        stage: 5,
        name: "backpressure",
        knobs: &app.config,
        model_jobs_per_sec: app.config.model_jobs_per_sec(),
        model_formula: MODEL_FORMULA,
        accepted: counters.accepted.load(Ordering::Relaxed),
        rejected: counters.rejected.load(Ordering::Relaxed),
        invalid: counters.invalid.load(Ordering::Relaxed),
        processed: counters.processed.load(Ordering::Relaxed),
        queue_depth: queued(queue),
        capacity: Some(app.config.capacity.get() as u64),
        workers: 1,
        busy_workers: counters.busy_workers.load(Ordering::Relaxed),
        peak_busy_workers: counters.peak_busy_workers.load(Ordering::Relaxed),
        users: app.ledger.totals.users.load(Ordering::Relaxed),
        balance_total: app.ledger.totals.balance_total.load(Ordering::Relaxed),
        rss_bytes: platform::resident_memory_bytes(),
        uptime_secs: app.started.elapsed().as_secs_f64(),
    };
    Response::json(200, &report)
}

/// How many accepted events are waiting in the queue, read from the channel itself, so
/// it is exactly the number `capacity` bounds. (A gauge raised before `try_send` and
/// lowered after `recv` over-counts: `recv` frees the slot before the worker lowers
/// the gauge, and a request can fill that slot in between; /stats then showed a queue
/// of 2 with a capacity of 1.)
fn queued(queue: &mpsc::Sender<Event>) -> u64 {
    (queue.max_capacity() - queue.capacity()) as u64
}
