//! `workshop doctor [--prepare]`: the pre-flight a participant runs the day before.
//! Placeholder: the doctor's body is written on another branch and replaces this file.

use std::process::ExitCode;

/// Runs the pre-flight; `prepare` also builds what the room needs. Until the real doctor
/// lands this says nothing and fails, so nobody mistakes it for a passed pre-flight.
pub fn run(_prepare: bool) -> ExitCode {
    ExitCode::FAILURE
}
