//! What only `compare` knows about individual stages, in one table keyed by stage number:
//! the flags `--quick` adds, the load cap of a stage too slow for the default burst, and
//! whether the stage has a graceful shutdown to check. Package and name come from
//! [`crate::catalogue`], the one list of stages; a test keeps the two tables in step.
//! Tested by `cargo test -p stress-client compare::stages`.

use crate::catalogue::{self, Stage};
use crate::load::at_least_one;
use std::num::NonZeroUsize;

/// The facts about one stage that decide how `compare` runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageFacts {
    pub number: u8,
    /// Stage flags `--quick` adds so a slow stage's queue drains in seconds. Each row shows
    /// them in its label and command; the model bound in the row follows the changed knobs.
    pub quick_args: &'static [&'static str],
    /// The most a row sends to this stage, when its bound cannot take the burst within the
    /// time budget of a workshop.
    pub load_cap: Option<LoadCap>,
    /// Whether the stage shuts down gracefully (exit 0 and a summary line) when asked.
    /// Stage 1 has no shutdown handling, by design: compare kills it and its row says that
    /// is expected, instead of sending a signal it cannot answer.
    pub graceful_shutdown: bool,
}

impl StageFacts {
    /// The stage in the catalogue; every row here has one (tested below).
    pub fn stage(&self) -> Option<&'static Stage> {
        catalogue::stage(self.number)
    }

    /// Package and binary name, e.g. `stage7`.
    pub fn package(&self) -> &'static str {
        self.stage().map_or("?", |stage| stage.package)
    }

    /// The topic, used in row labels (`7 contention`): the folder after `stageN-`.
    pub fn short_name(&self) -> &'static str {
        self.stage()
            .and_then(|stage| stage.folder.split_once('-'))
            .map_or("?", |(_, topic)| topic)
    }
}

/// A smaller load for one stage, and why, as the row's note says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadCap {
    pub requests: NonZeroUsize,
    pub concurrency: NonZeroUsize,
    /// Completes "stage N gets R requests at concurrency C: …".
    pub reason: &'static str,
}

pub const STAGES: [StageFacts; 8] = [
    StageFacts {
        number: 1,
        quick_args: &[],
        load_cap: None,
        graceful_shutdown: false,
    },
    StageFacts {
        number: 2,
        quick_args: &[],
        load_cap: None,
        graceful_shutdown: true,
    },
    StageFacts {
        number: 3,
        quick_args: &[],
        load_cap: None,
        graceful_shutdown: true,
    },
    StageFacts {
        number: 4,
        // 10 events/s instead of 2: the 20-request row takes 2 s instead of 10.
        quick_args: &["--work-ms", "100"],
        // 2 requests/s at its defaults, each after waiting for every earlier one: 20 requests
        // over 4 connections take 10 s and none waits longer than 2 s, inside the margin
        // `model::concurrency_within_timeout` keeps (8 at a 5 s timeout). The default burst
        // would need 42 minutes.
        load_cap: Some(LoadCap {
            requests: at_least_one(20),
            concurrency: at_least_one(4),
            reason: "it applies one event at a time under its lock (2/s at --work-ms 500)",
        }),
        graceful_shutdown: true,
    },
    StageFacts {
        number: 5,
        // A 20-event queue at 10/s drains in 2 s instead of 100 at 2/s in 50 s.
        quick_args: &["--capacity", "20", "--work-ms", "100"],
        load_cap: None,
        graceful_shutdown: true,
    },
    StageFacts {
        number: 6,
        // 20 queued at 8/s: 2.5 s instead of 12.5 s.
        quick_args: &["--capacity", "20"],
        load_cap: None,
        graceful_shutdown: true,
    },
    StageFacts {
        number: 7,
        // Keeps a 1-worker sweep point at 9 events/s to about 2 s.
        quick_args: &["--capacity", "20"],
        load_cap: None,
        graceful_shutdown: true,
    },
    StageFacts {
        number: 8,
        // Keeps a 1-worker sweep point at 91 events/s to about 1 s; still saturated by 2000.
        quick_args: &["--capacity", "100"],
        load_cap: None,
        graceful_shutdown: true,
    },
];

/// The row of `stage`, `None` for a number that is not a stage.
pub fn facts(stage: u8) -> Option<&'static StageFacts> {
    STAGES.iter().find(|facts| facts.number == stage)
}

/// Every stage number, in order.
pub fn numbers() -> Vec<u8> {
    STAGES.iter().map(|facts| facts.number).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    #[test]
    fn every_catalogue_stage_has_compare_facts_and_no_other() {
        let catalogue: Vec<u8> = catalogue::STAGES.iter().map(|s| s.number).collect();
        assert_eq!(numbers(), catalogue);
        for facts in &STAGES {
            let stage = facts.stage().expect("a catalogue stage");
            assert_eq!(facts.package(), stage.package);
            assert!(stage.folder.ends_with(&format!("-{}", facts.short_name())));
        }
        assert_eq!(facts(7).map(StageFacts::short_name), Some("contention"));
        assert_eq!(facts(9), None);
    }

    #[test]
    fn stage_4_cap_fits_the_timeout_with_the_advised_margin() {
        // Stage 4 at its defaults (2 jobs/s) and at --quick (10 jobs/s), 5 s timeout.
        let cap = facts(4)
            .and_then(|f| f.load_cap)
            .expect("stage 4 is capped");
        assert!(cap.concurrency.get() <= model::concurrency_within_timeout(2.0, 5.0));
        assert!(cap.concurrency.get() <= model::concurrency_within_timeout(10.0, 5.0));
    }
}
