//! The measurement table of `predict`: one row per thing a prediction can be graded
//! against. To add a prediction, add a row here (a stage, its flags, the names of the terms
//! it reports, a function that measures) and an entry with `measure = "<name>"` in the
//! manifest. A row returns the measured value and named terms, which the exercise's
//! `explain` text quotes as {name}.
//!
//! Each measuring function is split in two: a part that drives the stage and records what it
//! observed (in the submodules), and a pure part that turns those observations into the
//! value and the model's terms, so the arithmetic is tested without a stage
//! (`cargo test -p workshop --test predict_measures`).
//!
//! Every row is bounded: the flags keep the run short (a smaller queue, shorter work) so a
//! learner waits seconds, not minutes, and every wait has a cap.

pub mod burst;
pub mod drain;
pub mod raw;

use super::lab::{Lab, RunningStage};
use crate::UserError;

/// What one measurement found.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub value: f64,
    /// The model's terms, by name, already formatted for the explanation.
    pub terms: Vec<(&'static str, String)>,
}

impl Measurement {
    /// A measurement whose terms are `names` paired with `values`: one array of names per
    /// kind of measurement, shared with its row, so the names a row promises (and the
    /// manifest's `explain` quotes) are exactly the names it reports.
    pub fn named<const N: usize>(
        value: f64,
        names: &'static [&'static str; N],
        values: [String; N],
    ) -> Self {
        Self {
            value,
            terms: names.iter().copied().zip(values).collect(),
        }
    }

    /// The term called `name`, if the measurement reported one.
    pub fn term(&self, name: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One row of the table.
pub struct Measure {
    pub name: &'static str,
    pub stage: u8,
    /// Flags the stage starts with, besides `--addr 127.0.0.1:0`.
    pub flags: &'static [&'static str],
    /// The names of the terms `run` reports (besides `measured`, the value itself).
    pub terms: &'static [&'static str],
    pub run: fn(&Lab, &RunningStage) -> Result<Measurement, UserError>,
}

pub const MEASURES: &[Measure] = &[
    // Two silent clients, then a request: a sleep-timed schedule, no load at all.
    Measure {
        name: "stage1_two_silent_clients",
        stage: 1,
        flags: &[],
        terms: &raw::TWO_SILENT_TERMS,
        run: raw::two_silent_clients,
    },
    Measure {
        name: "stage2_idle_clients",
        stage: 2,
        flags: &[],
        terms: &burst::IDLE_TERMS,
        run: burst::idle_clients,
    },
    // A 3 s read timeout instead of 10 s keeps the wait short; the lesson is the same.
    Measure {
        name: "stage3_trickle_408",
        stage: 3,
        flags: &["--read-timeout", "3s"],
        terms: &raw::TRICKLE_TERMS,
        run: raw::trickle_408,
    },
    Measure {
        name: "stage4_three_together",
        stage: 4,
        flags: &["--work-ms", "500"],
        terms: &burst::TOGETHER_TERMS,
        run: burst::three_together,
    },
    // 100 ms of work lets 50 of 60 clients fit in the client's 5 s timeout: one run of
    // about 6 s shows both sides of the line.
    Measure {
        name: "stage4_timeouts",
        stage: 4,
        flags: &["--work-ms", "100"],
        terms: &burst::TIMEOUT_TERMS,
        run: burst::timeouts,
    },
    // A queue of 20 at 4 events/s drains in about 5 s; the default 100 at 2/s would take 50.
    Measure {
        name: "stage5_drain",
        stage: 5,
        flags: &["--capacity", "20", "--work-ms", "250"],
        terms: &burst::DRAIN_TIME_TERMS,
        run: burst::drain_time,
    },
    // Ctrl-C drains first: at the defaults, about 100 queued events at 8 per second.
    Measure {
        name: "stage6_drain_secs",
        stage: 6,
        flags: &[],
        terms: &burst::DRAIN_TIME_TERMS,
        run: burst::drain_time,
    },
    // Little's law's queue for a 2 s wait at the default 2 events/s.
    Measure {
        name: "stage5_accepted",
        stage: 5,
        flags: &["--capacity", "4"],
        terms: &burst::ACCEPTED_TERMS,
        run: burst::quick_burst_accepted,
    },
    Measure {
        name: "stage5_burst_accepted",
        stage: 5,
        flags: &[],
        terms: &burst::ACCEPTED_TERMS,
        run: burst::burst_accepted,
    },
    // 100 ms of work instead of 500 and a queue of 300 give a drain of almost 4 s at 80/s:
    // long enough for a rate, short enough to wait for.
    Measure {
        name: "stage6_pool_speedup",
        stage: 6,
        flags: &["--workers", "8", "--work-ms", "100", "--capacity", "300"],
        terms: &drain::RATE_TERMS,
        run: drain::spread_rate,
    },
    // A queue of 300 drains for about 3 s at the lock's 100 events/s: long enough to time
    // with /stats read ten times a second, and the rate does not depend on the capacity.
    Measure {
        name: "stage7_lock_cap",
        stage: 7,
        flags: &["--capacity", "300"],
        terms: &drain::RATE_TERMS,
        run: drain::spread_rate,
    },
    // At about 150 events/s a queue of 500 still drains for over 3 s.
    Measure {
        name: "stage7_half_hold",
        stage: 7,
        flags: &["--hold-ms", "5", "--capacity", "500"],
        terms: &drain::RATE_TERMS,
        run: drain::spread_rate,
    },
    // Stage 7's knobs on stage 8, so the hot key's bound is stage 7's 100/s; a queue of
    // 300 drains for about 3 s.
    Measure {
        name: "stage8_hot_key",
        stage: 8,
        flags: &["--capacity", "300", "--work-ms", "100", "--hold-ms", "10"],
        terms: &drain::RATE_TERMS,
        run: drain::hot_key_rate,
    },
    Measure {
        name: "stage8_one_shard",
        stage: 8,
        flags: &[
            "--map",
            "sharded",
            "--shards",
            "1",
            "--capacity",
            "300",
            "--work-ms",
            "100",
            "--hold-ms",
            "10",
        ],
        terms: &drain::RATE_TERMS,
        run: drain::spread_rate,
    },
];

/// The row named `name`.
pub fn measure(name: &str) -> Option<&'static Measure> {
    MEASURES.iter().find(|m| m.name == name)
}

/// A number as the explanations print it: one decimal.
pub fn one_decimal(value: f64) -> String {
    format!("{value:.1}")
}

/// Seconds as the explanations print them: two decimals (a sleep-timed value is good to a
/// few milliseconds, so the second decimal still means something).
pub fn secs(value: f64) -> String {
    format!("{value:.2}")
}
