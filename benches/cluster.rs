//! Benchmark of the sans-IO core: a 3-node cluster driven in-process with in-memory
//! persistence, reporting three figures:
//!
//! 1. throughput: committed entries per second, 64-byte commands, proposals batched;
//! 2. latency: network hops (rounds of message delivery) from a proposal to its commit;
//! 3. memory: heap bytes the log holds per entry beyond the payload, from a counting
//!    global allocator;
//! 4. reads: reads per second and network hops per read, through the log, by ReadIndex,
//!    from the leader's lease and at a follower.
//!
//! The driver is leaner than `quorate::testing::Cluster`: it follows the same contract
//! (persist, send, apply, acknowledge) but moves readies' contents instead of cloning them, and
//! its state machine only counts. Run with `scripts/bench.sh`.

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use quorate::core::{Core, Ready};
use quorate::driver::{Apply, LogStore, MemoryLog, Pipeline};
use quorate::RaftResult;
use quorate::{Command, DurableState, Input, LogEntry, LogIndex, Message, NodeState, RaftConfig};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::collections::VecDeque;

mod counting;
use counting::Counting;

#[global_allocator]
static ALLOC: Counting = Counting;

// ----- A lean driver ------------------------------------------------------------------------------

const PAYLOAD: usize = 64;

struct Node {
    core: Core,
    /// In-memory persistence: the durable log, sharing the core's buffers.
    disk: MemoryLog,
    /// The "state machine": how many entries and bytes were applied.
    applied: Applied,
    pipeline: Pipeline,
}

/// A disk that keeps nothing (the memory benchmark counts only the core's own log).
struct Discard;

impl LogStore for Discard {
    fn write(&mut self, ready: &mut Ready) -> RaftResult<u64> {
        ready.entries.clear();
        Ok(0)
    }

    fn sync(&mut self, _position: u64) -> RaftResult<bool> {
        Ok(true)
    }
}

/// How many entries and payload bytes were applied, and reads served.
#[derive(Default)]
struct Applied {
    entries: u64,
    bytes: u64,
    reads: u64,
}

impl Apply for Applied {
    fn apply(&mut self, entries: &[LogEntry]) {
        for e in entries {
            self.entries += 1;
            self.bytes += e.command.data.len() as u64;
        }
    }

    /// The state is the two counters, little-endian.
    fn restore(&mut self, snapshot: &quorate::Snapshot) -> quorate::RaftResult<()> {
        let data = &snapshot.data;
        let field =
            |k: usize| data.get(8 * k..8 * k + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        match (field(0), field(1)) {
            (Some(entries), Some(bytes)) if data.len() == 16 => {
                *self = Applied { entries, bytes, reads: self.reads };
                Ok(())
            }
            _ => Err(quorate::RaftError::StateMachineError {
                index: snapshot.meta.index,
                message: "a snapshot of the counters is 16 bytes".into(),
            }),
        }
    }

    fn read(&mut self, state: quorate::ReadState) {
        assert!(state.result.is_ok(), "a read failed: {state:?}");
        self.reads += 1;
    }
}

struct Bench {
    nodes: Vec<Node>,
    /// Messages in flight, delivered FIFO.
    net: VecDeque<Message>,
    delivered: u64,
}

impl Bench {
    fn new(n: u64) -> Self {
        Self::build(n, false)
    }

    /// A cluster of `n` whose node 1 leads; with `lease_reads`, the nodes serve lease reads.
    fn build(n: u64, lease_reads: bool) -> Self {
        let voters: Vec<u64> = (1..=n).collect();
        let nodes = voters
            .iter()
            .map(|&id| {
                let rng = ChaCha8Rng::seed_from_u64(id);
                let mut config = RaftConfig::new(id, voters.clone());
                config.lease_reads = lease_reads;
                let mut core =
                    Core::new(config, DurableState::default(), rng, 0).expect("valid configuration");
                // With lease reads on, a node grants no vote within an election timeout of
                // starting: the clock moves past it (no timer fires on `Clock`).
                core.step(Input::Clock { now: 150 }).expect("clock");
                // The core reads older entries back from the driver's log (one copy per node).
                let disk = MemoryLog::new();
                core.set_log_source(std::sync::Arc::new(disk.clone()));
                Node { core, disk, applied: Applied::default(), pipeline: Pipeline::new() }
            })
            .collect();
        let mut bench = Bench { nodes, net: VecDeque::new(), delivered: 0 };
        bench.nodes[0].core.step(Input::Campaign).expect("campaign");
        bench.process(0);
        bench.run_until_quiet();
        assert_eq!(bench.nodes[0].core.state(), NodeState::Leader);
        bench
    }

    /// Handles every ready of node `k` through the driver pipeline: persist (move into the
    /// disk), send, apply, acknowledge.
    fn process(&mut self, k: usize) {
        let Node { core, disk, applied, pipeline } = &mut self.nodes[k];
        pipeline.drive(core, disk, &mut self.net, applied).expect("an in-memory disk does not fail");
    }

    fn deliver_one(&mut self) -> bool {
        let Some(msg) = self.net.pop_front() else { return false };
        let k = (msg.to.0 - 1) as usize;
        self.delivered += 1;
        self.nodes[k].core.step(Input::Message(msg)).expect("messages never fail");
        self.process(k);
        true
    }

    fn run_until_quiet(&mut self) {
        while self.deliver_one() {}
    }

    /// Delivers exactly the messages in flight now (one network hop); returns how many.
    fn hop(&mut self) -> usize {
        let n = self.net.len();
        for _ in 0..n {
            self.deliver_one();
        }
        n
    }

    fn propose(&mut self, data: Vec<u8>) -> LogIndex {
        let index = self.nodes[0].core.propose(Command::new(data)).expect("node 1 leads");
        self.process(0);
        index
    }

    fn committed(&self, k: usize) -> LogIndex {
        self.nodes[k].core.log().committed()
    }
}

// ----- 1. Throughput ------------------------------------------------------------------------------

const BATCH: usize = 10_000;
/// Proposals handed to the leader between two rounds of message delivery.
const PROPOSALS_PER_ROUND: usize = 256;

/// Proposes `BATCH` 64-byte commands, `PROPOSALS_PER_ROUND` at a time, and runs until every
/// node has applied them all.
fn commit_batch(b: &mut Bench) {
    let target = b.nodes[0].applied.entries + BATCH as u64;
    let mut proposed = 0;
    while proposed < BATCH {
        for _ in 0..PROPOSALS_PER_ROUND.min(BATCH - proposed) {
            b.propose(vec![0xAB; PAYLOAD]);
            proposed += 1;
        }
        b.hop();
    }
    b.run_until_quiet();
    // The last commit index reaches followers with the next heartbeat: tick once.
    let now = b.nodes[0].core.now() + 50;
    b.nodes[0].core.step(Input::Tick { now }).expect("tick");
    b.process(0);
    b.run_until_quiet();
    for (k, node) in b.nodes.iter().enumerate() {
        assert_eq!(node.applied.entries, target, "node {} applied every entry", k + 1);
    }
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("cluster3");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function("commit_64B_entries", |bencher| {
        bencher.iter_batched_ref(|| Bench::new(3), commit_batch, BatchSize::LargeInput)
    });
    group.finish();
}

criterion_group!(benches, throughput);

// ----- 2. Latency in network hops -------------------------------------------------------------------

/// Hops from a proposal until the leader commits it and until every node applied it, on an idle
/// cluster (`background` = 0) or one that receives `background` proposals every hop.
fn latency_hops(background: usize) -> (f64, f64, u64) {
    let mut b = Bench::new(3);
    for _ in 0..100 {
        for _ in 0..background {
            b.propose(vec![0; PAYLOAD]);
        }
        b.hop();
    }
    let (mut to_commit, mut to_apply, mut max) = (0u64, 0u64, 0u64);
    let samples = 100;
    for _ in 0..samples {
        let index = b.propose(vec![1; PAYLOAD]);
        let (mut hops, mut committed_at) = (0u64, None);
        loop {
            if committed_at.is_none() && b.committed(0) >= index {
                committed_at = Some(hops);
            }
            let applied_everywhere = (0..3).all(|k| b.nodes[k].core.log().applied() >= index);
            if applied_everywhere {
                break;
            }
            for _ in 0..background {
                b.propose(vec![0; PAYLOAD]);
            }
            if b.hop() == 0 {
                // Idle: the commit index reaches followers with the next heartbeat.
                let now = b.nodes[0].core.now() + 50;
                b.nodes[0].core.step(Input::Tick { now }).expect("tick");
                b.process(0);
            }
            hops += 1;
            assert!(hops < 1_000, "entry {index} never applied everywhere");
        }
        to_commit += committed_at.expect("committed before applied");
        to_apply += hops;
        max = max.max(hops);
    }
    (to_commit as f64 / samples as f64, to_apply as f64 / samples as f64, max)
}

// ----- 3. Memory per entry -------------------------------------------------------------------------

/// Live heap bytes per entry held by a single-voter core's log beyond the payload, after `n`
/// committed and applied entries (the driver discards what it persists and applies).
fn bytes_per_entry(n: usize) -> (f64, f64) {
    let config = RaftConfig::new(1, [1]);
    let mut core = Core::new(config, DurableState::default(), ChaCha8Rng::seed_from_u64(1), 0).expect("core");
    core.step(Input::Campaign).expect("campaign");
    drain(&mut core);
    let before = Counting::counts();
    for _ in 0..n {
        core.propose(Command::new(vec![7; PAYLOAD])).expect("leader");
        drain(&mut core);
    }
    assert_eq!(core.log().applied(), LogIndex(n as u64 + 1));
    let after = Counting::counts();
    let bytes = (after.live_bytes - before.live_bytes) as f64 / n as f64;
    let allocs = (after.live_allocs - before.live_allocs) as f64 / n as f64;
    drop(core);
    (bytes - PAYLOAD as f64, allocs)
}

fn drain(core: &mut Core) {
    let mut sent: Vec<Message> = Vec::new();
    Pipeline::new().drive(core, &mut Discard, &mut sent, &mut ()).expect("nothing fails");
}

fn report() {
    println!("== quorate core benchmark: 3 voters, in-process, in-memory persistence ==");
    println!("size_of::<LogEntry>() = {} bytes", std::mem::size_of::<LogEntry>());

    let (commit, apply, max) = latency_hops(0);
    println!("latency, idle cluster: leader commits after {commit:.1} hops, all nodes apply after {apply:.1} (max {max})");
    let (commit, apply, max) = latency_hops(64);
    println!(
        "latency, 64 proposals per hop: leader commits after {commit:.1} hops, all apply after {apply:.1} (max {max})"
    );

    let mut worst: f64 = 0.0;
    let mut sum = 0.0;
    Counting::on(usize::MAX);
    let sizes = [100_000, 131_072, 150_000, 200_000, 262_144];
    for n in sizes {
        let (overhead, allocs) = bytes_per_entry(n);
        println!("memory, {n} entries: {overhead:.1} bytes per entry beyond the 64-byte payload ({allocs:.2} allocations per entry)");
        worst = worst.max(overhead);
        sum += overhead;
    }
    Counting::off();
    println!(
        "memory overhead per entry: mean {:.1} bytes, worst {:.1} bytes (requested bytes; the system allocator adds ~16 bytes per allocation on top)",
        sum / sizes.len() as f64,
        worst
    );
}

// ----- 4. Reads ------------------------------------------------------------------------------------

/// How a read is served.
#[derive(Clone, Copy, Debug)]
enum ReadWay {
    /// A 64-byte command through the log, answered when the leader applies it.
    Log,
    /// ReadIndex at the leader.
    ReadIndex,
    /// From the leader's lease (the bench's clock stands still, so the lease always holds).
    Lease,
    /// At node 2, with the leader's read index.
    Follower,
}

/// Serves `total` reads, `per_hop` asked at a time (then hops until every one is served);
/// returns reads per second and hops per batch.
fn reads(way: ReadWay, total: u64, per_hop: u64) -> (f64, f64) {
    let mut b = Bench::build(3, matches!(way, ReadWay::Lease));
    if matches!(way, ReadWay::Lease) {
        // A heartbeat's leadership check, acknowledged, gives the lease.
        b.nodes[0].core.step(Input::Heartbeat).expect("heartbeat");
        b.process(0);
        b.run_until_quiet();
        assert!(b.nodes[0].core.lease_holds(), "the lease holds");
    }
    let k = if matches!(way, ReadWay::Follower) { 1 } else { 0 };
    let served = |b: &Bench| match way {
        ReadWay::Log => b.nodes[0].applied.entries,
        _ => b.nodes[k].applied.reads,
    };
    let base = served(&b);
    let (mut asked, mut hops, mut batches, mut ctx) = (0, 0u64, 0u64, 0u64);
    #[allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time
    let start = std::time::Instant::now();
    while asked < total {
        for _ in 0..per_hop.min(total - asked) {
            ctx += 1;
            asked += 1;
            match way {
                ReadWay::Log => {
                    b.nodes[0].core.propose(Command::new(vec![0xAB; PAYLOAD])).expect("node 1 leads");
                }
                ReadWay::ReadIndex | ReadWay::Follower => {
                    b.nodes[k].core.read(ctx, quorate::ReadKind::ReadIndex).expect("a read is taken")
                }
                ReadWay::Lease => {
                    b.nodes[k].core.read(ctx, quorate::ReadKind::Lease).expect("a read is taken")
                }
            }
        }
        b.process(k);
        batches += 1;
        while served(&b) - base < asked {
            assert!(b.hop() > 0, "{way:?}: reads wait with nothing in flight");
            hops += 1;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    (total as f64 / seconds, hops as f64 / batches as f64)
}

fn report_reads() {
    println!("reads, 3 voters (each figure: best of 3 runs):");
    for way in [ReadWay::Log, ReadWay::ReadIndex, ReadWay::Lease, ReadWay::Follower] {
        let (_, idle_hops) = reads(way, 1_000, 1);
        let best = |per_hop: u64| (0..3).map(|_| reads(way, 500_000, per_hop).0).fold(0.0, f64::max);
        let (one, batched) = (best(1), best(256));
        println!(
            "  {way:?}: {idle_hops:.1} hops per read on an idle cluster; {one:.0} reads/s one at a time, \
             {batched:.0} reads/s 256 at a time"
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--reads") {
        report_reads();
        return;
    }
    // Under a profiler (criterion's --profile-time) only the throughput loop runs.
    if !std::env::args().any(|a| a == "--profile-time") {
        report();
        report_reads();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
