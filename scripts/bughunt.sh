#!/usr/bin/env bash
# Shows that the simulator finds real bugs: applies each classic Raft bug in scripts/bugs/
# to the engine, one at a time, sweeps seeds until the first failure, and reverts.
#
# usage: scripts/bughunt.sh [MAX_SEEDS] [PATCH...]   (needs a clean src/ and sim/src/)
#   MAX_SEEDS  seeds to try per bug (default 50000)
#   PATCH      names of patches in scripts/bugs/ (with or without .patch); default: all of them
#
# Exit status: 0 if every bug was found within MAX_SEEDS seeds, 1 if any was not, 2 on an
# error (a patch that does not apply, a failed build, a sweep that crashed or printed no
# summary): an error is never reported as a miss.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh

max=50000
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  max=$1
  shift
fi
patches=()
if [ $# -eq 0 ]; then
  patches=(scripts/bugs/*.patch)
else
  for name in "$@"; do
    name=$(basename "$name" .patch)
    if [ ! -f "scripts/bugs/$name.patch" ]; then
      echo "no patch scripts/bugs/$name.patch (have: $(cd scripts/bugs && ls -- *.patch | sed 's/\.patch$//' | tr '\n' ' '))" >&2
      exit 2
    fi
    patches+=("scripts/bugs/$name.patch")
  done
fi
if ! git diff --quiet -- src sim/src; then
  echo "src/ or sim/src/ has uncommitted changes; commit or stash them first" >&2
  exit 2
fi

# error MESSAGE [OUTPUT]: says what went wrong, shows the output, exits 2 (the trap reverts).
error() {
  echo "bughunt: $1" >&2
  if [ -n "${2:-}" ]; then printf '%s\n' "$2" | tail -n 30 | sed 's/^/  | /' >&2; fi
  exit 2
}

now() { date +%s.%N; }
trap 'git checkout -q -- src sim/src' EXIT
missed=()
for patch in "${patches[@]}"; do
  name=$(basename "$patch" .patch)
  git apply "$patch" || error "$patch does not apply"
  bin=$(build_sim -q) || error "$name: the build with the bug applied failed"
  start=$(now)
  set +e
  out=$("$bin" sweep --seeds "0..$max" --fail-fast 2>&1)
  status=$?
  set -e
  end=$(now)
  seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  summary_ok=false
  if printf '%s\n' "$out" | grep -q '^seeds: ' && printf '%s\n' "$out" | grep -q '^failures: '; then
    summary_ok=true
  fi
  first=$(printf '%s\n' "$out" | grep -m1 '^FAILED seed' || true)
  case "$status" in
    0)
      $summary_ok || error "$name: the sweep exited 0 without a summary" "$out"
      [ -z "$first" ] || error "$name: the sweep exited 0 but reported a failure" "$out"
      printf '%-28s %6.1f s  NOT FOUND in %s seeds\n' "$name" "$seconds" "$max"
      missed+=("$name")
      ;;
    1)
      $summary_ok || error "$name: the sweep exited 1 without a summary" "$out"
      [ -n "$first" ] || error "$name: the sweep exited 1 but named no failing seed" "$out"
      printf '%-28s %6.1f s  %s\n' "$name" "$seconds" "$first"
      ;;
    *)
      error "$name: the sweep exited with status $status (crashed or interrupted), not 0 or 1" "$out"
      ;;
  esac
  git checkout -q -- src sim/src
done
trap - EXIT
build_sim -q >/dev/null || error "rebuilding the unpatched simulator failed"
if [ ${#missed[@]} -gt 0 ]; then
  echo "bughunt: ${#missed[@]} of ${#patches[@]} bugs NOT FOUND in $max seeds: ${missed[*]}" >&2
  exit 1
fi
echo "bughunt: all ${#patches[@]} bugs found"
