//! The helpers every stage's tests share, kept in one crate so they cannot drift apart.
//!
//! A stage lists it as a dev-dependency (`test-kit = { path = "../test-kit" }`) and its
//! test files import what they need:
//!
//! ```ignore
//! use stage5::{run, Config};
//! use test_kit::{http, post_event, start, stats};
//!
//! let addr = start(run, Config::default()).await;
//! let (status, body) = post_event(&http(), addr, "alice", 100).await;
//! ```
//!
//! The kit never names a stage crate: it takes the stage's `run` function, addresses and
//! closures, so a stage can change its `Config` without touching this crate. A helper
//! only one stage needs stays in that stage's own test file.
//!
//! Four families, one module each:
//! - [`binary`]: the stage's own binary as a child process, for Ctrl-C and stdin stops;
//! - [`raw`]: a tiny HTTP/1.1 client for tests about bytes on the wire;
//! - [`api`]: reqwest shortcuts for tests about behaviour (statuses, JSON, `/stats`);
//! - [`burst`]: many clients at once, for the queue stages' overload tests.
//!
//! `cargo test -p test-kit` runs the kit's own tests; the stages' tests exercise the rest.

use std::future::{Future, Pending};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

pub mod api;
pub mod binary;
pub mod burst;
pub mod raw;

pub use api::{http, json_event, post_event, reply, stats, url, wait_for_stats};
pub use burst::{load, sample_queue_depth, LoadReport};
pub use raw::{assert_error, event, post, Answer, Client, VALID};

/// A generous bound on how long a test waits for an answer at all. It only turns a hang
/// into a failure; no assertion depends on how fast the server is.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Starts a stage on a free loopback port and returns its address. Tests pass the stage's
/// own `run` (`start(stage5::run, config)`), which is how the kit serves every stage from
/// stage 3 on without depending on any of them. The server never gets a shutdown signal:
/// it lives until the test's runtime is dropped, which is what a test that only talks to
/// it wants; a test about shutdown calls `run` itself.
pub async fn start<C, R>(
    run: impl FnOnce(TcpListener, C, Pending<()>) -> R,
    config: C,
) -> SocketAddr
where
    R: Future + Send + 'static,
    R::Output: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(run(listener, config, std::future::pending()));
    addr
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// The shape of every stage's `run`: a listener, a config, a shutdown future.
    async fn greet(
        listener: TcpListener,
        greeting: &'static str,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (mut stream, _) = accepted.expect("accept");
                    stream.write_all(greeting.as_bytes()).await.expect("write");
                }
                () = &mut shutdown => return,
            }
        }
    }

    #[tokio::test]
    async fn start_serves_a_stage_shaped_run_on_loopback() {
        let addr = start(greet, "hello").await;
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_ne!(addr.port(), 0, "a real port was chosen");
        for _ in 0..2 {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let mut greeting = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut greeting)
                .await
                .expect("read");
            assert_eq!(
                greeting, "hello",
                "the config reached run, and run keeps serving"
            );
        }
    }
}
