//! Running the checks of code exercises and reading their verdicts.
//!
//! A stage's checks run in one `cargo test` (one build, one test binary) after a plain
//! `cargo build -p stageN`: the test build alone can hide a missing tokio feature that the
//! dev-dependencies happen to switch on, and the learner's program must build on its own.

use crate::manifest::Exercise;
use crate::repo::Repo;
use crate::UserError;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stress_client::catalogue::Stage;

/// The longest a stage's build plus its checks may take. A first build of a stage and its
/// test dependencies takes a minute or two on a slow laptop; a check that is still running
/// long after that is stuck (learner code that blocks the runtime's only thread, say), and
/// the learner should hear so instead of waiting in silence.
pub const CHECK_TIME_LIMIT: Duration = Duration::from_secs(600);

/// What one check said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// The check ran and failed with its own sentence ("exercise N.K not done yet: ...").
    NotDone(String),
    /// The stage or its checks do not build; the first compiler error.
    DoesNotCompile(String),
    /// The check failed in a way it did not foresee (a panic elsewhere, a timeout).
    Crashed(String),
    /// No test of that name ran: the manifest and the tests disagree.
    Missing,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Passed)
    }

    /// One line (and the detail under it) for the learner.
    pub fn describe(&self, id: &str) -> String {
        match self {
            Verdict::Passed => format!("✓ {id} passed"),
            Verdict::NotDone(why) => format!("✗ {why}"),
            Verdict::DoesNotCompile(error) => {
                format!("✗ {id}: your code does not compile yet:\n  {error}")
            }
            Verdict::Crashed(why) => format!("✗ {id}: the check failed unexpectedly:\n  {why}"),
            Verdict::Missing => format!(
                "✗ {id}: no check ran; the exercise manifest names a test that does not exist \
                 (report this to the workshop's maintainers)"
            ),
        }
    }
}

/// How checks are built: the learner's defaults, or `dev check`'s own target directory,
/// offline.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub target_dir: Option<PathBuf>,
    pub offline: bool,
    /// Set by the caller to stop the check early (guided mode moving on, or quitting):
    /// the cargo process is killed instead of being left to hold the build lock.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Runs the checks of `exercises` (all of one stage), in the order given.
pub fn run_stage(
    repo: &Repo,
    stage: &Stage,
    exercises: &[&Exercise],
    options: &CheckOptions,
) -> Result<Vec<Verdict>, UserError> {
    let cargo = |args: &[&str]| {
        let mut command = repo.cargo();
        command
            .args(args)
            .args(["-p", stage.package, "--message-format", "short"]);
        if options.offline {
            command.args(["--offline", "--locked"]);
        }
        if let Some(dir) = &options.target_dir {
            command.env("CARGO_TARGET_DIR", dir);
        }
        command
    };
    let deadline = Instant::now() + CHECK_TIME_LIMIT;
    let build = run_bounded(&mut cargo(&["build"]), deadline, options.cancel.as_deref())?;
    if !build.status.success() {
        let error = first_error(&String::from_utf8_lossy(&build.stderr));
        return Ok(vec![Verdict::DoesNotCompile(error); exercises.len()]);
    }
    let mut test = cargo(&["test", "--test", "exercises"]);
    test.args(["--", "--ignored", "--exact"]);
    test.args(exercises.iter().filter_map(|e| e.check.as_deref()));
    let out = run_bounded(&mut test, deadline, options.cancel.as_deref())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !stdout.lines().any(|line| line.starts_with("running ")) {
        let error = first_error(&String::from_utf8_lossy(&out.stderr));
        return Ok(vec![Verdict::DoesNotCompile(error); exercises.len()]);
    }
    Ok(exercises
        .iter()
        .map(|e| verdict_of(&stdout, e.check.as_deref().unwrap_or("")))
        .collect())
}

/// Runs `command` to the end, unless `deadline` passes or `cancel` is set: then the process
/// is killed and the reason returned as an error.
fn run_bounded(
    command: &mut Command,
    deadline: Instant,
    cancel: Option<&AtomicBool>,
) -> Result<Output, UserError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| {
            UserError::new(format!(
                "cannot run {program}: {err}; is it installed and on your PATH?"
            ))
        })?;
    // Both pipes are read while the process runs: a full pipe would stall it.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|err| UserError::new(format!("cannot wait for {program}: {err}")))?
        {
            break status;
        }
        let cancelled = cancel.is_some_and(|flag| flag.load(Ordering::Relaxed));
        if cancelled || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(UserError::new(if cancelled {
                String::from("the check was stopped")
            } else {
                format!(
                    "the check did not finish within {} s and was stopped: does your code \
                     block the runtime's thread (a busy loop, a blocking call)?",
                    CHECK_TIME_LIMIT.as_secs()
                )
            }));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// The verdict of test `name` in libtest's output.
pub fn verdict_of(stdout: &str, name: &str) -> Verdict {
    if stdout.lines().any(|l| l == format!("test {name} ... ok")) {
        return Verdict::Passed;
    }
    if !stdout
        .lines()
        .any(|l| l.starts_with(&format!("test {name} ... ")))
    {
        return Verdict::Missing;
    }
    let message = panic_message(stdout, name);
    if message.contains("not done yet") {
        Verdict::NotDone(message)
    } else if message.is_empty() {
        Verdict::Crashed(String::from("the check failed without a message"))
    } else {
        Verdict::Crashed(message)
    }
}

/// The panic message in the `---- name stdout ----` section: the paragraph after
/// `panicked at FILE:LINE:COL:`. It ends at the first blank line, not only at the `note:`
/// that follows: libtest prints that note after the first panic of the run alone, and
/// what the stage under test printed after a later panic (its own log lines, captured
/// with the test's output) would otherwise read as part of the check's sentence.
fn panic_message(stdout: &str, name: &str) -> String {
    let header = format!("---- {name} stdout ----");
    let Some(section) = stdout.split(&header).nth(1) else {
        return String::new();
    };
    let mut lines = section.lines().skip_while(|l| !l.contains("panicked at"));
    let _panicked_at = lines.next();
    lines
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| {
            !l.trim().is_empty()
                && !l.starts_with("note:")
                && !l.starts_with("---- ")
                && *l != "failures:"
        })
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// The first compiler error of cargo's `--message-format short` output, or its first
/// line that says `error` when none looks like a diagnostic.
pub fn first_error(stderr: &str) -> String {
    let is_summary = |l: &str| l.contains("could not compile") || l.contains("aborting due to");
    stderr
        .lines()
        .find(|l| l.contains("error") && !is_summary(l) && l.contains(": error"))
        .or_else(|| {
            stderr
                .lines()
                .find(|l| l.starts_with("error") && !is_summary(l))
        })
        .or_else(|| stderr.lines().find(|l| l.contains("error")))
        .unwrap_or("cargo failed without an error message")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stopped check kills its process: a 30 s sleep ends long before its time.
    #[cfg(unix)]
    #[test]
    fn a_cancelled_command_is_killed_not_awaited() {
        let cancel = AtomicBool::new(false);
        let started = Instant::now();
        let result = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                cancel.store(true, Ordering::Relaxed);
            });
            let far = Instant::now() + Duration::from_secs(60);
            run_bounded(Command::new("sleep").arg("30"), far, Some(&cancel))
        });
        let err = result.expect_err("a cancelled command is an error");
        assert!(err.0.contains("stopped"), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited for the sleep"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_command_past_its_deadline_is_killed_and_named() {
        let soon = Instant::now() + Duration::from_millis(200);
        let err = run_bounded(Command::new("sleep").arg("30"), soon, None)
            .expect_err("past the deadline");
        assert!(err.0.contains("did not finish"), "{err:?}");
    }

    const LIBTEST: &str = "\nrunning 2 tests\ntest exercise_2_read_timeout ... FAILED\n\
        test exercise_3_threads ... ok\n\nfailures:\n\n---- exercise_2_read_timeout stdout ----\n\n\
        thread 'exercise_2_read_timeout' panicked at stage1-blocking/tests/exercises.rs:40:5:\n\
        exercise 1.2 not done yet: a silent client still holds the server\nafter 1 s\n\
        note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n\
        failures:\n    exercise_2_read_timeout\n";

    #[test]
    fn libtest_output_gives_each_check_its_verdict_and_sentence() {
        assert_eq!(verdict_of(LIBTEST, "exercise_3_threads"), Verdict::Passed);
        assert_eq!(
            verdict_of(LIBTEST, "exercise_2_read_timeout"),
            Verdict::NotDone(
                "exercise 1.2 not done yet: a silent client still holds the server\nafter 1 s"
                    .into()
            )
        );
        assert_eq!(verdict_of(LIBTEST, "exercise_4_x"), Verdict::Missing);
        let crashed = LIBTEST.replace("exercise 1.2 not done yet: ", "");
        assert!(matches!(
            verdict_of(&crashed, "exercise_2_read_timeout"),
            Verdict::Crashed(_)
        ));
    }

    #[test]
    fn what_the_stage_prints_after_a_later_panic_is_not_part_of_the_sentence() {
        // Two checks failed in one run: only the first panic gets libtest's `note:` line,
        // and the stage's own log line was captured right after the second message.
        let stdout = "\nrunning 2 tests\ntest exercise_2_a ... FAILED\n\
            test exercise_3_b ... FAILED\n\nfailures:\n\n---- exercise_2_a stdout ----\n\n\
            thread 'exercise_2_a' panicked at stage1-blocking/tests/exercises.rs:40:5:\n\n\n\
            exercise 1.2 not done yet: no answer.\nWhat to do: a timeout.\n\n\
            note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\
            ---- exercise_3_b stdout ----\n\n\
            thread 'exercise_3_b' panicked at stage1-blocking/tests/exercises.rs:60:5:\n\n\n\
            exercise 1.3 not done yet: no echo.\nWhat to do: threads.\n\n\n\
            connection ended with an error: unexpected end of file\n\n\
            failures:\n    exercise_2_a\n    exercise_3_b\n";
        assert_eq!(
            verdict_of(stdout, "exercise_2_a"),
            Verdict::NotDone(
                "exercise 1.2 not done yet: no answer.\nWhat to do: a timeout.".into()
            )
        );
        assert_eq!(
            verdict_of(stdout, "exercise_3_b"),
            Verdict::NotDone("exercise 1.3 not done yet: no echo.\nWhat to do: threads.".into())
        );
    }

    #[test]
    fn the_first_compiler_error_is_the_one_shown() {
        let stderr = "   Compiling stage6 v0.1.0\n\
            stage6-workers/src/lib.rs:12:5: error[E0425]: cannot find value `x` in this scope\n\
            stage6-workers/src/lib.rs:20:1: error: expected item\n\
            error: could not compile `stage6` (lib) due to 2 previous errors\n";
        assert_eq!(
            first_error(stderr),
            "stage6-workers/src/lib.rs:12:5: error[E0425]: cannot find value `x` in this scope"
        );
        assert_eq!(
            first_error("error: no such package\n"),
            "error: no such package"
        );
    }
}
