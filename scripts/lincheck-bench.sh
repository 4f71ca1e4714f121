#!/usr/bin/env bash
# Times the linearizability checker on Porcupine's histories, against Porcupine's own figures
# (etcd x102 ~0.8 s total, kv c50-ok split ~0.3 s, kv c10-ok / c10-bad unsplit ~2.3 s each).
# Prints each run's wall time and peak memory (max RSS) from /usr/bin/time, and the search
# statistics (steps, memo cache entries, bytes) from `--stats`.
#
# Usage: scripts/lincheck-bench.sh [RUNS]   (default 3 runs of each case; QUORATE_TESTDATA
# overrides the data directory, as in the tests)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
data="${QUORATE_TESTDATA:-$root/testdata/porcupine}"
runs="${1:-3}"

[ -f "$data/README.md" ] || { echo "test data not found at $data" >&2; exit 2; }
# shellcheck source=scripts/common.sh
source "$root/scripts/common.sh"
# The executable wherever cargo puts it (CARGO_TARGET_DIR is honoured).
bin=$(cd "$root" && CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" build_sim --quiet) || exit 2

# run NAME ARGS...: time the CLI; the exit status (1 = a not-linearizable file) is expected.
run() {
    local name="$1"; shift
    for i in $(seq "$runs"); do
        /usr/bin/time -f "  $name run $i: %e s wall, max RSS %M KB" \
            "$bin" lincheck "$@" >/dev/null 2>/tmp/lincheck-bench.$$ || true
        grep -v -e '^/' -e '^Command exited' /tmp/lincheck-bench.$$ || true
    done
    # The statistics of the file with the biggest memo cache.
    "$bin" lincheck --stats "$@" 2>&1 >/dev/null \
        | sort -t= -k4 -n | tail -n 1 | sed 's/^/  stats: /' || true
}

echo "etcd: all 103 logs in one process (Porcupine: ~0.8 s)"
run etcd --model register --format jepsen "$data"/jepsen/etcd_*.log
echo "etcd: slowest files"
"$bin" lincheck --model register --format jepsen "$data"/jepsen/etcd_*.log \
    | sort -t'(' -k2 -n | tail -n 3 | sed 's/^/  /' || true
echo "kv c50-ok split per key (Porcupine: ~0.3 s)"
run c50-ok --model kv --format edn --split "$data/kv/c50-ok.txt"
echo "kv c50-bad split per key"
run c50-bad --model kv --format edn --split "$data/kv/c50-bad.txt"
echo "kv c10-ok unsplit (Porcupine: ~2.3 s)"
run c10-ok --model kv --format edn --no-split "$data/kv/c10-ok.txt"
echo "kv c10-bad unsplit (Porcupine: ~2.3 s)"
run c10-bad --model kv --format edn --no-split "$data/kv/c10-bad.txt"
rm -f /tmp/lincheck-bench.$$
