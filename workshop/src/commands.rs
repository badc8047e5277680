//! The one-shot subcommands: `list`, `check`, `hint`, `solution`, `reset`.

use crate::checks::{self, CheckOptions};
use crate::manifest::{parse_stage, Exercise, Kind, Manifest};
use crate::progress::{Progress, State};
use crate::repo::{run, Repo};
use crate::{verdict, Outcome, UserError};
use std::io::{BufRead, IsTerminal, Write};
use stress_client::catalogue;

/// An exercise's state from the saved progress.
pub fn state_of(exercise: &Exercise, progress: &Progress) -> State {
    match exercise.kind {
        Kind::Code if progress.has_passed(&exercise.id) => State::Passed,
        Kind::Code => State::NotYet,
        Kind::Prediction if progress.predicted.contains_key(&exercise.id) => State::Predicted,
        Kind::Prediction => State::NotYet,
        Kind::Discussion => State::Discuss,
    }
}

/// The `list --json` document: one object per exercise; the keys are a stable interface.
pub fn list_json(exercises: &[&Exercise], progress: &Progress) -> serde_json::Value {
    let items: Vec<_> = exercises
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id,
                "stage": e.id().stage,
                "title": e.title,
                "kind": e.kind.name(),
                "state": state_of(e, progress).name(),
                "minutes": e.minutes,
            })
        })
        .collect();
    serde_json::Value::Array(items)
}

/// The title column of `list`: what is left of 80 columns beside the id, kind and state.
const TITLE_COLUMNS: usize = 46;

/// `text` in at most `width` characters; a cut title ends in "…", so it never reads as a
/// whole one ("after the lock is relea").
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{}…", kept.trim_end())
}

/// The `list` table: one line per exercise, at most 80 columns, then the counts.
pub fn list_table(exercises: &[&Exercise], progress: &Progress) -> String {
    let mut out = String::new();
    let mut stage = 0;
    for e in exercises {
        if e.id().stage != stage {
            stage = e.id().stage;
            out.push_str(&format!("\nStage {stage} · {}\n", e.stage().folder));
        }
        let mark = match state_of(e, progress) {
            State::Passed | State::Predicted => "✓",
            State::NotYet => "·",
            State::Discuss => " ",
        };
        let title = fit(&e.title, TITLE_COLUMNS);
        out.push_str(&format!(
            "  {mark} {:<5} {title:<width$} {:<10} {}\n",
            e.id,
            e.kind.name(),
            state_of(e, progress).name(),
            width = TITLE_COLUMNS
        ));
    }
    let graded = |kind| exercises.iter().filter(|e| e.kind == kind).count();
    let done = exercises
        .iter()
        .filter(|e| matches!(state_of(e, progress), State::Passed | State::Predicted))
        .count();
    out.push_str(&format!(
        "\n{done} of {} graded exercises done ({} code, {} predictions; {} to discuss).\n",
        graded(Kind::Code) + graded(Kind::Prediction),
        graded(Kind::Code),
        graded(Kind::Prediction),
        graded(Kind::Discussion)
    ));
    out
}

/// `list [STAGE] [--json] [--verify]`.
pub fn list(repo: &Repo, stage: Option<&str>, json: bool, verify: bool) -> Outcome {
    let manifest = Manifest::load(&repo.root)?;
    let stage = stage.map(parse_stage).transpose()?;
    let exercises: Vec<&Exercise> = manifest
        .exercises
        .iter()
        .filter(|e| stage.is_none_or(|s| e.id().stage == s.number))
        .collect();
    if verify {
        let code: Vec<&Exercise> = exercises
            .iter()
            .copied()
            .filter(|e| e.kind == Kind::Code)
            .collect();
        run_checks(repo, &code, false)?;
    }
    let progress = Progress::load(&repo.root);
    if json {
        println!("{:#}", list_json(&exercises, &progress));
    } else {
        print!("{}", list_table(&exercises, &progress));
    }
    Ok(verdict(true))
}

/// Which exercises `check` means: `N.K`, a stage `N`, or `all` (code exercises only).
pub fn select<'m>(manifest: &'m Manifest, what: &str) -> Result<Vec<&'m Exercise>, UserError> {
    let selected: Vec<&Exercise> = if what == "all" {
        manifest
            .exercises
            .iter()
            .filter(|e| e.kind == Kind::Code)
            .collect()
    } else if what.contains('.') {
        let exercise = manifest.find(what)?;
        if exercise.kind != Kind::Code {
            return Err(UserError::new(format!(
                "exercise {} is a {} exercise, there is nothing to check{}",
                exercise.id,
                exercise.kind.name(),
                match exercise.kind {
                    Kind::Prediction =>
                        format!("; run `cargo run -p workshop -- predict {}`", exercise.id),
                    _ => String::from("; its answer is in the chapter"),
                }
            )));
        }
        vec![exercise]
    } else {
        let stage = parse_stage(what)?;
        manifest
            .of_stage(stage.number)
            .filter(|e| e.kind == Kind::Code)
            .collect()
    };
    if selected.is_empty() {
        return Err(UserError::new(format!(
            "stage {what} has no checked exercises"
        )));
    }
    Ok(selected)
}

/// Runs the checks, prints a verdict each, saves progress; true when all passed.
pub fn run_checks(repo: &Repo, exercises: &[&Exercise], quiet: bool) -> Result<bool, UserError> {
    let mut progress = Progress::load(&repo.root);
    let mut all = true;
    for stage in &catalogue::STAGES {
        let of_stage: Vec<&Exercise> = exercises
            .iter()
            .copied()
            .filter(|e| e.id().stage == stage.number)
            .collect();
        if of_stage.is_empty() {
            continue;
        }
        if !quiet {
            eprintln!(
                "checking stage {} ({} check(s))...",
                stage.number,
                of_stage.len()
            );
        }
        let verdicts = checks::run_stage(repo, stage, &of_stage, &CheckOptions::default())?;
        for (exercise, verdict) in of_stage.iter().zip(&verdicts) {
            if !quiet {
                println!("{}", verdict.describe(&exercise.id));
            }
            progress.record_check(&exercise.id, verdict.passed());
            all &= verdict.passed();
        }
    }
    progress.save(&repo.root);
    Ok(all)
}

/// `check N.K | N | all`.
pub fn check(repo: &Repo, what: &str) -> Outcome {
    let manifest = Manifest::load(&repo.root)?;
    let selected = select(&manifest, what)?;
    Ok(verdict(run_checks(repo, &selected, false)?))
}

/// `hint N.K`: every hint, in order.
pub fn hint(repo: &Repo, id: &str, all: bool) -> Outcome {
    let manifest = Manifest::load(&repo.root)?;
    let exercise = manifest.find(id)?;
    let total = exercise.hints.len();
    if total == 0 {
        println!(
            "exercise {} has no hints; the chapter {} explains it",
            exercise.id,
            exercise.chapter().display()
        );
        return Ok(verdict(true));
    }
    let mut progress = Progress::load(&repo.root);
    let seen = progress.hints_seen.get(&exercise.id).copied().unwrap_or(0);
    let shown = if all {
        total
    } else {
        hints_to_show(seen, total)
    };
    for (number, hint) in exercise.hints.iter().take(shown).enumerate() {
        println!("Hint {} of {total}:\n{}\n", number + 1, wrap(hint, 78));
    }
    if shown < total {
        println!(
            "Try it with this one first; `cargo run -p workshop -- hint {}` again shows the \
             next hint.",
            exercise.id
        );
    }
    if !all && shown > seen {
        progress.hints_seen.insert(exercise.id.clone(), shown);
        progress.save(&repo.root);
    }
    Ok(verdict(true))
}

/// How many hints `hint` shows when `seen` were shown before: one more each time, up to
/// all of them (the first hint is the idea, the last is often the code).
pub fn hints_to_show(seen: usize, total: usize) -> usize {
    (seen + 1).min(total)
}

/// `solution N.K [--apply]`.
pub fn solution(repo: &Repo, id: &str, apply: bool) -> Outcome {
    let manifest = Manifest::load(&repo.root)?;
    let exercise = manifest.find(id)?;
    if exercise.kind != Kind::Code {
        return Err(UserError::new(format!(
            "exercise {} is a {} exercise: its answer is in the chapter's <details>",
            exercise.id,
            exercise.kind.name()
        )));
    }
    let patch = repo.path(exercise.solution());
    let text = std::fs::read_to_string(&patch)
        .map_err(|err| UserError::new(format!("cannot read {}: {err}", patch.display())))?;
    if !apply {
        print!("{text}");
        return Ok(verdict(true));
    }
    let folder = exercise.stage().folder;
    let relative = exercise.solution();
    let relative = relative.to_string_lossy();
    let checked = run(repo.git().args(["apply", "--check", &relative]))?;
    if !checked.status.success() {
        // A patch that applies in reverse is already in place (`--apply` run twice): that
        // is not a conflict, and telling the learner to reset would throw their work away.
        let reverse = run(repo
            .git()
            .args(["apply", "--reverse", "--check", &relative]))?;
        if reverse.status.success() {
            println!(
                "the solution of {} is already applied to your {folder}; `cargo run -p \
                 workshop -- check {}` tells you whether it passes",
                exercise.id, exercise.id
            );
            return Ok(verdict(true));
        }
        if let Some(after) = exercise.after.as_deref() {
            return Err(UserError::new(format!(
                "the solution does not apply to your {folder}: exercise {} builds on \
                 exercise {after}, so solve {after} first (or apply its solution with \
                 `cargo run -p workshop -- solution {after} --apply`)",
                exercise.id
            )));
        }
        return Err(UserError::new(format!(
            "the solution does not apply to your {folder}: your edits overlap it. Run \
             `cargo run -p workshop -- reset {}` first (it discards your changes), or read it \
             with `cargo run -p workshop -- solution {}` and apply it by hand",
            exercise.id().stage,
            exercise.id
        )));
    }
    let applied = run(repo.git().args(["apply", &relative]))?;
    if !applied.status.success() {
        return Err(UserError::new(format!(
            "git apply failed: {}",
            crate::repo::first_line(&String::from_utf8_lossy(&applied.stderr))
        )));
    }
    println!(
        "applied {relative}; `cargo run -p workshop -- check {}` should pass now",
        exercise.id
    );
    Ok(verdict(true))
}

/// `reset N [--yes]`: the stage folder back to its committed state.
pub fn reset(repo: &Repo, stage: &str, yes: bool) -> Outcome {
    let stage = parse_stage(stage)?;
    let folder = stage.folder;
    if !repo.is_git_checkout() {
        return Err(UserError::new(format!(
            "reset needs a git checkout and this folder is not one (a zip download?): \
             download {folder} again, or clone the workshop with git to get reset"
        )));
    }
    let status = run(repo.git().args(["status", "--porcelain", "--", folder]))?;
    let changed = String::from_utf8_lossy(&status.stdout).into_owned();
    if changed.trim().is_empty() {
        println!("{folder} is already as committed; nothing to reset");
        return Ok(verdict(true));
    }
    if !yes && !confirm(folder, &changed)? {
        println!("left {folder} as it is");
        return Ok(verdict(true));
    }
    // New files are removed only once the edits are gone: a reset that half failed must
    // not delete the learner's new files and leave their edits.
    let restored = run(repo.git().args(["checkout", "HEAD", "--", folder]))?;
    let failed = |output: &std::process::Output| {
        UserError::new(format!(
            "git could not reset {folder}: {}",
            crate::repo::first_line(&String::from_utf8_lossy(&output.stderr))
        ))
    };
    if !restored.status.success() {
        return Err(failed(&restored));
    }
    let cleaned = run(repo.git().args(["clean", "-fdq", "--", folder]))?;
    if !cleaned.status.success() {
        return Err(failed(&cleaned));
    }
    let mut progress = Progress::load(&repo.root);
    progress.forget_stage(stage.number);
    progress.save(&repo.root);
    println!("{folder} is back to its committed state (new files removed)");
    Ok(verdict(true))
}

/// Asks before discarding; without a terminal to ask on, refuses and names `--yes`.
fn confirm(folder: &str, changed: &str) -> Result<bool, UserError> {
    if !std::io::stdin().is_terminal() {
        return Err(UserError::new(format!(
            "{folder} has changes and there is no terminal to ask on; run again with --yes \
             to discard them"
        )));
    }
    print!("These changes in {folder} will be lost:\n{changed}Discard them? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|err| UserError::new(format!("cannot read the answer: {err}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Wraps text at `width` columns, on spaces (the hints are single long lines).
pub fn wrap(text: &str, width: usize) -> String {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        Manifest::load(&root).expect("manifest")
    }

    #[test]
    fn the_table_fits_80_columns_and_counts_what_was_done() {
        let manifest = manifest();
        let all: Vec<&Exercise> = manifest.exercises.iter().collect();
        let mut progress = Progress::default();
        progress.record_check("1.2", true);
        let table = list_table(&all, &progress);
        for line in table.lines() {
            assert!(line.chars().count() <= 80, "{line:?}");
        }
        assert!(table.contains("1 of "), "{table}");
        assert!(table
            .lines()
            .any(|l| l.contains("1.2") && l.contains("passed")));
    }

    #[test]
    fn a_title_too_long_for_its_column_is_cut_with_an_ellipsis() {
        assert_eq!(
            fit("Keep each user's events in order", 46),
            "Keep each user's events in order"
        );
        let cut = fit("Write the audit record after the lock is released", 46);
        assert_eq!(cut, "Write the audit record after the lock is rele…");
        assert_eq!(cut.chars().count(), 46);
        assert_eq!(fit("one two", 5), "one…");
        // In the table: a long title still fits 80 columns and says it was cut.
        let long = Exercise {
            title: "A".repeat(60),
            ..manifest().exercises[0].clone()
        };
        let table = list_table(&[&long], &Progress::default());
        let row = table.lines().find(|l| l.contains("AAA")).expect("the row");
        assert!(row.contains("A…"), "{row}");
        assert!(row.chars().count() <= 80, "{row}");
    }

    #[test]
    fn each_hint_call_reveals_one_more_hint() {
        assert_eq!(hints_to_show(0, 2), 1);
        assert_eq!(hints_to_show(1, 2), 2);
        assert_eq!(hints_to_show(2, 2), 2);
        assert_eq!(hints_to_show(0, 1), 1);
    }

    #[test]
    fn json_items_carry_the_stable_keys() {
        let manifest = manifest();
        let all: Vec<&Exercise> = manifest.exercises.iter().collect();
        let mut progress = Progress::default();
        progress.predicted.insert(
            "5.1".into(),
            crate::progress::Prediction {
                answer: 1.0,
                measured: 1.0,
                within: true,
            },
        );
        let json = list_json(&all, &progress);
        let items = json.as_array().expect("a list");
        assert_eq!(items.len(), manifest.exercises.len());
        let item = items.iter().find(|i| i["id"] == "5.1").expect("5.1");
        assert_eq!(item["stage"], 5);
        assert_eq!(item["kind"], "prediction");
        assert_eq!(item["state"], "predicted");
        assert!(item["title"].is_string());
    }

    #[test]
    fn check_selects_code_exercises_and_refuses_the_rest() {
        let manifest = manifest();
        assert_eq!(select(&manifest, "1.2").map(|v| v.len()), Ok(1));
        assert!(select(&manifest, "7")
            .expect("stage 7")
            .iter()
            .all(|e| e.kind == Kind::Code));
        assert!(select(&manifest, "all").expect("all").len() >= 20);
        for bad in ["9.1", "9", "0", "1.1", "banana"] {
            assert!(select(&manifest, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wrap_keeps_lines_under_the_width() {
        let text = "a ".repeat(100) + "longword";
        for line in wrap(&text, 10).lines() {
            assert!(line.len() <= 10);
        }
    }
}
