//! The rows `compare` runs, planned from its options before anything starts: which stage
//! binary, with which arguments, under which load. Pure data, so it is tested without
//! building or starting a stage: `cargo test -p stress-client compare::plan`.

use super::spec;
use super::stages::{self, StageFacts};
use super::CompareOptions;
use crate::platform::{self, StopMethod};
use serde::Serialize;

use crate::load::at_least_one;
pub use crate::run::{DEFAULT_CONCURRENCY, DEFAULT_REQUESTS};
use std::num::NonZeroUsize;

/// `--quick`'s smaller burst: seconds per row instead of tens of seconds.
pub const QUICK_REQUESTS: NonZeroUsize = at_least_one(2000);
pub const QUICK_CONCURRENCY: NonZeroUsize = at_least_one(100);

/// One row to run: which binary, with which arguments, under which load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowPlan {
    pub label: String,
    pub stage: u8,
    /// Package and binary name, e.g. `stage7`.
    pub package: String,
    /// Arguments after `--addr 127.0.0.1:0`.
    pub args: Vec<String>,
    pub requests: NonZeroUsize,
    pub concurrency: NonZeroUsize,
    /// The swept knob and this row's value.
    pub sweep: Option<SweepPoint>,
    pub notes: Vec<String>,
    /// How the row's stage is stopped: chosen for this OS by [`platform::stop_method`], and
    /// a field so a test on Linux can also take the Windows path.
    #[serde(skip)]
    pub stop_method: StopMethod,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    pub knob: String,
    pub value: String,
}

impl RowPlan {
    /// The exact command line, binary named by its package (the directory is printed once).
    pub fn command_line(&self) -> String {
        let mut words = vec![
            self.package.clone(),
            "--addr".to_string(),
            "127.0.0.1:0".to_string(),
        ];
        words.extend(self.args.iter().cloned());
        words.join(" ")
    }
}

/// A row before the sweep expands it: a stage, or a variant of one.
struct Base {
    stage: u8,
    label: String,
    args: Vec<String>,
}

/// The rows `options` asks for, in order: stages first, then variants, each expanded over
/// the sweep's values.
pub fn plan(options: &CompareOptions) -> Vec<RowPlan> {
    let (requests, concurrency) = load_of(options);
    let points: Vec<Option<SweepPoint>> = match &options.sweep {
        Some(sweep) => sweep
            .values
            .iter()
            .map(|value| {
                Some(SweepPoint {
                    knob: sweep.knob.clone(),
                    value: value.clone(),
                })
            })
            .collect(),
        None => vec![None],
    };
    let mut rows = Vec::new();
    for base in bases(options) {
        let facts = stages::facts(base.stage);
        let quick: Vec<String> = match facts {
            Some(facts) if options.quick => {
                facts.quick_args.iter().map(|s| s.to_string()).collect()
            }
            _ => Vec::new(),
        };
        for point in &points {
            let swept: Vec<String> = match (point, &options.sweep) {
                (Some(point), Some(sweep)) => vec![sweep.flag(), point.value.clone()],
                _ => Vec::new(),
            };
            let mut label = base.label.clone();
            if let Some(point) = point {
                label.push_str(&format!(", {}={}", point.knob, point.value));
            }
            label.push_str(&quick_label(&quick, &base.args, &swept));
            let (row_requests, row_concurrency, notes) = capped_load(facts, requests, concurrency);
            rows.push(RowPlan {
                label,
                stage: base.stage,
                package: facts.map_or("?", StageFacts::package).to_string(),
                args: spec::merge_args(&[&quick, &base.args, &swept]),
                requests: row_requests,
                concurrency: row_concurrency,
                sweep: point.clone(),
                notes,
                stop_method: platform::stop_method(
                    platform::OS,
                    facts.is_some_and(|facts| facts.graceful_shutdown),
                ),
            });
        }
    }
    rows
}

/// The stages and variants to run, before the sweep: the stages asked for (all eight; 7 and
/// 8 for a sweep; none when only variants are given), then the variants.
fn bases(options: &CompareOptions) -> Vec<Base> {
    let numbers = match (&options.stages, &options.sweep) {
        (Some(stages), _) => stages.clone(),
        (None, Some(_)) => vec![7, 8],
        (None, None) if !options.variants.is_empty() => Vec::new(),
        (None, None) => stages::numbers(),
    };
    let mut bases: Vec<Base> = numbers
        .into_iter()
        .map(|stage| Base {
            stage,
            label: format!(
                "{stage} {}",
                stages::facts(stage).map_or("?", StageFacts::short_name)
            ),
            args: Vec::new(),
        })
        .collect();
    bases.extend(options.variants.iter().map(|variant| Base {
        stage: variant.stage,
        label: variant.label.clone(),
        args: variant.args.clone(),
    }));
    bases
}

/// Requests and concurrency of a row, before any stage's cap.
fn load_of(options: &CompareOptions) -> (NonZeroUsize, NonZeroUsize) {
    let (requests, concurrency) = if options.quick {
        (QUICK_REQUESTS, QUICK_CONCURRENCY)
    } else {
        (DEFAULT_REQUESTS, DEFAULT_CONCURRENCY)
    };
    (
        options.requests.unwrap_or(requests),
        options.concurrency.unwrap_or(concurrency),
    )
}

/// The row's load under its stage's cap, with the note that says why it is smaller.
fn capped_load(
    facts: Option<&StageFacts>,
    requests: NonZeroUsize,
    concurrency: NonZeroUsize,
) -> (NonZeroUsize, NonZeroUsize, Vec<String>) {
    let Some((number, cap)) = facts.and_then(|f| f.load_cap.map(|cap| (f.number, cap))) else {
        return (requests, concurrency, Vec::new());
    };
    let small = (requests.min(cap.requests), concurrency.min(cap.concurrency));
    let note = format!(
        "stage {number} gets {} requests at concurrency {}: {}, so the {requests}-request burst would need minutes and mostly time out",
        small.0, small.1, cap.reason
    );
    (small.0, small.1, vec![note])
}

/// " (quick: --capacity 20)": only the quick flags that survived the merge are worth naming,
/// since a variant's or the sweep's own value replaces a quick one.
fn quick_label(quick: &[String], base_args: &[String], swept: &[String]) -> String {
    let shown: Vec<String> = quick
        .iter()
        .enumerate()
        .filter(|(_, word)| word.starts_with("--"))
        .filter(|(_, flag)| !base_args.contains(flag) && swept.first().is_none_or(|s| s != *flag))
        .map(|(index, flag)| {
            let value = quick.get(index + 1).cloned().unwrap_or_default();
            format!("{flag} {value}")
        })
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!(" (quick: {})", shown.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(rows: &[RowPlan]) -> Vec<&str> {
        rows.iter().map(|r| r.label.as_str()).collect()
    }

    #[test]
    fn default_plan_is_eight_stages_with_a_small_stage_4() {
        let rows = plan(&CompareOptions::default());
        assert_eq!(rows.len(), 8);
        assert_eq!(rows[0].label, "1 blocking");
        let stage4 = &rows[3];
        assert_eq!((stage4.requests.get(), stage4.concurrency.get()), (20, 4));
        assert!(!stage4.notes.is_empty());
        assert_eq!(
            (rows[6].requests.get(), rows[6].concurrency.get()),
            (5000, 200)
        );
        assert_eq!(rows[6].command_line(), "stage7 --addr 127.0.0.1:0");
    }

    #[test]
    fn quick_plan_shrinks_load_and_slow_queues_in_plain_sight() {
        let rows = plan(&CompareOptions {
            quick: true,
            ..CompareOptions::default()
        });
        assert_eq!(rows[0].requests, QUICK_REQUESTS);
        let stage5 = &rows[4];
        assert_eq!(
            stage5.args,
            ["--capacity", "20", "--work-ms", "100"].map(String::from)
        );
        assert!(stage5.label.contains("quick: --capacity 20 --work-ms 100"));
        assert!(stage5
            .command_line()
            .ends_with("--capacity 20 --work-ms 100"));
    }

    #[test]
    fn sweep_defaults_to_stages_7_and_8_and_overrides_quick_flags() {
        let rows = plan(&CompareOptions {
            quick: true,
            sweep: Some(spec::parse_sweep("capacity=5,10").expect("valid sweep")),
            ..CompareOptions::default()
        });
        assert_eq!(
            labels(&rows),
            [
                "7 contention, capacity=5",
                "7 contention, capacity=10",
                "8 sharding, capacity=5",
                "8 sharding, capacity=10"
            ]
        );
        assert_eq!(rows[1].args, ["--capacity", "10"].map(String::from));
    }

    #[test]
    fn variants_alone_replace_the_default_stages() {
        let variant = spec::parse_variant("8 lock only: --capacity 100 --work-ms 100 --hold-ms 10")
            .expect("valid variant");
        let rows = plan(&CompareOptions {
            variants: vec![variant.clone()],
            ..CompareOptions::default()
        });
        assert_eq!(labels(&rows), ["8 lock only"]);
        let rows = plan(&CompareOptions {
            stages: Some(vec![7]),
            variants: vec![variant],
            requests: Some(at_least_one(300)),
            ..CompareOptions::default()
        });
        assert_eq!(labels(&rows), ["7 contention", "8 lock only"]);
        assert!(rows.iter().all(|r| r.requests.get() == 300));
    }
}
