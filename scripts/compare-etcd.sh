#!/usr/bin/env bash
# Quorate against etcd, head to head, on this machine:
#
#   scripts/compare-etcd.sh [SECONDS]      (default 10 s a measurement)
#
# A 3-member etcd cluster (etcd 3.4 from Debian's etcd-server package, installed if missing)
# and a 3-node Quorate cluster, each member a process on loopback with its own data directory
# on the same disk, fsync on in both. One cluster runs at a time, alone on the machine. Both
# are driven by the same `quorate bench` (etcd through its v3 JSON gateway): closed-loop
# clients, one request outstanding each, 64-byte values over 1,000 keys, writes and then
# linearizable reads, at 1, 16 and 64 clients. Prints one table: throughput and p50/p99
# latency for each, and Quorate's throughput over etcd's.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
if ! command -v etcd >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "etcd is not installed (apt-get install etcd-server etcd-client)" >&2; exit 2; }
  apt-get install -y -q etcd-server etcd-client >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q etcd-server etcd-client >/dev/null; }
fi
cargo build --release -q -p quorate-server
BIN=$PWD/target/release/quorate
WORK=$(mktemp -d)
PIDS=()
stop_all() { # SIGTERM, and SIGKILL for whatever still runs 5 s later
  for pid in "${PIDS[@]:-}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for pid in "${PIDS[@]:-}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]:-}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_all; rm -rf "$WORK"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs the six measurements against $1 (endpoints) with extra bench flags $2; one line each:
# "kind clients ops/s p50 p99".
measure() {
  for kind in writes reads; do
    for clients in 1 16 64; do
      ratio=0
      [ $kind = reads ] && ratio=1
      # shellcheck disable=SC2086
      line=$("$BIN" bench --endpoints "$1" --clients $clients --value-size 64 --duration "$SECS" --read-ratio $ratio $2 2>/dev/null \
        | grep -E "^ *$kind:")
      echo "$kind $clients $(echo "$line" | awk '{print $6, $9, $12, $4}')"
    done
  done
}

# Fills the keys once so that reads find values.
fill() {
  "$BIN" bench --endpoints "$1" --clients 16 --value-size 64 --duration 2 $2 >/dev/null 2>&1
}

echo "== etcd $(etcd --version | head -1 | awk '{print $3}'): 3 members" >&2
CLUSTER=""
for i in 1 2 3; do
  CP[$i]=$(port)
  PP[$i]=$(port)
  CLUSTER="$CLUSTER${CLUSTER:+,}e$i=http://127.0.0.1:${PP[$i]}"
done
for i in 1 2 3; do
  etcd --name "e$i" --data-dir "$WORK/etcd-$i" \
    --listen-client-urls "http://127.0.0.1:${CP[$i]}" --advertise-client-urls "http://127.0.0.1:${CP[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${PP[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${PP[$i]}" \
    --initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token compare \
    --log-level error >"$WORK/etcd-$i.log" 2>&1 &
  PIDS+=($!)
done
ETCD_EP="http://127.0.0.1:${CP[1]},http://127.0.0.1:${CP[2]},http://127.0.0.1:${CP[3]}"
for _ in $(seq 200); do
  curl -s "http://127.0.0.1:${CP[1]}/health" 2>/dev/null | grep -q '"health":"true"' && break
  sleep 0.1
done
fill "$ETCD_EP" --etcd
measure "$ETCD_EP" --etcd >"$WORK/etcd.txt"
stop_all

echo "== quorate: 3 nodes" >&2
"$BIN" cluster --nodes 3 --dir "$WORK/quorate" >"$WORK/urls" 2>/dev/null &
pid=$!
for _ in $(seq 100); do [ "$(wc -l <"$WORK/urls")" -ge 3 ] && break; sleep 0.05; done
kill -INT $pid
wait $pid || true
rm -rf "$WORK"/quorate/node-?/
for i in 1 2 3; do
  "$BIN" node --config "$WORK/quorate/node-$i.toml" 2>"$WORK/quorate-$i.log" &
  PIDS+=($!)
done
Q_EP=$(paste -sd, - <"$WORK/urls")
for _ in $(seq 200); do
  for u in $(tr ',' ' ' <<<"$Q_EP"); do curl -s "$u/v1/status" 2>/dev/null | grep -q '"role":"leader"' && break 2; done
  sleep 0.05
done
fill "$Q_EP" ""
measure "$Q_EP" "" >"$WORK/quorate.txt"
stop_all

echo
echo "64-byte values, ${SECS} s a measurement, fsync on, loopback, one cluster at a time on this machine"
printf '%-7s %7s | %10s %9s %9s | %10s %9s %9s | %s\n' kind clients "quorate/s" "p50 ms" "p99 ms" "etcd/s" "p50 ms" "p99 ms" "quorate/etcd"
paste -d' ' "$WORK/quorate.txt" "$WORK/etcd.txt" | while read -r kind clients qo qp50 qp99 qerr _ _ eo ep50 ep99 eerr; do
  ratio=$(awk -v q="$qo" -v e="$eo" 'BEGIN { if (e > 0) printf "%.2f", q / e; else print "-" }')
  note=""
  [ "$qerr" != 0 ] && note="$note (quorate: $qerr errors)"
  [ "$eerr" != 0 ] && note="$note (etcd: $eerr errors)"
  printf '%-7s %7s | %10s %9s %9s | %10s %9s %9s | %s%s\n' "$kind" "$clients" "$qo" "$qp50" "$qp99" "$eo" "$ep50" "$ep99" "$ratio" "$note"
done
