//! `cargo run -p stage8 [-- --addr 127.0.0.1:8088 --workers 16 --capacity 1000
//! --work-ms 10 --hold-ms 1 --map dashmap|sharded --shards N --log-locks]`
//!
//! Starts stage 8's server: connections on a single-threaded tokio runtime, workers on
//! threads of their own. On Ctrl-C or SIGTERM it stops accepting, applies every queued
//! event, and prints a final summary.

use stage8 as stage;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use tokio::net::{TcpListener, TcpSocket};

/// Stage 8: the worker pool on a sharded map. Writers to different keys run in parallel.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    #[arg(long, default_value = "127.0.0.1:8088")]
    addr: SocketAddr,
    #[command(flatten)]
    config: stage::Config,
}

// Connections stay on one thread: the request path is cheap. The workers get threads of
// their own (see `start_workers`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Args { addr, config } = Args::parse();
    let (listener, addr, shutdown) = match start(addr) {
        Ok(started) => started,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "\nstage 8 · sharding: split the lock, and writers to different keys run in parallel\n\
         knobs: --map {map} --shards {shards}, --workers {workers}, --capacity {capacity}, --work-ms {work_ms}, --hold-ms {hold_ms}, --max-body {max_body} bytes, --read-timeout {timeout:?}\n\
         model: {formula} = {model:.1} events/s; a burst gets about capacity + workers + model × (burst seconds − one job) accepted\n\
         \n\
         try:\n  \
           curl -i -d '{{\"user\":\"alice\",\"action\":\"buy\",\"amount\":100}}' http://{addr}/events\n  \
           curl -s http://{addr}/stats\n  \
           cargo run --release -p stress-client -- run http://{addr}\n\
         \n\
         Ctrl-C stops accepting, applies every queued event, then exits.",
        map = format!("{:?}", config.map).to_lowercase(),
        shards = stage::ledger::shard_count(config.map, config.shards),
        workers = config.workers,
        capacity = config.capacity,
        work_ms = config.work_ms,
        hold_ms = config.hold_ms,
        max_body = config.max_body,
        timeout = config.read_timeout,
        formula = stage::MODEL_FORMULA,
        model = config.model_jobs_per_sec(),
    );
    let summary = stage::run(listener, config, shutdown).await;
    println!(
        "stopped: processed {}, users {}, balance_total {}",
        summary.processed, summary.users, summary.balance_total
    );
    ExitCode::SUCCESS
}

/// Listens on `addr` and for Ctrl-C, then prints the first line, `listening on ...`.
///
/// The signal handlers come first: tools and tests stop the server as soon as they read
/// that line, and a SIGINT that arrived before the handler existed would kill the process
/// by the default action, with no summary and no drain.
fn start(addr: SocketAddr) -> Result<(TcpListener, SocketAddr, impl Future<Output = ()>), String> {
    let listener = bind(addr).map_err(|err| {
        format!(
            "cannot listen on {addr}: {err}\n\
             Is another copy running? Stop it, or pick a free port with --addr 127.0.0.1:0"
        )
    })?;
    let shutdown = shutdown_signal().map_err(|err| format!("cannot listen for Ctrl-C: {err}"))?;
    let bound = listener
        .local_addr()
        .map_err(|err| format!("cannot read the bound address: {err}"))?;
    println!("listening on http://{bound}");
    Ok((listener, bound, shutdown))
}

/// Binds `addr` with a listen backlog of 1024 instead of the usual 128.
///
/// The backlog holds connections the kernel has completed but `accept` has not taken
/// yet. A burst of 200 connections overflowed 128, and Linux retries a dropped SYN only
/// after a second: that retry, not the server, was stage 2's p99 of 1.01 s. SO_REUSEADDR
/// is set as `TcpListener::bind` sets it on Unix, so a restart need not wait out the old
/// connections' TIME_WAIT.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Listens for Ctrl-C and SIGTERM from the moment it is called, and completes on the
/// first one. After that a second signal exits at once, so a server that is slow to
/// finish never traps the person at the keyboard.
#[cfg(unix)]
fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    // SIGTERM is what `kill` and service managers send; treat it like Ctrl-C.
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("shutting down; press Ctrl-C again to quit at once");
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            std::process::exit(130);
        });
    })
}

/// Elsewhere only Ctrl-C is known, and tokio registers it when first awaited.
#[cfg(not(unix))]
fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("shutting down; press Ctrl-C again to quit at once");
        tokio::spawn(async {
            let _ = tokio::signal::ctrl_c().await;
            std::process::exit(130);
        });
    })
}
