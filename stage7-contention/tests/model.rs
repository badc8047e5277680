//! The throughput model at its edges: a bound that does not exist is `None` (JSON null
//! in `/stats`), never a made-up number. Run with `cargo test -p stage7 --test model`.

use std::num::NonZeroUsize;

use stage7::Config;

fn knobs(workers: usize, work_ms: u64, hold_ms: u64) -> Config {
    Config {
        workers: NonZeroUsize::new(workers).expect("at least one worker"),
        work_ms,
        hold_ms,
        ..Config::default()
    }
}

#[test]
fn the_defaults_are_lock_bound() {
    let config = knobs(16, 100, 10);
    assert_eq!(config.model_lock_jobs_per_sec(), Some(100.0));
    // 16 workers could do 16 × 1000 / 110 ≈ 145 per second; the lock allows 100.
    assert_eq!(config.model_jobs_per_sec(), Some(100.0));
}

#[test]
fn without_hold_there_is_no_lock_bound_only_the_workers() {
    let config = knobs(16, 100, 0);
    assert_eq!(config.model_lock_jobs_per_sec(), None);
    assert_eq!(config.model_jobs_per_sec(), Some(160.0));
}

#[test]
fn without_work_the_hold_still_bounds_both() {
    let config = knobs(16, 0, 10);
    assert_eq!(config.model_lock_jobs_per_sec(), Some(100.0));
    assert_eq!(config.model_jobs_per_sec(), Some(100.0));
}

#[test]
fn without_work_or_hold_there_is_no_bound_at_all() {
    let config = knobs(16, 0, 0);
    assert_eq!(config.model_lock_jobs_per_sec(), None);
    assert_eq!(config.model_jobs_per_sec(), None);
}
