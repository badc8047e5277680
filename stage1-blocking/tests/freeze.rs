//! Proves stage 1's lesson: while one client sits idle, nobody else is answered; the
//! moment it leaves, the waiting request is served. The other tests send exact bytes
//! (header spellings, bad lengths) on raw sockets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

fn start_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("bound address");
    thread::spawn(move || stage1::run(listener));
    addr
}

fn send(addr: SocketAddr, request: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(request).expect("send request");
    stream
}

fn read_all(stream: &mut TcpStream) -> String {
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    String::from_utf8_lossy(&response).into_owned()
}

const HELLO: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn echoes_the_body_and_closes() {
    let addr = start_server();
    let response = read_all(&mut send(addr, HELLO));
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("Connection: close\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nhello"), "{response}");
}

#[test]
fn header_names_match_in_any_case() {
    let addr = start_server();
    for name in ["content-length", "CONTENT-LENGTH", "Content-Length"] {
        let request = format!("POST / HTTP/1.1\r\n{name}:  3 \r\n\r\nabc");
        let response = read_all(&mut send(addr, request.as_bytes()));
        assert!(response.ends_with("\r\n\r\nabc"), "{name}: {response}");
    }
}

#[test]
fn a_content_length_that_is_not_a_number_is_answered_400() {
    let addr = start_server();
    let response = read_all(&mut send(
        addr,
        b"POST / HTTP/1.1\r\nContent-Length: lots\r\n\r\n",
    ));
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
}

/// The idle client is a raw socket (it must send nothing at all); the client that waits
/// is an ordinary reqwest call, run on a tokio runtime while the server keeps its thread.
#[tokio::test]
async fn one_idle_client_freezes_everyone_until_it_leaves() {
    let addr = start_server();
    let idle = TcpStream::connect(addr).expect("idle client connects");
    // The kernel hands out queued connections in arrival order, so the server picks
    // the idle client first, whether or not it was already waiting in `accept`.
    let waiting = tokio::spawn(
        reqwest::Client::new()
            .post(format!("http://{addr}/"))
            .body("hello")
            .send(),
    );

    // The server is parked in `read` on the idle socket, so nothing comes back. A slow
    // machine can only make this wait longer, never produce an answer.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "the waiting request was answered while the idle client still held the server"
    );

    // The idle client leaves; the server reads EOF, moves on, and answers.
    drop(idle);
    let response = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("an answer once the idle client has left")
        .expect("the client task")
        .expect("an answer, not an error");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.text().await.expect("the body"), "hello");
}

#[test]
fn a_body_over_the_echo_limit_is_refused_not_truncated() {
    let addr = start_server();
    let response = read_all(&mut send(
        addr,
        b"POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n",
    ));
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    assert!(response.contains("echo limit"), "{response}");
}
