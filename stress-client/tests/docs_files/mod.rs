//! What the docs tests read: the workspace root and every Markdown file a reader sees
//! (the root README, each crate's README, and the book's sources under `docs/`, without
//! mdBook's build output). Shared by `docs_packages.rs` and `docs_drift.rs`.

use std::path::{Path, PathBuf};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("stress-client lives inside the workspace")
        .to_path_buf()
}

/// The root README, then every crate's README, then the book's Markdown, each in a fixed order.
pub fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("workspace root is readable")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    entries.sort();
    for dir in entries {
        let readme = dir.join("README.md");
        if readme.is_file() {
            files.push(readme);
        }
    }
    collect_markdown(&root.join("docs"), &mut files);
    files
}

fn collect_markdown(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // The book's build output holds copies of the sources; checking them twice helps nobody.
        if path.is_dir() && name != "book" && !name.starts_with('.') {
            collect_markdown(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "md") {
            files.push(path);
        }
    }
}
