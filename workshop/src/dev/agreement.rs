//! The manifest is the single source of the exercises; this holds the book, the checks and
//! the patches to it, in both directions: nothing listed is missing, nothing present is
//! unlisted.

use crate::manifest::{Exercise, Kind, Manifest};
use crate::predict::measures;
use crate::UserError;
use std::path::Path;
use stress_client::catalogue::STAGES;

/// Every disagreement, one sentence each.
pub fn check(root: &Path) -> Result<Vec<String>, UserError> {
    let manifest = Manifest::load(root)?;
    let mut defects = Vec::new();
    for stage in &STAGES {
        let chapter = format!("docs/src/{}.md", stage.folder);
        let book = std::fs::read_to_string(root.join(&chapter)).unwrap_or_default();
        let tests_path = format!("{}/tests/exercises.rs", stage.folder);
        let tests = std::fs::read_to_string(root.join(&tests_path)).unwrap_or_default();
        let listed: Vec<_> = manifest.of_stage(stage.number).collect();
        // Manifest -> book, tests, patches, measures.
        for e in &listed {
            if !book.lines().any(|l| l == e.heading()) {
                defects.push(format!("{chapter} has no heading {:?}", e.heading()));
            } else if let Some(defect) = hints_differ(&book, e) {
                defects.push(format!("{chapter}: exercise {}: {defect}", e.id));
            }
            if e.kind == Kind::Code {
                let check = e.check.as_deref().unwrap_or("");
                let attribute = format!("#[ignore = \"{}\"]", e.ignore_reason());
                match ignore_above(&tests, check) {
                    None => defects.push(format!(
                        "{tests_path} has no check fn {check} (exercise {})",
                        e.id
                    )),
                    Some(found) if found != attribute => defects.push(format!(
                        "{tests_path}: {check} should be marked {attribute}, found {found:?}"
                    )),
                    Some(_) => {}
                }
                if !root.join(e.solution()).is_file() {
                    defects.push(format!(
                        "exercise {} has no solution {}",
                        e.id,
                        e.solution().display()
                    ));
                }
                for file in &e.edit {
                    if !root.join(file).is_file() {
                        defects.push(format!(
                            "exercise {}: `edit` names {file}, which does not exist",
                            e.id
                        ));
                    }
                }
            }
            if let Some(name) = &e.measure {
                if measures::measure(name).is_none() {
                    defects.push(format!(
                        "exercise {}: no measurement {name:?} in the runner's table",
                        e.id
                    ));
                }
            }
        }
        // Book headings -> manifest.
        for line in book.lines().filter(|l| l.starts_with("### Exercise ")) {
            if !listed.iter().any(|e| e.heading() == line) {
                defects.push(format!("{chapter}: {line:?} is not in the manifest"));
            }
        }
        // #[ignore = "exercise ..."] checks -> manifest.
        for reason in tests
            .lines()
            .filter_map(|l| l.trim().strip_prefix("#[ignore = \"exercise "))
        {
            let reason = format!("exercise {}", reason.trim_end_matches("\"]"));
            if !listed
                .iter()
                .any(|e| e.kind == Kind::Code && e.ignore_reason() == reason)
            {
                defects.push(format!(
                    "{tests_path}: the check {reason:?} is not a code exercise of the manifest"
                ));
            }
        }
        // Patches -> manifest.
        let patches = std::fs::read_dir(root.join("solutions").join(stage.folder));
        for entry in patches.into_iter().flatten().flatten() {
            let relative = Path::new("solutions")
                .join(stage.folder)
                .join(entry.file_name());
            if !listed
                .iter()
                .any(|e| e.kind == Kind::Code && e.solution() == relative)
            {
                defects.push(format!(
                    "{} belongs to no code exercise of the manifest",
                    relative.display()
                ));
            }
        }
    }
    Ok(defects)
}

/// The text of exercise `e`'s subsection of `chapter`: from its heading to the next heading.
fn section<'b>(chapter: &'b str, e: &Exercise) -> &'b str {
    let heading = format!("{}\n", e.heading());
    let Some(start) = chapter.find(&heading) else {
        return "";
    };
    let body = &chapter[start + heading.len()..];
    let end = body
        .match_indices("\n#")
        .map(|(at, _)| at)
        .next()
        .unwrap_or(body.len());
    &body[..end]
}

/// The `<details><summary>Hint N</summary>` blocks of a section, in order, with white
/// space folded the way Markdown reads it.
pub fn book_hints(section: &str) -> Vec<String> {
    let mut hints = Vec::new();
    for number in 1.. {
        let open = format!("<details><summary>Hint {number}</summary>");
        let Some(start) = section.find(&open) else {
            break;
        };
        let body = &section[start + open.len()..];
        let body = body.split("</details>").next().unwrap_or(body);
        hints.push(fold(body));
    }
    hints
}

fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the book shows the hints `workshop hint` gives, word for word: the manifest is
/// their source, and a learner reading one should not meet a different other.
fn hints_differ(chapter: &str, e: &Exercise) -> Option<String> {
    let book = book_hints(section(chapter, e));
    let manifest: Vec<String> = e.hints.iter().map(|hint| fold(hint)).collect();
    if book == manifest {
        return None;
    }
    if book.len() != manifest.len() {
        return Some(format!(
            "the book has {} hint block(s), the manifest {} hint(s)",
            book.len(),
            manifest.len()
        ));
    }
    let first = book.iter().zip(&manifest).position(|(b, m)| b != m)?;
    Some(format!(
        "hint {} differs between the book and workshop/exercises.toml; make them say the same",
        first + 1
    ))
}

/// The `#[ignore ...]` line right above `fn <name>(` (attributes such as `#[tokio::test]`
/// and comments, e.g. the lazy answers a check catches, may sit between), or `None` when
/// there is no such fn.
pub fn ignore_above(tests: &str, name: &str) -> Option<String> {
    let lines: Vec<&str> = tests.lines().collect();
    let at = lines.iter().position(|l| {
        let l = l.trim_start();
        (l.starts_with("fn ") || l.starts_with("async fn ")) && l.contains(&format!("fn {name}("))
    })?;
    let found = lines[..at]
        .iter()
        .rev()
        .take_while(|l| {
            let l = l.trim_start();
            l.starts_with("#[") || l.starts_with("//")
        })
        .find(|l| l.trim_start().starts_with("#[ignore"))
        .map(|l| l.trim().to_string());
    Some(found.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_blocks_are_read_in_order_and_folded() {
        let section = "text\n\n<details><summary>Hint 1</summary>\n\nthe idea,\nwrapped\n\n\
                       </details>\n\n<details><summary>Hint 2</summary>\n\ncode\n\n</details>\n\n\
                       <details><summary>Answer</summary>\n\nnot a hint\n\n</details>\n";
        assert_eq!(book_hints(section), ["the idea, wrapped", "code"]);
    }

    #[test]
    fn the_ignore_attribute_is_found_above_its_fn() {
        let tests = "#[tokio::test]\n#[ignore = \"exercise 1.2: T\"]\nasync fn exercise_2_x() {}\n\
                     #[test]\nfn exercise_3_y() {}\n";
        assert_eq!(
            ignore_above(tests, "exercise_2_x").as_deref(),
            Some("#[ignore = \"exercise 1.2: T\"]")
        );
        assert_eq!(ignore_above(tests, "exercise_3_y").as_deref(), Some(""));
        assert_eq!(ignore_above(tests, "exercise_4_z"), None);
    }

    #[test]
    fn the_repository_agrees_with_its_manifest() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(check(&root), Ok(Vec::new()));
    }

    #[test]
    fn a_heading_the_manifest_lacks_is_a_defect() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let scratch = std::env::temp_dir().join(format!("workshop-agree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(scratch.join("workshop")).expect("dir");
        std::fs::create_dir_all(scratch.join("docs/src")).expect("dir");
        std::fs::copy(
            root.join("workshop/exercises.toml"),
            scratch.join("workshop/exercises.toml"),
        )
        .expect("copy");
        std::fs::write(
            scratch.join("docs/src/stage2-async.md"),
            "### Exercise 2.9: Not listed\n",
        )
        .expect("write");
        let defects = check(&scratch).expect("runs");
        assert!(
            defects
                .iter()
                .any(|d| d.contains("2.9: Not listed") && d.contains("not in the manifest")),
            "{defects:?}"
        );
        assert!(
            defects
                .iter()
                .any(|d| d.contains("has no heading \"### Exercise 2.2:")),
            "{defects:?}"
        );
        let _ = std::fs::remove_dir_all(&scratch);
    }
}
