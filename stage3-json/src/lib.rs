//! Stage 3: an HTTP/1.1 JSON endpoint that never trusts its input.
//!
//! Run it with `cargo run -p stage3`, then:
//!
//! ```text
//! curl -i -d '{"user":"alice","action":"buy","amount":100}' http://127.0.0.1:8083/events
//! curl -i -d '{"user":"alice"' http://127.0.0.1:8083/events
//! cargo run --release -p stress-client -- garbage http://127.0.0.1:8083
//! ```
//!
//! Stage 2 read "a request" optimistically. This stage reads it the way a server facing
//! the internet must: the framing in [`http`] bounds every byte and every second a
//! client can cost us and keeps a connection open for many requests; [`event`] turns
//! the body into a typed [`event::Event`] or a precise reason why not. Every failure is
//! a JSON answer with the right status code, never a panic, a hang, or a guess.

pub mod cli;
pub mod event;
pub mod http;
pub mod platform;
pub mod startup;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::event::Event;
use crate::http::{Connection, Limits, Request, Response};

/// How long to wait before accepting again after `accept` failed (for example when the
/// process is out of file descriptors), so the loop does not spin on the error.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The server's knobs, written once: clap reads them from the command line (the
/// `#[arg]` defaults are the only defaults), tests fill them from code.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Largest request body accepted, in bytes; a larger Content-Length is answered 413
    /// before any of the body is read.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_body: usize,
    /// How long a request may take to arrive, and an idle keep-alive connection may stay
    /// open (e.g. 500ms, 1.5s, 2m; a bare number is seconds).
    #[arg(long, default_value = "10s", value_parser = cli::parse_duration)]
    pub read_timeout: Duration,
}

impl Default for Config {
    /// The command line's defaults: a default is written only in its `#[arg]` above.
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            config: Config,
        }
        Defaults::parse_from(["defaults"]).config
    }
}

/// What every connection task shares. Read-only in this stage, so a plain `Arc` is all
/// the synchronisation it needs.
struct App {
    /// The limits each connection enforces while reading.
    limits: Limits,
}

#[derive(Serialize)]
struct Accepted {
    status: &'static str,
}

/// Serves connections until `shutdown` completes, then lets every connection finish the
/// request it is working on and returns once all of them have closed.
pub async fn run(listener: TcpListener, config: Config, shutdown: impl Future<Output = ()>) {
    let app = Arc::new(App {
        limits: Limits {
            max_body: config.max_body,
            read_timeout: config.read_timeout,
        },
    });
    // Connections wait on this between requests: `true` means "close instead of
    // waiting for another request". A watch channel, because every connection needs
    // to see the same single change, including ones that subscribe late.
    let (stop_sender, stop) = watch::channel(false);
    // Tracking the tasks lets shutdown wait for them instead of cutting answers short.
    let mut connections = JoinSet::new();

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&app), stop.clone()));
                }
                // Accept errors are usually temporary (a client that reset before we got
                // to it, or no free file descriptor); they must never end the server.
                Err(err) => {
                    eprintln!("accept failed: {err}; retrying");
                    tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                }
            },
            // Collect finished tasks as we go, so the set does not grow with every
            // client ever served.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    // Closing the listener first makes new clients get "connection refused" at once
    // instead of waiting in the backlog for a server that is leaving.
    drop(listener);
    let _ = stop_sender.send(true);
    while connections.join_next().await.is_some() {}
}

/// Serves one connection: as many requests as the client sends, until it closes, goes
/// silent, breaks the framing, or the server shuts down.
async fn serve_connection(stream: TcpStream, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let mut connection = Connection::new(stream);
    loop {
        let request = tokio::select! {
            // A request that has not fully arrived has not been accepted either, so
            // dropping it at shutdown loses nothing the client was told we had.
            _ = stop.wait_for(|&stopping| stopping) => return,
            request = connection.read_request(&app.limits) => request,
        };
        let (response, keep_alive) = match request {
            Ok(Some(request)) => (route(&app, &request), request.keep_alive),
            Ok(None) => return,
            Err(response) => (response, false),
        };
        if connection
            .write_response(&response, keep_alive)
            .await
            .is_err()
        {
            return;
        }
        if !keep_alive {
            connection.close().await;
            return;
        }
    }
}

fn route(app: &App, request: &Request) -> Response {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/events") => accept_event(app, &request.body),
        (_, "/events") => Response::error(
            405,
            "method_not_allowed",
            format!("{} /events is not supported; use POST", request.method),
        )
        .with_headers(&[("Allow", "POST")]),
        (_, path) => Response::error(
            404,
            "not_found",
            format!("there is nothing at {path}; events go to POST /events"),
        ),
    }
}

fn accept_event(_app: &App, body: &[u8]) -> Response {
    match Event::from_json(body) {
        Ok(_event) => Response::json(200, &Accepted { status: "accepted" }),
        Err(rejection) => Response::error(400, rejection.reason, rejection.detail),
    }
}
