//! Proves stage 1's lesson: while one client sits idle, nobody else is answered; the
//! moment it leaves, the waiting request is served.

use std::io::{ErrorKind, Read, Write};
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

#[test]
fn one_idle_client_freezes_everyone_until_it_leaves() {
    let addr = start_server();
    let idle = TcpStream::connect(addr).expect("idle client connects");
    // The kernel hands out queued connections in arrival order, so the server picks
    // the idle client first, whether or not it was already waiting in `accept`.
    let mut waiting = send(addr, HELLO);

    // The server is parked in `read` on the idle socket, so nothing comes back. A slow
    // machine can only make this wait longer, never produce an answer.
    waiting
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("set timeout");
    let mut byte = [0u8; 1];
    let err = waiting
        .read(&mut byte)
        .expect_err("no answer while the idle client holds the server");
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "expected a timeout, got {err}"
    );

    // The idle client leaves; the server reads EOF, moves on, and answers.
    drop(idle);
    waiting
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set timeout");
    let response = read_all(&mut waiting);
    assert!(response.ends_with("\r\n\r\nhello"), "{response}");
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
