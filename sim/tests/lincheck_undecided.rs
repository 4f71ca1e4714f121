//! Simulator histories the checker once left undecided within the simulator's step budget
//! (testdata/undecided/): decided now, thanks to client order, and then to the search's
//! candidate orders and dominance test, and then to leaving out unobserved unknown outcomes.

use std::path::PathBuf;

use quorate_sim::lincheck::{check, Budget, History, Kv, KvInput, KvOutput, Model, Operation, Verdict};

mod kv_variants;

use kv_variants::KvWith;

/// The kv model keeping every operation and without its doom test, to show what client
/// order alone gains.
const KV_KEEPING_ALL: KvWith = KvWith { droppable: false, doom: false };

/// How many operations [`Kv`] leaves out of a history.
fn dropped(history: &History<KvInput, KvOutput>) -> usize {
    let ops: Vec<&Operation<KvInput, KvOutput>> = history.operations().iter().collect();
    Kv::default().droppable(&ops).iter().filter(|d| **d).count()
}

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
        // Without client order (and without dropping unobserved operations, which decides
        // it too), the same search runs out of budget.
        history.set_clients_in_order(false);
        let result = check(&KV_KEEPING_ALL, &history, &Budget::steps(STEPS / 10));
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

/// Swarm histories (seeds 419, 559, 1015, 2265, 2466, 2961, 3032 of the simulator at
/// 6ca2ea3) left `unknown` within the budget until the search left out the unknown
/// outcomes nobody observed ([`Model::droppable`](quorate_sim::lincheck::Model::droppable)):
/// placing one wrongly made a state doomed only at a read's return, well after it.
#[test]
fn swarm_histories_with_unobserved_abandoned_operations_are_decided() {
    for seed in [419, 559, 1015, 2265, 2466, 2961, 3032] {
        let name = format!("swarm3-{seed}.json");
        let history = load(&name);
        assert!(dropped(&history) >= 7, "{name}: {} dropped", dropped(&history));
        let result = check(&Kv::default(), &history, &Budget::steps(STEPS));
        assert_eq!(result.verdict, Verdict::Linearizable, "{name}: {:?}", result.stats);
        // Well within: an eighth of the budget.
        assert!(result.stats.steps < STEPS / 8, "{name}: {} steps", result.stats.steps);
    }
    // Keeping every operation, the search runs out of a quarter of the budget (of all of
    // it too, but that takes long in a debug build), where it now needs 73,000 steps.
    let history = load("swarm3-419.json");
    let result = check(&KV_KEEPING_ALL, &history, &Budget::steps(STEPS / 4));
    assert!(matches!(result.verdict, Verdict::Unknown(_)), "keeping all: {:?}", result.verdict);
}

/// Swarm histories (seeds 191, 2577, 4976, 5661, 7968 of the simulator at e44abd5; 28 of
/// seeds 0..10000 ended `unknown`) decided since the kv model's doom test
/// ([`Model::doom_test`]) fails a node whose state no later operation can turn into a value
/// an unplaced get returned (a put's text once overwritten, an order of appends a read
/// contradicts, an empty key once written), and since a failed `cas ""` that returned
/// after a successful write no longer keeps every abandoned write (13 of seed 2577's 20
/// are dropped now).
#[test]
fn swarm_histories_with_doomed_states_are_decided() {
    for seed in [191, 2577, 4976, 5661, 7968] {
        let name = format!("swarm4-{seed}.json");
        let history = load(&name);
        let result = check(&Kv::default(), &history, &Budget::steps(STEPS));
        assert_eq!(result.verdict, Verdict::Linearizable, "{name}: {:?}", result.stats);
        assert!(result.stats.steps < STEPS / 8, "{name}: {} steps", result.stats.steps);
        assert!(result.stats.doomed > 0, "{name}: the doom test never fired");
    }
    let dropped_2577 = dropped(&load("swarm4-2577.json"));
    assert!(dropped_2577 >= 13, "{dropped_2577} of the abandoned operations of seed 2577 dropped");
    // Without the doom test (and without dropping), the search runs out of a tenth of the
    // budget on the longest two.
    for name in ["swarm4-191.json", "swarm4-7968.json"] {
        let result = check(&KV_KEEPING_ALL, &load(name), &Budget::steps(STEPS / 10));
        assert!(matches!(result.verdict, Verdict::Unknown(_)), "{name} keeping all: {:?}", result.verdict);
    }
}
