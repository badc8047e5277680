//! The doctor's probes: what this machine says, asked once, each question bounded in time.
//! No verdicts here (those are in `judge.rs`); a probe that cannot answer returns the
//! reason as text.

use super::judge::{freshness, Freshness, Terminal};
use super::subprocess::capture;
use crate::platform::{self, BacklogCap, Os};
use serde::Deserialize;
use std::collections::HashSet;
use std::fs;
use std::io::IsTerminal;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};
use stress_client::platform::{binary_file_name, OS};

/// Long enough for a cargo that first waits on another cargo's package-cache lock on a
/// slow laptop, short enough that nobody wonders whether the doctor hung.
const CARGO_LIMIT: Duration = Duration::from_secs(60);
/// `rustc --version`, `mdbook --version` and `sysctl` answer in milliseconds.
const TOOL_LIMIT: Duration = Duration::from_secs(15);

/// The test target of each stage that holds its exercise checks.
pub const EXERCISE_TEST: &str = "exercises";

/// The package that serves load, beside the stages.
pub const CLIENT_PACKAGE: &str = "stress-client";

/// The part of `cargo metadata --no-deps` the doctor reads.
#[derive(Deserialize)]
pub struct Metadata {
    pub packages: Vec<Package>,
    pub target_directory: PathBuf,
    pub workspace_root: PathBuf,
}

#[derive(Deserialize)]
pub struct Package {
    pub name: String,
    pub rust_version: Option<String>,
    pub manifest_path: PathBuf,
    pub targets: Vec<Target>,
    pub dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
pub struct Target {
    pub name: String,
    pub kind: Vec<String>,
    pub src_path: PathBuf,
}

#[derive(Deserialize)]
pub struct Dependency {
    pub name: String,
    /// `None` for a normal dependency, `dev` or `build` otherwise.
    pub kind: Option<String>,
}

impl Package {
    fn folder(&self) -> &Path {
        self.manifest_path.parent().unwrap_or(Path::new("."))
    }

    fn has_kind(&self, kind: &str) -> impl Iterator<Item = &Target> {
        let kind = kind.to_owned();
        self.targets.iter().filter(move |t| t.kind.contains(&kind))
    }
}

/// The cargo that runs us (`cargo run` sets `CARGO`), so a learner with two toolchains
/// gets answers about the one they use.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The workspace as cargo sees it from the current folder. `--no-deps` needs neither the
/// network nor the registry, so this works on a machine that has fetched nothing.
pub fn metadata() -> Result<Metadata, String> {
    let mut command = cargo();
    command.args([
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--offline",
    ]);
    let output = capture(&mut command, CARGO_LIMIT)?;
    if !output.success {
        return Err(first_line(&output.stderr));
    }
    serde_json::from_str(&output.stdout)
        .map_err(|error| format!("unexpected `cargo metadata` output: {error}"))
}

/// The highest `rust-version` any workspace package declares.
pub fn required_rust(metadata: &Metadata) -> Result<String, String> {
    let declared = metadata
        .packages
        .iter()
        .filter_map(|p| p.rust_version.clone());
    let newest = declared.max_by_key(|v| super::judge::parse_version(v));
    newest.ok_or_else(|| "no package declares a rust-version".to_owned())
}

/// `rustc --version`, through rustup's proxy if there is one, so a `rust-toolchain` file
/// in the repository is honoured.
pub fn rustc_version() -> Result<String, String> {
    tool_version(Command::new("rustc").arg("--version"))
}

pub fn mdbook_version() -> Result<String, String> {
    tool_version(Command::new("mdbook").arg("--version"))
}

fn tool_version(command: &mut Command) -> Result<String, String> {
    let output = capture(command, TOOL_LIMIT)?;
    if output.success {
        Ok(output.stdout.trim().to_owned())
    } else {
        Err(first_line(&output.stderr))
    }
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String, String> {
    let output = capture(Command::new("rustc").arg("-vV"), TOOL_LIMIT)?;
    let host = output.stdout.lines().find_map(|l| l.strip_prefix("host: "));
    host.map(str::to_owned)
        .ok_or_else(|| "`rustc -vV` did not name the host".to_owned())
}

/// Whether every crate this machine's build needs is on disk. `cargo fetch --offline`
/// fails as soon as one is missing, and `--locked` proves Cargo.lock needs no update
/// (which would need the index). `--target` limits it to this machine's crates: the
/// Windows-only crates a Linux laptop never downloads are not needed here.
pub fn offline_fetch(metadata: &Metadata) -> Result<(), String> {
    let host = host_triple()?;
    let mut command = cargo();
    command.current_dir(&metadata.workspace_root);
    command.args(["fetch", "--offline", "--locked", "--target", &host]);
    let output = capture(&mut command, CARGO_LIMIT)?;
    if output.success {
        Ok(())
    } else {
        Err(first_line(&output.stderr))
    }
}

/// The release binaries of the stages and the stress client, by package name.
pub fn release_builds(metadata: &Metadata) -> Result<Vec<(String, Freshness)>, String> {
    let release = metadata.target_directory.join("release");
    let stages = stress_client::catalogue::STAGES.iter().map(|s| s.package);
    let mut found = Vec::new();
    for name in stages.chain([CLIENT_PACKAGE]) {
        let package = metadata.packages.iter().find(|p| p.name == name);
        let package = package.ok_or_else(|| format!("the workspace has no package `{name}`"))?;
        let newest = newest_source(metadata, package, false);
        for bin in package.has_kind("bin") {
            let binary = release.join(binary_file_name(&bin.name, OS));
            found.push((bin.name.clone(), freshness(modified(&binary), newest)));
        }
    }
    Ok(found)
}

/// Each stage's exercise checks, as `cargo test -p stageN --test exercises` leaves them in
/// `target/debug/deps`. Cargo names them `exercises-HASH`; the `exercises-HASH.d` beside
/// each lists its sources, which tells the eight stages' binaries apart.
pub fn test_builds(metadata: &Metadata) -> Result<Vec<(String, Freshness)>, String> {
    let deps = metadata.target_directory.join("debug").join("deps");
    let dep_infos = dep_info_files(&deps);
    let mut found = Vec::new();
    for stage in &stress_client::catalogue::STAGES {
        let package = metadata.packages.iter().find(|p| p.name == stage.package);
        let package = package.ok_or_else(|| format!("the workspace has no `{}`", stage.package))?;
        let newest = newest_source(metadata, package, true);
        for test in package.has_kind("test").filter(|t| t.name == EXERCISE_TEST) {
            let binary = built_test(&deps, &dep_infos, &metadata.workspace_root, test);
            let label = format!("{}/{}", package.name, test.name);
            found.push((label, freshness(binary.and_then(|b| modified(&b)), newest)));
        }
    }
    Ok(found)
}

/// `(file stem, contents)` of each `.d` file in `deps`: read once, searched per test.
fn dep_info_files(deps: &Path) -> Vec<(String, String)> {
    let Ok(entries) = fs::read_dir(deps) else {
        return Vec::new();
    };
    let paths = entries.filter_map(|entry| entry.ok().map(|e| e.path()));
    let dep_infos = paths.filter(|path| path.extension().is_some_and(|ext| ext == "d"));
    dep_infos
        .filter_map(|path| {
            let stem = path.file_stem()?.to_string_lossy().into_owned();
            Some((stem, fs::read_to_string(&path).ok()?))
        })
        .collect()
}

/// The newest binary in `deps` built from `test`'s source file, if any.
fn built_test(
    deps: &Path,
    dep_infos: &[(String, String)],
    root: &Path,
    test: &Target,
) -> Option<PathBuf> {
    let prefix = format!("{}-", test.name.replace('-', "_"));
    let relative = test.src_path.strip_prefix(root).unwrap_or(&test.src_path);
    let wanted = forward_slashes(relative);
    let built_from_test = |(stem, text): &&(String, String)| {
        stem.starts_with(&prefix) && forward_slashes(text).contains(&wanted)
    };
    // `cargo check` and clippy leave a `.d` without a binary: those candidates drop out
    // here because the binary has no modification time.
    dep_infos
        .iter()
        .filter(built_from_test)
        .filter_map(|(stem, _)| {
            let binary = deps.join(binary_file_name(stem, OS));
            Some((modified(&binary)?, binary))
        })
        .max_by_key(|(time, _)| *time)
        .map(|(_, binary)| binary)
}

fn forward_slashes(path: impl AsRef<Path>) -> String {
    path.as_ref().to_string_lossy().replace('\\', "/")
}

/// The newest modification time among the files a build reads: the manifest, `build.rs`
/// and `src/` of the package and of the workspace packages it depends on, plus its own
/// `tests/` for a test build. A README or another package's tests never reach the
/// compiler, so counting them would call a fresh build stale.
fn newest_source(metadata: &Metadata, package: &Package, for_tests: bool) -> Option<SystemTime> {
    let wanted = |dep: &&Dependency| for_tests || dep.kind.as_deref() != Some("dev");
    let names: HashSet<&str> = package
        .dependencies
        .iter()
        .filter(wanted)
        .map(|d| d.name.as_str())
        .collect();
    let dependencies = metadata
        .packages
        .iter()
        .filter(|p| names.contains(p.name.as_str()));
    let mut read: Vec<PathBuf> = Vec::new();
    for each in dependencies.chain([package]) {
        let folder = each.folder();
        read.extend(["Cargo.toml", "build.rs", "src"].map(|name| folder.join(name)));
    }
    if for_tests {
        read.push(package.folder().join("tests"));
    }
    read.iter().filter_map(|path| newest_in(path)).max()
}

/// The newest file at or under `path`, skipping hidden folders; `None` if it is absent.
pub(crate) fn newest_in(path: &Path) -> Option<SystemTime> {
    if path.is_file() {
        return modified(path);
    }
    let mut newest = None;
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(entry.path());
            } else if let Some(time) = entry.metadata().ok().and_then(|m| m.modified().ok()) {
                newest = newest.max(Some(time));
            }
        }
    }
    newest
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).ok()?.modified().ok()
}

/// Each default stage port that cannot be bound on 127.0.0.1 right now, and why. A
/// program listening on all addresses does not always stop a bind to 127.0.0.1 (Windows
/// allows it), so a port that answers a connection counts as busy too; connecting, unlike
/// binding 0.0.0.0, raises no firewall prompt.
pub fn busy_ports() -> Vec<(u16, String)> {
    let ports = stress_client::catalogue::STAGES
        .iter()
        .map(|s| s.default_port());
    let answers = |port: u16| {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)).is_ok()
    };
    ports
        .filter_map(|port| match TcpListener::bind(("127.0.0.1", port)) {
            // Our own listener is closed first, or the connection would reach it.
            Ok(listener) => {
                drop(listener);
                answers(port).then(|| (port, "in use".to_owned()))
            }
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                Some((port, "in use".to_owned()))
            }
            Err(error) => Some((port, error.to_string())),
        })
        .collect()
}

/// The kernel's listen-backlog cap, `Ok(None)` where the OS has none.
pub fn backlog_cap(os: Os) -> Result<Option<u32>, String> {
    let text = match platform::backlog_cap(os) {
        BacklogCap::NotCapped => return Ok(None),
        BacklogCap::Unknown => return Err("not known how to read it on this OS".to_owned()),
        BacklogCap::File(path) => {
            fs::read_to_string(path).map_err(|error| format!("{path}: {error}"))?
        }
        BacklogCap::Sysctl { program, key } => {
            tool_version(Command::new(program).args(["-n", key]))?
        }
    };
    let text = text.trim();
    text.parse()
        .map(Some)
        .map_err(|_| format!("unexpected value `{text}`"))
}

pub fn terminal() -> Terminal {
    if !std::io::stdout().is_terminal() {
        return Terminal::Redirected;
    }
    match crossterm::terminal::size() {
        Ok((columns, rows)) => Terminal::Size { columns, rows },
        Err(error) => Terminal::Unreadable(error.to_string()),
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get())
}

/// The first line of a tool's complaint, without cargo's `error: ` prefix; the rest is
/// the tool's advice for a different situation.
fn first_line(stderr: &str) -> String {
    let line = stderr.lines().map(str::trim).find(|l| !l.is_empty());
    let line = line.unwrap_or("failed without saying why");
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}
