#!/usr/bin/env bash
# Shows that the simulator finds real bugs: applies each classic Raft bug in scripts/bugs/
# to the engine, one at a time, sweeps seeds until the first failure, and reverts.
# usage: scripts/bughunt.sh [MAX_SEEDS]   (needs a clean src/)
set -euo pipefail
cd "$(dirname "$0")/.."
max="${1:-50000}"
if ! git diff --quiet -- src sim/src; then
  echo "src/ or sim/src/ has uncommitted changes; commit or stash them first" >&2
  exit 2
fi
trap 'git checkout -q -- src sim/src' EXIT
for patch in scripts/bugs/*.patch; do
  name=$(basename "$patch" .patch)
  git apply "$patch"
  cargo build --release -q -p quorate-sim
  start=$(date +%s.%N)
  out=$(./target/release/quorate-sim sweep --seeds "0..$max" --fail-fast 2>&1 || true)
  end=$(date +%s.%N)
  first=$(printf '%s\n' "$out" | grep -m1 '^FAILED' || echo "NOT FOUND in $max seeds")
  printf '%-28s %6.1f s  %s\n' "$name" "$(echo "$end - $start" | bc)" "$first"
  git checkout -q -- src sim/src
done
cargo build --release -q -p quorate-sim
