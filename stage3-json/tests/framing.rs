//! Keep-alive framing: header names in any case, many requests on one connection,
//! pipelining, `Connection: close`, idle timeouts, and shutdown.

use std::time::Duration;

use test_kit::{post, start, Client, VALID};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn content_length_is_found_in_any_case_and_spacing() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let mut client = Client::connect(addr).await;
    for name in [
        "content-length",
        "Content-Length",
        "CONTENT-LENGTH",
        "cOnTeNt-LeNgTh",
    ] {
        for spacing in [":", ": ", ":   ", ":\t"] {
            let request = format!(
                "POST /events HTTP/1.1\r\n{name}{spacing}{} \r\n\r\n{VALID}",
                VALID.len()
            );
            let answer = client.roundtrip(request.as_bytes()).await;
            assert_eq!(answer.status, 200, "{name}{spacing}: {answer:?}");
        }
    }
}

#[tokio::test]
async fn one_keep_alive_connection_carries_a_hundred_requests() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let mut client = Client::connect(addr).await;
    for i in 0..100 {
        let body = format!(r#"{{"user":"user{i}","action":"buy","amount":{i}}}"#);
        let answer = client.roundtrip(&post(&body, "")).await;
        assert_eq!(answer.status, 200, "request {i}: {answer:?}");
        assert_eq!(answer.header("connection"), Some("keep-alive"));
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let mut client = Client::connect(addr).await;
    let mut burst = post(VALID, "");
    burst.extend_from_slice(&post("not json", ""));
    burst.extend_from_slice(b"GET /nowhere HTTP/1.1\r\n\r\n");
    client.send(&burst).await;
    let statuses = [
        client.answer().await.map(|a| a.status),
        client.answer().await.map(|a| a.status),
        client.answer().await.map(|a| a.status),
    ];
    assert_eq!(statuses, [Some(200), Some(400), Some(404)]);
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let mut client = Client::connect(addr).await;
    let answer = client
        .roundtrip(&post(VALID, "Connection: close\r\n"))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(client.closed().await);
}

#[tokio::test]
async fn http_1_0_closes_unless_asked_to_keep_alive() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let request = |extra: &str| {
        format!(
            "POST /events HTTP/1.0\r\nContent-Length: {}\r\n{extra}\r\n{VALID}",
            VALID.len()
        )
    };
    let mut client = Client::connect(addr).await;
    assert_eq!(client.roundtrip(request("").as_bytes()).await.status, 200);
    assert!(client.closed().await);

    let mut client = Client::connect(addr).await;
    let keep = request("Connection: keep-alive\r\n");
    let answer = client.roundtrip(keep.as_bytes()).await;
    assert_eq!(answer.header("connection"), Some("keep-alive"));
    assert_eq!(client.roundtrip(keep.as_bytes()).await.status, 200);
}

#[tokio::test]
async fn a_body_split_across_many_writes_is_reassembled() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let mut client = Client::connect(addr).await;
    for chunk in post(VALID, "").chunks(3) {
        client.send(chunk).await;
        tokio::task::yield_now().await;
    }
    assert_eq!(client.answer().await.map(|a| a.status), Some(200));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_read_timeout() {
    let addr = start(
        stage3::run,
        stage3::Config {
            read_timeout: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .await;
    let mut client = Client::connect(addr).await;
    assert_eq!(client.roundtrip(&post(VALID, "")).await.status, 200);
    // Silent, not a 408: there was no request in progress to time out.
    assert!(client.closed().await);
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_returns() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(stage3::run(listener, stage3::Config::default(), async {
        let _ = stopped.await;
    }));
    let mut idle = Client::connect(addr).await;
    assert_eq!(idle.roundtrip(&post(VALID, "")).await.status, 200);

    stop.send(()).expect("server is running");
    // With a 10 s read timeout the idle connection would otherwise hold shutdown up.
    assert!(idle.closed().await);
    tokio::time::timeout(test_kit::PATIENCE, server)
        .await
        .expect("run returns after shutdown")
        .expect("the server task did not panic");
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}

#[tokio::test]
async fn the_absolute_form_of_the_target_is_accepted() {
    let addr = start(stage3::run, stage3::Config::default()).await;
    let mut client = Client::connect(addr).await;
    let request = format!(
        "POST http://{addr}/events?via=proxy HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{VALID}",
        VALID.len()
    );
    assert_eq!(client.roundtrip(request.as_bytes()).await.status, 200);
    // A scheme inside the query string is not mistaken for an absolute target.
    let query = format!(
        "POST /events?next=http://elsewhere/x HTTP/1.1\r\nContent-Length: {}\r\n\r\n{VALID}",
        VALID.len()
    );
    assert_eq!(client.roundtrip(query.as_bytes()).await.status, 200);
    let elsewhere = "GET http://example.test/nowhere HTTP/1.1\r\n\r\n";
    assert_eq!(client.roundtrip(elsewhere.as_bytes()).await.status, 404);
}
