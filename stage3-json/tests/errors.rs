//! Every error row of the wire protocol: the right status, the right `reason`, a
//! human `detail`, and a connection that is closed only when the framing is lost.

use std::time::Duration;

use test_kit::{assert_error, post, start, Client, VALID};

async fn answer_to(bytes: &[u8]) -> test_kit::Answer {
    let addr = start(stage3::run, stage3::Config::default()).await;
    Client::connect(addr).await.roundtrip(bytes).await
}

#[tokio::test]
async fn a_valid_event_is_accepted() {
    let answer = answer_to(&post(VALID, "")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, serde_json::json!({"status": "accepted"}));
}

#[tokio::test]
async fn broken_json_is_invalid_json_and_names_line_and_column() {
    let answer = answer_to(&post("{\"user\":\n\"alice\",", "")).await;
    assert_error(&answer, 400, "invalid_json");
    let detail = answer.body["detail"].as_str().unwrap_or("");
    assert!(detail.contains("line 2 column"), "{detail}");
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_invalid_event() {
    for body in [
        r#"{"foo":"bar"}"#,
        r#"{"user":"alice","action":"buy","amount":1.5}"#,
        r#"{"user":"","action":"buy","amount":1}"#,
        r#"{"user":"alice","action":"buy","amount":1000000001}"#,
    ] {
        assert_error(&answer_to(&post(body, "")).await, 400, "invalid_event");
    }
}

#[tokio::test]
async fn a_malformed_request_line_is_bad_request() {
    assert_error(&answer_to(b"GARBAGE\r\n\r\n").await, 400, "bad_request");
    assert_error(
        &answer_to(b"POST /events HTTP/1.1\r\nNo colon here\r\n\r\n").await,
        400,
        "bad_request",
    );
}

#[tokio::test]
async fn content_length_must_be_a_plain_number_and_agree_with_itself() {
    for head in [
        "Content-Length: -5",
        "Content-Length: lots",
        "Content-Length: +5",
        "Content-Length: 0x10",
        "Content-Length: 5\r\nContent-Length: 6",
    ] {
        let request = format!("POST /events HTTP/1.1\r\n{head}\r\n\r\nhello");
        assert_error(
            &answer_to(request.as_bytes()).await,
            400,
            "invalid_content_length",
        );
    }
}

#[tokio::test]
async fn a_post_without_a_length_is_length_required() {
    assert_error(
        &answer_to(b"POST /events HTTP/1.1\r\nHost: x\r\n\r\n").await,
        411,
        "length_required",
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_it_is_read() {
    let addr = start(
        stage3::run,
        stage3::Config {
            max_body: 100,
            ..Default::default()
        },
    )
    .await;
    let mut client = Client::connect(addr).await;
    // Only the head is sent: the answer can only come from the claim itself.
    let answer = client
        .roundtrip(b"POST /events HTTP/1.1\r\nContent-Length: 101\r\n\r\n")
        .await;
    assert_error(&answer, 413, "body_too_large");
    assert!(
        client.closed().await,
        "the rest of the body would be unframed"
    );
}

#[tokio::test]
async fn oversized_headers_are_headers_too_large() {
    let huge = format!(
        "POST /events HTTP/1.1\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(9000)
    );
    assert_error(&answer_to(huge.as_bytes()).await, 431, "headers_too_large");
    let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
    let request = format!("GET /events HTTP/1.1\r\n{many}\r\n");
    assert_error(
        &answer_to(request.as_bytes()).await,
        431,
        "headers_too_large",
    );
}

#[tokio::test]
async fn transfer_encoding_is_refused_even_with_a_length() {
    for head in [
        "Transfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 5",
    ] {
        let request = format!("POST /events HTTP/1.1\r\n{head}\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        assert_error(
            &answer_to(request.as_bytes()).await,
            501,
            "unsupported_transfer_encoding",
        );
    }
}

#[tokio::test]
async fn other_http_versions_are_refused() {
    assert_error(
        &answer_to(b"GET /events HTTP/2.0\r\n\r\n").await,
        505,
        "http_version_not_supported",
    );
}

#[tokio::test]
async fn unknown_paths_are_not_found_and_keep_the_connection() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let mut client = Client::connect(addr).await;
    let answer = client.roundtrip(b"GET /nowhere HTTP/1.1\r\n\r\n").await;
    assert_error(&answer, 404, "not_found");
    assert_eq!(client.roundtrip(&post(VALID, "")).await.status, 200);
}

#[tokio::test]
async fn wrong_methods_are_not_allowed_and_say_what_is() {
    let answer = answer_to(b"GET /events HTTP/1.1\r\n\r\n").await;
    assert_error(&answer, 405, "method_not_allowed");
    assert_eq!(answer.header("allow"), Some("POST"));
}

#[tokio::test]
async fn a_request_that_stalls_is_answered_request_timeout() {
    let addr = start(
        stage3::run,
        stage3::Config {
            read_timeout: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .await;
    let mut client = Client::connect(addr).await;
    client
        .send(b"POST /events HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"user\"")
        .await;
    let answer = client.answer().await.expect("a 408, not a silent close");
    assert_error(&answer, 408, "request_timeout");
}

#[tokio::test]
async fn invalid_bodies_keep_the_connection_open() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let mut client = Client::connect(addr).await;
    assert_eq!(client.roundtrip(&post("nope", "")).await.status, 400);
    assert_eq!(client.roundtrip(&post(r#"{"a":1}"#, "")).await.status, 400);
    assert_eq!(client.roundtrip(&post(VALID, "")).await.status, 200);
}
