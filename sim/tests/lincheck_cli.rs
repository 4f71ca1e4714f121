//! `quorate-sim lincheck`: the exact output line format and exit codes.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use quorate_sim::lincheck::{History, KvInput, KvOutput};

fn lincheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quorate-sim"))
        .arg("lincheck")
        .args(args)
        .output()
        .expect("quorate-sim runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

/// Checks `line` is `FILE: VERDICT (N ms)`.
fn assert_line(line: &str, file: &str, verdict: &str) {
    let rest = line
        .strip_prefix(&format!("{file}: {verdict} ("))
        .and_then(|r| r.strip_suffix(" ms)"))
        .unwrap_or_else(|| panic!("{line:?} is not `{file}: {verdict} (N ms)`"));
    assert!(rest.parse::<u64>().is_ok(), "{line:?}: not a number of ms");
}

/// A scratch directory for this test binary.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quorate-lincheck-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn etcd(name: &str) -> String {
    common::porcupine_dir().join("jepsen").join(name).display().to_string()
}

#[test]
fn one_line_per_file_and_exit_1_when_one_is_not_linearizable() {
    let (ok, bad) = (etcd("etcd_002.log"), etcd("etcd_000.log"));
    let html = scratch("failures.html");
    let html_arg = html.display().to_string();
    let out = lincheck(&["--model", "register", "--format", "jepsen", "--html", &html_arg, &ok, &bad]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_line(lines[0], &ok, "linearizable");
    assert_line(lines[1], &bad, "not-linearizable");
    let page = std::fs::read_to_string(&html).expect("--html writes the page");
    assert!(page.contains("<svg") && page.contains("etcd_000.log"));
}

#[test]
fn exit_0_when_all_are_linearizable_and_explanations_go_to_stderr() {
    let kv = common::porcupine_dir().join("kv");
    let ok = kv.join("c10-ok.txt").display().to_string();
    let bad = kv.join("c10-bad.txt").display().to_string();
    let out = lincheck(&["--model", "kv", "--format", "edn", "--no-split", &ok]);
    assert_eq!(out.status.code(), Some(0));
    assert_line(stdout(&out).trim_end(), &ok, "linearizable");
    let out = lincheck(&["--model", "kv", "--format", "edn", "--explain", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert_line(stdout(&out).trim_end(), &bad, "not-linearizable");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot be placed next"), "{stderr}");
}

#[test]
fn a_deadline_gives_unknown_and_exit_0() {
    let bad = common::porcupine_dir().join("kv/c10-bad.txt").display().to_string();
    let out = lincheck(&["--model", "kv", "--format", "edn", "--no-split", "--timeout-ms", "0", &bad]);
    assert_eq!(out.status.code(), Some(0));
    assert_line(stdout(&out).trim_end(), &bad, "unknown");
}

#[test]
fn json_histories_written_by_the_library_are_read_back() {
    let mut history = History::new();
    let put = history.invoke(0, 1, KvInput::Put { key: "k".into(), value: "v".into() });
    history.complete(put, 5, KvOutput::Ok { ok: true });
    let get = history.invoke(1, 6, KvInput::Get { key: "k".into() });
    history.complete(get, 7, KvOutput::Value { value: "v".into() });
    history.invoke(2, 8, KvInput::Append { key: "k".into(), value: "w".into() });
    let path = scratch("history.json");
    std::fs::write(&path, history.to_json()).expect("write");
    let file = path.display().to_string();
    let out = lincheck(&["--model", "kv", "--format", "json", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_line(stdout(&out).trim_end(), &file, "linearizable");
}

#[test]
fn parse_and_usage_errors_exit_2() {
    let path = scratch("bad.log");
    std::fs::write(&path, "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nnonsense\n").expect("write");
    let file = path.display().to_string();
    let out = lincheck(&["--model", "register", "--format", "jepsen", &file]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{file}:2: ")), "{stderr}");
    assert_eq!(stdout(&out), "");

    let json = scratch("bad.json");
    std::fs::write(&json, "{\"model\":\"kv\",\"operations\":[\n{\"client\":0,\"call\":5,\"return\":3,\"input\":{\"op\":\"get\",\"key\":\"k\"},\"output\":{\"value\":\"\"}}]}\n").expect("write");
    let file = json.display().to_string();
    let out = lincheck(&["--model", "kv", "--format", "json", &file]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{file}:2: operation of client 0 returns at 3, before its call")),
        "{stderr}"
    );

    let missing = lincheck(&["--model", "register", "--format", "jepsen", "/nonexistent/x.log"]);
    assert_eq!(missing.status.code(), Some(2));
    let no_model = lincheck(&["--format", "jepsen", &etcd("etcd_002.log")]);
    assert_eq!(no_model.status.code(), Some(2));
    let mismatch = lincheck(&["--model", "kv", "--format", "jepsen", &etcd("etcd_002.log")]);
    assert_eq!(mismatch.status.code(), Some(2));
}
