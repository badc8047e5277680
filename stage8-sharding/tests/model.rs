//! The throughput model at its edges: a bound that does not exist is `None` (JSON null
//! in `/stats`), never a made-up number; and the shards it counts are the ones the
//! ledger really builds. Run with `cargo test -p stage8 --test model`.

use std::num::NonZeroUsize;

use stage8::ledger::{shard_count, Ledger, MapKind};
use stage8::Config;

fn count(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).expect("a positive count")
}

fn knobs(shards: usize, work_ms: u64, hold_ms: u64) -> Config {
    Config {
        workers: count(16),
        work_ms,
        hold_ms,
        map: MapKind::Sharded,
        shards: count(shards),
        ..Config::default()
    }
}

#[test]
fn the_lock_bound_counts_the_shards() {
    let config = knobs(4, 10, 1);
    assert_eq!(config.model_lock_jobs_per_sec(), Some(4000.0));
    // 16 workers at 11 ms a job: about 1454.5 per second, under the shards' 4000.
    let model = config.model_jobs_per_sec().expect("bounded");
    assert!((model - 16_000.0 / 11.0).abs() < 1e-9, "{model}");
    // One shard is stage 7's single lock.
    assert_eq!(knobs(1, 10, 1).model_jobs_per_sec(), Some(1000.0));
}

#[test]
fn without_hold_there_is_no_lock_bound_only_the_workers() {
    let config = knobs(4, 10, 0);
    assert_eq!(config.model_lock_jobs_per_sec(), None);
    assert_eq!(config.model_jobs_per_sec(), Some(1600.0));
}

#[test]
fn without_work_the_hold_still_bounds_both() {
    let config = knobs(1, 0, 10);
    assert_eq!(config.model_lock_jobs_per_sec(), Some(100.0));
    assert_eq!(config.model_jobs_per_sec(), Some(100.0));
}

#[test]
fn without_work_or_hold_there_is_no_bound_at_all() {
    let config = knobs(4, 0, 0);
    assert_eq!(config.model_lock_jobs_per_sec(), None);
    assert_eq!(config.model_jobs_per_sec(), None);
}

#[test]
fn dashmap_rounds_the_shards_up_and_the_ledger_reports_it() {
    assert_eq!(shard_count(MapKind::DashMap, count(1)), count(2));
    assert_eq!(shard_count(MapKind::DashMap, count(5)), count(8));
    assert_eq!(shard_count(MapKind::DashMap, count(64)), count(64));
    assert_eq!(shard_count(MapKind::Sharded, count(5)), count(5));
    assert_eq!(Ledger::new(MapKind::DashMap, count(3)).shards, count(4));
    assert_eq!(Ledger::new(MapKind::Sharded, count(3)).shards, count(3));
}
