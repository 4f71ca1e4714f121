//! Snapshots and log compaction, measured: the figures of issue 11. Three runs, each printed
//! with its shape:
//!
//! 1. **Memory.** 3 voters in one thread, each with in-memory log storage
//!    (`quorate::driver::MemoryLog`, the driver's copy of the log, sharing the core's
//!    buffers) and a state machine that folds every payload into a 16-byte digest; messages
//!    handed over directly; `N` proposals of 64-byte commands (10,000,000 by default), 256
//!    per step. Once with every node snapshotting its state machine every `K` applied entries
//!    (100,000 by default) and compacting its log, once never. Reported: the peak and the
//!    final live heap of the whole process (a counting allocator: every node's log, storage,
//!    messages and the payloads, each payload counted once since the three nodes share it).
//! 2. **Recovery.** One node's durable state in memory: a snapshot plus a 100,000-entry
//!    suffix, against the whole log of `N` entries. Timed: from the durable state to a state
//!    machine that has applied everything committed (the log storage rebuilt, the core
//!    recovered, the state machine restored from the snapshot, the suffix applied through
//!    the driver pipeline). Building the durable state is not timed.
//! 3. **Catch-up.** 3 voters snapshotting every `K` entries; node 3 is cut off while
//!    1,000,000 entries commit; then the network heals, and the time until node 3's state
//!    machine has applied every committed entry is measured (heartbeats every 50 virtual ms,
//!    which pass at once: the figure is the engine's work, not timer waits).
//!
//! Run: `scripts/bench.sh --snapshots [N [K]]` (or `cargo bench --manifest-path
//! benches/Cargo.toml --bench snapshots -- N K`).

use quorate::core::Core;
use quorate::driver::{Apply, MemoryLog, Pipeline};
use quorate::{
    Bytes, Command, DurableState, HardState, Input, LogEntry, LogIndex, Message, NodeId, NodeState,
    RaftConfig, RaftError, RaftResult, Snapshot, SnapshotMeta, Term,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

mod counting;
use counting::Counting;

#[global_allocator]
static ALLOC: Counting = Counting;

/// The payload size.
const PAYLOAD: usize = 64;
/// Proposals per step.
const BATCH: usize = 256;

/// The state machine: a digest of every payload applied (FNV-1a) and the entries counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Digest {
    hash: u64,
    entries: u64,
    applied: LogIndex,
}

impl Digest {
    fn encode(&self) -> Bytes {
        let mut out = self.hash.to_le_bytes().to_vec();
        out.extend_from_slice(&self.entries.to_le_bytes());
        Bytes::from(out)
    }
}

impl Apply for Digest {
    fn apply(&mut self, entries: &[LogEntry]) {
        for e in entries {
            self.applied = e.index;
            if e.kind != quorate::EntryKind::Normal {
                continue;
            }
            let mut h = if self.hash == 0 { 0xcbf2_9ce4_8422_2325 } else { self.hash };
            for &b in e.command.data.iter() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            self.hash = h;
            self.entries += 1;
        }
    }

    fn restore(&mut self, snapshot: &Snapshot) -> RaftResult<()> {
        let field =
            |k: usize| snapshot.data.get(8 * k..8 * k + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
        let (Some(hash), Some(entries)) = (field(0), field(1)) else {
            return Err(RaftError::StateMachineError {
                index: snapshot.meta.index,
                message: "not a digest".into(),
            });
        };
        *self = Digest { hash, entries, applied: snapshot.meta.index };
        Ok(())
    }

    fn read(&mut self, state: quorate::ReadState) {
        unreachable!("the bench asks no reads, yet one was served: {state:?}")
    }
}

struct Node {
    core: Core,
    storage: MemoryLog,
    machine: Digest,
    pipeline: Pipeline,
}

struct Cluster {
    nodes: Vec<Node>,
    net: VecDeque<Message>,
    /// Snapshot every this many applied entries (0: never).
    every: u64,
    /// A node whose messages, both ways, are lost.
    cut: Option<NodeId>,
    now: u64,
}

impl Cluster {
    fn new(every: u64) -> Self {
        let voters = [1u64, 2, 3];
        let nodes = voters
            .iter()
            .map(|&id| {
                let storage = MemoryLog::new();
                let mut core = Core::new(
                    RaftConfig::new(id, voters),
                    DurableState::default(),
                    ChaCha8Rng::seed_from_u64(id),
                    0,
                )
                .expect("a valid configuration");
                core.set_log_source(Arc::new(storage.clone()));
                Node { core, storage, machine: Digest::default(), pipeline: Pipeline::new() }
            })
            .collect();
        let mut cluster = Cluster { nodes, net: VecDeque::new(), every, cut: None, now: 0 };
        cluster.nodes[0].core.step(Input::Campaign).expect("campaign");
        cluster.handle(0);
        cluster.run_until_quiet();
        assert_eq!(cluster.nodes[0].core.state(), NodeState::Leader);
        cluster
    }

    /// Runs node `k`'s pipeline, and snapshots its state machine when it is due.
    fn handle(&mut self, k: usize) {
        let every = self.every;
        let Node { core, storage, machine, pipeline } = &mut self.nodes[k];
        pipeline.drive(core, storage, &mut self.net, machine).expect("in-memory storage does not fail");
        if every > 0 && machine.applied.0 >= core.log().snapshot_point().index.0 + every {
            core.take_snapshot(machine.applied, machine.encode()).expect("a snapshot of what was applied");
            pipeline.drive(core, storage, &mut self.net, machine).expect("in-memory storage does not fail");
        }
    }

    fn run_until_quiet(&mut self) {
        while let Some(msg) = self.net.pop_front() {
            if self.cut.is_some_and(|c| c == msg.to || c == msg.from) {
                continue;
            }
            let k = (msg.to.0 - 1) as usize;
            self.nodes[k].core.step(Input::Message(msg)).expect("a peer's message");
            self.handle(k);
        }
    }

    /// Proposes `n` commands, `BATCH` per step, and delivers until quiet after each step.
    fn propose(&mut self, n: usize) {
        let mut proposed = 0;
        while proposed < n {
            for _ in 0..BATCH.min(n - proposed) {
                self.nodes[0].core.propose(Command::new(vec![0xAB; PAYLOAD])).expect("node 1 leads");
                proposed += 1;
            }
            self.handle(0);
            self.run_until_quiet();
        }
    }

    /// A heartbeat interval passes: the leader's timers fire; messages flow until quiet.
    fn tick(&mut self) {
        self.now += 50;
        for k in 0..self.nodes.len() {
            let now = self.now;
            self.nodes[k].core.step(Input::Clock { now }).expect("a clock reading");
        }
        let now = self.now;
        self.nodes[0].core.step(Input::Tick { now }).expect("a tick");
        self.handle(0);
        self.run_until_quiet();
    }
}

fn mib(bytes: isize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn memory(n: usize, every: u64) {
    Counting::on(usize::MAX);
    let mut cluster = Cluster::new(every);
    cluster.propose(n);
    cluster.tick();
    let counts = Counting::counts();
    let applied: Vec<u64> = cluster.nodes.iter().map(|node| node.machine.entries).collect();
    assert!(applied.iter().all(|&a| a == n as u64), "every node applied every entry: {applied:?}");
    let digests: Vec<u64> = cluster.nodes.iter().map(|node| node.machine.hash).collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "the state machines agree");
    let log_len = cluster.nodes[0].storage.len();
    drop(cluster);
    Counting::off();
    let label = if every == 0 { "never".to_string() } else { format!("every {every} entries") };
    println!(
        "memory, snapshots {label:>20}: peak {:>8.1} MiB, at the end {:>8.1} MiB ({:.1} bytes per committed entry at peak); \
         node 1's log storage holds {log_len} entries at the end",
        mib(counts.peak_bytes),
        mib(counts.live_bytes),
        counts.peak_bytes as f64 / n as f64,
    );
}

/// A durable state of `suffix` entries after a snapshot at `start` (none if `start` is 0).
fn durable(start: u64, suffix: u64) -> DurableState {
    let payload = Bytes::from(vec![0xAB; PAYLOAD]);
    let entries: Vec<LogEntry> = (start + 1..=start + suffix)
        .map(|i| LogEntry::new(Term(1), LogIndex(i), Command::from_bytes(payload.clone())))
        .collect();
    let mut state = DurableState {
        hard_state: HardState { term: Term(1), vote: Some(NodeId(1)), commit: LogIndex(start + suffix) },
        entries,
        ..DurableState::default()
    };
    if start > 0 {
        let machine = Digest { hash: 0x1234, entries: start, applied: LogIndex(start) };
        let meta = SnapshotMeta {
            index: LogIndex(start),
            term: Term(1),
            config: quorate::Configuration::new([NodeId(1), NodeId(2), NodeId(3)]),
        };
        let snapshot = Snapshot::new(meta, machine.encode());
        state.snapshot = snapshot.point();
        state.latest_snapshot = Some(snapshot);
    }
    state
}

/// Recovers a node from `state` and applies everything committed; returns the seconds.
fn recover(state: &DurableState) -> f64 {
    let commit = state.hard_state.commit;
    #[allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time
    let start = Instant::now();
    let storage = MemoryLog::recovered(state);
    let mut core =
        Core::new(RaftConfig::new(1u64, [1u64, 2, 3]), state.clone(), ChaCha8Rng::seed_from_u64(1), 0)
            .expect("a consistent durable state");
    core.set_log_source(Arc::new(storage.clone()));
    let mut machine = Digest::default();
    if let Some(snapshot) = core.snapshot() {
        machine.restore(snapshot).expect("the digest restores");
    }
    let mut pipeline = Pipeline::new();
    let mut storage = storage;
    let mut net: VecDeque<Message> = VecDeque::new();
    while machine.applied < commit {
        pipeline.drive(&mut core, &mut storage, &mut net, &mut machine).expect("in-memory storage");
        if !core.has_ready() && machine.applied < commit {
            core.step(Input::Clock { now: 0 }).expect("a clock reading");
        }
    }
    start.elapsed().as_secs_f64()
}

fn catch_up(missed: usize, every: u64) {
    let mut cluster = Cluster::new(every);
    cluster.cut = Some(NodeId(3));
    cluster.propose(missed);
    cluster.tick();
    let commit = cluster.nodes[0].core.log().committed();
    let before = cluster.nodes[2].machine.applied;
    cluster.cut = None;
    #[allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time
    let start = Instant::now();
    let mut ticks = 0;
    while cluster.nodes[2].machine.applied < commit {
        cluster.tick();
        ticks += 1;
        assert!(ticks < 10_000, "node 3 does not catch up");
    }
    let seconds = start.elapsed().as_secs_f64();
    let stats = cluster.nodes[2].core.stats();
    println!(
        "catch-up: node 3 missed {missed} entries (applied {before}, commit {commit}), snapshots every {every}: \
         back in {:.3} s over {ticks} heartbeat intervals; {} snapshots installed, its log starts after {}",
        seconds,
        stats.snapshots_installed,
        cluster.nodes[2].core.log().snapshot_point().index,
    );
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n = args.first().copied().unwrap_or(10_000_000) as usize;
    let every = args.get(1).copied().unwrap_or(100_000);
    println!("== snapshots: 3 voters, one thread, in-memory storage, {n} proposals of {PAYLOAD} bytes, {BATCH} a step ==");
    memory(n, every);
    memory(n, 0);

    let suffix = 100_000u64.min(n as u64);
    let with_snapshot = durable(n as u64 - suffix, suffix);
    let whole = durable(0, n as u64);
    for _ in 0..2 {
        println!(
            "recovery: a snapshot plus a {suffix}-entry suffix {:.3} s; replaying all {n} entries {:.3} s",
            recover(&with_snapshot),
            recover(&whole)
        );
    }
    catch_up(1_000_000.min(n), every);
}
