//! The command line: clap's definitions and the dispatch to each subcommand's module.

use crate::repo::Repo;
use crate::{commands, dev, guided, predict, Outcome};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The workshop's runner: exercises, checks, hints and predictions. With no subcommand it
/// starts guided mode: the next exercise, re-checked whenever you save a file.
#[derive(Debug, Parser)]
#[command(name = "workshop", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every exercise with its kind and state (from your saved progress).
    List {
        /// Only this stage (1 to 8).
        stage: Option<String>,
        /// A JSON list: id, stage, title, kind, state, minutes per item.
        #[arg(long)]
        json: bool,
        /// Re-run every check first instead of trusting the saved progress.
        #[arg(long)]
        verify: bool,
    },
    /// Run checks: `check 6.4`, a stage `check 6`, or `check all`. Exit 0 only if all pass.
    Check {
        /// N.K, N, or all.
        what: String,
    },
    /// The next hint of an exercise: each call shows one more (--all shows every one).
    Hint {
        /// N.K
        id: String,
        /// Every hint at once, without counting them as seen.
        #[arg(long)]
        all: bool,
    },
    /// Print an exercise's reference solution (a patch), or apply it with --apply.
    Solution {
        /// N.K
        id: String,
        /// Apply the patch to your stage (refuses if your edits overlap it).
        #[arg(long)]
        apply: bool,
    },
    /// Put a stage folder back to its committed state (asks first).
    Reset {
        /// The stage number, 1 to 8.
        stage: String,
        /// Discard the changes without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Predict a number, then measure it on this machine and grade the prediction.
    Predict {
        /// N.K of a prediction exercise.
        id: String,
        /// The prediction, instead of being asked for it.
        #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
        answer: Option<String>,
    },
    /// The pre-flight: is this laptop ready for the workshop? Run it the day before.
    Doctor {
        /// First build every stage, the stress client and the exercise checks, exactly as
        /// the book's commands will (needs the network once): no compiling in the room.
        #[arg(long)]
        prepare: bool,
    },
    /// For maintainers and CI.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Prove the exercises: solutions both ways, manifest agreement, shared files, book includes.
    Check {
        /// Run only these parts (repeatable); all of them by default.
        #[arg(long, value_enum)]
        only: Vec<dev::Part>,
    },
    /// Rewrite the solution patches against the current stages (three-way merge).
    RefreshSolutions {
        /// Only this exercise's patch (N.K).
        id: Option<String>,
    },
}

/// Parses the command line and runs it; a `UserError` is one line and exit 2.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("workshop: {err}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Outcome {
    if let Some(Command::Doctor { prepare }) = cli.command {
        return Ok(crate::doctor::run(prepare));
    }
    let repo = Repo::discover()?;
    match cli.command {
        None => guided::run(&repo),
        Some(Command::List {
            stage,
            json,
            verify,
        }) => commands::list(&repo, stage.as_deref(), json, verify),
        Some(Command::Check { what }) => commands::check(&repo, &what),
        Some(Command::Hint { id, all }) => commands::hint(&repo, &id, all),
        Some(Command::Solution { id, apply }) => commands::solution(&repo, &id, apply),
        Some(Command::Reset { stage, yes }) => commands::reset(&repo, &stage, yes),
        Some(Command::Predict { id, answer }) => predict::run(&repo, &id, answer.as_deref()),
        // Answered above, before the repository is looked for.
        Some(Command::Doctor { prepare }) => Ok(crate::doctor::run(prepare)),
        Some(Command::Dev {
            command: DevCommand::Check { only },
        }) => dev::check(&repo, &only),
        Some(Command::Dev {
            command: DevCommand::RefreshSolutions { id },
        }) => dev::solutions::refresh(&repo, id.as_deref()),
    }
}
