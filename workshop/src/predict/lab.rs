//! The lab a measurement runs in: a stage's release binary started on 127.0.0.1:0, load
//! driven through the stress-client library, `/stats` read, the stage stopped. Every step
//! is bounded in time, and every failure says what happened and what to try.

use crate::UserError;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use stress_client::catalogue::Stage;
use stress_client::compare::stages;
use stress_client::platform::{self, StopMethod};
use stress_client::stats::{ServerStats, StatsClient};
use stress_client::target::Target;

/// How long a stage may take to print `listening on`: a release binary starts in
/// milliseconds, so this only matters when something is wrong.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a stage asked to stop may take before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the stages' binaries are, and the runtime the load runs on.
pub struct Lab {
    /// The folder with the stages' binaries (`<target>/release` for `predict`).
    binaries: PathBuf,
    runtime: tokio::runtime::Runtime,
}

/// A stage started by the lab; killed when dropped, so no path leaves it running.
pub struct RunningStage {
    pub addr: SocketAddr,
    child: Child,
    /// Held open while the stage runs; closing it asks a stage that supports it to stop.
    stdin: Option<ChildStdin>,
    /// Whether the stage was started with the stdin stop; one without it is killed at once
    /// (waiting would only wait out the timeout).
    stops_on_stdin_close: bool,
}

impl Lab {
    /// A lab over the binaries in `binaries` (for example `<target>/release`).
    pub fn new(binaries: impl Into<PathBuf>) -> Result<Self, UserError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|err| UserError::new(format!("cannot start the load's runtime: {err}")))?;
        Ok(Self {
            binaries: binaries.into(),
            runtime,
        })
    }

    /// The binary of `stage`, with the platform's executable suffix.
    pub fn binary(&self, stage: &Stage) -> PathBuf {
        binary_path(&self.binaries, stage.package)
    }

    /// Runs a future (the stress-client calls) to completion.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// `Err` naming the build command when `stage` has no binary here yet.
    pub fn require(&self, stage: &Stage) -> Result<(), UserError> {
        let binary = self.binary(stage);
        if binary.is_file() {
            return Ok(());
        }
        Err(UserError::new(format!(
            "{} is not built yet: run `cargo build --release -p {}` (or `cargo run -p \
             workshop -- doctor --prepare`), then try again",
            binary.display(),
            stage.package
        )))
    }

    /// Whether `stage`'s binary is older than the sources in `folder` (its `src/` and
    /// `Cargo.toml`): the learner edited the stage since the last release build, so a
    /// measurement would be of the code as it was, not as it is.
    pub fn is_stale(&self, stage: &Stage, folder: &Path) -> bool {
        use crate::doctor::judge::{freshness, Freshness};
        use crate::doctor::probe::newest_in;
        let built = std::fs::metadata(self.binary(stage))
            .and_then(|m| m.modified())
            .ok();
        let newest = [folder.join("src"), folder.join("Cargo.toml")]
            .iter()
            .filter_map(|path| newest_in(path))
            .max();
        freshness(built, newest) == Freshness::Stale
    }

    /// Starts `stage` on a free loopback port with `flags` and waits for its address.
    pub fn start(&self, stage: &Stage, flags: &[&str]) -> Result<RunningStage, UserError> {
        self.require(stage)?;
        let binary = self.binary(stage);
        let mut command = Command::new(&binary);
        command.args(["--addr", "127.0.0.1:0"]).args(flags);
        // Closing stdin stops a stage on every OS (no signal needed); stage 1 has no
        // graceful shutdown at all and is killed.
        let stops_on_stdin_close = stages::facts(stage.number).is_some_and(|f| f.graceful_shutdown);
        if stops_on_stdin_close {
            command.args(StopMethod::CloseStdin.stage_flag());
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| UserError::new(format!("cannot start {}: {err}", binary.display())))?;
        let stdin = child.stdin.take();
        match wait_for_address(&mut child, stage) {
            Ok(addr) => Ok(RunningStage {
                addr,
                child,
                stdin,
                stops_on_stdin_close,
            }),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(err)
            }
        }
    }
}

impl RunningStage {
    pub fn target(&self) -> Target {
        Target::from_addr(self.addr)
    }

    /// The stage's `/stats`, read on the lab's runtime.
    pub fn stats(&self, lab: &Lab) -> Result<ServerStats, UserError> {
        let client = StatsClient::new(&self.target());
        lab.block_on(client.fetch())
            .map_err(|err| UserError::new(format!("cannot read the stage's /stats: {err}")))
    }

    /// Stops the stage: closes its stdin (a stage with `--stop-on-stdin-close` then shuts
    /// down cleanly), waits a bounded time, and kills it if it is still there.
    pub fn stop(mut self) {
        self.stdin = None;
        let wait = if self.stops_on_stdin_close {
            STOP_TIMEOUT
        } else {
            Duration::ZERO
        };
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RunningStage {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `<dir>/<package><EXE_SUFFIX>`: `stage5` on Linux and macOS, `stage5.exe` on Windows.
pub fn binary_path(dir: &Path, package: &str) -> PathBuf {
    dir.join(platform::binary_file_name(package, platform::OS))
}

/// Reads the stage's stdout until `listening on http://ADDR`, at most `START_TIMEOUT`;
/// the rest of its output is drained on a thread so a chatty stage never blocks on a pipe.
fn wait_for_address(child: &mut Child, stage: &Stage) -> Result<SocketAddr, UserError> {
    let (stderr_tail, stderr_done) = drain_stderr(child);
    let (lines, received) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
    }
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => {
                if let Some(addr) = parse_listening(&line) {
                    return Ok(addr);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(UserError::new(format!(
                    "{} printed no `listening on` line within {} s; run it by hand (`cargo run \
                     --release -p {}`) to see what it does",
                    stage.package,
                    START_TIMEOUT.as_secs(),
                    stage.package
                )))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = child.wait();
                // The process is gone, so its stderr has ended and the reader finishes.
                if let Some(reader) = stderr_done {
                    let _ = reader.join();
                }
                let stderr = stderr_tail
                    .lock()
                    .map(|tail| String::from_utf8_lossy(&tail).into_owned())
                    .unwrap_or_default();
                return Err(UserError::new(format!(
                    "{} stopped before it was listening: {}. If a port is in use, stop the \
                     other program; if the build is stale, run `cargo build --release -p {}`",
                    stage.package,
                    crate::repo::first_line(&stderr),
                    stage.package
                )));
            }
        }
    }
}

/// Reads the stage's stderr for as long as it runs, keeping the last few KiB for an error
/// message: a pipe nobody reads fills up, and a stage that logs (stages 1 and 2 print a line
/// per failed connection) would then stop in the middle of a measurement.
fn drain_stderr(child: &mut Child) -> (Arc<Mutex<Vec<u8>>>, Option<JoinHandle<()>>) {
    const KEEP: usize = 4096;
    let tail = Arc::new(Mutex::new(Vec::new()));
    let reader = child.stderr.take().map(|mut pipe| {
        let tail = Arc::clone(&tail);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 1024];
            while let Ok(read) = pipe.read(&mut chunk) {
                if read == 0 {
                    break;
                }
                if let Ok(mut kept) = tail.lock() {
                    kept.extend_from_slice(&chunk[..read]);
                    let excess = kept.len().saturating_sub(KEEP);
                    kept.drain(..excess);
                }
            }
        })
    });
    (tail, reader)
}

/// The address in a stage's first line, `listening on http://127.0.0.1:PORT`.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    line.trim()
        .strip_prefix("listening on http://")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_read_from_the_first_line_only_in_its_exact_form() {
        assert_eq!(
            parse_listening("listening on http://127.0.0.1:40123"),
            Some(SocketAddr::from(([127, 0, 0, 1], 40123)))
        );
        assert_eq!(parse_listening("stage 5 · backpressure"), None);
        assert_eq!(parse_listening("listening on http://nowhere"), None);
    }

    #[test]
    fn the_binary_carries_the_platform_suffix() {
        let path = binary_path(Path::new("target/release"), "stage5");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert_eq!(name, format!("stage5{}", std::env::consts::EXE_SUFFIX));
    }
}
