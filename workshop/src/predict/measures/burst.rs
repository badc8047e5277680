//! Measurements made of one burst through the stress-client library (stages 2, 4 and 5):
//! how many got in, how long the last answer took, how many gave up, how long the queue
//! took to drain. Each load is small and the client's timeout bounds every request.
//!
//! Run one: `cargo run -p workshop -- predict 5.1` (or `2.7`, `4.1`, `4.2`, `5.2`, `5.9`).

use super::{one_decimal, secs, Measurement};
use crate::predict::lab::{Lab, RunningStage};
use crate::UserError;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};
use stress_client::load::{at_least_one, DEFAULT_USERS};
use stress_client::load::{Load, LoadSpec};
use stress_client::outcome::Outcome;
use stress_client::run::{run_load, LoadConfig, RunReport};

/// The stress client's default burst: 5000 events from 100 users, 200 connections.
const DEFAULT_BURST: usize = stress_client::run::DEFAULT_REQUESTS.get();

/// 2.7's silent connections, held open while the second burst runs.
pub const IDLE_CONNECTIONS: usize = 100;
/// 2.7's bursts: 1000 answers make a median that moves by well under a millisecond from run
/// to run, and take a fraction of a second when the stage is healthy.
const IDLE_BURST: usize = 1000;
const IDLE_CONCURRENCY: usize = 20;
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// A stage that freezes (a connection cap the silent clients fill) stops being sent new
/// requests after this, so the learner waits for at most this plus one timeout per run.
const IDLE_RUN_CAP: Duration = Duration::from_secs(8);

/// 4.1: three requests at the same moment.
pub const TOGETHER: usize = 3;

/// 4.2: sixty clients, each giving up after the client's default 5 s.
pub const TIMEOUT_CLIENTS: usize = 60;

/// 5.1: a quick burst of 1000 events over 100 connections, and how long the drain may take
/// before the measurement gives up (the model says about 5 s).
const DRAIN_BURST: usize = 1000;
const DRAIN_CONCURRENCY: usize = 100;
const DRAIN_CAP: Duration = Duration::from_secs(30);
/// How often `/stats` is read while draining: the measured time is good to this much.
const DRAIN_POLL: Duration = Duration::from_millis(50);

/// 5.2: a burst small enough to arrive in a few milliseconds.
const QUICK_BURST: usize = 200;

pub const IDLE_TERMS: [&str; 6] = [
    "idle",
    "opened",
    "requests",
    "base_p50_ms",
    "idle_p50_ms",
    "failed",
];

pub const TOGETHER_TERMS: [&str; 4] = ["requests", "work_ms", "model_secs", "middle_secs"];

pub const TIMEOUT_TERMS: [&str; 7] = [
    "clients",
    "work_ms",
    "timeout_secs",
    "fit",
    "model",
    "answered",
    "last_answer_secs",
];

pub const DRAIN_TIME_TERMS: [&str; 8] = [
    "workers",
    "accepted",
    "rejected",
    "capacity",
    "work_ms",
    "burst_secs",
    "model_secs",
    "drain_after_burst_secs",
];

pub const ACCEPTED_TERMS: [&str; 8] = [
    "requests",
    "capacity",
    "model",
    "burst_secs",
    "drained",
    "expected",
    "rejected",
    "drain_secs",
];

fn load(requests: usize, users: NonZeroUsize) -> Load {
    Load::generate(&LoadSpec {
        requests,
        users,
        seed: stress_client::load::DEFAULT_SEED,
    })
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn p50_micros(report: &RunReport) -> Option<u64> {
    let accepted = &report.latency.accepted;
    (accepted.n > 0)
        .then(|| accepted.percentile("p50").map(|p| p.micros))
        .flatten()
}

fn failed(report: &RunReport) -> u64 {
    report.requests - report.tally.count(Outcome::Accepted)
}

/// A knob of `/stats` as a number (0 when the stage has no such knob).
pub fn knob(stats: &stress_client::stats::ServerStats, name: &str) -> f64 {
    stats
        .knobs
        .get(name)
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0)
}

/// A run that stops issuing requests after `IDLE_RUN_CAP` (the ones in flight still finish
/// or time out), so a frozen stage costs seconds, not minutes.
fn capped_run(lab: &Lab, config: &LoadConfig, burst: &Load) -> RunReport {
    let mut config = config.clone();
    config.stop = Default::default();
    let stop = config.stop.clone();
    lab.block_on(async move {
        let cap = tokio::spawn(async move {
            tokio::time::sleep(IDLE_RUN_CAP).await;
            stop.stop();
        });
        let report = run_load(&config, burst).await;
        cap.abort();
        report
    })
}

/// 2.7's model: what the silent connections add to the median answer, in ms. A median that
/// came out lower with them is noise, not a gain, so the value is never below 0 (both
/// medians are in the terms).
pub fn idle_terms(base_p50_us: u64, idle_p50_us: u64, opened: usize, failed: u64) -> Measurement {
    Measurement::named(
        (ms(idle_p50_us) - ms(base_p50_us)).max(0.0),
        &IDLE_TERMS,
        [
            IDLE_CONNECTIONS.to_string(),
            opened.to_string(),
            IDLE_BURST.to_string(),
            format!("{:.2}", ms(base_p50_us)),
            format!("{:.2}", ms(idle_p50_us)),
            failed.to_string(),
        ],
    )
}

/// 2.7: the median answer time of a small burst with 100 silent connections held open,
/// minus the same burst's median without them, in milliseconds.
pub fn idle_clients(lab: &Lab, stage: &RunningStage) -> Result<Measurement, UserError> {
    let mut config = LoadConfig::new(stage.target());
    config.concurrency = at_least_one(IDLE_CONCURRENCY);
    config.timeout = IDLE_TIMEOUT;
    // The first connections of a fresh process are slower; neither run should pay for it.
    config.warmup = IDLE_CONCURRENCY;
    let burst = load(IDLE_BURST, DEFAULT_USERS);
    let base = capped_run(lab, &config, &burst);
    config.idle = IDLE_CONNECTIONS;
    let with_idle = capped_run(lab, &config, &burst);
    let opened = with_idle.idle.as_ref().map_or(0, |idle| idle.opened);
    let Some(base_p50) = p50_micros(&base) else {
        return Err(UserError::new(
            "stage 2 answered none of the burst's requests, even with no silent client; \
             `cargo run -p workshop -- reset 2` restores the stage if you changed it",
        ));
    };
    let Some(idle_p50) = p50_micros(&with_idle) else {
        return Err(UserError::new(
            "stage 2 answered no request while the silent connections were open; if you \
             capped the connections (exercise 2.3), the silent ones hold every slot",
        ));
    };
    Ok(idle_terms(base_p50, idle_p50, opened, failed(&with_idle)))
}

/// 4.1's model: the requests take turns at the lock, one `work_ms` each.
pub fn together_terms(last_secs: f64, middle_secs: f64, work_ms: f64) -> Measurement {
    Measurement::named(
        last_secs,
        &TOGETHER_TERMS,
        [
            TOGETHER.to_string(),
            work_ms.to_string(),
            secs(TOGETHER as f64 * work_ms / 1000.0),
            secs(middle_secs),
        ],
    )
}

/// 4.1: three requests sent together; the seconds until the last answer.
pub fn three_together(lab: &Lab, stage: &RunningStage) -> Result<Measurement, UserError> {
    let mut config = LoadConfig::new(stage.target());
    config.concurrency = at_least_one(TOGETHER);
    let report = lab.block_on(run_load(&config, &load(TOGETHER, at_least_one(TOGETHER))));
    let answered = &report.latency.accepted;
    if answered.n < TOGETHER as u64 {
        return Err(UserError::new(format!(
            "only {} of {TOGETHER} requests were answered; `cargo run -p workshop -- reset 4` \
             restores the stage if you changed it",
            answered.n
        )));
    }
    let middle = answered.percentile("p50").map_or(0, |p| p.micros);
    let stats = stage.stats(lab)?;
    Ok(together_terms(
        answered.max_micros as f64 / 1e6,
        middle as f64 / 1e6,
        knob(&stats, "work_ms"),
    ))
}

/// 4.2's model: one client is answered per `work_ms`, so `timeout / work_ms` fit.
pub fn timeout_terms(
    timed_out: u64,
    answered: u64,
    last_answer_secs: f64,
    work_ms: f64,
    timeout_secs: f64,
) -> Measurement {
    let fit = if work_ms > 0.0 {
        (timeout_secs * 1000.0 / work_ms).floor()
    } else {
        TIMEOUT_CLIENTS as f64
    };
    let model = (TIMEOUT_CLIENTS as f64 - fit).max(0.0);
    Measurement::named(
        timed_out as f64,
        &TIMEOUT_TERMS,
        [
            TIMEOUT_CLIENTS.to_string(),
            work_ms.to_string(),
            one_decimal(timeout_secs),
            fit.to_string(),
            model.to_string(),
            answered.to_string(),
            secs(last_answer_secs),
        ],
    )
}

/// 4.2: sixty clients at once, each with the client's 5 s timeout; how many time out.
pub fn timeouts(lab: &Lab, stage: &RunningStage) -> Result<Measurement, UserError> {
    let mut config = LoadConfig::new(stage.target());
    config.concurrency = at_least_one(TIMEOUT_CLIENTS);
    let report = lab.block_on(run_load(
        &config,
        &load(TIMEOUT_CLIENTS, at_least_one(TIMEOUT_CLIENTS)),
    ));
    let stats = stage.stats(lab)?;
    Ok(timeout_terms(
        report.tally.count(Outcome::Timeout),
        report.tally.count(Outcome::Accepted),
        report.latency.accepted.max_micros as f64 / 1e6,
        knob(&stats, "work_ms"),
        config.timeout.as_secs_f64(),
    ))
}

/// 5.1's and 6.7's model: the workers start on the first events at once and each applies
/// one per `work_ms`, so the last accepted is applied `accepted × work_ms / workers` after
/// the burst began.
pub fn drain_time_terms(
    drained_secs: f64,
    workers: u64,
    accepted: u64,
    rejected: u64,
    capacity: u64,
    work_ms: f64,
    burst_secs: f64,
) -> Measurement {
    Measurement::named(
        drained_secs,
        &DRAIN_TIME_TERMS,
        [
            workers.to_string(),
            accepted.to_string(),
            rejected.to_string(),
            capacity.to_string(),
            work_ms.to_string(),
            secs(burst_secs),
            secs(accepted as f64 * work_ms / 1000.0 / workers.max(1) as f64),
            secs(drained_secs - burst_secs),
        ],
    )
}

/// 5.1 and 6.7: a quick burst of 1000, then `/stats` read until every accepted event is
/// applied; the value is the seconds from the burst's start to that moment.
pub fn drain_time(lab: &Lab, stage: &RunningStage) -> Result<Measurement, UserError> {
    let mut config = LoadConfig::new(stage.target());
    config.concurrency = at_least_one(DRAIN_CONCURRENCY);
    let report = lab.block_on(run_load(&config, &load(DRAIN_BURST, DEFAULT_USERS)));
    // The stress client's clock is tokio's; its `into_std` is the same moment.
    let started = report.started.map_or_else(Instant::now, |at| at.into_std());
    loop {
        let stats = stage.stats(lab)?;
        if stats.processed >= stats.accepted {
            let drained = started.elapsed().as_secs_f64();
            return Ok(drain_time_terms(
                drained,
                stats.workers.unwrap_or(1),
                stats.accepted,
                report.tally.count(Outcome::Rejected),
                stats.capacity.unwrap_or(0),
                knob(&stats, "work_ms"),
                report.send_duration_secs,
            ));
        }
        if started.elapsed() > DRAIN_CAP {
            return Err(UserError::new(format!(
                "the queue was still not drained after {} s ({} of {} applied); \
                 `cargo run -p workshop -- reset N` restores stage N if you changed it",
                DRAIN_CAP.as_secs(),
                stats.processed,
                stats.accepted
            )));
        }
        std::thread::sleep(DRAIN_POLL);
    }
}

/// 5.2 and the default burst's model: the queue, the event in the worker, and what the
/// worker finished while the burst was still arriving.
pub fn accepted_terms(
    requests: usize,
    accepted: u64,
    rejected: u64,
    capacity: u64,
    model: f64,
    burst_secs: f64,
) -> Measurement {
    let drained = burst_secs * model;
    let accepted = accepted as f64;
    Measurement::named(
        accepted,
        &ACCEPTED_TERMS,
        [
            requests.to_string(),
            capacity.to_string(),
            one_decimal(model),
            secs(burst_secs),
            one_decimal(drained),
            one_decimal(capacity as f64 + 1.0 + drained),
            rejected.to_string(),
            one_decimal(if model > 0.0 { accepted / model } else { 0.0 }),
        ],
    )
}

fn accepted_of(lab: &Lab, stage: &RunningStage, requests: usize) -> Result<Measurement, UserError> {
    let config = LoadConfig::new(stage.target());
    let report = lab.block_on(run_load(&config, &load(requests, DEFAULT_USERS)));
    let stats = stage.stats(lab)?;
    Ok(accepted_terms(
        requests,
        report.tally.count(Outcome::Accepted),
        report.tally.count(Outcome::Rejected),
        stats.capacity.unwrap_or(0),
        stats.model_jobs_per_sec.unwrap_or(0.0),
        report.send_duration_secs,
    ))
}

/// How many events of the default burst the stage accepts (202).
pub fn burst_accepted(lab: &Lab, stage: &RunningStage) -> Result<Measurement, UserError> {
    accepted_of(lab, stage, DEFAULT_BURST)
}

/// How many events of a quick burst of 200 the stage accepts (202).
pub fn quick_burst_accepted(lab: &Lab, stage: &RunningStage) -> Result<Measurement, UserError> {
    accepted_of(lab, stage, QUICK_BURST)
}
