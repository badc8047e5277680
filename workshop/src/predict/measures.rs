//! The measurement table of `predict`: one row per thing a prediction can be graded
//! against. To add a prediction, add a row here (a stage, its flags, a function that
//! measures) and an entry with `measure = "<name>"` in the manifest. A row returns the
//! measured value and named terms, which the exercise's `explain` text quotes as {name}.

use super::lab::{Lab, RunningStage};
use crate::UserError;
use std::time::{Duration, Instant};
use stress_client::load::{Load, LoadSpec};
use stress_client::outcome::Outcome;
use stress_client::run::{run_load, LoadConfig};

/// What one measurement found.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub value: f64,
    /// The model's terms, by name, already formatted for the explanation.
    pub terms: Vec<(&'static str, String)>,
}

/// One row of the table.
pub struct Measure {
    pub name: &'static str,
    pub stage: u8,
    /// Flags the stage starts with, besides `--addr 127.0.0.1:0`.
    pub flags: &'static [&'static str],
    pub run: fn(&Lab, &RunningStage) -> Result<Measurement, UserError>,
}

pub const MEASURES: &[Measure] = &[
    Measure {
        name: "stage5_burst_accepted",
        stage: 5,
        flags: &[],
        run: burst_accepted,
    },
    // A queue of 300 drains for about 3 s at the lock's 100 events/s: long enough to time
    // with /stats read a few times a second, and the rate does not depend on the capacity.
    Measure {
        name: "stage7_lock_cap",
        stage: 7,
        flags: &["--capacity", "300"],
        run: drain_rate,
    },
];

/// The row named `name`.
pub fn measure(name: &str) -> Option<&'static Measure> {
    MEASURES.iter().find(|m| m.name == name)
}

/// The stress client's default burst: 5000 events from 100 users, 200 connections.
fn default_burst() -> Load {
    Load::generate(&LoadSpec {
        requests: stress_client::run::DEFAULT_REQUESTS.get(),
        users: stress_client::load::DEFAULT_USERS,
        seed: stress_client::load::DEFAULT_SEED,
    })
}

fn one_decimal(value: f64) -> String {
    format!("{value:.1}")
}

/// How many events of the default burst the stage accepts (202).
fn burst_accepted(lab: &Lab, stage: &RunningStage) -> Result<Measurement, UserError> {
    let config = LoadConfig::new(stage.target());
    let report = lab.block_on(run_load(&config, &default_burst()));
    let stats = stage.stats(lab)?;
    let accepted = report.tally.count(Outcome::Accepted) as f64;
    let model = stats.model_jobs_per_sec.unwrap_or(0.0);
    let capacity = stats.capacity.unwrap_or(0) as f64;
    let drained = report.send_duration_secs * model;
    Ok(Measurement {
        value: accepted,
        terms: vec![
            ("capacity", format!("{capacity}")),
            ("model", one_decimal(model)),
            ("burst_secs", format!("{:.2}", report.send_duration_secs)),
            ("drained", one_decimal(drained)),
            ("expected", one_decimal(capacity + 1.0 + drained)),
            (
                "rejected",
                format!("{}", report.tally.count(Outcome::Rejected)),
            ),
            (
                "drain_secs",
                one_decimal(if model > 0.0 { accepted / model } else { 0.0 }),
            ),
        ],
    })
}

/// Events per second the stage applies while its queue stays longer than its pool: the
/// burst fills the queue, then `/stats` is read until the queue runs low.
fn drain_rate(lab: &Lab, stage: &RunningStage) -> Result<Measurement, UserError> {
    let config = LoadConfig::new(stage.target());
    lab.block_on(run_load(&config, &default_burst()));
    let first = stage.stats(lab)?;
    let started = Instant::now();
    let workers = first.workers.unwrap_or(1);
    let mut last = (first.processed, started.elapsed());
    // A queue shorter than the pool no longer keeps every worker busy, so the window ends
    // there; the time cap only bounds a stage that never drains.
    while started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(250));
        let now = stage.stats(lab)?;
        if now.queue_depth < workers {
            break;
        }
        last = (now.processed, started.elapsed());
    }
    let (processed, window) = (last.0.saturating_sub(first.processed), last.1.as_secs_f64());
    if window < 0.5 {
        return Err(UserError::new(
            "the queue drained too fast to time (under half a second); is the stage built \
             from a changed stage 7? `cargo run -p workshop -- reset 7` restores it",
        ));
    }
    let knob = |name: &str| {
        first
            .knobs
            .get(name)
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0)
    };
    let (work_ms, hold_ms) = (knob("work_ms"), knob("hold_ms"));
    let rate = processed as f64 / window;
    Ok(Measurement {
        value: rate,
        terms: vec![
            ("workers", workers.to_string()),
            ("work_ms", work_ms.to_string()),
            ("hold_ms", hold_ms.to_string()),
            (
                "workers_bound",
                one_decimal(workers as f64 * 1000.0 / (work_ms + hold_ms)),
            ),
            (
                "lock_bound",
                one_decimal(if hold_ms > 0.0 {
                    1000.0 / hold_ms
                } else {
                    f64::INFINITY
                }),
            ),
            (
                "model",
                one_decimal(first.model_jobs_per_sec.unwrap_or(0.0)),
            ),
            ("window_secs", one_decimal(window)),
            ("processed", processed.to_string()),
        ],
    })
}
