//! The checker's cost on long histories, in deterministic units (steps, key words, words
//! scanned), never in wall-clock time: each step's cost must not grow with the history.

use quorate_sim::lincheck::{
    check, Budget, History, Outcome, Register, RegisterInput, RegisterOutput, Verdict,
};

/// A sequential register history of `n` operations: write i, then read it back, and so
/// on. With `open_write`, it starts with a write that never returns (a client crashed).
fn sequential(n: u64, open_write: bool) -> History<RegisterInput, RegisterOutput> {
    let mut history = History::new();
    if open_write {
        // Its value is never read, so it can only be placed "never", at the end.
        history.invoke(99, 0, RegisterInput::Write { value: -1 });
    }
    for i in 0..n {
        let (call, value) = (10 * i + 1, (i / 2) as i64);
        let (input, output) = if i % 2 == 0 {
            (RegisterInput::Write { value }, RegisterOutput::Ok { ok: true })
        } else {
            (RegisterInput::Read, RegisterOutput::Value { value: Some(value) })
        };
        let id = history.invoke(i % 3, call, input);
        history.complete(id, call + 5, output);
    }
    history
}

#[test]
fn a_long_sequential_history_costs_the_same_per_step() {
    for open_write in [false, true] {
        let mut per_op = Vec::new();
        for n in [2_000u64, 20_000, 200_000] {
            let result = check(&Register, &sequential(n, open_write), &Budget::steps(100 * n));
            assert_eq!(result.verdict, Verdict::Linearizable, "n={n} open_write={open_write}");
            let stats = &result.stats;
            // One step per operation, plus the open write tried once after each write.
            assert!(stats.steps <= 2 * n + 1, "n={n}: {} steps", stats.steps);
            // Keys stay a word or two, even with an operation left open from the start.
            assert!(stats.peak_key_words <= 2, "n={n} open_write={open_write}: {stats:?}");
            // Keeping the keys' bounds passes each word of the set about once.
            assert!(stats.scanned_words <= n / 64 + 2, "n={n}: {stats:?}");
            // Steps with no choice are not memoized: the memo cache stays empty.
            if !open_write {
                assert_eq!(stats.peak_cache_entries, 0, "n={n}: {stats:?}");
            }
            per_op.push(stats.steps as f64 / n as f64);
        }
        assert!(per_op[2] <= per_op[0] * 1.01, "steps per operation grow: {per_op:?}");
    }
}

#[test]
fn an_open_operation_is_still_placed_when_it_must_be() {
    // The open write is the only explanation of the last read.
    let mut history = sequential(1_000, true);
    let id = history.invoke(0, 1_000_000, RegisterInput::Read);
    history.complete(id, 1_000_005, RegisterOutput::Value { value: Some(-1) });
    let result = check(&Register, &history, &Budget::steps(1_000_000));
    assert_eq!(result.verdict, Verdict::Linearizable);
    let ops = history.operations();
    assert!(matches!(ops[0].outcome, Outcome::Unknown));
}
