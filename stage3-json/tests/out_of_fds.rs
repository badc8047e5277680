//! Out of file descriptors is weather, not death: the stage binary, started with a
//! limit of 64 descriptors, is held by more silent clients than it can accept. It logs
//! the failing `accept` and keeps retrying instead of exiting, and once those clients
//! leave it serves a crowd of real clients, again larger than its descriptor limit,
//! every one of them correctly.
//!
//! The server runs as a child process (`sh -c 'ulimit -n 64; exec stage3 ...'`),
//! so only it has the low limit; the test keeps its own.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use test_kit::{post, Client, VALID};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The child's descriptor limit: a handful for the runtime, the listener and stdio,
/// the rest for connections.
const FD_LIMIT: usize = 64;
/// Well over the limit, so `accept` must fail with EMFILE at some point.
const CLIENTS: usize = 3 * FD_LIMIT;

/// The stage binary, running with a low descriptor limit; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// Everything the server has written to stderr so far.
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(flags: &[&str]) -> Server {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {FD_LIMIT} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_stage3"))
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the stage binary under sh");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read the first line");
        let addr = first
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("the first line names the address: {first:?}"));
        // Drain both pipes so the server never blocks on a full one.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(read @ 1..) = pipe.read(&mut chunk) {
                let text = String::from_utf8_lossy(&chunk[..read]);
                sink.lock().expect("stderr buffer").push_str(&text);
            }
        });
        Server {
            child,
            addr,
            stderr,
        }
    }

    fn still_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (bounded by the patience deadline) until stderr contains `text`.
    async fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + test_kit::PATIENCE;
        loop {
            if self.stderr.lock().expect("stderr buffer").contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server never logged {text:?}; stderr: {}",
                self.stderr.lock().expect("stderr buffer")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn running_out_of_descriptors_is_survived_and_service_resumes() {
    let mut server = Server::start(&["--read-timeout", "2s"]);

    // Silent clients: each accepted one holds a descriptor until the read timeout; the
    // ones beyond the limit wait in the listen backlog.
    let mut silent = Vec::new();
    for _ in 0..CLIENTS {
        silent.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    server.wait_for_log("accept failed").await;
    assert!(server.still_running(), "an accept error ended the server");

    drop(silent);
    // A crowd larger than the limit, all at once, each on its own connection: some wait
    // in the backlog while the server is out of descriptors, and all are answered.
    let crowd: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let addr = server.addr;
            tokio::spawn(async move {
                let body = format!(r#"{{"user":"u{i}","action":"buy","amount":1}}"#);
                let request = post(&body, "Connection: close\r\n");
                Client::connect(addr).await.roundtrip(&request).await
            })
        })
        .collect();
    for client in crowd {
        let answer = client.await.expect("the client task finished");
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    assert!(server.still_running());

    // And a plain keep-alive client afterwards is served as usual.
    let mut client = Client::connect(server.addr).await;
    for _ in 0..10 {
        assert_eq!(client.roundtrip(&post(VALID, "")).await.status, 200);
    }
}
