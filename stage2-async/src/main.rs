//! `cargo run -p stage2 [-- --addr 127.0.0.1:8082]`
//!
//! Starts the async echo server of stage 2 on a single-threaded tokio runtime and stops
//! it cleanly on Ctrl-C or SIGTERM.

use stage2 as stage;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

/// Stage 2: the echo server with one tokio task per connection. Idle clients cost nothing.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    #[arg(long, default_value = "127.0.0.1:8082")]
    addr: SocketAddr,
    #[command(flatten)]
    stop: stage::startup::StopFlags,
}

// One thread on purpose: the lesson is that tasks, not threads, fix the stage 1 freeze.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Args { addr, stop } = Args::parse();
    let (listener, addr, shutdown) = match stage::startup::start(addr, &stop) {
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
