//! The command line: `quorate cluster` (URLs printed as it listens, the same cluster on
//! restart, a clean stop on Ctrl-C) and the client commands `kv` and `status`.

#![cfg(not(madsim))]

mod common;

use common::TempDir;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn quorate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quorate")).args(args).output().unwrap()
}

/// Starts `quorate cluster` and reads the URLs it prints until it says it runs.
fn start_cluster(dir: &std::path::Path) -> (Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quorate"))
        .args(["cluster", "--nodes", "3", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Standard output: each node's URL, one a line, as it listens; nothing else.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut urls = Vec::new();
    for line in lines.by_ref().take(3) {
        let line = line.unwrap();
        let port = line.strip_prefix("http://127.0.0.1:").and_then(|p| p.parse::<u16>().ok());
        assert!(port.is_some(), "not a node's URL: {line:?}");
        urls.push(line);
    }
    assert_eq!(urls.len(), 3);
    std::thread::spawn(move || {
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        assert!(rest.is_empty(), "more on standard output: {rest:?}");
    });
    (child, urls)
}

fn interrupt(mut child: Child) {
    // SAFETY: kill(2) on the child this test started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the cluster exited with {status}");
            return;
        }
        assert!(Instant::now() < until, "the cluster did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn a_local_cluster_serves_the_client_commands_and_comes_back_the_same() {
    let dir = TempDir::new("cli");
    let (cluster, urls) = start_cluster(&dir.0);
    let endpoints = urls.join(",");
    let put = text(&quorate(&["kv", "--endpoints", &endpoints, "put", "greeting", "hello"]));
    assert!(put.starts_with("index "), "{put}");
    assert_eq!(text(&quorate(&["kv", "--endpoints", &urls[2], "get", "greeting"])), "hello");
    let cas =
        text(&quorate(&["kv", "--endpoints", &endpoints, "cas", "greeting", "hi", "--expect", "hello"]));
    assert_eq!(cas, "ok true, current \"hi\"");
    let refused = quorate(&["kv", "--endpoints", &endpoints, "cas", "greeting", "x"]);
    assert!(!refused.status.success(), "a compare-and-set that fails exits non-zero");
    let status = text(&quorate(&["status", "--endpoints", &endpoints]));
    assert_eq!(status.lines().count(), 3, "{status}");
    assert!(status.contains("\"role\":\"leader\""), "{status}");
    text(&quorate(&["kv", "--endpoints", &endpoints, "del", "greeting"]));
    let missing = quorate(&["kv", "--endpoints", &endpoints, "get", "greeting"]);
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("no key"));
    text(&quorate(&["kv", "--endpoints", &endpoints, "put", "kept", "across restarts"]));
    interrupt(cluster);

    let (cluster, again) = start_cluster(&dir.0);
    assert_eq!(again, urls, "the same nodes on the same ports");
    assert_eq!(text(&quorate(&["kv", "--endpoints", &again.join(","), "get", "kept"])), "across restarts");
    interrupt(cluster);
    let unreachable = quorate(&["status", "--endpoints", &urls[0]]);
    assert!(!unreachable.status.success(), "a stopped cluster does not answer");
}
