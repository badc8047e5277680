//! Stage 4: shared balances, and a lock held during slow work.
//!
//! Run it with `cargo run -p stage4`, then:
//!
//! ```text
//! curl -i -d '{"user":"alice","action":"buy","amount":100}' http://127.0.0.1:8084/events
//! curl -s http://127.0.0.1:8084/stats
//! cargo run --release -p stress-client -- run http://127.0.0.1:8084 --requests 20 --concurrency 4
//! ```
//!
//! Every event now changes state: a balance per user, shared by all connections. Each
//! event also needs slow work (`--work-ms`, think of a call to another service), and
//! this stage does that work *while holding the balances lock*, across an `.await`. The
//! tasks are still concurrent, but they take turns at the lock, so N requests take at
//! least N × work_ms no matter how many arrive together: throughput is capped at
//! `1000 / work_ms` events per second. That is the anti-pattern the next stage removes.

pub mod cli;
pub mod event;
pub mod http;
pub mod ledger;
pub mod platform;
pub mod startup;
pub mod stats;
pub mod work;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinSet;

use crate::event::Event;
use crate::http::{Connection, Limits, Request, Response};
use crate::ledger::{Balances, Totals};
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
    /// Simulated slow work per event, in milliseconds, done while holding the lock.
    #[arg(long, default_value_t = 500)]
    pub work_ms: u64,
}

/// The throughput model of this stage, printed in the banner and served in `/stats`.
pub const MODEL_FORMULA: &str = "1000 / work_ms";

impl Config {
    /// The most events per second this stage can process: one at a time, `work_ms` each.
    /// `None` when `work_ms` is 0: nothing in the model then limits the rate.
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
    /// Every user's balance, behind tokio's async mutex. This is the one stage where the
    /// async mutex is genuinely required: we hold the guard across `.await` (the slow
    /// work), and a std `MutexGuard` held across `.await` would block the runtime's only
    /// thread. Needing an async mutex is itself the smell: it means a lock is held while
    /// waiting for something else.
    balances: Mutex<Balances>,
    /// Running totals, readable without the lock above.
    totals: Totals,
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
struct Applied {
    status: &'static str,
    balance: i64,
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
        config,
        balances: Mutex::new(Balances::new()),
        totals: Totals::default(),
        counters: Counters::default(),
        started: Instant::now(),
    });
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
                    connections.spawn(serve_connection(stream, Arc::clone(&app), stop.clone()));
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
    Summary {
        processed: app.counters.processed.load(Ordering::Relaxed),
        users: app.totals.users.load(Ordering::Relaxed),
        balance_total: app.totals.balance_total.load(Ordering::Relaxed),
    }
}

/// Serves one connection: as many requests as the client sends, until it closes, goes
/// silent, breaks the framing, or the server shuts down.
async fn serve_connection(stream: TcpStream, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let mut connection = Connection::new(stream);
    loop {
        let request = tokio::select! {
            // A request that has not fully arrived has not been accepted either, so
            // dropping it at shutdown loses nothing the client was told we had.
            _ = stop.wait_for(|&stopping| stopping) => return,
            request = connection.read_request(&app.limits) => request,
        };
        let (response, keep_alive) = match request {
            Ok(Some(request)) => (route(&app, &request).await, request.keep_alive),
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

async fn route(app: &App, request: &Request) -> Response {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/events") => accept_event(app, &request.body).await,
        // HEAD is GET without the body, which `http` leaves out when it answers.
        ("GET" | "HEAD", "/stats") => stats(app),
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

async fn accept_event(app: &App, body: &[u8]) -> Response {
    match Event::from_json(body) {
        Ok(event) => {
            let balance = apply(app, event).await;
            app.counters.accepted.fetch_add(1, Ordering::Relaxed);
            let applied = Applied {
                status: "accepted",
                balance,
            };
            Response::json(200, &applied)
        }
        Err(rejection) => Response::error(400, rejection.reason, rejection.detail),
    }
}

// ANCHOR: apply
/// Does the slow work for `event` and applies it, holding the balances lock throughout.
async fn apply(app: &App, event: Event) -> i64 {
    // Everyone who arrives while the lock is taken waits here, in the mutex's queue: an
    // unbounded line of tasks, each holding its connection and request in memory.
    app.counters.queue_depth.fetch_add(1, Ordering::Relaxed);
    let mut balances = app.balances.lock().await;
    app.counters.queue_depth.fetch_sub(1, Ordering::Relaxed);
    app.counters.start_work();

    // THE ANTI-PATTERN: the slow work runs while we hold the lock, so nobody else can
    // even start theirs. The work does not need the balances at all; only the update
    // below does. Stage 5 moves this line out of the critical section.
    work::slow_call(Duration::from_millis(app.config.work_ms)).await;
    let balance = app.totals.apply(&mut balances, event);

    drop(balances);
    app.counters.finish_work();
    balance
}
// ANCHOR_END: apply

fn stats(app: &App) -> Response {
    let counters = &app.counters;
    let report = Report {
        stage: 4,
        name: "shared-state",
        knobs: &app.config,
        model_jobs_per_sec: app.config.model_jobs_per_sec(),
        model_formula: MODEL_FORMULA,
        accepted: counters.accepted.load(Ordering::Relaxed),
        rejected: counters.rejected.load(Ordering::Relaxed),
        invalid: counters.invalid.load(Ordering::Relaxed),
        processed: counters.processed.load(Ordering::Relaxed),
        queue_depth: counters.queue_depth.load(Ordering::Relaxed),
        capacity: None,
        workers: 1,
        busy_workers: counters.busy_workers.load(Ordering::Relaxed),
        peak_busy_workers: counters.peak_busy_workers.load(Ordering::Relaxed),
        users: app.totals.users.load(Ordering::Relaxed),
        balance_total: app.totals.balance_total.load(Ordering::Relaxed),
        rss_bytes: platform::resident_memory_bytes(),
        uptime_secs: app.started.elapsed().as_secs_f64(),
    };
    Response::json(200, &report)
}
