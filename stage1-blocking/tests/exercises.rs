//! Checks for the exercises of stage 1 (book chapter "Stage 1", section Exercises).
//!
//! Every check is ignored by default, so `cargo test` stays green on the starting code.
//! Run one when you think you have solved it:
//!
//! ```sh
//! cargo test -p stage1 --test exercises -- --ignored exercise_2_
//! ```
//!
//! A check that fails says what is still missing. Reference solutions are in
//! `solutions/stage1-blocking/`; try on your own first.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// How long a check waits for something that must happen at all. It only turns a hang
/// into a failure: a solution passes in a fraction of it, on any machine, as long as its
/// read timeout is a few seconds (at most 10).
const PATIENCE: Duration = Duration::from_secs(15);

#[tokio::test]
#[ignore = "exercise 1.2: Bound the freeze with a read timeout"]
async fn exercise_2_read_timeout() {
    let addr = start_server();
    let mut silent = TcpStream::connect(addr).expect("the silent client connects");

    let answer = tokio::time::timeout(PATIENCE, echo(addr, "hello")).await;
    let Ok(Ok(body)) = answer else {
        not_done(
            "1.2",
            "with one silent client connected, a second request got no answer within 15 s",
            "give every accepted connection a read timeout of a few seconds",
        );
    };
    if body != "hello" {
        not_done(
            "1.2",
            &format!("the request was answered, but the echo was {body:?} instead of \"hello\""),
            "answer a normal request exactly as before; only a silent client should time out",
        );
    }
    if !closed_within(&mut silent, PATIENCE) {
        not_done(
            "1.2",
            "the second request was answered, but the silent connection is still open: \
             nothing timed it out",
            "this exercise is about a read timeout that drops the silent client",
        );
    }
}

#[tokio::test]
#[ignore = "exercise 1.3: Serve each connection on its own thread"]
async fn exercise_3_thread_per_connection() {
    let addr = start_server();
    // A client in the middle of its request: the head has started but is not finished.
    let mut slow = TcpStream::connect(addr).expect("the slow client connects");
    slow.write_all(b"POST / HTTP/1.1\r\n")
        .expect("send the request line");

    let answer = tokio::time::timeout(PATIENCE, echo(addr, "second")).await;
    if !matches!(answer, Ok(Ok(ref body)) if body == "second") {
        not_done(
            "1.3",
            "while a first client was still sending its request, a second client got no \
             echo within 15 s",
            "serve every accepted connection on its own thread, so the accept loop never \
             waits for a client",
        );
    }

    // The first client was never forgotten: it finishes and gets its own echo.
    let finished = slow.write_all(b"Content-Length: 5\r\n\r\nfirst").is_ok();
    let response = read_to_close(&mut slow);
    if !finished || !response.ends_with("\r\n\r\nfirst") {
        not_done(
            "1.3",
            "the second client was answered, but the first one was cut off before it \
             finished its request",
            "a read timeout only bounds the freeze; a thread per connection removes it \
             without dropping anyone",
        );
    }
}

#[tokio::test]
#[ignore = "exercise 1.4: Tell a silent client why it is dropped"]
async fn exercise_4_answer_408() {
    let addr = start_server();
    let mut silent = TcpStream::connect(addr).expect("the silent client connects");
    silent
        .set_read_timeout(Some(PATIENCE))
        .expect("set the check's own patience");
    let response = read_to_close(&mut silent);
    if response.is_empty() {
        not_done(
            "1.4",
            "a silent client got no answer at all (nothing within 15 s, or a bare close)",
            "when the read timeout fires, answer `408 Request Timeout` before closing",
        );
    }
    if !response.starts_with("HTTP/1.1 408 ") {
        let first_line = response.lines().next().unwrap_or_default();
        not_done(
            "1.4",
            &format!("a silent client was answered {first_line:?} instead of a 408"),
            "a read that timed out is the client's fault: answer `408 Request Timeout`",
        );
    }
}

/// Starts stage 1 on a free port, on its own thread, for the rest of the test process.
fn start_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("bound address");
    thread::spawn(move || stage1::run(listener));
    addr
}

/// Posts `body` to the echo server and returns the body of the answer.
async fn echo(addr: SocketAddr, body: &'static str) -> reqwest::Result<String> {
    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://{addr}/"))
        .body(body)
        .send()
        .await?;
    response.text().await
}

/// Reads until the server closes the connection (or the read timeout, if one is set).
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// True if the server closes `stream` (end of file or reset) within `patience`.
fn closed_within(stream: &mut TcpStream, patience: Duration) -> bool {
    stream
        .set_read_timeout(Some(patience))
        .expect("set the check's own patience");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => closed_within(stream, patience),
        Err(err) => !matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

/// Fails the check with a message that says what is missing and where the hint is.
fn not_done(exercise: &str, observed: &str, todo: &str) -> ! {
    panic!(
        "\n\nexercise {exercise} not done yet: {observed}.\n\
         What to do: {todo}.\n\
         Hint: book chapter 'Stage 1', exercise {exercise}, or stage1-blocking/README.md.\n"
    )
}
