//! How a stage's binary starts and stops: raise the open-file limit, bind with a deep
//! backlog, listen for the stop signals, then print the first line, `listening on ...`.
//! `main.rs` calls [`start`] and prints its banner after it. Shared word for word by
//! stages 2 to 8; see the stage's `--help` for `--stop-on-stdin-close`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;

use crate::platform::{self, StopSignals};

/// The listen backlog asked for: deep enough for the workshop's bursts of 200
/// connections, with room to spare.
pub const LISTEN_BACKLOG: u32 = 1024;

/// How the server may be told to stop, besides Ctrl-C.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct StopFlags {
    /// Also shut down gracefully, exactly as on Ctrl-C, when standard input closes: how
    /// `compare` and the workshop runner stop a stage on every OS, Windows included.
    #[arg(long)]
    pub stop_on_stdin_close: bool,
}

/// Listens on `addr` and for the stop signals, then prints the first line, `listening on
/// ...`, and a line for each platform limit that will shape what the learner sees.
///
/// The signal handlers come first: tools and tests stop the server as soon as they read
/// that line, and a SIGINT that arrived before the handler existed would kill the process
/// by the default action, with no summary and no drain.
pub fn start(
    addr: SocketAddr,
    stop: &StopFlags,
) -> Result<(TcpListener, SocketAddr, impl Future<Output = ()>), String> {
    let file_limit_note = platform::raise_open_file_limit();
    let listener = bind(addr).map_err(|err| {
        format!(
            "cannot listen on {addr}: {err}\n\
             Is another copy running? Stop it, or pick a free port with --addr 127.0.0.1:0"
        )
    })?;
    let shutdown = shutdown_signal(stop.stop_on_stdin_close)
        .map_err(|err| format!("cannot listen for Ctrl-C: {err}"))?;
    let bound = listener
        .local_addr()
        .map_err(|err| format!("cannot read the bound address: {err}"))?;
    println!("listening on http://{bound}");
    let backlog_note = platform::backlog_cap_note(
        std::env::consts::OS,
        platform::listen_backlog_cap(),
        LISTEN_BACKLOG,
    );
    for note in [file_limit_note, backlog_note].into_iter().flatten() {
        println!("{note}");
    }
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
    socket.listen(LISTEN_BACKLOG)
}

/// Listens for the stop signals (and, if asked, for standard input to close) from the
/// moment it is called, and completes on the first of them. After that a second signal
/// exits at once, so a server that is slow to finish never traps the person at the
/// keyboard.
fn shutdown_signal(stop_on_stdin_close: bool) -> io::Result<impl Future<Output = ()>> {
    let mut signals = StopSignals::listen()?;
    let stdin_closed = if stop_on_stdin_close {
        stdin_closed()
    } else {
        None
    };
    Ok(async move {
        let stdin_closed = async {
            match stdin_closed {
                // An error means the watching thread is gone, which it is only once
                // standard input has ended.
                Some(closed) => {
                    let _ = closed.await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = signals.recv() => {}
            () = stdin_closed => {}
        }
        eprintln!("shutting down; press Ctrl-C again to quit at once");
        tokio::spawn(async move {
            signals.recv().await;
            std::process::exit(130);
        });
    })
}

/// A receiver that completes once standard input reaches its end or fails, or `None`
/// (after saying so) if it cannot be watched. Only the process holding the
/// other end of the pipe can close it, so no other program can stop the server this way.
///
/// A plain thread, not tokio's blocking pool: the runtime waits for its blocking tasks
/// when it shuts down, and a read of a terminal that never closes would hold the exit.
fn stdin_closed() -> Option<oneshot::Receiver<()>> {
    let (closed, on_close) = oneshot::channel();
    let watcher = std::thread::Builder::new()
        .name(String::from("stdin-watch"))
        .spawn(move || {
            let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
            let _ = closed.send(());
        });
    match watcher {
        Ok(_) => Some(on_close),
        Err(err) => {
            eprintln!("cannot watch standard input ({err}); stop the server with Ctrl-C");
            None
        }
    }
}
