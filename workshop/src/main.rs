//! The `workshop` binary: `cargo run -p workshop -- --help`. All the work is in the
//! library (`workshop::cli::main`), so tests can drive the same code.

fn main() -> std::process::ExitCode {
    workshop::cli::main()
}
