//! Everything this stage does differently on Linux, macOS and Windows, in one place: the
//! open-file limit, the kernel's cap on the listen backlog, resident memory, and the
//! signals that stop the server. The rest of the crate is the same on every OS.
//! Shared word for word by stages 2 to 8; `cargo test -p stage2 --lib platform` runs the
//! unit tests of the decisions made here.

use std::io;

/// Raises this process's open-file soft limit to its hard limit, as Go's runtime does at
/// start-up since 1.19. macOS starts shells at a soft limit of 256, and every connection
/// is a file: a 200-connection burst plus the runtime's own files met `Too many open
/// files` there. Returns a sentence to print only when the raise failed.
pub fn raise_open_file_limit() -> Option<String> {
    // `u64::MAX` asks for "as many as the hard limit (and macOS's per-process maximum)
    // allow"; on Windows there is no such limit and this does nothing.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(_) => None,
        Err(err) => Some(format!(
            "could not raise the open-file limit ({err}); a burst of many connections may \
             meet `Too many open files`: raise it with `ulimit -n 4096` before starting"
        )),
    }
}

/// Where an OS keeps the kernel's cap on a listen backlog.
#[derive(Debug, PartialEq, Eq)]
pub enum BacklogCapSource {
    /// A file holding the number (Linux).
    File(&'static str),
    /// A `sysctl -n` key (macOS and the BSDs).
    Sysctl(&'static str),
    /// The OS has no cap we know how to read (Windows picks its own backlog).
    Unknown,
}

/// Where `os` (as in `std::env::consts::OS`) keeps its backlog cap.
pub fn backlog_cap_source(os: &str) -> BacklogCapSource {
    match os {
        "linux" | "android" => BacklogCapSource::File("/proc/sys/net/core/somaxconn"),
        "macos" | "ios" | "freebsd" => BacklogCapSource::Sysctl("kern.ipc.somaxconn"),
        _ => BacklogCapSource::Unknown,
    }
}

/// The kernel's cap on a listen backlog here, if this OS has one we can read. The
/// kernel silently shortens any larger request to it.
pub fn listen_backlog_cap() -> Option<u32> {
    let text = match backlog_cap_source(std::env::consts::OS) {
        BacklogCapSource::File(path) => std::fs::read_to_string(path).ok()?,
        // A command, not a system call: the workspace forbids `unsafe`, and this runs
        // once at start-up.
        BacklogCapSource::Sysctl(key) => {
            // By its full path first: /usr/sbin is not on every shell's PATH on macOS.
            let output = ["/usr/sbin/sysctl", "/sbin/sysctl", "sysctl"]
                .into_iter()
                .find_map(|sysctl| {
                    std::process::Command::new(sysctl)
                        .args(["-n", key])
                        .output()
                        .ok()
                })?;
            String::from_utf8(output.stdout).ok()?
        }
        BacklogCapSource::Unknown => return None,
    };
    text.trim().parse().ok()
}

/// The banner line for a backlog cap below the backlog asked for, or `None` when the
/// cap leaves it alone (or is unknown); the fix it names is the one for `os`.
pub fn backlog_cap_note(os: &str, cap: Option<u32>, requested: u32) -> Option<String> {
    let cap = cap.filter(|&cap| cap < requested)?;
    let fix = match backlog_cap_source(os) {
        BacklogCapSource::File(_) => format!("`sudo sysctl -w net.core.somaxconn={requested}`"),
        BacklogCapSource::Sysctl(key) => format!("`sudo sysctl {key}={requested}`"),
        BacklogCapSource::Unknown => String::from("your OS's listen-backlog setting"),
    };
    Some(format!(
        "note: the OS caps the listen backlog at {cap} (asked for {requested}): a burst of \
         more than {cap} connections at once can meet the 1 s SYN retry; raise the cap \
         ({fix}) to avoid it"
    ))
}

/// This process's resident memory in bytes, on every OS the memory-stats crate knows;
/// `None` elsewhere. Read on demand: it is for people watching a burst, not the hot path.
pub fn resident_memory_bytes() -> Option<u64> {
    memory_stats::memory_stats().map(|usage| usage.physical_mem as u64)
}

/// The stop signals a person or a tool can send: Ctrl-C everywhere, SIGTERM on Unix.
pub struct StopSignals {
    #[cfg(unix)]
    /// Ctrl-C at the keyboard, or `kill -INT`.
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    /// What `kill` and service managers send; treated like Ctrl-C.
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Starts listening now, so a signal that arrives before the first `recv` is kept,
    /// not handled by the default action (death, with no summary and no drain).
    #[cfg(unix)]
    pub fn listen() -> io::Result<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Elsewhere only Ctrl-C is known, and tokio registers it when first awaited.
    #[cfg(not(unix))]
    pub fn listen() -> io::Result<StopSignals> {
        Ok(StopSignals {})
    }

    /// Completes on the next stop signal.
    #[cfg(unix)]
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    /// Completes on the next Ctrl-C.
    #[cfg(not(unix))]
    pub async fn recv(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_os_reads_its_backlog_cap_from_its_own_place() {
        assert_eq!(
            backlog_cap_source("linux"),
            BacklogCapSource::File("/proc/sys/net/core/somaxconn")
        );
        assert_eq!(
            backlog_cap_source("macos"),
            BacklogCapSource::Sysctl("kern.ipc.somaxconn")
        );
        assert_eq!(backlog_cap_source("windows"), BacklogCapSource::Unknown);
    }

    #[test]
    fn a_cap_below_the_request_gets_a_note_naming_both() {
        let note = backlog_cap_note("macos", Some(128), 1024).expect("128 clips 1024");
        assert!(note.contains("128") && note.contains("1024"), "{note}");
        assert!(note.contains("SYN retry"), "{note}");
        assert!(note.contains("kern.ipc.somaxconn=1024"), "{note}");
        let linux = backlog_cap_note("linux", Some(128), 1024).expect("128 clips 1024");
        assert!(linux.contains("net.core.somaxconn=1024"), "{linux}");
    }

    #[test]
    fn a_cap_at_or_above_the_request_or_unknown_says_nothing() {
        assert_eq!(backlog_cap_note("macos", Some(1024), 1024), None);
        assert_eq!(backlog_cap_note("linux", Some(4096), 1024), None);
        assert_eq!(backlog_cap_note("windows", None, 1024), None);
    }

    #[test]
    fn resident_memory_is_known_on_the_oses_the_workshop_runs_on() {
        if cfg!(any(
            target_os = "linux",
            target_os = "macos",
            target_os = "windows"
        )) {
            let bytes = resident_memory_bytes().expect("resident memory is readable");
            // A running test binary has at least its own code resident.
            assert!(bytes > 100 * 1024, "{bytes} bytes");
        }
    }

    #[test]
    fn raising_the_open_file_limit_succeeds_where_the_hard_limit_allows() {
        assert_eq!(raise_open_file_limit(), None);
    }
}
