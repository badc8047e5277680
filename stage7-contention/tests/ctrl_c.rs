//! Ctrl-C at any moment ends the server cleanly, even right after its first line: tools
//! and tests stop a stage as soon as they read `listening on ...`, so a SIGINT that
//! arrives then must find the handler installed, not the default action (death by
//! signal, no summary). Run with `cargo test --test ctrl_c`; the same file in stages 2-8.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Enough tries to catch the race: before the fix it lost about four in five.
const ATTEMPTS: usize = 10;
/// How long a stopped server may take to exit before the test calls it a hang.
const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn sigint_right_after_the_first_line_exits_cleanly() {
    let binary = env!(concat!("CARGO_BIN_EXE_", env!("CARGO_PKG_NAME")));
    for attempt in 1..=ATTEMPTS {
        let mut server = Command::new(binary)
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the stage's binary");
        let mut stdout = BufReader::new(server.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read the first line");
        assert!(first.starts_with("listening on http://"), "{first:?}");

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
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = server.try_wait().expect("poll the server") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = server.kill();
                panic!("attempt {attempt}: still running {PATIENCE:?} after Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
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
