//! Determinism is itself checked: the same seed gives the same trace hash, in every scenario;
//! different seeds give different runs.

use quorate_sim::scenario::Scenario;
use quorate_sim::world::{run, RunConfig};

#[test]
fn same_seed_same_trace_hash() {
    for scenario in Scenario::ALL {
        for seed in [0, 1, 17, 4242, 99_999] {
            let a = run(&RunConfig::new(seed, scenario));
            let b = run(&RunConfig::new(seed, scenario));
            assert_eq!(a.trace_hash, b.trace_hash, "seed {seed} {scenario} is not deterministic");
            assert_eq!(a.stats, b.stats, "seed {seed} {scenario}: counters differ");
            assert_eq!(a.history, b.history, "seed {seed} {scenario}: histories differ");
        }
    }
}

#[test]
fn verbose_tracing_does_not_change_the_run() {
    let quiet = run(&RunConfig::new(7, Scenario::Swarm));
    let mut config = RunConfig::new(7, Scenario::Swarm);
    config.verbose = true;
    let loud = run(&config);
    assert_eq!(quiet.trace_hash, loud.trace_hash);
    assert!(!loud.trace.is_empty(), "a verbose run keeps its trace");
    assert!(quiet.trace.is_empty(), "a quiet run keeps no lines");
}

#[test]
fn different_seeds_differ() {
    let a = run(&RunConfig::new(1, Scenario::Swarm));
    let b = run(&RunConfig::new(2, Scenario::Swarm));
    assert_ne!(a.trace_hash, b.trace_hash);
}
