//! The `workshop` binary: the learner's runner. `cargo run -p workshop -- --help`.

fn main() {}
