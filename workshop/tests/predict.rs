//! `predict`'s lab against a real stage: a debug build of stage 5 (built here if missing;
//! the lab takes any folder of binaries, `predict` itself uses the release one), the burst
//! measured through the stress-client library. Bounded: one burst, one stage.

use std::path::PathBuf;
use std::process::Command;
use stress_client::catalogue;
use workshop::predict::lab::Lab;
use workshop::predict::measures;

/// `target/debug`, where this test's own binary lives.
fn debug_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_workshop"))
        .parent()
        .expect("a folder")
        .to_path_buf()
}

fn stage(number: u8) -> &'static catalogue::Stage {
    catalogue::stage(number).expect("a stage")
}

/// Builds stage 5's debug binary (once per test process; cargo makes a second call cheap).
fn build_stage5() {
    let built = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "stage5"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("cargo runs");
    assert!(built.success());
}

#[test]
fn the_burst_measurement_counts_what_the_stage_accepted() {
    build_stage5();
    let lab = Lab::new(debug_dir()).expect("lab");
    let measure = measures::measure("stage5_burst_accepted").expect("row");
    let running = lab.start(stage(5), measure.flags).expect("stage 5 starts");
    let measurement = (measure.run)(&lab, &running).expect("measured");
    running.stop();
    // The queue (100) and the event in the worker are always accepted; the burst of 5000 is
    // far more than a worker at 2 events/s drains while it arrives.
    assert!(measurement.value >= 101.0, "{measurement:?}");
    assert!(measurement.value < 5000.0, "{measurement:?}");
    let term = |name: &str| {
        measurement
            .terms
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(term("capacity").as_deref(), Some("100"));
    let rejected: f64 = term("rejected")
        .expect("rejected")
        .parse()
        .expect("a number");
    assert_eq!(rejected + measurement.value, 5000.0);
}

#[test]
fn a_missing_build_and_a_stage_that_will_not_start_say_what_to_do() {
    let empty = std::env::temp_dir().join(format!("workshop-no-build-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("dir");
    let lab = Lab::new(&empty).expect("lab");
    let err = lab.start(stage(5), &[]).err().expect("no binary");
    assert!(err.0.contains("cargo build --release -p stage5"), "{err}");
    assert!(err.0.contains("doctor --prepare"), "{err}");
    let _ = std::fs::remove_dir(&empty);

    build_stage5();
    let lab = Lab::new(debug_dir()).expect("lab");
    let err = lab
        .start(stage(5), &["--capacity", "0"])
        .err()
        .expect("refused");
    assert!(err.0.contains("stopped before it was listening"), "{err}");
}

#[test]
fn a_build_older_than_the_stage_sources_is_stale() {
    use std::time::{Duration, SystemTime};
    let root = std::env::temp_dir().join(format!("workshop-stale-{}", std::process::id()));
    let (bin, folder) = (root.join("release"), root.join("stage5-backpressure"));
    std::fs::create_dir_all(&bin).expect("dir");
    std::fs::create_dir_all(folder.join("src")).expect("dir");
    let binary = workshop::predict::lab::binary_path(&bin, "stage5");
    let source = folder.join("src/lib.rs");
    std::fs::write(&binary, "").expect("write");
    std::fs::write(&source, "").expect("write");
    let set = |path: &std::path::Path, time: SystemTime| {
        let file = std::fs::File::options()
            .write(true)
            .open(path)
            .expect("open");
        file.set_modified(time).expect("set the time");
    };
    let now = SystemTime::now();
    let lab = Lab::new(&bin).expect("lab");
    // Edited an hour after the build: stale.
    set(&binary, now - Duration::from_secs(7200));
    set(&source, now - Duration::from_secs(3600));
    assert!(lab.is_stale(stage(5), &folder));
    // Built after the last edit: fresh.
    set(&binary, now);
    assert!(!lab.is_stale(stage(5), &folder));
    let _ = std::fs::remove_dir_all(&root);
}
