//! The numbers behind `GET /stats`: counters every request updates, and the report the
//! stress client and the tests read.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::ledger::LockTiming;

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
    /// null) when nothing bounds it (work_ms + hold_ms = 0).
    pub model_jobs_per_sec: Option<f64>,
    pub model_formula: &'static str,
    /// What the balances lock alone lets through; `None` (JSON null) with hold_ms = 0,
    /// when there is no lock bound.
    pub model_lock_jobs_per_sec: Option<f64>,
    /// The bound when every event is for one user, so clients need not know the stage.
    pub model_hot_key_jobs_per_sec: Option<f64>,
    pub model_hot_key_formula: &'static str,
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
    /// How long workers waited for the balances lock, in µs.
    pub lock_wait_us: Percentiles,
    /// How long workers held it, in µs.
    pub lock_hold_us: Percentiles,
    pub lock_holders: u64,
    pub peak_lock_holders: u64,
    pub rss_bytes: Option<u64>,
    pub uptime_secs: f64,
}

/// A latency distribution as `/stats` reports it, in µs.
#[derive(Serialize, Default)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

// ANCHOR: lock_times
/// Lock wait and hold times, one pair of histograms per worker.
///
/// One shared histogram would need a lock of its own, taken by every worker after every
/// job: measuring a hot lock by adding another one. Per-worker histograms are only ever
/// contended by `/stats`, which merges them on demand.
pub struct LockTimes {
    per_worker: Vec<Mutex<WaitAndHold>>,
}

struct WaitAndHold {
    wait: Histogram<u64>,
    hold: Histogram<u64>,
}

impl LockTimes {
    pub fn new(workers: NonZeroUsize) -> Self {
        let per_worker = (0..workers.get())
            .map(|_| {
                Mutex::new(WaitAndHold {
                    wait: new_histogram(),
                    hold: new_histogram(),
                })
            })
            .collect();
        LockTimes { per_worker }
    }

    pub fn record(&self, worker: usize, timing: &LockTiming) {
        let Some(slot) = self.per_worker.get(worker) else {
            return;
        };
        let mut times = slot.lock().unwrap_or_else(PoisonError::into_inner);
        record(&mut times.wait, timing.wait);
        record(&mut times.hold, timing.hold);
    }

    /// Merges every worker's histograms into wait and hold percentiles.
    pub fn summary(&self) -> (Percentiles, Percentiles) {
        let mut wait = new_histogram();
        let mut hold = new_histogram();
        for slot in &self.per_worker {
            let times = slot.lock().unwrap_or_else(PoisonError::into_inner);
            // Both sides auto-resize, so adding cannot run out of range.
            let _ = wait.add(&times.wait);
            let _ = hold.add(&times.hold);
        }
        (percentiles(&wait), percentiles(&hold))
    }
}
// ANCHOR_END: lock_times

/// Three significant digits, growing as needed: a surprisingly long wait is recorded,
/// never dropped and never a panic.
fn new_histogram() -> Histogram<u64> {
    let mut histogram = Histogram::new(3).expect("3 significant digits is a valid precision");
    histogram.auto(true);
    histogram
}

/// Records a duration in µs. `record` (not `saturating_record`, which clamps to the
/// current range before growing it) lets the histogram resize to fit; it can only fail
/// past the range of u64 µs, which a real duration never reaches.
fn record(histogram: &mut Histogram<u64>, duration: Duration) {
    let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    let _ = histogram.record(micros);
}

fn percentiles(histogram: &Histogram<u64>) -> Percentiles {
    if histogram.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        count: histogram.len(),
        mean: histogram.mean(),
        p50: histogram.value_at_quantile(0.50),
        p90: histogram.value_at_quantile(0.90),
        p99: histogram.value_at_quantile(0.99),
        max: histogram.max(),
    }
}
