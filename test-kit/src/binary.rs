//! A stage's own binary as a child process: started on a free port, its address read from
//! the first line it prints, and waited for with a bound. For the tests about the process
//! itself (Ctrl-C, the stdin stop), where an in-process `run` would not do.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A started stage binary.
pub struct Started {
    pub child: Child,
    /// Where it listens, from its first line.
    pub addr: SocketAddr,
    /// The rest of its standard output (the summary comes last).
    pub stdout: BufReader<ChildStdout>,
}

/// Starts `binary` with `--addr 127.0.0.1:0`, `flags` and `stdin`, and reads its first
/// line, which must be `listening on http://IP:PORT`. Its stderr is discarded.
pub fn start(binary: &str, flags: &[&str], stdin: Stdio) -> Started {
    let mut child = Command::new(binary)
        .args(["--addr", "127.0.0.1:0"])
        .args(flags)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the stage's binary");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("read the first line");
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("the first line names the address: {first:?}"));
    Started {
        child,
        addr,
        stdout,
    }
}

/// Waits for `child` to exit; after `patience` it is killed and the test fails, naming
/// `after` (what should have stopped it).
pub fn wait_for_exit(child: &mut Child, patience: Duration, after: &str) -> ExitStatus {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(status) = child.try_wait().expect("poll the server") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running {patience:?} after {after}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
