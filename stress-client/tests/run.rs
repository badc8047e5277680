//! Integration tests of `run_load` + `check_server` against in-process servers on
//! 127.0.0.1:0 with scaled-down timings. Run with `cargo test -p stress-client --test run`.
//! Assertions are on counts and verdicts, never on how fast anything was.

mod support;

use std::time::Duration;
use stress_client::check::Verdict;
use stress_client::load::at_least_one;
use stress_client::load::{Load, LoadSpec};
use stress_client::outcome::Outcome;
use stress_client::run::{run_load, LoadConfig};
use stress_client::target::Target;
use support::{EventsConfig, Loss};

fn load(requests: usize, users: usize) -> Load {
    Load::generate(&LoadSpec {
        requests,
        users: at_least_one(users),
        seed: 42,
    })
}

fn config(addr: std::net::SocketAddr, concurrency: usize) -> LoadConfig {
    LoadConfig {
        concurrency: at_least_one(concurrency),
        timeout: Duration::from_secs(5),
        ..LoadConfig::new(Target::from_addr(addr))
    }
}

const DRAIN: Option<Duration> = Some(Duration::from_secs(20));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_against_a_queue_is_classified_and_nothing_is_lost() {
    let server = support::events_server(EventsConfig {
        workers: 2,
        capacity: 5,
        work: Duration::from_millis(20),
        ..EventsConfig::default()
    })
    .await;
    let (run, check) =
        stress_client::run_and_check(&config(server.addr, 40), &load(200, 10), DRAIN).await;
    let accepted = run.tally.count(Outcome::Accepted);
    let rejected = run.tally.count(Outcome::Rejected);
    assert_eq!(accepted + rejected, 200, "{:?}", run.outcomes);
    assert!(
        rejected > 0,
        "a 5-slot queue must reject part of a 40-wide burst"
    );
    assert!(accepted >= 5);
    assert_eq!(check.verdict, Verdict::Ok, "{check:?}");
    assert_eq!(check.lost, 0);
    assert_eq!(check.processed, accepted);
    assert_eq!(check.server_accepted, accepted);
    assert_eq!(check.server_rejected, rejected);
    assert_eq!(check.balance_delta, run.ledger.accepted_amount_sum);
    // The test server's /stats: 2 workers × 1000 / 20 ms, capacity 5.
    assert_eq!(check.model.as_ref().map(|m| m.jobs_per_sec), Some(100.0));
    let burst = 5.0 + 2.0 + 100.0 * (run.send_duration_secs - 0.020).max(0.0);
    assert_eq!(check.expected_accepted, Some(burst.min(200.0)));
    assert!(check.measured_jobs_per_sec.is_some_and(|j| j > 0.0));
    assert_eq!(run.latency.accepted.n, accepted);
    assert_eq!(run.latency.rejected.n, rejected);
    assert_eq!(run.latency.all.n, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_drops_jobs_is_caught() {
    let server = support::events_server(EventsConfig {
        loss: Loss::DropJobs,
        capacity: 1000,
        work: Duration::from_millis(1),
        ..EventsConfig::default()
    })
    .await;
    let (run, check) =
        stress_client::run_and_check(&config(server.addr, 10), &load(100, 10), DRAIN).await;
    assert_eq!(run.tally.count(Outcome::Accepted), 100);
    assert_eq!(check.verdict, Verdict::Loss, "{check:?}");
    assert_eq!(check.lost, 20, "every fifth of 100 jobs vanished");
    assert!(check.failed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_update_shows_in_the_balance() {
    let server = support::events_server(EventsConfig {
        loss: Loss::LostUpdate,
        capacity: 1000,
        work: Duration::from_millis(1),
        ..EventsConfig::default()
    })
    .await;
    let (_, check) =
        stress_client::run_and_check(&config(server.addr, 10), &load(100, 10), DRAIN).await;
    assert_eq!(check.lost, 0, "the count looks right");
    assert_eq!(check.verdict, Verdict::Loss, "{check:?}");
    assert!(check.balance_mismatch.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_requests_are_ambiguous_not_lost() {
    let server = support::events_server(EventsConfig {
        capacity: 1000,
        work: Duration::from_millis(1),
        answer_delay: Duration::from_millis(400),
        ..EventsConfig::default()
    })
    .await;
    let mut config = config(server.addr, 10);
    config.timeout = Duration::from_millis(100);
    let (run, check) = stress_client::run_and_check(&config, &load(20, 5), DRAIN).await;
    assert_eq!(run.tally.count(Outcome::Timeout), 20);
    assert_eq!(run.ledger.ambiguous, 20);
    assert_eq!(check.verdict, Verdict::Ok, "{check:?}");
    assert_eq!(check.lost, 0);
    assert_eq!(check.ambiguous_applied, check.processed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_server_skips_the_check_and_says_why() {
    let server = support::echo_server().await;
    let (run, check) =
        stress_client::run_and_check(&config(server.addr, 8), &load(50, 5), DRAIN).await;
    assert_eq!(run.tally.count(Outcome::Accepted), 50, "{:?}", run.outcomes);
    assert_eq!(check.verdict, Verdict::Skipped);
    assert!(check.skipped_reason.is_some_and(|r| r.contains("/stats")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_refused() {
    let mut config = config(support::closed_port(), 4);
    config.timeout = Duration::from_secs(2);
    let run = run_load(&config, &load(12, 3)).await;
    assert_eq!(run.tally.count(Outcome::Refused), 12, "{:?}", run.outcomes);
    assert_eq!(
        run.ledger.ambiguous, 0,
        "a refused request never reached anyone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_mode_opens_a_connection_per_request() {
    let server = support::events_server(EventsConfig {
        capacity: 1000,
        ..EventsConfig::default()
    })
    .await;
    let mut config = config(server.addr, 5);
    config.keep_alive = false;
    let (run, check) = stress_client::run_and_check(&config, &load(60, 5), DRAIN).await;
    assert_eq!(run.tally.count(Outcome::Accepted), 60, "{:?}", run.outcomes);
    assert_eq!(check.verdict, Verdict::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_sends_the_same_requests_in_the_same_order() {
    let mut orders = Vec::new();
    for _ in 0..2 {
        let server = support::events_server(EventsConfig {
            capacity: 1000,
            work: Duration::from_millis(1),
            ..EventsConfig::default()
        })
        .await;
        // One connection: the order of issue is the order of arrival.
        run_load(&config(server.addr, 1), &load(40, 7)).await;
        orders.push(server.arrivals());
    }
    assert_eq!(orders[0].len(), 40);
    assert_eq!(orders[0], orders[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_is_not_recorded_but_is_checked() {
    let server = support::events_server(EventsConfig {
        capacity: 1000,
        work: Duration::from_millis(1),
        ..EventsConfig::default()
    })
    .await;
    let mut config = config(server.addr, 4);
    config.warmup = 15;
    let (run, check) = stress_client::run_and_check(&config, &load(30, 5), DRAIN).await;
    assert_eq!(run.requests, 30);
    assert_eq!(run.latency.all.n, 30);
    assert_eq!(run.ledger.accepted, 45);
    assert_eq!(check.processed, 45);
    assert_eq!(check.verdict, Verdict::Ok, "{check:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_reports_both_latencies_and_late_starts() {
    let server = support::events_server(EventsConfig {
        capacity: 1000,
        work: Duration::from_millis(1),
        answer_delay: Duration::from_millis(10),
        ..EventsConfig::default()
    })
    .await;
    // One connection to a server that takes at least 10 ms per answer, asked for one
    // request every 2.5 ms: request k cannot start before k × 10 ms though it was due at
    // k × 2.5 ms, so every request after the first starts late.
    let mut config = config(server.addr, 1);
    config.rate = Some(400.0);
    let run = run_load(&config, &load(40, 5)).await;
    assert_eq!(run.tally.count(Outcome::Accepted), 40);
    let uncorrected = run
        .latency_uncorrected
        .as_ref()
        .expect("open loop keeps both");
    assert_eq!(uncorrected.all.n, 40);
    assert_eq!(run.latency.all.n, 40);
    assert!(
        run.late_starts.is_some_and(|late| late >= 39),
        "{:?}",
        run.late_starts
    );
    // The last request was due at 39 × 2.5 ms = 97.5 ms and cannot end before 40 × 10 ms:
    // measured from when it was due, it took at least 302.5 ms.
    assert!(
        run.latency.all.max_micros >= 300_000,
        "corrected max {} µs",
        run.latency.all.max_micros
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idle_connection_freezes_a_blocking_server() {
    let addr = support::blocking_echo_server();
    let mut config = config(addr, 2);
    config.idle = 1;
    config.timeout = Duration::from_millis(300);
    let run = run_load(&config, &load(4, 2)).await;
    let idle = run.idle.as_ref().expect("idle report");
    assert_eq!(idle.opened, 1);
    assert_eq!(run.tally.count(Outcome::Timeout), 4, "{:?}", run.outcomes);

    // Without the idle connection the same server answers.
    config.idle = 0;
    config.timeout = Duration::from_secs(5);
    let run = run_load(&config, &load(4, 2)).await;
    assert_eq!(run.tally.count(Outcome::Accepted), 4, "{:?}", run.outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_reports_what_it_sent() {
    let server = support::silent_server().await;
    let mut config = config(server.addr, 2);
    config.timeout = Duration::from_millis(200);
    let stop = config.stop.clone();
    // Stop once both connections have a request in flight: each of those still ends (in a
    // timeout) and is reported, so at least 2 requests, and far fewer than 1000.
    let stop_when_busy = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while server.connections() < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the client never opened 2 connections"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.stop();
    };
    let load = load(1000, 5);
    let (run, ()) = tokio::join!(run_load(&config, &load), stop_when_busy);
    assert!(run.stopped_early);
    assert!(run.requests >= 2 && run.requests < 1000, "{}", run.requests);
    assert_eq!(run.tally.count(Outcome::Timeout), run.requests);
}
