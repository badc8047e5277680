//! `cargo run -p stage4 [-- --addr 127.0.0.1:8084 --work-ms 500]`
//!
//! Starts stage 4's shared-balances server on a single-threaded tokio runtime; on Ctrl-C
//! or SIGTERM it finishes every event already in progress and prints a final summary.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tokio::net::TcpListener;

/// Stage 4: shared balances behind a lock that is held during slow work, so every
/// request waits for all the ones before it.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    #[arg(long, default_value = "127.0.0.1:8084")]
    addr: SocketAddr,
    /// Largest request body accepted, in bytes; a larger Content-Length is answered 413
    /// before any of the body is read.
    #[arg(long, default_value_t = 64 * 1024)]
    max_body: usize,
    /// How long a request may take to arrive, and an idle keep-alive connection may stay
    /// open (e.g. 10s, 500ms).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    read_timeout: Duration,
    /// Simulated slow work per event, in milliseconds, done while holding the lock.
    #[arg(long, default_value_t = 500)]
    work_ms: u64,
}

// Still one thread: the bottleneck here is the lock, and more threads would not help.
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
    let config = stage4::Config {
        max_body: args.max_body,
        read_timeout: args.read_timeout,
        work_ms: args.work_ms,
    };
    println!(
        "\nstage 4 · shared state: a lock held during slow work serializes everyone\n\
         knobs: --work-ms {work_ms}, --max-body {max_body} bytes, --read-timeout {timeout:?}\n\
         model: {formula} = {model:.1} events/s, however many clients arrive together\n\
         \n\
         try:\n  \
           curl -i -d '{{\"user\":\"alice\",\"action\":\"buy\",\"amount\":100}}' http://{addr}/events\n  \
           curl -s http://{addr}/stats\n  \
           cargo run --release -p stress-client -- run http://{addr} --requests 20 --concurrency 4\n\
         \n\
         Ctrl-C stops the server after the events in progress.",
        work_ms = args.work_ms,
        max_body = args.max_body,
        timeout = args.read_timeout,
        formula = stage4::MODEL_FORMULA,
        model = config.model_jobs_per_sec(),
    );
    let summary = stage4::run(listener, config, shutdown_signal()).await;
    println!(
        "stopped: processed {}, users {}, balance_total {}",
        summary.processed, summary.users, summary.balance_total
    );
    ExitCode::SUCCESS
}

/// Accepts `250ms`, `10s`, `2m`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; try 10s or 500ms"))?;
    // Zero would time out every request before its first byte could arrive.
    if number == 0 {
        return Err(String::from(
            "the timeout must be longer than zero; try 10s",
        ));
    }
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "" | "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number.saturating_mul(60))),
        _ => Err(format!("unknown unit {unit:?} in {text:?}; use ms, s or m")),
    }
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
