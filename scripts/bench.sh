#!/usr/bin/env sh
# Runs the core benchmark (benches/cluster.rs; benches/ is a workspace of its own): a 3-node cluster driven in-process with
# in-memory persistence. Prints latency in network hops and memory per log entry first, then
# criterion's throughput figure (thrpt, in committed entries per second).
#
# With --shape first, runs benches/raft_rs_shape.rs instead: the core in the shape of the usual
# raft-rs harness (see its header); its arguments are N (proposals, default 1000000), RUNS
# (default 3) and the batch sizes (default 1 16 256).
#
# With --snapshots first, runs benches/snapshots.rs: memory with and without compaction,
# recovery from a snapshot against a whole log, a follower's catch-up by snapshot (see its
# header); its arguments are N (proposals, default 10000000) and K (snapshot every K entries,
# default 100000).
#
# With --reads first, prints only the reads figures of benches/cluster.rs: hops per read and
# reads per second through the log, by ReadIndex, from the lease and at a follower.
#
# Usage: scripts/bench.sh [criterion arguments, e.g. --measurement-time 5]
#        scripts/bench.sh --reads
#        scripts/bench.sh --shape [N [RUNS [B...]]]
#        scripts/bench.sh --snapshots [N [K]]
# One build job by default: the machine is shared. Override with CARGO_BUILD_JOBS.
set -eu
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
if [ "${1:-}" = "--shape" ]; then
  shift
  exec cargo bench --manifest-path benches/Cargo.toml --bench raft_rs_shape -- "$@"
fi
if [ "${1:-}" = "--snapshots" ]; then
  shift
  exec cargo bench --manifest-path benches/Cargo.toml --bench snapshots -- "$@"
fi
if [ "${1:-}" = "--reads" ]; then
  exec cargo bench --manifest-path benches/Cargo.toml --bench cluster -- --reads
fi
exec cargo bench --manifest-path benches/Cargo.toml --bench cluster -- "$@"
