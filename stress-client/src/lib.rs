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
}

impl ServerCheck {
    /// Reads `/stats` once; an `Err` inside (no `/stats`, dead server) later skips the check
    /// with that reason instead of failing the run.
    pub async fn begin(config: &LoadConfig) -> Self {
        let stats = StatsClient::new(&config.target);
        let before = stats.fetch().await;
        Self { stats, before }
    }

    /// The server's counters before the run, or why there are none.
    pub fn before(&self) -> &Result<ServerStats, String> {
        &self.before
    }

    /// Waits for the drain and judges the deltas against what `run` saw.
    pub async fn finish(&self, run: &RunReport, options: &CheckOptions) -> CheckReport {
        check::check_server(&self.stats, &self.before, run, options).await
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
