//! Running many seeds: each run on one thread, runs spread over the machine's cores. Threads
//! live here, outside any simulated run; a run itself never sees them.

use crate::report::{Failure, FailureKind, Stats};
use crate::scenario::Scenario;
use crate::world::{run, RunConfig, RunReport};
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// The scenario a seed runs in when none is named: the seeds cycle through all of them.
pub fn scenario_for(seed: u64) -> Scenario {
    Scenario::ALL[(seed % Scenario::ALL.len() as u64) as usize]
}

/// The exact command that replays a seed.
pub fn replay_command(seed: u64, scenario: Scenario) -> String {
    format!("cargo run --release -p quorate-sim -- replay --seed {seed} --scenario {scenario}")
}

/// Runs one seed, turning a panic into a [`FailureKind::Panic`] failure.
pub fn run_seed(config: &RunConfig) -> RunReport {
    match catch_unwind(AssertUnwindSafe(|| run(config))) {
        Ok(report) => report,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic with a non-string payload".into());
            let mut rng = crate::rng::rng_for(config.seed);
            RunReport {
                seed: config.seed,
                scenario: config.scenario,
                params: crate::scenario::Params::draw(config.scenario, &mut rng),
                failure: Some(Failure { kind: FailureKind::Panic, message, at_ms: 0 }),
                stats: Stats::default(),
                trace_hash: 0,
                trace: Vec::new(),
                history: Default::default(),
                timeline: Vec::new(),
                nodes: Vec::new(),
            }
        }
    }
}

/// What to sweep.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// The seeds.
    pub seeds: Range<u64>,
    /// One scenario for every seed, or `None` to cycle through all of them.
    pub scenario: Option<Scenario>,
    /// Worker threads.
    pub threads: usize,
    /// Run every seed twice and compare trace hashes.
    pub check_determinism: bool,
    /// Stop starting new seeds after the first failure.
    pub fail_fast: bool,
}

/// One failing seed.
#[derive(Clone, Debug)]
pub struct SeedFailure {
    /// The seed.
    pub seed: u64,
    /// Its scenario.
    pub scenario: Scenario,
    /// What failed.
    pub failure: Failure,
}

/// The outcome of a sweep.
#[derive(Debug, Default)]
pub struct SweepSummary {
    /// Seeds run.
    pub runs: u64,
    /// Summed counters.
    pub stats: Stats,
    /// Failing seeds, in seed order.
    pub failures: Vec<SeedFailure>,
    /// Seeds whose two runs hashed differently (with `check_determinism`).
    pub nondeterministic: Vec<u64>,
}

/// Runs the sweep; `on_done` is called after each seed (for a progress bar).
pub fn sweep(options: &SweepOptions, on_done: &(dyn Fn(&RunReport) + Sync)) -> SweepSummary {
    let next = AtomicU64::new(options.seeds.start);
    let stop = AtomicBool::new(false);
    let summary = Mutex::new(SweepSummary::default());
    std::thread::scope(|scope| {
        for _ in 0..options.threads.max(1) {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= options.seeds.end || stop.load(Ordering::SeqCst) {
                    return;
                }
                let scenario = options.scenario.unwrap_or_else(|| scenario_for(seed));
                let config = RunConfig::new(seed, scenario);
                let report = run_seed(&config);
                let nondeterministic =
                    options.check_determinism && run_seed(&config).trace_hash != report.trace_hash;
                if options.fail_fast && report.failure.is_some() {
                    stop.store(true, Ordering::SeqCst);
                }
                on_done(&report);
                let mut summary = summary.lock().unwrap_or_else(|e| e.into_inner());
                record(&mut summary, &report, nondeterministic);
            });
        }
    });
    let mut summary = summary.into_inner().unwrap_or_else(|e| e.into_inner());
    summary.failures.sort_by_key(|f| f.seed);
    summary.nondeterministic.sort_unstable();
    summary
}

fn record(summary: &mut SweepSummary, report: &RunReport, nondeterministic: bool) {
    summary.runs += 1;
    summary.stats.add(&report.stats);
    if let Some(failure) = &report.failure {
        summary.failures.push(SeedFailure {
            seed: report.seed,
            scenario: report.scenario,
            failure: failure.clone(),
        });
    }
    if nondeterministic {
        summary.nondeterministic.push(report.seed);
    }
}
