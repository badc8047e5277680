//! `cargo run -p stage5 [-- --addr 127.0.0.1:8085 --capacity 100 --work-ms 500]`
//!
//! Starts stage 5's queue-and-worker server on a single-threaded tokio runtime; on Ctrl-C
//! or SIGTERM it stops accepting, applies every queued event, and prints a final summary.

use stage5 as stage;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

/// Stage 5: a bounded queue in front of one worker. A full queue answers 503 at once.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    #[arg(long, default_value = "127.0.0.1:8085")]
    addr: SocketAddr,
    #[command(flatten)]
    config: stage::Config,
    #[command(flatten)]
    stop: stage::startup::StopFlags,
}

// Still one thread: the request path is now cheap, and the one worker is the bottleneck
// on purpose.
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
        "\nstage 5 · backpressure: a bounded queue turns overload into fast, honest 503s\n\
         knobs: --capacity {capacity}, --work-ms {work_ms}, --max-body {max_body} bytes, --read-timeout {timeout:?}\n\
         model: {formula} = {model}; a burst gets about capacity + workers + model × (burst seconds − one job) accepted\n\
         \n\
         try:\n  \
           cargo run --release -p stress-client -- post http://{addr} --user alice --action buy --amount 100\n  \
           curl -s http://{addr}/stats\n  \
           cargo run --release -p stress-client -- run http://{addr}\n\
         \n\
         Ctrl-C stops accepting, applies every queued event, then exits.",
        capacity = config.capacity,
        work_ms = config.work_ms,
        max_body = config.max_body,
        timeout = config.read_timeout,
        formula = stage::MODEL_FORMULA,
        model = config
            .model_jobs_per_sec()
            .map_or(String::from("no bound"), |model| format!("{model:.1} events/s")),
    );
    let summary = stage::run(listener, config, shutdown).await;
    println!(
        "stopped: processed {}, users {}, balance_total {}",
        summary.processed, summary.users, summary.balance_total
    );
    ExitCode::SUCCESS
}
