//! Replays every input under `fuzz/corpus/<target>/`, `fuzz/regressions/<target>/` and
//! `fuzz/artifacts/<target>/` (crash files of local fuzzing runs; absent in a clean clone)
//! through the same target functions the fuzzer runs, on stable Rust and without libFuzzer.

use quorate_fuzz_targets::{run_target, TARGETS};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("fuzz")
}

/// The input files of `target` under `fuzz/<kind>/<target>/`, sorted; none when absent.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.map(|e| e.expect("a readable directory entry").path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// Runs every input of `target`; reports all the failing files at once.
fn replay(target: &str) {
    let corpus = inputs("corpus", target);
    assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ holds no seed input");
    let regressions = inputs("regressions", target);
    let artifacts = inputs("artifacts", target);
    let mut failures = Vec::new();
    for path in corpus.iter().chain(&regressions).chain(&artifacts) {
        let data = std::fs::read(path).expect("a readable input file");
        let outcome = catch_unwind(AssertUnwindSafe(|| run_target(target, &data)));
        match outcome {
            Ok(true) => {}
            Ok(false) => panic!("no target called {target}"),
            Err(_) => failures.push(path.display().to_string()),
        }
    }
    assert!(failures.is_empty(), "{target}: {} inputs fail:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_target_has_a_corpus_and_a_binary() {
    for target in TARGETS {
        assert!(!inputs("corpus", target).is_empty(), "fuzz/corpus/{target}/ is empty");
        let binary = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        assert!(binary.is_file(), "{} is missing", binary.display());
    }
}

#[test]
fn request_vote() {
    replay("request_vote");
}

#[test]
fn append_entries() {
    replay("append_entries");
}

#[test]
fn install_snapshot() {
    replay("install_snapshot");
}

#[test]
fn reads() {
    replay("reads");
}

#[test]
fn operations() {
    replay("operations");
}

#[test]
fn decode_frame() {
    replay("decode_frame");
}

#[test]
fn log_recovery() {
    replay("log_recovery");
}

#[test]
fn sim_schedule() {
    replay("sim_schedule");
}
