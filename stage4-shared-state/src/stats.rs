//! The numbers behind `GET /stats`: counters every request updates, and the report the
//! stress client and the tests read.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Counters and gauges, updated with relaxed atomics: each is an independent tally, and
/// no decision is ever made by comparing two of them at the same instant.
#[derive(Default)]
pub struct Counters {
    /// Events answered 2xx. The stress client compares it with `processed` to prove
    /// nothing accepted was lost.
    pub accepted: AtomicU64,
    /// Events refused because the server was full (503).
    pub rejected: AtomicU64,
    /// Requests answered 4xx: malformed, unknown path, wrong method.
    pub invalid: AtomicU64,
    /// Events applied to the balances.
    pub processed: AtomicU64,
    /// Events waiting for their turn to be processed.
    pub queue_depth: AtomicU64,
    /// Events being processed right now.
    pub busy_workers: AtomicU64,
    /// The most events ever processed at the same time: a gauge, not a stopwatch, is
    /// how the tests prove how much really ran in parallel.
    pub peak_busy_workers: AtomicU64,
}

impl Counters {
    /// Marks one more event as being processed, and records a new peak if it is one.
    pub fn start_work(&self) {
        let busy = self.busy_workers.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_busy_workers.fetch_max(busy, Ordering::Relaxed);
    }

    pub fn finish_work(&self) {
        self.busy_workers.fetch_sub(1, Ordering::Relaxed);
        self.processed.fetch_add(1, Ordering::Relaxed);
    }
}

/// One `/stats` answer. Field names are the wire contract with the stress client.
#[derive(Serialize)]
pub struct Report<Knobs: Serialize> {
    pub stage: u8,
    pub name: &'static str,
    pub knobs: Knobs,
    /// The most events per second this stage can process at these knobs; `None` (JSON
    /// null) when nothing bounds it (work_ms = 0).
    pub model_jobs_per_sec: Option<f64>,
    pub model_formula: &'static str,
    pub accepted: u64,
    pub rejected: u64,
    pub invalid: u64,
    pub processed: u64,
    pub queue_depth: u64,
    /// The queue's bound; `None` (JSON null) while there is no bounded queue.
    pub capacity: Option<u64>,
    pub workers: u64,
    pub busy_workers: u64,
    pub peak_busy_workers: u64,
    pub users: u64,
    pub balance_total: i64,
    pub rss_bytes: Option<u64>,
    pub uptime_secs: f64,
}
