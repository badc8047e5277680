//! `predict N.K [--answer VALUE]`: predict a number, then measure it on this machine.
//!
//! The learner's answer is graded against the MEASURED value, never a number written in
//! the book, so a slow laptop grades as fairly as a fast one; the exercise's `explain`
//! then walks through the model with the measured terms filled in.

pub mod lab;
pub mod measures;

use crate::manifest::{Exercise, Kind, Manifest, Tolerance};
use crate::progress::{Prediction, Progress};
use crate::repo::Repo;
use crate::{verdict, Outcome, UserError};
use measures::Measurement;
use std::io::{BufRead, Write};

/// A verdict on one prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grade {
    pub within: bool,
    /// How far from the measurement a prediction could be and still pass.
    pub allowed: f64,
}

/// Within max(relative × measured, absolute) of the measured value.
pub fn grade(answer: f64, measured: f64, tolerance: Tolerance) -> Grade {
    let allowed = (tolerance.relative * measured.abs()).max(tolerance.absolute);
    Grade {
        within: (answer - measured).abs() <= allowed,
        allowed,
    }
}

/// A prediction as typed: a finite number, not negative (every measured quantity here is
/// a count, a rate or a time).
pub fn parse_answer(text: &str) -> Result<f64, UserError> {
    let text = text.trim();
    let value: f64 = text.parse().map_err(|_| {
        // A decimal comma is how much of the world writes 2,5.
        let comma = text.contains(',') && text.replace(',', ".").parse::<f64>().is_ok();
        let advice = if comma {
            "write the decimals after a point, e.g. 2.5"
        } else {
            "predict a number such as 120 or 2.5"
        };
        UserError::new(format!("{text:?} is not a number; {advice}"))
    })?;
    if !value.is_finite() {
        return Err(UserError::new("predict a finite number"));
    }
    if value < 0.0 {
        return Err(UserError::new(format!(
            "{value} is negative, and a count, a rate or a time cannot be; predict 0 or more"
        )));
    }
    Ok(value)
}

/// `explain` with each `{name}` replaced by the term of that name.
pub fn fill(explain: &str, measurement: &Measurement) -> String {
    let mut text = explain.replace("{measured}", &format!("{:.1}", measurement.value));
    for (name, value) in &measurement.terms {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

/// `predict N.K [--answer VALUE]`.
pub fn run(repo: &Repo, id: &str, answer: Option<&str>) -> Outcome {
    let manifest = Manifest::load(&repo.root)?;
    let exercise = manifest.find(id)?;
    if exercise.kind != Kind::Prediction {
        return Err(UserError::new(format!(
            "exercise {} is a {} exercise, not a prediction; `cargo run -p workshop -- list` \
             shows the kind of each",
            exercise.id,
            exercise.kind.name()
        )));
    }
    let (measure, tolerance) = prediction_parts(exercise)?;
    // A typed answer is judged before anything is printed or started.
    let given = answer.map(parse_answer).transpose()?;
    // The build must exist before the question is even shown: a learner who has typed
    // a prediction should not then be told to build and type it again.
    let binaries = repo.target_dir()?.join("release");
    let lab = lab::Lab::new(binaries)?;
    let stage = exercise.stage();
    lab.require(stage)?;
    if lab.is_stale(stage, &repo.path(stage.folder)) {
        eprintln!(
            "note: your edits in {} are newer than its release build, which is what gets \
             measured; `cargo build --release -p {}` first to measure your code",
            stage.folder, stage.package
        );
    }
    println!("Exercise {}: {}\n", exercise.id, exercise.title);
    println!(
        "{}",
        crate::commands::wrap(exercise.question.as_deref().unwrap_or(""), 78)
    );
    let answer = match given {
        Some(value) => value,
        None => ask(exercise.unit.as_deref().unwrap_or(""))?,
    };
    let command: Vec<&str> = std::iter::once(stage.package)
        .chain(measure.flags.iter().copied())
        .collect();
    eprintln!("measuring: {} on a free port...", command.join(" "));
    let running = lab.start(stage, measure.flags)?;
    let measured = (measure.run)(&lab, &running);
    running.stop();
    let measurement = measured?;
    let grade = grade(answer, measurement.value, tolerance);
    report(exercise, answer, &measurement, grade);
    let mut progress = Progress::load(&repo.root);
    progress.predicted.insert(
        exercise.id.clone(),
        Prediction {
            answer,
            measured: measurement.value,
            within: grade.within,
        },
    );
    progress.save(&repo.root);
    Ok(verdict(grade.within))
}

/// The measurement row and tolerance of a prediction (the manifest guarantees both keys;
/// the row must also exist in the table).
fn prediction_parts(
    exercise: &Exercise,
) -> Result<(&'static measures::Measure, Tolerance), UserError> {
    let name = exercise.measure.as_deref().unwrap_or("");
    let measure = measures::measure(name).ok_or_else(|| {
        UserError::new(format!(
            "exercise {} names an unknown measurement {name:?}",
            exercise.id
        ))
    })?;
    let tolerance = exercise
        .tolerance
        .ok_or_else(|| UserError::new(format!("exercise {} has no tolerance", exercise.id)))?;
    Ok((measure, tolerance))
}

fn report(exercise: &Exercise, answer: f64, measurement: &Measurement, grade: Grade) {
    let unit = exercise.unit.as_deref().unwrap_or("");
    println!("\nyour prediction: {answer} {unit}");
    println!("measured:        {:.1} {unit}", measurement.value);
    if grade.within {
        println!("✓ within ±{:.1} of the measurement", grade.allowed);
    } else {
        println!(
            "✗ more than ±{:.1} away from the measurement",
            grade.allowed
        );
    }
    let explain = fill(exercise.explain.as_deref().unwrap_or(""), measurement);
    println!(
        "\n{}",
        crate::commands::wrap(&format!("the model: {explain}"), 78)
    );
}

/// Asks for the prediction on the terminal (before anything runs).
fn ask(unit: &str) -> Result<f64, UserError> {
    print!("your prediction ({unit}): ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|err| UserError::new(format!("cannot read your prediction: {err}")))?;
    if read == 0 {
        return Err(UserError::new(
            "no prediction given; type a number, or pass it with --answer VALUE",
        ));
    }
    parse_answer(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOLERANCE: Tolerance = Tolerance {
        relative: 0.25,
        absolute: 5.0,
    };

    #[test]
    fn a_prediction_is_graded_against_the_measured_value() {
        // 25 % of 100 is 25: 80 passes and 70 does not.
        assert!(grade(80.0, 100.0, TOLERANCE).within);
        assert!(!grade(70.0, 100.0, TOLERANCE).within);
        // The same answer on a slower machine that measured 60: now 70 is right.
        assert!(grade(70.0, 60.0, TOLERANCE).within);
        // Small values fall back to the absolute tolerance.
        assert_eq!(
            grade(3.0, 0.0, TOLERANCE),
            Grade {
                within: true,
                allowed: 5.0
            }
        );
        assert!(!grade(6.0, 0.0, TOLERANCE).within);
    }

    #[test]
    fn only_a_non_negative_number_is_a_prediction() {
        assert_eq!(parse_answer(" 101 "), Ok(101.0));
        assert_eq!(parse_answer("2.5"), Ok(2.5));
        for bad in ["banana", "", "-3", "NaN", "inf"] {
            assert!(parse_answer(bad).is_err(), "{bad}");
        }
        let comma = parse_answer("1,5").expect_err("a decimal comma is not parsed");
        assert!(comma.0.contains("after a point"), "{comma:?}");
    }

    #[test]
    fn the_explanation_quotes_the_measured_terms() {
        let measurement = Measurement {
            value: 101.0,
            terms: vec![("capacity", "100".into()), ("model", "2.0".into())],
        };
        assert_eq!(
            fill("{capacity} + 1 at {model}/s = {measured}", &measurement),
            "100 + 1 at 2.0/s = 101.0"
        );
    }

    #[test]
    fn every_prediction_of_the_manifest_names_a_row_of_the_table() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let manifest = Manifest::load(&root).expect("manifest");
        for exercise in manifest
            .exercises
            .iter()
            .filter(|e| e.kind == Kind::Prediction)
        {
            let (measure, _) = prediction_parts(exercise).expect("a known measure");
            assert_eq!(measure.stage, exercise.id().stage, "{}", exercise.id);
        }
    }
}
