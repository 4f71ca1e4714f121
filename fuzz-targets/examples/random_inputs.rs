//! A smoke fuzzer on stable Rust, for a machine without cargo-fuzz: runs a target on many
//! seeded random inputs, and on mutations of its committed corpus (bytes flipped, cut,
//! duplicated), and writes every input that panics to `fuzz/artifacts/TARGET/`, where
//! `tests/corpus.rs` replays it. No coverage guidance: cargo-fuzz (`scripts/fuzz.sh`) goes
//! much deeper; this finds the shallow bugs in seconds.
//!
//! `cargo run --release -p quorate-fuzz-targets --example random_inputs -- TARGET [RUNS [SEED]]`

use quorate_fuzz_targets::{run_target, TARGETS};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = format!("usage: random_inputs TARGET [RUNS [SEED]] (targets: {})", TARGETS.join(", "));
    let target = args.next().expect(&usage);
    let runs: u64 = args.next().map_or(10_000, |r| r.parse().expect(&usage));
    let seed: u64 = args.next().map_or(0, |s| s.parse().expect(&usage));
    assert!(TARGETS.contains(&target.as_str()), "{usage}");
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("fuzz");
    let mut corpus: Vec<Vec<u8>> = std::fs::read_dir(fuzz.join("corpus").join(&target))
        .map(|dir| dir.filter_map(|e| std::fs::read(e.ok()?.path()).ok()).collect())
        .unwrap_or_default();
    corpus.sort();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = 0;
    for run in 0..runs {
        let input = if corpus.is_empty() || rng.next_u32() % 2 == 0 {
            let mut bytes = vec![0; (rng.next_u32() % 2048) as usize];
            rng.fill_bytes(&mut bytes);
            bytes
        } else {
            mutate(&corpus[(rng.next_u32() as usize) % corpus.len()], &mut rng)
        };
        if catch_unwind(AssertUnwindSafe(|| run_target(&target, &input))).is_err() {
            failures += 1;
            let dir = fuzz.join("artifacts").join(&target);
            std::fs::create_dir_all(&dir).expect("an artifacts directory");
            let file = dir.join(format!("random-{seed}-{run}.bin"));
            std::fs::write(&file, &input).expect("an artifact can be written");
            println!("run {run}: panic, input written to {}", file.display());
        }
    }
    println!("{target}: {runs} inputs, {failures} panicked");
    std::process::exit(i32::from(failures > 0));
}

/// A copy of `input` with a few bytes flipped, a piece cut or repeated.
fn mutate(input: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.next_u32() % 4 {
        if out.is_empty() {
            out.push(rng.next_u32() as u8);
            continue;
        }
        let at = rng.next_u32() as usize % out.len();
        match rng.next_u32() % 4 {
            0 | 1 => out[at] = rng.next_u32() as u8,
            2 => out.truncate(at),
            _ => {
                let piece = out[at..].to_vec();
                out.extend_from_slice(&piece[..piece.len().min(64)]);
            }
        }
    }
    out
}
