#!/usr/bin/env bash
# Runs a simulation sweep over seeds: scripts/sweep.sh [FIRST..LAST] [SCENARIO]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-0..1000}"
scenario="${2:-swarm}"
cargo run --release -q -p quorate-sim -- sweep --seeds "$seeds" --scenario "$scenario"
