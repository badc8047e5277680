//! Every reference solution proven both ways: its check FAILS on the starting code and
//! PASSES with the patch applied. Runs on a scratch copy of the checkout (tracked files and
//! new ones not ignored, as they are now), so the working tree is never touched, with its
//! own target directory (`target/dev-check`: cargo judges freshness by file times, and a
//! patched build must never look fresh to your own `cargo test`), offline after one
//! `cargo fetch`, `--locked` so Cargo.lock stays as it is.
//!
//! Also `dev refresh-solutions`: rewrite the patches after someone changed a stage.

use crate::checks::{self, CheckOptions, Verdict};
use crate::manifest::{Exercise, Kind, Manifest};
use crate::repo::{first_line, run, Repo};
use crate::{verdict, Outcome, UserError};
use std::path::{Path, PathBuf};

/// The files of the checkout as git sees them: tracked, plus new files not ignored.
fn listed_files(repo: &Repo) -> Result<Vec<PathBuf>, UserError> {
    let out = run(repo.git().args([
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
    ]))?;
    if !out.status.success() {
        return Err(UserError::new(
            "dev check needs a git checkout (git ls-files failed)",
        ));
    }
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .collect())
}

/// Copies the checkout to `scratch` (a deleted-but-tracked file is skipped).
fn copy_checkout(repo: &Repo, scratch: &Path) -> Result<(), UserError> {
    for file in listed_files(repo)? {
        let from = repo.path(&file);
        if !from.is_file() {
            continue;
        }
        let to = scratch.join(&file);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| UserError::new(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::copy(&from, &to)
            .map_err(|e| UserError::new(format!("cannot copy {}: {e}", file.display())))?;
    }
    Ok(())
}

/// The files a patch touches (`+++ b/...` and `--- a/...` lines).
pub fn touched(patch: &str) -> Vec<String> {
    let mut files: Vec<String> = patch
        .lines()
        .filter_map(|l| {
            l.strip_prefix("+++ b/")
                .or_else(|| l.strip_prefix("--- a/"))
        })
        .map(|p| p.trim().to_string())
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Proves every code exercise's solution; returns the defects.
pub fn check(repo: &Repo) -> Result<Vec<String>, UserError> {
    let manifest = Manifest::load(&repo.root)?;
    let scratch = std::env::temp_dir().join(format!("workshop-dev-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    copy_checkout(repo, &scratch)?;
    let result = prove_all(
        repo,
        &manifest,
        &Repo {
            root: scratch.clone(),
        },
    );
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn prove_all(repo: &Repo, manifest: &Manifest, scratch: &Repo) -> Result<Vec<String>, UserError> {
    eprintln!("cargo fetch (once; every later step is --offline --locked)");
    let fetch = run(scratch.cargo().args(["fetch", "--locked"]))?;
    if !fetch.status.success() {
        return Err(UserError::new(format!(
            "cargo fetch failed: {}",
            first_line(&String::from_utf8_lossy(&fetch.stderr))
        )));
    }
    let options = CheckOptions {
        target_dir: Some(repo.path("target/dev-check")),
        offline: true,
        cancel: None,
    };
    let mut defects = Vec::new();
    for exercise in manifest.exercises.iter().filter(|e| e.kind == Kind::Code) {
        let started = std::time::Instant::now();
        let row = prove(scratch, manifest, exercise, &options)?;
        println!(
            "  {:<5} {:<60} {:>4} s",
            exercise.id,
            row.as_deref().unwrap_or("ok"),
            started.elapsed().as_secs()
        );
        defects.extend(row.map(|defect| {
            format!(
                "{} ({}): {defect}",
                exercise.id,
                exercise.solution().display()
            )
        }));
    }
    Ok(defects)
}

/// One exercise: fails without, applies inside its stage, passes with, reverts. An
/// exercise that builds on another (`after`) is proven on top of that one's solution.
fn prove(
    scratch: &Repo,
    manifest: &Manifest,
    exercise: &Exercise,
    options: &CheckOptions,
) -> Result<Option<String>, UserError> {
    let prerequisites = manifest.prerequisites(exercise);
    let mut applied_so_far = 0;
    let mut row = Ok(None);
    for before in &prerequisites {
        let relative = before.solution().to_string_lossy().into_owned();
        let applied = run(scratch.git().args(["apply", &relative]))?;
        if !applied.status.success() {
            row = Ok(Some(format!(
                "{relative}, which it builds on, does not apply: {}",
                first_line(&String::from_utf8_lossy(&applied.stderr))
            )));
            break;
        }
        applied_so_far += 1;
    }
    if applied_so_far == prerequisites.len() {
        row = prove_on_top(scratch, exercise, options);
    }
    // Only what was applied is reverted, so the next exercise starts from clean code.
    for before in prerequisites[..applied_so_far].iter().rev() {
        let relative = before.solution().to_string_lossy().into_owned();
        let reverted = run(scratch.git().args(["apply", "-R", &relative]))?;
        if !reverted.status.success() {
            return Err(UserError::new(format!(
                "cannot revert {relative} in the scratch copy"
            )));
        }
    }
    row
}

fn prove_on_top(
    scratch: &Repo,
    exercise: &Exercise,
    options: &CheckOptions,
) -> Result<Option<String>, UserError> {
    let check = |label: &str| -> Result<Verdict, UserError> {
        let verdicts = checks::run_stage(scratch, exercise.stage(), &[exercise], options)?;
        let verdict = verdicts.into_iter().next().unwrap_or(Verdict::Missing);
        if !matches!(verdict, Verdict::Passed | Verdict::NotDone(_)) {
            eprintln!(
                "{} {label}: {}",
                exercise.id,
                verdict.describe(&exercise.id)
            );
        }
        Ok(verdict)
    };
    let without = check("without its solution")?;
    if !matches!(without, Verdict::NotDone(_)) {
        return Ok(Some(format!(
            "without the solution the check should say \"not done yet\", got: {}",
            first_line(&without.describe(&exercise.id))
        )));
    }
    let patch_path = scratch.path(exercise.solution());
    let patch = std::fs::read_to_string(&patch_path)
        .map_err(|e| UserError::new(format!("cannot read {}: {e}", patch_path.display())))?;
    let folder = format!("{}/", exercise.stage().folder);
    let outside: Vec<String> = touched(&patch)
        .into_iter()
        .filter(|f| !f.starts_with(&folder) || f.ends_with("Cargo.lock"))
        .collect();
    if !outside.is_empty() {
        return Ok(Some(format!(
            "the patch reaches outside {folder}: {}",
            outside.join(", ")
        )));
    }
    let relative = exercise.solution().to_string_lossy().into_owned();
    let applied = run(scratch.git().args(["apply", &relative]))?;
    if !applied.status.success() {
        return Ok(Some(format!(
            "the patch does not apply: {}; run `cargo run -p workshop -- dev refresh-solutions {}`",
            first_line(&String::from_utf8_lossy(&applied.stderr)),
            exercise.id
        )));
    }
    let with = check("with its solution");
    let reverted = run(scratch.git().args(["apply", "-R", &relative]))?;
    if !reverted.status.success() {
        return Err(UserError::new(format!(
            "cannot revert {relative} in the scratch copy"
        )));
    }
    Ok(match with? {
        Verdict::Passed => None,
        other => Some(format!(
            "with the solution the check should pass, got: {}",
            first_line(&other.describe(&exercise.id))
        )),
    })
}

/// `dev refresh-solutions [N.K]`: each patch applied (three-way if its context moved),
/// written back from `git diff`, and the stage restored. Stops at the first conflict.
pub fn refresh(repo: &Repo, only: Option<&str>) -> Outcome {
    let manifest = Manifest::load(&repo.root)?;
    let selected: Vec<&Exercise> = match only {
        Some(id) => vec![manifest.find(id)?],
        None => manifest
            .exercises
            .iter()
            .filter(|e| e.kind == Kind::Code)
            .collect(),
    };
    for exercise in selected.into_iter().filter(|e| e.kind == Kind::Code) {
        let folder = exercise.stage().folder;
        let patch = exercise.solution().to_string_lossy().into_owned();
        let status = run(repo.git().args(["status", "--porcelain", "--", folder]))?;
        if !status.stdout.is_empty() {
            return Err(UserError::new(format!(
                "{folder} has uncommitted changes; commit or stash them first"
            )));
        }
        // The steps this one builds on are applied first and written down as a tree, so
        // the diff below (that tree against the working tree) holds this step alone, however
        // `git apply` below touches the index.
        for before in manifest.prerequisites(exercise) {
            let relative = before.solution().to_string_lossy().into_owned();
            let applied = run(repo.git().args(["apply", "--index", &relative]))?;
            if !applied.status.success() {
                restore(repo, folder)?;
                return Err(UserError::new(format!(
                    "{relative}, which {patch} builds on, does not apply; refresh it first"
                )));
            }
        }
        let tree = run(repo.git().args(["write-tree"]))?;
        let start = String::from_utf8_lossy(&tree.stdout).trim().to_string();
        let plain = run(repo.git().args(["apply", &patch]))?;
        if !plain.status.success() {
            let merged = run(repo.git().args(["apply", "--3way", &patch]))?;
            if !merged.status.success() {
                return Err(UserError::new(format!(
                    "{patch} conflicts with the current {folder}. Resolve the conflict markers, check it with \
                     `cargo run -p workshop -- check {}`, then `git diff {start} -- {folder} > {patch}` and \
                     `cargo run -p workshop -- reset {} --yes`",
                    exercise.id,
                    exercise.id().stage
                )));
            }
        }
        // Pinned formatting: a user's git config (no prefixes, colour, an external diff
        // tool) must not change what a patch looks like.
        let diff = run(repo.git().args([
            "-c",
            "diff.noprefix=false",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            &start,
            "--",
            folder,
        ]))?;
        if diff.stdout.is_empty() {
            restore(repo, folder)?;
            return Err(UserError::new(format!(
                "{patch} changes nothing in the current {folder}; its exercise may already be \
                 part of the starting code"
            )));
        }
        let written = std::fs::write(repo.path(&patch), &diff.stdout);
        restore(repo, folder)?;
        written.map_err(|e| UserError::new(format!("cannot write {patch}: {e}")))?;
        println!("refreshed {patch}");
    }
    println!("prove the patches with `cargo run -p workshop -- dev check --only solutions`");
    Ok(verdict(true))
}

/// The stage folder, index and working tree, back to the commit.
fn restore(repo: &Repo, folder: &str) -> Result<(), UserError> {
    run(repo.git().args(["reset", "-q", "--", folder]))?;
    run(repo.git().args(["checkout", "HEAD", "--", folder]))?;
    run(repo.git().args(["clean", "-fdq", "--", folder]))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_of_a_patch_are_read_from_its_headers() {
        let patch = "diff --git a/stage6-workers/src/lib.rs b/stage6-workers/src/lib.rs\n\
                     --- a/stage6-workers/src/lib.rs\n+++ b/stage6-workers/src/lib.rs\n@@ -1 +1 @@\n\
                     --- a/Cargo.lock\n+++ b/Cargo.lock\n";
        assert_eq!(
            touched(patch),
            vec![
                "Cargo.lock".to_string(),
                "stage6-workers/src/lib.rs".to_string()
            ]
        );
    }
}
