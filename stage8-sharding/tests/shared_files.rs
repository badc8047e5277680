//! Code a stage does not change stays byte-identical to the previous stage's, so
//! `diff -ru stageN/src stageN+1/src` shows only the lesson. This test holds every copy
//! to the first one: `cargo test -p stage8 --test shared_files`.

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

/// A file (or its tail from a marker line on) that the listed stages share word for word.
/// The first stage's copy is the one to edit; the others are copied from it.
const SHARED: &[(&str, Option<&str>, &[usize])] = &[
    ("src/http.rs", None, &[3, 4, 5, 6, 7, 8]),
    ("src/event.rs", None, &[3, 4, 5, 6, 7, 8]),
    ("src/cli.rs", None, &[3, 4, 5, 6, 7, 8]),
    ("src/work.rs", None, &[4, 5, 6, 7, 8]),
    ("src/ledger.rs", None, &[5, 6]),
    ("src/stats.rs", None, &[5, 6]),
    // The start-up helpers of every async stage: bind, signals, the first line.
    (
        "src/main.rs",
        Some("/// Listens on `addr`"),
        &[2, 3, 4, 5, 6, 7, 8],
    ),
    ("tests/ctrl_c.rs", None, &[2, 3, 4, 5, 6, 7, 8]),
];

fn read(stage: usize, file: &str, from: Option<&str>) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(STAGES[stage - 1])
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    match from {
        Some(marker) => match text.find(marker) {
            Some(start) => text[start..].to_string(),
            None => panic!("{} has no line {marker:?}", path.display()),
        },
        None => text,
    }
}

#[test]
fn shared_files_are_byte_identical_across_stages() {
    let mut drifted = Vec::new();
    for &(file, from, stages) in SHARED {
        let original = read(stages[0], file, from);
        for &stage in &stages[1..] {
            if read(stage, file, from) != original {
                let (copy, first) = (STAGES[stage - 1], STAGES[stages[0] - 1]);
                drifted.push(match from {
                    None => format!(
                        "{copy}/{file} differs from {first}/{file}: make the change in \
                         {first}, then `cp {first}/{file} {copy}/{file}`"
                    ),
                    Some(marker) => format!(
                        "{copy}/{file} differs from {first}/{file} from the line {marker:?} \
                         on: make the change in {first}, then copy that part over"
                    ),
                });
            }
        }
    }
    assert!(drifted.is_empty(), "\n{}", drifted.join("\n"));
}
