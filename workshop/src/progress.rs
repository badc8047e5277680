//! The learner's progress, saved in `.workshop-progress.json` at the repository root
//! (git-ignored: it is yours, not the workshop's). `list` reads it instead of re-running
//! every check, which is why it answers at once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file's name at the repository root (listed in `.gitignore`).
pub const PROGRESS_FILE: &str = ".workshop-progress.json";

/// A graded prediction, kept so `list` can show it and the learner can look back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub answer: f64,
    pub measured: f64,
    pub within: bool,
}

/// What the learner has done so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Code exercises whose check passed last time it ran, by id. A check that fails later
    /// removes its id, so the file never claims more than the last verdict.
    #[serde(default)]
    pub passed: Vec<String>,
    /// The last graded prediction of each prediction exercise, by id.
    #[serde(default)]
    pub predicted: BTreeMap<String, Prediction>,
    /// How many hints of each exercise `hint N.K` has shown, so the next call reveals one
    /// more instead of handing over the last hint (often the code) at the first asking.
    #[serde(default)]
    pub hints_seen: BTreeMap<String, usize>,
}

/// An exercise's state, as `list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Passed,
    NotYet,
    Predicted,
    /// A discussion: the answer is in the chapter, nothing to grade.
    Discuss,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Passed => "passed",
            State::NotYet => "not yet",
            State::Predicted => "predicted",
            State::Discuss => "discuss",
        }
    }
}

impl Progress {
    pub fn path(root: &Path) -> PathBuf {
        root.join(PROGRESS_FILE)
    }

    /// The saved progress; a missing file is a fresh start, and a damaged one is too (it
    /// only records verdicts the checks can give again), with a line saying so.
    pub fn load(root: &Path) -> Self {
        let path = Self::path(root);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Self::default();
        };
        serde_json::from_str(&text).unwrap_or_else(|err| {
            // Kept aside, not overwritten by the next save: the learner's record is theirs.
            let kept = path.with_extension("json.damaged");
            if std::fs::rename(&path, &kept).is_ok() {
                eprintln!(
                    "note: {} was damaged ({err}); kept it as {} and started from no progress",
                    path.display(),
                    kept.display()
                );
            }
            Self::default()
        })
    }

    /// Writes the progress; failing to save is reported, never fatal to a verdict. The
    /// file is written beside and renamed into place, so guided mode (which reads it
    /// several times a second) never reads half of what `predict` in another terminal is
    /// writing.
    pub fn save(&self, root: &Path) {
        let path = Self::path(root);
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        let partial = path.with_extension(format!("json.{}", std::process::id()));
        let saved =
            std::fs::write(&partial, text + "\n").and_then(|()| std::fs::rename(&partial, &path));
        if let Err(err) = saved {
            let _ = std::fs::remove_file(&partial);
            eprintln!("note: cannot save progress to {}: {err}", path.display());
        }
    }

    pub fn record_check(&mut self, id: &str, passed: bool) {
        self.passed.retain(|done| done != id);
        if passed {
            self.passed.push(id.to_string());
            self.passed.sort();
        }
    }

    pub fn has_passed(&self, id: &str) -> bool {
        self.passed.iter().any(|done| done == id)
    }

    /// Forgets every verdict of one stage (after `reset`, none of them holds).
    pub fn forget_stage(&mut self, stage: u8) {
        let prefix = format!("{stage}.");
        self.passed.retain(|id| !id.starts_with(&prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_takes_back_an_earlier_pass_and_reset_forgets_a_stage() {
        let mut progress = Progress::default();
        progress.record_check("6.4", true);
        progress.record_check("6.3", true);
        progress.record_check("7.5", true);
        assert!(progress.has_passed("6.4"));
        progress.record_check("6.4", false);
        assert!(!progress.has_passed("6.4"));
        progress.forget_stage(6);
        assert_eq!(progress.passed, vec!["7.5".to_string()]);
    }

    #[test]
    fn progress_survives_a_save_and_a_damaged_file_is_a_fresh_start() {
        let dir = std::env::temp_dir().join(format!("workshop-progress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut progress = Progress::default();
        progress.record_check("1.2", true);
        progress.predicted.insert(
            "5.1".into(),
            Prediction {
                answer: 100.0,
                measured: 102.0,
                within: true,
            },
        );
        progress.save(&dir);
        assert_eq!(Progress::load(&dir), progress);
        std::fs::write(Progress::path(&dir), "{ not json").expect("write");
        assert_eq!(Progress::load(&dir), Progress::default());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
