//! Hostile values against stage 8 (a smaller set than stage 3's `hostile.rs`, whose
//! framing code this stage shares byte for byte): bounded amounts reach the ledger
//! exactly, absurd, negative, repeated and conflicting framing headers get their status
//! and reason, non-UTF-8 and deeply nested bodies are refused by type, and none of it
//! reaches the ledger or stops the server.
//!
//! Then the wire: a request hidden behind a bare LF gets no answer of its own and never
//! reaches the ledger, HEAD is answered without a body (on `/stats` with the headers of
//! GET), targets that are not an ASCII path are bad requests, and a client that never
//! reads its answers is let go and does not hold up a shutdown, which still applies
//! every accepted event. Raw sockets, because what these check is bytes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stage8::{run, Config};
use test_kit::{assert_error, event, post, start, wait_for_stats, Client, PATIENCE, VALID};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn instant() -> Config {
    Config {
        work_ms: 0,
        hold_ms: 0,
        max_body: 1024 * 1024,
        ..Config::default()
    }
}

async fn answer_on(addr: SocketAddr, bytes: &[u8]) -> test_kit::Answer {
    Client::connect(addr).await.roundtrip(bytes).await
}

#[tokio::test]
async fn amounts_at_the_bounds_reach_the_ledger_and_one_past_them_do_not() {
    let addr = start(run, instant()).await;
    let mut client = Client::connect(addr).await;
    for amount in [1_000_000_000, -1_000_000_000, 1_000_000_000] {
        assert_eq!(client.roundtrip(&event("edge", amount)).await.status, 202);
    }
    for amount in [
        "1000000001",
        "-1000000001",
        "99999999999999999999999",
        "-9223372036854775808",
    ] {
        let body = format!(r#"{{"user":"edge","action":"buy","amount":{amount}}}"#);
        assert_error(
            &client.roundtrip(&post(&body, "")).await,
            400,
            "invalid_event",
        );
    }
    let after = wait_for_stats(addr, |s| s["processed"] == 3).await;
    assert_eq!(after["balance_total"], 1_000_000_000);
    assert_eq!(after["accepted"], 3);
    assert_eq!(after["invalid"], 4);
}

#[tokio::test]
async fn framing_headers_are_checked_before_anything_is_queued() {
    let addr = start(run, instant()).await;
    let length = VALID.len();
    let cases = [
        (
            "Content-Length: 10000000000".to_owned(),
            413,
            "body_too_large",
        ),
        (
            "Content-Length: 99999999999999999999999".to_owned(),
            413,
            "body_too_large",
        ),
        (
            "Content-Length: -1".to_owned(),
            400,
            "invalid_content_length",
        ),
        (
            format!("Content-Length: {length}\r\nContent-Length: {}", length + 1),
            400,
            "invalid_content_length",
        ),
        (
            format!("Content-Length: {length}\r\nTransfer-Encoding: chunked"),
            501,
            "unsupported_transfer_encoding",
        ),
    ];
    for (head, status, reason) in &cases {
        let request = format!("POST /events HTTP/1.1\r\n{head}\r\n\r\n{VALID}");
        assert_error(&answer_on(addr, request.as_bytes()).await, *status, reason);
    }
    // Agreeing copies in odd case and spacing frame the same body.
    let request = format!(
        "POST /events HTTP/1.1\r\ncontent-length: {length}\r\nCONTENT-LENGTH:  {length} \r\n\r\n{VALID}"
    );
    assert_eq!(answer_on(addr, request.as_bytes()).await.status, 202);

    let after = wait_for_stats(addr, |s| s["processed"] == 1).await;
    assert_eq!(after["accepted"], 1);
    // `invalid` counts client errors (4xx); the 501 is ours to admit, not theirs.
    let client_errors = cases.iter().filter(|(_, status, _)| *status < 500).count();
    assert_eq!(after["invalid"], client_errors);
    assert_eq!(after["balance_total"], 100);
}

#[tokio::test]
async fn non_utf8_and_deeply_nested_bodies_are_refused_by_type() {
    let addr = start(run, instant()).await;
    let mut client = Client::connect(addr).await;

    let body = b"{\"user\":\"al\xffice\",\"action\":\"buy\",\"amount\":1}";
    let mut request = format!(
        "POST /events HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    assert_error(&client.roundtrip(&request).await, 400, "invalid_json");

    for body in [
        "[".repeat(100_000),
        format!(
            r#"{{"user":"alice","action":"buy","amount":{}"#,
            "[".repeat(100_000)
        ),
    ] {
        assert_error(
            &client.roundtrip(&post(&body, "")).await,
            400,
            "invalid_event",
        );
    }
    assert_eq!(client.roundtrip(&post(VALID, "")).await.status, 202);
    let after = wait_for_stats(addr, |s| s["processed"] == 1).await;
    assert_eq!(after["users"], 1);
    assert_eq!(after["invalid"], 3);
}

/// Sends `bytes` on a fresh connection, half-closes, and returns everything the server
/// sent back until it closed.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("send");
    stream.shutdown().await.expect("half-close");
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received))
        .await
        .expect("the server closed within the patience bound")
        .ok();
    received
}

/// How many answers `bytes` holds: status lines (our JSON bodies never contain one).
fn count_answers(bytes: &[u8]) -> usize {
    bytes
        .windows(9)
        .filter(|&window| window == b"HTTP/1.1 ")
        .count()
}

#[tokio::test]
async fn a_request_hidden_behind_a_bare_lf_is_neither_answered_nor_applied() {
    let addr = start(run, instant()).await;
    // To a lenient reader: an event (Content-Length after the bare LF), then a second
    // request. To a CRLF-strict proxy: a POST without a length, then garbage.
    let mut request = format!(
        "POST /events HTTP/1.1\r\nHost: x\r\nDummy: x\nContent-Length: {}\r\n\r\n",
        VALID.len()
    )
    .into_bytes();
    request.extend_from_slice(VALID.as_bytes());
    request.extend_from_slice(&event("hidden", 5));
    let received = raw_exchange(addr, &request).await;
    let text = String::from_utf8_lossy(&received);
    assert_eq!(count_answers(&received), 1, "{text}");
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(text.contains(r#""reason":"bad_request""#), "{text}");

    assert_eq!(answer_on(addr, &post(VALID, "")).await.status, 202);
    let after = wait_for_stats(addr, |s| s["processed"] == 1).await;
    assert_eq!(
        after["users"], 1,
        "only the honest event reached the ledger"
    );
}

#[tokio::test]
async fn head_gets_the_headers_of_get_and_no_body() {
    let addr = start(run, instant()).await;
    let received = raw_exchange(
        addr,
        b"HEAD /stats HTTP/1.1\r\nHost: x\r\n\r\nHEAD /events HTTP/1.1\r\n\r\n\
          GET /stats HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&received);
    assert_eq!(count_answers(&received), 3, "{text}");
    let mut rest = &text[..];
    for status in ["200", "405"] {
        let end = rest.find("\r\n\r\n").expect("a complete head") + 4;
        let head = &rest[..end];
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        assert!(head.contains("Content-Length: "), "{head}");
        rest = &rest[end..];
        assert!(
            rest.starts_with("HTTP/1.1 "),
            "no body after a HEAD answer: {text}"
        );
    }
    assert!(rest.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(
        rest.contains(r#""processed":"#),
        "GET /stats has its body: {text}"
    );
    assert!(text.contains("Allow: POST"), "{text}");
}

#[tokio::test]
async fn targets_that_are_not_an_ascii_path_are_bad_requests_quoted_nowhere() {
    let addr = start(run, instant()).await;
    for target in [
        &b"!"[..],
        b"stats",
        "/st\u{e4}ts".as_bytes(),
        b"/stats\x01",
        b"/\xff",
    ] {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(target);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        let answer = answer_on(addr, &request).await;
        assert_error(&answer, 400, "bad_request");
        let detail = answer.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail
                .bytes()
                .all(|byte| byte.is_ascii_graphic() || byte == b' '),
            "{target:?}: raw bytes in {detail:?}"
        );
    }
    let answer = answer_on(addr, b"GET http://x/stats?y=1 HTTP/1.1\r\n\r\n").await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

/// Pipelines `request` on `stream` as fast as the server takes it, never reading an
/// answer, and counts the bytes sent in `sent`. Returns once a write fails: the server
/// has let go of the connection.
async fn pipeline_without_reading(mut stream: TcpStream, request: Vec<u8>, sent: Arc<AtomicUsize>) {
    while stream.write_all(&request).await.is_ok() {
        sent.fetch_add(request.len(), Ordering::Relaxed);
    }
}

/// Waits until the slow reader's sending has stalled: the server has stopped reading,
/// because it is stuck writing answers nobody takes. A precondition only: it makes the
/// shutdown below start while the server is stuck, and asserts nothing about time.
async fn wait_until_stalled(sent: &AtomicUsize) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut before = sent.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = sent.load(Ordering::Relaxed);
        if now > 0 && now == before {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the client never stalled"
        );
        before = now;
    }
}

#[tokio::test]
async fn a_client_that_never_reads_is_let_go_and_shutdown_still_applies_every_event() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let config = Config {
        read_timeout: Duration::from_secs(2),
        ..instant()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, config, async {
        let _ = stopped.await;
    }));
    // `/stats` answers are far bigger than the requests, so they fill the buffers fast.
    let request = b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();

    // Without a shutdown: the write timeout lets go of the connection.
    let first = TcpStream::connect(addr).await.expect("connect");
    let sent = Arc::new(AtomicUsize::new(0));
    tokio::time::timeout(
        PATIENCE,
        pipeline_without_reading(first, request.clone(), Arc::clone(&sent)),
    )
    .await
    .expect("the server closed the connection of a client that never reads");

    // Events accepted before the shutdown are applied by the time `run` returns.
    let mut client = Client::connect(addr).await;
    for amount in 1..=5 {
        assert_eq!(client.roundtrip(&event("ivy", amount)).await.status, 202);
    }
    // A shutdown that starts while the server is stuck writing still ends.
    let second = TcpStream::connect(addr).await.expect("connect");
    let sent = Arc::new(AtomicUsize::new(0));
    let slow = tokio::spawn(pipeline_without_reading(second, request, Arc::clone(&sent)));
    wait_until_stalled(&sent).await;
    stop.send(()).expect("server is running");
    let summary = tokio::time::timeout(PATIENCE, server)
        .await
        .expect("run returns after shutdown, whatever the client does")
        .expect("the server task did not panic");
    assert_eq!(summary.processed, 5);
    assert_eq!(summary.balance_total, 15);
    tokio::time::timeout(PATIENCE, slow)
        .await
        .expect("the connection was closed")
        .expect("the client task did not panic");
}
