#!/usr/bin/env bash
# Fuzzes one target with cargo-fuzz (libFuzzer):
#   scripts/fuzz.sh TARGET [SECONDS] [libFuzzer options...]
# Targets: request_vote append_entries install_snapshot reads operations decode_frame log_recovery sim_schedule (fuzz/fuzz_targets/).
#
# With a nightly toolchain installed, it builds with AddressSanitizer (cargo +nightly fuzz run);
# otherwise it runs on stable without a sanitizer (cargo fuzz run -s none), which still catches
# panics, integer overflows (debug assertions are on), timeouts and the memory limits.
# QUORATE_FUZZ_SANITIZER=none|address overrides the choice.
#
# Seeds are read from fuzz/corpus/TARGET/ (committed); what the fuzzer learns goes to
# fuzz/target/corpus/TARGET/ (not committed); crashes go to fuzz/artifacts/TARGET/, which
# `cargo test -p quorate-fuzz-targets` replays. Keep a crash, once fixed, under
# fuzz/regressions/TARGET/. The fuzz builds go to fuzz/target/<sanitizer>/, or to
# $CARGO_TARGET_DIR/fuzz-<sanitizer>/ when CARGO_TARGET_DIR is set (a directory of their own:
# they are built with other flags). To refresh the committed seeds from what a run learned:
#   <that directory>/x86_64-unknown-linux-gnu/release/TARGET -merge=1 \
#     fuzz/corpus/TARGET fuzz/target/corpus/TARGET
set -euo pipefail
cd "$(dirname "$0")/.."

targets="request_vote append_entries install_snapshot reads operations decode_frame log_recovery sim_schedule"
target="${1:?usage: scripts/fuzz.sh TARGET [SECONDS] [libFuzzer options...] (targets: $targets)}"
seconds="${2:-60}"
shift $(( $# >= 2 ? 2 : 1 ))
case " $targets " in *" $target "*) ;; *) echo "unknown target $target (targets: $targets)" >&2; exit 2 ;; esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

sanitizer="${QUORATE_FUZZ_SANITIZER:-}"
if [ -z "$sanitizer" ]; then
  if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then sanitizer=address; else sanitizer=none; fi
fi
toolchain=()
if [ "$sanitizer" != none ]; then toolchain=(+nightly); fi

# A simulated run takes milliseconds, a node input microseconds: anything near these limits
# is a hang. 2 GiB bounds both the resident set and any single allocation, so an unbounded
# allocation from a hostile length prefix is reported as a crash.
case "$target" in
  sim_schedule) timeout=30 ;;
  *) timeout=10 ;;
esac

mkdir -p "fuzz/target/corpus/$target"
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="$CARGO_TARGET_DIR/fuzz-$sanitizer"
else
  export CARGO_TARGET_DIR="$PWD/fuzz/target/$sanitizer"
fi
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
echo "fuzzing $target for ${seconds}s (sanitizer: $sanitizer)"
exec cargo "${toolchain[@]}" fuzz run --fuzz-dir fuzz -s "$sanitizer" "$target" \
  "fuzz/target/corpus/$target" "fuzz/corpus/$target" -- \
  -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout="$timeout" \
  -print_final_stats=1 "$@"
