//! Latency recording and summaries on HdrHistogram, in microseconds.
//!
//! Histograms auto-resize, so a response slower than anything foreseen is recorded instead of
//! panicking or being dropped. Each load task records into its own histograms and they are
//! merged at the end, so recording never contends on a lock.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// The tail quantiles printed, with their labels.
pub const QUANTILES: [(f64, &str); 4] = [
    (0.50, "p50"),
    (0.90, "p90"),
    (0.99, "p99"),
    (0.999, "p99.9"),
];

#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    histogram: Histogram<u64>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    pub fn new() -> Self {
        // 3 significant figures: 0.1% error, the usual HdrHistogram setting.
        let histogram = Histogram::new(3).expect("3 significant figures is a valid setting");
        Self { histogram }
    }

    pub fn record(&mut self, elapsed: Duration) {
        // A zero is legal in HdrHistogram but 1 µs keeps "min" honest for sub-µs clocks.
        let micros = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        // `record` auto-resizes; only a value beyond i64::MAX / 2 µs (never, in practice) can
        // fail, and clamping that is better than losing the sample. `saturating_record` alone
        // would clamp without resizing, silently capping every slow response.
        if self.histogram.record(micros).is_err() {
            self.histogram.saturating_record(micros);
        }
    }

    pub fn merge(&mut self, other: &LatencyRecorder) {
        // Both sides auto-resize, so addition cannot run out of range.
        let _ = self.histogram.add(&other.histogram);
    }

    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    pub fn summary(&self) -> LatencySummary {
        let n = self.histogram.len();
        let quantiles = QUANTILES
            .iter()
            .map(|&(q, label)| Percentile {
                label,
                quantile: q,
                micros: if n == 0 {
                    0
                } else {
                    self.histogram.value_at_quantile(q)
                },
                too_few_samples: n < samples_needed(q),
            })
            .collect();
        LatencySummary {
            n,
            percentiles: quantiles,
            max_micros: self.histogram.max(),
            mean_micros: if n == 0 { 0.0 } else { self.histogram.mean() },
        }
    }
}

/// A percentile q says something about the tail only if at least one sample lies beyond it,
/// that is n ≥ 1/(1−q): 100 samples for p99, 1000 for p99.9.
pub fn samples_needed(quantile: f64) -> u64 {
    (1.0 / (1.0 - quantile)).round() as u64
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Percentile {
    pub label: &'static str,
    pub quantile: f64,
    pub micros: u64,
    /// Fewer samples than `samples_needed`: the value is in effect the maximum.
    pub too_few_samples: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencySummary {
    pub n: u64,
    pub percentiles: Vec<Percentile>,
    pub max_micros: u64,
    pub mean_micros: f64,
}

impl LatencySummary {
    pub fn percentile(&self, label: &str) -> Option<&Percentile> {
        self.percentiles.iter().find(|p| p.label == label)
    }
}

/// Human form of a microsecond figure: µs below 1 ms, ms below 1 s, s above.
pub fn format_micros(micros: f64) -> String {
    if micros < 1000.0 {
        format!("{micros:.0}µs")
    } else if micros < 1_000_000.0 {
        format!("{:.2}ms", micros / 1000.0)
    } else {
        format!("{:.2}s", micros / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut recorder = LatencyRecorder::new();
        for ms in 1..=1000u64 {
            recorder.record(Duration::from_millis(ms));
        }
        let summary = recorder.summary();
        assert_eq!(summary.n, 1000);
        let within = |label: &str, expected_ms: u64| {
            let got = summary.percentile(label).expect("label exists").micros as f64;
            let expected = (expected_ms * 1000) as f64;
            assert!((got - expected).abs() / expected < 0.002, "{label}: {got}");
        };
        within("p50", 500);
        within("p90", 900);
        within("p99", 990);
        within("p99.9", 999);
        assert!((summary.mean_micros - 500_500.0).abs() / 500_500.0 < 0.002);
        assert!(!summary.percentile("p99.9").expect("exists").too_few_samples);
    }

    #[test]
    fn small_samples_are_flagged() {
        let mut recorder = LatencyRecorder::new();
        for _ in 0..50 {
            recorder.record(Duration::from_millis(1));
        }
        let summary = recorder.summary();
        assert!(!summary.percentile("p90").expect("exists").too_few_samples);
        assert!(summary.percentile("p99").expect("exists").too_few_samples);
        assert_eq!(samples_needed(0.999), 1000);
    }

    #[test]
    fn huge_values_resize_instead_of_panicking() {
        let mut recorder = LatencyRecorder::new();
        recorder.record(Duration::from_micros(3));
        recorder.record(Duration::from_secs(3600 * 24 * 365));
        let mut other = LatencyRecorder::new();
        other.record(Duration::from_secs(10));
        recorder.merge(&other);
        assert_eq!(recorder.len(), 3);
        assert!(recorder.summary().max_micros >= 3600 * 24 * 365 * 999_000);
    }

    #[test]
    fn empty_summary_is_zero() {
        let summary = LatencyRecorder::new().summary();
        assert_eq!(summary.n, 0);
        assert_eq!(summary.max_micros, 0);
    }

    #[test]
    fn formatting_picks_units() {
        assert_eq!(format_micros(250.0), "250µs");
        assert_eq!(format_micros(1500.0), "1.50ms");
        assert_eq!(format_micros(2_508_800.0), "2.51s");
        assert_eq!(format_micros(999_000.0), "999.00ms");
    }
}
