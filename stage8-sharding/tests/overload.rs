//! Overload without loss: a burst far larger than the queue (3000 events from 200
//! keep-alive clients at once, against a queue of 50) is split into 202s and honest
//! 503s; `queue_depth` never shows more than the capacity; and once the queue drains,
//! `processed == accepted` and `balance_total` is exactly the sum of the amounts the
//! clients were told were accepted. A shutdown arriving in the middle of an endless
//! burst keeps the same promise: the `Summary` that `run` returns holds every accepted
//! event and no other.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use stage8::{run, Config};
use test_kit::{load, sample_queue_depth, start, wait_for_stats, LoadReport};
use tokio::net::TcpListener;

const REQUESTS: usize = 3000;
const CONCURRENCY: usize = 200;
const CAPACITY: usize = 50;

/// A small queue, sixteen workers and the outline's work and hold (about 1450 jobs/s
/// over the shards), so a CI-sized burst overloads it many times over.
fn config() -> Config {
    Config {
        capacity: NonZeroUsize::new(CAPACITY).expect("room for at least one event"),
        work_ms: 10,
        hold_ms: 1,
        workers: NonZeroUsize::new(16).expect("at least one worker"),
        ..Config::default()
    }
}

fn assert_depths_within_capacity(depths: &[u64]) {
    assert!(!depths.is_empty(), "no /stats sample was taken");
    let peak = depths.iter().copied().max().unwrap_or(0);
    assert!(
        peak <= CAPACITY as u64,
        "queue_depth reached {peak} with a capacity of {CAPACITY}"
    );
}

fn assert_only_accepts_and_rejections(report: &LoadReport) {
    assert!(
        report.unexpected.is_empty(),
        "unexpected answers: {:?}",
        &report.unexpected[..report.unexpected.len().min(3)]
    );
}

#[tokio::test]
async fn a_burst_far_larger_than_the_queue_loses_nothing() {
    let addr = start(run, config()).await;
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_queue_depth(addr, Arc::clone(&stop_sampling)));

    let report = load(addr, REQUESTS, CONCURRENCY).await;
    stop_sampling.store(true, Ordering::Relaxed);
    let depths = sampler.await.expect("the sampler finished");

    assert_only_accepts_and_rejections(&report);
    assert_eq!(report.unanswered, 0, "{report:?}");
    assert_eq!(report.accepted + report.rejected, REQUESTS as u64);
    // The premise: 200 requests in flight against a queue of 50 must overflow it.
    assert!(report.rejected > 0, "the queue never filled: {report:?}");
    assert!(report.accepted >= CAPACITY as u64, "{report:?}");
    assert_depths_within_capacity(&depths);

    let after = wait_for_stats(addr, |s| {
        s["processed"] == s["accepted"] && s["queue_depth"] == 0
    })
    .await;
    assert_eq!(after["accepted"], report.accepted, "{after}");
    assert_eq!(after["rejected"], report.rejected, "{after}");
    assert_eq!(after["processed"], report.accepted, "{after}");
    assert_eq!(after["balance_total"], report.accepted_amount, "{after}");
    assert_eq!(after["users"], report.accepted_users.len(), "{after}");
}

#[tokio::test]
async fn a_shutdown_mid_burst_applies_every_accepted_event() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("bound address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, config(), async {
        let _ = stopped.await;
    }));
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_queue_depth(addr, Arc::clone(&stop_sampling)));

    // An endless burst: its clients stop only when the server closes on them, so the
    // shutdown necessarily arrives in the middle of it.
    let burst = tokio::spawn(load(addr, usize::MAX, CONCURRENCY));
    wait_for_stats(addr, |s| {
        s["accepted"].as_u64() >= Some(2 * CAPACITY as u64) && s["rejected"].as_u64() > Some(0)
    })
    .await;
    stop.send(()).expect("the server is running");

    let summary = tokio::time::timeout(test_kit::PATIENCE, server)
        .await
        .expect("run returns after shutdown")
        .expect("the server task did not panic");
    let report = tokio::time::timeout(test_kit::PATIENCE, burst)
        .await
        .expect("the burst ends when the server closes")
        .expect("the burst task did not panic");
    stop_sampling.store(true, Ordering::Relaxed);
    let depths = sampler.await.expect("the sampler finished");

    assert_only_accepts_and_rejections(&report);
    assert!(report.rejected > 0, "{report:?}");
    // At most one request per client can be cut off by the shutdown, and it was never
    // accepted (an accepted event is always answered before its connection closes).
    assert!(report.unanswered <= CONCURRENCY as u64, "{report:?}");
    assert_eq!(
        summary.processed, report.accepted,
        "{summary:?} vs {report:?}"
    );
    assert_eq!(summary.balance_total, report.accepted_amount, "{summary:?}");
    assert_eq!(
        summary.users,
        report.accepted_users.len() as u64,
        "{summary:?}"
    );
    assert_depths_within_capacity(&depths);
}
