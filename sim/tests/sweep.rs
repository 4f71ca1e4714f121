//! Seed sweeps in `cargo test`: every scenario over a range of seeds, with every safety
//! checker on, the history checked for linearizability, and a liveness phase at the end.
//!
//! `QUORATE_SEEDS=N` runs N seeds per scenario (default 400, so 2,000 in all);
//! `QUORATE_SEED=S` runs exactly seed S (in every scenario, or in `QUORATE_SCENARIO`).

use quorate_sim::scenario::Scenario;
use quorate_sim::sweep::{replay_command, run_seed};
use quorate_sim::world::RunConfig;

const DEFAULT_SEEDS_PER_SCENARIO: u64 = 400;

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("QUORATE_SEED") {
        return vec![seed.trim().parse().expect("QUORATE_SEED must be a u64")];
    }
    let count = std::env::var("QUORATE_SEEDS")
        .map(|n| n.trim().parse().expect("QUORATE_SEEDS must be a number"))
        .unwrap_or(DEFAULT_SEEDS_PER_SCENARIO);
    (0..count).collect()
}

fn selected(scenario: Scenario) -> bool {
    match std::env::var("QUORATE_SCENARIO") {
        Ok(name) => name == scenario.name(),
        Err(_) => true,
    }
}

fn sweep(scenario: Scenario) {
    if !selected(scenario) {
        return;
    }
    let mut failures = Vec::new();
    let mut ops = 0;
    let mut installed = 0;
    let mut reads = [0u64; 4];
    let (mut transfers, mut fenced) = (0, 0);
    let mut alerts = quorate_sim::alerts::AlertCounts::default();
    let (mut reloads, mut failovers_healthy, mut placements) = (0, 0, 0);
    let seeds = seeds();
    for &seed in &seeds {
        let report = run_seed(&RunConfig::new(seed, scenario));
        ops += report.stats.ops;
        installed += report.stats.snapshots_installed;
        let s = &report.stats;
        transfers += s.transfers_completed;
        fenced += s.fenced_landed;
        alerts.add(&s.alerts);
        reloads += s.reloads;
        failovers_healthy += s.failovers_healthy;
        placements += s.placement_applied;
        for (total, n) in
            reads.iter_mut().zip([s.reads_log, s.reads_read_index, s.reads_lease, s.reads_follower])
        {
            *total += n;
        }
        assert!(
            report.stats.ops >= 200,
            "seed {seed} ({scenario}): {} client operations, fewer than 200",
            report.stats.ops
        );
        assert!(
            report.stats.virtual_ms >= 10_000,
            "seed {seed}: a run simulates at least 10 virtual seconds"
        );
        if let Some(failure) = report.failure {
            eprintln!(
                "FAILED seed {seed} ({scenario}): {failure}\n  replay: {}",
                replay_command(seed, scenario)
            );
            failures.push(seed);
        }
    }
    assert!(
        ops >= 200 * seeds.len() as u64,
        "{scenario}: at least 200 client operations per seed, got {ops}"
    );
    assert!(failures.is_empty(), "{scenario}: failing seeds {failures:?}");
    if seeds.len() >= 100 {
        // Nodes snapshot in most runs; followers that fall behind install the leader's.
        assert!(installed > 0, "{scenario}: no snapshot was installed in {} seeds", seeds.len());
        // Gets go through the log, by read index, from the lease and at followers (the
        // clock scenario's jumps leave it no lease).
        let [log, read_index, lease, follower] = reads;
        assert!(log > 0 && read_index > 0 && follower > 0, "{scenario}: reads by kind {reads:?}");
        assert!(
            lease > 0 || scenario == Scenario::Clock,
            "{scenario}: no lease read in {} seeds",
            seeds.len()
        );
        // Leaders write to the fenced store; runs with faults hand leadership over.
        assert!(fenced > 0, "{scenario}: no fenced write landed");
        assert!(transfers > 0 || scenario == Scenario::Basic, "{scenario}: no transfer completed");
        // Every node reports the leaders it learns of; failover elections are drawn in every
        // scenario, some while the leader is healthy (which they must not unseat).
        assert!(alerts.leader_changed > 0, "{scenario}: no LeaderChanged alert");
        assert!(failovers_healthy > 0, "{scenario}: no failover election against a healthy leader");
        if scenario != Scenario::Basic {
            // Faults make leaders report members failed and recovered, and lose quorums;
            // operators reload the dynamic configuration.
            assert!(
                alerts.node_failed > 0 && alerts.node_recovered > 0 && alerts.quorum_lost > 0,
                "{scenario}: alerts {alerts:?}"
            );
            assert!(reloads > 0, "{scenario}: no reload");
        }
        if scenario == Scenario::Swarm {
            assert!(placements > 0, "{scenario}: no placement move applied");
        }
        assert_eq!((alerts.false_alerts, alerts.missed_alerts), (0, 0), "{scenario}: {alerts:?}");
    }
}

#[test]
fn sweep_basic() {
    sweep(Scenario::Basic);
}

#[test]
fn sweep_partitions() {
    sweep(Scenario::Partitions);
}

#[test]
fn sweep_crashes() {
    sweep(Scenario::Crashes);
}

#[test]
fn sweep_clock() {
    sweep(Scenario::Clock);
}

#[test]
fn sweep_swarm() {
    sweep(Scenario::Swarm);
}

#[test]
fn sweep_membership() {
    sweep(Scenario::Membership);
}

#[test]
fn sweep_leases() {
    sweep(Scenario::Leases);
}
