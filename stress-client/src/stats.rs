//! The `/stats` wire contract: what stages 4–8 serve at `GET /stats` (`ServerStats`) and the
//! client that reads it over the stress client's own HTTP/1.1 path (`StatsClient`). A leaf
//! module: the server check, the model, compare and watch all build on it.

use crate::http::{ExchangeError, HttpConnection};
use crate::target::Target;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A latency summary in µs, as stages 7 and 8 serve `lock_wait_us` and `lock_hold_us` (the
/// stages' `Percentiles`). Every field defaults, so a stage that adds or drops one still
/// parses.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct LockPercentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// One `/stats` answer (contract in the README). Optional fields stay optional so a stage
/// that omits one still gets checked on the rest.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ServerStats {
    pub stage: u32,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub knobs: serde_json::Map<String, serde_json::Value>,
    /// The stage's throughput bound; `null` when nothing bounds it (absent on older stages).
    #[serde(default)]
    pub model_jobs_per_sec: Option<f64>,
    #[serde(default)]
    pub model_formula: Option<String>,
    /// The bound when every job touches one key (stage 8: that key's shard lock). Stages
    /// without such a bound omit it; the model then uses `model_jobs_per_sec` for one user too.
    #[serde(default)]
    pub model_hot_key_jobs_per_sec: Option<f64>,
    #[serde(default)]
    pub model_hot_key_formula: Option<String>,
    /// Stages 7 and 8: what the lock alone allows, `1000 / hold_ms`; `null` with
    /// `--hold-ms 0`, where the lock bounds nothing.
    #[serde(default)]
    pub model_lock_jobs_per_sec: Option<f64>,
    pub accepted: u64,
    #[serde(default)]
    pub rejected: u64,
    #[serde(default)]
    pub invalid: u64,
    pub processed: u64,
    #[serde(default)]
    pub queue_depth: u64,
    #[serde(default)]
    pub capacity: Option<u64>,
    #[serde(default)]
    pub workers: Option<u64>,
    #[serde(default)]
    pub busy_workers: u64,
    #[serde(default)]
    pub peak_busy_workers: Option<u64>,
    #[serde(default)]
    pub users: u64,
    pub balance_total: i64,
    /// How long workers waited for the lock (stages 7 and 8; absent or `null` elsewhere).
    #[serde(default)]
    pub lock_wait_us: Option<LockPercentiles>,
    /// How long workers held it.
    #[serde(default)]
    pub lock_hold_us: Option<LockPercentiles>,
    #[serde(default)]
    pub lock_holders: Option<u64>,
    #[serde(default)]
    pub peak_lock_holders: Option<u64>,
    #[serde(default)]
    pub rss_bytes: Option<u64>,
    #[serde(default)]
    pub uptime_secs: f64,
}

impl ServerStats {
    #[cfg(test)]
    pub fn empty_for_tests() -> Self {
        serde_json::from_value(serde_json::json!({
            "stage": 0, "accepted": 0, "processed": 0, "balance_total": 0
        }))
        .expect("minimal stats parse")
    }
}

/// Reads `/stats` over the client's own HTTP/1.1 path, one short connection per read.
#[derive(Debug, Clone)]
pub struct StatsClient {
    target: Target,
}

/// A `/stats` read that takes longer than this means the server is stuck, not slow.
const STATS_TIMEOUT: Duration = Duration::from_secs(2);

impl StatsClient {
    pub fn new(target: &Target) -> Self {
        Self {
            target: target.clone(),
        }
    }

    /// `Err` carries a sentence explaining why there are no stats (no such endpoint, an echo
    /// stage, a dead server), printed as the reason the check was skipped.
    pub async fn fetch(&self) -> Result<ServerStats, String> {
        let request = self.target.stats_request();
        let exchange = async {
            let mut connection = HttpConnection::connect(self.target.addr).await?;
            let head = connection.exchange(&request).await?;
            Ok::<_, ExchangeError>((head.status, connection.body().to_vec()))
        };
        let (status, body) = tokio::time::timeout(STATS_TIMEOUT, exchange)
            .await
            .map_err(|_| {
                format!(
                    "GET /stats failed: no answer within {} s",
                    STATS_TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| format!("GET /stats failed: {e}"))?;
        if !(200..300).contains(&status) {
            return Err(format!(
                "GET /stats answered {status} (stages 1–3 have no /stats)"
            ));
        }
        serde_json::from_slice(&body).map_err(|_| {
            format!("GET /stats answered {status} but not with stats JSON (an echo stage?)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_contract_parses() {
        let json = r#"{"stage":7,"name":"contention","knobs":{"workers":16,"capacity":100,"work_ms":100,"hold_ms":10},
            "model_jobs_per_sec":100.0,"model_formula":"min(...)","accepted":1,"rejected":2,"invalid":0,"processed":1,
            "queue_depth":0,"capacity":100,"workers":16,"busy_workers":0,"users":1,"balance_total":-5,
            "lock_wait_us":{"count":1,"p50":1,"p90":1,"p99":1,"max":1},"lock_hold_us":null,"rss_bytes":null,"uptime_secs":1.5}"#;
        let stats: ServerStats = serde_json::from_str(json).expect("contract example parses");
        assert_eq!(stats.balance_total, -5);
        assert_eq!(stats.lock_wait_us.map(|w| w.p99), Some(1));
        assert_eq!(stats.lock_hold_us, None);
        assert_eq!(stats.model_lock_jobs_per_sec, None);
        assert_eq!(stats.capacity, Some(100));
        let stage4 = r#"{"stage":4,"name":"shared-state","knobs":{"work_ms":500},"model_jobs_per_sec":2.0,
            "model_formula":"1000 / work_ms","accepted":0,"rejected":0,"invalid":0,"processed":0,"queue_depth":0,
            "capacity":null,"workers":1,"busy_workers":0,"users":0,"balance_total":0,"lock_wait_us":null,
            "lock_hold_us":null,"rss_bytes":1,"uptime_secs":0.1}"#;
        let stats: ServerStats = serde_json::from_str(stage4).expect("stage 4 example parses");
        assert_eq!(stats.capacity, None);
    }

    #[test]
    fn bounds_may_be_null() {
        let json = r#"{"stage":7,"accepted":0,"processed":0,"balance_total":0,"knobs":{"hold_ms":0},
            "model_jobs_per_sec":null,"model_lock_jobs_per_sec":null,"model_hot_key_jobs_per_sec":null}"#;
        let stats: ServerStats = serde_json::from_str(json).expect("null bounds parse");
        assert_eq!(stats.model_jobs_per_sec, None);
        assert_eq!(stats.model_lock_jobs_per_sec, None);
        let json = r#"{"stage":7,"accepted":0,"processed":0,"balance_total":0,"model_lock_jobs_per_sec":100.0}"#;
        let stats: ServerStats = serde_json::from_str(json).expect("a lock bound parses");
        assert_eq!(stats.model_lock_jobs_per_sec, Some(100.0));
    }
}
