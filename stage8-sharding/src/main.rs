//! `cargo run -p stage8 [-- --addr 127.0.0.1:8088 --workers 16 --capacity 1000
//! --work-ms 10 --hold-ms 1 --map dashmap|sharded --shards N --log-locks]`
//!
//! Starts stage 8's server: connections on a single-threaded tokio runtime, workers on
//! threads of their own. On Ctrl-C or SIGTERM it stops accepting, applies every queued
//! event, and prints a final summary.

use stage8 as stage;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

/// Stage 8: the worker pool on a sharded map. Writers to different keys run in parallel.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    #[arg(long, default_value = "127.0.0.1:8088")]
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
    let mut config = config;
    // The shards the ledger will really build (DashMap rounds up), as `/stats` will show.
    config.shards = stage::ledger::shard_count(config.map, config.shards);
    let (listener, addr, shutdown) = match stage::startup::start(addr, &stop) {
        Ok(started) => started,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "\nstage 8 · sharding: split the lock, and writers to different keys run in parallel\n\
         knobs: --map {map} --shards {shards}, --workers {workers}, --capacity {capacity}, --work-ms {work_ms}, --hold-ms {hold_ms}, --max-body {max_body} bytes, --read-timeout {timeout:?}\n\
         model: {formula} = {model} ({lock}); a burst gets about capacity + workers + model × (burst seconds − one job) accepted\n\
         \n\
         try:\n  \
           cargo run --release -p stress-client -- post http://{addr} --user alice --action buy --amount 100\n  \
           curl -s http://{addr}/stats\n  \
           cargo run --release -p stress-client -- run http://{addr}\n\
         \n\
         Ctrl-C stops accepting, applies every queued event, then exits.",
        map = config.map.to_possible_value().map_or_else(String::new, |value| value.get_name().to_owned()),
        shards = config.shards,
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
