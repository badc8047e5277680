//! A small polling watcher for guided mode: it notices a saved file under a stage folder
//! by comparing modification times every half second.
//!
//! Why polling and not a notify crate: a stage folder holds a dozen files, so a scan costs
//! microseconds, the half second it adds is small beside the incremental build that
//! follows every save, it behaves the same on every OS and file system (network shares
//! and WSL mounts included, where kernel events are unreliable), and it adds no crate to
//! the cold build. Editors that save by renaming a new file into place are seen too: the
//! file's time changes either way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The state of a folder at the last scan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot(BTreeMap<PathBuf, Option<SystemTime>>);

impl Snapshot {
    /// Every file under `folder`, except build output and hidden folders (an editor's swap
    /// files live there and change on every keystroke).
    pub fn scan(folder: &Path) -> Self {
        let mut files = BTreeMap::new();
        let mut pending = vec![folder.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') || name == "target" || name.ends_with('~') {
                    continue;
                }
                match entry.file_type() {
                    Ok(kind) if kind.is_dir() => pending.push(path),
                    Ok(_) => {
                        let modified = entry.metadata().and_then(|m| m.modified()).ok();
                        files.insert(path, modified);
                    }
                    Err(_) => {}
                }
            }
        }
        Self(files)
    }
}

/// Watches one folder; `changed` says whether anything was saved since the last call.
pub struct Watcher {
    folder: PathBuf,
    last: Snapshot,
}

impl Watcher {
    pub fn new(folder: &Path) -> Self {
        Self {
            folder: folder.to_path_buf(),
            last: Snapshot::scan(folder),
        }
    }

    pub fn changed(&mut self) -> bool {
        let now = Snapshot::scan(&self.folder);
        let changed = now != self.last;
        self.last = now;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_file_is_seen_once_and_build_output_never() {
        let dir = std::env::temp_dir().join(format!("workshop-watch-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).expect("dir");
        std::fs::create_dir_all(dir.join("target")).expect("dir");
        std::fs::write(dir.join("src/lib.rs"), "// one").expect("write");
        let mut watcher = Watcher::new(&dir);
        assert!(!watcher.changed());
        std::fs::write(dir.join("target/out"), "built").expect("write");
        assert!(!watcher.changed(), "build output is not a save");
        std::fs::write(dir.join("src/new.rs"), "// two").expect("write");
        assert!(watcher.changed());
        assert!(!watcher.changed(), "one save, one change");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
