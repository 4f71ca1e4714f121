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

/// Runs lincheck on a scratch file holding `content`; returns the exit code and stderr.
fn run_on(name: &str, content: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let path = scratch(name);
    std::fs::write(&path, content).expect("write");
    let file = path.display().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.push(&file);
    let out = lincheck(&all);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), file)
}

/// Asserts that the file is rejected with exit 2 and a message naming it and `problem`.
fn assert_rejected(name: &str, content: &str, args: &[&str], problem: &str) {
    let (code, stderr, file) = run_on(name, content, args);
    assert_eq!(code, Some(2), "{name}: {stderr}");
    assert!(stderr.contains(&file) && stderr.contains(problem), "{name}: {stderr:?} should say {problem:?}");
}

const JEPSEN: [&str; 4] = ["--model", "register", "--format", "jepsen"];
const EDN: [&str; 4] = ["--model", "kv", "--format", "edn"];
const KV_JSON: [&str; 4] = ["--model", "kv", "--format", "json"];

#[test]
fn empty_and_blank_files_are_errors() {
    for (i, args) in [JEPSEN, EDN, KV_JSON].iter().enumerate() {
        assert_rejected(&format!("empty{i}"), "", args, "the file is empty");
        assert_rejected(&format!("blank{i}"), "\n  \t\n\n", args, "the file is empty");
    }
}

#[test]
fn jepsen_completion_values_are_parsed() {
    let invoke = "INFO  jepsen.util - 0\t:invoke\t:cas\t[3 4]\n";
    let truncated = format!("{invoke}INFO  jepsen.util - 0\t:ok\t:cas\t[3\n");
    assert_rejected("truncated.log", &truncated, &JEPSEN, ":2: expected [from to], found \"[3\"");
    let other = format!("{invoke}INFO  jepsen.util - 0\t:fail\t:cas\t[3 5]\n");
    assert_rejected(
        "other.log",
        &other,
        &JEPSEN,
        ":2: the completion's value \"[3 5]\" is not the invocation's",
    );
    let write = "INFO  jepsen.util - 1\t:invoke\t:write\t3\nINFO  jepsen.util - 1\t:ok\t:write\tgarbage\n";
    assert_rejected("garbage.log", write, &JEPSEN, ":2: expected an integer, found \"garbage\"");
    let timed_out =
        "INFO  jepsen.util - 1\t:invoke\t:write\t3\nINFO  jepsen.util - 1\t:info\t:write\t:timed-out\n";
    let (code, stderr, _) = run_on("timed-out.log", timed_out, &JEPSEN);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn edn_completions_must_match_their_invocations() {
    let invoke = "{:process 0, :type :invoke, :f :put, :key \"a\", :value \"x\"}\n";
    let key = format!("{invoke}{{:process 0, :type :ok, :f :put, :key \"b\", :value \"x\"}}\n");
    assert_rejected("key.edn", &key, &EDN, ":2: the completion's key \"b\" is not the invocation's \"a\"");
    let value = format!("{invoke}{{:process 0, :type :ok, :f :put, :key \"a\", :value \"y\"}}\n");
    assert_rejected("value.edn", &value, &EDN, ":2: the completion's value \"y\" is not the invocation's");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = "[".repeat(50_000);
    let edn = format!("{{:process 0, :type :invoke, :f :cas, :key \"a\", :value {deep}}}\n");
    assert_rejected("deep.edn", &edn, &EDN, ":1: values nested more than 16 deep");
    // Inputs are buffered before their "op" is known, so any value may appear there.
    let json = format!("{{\"model\":\"kv\",\"operations\":[{{\"input\":{{\"key\":{deep}");
    assert_rejected("deep.json", &json, &KV_JSON, ":1: values nested more than 128 deep");
    let log = format!("INFO  jepsen.util - 0\t:invoke\t:cas\t{deep}\n");
    assert_rejected("deep.log", &log, &JEPSEN, ":1: expected [from to]");
}

#[test]
fn overlong_lines_are_an_error() {
    let line = format!("INFO  jepsen.util - 0\t:invoke\t:write\t{}", "1".repeat(1 << 21));
    assert_rejected("long.log", &line, &JEPSEN, ":1: line longer than 1048576 bytes");
}

fn json_op(client: u64, call: u64, ret: u64, input: &str, output: &str) -> String {
    format!("{{\"client\":{client},\"call\":{call},\"return\":{ret},\"input\":{input},\"output\":{output}}}")
}

#[test]
fn json_histories_are_checked_like_the_others() {
    let put = r#"{"op":"put","key":"k","value":"v"}"#;
    let get = r#"{"op":"get","key":"k"}"#;
    let ops = [json_op(0, 1, 10, put, r#"{"ok":true}"#), json_op(0, 5, 12, get, r#"{"value":"v"}"#)];
    let overlapping = format!("{{\"model\":\"kv\",\"operations\":[\n{}]}}\n", ops.join(",\n"));
    assert_rejected(
        "overlap.json",
        &overlapping,
        &KV_JSON,
        "client 0 has overlapping operations: operation 1 (called at 1) returns at 10, after operation 2 is called at 5",
    );
    let wrong_kind =
        format!("{{\"model\":\"kv\",\"operations\":[\n{}]}}\n", json_op(0, 1, 2, get, r#"{"ok":true}"#));
    assert_rejected(
        "kind.json",
        &wrong_kind,
        &KV_JSON,
        ":2: operation of client 0 called at 1: a get's output is",
    );
    let kv =
        format!("{{\"model\":\"kv\",\"operations\":[\n{}]}}\n", json_op(0, 1, 2, get, r#"{"value":""}"#));
    let register = ["--model", "register", "--format", "json"];
    assert_rejected("model.json", &kv, &register, ":1: the file's \"model\" is \"kv\", not \"register\"");
    // An abandoned operation (no output) may overlap its client's next one.
    let abandoned = [
        format!("{{\"client\":0,\"call\":1,\"return\":12,\"input\":{put},\"output\":null}}"),
        json_op(0, 5, 12, get, r#"{"value":"v"}"#),
    ];
    let ok = format!("{{\"model\":\"kv\",\"operations\":[\n{}]}}\n", abandoned.join(",\n"));
    let (code, stderr, _) = run_on("abandoned.json", &ok, &KV_JSON);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn fail_on_unknown_exits_3() {
    let bad = common::porcupine_dir().join("kv/c10-bad.txt").display().to_string();
    let ok = common::porcupine_dir().join("kv/c10-ok.txt").display().to_string();
    let mut args =
        vec!["--model", "kv", "--format", "edn", "--no-split", "--timeout-ms", "0", "--fail-on-unknown"];
    args.push(&bad);
    let out = lincheck(&args);
    assert_eq!(out.status.code(), Some(3));
    assert_line(stdout(&out).trim_end(), &bad, "unknown");
    // A definite failure outranks an unknown.
    let out = lincheck(&["--model", "kv", "--format", "edn", "--fail-on-unknown", &bad, &ok]);
    assert_eq!(out.status.code(), Some(1));
    let help = lincheck(&["--help"]);
    assert!(stdout(&help).contains("3 with --fail-on-unknown"), "{}", stdout(&help));
}

#[test]
fn max_memory_bounds_the_search() {
    let c50 = common::porcupine_dir().join("kv/c50-ok.txt").display().to_string();
    let out =
        lincheck(&["--model", "kv", "--format", "edn", "--no-split", "--max-memory", "2M", "--stats", &c50]);
    assert_eq!(out.status.code(), Some(0));
    assert_line(stdout(&out).trim_end(), &c50, "unknown");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak: usize = stderr
        .split_whitespace()
        .find_map(|w| w.strip_prefix("peak_bytes="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak_bytes in {stderr}"));
    assert!(peak <= 2 << 20, "peak {peak} over 2 MiB");
    let out = lincheck(&["--model", "kv", "--format", "edn", "--max-memory", "lots", &c50]);
    assert_eq!(out.status.code(), Some(2));
}
