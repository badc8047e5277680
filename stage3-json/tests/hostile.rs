//! Hostile values, each answered with the status and reason of the wire protocol and
//! never with a crash: amounts at their bounds and one past them, absurd and negative
//! Content-Lengths, repeated Content-Lengths, Transfer-Encoding next to Content-Length,
//! odd header spelling, bytes that are not UTF-8, and JSON nested 100 000 deep. After
//! every hostile request the server still accepts a valid one.
//!
//! The second half is about the wire itself: line endings that are not CRLF (the way
//! to smuggle a request past a proxy), HEAD answered without a body, request targets
//! that are not a plain ASCII path, and a client that sends requests but never reads
//! the answers. Those tests use raw sockets, because what they check is bytes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use test_kit::{assert_error, post, start, Client, PATIENCE, VALID};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Sends `bytes` on a fresh connection and returns the answer.
async fn answer_on(addr: SocketAddr, bytes: &[u8]) -> test_kit::Answer {
    Client::connect(addr).await.roundtrip(bytes).await
}

/// The server survived: a valid event on a new connection is still accepted.
async fn still_serves(addr: SocketAddr) {
    assert_eq!(answer_on(addr, &post(VALID, "")).await.status, 200);
}

fn event_with_amount(amount: &str) -> String {
    format!(r#"{{"user":"alice","action":"buy","amount":{amount}}}"#)
}

#[tokio::test]
async fn amounts_are_accepted_up_to_the_bound_and_refused_one_past_it() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let mut client = Client::connect(addr).await;
    for amount in ["1000000000", "-1000000000", "0"] {
        let answer = client
            .roundtrip(&post(&event_with_amount(amount), ""))
            .await;
        assert_eq!(answer.status, 200, "{amount}: {answer:?}");
    }
    for amount in [
        "1000000001",
        "-1000000001",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "99999999999999999999999",
        "-99999999999999999999999",
        "1e9",
        "1000000000.0",
        // serde_json reads `-0` as the float -0.0 (to keep its sign), and a float is
        // not an amount: refused with the same clear reason as `1.5`.
        "-0",
    ] {
        let answer = client
            .roundtrip(&post(&event_with_amount(amount), ""))
            .await;
        // Refused as an event, not as JSON: the document is well formed. The connection
        // stays open, because the framing was fine.
        assert_error(&answer, 400, "invalid_event");
    }
    assert_eq!(client.roundtrip(&post(VALID, "")).await.status, 200);
}

#[tokio::test]
async fn absurd_content_lengths_are_refused_from_the_claim() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    for length in [
        "10000000000",
        "99999999999999999999999",
        "18446744073709551616",
    ] {
        let request = format!("POST /events HTTP/1.1\r\nContent-Length: {length}\r\n\r\n{VALID}");
        assert_error(
            &answer_on(addr, request.as_bytes()).await,
            413,
            "body_too_large",
        );
    }
    for length in ["-1", "-10000000000", "-0", "1 0", "", "10 GB"] {
        let request = format!("POST /events HTTP/1.1\r\nContent-Length: {length}\r\n\r\n{VALID}");
        assert_error(
            &answer_on(addr, request.as_bytes()).await,
            400,
            "invalid_content_length",
        );
    }
    still_serves(addr).await;
}

#[tokio::test]
async fn repeated_content_lengths_must_agree() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let length = VALID.len();
    let mut client = Client::connect(addr).await;
    for repeat in [
        format!("Content-Length: {length}\r\nContent-Length: {length}"),
        format!("content-length: {length}\r\nCONTENT-LENGTH:  {length} "),
        format!("Content-Length: {length}\r\nContent-Length: 000{length}"),
    ] {
        let request = format!("POST /events HTTP/1.1\r\n{repeat}\r\n\r\n{VALID}");
        // Agreeing copies frame the same body; the connection stays usable.
        assert_eq!(client.roundtrip(request.as_bytes()).await.status, 200);
    }
    for repeat in [
        format!("Content-Length: {length}\r\nContent-Length: {}", length + 1),
        format!("Content-Length: {length}\r\ncontent-length: 0"),
        // A list in one header is not a number (and proxies disagree about it).
        format!("Content-Length: {length}, {length}"),
    ] {
        let request = format!("POST /events HTTP/1.1\r\n{repeat}\r\n\r\n{VALID}");
        let mut client = Client::connect(addr).await;
        assert_error(
            &client.roundtrip(request.as_bytes()).await,
            400,
            "invalid_content_length",
        );
        assert!(client.closed().await, "the framing is lost, so we close");
    }
}

#[tokio::test]
async fn transfer_encoding_beside_a_content_length_is_refused_in_any_order() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let length = VALID.len();
    for head in [
        format!("Content-Length: {length}\r\nTransfer-Encoding: chunked"),
        format!("Transfer-Encoding: chunked\r\nContent-Length: {length}"),
        format!("content-length: {length}\r\ntransfer-encoding: identity"),
        format!("Content-Length: {length}\r\nTRANSFER-ENCODING:  gzip, chunked "),
    ] {
        let request = format!("POST /events HTTP/1.1\r\n{head}\r\n\r\n{VALID}");
        let mut client = Client::connect(addr).await;
        assert_error(
            &client.roundtrip(request.as_bytes()).await,
            501,
            "unsupported_transfer_encoding",
        );
        assert!(client.closed().await);
    }
    still_serves(addr).await;
}

#[tokio::test]
async fn header_names_in_odd_case_and_values_with_spaces_are_understood() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let length = VALID.len();

    // `Connection: close` spelled oddly, padded, and in a list, is still honoured.
    for connection in [
        "CONNECTION:   close  ",
        "connection:\tClose",
        "cOnNeCtIoN: foo, CLOSE",
    ] {
        let request = format!(
            "POST /events HTTP/1.1\r\nContent-Length: {length}\r\n{connection}\r\n\r\n{VALID}"
        );
        let mut client = Client::connect(addr).await;
        let answer = client.roundtrip(request.as_bytes()).await;
        assert_eq!(answer.status, 200, "{connection}: {answer:?}");
        assert_eq!(answer.header("connection"), Some("close"), "{connection}");
        assert!(client.closed().await, "{connection}");
    }

    // `Expect: 100-continue` spelled oddly still gets its interim answer.
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /events HTTP/1.1\r\neXpEcT:  100-CONTINUE \r\ncontent-LENGTH:{length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut buffer = vec![0; interim.len()];
    tokio::time::timeout(test_kit::PATIENCE, stream.read_exact(&mut buffer))
        .await
        .expect("the interim answer arrives")
        .expect("read the interim answer");
    assert_eq!(buffer, interim);

    // Whitespace between a header name and its colon is forbidden (RFC 9112 §5.1):
    // proxies disagree about such a header, so it is a syntax error, not a guess.
    let request = format!("POST /events HTTP/1.1\r\nContent-Length : {length}\r\n\r\n{VALID}");
    assert_error(
        &answer_on(addr, request.as_bytes()).await,
        400,
        "bad_request",
    );
    still_serves(addr).await;
}

#[tokio::test]
async fn bytes_that_are_not_utf8_get_clear_answers() {
    let addr = start(stage3::run, stage3::Config::default()).await;

    // In a header value: opaque bytes we never look at, so the request is fine.
    let mut request = b"POST /events HTTP/1.1\r\nX-Name: caf\xe9 \xff\xfe\r\n".to_vec();
    request.extend_from_slice(format!("Content-Length: {}\r\n\r\n{VALID}", VALID.len()).as_bytes());
    assert_eq!(answer_on(addr, &request).await.status, 200);

    // In a header name or the request line: a syntax error.
    let mut request = b"POST /events HTTP/1.1\r\nX-\xff: 1\r\n".to_vec();
    request.extend_from_slice(format!("Content-Length: {}\r\n\r\n{VALID}", VALID.len()).as_bytes());
    assert_error(&answer_on(addr, &request).await, 400, "bad_request");
    assert_error(
        &answer_on(addr, b"P\xffST /events HTTP/1.1\r\n\r\n").await,
        400,
        "bad_request",
    );

    // In the path: a target is ASCII (RFC 9112 §3.2), so this is a bad request, never
    // a path we look up.
    let answer = answer_on(addr, b"GET /ev\xff\xfeents HTTP/1.1\r\n\r\n").await;
    assert_error(&answer, 400, "bad_request");
    let answer = answer_on(
        addr,
        b"POST /events\xc3\x28 HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_error(&answer, 400, "bad_request");

    // In the body: JSON must be UTF-8, inside a string or outside one.
    let mut client = Client::connect(addr).await;
    for body in [
        &b"{\"user\":\"al\xffice\",\"action\":\"buy\",\"amount\":1}"[..],
        b"\xff\xfe{}",
        b"{\"user\":\"alice\",\"action\":\"buy\",\"amount\":1}\xff",
    ] {
        let mut request = format!(
            "POST /events HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let answer = client.roundtrip(&request).await;
        assert_error(&answer, 400, "invalid_json");
    }
    assert_eq!(client.roundtrip(&post(VALID, "")).await.status, 200);
}

#[tokio::test]
async fn json_nested_a_hundred_thousand_deep_is_refused_without_recursing() {
    let deep = 100_000;
    let bodies = [
        "[".repeat(deep),
        format!("{}{}", "[".repeat(deep), "]".repeat(deep)),
        format!(r#"{{"user":{}"#, "[".repeat(deep)),
        format!(
            r#"{{"user":"alice","action":"buy","amount":{}"#,
            "{\"a\":".repeat(deep)
        ),
        format!(
            r#"{{"user":"alice","action":"buy","amount":1,"x":{}"#,
            "[".repeat(deep)
        ),
    ];

    // At the default 64 KiB limit the claim alone is too large.
    let addr = start(stage3::run, stage3::Config::default()).await;
    let answer = answer_on(addr, &post(&bodies[0], "")).await;
    assert_error(&answer, 413, "body_too_large");

    // With room for it, the body is read and refused by type, not by a stack overflow:
    // the event is a struct of a string, a string and an integer, so serde stops at
    // the first bracket where a string or number belongs.
    let addr = start(
        stage3::run,
        stage3::Config {
            max_body: 1024 * 1024,
            ..Default::default()
        },
    )
    .await;
    let mut client = Client::connect(addr).await;
    for body in &bodies {
        let answer = client.roundtrip(&post(body, "")).await;
        assert_error(&answer, 400, "invalid_event");
    }
    assert_eq!(client.roundtrip(&post(VALID, "")).await.status, 200);
}

/// Sends `bytes` on a fresh connection, half-closes, and returns everything the server
/// sent back until it closed.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("send");
    // Half-closing tells the server no more is coming; it still answers what it read.
    stream.shutdown().await.expect("half-close");
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received))
        .await
        .expect("the server closed within the patience bound")
        .ok();
    received
}

/// How many answers `bytes` holds: status lines, which follow the previous answer's
/// body directly (our bodies are JSON and never contain one).
fn count_answers(bytes: &[u8]) -> usize {
    bytes
        .windows(9)
        .filter(|&window| window == b"HTTP/1.1 ")
        .count()
}

// The issue's example: to a proxy that ends lines only at CRLF, `Dummy` is one header
// whose value runs on to `Content-Length: 23`, the request has no body, and the bytes
// after the head are a second request. A server that also ends lines at a bare LF reads
// a Content-Length and takes those bytes as a body; it can be made to answer the hidden
// request on its own instead (or, here, the other way round). Either way, two parsers
// see two different conversations. The only safe answer is one 400, then close.
const SMUGGLED: &[u8] = b"POST /events HTTP/1.1\r\nHost: x\r\nDummy: x\nContent-Length: 23\r\n\r\n\
GET /hidden HTTP/1.1\r\n\r\n";

#[tokio::test]
async fn a_request_hidden_behind_a_bare_lf_gets_no_answer_of_its_own() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let received = raw_exchange(addr, SMUGGLED).await;
    let text = String::from_utf8_lossy(&received);
    assert_eq!(count_answers(&received), 1, "{text}");
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(text.contains(r#""reason":"bad_request""#), "{text}");
    assert!(text.contains("Connection: close"), "{text}");
    still_serves(addr).await;
}

#[tokio::test]
async fn a_bare_lf_or_cr_anywhere_in_the_head_is_a_bad_request() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let body = VALID;
    let length = body.len();
    for head in [
        format!("POST /events HTTP/1.1\nContent-Length: {length}\r\n\r\n"),
        format!("POST /events HTTP/1.1\r\nContent-Length: {length}\nHost: x\r\n\r\n"),
        format!("POST /events HTTP/1.1\r\nContent-Length: {length}\n\n"),
        format!("POST /events HTTP/1.1\r\nContent-Length: {length}\r\n\n"),
        format!("POST /events HTTP/1.1\r\nContent-Length: {length}\n\r\n"),
        format!("\nPOST /events HTTP/1.1\r\nContent-Length: {length}\r\n\r\n"),
        format!("POST /events HTTP/1.1\rContent-Length: {length}\r\n\r\n"),
        format!("POST /events HTTP/1.1\r\nHost: x\rContent-Length: {length}\r\n\r\n"),
        format!("POST /events HTTP/1.1\r\nContent-Length: {length}\r\r\n\r\n"),
    ] {
        let request = format!("{head}{body}");
        let received = raw_exchange(addr, request.as_bytes()).await;
        let text = String::from_utf8_lossy(&received);
        assert_eq!(count_answers(&received), 1, "{head:?}: {text}");
        assert!(text.starts_with("HTTP/1.1 400 "), "{head:?}: {text}");
        assert!(
            text.contains(r#""reason":"bad_request""#),
            "{head:?}: {text}"
        );
    }
    // CRLF before the request line is still tolerated (RFC 9112 §2.2), as it is CRLF.
    let mut client = Client::connect(addr).await;
    let mut request = b"\r\n".to_vec();
    request.extend_from_slice(&post(VALID, ""));
    assert_eq!(client.roundtrip(&request).await.status, 200);
}

#[tokio::test]
async fn head_is_answered_without_a_body_and_the_connection_stays_in_step() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let mut request =
        b"HEAD /events HTTP/1.1\r\nHost: x\r\n\r\nHEAD /nowhere HTTP/1.1\r\n\r\n".to_vec();
    request.extend_from_slice(&post(VALID, "Connection: close\r\n"));
    let received = raw_exchange(addr, &request).await;
    let text = String::from_utf8_lossy(&received);
    assert_eq!(count_answers(&received), 3, "{text}");

    // Each answer to HEAD is a head alone, announcing the length a GET-like answer would
    // have, and the next status line follows right after its blank line.
    let mut rest = &text[..];
    for status in ["405", "404"] {
        let end = rest.find("\r\n\r\n").expect("a complete head") + 4;
        let head = &rest[..end];
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .and_then(|value| value.parse().ok())
            .expect("a Content-Length");
        assert!(length > 0, "the length of the body left out: {head}");
        rest = &rest[end..];
        assert!(
            rest.starts_with("HTTP/1.1 "),
            "no body after a HEAD answer: {text}"
        );
    }
    assert!(rest.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(rest.ends_with(r#"{"status":"accepted"}"#), "{text}");
}

#[tokio::test]
async fn targets_that_are_not_an_ascii_path_are_bad_requests_quoted_nowhere() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    for target in [
        &b"!"[..],
        b"*",
        b"events",
        b"example.com:80",
        b"ftp://example.com/events",
        "/caf\u{e9}".as_bytes(),
        "/\u{202e}stneve".as_bytes(),
        b"/a\x01b",
        b"/a\x7fb",
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
    // What is still a target: a path, with a query; and the absolute form.
    let mut client = Client::connect(addr).await;
    for target in [
        "/nowhere?x=%C3%A9",
        "http://example.com/nowhere",
        "HTTP://x",
    ] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        let answer = client.roundtrip(request.as_bytes()).await;
        assert_error(&answer, 404, "not_found");
    }
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
async fn a_client_that_never_reads_is_let_go_and_does_not_hold_up_shutdown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let config = stage3::Config {
        read_timeout: Duration::from_secs(2),
        ..stage3::Config::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(stage3::run(listener, config, async {
        let _ = stopped.await;
    }));
    // Each request is answered by a 404 that quotes its long path, so the answers fill
    // the socket buffers between us and the server.
    let request = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(6000)).into_bytes();

    // Without a shutdown: the write timeout lets go of the connection.
    let first = TcpStream::connect(addr).await.expect("connect");
    let sent = Arc::new(AtomicUsize::new(0));
    tokio::time::timeout(
        PATIENCE,
        pipeline_without_reading(first, request.clone(), Arc::clone(&sent)),
    )
    .await
    .expect("the server closed the connection of a client that never reads");
    assert!(sent.load(Ordering::Relaxed) > 0);
    still_serves(addr).await;

    // A shutdown that starts while the server is stuck writing still ends.
    let second = TcpStream::connect(addr).await.expect("connect");
    let sent = Arc::new(AtomicUsize::new(0));
    let slow = tokio::spawn(pipeline_without_reading(second, request, Arc::clone(&sent)));
    wait_until_stalled(&sent).await;
    stop.send(()).expect("server is running");
    tokio::time::timeout(PATIENCE, server)
        .await
        .expect("run returns after shutdown, whatever the client does")
        .expect("the server task did not panic");
    tokio::time::timeout(PATIENCE, slow)
        .await
        .expect("the connection was closed")
        .expect("the client task did not panic");
}
