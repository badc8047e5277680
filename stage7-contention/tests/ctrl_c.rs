//! Ctrl-C at any moment ends the server cleanly, even right after its first line: tools
//! and tests stop a stage as soon as they read `listening on ...`, so a SIGINT that
//! arrives then must find the handler installed, not the default action (death by
//! signal, no summary). Run with `cargo test --test ctrl_c`; the same file in stages 2-8.
#![cfg(unix)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use test_kit::binary::{self, wait_for_exit};

/// Enough tries to catch the race: before the fix it lost about four in five.
const ATTEMPTS: usize = 10;
/// How long a stopped server may take to exit before the test calls it a hang.
const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn sigint_right_after_the_first_line_exits_cleanly() {
    let binary = env!(concat!("CARGO_BIN_EXE_", env!("CARGO_PKG_NAME")));
    for attempt in 1..=ATTEMPTS {
        // Its first line, `listening on ...`, has been read (and checked) on return.
        let binary::Started {
            child: mut server,
            mut stdout,
            ..
        } = binary::start(binary, &[], Stdio::inherit());

        let pid = server.id().to_string();
        let kill = Command::new("kill").args(["-INT", &pid]).status();
        assert!(kill.is_ok_and(|status| status.success()), "kill -INT {pid}");

        // Read the rest on a thread of its own, so a server that never exits fails the
        // deadline below instead of blocking the test forever.
        let rest = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            rest
        });
        let status = wait_for_exit(
            &mut server,
            PATIENCE,
            &format!("Ctrl-C (attempt {attempt})"),
        );
        let rest = rest.join().expect("reader thread");
        assert!(
            status.success(),
            "attempt {attempt}: exit {status:?} (killed by the signal?); output: {rest:?}"
        );
        let last = rest.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("stopped"),
            "attempt {attempt}: no final summary; output: {rest:?}"
        );
    }
}
