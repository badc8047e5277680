//! Proves stage 2's lesson: with 50 silent connections open, a request is still answered
//! and echoed byte for byte. The silent clients are raw sockets (they must send nothing
//! at all); the request that gets answered is an ordinary reqwest call.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Starts a server that lives as long as the test's runtime.
async fn start_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(stage2::run(listener, std::future::pending()));
    addr
}

/// Sends raw bytes, for requests no well-behaved client would send.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("read response");
    response
}

fn body_of(response: &[u8]) -> &[u8] {
    let end_of_head = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    &response[end_of_head + 4..]
}

#[tokio::test]
async fn answers_while_fifty_idle_connections_are_open() {
    let addr = start_server().await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(
            TcpStream::connect(addr)
                .await
                .expect("idle client connects"),
        );
    }

    // Every byte value, so the echo is checked byte for byte, not just for ASCII.
    let payload: Vec<u8> = (0..=255u8).cycle().take(1000).collect();

    // No timeout needed: in stage 1 this call would never return; here it must.
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/anything"))
        .body(payload.clone())
        .send()
        .await
        .expect("an answer while fifty clients sit idle");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let echo = response.bytes().await.expect("the echoed body");
    assert_eq!(echo.as_ref(), payload.as_slice());
    assert_eq!(idle.len(), 50, "the idle clients were still connected");
}

#[tokio::test]
async fn stops_accepting_after_shutdown() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("bound address");
    let server = tokio::spawn(stage2::run(listener, async {}));
    server.await.expect("run returns once shutdown completes");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed after run returns"
    );
}

#[tokio::test]
async fn a_body_over_the_echo_limit_is_refused_not_truncated() {
    let addr = start_server().await;
    let response = exchange(addr, b"POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n").await;
    assert!(response.starts_with(b"HTTP/1.1 400 "));
    assert!(String::from_utf8_lossy(body_of(&response)).contains("echo limit"));
}
