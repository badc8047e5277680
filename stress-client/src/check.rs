//! The server check: did the server lose anything the client saw accepted?
//!
//! Reads `/stats` before the run, waits (bounded) for the queue to drain after it, and compares
//! the deltas of `processed` and `balance_total` with what the client saw accepted. Requests
//! that got no answer but may have reached the server are ambiguous: they may legitimately
//! have been applied, so they widen the accepted range instead of counting as lost.

use crate::model::{self, ModelBound, QueueShape};
use crate::outcome::Outcome;
use crate::run::{Ledger, RunReport};
use crate::stats::{ServerStats, StatsClient};
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Longest wait for the queue to drain; `None` derives it from the model.
    pub drain_timeout: Option<Duration>,
    /// Distinct users in the load: with one, a stage's hot-key bound applies.
    pub distinct_users: usize,
    pub progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Everything the client saw accepted was applied.
    Ok,
    /// The server lost accepted events or its balance disagrees.
    Loss,
    /// The queue did not drain in time; no loss proven, none excluded.
    NotDrained,
    /// No `/stats`; nothing to compare.
    Skipped,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Loss => "LOSS",
            Verdict::NotDrained => "not drained",
            Verdict::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub verdict: Verdict,
    pub skipped_reason: Option<String>,
    pub stage: Option<u32>,
    pub stage_name: Option<String>,
    pub drained: bool,
    pub drain_wait_secs: f64,
    pub client_accepted: u64,
    pub client_amount_sum: i64,
    pub ambiguous: u64,
    pub server_accepted: u64,
    pub server_rejected: u64,
    pub server_invalid: u64,
    pub processed: u64,
    pub balance_delta: i64,
    /// Accepted by the client's count, not applied by the server's.
    pub lost: u64,
    /// Ambiguous requests the server evidently applied.
    pub ambiguous_applied: u64,
    /// Applied beyond anything this run sent: other clients were talking to the server.
    pub unexplained_extra: u64,
    /// Balance delta outside what the accepted and ambiguous amounts can explain.
    pub balance_mismatch: Option<i64>,
    /// Jobs still queued or running when the drain wait gave up.
    pub pending: u64,
    /// `None` when the stage serves no bound (or there was no check): then there is no
    /// efficiency either, rather than one against an invented number.
    pub model: Option<ModelBound>,
    /// "lock bound 100.0 jobs/s" or "no lock bound" on stages 7 and 8.
    pub lock_bound: Option<String>,
    pub expected_accepted: Option<f64>,
    pub expected_formula: Option<String>,
    pub measured_jobs_per_sec: Option<f64>,
    pub efficiency_percent: Option<f64>,
    pub notes: Vec<String>,
    pub stats_after: Option<ServerStats>,
}

impl CheckReport {
    pub fn skipped(reason: String, run: &RunReport) -> Self {
        Self {
            skipped_reason: Some(reason),
            ..Self::blank(&run.ledger)
        }
    }

    /// The client's side filled in from the ledger, the server's side still empty.
    fn blank(ledger: &Ledger) -> Self {
        Self {
            verdict: Verdict::Skipped,
            skipped_reason: None,
            stage: None,
            stage_name: None,
            drained: false,
            drain_wait_secs: 0.0,
            client_accepted: ledger.accepted,
            client_amount_sum: ledger.accepted_amount_sum,
            ambiguous: ledger.ambiguous,
            server_accepted: 0,
            server_rejected: 0,
            server_invalid: 0,
            processed: 0,
            balance_delta: 0,
            lost: 0,
            ambiguous_applied: 0,
            unexplained_extra: 0,
            balance_mismatch: None,
            pending: 0,
            model: None,
            lock_bound: None,
            expected_accepted: None,
            expected_formula: None,
            measured_jobs_per_sec: None,
            efficiency_percent: None,
            notes: Vec::new(),
            stats_after: None,
        }
    }

    pub fn failed(&self) -> bool {
        self.verdict == Verdict::Loss
    }
}

const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// With an empty queue and idle workers, `processed` that has not moved for this long is final.
const SETTLE: Duration = Duration::from_millis(500);
/// The longest drain waited for without `--drain-timeout`: enough for stage 5 at its
/// defaults (100 jobs at 2/s).
const MAX_AUTO_DRAIN: Duration = Duration::from_secs(120);
/// When the model says the drain takes longer than that (stage 4 after a big burst: every
/// timed-out request is still waiting for the lock), watch this long to measure jobs/s, then
/// report "not drained" with the estimate instead of keeping the user waiting for minutes.
const HOPELESS_DRAIN_PEEK: Duration = Duration::from_secs(3);

/// What the drain wait saw: the last `/stats` read and the timing the model check needs.
struct Drain {
    after: ServerStats,
    drained: bool,
    waited: Duration,
    /// The bound for this load, read from the first `/stats` after the run.
    bound: Option<ModelBound>,
    /// Why the wait was cut short of what the model needs, when it was.
    note: Option<String>,
    /// Estimated time of the last increase of `processed`; `None` when it never moved.
    last_change: Option<Instant>,
    /// When the first `/stats` read after the run came back.
    first_poll_done: Instant,
}

/// Compares the server's counters after the run with `before` and the run's ledger.
pub async fn check_server(
    stats: &StatsClient,
    before: &Result<ServerStats, String>,
    run: &RunReport,
    options: &CheckOptions,
) -> CheckReport {
    let before = match before {
        Ok(before) => before,
        Err(reason) => return CheckReport::skipped(reason.clone(), run),
    };
    let drain = match wait_for_drain(stats, before, run.ledger.accepted, options).await {
        Ok(drain) => drain,
        Err(reason) => return CheckReport::skipped(reason, run),
    };
    let mut report = CheckReport::blank(&run.ledger);
    report.stage = Some(drain.after.stage);
    report.stage_name = Some(drain.after.name.clone());
    report.drained = drain.drained;
    report.drain_wait_secs = drain.waited.as_secs_f64();
    let after = &drain.after;
    if after.uptime_secs < before.uptime_secs || after.processed < before.processed {
        report.verdict = Verdict::Skipped;
        report.skipped_reason =
            Some("the server restarted during the run (counters went back)".into());
        return report;
    }
    take_deltas(&mut report, before, after);
    report.notes.extend(drain.note.clone());
    judge(&mut report, &run.ledger.ambiguous_amounts);
    if let Some(bound) = &drain.bound {
        compare_with_model(&mut report, run, &drain, bound);
    }
    report.model = drain.bound;
    report.lock_bound = model::lock_bound(after).map(model::LockBound::describe);
    report.stats_after = Some(drain.after);
    report
}

/// Polls `/stats` until the server is idle and has processed what the client saw accepted
/// (or `processed` has settled), or until a wait derived from the model runs out. `Err` is
/// the reason the check is skipped: `/stats` stopped answering.
async fn wait_for_drain(
    stats: &StatsClient,
    before: &ServerStats,
    client_accepted: u64,
    options: &CheckOptions,
) -> Result<Drain, String> {
    let wait_start = Instant::now();
    let mut after = stats
        .fetch()
        .await
        .map_err(|reason| format!("after the run, {reason}"))?;
    let first_poll_done = Instant::now();
    let bound = model::bound(&after, options.distinct_users);
    let (auto_wait, too_long) = drain_plan(&after, before, client_accepted, bound.as_ref());
    let (wait_limit, note) = match options.drain_timeout {
        Some(chosen) => (chosen, None),
        None => (auto_wait, too_long),
    };
    let deadline = wait_start + wait_limit;
    if options.progress {
        announce_drain(&after, wait_limit, bound.as_ref());
    }
    let progress = crate::progress::spinner(options.progress, "waiting for the server to drain");

    // Time of the last observed increase of `processed`: the midpoint between the poll that
    // saw it and the one before, so the 20 ms poll interval costs at most 10 ms of precision.
    let mut last_change: Option<Instant> = None;
    let mut last_poll = wait_start;
    let mut stable_since = Instant::now();
    let drained = loop {
        let processed = after.processed.saturating_sub(before.processed);
        let idle = after.queue_depth == 0 && after.busy_workers == 0;
        if idle && (processed >= client_accepted || stable_since.elapsed() >= SETTLE) {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        progress.set_message(format!(
            "waiting for the server to drain: queue {}, busy {}, processed {processed}/{client_accepted}",
            after.queue_depth, after.busy_workers
        ));
        tokio::time::sleep(POLL_INTERVAL).await;
        let polled_at = Instant::now();
        let next = stats.fetch().await.map_err(|reason| {
            progress.finish_and_clear();
            format!("during the drain, {reason}")
        })?;
        if next.processed != after.processed {
            last_change = Some(last_poll + (polled_at - last_poll) / 2);
            stable_since = Instant::now();
        }
        after = next;
        last_poll = polled_at;
    };
    progress.finish_and_clear();
    Ok(Drain {
        after,
        drained,
        waited: wait_start.elapsed(),
        bound,
        note,
        last_change,
        first_poll_done,
    })
}

/// Stage 5 at its defaults needs about 50 s to drain: say why the client is quiet.
fn announce_drain(after: &ServerStats, wait_limit: Duration, bound: Option<&ModelBound>) {
    let outstanding = after.queue_depth + after.busy_workers;
    if outstanding == 0 {
        return;
    }
    eprintln!(
        "waiting up to {:.0} s for the server to drain {outstanding} queued or running jobs{}",
        wait_limit.as_secs_f64(),
        bound
            .map(|b| format!(" at {:.1} jobs/s", b.jobs_per_sec))
            .unwrap_or_default()
    );
}

/// The server's counters over the run: `after` minus `before`.
fn take_deltas(report: &mut CheckReport, before: &ServerStats, after: &ServerStats) {
    report.server_accepted = after.accepted - before.accepted.min(after.accepted);
    report.server_rejected = after.rejected.saturating_sub(before.rejected);
    report.server_invalid = after.invalid.saturating_sub(before.invalid);
    report.processed = after.processed - before.processed;
    report.balance_delta = after.balance_total.wrapping_sub(before.balance_total);
    report.pending = if report.drained {
        0
    } else {
        after.queue_depth + after.busy_workers
    };
}

/// The model's side of the report: accepted against the burst estimate, measured jobs/s
/// against the bound.
fn compare_with_model(
    report: &mut CheckReport,
    run: &RunReport,
    drain: &Drain,
    bound: &ModelBound,
) {
    let after = &drain.after;
    let sent = run.requests + run.warmup as u64;
    let (expected, formula) = match QueueShape::from_stats(after) {
        Some(queue) => (
            queue.expected_accepted(bound.jobs_per_sec, run.send_duration_secs, sent),
            model::BURST_FORMULA,
        ),
        None => (
            model::expected_accepted_without_queue(
                bound.jobs_per_sec,
                run.timeout_secs,
                run.concurrency,
                sent,
            ),
            model::NO_QUEUE_FORMULA,
        ),
    };
    report.expected_accepted = Some(expected);
    report.expected_formula = Some(formula.to_string());
    // No change seen while polling: every job was done by the first poll. Without a queue
    // (stage 4) a job is applied before its answer, so the last answer ends the window.
    // With one, the last job may finish after the last answer: ending there would
    // overstate jobs/s, ending at the first poll can only understate it, so that is the
    // bound reported, and said so.
    let processing_end = match drain.last_change {
        Some(change) => Some(change),
        None if report.processed > 0 && after.capacity.is_some() => {
            report.notes.push(
                "every job was done before the first /stats poll after the run: server jobs/s is a lower bound"
                    .into(),
            );
            Some(drain.first_poll_done)
        }
        None => run.finished,
    };
    if let (Some(start), Some(end)) = (run.started, processing_end) {
        let window = end.saturating_duration_since(start).as_secs_f64();
        if window > 0.0 && report.processed > 0 {
            let measured = report.processed as f64 / window;
            report.measured_jobs_per_sec = Some(measured);
            report.efficiency_percent =
                Some(model::efficiency_percent(measured, bound.jobs_per_sec));
        }
    }
    if run.tally.count(Outcome::Rejected) == 0 && after.capacity.is_some() {
        report.notes.push(
            "no rejections: the server was not saturated, so jobs/s measures the offered load, not the bound"
                .into(),
        );
    }
}

/// Explains the deltas: lost, ambiguous-but-applied, foreign traffic, balance mismatch.
fn judge(report: &mut CheckReport, ambiguous_amounts: &[i64]) {
    let accepted = report.client_accepted;
    let processed = report.processed;
    // Jobs still pending may yet cover a shortfall; only what they cannot cover is lost.
    let shortfall = accepted.saturating_sub(processed);
    report.lost = shortfall.saturating_sub(report.pending);
    let extra = processed.saturating_sub(accepted);
    report.ambiguous_applied = extra.min(report.ambiguous);
    report.unexplained_extra = extra - report.ambiguous_applied;

    if report.server_accepted < accepted {
        report.notes.push(format!(
            "the server's accepted counter rose by {} but the client saw {accepted} accepted answers",
            report.server_accepted
        ));
    }
    if report.unexplained_extra > 0 {
        report.notes.push(format!(
            "{} more jobs were applied than this run can explain: another client was using the server, so the balance cannot be checked",
            report.unexplained_extra
        ));
    } else if report.drained {
        let (low, high) = subset_sum_range(ambiguous_amounts, report.ambiguous_applied as usize);
        let low = report.client_amount_sum + low;
        let high = report.client_amount_sum + high;
        let delta = report.balance_delta;
        if delta < low {
            report.balance_mismatch = Some(delta - low);
        } else if delta > high {
            report.balance_mismatch = Some(delta - high);
        }
    }
    report.verdict = if report.lost > 0 || report.balance_mismatch.is_some() {
        Verdict::Loss
    } else if !report.drained {
        Verdict::NotDrained
    } else {
        Verdict::Ok
    };
}

/// The smallest and largest sum of any `count` of `amounts`: the balance change that
/// `count` applied ambiguous requests can explain.
fn subset_sum_range(amounts: &[i64], count: usize) -> (i64, i64) {
    let mut sorted = amounts.to_vec();
    sorted.sort_unstable();
    let count = count.min(sorted.len());
    let low = sorted[..count].iter().sum();
    let high = sorted[sorted.len() - count..].iter().sum();
    (low, high)
}

/// How long to wait for the drain: long enough for the model to drain what is outstanding,
/// with slack for a slow machine; or a short peek plus an explanation when that is too long.
fn drain_plan(
    after: &ServerStats,
    before: &ServerStats,
    client_accepted: u64,
    bound: Option<&ModelBound>,
) -> (Duration, Option<String>) {
    let outstanding = (after.queue_depth + after.busy_workers)
        .max(client_accepted.saturating_sub(after.processed.saturating_sub(before.processed)));
    let jobs_per_sec = bound.map_or(1.0, |b| b.jobs_per_sec.max(0.1));
    let model_secs = outstanding as f64 / jobs_per_sec;
    let wait = Duration::from_secs_f64(model_secs * 1.5) + Duration::from_secs(5);
    if wait <= MAX_AUTO_DRAIN {
        return (wait, None);
    }
    let note = format!(
        "the model needs about {model_secs:.0} s to drain {outstanding} outstanding jobs; pass --drain-timeout {}s to wait for them",
        wait.as_secs()
    );
    (HOPELESS_DRAIN_PEEK, Some(note))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(
        accepted: u64,
        sum: i64,
        ambiguous: u64,
        processed: u64,
        balance: i64,
    ) -> CheckReport {
        let ledger = Ledger {
            sent: 0,
            accepted,
            accepted_amount_sum: sum,
            ambiguous,
            ambiguous_amounts: Vec::new(),
        };
        CheckReport {
            drained: true,
            server_accepted: accepted,
            processed,
            balance_delta: balance,
            ..CheckReport::blank(&ledger)
        }
    }

    #[test]
    fn exact_match_is_ok() {
        let mut r = report(100, 250, 0, 100, 250);
        judge(&mut r, &[]);
        assert_eq!((r.verdict, r.lost), (Verdict::Ok, 0));
    }

    #[test]
    fn missing_jobs_are_lost() {
        let mut r = report(100, 250, 0, 97, 240);
        judge(&mut r, &[]);
        assert_eq!((r.verdict, r.lost), (Verdict::Loss, 3));
    }

    #[test]
    fn right_count_wrong_balance_is_a_loss() {
        // A lost update: every job "processed" but one overwrote another's balance.
        let mut r = report(100, 250, 0, 100, 249);
        judge(&mut r, &[]);
        assert_eq!(r.verdict, Verdict::Loss);
        assert_eq!(r.balance_mismatch, Some(-1));
    }

    #[test]
    fn ambiguous_requests_may_be_applied() {
        let amounts = [5, -7, 30];
        let mut r = report(10, 100, 3, 12, 100 + 5 + 30);
        judge(&mut r, &amounts);
        assert_eq!(r.verdict, Verdict::Ok);
        assert_eq!(r.ambiguous_applied, 2);
        let mut impossible = report(10, 100, 3, 12, 100 + 80);
        judge(&mut impossible, &amounts);
        assert_eq!(impossible.verdict, Verdict::Loss);
    }

    #[test]
    fn pending_jobs_are_not_lost_but_not_drained() {
        let mut r = report(100, 250, 0, 90, 200);
        r.drained = false;
        r.pending = 10;
        judge(&mut r, &[]);
        assert_eq!((r.verdict, r.lost), (Verdict::NotDrained, 0));
        r.pending = 4;
        judge(&mut r, &[]);
        assert_eq!((r.verdict, r.lost), (Verdict::Loss, 6));
    }

    #[test]
    fn foreign_traffic_is_noted_not_failed() {
        let mut r = report(10, 100, 0, 15, 999);
        judge(&mut r, &[]);
        assert_eq!(r.verdict, Verdict::Ok);
        assert_eq!(r.unexplained_extra, 5);
        assert!(!r.notes.is_empty());
    }

    #[test]
    fn drain_wait_follows_the_model_or_gives_up_early() {
        let mut before = ServerStats::empty_for_tests();
        before.processed = 10;
        let mut after = before.clone();
        after.queue_depth = 100;
        let stage5 = ModelBound {
            jobs_per_sec: 2.0,
            formula: String::new(),
        };
        // 100 jobs at 2/s: 50 s, waited with 50% slack plus 5 s.
        assert_eq!(
            drain_plan(&after, &before, 0, Some(&stage5)),
            (Duration::from_secs(80), None)
        );
        after.queue_depth = 4800;
        let (wait, note) = drain_plan(&after, &before, 0, Some(&stage5));
        assert_eq!(wait, HOPELESS_DRAIN_PEEK);
        assert!(note.is_some_and(|n| n.contains("--drain-timeout")));
    }

    #[test]
    fn subset_sums_bound_the_balance() {
        assert_eq!(subset_sum_range(&[3, -1, 10, 4], 2), (2, 14));
        assert_eq!(subset_sum_range(&[3], 5), (3, 3));
        assert_eq!(subset_sum_range(&[], 0), (0, 0));
    }
}
