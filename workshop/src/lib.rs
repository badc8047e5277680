//! The learner's runner, `workshop`: one program for the hands-on half of the workshop on
//! Linux, macOS and Windows. Run it from the repository root:
//!
//! ```text
//! cargo run -p workshop                 # guided mode: the next exercise, re-checked on save
//! cargo run -p workshop -- list         # every exercise and its state
//! cargo run -p workshop -- check 6.4    # one check (or a stage: `check 6`, or `check all`)
//! cargo run -p workshop -- predict 5.1  # predict a number, then measure it
//! cargo run -p workshop -- doctor       # is this laptop ready?
//! ```
//!
//! The binary is a thin shell over [`cli::main`]; every subcommand lives in its own module
//! and reads the exercises from one manifest, `workshop/exercises.toml` ([`manifest`]).

pub mod checks;
pub mod cli;
pub mod commands;
pub mod dev;
pub mod doctor;
pub mod guided;
pub mod manifest;
pub mod platform;
pub mod predict;
pub mod progress;
pub mod repo;
pub mod watcher;

use std::process::ExitCode;

/// Input the runner cannot act on (an unknown exercise, a stage that does not exist, a
/// patch that no longer applies): the one-line reason is printed and the exit status is 2,
/// which tells a script "you asked for something wrong" apart from "a check failed" (1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError(pub String);

impl UserError {
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What every subcommand returns: a verdict (0 all good, 1 something not done yet) or a
/// reason it could not run at all.
pub type Outcome = Result<ExitCode, UserError>;

/// The exit status of a verdict.
pub fn verdict(all_passed: bool) -> ExitCode {
    if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
