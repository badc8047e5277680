//! The learner's runner as a library; the `workshop` binary is a thin command line over it.
//! Run `cargo run -p workshop -- --help`.

pub mod doctor;
pub mod platform;
