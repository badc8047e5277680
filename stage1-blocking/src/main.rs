//! `cargo run -p stage1 [-- --addr 127.0.0.1:8081]`
//!
//! Starts the blocking echo server of stage 1 and prints what to try next.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use clap::Parser;

/// Stage 1: a blocking, single-threaded echo server. One idle client freezes it.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    #[arg(long, default_value = "127.0.0.1:8081")]
    addr: SocketAddr,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let file_limit_note = stage1::platform::raise_open_file_limit();
    let listener = match TcpListener::bind(args.addr) {
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
    if let Some(note) = file_limit_note {
        println!("{note}");
    }
    println!(
        "\nstage 1 · blocking: one thread, blocking reads, no timeouts\n\
         model: one client at a time; the next waits until the current one is finished\n\
         \n\
         try, in three terminals:\n  \
           nc {ip} {port}                              # connect and say nothing\n  \
           curl -d hello http://{addr}/         # hangs until nc quits\n  \
           cargo run --release -p stress-client -- run http://{addr} --idle 1 --requests 20\n\
         \n\
         Ctrl-C quits.",
        ip = addr.ip(),
        port = addr.port(),
    );
    stage1::run(listener);
    ExitCode::SUCCESS
}
