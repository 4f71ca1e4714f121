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

#[test]
fn sweep_rejects_zero_threads() {
    let bin = env!("CARGO_BIN_EXE_quorate-sim");
    let out = Command::new(bin).args(["sweep", "--seeds", "0..2", "--threads", "0"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "zero threads is a usage error: {stderr}");
    assert!(stderr.contains("--threads") && stderr.contains("at least 1"), "{stderr}");
}

#[test]
fn sweep_caps_threads_per_core_and_by_seed_count() {
    let bin = env!("CARGO_BIN_EXE_quorate-sim");
    let limit = 4 * std::thread::available_parallelism().map_or(1, |n| n.get());
    let out = Command::new(bin).args(["sweep", "--seeds", "0..2", "--threads", "100000"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("--threads 100000: more than 4 per core"), "{stderr}");
    assert!(stderr.contains(&format!("using {limit}")), "{stderr}");
    assert!(stdout.contains("events/s on 2 threads)"), "no more threads than seeds: {stdout}");
}

/// Ctrl-C (SIGINT) stops a sweep: the summary so far, marked interrupted, and exit 130. The
/// signal is sent once the first progress line shows (stderr is a pipe here, not a terminal),
/// so the handler is in place: no timing assumption.
#[cfg(unix)]
#[test]
fn ctrl_c_prints_the_summary_so_far_and_exits_130() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let bin = env!("CARGO_BIN_EXE_quorate-sim");
    let mut child = Command::new(bin)
        .args(["sweep", "--seeds", "0..100000000", "--threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("progress: ") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the sweep ended before any progress line");
    }
    for part in ["/100000000 seeds (", "0 failed", "seeds/s", " left"] {
        assert!(line.contains(part), "the progress line has {part:?}: {line}");
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}{rest}");
    assert!(stdout.starts_with("interrupted:      by Ctrl-C after "), "{stdout}");
    for part in ["seeds:", "events:", "failures:", "lincheck unknown:", "wall time:"] {
        assert!(stdout.contains(part), "the partial summary has {part:?}: {stdout}");
    }
}
