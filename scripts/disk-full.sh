#!/usr/bin/env bash
# The runtime on a disk that fills up: a one-node cluster whose data directory is on a 1 MiB
# tmpfs takes 1 KiB writes until the disk is full. The node must stop with an error naming
# the path (no panic), and once the disk has room again, every write it acknowledged must
# be there after a restart. Needs root (it mounts the tmpfs). Exits non-zero on a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "disk-full.sh: needs root, to mount a small tmpfs" >&2; exit 2; }
cargo build --release -q -p quorate-server
BIN=$PWD/target/release/quorate
WORK=$(mktemp -d)
MNT=$WORK/disk
mkdir -p "$MNT"
mount -t tmpfs -o size=1m tmpfs "$MNT"
PID=
cleanup() {
  if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  umount "$MNT" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PEER=$(port)
HTTP=$(port)
cat >"$WORK/node.toml" <<EOF
node_id = 1
cluster_id = "disk"
bind_addr = "127.0.0.1:$PEER"
http_addr = "127.0.0.1:$HTTP"
data_dir = "$MNT/data"
peers = ["1=127.0.0.1:$PEER"]

[dynamic]
compaction_threshold = 1000000000
EOF
URL=http://127.0.0.1:$HTTP

start() {
  "$BIN" node --config "$WORK/node.toml" 2>>"$WORK/node.log" &
  PID=$!
  for _ in $(seq 200); do
    curl -s "$URL/v1/status" 2>/dev/null | grep -q '"role":"leader"' && return
    sleep 0.05
  done
  echo "the node did not become leader:" >&2; cat "$WORK/node.log" >&2; exit 1
}

start
head -c 1024 /dev/zero | tr '\0' v >"$WORK/value"
acked=0
for i in $(seq 1 5000); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$WORK/value" "$URL/v1/kv/k$i" || true)
  if [ "$code" = 200 ]; then acked=$i; else break; fi
done
for _ in $(seq 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$PID" 2>/dev/null; then echo "FAIL: the node still runs on a full disk" >&2; exit 1; fi
status=0
wait "$PID" || status=$?
PID=
error=$(grep -a -m1 "No space left on device" "$WORK/node.log" || true)
echo "acknowledged writes before the disk filled: $acked"
echo "the node exited with status $status: ${error#*: }"
[ "$status" != 0 ] || { echo "FAIL: the node exited 0 on a full disk" >&2; exit 1; }
[ -n "$error" ] || { echo "FAIL: no 'No space left on device' in the log:" >&2; tail "$WORK/node.log" >&2; exit 1; }
case "$error" in *"$MNT/data"*) ;; *) echo "FAIL: the error does not name the path" >&2; exit 1 ;; esac
if grep -aq "panicked" "$WORK/node.log"; then echo "FAIL: the node panicked" >&2; exit 1; fi
[ "$acked" -gt 100 ] || { echo "FAIL: too few writes before the disk filled ($acked)" >&2; exit 1; }

mount -o remount,size=64m "$MNT"
start
missing=0
for i in $(seq 1 "$acked"); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/kv/k$i")
  [ "$code" = 200 ] || missing=$((missing + 1))
done
echo "after the disk grew and the node restarted: $((acked - missing)) of $acked acknowledged writes read back"
[ "$missing" = 0 ] || { echo "FAIL: $missing acknowledged writes lost" >&2; exit 1; }
echo "ok"
