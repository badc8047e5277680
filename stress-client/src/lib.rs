//! stress-client as a library: replay a deterministic load against a workshop stage, classify
//! every outcome, and check through `/stats` that the server lost nothing.
//!
//! The binary (`cargo run -p stress-client -- run http://127.0.0.1:8087`) is a thin CLI over
//! these calls; stage tests and `compare` use them directly:
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! use stress_client::{load::{at_least_one, Load, LoadSpec}, run::LoadConfig, target::Target};
//! let target = Target::resolve("http://127.0.0.1:8087").await?;
//! let load = Load::generate(&LoadSpec { requests: 500, users: at_least_one(100), seed: 42 });
//! let config = LoadConfig::new(target);
//! let (run, check) = stress_client::run_and_check(&config, &load, None).await;
//! assert_eq!(check.lost, 0, "{run:?}");
//! # Ok(()) }
//! ```

pub mod catalogue;
pub mod check;
pub mod compare;
pub mod duration;
pub mod expect;
pub mod garbage;
pub mod http;
pub mod latency;
pub mod load;
pub mod model;
pub mod outcome;
pub mod platform;
pub mod post;
pub mod progress;
pub mod report;
pub mod run;
pub mod stats;
pub mod target;
pub mod watch;

use check::{CheckOptions, CheckReport};
use load::Load;
use run::{LoadConfig, RunReport};
use stats::{ServerStats, StatsClient};
use std::time::Duration;

/// The server check split around the run: `/stats` is read before the first request is
/// sent, and compared after the last answer. The CLI prints between the two halves (the
/// model line before, the outcome tables before a drain that can take a minute), which is
/// why they are two calls and not one.
pub struct ServerCheck {
    stats: StatsClient,
    before: Result<ServerStats, String>,
    /// What the wait for an idle server found, said in the check's notes so a reader
    /// knows whether the baseline can hold someone else's job.
    baseline: Option<String>,
}

/// The longest wait for an idle server before the baseline read: a stray job in a stage
/// at its defaults (500 ms of work) finishes well within it, and a server that stays busy
/// this long is busy with someone else's load, which no wait would end.
pub const IDLE_WAIT_BOUND: Duration = Duration::from_secs(5);
/// Time between two `/stats` reads while waiting for an idle server.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// Whether two consecutive `/stats` reads show a server with nothing in flight: an empty
/// queue, no busy worker, and nothing processed between them.
pub fn is_idle(previous: &ServerStats, now: &ServerStats) -> bool {
    now.queue_depth == 0 && now.busy_workers == 0 && now.processed == previous.processed
}

impl ServerCheck {
    /// Reads the baseline `/stats` once the server is idle (bounded by
    /// [`IDLE_WAIT_BOUND`]). The check compares deltas, so a job still in flight from
    /// other traffic (a `post` a moment ago) would land inside the run's delta and look
    /// like an extra the run never sent. A consistent snapshot alone would not help: the
    /// job is real and still to come; only waiting it out keeps it out of the delta. An
    /// `Err` inside (no `/stats`, dead server) later skips the check with that reason.
    pub async fn begin(config: &LoadConfig) -> Self {
        let stats = StatsClient::new(&config.target);
        let started = tokio::time::Instant::now();
        let mut before = stats.fetch().await;
        let mut baseline = None;
        while let Ok(previous) = &before {
            tokio::time::sleep(IDLE_POLL).await;
            let now = stats.fetch().await;
            let waited = started.elapsed();
            let idle = now.as_ref().is_ok_and(|now| is_idle(previous, now));
            before = now;
            if idle {
                // No duration in the sentence: compare groups rows by identical notes.
                baseline = Some(
                    "the server was idle before the run, so the baseline holds no job in flight"
                        .to_string(),
                );
                break;
            }
            if waited >= IDLE_WAIT_BOUND {
                baseline = Some(format!(
                    "the server was still busy {} s before the run (other traffic?): its jobs may count as unexplained extras",
                    IDLE_WAIT_BOUND.as_secs()
                ));
                break;
            }
        }
        Self {
            stats,
            before,
            baseline,
        }
    }

    /// The server's counters before the run, or why there are none.
    pub fn before(&self) -> &Result<ServerStats, String> {
        &self.before
    }

    /// Waits for the drain and judges the deltas against what `run` saw.
    pub async fn finish(&self, run: &RunReport, options: &CheckOptions) -> CheckReport {
        let mut report = check::check_server(&self.stats, &self.before, run, options).await;
        if report.verdict != check::Verdict::Skipped {
            report.notes.extend(self.baseline.clone());
        }
        report
    }
}

/// Reads `/stats`, replays `load`, then runs the server check: the whole `run` subcommand
/// without any printing. `drain_timeout: None` derives the drain wait from the model.
pub async fn run_and_check(
    config: &LoadConfig,
    load: &Load,
    drain_timeout: Option<Duration>,
) -> (RunReport, CheckReport) {
    let server = ServerCheck::begin(config).await;
    let run = run::run_load(config, load).await;
    let options = CheckOptions {
        drain_timeout,
        distinct_users: load.distinct_users(),
        progress: config.progress,
    };
    let check = server.finish(&run, &options).await;
    (run, check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_means_nothing_queued_running_or_just_finished() {
        let mut previous = ServerStats::empty_for_tests();
        previous.processed = 3;
        let mut now = previous.clone();
        assert!(is_idle(&previous, &now));
        now.processed = 4;
        assert!(
            !is_idle(&previous, &now),
            "a job finished between the reads"
        );
        now.processed = 3;
        now.busy_workers = 1;
        assert!(!is_idle(&previous, &now), "a worker is busy");
        now.busy_workers = 0;
        now.queue_depth = 1;
        assert!(!is_idle(&previous, &now), "a job is queued");
    }
}
