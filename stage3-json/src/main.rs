//! `cargo run -p stage3 [-- --addr 127.0.0.1:8083 --max-body 65536 --read-timeout 10s]`
//!
//! Starts stage 3's validating JSON endpoint on a single-threaded tokio runtime and stops
//! it cleanly on Ctrl-C or SIGTERM.

use stage3 as stage;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

/// Stage 3: robust HTTP/1.1 framing and typed JSON validation. Bad input gets a precise
/// JSON error, never a crash or a hang.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    #[arg(long, default_value = "127.0.0.1:8083")]
    addr: SocketAddr,
    #[command(flatten)]
    config: stage::Config,
    #[command(flatten)]
    stop: stage::startup::StopFlags,
}

// One thread is still plenty: this stage is about correctness, not speed.
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
        "\nstage 3 · json: never trust input\n\
         model: as stage 2, plus limits: no request costs more than its bounds\n\
         knobs: --max-body {max_body} bytes, --read-timeout {timeout:?}\n\
         \n\
         try:\n  \
           cargo run --release -p stress-client -- post http://{addr} --user alice --action buy --amount 100\n  \
           curl -i -d '{{\"user\":\"alice\"' http://{addr}/events\n  \
           cargo run --release -p stress-client -- garbage http://{addr}\n\
         \n\
         Ctrl-C stops the server.",
        max_body = config.max_body,
        timeout = config.read_timeout,
    );
    stage::run(listener, config, shutdown).await;
    println!("stopped");
    ExitCode::SUCCESS
}
