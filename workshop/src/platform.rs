//! Everything the `workshop` crate does differently on Linux, macOS and Windows, in one place.
//!
//! The decisions (where the listen-backlog cap is read, whether an
//! open-file limit exists) are pure functions that take the OS as an argument, so the unit
//! tests (`cargo test -p workshop platform`) cover all three platforms on any one machine.
//! Only the few lines that must call an OS-only API sit behind `cfg`, at the bottom.

/// The operating systems the workshop supports, plus the rest (BSDs and others), which get
/// the Unix answers where those are safe and "not measured" where they are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    MacOs,
    Windows,
    Other,
}

impl Os {
    /// The OS this binary was compiled for.
    pub const fn current() -> Os {
        if cfg!(target_os = "linux") {
            Os::Linux
        } else if cfg!(target_os = "macos") {
            Os::MacOs
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Other
        }
    }

    /// Whether processes have a soft and a hard open-file limit (`RLIMIT_NOFILE`). Windows
    /// has no per-process descriptor limit a socket server meets at the workshop's scale.
    pub const fn has_open_file_limit(self) -> bool {
        !matches!(self, Os::Windows)
    }
}

/// Where the kernel's cap on a listen backlog can be read. The stages ask for 1024; a
/// lower cap silently shortens the queue, and a burst of connections that overflows it
/// meets the client's 1 s SYN retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BacklogCap {
    /// A file holding the number (Linux's procfs).
    File(&'static str),
    /// `PROGRAM -n KEY` (macOS's sysctl, named by its full path because /usr/sbin is not
    /// on every shell's PATH).
    Sysctl {
        program: &'static str,
        key: &'static str,
    },
    /// Windows does not cap a requested backlog this way.
    NotCapped,
    /// An OS the workshop has not been tried on.
    Unknown,
}

/// Where `os` keeps its listen-backlog cap.
pub const fn backlog_cap(os: Os) -> BacklogCap {
    match os {
        Os::Linux => BacklogCap::File("/proc/sys/net/core/somaxconn"),
        Os::MacOs => BacklogCap::Sysctl {
            program: "/usr/sbin/sysctl",
            key: "kern.ipc.somaxconn",
        },
        Os::Windows => BacklogCap::NotCapped,
        Os::Other => BacklogCap::Unknown,
    }
}

/// The command that raises the backlog cap to `wanted` until the next reboot, where there
/// is one.
pub fn backlog_fix(os: Os, wanted: u32) -> Option<String> {
    let key = match os {
        Os::Linux => "net.core.somaxconn",
        Os::MacOs => "kern.ipc.somaxconn",
        Os::Windows | Os::Other => return None,
    };
    Some(format!("sudo sysctl -w {key}={wanted}"))
}

/// How to raise the hard open-file limit, which only an administrator can do.
pub fn raise_hard_open_files(os: Os, wanted: u64) -> String {
    match os {
        Os::MacOs => format!("`sudo launchctl limit maxfiles {wanted} unlimited`, then open a new terminal"),
        Os::Linux => format!("raise `nofile` to {wanted} in /etc/security/limits.conf (a container: `--ulimit nofile={wanted}:{wanted}`), then log in again"),
        Os::Windows | Os::Other => format!("ask the administrator for a hard open-file limit of at least {wanted}"),
    }
}

/// The open-file soft and hard limits of this process, `None` where the OS has none.
/// `rlimit` reports "unlimited" as `u64::MAX`.
#[cfg(unix)]
pub fn open_file_limits() -> Option<Result<(u64, u64), String>> {
    Some(rlimit::getrlimit(rlimit::Resource::NOFILE).map_err(|error| error.to_string()))
}

/// The open-file soft and hard limits of this process, `None` where the OS has none.
#[cfg(not(unix))]
pub fn open_file_limits() -> Option<Result<(u64, u64), String>> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_cap_is_read_where_each_os_keeps_it() {
        assert_eq!(
            backlog_cap(Os::Linux),
            BacklogCap::File("/proc/sys/net/core/somaxconn")
        );
        assert_eq!(
            backlog_cap(Os::MacOs),
            BacklogCap::Sysctl {
                program: "/usr/sbin/sysctl",
                key: "kern.ipc.somaxconn"
            }
        );
        assert_eq!(backlog_cap(Os::Windows), BacklogCap::NotCapped);
        assert_eq!(backlog_cap(Os::Other), BacklogCap::Unknown);
    }

    #[test]
    fn the_backlog_fix_names_each_os_sysctl_key() {
        assert_eq!(
            backlog_fix(Os::MacOs, 1024).as_deref(),
            Some("sudo sysctl -w kern.ipc.somaxconn=1024")
        );
        assert_eq!(
            backlog_fix(Os::Linux, 1024).as_deref(),
            Some("sudo sysctl -w net.core.somaxconn=1024")
        );
        assert_eq!(backlog_fix(Os::Windows, 1024), None);
    }

    #[test]
    fn each_os_is_told_its_own_way_to_raise_the_hard_limit() {
        assert!(raise_hard_open_files(Os::MacOs, 1024).contains("launchctl limit maxfiles 1024"));
        assert!(raise_hard_open_files(Os::Linux, 1024).contains("limits.conf"));
        assert!(raise_hard_open_files(Os::Other, 1024).contains("1024"));
    }

    #[test]
    fn only_windows_lacks_an_open_file_limit() {
        assert!(Os::Linux.has_open_file_limit());
        assert!(Os::MacOs.has_open_file_limit());
        assert!(!Os::Windows.has_open_file_limit());
    }

    #[test]
    fn this_machine_reports_limits_exactly_when_its_os_has_them() {
        assert_eq!(
            open_file_limits().is_some(),
            Os::current().has_open_file_limit()
        );
    }
}
