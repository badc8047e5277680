//! The runner's command line against the real repository: bad input is one line and exit
//! 2, `list --json` keeps its keys, hints print. `cargo test -p workshop --test cli`.

use std::process::{Command, Output};

fn workshop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_workshop"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("the workshop binary runs")
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for args in [
        &["check", "9.1"][..],
        &["hint", "3"],
        &["predict", "banana"],
        &["reset", "0"],
        &["check", "1.1"],
        &["predict", "1.2"],
        &["solution", "8.1"],
        &["list", "9"],
        &["predict", "5.1", "--answer", "-4"],
        &["predict", "5.1", "--answer", "lots"],
    ] {
        let out = workshop(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("workshop: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn list_json_has_every_exercise_with_the_stable_keys() {
    let out = workshop(&["list", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let items: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let items = items.as_array().expect("a list");
    assert!(items.len() >= 40);
    for item in items {
        for key in ["id", "stage", "title", "kind", "state"] {
            assert!(!item[key].is_null(), "{key} missing in {item}");
        }
    }
    let stage7 = workshop(&["list", "7", "--json"]);
    let stage7: serde_json::Value = serde_json::from_slice(&stage7.stdout).expect("JSON");
    assert!(stage7
        .as_array()
        .expect("a list")
        .iter()
        .all(|i| i["stage"] == 7));
}

#[test]
fn hints_come_in_order_and_a_solution_prints_its_patch() {
    // --all: every hint, and nothing saved in this repository's progress.
    let out = workshop(&["hint", "5.1", "--all"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.find("Hint 1 of 2").expect("first hint");
    let second = text.find("Hint 2 of 2").expect("second hint");
    assert!(first < second);
    let out = workshop(&["solution", "6.4"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("diff --git a/stage6-workers/"));
}

#[test]
fn predict_without_a_release_build_says_so_before_asking_for_a_prediction() {
    use std::io::Write;
    // An empty target directory: no release build of stage 5 (or of anything).
    let empty = std::env::temp_dir().join(format!("workshop-no-target-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_workshop"))
        .args(["predict", "5.1"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env("CARGO_TARGET_DIR", &empty)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the workshop binary runs");
    // A prediction is ready on stdin, as a learner would type it; it must not be asked for.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"101\n");
    }
    let out = child.wait_with_output().expect("it ends");
    let _ = std::fs::remove_dir_all(&empty);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("is not built yet"), "{stderr}");
    assert!(
        stderr.contains("cargo build --release -p stage5"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stdout.contains("your prediction"), "{stdout}");
}
