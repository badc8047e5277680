//! Where the workshop's files are: the repository root (found from the current folder, so
//! the runner works from any subfolder), the target directory, and the two programs the
//! runner drives, cargo and git.

use crate::manifest::MANIFEST_PATH;
use crate::UserError;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository the runner works on.
#[derive(Debug, Clone)]
pub struct Repo {
    pub root: PathBuf,
}

impl Repo {
    /// The nearest folder at or above the current one that holds the manifest; failing
    /// that, the repository this binary was built from (`cargo run -p workshop` from
    /// outside the checkout still finds it).
    pub fn discover() -> Result<Self, UserError> {
        let start = std::env::current_dir()
            .map_err(|err| UserError::new(format!("cannot read the current folder: {err}")))?;
        let found = start
            .ancestors()
            .find(|dir| dir.join(MANIFEST_PATH).is_file())
            .map(Path::to_path_buf);
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        match found {
            Some(root) => Ok(Self { root }),
            None if built_from.join(MANIFEST_PATH).is_file() => Ok(Self { root: built_from }),
            None => Err(UserError::new(format!(
                "no {MANIFEST_PATH} here or above: run the runner inside the workshop's folder"
            ))),
        }
    }

    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    /// `cargo` in the root, with the verdict-parsing defaults: no colours, no backtraces.
    pub fn cargo(&self) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(&self.root)
            .env("RUST_BACKTRACE", "0")
            .env("CARGO_TERM_COLOR", "never")
            .stdin(Stdio::null());
        command
    }

    /// `git` in the root.
    pub fn git(&self) -> Command {
        let mut command = Command::new("git");
        command.current_dir(&self.root).stdin(Stdio::null());
        command
    }

    /// Whether the root is a git checkout (a zip download is not), which `reset` and
    /// `solution --apply` need.
    pub fn is_git_checkout(&self) -> bool {
        self.git()
            .args(["rev-parse", "--is-inside-work-tree"])
            .stderr(Stdio::null())
            .output()
            .map(|out| out.status.success() && out.stdout.starts_with(b"true"))
            .unwrap_or(false)
    }

    /// Cargo's target directory for this workspace (`CARGO_TARGET_DIR` and config
    /// included), as `cargo metadata` reports it.
    pub fn target_dir(&self) -> Result<PathBuf, UserError> {
        let out = run(self.cargo().args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ]))?;
        if !out.status.success() {
            return Err(UserError::new(format!(
                "`cargo metadata` failed: {}",
                first_line(&String::from_utf8_lossy(&out.stderr))
            )));
        }
        let metadata: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|err| UserError::new(format!("cannot read `cargo metadata`: {err}")))?;
        metadata["target_directory"]
            .as_str()
            .map(PathBuf::from)
            .ok_or_else(|| UserError::new("`cargo metadata` names no target directory"))
    }
}

/// Runs a command to completion, capturing its output; a program that cannot start at all
/// (cargo or git missing) is the user's to fix.
pub fn run(command: &mut Command) -> Result<Output, UserError> {
    let program = command.get_program().to_string_lossy().into_owned();
    command.output().map_err(|err| {
        UserError::new(format!(
            "cannot run {program}: {err}; is it installed and on your PATH?"
        ))
    })
}

/// The first non-empty line of a message.
pub fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}
