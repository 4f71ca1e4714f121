//! Replay: the readable trace, the HTML timeline, the JSON history, and the CLI contract of
//! `sweep` and `replay`.

use quorate_sim::lincheck::{self, Budget, Kv, KvInput, KvOutput, Verdict};
use quorate_sim::report::FailureKind;
use quorate_sim::scenario::Scenario;
use quorate_sim::world::{run, RunConfig};
use std::process::Command;

fn verbose(seed: u64, scenario: Scenario) -> quorate_sim::world::RunReport {
    let mut config = RunConfig::new(seed, scenario);
    config.verbose = true;
    run(&config)
}

#[test]
fn the_trace_shows_roles_messages_writes_syncs_applies_and_faults() {
    let report = verbose(12, Scenario::Crashes);
    let text = report.trace.join("\n");
    for needle in [
        "becomes leader",
        "recv AppendEntries",
        "write ",
        "synced",
        "apply ",
        "crash",
        "restart",
        "liveness phase",
    ] {
        assert!(text.contains(needle), "the trace mentions {needle:?}");
    }
}

#[test]
fn the_timeline_page_shows_every_node_and_client() {
    let report = verbose(3, Scenario::Swarm);
    let page = quorate_sim::timeline::page(&report);
    assert!(page.starts_with("<!doctype html>") && page.contains("<svg") && page.ends_with("</html>"));
    for node in &report.nodes {
        assert!(page.contains(&format!(">{node}</text>")), "lane for {node}");
    }
    let clients = report.history.ops().iter().map(|o| o.client).max().unwrap();
    assert!(page.contains(&format!(">c{clients}</text>")), "lane for the last client");
    assert!(!page.contains("<script"), "self-contained, no scripts");
}

#[test]
fn the_history_round_trips_through_the_json_format() {
    let report = run(&RunConfig::new(5, Scenario::Partitions));
    let json = report.history.to_lincheck().to_json();
    let back: lincheck::History<KvInput, KvOutput> = lincheck::History::from_json(&json, "run.json").unwrap();
    assert_eq!(back.len(), report.history.len());
    let verdict = lincheck::check(&Kv::default(), &back, &Budget::steps(5_000_000)).verdict;
    assert_eq!(verdict, Verdict::Linearizable);
}

#[test]
fn failure_kinds_have_distinct_exit_codes() {
    let mut codes: Vec<u8> = FailureKind::ALL.iter().map(|k| k.exit_code()).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), FailureKind::ALL.len());
    assert!(!codes.contains(&0) && !codes.contains(&1) && !codes.contains(&2));
}

#[test]
fn sweep_and_replay_cli_contract() {
    let bin = env!("CARGO_BIN_EXE_quorate-sim");
    let out = Command::new(bin).args(["sweep", "--seeds", "0..6", "--threads", "1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "a passing sweep exits 0: {stdout}");
    for line in ["seeds:", "events:", "virtual time:", "faults:", "failures:"] {
        assert!(stdout.contains(line), "the summary has {line:?}: {stdout}");
    }
    let out =
        Command::new(bin).args(["replay", "--seed", "4", "--scenario", "swarm", "--quiet"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("result: ok") && stdout.contains("trace hash"), "{stdout}");
    let out = Command::new(bin).args(["sweep", "--seeds", "5..5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an empty range is a usage error");
}
