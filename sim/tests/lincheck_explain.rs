//! Histories made non-linearizable on purpose must be rejected, and the explanation must
//! name the operation that gives the game away.

use quorate_sim::lincheck::{
    check, html, Budget, Explanation, History, Kv, KvInput, KvOutput, OpId, Operation, Outcome, Register,
    RegisterInput, RegisterOutput, StuckReason, Verdict,
};

fn op<I, O>(client: u64, call: u64, ret: Option<u64>, input: I, output: O) -> Operation<I, O> {
    let outcome = match ret {
        Some(at) => Outcome::Returned { at, output },
        None => Outcome::Unknown,
    };
    Operation { client, call, input, outcome }
}

fn write(client: u64, call: u64, ret: u64, value: i64) -> Operation<RegisterInput, RegisterOutput> {
    op(client, call, Some(ret), RegisterInput::Write { value }, RegisterOutput::Ok { ok: true })
}

fn read(client: u64, call: u64, ret: u64, value: Option<i64>) -> Operation<RegisterInput, RegisterOutput> {
    op(client, call, Some(ret), RegisterInput::Read, RegisterOutput::Value { value })
}

fn cas(
    client: u64,
    call: u64,
    ret: u64,
    from: i64,
    to: i64,
    ok: bool,
) -> Operation<RegisterInput, RegisterOutput> {
    op(client, call, Some(ret), RegisterInput::Cas { from, to }, RegisterOutput::Ok { ok })
}

fn history<I, O>(ops: Vec<Operation<I, O>>) -> History<I, O> {
    let mut history = History::new();
    for op in ops {
        history.push(op);
    }
    history
}

fn explanation(verdict: Verdict) -> Explanation {
    match verdict {
        Verdict::NotLinearizable(e) => *e,
        other => panic!("expected not linearizable, got {other:?}"),
    }
}

/// The stuck operations that the model rejects outright, as history ids.
fn impossible(e: &Explanation) -> Vec<OpId> {
    e.stuck.iter().filter(|s| s.reason == StuckReason::Impossible).map(|s| e.ops[s.op].id).collect()
}

fn check_register(ops: Vec<Operation<RegisterInput, RegisterOutput>>) -> Verdict {
    check(&Register, &history(ops), &Budget::steps(10_000)).verdict
}

#[test]
fn a_stale_read_is_named() {
    let verdict = check_register(vec![write(0, 0, 1, 1), write(0, 2, 3, 2), read(1, 4, 5, Some(1))]);
    let e = explanation(verdict);
    assert_eq!(impossible(&e), vec![OpId(2)], "{e}");
    assert_eq!(e.linearization.len(), 2, "{e}");
    assert_eq!(e.state, "value 2");
    let text = e.to_string();
    assert!(text.contains("read -> 1: impossible in value 2"), "{text}");
}

#[test]
fn a_lost_write_is_named_by_the_read_that_missed_it() {
    let verdict = check_register(vec![write(0, 0, 1, 1), read(1, 2, 3, None), read(0, 4, 5, None)]);
    let e = explanation(verdict);
    assert_eq!(impossible(&e), vec![OpId(1)], "{e}");
}

#[test]
fn a_cas_that_succeeded_twice_is_named() {
    let verdict = check_register(vec![write(0, 0, 1, 0), cas(1, 2, 6, 0, 1, true), cas(2, 3, 7, 0, 2, true)]);
    let e = explanation(verdict);
    let named = impossible(&e);
    assert_eq!(named.len(), 1, "{e}");
    assert!(named == vec![OpId(1)] || named == vec![OpId(2)], "{e}");
    // The other cas is the one that did succeed.
    let placed: Vec<OpId> = e.linearization.iter().map(|&i| e.ops[i].id).collect();
    assert!(placed.contains(&OpId(3 - named[0].0)), "{e}");
}

#[test]
fn unknown_outcomes_may_take_effect_late_or_never() {
    let unknown_write = op(0, 0, None, RegisterInput::Write { value: 1 }, RegisterOutput::Ok { ok: true });
    // It took effect, long after the client gave up...
    assert_eq!(check_register(vec![unknown_write.clone(), read(1, 50, 51, Some(1))]), Verdict::Linearizable);
    // ... or never.
    assert_eq!(check_register(vec![unknown_write.clone(), read(1, 50, 51, None)]), Verdict::Linearizable);
    // But not before it was invoked.
    let early_read = read(1, 0, 1, Some(1));
    let late_write = op(0, 5, None, RegisterInput::Write { value: 1 }, RegisterOutput::Ok { ok: true });
    let e = explanation(check_register(vec![early_read, late_write]));
    assert_eq!(impossible(&e), vec![OpId(0)], "{e}");
}

#[test]
fn kv_failures_name_the_smallest_failing_key() {
    let put = |c, t, key: &str, v: &str| {
        op(c, t, Some(t + 1), KvInput::Put { key: key.into(), value: v.into() }, KvOutput::Ok { ok: true })
    };
    let get = |c, t, key: &str, v: &str| {
        op(c, t, Some(t + 1), KvInput::Get { key: key.into() }, KvOutput::Value { value: v.into() })
    };
    let append = |c, t, key: &str, v: &str| {
        op(c, t, Some(t + 1), KvInput::Append { key: key.into(), value: v.into() }, KvOutput::Ok { ok: true })
    };
    let ops = vec![
        put(0, 0, "a", "1"),
        append(1, 2, "a", "2"),
        get(0, 4, "a", "12"),
        put(0, 10, "b", "x"),
        get(1, 12, "b", ""), // stale: the put of "x" had returned
        append(0, 14, "c", "q"),
        get(1, 16, "c", "qq"), // appended once, read twice
        append(0, 18, "c", "r"),
        get(0, 20, "c", "qr"),
    ];
    let h = history(ops);
    for split in [true, false] {
        let e = explanation(check(&Kv { split }, &h, &Budget::steps(10_000)).verdict);
        let partition = if split { "key \"b\"" } else { "all keys" };
        assert_eq!(e.partition, partition);
        assert_eq!(impossible(&e), vec![OpId(4)], "{e}");
    }
}

#[test]
fn the_html_page_is_self_contained_and_shows_the_failure() {
    let e = explanation(check_register(vec![write(0, 0, 1, 1), write(0, 2, 3, 2), read(1, 4, 5, Some(1))]));
    let page = html::page(&[("stale.log", &e)]);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<svg") && page.contains("class=\"stuck\""));
    assert!(page.contains("read -&gt; 1"), "descriptions are escaped");
    assert!(!page.contains("<script") && !page.contains("href=") && !page.contains("src="));
}
