//! `--expect "rejected==0,p99<50ms"`: expectations checked after a run; any unmet one makes
//! the exit code 1, so scripts and CI can assert on a stage's behaviour.
//!
//! A clause is `metric op value`. Metrics: outcome counts (`accepted`, `rejected`, ...,
//! `requests`), their percentages (`rejected%`), latencies of all requests (`p50`, `p90`,
//! `p99`, `p99.9`, `max`, `mean`) or of one class (`accepted.p99`, `rejected.max`), `rps`,
//! `late`, and from the server check `lost`, `ambiguous`, `jobs_per_sec`, `efficiency` (%).
//! Operators: `==`, `!=`, `<`, `<=`, `>`, `>=`. Latencies need a unit (`us`, `µs`, `ms`, `s`).

use crate::check::{CheckReport, Verdict};
use crate::latency::LatencySummary;
use crate::outcome::Outcome;
use crate::run::RunReport;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    fn holds(self, actual: f64, wanted: f64) -> bool {
        match self {
            Op::Eq => actual == wanted,
            Op::Ne => actual != wanted,
            Op::Lt => actual < wanted,
            Op::Le => actual <= wanted,
            Op::Gt => actual > wanted,
            Op::Ge => actual >= wanted,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expectation {
    pub text: String,
    pub metric: String,
    pub op: Op,
    /// In the metric's base unit: µs for latencies, percent for percentages.
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectationResult {
    pub expectation: String,
    pub actual: Option<f64>,
    pub met: bool,
    pub detail: String,
}

const LATENCY_FIELDS: [&str; 6] = ["p50", "p90", "p99", "p99.9", "max", "mean"];

fn is_latency(metric: &str) -> bool {
    let field = match metric.split_once('.') {
        Some((group, field)) if ["accepted", "rejected", "all"].contains(&group) => field,
        _ => metric,
    };
    LATENCY_FIELDS.contains(&field)
}

pub fn parse(spec: &str) -> Result<Vec<Expectation>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|clause| !clause.is_empty())
        .map(parse_clause)
        .collect()
}

fn parse_clause(clause: &str) -> Result<Expectation, String> {
    let op_at = clause
        .find(['<', '>', '=', '!'])
        .ok_or_else(|| format!("{clause:?}: no comparison (use ==, !=, <, <=, >, >=)"))?;
    let metric = clause[..op_at].trim().to_string();
    let rest = &clause[op_at..];
    let (op, value_text) = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .into_iter()
    .find_map(|(symbol, op)| rest.strip_prefix(symbol).map(|v| (op, v.trim())))
    .ok_or_else(|| format!("{clause:?}: unknown comparison (use ==, !=, <, <=, >, >=)"))?;
    if !known_metric(&metric) {
        return Err(format!("{clause:?}: unknown metric {metric:?}"));
    }
    let value = if is_latency(&metric) {
        parse_duration_micros(value_text)
            .ok_or_else(|| format!("{clause:?}: a latency needs a unit, like 50ms, 800us or 2s"))?
    } else {
        let number = value_text.strip_suffix('%').unwrap_or(value_text).trim();
        number
            .parse::<f64>()
            .map_err(|_| format!("{clause:?}: {value_text:?} is not a number"))?
    };
    Ok(Expectation {
        text: clause.to_string(),
        metric,
        op,
        value,
    })
}

fn known_metric(metric: &str) -> bool {
    let plain = [
        "requests",
        "rps",
        "late",
        "lost",
        "ambiguous",
        "jobs_per_sec",
        "efficiency",
    ];
    if plain.contains(&metric) || LATENCY_FIELDS.contains(&metric) {
        return true;
    }
    let class = metric.strip_suffix('%').unwrap_or(metric);
    if Outcome::from_name(class).is_some() {
        return true;
    }
    match metric.split_once('.') {
        Some((group, field)) => {
            ["accepted", "rejected", "all"].contains(&group) && LATENCY_FIELDS.contains(&field)
        }
        None => false,
    }
}

/// `50ms`, `800us`, `800µs`, `2s`, `1.5ms` → microseconds.
pub fn parse_duration_micros(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "us" | "µs" => 1.0,
        "ms" => 1_000.0,
        "s" => 1_000_000.0,
        _ => return None,
    };
    Some(number * scale)
}

fn latency_field(summary: &LatencySummary, field: &str) -> Option<f64> {
    match field {
        "max" => Some(summary.max_micros as f64),
        "mean" => Some(summary.mean_micros),
        label => summary.percentile(label).map(|p| p.micros as f64),
    }
}

/// The value of `metric` in this run, or why there is none.
pub fn actual(metric: &str, run: &RunReport, check: Option<&CheckReport>) -> Result<f64, String> {
    let checked = || {
        check
            .filter(|c| c.verdict != Verdict::Skipped)
            .ok_or_else(|| format!("{metric}: no server check (no /stats)"))
    };
    if LATENCY_FIELDS.contains(&metric) {
        return latency_field(&run.latency.all, metric).ok_or_else(|| metric.to_string());
    }
    match metric {
        "requests" => return Ok(run.requests as f64),
        "rps" => return Ok(run.requests_per_sec),
        "late" => {
            return run
                .late_starts
                .map(|l| l as f64)
                .ok_or_else(|| "late: only measured with --rate".into())
        }
        "lost" => return checked().map(|c| c.lost as f64),
        "ambiguous" => return Ok(run.ledger.ambiguous as f64),
        "jobs_per_sec" => {
            return checked()?
                .measured_jobs_per_sec
                .ok_or_else(|| "jobs_per_sec: not measured".into())
        }
        "efficiency" => {
            return checked()?
                .efficiency_percent
                .ok_or_else(|| "efficiency: not measured (no model bound)".into())
        }
        _ => {}
    }
    if let Some(class) = metric.strip_suffix('%').and_then(Outcome::from_name) {
        return Ok(run.tally.percent(class));
    }
    if let Some(class) = Outcome::from_name(metric) {
        return Ok(run.tally.count(class) as f64);
    }
    if let Some((group, field)) = metric.split_once('.') {
        let summary = match group {
            "accepted" => &run.latency.accepted,
            "rejected" => &run.latency.rejected,
            _ => &run.latency.all,
        };
        return latency_field(summary, field).ok_or_else(|| metric.to_string());
    }
    Err(format!("unknown metric {metric}"))
}

pub fn evaluate(
    expectations: &[Expectation],
    run: &RunReport,
    check: Option<&CheckReport>,
) -> Vec<ExpectationResult> {
    expectations
        .iter()
        .map(|e| match actual(&e.metric, run, check) {
            Ok(value) => ExpectationResult {
                expectation: e.text.clone(),
                actual: Some(value),
                met: e.op.holds(value, e.value),
                detail: if is_latency(&e.metric) {
                    crate::latency::format_micros(value)
                } else {
                    format!("{}", (value * 100.0).round() / 100.0)
                },
            },
            Err(why) => ExpectationResult {
                expectation: e.text.clone(),
                actual: None,
                met: false,
                detail: why,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_latencies_and_percentages() {
        let parsed = parse("rejected==0, p99<50ms,accepted.p99.9<=2s ,rejected%<5%,lost==0")
            .expect("valid spec");
        assert_eq!(parsed.len(), 5);
        assert_eq!(
            (parsed[0].metric.as_str(), parsed[0].op, parsed[0].value),
            ("rejected", Op::Eq, 0.0)
        );
        assert_eq!(
            (parsed[1].metric.as_str(), parsed[1].op, parsed[1].value),
            ("p99", Op::Lt, 50_000.0)
        );
        assert_eq!(
            (parsed[2].metric.as_str(), parsed[2].op, parsed[2].value),
            ("accepted.p99.9", Op::Le, 2_000_000.0)
        );
        assert_eq!(
            (parsed[3].metric.as_str(), parsed[3].value),
            ("rejected%", 5.0)
        );
        assert_eq!(parsed[4].op, Op::Eq);
    }

    #[test]
    fn rejects_bad_clauses_with_a_reason() {
        assert!(parse("p99<50").expect_err("unit missing").contains("unit"));
        assert!(parse("bogus==1")
            .expect_err("unknown")
            .contains("unknown metric"));
        assert!(parse("rejected 0")
            .expect_err("no op")
            .contains("comparison"));
        assert!(parse("rejected=<0").is_err());
        assert!(parse("rejected==x").is_err());
        assert!(parse("").expect("empty is no expectation").is_empty());
    }

    #[test]
    fn durations_convert_to_micros() {
        assert_eq!(parse_duration_micros("800us"), Some(800.0));
        assert_eq!(parse_duration_micros("800µs"), Some(800.0));
        assert_eq!(parse_duration_micros("1.5ms"), Some(1500.0));
        assert_eq!(parse_duration_micros("2s"), Some(2_000_000.0));
        assert_eq!(parse_duration_micros("2h"), None);
        assert_eq!(parse_duration_micros("ms"), None);
    }

    #[test]
    fn evaluation_reads_the_run_and_flags_missing_metrics() {
        use std::time::Duration;
        let mut outcomes = vec![(Outcome::Accepted, Duration::from_millis(10)); 90];
        outcomes.extend(vec![(Outcome::Rejected, Duration::from_millis(1)); 10]);
        let run = RunReport::for_tests(&outcomes);
        let spec = parse("accepted==90,rejected%<=10,accepted.p50<11ms,p99<5ms,lost==0,late==0")
            .expect("valid spec");
        let results = evaluate(&spec, &run, None);
        let met: Vec<bool> = results.iter().map(|r| r.met).collect();
        assert_eq!(met, [true, true, true, false, false, false]);
        assert!(results[4].detail.contains("no server check"));
        assert!(results[5].detail.contains("--rate"));
    }

    #[test]
    fn operators_compare() {
        assert!(Op::Le.holds(1.0, 1.0));
        assert!(!Op::Lt.holds(1.0, 1.0));
        assert!(Op::Ne.holds(1.0, 2.0));
        assert!(Op::Ge.holds(3.0, 2.0));
    }
}
