//! The drain rate (stages 6 to 8): a burst fills the queue, then `/stats` is read until the
//! queue runs shorter than the pool; the events applied over that window, divided by its
//! length, are what the pool sustains while every worker has something to do.
//!
//! Run one: `cargo run -p workshop -- predict 7.1` (or `6.2`, `7.3`, `8.1`, `8.2`).

use super::burst::knob;
use super::{one_decimal, Measurement};
use crate::predict::lab::{Lab, RunningStage};
use crate::UserError;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};
use stress_client::load::{Load, LoadSpec};
use stress_client::run::{run_load, LoadConfig};
use stress_client::stats::ServerStats;

/// How often `/stats` is read: the window's ends are known to this much.
const POLL: Duration = Duration::from_millis(100);
/// Only bounds a stage that never drains; every row's queue drains in about 4 s.
const DRAIN_CAP: Duration = Duration::from_secs(20);
/// A window shorter than this is mostly the poll's own granularity.
const SHORTEST_WINDOW: Duration = Duration::from_millis(500);

pub const RATE_TERMS: [&str; 11] = [
    "workers",
    "work_ms",
    "hold_ms",
    "shards",
    "workers_bound",
    "lock_bound",
    "model",
    "hot_key_model",
    "window_secs",
    "processed",
    "users",
];

/// What one drain showed: the stage's knobs and models as `/stats` gave them at the start,
/// and the events applied over the timed window.
#[derive(Debug, Clone, PartialEq)]
pub struct Drain {
    pub workers: u64,
    pub work_ms: f64,
    /// 0 on a stage without a lock (stage 6).
    pub hold_ms: f64,
    /// 0 on a stage without shards.
    pub shards: u64,
    pub model: f64,
    /// Stage 8's bound for a load with one hot key; `None` elsewhere.
    pub hot_key_model: Option<f64>,
    pub processed: u64,
    pub window_secs: f64,
    /// How many users the burst's events came from.
    pub users: usize,
}

/// The rate and the model's terms: the workers' bound (each finishes one event per
/// `work_ms + hold_ms`) and the lock's (one holder per shard, each for `hold_ms`).
pub fn rate_terms(drain: &Drain) -> Measurement {
    let cycle_ms = drain.work_ms + drain.hold_ms;
    let workers_bound = if cycle_ms > 0.0 {
        drain.workers as f64 * 1000.0 / cycle_ms
    } else {
        f64::INFINITY
    };
    let lock_bound = if drain.hold_ms > 0.0 {
        one_decimal(drain.shards.max(1) as f64 * 1000.0 / drain.hold_ms)
    } else {
        "none (no lock)".to_string()
    };
    let rate = if drain.window_secs > 0.0 {
        drain.processed as f64 / drain.window_secs
    } else {
        0.0
    };
    Measurement::named(
        rate,
        &RATE_TERMS,
        [
            drain.workers.to_string(),
            drain.work_ms.to_string(),
            drain.hold_ms.to_string(),
            drain.shards.to_string(),
            one_decimal(workers_bound),
            lock_bound,
            one_decimal(drain.model),
            drain
                .hot_key_model
                .map_or_else(|| "none".to_string(), one_decimal),
            format!("{:.2}", drain.window_secs),
            drain.processed.to_string(),
            drain.users.to_string(),
        ],
    )
}

/// The default burst (100 users), drained.
pub fn spread_rate(lab: &Lab, stage: &RunningStage) -> Result<Measurement, UserError> {
    drain_rate(lab, stage, stress_client::load::DEFAULT_USERS).map(|drain| rate_terms(&drain))
}

/// The default burst with every event from one user, drained.
pub fn hot_key_rate(lab: &Lab, stage: &RunningStage) -> Result<Measurement, UserError> {
    drain_rate(lab, stage, NonZeroUsize::MIN).map(|drain| rate_terms(&drain))
}

/// Fills the queue with the default burst from `users` users and times its drain.
fn drain_rate(lab: &Lab, stage: &RunningStage, users: NonZeroUsize) -> Result<Drain, UserError> {
    let config = LoadConfig::new(stage.target());
    let load = Load::generate(&LoadSpec {
        requests: stress_client::run::DEFAULT_REQUESTS.get(),
        users,
        seed: stress_client::load::DEFAULT_SEED,
    });
    lab.block_on(run_load(&config, &load));
    let first = stage.stats(lab)?;
    let started = Instant::now();
    let workers = first.workers.unwrap_or(1);
    let mut last = (first.processed, Duration::ZERO);
    // A queue shorter than the pool no longer keeps every worker busy, so the window ends
    // there; the cap only bounds a stage that never drains.
    while started.elapsed() < DRAIN_CAP {
        std::thread::sleep(POLL);
        let now = stage.stats(lab)?;
        if now.queue_depth < workers {
            break;
        }
        last = (now.processed, started.elapsed());
    }
    if last.1 < SHORTEST_WINDOW {
        return Err(UserError::new(format!(
            "the queue drained too fast to time (under half a second); if you changed stage \
             {0}, `cargo run -p workshop -- reset {0}` restores it",
            first.stage
        )));
    }
    Ok(observed(
        &first,
        last.0.saturating_sub(first.processed),
        last.1,
        users.get(),
    ))
}

fn observed(first: &ServerStats, processed: u64, window: Duration, users: usize) -> Drain {
    Drain {
        workers: first.workers.unwrap_or(1),
        work_ms: knob(first, "work_ms"),
        hold_ms: knob(first, "hold_ms"),
        shards: knob(first, "shards") as u64,
        model: first.model_jobs_per_sec.unwrap_or(0.0),
        hot_key_model: first.model_hot_key_jobs_per_sec,
        processed,
        window_secs: window.as_secs_f64(),
        users,
    }
}
