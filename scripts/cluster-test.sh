#!/usr/bin/env bash
# A real multi-host fault test: 5 Quorate nodes in Docker containers on a private network,
# a checked key-value workload from the host, and faults injected from outside:
#
#   scripts/cluster-test.sh [SECONDS] [SEED]      (default 600 s; SEED picks the fault schedule)
#
# Faults, one at a time, each held 2 to 10 s with 1 to 5 s of calm between them: kill (SIGKILL,
# then `docker start`: the node recovers from its data directory), kill-leader (the same, on
# the node that leads), pause (`docker pause`/`unpause`), partition (one node cut off the
# network with `docker network disconnect`, then reconnected at its address) and
# partition-two (two nodes cut off at once: the other three keep a quorum). The last 30 s
# are quiet. Then everything is healed, and the run passes only if the cluster recovers
# (every node up, one leader, every node applied to the leader's commit index within 60 s),
# no acknowledged write is lost, and the clients' history is linearizable by the project's
# checker (`quorate-sim lincheck --model kv --format json`). Prints a summary; exits 1 on a
# failure. Needs Docker (the image is built locally by scripts/docker-image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-600}
SEED=${2:-$$}
RANDOM=$SEED
[ "$DURATION" -ge 60 ] || { echo "cluster-test.sh: run at least 60 s" >&2; exit 2; }
bash scripts/docker-image.sh
cargo build --release -q -p quorate-sim
BIN=$PWD/target/release/quorate
SIM=$PWD/target/release/quorate-sim
WORK=$(mktemp -d)
NET=quorate-test-$$
N=5
PREFIX=172.29.$((RANDOM % 200 + 20))
NAMES=()
for i in $(seq $N); do NAMES[$i]=quorate-test-$$-$i; done
ip() { echo "$PREFIX.$((10 + $1))"; }

cleanup() {
  for i in $(seq $N); do docker rm -f "${NAMES[$i]}" >/dev/null 2>&1 || true; done
  docker network rm "$NET" >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] && echo "kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

docker network create --subnet "$PREFIX.0/24" "$NET" >/dev/null
PEERS=$(for i in $(seq $N); do printf '"%d=%s:7000",' "$i" "$(ip "$i")"; done)
for i in $(seq $N); do
  mkdir -p "$WORK/data-$i"
  cat >"$WORK/node-$i.toml" <<EOF
node_id = $i
cluster_id = "docker"
bind_addr = "$(ip "$i"):7000"
http_addr = "$(ip "$i"):8000"
data_dir = "/data"
peers = [${PEERS%,}]
EOF
  docker run -d --name "${NAMES[$i]}" --network "$NET" --ip "$(ip "$i")" \
    -v "$WORK/node-$i.toml:/etc/quorate.toml:ro" -v "$WORK/data-$i:/data" \
    quorate:local node --config /etc/quorate.toml >/dev/null
done
EP=$(for i in $(seq $N); do printf 'http://%s:8000,' "$(ip "$i")"; done)
EP=${EP%,}

status() { curl -s -m 1 "http://$(ip "$1"):8000/v1/status" 2>/dev/null || true; }
field() { python3 -c "import json,sys; d=json.loads(sys.stdin.read() or '{}'); print(d.get('$1'))" 2>/dev/null || echo None; }
leader() {
  for i in $(seq $N); do
    if [ "$(status "$i" | field role)" = leader ]; then echo "$i"; return; fi
  done
  echo 0
}
for _ in $(seq 300); do [ "$(leader)" != 0 ] && break; sleep 0.1; done
[ "$(leader)" != 0 ] || { echo "FAIL: no leader at start" >&2; exit 1; }

echo "== $N containers on $NET ($PREFIX.0/24); workload for $DURATION s from the host; fault seed $SEED"
"$BIN" workload --endpoints "$EP" --clients 8 --duration "$DURATION" --keys 4 --history "$WORK/history.json" \
  >"$WORK/workload.out" 2>"$WORK/workload.err" &
WORKLOAD=$!

declare -A FAULTS=([kill]=0 [kill-leader]=0 [pause]=0 [partition]=0 [partition-two]=0)
start=$(date +%s)
quiet_at=$((start + DURATION - 30))
pick() { echo $((RANDOM % N + 1)); }
while [ "$(date +%s)" -lt "$quiet_at" ]; do
  hold=$((RANDOM % 9 + 2))
  kinds=(kill kill-leader pause partition partition-two)
  kind=${kinds[$((RANDOM % 5))]}
  a=$(pick)
  b=$(( (a + RANDOM % (N - 1)) % N + 1 ))
  case $kind in
    kill | kill-leader)
      if [ "$kind" = kill-leader ]; then a=$(leader); [ "$a" != 0 ] || { sleep 1; continue; }; fi
      docker kill -s KILL "${NAMES[$a]}" >/dev/null
      sleep "$hold"
      docker start "${NAMES[$a]}" >/dev/null ;;
    pause)
      docker pause "${NAMES[$a]}" >/dev/null
      sleep "$hold"
      docker unpause "${NAMES[$a]}" >/dev/null ;;
    partition)
      docker network disconnect "$NET" "${NAMES[$a]}"
      sleep "$hold"
      docker network connect --ip "$(ip "$a")" "$NET" "${NAMES[$a]}" ;;
    partition-two)
      docker network disconnect "$NET" "${NAMES[$a]}"
      docker network disconnect "$NET" "${NAMES[$b]}"
      sleep "$hold"
      docker network connect --ip "$(ip "$a")" "$NET" "${NAMES[$a]}"
      docker network connect --ip "$(ip "$b")" "$NET" "${NAMES[$b]}" ;;
  esac
  FAULTS[$kind]=$((FAULTS[$kind] + 1))
  target=$a
  [ "$kind" = partition-two ] && target="$a and $b"
  echo "[$(( $(date +%s) - start )) s] $kind $target for $hold s" >>"$WORK/faults.log"
  sleep $((RANDOM % 5 + 1))
done

# Heal everything (each fault healed itself; make sure), then wait for the workload.
for i in $(seq $N); do
  docker unpause "${NAMES[$i]}" >/dev/null 2>&1 || true
  docker network connect --ip "$(ip "$i")" "$NET" "${NAMES[$i]}" >/dev/null 2>&1 || true
  docker start "${NAMES[$i]}" >/dev/null 2>&1 || true
done
workload_status=0
wait $WORKLOAD || workload_status=$?

# Recovery: every node up, one leader, every node applied to the leader's commit index.
recovered=no
deadline=$(( $(date +%s) + 60 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  l=$(leader)
  if [ "$l" != 0 ]; then
    commit=$(status "$l" | field commit_index)
    behind=0
    for i in $(seq $N); do
      applied=$(status "$i" | field applied_index)
      { [ "$applied" != None ] && [ "$applied" -ge "$commit" ]; } || behind=$((behind + 1))
    done
    if [ "$behind" = 0 ]; then recovered="yes (leader $l, commit index $commit)"; break; fi
  fi
  sleep 0.5
done

verdict=$("$SIM" lincheck --model kv --format json "$WORK/history.json" 2>&1 || true)
total=0
for k in "${!FAULTS[@]}"; do total=$((total + FAULTS[$k])); done
echo "duration:     $DURATION s, seed $SEED"
echo "workload:     $(grep '^operations' "$WORK/workload.out" || echo "did not finish: $(tail -1 "$WORK/workload.err")")"
echo "faults:       $total (kill ${FAULTS[kill]}, kill-leader ${FAULTS[kill-leader]}, pause ${FAULTS[pause]}, partition ${FAULTS[partition]}, partition-two ${FAULTS[partition-two]})"
echo "recovered:    $recovered"
echo "lincheck:     ${verdict#"$WORK/"}"
failed=0
[ "$workload_status" = 0 ] || { echo "FAIL: the workload failed (a lost acknowledged write, or no answer): $(tail -3 "$WORK/workload.out")"; failed=1; }
[ "$recovered" != no ] || { echo "FAIL: the cluster did not recover within 60 s of healing"; failed=1; }
case "$verdict" in *": linearizable"*) ;; *) echo "FAIL: the history is not linearizable (or was not checked)"; failed=1 ;; esac
if [ "$failed" != 0 ]; then
  KEEP=1
  for i in $(seq $N); do docker logs "${NAMES[$i]}" >"$WORK/node-$i.log" 2>&1 || true; done
  echo "faults, logs and history kept in $WORK"
  exit 1
fi
echo "verdict:      ok"
