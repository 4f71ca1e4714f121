//! The `quorate-sim` command line: sweep seeds, replay one, check histories.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use quorate_sim::lincheck::cli::LincheckArgs;
use quorate_sim::out;
use quorate_sim::output::Stdout;
use quorate_sim::report::FailureKind;
use quorate_sim::scenario::Scenario;
use quorate_sim::sweep::{replay_command, scenario_for, sweep, SweepOptions};
use quorate_sim::world::{run, RunConfig};
use std::ops::Range;
use std::process::ExitCode;

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
        /// Worker threads (default: all cores).
        #[arg(long)]
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

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Sweep { seeds, scenario, threads, check_determinism, fail_fast } => {
            let threads =
                threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
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

// Wall-clock time is measured here, in the CLI, only to report speed; it never reaches a run.
#[allow(clippy::disallowed_methods)]
fn run_sweep(options: SweepOptions) -> ExitCode {
    let count = options.seeds.end - options.seeds.start;
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds  {elapsed_precise}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    std::panic::set_hook(Box::new(|_| {}));
    let started = std::time::Instant::now();
    let summary = sweep(&options, &|report| {
        if let Some(f) = &report.failure {
            bar.println(format!("seed {} ({}) FAILED: {f}", report.seed, report.scenario));
        }
        bar.inc(1);
    });
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let s = &summary.stats;
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
        "messages:         {} sent, {} delivered, {} dropped, {} duplicated",
        s.sent,
        s.delivered,
        s.dropped,
        s.duplicated
    );
    out!("client ops:       {} invoked, {} completed, {} abandoned", s.ops, s.completed, s.abandoned);
    let f = s.faults;
    out!(
        "faults:           {} partitions, {} crashes, {} restarts, {} pauses, {} clock jumps, {} bytes lost or torn",
        f.partitions, f.crashes, f.restarts, f.pauses, f.clock_jumps, s.lost_bytes
    );
    let by_kind: Vec<String> = FailureKind::ALL
        .iter()
        .map(|k| format!("{} {k}", summary.failures.iter().filter(|x| x.failure.kind == *k).count()))
        .collect();
    out!("failures:         {} ({})", summary.failures.len(), by_kind.join(", "));
    out!("lincheck unknown: {} histories undecided within the step budget", s.lincheck_unknown);
    if options.check_determinism {
        out!("nondeterministic: {} seeds {:?}", summary.nondeterministic.len(), summary.nondeterministic);
    }
    out!("wall time:        {wall:.1} s");
    for f in &summary.failures {
        out!("FAILED seed {} ({}): {}", f.seed, f.scenario, f.failure);
        out!("  replay: {}", replay_command(f.seed, f.scenario));
    }
    if summary.failures.is_empty() && summary.nondeterministic.is_empty() {
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
