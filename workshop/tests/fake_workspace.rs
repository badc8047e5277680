//! The runner against a tiny workspace of its own (one dependency-free `stage1` with two
//! fake checks), so a check builds in a second: exit codes and verdicts of `check`, and
//! guided mode in a real terminal under tmux. `cargo test -p workshop --test fake_workspace`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const MANIFEST: &str = r#"
[[exercise]]
id = "1.2"
kind = "code"
title = "Turn DONE on"
edit = ["stage1-blocking/src/lib.rs"]
check = "exercise_2_done"
hints = ["look at DONE", "set it to true"]

[[exercise]]
id = "1.3"
kind = "code"
title = "Turn TWO on"
edit = ["stage1-blocking/src/lib.rs"]
check = "exercise_3_two"
hints = ["look at TWO"]
"#;

const CHECKS: &str = r#"
#[test]
#[ignore = "exercise 1.2: Turn DONE on"]
fn exercise_2_done() {
    assert!(stage1::DONE, "exercise 1.2 not done yet: DONE is still false");
}

#[test]
#[ignore = "exercise 1.3: Turn TWO on"]
fn exercise_3_two() {
    assert!(stage1::TWO, "exercise 1.3 not done yet: TWO is still false");
}
"#;

const START: &str = "pub const DONE: bool = false;\npub const TWO: bool = false;\n";

/// A fresh fake workspace under the temp folder, with its own target directory.
fn fake(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("workshop-fake-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let stage = root.join("stage1-blocking");
    for dir in [
        root.join("workshop"),
        stage.join("src"),
        stage.join("tests"),
    ] {
        std::fs::create_dir_all(dir).expect("dir");
    }
    let files = [
        (
            root.join("Cargo.toml"),
            "[workspace]\nresolver = \"2\"\nmembers = [\"stage1-blocking\"]\n",
        ),
        (root.join("workshop/exercises.toml"), MANIFEST),
        (
            stage.join("Cargo.toml"),
            "[package]\nname = \"stage1\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        ),
        (stage.join("src/lib.rs"), START),
        (stage.join("src/main.rs"), "fn main() {}\n"),
        (stage.join("tests/exercises.rs"), CHECKS),
    ];
    for (path, text) in files {
        std::fs::write(path, text).expect("write");
    }
    root
}

fn workshop(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_workshop"))
        .args(args)
        .current_dir(root)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("the workshop binary runs")
}

fn set_lib(root: &Path, text: &str) {
    std::fs::write(root.join("stage1-blocking/src/lib.rs"), text).expect("write");
}

#[test]
fn check_says_not_done_passed_or_does_not_compile_with_its_exit_code() {
    let root = fake("check");
    let out = workshop(&root, &["check", "1.2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("exercise 1.2 not done yet: DONE is still false"),
        "{stdout}"
    );

    set_lib(
        &root,
        &START.replace("DONE: bool = false", "DONE: bool = true"),
    );
    let out = workshop(&root, &["check", "1.2"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("✓ 1.2 passed"));
    let out = workshop(&root, &["check", "1"]);
    assert_eq!(out.status.code(), Some(1), "1.3 is not done");
    let listed = workshop(&root, &["list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(listed[0]["state"], "passed");
    assert_eq!(listed[1]["state"], "not yet");

    set_lib(&root, "pub const DONE: bool = ;\n");
    let out = workshop(&root, &["check", "all"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("does not compile"), "{stdout}");
    assert!(stdout.contains("stage1-blocking/src/lib.rs:1:"), "{stdout}");
    assert!(!stdout.contains("not done yet"), "{stdout}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn hint_reveals_one_more_hint_each_time_and_all_shows_every_one() {
    let root = fake("hint");
    let text = |args: &[&str]| {
        let out = workshop(&root, args);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = text(&["hint", "1.2"]);
    assert!(first.contains("Hint 1 of 2:\nlook at DONE"), "{first}");
    assert!(!first.contains("set it to true"), "{first}");
    assert!(first.contains("again shows the next hint"), "{first}");
    let second = text(&["hint", "1.2"]);
    assert!(second.contains("Hint 2 of 2:\nset it to true"), "{second}");
    assert!(!second.contains("again shows the next hint"), "{second}");
    assert_eq!(text(&["hint", "1.2"]), second, "no hint after the last");
    // Another exercise counts on its own; --all shows both and saves nothing.
    let other = text(&["hint", "1.3"]);
    assert!(other.contains("Hint 1 of 1:\nlook at TWO"), "{other}");
    let root_all = fake("hint-all");
    let out = workshop(&root_all, &["hint", "1.2", "--all"]);
    let all = String::from_utf8_lossy(&out.stdout);
    assert!(
        all.contains("look at DONE") && all.contains("set it to true"),
        "{all}"
    );
    assert!(!root_all.join(".workshop-progress.json").exists());
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&root_all);
}

/// `git` in the fake workspace, with an identity so `commit` works on a bare CI machine.
fn git(root: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(root)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

/// 1.2's reference patch: DONE turned on.
const SOLUTION_1_2: &str = "\
diff --git a/stage1-blocking/src/lib.rs b/stage1-blocking/src/lib.rs
--- a/stage1-blocking/src/lib.rs
+++ b/stage1-blocking/src/lib.rs
@@ -1,2 +1,2 @@
-pub const DONE: bool = false;
+pub const DONE: bool = true;
 pub const TWO: bool = false;
";

#[test]
fn applying_a_solution_twice_says_it_is_in_place_and_an_overlap_still_refuses() {
    let root = fake("apply");
    let patch = root.join("solutions/stage1-blocking/exercise_2.patch");
    std::fs::create_dir_all(patch.parent().expect("a folder")).expect("dir");
    std::fs::write(&patch, SOLUTION_1_2).expect("write");
    git(&root, &["init", "-q"]);
    git(&root, &["add", "."]);
    git(&root, &["commit", "-q", "-m", "start"]);

    let first = workshop(&root, &["solution", "1.2", "--apply"]);
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let lib = root.join("stage1-blocking/src/lib.rs");
    let applied = std::fs::read_to_string(&lib).expect("read");
    assert!(applied.contains("DONE: bool = true"), "{applied}");

    // Run twice, the patch is already there: no advice to reset (which would discard it).
    let again = workshop(&root, &["solution", "1.2", "--apply"]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert!(stdout.contains("already applied"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&lib).expect("read"), applied);

    // An edit that really overlaps the patch is still refused, with what to do next.
    set_lib(
        &root,
        "pub const DONE: bool = maybe();\npub const TWO: bool = false;\n",
    );
    let overlap = workshop(&root, &["solution", "1.2", "--apply"]);
    let stderr = String::from_utf8_lossy(&overlap.stderr);
    assert_eq!(overlap.status.code(), Some(2), "{overlap:?}");
    assert!(stderr.contains("your edits overlap it"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let _ = std::fs::remove_dir_all(&root);
}

/// The pane's text now.
fn pane(session: &str) -> String {
    let out = Command::new("tmux")
        .args(["capture-pane", "-p", "-t", session])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Waits (at most 90 s: a cold build of the fake stage) until the pane shows `text`.
fn wait_for(session: &str, what: impl Fn(&str) -> bool, label: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if what(&pane(session)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", session])
        .status();
    panic!("{label} never showed; the pane was:\n{}", pane(session));
}

#[cfg(unix)]
#[test]
fn guided_mode_shows_the_exercise_moves_on_when_it_passes_and_q_restores_the_screen() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed; skipping the guided-mode terminal test");
        return;
    }
    let root = fake("guided");
    let session = format!("workshop-guided-{}", std::process::id());
    let shell = format!(
        "echo BEFORE; env -u CARGO_TARGET_DIR {}; echo AFTER; sleep 60",
        env!("CARGO_BIN_EXE_workshop")
    );
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "80",
            "-y",
            "24",
            "-c",
        ])
        .arg(&root)
        .arg(shell)
        .status()
        .expect("tmux runs");
    assert!(started.success());
    wait_for(
        &session,
        |p| p.contains("Exercise 1.2: Turn DONE on") && p.contains("not done yet"),
        "exercise 1.2's verdict",
    );
    assert!(
        !pane(&session).contains("BEFORE"),
        "guided mode draws on the alternate screen"
    );

    set_lib(
        &root,
        &START.replace("DONE: bool = false", "DONE: bool = true"),
    );
    wait_for(
        &session,
        |p| p.contains("Exercise 1.3: Turn TWO on"),
        "the next exercise after a save",
    );

    let _ = Command::new("tmux")
        .args(["send-keys", "-t", &session, "q"])
        .status();
    wait_for(&session, |p| p.contains("AFTER"), "the shell after q");
    let screen = pane(&session);
    assert!(
        screen.contains("BEFORE"),
        "the screen before guided mode is back:\n{screen}"
    );
    assert!(
        !screen.contains("guided mode"),
        "nothing of guided mode is left:\n{screen}"
    );
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &session])
        .status();
    let _ = std::fs::remove_dir_all(&root);
}
