//! The stage processes `compare` drives: build them (`cargo build --release`), find them
//! (`cargo metadata`'s `target_directory`, so `CARGO_TARGET_DIR` is honoured), start one on
//! `127.0.0.1:0` and read its `listening on` line within a bound, then stop it the way
//! [`crate::platform::stop_method`] chose (SIGINT on Unix, closing stdin on Windows) and
//! check it exits 0 within a bound. The stages run under `tokio::process`: their exit
//! and their output lines are awaited under `tokio::time::timeout`, never polled. Every wait
//! is bounded: a stage that hangs becomes a failed row, never a hung comparison.

use crate::platform::{self, describe_status, StopMethod};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

/// How long a stage may take from spawn to its `listening on` line.
pub const STARTUP_BOUND: Duration = Duration::from_secs(10);
/// After a second stop request the stages exit at once; this is only for a truly stuck one.
const FORCED_EXIT_BOUND: Duration = Duration::from_secs(2);
/// How long the output of a stage that has exited may take to reach the end of its pipes.
const PIPE_DRAIN_BOUND: Duration = Duration::from_secs(1);
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
/// A std command: `cargo metadata` and `cargo build` run to completion, the build on a
/// blocking thread of its own.
fn cargo() -> std::process::Command {
    std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
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

/// A started stage. It is spawned with `kill_on_drop`, so no early return or panic in
/// compare leaves a server behind.
pub struct StageProcess {
    child: Child,
    /// How this stage is stopped, fixed at start: closing stdin needs the stage flag and
    /// the pipe from the first moment.
    stop_method: StopMethod,
    /// The write end of the stage's stdin with [`StopMethod::CloseStdin`]: dropping it is
    /// the stop request, and only this process holds it.
    stdin: Option<ChildStdin>,
    pub addr: SocketAddr,
    /// Lines from the stage's stdout, read by a task of their own: the pipe must keep
    /// draining during the run (a full pipe would block the stage's println).
    stdout_lines: mpsc::UnboundedReceiver<String>,
    /// Everything printed on stdout after the `listening on` line, as far as read.
    pub stdout_after_banner: Vec<String>,
    /// The last lines of stderr, for the reason shown when the stage fails.
    stderr_tail: Arc<Mutex<Vec<String>>>,
    /// The task filling `stderr_tail`; it ends when the pipe closes.
    stderr_reader: Option<JoinHandle<()>>,
}

/// How a stage's run ended, for its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shutdown {
    pub clean: bool,
    /// One sentence: "exit 0 0.04 s after SIGINT", "did not exit within 8 s of SIGINT; killed", …
    pub description: String,
    /// The stage's `stopped: processed N, users U, balance_total T` line, when it printed one.
    pub summary_line: Option<String>,
}

impl StageProcess {
    /// Starts `binary --addr 127.0.0.1:0 ARGS` and waits (bounded) for its `listening on`
    /// line. With [`StopMethod::CloseStdin`] the stage also gets the flag that makes it
    /// listen to its stdin, and a pipe there. The error says what went wrong in a sentence,
    /// with the stage's last stderr line.
    pub async fn start(
        binary: &Path,
        args: &[String],
        stop_method: StopMethod,
    ) -> Result<Self, String> {
        if !binary.is_file() {
            return Err(format!(
                "failed to start: no binary at {} (build it with cargo build --release, or check --bin-dir)",
                binary.display()
            ));
        }
        let stdin = match stop_method {
            StopMethod::CloseStdin => Stdio::piped(),
            StopMethod::Interrupt | StopMethod::Kill => Stdio::null(),
        };
        let mut child = Command::new(binary)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .args(stop_method.stage_flag())
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout_lines = read_lines(child.stdout.take());
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let stderr_reader = keep_tail(child.stderr.take(), Arc::clone(&stderr_tail));
        let mut process = Self {
            stdin: child.stdin.take(),
            child,
            stop_method,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stdout_lines,
            stdout_after_banner: Vec::new(),
            stderr_tail,
            stderr_reader,
        };
        let first_line = match timeout(STARTUP_BOUND, process.stdout_lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => {
                // Stdout closed: the process has ended or is about to.
                let status = process.wait_exit(Duration::from_secs(1)).await;
                let how = status.map_or("closed its stdout".into(), |s| describe_status(&s));
                return Err(process
                    .fail_start(format!("it {how} before listening"))
                    .await);
            }
            Err(_) => {
                let reason = format!(
                    "no \"listening on\" line within {} s",
                    STARTUP_BOUND.as_secs()
                );
                return Err(process.fail_start(reason).await);
            }
        };
        let Some(url) = first_line.strip_prefix("listening on http://") else {
            let reason =
                format!("its first line was {first_line:?}, not \"listening on http://IP:PORT\"");
            return Err(process.fail_start(reason).await);
        };
        let Ok(addr) = url.trim().parse::<SocketAddr>() else {
            let reason = format!("cannot read an address from its first line {first_line:?}");
            return Err(process.fail_start(reason).await);
        };
        process.addr = addr;
        Ok(process)
    }

    async fn fail_start(&mut self, reason: String) -> String {
        let _ = self.child.kill().await;
        // The stderr task may still hold the line that explains the failure.
        self.drain_stderr().await;
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
        timeout(bound, self.child.wait()).await.ok()?.ok()
    }

    /// After the stage has exited: every stdout line up to the end of the pipe, within a
    /// bound (a grandchild holding the pipe open must not hang the comparison).
    async fn collect_stdout(&mut self) {
        let lines = &mut self.stdout_lines;
        let after_banner = &mut self.stdout_after_banner;
        let _ = timeout(PIPE_DRAIN_BOUND, async {
            while let Some(line) = lines.recv().await {
                after_banner.push(line);
            }
        })
        .await;
    }

    /// Waits (bounded) for the stderr task to store the last lines of a stage that exited.
    async fn drain_stderr(&mut self) {
        if let Some(reader) = self.stderr_reader.take() {
            let _ = timeout(PIPE_DRAIN_BOUND, reader).await;
        }
    }

    /// Asks the stage to stop (its [`StopMethod`]), then waits up to `bound` for a clean
    /// exit: status 0. Past the bound: a second request (the stages quit at once on a
    /// second Ctrl-C), then a kill; either way the row reports a failure. Stage 1 is killed
    /// at once and its row says that is expected.
    pub async fn stop(mut self, bound: Duration) -> Shutdown {
        if let Some(status) = self.exited() {
            return self.died_during_run(status).await;
        }
        if self.stop_method == StopMethod::Kill {
            return self.kill_by_design().await;
        }
        let how = self.stop_method.name();
        let asked = Instant::now();
        if let Err(reason) = self.request_stop().await {
            let _ = self.child.kill().await;
            return Shutdown {
                clean: false,
                description: format!("could not stop it by {how} ({reason}); killed"),
                summary_line: None,
            };
        }
        let status = self.wait_exit(bound).await;
        let waited = asked.elapsed().as_secs_f64();
        let Some(status) = status else {
            let forced = self.force_exit().await;
            self.collect_stdout().await;
            return Shutdown {
                clean: false,
                description: format!(
                    "did not exit within {:.0} s of {how}; {forced}",
                    bound.as_secs_f64()
                ),
                summary_line: self.summary_line(),
            };
        };
        self.collect_stdout().await;
        let summary_line = self.summary_line();
        // Clean means both halves of a graceful shutdown, on every OS alike: exit 0, and
        // the final "stopped" line that says the queue was finished first.
        let (clean, description) = if status.success() && summary_line.is_some() {
            (true, format!("exit 0 {waited:.2} s after {how}"))
        } else if status.success() {
            (
                false,
                format!("exit 0 {waited:.2} s after {how}, but no \"stopped\" summary line"),
            )
        } else {
            self.drain_stderr().await;
            (
                false,
                format!(
                    "{} {waited:.2} s after {how}, expected exit 0{}",
                    describe_status(&status),
                    self.stderr_suffix()
                ),
            )
        };
        Shutdown {
            clean,
            description,
            summary_line,
        }
    }

    /// Stage 1 has no shutdown handling by design: nothing to ask, so it is killed and
    /// that counts as clean.
    async fn kill_by_design(&mut self) -> Shutdown {
        let killed = self.child.kill().await;
        self.collect_stdout().await;
        Shutdown {
            clean: killed.is_ok(),
            description: match killed {
                Ok(()) => "killed, as expected: stage 1 has no graceful shutdown, by design".into(),
                Err(e) => format!("could not kill it: {e}"),
            },
            summary_line: self.summary_line(),
        }
    }

    async fn died_during_run(&mut self, status: ExitStatus) -> Shutdown {
        self.collect_stdout().await;
        self.drain_stderr().await;
        Shutdown {
            clean: false,
            description: format!(
                "died during the run: it {}{}",
                describe_status(&status),
                self.stderr_suffix()
            ),
            summary_line: self.summary_line(),
        }
    }

    /// A second SIGINT (the stages quit at once on it), then a kill. A closed stdin cannot
    /// be closed twice: that stage is killed straight away.
    async fn force_exit(&mut self) -> &'static str {
        if self.stop_method == StopMethod::Interrupt {
            let _ = self.request_stop().await;
            if self.wait_exit(FORCED_EXIT_BOUND).await.is_some() {
                return "a second SIGINT ended it";
            }
        }
        let _ = self.child.kill().await;
        "killed"
    }

    async fn request_stop(&mut self) -> Result<(), String> {
        match self.stop_method {
            StopMethod::Interrupt => match self.child.id() {
                Some(pid) => platform::send_interrupt(pid).await,
                None => Err("it has already exited".into()),
            },
            StopMethod::CloseStdin => match self.stdin.take() {
                Some(stdin) => {
                    drop(stdin);
                    Ok(())
                }
                None => Err("its stdin was not a pipe".into()),
            },
            StopMethod::Kill => self.child.kill().await.map_err(|e| e.to_string()),
        }
    }

    fn stderr_suffix(&self) -> String {
        self.last_stderr_line()
            .map(|line| format!("; stderr: {line}"))
            .unwrap_or_default()
    }

    fn summary_line(&self) -> Option<String> {
        self.stdout_after_banner
            .iter()
            .rev()
            .find(|line| line.starts_with("stopped"))
            .cloned()
    }
}

/// Forwards the stage's stdout line by line until the pipe closes.
fn read_lines(pipe: Option<ChildStdout>) -> mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = mpsc::unbounded_channel();
    if let Some(pipe) = pipe {
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
    }
    receiver
}

/// Keeps the last `STDERR_TAIL` lines of the stage's stderr, until the pipe closes.
fn keep_tail(pipe: Option<ChildStderr>, tail: Arc<Mutex<Vec<String>>>) -> Option<JoinHandle<()>> {
    pipe.map(|pipe| {
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut tail) = tail.lock() {
                    if tail.len() == STDERR_TAIL {
                        tail.remove(0);
                    }
                    tail.push(line);
                }
            }
        })
    })
}
