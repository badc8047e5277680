//! Code a stage does not change stays byte-identical to the previous stage's, so
//! `git diff --no-index stageN-*/src stageN+1-*/src` shows only the lesson. The rule is
//! about whole files: this test holds every copy to the first one,
//! `cargo test -p stage8 --test shared_files`.

use std::path::Path;

/// The stage folders, in order; `STAGES[n - 1]` is stage n.
const STAGES: [&str; 8] = [
    "stage1-blocking",
    "stage2-async",
    "stage3-json",
    "stage4-shared-state",
    "stage5-backpressure",
    "stage6-workers",
    "stage7-contention",
    "stage8-sharding",
];

/// A file that the listed stages share word for word. The first stage's copy is the one
/// to edit; the others are copied from it.
const SHARED: &[(&str, &[usize])] = &[
    ("src/http.rs", &[3, 4, 5, 6, 7, 8]),
    ("src/event.rs", &[3, 4, 5, 6, 7, 8]),
    ("src/cli.rs", &[3, 4, 5, 6, 7, 8]),
    ("src/work.rs", &[4, 5, 6, 7, 8]),
    ("src/ledger.rs", &[5, 6]),
    ("src/stats.rs", &[5, 6]),
    // Start-up and stop of every async stage: bind, signals, the first line.
    ("src/startup.rs", &[2, 3, 4, 5, 6, 7, 8]),
    ("src/platform.rs", &[2, 3, 4, 5, 6, 7, 8]),
    ("tests/ctrl_c.rs", &[2, 3, 4, 5, 6, 7, 8]),
    ("tests/stdin_close.rs", &[2, 3, 4, 5, 6, 7, 8]),
];

fn read(stage: usize, file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(STAGES[stage - 1])
        .join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

#[test]
fn shared_files_are_byte_identical_across_stages() {
    let mut drifted = Vec::new();
    for &(file, stages) in SHARED {
        let original = read(stages[0], file);
        for &stage in &stages[1..] {
            if read(stage, file) != original {
                let (copy, first) = (STAGES[stage - 1], STAGES[stages[0] - 1]);
                drifted.push(format!(
                    "{copy}/{file} differs from {first}/{file}: make the change in \
                     {first}, then `cp {first}/{file} {copy}/{file}`"
                ));
            }
        }
    }
    assert!(drifted.is_empty(), "\n{}", drifted.join("\n"));
}
