//! The `quorate-sim` command line: sweep seeds, replay one, check histories.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use quorate_sim::lincheck::cli::LincheckArgs;
use quorate_sim::out;
use quorate_sim::output::Stdout;
use quorate_sim::report::FailureKind;
use quorate_sim::scenario::Scenario;
use quorate_sim::sweep::{replay_command, scenario_for, sweep_until, SweepOptions};
use quorate_sim::world::{run, RunConfig, RunReport};
use std::io::IsTerminal;
use std::ops::Range;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// The most worker threads a sweep starts per core: each run is single-threaded and
/// CPU-bound, so more threads than this only add switching and memory.
const MAX_THREADS_PER_CORE: usize = 4;

/// How often a sweep whose standard error is not a terminal (a CI log) prints a progress line.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The exit code of an interrupted sweep (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// Set by the first Ctrl-C: the sweep starts no new seed.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Quorate's deterministic simulator and checkers.
#[derive(Parser)]
#[command(name = "quorate-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a range of seeds and summarize; exit 1 on any failure.
    Sweep {
        /// Seeds as A..B (B excluded).
        #[arg(long, value_parser = parse_range)]
        seeds: Range<u64>,
        /// Run every seed in this scenario (default: seeds cycle through all scenarios).
        #[arg(long)]
        scenario: Option<Scenario>,
        /// Worker threads, at least 1 (default: one per core; at most 4 per core).
        #[arg(long, value_parser = parse_threads)]
        threads: Option<usize>,
        /// Run each seed twice and require identical trace hashes.
        #[arg(long)]
        check_determinism: bool,
        /// Stop starting new seeds after the first failure.
        #[arg(long)]
        fail_fast: bool,
    },
    /// Run one seed with a readable trace.
    Replay {
        /// The seed.
        #[arg(long)]
        seed: u64,
        /// The scenario (default: the one a sweep gives this seed).
        #[arg(long)]
        scenario: Option<Scenario>,
        /// Print only the summary, not the trace.
        #[arg(long)]
        quiet: bool,
        /// Write an HTML timeline of the run to this file.
        #[arg(long)]
        html: Option<std::path::PathBuf>,
        /// Write the clients' history (JSON history format, for `lincheck`) to this file.
        #[arg(long)]
        history: Option<std::path::PathBuf>,
        /// Also print the engine's own tracing events, in a span per node with virtual time.
        #[arg(long)]
        engine_log: bool,
    },
    /// Check client histories for linearizability: one line a file.
    Lincheck(LincheckArgs),
}

fn parse_range(text: &str) -> Result<Range<u64>, String> {
    let (a, b) = text.split_once("..").ok_or_else(|| format!("expected A..B, got {text:?}"))?;
    let a: u64 = a.trim().parse().map_err(|e| format!("bad start {a:?}: {e}"))?;
    let b: u64 = b.trim().parse().map_err(|e| format!("bad end {b:?}: {e}"))?;
    if a >= b {
        return Err(format!("empty range {a}..{b}"));
    }
    Ok(a..b)
}

fn parse_threads(text: &str) -> Result<usize, String> {
    let threads: usize = text.trim().parse().map_err(|e| format!("bad thread count {text:?}: {e}"))?;
    if threads == 0 {
        return Err("must be at least 1 (omit --threads for one thread per core)".into());
    }
    Ok(threads)
}

/// The number of cores this process may use.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The worker threads a sweep of `seeds` seeds uses: one per core unless asked otherwise,
/// at most [`MAX_THREADS_PER_CORE`] per core (saying so when it cuts a request), and never more
/// than there are seeds.
fn sweep_threads(requested: Option<usize>, seeds: u64) -> usize {
    let cores = cores();
    let limit = MAX_THREADS_PER_CORE * cores;
    let threads = match requested {
        None => cores,
        Some(n) if n > limit => {
            eprintln!(
                "--threads {n}: more than {MAX_THREADS_PER_CORE} per core ({cores} cores), using {limit}"
            );
            limit
        }
        Some(n) => n,
    };
    threads.min(usize::try_from(seeds).unwrap_or(usize::MAX)).max(1)
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Sweep { seeds, scenario, threads, check_determinism, fail_fast } => {
            let threads = sweep_threads(threads, seeds.end - seeds.start);
            run_sweep(SweepOptions { seeds, scenario, threads, check_determinism, fail_fast })
        }
        Command::Lincheck(args) => quorate_sim::lincheck::cli::run(&args),
        Command::Replay { seed, scenario, quiet, html, history, engine_log } => {
            if engine_log {
                tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::DEBUG)
                    .without_time()
                    .with_target(false)
                    .with_writer(|| Stdout)
                    .init();
            }
            replay(seed, scenario.unwrap_or_else(|| scenario_for(seed)), quiet, html, history)
        }
    }
}

/// Installs the Ctrl-C handler of a sweep: the first Ctrl-C sets [`INTERRUPTED`] (no new seed
/// starts, the summary so far is printed, exit 130); a second one exits at once.
#[cfg(unix)]
fn handle_ctrl_c() {
    extern "C" fn on_sigint(_: libc::c_int) {
        // Only async-signal-safe calls here: an atomic swap, write(2) and _exit(2).
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            // SAFETY: _exit is async-signal-safe and takes no pointers.
            unsafe { libc::_exit(i32::from(EXIT_INTERRUPTED)) }
        }
        let note =
            b"\ninterrupted: finishing the seeds under way, then the summary (Ctrl-C again to quit now)\n";
        // SAFETY: write(2) is async-signal-safe; the buffer is a static byte string of that length.
        unsafe {
            libc::write(2, note.as_ptr().cast(), note.len());
        }
    }
    // SAFETY: installs a handler that only makes async-signal-safe calls.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
}

/// Ctrl-C keeps its default meaning where there is no `signal(2)`.
#[cfg(not(unix))]
fn handle_ctrl_c() {}

/// `90` as `1m 30s`: a rough duration for progress lines.
fn rough_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// One progress line for logs: `progress: 1200/100000 seeds (1.2%), 0 failed, 240 seeds/s,
/// about 6m 52s left`.
fn progress_line(done: u64, total: u64, failed: u64, elapsed: f64) -> String {
    let percent = done as f64 * 100.0 / total.max(1) as f64;
    let rate = done as f64 / elapsed.max(1e-9);
    let left = if done == 0 {
        "time left unknown yet".to_string()
    } else {
        format!("about {} left", rough_duration((total - done) as f64 / rate))
    };
    format!("progress: {done}/{total} seeds ({percent:.1}%), {failed} failed, {rate:.0} seeds/s, {left}")
}

// Wall-clock time is measured here, in the CLI, only to report speed and time left; it never
// reaches a run.
#[allow(clippy::disallowed_methods)]
fn run_sweep(options: SweepOptions) -> ExitCode {
    let count = options.seeds.end - options.seeds.start;
    // On a terminal a progress bar; elsewhere (CI logs) a progress line every few seconds.
    let terminal = std::io::stderr().is_terminal();
    let bar = if terminal { ProgressBar::new(count) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds  {elapsed_precise}  eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    std::panic::set_hook(Box::new(|_| {}));
    handle_ctrl_c();
    let done = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let on_done = |report: &RunReport| {
        if let Some(f) = &report.failure {
            let line = format!("seed {} ({}) FAILED: {f}", report.seed, report.scenario);
            if terminal {
                bar.println(line);
            } else {
                eprintln!("{line}");
            }
            let failed = failed.fetch_add(1, Ordering::SeqCst) + 1;
            bar.set_message(format!("{failed} failed"));
        }
        if INTERRUPTED.load(Ordering::SeqCst) {
            bar.set_message("interrupted: finishing the seeds under way");
        }
        done.fetch_add(1, Ordering::SeqCst);
        bar.inc(1);
    };
    let started = std::time::Instant::now();
    let (finished, finished_rx) = mpsc::channel::<()>();
    let summary = std::thread::scope(|scope| {
        if !terminal {
            let (done, failed) = (&done, &failed);
            scope.spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = finished_rx.recv_timeout(PROGRESS_EVERY) {
                    let line = progress_line(
                        done.load(Ordering::SeqCst),
                        count,
                        failed.load(Ordering::SeqCst),
                        started.elapsed().as_secs_f64(),
                    );
                    eprintln!("{line}");
                }
            });
        }
        let summary = sweep_until(&options, &INTERRUPTED, &on_done);
        drop(finished);
        summary
    });
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let s = &summary.stats;
    if summary.interrupted {
        out!(
            "interrupted:      by Ctrl-C after {} of {} seeds; the summary covers only those",
            summary.runs,
            count
        );
    }
    out!(
        "seeds:            {} ({})",
        summary.runs,
        options.scenario.map_or("all scenarios".into(), |s| s.to_string())
    );
    out!(
        "events:           {} ({:.0} events/s on {} threads)",
        s.events,
        s.events as f64 / wall,
        options.threads
    );
    out!(
        "virtual time:     {:.0} s ({:.0} virtual s per wall s)",
        s.virtual_ms as f64 / 1000.0,
        s.virtual_ms as f64 / 1000.0 / wall
    );
    out!(
        "messages:         {} sent, {} delivered, {} dropped, {} duplicated, {} held up",
        s.sent,
        s.delivered,
        s.dropped,
        s.duplicated,
        s.slowed
    );
    out!("client ops:       {} invoked, {} completed, {} abandoned", s.ops, s.completed, s.abandoned);
    let f = s.faults;
    out!(
        "faults:           {} partitions, {} crashes, {} restarts, {} pauses, {} clock jumps, {} bytes lost or torn, {} failed log reads",
        f.partitions, f.crashes, f.restarts, f.pauses, f.clock_jumps, s.lost_bytes, s.failed_reads
    );
    out!(
        "snapshots:        {} taken, {} installed from a leader, {} chunks sent",
        s.snapshots_taken,
        s.snapshots_installed,
        s.snapshot_chunks
    );
    out!(
        "membership:       {} changes asked ({} refused), {} completed; {} nodes added, {} removed",
        s.membership_proposed,
        s.membership_refused,
        s.membership_completed,
        s.nodes_added,
        s.nodes_removed
    );
    out!(
        "reads:            {} through the log, {} by read index, {} from the lease, {} at followers; {} failed and retried",
        s.reads_log,
        s.reads_read_index,
        s.reads_lease,
        s.reads_follower,
        s.reads_failed
    );
    out!("transfers:        {} asked, {} completed", s.transfers, s.transfers_completed);
    out!(
        "fencing:          {} leader writes landed, {} refused (a token below the highest seen)",
        s.fenced_landed,
        s.fenced_refused
    );
    let a = s.alerts;
    out!(
        "alerts:           {} leader changes, {} nodes failed, {} recovered, {} quorums lost, {} slow replication; {} false, {} missed",
        a.leader_changed,
        a.node_failed,
        a.node_recovered,
        a.quorum_lost,
        a.slow_replication,
        a.false_alerts,
        a.missed_alerts
    );
    out!(
        "operations:       {} reloads ({} node reloads corrected), {} failover elections ({} with a healthy leader), {} placement moves planned, {} applied",
        s.reloads,
        s.reloads_corrected,
        s.failovers,
        s.failovers_healthy,
        s.placement_planned,
        s.placement_applied
    );
    let by_kind: Vec<String> = FailureKind::ALL
        .iter()
        .map(|k| format!("{} {k}", summary.failures.iter().filter(|x| x.failure.kind == *k).count()))
        .collect();
    out!("failures:         {} ({})", summary.failures.len(), by_kind.join(", "));
    out!("lincheck unknown: {} histories undecided within the step budget", s.lincheck_unknown);
    if let Some(line) = summary.undecided_line() {
        out!("{line}");
    }
    if options.check_determinism {
        out!("nondeterministic: {} seeds {:?}", summary.nondeterministic.len(), summary.nondeterministic);
    }
    out!("wall time:        {wall:.1} s");
    for f in &summary.failures {
        out!("FAILED seed {} ({}): {}", f.seed, f.scenario, f.failure);
        out!("  replay: {}", replay_command(f.seed, f.scenario));
    }
    if summary.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if summary.failures.is_empty() && summary.nondeterministic.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn replay(
    seed: u64,
    scenario: Scenario,
    quiet: bool,
    html: Option<std::path::PathBuf>,
    history: Option<std::path::PathBuf>,
) -> ExitCode {
    let mut config = RunConfig::new(seed, scenario);
    config.verbose = true;
    config.echo = !quiet;
    let report = run(&config);
    if let Some(path) = html {
        if let Err(err) = std::fs::write(&path, quorate_sim::timeline::page(&report)) {
            eprintln!("cannot write {}: {err}", path.display());
            return ExitCode::from(2);
        }
        out!("timeline written to {}", path.display());
    }
    if let Some(path) = history {
        if let Err(err) = std::fs::write(&path, report.history.to_lincheck().to_json()) {
            eprintln!("cannot write {}: {err}", path.display());
            return ExitCode::from(2);
        }
        out!("history written to {}", path.display());
    }
    let s = &report.stats;
    out!("seed {seed} scenario {scenario}: {}", report.params);
    out!(
        "{} events, {} virtual ms, {} ops ({} completed), trace hash {:016x}",
        s.events,
        s.virtual_ms,
        s.ops,
        s.completed,
        report.trace_hash
    );
    match &report.failure {
        None => {
            out!("result: ok");
            ExitCode::SUCCESS
        }
        Some(f) => {
            out!("result: {f}");
            out!("replay: {}", replay_command(seed, scenario));
            ExitCode::from(f.kind.exit_code())
        }
    }
}
