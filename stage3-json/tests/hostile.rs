//! Hostile values, each answered with the status and reason of the wire protocol and
//! never with a crash: amounts at their bounds and one past them, absurd and negative
//! Content-Lengths, repeated Content-Lengths, Transfer-Encoding next to Content-Length,
//! odd header spelling, bytes that are not UTF-8, and JSON nested 100 000 deep. After
//! every hostile request the server still accepts a valid one.

mod support;

use std::net::SocketAddr;

use support::{assert_error, post, start, Client, VALID};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `bytes` on a fresh connection and returns the answer.
async fn answer_on(addr: SocketAddr, bytes: &[u8]) -> support::Answer {
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
    let addr = start(stage3::Config::default()).await;
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
    let addr = start(stage3::Config::default()).await;
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
    let addr = start(stage3::Config::default()).await;
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
    let addr = start(stage3::Config::default()).await;
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
    let addr = start(stage3::Config::default()).await;
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
    tokio::time::timeout(support::PATIENCE, stream.read_exact(&mut buffer))
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
    let addr = start(stage3::Config::default()).await;

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

    // In the path: either refused as syntax or simply not a path we serve; never a
    // crash, and never a request that reaches the event handler.
    let answer = answer_on(addr, b"GET /ev\xff\xfeents HTTP/1.1\r\n\r\n").await;
    assert!(
        matches!(
            (answer.status, answer.reason()),
            (400, "bad_request") | (404, "not_found")
        ),
        "{answer:?}"
    );
    let answer = answer_on(
        addr,
        b"POST /events\xc3\x28 HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(
        matches!(
            (answer.status, answer.reason()),
            (400, "bad_request") | (404, "not_found")
        ),
        "{answer:?}"
    );

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
    let addr = start(stage3::Config::default()).await;
    let answer = answer_on(addr, &post(&bodies[0], "")).await;
    assert_error(&answer, 413, "body_too_large");

    // With room for it, the body is read and refused by type, not by a stack overflow:
    // the event is a struct of a string, a string and an integer, so serde stops at
    // the first bracket where a string or number belongs.
    let addr = start(stage3::Config {
        max_body: 1024 * 1024,
        ..Default::default()
    })
    .await;
    let mut client = Client::connect(addr).await;
    for body in &bodies {
        let answer = client.roundtrip(&post(body, "")).await;
        assert_error(&answer, 400, "invalid_event");
    }
    assert_eq!(client.roundtrip(&post(VALID, "")).await.status, 200);
}
