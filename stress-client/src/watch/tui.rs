//! The full-screen loop of `watch`: terminal set-up and restore (also after a panic, through
//! ratatui's panic hook), keys on a thread of their own, a poll and a frame per tick.

use super::{ticker, view, Poller};
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc;

/// How the view ended.
pub enum Closed<T> {
    /// The future it was shown alongside finished (`run --watch`), with its output.
    Finished(T),
    /// `q`, Esc or Ctrl-C, or `--count` polls done.
    ByUser,
    /// The URL, never live so far, answered without stats (a stage 1–3 started late on the
    /// watched port): the sentence to end with.
    NoStats(String),
}

enum Key {
    Quit,
    /// The terminal was resized: draw again now rather than at the next tick.
    Redraw,
}

/// Raw mode and the alternate screen for as long as it lives; dropping it restores the
/// terminal on every way out of `show` (return, `?`, or a panic unwinding through it).
struct Screen(ratatui::DefaultTerminal);

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.0.show_cursor();
        ratatui::restore();
    }
}

/// Keys are read on a thread of their own because crossterm's reads block; it checks `stop`
/// between short waits so it ends soon after the view does and no longer eats the keys
/// typed after it (a second Ctrl-C for the run, say).
struct Keys {
    receiver: mpsc::UnboundedReceiver<Key>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Keys {
    fn start() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stop_flag.load(Ordering::Relaxed) {
                match event::poll(Duration::from_millis(100)) {
                    Ok(false) => continue,
                    Ok(true) => {}
                    Err(_) => return,
                }
                let key = match event::read() {
                    Ok(Event::Key(key)) if key.kind == KeyEventKind::Press => key,
                    Ok(Event::Resize(..)) => {
                        let _ = sender.send(Key::Redraw);
                        continue;
                    }
                    Ok(_) => continue,
                    Err(_) => return,
                };
                let ctrl_c =
                    key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
                if ctrl_c || matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) {
                    let _ = sender.send(Key::Quit);
                    return;
                }
            }
        });
        Self {
            receiver,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Shows the view until a quit key, `count` polls, or `until` finishes. Polls that find the
/// server gone are shown, never returned: the only errors are the terminal's own.
pub async fn show<F: Future>(
    poller: &mut Poller,
    count: Option<u64>,
    until: F,
) -> io::Result<Closed<F::Output>> {
    let mut screen = Screen(ratatui::try_init()?);
    let mut keys = Keys::start();
    let mut ticker = ticker(poller.state.interval);
    tokio::pin!(until);
    loop {
        screen.0.draw(|frame| view::draw(frame, &poller.state))?;
        if poller.done(count) {
            return Ok(Closed::ByUser);
        }
        tokio::select! {
            output = &mut until => return Ok(Closed::Finished(output)),
            key = keys.receiver.recv() => match key {
                Some(Key::Redraw) => continue,
                Some(Key::Quit) | None => return Ok(Closed::ByUser),
            },
            _ = ticker.tick() => {
                if let Err(message) = poller.poll().await {
                    return Ok(Closed::NoStats(message));
                }
            }
        }
    }
}
