//! A stage raises its open-file soft limit to the hard limit at start-up, so macOS's
//! default soft limit of 256 no longer caps a workshop burst: the binary, started with a
//! soft limit of 256, holds 300 keep-alive connections open at once and answers a
//! request on every one, with no `Too many open files` in its log.
//!
//! Unix only: the lower soft limit is set by `sh -c 'ulimit -S -n 256; exec ...'` for the
//! child alone. Run with `cargo test -p stage3 --test open_file_limit`.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The soft limit macOS gives a shell by default.
const SOFT_LIMIT: u64 = 256;
/// Open at once: more than the soft limit, so only a raised limit can accept them all.
const CONNECTIONS: usize = 300;
/// How long one answer may take before the test calls it refused.
const PATIENCE: Duration = Duration::from_secs(5);

const EVENT: &str = r#"{"user":"alice","action":"buy","amount":1}"#;

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads one answer on a keep-alive connection: the head, then Content-Length bytes.
fn read_answer(stream: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body)?;
    Ok(head)
}

#[test]
fn a_soft_limit_of_256_does_not_cap_300_connections() {
    let limit = rlimit::increase_nofile_limit(u64::MAX).expect("raise the test's own limit");
    if limit < 2 * CONNECTIONS as u64 + 64 {
        eprintln!("skipped: the hard open-file limit here is {limit}, too low to show a raise");
        return;
    }
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -S -n {SOFT_LIMIT} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_stage3"))
        // Idle keep-alive connections must outlive the test: one closed by the server
        // frees a descriptor, and a later connection could then be served on it.
        .args(["--addr", "127.0.0.1:0", "--read-timeout", "2m"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the stage binary under sh");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let _server = Server(child);
    let mut stdout = BufReader::new(stdout);
    let mut first = String::new();
    stdout.read_line(&mut first).expect("read the first line");
    let addr: SocketAddr = first
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("the first line names the address: {first:?}"));
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let log = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut log);
        log
    });

    let mut connections: Vec<BufReader<TcpStream>> = (0..CONNECTIONS)
        .map(|_| {
            let stream = TcpStream::connect(addr).expect("connect");
            stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
            BufReader::new(stream)
        })
        .collect();
    let request = format!(
        "POST /events HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{EVENT}",
        EVENT.len()
    );
    let mut answered = 0;
    for connection in &mut connections {
        connection
            .get_mut()
            .write_all(request.as_bytes())
            .expect("send");
        // The first unanswered connection ends the count: waiting out the rest would
        // only repeat the same timeout.
        let Ok(head) = read_answer(connection) else {
            break;
        };
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        answered += 1;
    }
    // Every connection is still open here: the server held all of them at once.
    assert_eq!(
        answered, CONNECTIONS,
        "connections answered while all were open"
    );
    drop(connections);
    drop(_server);
    let log = log.join().expect("stderr reader");
    assert!(!log.contains("Too many open files"), "server log: {log}");
}
