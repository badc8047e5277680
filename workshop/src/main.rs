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
        /// First build every stage, the stress client and the exercise checks, exactly as
        /// the book's commands will (needs the network once): no compiling in the room.
        #[arg(long)]
        prepare: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Doctor { prepare } => workshop::doctor::run(prepare),
    }
}
