//! The stage processes `compare` drives: build them (`cargo build --release`), find them
//! (`cargo metadata`'s `target_directory`, so `CARGO_TARGET_DIR` is honoured), start one on
//! `127.0.0.1:0` and read its `listening on` line within a bound, then stop it with SIGINT
//! and check it exits 0 within a bound. Every wait is bounded: a stage that hangs becomes a
//! failed row, never a hung comparison.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How long a stage may take from spawn to its `listening on` line.
pub const STARTUP_BOUND: Duration = Duration::from_secs(10);
/// After a second SIGINT the stages exit at once; this is only for a truly stuck one.
const FORCED_EXIT_BOUND: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(20);
/// Stderr lines kept per stage, for the reason shown when it fails.
const STDERR_TAIL: usize = 20;

/// The workspace this binary was built from: compare measures the stages beside it, wherever
/// it is started from.
fn workspace_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("Cargo.toml")
}

/// `cargo run` hands its own path down in `CARGO`; a plain `cargo` from PATH otherwise.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Which cargo profile to build and run: compare measures release builds; its own test
/// uses the dev profile, which builds in seconds instead of a minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Release,
    Dev,
}

impl Profile {
    fn directory(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Dev => "debug",
        }
    }
}

/// Where cargo puts the binaries of `profile`: `<target_directory>/release` or `/debug`.
pub fn binary_dir(profile: Profile) -> Result<PathBuf, String> {
    let output = cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(workspace_manifest())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e} (is cargo on PATH?)"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {} (pass --bin-dir DIR to use binaries built elsewhere)",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata printed something that is not JSON: {e}"))?;
    let target = metadata
        .get("target_directory")
        .and_then(serde_json::Value::as_str)
        .ok_or("cargo metadata gave no target_directory")?;
    Ok(Path::new(target).join(profile.directory()))
}

/// Builds the packages, all in one cargo run. When that fails (another person's half-edited
/// stage, say) each is built alone, so the others still get their rows; the result maps
/// each package to its build error, if any.
pub fn build(
    packages: &[&str],
    profile: Profile,
    show_cargo_output: bool,
) -> Vec<(String, Option<String>)> {
    if packages.is_empty() {
        return Vec::new();
    }
    if build_together(packages, profile, show_cargo_output).is_ok() {
        return packages.iter().map(|p| (p.to_string(), None)).collect();
    }
    packages
        .iter()
        .map(|package| {
            let error = build_together(&[package], profile, false).err();
            (package.to_string(), error)
        })
        .collect()
}

fn build_together(
    packages: &[&str],
    profile: Profile,
    show_cargo_output: bool,
) -> Result<(), String> {
    let mut command = cargo();
    command.arg("build");
    if profile == Profile::Release {
        command.arg("--release");
    }
    command.arg("--manifest-path").arg(workspace_manifest());
    for package in packages {
        command.args(["-p", package]);
    }
    command.stdin(Stdio::null()).stdout(Stdio::null());
    if show_cargo_output {
        command.stderr(Stdio::inherit());
    } else {
        command.stderr(Stdio::piped());
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo build: {e} (is cargo on PATH?)"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first_error = stderr
        .lines()
        .find(|line| line.starts_with("error"))
        .unwrap_or("cargo build failed");
    Err(format!(
        "{first_error} (see `cargo build{} -p {}`)",
        if profile == Profile::Release {
            " --release"
        } else {
            ""
        },
        packages.join(" -p ")
    ))
}

/// A started stage. Dropping it kills the process if it is still running, so no early
/// return or panic in compare leaves a server behind.
pub struct StageProcess {
    child: Child,
    pub addr: SocketAddr,
    stdout_lines: Receiver<String>,
    /// Everything printed on stdout after the `listening on` line, as far as read.
    pub stdout_after_banner: Vec<String>,
    stderr_tail: Arc<Mutex<Vec<String>>>,
}

/// How a stage's run ended, for its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shutdown {
    pub clean: bool,
    /// One sentence: "exit 0 after 0.04 s", "did not exit within 8 s of SIGINT; killed", …
    pub description: String,
    /// The stage's `stopped: processed N, users U, balance_total T` line, when it printed one.
    pub summary_line: Option<String>,
}

impl StageProcess {
    /// Starts `binary --addr 127.0.0.1:0 ARGS` and waits (bounded) for its `listening on`
    /// line. The error says what went wrong in a sentence, with the stage's last stderr line.
    pub async fn start(binary: &Path, args: &[String]) -> Result<Self, String> {
        if !binary.is_file() {
            return Err(format!(
                "failed to start: no binary at {} (build it with cargo build --release, or check --bin-dir)",
                binary.display()
            ));
        }
        let mut child = Command::new(binary)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout_lines = read_lines(child.stdout.take());
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        keep_tail(child.stderr.take(), Arc::clone(&stderr_tail));
        let mut process = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stdout_lines,
            stdout_after_banner: Vec::new(),
            stderr_tail,
        };
        let deadline = Instant::now() + STARTUP_BOUND;
        loop {
            match process.stdout_lines.try_recv() {
                Ok(line) => {
                    let Some(url) = line.strip_prefix("listening on http://") else {
                        return Err(process.fail_start(format!(
                            "its first line was {line:?}, not \"listening on http://IP:PORT\""
                        )));
                    };
                    let Ok(addr) = url.trim().parse::<SocketAddr>() else {
                        return Err(process.fail_start(format!(
                            "cannot read an address from its first line {line:?}"
                        )));
                    };
                    process.addr = addr;
                    return Ok(process);
                }
                Err(TryRecvError::Disconnected) => {
                    // Stdout closed: the process has ended or is about to.
                    let status = process.wait_exit(Duration::from_secs(1)).await;
                    let how = status.map_or("closed its stdout".into(), |s| describe_status(&s));
                    return Err(process.fail_start(format!("it {how} before listening")));
                }
                Err(TryRecvError::Empty) => {}
            }
            if Instant::now() >= deadline {
                return Err(process.fail_start(format!(
                    "no \"listening on\" line within {} s",
                    STARTUP_BOUND.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn fail_start(&mut self, reason: String) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        match self.last_stderr_line() {
            Some(line) => format!("failed to start: {reason}; stderr: {line}"),
            None => format!("failed to start: {reason}"),
        }
    }

    /// The stage's last error line on stderr, or its last line: clap ends a usage error
    /// with "For more information, try '--help'", which says nothing about the cause.
    pub fn last_stderr_line(&self) -> Option<String> {
        let tail = self.stderr_tail.lock().ok()?;
        let lines = || {
            tail.iter()
                .rev()
                .map(|line| line.trim())
                .filter(|line| !line.is_empty())
        };
        lines()
            .find(|line| line.to_ascii_lowercase().contains("error"))
            .or_else(|| lines().next())
            .map(str::to_string)
    }

    /// `Some(status)` when the stage has already exited (it died during the run).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    async fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn collect_stdout(&mut self) {
        while let Ok(line) = self.stdout_lines.try_recv() {
            self.stdout_after_banner.push(line);
        }
    }

    /// SIGINT, then up to `bound` for a clean exit. Past the bound: a second SIGINT (the
    /// stages quit at once on it), then a kill; either way the row reports a failure.
    /// `sigint_ends_it` is for stage 1, which has no shutdown handling by design.
    pub async fn stop(mut self, bound: Duration, sigint_ends_it: bool) -> Shutdown {
        if let Some(status) = self.exited() {
            self.collect_stdout();
            return Shutdown {
                clean: false,
                description: format!(
                    "died during the run: it {}{}",
                    describe_status(&status),
                    self.last_stderr_line()
                        .map(|line| format!("; stderr: {line}"))
                        .unwrap_or_default()
                ),
                summary_line: self.summary_line(),
            };
        }
        let asked = Instant::now();
        if let Err(reason) = send_sigint(self.child.id()) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            return Shutdown {
                clean: false,
                description: format!("could not send SIGINT ({reason}); killed"),
                summary_line: None,
            };
        }
        let status = self.wait_exit(bound).await;
        let waited = asked.elapsed().as_secs_f64();
        // The reader thread may still be delivering the final summary line.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.collect_stdout();
        let summary_line = self.summary_line();
        match status {
            Some(status) if status.success() => Shutdown {
                clean: true,
                description: format!("exit 0 {waited:.2} s after SIGINT"),
                summary_line,
            },
            Some(status) if sigint_ends_it && ended_by_sigint(&status) => Shutdown {
                clean: true,
                description: format!(
                    "ended by SIGINT after {waited:.2} s (stage 1 has no shutdown handling, by design)"
                ),
                summary_line,
            },
            Some(status) => Shutdown {
                clean: false,
                description: format!(
                    "{} {waited:.2} s after SIGINT, expected exit 0{}",
                    describe_status(&status),
                    self.last_stderr_line()
                        .map(|line| format!("; stderr: {line}"))
                        .unwrap_or_default()
                ),
                summary_line,
            },
            None => {
                let _ = send_sigint(self.child.id());
                let forced = match self.wait_exit(FORCED_EXIT_BOUND).await {
                    Some(_) => "a second SIGINT ended it",
                    None => {
                        let _ = self.child.kill();
                        let _ = self.child.wait();
                        "killed after a second SIGINT did not end it either"
                    }
                };
                Shutdown {
                    clean: false,
                    description: format!(
                        "did not exit within {:.0} s of SIGINT; {forced}",
                        bound.as_secs_f64()
                    ),
                    summary_line,
                }
            }
        }
    }

    fn summary_line(&self) -> Option<String> {
        self.stdout_after_banner
            .iter()
            .rev()
            .find(|line| line.starts_with("stopped"))
            .cloned()
    }
}

impl Drop for StageProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `kill -INT PID`: std has no signal API and this keeps `unsafe` and a libc binding out
/// of the crate.
fn send_sigint(pid: u32) -> Result<(), String> {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -INT {pid} {}", describe_status(&status)))
    }
}

#[cfg(unix)]
fn ended_by_sigint(status: &ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(2)
}

#[cfg(not(unix))]
fn ended_by_sigint(_status: &ExitStatus) -> bool {
    false
}

pub fn describe_status(status: &ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was ended by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "exited".into(),
    }
}

/// Reads lines on a thread of its own: the pipe must keep draining (a full pipe would block
/// the stage's println), and std pipes have no async read.
fn read_lines(pipe: Option<impl Read + Send + 'static>) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    if let Some(pipe) = pipe {
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
    }
    receiver
}

fn keep_tail(pipe: Option<impl Read + Send + 'static>, tail: Arc<Mutex<Vec<String>>>) {
    if let Some(pipe) = pipe {
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut tail) = tail.lock() {
                    if tail.len() == STDERR_TAIL {
                        tail.remove(0);
                    }
                    tail.push(line);
                }
            }
        });
    }
}
