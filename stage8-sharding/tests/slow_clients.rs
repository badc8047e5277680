//! Stage 8's copy of stage 3's `slow_clients.rs`: idle and slow clients cost a
//! timeout, not the service, here too: with a thousand silent
//! connections and a few clients sending one byte a second open at once, normal
//! requests are still answered; the silent connections are closed (without an answer:
//! no request was in progress) no sooner than the read timeout after they were
//! accepted, and the byte-a-second clients get `408 request_timeout` no sooner than the
//! read timeout after their first byte. Every normal event is also applied exactly.
//!
//! Both ends of every connection live in this process (two descriptors each), so the
//! test raises its soft RLIMIT_NOFILE towards what it needs. If the hard limit is too
//! low for that, it scales the number of idle connections down to fit and says so on
//! stderr, rather than failing on the machine instead of on the server.

use std::net::SocketAddr;
use std::time::Duration;

use stage8::{run, Config};
use test_kit::{post, start, wait_for_stats, Client, VALID};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The issue's figure: a thousand silent connections.
const IDLE: usize = 1000;
/// Clients that send one byte a second and never finish.
const SLOW: usize = 10;
/// Short, so the test sees the timeouts fire; long enough to serve the normal requests
/// while every idle connection is still open.
const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// Raises the soft descriptor limit as far as needed (or allowed) and returns how many
/// idle connections this process can afford to hold.
fn affordable_idle_connections() -> usize {
    // Both ends of each connection, plus slack for the slow and normal clients, the
    // runtime, and the test harness.
    let wanted = (2 * (IDLE + SLOW) + 256) as u64;
    let limit = rlimit::increase_nofile_limit(wanted).expect("read and raise RLIMIT_NOFILE");
    let affordable = usize::try_from(limit.saturating_sub(256) / 2)
        .unwrap_or(IDLE)
        .saturating_sub(SLOW)
        .min(IDLE);
    if affordable < IDLE {
        eprintln!(
            "RLIMIT_NOFILE allows only {limit} descriptors: holding {affordable} idle connections instead of {IDLE}"
        );
    }
    affordable
}

/// Sends a valid request one byte a second until the server answers; returns the
/// answer and how long after the first byte it came.
async fn byte_a_second(addr: SocketAddr) -> (test_kit::Answer, Duration) {
    let mut client = Client::connect(addr).await;
    let request = post(VALID, "");
    let started = Instant::now();
    for byte in request {
        if !client.try_send(&[byte]).await {
            break;
        }
        if let Ok(answer) = tokio::time::timeout(Duration::from_secs(1), client.answer()).await {
            let answer = answer.expect("an answer before the server closes");
            return (answer, started.elapsed());
        }
    }
    let answer = client.answer().await.expect("an answer, not a close");
    (answer, started.elapsed())
}

#[tokio::test]
async fn idle_and_byte_a_second_clients_do_not_stop_normal_requests() {
    let idle_count = affordable_idle_connections();
    assert!(idle_count >= 100, "too few descriptors to test anything");
    let addr = start(
        run,
        Config {
            read_timeout: READ_TIMEOUT,
            work_ms: 0,
            ..Config::default()
        },
    )
    .await;

    let mut idle = Vec::with_capacity(idle_count);
    for _ in 0..idle_count {
        let stream = TcpStream::connect(addr)
            .await
            .expect("open an idle connection");
        idle.push((stream, Instant::now()));
    }
    let slow: Vec<_> = (0..SLOW)
        .map(|_| tokio::spawn(byte_a_second(addr)))
        .collect();

    // Normal clients, on fresh connections and on one keep-alive connection.
    for i in 0..20 {
        let body = format!(r#"{{"user":"u{i}","action":"buy","amount":{i}}}"#);
        let answer = Client::connect(addr)
            .await
            .roundtrip(&post(&body, ""))
            .await;
        assert_eq!(answer.status, 202, "{answer:?}");
    }
    let mut keep_alive = Client::connect(addr).await;
    for _ in 0..20 {
        assert_eq!(keep_alive.roundtrip(&post(VALID, "")).await.status, 202);
    }

    for handle in slow {
        let (answer, waited) = handle.await.expect("the slow client task finished");
        assert_eq!(answer.status, 408, "{answer:?}");
        assert_eq!(answer.reason(), "request_timeout", "{answer:?}");
        assert!(waited >= READ_TIMEOUT, "answered 408 after only {waited:?}");
    }

    for (mut stream, opened) in idle {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(test_kit::PATIENCE, stream.read(&mut byte))
            .await
            .expect("the server closes an idle connection");
        // Silent: there was no request to answer, so no 408 either.
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        let waited = opened.elapsed();
        assert!(waited >= READ_TIMEOUT, "closed after only {waited:?}");
    }

    // And the server is still serving afterwards, and lost nothing it accepted.
    let answer = Client::connect(addr)
        .await
        .roundtrip(&post(VALID, ""))
        .await;
    assert_eq!(answer.status, 202);
    let after = wait_for_stats(addr, |s| s["processed"] == 41).await;
    assert_eq!(after["accepted"], 41);
    // 0 + 1 + ... + 19 from the fresh connections, 21 × 100 from the others.
    assert_eq!(after["balance_total"], 190 + 21 * 100);
    // The byte-a-second clients were answered 408, a client error.
    assert_eq!(after["invalid"], SLOW);
}
