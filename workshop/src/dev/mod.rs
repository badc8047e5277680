//! `dev check` and `dev refresh-solutions`: the maintainers' and CI's half of the runner.
//!
//! ```text
//! cargo run -p workshop -- dev check                     # everything below
//! cargo run -p workshop -- dev check --only agreement    # one part (CI runs them apart)
//! cargo run -p workshop -- dev refresh-solutions [N.K]   # rewrite patches after a change
//! ```

pub mod agreement;
pub mod includes;
pub mod shared;
pub mod solutions;

use crate::repo::Repo;
use crate::{verdict, Outcome};

/// The parts of `dev check`, each runnable alone with `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// Manifest, book headings, #[ignore] titles and patches agree, both ways.
    Agreement,
    /// Files meant to stay byte-identical across stages are.
    Shared,
    /// Every book {{#include}} and its anchor resolves.
    Includes,
    /// Every check fails on the starting code and passes with its solution (slow).
    Solutions,
}

/// Runs the parts asked for (all when `only` is empty); prints each defect; exit 1 on any.
pub fn check(repo: &Repo, only: &[Part]) -> Outcome {
    let wanted = |part| only.is_empty() || only.contains(&part);
    let mut defects = Vec::new();
    if wanted(Part::Agreement) {
        report("agreement", agreement::check(&repo.root)?, &mut defects);
    }
    if wanted(Part::Shared) {
        report("shared files", shared::check(&repo.root), &mut defects);
    }
    if wanted(Part::Includes) {
        report("book includes", includes::check(&repo.root), &mut defects);
    }
    if wanted(Part::Solutions) {
        report("solutions", solutions::check(repo)?, &mut defects);
    }
    if defects.is_empty() {
        println!("dev check: no defects");
    } else {
        println!("dev check: {} defect(s)", defects.len());
    }
    Ok(verdict(defects.is_empty()))
}

fn report(part: &str, found: Vec<String>, all: &mut Vec<String>) {
    println!(
        "== {part}: {}",
        if found.is_empty() { "ok" } else { "DEFECTS" }
    );
    for defect in &found {
        println!("  {defect}");
    }
    all.extend(found);
}
