//! The checker against a deliberately naive brute force (every ordering of every subset
//! of the unknown-outcome operations), on random small histories.
//!
//! The brute force shares nothing with the checker: it has its own sequential specs and
//! its own real-time rule. Histories are generated from a true execution (each operation
//! takes effect at a random point of its interval), then sometimes one output is corrupted,
//! so both verdicts are common.

use std::collections::BTreeMap;

mod kv_variants;

use kv_variants::KvWith;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use quorate_sim::lincheck::{
    check, Budget, History, Kv, KvInput, KvOutput, Model, Operation, Outcome, Register, RegisterInput,
    RegisterOutput, Verdict,
};

/// One generated operation: who, what, when, and how its outcome is reported.
#[derive(Clone, Debug)]
struct Gen {
    client: u64,
    kind: u8,
    a: u8,
    b: u8,
    gap: u64,
    duration: u64,
    /// 0: known; 1: unknown, took effect; 2: unknown, never took effect; 3: unknown with
    /// its return time as deadline, took effect within its interval; 4: unknown with a
    /// deadline, never took effect.
    unknown: u8,
    /// Where in its interval it takes effect, in 1/8ths.
    point: u64,
    corrupt: bool,
}

fn gen() -> impl Strategy<Value = Gen> {
    gen_with(6)
}

/// Like [`gen`], with a known outcome `known` times as likely as each kind of unknown one.
fn gen_with(known: u32) -> impl Strategy<Value = Gen> {
    (
        (0..3u64, 0..4u8, 0..3u8, 0..3u8),
        (
            0..3u64,
            0..6u64,
            prop_oneof![known => Just(0u8), 1 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8), 1 => Just(4u8)],
        ),
        (0..=8u64, prop::bool::weighted(0.15)),
    )
        .prop_map(|((client, kind, a, b), (gap, duration, unknown), (point, corrupt))| Gen {
            client,
            kind,
            a,
            b,
            gap,
            duration,
            unknown,
            point,
            corrupt,
        })
}

/// Call and return times per operation, clients issuing their operations in sequence.
fn intervals(gens: &[Gen]) -> Vec<(u64, u64)> {
    let mut clock = [0u64; 3];
    gens.iter()
        .map(|g| {
            let call = clock[g.client as usize] + g.gap;
            let ret = call + g.duration;
            clock[g.client as usize] = ret + 1;
            (call, ret)
        })
        .collect()
}

/// The order in which the operations that took effect did so.
fn effect_order(gens: &[Gen], times: &[(u64, u64)]) -> Vec<usize> {
    let mut points: Vec<(u64, usize)> = gens
        .iter()
        .enumerate()
        .filter(|(_, g)| g.unknown != 2 && g.unknown != 4)
        .map(|(i, g)| {
            let (call, ret) = times[i];
            // An unknown outcome may take effect well after the client gave up.
            let ret = if g.unknown == 1 { ret + 10 } else { ret };
            (call * 8 + (ret - call) * g.point, i)
        })
        .collect();
    points.sort_unstable();
    points.into_iter().map(|(_, i)| i).collect()
}

fn build<I, O>(gens: &[Gen], inputs: Vec<I>, outputs: Vec<Option<O>>) -> History<I, O> {
    let times = intervals(gens);
    let mut history = History::new();
    for ((g, input), (output, (call, ret))) in gens.iter().zip(inputs).zip(outputs.into_iter().zip(times)) {
        let outcome = match output {
            Some(output) if g.unknown == 0 => Outcome::Returned { at: ret, output },
            _ if g.unknown >= 3 => Outcome::UnknownBy { by: ret },
            _ => Outcome::Unknown,
        };
        history.push(Operation { client: g.client, call, input, outcome });
    }
    history
}

// ---- register ----

fn register_input(g: &Gen) -> RegisterInput {
    match g.kind {
        0 | 1 => RegisterInput::Read,
        2 => RegisterInput::Write { value: i64::from(g.a) },
        _ => RegisterInput::Cas { from: i64::from(g.a), to: i64::from(g.b) },
    }
}

/// The naive register: returns (new value, true output).
fn naive_register(value: Option<i64>, input: &RegisterInput) -> (Option<i64>, RegisterOutput) {
    match *input {
        RegisterInput::Read => (value, RegisterOutput::Value { value }),
        RegisterInput::Write { value: v } => (Some(v), RegisterOutput::Ok { ok: true }),
        RegisterInput::Cas { from, to } => {
            if value == Some(from) {
                (Some(to), RegisterOutput::Ok { ok: true })
            } else {
                (value, RegisterOutput::Ok { ok: false })
            }
        }
    }
}

fn corrupt_register(output: RegisterOutput) -> RegisterOutput {
    match output {
        RegisterOutput::Value { value: None } => RegisterOutput::Value { value: Some(1) },
        RegisterOutput::Value { value: Some(v) } => RegisterOutput::Value { value: Some((v + 1) % 3) },
        RegisterOutput::Ok { ok } => RegisterOutput::Ok { ok: !ok },
    }
}

fn register_history(gens: &[Gen]) -> History<RegisterInput, RegisterOutput> {
    let inputs: Vec<RegisterInput> = gens.iter().map(register_input).collect();
    let mut outputs = vec![None; gens.len()];
    let mut value = None;
    for i in effect_order(gens, &intervals(gens)) {
        let (next, output) = naive_register(value, &inputs[i]);
        value = next;
        outputs[i] = Some(output);
    }
    for (g, output) in gens.iter().zip(outputs.iter_mut()) {
        // Operations that never took effect still report something if their outcome is
        // "known": a failed write or cas.
        let out = output.take().unwrap_or(RegisterOutput::Ok { ok: false });
        *output = Some(if g.corrupt { corrupt_register(out) } else { out });
    }
    build(gens, inputs, outputs)
}

/// Does this output fit this input in this state? (An unknown outcome fits anything.)
fn register_fits(
    value: &Option<i64>,
    input: &RegisterInput,
    output: Option<&RegisterOutput>,
) -> Option<Option<i64>> {
    let value = *value;
    let Some(output) = output else {
        return Some(naive_register(value, input).0);
    };
    match (input, output) {
        // A write or cas that definitely failed did nothing; so did a failed cas.
        (RegisterInput::Write { .. } | RegisterInput::Cas { .. }, RegisterOutput::Ok { ok: false }) => {
            let is_failed_cas = matches!(input, RegisterInput::Cas { from, .. } if value != Some(*from));
            let is_write = matches!(input, RegisterInput::Write { .. });
            (is_write || is_failed_cas).then_some(value)
        }
        _ => {
            let (next, expected) = naive_register(value, input);
            (expected == *output).then_some(next)
        }
    }
}

// ---- kv ----

const KEYS: [&str; 2] = ["a", "b"];
const VALUES: [&str; 3] = ["", "x", "y"];

fn kv_input(g: &Gen) -> KvInput {
    let key = KEYS[usize::from(g.a % 2)].to_string();
    let value = VALUES[usize::from(g.b)].to_string();
    match g.kind {
        0 => KvInput::Get { key },
        1 => KvInput::Put { key, value },
        2 => KvInput::Append { key, value },
        _ => KvInput::Cas { key, from: VALUES[usize::from(g.a)].to_string(), to: value },
    }
}

fn naive_kv(map: &BTreeMap<String, String>, input: &KvInput) -> (BTreeMap<String, String>, KvOutput) {
    let mut next = map.clone();
    let current = map.get(input.key()).cloned().unwrap_or_default();
    let output = match input {
        KvInput::Get { .. } => KvOutput::Value { value: current },
        KvInput::Put { key, value } => {
            next.insert(key.clone(), value.clone());
            KvOutput::Ok { ok: true }
        }
        KvInput::Append { key, value } => {
            next.insert(key.clone(), current + value);
            KvOutput::Ok { ok: true }
        }
        KvInput::Cas { key, from, to } => {
            let ok = current == *from;
            if ok {
                next.insert(key.clone(), to.clone());
            }
            KvOutput::Ok { ok }
        }
    };
    (next, output)
}

fn kv_history(gens: &[Gen]) -> History<KvInput, KvOutput> {
    let inputs: Vec<KvInput> = gens.iter().map(kv_input).collect();
    kv_history_of(gens, inputs, |value| format!("{value}x"))
}

/// The history of `inputs` taking effect in the generated order, with the outputs the naive
/// model gives; a corrupted read returns `corrupt(value)`, a corrupted write the opposite.
fn kv_history_of(
    gens: &[Gen],
    inputs: Vec<KvInput>,
    corrupt: fn(String) -> String,
) -> History<KvInput, KvOutput> {
    let mut outputs = vec![None; gens.len()];
    let mut map = BTreeMap::new();
    for i in effect_order(gens, &intervals(gens)) {
        let (next, output) = naive_kv(&map, &inputs[i]);
        map = next;
        outputs[i] = Some(output);
    }
    for (g, output) in gens.iter().zip(outputs.iter_mut()) {
        let out = output.take().unwrap_or(KvOutput::Ok { ok: false });
        *output = Some(match (g.corrupt, out) {
            (false, out) => out,
            (true, KvOutput::Value { value }) => KvOutput::Value { value: corrupt(value) },
            (true, KvOutput::Ok { ok }) => KvOutput::Ok { ok: !ok },
        });
    }
    build(gens, inputs, outputs)
}

fn kv_fits(
    map: &BTreeMap<String, String>,
    input: &KvInput,
    output: Option<&KvOutput>,
) -> Option<BTreeMap<String, String>> {
    let (next, expected) = naive_kv(map, input);
    match output {
        None => Some(next),
        Some(KvOutput::Ok { ok: false }) if matches!(input, KvInput::Put { .. } | KvInput::Append { .. }) => {
            Some(map.clone())
        }
        Some(output) => (expected == *output).then_some(next),
    }
}

/// Like [`kv_history`], but each put, append and cas writes a text of its own (as the
/// simulator's clients do), on one key, and a cas expects nothing, one of the first texts,
/// or one that is never written: so that unknown outcomes nobody observed are common, and
/// [`Kv::droppable`] leaves them out.
fn kv_token_history(gens: &[Gen]) -> History<KvInput, KvOutput> {
    const FROMS: [&str; 4] = ["", "t0;", "t1;", "zz"];
    let inputs: Vec<KvInput> = gens
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let (key, value) = ("k".to_string(), format!("t{i};"));
            match g.kind {
                0 => KvInput::Get { key },
                1 => KvInput::Put { key, value },
                2 => KvInput::Append { key, value },
                _ => KvInput::Cas { key, from: FROMS[usize::from(g.a + g.b) % 4].to_string(), to: value },
            }
        })
        .collect();
    kv_history_of(gens, inputs, |value| value.replacen(';', "", 1))
}

/// How many of the history's operations [`Kv::droppable`] leaves out.
fn kv_dropped(history: &History<KvInput, KvOutput>) -> usize {
    let ops: Vec<&Operation<KvInput, KvOutput>> = history.operations().iter().collect();
    Kv::default().droppable(&ops).iter().filter(|d| **d).count()
}

// ---- the brute force ----

/// A naive spec: the state after an operation with this output, if it can have it.
type Fits<S, I, O> = dyn Fn(&S, &I, Option<&O>) -> Option<S>;

/// Tries every ordering: an operation may come next if no unplaced operation returned
/// before it was called (an unknown outcome's deadline counts as a return); an operation
/// with an unknown outcome may instead be dropped, at any point (it never took effect);
/// done when every operation with a known outcome is placed. With `in_order`, an operation
/// may not come after a later-invoked operation of its own client (client order).
/// The brute force's verdict on `history`, in client order if the history says so.
fn expected<I, O, S: Clone>(history: &History<I, O>, init: S, fits: &Fits<S, I, O>) -> bool {
    let ops = history.operations();
    let (mut placed, mut effect) = (vec![false; ops.len()], vec![false; ops.len()]);
    brute_force_order(ops, &mut placed, &mut effect, init, fits, history.clients_in_order())
}

fn brute_force<I, O, S: Clone>(
    ops: &[Operation<I, O>],
    placed: &mut Vec<bool>,
    state: S,
    fits: &Fits<S, I, O>,
) -> bool {
    brute_force_order(ops, placed, &mut vec![false; ops.len()], state, fits, false)
}

fn brute_force_order<I, O, S: Clone>(
    ops: &[Operation<I, O>],
    placed: &mut Vec<bool>,
    effect: &mut Vec<bool>,
    state: S,
    fits: &Fits<S, I, O>,
    in_order: bool,
) -> bool {
    let known_done = ops.iter().zip(placed.iter()).all(|(op, p)| *p || op.outcome.output().is_none());
    if known_done {
        return true;
    }
    for i in 0..ops.len() {
        if placed[i] {
            continue;
        }
        let blocked = ops
            .iter()
            .enumerate()
            .any(|(j, other)| !placed[j] && other.outcome.return_time().is_some_and(|ret| ret < ops[i].call));
        let out_of_order = in_order
            && ops.iter().enumerate().any(|(j, other)| {
                effect[j] && other.client == ops[i].client && (other.call, j) > (ops[i].call, i)
            });
        if blocked || out_of_order {
            continue;
        }
        if let Some(next) = fits(&state, &ops[i].input, ops[i].outcome.output()) {
            placed[i] = true;
            effect[i] = true;
            if brute_force_order(ops, placed, effect, next, fits, in_order) {
                return true;
            }
            placed[i] = false;
            effect[i] = false;
        }
    }
    // Dropping an unknown outcome needs no ordering: it never happened.
    for i in 0..ops.len() {
        if !placed[i] && ops[i].outcome.output().is_none() {
            placed[i] = true;
            if brute_force_order(ops, placed, effect, state.clone(), fits, in_order) {
                return true;
            }
            placed[i] = false;
        }
    }
    false
}

fn is_linearizable(verdict: &Verdict) -> bool {
    match verdict {
        Verdict::Linearizable => true,
        Verdict::NotLinearizable(_) => false,
        Verdict::Unknown(reason) => panic!("a tiny history gave up: {reason}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn register_checker_agrees_with_brute_force(gens in vec(gen(), 0..=8)) {
        let history = register_history(&gens);
        let ops = history.operations();
        let expected = brute_force(ops, &mut vec![false; ops.len()], None, &register_fits);
        let verdict = check(&Register, &history, &Budget::steps(1_000_000)).verdict;
        prop_assert_eq!(is_linearizable(&verdict), expected, "{:#?}", ops);
    }

    #[test]
    fn kv_checker_agrees_with_brute_force_split_and_unsplit(gens in vec(gen(), 0..=8)) {
        let history = kv_history(&gens);
        let ops = history.operations();
        let expected = brute_force(ops, &mut vec![false; ops.len()], BTreeMap::new(), &kv_fits);
        for split in [true, false] {
            let verdict = check(&Kv { split }, &history, &Budget::steps(1_000_000)).verdict;
            prop_assert_eq!(is_linearizable(&verdict), expected, "split={} {:#?}", split, ops);
        }
    }

    #[test]
    fn kv_checker_agrees_with_brute_force_in_client_order(gens in vec(gen(), 0..=8)) {
        let mut history = kv_history(&gens);
        history.set_clients_in_order(true);
        let ops = history.operations();
        let expected = expected(&history, BTreeMap::new(), &kv_fits);
        for split in [true, false] {
            let verdict = check(&Kv { split }, &history, &Budget::steps(1_000_000)).verdict;
            prop_assert_eq!(is_linearizable(&verdict), expected, "split={} {:#?}", split, ops);
        }
    }

    #[test]
    fn register_checker_agrees_with_brute_force_in_client_order(gens in vec(gen(), 0..=8)) {
        let mut history = register_history(&gens);
        history.set_clients_in_order(true);
        let ops = history.operations();
        let expected = expected(&history, None, &register_fits);
        let verdict = check(&Register, &history, &Budget::steps(1_000_000)).verdict;
        prop_assert_eq!(is_linearizable(&verdict), expected, "{:#?}", ops);
    }

    /// Many unknown outcomes, where the search's dominance test (a failed node with fewer
    /// unknown-outcome operations placed) prunes most.
    #[test]
    fn kv_checker_agrees_with_brute_force_with_many_unknown_outcomes(
        gens in vec(gen_with(1), 0..=8),
        in_order in any::<bool>(),
    ) {
        let mut history = kv_history(&gens);
        history.set_clients_in_order(in_order);
        let ops = history.operations();
        let expected = expected(&history, BTreeMap::new(), &kv_fits);
        let verdict = check(&Kv::default(), &history, &Budget::steps(1_000_000)).verdict;
        prop_assert_eq!(is_linearizable(&verdict), expected, "in_order={} {:#?}", in_order, ops);
        // Restarting every few steps, alternating the order of candidates and keeping the
        // failed nodes, gives the same verdict.
        let restarts = Budget { first_slice: 1, ..Budget::steps(1_000_000) };
        let verdict = check(&Kv::default(), &history, &restarts).verdict;
        prop_assert_eq!(is_linearizable(&verdict), expected, "restarts, in_order={} {:#?}", in_order, ops);
    }

    #[test]
    fn register_checker_agrees_with_brute_force_with_many_unknown_outcomes(
        gens in vec(gen_with(1), 0..=8),
        in_order in any::<bool>(),
    ) {
        let mut history = register_history(&gens);
        history.set_clients_in_order(in_order);
        let ops = history.operations();
        let expected = expected(&history, None, &register_fits);
        let verdict = check(&Register, &history, &Budget::steps(1_000_000)).verdict;
        prop_assert_eq!(is_linearizable(&verdict), expected, "in_order={} {:#?}", in_order, ops);
        let restarts = Budget { first_slice: 1, ..Budget::steps(1_000_000) };
        let verdict = check(&Register, &history, &restarts).verdict;
        prop_assert_eq!(is_linearizable(&verdict), expected, "restarts, in_order={} {:#?}", in_order, ops);
    }

    /// Unknown outcomes that nobody observed, which the search leaves out
    /// ([`Kv::droppable`]): the verdict is the brute force's, which tries them everywhere.
    #[test]
    fn kv_checker_agrees_with_brute_force_when_unobserved_operations_are_dropped(
        gens in vec(gen_with(2), 0..=8),
        in_order in any::<bool>(),
    ) {
        let mut history = kv_token_history(&gens);
        history.set_clients_in_order(in_order);
        let ops = history.operations();
        let expected = expected(&history, BTreeMap::new(), &kv_fits);
        for split in [true, false] {
            let verdict = check(&Kv { split }, &history, &Budget::steps(1_000_000)).verdict;
            prop_assert_eq!(
                is_linearizable(&verdict), expected, "split={} in_order={} {:#?}", split, in_order, ops
            );
        }
    }

    #[test]
    fn json_round_trips(gens in vec(gen(), 0..=8)) {
        let kv = kv_history(&gens);
        prop_assert_eq!(History::from_json(&kv.to_json(), "kv.json").unwrap(), kv);
        let register = register_history(&gens);
        prop_assert_eq!(History::from_json(&register.to_json(), "r.json").unwrap(), register);
        let mut ordered = kv_history(&gens);
        ordered.set_clients_in_order(true);
        prop_assert_eq!(History::from_json(&ordered.to_json(), "o.json").unwrap(), ordered);
    }
}

/// The generator must produce both verdicts often, or the agreement above means little.
#[test]
fn generated_histories_have_both_verdicts() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = vec(gen(), 1..=8);
    let (mut yes, mut no) = (0, 0);
    for _ in 0..400 {
        let gens = strategy.new_tree(&mut runner).unwrap().current();
        match check(&Register, &register_history(&gens), &Budget::default()).verdict {
            Verdict::Linearizable => yes += 1,
            _ => no += 1,
        }
    }
    assert!(yes > 80 && no > 80, "linearizable {yes}, not {no}");
}

/// The dominance test must actually prune in the generated histories, or the agreement
/// above does not cover it.
#[test]
fn generated_histories_exercise_dominance() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = vec(gen_with(1), 1..=8);
    let (mut pruned, mut histories) = (0, 0);
    for _ in 0..400 {
        let gens = strategy.new_tree(&mut runner).unwrap().current();
        for in_order in [false, true] {
            let mut register = register_history(&gens);
            register.set_clients_in_order(in_order);
            let mut kv = kv_history(&gens);
            kv.set_clients_in_order(in_order);
            for stats in [
                check(&Register, &register, &Budget::default()).stats,
                check(&Kv::default(), &kv, &Budget::default()).stats,
                check(&KvWith { droppable: true, doom: false }, &kv, &Budget::default()).stats,
            ] {
                pruned += stats.dominated;
                histories += u64::from(stats.dominated > 0);
            }
        }
    }
    // About 2% of the checks (a few dozen of each proptest's 1000 cases).
    assert!(histories > 20, "dominance pruned {pruned} nodes in {histories} histories");
}

/// The doom test must fail nodes early in the generated histories, in both verdicts, or
/// the agreement with the brute force above does not cover it.
#[test]
fn generated_histories_exercise_the_doom_test() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = vec(gen_with(2), 1..=8);
    let (mut doomed, mut by_verdict) = (0, [0u32; 2]);
    for _ in 0..2000 {
        let gens = strategy.new_tree(&mut runner).unwrap().current();
        for history in [kv_history(&gens), kv_token_history(&gens)] {
            let result = check(&Kv::default(), &history, &Budget::default());
            doomed += result.stats.doomed;
            if result.stats.doomed > 0 {
                by_verdict[usize::from(result.verdict == Verdict::Linearizable)] += 1;
            }
        }
    }
    assert!(by_verdict.iter().all(|&n| n > 20), "doomed {doomed} nodes; histories by verdict {by_verdict:?}");
}

/// The token histories must both drop operations and keep some unknown outcomes, in both
/// verdicts, or the agreement above does not cover [`Kv::droppable`].
#[test]
fn token_histories_exercise_dropping() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = vec(gen_with(2), 1..=8);
    let (mut dropped_yes, mut dropped_no, mut kept_unknown) = (0, 0, 0);
    for _ in 0..400 {
        let gens = strategy.new_tree(&mut runner).unwrap().current();
        let history = kv_token_history(&gens);
        let dropped = kv_dropped(&history);
        let unknown = history.operations().iter().filter(|op| op.outcome.output().is_none()).count();
        kept_unknown += usize::from(unknown > dropped);
        if dropped > 0 {
            match check(&Kv::default(), &history, &Budget::default()).verdict {
                Verdict::Linearizable => dropped_yes += 1,
                _ => dropped_no += 1,
            }
        }
    }
    assert!(
        dropped_yes > 40 && dropped_no > 20 && kept_unknown > 40,
        "dropped in {dropped_yes} linearizable and {dropped_no} not, kept unknowns in {kept_unknown}"
    );
}
