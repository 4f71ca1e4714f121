#!/usr/bin/env bash
# Replays one seed with a readable trace: scripts/replay.sh SEED [SCENARIO] [replay options...]
# Without SCENARIO the seed runs in the scenario a sweep without --scenario gives it.
set -euo pipefail
cd "$(dirname "$0")/.."
seed="${1:?usage: scripts/replay.sh SEED [SCENARIO] [replay options...]}"
shift
args=()
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  args=(--scenario "$1")
  shift
fi
exec cargo run --release -q -p quorate-sim -- replay --seed "$seed" ${args[@]+"${args[@]}"} "$@"
