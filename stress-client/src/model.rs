//! The throughput model (the book's "The model against the numbers"), as the client applies it: the server's own bound
//! from `/stats` (its hot-key bound when the load has a single user), and the burst estimate
//! `accepted ≈ capacity + workers + bound × max(0, send_duration − (work_ms + hold_ms))`.
//! Pure arithmetic over a `/stats` snapshot: `cargo test -p stress-client model`.

use crate::stats::ServerStats;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelBound {
    pub jobs_per_sec: f64,
    pub formula: String,
}

/// The stage's bound for this load. With one distinct user every job touches the same key,
/// so a stage that publishes a hot-key bound (stage 8: that key's shard lock) is held to it;
/// every other load, and every stage without one, gets `model_jobs_per_sec`.
pub fn bound(stats: &ServerStats, distinct_users: usize) -> Option<ModelBound> {
    let usable = |jobs: &f64| jobs.is_finite() && *jobs > 0.0;
    if distinct_users == 1 {
        if let Some(jobs_per_sec) = stats.model_hot_key_jobs_per_sec.filter(usable) {
            return Some(ModelBound {
                jobs_per_sec,
                formula: stats.model_hot_key_formula.clone().unwrap_or_default(),
            });
        }
    }
    let jobs_per_sec = stats.model_jobs_per_sec.filter(usable)?;
    Some(ModelBound {
        jobs_per_sec,
        formula: stats.model_formula.clone().unwrap_or_default(),
    })
}

/// What a table cell or a line says where there is no bound, instead of inventing a number.
pub const NO_BOUND: &str = "no bound";

/// The lock's own bound (stages 7 and 8), for the line beside the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LockBound {
    /// `1000 / hold_ms` jobs/s: one holder at a time, each for `hold_ms`.
    JobsPerSec(f64),
    /// `--hold-ms 0`: the lock is taken but bounds nothing.
    None,
}

impl LockBound {
    /// "lock bound 100.0 jobs/s" or "no lock bound".
    pub fn describe(self) -> String {
        match self {
            LockBound::JobsPerSec(jobs) => format!("lock bound {jobs:.1} jobs/s"),
            LockBound::None => "no lock bound".to_string(),
        }
    }
}

/// The lock's bound on stages with a simulated lock hold (a `hold_ms` knob); `None`
/// elsewhere, where the question does not arise. `--hold-ms 0` has no lock bound, whatever
/// the stage serves; with a hold, the bound is `model_lock_jobs_per_sec`, and a stage too
/// old to serve it gets no line rather than a guess.
pub fn lock_bound(stats: &ServerStats) -> Option<LockBound> {
    let hold_ms = stats.knobs.get("hold_ms")?.as_f64()?;
    if hold_ms <= 0.0 {
        return Some(LockBound::None);
    }
    stats
        .model_lock_jobs_per_sec
        .filter(|jobs| jobs.is_finite() && *jobs > 0.0)
        .map(LockBound::JobsPerSec)
}

/// What a burst against a bounded queue is made of, read from `/stats`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueShape {
    /// Slots in the queue: all of them fill at once in a burst.
    pub capacity: u64,
    /// Each worker holds one job beside the queue, so it frees one more slot at the start.
    pub workers: u64,
    /// `(work_ms + hold_ms) / 1000`: no job finishes, and so no slot frees up again,
    /// before this much of the burst has passed.
    pub first_job_secs: f64,
}

impl QueueShape {
    /// `None` without a queue (stage 4). An absent `workers` means the single worker of
    /// stage 5; absent `work_ms` or `hold_ms` knobs count as 0.
    pub fn from_stats(stats: &ServerStats) -> Option<Self> {
        let capacity = stats.capacity?;
        let knob_ms = |name: &str| {
            stats
                .knobs
                .get(name)
                .and_then(serde_json::Value::as_f64)
                .filter(|ms| ms.is_finite() && *ms > 0.0)
                .unwrap_or(0.0)
        };
        Some(Self {
            capacity,
            workers: stats.workers.unwrap_or(1),
            first_job_secs: (knob_ms("work_ms") + knob_ms("hold_ms")) / 1000.0,
        })
    }

    /// Accepted in a burst sent in `send_secs`: the queue and the workers' hands fill at
    /// once, then the bound frees slots, but only from the end of the first job on. Never
    /// more than was sent.
    pub fn expected_accepted(&self, jobs_per_sec: f64, send_secs: f64, sent: u64) -> f64 {
        let freed = jobs_per_sec * (send_secs - self.first_job_secs).max(0.0);
        let estimate = self.capacity as f64 + self.workers as f64 + freed;
        estimate.min(sent as f64)
    }
}

/// How `expected accepted` was computed, for the check table and the JSON report.
pub const BURST_FORMULA: &str =
    "capacity + workers + bound × max(0, send duration − (work_ms + hold_ms))";
/// The same for stage 4, which has no queue.
pub const NO_QUEUE_FORMULA: &str =
    "no queue: bound × timeout when the waiters outlast the timeout, else all";

/// The largest `--concurrency` whose last waiter is still answered well inside `timeout`
/// when there is no queue: `concurrency` waiters take `concurrency / bound` seconds, and a
/// fifth of the timeout stays as margin for a slow machine (at 2 jobs/s and 5 s: 8, where
/// 10 sits exactly on the boundary and about half of them time out). At least 1.
pub fn concurrency_within_timeout(jobs_per_sec: f64, timeout_secs: f64) -> usize {
    (jobs_per_sec * timeout_secs * TIMEOUT_MARGIN)
        .floor()
        .max(1.0) as usize
}

/// The share of the timeout a suggested load may use; the rest is margin.
const TIMEOUT_MARGIN: f64 = 0.8;

/// Without a queue (stage 4) every request waits for the lock. If `concurrency` waiters need
/// longer than the timeout to get through, only about `bound × timeout` are answered in time
/// (later ones queue behind requests the client already gave up on); otherwise all are.
pub fn expected_accepted_without_queue(
    jobs_per_sec: f64,
    timeout_secs: f64,
    concurrency: usize,
    sent: u64,
) -> f64 {
    if concurrency as f64 / jobs_per_sec <= timeout_secs {
        sent as f64
    } else {
        (jobs_per_sec * timeout_secs).min(sent as f64)
    }
}

/// Measured jobs/s as a share of the bound, in percent.
pub fn efficiency_percent(measured_jobs_per_sec: f64, bound_jobs_per_sec: f64) -> f64 {
    if bound_jobs_per_sec > 0.0 {
        100.0 * measured_jobs_per_sec / bound_jobs_per_sec
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(json: &str) -> ServerStats {
        serde_json::from_str(json).expect("recorded /stats snapshot parses")
    }

    /// Stage 8's `/stats` at its defaults, recorded from `cargo run -p stage8`, with the two
    /// hot-key fields its `/stats` is gaining (the formula text is illustrative).
    const STAGE8_DEFAULTS: &str = r#"{"stage":8,"name":"sharding","knobs":{"work_ms":10,
        "capacity":1000,"workers":16,"hold_ms":1,"map":"dashmap","shards":8,"max_body":65536,
        "read_timeout_ms":10000},"model_jobs_per_sec":1454.5454545454545,
        "model_formula":"workers × 1000 / (work_ms + hold_ms) with keys spread over shards; 1000 / hold_ms for one hot key",
        "model_hot_key_jobs_per_sec":1000.0,"model_hot_key_formula":"1000 / hold_ms",
        "accepted":0,"rejected":0,"invalid":0,"processed":0,"queue_depth":0,"capacity":1000,
        "workers":16,"busy_workers":0,"peak_busy_workers":0,"users":0,"balance_total":0,
        "lock_wait_us":{"count":0,"mean":0.0,"p50":0,"p90":0,"p99":0,"max":0},
        "lock_hold_us":{"count":0,"mean":0.0,"p50":0,"p90":0,"p99":0,"max":0},
        "lock_holders":0,"peak_lock_holders":0,"rss_bytes":6680576,"uptime_secs":1.012584481}"#;

    fn shape(capacity: u64, workers: Option<u64>, knobs: serde_json::Value) -> QueueShape {
        let mut stats = ServerStats::empty_for_tests();
        stats.capacity = Some(capacity);
        stats.workers = workers;
        if let serde_json::Value::Object(map) = knobs {
            stats.knobs = map;
        }
        QueueShape::from_stats(&stats).expect("a queue")
    }

    #[test]
    fn stage_5_burst_is_the_queue_plus_the_job_in_hand() {
        // capacity 100, one worker, 2 jobs/s, 500 ms a job: nothing frees up in a short burst.
        let stage5 = shape(
            100,
            Some(1),
            serde_json::json!({"capacity": 100, "work_ms": 500}),
        );
        assert_eq!(stage5.expected_accepted(2.0, 0.3, 5000), 101.0);
        // After the first 0.5 s the worker frees 2 slots a second.
        assert!((stage5.expected_accepted(2.0, 2.0, 5000) - 104.0).abs() < 1e-9);
        // A stage without `workers` in /stats has the one worker of stage 5.
        let unnamed = shape(100, None, serde_json::json!({"work_ms": 500}));
        assert_eq!(unnamed.expected_accepted(2.0, 0.3, 5000), 101.0);
    }

    #[test]
    fn stage_6_burst_counts_every_worker() {
        let stage6 = shape(
            100,
            Some(4),
            serde_json::json!({"work_ms": 500, "workers": 4}),
        );
        assert_eq!(stage6.expected_accepted(8.0, 0.2, 5000), 104.0);
    }

    #[test]
    fn stage_7_burst_is_116_until_the_first_job_ends() {
        // 100 + 16 + 100 × max(0, send − 0.110): measured 116 run after run.
        let knobs = serde_json::json!({"work_ms": 100, "hold_ms": 10, "capacity": 100});
        let stage7 = shape(100, Some(16), knobs);
        assert!((stage7.first_job_secs - 0.110).abs() < 1e-12);
        assert_eq!(stage7.expected_accepted(100.0, 0.1, 5000), 116.0);
        assert!((stage7.expected_accepted(100.0, 0.38, 5000) - 143.0).abs() < 1e-9);
        assert_eq!(stage7.expected_accepted(100.0, 100.0, 150), 150.0);
    }

    #[test]
    fn stage_8_burst_and_hot_key_come_from_its_stats() {
        let stats = snapshot(STAGE8_DEFAULTS);
        let burst = QueueShape::from_stats(&stats).expect("stage 8 has a queue");
        assert_eq!((burst.capacity, burst.workers), (1000, 16));
        // 1000 + 16 + 1454.5 × (0.5 − 0.011)
        let expected = burst.expected_accepted(1454.545, 0.5, 5000);
        assert!((expected - 1727.27).abs() < 0.01, "{expected}");
        let spread = bound(&stats, 100).expect("a bound");
        assert!((spread.jobs_per_sec - 1454.545).abs() < 0.001);
        let hot = bound(&stats, 1).expect("a hot-key bound");
        assert_eq!(hot.jobs_per_sec, 1000.0);
        assert_eq!(hot.formula, "1000 / hold_ms");
    }

    #[test]
    fn stages_without_a_hot_key_bound_keep_theirs_for_one_user() {
        let mut stage7 = ServerStats::empty_for_tests();
        stage7.stage = 7;
        stage7.model_jobs_per_sec = Some(100.0);
        stage7.model_formula = Some("min(...)".into());
        assert_eq!(bound(&stage7, 1).map(|b| b.jobs_per_sec), Some(100.0));
        // A stage 8 that does not publish the field: its spread bound, no guessing from knobs.
        let mut older = snapshot(STAGE8_DEFAULTS);
        older.model_hot_key_jobs_per_sec = None;
        assert!(bound(&older, 1).is_some_and(|b| b.jobs_per_sec > 1454.0));
    }

    #[test]
    fn stage_4_has_no_queue_shape() {
        let mut stage4 = ServerStats::empty_for_tests();
        stage4.workers = Some(1);
        assert_eq!(QueueShape::from_stats(&stage4), None);
    }

    #[test]
    fn suggested_concurrency_leaves_margin_inside_the_timeout() {
        // Stage 4 at its defaults: 2 jobs/s, 5 s timeout; 10 would end exactly at 5 s.
        assert_eq!(concurrency_within_timeout(2.0, 5.0), 8);
        // --quick's 10 jobs/s: 40 waiters in 4 s.
        assert_eq!(concurrency_within_timeout(10.0, 5.0), 40);
        assert_eq!(concurrency_within_timeout(0.1, 1.0), 1);
    }

    #[test]
    fn stage_4_answers_about_bound_times_timeout() {
        // 200 waiters at 2/s need 100 s: only about 2 × 5 = 10 answered within 5 s.
        assert_eq!(expected_accepted_without_queue(2.0, 5.0, 200, 5000), 10.0);
        // 5 waiters at 2/s need 2.5 s: all answered.
        assert_eq!(expected_accepted_without_queue(2.0, 5.0, 5, 40), 40.0);
    }

    #[test]
    fn stage_7_formula_value() {
        // min(16 × 1000 / (100 + 10), 1000 / 10) = min(145.45, 100) = 100
        let workers = 16.0;
        let model = (workers * 1000.0 / (100.0 + 10.0_f64)).min(1000.0 / 10.0);
        assert_eq!(model, 100.0);
        assert!((efficiency_percent(92.0, model) - 92.0).abs() < 1e-9);
        assert_eq!(efficiency_percent(5.0, 0.0), 0.0);
    }

    #[test]
    fn a_lock_stage_without_a_lock_bound_says_so() {
        let stats = |json: serde_json::Value| -> ServerStats {
            serde_json::from_value(json).expect("stats parse")
        };
        let no_hold = stats(
            serde_json::json!({"stage": 7, "accepted": 0, "processed": 0,
            "balance_total": 0, "knobs": {"hold_ms": 0}, "model_jobs_per_sec": null,
            "model_lock_jobs_per_sec": null}),
        );
        assert_eq!(lock_bound(&no_hold), Some(LockBound::None));
        assert_eq!(bound(&no_hold, 100), None);
        assert_eq!(LockBound::None.describe(), "no lock bound");
        let held = stats(
            serde_json::json!({"stage": 7, "accepted": 0, "processed": 0,
            "balance_total": 0, "knobs": {"hold_ms": 10}, "model_lock_jobs_per_sec": 100.0}),
        );
        assert_eq!(lock_bound(&held), Some(LockBound::JobsPerSec(100.0)));
        // A stage from before the field: no line, not "no lock bound".
        let older = stats(
            serde_json::json!({"stage": 7, "accepted": 0, "processed": 0,
            "balance_total": 0, "knobs": {"hold_ms": 10}}),
        );
        assert_eq!(lock_bound(&older), None);
        let stage6 = stats(
            serde_json::json!({"stage": 6, "accepted": 0, "processed": 0,
            "balance_total": 0, "knobs": {"work_ms": 500}}),
        );
        assert_eq!(lock_bound(&stage6), None);
    }
}
