//! Everything stress-client does differently on Linux, macOS and Windows, in one place: the
//! open-file limit, the stage binaries' file names, how `compare` stops a stage, and the
//! Linux-only listen-overflow counter. The
//! decisions are pure functions of the OS name (`std::env::consts::OS`), so their unit
//! tests cover every OS on any machine: `cargo test -p stress-client platform`. The few
//! lines that touch the OS itself sit behind `cfg` right below their decision.
//! A leaf module: it depends on nothing else in the crate.

use std::process::ExitStatus;

/// The OS this binary was built for, as the pure functions below take it.
pub const OS: &str = std::env::consts::OS;

/// The file name of a package's binary on `os`: `stage7` on Unix, `stage7.exe` on Windows.
pub fn binary_file_name(package: &str, os: &str) -> String {
    let suffix = if os == "windows" { ".exe" } else { "" };
    format!("{package}{suffix}")
}

/// How `compare` ends a stage it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMethod {
    /// SIGINT: the Ctrl-C the book teaches, handled by stages 2-8's graceful shutdown.
    Interrupt,
    /// Close the stage's standard input: stages 2-8 started with `--stop-on-stdin-close`
    /// then shut down exactly as on Ctrl-C. Windows has no signal a parent can send to one
    /// child alone; a pipe only the parent holds also keeps the stop impossible for anyone
    /// but the process that started the stage.
    CloseStdin,
    /// Kill the process: for stage 1, which has no graceful shutdown by design.
    Kill,
}

impl StopMethod {
    /// How the row names what was done: "exit 0 0.04 s after SIGINT".
    pub fn name(self) -> &'static str {
        match self {
            StopMethod::Interrupt => "SIGINT",
            StopMethod::CloseStdin => "closing its stdin",
            StopMethod::Kill => "kill",
        }
    }

    /// The stage flag this method needs, if any.
    pub fn stage_flag(self) -> Option<&'static str> {
        match self {
            StopMethod::CloseStdin => Some("--stop-on-stdin-close"),
            StopMethod::Interrupt | StopMethod::Kill => None,
        }
    }
}

/// How to stop a stage on `os`. `graceful`: whether the stage has a graceful shutdown at
/// all (stages 2-8). On Unix SIGINT stays the method, because it is exactly what a learner's
/// Ctrl-C does and so what the row should prove.
pub fn stop_method(os: &str, graceful: bool) -> StopMethod {
    if !graceful {
        StopMethod::Kill
    } else if os == "windows" {
        StopMethod::CloseStdin
    } else {
        StopMethod::Interrupt
    }
}

/// Raises the open-file soft limit to the hard limit, as Go's runtime does at start-up: a
/// 200-connection run plus idle connections needs more than macOS's default 256. Returns
/// the soft limit in force afterwards, `None` where the OS has no such limit (Windows).
/// `Err` says why it could not be raised (the limit is then unchanged).
pub fn raise_open_file_limit() -> Result<Option<u64>, String> {
    #[cfg(unix)]
    {
        rlimit::increase_nofile_limit(u64::MAX)
            .map(Some)
            .map_err(|e| format!("could not raise the open-file limit: {e}"))
    }
    #[cfg(not(unix))]
    {
        Ok(None)
    }
}

/// The open-file soft limit now, `None` where there is none or it cannot be read.
pub fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rlimit::getrlimit(rlimit::Resource::NOFILE)
            .ok()
            .map(|(soft, _hard)| soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Linux's count of connection attempts dropped because a listen backlog was full, from
/// /proc/net/netstat; `None` elsewhere. Stages 1 and 2 close every connection, so 200
/// clients reconnecting at once overflow the backlog and the tail latency is the kernel's
/// 1 s SYN retry, not the server's work: compare's row says so instead of leaving the
/// reader to guess.
pub fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|line| line.starts_with("TcpExt:"));
    let names = lines.next()?;
    let values = lines.next()?;
    let index = names
        .split_whitespace()
        .position(|name| name == "ListenOverflows")?;
    values.split_whitespace().nth(index)?.parse().ok()
}

/// Sends SIGINT to `pid`. Through `kill -INT`: std has no signal API, and this keeps
/// `unsafe` and a libc binding out of the crate. Unix only; elsewhere an `Err` says so.
pub async fn send_interrupt(pid: u32) -> Result<(), String> {
    #[cfg(unix)]
    {
        let status = tokio::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -INT {pid} {}", describe_status(&status)))
        }
    }
    #[cfg(not(unix))]
    {
        Err(format!("cannot send SIGINT to {pid}: not a Unix system"))
    }
}

/// A sentence for how a process ended: "exited with status 1", "was ended by signal 9".
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_names_carry_the_platform_suffix() {
        assert_eq!(binary_file_name("stage7", "linux"), "stage7");
        assert_eq!(binary_file_name("stage7", "macos"), "stage7");
        assert_eq!(binary_file_name("stage7", "windows"), "stage7.exe");
        // The decision agrees with what std says for the OS this test runs on.
        assert_eq!(
            binary_file_name("stage7", OS),
            format!("stage7{}", std::env::consts::EXE_SUFFIX)
        );
    }

    #[test]
    fn stop_methods_per_os() {
        assert_eq!(stop_method("linux", true), StopMethod::Interrupt);
        assert_eq!(stop_method("macos", true), StopMethod::Interrupt);
        assert_eq!(stop_method("windows", true), StopMethod::CloseStdin);
        for os in ["linux", "macos", "windows"] {
            assert_eq!(stop_method(os, false), StopMethod::Kill, "{os}");
        }
        assert_eq!(
            StopMethod::CloseStdin.stage_flag(),
            Some("--stop-on-stdin-close")
        );
        assert_eq!(StopMethod::Interrupt.stage_flag(), None);
    }
}
