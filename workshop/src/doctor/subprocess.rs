//! Child processes with a deadline: a probe that cannot finish (a cargo waiting on a lock
//! another build holds, a tool that asks a question) becomes a sentence, never a hang.

use std::io::{ErrorKind, Read};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished child said.
pub struct Captured {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` with its output captured; `Err` says why there is no answer (not
/// installed, did not finish within `limit`).
pub fn capture(command: &mut Command, limit: Duration) -> Result<Captured, String> {
    let program = program_name(command);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| spawn_failure(&program, &error))?;
    // Both pipes are drained on their own threads: a child that fills one pipe while we
    // wait on the other would otherwise block forever.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let success = wait_until(&mut child, &program, limit)?;
    let collect = |reader: Option<thread::JoinHandle<String>>| {
        reader.and_then(|r| r.join().ok()).unwrap_or_default()
    };
    Ok(Captured {
        success,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

/// Runs `command` with the terminal as its output (cargo's own progress shows as it
/// comes); `Ok(false)` when it ran and failed.
pub fn stream(command: &mut Command, limit: Duration) -> Result<bool, String> {
    let program = program_name(command);
    let mut child = command
        .stdin(Stdio::null())
        .spawn()
        .map_err(|error| spawn_failure(&program, &error))?;
    wait_until(&mut child, &program, limit)
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        // A read error only shortens what we show; the exit status still decides.
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Polls rather than blocks in `wait`, because std has no wait with a timeout; 20 ms is
/// far below anything a person notices and far above a busy loop.
fn wait_until(child: &mut Child, program: &str, limit: Duration) -> Result<bool, String> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status.success()),
            Ok(None) if Instant::now() >= deadline => {
                // Best effort: the child may have exited between the two calls.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{program}` did not finish within {} s and was stopped",
                    limit.as_secs()
                ));
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(error) => return Err(format!("could not wait for `{program}`: {error}")),
        }
    }
}

fn program_name(command: &Command) -> String {
    command.get_program().to_string_lossy().into_owned()
}

fn spawn_failure(program: &str, error: &std::io::Error) -> String {
    if error.kind() == ErrorKind::NotFound {
        format!("`{program}` was not found on PATH")
    } else {
        format!("could not start `{program}`: {error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_a_sentence_not_a_panic() {
        let error = capture(
            &mut Command::new("no-such-program-for-the-workshop"),
            Duration::from_secs(5),
        )
        .err();
        assert_eq!(
            error.as_deref(),
            Some("`no-such-program-for-the-workshop` was not found on PATH")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_child_past_its_deadline_is_stopped() {
        let started = Instant::now();
        let error = capture(Command::new("sleep").arg("30"), Duration::from_millis(300)).err();
        assert!(error.is_some_and(|e| e.contains("did not finish")));
        // Wide: the child would have slept 30 s had it not been stopped.
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[cfg(unix)]
    #[test]
    fn output_and_status_come_back() {
        let captured = capture(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
        );
        let captured = captured.expect("sh runs");
        assert!(!captured.success);
        assert_eq!(captured.stdout, "out\n");
        assert_eq!(captured.stderr, "err\n");
    }
}
