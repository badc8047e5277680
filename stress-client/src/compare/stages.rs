//! Everything `compare` knows about individual stages, in one table: package, short name,
//! the flags `--quick` adds, the load cap of a stage too slow for the default burst, and how
//! SIGINT ends it. Adding a stage, or changing what compare does with one, is a row here and
//! nowhere else. Tested by `cargo test -p stress-client compare::stages`.

/// The facts about one stage that decide how `compare` runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageFacts {
    pub number: u8,
    /// Package and binary name, e.g. `stage7`.
    pub package: &'static str,
    /// The topic, used in row labels (`7 contention`).
    pub short_name: &'static str,
    /// Stage flags `--quick` adds so a slow stage's queue drains in seconds. Each row shows
    /// them in its label and command; the model bound in the row follows the changed knobs.
    pub quick_args: &'static [&'static str],
    /// The most a row sends to this stage, when its bound cannot take the burst within the
    /// time budget of a workshop.
    pub load_cap: Option<LoadCap>,
    /// SIGINT ends the process by the signal instead of a graceful exit 0, and that is
    /// correct: stage 1 has no shutdown handling, by design.
    pub ended_by_sigint: bool,
}

/// A smaller load for one stage, and why, as the row's note says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadCap {
    pub requests: usize,
    pub concurrency: usize,
    /// Completes "stage N gets R requests at concurrency C: …".
    pub reason: &'static str,
}

pub const STAGES: [StageFacts; 8] = [
    StageFacts {
        number: 1,
        package: "stage1",
        short_name: "blocking",
        quick_args: &[],
        load_cap: None,
        ended_by_sigint: true,
    },
    StageFacts {
        number: 2,
        package: "stage2",
        short_name: "async",
        quick_args: &[],
        load_cap: None,
        ended_by_sigint: false,
    },
    StageFacts {
        number: 3,
        package: "stage3",
        short_name: "json",
        quick_args: &[],
        load_cap: None,
        ended_by_sigint: false,
    },
    StageFacts {
        number: 4,
        package: "stage4",
        short_name: "shared-state",
        // 10 events/s instead of 2: the 20-request row takes 2 s instead of 10.
        quick_args: &["--work-ms", "100"],
        // 2 requests/s at its defaults, each after waiting for every earlier one: 20 requests
        // over 4 connections take 10 s and none waits longer than 2 s, inside the margin
        // `model::concurrency_within_timeout` keeps (8 at a 5 s timeout). The default burst
        // would need 42 minutes.
        load_cap: Some(LoadCap {
            requests: 20,
            concurrency: 4,
            reason: "it applies one event at a time under its lock (2/s at --work-ms 500)",
        }),
        ended_by_sigint: false,
    },
    StageFacts {
        number: 5,
        package: "stage5",
        short_name: "backpressure",
        // A 20-event queue at 10/s drains in 2 s instead of 100 at 2/s in 50 s.
        quick_args: &["--capacity", "20", "--work-ms", "100"],
        load_cap: None,
        ended_by_sigint: false,
    },
    StageFacts {
        number: 6,
        package: "stage6",
        short_name: "workers",
        // 20 queued at 8/s: 2.5 s instead of 12.5 s.
        quick_args: &["--capacity", "20"],
        load_cap: None,
        ended_by_sigint: false,
    },
    StageFacts {
        number: 7,
        package: "stage7",
        short_name: "contention",
        // Keeps a 1-worker sweep point at 9 events/s to about 2 s.
        quick_args: &["--capacity", "20"],
        load_cap: None,
        ended_by_sigint: false,
    },
    StageFacts {
        number: 8,
        package: "stage8",
        short_name: "sharding",
        // Keeps a 1-worker sweep point at 91 events/s to about 1 s; still saturated by 2000.
        quick_args: &["--capacity", "100"],
        load_cap: None,
        ended_by_sigint: false,
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
    fn the_table_names_every_stage_once_in_order() {
        assert_eq!(numbers(), [1, 2, 3, 4, 5, 6, 7, 8]);
        for facts in &STAGES {
            assert_eq!(facts.package, format!("stage{}", facts.number));
        }
        assert_eq!(facts(9), None);
    }

    #[test]
    fn stage_4_cap_fits_the_timeout_with_the_advised_margin() {
        // Stage 4 at its defaults (2 jobs/s) and at --quick (10 jobs/s), 5 s timeout.
        let cap = facts(4)
            .and_then(|f| f.load_cap)
            .expect("stage 4 is capped");
        assert!(cap.concurrency <= model::concurrency_within_timeout(2.0, 5.0));
        assert!(cap.concurrency <= model::concurrency_within_timeout(10.0, 5.0));
    }
}
