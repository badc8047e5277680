//! Command-line flags (clap derive) and the glue from flags to library calls and printing.
//! `cargo run --release -p stress-client -- run --help` shows every flag; `-- garbage --help` too.

use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use stress_client::check::{CheckOptions, CheckReport};
use stress_client::compare::{
    self, DEFAULT_CONCURRENCY, DEFAULT_REQUESTS, QUICK_CONCURRENCY, QUICK_REQUESTS,
};
use stress_client::duration::FlagDuration;
use stress_client::expect::{self, ExpectationResult};
use stress_client::garbage;
use stress_client::load::{self, Load, LoadSpec, DEFAULT_USERS};
use stress_client::outcome::Outcome;
use stress_client::report::{self, JsonEnvelope, JsonRunBody};
use stress_client::run::{self, LoadConfig, RunReport};
use stress_client::stats::ServerStats;
use stress_client::target::Target;
use stress_client::ServerCheck;

/// `print!` for results. A closed stdout (`stress-client run URL | head`) means the reader
/// has seen enough: exit quietly instead of panicking with "failed printing to stdout".
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(err) = write!(std::io::stdout(), $($arg)*) {
            if err.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// `println!` with the same rule as `out!`.
macro_rules! outln {
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "stress-client",
    version,
    about = "Replay deterministic load against a workshop stage, classify every outcome, and check the server lost nothing",
    after_help = "Exit codes: 0 ok, 1 expectation unmet / loss / server died or hung, 2 usage."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send the load, print outcome and latency tables, then check the server through /stats.
    Run(RunArgs),
    /// Send at least 25 malformed requests (one connection each) and prove the server survives.
    Garbage(GarbageArgs),
    /// Build the stages (release), run each on 127.0.0.1:0 under the same load, check and
    /// stop it, and print one table: a row per stage, variant or swept value.
    Compare(CompareArgs),
    /// Live full-screen view of a stage's /stats (stages 4–8): queue, workers, rates, lock.
    Watch(WatchArgs),
    /// Send one event (POST /events) and print the status line and body: no JSON quoting.
    Post(PostArgs),
    /// List the workshop's stages: number, package, folder, default port, lesson, /stats.
    Stages(StagesArgs),
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example: stress-client post http://127.0.0.1:8083 --user alice --action buy --amount 100
Exit codes: 0 the server accepted it (2xx), 1 it answered otherwise or could not be reached, 2 usage."
)]
struct PostArgs {
    /// Server base URL (the event goes to /events) or full URL of the events endpoint.
    url: String,
    /// Who the event is for, e.g. alice.
    #[arg(long)]
    user: String,
    /// What happened, e.g. buy.
    #[arg(long)]
    action: String,
    /// A whole number, negative allowed, e.g. 100 or -25.
    #[arg(long, allow_negative_numbers = true)]
    amount: i64,
    /// How long to wait for the answer (e.g. 500ms, 1.5s, 2m; a bare number is seconds).
    #[arg(long, default_value_t = FlagDuration(run::DEFAULT_TIMEOUT))]
    timeout: FlagDuration,
}

#[derive(Args, Debug)]
struct StagesArgs {
    /// Print a JSON array (one object per stage) for scripts instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[command(
    after_help = "On a terminal: a full-screen view; q, Esc or Ctrl-C quits. Piped: one line per poll.
A URL without /stats (stages 1–3) exits 2 at once; a URL that does not answer is retried."
)]
struct WatchArgs {
    /// Server base URL, e.g. http://127.0.0.1:8085.
    url: String,
    /// Time between two GET /stats (e.g. 500ms, 1.5s, 2m; a bare number is seconds).
    #[arg(long, default_value_t = FlagDuration(stress_client::watch::DEFAULT_INTERVAL))]
    interval: FlagDuration,
    /// Stop after N polls (for logs and tests); default: until q / Ctrl-C.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Server base URL (POSTs go to /events) or full URL of the events endpoint.
    url: String,
    /// Number of measured requests.
    #[arg(long, default_value_t = run::DEFAULT_REQUESTS, value_parser = parse_count)]
    requests: NonZeroUsize,
    /// Connections sending at once (closed loop), or the cap on requests in flight with --rate.
    #[arg(long, default_value_t = run::DEFAULT_CONCURRENCY, value_parser = parse_connections)]
    concurrency: NonZeroUsize,
    /// Distinct users in the generated load: user0..user{N-1} (1 = a single hot key).
    #[arg(long, default_value_t = DEFAULT_USERS, value_parser = parse_count)]
    users: NonZeroUsize,
    /// Seed of the load generator: the same seed and flags send the same requests in the same order.
    #[arg(long, default_value_t = load::DEFAULT_SEED)]
    seed: u64,
    /// Per-request limit: connect + send + answer (e.g. 500ms, 1.5s, 2m; a bare number is seconds).
    #[arg(long, default_value_t = FlagDuration(run::DEFAULT_TIMEOUT))]
    timeout: FlagDuration,
    /// Reuse connections for many requests (the default).
    #[arg(long, overrides_with = "close")]
    keep_alive: bool,
    /// Open a new connection per request and send `Connection: close`.
    #[arg(long, overrides_with = "keep_alive")]
    close: bool,
    /// Requests sent first and not recorded (they still count in the server check).
    #[arg(long, default_value_t = 0)]
    warmup: usize,
    /// Open loop: R requests/s in total, latency from each request's intended start.
    #[arg(long, value_parser = parse_rate)]
    rate: Option<f64>,
    /// Hold N silent connections open during the run (freezes a blocking server).
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// Replay events from this JSON Lines file instead of generating them.
    #[arg(long, value_name = "FILE")]
    load_file: Option<PathBuf>,
    /// Write the load (one JSON event per line) to this file before sending it.
    #[arg(long, value_name = "FILE")]
    save_load: Option<PathBuf>,
    /// Also write the full report as JSON (with schema_version) to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Comma-separated expectations, e.g. "rejected==0,p99<50ms,lost==0"; exit 1 when unmet.
    #[arg(long, value_name = "SPEC", value_parser = parse_expectations)]
    expect: Option<ExpectSpec>,
    /// Longest wait for the server's queue to drain, derived from the model when not given
    /// (e.g. 500ms, 1.5s, 2m; a bare number is seconds).
    #[arg(long)]
    drain_timeout: Option<FlagDuration>,
    /// No progress bar and no tables: one summary line, plus any failure.
    #[arg(long, short)]
    quiet: bool,
    /// Show the live view of /stats (as `watch`) during the run and drain; tables follow.
    #[arg(long, conflicts_with = "quiet")]
    watch: bool,
}

#[derive(Args, Debug)]
struct GarbageArgs {
    /// Server base URL (cases target /events) or full URL of the events endpoint.
    url: String,
    /// How long each case may take before the server counts as hung on it (e.g. 500ms,
    /// 1.5s, 2m; a bare number is seconds).
    #[arg(long, default_value_t = FlagDuration(run::DEFAULT_TIMEOUT))]
    timeout: FlagDuration,
    /// How long a client that pipelines requests and never reads waits for the server to
    /// close its connection; make it longer than the server's read timeout (e.g. 500ms,
    /// 1.5s, 2m; a bare number is seconds).
    #[arg(long, default_value_t = FlagDuration(garbage::DEFAULT_SLOW_READER_WAIT))]
    slow_reader_wait: FlagDuration,
    /// Also write the results as JSON (with schema_version) to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Print only the summary line.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug)]
#[command(after_help = compare_after_help())]
struct CompareArgs {
    /// Stages to run, comma-separated [default: 1,...,8; 7,8 with --sweep; none with --variant].
    #[arg(long, value_name = "LIST", value_parser = parse_stage_list)]
    stages: Option<StageList>,
    /// An extra row: "STAGE[ LABEL]: STAGE-ARGS", e.g. "8: --capacity 100 --work-ms 100 --hold-ms 10" (repeatable).
    #[arg(long, value_name = "SPEC", value_parser = compare::spec::parse_variant)]
    variant: Vec<compare::spec::Variant>,
    /// Run each chosen stage (and variant) once per value of one stage flag, e.g. workers=1,2,4,8,16,32,64.
    #[arg(long, value_name = "KNOB=V1,V2,...", value_parser = compare::spec::parse_sweep)]
    sweep: Option<compare::spec::Sweep>,
    #[arg(long, help = format!("Smaller load ({QUICK_REQUESTS} requests, concurrency {QUICK_CONCURRENCY}) and smaller queues on the slow stages (shown per row): well under 30 s."))]
    quick: bool,
    #[arg(long, help = capped_help("Requests per row", DEFAULT_REQUESTS, QUICK_REQUESTS, |cap| cap.requests), value_parser = parse_count)]
    requests: Option<NonZeroUsize>,
    #[arg(long, help = capped_help("Connections sending at once", DEFAULT_CONCURRENCY, QUICK_CONCURRENCY, |cap| cap.concurrency), value_parser = parse_connections)]
    concurrency: Option<NonZeroUsize>,
    /// Distinct users in the load: user0..user{N-1} (1 = a single hot key).
    #[arg(long, default_value_t = DEFAULT_USERS, value_parser = parse_count)]
    users: NonZeroUsize,
    /// Seed of the load generator: every row replays the same requests.
    #[arg(long, default_value_t = load::DEFAULT_SEED)]
    seed: u64,
    /// Use the stage binaries in DIR (e.g. target/release) instead of running cargo build.
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Also write the table and notes as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Also write every row in full as JSON (with schema_version) to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also draw charts to FILE (SVG): outcomes, latency percentiles, throughput against the model.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// No progress on stderr (it is shown only on a terminal anyway).
    #[arg(long, short)]
    quiet: bool,
}

/// `compare --help`'s closing text. The capped stages' numbers come from the stage table, so
/// the help cannot drift from what compare does.
fn compare_after_help() -> String {
    let mut text = String::from(
        "Examples:
  stress-client compare                                  all eight stages (about 2 minutes)
  stress-client compare --quick                          smaller load and queues (seconds)
  stress-client compare --stages 7 --variant \"8: --capacity 100 --work-ms 100 --hold-ms 10\"
  stress-client compare --stages 7,8 --sweep workers=1,2,4,8,16,32,64 --svg sweep.svg
",
    );
    for (number, cap) in capped_stages() {
        text.push_str(&format!(
            "\nStage {number} always gets a small load ({} requests at concurrency {}): {}.",
            cap.requests, cap.concurrency, cap.reason
        ));
    }
    text.push_str("\nExit codes: 0 every row ok, 1 a row failed (start, loss, undrained queue, unclean exit), 2 usage.");
    text
}

fn capped_stages() -> impl Iterator<Item = (u8, compare::stages::LoadCap)> {
    compare::stages::STAGES
        .iter()
        .filter_map(|facts| facts.load_cap.map(|cap| (facts.number, cap)))
}

/// "Requests per row [default: 5000, 2000 with --quick; stage 4 at most 20]."
fn capped_help(
    what: &str,
    default: NonZeroUsize,
    quick: NonZeroUsize,
    limit: fn(&compare::stages::LoadCap) -> NonZeroUsize,
) -> String {
    let caps: Vec<String> = capped_stages()
        .map(|(number, cap)| format!("stage {number} at most {}", limit(&cap)))
        .collect();
    format!(
        "{what} [default: {default}, {quick} with --quick; {}]",
        caps.join(", ")
    )
}

/// A newtype for the same reason as `ExpectSpec`: a `Vec` would read as a repeated flag.
#[derive(Clone, Debug)]
struct StageList(Vec<u8>);

fn parse_stage_list(text: &str) -> Result<StageList, String> {
    compare::spec::parse_stage_list(text).map(StageList)
}

/// More connections than this at once is a typo, not a workshop load.
const MAX_CONNECTIONS: usize = 100_000;

/// A count of at least one: requests, users.
fn parse_count(text: &str) -> Result<NonZeroUsize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| format!("{text:?}: write a whole number of at least 1, e.g. 100"))
}

/// A number of connections: at least 1, at most `MAX_CONNECTIONS`.
fn parse_connections(text: &str) -> Result<NonZeroUsize, String> {
    let count = parse_count(text)?;
    if count.get() > MAX_CONNECTIONS {
        return Err(format!(
            "{text:?}: at most {MAX_CONNECTIONS} connections, e.g. 200"
        ));
    }
    Ok(count)
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "{text:?}: the rate must be a positive number of requests/s"
        )),
    }
}

/// A newtype because clap reads `Option<Vec<T>>` as "a flag given many times".
#[derive(Clone, Debug)]
struct ExpectSpec(Vec<expect::Expectation>);

fn parse_expectations(text: &str) -> Result<ExpectSpec, String> {
    expect::parse(text).map(ExpectSpec)
}

pub fn main() -> ExitCode {
    // clap prints usage errors and exits with 2 itself.
    let cli = Cli::parse();
    // Before any socket: a 200-connection run needs more than macOS's default 256 files.
    if let Err(reason) = stress_client::platform::raise_open_file_limit() {
        eprintln!("note: {reason}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run_command(args).await,
            Command::Garbage(args) => garbage_command(args).await,
            Command::Compare(args) => compare_command(args).await,
            Command::Watch(args) => watch_command(args).await,
            Command::Post(args) => post_command(args).await,
            Command::Stages(args) => Ok(stages_command(&args)),
        }
    });
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

async fn run_command(args: RunArgs) -> Result<ExitCode, String> {
    let target = Target::resolve(&args.url).await?;
    let load = load_of(&args)?;
    let terminal = std::io::stdout().is_terminal();
    let mut config = load_config(&args, target, terminal);
    fit_open_file_limit(&mut config)?;
    watch_ctrl_c(config.stop.clone());
    let heading = run_heading(&args, &config, &load);

    let server = ServerCheck::begin(&config).await;
    if !args.quiet {
        preflight(server.before(), &load, &config);
    }
    let options = CheckOptions {
        drain_timeout: args.drain_timeout.map(|d| d.0),
        distinct_users: load.distinct_users(),
        progress: config.progress,
    };
    let (run, check) = if args.watch {
        // The view shows the run and the drain; the tables follow once it closes.
        let work = async {
            let run = run::run_load(&config, &load).await;
            let check = server.finish(&run, &options).await;
            (run, check)
        };
        let (run, check) = stress_client::watch::during(&config.target, &args.url, work).await;
        out!("{}", report::render_run(&heading, &run, terminal));
        (run, check)
    } else {
        let run = run::run_load(&config, &load).await;
        if !args.quiet {
            // Outcomes and latency first: on a slow stage the drain below can take a while.
            out!("{}", report::render_run(&heading, &run, terminal));
        }
        let check = server.finish(&run, &options).await;
        (run, check)
    };
    let expectations = args
        .expect
        .as_ref()
        .map(|spec| expect::evaluate(&spec.0, &run, Some(&check)))
        .unwrap_or_default();
    let unmet = expectations.iter().filter(|e| !e.met).count();
    let served_nothing = served_nothing(&run);
    // A run that served nothing already says why below; this covers the rest.
    let client_failure = run::failed_at_client(&run).filter(|_| !served_nothing);
    let ok = unmet == 0 && !check.failed() && !served_nothing && client_failure.is_none();

    if args.quiet {
        print_quiet_summary(&run, &check, &expectations, terminal);
    } else {
        out!("\n{}", report::render_check(&check, terminal));
        out!("{}", report::render_expectations(&expectations, terminal));
    }
    if let Some(path) = &args.json {
        let body = JsonRunBody {
            url: &args.url,
            seed: args.load_file.is_none().then_some(args.seed),
            users: load.distinct_users(),
            run: &run,
            check: Some(&check),
            expectations: &expectations,
        };
        report::write_json(path, &JsonEnvelope::new("run", &invocation(), ok, body))?;
    }
    if unmet > 0 && !args.quiet {
        // On stderr too, for when stdout goes to a file.
        eprintln!("{unmet} expectation(s) unmet");
    }
    if let Some(reason) = &client_failure {
        eprintln!("error: {reason}");
    }
    if served_nothing {
        eprintln!(
            "error: none of the {} requests was accepted or rejected; is the stage running, \
             and is {} its address? (a stage listens on http://127.0.0.1:808N and takes \
             events at POST /events)",
            run.requests, args.url
        );
    }
    Ok(exit_code(ok))
}

/// Lowers the concurrency to what the open-file limit allows, saying so, or stops with the
/// limit and what to do: a wall of identical "Too many open files" errors teaches nothing.
fn fit_open_file_limit(config: &mut LoadConfig) -> Result<(), String> {
    let limit = stress_client::platform::open_file_limit();
    match run::connection_budget(limit, config.concurrency, config.idle) {
        run::ConnectionBudget::Enough => Ok(()),
        run::ConnectionBudget::Fewer { limit, concurrency } => {
            eprintln!(
                "note: the open-file limit ({limit}) allows {concurrency} connections beside {} idle: running with --concurrency {concurrency} instead of {} (raise the hard limit to send more)",
                config.idle, config.concurrency
            );
            config.concurrency = concurrency;
            Ok(())
        }
        run::ConnectionBudget::TooFew { limit, connections } => Err(format!(
            "the open-file limit ({limit}) allows about {connections} connections, fewer than --idle {} plus one sending: lower --idle or raise the limit (ulimit -n)",
            config.idle
        )),
    }
}

/// A run in which the server neither accepted nor refused a single request measured
/// nothing: a wrong port or path, or a stopped stage. It fails, so a typo never passes.
fn served_nothing(run: &RunReport) -> bool {
    let answered = run.tally.count(Outcome::Accepted) + run.tally.count(Outcome::Rejected);
    run.requests > 0 && answered == 0
}

fn exit_code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// The load `run` sends: read from `--load-file` or generated, and saved when asked.
fn load_of(args: &RunArgs) -> Result<Load, String> {
    let load = match &args.load_file {
        Some(path) => Load::read_jsonl(path)?,
        None => Load::generate(&LoadSpec {
            requests: args.requests.get(),
            users: args.users,
            seed: args.seed,
        }),
    };
    if let Some(path) = &args.save_load {
        load.save_jsonl(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(load)
}

/// `terminal`: whether stdout is one (with `--watch` the view then owns it).
fn load_config(args: &RunArgs, target: Target, terminal: bool) -> LoadConfig {
    LoadConfig {
        target,
        concurrency: args.concurrency,
        timeout: args.timeout.0,
        keep_alive: !args.close,
        warmup: args.warmup,
        rate: args.rate,
        idle: args.idle,
        // With --watch the view owns the terminal: bars drawn under it would tear it up.
        progress: !(args.quiet || args.watch && terminal),
        stop: run::StopSignal::default(),
    }
}

/// The first line of `run`'s output: everything that shapes the numbers below it.
fn run_heading(args: &RunArgs, config: &LoadConfig, load: &Load) -> String {
    let target = &config.target;
    let source = match &args.load_file {
        Some(path) => format!("load from {}", path.display()),
        None => format!("seed {}, {} users", args.seed, args.users),
    };
    format!(
        "stress-client run http://{}{}: {} requests, {}, {}{}{}, timeout {:?}",
        target.host_header,
        target.events_path,
        load.len(),
        match args.rate {
            Some(rate) => format!(
                "open loop at {rate} requests/s (≤ {} in flight)",
                config.concurrency
            ),
            None => format!("concurrency {}", config.concurrency),
        },
        if config.keep_alive {
            "keep-alive"
        } else {
            "Connection: close"
        },
        if args.warmup > 0 {
            format!(", warmup {}", args.warmup)
        } else {
            String::new()
        },
        format_args!(", {source}"),
        args.timeout.0
    )
}

/// `run --quiet`: one line, plus the check table when it found a loss.
fn print_quiet_summary(
    run: &RunReport,
    check: &CheckReport,
    expectations: &[ExpectationResult],
    terminal: bool,
) {
    let accepted = run.tally.count(Outcome::Accepted);
    let rejected = run.tally.count(Outcome::Rejected);
    // Name each unmet expectation: "1 unmet" alone sends the reader back to rerun.
    let unmet: Vec<String> = expectations
        .iter()
        .filter(|e| !e.met)
        .map(|e| match e.actual {
            Some(_) => format!("{} (got {})", e.expectation, e.detail),
            None => format!("{} ({})", e.expectation, e.detail),
        })
        .collect();
    outln!(
        "{} requests, {:.0}/s: {accepted} accepted, {rejected} rejected, {} other; check: {}; lost {}{}",
        run.requests,
        run.requests_per_sec,
        run.requests - accepted - rejected,
        check.verdict.name(),
        check.lost,
        if unmet.is_empty() {
            String::new()
        } else {
            format!("; unmet: {}", unmet.join(", "))
        }
    );
    if check.failed() {
        out!("{}", report::render_check(check, terminal));
    }
}

/// First Ctrl-C: stop issuing requests and report what was sent (a stage-4 burst at the
/// defaults takes minutes; the first seconds already tell the story). Second: quit at once.
fn watch_ctrl_c(stop: run::StopSignal) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!(
            "\nstopping: no new requests, reporting what was sent (Ctrl-C again quits at once)"
        );
        stop.stop();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
}

/// One line about the server before the run, and a warning when the model says the run will
/// mostly time out (stage 4 with the default 5000 requests needs over 40 minutes).
fn preflight(before: &Result<ServerStats, String>, load: &Load, config: &LoadConfig) {
    let Ok(stats) = before else {
        return;
    };
    let bound = stress_client::model::bound(stats, load.distinct_users());
    match &bound {
        Some(bound) => eprintln!(
            "server: stage {} ({}), model {:.1} jobs/s = {}",
            stats.stage, stats.name, bound.jobs_per_sec, bound.formula
        ),
        None => eprintln!("server: stage {} ({})", stats.stage, stats.name),
    }
    if let (Some(bound), None) = (&bound, stats.capacity) {
        let needed = load.len() as f64 / bound.jobs_per_sec;
        let per_request = config.concurrency.get() as f64 / bound.jobs_per_sec;
        if per_request > config.timeout.as_secs_f64() {
            eprintln!(
                "note: without a queue every request waits its turn: {} requests need about {needed:.0} s and most will time out after {:?} (try --requests {} --concurrency {})",
                load.len(),
                config.timeout,
                (bound.jobs_per_sec * 10.0).ceil(),
                stress_client::model::concurrency_within_timeout(
                    bound.jobs_per_sec,
                    config.timeout.as_secs_f64()
                )
            );
        }
    }
}

async fn post_command(args: PostArgs) -> Result<ExitCode, String> {
    let target = Target::resolve(&args.url).await?;
    let event = stress_client::load::Event {
        user: args.user,
        action: args.action,
        amount: args.amount,
    };
    match stress_client::post::post_event(&target, &event, args.timeout.0).await {
        Ok(answer) => {
            outln!("{}", answer.status_line());
            outln!("{}", answer.body);
            Ok(exit_code(answer.accepted()))
        }
        Err(reason) => {
            eprintln!("error: {reason}");
            Ok(ExitCode::from(EXIT_FAILED))
        }
    }
}

/// The stage catalogue, for a learner (a table) or a script (`--json`), so neither keeps
/// a list of its own.
fn stages_command(args: &StagesArgs) -> ExitCode {
    use stress_client::catalogue::STAGES;
    if args.json {
        let stages: Vec<serde_json::Value> = STAGES
            .iter()
            .map(|stage| {
                serde_json::json!({
                    "number": stage.number,
                    "package": stage.package,
                    "folder": stage.folder,
                    "port": stage.default_port(),
                    "lesson": stage.lesson,
                    "has_stats": stage.has_stats(),
                })
            })
            .collect();
        outln!("{}", serde_json::Value::Array(stages));
        return ExitCode::SUCCESS;
    }
    let mut table = report::new_table(std::io::stdout().is_terminal());
    // Headers kept short so the Markdown form fits 120 columns too.
    table.set_header(vec!["#", "package", "folder", "port", "stats", "lesson"]);
    for stage in &STAGES {
        table.add_row(vec![
            stage.number.to_string(),
            stage.package.to_string(),
            stage.folder.to_string(),
            stage.default_port().to_string(),
            if stage.has_stats() { "yes" } else { "no" }.to_string(),
            stage.lesson.to_string(),
        ]);
    }
    outln!("{table}");
    ExitCode::SUCCESS
}

async fn watch_command(args: WatchArgs) -> Result<ExitCode, String> {
    let options = stress_client::watch::WatchOptions {
        url: args.url,
        interval: args.interval.0,
        count: args.count,
    };
    match stress_client::watch::watch(&options).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(stress_client::watch::WatchFailure::Usage(message)) => Err(message),
        Err(stress_client::watch::WatchFailure::NeverAnswered(message)) => {
            eprintln!("error: {message}");
            Ok(ExitCode::from(EXIT_FAILED))
        }
    }
}

async fn compare_command(args: CompareArgs) -> Result<ExitCode, String> {
    let options = compare::CompareOptions {
        stages: args.stages.map(|list| list.0),
        variants: args.variant,
        sweep: args.sweep,
        quick: args.quick,
        requests: args.requests,
        concurrency: args.concurrency,
        users: args.users,
        seed: args.seed,
        bin_dir: args.bin_dir,
        progress: !args.quiet && std::io::stderr().is_terminal(),
    };
    let report = compare::run_compare(&options).await?;
    let terminal = std::io::stdout().is_terminal();
    out!("{}", compare::render::render_text(&report, terminal));
    let invocation = invocation();
    let mut write_failures = Vec::new();
    if let Some(path) = &args.markdown {
        let markdown = compare::render::render_markdown(&report, &invocation);
        if let Err(e) = std::fs::write(path, markdown) {
            write_failures.push(format!("cannot write {}: {e}", path.display()));
        }
    }
    if let Some(path) = &args.json {
        let document = compare::render::json_document(&report, &invocation);
        if let Err(e) = report::write_json(path, &document) {
            write_failures.push(e);
        }
    }
    if let Some(path) = &args.svg {
        if let Err(e) = compare::chart::write_svg(path, &report) {
            write_failures.push(e);
        }
    }
    for failure in &write_failures {
        eprintln!("error: {failure}");
    }
    Ok(exit_code(report.ok() && write_failures.is_empty()))
}

/// The command line as typed, for the heading of the Markdown and JSON files.
fn invocation() -> String {
    let mut words: Vec<String> = vec!["stress-client".into()];
    words.extend(std::env::args().skip(1).map(|arg| {
        if arg.contains(char::is_whitespace) {
            format!("{arg:?}")
        } else {
            arg
        }
    }));
    words.join(" ")
}

async fn garbage_command(args: GarbageArgs) -> Result<ExitCode, String> {
    let target = Target::resolve(&args.url).await?;
    let report = garbage::run_all(&target, args.timeout.0, Some(args.slow_reader_wait.0)).await;
    let terminal = std::io::stdout().is_terminal();
    let heading = format!(
        "stress-client garbage http://{}{}",
        target.host_header, target.events_path
    );
    if args.quiet {
        outln!(
            "{} cases: {} as specified, {} hung; {}; {}",
            report.cases.len(),
            report.count(garbage::CaseVerdict::Matches),
            report.count(garbage::CaseVerdict::Hung),
            report.slow_reader,
            report.final_request
        );
    } else {
        out!("{}", garbage::render(&report, &heading, terminal));
    }
    if let Some(path) = &args.json {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            url: &'a str,
            report: &'a garbage::GarbageReport,
        }
        let body = Body {
            url: &args.url,
            report: &report,
        };
        let invocation = invocation();
        let document = JsonEnvelope::new("garbage", &invocation, !report.failed(), body);
        report::write_json(path, &document)?;
    }
    Ok(exit_code(!report.failed()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use stress_client::duration;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_duration_flag_states_the_grammar() {
        let mut command = Cli::command();
        command.build();
        for sub in command.get_subcommands() {
            for arg in sub.get_arguments() {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                let is_duration = ["timeout", "interval", "wait"]
                    .iter()
                    .any(|word| arg.get_id().as_str().contains(word));
                if is_duration {
                    assert!(
                        help.contains(duration::GRAMMAR_HELP),
                        "{} --{}: {help}",
                        sub.get_name(),
                        arg.get_id()
                    );
                }
            }
        }
    }

    #[test]
    fn counts_refuse_zero_with_an_example() {
        assert!(parse_count("0").is_err_and(|e| e.contains("at least 1")));
        assert!(parse_connections("100001").is_err());
        assert_eq!(parse_connections("200").map(NonZeroUsize::get), Ok(200));
    }

    #[test]
    fn close_and_keep_alive_override_each_other() {
        let parsed = Cli::try_parse_from(["stress-client", "run", "http://x:1", "--close"])
            .expect("valid flags");
        let Command::Run(args) = parsed.command else {
            panic!("run expected")
        };
        assert!(args.close);
        let parsed = Cli::try_parse_from([
            "stress-client",
            "run",
            "http://x:1",
            "--close",
            "--keep-alive",
        ])
        .expect("valid flags");
        let Command::Run(args) = parsed.command else {
            panic!("run expected")
        };
        assert!(!args.close);
    }
}
