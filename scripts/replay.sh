#!/usr/bin/env bash
# Replays one seed with a readable trace: scripts/replay.sh SEED [SCENARIO] [extra args...]
set -euo pipefail
cd "$(dirname "$0")/.."
seed="${1:?usage: scripts/replay.sh SEED [SCENARIO]}"
scenario="${2:-swarm}"
shift $(( $# >= 2 ? 2 : 1 ))
cargo run --release -q -p quorate-sim -- replay --seed "$seed" --scenario "$scenario" "$@"
