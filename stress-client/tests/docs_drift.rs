//! The deterministic parts of the docs against the binaries, so a quoted banner or flag
//! cannot drift from the code unnoticed. For every Markdown file of the workspace (root
//! README, each crate's README, the book under docs/):
//!
//! - a code block line `$ cargo run [--release] -p stageN [-- ARGS]` followed by output is a
//!   quoted banner: the stage is started with ARGS on 127.0.0.1:0, its stdout read (bounded
//!   in time) and stopped with SIGINT, and the quoted lines must be the lines it printed
//!   before it stopped (ports and the core-dependent shard count normalised). A quote may
//!   end early with a line `...`.
//! - the same for `$ cargo run --release -p stress-client -- ... --help` or
//!   `$ stress-client ... --help` quotes: they must be what the help prints.
//! - every `--flag` given to a stage or to a stress-client subcommand in a command of the
//!   docs (`cargo run ... -p NAME -- ...` or `stress-client SUB ...`), and every `--flag`
//!   row of a stage README's flag table, appears in that binary's `--help`.
//!
//! Run with `cargo test -p stress-client --test docs_drift`. After a banner changes on
//! purpose, `DOCS_DRIFT=overwrite cargo test -p stress-client --test docs_drift` writes
//! what the binaries print into the quoted blocks (review with `git diff`); the measured
//! sessions around them are refreshed by `scripts/regenerate.sh`.
//!
//! The stage binaries live in other packages, so `CARGO_BIN_EXE_*` cannot name them: the
//! test builds them with the same cargo, profile and target directory it was built with
//! (a no-op under `cargo test --workspace`, which has built them already).

mod docs_files;

use docs_files::{markdown_files, workspace_root};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a binary may take to print the lines a doc quotes, and to exit after SIGINT.
/// Generous because a debug build on a loaded 2-core machine starts slowly; a healthy run
/// takes milliseconds, and the bound only keeps a broken binary from hanging CI.
const OUTPUT_DEADLINE: Duration = Duration::from_secs(20);

/// Parts of a line that depend on the run or the machine, not on the code: the text before
/// the digits stays, the digits become the placeholder.
/// The first two entries are the ports (`replace_ports` relies on it).
const NORMALISED: &[(&str, &str)] = &[
    ("127.0.0.1:", "<port>"),
    ("127.0.0.1 ", "<port>"),
    // Stage 8's default shard count is DashMap's: four per core, rounded up.
    ("--shards ", "<shards>"),
];

// ---------------------------------------------------------------------------------------
// Running the binaries.

/// The stage binaries, built like this test was built: same cargo, profile, target dir.
struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    fn build() -> Self {
        // This test runs from <target>/<profile>/deps/.
        let exe = std::env::current_exe().expect("the test knows its own path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binaries live in <target>/<profile>/deps")
            .to_path_buf();
        let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
        let target = dir.parent().expect("<target>/<profile>");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .current_dir(workspace_root())
            .args(["build", "--bins", "--quiet", "--target-dir"])
            .arg(target);
        if profile != "debug" {
            build.args(["--profile", profile]);
        }
        for stage in 1..=8 {
            build.arg("-p").arg(format!("stage{stage}"));
        }
        let status = build.status().expect("cargo can be started");
        assert!(status.success(), "building the stage binaries failed");
        Binaries { dir }
    }

    fn path(&self, package: &str) -> PathBuf {
        if package == "stress-client" {
            PathBuf::from(env!("CARGO_BIN_EXE_stress-client"))
        } else {
            self.dir.join(package)
        }
    }
}

/// Stops the child on every path out of a check, so a failed assertion leaves no server.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a child's stdout line by line on a thread, so the reader can give up in time.
fn line_reader(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (lines, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Starts a stage as the docs do (with `--addr 127.0.0.1:0` instead of a fixed port),
/// waits for `wanted` lines, stops it with SIGINT like Ctrl-C and returns what it printed
/// before its shutdown messages (a line starting with `stopped`).
fn banner(binary: &Path, args: &[String], wanted: usize) -> Vec<String> {
    let mut args = args.to_vec();
    match args.iter().position(|arg| arg == "--addr") {
        Some(index) if index + 1 < args.len() => args[index + 1] = "127.0.0.1:0".into(),
        _ => args.extend(["--addr".to_string(), "127.0.0.1:0".to_string()]),
    }
    let child = Command::new(binary)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
    let mut running = Running(child);
    let receiver = line_reader(&mut running.0);
    let mut lines = Vec::new();
    let deadline = Instant::now() + OUTPUT_DEADLINE;
    while lines.len() < wanted {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    // Ctrl-C, then everything it still prints until it exits (bounded). Elsewhere than
    // Unix there is no SIGINT to send: a kill ends it, and the lines before "stopped" are
    // all this compares anyway.
    #[cfg(unix)]
    let _ = Command::new("kill")
        .args(["-INT", &running.0.id().to_string()])
        .status();
    #[cfg(not(unix))]
    let _ = running.0.kill();
    let deadline = Instant::now() + OUTPUT_DEADLINE;
    while let Ok(line) = receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        lines.push(line);
    }
    let end = lines
        .iter()
        .position(|line| line.starts_with("stopped"))
        .unwrap_or(lines.len());
    lines.truncate(end);
    lines
}

fn help(binary: &Path, args: &[String]) -> Vec<String> {
    let output = Command::new(binary)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", binary.display()));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Reading the docs.

fn normalise(line: &str) -> String {
    replace_digits_after(line.trim_end(), NORMALISED)
}

/// A line of the binary with its real port replaced by the one the doc shows.
fn replace_ports(line: &str, port: &str) -> String {
    replace_digits_after(line, &NORMALISED[..2]).replace("<port>", port)
}

fn replace_digits_after(line: &str, table: &[(&str, &str)]) -> String {
    let mut out = line.to_string();
    for (before, placeholder) in table {
        let mut result = String::new();
        let mut rest = out.as_str();
        while let Some(at) = rest.find(before) {
            let after = &rest[at + before.len()..];
            let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            result.push_str(&rest[..at + before.len()]);
            if digits > 0 {
                result.push_str(placeholder);
            }
            rest = &after[digits..];
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// What a quoted command line runs: the package, and the arguments after `--`.
fn command_of(line: &str) -> Option<(String, Vec<String>)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.first() == Some(&"stress-client") {
        return Some((
            "stress-client".into(),
            words[1..].iter().map(|w| w.to_string()).collect(),
        ));
    }
    if words.len() < 2 || words[0] != "cargo" || words[1] != "run" {
        return None;
    }
    let package = words
        .iter()
        .position(|w| *w == "-p")
        .and_then(|i| words.get(i + 1))?;
    let args = match words.iter().position(|w| *w == "--") {
        Some(i) => words[i + 1..].iter().map(|w| w.to_string()).collect(),
        None => Vec::new(),
    };
    Some((package.to_string(), args))
}

/// A block of output the docs quote after a command line.
struct Quote {
    file: PathBuf,
    /// 1-based line of the first quoted output line.
    first_line: usize,
    package: String,
    args: Vec<String>,
    lines: Vec<String>,
    /// Ended by a `...` line: the binary may print more.
    partial: bool,
    /// The `<!-- session: NAME -->` the quote sits in, if any.
    session: Option<String>,
}

fn quotes_in(file: &Path, text: &str) -> Vec<Quote> {
    let lines: Vec<&str> = text.lines().collect();
    let mut quotes = Vec::new();
    let mut in_block = false;
    let mut session = None;
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if let Some(name) = line
            .strip_prefix("<!-- session: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        {
            session = Some(name.to_string());
        } else if line == "<!-- /session -->" {
            session = None;
        }
        if line.starts_with("```") {
            in_block = !in_block;
            index += 1;
            continue;
        }
        let command = line.strip_prefix("$ ").filter(|_| in_block);
        let Some((package, args)) = command.and_then(command_of) else {
            index += 1;
            continue;
        };
        let is_banner = package.starts_with("stage");
        let is_help = args.iter().any(|arg| arg == "--help");
        let mut end = index + 1;
        while end < lines.len()
            && !lines[end].starts_with("```")
            && !lines[end].starts_with("$ ")
            && lines[end] != "..."
        {
            end += 1;
        }
        if (is_banner || is_help) && end > index + 1 {
            quotes.push(Quote {
                file: file.to_path_buf(),
                first_line: index + 2,
                package,
                args,
                lines: lines[index + 1..end]
                    .iter()
                    .map(|l| l.to_string())
                    .collect(),
                partial: lines.get(end) == Some(&"..."),
                session: session.clone(),
            });
        }
        index = end;
    }
    quotes
}

/// The first line where a quote and the binary's output differ, or None when they agree.
fn first_difference(quote: &Quote, printed: &[String]) -> Option<usize> {
    let quoted: Vec<String> = quote.lines.iter().map(|l| normalise(l)).collect();
    let printed: Vec<String> = printed.iter().map(|l| normalise(l)).collect();
    let compared = quoted
        .len()
        .max(if quote.partial { 0 } else { printed.len() });
    (0..compared).find(|&i| quoted.get(i) != printed.get(i))
}

fn relative(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string()
}

/// The port a quote shows: the one its command names, else the stage's default (808N).
fn shown_port(quote: &Quote) -> Option<String> {
    let named = quote
        .args
        .iter()
        .position(|arg| arg == "--addr")
        .and_then(|i| quote.args.get(i + 1))
        .and_then(|addr| addr.rsplit(':').next())
        .map(str::to_string);
    let default = quote
        .package
        .strip_prefix("stage")
        .and_then(|n| n.parse::<u16>().ok())
        .map(|n| (8080 + n).to_string());
    named.or(default)
}

/// Writes the binary's lines over a quote, with the port the doc shows.
fn overwrite(quote: &Quote, printed: &[String]) {
    let text = std::fs::read_to_string(&quote.file).expect("doc is readable");
    let port = shown_port(quote);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let fresh: Vec<String> = printed
        .iter()
        .map(|line| match &port {
            Some(port) => replace_ports(line, port),
            None => line.clone(),
        })
        .collect();
    let start = quote.first_line - 1;
    lines.splice(start..start + quote.lines.len(), fresh);
    let mut out = lines.join("\n");
    out.push('\n');
    std::fs::write(&quote.file, out).expect("doc is writable");
}

#[test]
fn quoted_banners_and_help_match_the_binaries() {
    let root = workspace_root();
    let binaries = Binaries::build();
    let overwrite_docs = std::env::var("DOCS_DRIFT").is_ok_and(|v| v == "overwrite");
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in markdown_files(&root) {
        let text = std::fs::read_to_string(&file).expect("markdown is UTF-8");
        // Bottom up, so overwriting one quote does not move the lines of the next.
        for quote in quotes_in(&file, &text).into_iter().rev() {
            checked += 1;
            let binary = binaries.path(&quote.package);
            let printed = if quote.package.starts_with("stage") {
                banner(&binary, &quote.args, quote.lines.len())
            } else {
                help(&binary, &quote.args)
            };
            let Some(at) = first_difference(&quote, &printed) else {
                continue;
            };
            if overwrite_docs {
                let shown = if quote.partial {
                    &printed[..quote.lines.len().min(printed.len())]
                } else {
                    &printed[..]
                };
                overwrite(&quote, shown);
                continue;
            }
            let fix = match &quote.session {
                Some(name) => format!(
                    "regenerate with `scripts/regenerate.sh {}`",
                    name.split('/').next().unwrap_or(name)
                ),
                None => format!(
                    "update {} line {}",
                    relative(&root, &quote.file),
                    quote.first_line + at
                ),
            };
            failures.push(format!(
                "{}:{}: `{} {}` prints something else than the docs quote\n  \
                 docs:   {:?}\n  binary: {:?}\n  fix: {fix}, or run \
                 `DOCS_DRIFT=overwrite cargo test -p stress-client --test docs_drift`",
                relative(&root, &quote.file),
                quote.first_line + at,
                quote.package,
                quote.args.join(" "),
                quote
                    .lines
                    .get(at)
                    .map(String::as_str)
                    .unwrap_or("(nothing)"),
                printed.get(at).map(String::as_str).unwrap_or("(nothing)"),
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every stage README quotes its banner; finding fewer means the scanner broke.
    assert!(checked >= 8, "only {checked} quoted banners found");
}

// ---------------------------------------------------------------------------------------
// Flags.

/// Words that end a shell command inside a line of prose or a code block.
fn ends_command(word: &str) -> bool {
    matches!(word, "&&" | "||" | "|" | ";" | "&" | "\\") || word.starts_with('#')
}

/// `(line, package, subcommand, flag)` for every `--flag` handed to a binary in `text`.
fn flags_named(text: &str) -> Vec<(usize, String, Option<String>, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for (start, _) in line.match_indices("cargo run").chain(
            line.match_indices("stress-client ")
                .filter(|(at, _)| *at == 0 || line[..*at].ends_with(['`', ' ', '$']))
                // `-p stress-client` is the cargo form, already found as `cargo run`.
                .filter(|(at, _)| !line[..*at].ends_with("-p ")),
        ) {
            let tail = &line[start..];
            // Inline code ends at its closing backtick.
            let tail = tail.split('`').next().unwrap_or(tail);
            let words: Vec<&str> = tail.split_whitespace().collect();
            let (package, rest) = if words.first() == Some(&"stress-client") {
                ("stress-client".to_string(), &words[1..])
            } else {
                let Some(p) = words.iter().position(|w| *w == "-p") else {
                    continue;
                };
                let Some(dash) = words.iter().position(|w| *w == "--") else {
                    continue;
                };
                let Some(package) = words.get(p + 1) else {
                    continue;
                };
                (package.to_string(), &words[dash + 1..])
            };
            let mut subcommand = None;
            let mut quoted = false;
            for word in rest {
                if ends_command(word) {
                    break;
                }
                // A quoted value ("8: --capacity 100") holds another binary's flags.
                if quoted {
                    quoted = !(word.ends_with('"') || word.ends_with('\''));
                    continue;
                }
                if (word.starts_with('"') || word.starts_with('\''))
                    && !(word.len() > 1 && (word.ends_with('"') || word.ends_with('\'')))
                {
                    quoted = true;
                    continue;
                }
                if package == "stress-client"
                    && subcommand.is_none()
                    && !word.starts_with('-')
                    && matches!(
                        *word,
                        "run" | "garbage" | "compare" | "watch" | "post" | "stages"
                    )
                {
                    subcommand = Some(word.to_string());
                    continue;
                }
                if let Some(flag) = word.strip_prefix("--") {
                    let flag = flag.split('=').next().unwrap_or(flag);
                    let flag: String = flag
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect();
                    if !flag.is_empty() && flag != "help" {
                        found.push((index + 1, package.clone(), subcommand.clone(), flag));
                    }
                }
            }
        }
    }
    found
}

/// `(line, flag)` for each row of a stage README's flag table (`| \`--flag\` | ...`).
fn table_flags(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let cell = line.strip_prefix("| `--")?;
            let flag: String = cell
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            Some((index + 1, flag))
        })
        .collect()
}

#[test]
fn every_documented_flag_exists() {
    let root = workspace_root();
    let binaries = Binaries::build();
    let mut helps: HashMap<(String, Option<String>), String> = HashMap::new();
    let mut help_of = |package: &str, subcommand: &Option<String>| -> String {
        helps
            .entry((package.to_string(), subcommand.clone()))
            .or_insert_with(|| {
                let mut args: Vec<String> = subcommand.iter().cloned().collect();
                args.push("--help".into());
                help(&binaries.path(package), &args).join("\n")
            })
            .clone()
    };
    let members: Vec<String> = (1..=8)
        .map(|n| format!("stage{n}"))
        .chain(["stress-client".to_string()])
        .collect();
    let mut unknown = Vec::new();
    let mut checked = 0;
    for file in markdown_files(&root) {
        let text = std::fs::read_to_string(&file).expect("markdown is UTF-8");
        let mut named = flags_named(&text);
        // A stage README's flag table documents that stage's flags.
        if let Some(stage) = file
            .parent()
            .and_then(|dir| dir.file_name())
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_prefix("stage"))
            .and_then(|rest| rest.split('-').next())
        {
            for (line, flag) in table_flags(&text) {
                named.push((line, format!("stage{stage}"), None, flag));
            }
        }
        for (line, package, subcommand, flag) in named {
            if !members.contains(&package) {
                continue; // docs_packages reports unknown packages
            }
            checked += 1;
            let text = help_of(&package, &subcommand);
            if !text.contains(&format!("--{flag} ")) && !text.contains(&format!("--{flag}\n")) {
                unknown.push(format!(
                    "{}:{line}: `--{flag}` is not in `{package}{} --help`",
                    relative(&root, &file),
                    subcommand.map(|s| format!(" {s}")).unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "the docs name flags the binaries do not have:\n{}",
        unknown.join("\n")
    );
    assert!(
        checked >= 20,
        "only {checked} flags found: the scanner broke"
    );
}

#[test]
fn normalising_keeps_the_text_and_hides_ports_and_shards() {
    assert_eq!(
        normalise("listening on http://127.0.0.1:45123"),
        "listening on http://127.0.0.1:<port>"
    );
    assert_eq!(normalise("  nc 127.0.0.1 8081   "), "  nc 127.0.0.1 <port>");
    assert_eq!(
        normalise("knobs: --map dashmap --shards 8, --workers 16"),
        "knobs: --map dashmap --shards <shards>, --workers 16"
    );
}

#[test]
fn scanner_reads_commands_and_skips_quoted_values() {
    let text = "cargo run -p stage5 -- --capacity 100 --work-ms 500   # defaults\n\
        `cargo run --release -p stress-client -- compare --variant \"8: --capacity 100 --hold-ms 10\" --json x.json`\n\
        $ stress-client run http://127.0.0.1:8087 --expect \"lost==0\" | cat --number";
    let flags: Vec<(String, Option<String>, String)> = flags_named(text)
        .into_iter()
        .map(|(_, package, sub, flag)| (package, sub, flag))
        .collect();
    let compare = Some("compare".to_string());
    let run = Some("run".to_string());
    assert_eq!(
        flags,
        [
            ("stage5".into(), None, "capacity".into()),
            ("stage5".into(), None, "work-ms".into()),
            ("stress-client".into(), compare.clone(), "variant".into()),
            ("stress-client".into(), compare, "json".into()),
            ("stress-client".into(), run, "expect".into()),
        ]
    );
}
