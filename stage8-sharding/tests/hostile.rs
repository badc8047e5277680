//! Hostile values against stage 8 (a smaller set than stage 3's `hostile.rs`, whose
//! framing code this stage shares byte for byte): bounded amounts reach the ledger
//! exactly, absurd, negative, repeated and conflicting framing headers get their status
//! and reason, non-UTF-8 and deeply nested bodies are refused by type, and none of it
//! reaches the ledger or stops the server.

mod support;

use std::net::SocketAddr;

use support::{event, post, start, wait_for_stats, Client, Config, VALID};

fn instant() -> Config {
    Config {
        work_ms: 0,
        hold_ms: 0,
        max_body: 1024 * 1024,
        ..Config::default()
    }
}

fn assert_error(answer: &support::Answer, status: u16, reason: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.body["status"], "error", "{answer:?}");
    assert_eq!(answer.reason(), reason, "{answer:?}");
}

async fn answer_on(addr: SocketAddr, bytes: &[u8]) -> support::Answer {
    Client::connect(addr).await.roundtrip(bytes).await
}

#[tokio::test]
async fn amounts_at_the_bounds_reach_the_ledger_and_one_past_them_do_not() {
    let addr = start(instant()).await;
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
    let addr = start(instant()).await;
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
    let addr = start(instant()).await;
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
