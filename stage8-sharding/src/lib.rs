//! Stage 8: the same worker pool on a sharded map.
//!
//! Run it with `cargo run -p stage8`, then:
//!
//! ```text
//! cargo run --release -p stress-client -- run http://127.0.0.1:8088
//! cargo run -p stage8 -- --map sharded --shards 64
//! cargo run -p stage8 -- --capacity 100 --work-ms 100 --hold-ms 10   # stage 7's knobs
//! ```
//!
//! Stage 7's pool was capped by one lock around every balance. Here the balances live in
//! a sharded map (DashMap, or the hand-rolled `sharded::ShardedMap` with `--map sharded`):
//! workers on different shards hold their locks in parallel, so the lock's bound becomes
//! `shards × 1000 / hold_ms`. One hot key still serializes: its updates share a shard.
//!
//! Contention is invisible from outside (the workers look busy), so this stage measures
//! it: how long each worker waited for the lock and how long it held it, in HdrHistograms
//! served by `/stats`, and one log line per job with `--log-locks`.
//!
//! Besides the map, the defaults changed (`--capacity 1000 --work-ms 10 --hold-ms 1`: the
//! outline's run, where split locks have room to show); pass stage 7's knobs to compare.

pub mod cli;
pub mod event;
pub mod http;
pub mod ledger;
pub mod platform;
pub mod sharded;
pub mod startup;
pub mod stats;
pub mod work;

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::event::Event;
use crate::http::{Connection, Limits, Request, Response};
use crate::ledger::Ledger;
use crate::stats::{Counters, LockTimes, Report};

/// The receiving end of the queue, shared by every worker.
type SharedJobs = Arc<tokio::sync::Mutex<mpsc::Receiver<Event>>>;

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
    #[arg(long, default_value_t = 10)]
    pub work_ms: u64,
    /// How many accepted events may wait for a worker; when full, new events get 503.
    #[arg(long, default_value = "1000", value_parser = cli::at_least_one)]
    pub capacity: NonZeroUsize,
    /// How many workers take events off the queue, each on its own thread.
    #[arg(long, default_value = "16", value_parser = cli::at_least_one)]
    pub workers: NonZeroUsize,
    /// Simulated work per event done while holding the balances lock, in milliseconds.
    #[arg(long, default_value_t = 1)]
    pub hold_ms: u64,
    /// Print one line per job: worker, user, new balance, lock wait and hold.
    #[arg(long)]
    #[serde(skip)]
    pub log_locks: bool,
    /// Which sharded map holds the balances.
    #[arg(long, value_enum, default_value_t = ledger::MapKind::DashMap)]
    pub map: ledger::MapKind,
    /// How many shards; DashMap rounds up to a power of two, at least 2
    /// [default: 4 × cores, rounded up to a power of two]
    #[arg(long, default_value_t = default_shards(), value_parser = cli::at_least_one, hide_default_value = true)]
    pub shards: NonZeroUsize,
}

/// The throughput model of this stage, printed in the banner and served in `/stats`.
pub const MODEL_FORMULA: &str =
    "min(workers × 1000 / (work_ms + hold_ms), shards × 1000 / hold_ms)";

impl Config {
    /// The most events per second this stage can process: what the workers could do
    /// in parallel, or what the lock lets through, whichever is less.
    /// `None` when work_ms + hold_ms = 0: nothing in the model then limits the rate.
    pub fn model_jobs_per_sec(&self) -> Option<f64> {
        let per_job_ms = self.work_ms + self.hold_ms;
        let workers_bound =
            (per_job_ms > 0).then(|| self.workers.get() as f64 * 1000.0 / per_job_ms as f64);
        // A lock bound implies hold_ms > 0, so a workers bound always exists beside it.
        workers_bound.map(|bound| {
            self.model_lock_jobs_per_sec()
                .map_or(bound, |lock| bound.min(lock))
        })
    }

    /// What the lock lets through: one holder per shard, `hold_ms` each. A ceiling for
    /// spread keys (users sharing a shard still queue); `--shards 1` is stage 7's bound.
    /// `None` when hold_ms = 0: a lock held for no time bounds nothing.
    pub fn model_lock_jobs_per_sec(&self) -> Option<f64> {
        (self.hold_ms > 0).then(|| self.shards.get() as f64 * 1000.0 / self.hold_ms as f64)
    }
}

/// DashMap's own default: four shards per core, rounded up to a power of two.
pub fn default_shards() -> NonZeroUsize {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    let four_per_core = NonZeroUsize::new(cores.saturating_mul(4)).unwrap_or(NonZeroUsize::MIN);
    ledger::shard_count(ledger::MapKind::DashMap, four_per_core)
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
    /// Every user's balance in a sharded map, with totals and a holders gauge.
    ledger: Ledger,
    /// What the server has done so far, in atomics, so counting never makes a request
    /// wait and `/stats` can read them at any moment.
    counters: Counters,
    /// Lock wait and hold times, per worker.
    lock_times: LockTimes,
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
    mut config: Config,
    shutdown: impl Future<Output = ()>,
) -> Summary {
    // `/stats` and the model count the shards the ledger really built: DashMap rounds up.
    let ledger = Ledger::new(config.map, config.shards);
    config.shards = ledger.shards;
    let app = Arc::new(App {
        limits: Limits {
            max_body: config.max_body,
            read_timeout: config.read_timeout,
        },
        config: config.clone(),
        ledger,
        counters: Counters::default(),
        lock_times: LockTimes::new(config.workers),
        started: Instant::now(),
    });
    // The queue between the request path and the worker. Bounded: its capacity is the
    // promise of how much accepted-but-unfinished work we are willing to hold.
    let (queue, jobs) = mpsc::channel(config.capacity.get());
    let workers = start_workers(&app, Arc::new(tokio::sync::Mutex::new(jobs)));
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
    // queue, and the workers stop only after they have taken every event still queued:
    // each one we answered 202 is applied before `run` returns.
    drop(queue);
    // Joining a thread blocks, so it happens on tokio's blocking pool, not on the one
    // thread that serves connections.
    let joined = tokio::task::spawn_blocking(move || {
        for worker in workers {
            if worker.join().is_err() {
                eprintln!("a worker thread panicked");
            }
        }
    });
    if let Err(err) = joined.await {
        eprintln!("could not wait for the workers: {err}");
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

// ANCHOR: start_workers
/// Starts `config.workers` threads, each running its own single-threaded runtime.
///
/// Threads of their own keep the workers off the thread that serves connections, so
/// however busy the pool is, accepting, validating and answering 503 stay fast. Each
/// thread needs a runtime of its own because the work awaits (`work::slow_call` here, a
/// network call in real life).
fn start_workers(app: &Arc<App>, jobs: SharedJobs) -> Vec<thread::JoinHandle<()>> {
    (0..app.config.workers.get())
        .filter_map(|id| {
            let app = Arc::clone(app);
            let jobs = Arc::clone(&jobs);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build();
            let spawned = match runtime {
                Ok(runtime) => thread::Builder::new()
                    .name(format!("worker-{id}"))
                    .spawn(move || runtime.block_on(work(app, jobs, id))),
                Err(err) => Err(err),
            };
            spawned
                .map_err(|err| eprintln!("could not start worker {id}: {err}"))
                .ok()
        })
        .collect()
}
// ANCHOR_END: start_workers

// ANCHOR: work
/// One worker: takes events off the shared queue until it is closed and empty.
async fn work(app: Arc<App>, jobs: SharedJobs, id: usize) {
    loop {
        // ANCHOR: receiver
        // Only one worker at a time may wait on the receiver, so it sits behind a lock.
        // It is tokio's async mutex because the guard is held across `recv().await`
        // while the queue is empty. The block ends the guard's life *before* the job
        // runs: if it lived on through the job, the next worker could not even take an
        // event, and four workers would process exactly as fast as one.
        let next = {
            let mut receiver = jobs.lock().await;
            receiver.recv().await
        };
        let Some(event) = next else { break };
        // ANCHOR_END: receiver
        app.counters.start_work();

        // The slow work runs outside any lock: it does not touch the balances, so
        // nothing else has to wait for it.
        work::slow_call(Duration::from_millis(app.config.work_ms)).await;

        // The critical section now has work of its own (`hold_ms`), and every worker
        // needs the same lock for it: this is where sixteen workers become one.
        let user = app.config.log_locks.then(|| event.user.clone());
        let (balance, timing) = app
            .ledger
            .apply(event, Duration::from_millis(app.config.hold_ms));
        app.lock_times.record(id, &timing);
        if let Some(user) = user {
            println!(
                "[worker {id:>2}] user={user} balance={balance} wait={:.2}ms hold={:.2}ms",
                timing.wait.as_secs_f64() * 1000.0,
                timing.hold.as_secs_f64() * 1000.0,
            );
        }

        app.counters.finish_work();
    }
}
// ANCHOR_END: work

fn stats(app: &App, queue: &mpsc::Sender<Event>) -> Response {
    let counters = &app.counters;
    // `processed` before the lock times: a job records its lock times before it counts
    // as processed, so the histograms then hold at least every job counted here, and a
    // drained snapshot (processed == accepted) shows all of them. Read the other way
    // round, a job finishing in between showed processed 100 beside a hold count of 99.
    let processed = counters.processed.load(Ordering::Relaxed);
    let (lock_wait_us, lock_hold_us) = app.lock_times.summary();
    let report = Report {
        stage: 8,
        name: "sharding",
        knobs: &app.config,
        model_jobs_per_sec: app.config.model_jobs_per_sec(),
        model_formula: MODEL_FORMULA,
        model_lock_jobs_per_sec: app.config.model_lock_jobs_per_sec(),
        model_hot_key_jobs_per_sec: (app.config.hold_ms > 0)
            .then(|| 1000.0 / app.config.hold_ms as f64),
        model_hot_key_formula: "1000 / hold_ms (one hot key: its shard lock serializes every job)",
        accepted: counters.accepted.load(Ordering::Relaxed),
        rejected: counters.rejected.load(Ordering::Relaxed),
        invalid: counters.invalid.load(Ordering::Relaxed),
        processed,
        queue_depth: queued(queue),
        capacity: Some(app.config.capacity.get() as u64),
        workers: app.config.workers.get() as u64,
        busy_workers: counters.busy_workers.load(Ordering::Relaxed),
        peak_busy_workers: counters.peak_busy_workers.load(Ordering::Relaxed),
        users: app.ledger.totals.users.load(Ordering::Relaxed),
        balance_total: app.ledger.totals.balance_total.load(Ordering::Relaxed),
        lock_wait_us,
        lock_hold_us,
        lock_holders: app.ledger.holders.load(Ordering::Relaxed),
        peak_lock_holders: app.ledger.peak_holders.load(Ordering::Relaxed),
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
