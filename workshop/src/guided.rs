//! Guided mode (`cargo run -p workshop` with no subcommand): the first exercise not yet
//! done, its check re-run whenever a file of its stage is saved, the verdict, and the
//! next exercise once it passes. Keys: h hint, l list, n next (skip), q quit.
//!
//! On a terminal it draws one 80x24 screen on the alternate screen and restores the
//! terminal on q, Ctrl-C or any early return (a guard does it on drop). Piped, or with
//! no terminal, it prints plain lines and reads the same keys as lines on stdin.

use crate::checks::{self, CheckOptions, Verdict};
use crate::commands::{list_table, wrap};
use crate::manifest::{Exercise, Kind, Manifest};
use crate::progress::Progress;
use crate::repo::Repo;
use crate::watcher::Watcher;
use crate::{verdict, Outcome, UserError};
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, terminal};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the stage folder is scanned for saved files (see `watcher` for why polling).
const SCAN_EVERY: Duration = Duration::from_millis(500);

/// The screen's text width: an 80-column terminal with a margin.
const WIDTH: usize = 78;

/// A key, from the terminal or from a line on stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Hint,
    List,
    Next,
    Quit,
}

/// Restores the terminal when guided mode ends, however it ends.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> Result<Self, UserError> {
        terminal::enable_raw_mode()
            .map_err(|err| UserError::new(format!("cannot set up the terminal: {err}")))?;
        let guard = Self;
        let _ = execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        );
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = execute!(
            std::io::stdout(),
            cursor::Show,
            terminal::LeaveAlternateScreen
        );
        let _ = terminal::disable_raw_mode();
    }
}

/// What the screen shows.
struct Screen {
    done: usize,
    graded: usize,
    exercise: Option<Exercise>,
    status: String,
    hints_shown: usize,
    list: Option<String>,
    /// Exercises skipped with `n` in this session: with none left to show, the screen
    /// must not congratulate a learner who only skipped.
    skipped: usize,
}

impl Screen {
    /// The screen as lines, at most 24 of at most 80 columns.
    fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "workshop · guided mode{:>width$}",
            format!("{} of {} done", self.done, self.graded),
            width = WIDTH - 22
        )];
        lines.push(String::new());
        let Some(e) = &self.exercise else {
            if self.skipped > 0 {
                lines.push(format!(
                    "Nothing left but the {} exercise(s) you skipped: press n to go \
                     through them again, q to quit.",
                    self.skipped
                ));
                return lines;
            }
            lines.push(String::from("Every graded exercise is done. Well done!"));
            lines.push(String::from(
                "`cargo run -p workshop -- list` shows them all.",
            ));
            return lines;
        };
        lines.push(format!(
            "Exercise {}: {} ({})",
            e.id,
            e.title,
            e.kind.name()
        ));
        lines.push(format!("chapter: {}", e.chapter().display()));
        match e.kind {
            Kind::Code => {
                let edit = wrap(&format!("edit:    {}", e.edit.join(", ")), WIDTH);
                lines.extend(edit.lines().map(String::from));
            }
            _ => lines.push(format!(
                "run:     cargo run -p workshop -- predict {}",
                e.id
            )),
        }
        lines.push(String::new());
        let body = match &self.list {
            Some(table) => table.clone(),
            // Hints the learner asked for come first: a long verdict below them may be
            // cut at the bottom of the screen, the answer to a key press must not be.
            None => {
                let mut text = String::new();
                for (n, hint) in e.hints.iter().take(self.hints_shown).enumerate() {
                    let wrapped = wrap(hint, WIDTH - 8).replace('\n', "\n        ");
                    text.push_str(&format!("hint {}: {wrapped}\n", n + 1));
                }
                if self.hints_shown > 0 {
                    text.push('\n');
                }
                text.push_str(&wrap_lines(&self.status));
                text
            }
        };
        // Two lines stay free for the key help at the bottom.
        let room = 24usize.saturating_sub(lines.len() + 2);
        lines.extend(body.lines().take(room).map(String::from));
        lines.push(String::new());
        lines.push(String::from("[h] hint  [l] list  [n] next  [q] quit"));
        lines
            .iter()
            .map(|l| l.chars().take(WIDTH + 2).collect())
            .collect()
    }
}

fn wrap_lines(text: &str) -> String {
    text.lines()
        .map(|l| wrap(l, WIDTH))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The exercises guided mode walks through: code and predictions not done yet, in order.
fn pending<'m>(
    manifest: &'m Manifest,
    progress: &Progress,
    skipped: &[String],
) -> Option<&'m Exercise> {
    manifest.exercises.iter().find(|e| {
        !skipped.contains(&e.id)
            && match e.kind {
                Kind::Code => !progress.has_passed(&e.id),
                Kind::Prediction => !progress.predicted.contains_key(&e.id),
                Kind::Discussion => false,
            }
    })
}

/// Runs a check on a thread, so keys keep working while cargo builds.
fn start_check(repo: &Repo, exercise: &Exercise) -> Pending {
    let (send, receive) = mpsc::channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let options = CheckOptions {
        cancel: Some(Arc::clone(&cancel)),
        ..CheckOptions::default()
    };
    let (repo, exercise) = (repo.clone(), exercise.clone());
    std::thread::spawn(move || {
        let verdicts = checks::run_stage(&repo, exercise.stage(), &[&exercise], &options);
        let first = verdicts.map(|v| v.into_iter().next().unwrap_or(Verdict::Missing));
        let _ = send.send(first);
    });
    Pending {
        verdict: receive,
        cancel,
    }
}

/// Keys typed as lines on stdin, for plain mode.
fn stdin_keys() -> Receiver<Key> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if let Some(key) = key_of(line.trim().chars().next().unwrap_or(' ')) {
                if send.send(key).is_err() {
                    break;
                }
            }
        }
    });
    receive
}

fn key_of(c: char) -> Option<Key> {
    match c {
        'h' => Some(Key::Hint),
        'l' => Some(Key::List),
        'n' => Some(Key::Next),
        'q' => Some(Key::Quit),
        _ => None,
    }
}

/// The next key from the terminal, waiting at most `wait`.
fn terminal_key(wait: Duration) -> Option<Key> {
    if !event::poll(wait).unwrap_or(false) {
        return None;
    }
    match event::read() {
        Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => {
            if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
                return Some(Key::Quit);
            }
            match key.code {
                KeyCode::Char(c) => key_of(c),
                KeyCode::Esc => Some(Key::Quit),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A running check: its answer, delivered by the thread that runs it, and the flag that
/// stops it. Dropping it (moving on to another exercise, quitting) stops the check and
/// waits a moment for cargo to be killed, so no build is left holding the build lock.
struct Pending {
    verdict: Receiver<Result<Verdict, UserError>>,
    cancel: Arc<AtomicBool>,
}

impl Pending {
    fn try_recv(&self) -> Option<Result<Verdict, UserError>> {
        self.verdict.try_recv().ok()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        // The check thread polls the flag every 50 ms and answers once cargo is gone.
        let _ = self.verdict.recv_timeout(Duration::from_secs(2));
    }
}

/// Guided mode's state between two ticks.
struct Session<'r> {
    repo: &'r Repo,
    manifest: Manifest,
    /// Exercises the learner skipped with `n` in this session (not saved).
    skipped: Vec<String>,
    current: Option<Exercise>,
    watcher: Option<Watcher>,
    running: Option<Pending>,
    /// A file was saved while a check was running: check again when it ends.
    rerun: bool,
    screen: Screen,
}

impl<'r> Session<'r> {
    fn new(repo: &'r Repo, manifest: Manifest) -> Self {
        let graded = manifest
            .exercises
            .iter()
            .filter(|e| e.kind != Kind::Discussion)
            .count();
        let screen = Screen {
            done: 0,
            graded,
            exercise: None,
            status: String::new(),
            hints_shown: 0,
            list: None,
            skipped: 0,
        };
        Self {
            repo,
            manifest,
            skipped: Vec::new(),
            current: None,
            watcher: None,
            running: None,
            rerun: false,
            screen,
        }
    }

    /// Moves to the first exercise not done (progress may have changed behind our back:
    /// a `predict` in another terminal), and starts its check.
    fn advance(&mut self) {
        let progress = Progress::load(&self.repo.root);
        self.screen.done = self
            .manifest
            .exercises
            .iter()
            .filter(|e| progress.has_passed(&e.id) || progress.predicted.contains_key(&e.id))
            .count();
        let next = pending(&self.manifest, &progress, &self.skipped).cloned();
        self.screen.skipped = self.skipped.len();
        if next.as_ref().map(|e| &e.id) == self.current.as_ref().map(|e| &e.id) {
            return;
        }
        // The short line on success stays above the next exercise's first verdict.
        let passed = self
            .current
            .as_ref()
            .filter(|e| progress.has_passed(&e.id))
            .map(|e| format!("✓ {} passed. ", e.id))
            .unwrap_or_default();
        self.current = next;
        self.screen.exercise = self.current.clone();
        self.screen.hints_shown = 0;
        self.screen.list = None;
        self.watcher = self
            .current
            .as_ref()
            .map(|e| Watcher::new(&self.repo.path(e.stage().folder)));
        self.running = None;
        // A save that asked to check the previous exercise again is not this one's.
        self.rerun = false;
        match &self.current {
            Some(e) if e.kind == Kind::Code => {
                self.screen.status = format!("{passed}checking... (building the stage first)");
                self.running = Some(start_check(self.repo, e));
            }
            Some(e) => {
                self.screen.status = format!(
                    "A prediction: {}\nRun `cargo run -p workshop -- predict {}` in another \
                     terminal; this screen moves on once it is graded.",
                    e.question.as_deref().unwrap_or(""),
                    e.id
                );
            }
            None => {}
        }
    }

    /// Takes a finished check's verdict, saves it, and starts a pending re-run.
    fn collect(&mut self) {
        let Some(result) = self.running.as_ref().and_then(Pending::try_recv) else {
            return;
        };
        self.running = None;
        let Some(e) = self.current.clone() else {
            return;
        };
        self.screen.status = match result {
            Ok(v) => {
                let mut progress = Progress::load(&self.repo.root);
                progress.record_check(&e.id, v.passed());
                progress.save(&self.repo.root);
                if v.passed() {
                    format!("✓ {} passed: on to the next one", e.id)
                } else {
                    format!(
                        "{}\n(save a file in {} to check again)",
                        v.describe(&e.id),
                        e.stage().folder
                    )
                }
            }
            Err(err) => format!("cannot run the check: {err}"),
        };
        if std::mem::take(&mut self.rerun) {
            self.running = Some(start_check(self.repo, &e));
        }
    }

    /// Handles a key; false means quit.
    fn key(&mut self, key: Key) -> bool {
        match key {
            Key::Quit => return false,
            Key::Hint => {
                self.screen.list = None;
                let total = self.current.as_ref().map_or(0, |e| e.hints.len());
                self.screen.hints_shown = (self.screen.hints_shown + 1).min(total);
            }
            Key::List => {
                self.screen.list = match self.screen.list.take() {
                    Some(_) => None,
                    None => self.current.as_ref().map(|e| {
                        let of_stage: Vec<&Exercise> =
                            self.manifest.of_stage(e.id().stage).collect();
                        list_table(&of_stage, &Progress::load(&self.repo.root))
                    }),
                };
            }
            Key::Next => match &self.current {
                Some(e) => self.skipped.push(e.id.clone()),
                // Past the last one: start again from the first skipped.
                None => self.skipped.clear(),
            },
        }
        true
    }

    /// A saved file re-runs the check (after the running one, if any).
    fn scan(&mut self) {
        let (Some(watcher), Some(e)) = (self.watcher.as_mut(), &self.current) else {
            return;
        };
        if !watcher.changed() || e.kind != Kind::Code {
            return;
        }
        if self.running.is_some() {
            self.rerun = true;
        } else {
            self.screen.status = String::from("checking...");
            self.running = Some(start_check(self.repo, e));
        }
    }
}

/// `workshop` with no subcommand.
pub fn run(repo: &Repo) -> Outcome {
    let manifest = Manifest::load(&repo.root)?;
    let tty = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let _guard = if tty {
        Some(TerminalGuard::enter()?)
    } else {
        None
    };
    let plain_keys = (!tty).then(stdin_keys);
    let mut session = Session::new(repo, manifest);
    let mut last_scan = Instant::now();
    let mut drawn: Vec<String> = Vec::new();
    loop {
        session.advance();
        let lines = session.screen.lines();
        if lines != drawn {
            draw(&lines, tty, &drawn);
            drawn = lines;
        }
        // Piped, there is nobody to read a final screen: done is done.
        if session.current.is_none() && !tty {
            return Ok(verdict(true));
        }
        session.collect();
        let key = match &plain_keys {
            Some(keys) => match keys.recv_timeout(Duration::from_millis(100)) {
                Ok(key) => Some(key),
                // Standard input is closed (`< /dev/null`, an IDE's run button): no more
                // keys will come, but saves still do, so keep the same pace without them.
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(100));
                    None
                }
                Err(RecvTimeoutError::Timeout) => None,
            },
            None => terminal_key(Duration::from_millis(100)),
        };
        if key.is_some_and(|key| !session.key(key)) {
            return Ok(verdict(true));
        }
        if last_scan.elapsed() >= SCAN_EVERY {
            last_scan = Instant::now();
            session.scan();
        }
    }
}

/// Draws the screen: the whole screen on a terminal, the changed lines on a pipe.
fn draw(lines: &[String], tty: bool, before: &[String]) {
    let mut out = std::io::stdout().lock();
    if tty {
        let _ = execute!(
            out,
            terminal::Clear(terminal::ClearType::All),
            cursor::MoveTo(0, 0)
        );
        for line in lines {
            let _ = write!(out, "{line}\r\n");
        }
    } else {
        for line in lines
            .iter()
            .filter(|l| !l.is_empty() && !before.contains(l))
        {
            let _ = writeln!(out, "{line}");
        }
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_learner_who_skipped_the_rest_is_not_told_all_is_done() {
        let screen = Screen {
            done: 3,
            graded: 40,
            exercise: None,
            status: String::new(),
            hints_shown: 0,
            list: None,
            skipped: 2,
        };
        let text = screen.lines().join("\n");
        assert!(text.contains("2 exercise(s) you skipped"), "{text}");
        assert!(!text.contains("Well done"), "{text}");
    }

    #[test]
    fn the_screen_fits_80_by_24_with_every_hint_shown() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let manifest = Manifest::load(&root).expect("manifest");
        for exercise in &manifest.exercises {
            let screen = Screen {
                done: 3,
                graded: 40,
                exercise: Some(exercise.clone()),
                status: format!(
                    "✗ exercise {} not done yet: {}",
                    exercise.id,
                    "word ".repeat(400)
                ),
                hints_shown: exercise.hints.len(),
                list: None,
                skipped: 0,
            };
            let lines = screen.lines();
            assert!(lines.len() <= 24, "{}: {} lines", exercise.id, lines.len());
            if let Some(first) = exercise.hints.first() {
                let start: String = first.chars().take(20).collect();
                let start = start.split_whitespace().next().unwrap_or("");
                assert!(
                    lines
                        .iter()
                        .any(|l| l.starts_with("hint 1: ") && l.contains(start)),
                    "{}: the first hint is not on the screen",
                    exercise.id
                );
            }
            for line in &lines {
                assert!(line.chars().count() <= 80, "{}: {line:?}", exercise.id);
            }
        }
    }

    #[test]
    fn skipped_and_passed_exercises_are_not_next() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let manifest = Manifest::load(&root).expect("manifest");
        let mut progress = Progress::default();
        let next = pending(&manifest, &progress, &[]).expect("something to do");
        let first = next.id.clone();
        match next.kind {
            Kind::Prediction => {
                let made = crate::progress::Prediction {
                    answer: 1.0,
                    measured: 1.0,
                    within: true,
                };
                progress.predicted.insert(first.clone(), made);
            }
            _ => progress.record_check(&first, true),
        }
        let second = pending(&manifest, &progress, &[]).expect("more").id.clone();
        assert_ne!(first, second);
        let third = pending(&manifest, &progress, std::slice::from_ref(&second)).expect("more");
        assert_ne!(third.id, second);
    }
}
