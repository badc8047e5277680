//! The doctor's judgements: pure functions from what the machine said (the probes) to one
//! OK / WARN / FAIL finding per item, with the fix. Kept apart from the probing so every
//! verdict is unit-tested with faked answers (`cargo test -p workshop judge`).

use crate::platform::{backlog_fix, raise_hard_open_files, Os};
use std::time::SystemTime;

/// The open files a run needs: `stress-client run --idle 100` holds 200 connections, and on
/// one laptop each connection is a descriptor in the client and one in the stage, plus
/// files, pipes and the listener; 1024 leaves room for both.
pub const NEEDED_OPEN_FILES: u64 = 1024;

/// The backlog every stage from 2 on asks `listen` for.
pub const REQUESTED_BACKLOG: u32 = stage8::startup::LISTEN_BACKLOG;

/// What `stress-client watch` needs to draw its dashboard without clipping.
pub const WATCH_COLUMNS: u16 = 80;
pub const WATCH_ROWS: u16 = 24;

/// The pre-flight itself.
pub const DOCTOR: &str = "cargo run -p workshop -- doctor";

/// The command that builds everything ahead of the day.
pub const PREPARE: &str = "cargo run -p workshop -- doctor --prepare";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub const fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub status: Status,
    /// A short name for the item, the same on every run, so people can point at it.
    pub item: &'static str,
    pub detail: String,
    /// What to do, present exactly when the status is not OK.
    pub fix: Option<String>,
}

impl Finding {
    fn ok(item: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            status: Status::Ok,
            item,
            detail: detail.into(),
            fix: None,
        }
    }

    fn not_ok(status: Status, item: &'static str, detail: String, fix: String) -> Finding {
        Finding {
            status,
            item,
            detail,
            fix: Some(fix),
        }
    }
}

/// A built file against the newest source it was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    Stale,
    Missing,
}

/// Whether a build made at `built` still reflects sources last changed at `newest_source`.
/// Cargo decides the same way (modification times), so this agrees with what it would
/// rebuild.
pub fn freshness(built: Option<SystemTime>, newest_source: Option<SystemTime>) -> Freshness {
    match (built, newest_source) {
        (None, _) => Freshness::Missing,
        (Some(built), Some(source)) if source > built => Freshness::Stale,
        (Some(_), _) => Freshness::Fresh,
    }
}

/// `(major, minor, patch)` from `1.88`, `1.91.0` or `rustc 1.93.0-nightly (abc 2026-01-01)`.
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let version = text
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))?;
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(str::parse::<u64>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

const RUSTUP_UPDATE: &str = "run `rustup update stable` (or install Rust from https://rustup.rs)";

/// No `rustc` to ask: nothing of the workshop can build.
fn missing_rustc(reason: &str) -> Finding {
    Finding::not_ok(
        Status::Fail,
        "rust",
        reason.to_owned(),
        RUSTUP_UPDATE.to_owned(),
    )
}

/// The toolchain against the workspace's `rust-version`.
pub fn toolchain(rustc: &Result<String, String>, required: &Result<String, String>) -> Finding {
    const ITEM: &str = "rust";
    let rustc = match rustc {
        // `rustc 1.95.0`: the commit and date that follow only push the line past 80.
        Ok(rustc) => rustc
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "),
        Err(reason) => return missing_rustc(reason),
    };
    let required = match required {
        Ok(required) => required,
        Err(reason) => {
            return Finding::not_ok(
                Status::Warn,
                ITEM,
                format!("{rustc}; the workspace's rust-version is unknown: {reason}"),
                "check `rustc --version` against the README's requirements".to_owned(),
            )
        }
    };
    match (parse_version(&rustc), parse_version(required)) {
        (Some(have), Some(need)) if have >= need => Finding::ok(
            ITEM,
            format!("{rustc}, and the workshop needs {required} or newer"),
        ),
        (Some(_), Some(_)) => Finding::not_ok(
            Status::Fail,
            ITEM,
            format!("{rustc} is older than the workshop's rust-version {required}"),
            RUSTUP_UPDATE.to_owned(),
        ),
        _ => Finding::not_ok(
            Status::Warn,
            ITEM,
            format!("could not compare `{rustc}` with rust-version `{required}`"),
            format!("check `rustc --version` says {required} or newer"),
        ),
    }
}

/// The builds of `doctor --prepare`, whose output cargo has just shown.
pub fn prepared(built: &Result<(), String>) -> Finding {
    const ITEM: &str = "prepare";
    match built {
        Ok(()) => Finding::ok(ITEM, "built the release binaries and the exercise checks"),
        Err(reason) => Finding::not_ok(
            Status::Fail,
            ITEM,
            reason.clone(),
            "read cargo's first error above, fix it (or ask), and run this again".to_owned(),
        ),
    }
}

/// The workspace items when `cargo metadata` could not read the workspace (run from
/// another folder, or no cargo): the toolchain is still judged, the rest cannot be.
pub fn outside_workspace(rustc: &Result<String, String>, reason: &str) -> Vec<Finding> {
    let unknown = |item| {
        Finding::not_ok(
            Status::Warn,
            item,
            format!("not checked: {reason}"),
            format!("run `{DOCTOR}` inside the workshop's folder"),
        )
    };
    let rust = match rustc {
        Err(why) => missing_rustc(why),
        Ok(_) => unknown("rust"),
    };
    vec![
        rust,
        unknown("crates"),
        unknown("release"),
        unknown("checks"),
    ]
}

/// Whether every crate the build needs is already on disk (the room's network is no
/// place to download them).
pub fn crates_fetched(offline_fetch: &Result<(), String>) -> Finding {
    const ITEM: &str = "crates";
    match offline_fetch {
        Ok(()) => Finding::ok(ITEM, "every dependency is on disk: builds work offline"),
        Err(reason) => Finding::not_ok(
            Status::Fail,
            ITEM,
            format!("not everything is downloaded: {reason}"),
            format!("while online, run `cargo fetch --locked`, or `{PREPARE}`"),
        ),
    }
}

/// Release binaries or test builds, by name, against their sources.
pub fn builds(
    item: &'static str,
    what: &str,
    artifacts: &Result<Vec<(String, Freshness)>, String>,
) -> Finding {
    let artifacts = match artifacts {
        Ok(artifacts) => artifacts,
        Err(reason) => {
            return Finding::not_ok(
                Status::Warn,
                item,
                format!("could not look for the {what}: {reason}"),
                format!("run `{PREPARE}`"),
            )
        }
    };
    let named = |wanted: Freshness| -> Vec<&str> {
        let names = artifacts.iter().filter(|(_, state)| *state == wanted);
        names.map(|(name, _)| name.as_str()).collect()
    };
    let (missing, stale) = (named(Freshness::Missing), named(Freshness::Stale));
    if missing.is_empty() && stale.is_empty() {
        return Finding::ok(
            item,
            format!("{} {what}, all newer than their sources", artifacts.len()),
        );
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("not built: {}", abbreviated(&missing)));
    }
    if !stale.is_empty() {
        problems.push(format!("older than their sources: {}", abbreviated(&stale)));
    }
    Finding::not_ok(
        Status::Warn,
        item,
        format!(
            "{} of {} {what} need building; {}",
            missing.len() + stale.len(),
            artifacts.len(),
            problems.join("; ")
        ),
        format!("run `{PREPARE}` so the first compile happens now, not in the room"),
    )
}

/// A few names and a count: forty test targets would fill the screen.
fn abbreviated(names: &[&str]) -> String {
    const SHOWN: usize = 4;
    let mut text = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

/// The stages' default ports; `busy` holds each port that could not be bound and why.
pub fn ports(first: u16, last: u16, busy: &[(u16, String)]) -> Finding {
    const ITEM: &str = "ports";
    if busy.is_empty() {
        return Finding::ok(ITEM, format!("{first}-{last} are free on 127.0.0.1"));
    }
    let described: Vec<String> = busy
        .iter()
        .map(|(port, reason)| format!("{port} ({reason})"))
        .collect();
    Finding::not_ok(
        Status::Warn,
        ITEM,
        format!("in use on 127.0.0.1: {}", described.join(", ")),
        "a stage may still be running; stop it, or start stages with `--addr 127.0.0.1:0`"
            .to_owned(),
    )
}

/// The open-file limits; `None` where the OS has none. The stages and the client raise the
/// soft limit to the hard one themselves, so only a low hard limit stops a run.
pub fn open_files(os: Os, limits: &Option<Result<(u64, u64), String>>) -> Finding {
    const ITEM: &str = "open files";
    let (soft, hard) = match limits {
        None => return Finding::ok(ITEM, "no per-process open-file limit on this OS"),
        Some(Err(reason)) => {
            return Finding::not_ok(
                Status::Warn,
                ITEM,
                format!("could not read the limits: {reason}"),
                "check `ulimit -n` and `ulimit -Hn` say 1024 or more".to_owned(),
            )
        }
        Some(Ok(limits)) => *limits,
    };
    let shown = |limit: u64| {
        if limit == u64::MAX {
            "unlimited".to_owned()
        } else {
            limit.to_string()
        }
    };
    let (soft_text, hard_text) = (shown(soft), shown(hard));
    if hard < NEEDED_OPEN_FILES {
        return Finding::not_ok(
            Status::Fail,
            ITEM,
            format!(
                "hard limit {hard_text}, below the {NEEDED_OPEN_FILES} a 200-connection run needs"
            ),
            raise_hard_open_files(os, NEEDED_OPEN_FILES),
        );
    }
    if soft < NEEDED_OPEN_FILES {
        return Finding::not_ok(
            Status::Warn,
            ITEM,
            format!("soft limit {soft_text}, hard {hard_text}: the stages and the client raise the soft limit to the hard one at start-up"),
            "nothing to do for the workshop; tools of your own may need `ulimit -n 1024`"
                .to_owned(),
        );
    }
    Finding::ok(ITEM, format!("soft limit {soft_text}, hard {hard_text}"))
}

/// The kernel's cap on a listen backlog: `Ok(None)` where the OS does not cap it.
pub fn backlog(os: Os, cap: &Result<Option<u32>, String>) -> Finding {
    const ITEM: &str = "backlog";
    let fix_or_check = || {
        backlog_fix(os, REQUESTED_BACKLOG).map_or_else(
            || "nothing to change; the stages' tails may differ from the book".to_owned(),
            |command| format!("`{command}` (until the next reboot)"),
        )
    };
    match cap {
        Ok(None) => Finding::ok(ITEM, "this OS does not cap the listen backlog"),
        Ok(Some(cap)) if *cap >= REQUESTED_BACKLOG => Finding::ok(
            ITEM,
            format!("somaxconn {cap}: the stages get the {REQUESTED_BACKLOG} they ask for"),
        ),
        Ok(Some(cap)) => Finding::not_ok(
            Status::Warn,
            ITEM,
            format!("somaxconn {cap} caps the stages' backlog of {REQUESTED_BACKLOG}: bursts of 200 connections can meet a 1 s SYN retry"),
            fix_or_check(),
        ),
        Err(reason) => Finding::not_ok(
            Status::Warn,
            ITEM,
            format!("could not read the backlog cap: {reason}"),
            fix_or_check(),
        ),
    }
}

/// The cores and the shard count stage 8 picks by default on them.
pub fn cores(cores: usize, stage8_shards: usize) -> Finding {
    const ITEM: &str = "cores";
    let detail = format!("{cores}; stage 8 defaults to {stage8_shards} shards");
    if cores <= 1 {
        return Finding::not_ok(
            Status::Warn,
            ITEM,
            format!("{detail}; the worker pools still work, but the speed-ups will differ from the book's"),
            "give the machine (or the VM) at least 2 cores if you can".to_owned(),
        );
    }
    Finding::ok(ITEM, detail)
}

/// What the terminal said about its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Terminal {
    /// The output goes to a file or a pipe.
    Redirected,
    Size {
        columns: u16,
        rows: u16,
    },
    Unreadable(String),
}

/// The terminal `stress-client watch` will draw in.
pub fn terminal(terminal: &Terminal) -> Finding {
    const ITEM: &str = "terminal";
    let (columns, rows) = (WATCH_COLUMNS, WATCH_ROWS);
    let resize = format!("run `stress-client watch` in a terminal of at least {columns}x{rows}");
    match terminal {
        Terminal::Size {
            columns: c,
            rows: r,
        } if *c >= columns && *r >= rows => {
            Finding::ok(ITEM, format!("{c}x{r}, enough for `stress-client watch`"))
        }
        Terminal::Size {
            columns: c,
            rows: r,
        } => Finding::not_ok(
            Status::Warn,
            ITEM,
            format!("{c}x{r}, smaller than the {columns}x{rows} `stress-client watch` needs"),
            format!("enlarge the window, or {resize}"),
        ),
        Terminal::Redirected => Finding::not_ok(
            Status::Warn,
            ITEM,
            "not measured: the output is not a terminal".to_owned(),
            resize,
        ),
        Terminal::Unreadable(reason) => Finding::not_ok(
            Status::Warn,
            ITEM,
            format!("not measured: {reason}"),
            resize,
        ),
    }
}

/// mdBook, which only renders the book: the chapters are Markdown anyone can read.
pub fn mdbook(version: &Result<String, String>) -> Finding {
    const ITEM: &str = "mdbook";
    match version {
        Ok(version) => Finding::ok(ITEM, version.trim().to_owned()),
        Err(reason) => Finding::not_ok(
            Status::Warn,
            ITEM,
            format!("{reason}; the book cannot be built here"),
            "`cargo install mdbook --version 0.5.4 --locked`, or read the chapters in docs/src directly".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ok(rustc: &str) -> Result<String, String> {
        Ok(rustc.to_owned())
    }

    /// Every finding that is not OK carries a fix, and an OK one carries none.
    fn assert_well_formed(finding: &Finding) {
        assert_eq!(
            finding.fix.is_some(),
            finding.status != Status::Ok,
            "{finding:?}"
        );
    }

    #[test]
    fn versions_parse_from_rustc_and_from_cargo() {
        assert_eq!(parse_version("1.88"), Some((1, 88, 0)));
        assert_eq!(
            parse_version("rustc 1.91.0 (f8297e351 2025-10-28)"),
            Some((1, 91, 0))
        );
        assert_eq!(
            parse_version("rustc 1.93.0-nightly (abc 2026-01-01)"),
            Some((1, 93, 0))
        );
        assert_eq!(parse_version("rustc x.y"), None);
    }

    #[test]
    fn an_old_toolchain_fails_with_the_rustup_command() {
        let old = toolchain(&ok("rustc 1.80.1 (3f5fd8dd4 2024-08-06)"), &ok("1.88"));
        assert_eq!(old.status, Status::Fail);
        assert!(old
            .fix
            .as_deref()
            .is_some_and(|fix| fix.contains("rustup update")));
        assert_well_formed(&old);
        for new_enough in [
            "rustc 1.88.0 (6b00bc388 2025-06-23)",
            "rustc 1.95.0 (x 2026-03-21)",
        ] {
            assert_eq!(toolchain(&ok(new_enough), &ok("1.88")).status, Status::Ok);
        }
    }

    #[test]
    fn a_missing_rustc_fails_and_an_unknown_requirement_warns() {
        let missing = toolchain(&Err("`rustc` was not found on PATH".into()), &ok("1.88"));
        assert_eq!(missing.status, Status::Fail);
        let unknown = toolchain(&ok("rustc 1.95.0"), &Err("no Cargo.toml".into()));
        assert_eq!(unknown.status, Status::Warn);
        let garbled = toolchain(&ok("rustc ?"), &ok("1.88"));
        assert_eq!(garbled.status, Status::Warn);
        for finding in [missing, unknown, garbled] {
            assert_well_formed(&finding);
        }
    }

    #[test]
    fn outside_the_workspace_only_a_missing_rustc_fails() {
        let reason = "could not find `Cargo.toml` in `/` or any parent directory";
        let findings = outside_workspace(&ok("rustc 1.95.0 (x 2026-03-21)"), reason);
        let items: Vec<&str> = findings.iter().map(|f| f.item).collect();
        assert_eq!(items, ["rust", "crates", "release", "checks"]);
        assert!(
            findings.iter().all(|f| f.status == Status::Warn),
            "{findings:?}"
        );
        assert!(findings[1]
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("inside")));
        let no_rustc = outside_workspace(&Err("`rustc` was not found on PATH".into()), reason);
        assert_eq!(no_rustc[0].status, Status::Fail);
        assert!(no_rustc[0]
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("rustup")));
    }

    #[test]
    fn a_failed_prepare_fails_and_points_at_cargo_error() {
        let failed = prepared(&Err(
            "`cargo build --release --workspace --locked` failed".into()
        ));
        assert_eq!(failed.status, Status::Fail);
        assert!(failed.detail.contains("cargo build"));
        assert!(failed
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("first error")));
        assert_eq!(prepared(&Ok(())).status, Status::Ok);
    }

    #[test]
    fn crates_not_fetched_fail_with_cargo_fetch() {
        let missing = crates_fetched(&Err("no matching package named `tokio`".into()));
        assert_eq!(missing.status, Status::Fail);
        assert!(missing
            .fix
            .as_deref()
            .is_some_and(|fix| fix.contains("cargo fetch")));
        assert_eq!(crates_fetched(&Ok(())).status, Status::Ok);
    }

    #[test]
    fn a_source_newer_than_its_build_makes_it_stale() {
        let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let later = then + Duration::from_secs(1);
        assert_eq!(freshness(None, Some(then)), Freshness::Missing);
        assert_eq!(freshness(Some(then), Some(later)), Freshness::Stale);
        assert_eq!(freshness(Some(later), Some(then)), Freshness::Fresh);
        assert_eq!(freshness(Some(then), Some(then)), Freshness::Fresh);
        assert_eq!(freshness(Some(then), None), Freshness::Fresh);
    }

    #[test]
    fn stale_or_missing_builds_warn_naming_them_and_prepare() {
        let artifacts = vec![
            ("stage1".to_owned(), Freshness::Fresh),
            ("stage2".to_owned(), Freshness::Stale),
            ("stress-client".to_owned(), Freshness::Missing),
        ];
        let finding = builds("release", "release binaries", &Ok(artifacts));
        assert_eq!(finding.status, Status::Warn);
        assert!(
            // Says what the count counts: "9 of 9 release binaries; older than ..." read
            // as if all nine were fine.
            finding
                .detail
                .starts_with("2 of 3 release binaries need building; "),
            "{finding:?}"
        );
        assert!(finding.detail.contains("not built: stress-client"));
        assert!(finding.detail.contains("older than their sources: stage2"));
        assert!(finding
            .fix
            .as_deref()
            .is_some_and(|fix| fix.contains(PREPARE)));
        let fresh = vec![("stage1".to_owned(), Freshness::Fresh)];
        assert_eq!(builds("release", "binaries", &Ok(fresh)).status, Status::Ok);
        let unknown = builds("tests", "test builds", &Err("no target dir".into()));
        assert_eq!(unknown.status, Status::Warn);
    }

    #[test]
    fn long_lists_of_builds_are_abbreviated() {
        let names = ["a", "b", "c", "d", "e", "f"];
        assert_eq!(abbreviated(&names), "a, b, c, d and 2 more");
        assert_eq!(abbreviated(&names[..2]), "a, b");
    }

    #[test]
    fn a_busy_port_warns_naming_it_and_the_way_out() {
        let busy = ports(8081, 8088, &[(8083, "address in use".to_owned())]);
        assert_eq!(busy.status, Status::Warn);
        assert!(busy.detail.contains("8083"));
        assert!(busy
            .fix
            .as_deref()
            .is_some_and(|fix| fix.contains("--addr 127.0.0.1:0")));
        assert_eq!(ports(8081, 8088, &[]).status, Status::Ok);
    }

    #[test]
    fn only_a_low_hard_open_file_limit_fails() {
        let low_hard = open_files(Os::Linux, &Some(Ok((256, 512))));
        assert_eq!(low_hard.status, Status::Fail);
        assert!(low_hard
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("limits.conf")));
        let mac = open_files(Os::MacOs, &Some(Ok((256, 512))));
        assert!(mac.fix.as_deref().is_some_and(|f| f.contains("launchctl")));
        let low_soft = open_files(Os::Linux, &Some(Ok((256, u64::MAX))));
        assert_eq!(low_soft.status, Status::Warn);
        assert!(
            low_soft.detail.contains("raise the soft limit"),
            "{low_soft:?}"
        );
        assert!(low_soft.detail.contains("unlimited"));
        let fine = open_files(Os::Linux, &Some(Ok((1024, 4096))));
        assert_eq!(fine.status, Status::Ok);
        assert_eq!(
            open_files(Os::Windows, &None).status,
            Status::Ok,
            "Windows has no such limit"
        );
        assert_eq!(
            open_files(Os::Linux, &Some(Err("EPERM".into()))).status,
            Status::Warn
        );
        for finding in [low_hard, low_soft, fine] {
            assert_well_formed(&finding);
        }
    }

    #[test]
    fn a_backlog_cap_of_128_warns_with_each_os_fix() {
        let mac = backlog(Os::MacOs, &Ok(Some(128)));
        assert_eq!(mac.status, Status::Warn);
        assert!(mac.detail.contains("1 s SYN retry"));
        assert!(mac
            .fix
            .as_deref()
            .is_some_and(|fix| fix.contains("kern.ipc.somaxconn=1024")));
        let linux = backlog(Os::Linux, &Ok(Some(128)));
        assert!(linux
            .fix
            .as_deref()
            .is_some_and(|fix| fix.contains("net.core.somaxconn=1024")));
        assert_eq!(backlog(Os::Linux, &Ok(Some(4096))).status, Status::Ok);
        assert_eq!(backlog(Os::Windows, &Ok(None)).status, Status::Ok);
        let unread = backlog(Os::MacOs, &Err("sysctl: not found".into()));
        assert_eq!(unread.status, Status::Warn);
        assert_well_formed(&unread);
    }

    #[test]
    fn one_core_warns_and_reports_the_shards() {
        let single = cores(1, 4);
        assert_eq!(single.status, Status::Warn);
        assert!(single.detail.contains("4 shards"));
        let eight = cores(8, 32);
        assert_eq!(eight.status, Status::Ok);
        assert!(eight.detail.contains("32 shards"));
    }

    #[test]
    fn a_small_or_unmeasured_terminal_warns() {
        let small = terminal(&Terminal::Size {
            columns: 79,
            rows: 40,
        });
        assert_eq!(small.status, Status::Warn);
        let short = terminal(&Terminal::Size {
            columns: 120,
            rows: 23,
        });
        assert_eq!(short.status, Status::Warn);
        let piped = terminal(&Terminal::Redirected);
        assert_eq!(piped.status, Status::Warn);
        assert!(piped.detail.contains("not measured"));
        let big = terminal(&Terminal::Size {
            columns: 80,
            rows: 24,
        });
        assert_eq!(big.status, Status::Ok);
    }

    #[test]
    fn no_mdbook_only_warns_and_says_how_to_read_the_book() {
        let missing = mdbook(&Err("`mdbook` was not found on PATH".into()));
        assert_eq!(missing.status, Status::Warn);
        let fix = missing.fix.unwrap_or_default();
        assert!(fix.contains("0.5.4") && fix.contains("docs/src"), "{fix}");
        assert_eq!(mdbook(&ok("mdbook v0.5.4")).status, Status::Ok);
    }
}
