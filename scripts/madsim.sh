#!/usr/bin/env bash
# The runtime under madsim (server/tests/madsim.rs): the server's own driver, transport and
# storage on simulated hosts, 3- and 5-node clusters under kills, partitions, transfers and
# membership changes, each seed judged by the linearizability checker.
#
#   scripts/madsim.sh [SEEDS] [FIRST]     SEEDS seeds from FIRST (default 100 from 1), both
#                                         tests, then the regression seeds below
#   scripts/madsim.sh 1 N                 replays seed N (what a failing seed prints)
#
# Builds with RUSTFLAGS="--cfg madsim" in a target directory of its own (target/madsim, or
# $MADSIM_TARGET_DIR), so the normal build is untouched. QUORATE_LOG=debug shows the nodes' logs.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-100}
FIRST=${2:-1}
# Seeds that found something, replayed on every run:
#   51: a one-voter cluster on the in-memory disk committed in no simulated time and froze the
#       clock (fsyncs now take simulated time).
REGRESSIONS="51"
export RUSTFLAGS="--cfg madsim"
export CARGO_TARGET_DIR=${MADSIM_TARGET_DIR:-$PWD/target/madsim}
start=$(date +%s)
MADSIM_TEST_SEED=$FIRST MADSIM_TEST_NUM=$SEEDS cargo test -q -p quorate-server --release --test madsim
if [ "$SEEDS" != 1 ]; then
  for seed in $REGRESSIONS; do
    MADSIM_TEST_SEED=$seed MADSIM_TEST_NUM=1 cargo test -q -p quorate-server --release --test madsim
  done
fi
echo "madsim: seeds $FIRST..$((FIRST + SEEDS - 1)) and regression seeds ($REGRESSIONS), 3 and 5 nodes each: all passed ($(( $(date +%s) - start )) s with the build)"
