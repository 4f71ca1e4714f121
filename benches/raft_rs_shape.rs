//! The core measured in the shape of the usual tikv/raft-rs harness, so that the figures can
//! be set beside raft-rs's own:
//!
//! - 3 voters in one thread, each with in-memory storage (`quorate::driver::MemoryLog`, the
//!   driver's copy of the log that the Ready contract requires, sharing the core's buffers;
//!   the core reads older entries back from it and keeps only a cache of recent ones, 8 MiB
//!   by default) and a state machine that hashes every
//!   payload it applies;
//! - messages handed over directly (no encoding), delivered in order until the network is
//!   quiet;
//! - `N` proposals of 64-byte commands (1,000,000 by default), `B` per step: the leader takes
//!   `B` proposals, then every node handles its readies and the messages flow until the
//!   network is quiet; B = 1, 16 and 256.
//!
//! It prints, for each B, committed entries per second (wall clock, the best of `RUNS` runs
//! of a fresh cluster; every node applied every entry and the three hashes agree), then two
//! figures from a counting allocator, for one run at each B:
//! - memory per entry per node: live heap bytes after the run, beyond the payloads, divided
//!   by entries × nodes. The three nodes are in one process and share each payload buffer,
//!   so the payloads are counted once and not per node; everything else each node and its
//!   driver keep (the core's log, the driver's copy, indexes, headers) is counted in full;
//! - payload copies per committed entry: allocations of the payload's exact size (a 61-byte
//!   payload in that run, a size nothing else allocates), minus the one the proposer makes.
//!
//! Run: `cargo bench --manifest-path benches/Cargo.toml --bench raft_rs_shape` (or
//! `scripts/bench.sh --shape`). Arguments: `N` (proposals), `RUNS`, then the batch sizes
//! (default 1 16 256).

use quorate::core::Core;
use quorate::driver::{Apply, MemoryLog, Pipeline};
use quorate::{Command, DurableState, Input, LogEntry, Message, NodeState, RaftConfig};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::collections::VecDeque;
use std::hash::Hasher;
use std::sync::Arc;
use std::time::Instant;

mod counting;
use counting::Counting;

#[global_allocator]
static ALLOC: Counting = Counting;

/// The payload size of the throughput runs.
const PAYLOAD: usize = 64;
/// The payload size of the run that counts copies: no other allocation has this size.
const WATCHED_PAYLOAD: usize = 61;

/// The state machine: hashes every payload, counts entries.
struct Hashing {
    hasher: std::collections::hash_map::DefaultHasher,
    entries: u64,
}

impl Apply for Hashing {
    fn apply(&mut self, entries: &[LogEntry]) {
        for e in entries {
            self.hasher.write(&e.command.data);
            self.entries += 1;
        }
    }

    fn restore(&mut self, snapshot: &quorate::Snapshot) -> quorate::RaftResult<()> {
        unreachable!("the harness takes no snapshots, yet one was restored: {snapshot:?}")
    }

    fn read(&mut self, state: quorate::ReadState) {
        unreachable!("the harness asks no reads, yet one was served: {state:?}")
    }
}

struct Node {
    core: Core,
    /// The driver's in-memory storage: the durable log, kept as the runs the core hands out.
    storage: MemoryLog,
    state_machine: Hashing,
    pipeline: Pipeline,
}

struct Cluster {
    nodes: Vec<Node>,
    net: VecDeque<Message>,
    stats: bool,
    delivered: u64,
    carried: u64,
}

impl Cluster {
    fn new() -> Self {
        let voters = [1u64, 2, 3];
        let nodes = voters
            .iter()
            .map(|&id| {
                let rng = ChaCha8Rng::seed_from_u64(id);
                let mut core = Core::new(RaftConfig::new(id, voters), DurableState::default(), rng, 0)
                    .expect("a valid configuration");
                let storage = MemoryLog::new();
                core.set_log_source(Arc::new(storage.clone()));
                Node {
                    core,
                    storage,
                    state_machine: Hashing { hasher: Default::default(), entries: 0 },
                    pipeline: Pipeline::new(),
                }
            })
            .collect();
        let mut cluster = Cluster { nodes, net: VecDeque::new(), stats: false, delivered: 0, carried: 0 };
        cluster.nodes[0].core.step(Input::Campaign).expect("campaign");
        cluster.handle(0);
        cluster.run_until_quiet();
        assert_eq!(cluster.nodes[0].core.state(), NodeState::Leader);
        cluster
    }

    fn handle(&mut self, k: usize) {
        let Node { core, storage, state_machine, pipeline } = &mut self.nodes[k];
        pipeline.drive(core, storage, &mut self.net, state_machine).expect("in-memory storage does not fail");
    }

    fn run_until_quiet(&mut self) {
        while let Some(msg) = self.net.pop_front() {
            let k = (msg.to.0 - 1) as usize;
            if self.stats {
                self.delivered += 1;
                if let quorate::message::Payload::AppendEntries(req) = &msg.payload {
                    self.carried += req.entries.len() as u64;
                }
            }
            self.nodes[k].core.step(Input::Message(msg)).expect("a peer's message");
            self.handle(k);
        }
    }

    /// Proposes `n` commands of `size` bytes, `batch` per step; returns once every node has
    /// applied them all.
    fn run(&mut self, n: usize, batch: usize, size: usize) {
        let target = self.nodes[0].state_machine.entries + n as u64;
        let mut proposed = 0;
        while proposed < n {
            for _ in 0..batch.min(n - proposed) {
                self.nodes[0].core.propose(Command::new(vec![0xAB; size])).expect("node 1 leads");
                proposed += 1;
            }
            self.handle(0);
            self.run_until_quiet();
        }
        // The last commit index reaches the followers with the next heartbeat.
        let now = self.nodes[0].core.now() + 50;
        self.nodes[0].core.step(Input::Tick { now }).expect("tick");
        self.handle(0);
        self.run_until_quiet();
        let hashes: Vec<u64> = self.nodes.iter().map(|n| n.state_machine.hasher.finish()).collect();
        for (k, node) in self.nodes.iter().enumerate() {
            assert_eq!(node.state_machine.entries, target, "node {} applied every entry", k + 1);
        }
        assert!(hashes.windows(2).all(|w| w[0] == w[1]), "the state machines agree: {hashes:?}");
    }
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n = args.first().copied().unwrap_or(1_000_000);
    let runs = args.get(1).copied().unwrap_or(3);
    println!("== raft-rs-shaped harness: 3 voters, one thread, in-memory storage, {n} proposals of {PAYLOAD} bytes ==");
    let batches = if args.len() > 2 { args[2..].to_vec() } else { vec![1, 16, 256] };
    for batch in batches {
        let mut best = f64::MAX;
        for _ in 0..runs {
            let mut cluster = Cluster::new();
            #[allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time
            let start = Instant::now();
            cluster.run(n, batch, PAYLOAD);
            best = best.min(start.elapsed().as_secs_f64());
        }
        println!(
            "B = {batch:>3}: {:>10.0} committed entries/s (best of {runs}, {best:.3} s)",
            n as f64 / best
        );
        if std::env::var_os("SHAPE_STATS").is_some() {
            let mut cluster = Cluster::new();
            cluster.stats = true;
            cluster.run(n, batch, PAYLOAD);
            println!(
                "  messages per entry {:.3}, entries carried per message {:.1}",
                cluster.delivered as f64 / n as f64,
                cluster.carried as f64 / cluster.delivered as f64
            );
        }
    }

    for batch in [256, 16, 1] {
        let mut cluster = Cluster::new();
        Counting::on(WATCHED_PAYLOAD);
        cluster.run(n, batch, WATCHED_PAYLOAD);
        let counts = Counting::counts();
        Counting::off();
        let entries = n as f64;
        let beyond = (counts.live_bytes as f64 - entries * WATCHED_PAYLOAD as f64) / (entries * 3.0);
        println!(
            "memory at B = {batch}: {beyond:.2} bytes per entry per node beyond the payload ({:.2} live allocations per entry per node)",
            counts.live_allocs as f64 / (entries * 3.0)
        );
        println!(
            "payload copies per committed entry at B = {batch}: {:.2} (3 nodes; {:.1} allocations per entry in all)",
            (counts.watched as f64 - entries) / entries,
            counts.total_allocs as f64 / entries
        );
    }
}
