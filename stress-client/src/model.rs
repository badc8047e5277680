//! The throughput model of spec section 6, as the client applies it: the server's own bound
//! from `/stats`, the single-hot-key correction for stage 8, and the burst estimate
//! `accepted ≈ capacity + throughput × send_duration`.

use crate::stats::ServerStats;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelBound {
    pub jobs_per_sec: f64,
    pub formula: String,
}

/// Stage 8 reports its spread-keys bound; with one user every job hits one shard, so the
/// lock hold time alone sets the pace.
pub fn bound(stats: &ServerStats, distinct_users: usize) -> Option<ModelBound> {
    if stats.stage == 8 && distinct_users == 1 {
        let hold_ms = stats
            .knobs
            .get("hold_ms")
            .and_then(serde_json::Value::as_f64);
        if let Some(hold_ms) = hold_ms.filter(|h| *h > 0.0) {
            return Some(ModelBound {
                jobs_per_sec: 1000.0 / hold_ms,
                formula: "1000 / hold_ms (one hot key: its shard lock serializes every job)".into(),
            });
        }
    }
    let jobs_per_sec = stats
        .model_jobs_per_sec
        .filter(|j| j.is_finite() && *j > 0.0)?;
    Some(ModelBound {
        jobs_per_sec,
        formula: stats.model_formula.clone().unwrap_or_default(),
    })
}

/// Accepted in a burst ≈ capacity + throughput × send_duration, never more than was sent.
pub fn expected_accepted(
    capacity: Option<u64>,
    jobs_per_sec: f64,
    send_secs: f64,
    sent: u64,
) -> f64 {
    let estimate = capacity.unwrap_or(0) as f64 + jobs_per_sec * send_secs;
    estimate.min(sent as f64)
}

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

    fn stats(stage: u32, model: f64, knobs: serde_json::Value) -> ServerStats {
        let mut stats = ServerStats::empty_for_tests();
        stats.stage = stage;
        stats.model_jobs_per_sec = Some(model);
        stats.model_formula = Some("f".into());
        if let serde_json::Value::Object(map) = knobs {
            stats.knobs = map;
        }
        stats
    }

    #[test]
    fn outline_burst_at_stage_7_is_about_138() {
        // Spec section 6: capacity 100, 100 jobs/s, the burst sent in about 0.38 s.
        let expected = expected_accepted(Some(100), 100.0, 0.38, 5000);
        assert!((expected - 138.0).abs() < 0.5);
        assert_eq!(expected_accepted(Some(100), 100.0, 100.0, 150), 150.0);
        assert_eq!(expected_accepted(None, 2.0, 5.0, 5000), 10.0);
    }

    #[test]
    fn stage_4_answers_about_bound_times_timeout() {
        // 200 waiters at 2/s need 100 s: only about 2 × 5 = 10 answered within 5 s.
        assert_eq!(expected_accepted_without_queue(2.0, 5.0, 200, 5000), 10.0);
        // 5 waiters at 2/s need 2.5 s: all answered.
        assert_eq!(expected_accepted_without_queue(2.0, 5.0, 5, 40), 40.0);
    }

    #[test]
    fn stage_8_single_hot_key_uses_hold_time() {
        let s = stats(8, 1450.0, serde_json::json!({"hold_ms": 1, "work_ms": 10}));
        assert_eq!(bound(&s, 1).map(|b| b.jobs_per_sec), Some(1000.0));
        assert_eq!(bound(&s, 100).map(|b| b.jobs_per_sec), Some(1450.0));
        let s7 = stats(7, 100.0, serde_json::json!({"hold_ms": 10}));
        assert_eq!(bound(&s7, 1).map(|b| b.jobs_per_sec), Some(100.0));
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
}
