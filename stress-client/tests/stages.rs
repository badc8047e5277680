//! The client against the real stages, in-process on 127.0.0.1:0 with scaled-down knobs.
//! Run with `cargo test -p stress-client --test stages`.

use std::future::pending;
use std::time::Duration;
use stress_client::check::Verdict;
use stress_client::garbage::{self, CaseVerdict};
use stress_client::load::at_least_one;
use stress_client::load::{Load, LoadSpec};
use stress_client::outcome::Outcome;
use stress_client::run::LoadConfig;
use stress_client::target::Target;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Aborts the server task when the test ends, pass or fail.
struct Running(JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn loopback() -> (TcpListener, Target) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let target = Target::from_addr(listener.local_addr().expect("bound address"));
    (listener, target)
}

fn load(requests: usize) -> Load {
    Load::generate(&LoadSpec {
        requests,
        users: at_least_one(20),
        seed: 7,
    })
}

fn config(target: Target, concurrency: usize) -> LoadConfig {
    LoadConfig {
        concurrency: at_least_one(concurrency),
        ..LoadConfig::new(target)
    }
}

const DRAIN: Option<Duration> = Some(Duration::from_secs(30));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage1_freezes_behind_one_idle_connection() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let target = Target::from_addr(listener.local_addr().expect("bound address"));
    // Stage 1 blocks its thread forever by design; the thread ends with the test process.
    std::thread::spawn(move || stage1::run(listener));
    let frozen = LoadConfig {
        idle: 1,
        timeout: Duration::from_millis(300),
        ..config(target.clone(), 2)
    };
    let (run, check) = stress_client::run_and_check(&frozen, &load(4), DRAIN).await;
    assert_eq!(run.tally.count(Outcome::Timeout), 4, "{:?}", run.outcomes);
    assert_eq!(
        check.verdict,
        Verdict::Skipped,
        "an echo stage has no /stats"
    );
    let (run, _) = stress_client::run_and_check(&config(target, 2), &load(4), DRAIN).await;
    assert_eq!(run.tally.count(Outcome::Accepted), 4, "{:?}", run.outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage2_shrugs_off_fifty_idle_connections() {
    let (listener, target) = loopback().await;
    let _server = Running(tokio::spawn(stage2::run(listener, pending())));
    let busy = LoadConfig {
        idle: 50,
        timeout: Duration::from_secs(5),
        ..config(target, 5)
    };
    let (run, _) = stress_client::run_and_check(&busy, &load(50), DRAIN).await;
    assert_eq!(run.tally.count(Outcome::Accepted), 50, "{:?}", run.outcomes);
    assert_eq!(run.idle.as_ref().map(|idle| idle.opened), Some(50));
}

async fn stage3() -> (Running, Target) {
    let (listener, target) = loopback().await;
    let server = tokio::spawn(stage3::run(listener, stage3::Config::default(), pending()));
    (Running(server), target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage3_answers_every_garbage_case_as_specified() {
    let (_server, target) = stage3().await;
    let report = garbage::run_garbage(&target, Duration::from_secs(5)).await;
    assert!(report.still_serving, "{}", report.final_request);
    assert!(!report.failed());
    let differing: Vec<_> = report
        .cases
        .iter()
        .filter(|c| c.verdict != CaseVerdict::Matches)
        .map(|c| format!("{}: expected {}, got {}", c.name, c.expected, c.got))
        .collect();
    assert!(differing.is_empty(), "{differing:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage3_accepts_the_load_and_has_no_stats() {
    let (_server, target) = stage3().await;
    let (run, check) = stress_client::run_and_check(&config(target, 20), &load(300), DRAIN).await;
    assert_eq!(
        run.tally.count(Outcome::Accepted),
        300,
        "{:?}",
        run.outcomes
    );
    assert_eq!(check.verdict, Verdict::Skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage4_applies_everything_one_at_a_time() {
    let (listener, target) = loopback().await;
    let stage_config = stage4::Config {
        work_ms: 10,
        ..stage4::Config::default()
    };
    let _server = Running(tokio::spawn(async move {
        stage4::run(listener, stage_config, pending()).await;
    }));
    let (run, check) = stress_client::run_and_check(&config(target, 5), &load(20), DRAIN).await;
    assert_eq!(run.tally.count(Outcome::Accepted), 20, "{:?}", run.outcomes);
    assert_eq!(check.verdict, Verdict::Ok, "{check:?}");
    assert_eq!(check.processed, 20);
    assert_eq!(check.balance_delta, run.ledger.accepted_amount_sum);
    assert_eq!(check.model.as_ref().map(|m| m.jobs_per_sec), Some(100.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage5_rejects_a_burst_and_loses_nothing() {
    let (listener, target) = loopback().await;
    let stage_config = stage5::Config {
        work_ms: 5,
        capacity: at_least_one(4),
        ..stage5::Config::default()
    };
    let _server = Running(tokio::spawn(async move {
        stage5::run(listener, stage_config, pending()).await;
    }));
    let (run, check) = stress_client::run_and_check(&config(target, 30), &load(150), DRAIN).await;
    let accepted = run.tally.count(Outcome::Accepted);
    let rejected = run.tally.count(Outcome::Rejected);
    assert_eq!(accepted + rejected, 150, "{:?}", run.outcomes);
    assert!(rejected > 0 && accepted >= 4, "{:?}", run.outcomes);
    assert_eq!(check.verdict, Verdict::Ok, "{check:?}");
    assert_eq!((check.lost, check.processed), (0, accepted));
    assert_eq!(check.server_rejected, rejected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage6_pool_loses_nothing() {
    let (listener, target) = loopback().await;
    let stage_config = stage6::Config {
        work_ms: 5,
        capacity: at_least_one(4),
        workers: at_least_one(2),
        ..stage6::Config::default()
    };
    let _server = Running(tokio::spawn(async move {
        stage6::run(listener, stage_config, pending()).await;
    }));
    let (run, check) = stress_client::run_and_check(&config(target, 25), &load(120), DRAIN).await;
    assert_eq!(
        run.tally.count(Outcome::Accepted) + run.tally.count(Outcome::Rejected),
        120
    );
    assert_eq!(check.verdict, Verdict::Ok, "{check:?}");
    assert_eq!(check.processed, run.tally.count(Outcome::Accepted));
    assert_eq!(check.model.as_ref().map(|m| m.jobs_per_sec), Some(400.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage7_contended_lock_loses_nothing() {
    let (listener, target) = loopback().await;
    let stage_config = stage7::Config {
        work_ms: 5,
        hold_ms: 2,
        capacity: at_least_one(8),
        workers: at_least_one(4),
        ..stage7::Config::default()
    };
    let _server = Running(tokio::spawn(async move {
        stage7::run(listener, stage_config, pending()).await;
    }));
    let (run, check) = stress_client::run_and_check(&config(target, 25), &load(120), DRAIN).await;
    assert!(
        run.tally.count(Outcome::Accepted) >= 8,
        "{:?}",
        run.outcomes
    );
    assert_eq!(check.verdict, Verdict::Ok, "{check:?}");
    assert_eq!(check.balance_delta, run.ledger.accepted_amount_sum);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage8_hot_key_uses_the_bound_its_stats_publish() {
    let (listener, target) = loopback().await;
    let stage_config = stage8::Config {
        work_ms: 2,
        hold_ms: 1,
        capacity: at_least_one(30),
        workers: at_least_one(4),
        ..stage8::Config::default()
    };
    let _server = Running(tokio::spawn(async move {
        stage8::run(listener, stage_config, pending()).await;
    }));
    let hot_key = Load::generate(&LoadSpec {
        requests: 150,
        users: at_least_one(1),
        seed: 3,
    });
    let (run, check) = stress_client::run_and_check(&config(target, 25), &hot_key, DRAIN).await;
    assert!(
        run.tally.count(Outcome::Accepted) >= 30,
        "{:?}",
        run.outcomes
    );
    assert_eq!(check.verdict, Verdict::Ok, "{check:?}");
    // The client takes the hot-key bound from /stats (`model_hot_key_jobs_per_sec`,
    // 1000 / hold_ms = 1000 here) instead of knowing stage numbers.
    let after = check.stats_after.as_ref().expect("stats after the run");
    assert_eq!(after.model_hot_key_jobs_per_sec, Some(1000.0), "{after:?}");
    let expected = 1000.0;
    let bound = check.model.as_ref().map(|m| m.jobs_per_sec);
    assert!(
        bound.is_some_and(|b| (b - expected).abs() < 1e-9),
        "{bound:?}"
    );
}

/// A job still running from earlier traffic when the run starts: the check waits for the
/// server to go idle before its baseline read, so that job is not counted as an extra the
/// run never sent, and the check says it waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_waits_for_a_job_still_in_flight() {
    let (listener, target) = loopback().await;
    let stage_config = stage5::Config {
        work_ms: 400,
        capacity: at_least_one(8),
        ..stage5::Config::default()
    };
    let _server = Running(tokio::spawn(async move {
        stage5::run(listener, stage_config, pending()).await;
    }));
    let stray = stress_client::load::Event {
        user: "someone-else".into(),
        action: "buy".into(),
        amount: 7,
    };
    let answer = stress_client::post::post_event(&target, &stray, Duration::from_secs(5))
        .await
        .expect("stage 5 answers");
    assert_eq!(answer.status, 202, "{answer:?}");
    // Answered 202 at once; its 400 ms of work is still ahead.
    let (run, check) = stress_client::run_and_check(&config(target, 2), &load(6), DRAIN).await;
    assert_eq!(run.tally.count(Outcome::Accepted), 6, "{:?}", run.outcomes);
    assert_eq!(check.verdict, Verdict::Ok, "{check:?}");
    assert_eq!(check.processed, 6, "{check:?}");
    assert_eq!(check.unexplained_extra, 0, "{check:?}");
    assert!(
        check
            .notes
            .iter()
            .any(|note| note.contains("idle before the run")),
        "{:?}",
        check.notes
    );
}
