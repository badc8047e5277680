//! Code a stage does not change stays byte-identical to the previous stage's copy, so
//! `git diff --no-index stageN-*/src stageN+1-*/src` shows only the lesson. The table below
//! is the list of such files; the first stage named is the copy to edit.

use std::path::Path;
use stress_client::catalogue;

/// A file that the listed stages share word for word.
pub struct SharedFile {
    pub path: &'static str,
    /// When only the tail is shared: the line it starts at.
    pub from: Option<&'static str>,
    pub stages: &'static [u8],
}

/// Edit this table when a file starts or stops being shared.
pub const SHARED_FILES: &[SharedFile] = &[
    SharedFile {
        path: "src/http.rs",
        from: None,
        stages: &[3, 4, 5, 6, 7, 8],
    },
    SharedFile {
        path: "src/event.rs",
        from: None,
        stages: &[3, 4, 5, 6, 7, 8],
    },
    SharedFile {
        path: "src/cli.rs",
        from: None,
        stages: &[3, 4, 5, 6, 7, 8],
    },
    SharedFile {
        path: "src/work.rs",
        from: None,
        stages: &[4, 5, 6, 7, 8],
    },
    SharedFile {
        path: "src/ledger.rs",
        from: None,
        stages: &[5, 6],
    },
    SharedFile {
        path: "src/stats.rs",
        from: None,
        stages: &[5, 6],
    },
    // The start-up helpers of every async stage: bind, signals, the first line.
    SharedFile {
        path: "src/main.rs",
        from: Some("/// Listens on `addr`"),
        stages: &[2, 3, 4, 5, 6, 7, 8],
    },
    SharedFile {
        path: "tests/ctrl_c.rs",
        from: None,
        stages: &[2, 3, 4, 5, 6, 7, 8],
    },
];

fn folder(stage: u8) -> &'static str {
    catalogue::stage(stage).map_or("(no such stage)", |s| s.folder)
}

fn read(root: &Path, stage: u8, file: &SharedFile) -> Result<String, String> {
    let path = Path::new(folder(stage)).join(file.path);
    let text = std::fs::read_to_string(root.join(&path))
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    match file.from {
        None => Ok(text),
        Some(marker) => text
            .find(marker)
            .map(|start| text[start..].to_string())
            .ok_or_else(|| format!("{} has no line {marker:?}", path.display())),
    }
}

/// Every copy that differs from its first stage's, with the command that fixes it.
pub fn check(root: &Path) -> Vec<String> {
    let mut defects = Vec::new();
    for file in SHARED_FILES {
        let Some((&first, rest)) = file.stages.split_first() else {
            continue;
        };
        let original = match read(root, first, file) {
            Ok(text) => text,
            Err(err) => {
                defects.push(err);
                continue;
            }
        };
        for &stage in rest {
            let (copy, source, path) = (folder(stage), folder(first), file.path);
            match read(root, stage, file) {
                Ok(text) if text == original => {}
                Ok(_) => defects.push(match file.from {
                    None => format!("{copy}/{path} differs from {source}/{path}: make the change in {source}, then copy the file over"),
                    Some(marker) => format!("{copy}/{path} differs from {source}/{path} from the line {marker:?} on: make the change in {source}, then copy that part over"),
                }),
                Err(err) => defects.push(err),
            }
        }
    }
    defects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drifted_copy_is_named_with_its_fix() {
        let root = std::env::temp_dir().join(format!("workshop-shared-{}", std::process::id()));
        for stage in [3u8, 4, 5, 6, 7, 8] {
            let src = root.join(folder(stage)).join("src");
            std::fs::create_dir_all(&src).expect("dir");
            for file in [
                "http.rs",
                "event.rs",
                "cli.rs",
                "work.rs",
                "ledger.rs",
                "stats.rs",
            ] {
                std::fs::write(src.join(file), "same\n").expect("write");
            }
        }
        let about_http =
            |defects: &[String]| defects.iter().filter(|d| d.contains("http.rs")).count();
        assert_eq!(about_http(&check(&root)), 0);
        std::fs::write(root.join("stage7-contention/src/http.rs"), "drifted\n").expect("write");
        let defects = check(&root);
        assert_eq!(about_http(&defects), 1, "{defects:?}");
        assert!(defects
            .iter()
            .any(|d| d.starts_with("stage7-contention/src/http.rs differs from stage3-json")));
        let _ = std::fs::remove_dir_all(&root);
    }
}
