//! `--stop-on-stdin-close`: the portable stop. A tool that starts a stage with its stdin
//! piped stops it by closing that pipe, on every OS (Windows has no SIGINT to send), and
//! gets the same graceful shutdown as Ctrl-C: summary line, exit 0. Without the flag a
//! closed stdin changes nothing, so `cargo run -p stageN < /dev/null` keeps serving.
//! Run with `cargo test --test stdin_close`; the same file in stages 2-8.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use test_kit::binary::{self, wait_for_exit, Started};

/// How long a stopped server may take to exit before the test calls it a hang.
const PATIENCE: Duration = Duration::from_secs(20);

/// Starts this stage's binary on a free port with `stdin` and `flags`.
fn start(stdin: Stdio, flags: &[&str]) -> Started {
    binary::start(
        env!(concat!("CARGO_BIN_EXE_", env!("CARGO_PKG_NAME"))),
        flags,
        stdin,
    )
}

/// Sends one request and returns the status line of the answer.
fn status_line(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("set a read timeout");
    stream
        .write_all(b"GET /stats HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .expect("send a request");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_string()
}

#[test]
fn closing_stdin_stops_the_server_gracefully_with_the_flag() {
    let Started {
        child: mut server,
        addr,
        mut stdout,
    } = start(Stdio::piped(), &["--stop-on-stdin-close"]);
    assert!(status_line(addr).starts_with("HTTP/1.1 "), "serves first");

    drop(server.stdin.take());
    let status = wait_for_exit(&mut server, PATIENCE, "stdin closed");
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    assert!(status.success(), "exit {status:?}; output: {rest:?}");
    let last = rest.lines().last().unwrap_or_default();
    assert!(last.starts_with("stopped"), "no final summary: {rest:?}");
}

#[test]
fn a_closed_stdin_does_not_stop_the_server_without_the_flag() {
    let mut plain = start(Stdio::null(), &[]);
    // The same closed stdin with the flag: once this one has stopped, the closed stdin
    // has had every chance to stop the other one too.
    let mut flagged = start(Stdio::null(), &["--stop-on-stdin-close"]);
    let status = wait_for_exit(&mut flagged.child, PATIENCE, "stdin closed");
    assert!(status.success(), "the flagged server: exit {status:?}");

    let still_running = plain.child.try_wait().expect("poll the server").is_none();
    let answer = status_line(plain.addr);
    let _ = plain.child.kill();
    let _ = plain.child.wait();
    assert!(
        still_running,
        "a closed stdin stopped a server without the flag"
    );
    assert!(answer.starts_with("HTTP/1.1 "), "still serving: {answer:?}");
}
