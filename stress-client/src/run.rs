//! `run_load`: replays a `Load` against a target and measures every request.
//!
//! Closed loop by default: `concurrency` tasks, each sending its next request as soon as the
//! previous one is answered. With `rate` it is open loop: request i is due at
//! `start + i / rate` and its latency counts from that intended start, so a stalled server
//! cannot hide its stall by slowing the client down (coordinated omission); the latency from
//! the actual start is kept beside it.

use crate::http::{excerpt, write_post, ExchangeError, HttpConnection, ResponseHead};
use crate::latency::{LatencyRecorder, LatencySummary};
use crate::load::{at_least_one, Event, Load};
use crate::outcome::{Outcome, OutcomeTally};
use crate::target::Target;
use serde::Serialize;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A request that starts later than this after its intended time counts as late. Tokio's timer
/// has millisecond granularity, so anything tighter would flag scheduling noise.
pub const LATE_THRESHOLD: Duration = Duration::from_millis(2);

/// The workshop's burst, the load the original lesson outline replayed: 5000 requests from
/// 200 connections at once. `run`'s flags and `compare` default to these.
pub const DEFAULT_REQUESTS: NonZeroUsize = at_least_one(5000);
pub const DEFAULT_CONCURRENCY: NonZeroUsize = at_least_one(200);
/// Long enough for a queued stage's honest wait, short enough that a frozen stage 1 shows.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Files a run needs open beside its connections: stdin/out/err, the runtime's own
/// descriptors, the `/stats` reads of the server check and `--watch`, a load file.
pub const SPARE_FILES: u64 = 32;

/// Whether the open-file limit lets a run open the connections it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionBudget {
    /// Enough (or no limit to speak of, as on Windows).
    Enough,
    /// Too few for the asked concurrency, enough for this many sending connections
    /// beside the idle ones.
    Fewer {
        limit: u64,
        concurrency: NonZeroUsize,
    },
    /// Too few even for the idle connections plus one sending one.
    TooFew { limit: u64, connections: u64 },
}

/// What the open-file `limit` allows for `concurrency` sending plus `idle` silent
/// connections. A pure decision, so every case is tested without changing a real limit.
pub fn connection_budget(
    limit: Option<u64>,
    concurrency: NonZeroUsize,
    idle: usize,
) -> ConnectionBudget {
    let Some(limit) = limit else {
        return ConnectionBudget::Enough;
    };
    let connections = limit.saturating_sub(SPARE_FILES);
    let idle = idle as u64;
    if concurrency.get() as u64 + idle <= connections {
        return ConnectionBudget::Enough;
    }
    match usize::try_from(connections.saturating_sub(idle))
        .ok()
        .and_then(NonZeroUsize::new)
    {
        Some(concurrency) => ConnectionBudget::Fewer { limit, concurrency },
        None => ConnectionBudget::TooFew { limit, connections },
    }
}

/// Why a run mostly failed at the client (no connection, a local socket error) rather
/// than at the server: then its numbers measure the client's machine, not the stage.
/// `None` when at most half the requests failed that way.
pub fn failed_at_client(run: &RunReport) -> Option<String> {
    let refused = run.tally.count(Outcome::Refused);
    let other_io = run.tally.count(Outcome::OtherIo);
    let failed = refused + other_io;
    if run.requests == 0 || failed * 2 <= run.requests {
        return None;
    }
    let sample = [Outcome::OtherIo, Outcome::Refused]
        .into_iter()
        .find_map(|outcome| run.tally.sample(outcome))
        .map(|sample| format!(" (first: {sample})"))
        .unwrap_or_default();
    Some(format!(
        "{failed} of {} requests failed at the client ({refused} refused, {other_io} other_io){sample}: \
         the numbers measure this machine, not the stage",
        run.requests
    ))
}

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub target: Target,
    pub concurrency: NonZeroUsize,
    pub timeout: Duration,
    pub keep_alive: bool,
    /// Requests sent before measuring (cycling through the load), not recorded.
    pub warmup: usize,
    /// Open-loop total requests per second; `None` is closed loop.
    pub rate: Option<f64>,
    /// Silent connections held open for the whole run.
    pub idle: usize,
    pub progress: bool,
    /// Stops issuing new requests when triggered (the CLI wires it to Ctrl-C).
    pub stop: StopSignal,
}

/// A one-way "stop issuing requests" switch; in-flight requests still finish or time out,
/// so an interrupted run still reports everything it sent.
#[derive(Debug, Clone)]
pub struct StopSignal(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for StopSignal {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl StopSignal {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn stopped(&self) {
        let mut receiver = self.0.subscribe();
        // The sender lives in `self`, so this only ends when the flag turns true.
        let _ = receiver.wait_for(|stopped| *stopped).await;
    }
}

impl LoadConfig {
    /// The CLI's defaults: [`DEFAULT_CONCURRENCY`], [`DEFAULT_TIMEOUT`], keep-alive.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            concurrency: DEFAULT_CONCURRENCY,
            timeout: DEFAULT_TIMEOUT,
            keep_alive: true,
            warmup: 0,
            rate: None,
            idle: 0,
            progress: false,
            stop: StopSignal::default(),
        }
    }
}

/// What the server check needs from the run: what the client saw applied or maybe applied.
/// Covers warmup requests too, because the server counts them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ledger {
    pub sent: u64,
    pub accepted: u64,
    pub accepted_amount_sum: i64,
    /// Requests with no answer that may have reached the server (timeouts, resets after the
    /// write): the server may or may not have applied them.
    pub ambiguous: u64,
    #[serde(skip)]
    pub ambiguous_amounts: Vec<i64>,
}

impl Ledger {
    fn merge(&mut self, other: Ledger) {
        self.sent += other.sent;
        self.accepted += other.accepted;
        self.accepted_amount_sum += other.accepted_amount_sum;
        self.ambiguous += other.ambiguous;
        self.ambiguous_amounts.extend(other.ambiguous_amounts);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyTables {
    pub accepted: LatencySummary,
    pub rejected: LatencySummary,
    pub all: LatencySummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    pub requested: usize,
    pub opened: usize,
    /// Idle connections the server had closed (or answered, e.g. with 408) by the end.
    pub closed_by_server: usize,
    pub first_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub requests: u64,
    pub concurrency: usize,
    pub keep_alive: bool,
    pub rate: Option<f64>,
    pub warmup: usize,
    pub timeout_secs: f64,
    /// From the first measured request's start to the last answer.
    pub duration_secs: f64,
    /// From the first measured request's start to the last one's; the "send duration" of the
    /// burst model (`model::QueueShape`).
    pub send_duration_secs: f64,
    pub requests_per_sec: f64,
    pub outcomes: Vec<crate::outcome::OutcomeRow>,
    #[serde(skip)]
    pub tally: OutcomeTally,
    /// Latency from the intended start with `rate`, from the actual start otherwise.
    pub latency: LatencyTables,
    /// With `rate` only: latency from the actual start, what a naive client would report.
    pub latency_uncorrected: Option<LatencyTables>,
    /// With `rate` only: requests that started more than `LATE_THRESHOLD` after their due time.
    pub late_starts: Option<u64>,
    pub ledger: Ledger,
    pub idle: Option<IdleReport>,
    /// The run was interrupted before sending the whole load.
    pub stopped_early: bool,
    /// Whole run including warmup, for the server's jobs/s.
    #[serde(skip)]
    pub started: Option<Instant>,
    /// When the last measured answer arrived.
    #[serde(skip)]
    pub finished: Option<Instant>,
}

impl RunReport {
    /// A closed-loop report built from outcomes and latencies alone, for unit tests elsewhere.
    #[cfg(test)]
    pub fn for_tests(outcomes: &[(Outcome, Duration)]) -> Self {
        let mut tally = OutcomeTally::default();
        let mut recorders = Recorders::default();
        for &(outcome, latency) in outcomes {
            tally.record(outcome, String::new);
            recorders.record(outcome, latency);
        }
        Self {
            requests: tally.total(),
            concurrency: 1,
            keep_alive: true,
            rate: None,
            warmup: 0,
            timeout_secs: 5.0,
            duration_secs: 1.0,
            send_duration_secs: 1.0,
            requests_per_sec: tally.total() as f64,
            outcomes: tally.rows(),
            tally,
            latency: recorders.tables(),
            latency_uncorrected: None,
            late_starts: None,
            ledger: Ledger::default(),
            idle: None,
            stopped_early: false,
            started: None,
            finished: None,
        }
    }
}

#[derive(Default)]
struct Recorders {
    accepted: LatencyRecorder,
    rejected: LatencyRecorder,
    all: LatencyRecorder,
}

impl Recorders {
    fn record(&mut self, outcome: Outcome, elapsed: Duration) {
        match outcome {
            Outcome::Accepted => self.accepted.record(elapsed),
            Outcome::Rejected => self.rejected.record(elapsed),
            _ => {}
        }
        self.all.record(elapsed);
    }

    fn merge(&mut self, other: &Recorders) {
        self.accepted.merge(&other.accepted);
        self.rejected.merge(&other.rejected);
        self.all.merge(&other.all);
    }

    fn tables(&self) -> LatencyTables {
        LatencyTables {
            accepted: self.accepted.summary(),
            rejected: self.rejected.summary(),
            all: self.all.summary(),
        }
    }
}

/// Everything one task measured; merged after the phase so recording never shares a lock.
#[derive(Default)]
struct TaskResult {
    tally: OutcomeTally,
    corrected: Recorders,
    uncorrected: Recorders,
    late: u64,
    ledger: Ledger,
    first_start: Option<Instant>,
    last_start: Option<Instant>,
    last_end: Option<Instant>,
}

impl TaskResult {
    fn merge(&mut self, other: TaskResult) {
        self.tally.merge(&other.tally);
        self.corrected.merge(&other.corrected);
        self.uncorrected.merge(&other.uncorrected);
        self.late += other.late;
        self.ledger.merge(other.ledger);
        self.first_start = min_opt(self.first_start, other.first_start);
        self.last_start = self.last_start.max(other.last_start);
        self.last_end = self.last_end.max(other.last_end);
    }
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

struct Phase {
    events: Arc<Vec<Event>>,
    total: usize,
    next: AtomicUsize,
    done: AtomicU64,
    start: Instant,
    config: LoadConfig,
}

/// Replays `load` as configured; never fails: every network problem becomes an outcome.
pub async fn run_load(config: &LoadConfig, load: &Load) -> RunReport {
    let events = Arc::new(load.events.clone());
    let started = Instant::now();
    let mut ledger = Ledger::default();
    if config.warmup > 0 && !events.is_empty() {
        let warm = run_phase(config, &events, config.warmup, "warmup").await;
        ledger.merge(warm.ledger);
    }
    let idle = if config.idle > 0 {
        Some(open_idle(&config.target, config.idle).await)
    } else {
        None
    };
    let measured_start = Instant::now();
    let mut result = run_phase(config, &events, events.len(), "requests").await;
    let idle_report = match idle {
        Some((streams, mut report)) => {
            report.closed_by_server = count_closed_by_server(&streams);
            drop(streams);
            Some(report)
        }
        None => None,
    };
    ledger.merge(std::mem::take(&mut result.ledger));
    let first = result.first_start.unwrap_or(measured_start);
    let duration = result.last_end.map_or(Duration::ZERO, |end| end - first);
    let send_duration = result
        .last_start
        .map_or(Duration::ZERO, |last| last - first);
    let requests = result.tally.total();
    RunReport {
        requests,
        concurrency: config.concurrency.get(),
        keep_alive: config.keep_alive,
        rate: config.rate,
        warmup: config.warmup,
        timeout_secs: config.timeout.as_secs_f64(),
        duration_secs: duration.as_secs_f64(),
        send_duration_secs: send_duration.as_secs_f64(),
        requests_per_sec: if duration.is_zero() {
            0.0
        } else {
            requests as f64 / duration.as_secs_f64()
        },
        outcomes: result.tally.rows(),
        tally: result.tally,
        latency: result.corrected.tables(),
        latency_uncorrected: config.rate.map(|_| result.uncorrected.tables()),
        late_starts: config.rate.map(|_| result.late),
        ledger,
        idle: idle_report,
        stopped_early: config.stop.is_stopped() && (requests as usize) < events.len(),
        started: Some(started),
        finished: result.last_end,
    }
}

async fn run_phase(
    config: &LoadConfig,
    events: &Arc<Vec<Event>>,
    total: usize,
    label: &str,
) -> TaskResult {
    let phase = Arc::new(Phase {
        events: Arc::clone(events),
        total,
        next: AtomicUsize::new(0),
        done: AtomicU64::new(0),
        start: Instant::now(),
        config: config.clone(),
    });
    let progress = crate::progress::progress_bar(config.progress, total as u64, label);
    let ticker = {
        let phase = Arc::clone(&phase);
        let progress = progress.clone();
        tokio::spawn(async move {
            // Workers only bump an atomic; the bar is redrawn here, off the hot path.
            loop {
                progress.set_position(phase.done.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut tasks = tokio::task::JoinSet::new();
    // No more tasks than requests, but one even for an empty load, so the phase ends the
    // same way every time.
    for _ in 0..config.concurrency.get().min(total.max(1)) {
        tasks.spawn(load_task(Arc::clone(&phase)));
    }
    let mut merged = TaskResult::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(result) => merged.merge(result),
            // Tasks are never cancelled, so this is a panic: a bug in this crate, re-raised
            // rather than turned into a report that silently misses requests.
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
    ticker.abort();
    progress.finish_and_clear();
    merged
}

/// One of the `concurrency` tasks: takes the next event until the load is used up or the
/// run is stopped, sends it, and records what came back.
async fn load_task(phase: Arc<Phase>) -> TaskResult {
    let config = &phase.config;
    let mut result = TaskResult::default();
    let mut connection: Option<HttpConnection> = None;
    let mut request = Vec::with_capacity(512);
    let mut body = Vec::with_capacity(128);
    loop {
        if config.stop.is_stopped() {
            break;
        }
        let index = phase.next.fetch_add(1, Ordering::Relaxed);
        if index >= phase.total {
            break;
        }
        let event = &phase.events[index % phase.events.len()];
        let intended = config
            .rate
            .map(|rate| phase.start + Duration::from_secs_f64(index as f64 / rate));
        if let Some(due) = intended {
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                () = config.stop.stopped() => break,
            }
        }
        format_request(&mut request, &mut body, event, config);

        let start = Instant::now();
        let exchanged = exchange(&mut connection, &config.target, &request, config.timeout).await;
        let end = Instant::now();

        let outcome = result.record_outcome(&exchanged, connection.as_ref(), event);
        let keep = matches!(&exchanged, Ok(ResponseHead { close: false, .. })) && config.keep_alive;
        if !keep {
            connection = None;
        }
        result.record_timing(outcome, intended, start, end);
        phase.done.fetch_add(1, Ordering::Relaxed);
    }
    result
}

/// The complete POST of `event` into `request`, reusing both buffers: the hot path
/// allocates nothing per request.
fn format_request(request: &mut Vec<u8>, body: &mut Vec<u8>, event: &Event, config: &LoadConfig) {
    body.clear();
    // Serializing a struct of strings and an integer into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *body, event);
    request.clear();
    let target = &config.target;
    write_post(
        request,
        &target.host_header,
        &target.events_path,
        body,
        !config.keep_alive,
    );
}

impl TaskResult {
    /// Classifies one exchange into the tally and the ledger (accepted, or ambiguous when
    /// the request may have reached the server without an answer).
    fn record_outcome(
        &mut self,
        exchanged: &Result<ResponseHead, ExchangeError>,
        connection: Option<&HttpConnection>,
        event: &Event,
    ) -> Outcome {
        let outcome = match exchanged {
            Ok(head) => {
                let outcome = Outcome::from_status(head.status);
                let status = head.status;
                let body = connection.map(|c| c.body()).unwrap_or_default();
                self.tally
                    .record(outcome, || format!("HTTP {status}: {}", excerpt(body, 120)));
                outcome
            }
            Err(error) => {
                let outcome = Outcome::from_error(error);
                self.tally.record(outcome, || error.to_string());
                if error.request_may_have_arrived() {
                    self.ledger.ambiguous += 1;
                    self.ledger.ambiguous_amounts.push(event.amount);
                }
                outcome
            }
        };
        self.ledger.sent += 1;
        if outcome == Outcome::Accepted {
            self.ledger.accepted += 1;
            self.ledger.accepted_amount_sum += event.amount;
        }
        outcome
    }

    /// Latency from the intended start (open loop) or the actual one, the actual latency
    /// beside it in open loop, and whether the request left late.
    fn record_timing(
        &mut self,
        outcome: Outcome,
        intended: Option<Instant>,
        start: Instant,
        end: Instant,
    ) {
        let from = intended.unwrap_or(start);
        self.corrected
            .record(outcome, end.saturating_duration_since(from));
        if let Some(due) = intended {
            self.uncorrected.record(outcome, end - start);
            if start.saturating_duration_since(due) > LATE_THRESHOLD {
                self.late += 1;
            }
        }
        self.first_start = min_opt(self.first_start, Some(from));
        self.last_start = self.last_start.max(Some(start));
        self.last_end = self.last_end.max(Some(end));
    }
}

/// Connects when needed, then sends, all within `timeout`. The one deadline is applied to
/// each step separately so a timeout says which step it cut short: while connecting nothing
/// was sent, while waiting for the answer the server may have applied the request.
async fn exchange(
    connection: &mut Option<HttpConnection>,
    target: &Target,
    request: &[u8],
    timeout: Duration,
) -> Result<ResponseHead, ExchangeError> {
    let deadline = Instant::now() + timeout;
    let timed_out = |written| ExchangeError::TimedOut {
        waited: timeout,
        written,
    };
    let open = match connection {
        Some(open) => open,
        None => {
            let connect = HttpConnection::connect(target.addr);
            let opened = tokio::time::timeout_at(deadline, connect)
                .await
                .map_err(|_| timed_out(false))??;
            connection.insert(opened)
        }
    };
    tokio::time::timeout_at(deadline, open.exchange(request))
        .await
        .map_err(|_| timed_out(true))?
}

async fn open_idle(target: &Target, count: usize) -> (Vec<TcpStream>, IdleReport) {
    let mut streams = Vec::with_capacity(count);
    let mut first_error = None;
    for _ in 0..count {
        match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(target.addr)).await {
            Ok(Ok(stream)) => streams.push(stream),
            Ok(Err(e)) => {
                first_error.get_or_insert_with(|| e.to_string());
            }
            Err(_) => {
                first_error.get_or_insert_with(|| "connect timed out".to_string());
            }
        }
    }
    let report = IdleReport {
        requested: count,
        opened: streams.len(),
        closed_by_server: 0,
        first_error,
    };
    (streams, report)
}

fn count_closed_by_server(streams: &[TcpStream]) -> usize {
    let mut probe = [0u8; 64];
    streams
        .iter()
        .filter(|stream| !matches!(stream.try_read(&mut probe), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_decides_the_connections() {
        let c = |n| crate::load::at_least_one(n);
        assert_eq!(
            connection_budget(None, c(200), 100),
            ConnectionBudget::Enough
        );
        assert_eq!(
            connection_budget(Some(1024), c(200), 100),
            ConnectionBudget::Enough
        );
        // macOS's default 256: 224 connections, 100 of them idle, leaves 124 to send.
        assert_eq!(
            connection_budget(Some(256), c(200), 100),
            ConnectionBudget::Fewer {
                limit: 256,
                concurrency: c(124)
            }
        );
        assert_eq!(
            connection_budget(Some(64), c(10), 40),
            ConnectionBudget::TooFew {
                limit: 64,
                connections: 32
            }
        );
    }

    #[test]
    fn a_run_that_mostly_failed_at_the_client_says_why() {
        let mostly_refused = RunReport::for_tests(&[
            (Outcome::Refused, Duration::from_millis(1)),
            (Outcome::OtherIo, Duration::from_millis(1)),
            (Outcome::Accepted, Duration::from_millis(1)),
        ]);
        let reason = failed_at_client(&mostly_refused).expect("2 of 3 failed");
        assert!(
            reason.starts_with("2 of 3 requests failed at the client"),
            "{reason}"
        );
        let half = RunReport::for_tests(&[
            (Outcome::Refused, Duration::from_millis(1)),
            (Outcome::Timeout, Duration::from_millis(1)),
        ]);
        assert_eq!(failed_at_client(&half), None);
    }
}
