//! `stress-client compare`: every stage side by side under the same load.
//!
//! For each row (a stage, a `--variant`, or one value of a `--sweep`) it starts the stage's
//! release binary on `127.0.0.1:0`, replays the same deterministic load with
//! [`crate::run_and_check`], stops the stage (SIGINT on Unix, closing its stdin on Windows: [`crate::platform`]) and
//! checks it exits 0, then puts the
//! outcome in one table (and, on request, Markdown, JSON and SVG files).
//!
//! ```text
//! cargo run --release -p stress-client -- compare
//! cargo run --release -p stress-client -- compare --quick
//! cargo run --release -p stress-client -- compare --stages 7,8 --sweep workers=1,2,4,8,16,32,64
//! ```
//!
//! Two stages cannot take the default burst within the time budget of a workshop, and the
//! plan says so instead of hiding it: stage 4 applies 2 events/s with every request waiting
//! for the lock, so its row sends a small load; stage 5 drains its 100-event queue at 2/s
//! (about 50 s, most of a full run). `--quick` shrinks the load and the slow stages' queues
//! through their own flags, and every row shows the exact command line it ran.

pub mod chart;
pub mod plan;
pub mod process;
pub mod render;
pub mod spec;
pub mod stages;

use crate::check::{CheckReport, Verdict};
use crate::load::{Load, LoadSpec};
use crate::outcome::Outcome;
use crate::platform;
use crate::run::{LoadConfig, RunReport};
use crate::target::Target;
use process::{Shutdown, StageProcess};
use serde::Serialize;
use spec::{Sweep, Variant};

pub use plan::{
    plan, RowPlan, SweepPoint, DEFAULT_CONCURRENCY, DEFAULT_REQUESTS, QUICK_CONCURRENCY,
    QUICK_REQUESTS,
};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `run`'s default per-request limit, so a row means what `stress-client run` would show.
const REQUEST_TIMEOUT: Duration = crate::run::DEFAULT_TIMEOUT;
/// The least time a stage gets to exit after SIGINT; the rest of the bound comes from the
/// jobs it still has to drain.
const EXIT_BOUND_BASE: Duration = Duration::from_secs(5);

/// Everything `compare` is asked to do, already parsed.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// `None`: all eight, or stages 7 and 8 for a sweep, or none when variants are given.
    pub stages: Option<Vec<u8>>,
    pub variants: Vec<Variant>,
    pub sweep: Option<Sweep>,
    pub quick: bool,
    /// `None`: [`DEFAULT_REQUESTS`] ([`QUICK_REQUESTS`] with `--quick`); a stage with a
    /// load cap (4) never gets more.
    pub requests: Option<NonZeroUsize>,
    /// `None`: [`DEFAULT_CONCURRENCY`] ([`QUICK_CONCURRENCY`] with `--quick`); a stage with
    /// a load cap (4) never gets more.
    pub concurrency: Option<NonZeroUsize>,
    pub users: NonZeroUsize,
    pub seed: u64,
    /// Use the binaries in this directory instead of building them.
    pub bin_dir: Option<PathBuf>,
    /// Progress lines, bars and spinners on stderr (each shown only on a terminal).
    pub progress: bool,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            stages: None,
            variants: Vec::new(),
            sweep: None,
            quick: false,
            requests: None,
            concurrency: None,
            users: crate::load::DEFAULT_USERS,
            seed: crate::load::DEFAULT_SEED,
            bin_dir: None,
            progress: false,
        }
    }
}

/// Latency of one class, in microseconds (`None` where there were no samples).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RowLatency {
    pub n: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// One row of the comparison: the plan, what happened, and the numbers the table shows.
#[derive(Debug, Clone, Serialize)]
pub struct RowResult {
    pub plan: RowPlan,
    /// Full path of the binary that ran.
    pub binary: PathBuf,
    pub started: bool,
    /// `ok`, or what went wrong in a few words (`LOSS`, `failed to start: …`).
    pub status: String,
    pub ok: bool,
    pub accepted: u64,
    pub rejected: u64,
    /// Everything neither accepted nor rejected: invalid, server errors, timeouts, refused, …
    pub errors: u64,
    pub latency_all: Option<RowLatency>,
    pub latency_accepted: Option<RowLatency>,
    pub client_requests_per_sec: Option<f64>,
    pub server_jobs_per_sec: Option<f64>,
    pub model_jobs_per_sec: Option<f64>,
    pub model_formula: Option<String>,
    pub efficiency_percent: Option<f64>,
    pub expected_accepted: Option<f64>,
    /// `None` when the server check could not run (no `/stats`) or did not finish.
    pub lost: Option<u64>,
    pub check_verdict: Option<String>,
    pub shutdown: Option<String>,
    /// The stage's own `stopped: …` line.
    pub final_summary: Option<String>,
    pub wall_secs: f64,
    pub notes: Vec<String>,
    /// The full run and check reports, as `run --json` writes them.
    pub run: Option<RunReport>,
    pub check: Option<CheckReport>,
}

impl RowResult {
    /// A row for a stage that never ran (build failure, failed start).
    pub fn failed(plan: RowPlan, binary: PathBuf, reason: String, wall_secs: f64) -> Self {
        let notes = plan.notes.clone();
        Self {
            plan,
            binary,
            started: false,
            status: reason,
            ok: false,
            accepted: 0,
            rejected: 0,
            errors: 0,
            latency_all: None,
            latency_accepted: None,
            client_requests_per_sec: None,
            server_jobs_per_sec: None,
            model_jobs_per_sec: None,
            model_formula: None,
            efficiency_percent: None,
            expected_accepted: None,
            lost: None,
            check_verdict: None,
            shutdown: None,
            final_summary: None,
            wall_secs,
            notes,
            run: None,
            check: None,
        }
    }

    fn from_reports(
        plan: RowPlan,
        binary: PathBuf,
        run: RunReport,
        check: CheckReport,
        shutdown: Shutdown,
        wall_secs: f64,
    ) -> Self {
        let accepted = run.tally.count(Outcome::Accepted);
        let rejected = run.tally.count(Outcome::Rejected);
        let errors = run.requests - accepted - rejected;
        let mut notes = plan.notes.clone();
        if let Some(reason) = &check.skipped_reason {
            notes.push(format!("server check skipped: {reason}"));
        }
        notes.extend(check.notes.iter().cloned());
        if let Some(sample) = run.outcomes.iter().find(|row| {
            row.count > 0 && !matches!(row.outcome, Outcome::Accepted | Outcome::Rejected)
        }) {
            notes.push(format!(
                "{} {}: {}",
                sample.count,
                sample.outcome.name(),
                sample.sample.as_deref().unwrap_or("no sample")
            ));
        }
        if let (Some(line), Some(after)) = (&shutdown.summary_line, &check.stats_after) {
            if check.drained {
                if let Some(processed) = parse_processed(line) {
                    if processed != after.processed {
                        notes.push(format!(
                            "the stage's final summary ({line}) disagrees with /stats after the drain (processed {})",
                            after.processed
                        ));
                    }
                }
            }
        }
        let check_failed = check.verdict == Verdict::Loss || check.verdict == Verdict::NotDrained;
        let ok = shutdown.clean && !check_failed;
        let status = if !shutdown.clean {
            shutdown.description.clone()
        } else if check_failed {
            check.verdict.name().to_string()
        } else {
            "ok".to_string()
        };
        let lost = match check.verdict {
            Verdict::Ok | Verdict::Loss => Some(check.lost),
            Verdict::NotDrained | Verdict::Skipped => None,
        };
        Self {
            binary,
            started: true,
            status,
            ok,
            accepted,
            rejected,
            errors,
            latency_all: row_latency(&run.latency.all),
            latency_accepted: row_latency(&run.latency.accepted),
            client_requests_per_sec: Some(run.requests_per_sec),
            server_jobs_per_sec: check.measured_jobs_per_sec,
            model_jobs_per_sec: check.model.as_ref().map(|m| m.jobs_per_sec),
            model_formula: check.model.as_ref().map(|m| m.formula.clone()),
            efficiency_percent: check.efficiency_percent,
            expected_accepted: check.expected_accepted,
            lost,
            check_verdict: Some(check.verdict.name().to_string()),
            shutdown: Some(shutdown.description),
            final_summary: shutdown.summary_line,
            wall_secs,
            notes,
            plan,
            run: Some(run),
            check: Some(check),
        }
    }
}

fn parse_processed(summary: &str) -> Option<u64> {
    summary
        .split_once("processed ")?
        .1
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn row_latency(summary: &crate::latency::LatencySummary) -> Option<RowLatency> {
    if summary.n == 0 {
        return None;
    }
    let at = |label: &str| summary.percentile(label).map_or(0, |p| p.micros);
    Some(RowLatency {
        n: summary.n,
        p50_us: at("p50"),
        p90_us: at("p90"),
        p99_us: at("p99"),
        max_us: summary.max_micros,
    })
}

/// Starts `binary`, replays the row's load, checks the server, stops it. Never panics on a
/// misbehaving stage and never waits without a bound: every failure becomes the row's status.
pub async fn run_row(
    plan: RowPlan,
    binary: &Path,
    users: NonZeroUsize,
    seed: u64,
    progress: bool,
) -> RowResult {
    let started_at = tokio::time::Instant::now();
    let process = match StageProcess::start(binary, &plan.args, plan.stop_method).await {
        Ok(process) => process,
        Err(reason) => {
            let wall = started_at.elapsed().as_secs_f64();
            return RowResult::failed(plan, binary.to_path_buf(), reason, wall);
        }
    };
    let load = Load::generate(&LoadSpec {
        requests: plan.requests.get(),
        users,
        seed,
    });
    let config = LoadConfig {
        concurrency: plan.concurrency,
        timeout: REQUEST_TIMEOUT,
        progress,
        ..LoadConfig::new(Target::from_addr(process.addr))
    };
    let overflows_before = platform::listen_overflows();
    let (run, check) = crate::run_and_check(&config, &load, None).await;
    let overflows = overflows_before
        .zip(platform::listen_overflows())
        .map(|(before, after)| after.saturating_sub(before))
        .filter(|count| *count > 0);
    let bound = exit_bound(&check);
    let shutdown = process.stop(bound).await;
    let wall = started_at.elapsed().as_secs_f64();
    let mut row = RowResult::from_reports(plan, binary.to_path_buf(), run, check, shutdown, wall);
    // Overflows are counted machine-wide, so they explain the row's tail only when the row
    // has one: answers that took about the 1 s retry or longer.
    let slowest = row.latency_all.map_or(0, |l| l.max_us);
    if let Some(count) = overflows.filter(|_| slowest >= 900_000) {
        row.notes.push(format!(
            "{count} connection attempts on this machine found a listen backlog full during this row (TcpExtListenOverflows); Linux retries such a connect after 1 s, which is where latencies of about 1 s come from"
        ));
    }
    row
}

/// A stage drains its queue before exiting, so the bound grows with what is still pending.
fn exit_bound(check: &CheckReport) -> Duration {
    let pending = check.pending as f64;
    let rate = check
        .model
        .as_ref()
        .map_or(1.0, |m| m.jobs_per_sec.max(0.1));
    EXIT_BOUND_BASE + Duration::from_secs_f64((pending / rate * 1.5).min(600.0))
}

/// The whole comparison: every planned row, one after the other (rows side by side would
/// share the two cores and measure each other).
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    pub quick: bool,
    pub users: NonZeroUsize,
    pub seed: u64,
    pub sweep: Option<Sweep>,
    pub bin_dir: PathBuf,
    pub machine: String,
    pub rows: Vec<RowResult>,
    /// The whole comparison, build included.
    pub wall_secs: f64,
    /// The `cargo build` part of it (0 with `--bin-dir`).
    pub build_secs: f64,
}

impl CompareReport {
    pub fn ok(&self) -> bool {
        self.rows.iter().all(|row| row.ok)
    }
}

/// One line about the machine, because every number here depends on it.
pub fn machine_description() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cores} cores, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Builds (unless `bin_dir` is given), then runs every row. `Err` only when there is nothing
/// to run with at all (cargo metadata failed); a stage that fails is a row, not an error.
pub async fn run_compare(options: &CompareOptions) -> Result<CompareReport, String> {
    let started = tokio::time::Instant::now();
    let plans = plan(options);
    if plans.is_empty() {
        return Err("nothing to compare: pass --stages, --variant or --sweep".into());
    }
    let mut packages: Vec<&str> = plans.iter().map(|p| p.package.as_str()).collect();
    packages.sort_unstable();
    packages.dedup();

    let build_started = tokio::time::Instant::now();
    let (bin_dir, build_errors) = match &options.bin_dir {
        Some(dir) => (dir.clone(), Vec::new()),
        None => {
            let dir = process::binary_dir(process::Profile::Release)?;
            if options.progress {
                eprintln!("building {} in release mode…", packages.join(", "));
            }
            let results = tokio::task::spawn_blocking({
                let packages: Vec<String> = packages.iter().map(|p| p.to_string()).collect();
                let show = options.progress;
                move || {
                    let names: Vec<&str> = packages.iter().map(String::as_str).collect();
                    process::build(&names, process::Profile::Release, show)
                }
            })
            .await
            .map_err(|e| format!("the build thread failed: {e}"))?;
            let errors = results
                .into_iter()
                .filter_map(|(package, error)| error.map(|e| (package, e)))
                .collect::<Vec<_>>();
            (dir, errors)
        }
    };

    let build_secs = build_started.elapsed().as_secs_f64();
    let total = plans.len();
    let mut rows = Vec::with_capacity(total);
    for (index, plan) in plans.into_iter().enumerate() {
        let binary = bin_dir.join(platform::binary_file_name(&plan.package, platform::OS));
        if let Some((_, error)) = build_errors.iter().find(|(p, _)| *p == plan.package) {
            rows.push(RowResult::failed(
                plan,
                binary,
                format!("build failed: {error}"),
                0.0,
            ));
            continue;
        }
        if options.progress {
            eprintln!(
                "[{}/{total}] {}: {} → {} requests, concurrency {}",
                index + 1,
                plan.label,
                plan.command_line(),
                plan.requests,
                plan.concurrency
            );
        }
        let row = run_row(plan, &binary, options.users, options.seed, options.progress).await;
        if options.progress {
            eprintln!(
                "      {} in {:.1} s: {} accepted, {} rejected, {} errors",
                row.status, row.wall_secs, row.accepted, row.rejected, row.errors
            );
        }
        rows.push(row);
    }
    Ok(CompareReport {
        quick: options.quick,
        users: options.users,
        seed: options.seed,
        sweep: options.sweep.clone(),
        bin_dir,
        machine: machine_description(),
        rows,
        wall_secs: started.elapsed().as_secs_f64(),
        build_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_parses() {
        assert_eq!(
            parse_processed("stopped: processed 117, users 20, balance_total -5"),
            Some(117)
        );
        assert_eq!(parse_processed("stopped"), None);
    }
}
