#!/usr/bin/env bash
# Runs a simulation sweep over seeds: scripts/sweep.sh [FIRST..LAST] [SCENARIO] [sweep options...]
# Without SCENARIO the seeds cycle through every scenario, as in the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-0..1000}"
[ $# -gt 0 ] && shift
args=()
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  args=(--scenario "$1")
  shift
fi
exec cargo run --release -q -p quorate-sim -- sweep --seeds "$seeds" ${args[@]+"${args[@]}"} "$@"
