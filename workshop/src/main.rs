//! The `workshop` binary: `cargo run -p workshop -- doctor` checks a laptop the day before,
//! `doctor --prepare` also builds everything the day will need.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "workshop", about = "The workshop's runner for learners")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check this machine is ready for the workshop (run it the day before).
    Doctor {
        /// Build the release binaries and the test builds first (needs the network once),
        /// so the room's first compile happens at home, not in the room.
        #[arg(long)]
        prepare: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Doctor { prepare } => workshop::doctor::run(prepare),
    }
}
