//! One measurement of `predict` end to end against a real stage: exercise 1.1's two silent
//! clients on a debug build of stage 1 (built here if missing, as `predict.rs` does for
//! stage 5; the lab takes any folder of binaries). Bounded: about 4 s of sleeps, one stage.
//!
//! Run: `cargo test -p workshop --test predict_stage1`

use std::path::PathBuf;
use std::process::Command;
use stress_client::catalogue;
use workshop::predict::lab::Lab;
use workshop::predict::measures::{self, raw};

/// `target/debug`, where this test's own binary lives.
fn debug_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_workshop"))
        .parent()
        .expect("a folder")
        .to_path_buf()
}

#[test]
fn the_third_client_is_answered_only_when_the_second_silent_one_has_left() {
    let built = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "stage1"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("cargo runs");
    assert!(built.success());
    let lab = Lab::new(debug_dir()).expect("lab");
    let measure = measures::measure("stage1_two_silent_clients").expect("row");
    let stage = catalogue::stage(measure.stage).expect("stage 1");
    let running = lab.start(stage, measure.flags).expect("stage 1 starts");
    let measurement = (measure.run)(&lab, &running).expect("measured");
    running.stop();
    // The single thread cannot read the request before the second silent connection
    // closes, which the measurement does at 4 s by its own clock: a lower bound that holds
    // on any machine. Answered after the first left (2 s) but before the second would be a
    // server that skips a connection; no upper bound beyond the row's own cap.
    let second_leaves = raw::SECOND_LEAVES.as_secs_f64();
    assert!(
        measurement.value >= second_leaves,
        "answered after {} s, before the second silent client left at {second_leaves} s",
        measurement.value
    );
    let after: f64 = measurement
        .term("after_second_secs")
        .expect("term")
        .parse()
        .expect("a number");
    assert!(after >= 0.0, "{measurement:?}");
    assert_eq!(measurement.term("model_secs"), Some("4.00"));
}
