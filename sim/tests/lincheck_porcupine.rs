//! The checker against outside histories: Porcupine's test data (Jepsen etcd logs and
//! key-value histories), whose verdicts no one on this project chose.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use quorate_sim::lincheck::{check, check_parallel, parse, Budget, Kv, Register, UnknownCause, Verdict};

/// Enough steps for every history here that Porcupine checks; deterministic, so a
/// regression in search efficiency shows up as `Unknown` rather than as a slow test.
const STEPS: u64 = 20_000_000;

/// The expected verdicts listed in the data's README: file name -> linearizable.
fn expected_etcd(dir: &Path) -> BTreeMap<String, bool> {
    let readme = common::read(&dir.join("README.md"));
    let expected: BTreeMap<String, bool> = readme
        .lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(file, _)| file.starts_with("etcd_") && file.ends_with(".log"))
        .map(|(file, verdict)| match verdict {
            "linearizable" => (file.to_string(), true),
            "not-linearizable" => (file.to_string(), false),
            other => panic!("unexpected verdict {other:?} for {file} in the README"),
        })
        .collect();
    assert_eq!(expected.len(), 102, "the README lists 102 etcd verdicts");
    expected
}

fn verdict_is(verdict: &Verdict, linearizable: bool) -> bool {
    match verdict {
        Verdict::Linearizable => linearizable,
        Verdict::NotLinearizable(e) => !linearizable && !e.stuck.is_empty(),
        Verdict::Unknown(_) => false,
    }
}

#[test]
fn every_etcd_history_gets_its_expected_verdict() {
    let dir = common::porcupine_dir();
    let expected = expected_etcd(&dir);
    let mut checked = 0;
    for number in 0..=102 {
        let name = format!("etcd_{number:03}.log");
        let path = dir.join("jepsen").join(&name);
        let history = parse::jepsen(&common::read(&path), &name)
            .unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
        let Some(&linearizable) = expected.get(&name) else {
            assert_eq!(name, "etcd_095.log", "only etcd_095 has no verdict");
            assert!(history.is_empty(), "etcd_095.log is empty");
            continue;
        };
        let result = check(&Register, &history, &Budget::steps(STEPS));
        assert!(
            verdict_is(&result.verdict, linearizable),
            "{name}: expected linearizable={linearizable}, got {:?}",
            result.verdict
        );
        checked += 1;
    }
    assert_eq!(checked, 102);
}

fn check_kv(name: &str, split: bool, budget: &Budget) -> Verdict {
    let path = common::porcupine_dir().join("kv").join(name);
    let history =
        parse::edn_kv(&common::read(&path), name).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
    check(&Kv { split }, &history, budget).verdict
}

const KV_FILES: [&str; 6] =
    ["c01-ok.txt", "c01-bad.txt", "c10-ok.txt", "c10-bad.txt", "c50-ok.txt", "c50-bad.txt"];

#[test]
fn kv_histories_split_per_key() {
    for name in KV_FILES {
        let verdict = check_kv(name, true, &Budget::steps(STEPS));
        let linearizable = name.ends_with("-ok.txt");
        assert!(verdict_is(&verdict, linearizable), "{name} split: {verdict:?}");
    }
}

#[test]
fn kv_histories_unsplit() {
    for name in &KV_FILES[..4] {
        let verdict = check_kv(name, false, &Budget::steps(STEPS));
        let linearizable = name.ends_with("-ok.txt");
        assert!(verdict_is(&verdict, linearizable), "{name} unsplit: {verdict:?}");
    }
}

/// Unsplit, the 50-client histories are beyond any budget a test can afford (the release
/// build gives up after 60 s and 9 million cache entries; Porcupine does not check them
/// unsplit either). What must hold is that a budget turns into `Unknown`, never into a
/// wrong verdict.
#[test]
fn kv_c50_unsplit_is_right_or_unknown_within_a_budget() {
    for name in &KV_FILES[4..] {
        let verdict = check_kv(name, false, &Budget::steps(300_000));
        let linearizable = name.ends_with("-ok.txt");
        assert!(
            matches!(verdict, Verdict::Unknown(_)) || verdict_is(&verdict, linearizable),
            "{name} unsplit: {verdict:?}"
        );
    }
}

#[test]
fn a_small_cache_bound_gives_unknown_not_a_wrong_answer() {
    let budget = Budget { max_cache_entries: 1000, ..Budget::default() };
    for name in ["c10-ok.txt", "c10-bad.txt"] {
        let verdict = check_kv(name, false, &budget);
        let linearizable = name.ends_with("-ok.txt");
        assert!(
            matches!(verdict, Verdict::Unknown(_)) || verdict_is(&verdict, linearizable),
            "{name}: {verdict:?}"
        );
    }
    let verdict = check_kv("c10-ok.txt", false, &budget);
    assert!(matches!(verdict, Verdict::Unknown(_)), "{verdict:?}");
}

#[test]
fn the_parallel_check_gives_the_same_verdicts() {
    for name in KV_FILES {
        let path = common::porcupine_dir().join("kv").join(name);
        let history = parse::edn_kv(&common::read(&path), name).expect("parses");
        let one = check(&Kv::default(), &history, &Budget::steps(STEPS));
        let many = check_parallel(&Kv::default(), &history, &Budget::steps(STEPS), 4);
        assert_eq!(one.verdict, many.verdict, "{name}");
        if one.verdict == Verdict::Linearizable {
            assert_eq!(one.stats.partitions, many.stats.partitions, "{name}");
        }
    }
}

/// The memory bound holds for the tables as allocated, growth included: a search never
/// holds more than the bound, and stops with `Unknown` before it would.
#[test]
fn the_memory_bound_is_never_passed() {
    for max_bytes in [300_000, 1 << 20, 3 << 20] {
        let budget = Budget { max_bytes, ..Budget::steps(STEPS) };
        let path = common::porcupine_dir().join("kv").join("c50-ok.txt");
        let history = parse::edn_kv(&common::read(&path), "c50-ok.txt").expect("parses");
        let result = check(&Kv { split: false }, &history, &budget);
        match &result.verdict {
            Verdict::Unknown(reason) => assert_eq!(reason.cause, UnknownCause::CacheFull),
            other => panic!("c50 unsplit in {max_bytes} bytes: {other:?}"),
        }
        assert!(result.stats.peak_bytes <= max_bytes, "{} > {max_bytes}", result.stats.peak_bytes);
        assert!(result.stats.peak_bytes > max_bytes / 3, "{} of {max_bytes}", result.stats.peak_bytes);
    }
}
