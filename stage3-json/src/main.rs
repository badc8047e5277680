//! `cargo run -p stage3 [-- --addr 127.0.0.1:8083 --max-body 65536 --read-timeout 10s]`
//!
//! Starts stage 3's validating JSON endpoint on a single-threaded tokio runtime and stops
//! it cleanly on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tokio::net::TcpListener;

/// Stage 3: robust HTTP/1.1 framing and typed JSON validation. Bad input gets a precise
/// JSON error, never a crash or a hang.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    #[arg(long, default_value = "127.0.0.1:8083")]
    addr: SocketAddr,
    /// Largest request body accepted, in bytes; a larger Content-Length is answered 413
    /// before any of the body is read.
    #[arg(long, default_value_t = 64 * 1024)]
    max_body: usize,
    /// How long a request may take to arrive, and an idle keep-alive connection may stay
    /// open (e.g. 10s, 500ms).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    read_timeout: Duration,
}

// One thread is still plenty: this stage is about correctness, not speed.
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
        "\nstage 3 · json: never trust input\n\
         model: as stage 2, plus limits: no request costs more than its bounds\n\
         knobs: --max-body {max_body} bytes, --read-timeout {timeout:?}\n\
         \n\
         try:\n  \
           curl -i -d '{{\"user\":\"alice\",\"action\":\"buy\",\"amount\":100}}' http://{addr}/events\n  \
           curl -i -d '{{\"user\":\"alice\"' http://{addr}/events\n  \
           cargo run --release -p stress-client -- garbage http://{addr}\n\
         \n\
         Ctrl-C stops the server.",
        max_body = args.max_body,
        timeout = args.read_timeout,
    );
    let config = stage3::Config {
        max_body: args.max_body,
        read_timeout: args.read_timeout,
    };
    stage3::run(listener, config, shutdown_signal()).await;
    println!("stopped");
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
