//! Code a stage does not change stays byte-identical to the previous stage's copy, so
//! `git diff --no-index stageN-*/src stageN+1-*/src` shows only the lesson. The table below
//! is the list of such files; the first stage named is the copy to edit.

use std::path::Path;
use stress_client::catalogue;

/// A file that the listed stages share word for word, whole: `(path inside the stage
/// folder, the stages)`. Edit this table when a file starts or stops being shared.
pub const SHARED_FILES: &[(&str, &[u8])] = &[
    ("src/http.rs", &[3, 4, 5, 6, 7, 8]),
    ("src/event.rs", &[3, 4, 5, 6, 7, 8]),
    ("src/cli.rs", &[3, 4, 5, 6, 7, 8]),
    ("src/work.rs", &[4, 5, 6, 7, 8]),
    ("src/ledger.rs", &[5, 6]),
    ("src/stats.rs", &[5, 6]),
    // Start-up and stop of every async stage: bind, signals, the first line; and every
    // OS-specific line, so the platform story reads the same in each.
    ("src/startup.rs", &[2, 3, 4, 5, 6, 7, 8]),
    ("src/platform.rs", &[2, 3, 4, 5, 6, 7, 8]),
    ("tests/ctrl_c.rs", &[2, 3, 4, 5, 6, 7, 8]),
    ("tests/stdin_close.rs", &[2, 3, 4, 5, 6, 7, 8]),
];

fn folder(stage: u8) -> &'static str {
    catalogue::stage(stage).map_or("(no such stage)", |s| s.folder)
}

fn read(root: &Path, stage: u8, file: &str) -> Result<String, String> {
    let path = Path::new(folder(stage)).join(file);
    std::fs::read_to_string(root.join(&path))
        .map_err(|err| format!("cannot read {}: {err}", path.display()))
}

/// Every copy that differs from its first stage's, with the command that fixes it.
pub fn check(root: &Path) -> Vec<String> {
    let mut defects = Vec::new();
    for &(path, stages) in SHARED_FILES {
        let Some((&first, rest)) = stages.split_first() else {
            continue;
        };
        let original = match read(root, first, path) {
            Ok(text) => text,
            Err(err) => {
                defects.push(err);
                continue;
            }
        };
        for &stage in rest {
            let (copy, source) = (folder(stage), folder(first));
            match read(root, stage, path) {
                Ok(text) if text == original => {}
                Ok(_) => defects.push(format!(
                    "{copy}/{path} differs from {source}/{path}: make the change in {source}, \
                     then copy the file over"
                )),
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
