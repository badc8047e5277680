//! The `stress-client` binary: `run` replays load and checks the server, `garbage` throws
//! malformed requests at it. `cargo run --release -p stress-client -- --help` lists every flag.
//!
//! Exit codes: 0 all good, 1 an expectation unmet / a loss / the server died or hung,
//! 2 usage (bad flags, unreadable load file, bad URL).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
