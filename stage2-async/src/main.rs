//! `cargo run -p stage2 [-- --addr 127.0.0.1:8082]`
//!
//! Starts the async echo server of stage 2 on a single-threaded tokio runtime and stops
//! it cleanly on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use tokio::net::TcpListener;

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
    let args = Args::parse();
    let listener = match TcpListener::bind(args.addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!(
                "cannot listen on {}: {err}\n\
                 Is another copy running? Stop it, or pick a free port with --addr 127.0.0.1:0",
                args.addr
            );
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("cannot read the bound address: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on http://{addr}");
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
    stage2::run(listener, shutdown_signal()).await;
    println!("stopped");
    ExitCode::SUCCESS
}

/// Completes on the first Ctrl-C or SIGTERM. After that a second signal exits at once,
/// so a server that is slow to finish never traps the person at the keyboard.
async fn shutdown_signal() {
    wait_for_signal().await;
    eprintln!("shutting down; press Ctrl-C again to quit at once");
    tokio::spawn(async {
        wait_for_signal().await;
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        // SIGTERM is what `kill` and service managers send; treat it like Ctrl-C.
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
