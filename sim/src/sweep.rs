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
    /// Seeds with a history the linearizability checker left undecided, in seed order.
    pub undecided: Vec<UndecidedSeed>,
    /// The sweep was interrupted (Ctrl-C) before every seed ran: the summary covers the seeds
    /// that finished.
    pub interrupted: bool,
}

/// A seed with histories the linearizability checker could not decide within its budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UndecidedSeed {
    /// The seed.
    pub seed: u64,
    /// Its scenario.
    pub scenario: Scenario,
    /// How many of its histories were left undecided.
    pub histories: u64,
}

/// How many undecided seeds the summary names before "and N more".
pub const UNDECIDED_SHOWN: usize = 20;

impl SweepSummary {
    /// The summary line naming the seeds the linearizability checker left undecided, the first
    /// [`UNDECIDED_SHOWN`] of them then "and N more"; `None` if there are none.
    pub fn undecided_line(&self) -> Option<String> {
        if self.undecided.is_empty() {
            return None;
        }
        let named: Vec<String> = self
            .undecided
            .iter()
            .take(UNDECIDED_SHOWN)
            .map(|u| format!("{} ({})", u.seed, u.scenario))
            .collect();
        let mut line = format!("undecided seeds:  {}", named.join(", "));
        if self.undecided.len() > UNDECIDED_SHOWN {
            line.push_str(&format!(" and {} more", self.undecided.len() - UNDECIDED_SHOWN));
        }
        Some(line)
    }
}

/// Runs the sweep; `on_done` is called after each seed (for a progress bar).
pub fn sweep(options: &SweepOptions, on_done: &(dyn Fn(&RunReport) + Sync)) -> SweepSummary {
    sweep_until(options, &AtomicBool::new(false), on_done)
}

/// Runs the sweep like [`sweep`] until `interrupt` is set (by a Ctrl-C handler, say): from
/// then on no new seed starts, the runs under way finish, and the summary, covering the seeds
/// that ran, is marked [`SweepSummary::interrupted`] if any seed was left out.
pub fn sweep_until(
    options: &SweepOptions,
    interrupt: &AtomicBool,
    on_done: &(dyn Fn(&RunReport) + Sync),
) -> SweepSummary {
    let next = AtomicU64::new(options.seeds.start);
    let stop = AtomicBool::new(false);
    let summary = Mutex::new(SweepSummary::default());
    std::thread::scope(|scope| {
        for _ in 0..options.threads.max(1) {
            scope.spawn(|| loop {
                if stop.load(Ordering::SeqCst) || interrupt.load(Ordering::SeqCst) {
                    return;
                }
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= options.seeds.end {
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
    summary.undecided.sort_by_key(|u| u.seed);
    summary.interrupted =
        interrupt.load(Ordering::SeqCst) && summary.runs < options.seeds.end - options.seeds.start;
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
    if report.stats.lincheck_unknown > 0 {
        summary.undecided.push(UndecidedSeed {
            seed: report.seed,
            scenario: report.scenario,
            histories: report.stats.lincheck_unknown,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn undecided(seeds: impl IntoIterator<Item = u64>) -> SweepSummary {
        SweepSummary {
            undecided: seeds
                .into_iter()
                .map(|seed| UndecidedSeed { seed, scenario: scenario_for(seed), histories: 1 })
                .collect(),
            ..SweepSummary::default()
        }
    }

    #[test]
    fn a_seed_with_an_undecided_history_is_recorded() {
        let mut report = run_seed(&RunConfig::new(1, Scenario::Basic));
        report.stats.lincheck_unknown = 2;
        let mut summary = SweepSummary::default();
        record(&mut summary, &report, false);
        report.stats.lincheck_unknown = 0;
        record(&mut summary, &report, false);
        assert_eq!(
            summary.undecided,
            vec![UndecidedSeed { seed: 1, scenario: Scenario::Basic, histories: 2 }]
        );
    }

    #[test]
    fn no_undecided_seeds_no_line() {
        assert_eq!(SweepSummary::default().undecided_line(), None);
    }

    #[test]
    fn undecided_seeds_are_named_with_their_scenario() {
        let summary = undecided([3, 7]);
        assert_eq!(
            summary.undecided_line().as_deref(),
            Some(format!("undecided seeds:  3 ({}), 7 ({})", scenario_for(3), scenario_for(7)).as_str())
        );
    }

    #[test]
    fn undecided_seeds_beyond_the_bound_are_counted() {
        let summary = undecided(0..UNDECIDED_SHOWN as u64 + 5);
        let line = summary.undecided_line().unwrap();
        assert!(
            line.ends_with(&format!(
                "{} ({}) and 5 more",
                UNDECIDED_SHOWN - 1,
                scenario_for(UNDECIDED_SHOWN as u64 - 1)
            )),
            "{line}"
        );
        assert_eq!(line.matches(" (").count(), UNDECIDED_SHOWN, "{line}");
    }
}
