//! What `watch` remembers between polls: the last minute of counter samples, from which it
//! derives accepted / rejected / processed per second, and the peaks it has seen. Pure data
//! (time comes in as seconds since the watch began), so the tests drive it with made-up
//! clocks and the rendering never does arithmetic on counters.

use crate::stats::ServerStats;
use std::collections::VecDeque;

/// How far back the per-second charts reach: a minute holds a whole stage 5 burst and most of
/// its drain, and is what the back row can still read as bars.
pub const WINDOW_SECS: usize = 60;

/// The headline rate spans one second: short enough to follow a burst as it happens, long
/// enough (four polls at the default interval) not to flicker between 0 and 4× the rate.
const HEADLINE_SPAN_SECS: f64 = 1.0;

/// Measured jobs/s against the model is averaged over five seconds: the comparison is about
/// the steady drain rate, and the workers finish jobs in waves of `workers` at a time.
const MEASURED_SPAN_SECS: f64 = 5.0;

/// One poll's counters. Only the monotonic counters are kept: gauges (queue, busy) are shown
/// as they are now, and their peaks are kept separately.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    at_secs: f64,
    accepted: u64,
    rejected: u64,
    processed: u64,
}

/// Which counter a rate is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Accepted,
    Rejected,
    Processed,
}

impl Counter {
    pub const ALL: [Counter; 3] = [Counter::Accepted, Counter::Rejected, Counter::Processed];

    pub fn label(self) -> &'static str {
        match self {
            Counter::Accepted => "accepted/s",
            Counter::Rejected => "rejected/s",
            Counter::Processed => "processed/s",
        }
    }

    fn of(self, sample: &Sample) -> u64 {
        match self {
            Counter::Accepted => sample.accepted,
            Counter::Rejected => sample.rejected,
            Counter::Processed => sample.processed,
        }
    }
}

/// Highest values seen since the watch began (or the server restarted). The server keeps its
/// own peaks of busy workers and lock holders; those are shown from `/stats` instead.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Peaks {
    pub queue_depth: u64,
    pub accepted_per_sec: f64,
    pub processed_per_sec: f64,
}

#[derive(Debug, Default)]
pub struct History {
    /// Oldest first; trimmed to a little over `WINDOW_SECS` so the oldest bar still has a
    /// sample at its left edge.
    samples: VecDeque<Sample>,
    /// Uptime of the last sample: when it goes down, the server restarted and its counters
    /// began again at zero, so the old samples would give negative rates.
    last_uptime_secs: f64,
    pub peaks: Peaks,
}

impl History {
    /// Adds one poll. `at_secs` must not go backwards (it comes from one `Instant`).
    pub fn record(&mut self, at_secs: f64, stats: &ServerStats) {
        let sample = Sample {
            at_secs,
            accepted: stats.accepted,
            rejected: stats.rejected,
            processed: stats.processed,
        };
        let restarted = stats.uptime_secs < self.last_uptime_secs
            || self.samples.back().is_some_and(|last| {
                sample.accepted < last.accepted || sample.processed < last.processed
            });
        if restarted {
            *self = History::default();
        }
        self.last_uptime_secs = stats.uptime_secs;
        self.samples.push_back(sample);
        let horizon = at_secs - WINDOW_SECS as f64 - 2.0;
        while self.samples.front().is_some_and(|s| s.at_secs < horizon) {
            self.samples.pop_front();
        }
        self.peaks.queue_depth = self.peaks.queue_depth.max(stats.queue_depth);
        let accepted = self.rate(Counter::Accepted).unwrap_or(0.0);
        let processed = self.rate(Counter::Processed).unwrap_or(0.0);
        self.peaks.accepted_per_sec = self.peaks.accepted_per_sec.max(accepted);
        self.peaks.processed_per_sec = self.peaks.processed_per_sec.max(processed);
    }

    /// Per second over about the last second; `None` until two polls are a second apart
    /// (a rate from one 250 ms delta would jump around).
    pub fn rate(&self, counter: Counter) -> Option<f64> {
        self.rate_over(counter, HEADLINE_SPAN_SECS)
    }

    /// Jobs/s processed over the last few seconds, to hold against the model's bound.
    pub fn measured_jobs_per_sec(&self) -> Option<f64> {
        self.rate_over(Counter::Processed, MEASURED_SPAN_SECS)
            .or_else(|| self.rate(Counter::Processed))
    }

    fn rate_over(&self, counter: Counter, span_secs: f64) -> Option<f64> {
        let newest = self.samples.back()?;
        let cutoff = newest.at_secs - span_secs;
        // The newest sample at least `span_secs` old, or failing that the oldest one, as long
        // as it covers most of the span.
        let older = self
            .samples
            .iter()
            .rev()
            .find(|s| s.at_secs <= cutoff)
            .or_else(|| self.samples.front())?;
        let elapsed = newest.at_secs - older.at_secs;
        if elapsed < span_secs * 0.75 {
            return None;
        }
        let delta = counter.of(newest).saturating_sub(counter.of(older));
        Some(delta as f64 / elapsed)
    }

    /// One value per whole second for the last `WINDOW_SECS` seconds, oldest first: the count
    /// that arrived in that second. Seconds before the first sample read 0. The second in
    /// progress is left out: half a second's count would look like a sudden drop.
    pub fn per_second(&self, counter: Counter) -> Vec<u64> {
        let Some(newest) = self.samples.back() else {
            return vec![0; WINDOW_SECS];
        };
        let last_full = newest.at_secs.floor();
        (0..WINDOW_SECS)
            .map(|i| {
                let end = last_full - (WINDOW_SECS - 1 - i) as f64;
                match (
                    self.value_at(counter, end - 1.0),
                    self.value_at(counter, end),
                ) {
                    (Some(start), Some(end)) => end.saturating_sub(start),
                    // The first second with data: count from the first sample in it.
                    (None, Some(end)) => self
                        .samples
                        .front()
                        .map_or(0, |first| end.saturating_sub(counter.of(first))),
                    _ => 0,
                }
            })
            .collect()
    }

    /// The counter as it stood at `at_secs`: the last sample taken no later than that.
    fn value_at(&self, counter: Counter, at_secs: f64) -> Option<u64> {
        self.samples
            .iter()
            .rev()
            .find(|s| s.at_secs <= at_secs)
            .map(|s| counter.of(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(accepted: u64, rejected: u64, processed: u64, uptime_secs: f64) -> ServerStats {
        ServerStats {
            accepted,
            rejected,
            processed,
            uptime_secs,
            ..ServerStats::empty_for_tests()
        }
    }

    #[test]
    fn rates_come_from_counter_deltas() {
        let mut history = History::default();
        history.record(0.0, &stats(0, 0, 0, 1.0));
        assert_eq!(history.rate(Counter::Accepted), None, "one poll is no rate");
        for tick in 1..=8 {
            let t = f64::from(tick) * 0.25;
            history.record(t, &stats(25 * tick as u64, 100 * tick as u64, 0, 1.0 + t));
        }
        assert_eq!(history.rate(Counter::Accepted), Some(100.0));
        assert_eq!(history.rate(Counter::Rejected), Some(400.0));
        assert_eq!(history.rate(Counter::Processed), Some(0.0));
        assert_eq!(history.peaks.accepted_per_sec, 100.0);
    }

    #[test]
    fn per_second_bars_count_what_arrived_in_each_second() {
        let mut history = History::default();
        for tick in 0..=12 {
            // 10 accepted per quarter second during the first two seconds, then nothing.
            let accepted = 10 * tick.min(8) as u64;
            history.record(f64::from(tick) * 0.25, &stats(accepted, 0, 0, 1.0));
        }
        let bars = history.per_second(Counter::Accepted);
        assert_eq!(bars.len(), WINDOW_SECS);
        assert_eq!(&bars[WINDOW_SECS - 3..], &[40, 40, 0]);
        assert_eq!(bars.iter().sum::<u64>(), 80);
    }

    #[test]
    fn a_restarted_server_starts_a_new_history() {
        let mut history = History::default();
        history.record(0.0, &stats(500, 0, 500, 100.0));
        history.record(1.0, &stats(600, 0, 600, 101.0));
        history.record(2.0, &stats(3, 0, 1, 0.5));
        history.record(3.0, &stats(13, 0, 11, 1.5));
        assert_eq!(
            history.rate(Counter::Accepted),
            Some(10.0),
            "never negative"
        );
        assert_eq!(history.peaks.accepted_per_sec, 10.0);
    }
}
