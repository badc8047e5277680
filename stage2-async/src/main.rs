//! `cargo run -p stage2 [-- --addr 127.0.0.1:8082]`
//!
//! Starts the async echo server of stage 2 on a single-threaded tokio runtime and stops
//! it cleanly on Ctrl-C or SIGTERM.

use stage2 as stage;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use tokio::net::{TcpListener, TcpSocket};

/// Stage 2: the echo server with one tokio task per connection. Idle clients cost nothing.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    #[arg(long, default_value = "127.0.0.1:8082")]
    addr: SocketAddr,
}

// One thread on purpose: the lesson is that tasks, not threads, fix the stage 1 freeze.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Args { addr } = Args::parse();
    let (listener, addr, shutdown) = match start(addr) {
        Ok(started) => started,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "\nstage 2 · async: one task per connection on a single thread\n\
         model: every connection at once on one thread; an idle one costs a task, not the thread\n\
         \n\
         try, in three terminals:\n  \
           nc {ip} {port}                              # connect and say nothing\n  \
           curl -d hello http://{addr}/         # answered at once this time\n  \
           cargo run --release -p stress-client -- run http://{addr} --idle 50\n\
         \n\
         Ctrl-C stops the server.",
        ip = addr.ip(),
        port = addr.port(),
    );
    stage::run(listener, shutdown).await;
    println!("stopped");
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
