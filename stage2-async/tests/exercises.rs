//! Checks for the exercises of stage 2 (book chapter "Stage 2", section Exercises).
//!
//! Every check is ignored by default, so `cargo test` stays green on the starting code.
//! Run one when you think you have solved it:
//!
//! ```sh
//! cargo test -p stage2 --test exercises -- --ignored exercise_2_
//! ```
//!
//! A check that fails says what is still missing. Reference solutions are in
//! `solutions/stage2-async/`; try on your own first.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long a check waits for something that must happen at all. It only turns a hang
/// into a failure: a solution passes in a fraction of it, on any machine, as long as its
/// read timeout is a few seconds (at most 10).
const PATIENCE: Duration = Duration::from_secs(20);

/// Exercise 2.3's cap on open connections.
const MAX_CONNECTIONS: usize = 100;

/// How long a check watches for something that must NOT happen. A slow machine can only
/// make that less likely to happen, so it cannot make a check pass by accident.
const QUIET: Duration = Duration::from_secs(1);

#[tokio::test]
#[ignore = "exercise 2.2: Close a silent connection after a read timeout"]
async fn exercise_2_read_timeout() {
    let (addr, _server) = start_server().await;
    let mut silent = TcpStream::connect(addr)
        .await
        .expect("the silent client connects");

    // A 408 answer followed by a close, or a bare close: both end the silent client.
    let mut answer = Vec::new();
    if tokio::time::timeout(PATIENCE, silent.read_to_end(&mut answer))
        .await
        .is_err()
    {
        not_done(
            "2.2",
            "a client that sent nothing was still connected after 20 s",
            "put a time limit of a few seconds on reading a request, and end the \
             connection when it runs out",
        );
    }
    match tokio::time::timeout(PATIENCE, echo(addr, "hello")).await {
        Ok(Ok(body)) if body == "hello" => {}
        other => not_done(
            "2.2",
            &format!("silent clients are closed now, but a normal request got {other:?}"),
            "only a client that is too slow should be cut off; answer the others as before",
        ),
    }
}

#[tokio::test]
#[ignore = "exercise 2.3: Cap the number of open connections"]
async fn exercise_3_connection_cap() {
    let (addr, _server) = start_server().await;
    let mut silent = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        silent.push(
            TcpStream::connect(addr)
                .await
                .expect("a silent client connects"),
        );
    }
    let one_more = tokio::spawn(echo(addr, "one more"));
    tokio::time::sleep(QUIET).await;
    if one_more.is_finished() {
        not_done(
            "2.3",
            "with 100 connections open, one more was served at once: nothing caps the \
             number of connections yet",
            "allow at most 100 connections at a time; the 101st waits until one closes",
        );
    }

    drop(silent.pop());
    match tokio::time::timeout(PATIENCE, one_more).await {
        Ok(Ok(Ok(body))) if body == "one more" => {}
        other => not_done(
            "2.3",
            &format!(
                "the 101st connection waited, but after one of the 100 closed it still got \
                 no echo within 20 s ({other:?})"
            ),
            "give a connection's place back when it ends, so a waiting one is served",
        ),
    }
}

#[tokio::test]
#[ignore = "exercise 2.4: Let shutdown finish the requests in progress"]
async fn exercise_4_graceful_shutdown() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("bound address");
    let stop = Arc::new(AtomicBool::new(false));
    let server = tokio::spawn(stage2::run(listener, stop_when(stop.clone())));

    // A client in the middle of its request: the head is sent, the body is not.
    let mut busy = TcpStream::connect(addr).await.expect("connect");
    busy.write_all(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n")
        .await
        .expect("send the head");
    // Connections are accepted in arrival order, so once this one is answered the
    // busy client's connection has been accepted too.
    let probe = tokio::time::timeout(PATIENCE, echo(addr, "probe")).await;
    assert!(
        matches!(probe, Ok(Ok(ref body)) if body == "probe"),
        "stage 2 does not echo a plain request any more: {probe:?}"
    );

    stop.store(true, Ordering::SeqCst);
    tokio::time::sleep(QUIET).await;
    if server.is_finished() {
        not_done(
            "2.4",
            "`run` returned as soon as shutdown began, while a client was still in the \
             middle of its request",
            "keep the connection tasks, and after shutdown wait for all of them before \
             returning",
        );
    }

    busy.write_all(b"hello").await.expect("send the body");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, busy.read_to_end(&mut answer)).await;
    if read.is_err() || !answer.ends_with(b"\r\n\r\nhello") {
        not_done(
            "2.4",
            "after shutdown began, the client that was mid-request never got its echo",
            "a connection accepted before shutdown still gets its answer",
        );
    }
    if tokio::time::timeout(PATIENCE, server).await.is_err() {
        not_done(
            "2.4",
            "every connection had finished, but `run` had not returned 20 s later",
            "return once the last connection task has ended",
        );
    }
}

/// Starts stage 2 on a free port; the server runs until the test ends.
async fn start_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("bound address");
    let server = tokio::spawn(stage2::run(listener, std::future::pending()));
    (addr, server)
}

/// A shutdown signal the check controls: completes once `stop` is set.
async fn stop_when(stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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

/// Fails the check with a message that says what is missing and where the hint is.
fn not_done(exercise: &str, observed: &str, todo: &str) -> ! {
    panic!(
        "\n\nexercise {exercise} not done yet: {observed}.\n\
         What to do: {todo}.\n\
         Hint: book chapter 'Stage 2', exercise {exercise}, or stage2-async/README.md.\n"
    )
}
