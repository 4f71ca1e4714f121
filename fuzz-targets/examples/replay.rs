//! Runs input files through a target outside libFuzzer, on stable, with the panic and its
//! backtrace as usual: `cargo run -p quorate-fuzz-targets --example replay -- TARGET FILE...`.
//! With `QUORATE_FUZZ_TRACE=1`, the node targets print every input they feed.

use quorate_fuzz_targets::{run_target, TARGETS};

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = format!("usage: replay TARGET FILE... (targets: {})", TARGETS.join(", "));
    let target = args.next().expect(&usage);
    for file in args {
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
        assert!(run_target(&target, &data), "{usage}");
        println!("{file}: ok");
    }
}
