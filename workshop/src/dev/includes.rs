//! Every `{{#include FILE}}` and `{{#include FILE:ANCHOR}}` of the book resolves. mdBook
//! only warns about a file it cannot read and silently includes nothing for an anchor that
//! does not exist, so a renamed anchor would leave a chapter's code section empty.

use std::path::Path;

/// The book's source folder, relative to the root.
const BOOK: &str = "docs/src";

/// Every include that points nowhere, as `chapter: what is wrong`.
pub fn check(root: &Path) -> Vec<String> {
    let mut defects = Vec::new();
    let mut chapters = Vec::new();
    collect_markdown(&root.join(BOOK), &mut chapters);
    chapters.sort();
    for chapter in chapters {
        let Ok(text) = std::fs::read_to_string(&chapter) else {
            continue;
        };
        let name = chapter
            .strip_prefix(root)
            .unwrap_or(&chapter)
            .display()
            .to_string();
        let dir = chapter.parent().unwrap_or(root);
        for spec in includes(&text) {
            if let Err(defect) = resolve(dir, spec) {
                defects.push(format!("{name}: {defect}"));
            }
        }
    }
    defects
}

fn collect_markdown(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_markdown(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "md") {
            found.push(path);
        }
    }
}

/// The `FILE[:ANCHOR]` part of every `{{#include ...}}` in a chapter.
pub fn includes(text: &str) -> Vec<&str> {
    text.split("{{#include ")
        .skip(1)
        .filter_map(|rest| rest.split_once("}}").map(|(spec, _)| spec.trim()))
        .collect()
}

/// Whether `FILE[:ANCHOR]` resolves from the chapter's folder; line ranges (`:3:10`)
/// need only the file.
pub fn resolve(dir: &Path, spec: &str) -> Result<(), String> {
    let (file, anchor) = match spec.split_once(':') {
        Some((file, anchor)) => (file, Some(anchor)),
        None => (spec, None),
    };
    let text = std::fs::read_to_string(dir.join(file))
        .map_err(|_| format!("{{{{#include {spec}}}}}: {file} does not exist"))?;
    let Some(anchor) = anchor.filter(|a| !a.chars().all(|c| c.is_ascii_digit() || c == ':')) else {
        return Ok(());
    };
    let has = |marker: String| text.lines().any(|l| l.trim_end().ends_with(&marker));
    if has(format!("ANCHOR: {anchor}")) && has(format!("ANCHOR_END: {anchor}")) {
        Ok(())
    } else {
        Err(format!(
            "{{{{#include {spec}}}}}: no anchor {anchor:?} (ANCHOR and ANCHOR_END) in {file}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_resolve_only_to_existing_files_and_anchors() {
        let dir = std::env::temp_dir().join(format!("workshop-includes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("code.rs"),
            "// ANCHOR: run\nfn run() {}\n// ANCHOR_END: run\n",
        )
        .expect("write");
        assert_eq!(
            includes("a {{#include code.rs:run}} b {{#include x.rs}}"),
            vec!["code.rs:run", "x.rs"]
        );
        assert_eq!(resolve(&dir, "code.rs"), Ok(()));
        assert_eq!(resolve(&dir, "code.rs:run"), Ok(()));
        assert_eq!(resolve(&dir, "code.rs:2:3"), Ok(()));
        assert!(resolve(&dir, "code.rs:walk").is_err());
        assert!(resolve(&dir, "missing.rs").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_book_has_no_broken_include() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(check(&root), Vec::<String>::new());
    }
}
