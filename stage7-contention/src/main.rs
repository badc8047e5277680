//! `cargo run -p stage7 [-- --addr 127.0.0.1:8087 --workers 16 --capacity 100
//! --work-ms 100 --hold-ms 10 --log-locks]`
//!
//! Starts stage 7's server: connections on a single-threaded tokio runtime, workers on
//! threads of their own. On Ctrl-C or SIGTERM it stops accepting, applies every queued
//! event, and prints a final summary.

use stage7 as stage;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

/// Stage 7: sixteen workers and one lock. The lock, not the pool, sets the pace.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    #[arg(long, default_value = "127.0.0.1:8087")]
    addr: SocketAddr,
    #[command(flatten)]
    config: stage::Config,
    #[command(flatten)]
    stop: stage::startup::StopFlags,
}

// Connections stay on one thread: the request path is cheap. The workers get threads of
// their own (see `start_workers`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Args { addr, config, stop } = Args::parse();
    let (listener, addr, shutdown) = match stage::startup::start(addr, &stop) {
        Ok(started) => started,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "\nstage 7 · contention: one hot lock caps the whole pool\n\
         knobs: --workers {workers}, --capacity {capacity}, --work-ms {work_ms}, --hold-ms {hold_ms}, --max-body {max_body} bytes, --read-timeout {timeout:?}\n\
         model: {formula} = {model} ({lock}); a burst gets about capacity + workers + model × (burst seconds − one job) accepted\n\
         \n\
         try:\n  \
           cargo run --release -p stress-client -- post http://{addr} --user alice --action buy --amount 100\n  \
           curl -s http://{addr}/stats\n  \
           cargo run --release -p stress-client -- run http://{addr}\n\
         \n\
         Ctrl-C stops accepting, applies every queued event, then exits.",
        workers = config.workers,
        capacity = config.capacity,
        work_ms = config.work_ms,
        hold_ms = config.hold_ms,
        max_body = config.max_body,
        timeout = config.read_timeout,
        formula = stage::MODEL_FORMULA,
        model = config
            .model_jobs_per_sec()
            .map_or(String::from("no bound"), |model| format!("{model:.1} events/s")),
        lock = config
            .model_lock_jobs_per_sec()
            .map_or(String::from("no lock bound"), |lock| format!("lock bound {lock:.1} events/s")),
    );
    let summary = stage::run(listener, config, shutdown).await;
    println!(
        "stopped: processed {}, users {}, balance_total {}",
        summary.processed, summary.users, summary.balance_total
    );
    ExitCode::SUCCESS
}
