#!/usr/bin/env sh
# Runs the core benchmark (benches/cluster.rs; benches/ is a workspace of its own): a 3-node cluster driven in-process with
# in-memory persistence. Prints latency in network hops and memory per log entry first, then
# criterion's throughput figure (thrpt, in committed entries per second).
#
# Usage: scripts/bench.sh [criterion arguments, e.g. --measurement-time 5]
# One build job by default: the machine is shared. Override with CARGO_BUILD_JOBS.
set -eu
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
exec cargo bench --manifest-path benches/Cargo.toml --bench cluster -- "$@"
