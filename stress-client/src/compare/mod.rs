//! `stress-client compare`: every stage side by side under the same load.
//!
//! For each row (a stage, a `--variant`, or one value of a `--sweep`) it starts the stage's
//! release binary on `127.0.0.1:0`, replays the same deterministic load with
//! [`crate::run_and_check`], stops the stage with SIGINT and checks it exits 0, then puts the
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
pub mod process;
pub mod render;
pub mod spec;

use crate::check::{CheckReport, Verdict};
use crate::load::{Load, LoadSpec};
use crate::outcome::Outcome;
use crate::run::{LoadConfig, RunReport};
use crate::target::Target;
use process::{Shutdown, StageProcess};
use serde::Serialize;
use spec::{Sweep, Variant};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The outline's burst (spec section 7).
pub const DEFAULT_REQUESTS: usize = 5000;
pub const DEFAULT_CONCURRENCY: usize = 200;
pub const QUICK_REQUESTS: usize = 2000;
pub const QUICK_CONCURRENCY: usize = 100;
/// Stage 4 answers 2 requests/s at its defaults, each after waiting for every earlier one:
/// 20 requests over 4 connections take 10 s and none waits longer than 2 s, well inside the
/// 5 s request timeout. The default burst would need 42 minutes.
pub const STAGE4_REQUESTS: usize = 20;
pub const STAGE4_CONCURRENCY: usize = 4;
/// `run`'s default per-request limit, so a row means what `stress-client run` would show.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The least time a stage gets to exit after SIGINT; the rest of the bound comes from the
/// jobs it still has to drain.
const EXIT_BOUND_BASE: Duration = Duration::from_secs(5);

/// Stage flags `--quick` adds so a slow stage's queue drains in seconds. Each row shows them
/// in its label and command; the model bound in the row follows the changed knobs.
pub fn quick_args(stage: u8) -> &'static [&'static str] {
    match stage {
        // 10 events/s instead of 2: the 20-request row takes 2 s instead of 10.
        4 => &["--work-ms", "100"],
        // A 20-event queue at 10/s drains in 2 s instead of 100 at 2/s in 50 s.
        5 => &["--capacity", "20", "--work-ms", "100"],
        // 20 queued at 8/s: 2.5 s instead of 12.5 s.
        6 => &["--capacity", "20"],
        // Keeps a 1-worker sweep point at 9 events/s to about 2 s.
        7 => &["--capacity", "20"],
        // Keeps a 1-worker sweep point at 91 events/s to about 1 s; still saturated by 2000.
        8 => &["--capacity", "100"],
        _ => &[],
    }
}

/// Everything `compare` is asked to do, already parsed.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// `None`: all eight, or stages 7 and 8 for a sweep, or none when variants are given.
    pub stages: Option<Vec<u8>>,
    pub variants: Vec<Variant>,
    pub sweep: Option<Sweep>,
    pub quick: bool,
    /// `None`: 5000 (2000 with `--quick`); stage 4's row never sends more than 20.
    pub requests: Option<usize>,
    /// `None`: 200 (100 with `--quick`); stage 4's row never uses more than 4.
    pub concurrency: Option<usize>,
    pub users: usize,
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
            users: 100,
            seed: 42,
            bin_dir: None,
            progress: false,
        }
    }
}

/// One row to run: which binary, with which arguments, under which load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowPlan {
    pub label: String,
    pub stage: u8,
    /// Package and binary name, e.g. `stage7`.
    pub package: String,
    /// Arguments after `--addr 127.0.0.1:0`.
    pub args: Vec<String>,
    pub requests: usize,
    pub concurrency: usize,
    /// The swept knob and this row's value.
    pub sweep: Option<SweepPoint>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    pub knob: String,
    pub value: String,
}

impl RowPlan {
    /// The exact command line, binary named by its package (the directory is printed once).
    pub fn command_line(&self) -> String {
        let mut words = vec![
            self.package.clone(),
            "--addr".to_string(),
            "127.0.0.1:0".to_string(),
        ];
        words.extend(self.args.iter().cloned());
        words.join(" ")
    }
}

/// The rows `options` asks for, in order: stages first, then variants, each expanded over
/// the sweep's values.
pub fn plan(options: &CompareOptions) -> Vec<RowPlan> {
    let stages = match (&options.stages, &options.sweep) {
        (Some(stages), _) => stages.clone(),
        (None, Some(_)) => vec![7, 8],
        (None, None) if !options.variants.is_empty() => Vec::new(),
        (None, None) => spec::STAGES.iter().map(|(n, _, _)| *n).collect(),
    };
    let mut bases: Vec<(u8, String, Vec<String>)> = stages
        .iter()
        .map(|&stage| {
            (
                stage,
                format!("{stage} {}", spec::short_name_of(stage)),
                Vec::new(),
            )
        })
        .collect();
    bases.extend(
        options
            .variants
            .iter()
            .map(|v| (v.stage, v.label.clone(), v.args.clone())),
    );

    let default_requests = if options.quick {
        QUICK_REQUESTS
    } else {
        DEFAULT_REQUESTS
    };
    let default_concurrency = if options.quick {
        QUICK_CONCURRENCY
    } else {
        DEFAULT_CONCURRENCY
    };
    let requests = options.requests.unwrap_or(default_requests).max(1);
    let concurrency = options.concurrency.unwrap_or(default_concurrency).max(1);

    let mut rows = Vec::new();
    for (stage, base_label, base_args) in bases {
        let quick: Vec<String> = if options.quick {
            quick_args(stage).iter().map(|s| s.to_string()).collect()
        } else {
            Vec::new()
        };
        let points: Vec<Option<SweepPoint>> = match &options.sweep {
            Some(sweep) => sweep
                .values
                .iter()
                .map(|value| {
                    Some(SweepPoint {
                        knob: sweep.knob.clone(),
                        value: value.clone(),
                    })
                })
                .collect(),
            None => vec![None],
        };
        for point in points {
            let swept: Vec<String> = match (&point, &options.sweep) {
                (Some(point), Some(sweep)) => vec![sweep.flag(), point.value.clone()],
                _ => Vec::new(),
            };
            let args = spec::merge_args(&[&quick, &base_args, &swept]);
            let mut label = base_label.clone();
            if let Some(point) = &point {
                label.push_str(&format!(", {}={}", point.knob, point.value));
            }
            // Only the quick flags that survived the merge are worth naming in the label.
            let quick_kept: Vec<&String> = quick
                .iter()
                .filter(|word| word.starts_with("--"))
                .filter(|flag| {
                    !base_args.contains(flag) && swept.first().is_none_or(|s| s != *flag)
                })
                .collect();
            if !quick_kept.is_empty() {
                let shown: Vec<String> = quick_kept
                    .iter()
                    .map(|flag| {
                        let value = quick
                            .iter()
                            .position(|w| w == *flag)
                            .and_then(|i| quick.get(i + 1))
                            .cloned()
                            .unwrap_or_default();
                        format!("{flag} {value}")
                    })
                    .collect();
                label.push_str(&format!(" (quick: {})", shown.join(" ")));
            }
            let mut notes = Vec::new();
            let (row_requests, row_concurrency) = if stage == 4 {
                let small = (
                    requests.min(STAGE4_REQUESTS),
                    concurrency.min(STAGE4_CONCURRENCY),
                );
                notes.push(format!(
                    "stage 4 gets {} requests at concurrency {}: it applies one event at a time under its lock (2/s at --work-ms 500), so the {requests}-request burst would need minutes and mostly time out",
                    small.0, small.1
                ));
                small
            } else {
                (requests, concurrency)
            };
            rows.push(RowPlan {
                label,
                stage,
                package: spec::package_of(stage).unwrap_or("?").to_string(),
                args,
                requests: row_requests,
                concurrency: row_concurrency,
                sweep: point,
                notes,
            });
        }
    }
    rows
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
    users: usize,
    seed: u64,
    progress: bool,
) -> RowResult {
    let started_at = tokio::time::Instant::now();
    let process = match StageProcess::start(binary, &plan.args).await {
        Ok(process) => process,
        Err(reason) => {
            let wall = started_at.elapsed().as_secs_f64();
            return RowResult::failed(plan, binary.to_path_buf(), reason, wall);
        }
    };
    let load = Load::generate(&LoadSpec {
        requests: plan.requests,
        users,
        seed,
    });
    let config = LoadConfig {
        concurrency: plan.concurrency,
        timeout: REQUEST_TIMEOUT,
        progress,
        ..LoadConfig::new(Target::from_addr(process.addr))
    };
    let overflows_before = listen_overflows();
    let (run, check) = crate::run_and_check(&config, &load, None).await;
    let overflows = overflows_before
        .zip(listen_overflows())
        .map(|(before, after)| after.saturating_sub(before))
        .filter(|count| *count > 0);
    let bound = exit_bound(&check);
    let shutdown = process.stop(bound, plan.stage == 1).await;
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

/// Linux's count of connection attempts dropped because a listen backlog was full, from
/// /proc/net/netstat. Stages 1 and 2 close every connection, so 200 clients reconnecting
/// at once overflow the backlog and the tail latency is the kernel's 1 s SYN retry, not
/// the server's work: the row says so instead of leaving the reader to guess.
fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|line| line.starts_with("TcpExt:"));
    let names = lines.next()?;
    let values = lines.next()?;
    let index = names
        .split_whitespace()
        .position(|name| name == "ListenOverflows")?;
    values.split_whitespace().nth(index)?.parse().ok()
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
    pub users: usize,
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
        let binary = bin_dir.join(&plan.package);
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

    fn labels(rows: &[RowPlan]) -> Vec<&str> {
        rows.iter().map(|r| r.label.as_str()).collect()
    }

    #[test]
    fn default_plan_is_eight_stages_with_a_small_stage_4() {
        let rows = plan(&CompareOptions::default());
        assert_eq!(rows.len(), 8);
        assert_eq!(rows[0].label, "1 blocking");
        let stage4 = &rows[3];
        assert_eq!((stage4.requests, stage4.concurrency), (20, 4));
        assert!(!stage4.notes.is_empty());
        assert_eq!((rows[6].requests, rows[6].concurrency), (5000, 200));
        assert_eq!(rows[6].command_line(), "stage7 --addr 127.0.0.1:0");
    }

    #[test]
    fn quick_plan_shrinks_load_and_slow_queues_in_plain_sight() {
        let rows = plan(&CompareOptions {
            quick: true,
            ..CompareOptions::default()
        });
        assert_eq!(rows[0].requests, QUICK_REQUESTS);
        let stage5 = &rows[4];
        assert_eq!(
            stage5.args,
            ["--capacity", "20", "--work-ms", "100"].map(String::from)
        );
        assert!(stage5.label.contains("quick: --capacity 20 --work-ms 100"));
        assert!(stage5
            .command_line()
            .ends_with("--capacity 20 --work-ms 100"));
    }

    #[test]
    fn sweep_defaults_to_stages_7_and_8_and_overrides_quick_flags() {
        let rows = plan(&CompareOptions {
            quick: true,
            sweep: Some(spec::parse_sweep("capacity=5,10").expect("valid sweep")),
            ..CompareOptions::default()
        });
        assert_eq!(
            labels(&rows),
            [
                "7 contention, capacity=5",
                "7 contention, capacity=10",
                "8 sharding, capacity=5",
                "8 sharding, capacity=10"
            ]
        );
        assert_eq!(rows[1].args, ["--capacity", "10"].map(String::from));
    }

    #[test]
    fn variants_alone_replace_the_default_stages() {
        let variant = spec::parse_variant("8 lock only: --capacity 100 --work-ms 100 --hold-ms 10")
            .expect("valid variant");
        let rows = plan(&CompareOptions {
            variants: vec![variant.clone()],
            ..CompareOptions::default()
        });
        assert_eq!(labels(&rows), ["8 lock only"]);
        let rows = plan(&CompareOptions {
            stages: Some(vec![7]),
            variants: vec![variant],
            requests: Some(300),
            ..CompareOptions::default()
        });
        assert_eq!(labels(&rows), ["7 contention", "8 lock only"]);
        assert!(rows.iter().all(|r| r.requests == 300));
    }

    #[test]
    fn summary_line_parses() {
        assert_eq!(
            parse_processed("stopped: processed 117, users 20, balance_total -5"),
            Some(117)
        );
        assert_eq!(parse_processed("stopped"), None);
    }
}
