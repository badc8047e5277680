//! `cargo run -p stage4 [-- --addr 127.0.0.1:8084 --work-ms 500]`
//!
//! Starts stage 4's shared-balances server on a single-threaded tokio runtime; on Ctrl-C
//! or SIGTERM it finishes every event already in progress and prints a final summary.

use stage4 as stage;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

/// Stage 4: shared balances behind a lock that is held during slow work, so every
/// request waits for all the ones before it.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    #[arg(long, default_value = "127.0.0.1:8084")]
    addr: SocketAddr,
    #[command(flatten)]
    config: stage::Config,
    #[command(flatten)]
    stop: stage::startup::StopFlags,
}

// Still one thread: the bottleneck here is the lock, and more threads would not help.
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
        "\nstage 4 · shared state: a lock held during slow work serializes everyone\n\
         knobs: --work-ms {work_ms}, --max-body {max_body} bytes, --read-timeout {timeout:?}\n\
         model: {formula} = {model}, however many clients arrive together\n\
         \n\
         try:\n  \
           cargo run --release -p stress-client -- post http://{addr} --user alice --action buy --amount 100\n  \
           curl -s http://{addr}/stats\n  \
           cargo run --release -p stress-client -- run http://{addr} --requests 20 --concurrency 4\n\
         \n\
         Ctrl-C stops the server after the events in progress.",
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
