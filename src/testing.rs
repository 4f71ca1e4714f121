//! A small synchronous in-process cluster of [`Core`]s for tests and benchmarks.
//!
//! It drives each core through the one driver pipeline ([`crate::driver::Pipeline`]) with an
//! in-memory disk per node, and delivers messages in FIFO order unless links are cut. It is
//! deterministic: no clock, no threads, randomness only from the seed. The full simulator
//! with faults lives in the `quorate-sim` crate.

use crate::codec::{self, FrameKind};
use crate::config::RaftConfig;
use crate::core::{Core, DurableState, Input, ReadState, Ready};
use crate::driver::{Apply, LogStore, MemoryLog, Pipeline};
use crate::error::{RaftError, RaftResult};
use crate::log::{Command, EntryKind, LogEntry};
use crate::message::Message;
use crate::snapshot::Snapshot;
use crate::types::{LogIndex, NodeId, NodeState};
use bytes::Bytes;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One node of a [`Cluster`]: its core, its disk and what it applied.
pub struct TestNode {
    /// The protocol state.
    pub core: Core,
    /// What this node has made durable.
    pub disk: DurableState,
    /// The disk as the core reads its log back from it (entries beyond the core's cache,
    /// [`RaftConfig::log_cache_bytes`]).
    pub log: MemoryLog,
    /// Normal entries applied, in order.
    pub applied: Vec<LogEntry>,
    /// Reads served ([`Core::read`]), in order, each with how many normal entries had been
    /// applied when it was served.
    pub reads: Vec<(ReadState, usize)>,
    /// Alerts the core raised ([`crate::alerts`]), in order.
    pub alerts: Vec<crate::alerts::AlertEvent>,
    /// False while crashed.
    pub up: bool,
    restarts: u64,
    pipeline: Pipeline,
}

/// A deterministic in-process cluster.
pub struct Cluster {
    /// The nodes by id.
    pub nodes: BTreeMap<NodeId, TestNode>,
    /// Virtual time in milliseconds.
    pub now: u64,
    /// Messages sent and not yet delivered.
    pub in_flight: VecDeque<Message>,
    /// Directed links that drop messages.
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Every message goes through the wire codec when true.
    pub through_codec: bool,
    /// Messages delivered so far.
    pub delivered: u64,
    seed: u64,
    configs: BTreeMap<NodeId, RaftConfig>,
}

impl Cluster {
    /// A cluster of `n` voters with ids 1..=n and default configuration.
    pub fn new(n: u64, seed: u64) -> Self {
        Self::with_config(n, seed, |_| {})
    }

    /// A cluster of `n` voters whose configurations `adjust` may change.
    pub fn with_config(n: u64, seed: u64, adjust: impl Fn(&mut RaftConfig)) -> Self {
        let ids: Vec<NodeId> = (1..=n).map(NodeId).collect();
        let mut cluster = Cluster {
            nodes: BTreeMap::new(),
            now: 0,
            in_flight: VecDeque::new(),
            cut: BTreeSet::new(),
            through_codec: false,
            delivered: 0,
            seed,
            configs: BTreeMap::new(),
        };
        for &id in &ids {
            let mut config = RaftConfig::new(id, ids.clone());
            adjust(&mut config);
            cluster.configs.insert(id, config);
            cluster.start_empty(id);
        }
        cluster
    }

    /// Starts a new, empty node `id` that joins the cluster ([`RaftConfig::joining`]): it is
    /// told the voters of node 1's configuration, and is a member only once a leader adds it.
    pub fn join(&mut self, id: u64) {
        let id = NodeId(id);
        let first = self.configs.values().next().expect("a cluster has nodes").clone();
        let voters: Vec<NodeId> = self.nodes.values().next().expect("a node").core.voters().to_vec();
        let config = RaftConfig { node_id: id, voters, joining: true, rng_seed: id.0, ..first };
        self.configs.insert(id, config);
        self.start_empty(id);
    }

    /// Starts node `id` (configured already) with an empty disk.
    fn start_empty(&mut self, id: NodeId) {
        let (core, log) = self.boot(id, &DurableState::default(), 0);
        let node = TestNode {
            core,
            disk: DurableState::default(),
            log,
            applied: Vec::new(),
            reads: Vec::new(),
            alerts: Vec::new(),
            up: true,
            restarts: 0,
            pipeline: Pipeline::new(),
        };
        self.nodes.insert(id, node);
    }

    /// A core recovered from `disk`, reading its log back from the returned storage.
    fn boot(&self, id: NodeId, disk: &DurableState, generation: u64) -> (Core, MemoryLog) {
        let rng =
            ChaCha8Rng::seed_from_u64(self.seed ^ id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ generation);
        let mut core = Core::new(self.configs[&id].clone(), disk.clone(), rng, self.now)
            .expect("valid test configuration");
        let log = MemoryLog::recovered(disk);
        core.set_log_source(std::sync::Arc::new(log.clone()));
        (core, log)
    }

    /// The node `id`.
    pub fn node(&self, id: u64) -> &TestNode {
        &self.nodes[&NodeId(id)]
    }

    /// The core of node `id`, mutably.
    pub fn core_mut(&mut self, id: u64) -> &mut Core {
        &mut self.nodes.get_mut(&NodeId(id)).expect("node exists").core
    }

    /// The leader with the highest term among running nodes, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.up && n.core.state() == NodeState::Leader)
            .max_by_key(|(_, n)| n.core.term())
            .map(|(&id, _)| id)
    }

    /// Feeds `input` to node `id` and handles the resulting readies.
    pub fn step(&mut self, id: u64, input: Input) -> RaftResult<()> {
        let node = self.nodes.get_mut(&NodeId(id)).expect("node exists");
        if !node.up {
            return Ok(());
        }
        node.core.step(input)?;
        self.process_ready(NodeId(id));
        Ok(())
    }

    /// Proposes `data` at node `id`.
    pub fn propose(&mut self, id: u64, data: &[u8]) -> RaftResult<LogIndex> {
        let index = self.core_mut(id).propose(Command::new(data.to_vec()))?;
        self.process_ready(NodeId(id));
        Ok(index)
    }

    /// Node `id` takes a snapshot of what it applied ([`state_of`]) and compacts its log;
    /// returns whether it took one (false when one already stands for its applied index).
    pub fn snapshot(&mut self, id: u64) -> RaftResult<bool> {
        let node = self.nodes.get_mut(&NodeId(id)).expect("node exists");
        let index = node.core.log().applied();
        let taken = node.core.take_snapshot(index, state_of(&node.applied))?;
        self.process_ready(NodeId(id));
        Ok(taken)
    }

    /// Makes node `id` campaign (no pre-vote) and delivers messages until quiet.
    pub fn elect(&mut self, id: u64) {
        self.step(id, Input::Campaign).expect("campaign does not fail");
        self.deliver_all();
    }

    /// Handles every pending ready of `id`, following the driver's contract.
    pub fn process_ready(&mut self, id: NodeId) {
        while let Some(node) = self.nodes.get_mut(&id) {
            if !node.up || !node.core.has_ready() {
                return;
            }
            let TestNode { core, disk, log, applied, reads, pipeline, alerts, .. } = node;
            let mut out = Outgoing { messages: Vec::new(), alerts };
            pipeline
                .drive(core, &mut TestStore { disk, log }, &mut out, &mut NormalEntries(applied, Some(reads)))
                .expect("an in-memory disk does not fail");
            for msg in out.messages {
                self.send(msg);
            }
        }
    }

    fn send(&mut self, msg: Message) {
        if self.cut.contains(&(msg.from, msg.to)) {
            return;
        }
        let msg = if self.through_codec {
            let bytes = codec::encode_message(&msg).expect("messages encode");
            codec::decode_message(&bytes).expect("own encoding decodes")
        } else {
            msg
        };
        self.in_flight.push_back(msg);
    }

    /// Delivers one message, if any. Returns false when none was in flight.
    pub fn deliver_one(&mut self) -> bool {
        let Some(msg) = self.in_flight.pop_front() else { return false };
        let to = msg.to;
        // A message to a node that does not run (added to the configuration, never
        // started) is lost, as on a network.
        if self.cut.contains(&(msg.from, msg.to)) || !self.nodes.contains_key(&to) {
            return true;
        }
        self.delivered += 1;
        let _ = self.step(to.0, Input::Message(msg));
        true
    }

    /// Delivers messages until none is in flight (bounded, so a livelock fails loudly).
    pub fn deliver_all(&mut self) {
        let mut budget = 10_000_000u64;
        while self.deliver_one() {
            budget -= 1;
            assert!(budget > 0, "message storm: the cluster never went quiet");
        }
    }

    /// Advances time by `ms` in 1 ms steps, ticking every node and delivering all messages
    /// after each step.
    pub fn run_for(&mut self, ms: u64) {
        for _ in 0..ms {
            self.now += 1;
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                let now = self.now;
                let _ = self.step(id.0, Input::Tick { now });
            }
            self.deliver_all();
        }
    }

    /// Runs until some node is leader, at most `ms` milliseconds; returns it.
    pub fn run_until_leader(&mut self, ms: u64) -> Option<NodeId> {
        for _ in 0..ms {
            if let Some(leader) = self.leader() {
                return Some(leader);
            }
            self.run_for(1);
        }
        self.leader()
    }

    /// Drops messages from `a` to `b` and from `b` to `a`.
    pub fn cut_link(&mut self, a: u64, b: u64) {
        self.cut.insert((NodeId(a), NodeId(b)));
        self.cut.insert((NodeId(b), NodeId(a)));
    }

    /// Cuts every link of `id`.
    pub fn isolate(&mut self, id: u64) {
        let ids: Vec<u64> = self.nodes.keys().map(|n| n.0).collect();
        for other in ids {
            if other != id {
                self.cut_link(id, other);
            }
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Crashes node `id`: volatile state is lost, its disk stays.
    pub fn crash(&mut self, id: u64) {
        let node = self.nodes.get_mut(&NodeId(id)).expect("node exists");
        node.up = false;
        self.in_flight.retain(|m| m.to != NodeId(id));
    }

    /// Restarts a crashed node from its disk; its state machine is rebuilt by replay.
    pub fn restart(&mut self, id: u64) {
        let generation = self.nodes[&NodeId(id)].restarts + 1;
        let (core, log) = self.boot(NodeId(id), &self.nodes[&NodeId(id)].disk, generation);
        let node = self.nodes.get_mut(&NodeId(id)).expect("node exists");
        node.core = core;
        node.log = log;
        node.pipeline.reset();
        node.applied.clear();
        if let Some(snapshot) = &node.disk.latest_snapshot {
            NormalEntries(&mut node.applied, None)
                .restore(snapshot)
                .expect("a test node's own snapshot restores");
        }
        node.up = true;
        node.restarts = generation;
        self.process_ready(NodeId(id));
    }
}

/// Where a test node's batches go: messages to the network, alerts to the node's record.
struct Outgoing<'a> {
    messages: Vec<Message>,
    alerts: &'a mut Vec<crate::alerts::AlertEvent>,
}

impl crate::driver::Transport for Outgoing<'_> {
    fn send(&mut self, msg: Message) {
        self.messages.push(msg);
    }

    fn alert(&mut self, alert: crate::alerts::AlertEvent) {
        self.alerts.push(alert);
    }
}

/// A test node's disk and the log storage its core reads back from, written together.
struct TestStore<'a> {
    disk: &'a mut DurableState,
    log: &'a mut MemoryLog,
}

impl LogStore for TestStore<'_> {
    fn write(&mut self, ready: &mut Ready) -> RaftResult<u64> {
        let entries = ready.entries.clone();
        self.disk.write(ready)?;
        ready.entries = entries;
        self.log.write(ready)
    }

    fn sync(&mut self, _position: u64) -> RaftResult<bool> {
        Ok(true)
    }
}

/// What a test node applies: the normal entries (no-ops skipped).
struct NormalEntries<'a>(&'a mut Vec<LogEntry>, Option<&'a mut Vec<(ReadState, usize)>>);

impl Apply for NormalEntries<'_> {
    fn apply(&mut self, entries: &[LogEntry]) {
        self.0.extend(entries.iter().filter(|e| e.kind == EntryKind::Normal).cloned());
    }

    /// The state is the list of normal entries applied, encoded by [`state_of`].
    fn restore(&mut self, snapshot: &Snapshot) -> RaftResult<()> {
        let (entries, _): (Vec<LogEntry>, usize) =
            codec::decode(FrameKind::State, &snapshot.data).map_err(|e| RaftError::StateMachineError {
                index: snapshot.meta.index,
                message: format!("a test node's snapshot does not decode: {e}"),
            })?;
        *self.0 = entries;
        Ok(())
    }

    fn read(&mut self, state: ReadState) {
        if let Some(reads) = self.1.as_mut() {
            reads.push((state, self.0.len()));
        }
    }
}

/// A test node's state machine serialized: the normal entries it applied, in order.
pub fn state_of(applied: &[LogEntry]) -> Bytes {
    Bytes::from(codec::encode(FrameKind::State, &applied).expect("entries encode"))
}
