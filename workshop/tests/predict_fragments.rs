//! The prediction exercises as the manifest and the book write them agree with the
//! measurement table: every prediction of `workshop/exercises.toml` names a row of its own
//! stage, every `{name}` its explanation quotes is a term that row reports, and its
//! subsection of the chapter carries the heading, the command, the tolerance and collapsed
//! hints and explanation.
//!
//! Run: `cargo test -p workshop --test predict_fragments`

use std::path::{Path, PathBuf};
use workshop::manifest::{Exercise, Kind, Manifest};
use workshop::predict::measures;

fn workshop_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn predictions() -> Vec<Exercise> {
    let root = workshop_dir().join("..");
    let manifest = Manifest::load(&root).unwrap_or_else(|err| panic!("{}", err.0));
    manifest
        .exercises
        .into_iter()
        .filter(|exercise| exercise.kind == Kind::Prediction)
        .collect()
}

/// The exercise's subsection of its chapter: from its heading to the next heading.
fn text_of(exercise: &Exercise) -> (PathBuf, String) {
    let path = workshop_dir().join("..").join(exercise.chapter());
    let chapter =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let heading = exercise.heading();
    let start = chapter
        .find(&format!("{heading}\n"))
        .unwrap_or_else(|| panic!("{}: no heading {heading:?}", path.display()));
    let rest = &chapter[start..];
    let end = rest[1..].find("\n#").map_or(rest.len(), |at| at + 2);
    (path, rest[..end].to_string())
}

/// The `{name}` placeholders of an explanation.
fn placeholders(explain: &str) -> Vec<&str> {
    explain
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect()
}

#[test]
fn placeholders_are_read_between_braces() {
    assert_eq!(
        placeholders("{a} + 1 = {measured}, {b"),
        vec!["a", "measured"]
    );
}

#[test]
fn there_are_at_least_eight_predictions_and_each_names_a_row_of_its_stage() {
    let predictions = predictions();
    assert!(predictions.len() >= 8, "{}", predictions.len());
    for exercise in &predictions {
        assert_eq!(exercise.kind, Kind::Prediction, "{}", exercise.id);
        let name = exercise.measure.as_deref().unwrap_or("");
        let row =
            measures::measure(name).unwrap_or_else(|| panic!("{}: no row {name:?}", exercise.id));
        assert_eq!(row.stage, exercise.id().stage, "{}", exercise.id);
        assert!(exercise.hints.len() >= 2, "{}: two hints", exercise.id);
    }
}

#[test]
fn every_placeholder_of_an_explanation_is_a_term_its_row_reports() {
    for exercise in predictions() {
        let row = measures::measure(exercise.measure.as_deref().unwrap_or("")).expect("row");
        let explain = exercise.explain.as_deref().unwrap_or("");
        assert!(explain.contains("{measured}"), "{}", exercise.id);
        for name in placeholders(explain) {
            assert!(
                name == "measured" || row.terms.contains(&name),
                "exercise {}: {{{name}}} is not a term of {}",
                exercise.id,
                row.name
            );
        }
    }
}

#[test]
fn every_question_states_its_tolerance() {
    for exercise in predictions() {
        let question = exercise.question.as_deref().unwrap_or("");
        assert!(
            question.contains("(Graded within"),
            "exercise {}: the question does not say how close is close enough",
            exercise.id
        );
    }
}

#[test]
fn each_prediction_has_its_book_subsection() {
    for exercise in predictions() {
        let (path, text) = text_of(&exercise);
        let shown = path.display();
        assert_eq!(
            text.lines().next(),
            Some(exercise.heading().as_str()),
            "{shown}: the first line is the manifest's heading"
        );
        assert_eq!(
            text.matches("\n### ").count(),
            0,
            "{shown}: one subsection only"
        );
        let command = format!("`cargo run -p workshop -- predict {}`", exercise.id);
        assert!(text.contains(&command), "{shown}: no {command}");
        let (before_command, _) = text.split_once(&command).expect("found above");
        assert!(
            !before_command.contains("<details>"),
            "{shown}: the question comes before anything is revealed"
        );
        assert!(text.contains("Graded within"), "{shown}: no tolerance");
        assert!(
            text.matches("<details>").count() >= 2,
            "{shown}: hints and the explanation are collapsed"
        );
        assert_eq!(
            text.matches("<details>").count(),
            text.matches("</details>").count(),
            "{shown}: every <details> is closed"
        );
        let last = text.rfind("<details>").expect("counted above");
        assert!(
            text[last..].contains("The model"),
            "{shown}: the last <details> explains the model"
        );
    }
}

/// Outside code, mdBook's smart punctuation turns `--flag` into an en dash, so a command
/// copied from the page would break.
#[test]
fn every_flag_in_the_book_text_is_inside_code() {
    for exercise in predictions() {
        let (path, text) = text_of(&exercise);
        let mut in_block = false;
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_block = !in_block;
                continue;
            }
            if in_block {
                continue;
            }
            let outside_spans: String = line.split('`').step_by(2).collect();
            assert!(
                !outside_spans.contains("--"),
                "{}:{}: `--` outside a code span: {line}",
                path.display(),
                number + 1
            );
        }
    }
}
