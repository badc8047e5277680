//! The exercise manifest, `workshop/exercises.toml`: what each exercise is, where its check,
//! solution and chapter are. Parsed once per command; `dev check` holds the book, the
//! tests and the patches to it.

use crate::UserError;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use stress_client::catalogue::{self, Stage};

/// Where the manifest lives, relative to the repository root.
pub const MANIFEST_PATH: &str = "workshop/exercises.toml";

/// The three kinds of exercise (the book's exercise sections say which one each is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Code,
    Prediction,
    Discussion,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Code => "code",
            Kind::Prediction => "prediction",
            Kind::Discussion => "discussion",
        }
    }
}

/// How close a prediction must be: within max(relative × measured, absolute). Either may
/// be left out (zero): a sleep-timed answer needs only an absolute margin.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    #[serde(default)]
    pub relative: f64,
    #[serde(default)]
    pub absolute: f64,
}

/// One `[[exercise]]` entry, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    pub id: String,
    pub kind: Kind,
    pub title: String,
    #[serde(default)]
    pub minutes: Option<u32>,
    #[serde(default)]
    pub edit: Vec<String>,
    #[serde(default)]
    pub check: Option<String>,
    /// A code exercise that builds on an earlier one of its stage: its check and solution
    /// start from that exercise's solution, not from the stage's starting code.
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub hints: Vec<String>,
    #[serde(default)]
    pub question: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub measure: Option<String>,
    #[serde(default)]
    pub tolerance: Option<Tolerance>,
    #[serde(default)]
    pub explain: Option<String>,
}

/// The two numbers of an id `N.K`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExerciseId {
    pub stage: u8,
    pub number: u32,
}

impl std::fmt::Display for ExerciseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.stage, self.number)
    }
}

impl ExerciseId {
    /// Parses `N.K`; the reason on failure is a sentence for the command line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not an exercise id; write it as N.K, e.g. 6.4");
        let (stage, number) = text.trim().split_once('.').ok_or_else(bad)?;
        let stage = stage.parse().map_err(|_| bad())?;
        let number = number.parse().map_err(|_| bad())?;
        Ok(Self { stage, number })
    }
}

impl Exercise {
    /// The parsed id; `Manifest::parse` has already rejected an entry where this fails.
    pub fn id(&self) -> ExerciseId {
        ExerciseId::parse(&self.id).unwrap_or(ExerciseId {
            stage: 0,
            number: 0,
        })
    }

    /// The stage the exercise belongs to (validated at parse time).
    pub fn stage(&self) -> &'static Stage {
        catalogue::stage(self.id().stage).unwrap_or(&catalogue::STAGES[0])
    }

    /// `docs/src/<folder>.md`, the chapter with the exercise's heading.
    pub fn chapter(&self) -> PathBuf {
        Path::new("docs/src").join(format!("{}.md", self.stage().folder))
    }

    /// The book heading the exercise must have, word for word.
    pub fn heading(&self) -> String {
        format!("### Exercise {}: {}", self.id, self.title)
    }

    /// `solutions/<folder>/exercise_<K>.patch`, relative to the root (code exercises).
    pub fn solution(&self) -> PathBuf {
        Path::new("solutions")
            .join(self.stage().folder)
            .join(format!("exercise_{}.patch", self.id().number))
    }

    /// The text of the `#[ignore]` attribute above the check.
    pub fn ignore_reason(&self) -> String {
        format!("exercise {}: {}", self.id, self.title)
    }
}

/// Every exercise, in manifest order (stage by stage, then by number).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub exercises: Vec<Exercise>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    exercise: Vec<Exercise>,
}

impl Manifest {
    /// Reads `workshop/exercises.toml` under `root`.
    pub fn load(root: &Path) -> Result<Self, UserError> {
        let path = root.join(MANIFEST_PATH);
        let text = std::fs::read_to_string(&path).map_err(|err| {
            UserError::new(format!(
                "cannot read {}: {err}; run the runner from the workshop's repository",
                path.display()
            ))
        })?;
        Self::parse(&text).map_err(|err| UserError::new(format!("{MANIFEST_PATH}: {err}")))
    }

    /// Parses and validates the manifest text: every rule a later command relies on
    /// (ids that parse and name a stage, the keys each kind needs) is checked here once.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|err| err.to_string())?;
        let mut seen = std::collections::HashSet::new();
        for exercise in &file.exercise {
            let id = ExerciseId::parse(&exercise.id)?;
            if catalogue::stage(id.stage).is_none() {
                return Err(format!(
                    "exercise {}: there is no stage {}",
                    exercise.id, id.stage
                ));
            }
            if id.to_string() != exercise.id {
                return Err(format!("exercise {:?}: write the id as {id}", exercise.id));
            }
            if !seen.insert(id) {
                return Err(format!("exercise {} is listed twice", exercise.id));
            }
            validate_kind(exercise)?;
        }
        let manifest = Self {
            exercises: file.exercise,
        };
        for exercise in &manifest.exercises {
            manifest.validate_after(exercise)?;
        }
        Ok(manifest)
    }

    /// `after` names an earlier code exercise of the same stage, so a chain of solutions
    /// can always be applied in id order.
    fn validate_after(&self, exercise: &Exercise) -> Result<(), String> {
        let Some(after) = exercise.after.as_deref() else {
            return Ok(());
        };
        let bad = |why: &str| format!("exercise {}: after = {after:?} {why}", exercise.id);
        let earlier = ExerciseId::parse(after).map_err(|_| bad("is not an id"))?;
        let before = self
            .exercises
            .iter()
            .find(|e| e.id() == earlier)
            .ok_or_else(|| bad("names no exercise"))?;
        if exercise.kind != Kind::Code || before.kind != Kind::Code {
            return Err(bad("must join two code exercises"));
        }
        if earlier.stage != exercise.id().stage || earlier >= exercise.id() {
            return Err(bad("must name an earlier exercise of the same stage"));
        }
        Ok(())
    }

    /// The solutions an exercise's check starts from, first to last: `after`'s own chain.
    pub fn prerequisites<'a>(&'a self, exercise: &'a Exercise) -> Vec<&'a Exercise> {
        let mut chain = Vec::new();
        let mut current = exercise;
        while let Some(after) = current.after.as_deref() {
            match self.find(after) {
                Ok(before) => {
                    chain.push(before);
                    current = before;
                }
                Err(_) => break,
            }
        }
        chain.reverse();
        chain
    }

    /// The exercise `text` names, or a sentence saying why there is none.
    pub fn find(&self, text: &str) -> Result<&Exercise, UserError> {
        let id = ExerciseId::parse(text).map_err(UserError::new)?;
        self.exercises
            .iter()
            .find(|exercise| exercise.id() == id)
            .ok_or_else(|| {
                UserError::new(format!(
                    "there is no exercise {id}; `cargo run -p workshop -- list` shows them all"
                ))
            })
    }

    /// The exercises of one stage, in order.
    pub fn of_stage(&self, stage: u8) -> impl Iterator<Item = &Exercise> {
        self.exercises.iter().filter(move |e| e.id().stage == stage)
    }
}

/// The keys each kind needs, present and non-empty; the keys of other kinds, absent.
fn validate_kind(exercise: &Exercise) -> Result<(), String> {
    let id = &exercise.id;
    let code_keys = !exercise.edit.is_empty() || exercise.check.is_some();
    let prediction_keys = exercise.question.is_some()
        || exercise.unit.is_some()
        || exercise.measure.is_some()
        || exercise.tolerance.is_some()
        || exercise.explain.is_some();
    match exercise.kind {
        Kind::Code => {
            if exercise.edit.is_empty() || exercise.check.is_none() {
                return Err(format!(
                    "exercise {id}: a code exercise needs `edit` and `check`"
                ));
            }
            if prediction_keys {
                return Err(format!(
                    "exercise {id}: only a prediction has question/unit/measure/tolerance/explain"
                ));
            }
        }
        Kind::Prediction => {
            let missing = [
                ("question", exercise.question.is_none()),
                ("unit", exercise.unit.is_none()),
                ("measure", exercise.measure.is_none()),
                ("tolerance", exercise.tolerance.is_none()),
                ("explain", exercise.explain.is_none()),
            ];
            if let Some((key, _)) = missing.iter().find(|(_, absent)| *absent) {
                return Err(format!("exercise {id}: a prediction needs `{key}`"));
            }
            if let Some(t) = exercise.tolerance {
                if !(t.relative >= 0.0 && t.absolute >= 0.0) {
                    return Err(format!("exercise {id}: a tolerance cannot be negative"));
                }
            }
            if code_keys {
                return Err(format!(
                    "exercise {id}: only a code exercise has edit/check"
                ));
            }
        }
        Kind::Discussion => {
            if code_keys || prediction_keys {
                return Err(format!(
                    "exercise {id}: a discussion has only id, kind, title, minutes and hints"
                ));
            }
        }
    }
    Ok(())
}

/// The stage a command-line argument names (`6`), or why it names none.
pub fn parse_stage(text: &str) -> Result<&'static Stage, UserError> {
    text.trim()
        .parse::<u8>()
        .ok()
        .and_then(catalogue::stage)
        .ok_or_else(|| {
            UserError::new(format!(
                "{text:?} is not a stage; the stages are numbered 1 to {}",
                catalogue::STAGES.len()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = r#"
[[exercise]]
id = "6.4"
kind = "code"
title = "Keep each user's events in order"
edit = ["stage6-workers/src/lib.rs"]
check = "exercise_4_per_user_order"
hints = ["one", "two"]
"#;

    /// 6.5 builds on 6.4, with `extra` appended to 6.5's entry.
    fn chained(extra: &str) -> String {
        format!(
            "{CODE}\n[[exercise]]\nid = \"6.5\"\nkind = \"code\"\ntitle = \"t\"\n\
             edit = [\"x\"]\ncheck = \"exercise_5_x\"\n{extra}\n"
        )
    }

    #[test]
    fn after_chains_code_exercises_of_one_stage_in_order() {
        let manifest = Manifest::parse(&chained("after = \"6.4\"")).expect("valid");
        let second = manifest.find("6.5").expect("listed");
        let chain: Vec<&str> = manifest
            .prerequisites(second)
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(chain, ["6.4"]);
        for wrong in ["after = \"6.9\"", "after = \"6.5\"", "after = \"5.1\""] {
            assert!(Manifest::parse(&chained(wrong)).is_err(), "{wrong}");
        }
    }

    #[test]
    fn a_code_exercise_derives_its_paths_from_the_catalogue() {
        let manifest = Manifest::parse(CODE).expect("valid");
        let exercise = manifest.find("6.4").expect("listed");
        assert_eq!(exercise.stage().package, "stage6");
        assert_eq!(
            exercise.solution(),
            Path::new("solutions/stage6-workers/exercise_4.patch")
        );
        assert_eq!(exercise.chapter(), Path::new("docs/src/stage6-workers.md"));
        assert_eq!(
            exercise.heading(),
            "### Exercise 6.4: Keep each user's events in order"
        );
        assert!(manifest.find("6.5").is_err());
        assert!(manifest.find("banana").is_err());
    }

    #[test]
    fn bad_entries_are_refused_with_the_reason() {
        let cases = [
            (CODE.replace("6.4", "9.4"), "no stage 9"),
            (format!("{CODE}{CODE}"), "listed twice"),
            (
                CODE.replace("check = ", "# check = "),
                "needs `edit` and `check`",
            ),
            (
                CODE.replace("\"code\"", "\"prediction\""),
                "needs `question`",
            ),
            (CODE.replace("\"code\"", "\"quiz\""), "unknown variant"),
            (CODE.replace("hints", "hint"), "unknown field"),
            (CODE.replace("6.4", "06.4"), "write the id as 6.4"),
        ];
        for (text, reason) in cases {
            let err = Manifest::parse(&text).expect_err(reason);
            assert!(err.contains(reason), "{err:?} should say {reason:?}");
        }
    }

    #[test]
    fn ids_parse_only_as_stage_dot_number() {
        assert_eq!(
            ExerciseId::parse("7.12"),
            Ok(ExerciseId {
                stage: 7,
                number: 12
            })
        );
        for bad in ["3", "banana", "1.", ".2", "1.2.3", "-1.2"] {
            assert!(ExerciseId::parse(bad).is_err(), "{bad}");
        }
        assert!(parse_stage("0").is_err());
        assert!(parse_stage("9").is_err());
        assert_eq!(parse_stage("8").map(|s| s.number), Ok(8));
    }

    #[test]
    fn the_repository_manifest_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let manifest = Manifest::load(&root).expect("the shipped manifest is valid");
        assert!(manifest.exercises.len() >= 40);
        let predictions = manifest
            .exercises
            .iter()
            .filter(|e| e.kind == Kind::Prediction)
            .count();
        assert!(predictions >= 2);
    }
}
