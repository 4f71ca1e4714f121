#!/usr/bin/env bash
# Measures the networked runtime on this machine: a 3-node cluster of `quorate node`
# processes on loopback, each with its own data directory on the same disk, fsync on.
#
#   scripts/server-bench.sh [SECONDS]             writes at 1, 16 and 64 clients (64-byte values),
#                                                 then reads at 16 clients by consistency level
#   scripts/server-bench.sh --recovery S1 S2 ...  recovery and rejoin time of a follower killed
#                                                 (SIGKILL) after S seconds of writes at 64 clients,
#                                                 against the size of its write-ahead log
#
# Snapshots are off (compaction threshold 10^9) in --recovery runs, so the log holds every
# entry written. Needs python3 (to read the nodes' JSON status).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p quorate-server
BIN=$PWD/target/release/quorate
DIR=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# Writes the three nodes' configuration files (through `quorate cluster`, stopped at once).
configure() {
  rm -rf "$DIR"/*
  "$BIN" cluster --nodes 3 --dir "$DIR" >"$DIR/cluster.out" 2>/dev/null &
  local pid=$!
  for _ in $(seq 100); do [ "$(wc -l <"$DIR/cluster.out")" -ge 3 ] && break; sleep 0.05; done
  kill -INT $pid; wait $pid || true
  rm -rf "$DIR"/node-?/
  for i in 1 2 3; do printf '%s\n' "$@" >>"$DIR/node-$i.toml"; done
  EP=$(paste -sd, - <"$DIR/cluster.out")
}

start() { # node index
  "$BIN" node --config "$DIR/node-$1.toml" 2>>"$DIR/node-$1.log" &
  PIDS[$1]=$!
}

url() { sed -n "${1}p" "$DIR/cluster.out"; }

wait_leader() {
  for _ in $(seq 200); do
    for i in 1 2 3; do
      if [ "$(curl -s "$(url $i)/v1/status" 2>/dev/null | json 'd["role"]' 2>/dev/null)" = leader ]; then echo "$i"; return; fi
    done
    sleep 0.05
  done
  echo "no leader" >&2; exit 1
}

if [ "${1:-}" = "--recovery" ]; then
  shift
  printf '%-10s %-12s %-12s %-14s %-12s\n' "writes(s)" "entries" "wal bytes" "recovery ms" "rejoin ms"
  for secs in "$@"; do
    configure "[dynamic]" "compaction_threshold = 1000000000"
    for i in 1 2 3; do start $i; done
    leader=$(wait_leader)
    "$BIN" bench --endpoints "$EP" --clients 64 --duration "$secs" >/dev/null 2>&1
    follower=$(( leader % 3 + 1 ))
    kill -9 "${PIDS[$follower]}"; wait "${PIDS[$follower]}" 2>/dev/null || true
    commit=$(curl -s "$(url "$leader")/v1/status" | json 'd["commit_index"]')
    wal=$(du -sb "$DIR/node-$follower/wal" | cut -f1)
    : >"$DIR/node-$follower.log"
    t0=$(date +%s%N)
    start $follower
    while :; do
      applied=$(curl -s "$(url $follower)/v1/status" 2>/dev/null | json 'd["applied_index"]' 2>/dev/null || echo 0)
      [ "${applied:-0}" -ge "$commit" ] && break
      sleep 0.005
    done
    t1=$(date +%s%N)
    took=$(grep -o 'took_ms=[0-9.]*' "$DIR/node-$follower.log" | head -1 | cut -d= -f2)
    entries=$(grep -o ' entries=[0-9]*' "$DIR/node-$follower.log" | head -1 | cut -d= -f2)
    printf '%-10s %-12s %-12s %-14.1f %-12d\n' "$secs" "$entries" "$wal" "$took" $(( (t1 - t0) / 1000000 ))
    for i in 1 2 3; do kill -9 "${PIDS[$i]}" 2>/dev/null || true; done
    wait 2>/dev/null || true
  done
  exit 0
fi

SECS=${1:-10}
configure
for i in 1 2 3; do start $i; done
wait_leader >/dev/null
echo "== writes, 64-byte values, ${SECS} s each"
for c in 1 16 64; do
  "$BIN" bench --endpoints "$EP" --clients $c --value-size 64 --duration "$SECS" 2>/dev/null | grep -E "writes:"  | sed "s/^/clients $c /"
done
echo "== reads, 16 clients, ${SECS} s each"
for consistency in linearizable lease stale; do
  "$BIN" bench --endpoints "$EP" --clients 16 --read-ratio 1 --consistency $consistency --duration "$SECS" 2>/dev/null \
    | grep -E "reads:" | sed "s/^/$consistency /"
done
echo "== the disk, on each node, over the whole run (from GET /metrics)"
for i in 1 2 3; do
  curl -s "$(url $i)/metrics" | awk -v node=$i '
    /^quorate_fsync_seconds_count/ {n=$2} /^quorate_fsync_seconds_sum/ {s=$2} /^quorate_proposals_total/ {p=$2}
    /^quorate_role/ {r=$2}
    END {printf "node %d%s: %d fsyncs, mean %.3f ms; %d proposals (%.1f per leader fsync)\n", node, (r==3?" (leader)":""), n, (n?1000*s/n:0), p, (n&&p?p/n:0)}'
done
