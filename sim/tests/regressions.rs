//! Seeds that once failed, kept so the bug they found stays fixed. Each entry says what it
//! found. Run one alone with `QUORATE_SEED=<seed> QUORATE_SCENARIO=<name> cargo test -p
//! quorate-sim --test sweep`. (Bugs injected on purpose to test the simulator are kept as
//! patches in scripts/bugs/ and hunted by scripts/bughunt.sh.)

use quorate_sim::scenario::Scenario;
use quorate_sim::sweep::run_seed;
use quorate_sim::world::RunConfig;

/// (seed, scenario, what it found)
const REGRESSIONS: &[(u64, Scenario, &str)] = &[
    (
        27,
        Scenario::Crashes,
        "single-node cluster: a crash lost the unsynced hard state and entries of term 1, the node \
         was elected in term 1 again and wrote a different entry 2/1; the log-matching checker \
         recorded entries before they were durable or sent and flagged it (checker fixed: an \
         entry that never left a node's memory is not a fact about the cluster)",
    ),
    (
        5902,
        Scenario::Crashes,
        "a candidate of term 5 was paused with its winning vote in flight; meanwhile term 6 \
         elected a leader and committed entries; on resuming it became a (stale, legitimate) \
         leader of term 5, and the leader-completeness checker wrongly demanded the term-6 \
         entries (checker fixed: only entries committed in earlier terms count)",
    ),
];

#[test]
fn regression_seeds_pass() {
    for &(seed, scenario, what) in REGRESSIONS {
        let report = run_seed(&RunConfig::new(seed, scenario));
        assert!(
            report.failure.is_none(),
            "seed {seed} ({scenario}) regressed: {:?}\nit found: {what}",
            report.failure
        );
        assert!(report.stats.ops > 0, "seed {seed} ran a workload");
    }
}
