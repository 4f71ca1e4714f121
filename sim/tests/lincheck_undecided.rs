//! Simulator histories the checker once left undecided within the simulator's step budget
//! (testdata/undecided/): decided now, thanks to client order, and then to the search's
//! candidate orders and dominance test.

use std::path::PathBuf;

use quorate_sim::lincheck::{check, Budget, History, Kv, KvInput, KvOutput, Verdict};

/// The simulator's budget (`RunConfig::new`'s `lincheck_steps`).
const STEPS: u64 = 10_000_000;

fn load(name: &str) -> History<KvInput, KvOutput> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/undecided").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    History::from_json(&text, name).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn formerly_undecided_histories_are_decided_within_the_budget() {
    for name in ["swarm-12.json", "swarm-350.json", "swarm-2395.json"] {
        let mut history = load(name);
        assert!(history.clients_in_order(), "{name} declares client order");
        let result = check(&Kv::default(), &history, &Budget::steps(STEPS));
        assert_eq!(result.verdict, Verdict::Linearizable, "{name}: {:?}", result.stats);
        // Well within: a quarter of the budget.
        assert!(result.stats.steps < STEPS / 4, "{name}: {} steps", result.stats.steps);
        // Without client order, the same search runs out of budget.
        history.set_clients_in_order(false);
        let result = check(&Kv::default(), &history, &Budget::steps(STEPS / 10));
        assert!(
            matches!(result.verdict, Verdict::Unknown(_)),
            "{name} without client order: {:?}",
            result.verdict
        );
    }
}

/// Swarm histories (seeds 52, 108, 367, 520, 1178, 1287, 1396, 2625 of the simulator
/// as it was in 2445126) that the search left `unknown` within the budget even with client
/// order, before it tried known operations first, restarted in the other order, and
/// skipped nodes dominated by failed ones.
#[test]
fn swarm_histories_with_many_abandoned_operations_are_decided() {
    for seed in [52, 108, 367, 520, 1178, 1287, 1396, 2625] {
        let name = format!("swarm2-{seed}.json");
        let history = load(&name);
        let result = check(&Kv::default(), &history, &Budget::steps(STEPS));
        assert_eq!(result.verdict, Verdict::Linearizable, "{name}: {:?}", result.stats);
    }
}
