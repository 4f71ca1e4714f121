//! The simulator: one thread, one seed, a discrete-event loop ordered by (virtual time,
//! sequence number). Nodes run the real core through its real output path; every message
//! crosses the real wire codec; every write goes through the real write-ahead log format.

use crate::check_quorum::CheckQuorumChecker;
use crate::checker::Checker;
use crate::clock::NodeClock;
use crate::disk::SimDisk;
use crate::history::{ClientHistory, ClientOpId};
use crate::kv::{ClientId, KvCommand, KvOp, KvResult, KvStore};
use crate::lincheck::Verdict;
use crate::liveness::LivenessPhase;
use crate::report::{Failure, FailureKind, Stats};
use crate::rng::{chance, float, fork, fork_chacha, index, range, rng_for, rng_for_script, SimRng};
use crate::scenario::{Params, Scenario};
use crate::timeline::{Lane, Mark};
use crate::trace::Trace;
use quorate::codec;
use quorate::config::RaftConfig;
use quorate::core::{Core, Input, Ready};
use quorate::log::{Command, EntryKind};
use quorate::message::{Message, Payload};
use quorate::quorum::MajorityConfig;
use quorate::requests::{PendingRequests, Proposed, RequestId};
use quorate::types::{LogIndex, NodeId, NodeState, Term};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

/// Most events one run may process: a bound on simulated work, so a message storm fails as a
/// liveness problem instead of running forever.
pub const MAX_EVENTS: u64 = 20_000_000;
/// A client waits this long for an answer to its first try before retrying elsewhere; each
/// further try waits twice as long as the one before, up to [`CLIENT_TIMEOUT_CAP_MS`], plus a
/// jitter of up to half that drawn from the seed. Backing off keeps a slow cluster from being
/// flooded by retries (each of which costs it a proposal) just when it is slowest.
const CLIENT_TIMEOUT_MS: u64 = 300;
/// The longest a client waits for one try.
const CLIENT_TIMEOUT_CAP_MS: u64 = 3_000;
/// A client told that no leader is known waits this long before its next try, doubling per
/// such answer up to [`CLIENT_REDIRECT_CAP_MS`] (jittered like timeouts).
const CLIENT_REDIRECT_MS: u64 = 10;
/// The longest a client waits after a redirect.
const CLIENT_REDIRECT_CAP_MS: u64 = 1_000;
/// Probability that the liveness phase keeps part of the network cut (see `Sim::leave_a_cut`).
const LIVENESS_CUT_CHANCE: f64 = 0.25;
/// Client operations a run invokes at least (see `Sim::workload_done`).
const MIN_OPS_PER_RUN: u32 = 200;
/// Attempts before a client abandons a request in the safety phase (its outcome is unknown).
const CLIENT_MAX_ATTEMPTS: u32 = 6;
/// Requests a client abandons at most in a run; after that it retries until it gets an
/// answer. Unknown outcomes are what makes checking a history expensive (each may or may
/// not have happened): a few per client exercise them without making histories
/// undecidable within the checker's budget.
const CLIENT_MAX_ABANDONED: u32 = 2;

/// A request from a client to a node.
#[derive(Clone, Debug)]
struct ClientRequest {
    client: ClientId,
    seq: u64,
    /// Which try of the request this is (1 for the first).
    attempt: u32,
    op: KvOp,
}

/// A node's answer to a client.
#[derive(Clone, Debug)]
enum ClientReply {
    Done {
        seq: u64,
        result: KvResult,
    },
    /// Not done here: go to `leader` (or elsewhere). `attempt` is the try it answers, so a
    /// client follows only the answer to its latest try.
    Redirect {
        seq: u64,
        attempt: u32,
        leader: Option<NodeId>,
    },
}

#[derive(Clone, Debug)]
enum Event {
    Deliver { from: NodeId, to: NodeId, bytes: Vec<u8> },
    Timer { node: NodeId, generation: u64 },
    SyncDone { node: NodeId, epoch: u64 },
    Request { node: NodeId, req: ClientRequest },
    Reply { client: ClientId, reply: ClientReply },
    ClientTimeout { client: ClientId, seq: u64, attempt: u32 },
    ClientNext { client: ClientId },
    Partition,
    Crash,
    Restart { node: NodeId },
    Pause,
    Resume { node: NodeId },
    ClockJump,
    SafetyEnd,
}

/// The event queue: a heap of small (time, sequence, slot) keys over a slab of events, so
/// that sifting the heap moves 24 bytes rather than whole events.
#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slab: Vec<Option<Event>>,
    free: Vec<usize>,
}

impl Queue {
    fn push(&mut self, time: u64, seq: u64, event: Event) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot] = Some(event);
                slot
            }
            None => {
                self.slab.push(Some(event));
                self.slab.len() - 1
            }
        };
        self.heap.push(Reverse((time, seq, slot)));
    }

    fn pop(&mut self) -> Option<(u64, Event)> {
        let Reverse((time, _, slot)) = self.heap.pop()?;
        let event = self.slab[slot].take().expect("a queued slot holds an event");
        self.free.push(slot);
        Some((time, event))
    }
}

/// A readied batch waiting for its disk sync.
struct Pending {
    ready: Ready,
    /// Disk offset to sync to, or `None` when the batch wrote nothing.
    sync_to: Option<usize>,
    /// Term of the entry before the batch's first entry, for the log-matching checker.
    prev_term: Term,
}

struct SimNode {
    id: NodeId,
    core: Option<Core>,
    config: RaftConfig,
    disk: SimDisk,
    clock: NodeClock,
    kv: KvStore,
    paused: bool,
    deferred: Vec<Event>,
    pending: VecDeque<Pending>,
    /// A sync is scheduled for the front of `pending`.
    sync_scheduled: bool,
    /// Requests this node proposed, to answer once applied (a retry joins its first try).
    requests: PendingRequests<(ClientId, u64, u32)>,
    timer_generation: u64,
    timer_at: Option<u64>,
    /// Incremented at each crash, so events of a previous life are ignored.
    epoch: u64,
    last_role: (NodeState, u64),
}

struct ClientState {
    /// Requests given up on so far.
    abandoned: u32,
    seq: u64,
    issued: u32,
    current: Option<(ClientOpId, u64, KvOp)>,
    attempts: u32,
    /// Tries of the current request that timed out, for the backoff.
    timeouts: u32,
    /// Answers "no leader known" to the current request, for the backoff.
    leaderless: u32,
    target: NodeId,
    /// The node whose last try timed out, and how many more redirects to it the client passes
    /// over: it may be a stale leader cut off with a minority that keeps naming it, so the
    /// client tries the other nodes first, and believes the redirects again after a full
    /// round (the suspect may just have been slow).
    suspect: Option<(NodeId, u64)>,
}

/// Options of one run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The seed every random choice flows from.
    pub seed: u64,
    /// The scenario.
    pub scenario: Scenario,
    /// Keep a readable trace.
    pub verbose: bool,
    /// Print the readable trace as the run goes (implies `verbose`).
    pub echo: bool,
    /// Search budget of the linearizability check (deterministic steps).
    pub lincheck_steps: u64,
    /// Run with these parameters instead of the ones drawn from the seed (benchmarks).
    pub params: Option<Params>,
    /// Take every random choice from these bytes instead of the seed (the fuzzer).
    pub script: Option<Vec<u8>>,
}

impl RunConfig {
    /// A quiet run of `seed` in `scenario`.
    pub fn new(seed: u64, scenario: Scenario) -> Self {
        RunConfig {
            seed,
            scenario,
            verbose: false,
            echo: false,
            lincheck_steps: 10_000_000,
            params: None,
            script: None,
        }
    }
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// The scenario.
    pub scenario: Scenario,
    /// The drawn parameters.
    pub params: Params,
    /// The first failure, if any.
    pub failure: Option<Failure>,
    /// Counters.
    pub stats: Stats,
    /// Hash of the whole trace: equal for two runs of the same seed.
    pub trace_hash: u64,
    /// Readable trace lines (verbose runs only).
    pub trace: Vec<String>,
    /// The clients' history.
    pub history: ClientHistory,
    /// Role and fault changes per node, for the HTML timeline (verbose runs only).
    pub timeline: Vec<Mark>,
    /// The nodes.
    pub nodes: Vec<NodeId>,
}

/// The simulated world.
pub struct Sim {
    now: u64,
    seq: u64,
    queue: Queue,
    nodes: BTreeMap<NodeId, SimNode>,
    clients: Vec<ClientState>,
    params: Params,
    rng: SimRng,
    net_rng: SimRng,
    fault_rng: SimRng,
    blocked: BTreeSet<(NodeId, NodeId)>,
    faults_on: bool,
    in_liveness: bool,
    liveness: Option<LivenessPhase>,
    checker: Checker,
    check_quorum: CheckQuorumChecker,
    history: ClientHistory,
    trace: Trace,
    timeline: Vec<Mark>,
    stats: Stats,
    failure: Option<Failure>,
}

impl Sim {
    fn new(config: &RunConfig) -> (Sim, Params) {
        let mut rng = match &config.script {
            Some(bytes) => rng_for_script(bytes.clone()),
            None => rng_for(config.seed),
        };
        let drawn = Params::draw(config.scenario, &mut rng);
        let params = config.params.clone().unwrap_or(drawn);
        let mut sim = Sim {
            now: 0,
            seq: 0,
            queue: Queue::default(),
            nodes: BTreeMap::new(),
            clients: Vec::new(),
            net_rng: fork(&mut rng),
            fault_rng: fork(&mut rng),
            rng,
            params: params.clone(),
            blocked: BTreeSet::new(),
            faults_on: true,
            in_liveness: false,
            liveness: None,
            checker: Checker::default(),
            check_quorum: CheckQuorumChecker::default(),
            history: ClientHistory::default(),
            trace: if config.echo { Trace::echoing() } else { Trace::new(config.verbose) },
            timeline: Vec::new(),
            stats: Stats::default(),
            failure: None,
        };
        sim.boot_nodes();
        sim.boot_clients();
        sim.schedule_faults();
        sim.schedule(params.safety_ms, Event::SafetyEnd);
        (sim, params)
    }

    fn boot_nodes(&mut self) {
        let ids: Vec<NodeId> = (1..=self.params.nodes).map(NodeId).collect();
        for &id in &ids {
            let mut config = RaftConfig::new(id, ids.clone());
            config.max_entries_per_append = self.params.max_entries_per_append;
            config.max_inflight = self.params.max_inflight;
            config.pre_vote = self.params.pre_vote;
            config.check_quorum = self.params.check_quorum;
            config.heartbeat_interval_ms = self.params.heartbeat_ms;
            (config.election_timeout_min_ms, config.election_timeout_max_ms) = self.params.election_ms;
            let offset = range(&mut self.rng, 0, self.params.max_offset_ms);
            let drift = float(&mut self.rng, -self.params.max_drift, self.params.max_drift);
            let mut node = SimNode {
                id,
                core: None,
                config,
                disk: SimDisk::default(),
                clock: NodeClock::new(id, offset, drift),
                kv: KvStore::default(),
                paused: false,
                deferred: Vec::new(),
                pending: VecDeque::new(),
                sync_scheduled: false,
                requests: PendingRequests::new(),
                timer_generation: 0,
                timer_at: None,
                epoch: 0,
                last_role: (NodeState::Follower, 0),
            };
            node.core = Some(self.make_core(&mut node));
            self.nodes.insert(id, node);
            self.after_input(id);
        }
    }

    fn make_core(&mut self, node: &mut SimNode) -> Core {
        let durable = node.disk.recover();
        let rng = fork_chacha(&mut self.rng);
        let now = node.clock.local(self.now);
        Core::new(node.config.clone(), durable, rng, now).expect("the simulator builds valid configurations")
    }

    fn boot_clients(&mut self) {
        for id in 0..self.params.clients {
            let target = NodeId(range(&mut self.rng, 1, self.params.nodes));
            self.clients.push(ClientState {
                abandoned: 0,
                seq: 0,
                issued: 0,
                current: None,
                attempts: 0,
                timeouts: 0,
                leaderless: 0,
                target,
                suspect: None,
            });
            let start = range(&mut self.rng, 0, 50);
            self.schedule(start, Event::ClientNext { client: id });
        }
    }

    fn schedule(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.queue.push(self.now + delay, self.seq, event);
    }

    fn schedule_at(&mut self, time: u64, event: Event) {
        self.seq += 1;
        self.queue.push(time.max(self.now), self.seq, event);
    }

    /// Draws the delay to the next occurrence of a fault with mean period `every`.
    fn next_fault_delay(&mut self, every: u64) -> u64 {
        range(&mut self.fault_rng, every / 2, every + every / 2).max(1)
    }

    fn schedule_faults(&mut self) {
        let p = self.params.clone();
        if p.partition_every_ms > 0 {
            let d = self.next_fault_delay(p.partition_every_ms);
            self.schedule(d, Event::Partition);
        }
        if p.crash_every_ms > 0 {
            let d = self.next_fault_delay(p.crash_every_ms);
            self.schedule(d, Event::Crash);
        }
        if p.pause_every_ms > 0 {
            let d = self.next_fault_delay(p.pause_every_ms);
            self.schedule(d, Event::Pause);
        }
        if p.jump_every_ms > 0 {
            let d = self.next_fault_delay(p.jump_every_ms);
            self.schedule(d, Event::ClockJump);
        }
    }

    // ----- The loop ----------------------------------------------------------------------

    fn run(&mut self) {
        while let Some((time, event)) = self.queue.pop() {
            if time > self.end() || self.failure.is_some() {
                break;
            }
            self.now = time;
            self.stats.events += 1;
            if self.stats.events > MAX_EVENTS {
                self.fail(FailureKind::Liveness, format!("more than {MAX_EVENTS} events: a message storm"));
                break;
            }
            self.handle(event);
            if self.in_liveness && self.failure.is_none() {
                let leader = self.stable_leader();
                let now = self.now;
                let phase = self.liveness.as_mut().expect("in the liveness phase");
                if leader.is_some() {
                    phase.on_leader(now);
                }
                if leader.is_some() && self.live() {
                    self.end_liveness();
                    return;
                }
            }
        }
        if self.failure.is_none() {
            let pending = self.clients.iter().filter(|c| c.current.is_some()).count();
            let leader = self.leader();
            let stalled = self.end() - self.params.safety_ms - self.params.liveness_ms;
            self.fail(
                FailureKind::Liveness,
                format!(
                    "liveness: after {} ms of healed network with every clock running ({stalled} ms more \
                     while a clock stood still), leader={leader:?}, {pending} client requests pending",
                    self.params.liveness_ms
                ),
            );
        }
    }

    /// When the run ends: `liveness_ms` after the liveness phase starts, or after every
    /// node's clock runs again if one stands still then (after a backward jump a node's
    /// clock waits for real time to catch up, and a node without a running clock cannot
    /// time out, so the cluster may need it to make progress).
    fn end(&self) -> u64 {
        let healed = match &self.liveness {
            Some(phase) => phase.clocks_running_at,
            None => self.params.safety_ms,
        };
        healed + self.params.liveness_ms
    }

    fn live(&self) -> bool {
        self.workload_done() && self.clients.iter().all(|c| c.current.is_none())
    }

    /// The healed cluster is live: record how long it took, and check the bounds on it.
    fn end_liveness(&mut self) {
        let phase = self.liveness.as_ref().expect("in the liveness phase");
        let term = self.max_term();
        self.stats.liveness_ms = self.now - self.params.safety_ms;
        let leader_rounds = phase.leader_at.map_or(0, |at| (at - phase.healed_at).div_ceil(phase.round_ms));
        self.stats.liveness_leader_rounds = self.stats.liveness_leader_rounds.max(leader_rounds);
        self.stats.liveness_elections = phase.elections;
        self.stats.liveness_terms = term.0.saturating_sub(phase.term_at_heal.0);
        if let Err(v) = phase.check(self.now, term) {
            self.fail(FailureKind::Liveness, v);
        }
    }

    fn max_term(&self) -> Term {
        self.nodes.values().filter_map(|n| n.core.as_ref()).map(Core::term).max().unwrap_or_default()
    }

    /// The leader that a majority of the nodes follow in its term (itself included), if any.
    fn stable_leader(&self) -> Option<NodeId> {
        let (id, term) = self
            .nodes
            .values()
            .filter(|n| !n.paused)
            .filter_map(|n| n.core.as_ref().map(|c| (n.id, c)))
            .filter(|(_, c)| c.state() == NodeState::Leader)
            .map(|(id, c)| (id, c.term()))
            .max_by_key(|&(_, term)| term)?;
        let following: BTreeSet<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.core.as_ref().is_some_and(|c| c.term() == term && c.leader() == Some(id)))
            .map(|n| n.id)
            .collect();
        MajorityConfig::new(self.ids()).has_quorum(|n| following.contains(&n)).then_some(id)
    }

    /// Clients keep issuing into the liveness phase until a run has [`MIN_OPS_PER_RUN`]
    /// operations (or every client issued its share), so a run whose safety phase was mostly
    /// unavailable still produces a history worth checking.
    fn workload_done(&self) -> bool {
        let issued: u32 = self.clients.iter().map(|c| c.issued).sum();
        issued >= MIN_OPS_PER_RUN || self.clients.iter().all(|c| c.issued >= self.params.ops_per_client)
    }

    fn leader(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .filter(|n| !n.paused)
            .filter_map(|n| n.core.as_ref().map(|c| (n.id, c)))
            .filter(|(_, c)| c.state() == NodeState::Leader)
            .max_by_key(|(_, c)| c.term())
            .map(|(id, _)| id)
    }

    /// Records a lane change for the HTML timeline (verbose runs only).
    fn mark(&mut self, id: NodeId, lane: Lane) {
        if self.trace.verbose() {
            self.timeline.push(Mark { at: self.now, node: id, lane });
        }
    }

    fn fail(&mut self, kind: FailureKind, message: String) {
        if self.failure.is_none() {
            let now = self.now;
            self.trace.event(now, None, &[9999], || format!("FAILURE ({kind}): {message}"));
            self.failure = Some(Failure { kind, message, at_ms: now });
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver { from, to, bytes } => self.on_deliver(from, to, bytes),
            Event::Timer { node, generation } => self.on_timer(node, generation),
            Event::SyncDone { node, epoch } => self.on_sync(node, epoch),
            Event::Request { node, req } => self.on_request(node, req),
            Event::Reply { client, reply } => self.on_reply(client, reply),
            Event::ClientTimeout { client, seq, attempt } => self.on_client_timeout(client, seq, attempt),
            Event::ClientNext { client } => self.next_op(client),
            Event::Partition => self.on_partition(),
            Event::Crash => self.on_crash(),
            Event::Restart { node } => self.restart(node),
            Event::Pause => self.on_pause(),
            Event::Resume { node } => self.resume(node),
            Event::ClockJump => self.on_clock_jump(),
            Event::SafetyEnd => self.start_liveness(),
        }
    }

    /// Events for a paused node wait until it resumes; for a crashed node, they are lost.
    fn node_can_run(&mut self, id: NodeId, event: &Event) -> bool {
        let Some(node) = self.nodes.get_mut(&id) else { return false };
        if node.core.is_none() {
            return false;
        }
        if node.paused {
            node.deferred.push(event.clone());
            return false;
        }
        true
    }

    // ----- Nodes -------------------------------------------------------------------------

    fn on_deliver(&mut self, from: NodeId, to: NodeId, bytes: Vec<u8>) {
        if self.blocked.contains(&(from, to)) {
            self.stats.dropped += 1;
            return;
        }
        let event = Event::Deliver { from, to, bytes };
        if !self.node_can_run(to, &event) {
            return;
        }
        let Event::Deliver { bytes, .. } = event else { unreachable!() };
        let msg = match codec::decode_message(&bytes) {
            Ok(msg) => msg,
            Err(err) => {
                self.fail(FailureKind::Safety, format!("a message the codec encoded does not decode: {err}"));
                return;
            }
        };
        self.stats.delivered += 1;
        let kind = msg.payload.kind();
        let term = msg.payload.term().0;
        self.trace.event(self.now, Some(to.0), &[1, from.0, term, bytes.len() as u64], || {
            format!("recv {kind} from n{from} term {term} {}", msg_detail(&msg))
        });
        self.checker.on_delivered(&msg);
        let heard = matches!(msg.payload, Payload::AppendEntriesResponse(_)).then(|| msg.clone());
        self.input(to, Input::Message(msg));
        if let Some(msg) = heard {
            if let Some(core) = self.nodes[&to].core.as_ref() {
                self.check_quorum.on_delivered(to, core, &msg);
            }
        }
    }

    fn on_timer(&mut self, id: NodeId, generation: u64) {
        let event = Event::Timer { node: id, generation };
        if !self.node_can_run(id, &event) {
            return;
        }
        let node = &mut self.nodes.get_mut(&id).expect("node exists");
        if node.timer_generation != generation {
            return;
        }
        node.timer_at = None;
        let now = node.clock.local(self.now);
        self.input(id, Input::Tick { now });
    }

    /// Feeds an input to a node and handles what comes out.
    fn input(&mut self, id: NodeId, input: Input) {
        // The engine's own tracing events (role changes, dropped messages) land in a span per
        // node carrying the virtual time; `replay --engine-log` prints them.
        let _span = tracing::debug_span!("node", id = id.0, t = self.now).entered();
        let node = self.nodes.get_mut(&id).expect("node exists");
        let core = node.core.as_mut().expect("running");
        let local = node.clock.local(self.now);
        if !matches!(input, Input::Tick { .. }) {
            // Keep the core's notion of time current for leases and timer resets.
            let _ = core.step(Input::Tick { now: local });
        }
        let _ = core.step(input);
        self.after_input(id);
    }

    /// Drains the core's readies: send what may go now, write to disk, queue the rest until
    /// the write is synced. Then checks invariants and re-arms the node's timer.
    fn after_input(&mut self, id: NodeId) {
        loop {
            let node = self.nodes.get_mut(&id).expect("node exists");
            let Some(core) = node.core.as_mut() else { return };
            if !core.has_ready() {
                break;
            }
            let mut ready = core.ready();
            let prev_term =
                ready.entries.first().and_then(|e| core.log().term(e.index.prev())).unwrap_or_default();
            let role = self.checker.check_role(core, &ready.messages);
            if let Err(v) = role.and_then(|()| self.checker.check_role(core, &ready.messages_when_durable)) {
                self.fail(FailureKind::Safety, v);
                return;
            }
            for msg in std::mem::take(&mut ready.messages) {
                self.send(msg);
            }
            self.enqueue(id, ready, prev_term);
        }
        self.check_node(id);
        self.arm_timer(id);
    }

    fn enqueue(&mut self, id: NodeId, ready: Ready, prev_term: Term) {
        let node = self.nodes.get_mut(&id).expect("node exists");
        // A commit-only hard state is written but not waited for (`Ready::must_sync`): a
        // later sync makes it durable.
        let written = ready.must_persist().then(|| node.disk.write(&ready));
        let sync_to = written.filter(|_| ready.must_sync);
        if sync_to.is_some() {
            let n = ready.entries.len() as u64;
            self.trace.event(self.now, Some(id.0), &[2, n], || format!("write {n} entries"));
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.pending.push_back(Pending { ready, sync_to, prev_term });
        self.advance_pending(id);
    }

    /// Completes queued batches in order: those without a write at once, the first with a
    /// write once its sync is done (a `SyncDone` event).
    fn advance_pending(&mut self, id: NodeId) {
        loop {
            let node = self.nodes.get_mut(&id).expect("node exists");
            let Some(front) = node.pending.front() else { return };
            if front.sync_to.is_some() {
                if !node.sync_scheduled {
                    let epoch = node.epoch;
                    let (lo, hi) = self.params.sync_ms;
                    let delay = range(&mut self.rng, lo, hi);
                    if delay == 0 {
                        // An instant sync completes here rather than as an event of its own.
                        self.finish_sync(id);
                        continue;
                    }
                    self.nodes.get_mut(&id).expect("node exists").sync_scheduled = true;
                    self.schedule(delay, Event::SyncDone { node: id, epoch });
                }
                return;
            }
            let pending = node.pending.pop_front().expect("front exists");
            self.complete(id, pending.ready);
        }
    }

    fn on_sync(&mut self, id: NodeId, epoch: u64) {
        let event = Event::SyncDone { node: id, epoch };
        if self.nodes[&id].epoch != epoch || !self.node_can_run(id, &event) {
            return;
        }
        self.nodes.get_mut(&id).expect("node exists").sync_scheduled = false;
        if self.finish_sync(id) {
            self.after_input(id);
        }
    }

    /// The disk finished syncing the oldest queued write (or the power failed first).
    /// Returns false when the node crashed instead.
    fn finish_sync(&mut self, id: NodeId) -> bool {
        // Power failures are drawn more often while a vote or a new term is being written:
        // the moments where losing a write is most dangerous get tested the most.
        let writes_vote = self.nodes[&id]
            .pending
            .front()
            .is_some_and(|p| p.ready.hard_state.is_some_and(|hs| hs.vote.is_some()));
        let p_crash =
            if writes_vote { (self.params.crash_on_sync * 10.0).min(0.3) } else { self.params.crash_on_sync };
        if self.faults_on && chance(&mut self.fault_rng, p_crash) {
            // The power fails while the disk is syncing: the write may be torn.
            self.crash(id);
            let downtime = range(&mut self.fault_rng, 10, 1000);
            self.schedule(downtime, Event::Restart { node: id });
            return false;
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        let pending = node.pending.pop_front().expect("a sync completes a queued batch");
        node.disk.sync_to(pending.sync_to.expect("only writes are synced"));
        let hs = node.disk.durable_hard_state();
        let (term, commit) = (hs.term.0, hs.commit.0);
        self.trace.event(self.now, Some(id.0), &[15, term, commit], || {
            format!("synced (term {term}, commit {commit})")
        });
        let durable_entries = self.checker.check_entries(id, pending.prev_term, &pending.ready.entries);
        if let Err(v) = durable_entries.and_then(|()| self.checker.check_durable(id, hs)) {
            self.fail(FailureKind::Safety, v);
            return false;
        }
        self.complete(id, pending.ready);
        self.check_durable_quorum();
        self.advance_pending(id);
        true
    }

    /// The batch is durable: send what waited for it, apply, acknowledge to the core.
    fn complete(&mut self, id: NodeId, mut ready: Ready) {
        for msg in std::mem::take(&mut ready.messages_when_durable) {
            self.send(msg);
        }
        if let (Some(first), Some(last)) = (ready.committed_entries.first(), ready.committed_entries.last()) {
            let (a, b) = (first.index.0, last.index.0);
            self.trace.event(self.now, Some(id.0), &[14, a, b], || format!("apply {a}..={b}"));
        }
        if !ready.committed_entries.is_empty() {
            // The checkers learn of the commit before anything is applied.
            self.check_node(id);
        }
        for entry in &ready.committed_entries {
            if let Err(v) = self.checker.check_apply(id, entry) {
                self.fail(FailureKind::Safety, v);
                return;
            }
            if entry.kind == EntryKind::Normal {
                self.apply(id, entry.index, &entry.command);
            }
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.core.as_mut().expect("running").advance(&ready);
    }

    fn apply(&mut self, id: NodeId, index: LogIndex, command: &Command) {
        let Some(cmd) = KvCommand::decode(&command.data) else {
            self.fail(FailureKind::Safety, format!("{id}: undecodable command at {index}"));
            return;
        };
        let node = self.nodes.get_mut(&id).expect("node exists");
        let result = node.kv.apply(&cmd);
        self.stats.applied += 1;
        let request = RequestId { client: u64::from(cmd.client), seq: cmd.seq };
        let settled = node.requests.applied(index, Some(request));
        let leader = node.core.as_ref().and_then(Core::leader);
        if let Some(result) = result {
            for (client, seq, _) in settled.done {
                self.reply(client, ClientReply::Done { seq, result: result.clone() });
            }
        }
        // Entries overwritten by another leader's: those requests did not happen here.
        for (client, seq, attempt) in settled.superseded {
            self.reply(client, ClientReply::Redirect { seq, attempt, leader });
        }
    }

    fn check_node(&mut self, id: NodeId) {
        let node = &self.nodes[&id];
        let Some(core) = node.core.as_ref() else { return };
        let role = (core.state(), core.term().0);
        let pre = core.is_pre_candidate();
        if role != node.last_role {
            let (state, term) = role;
            if state == NodeState::Candidate && !pre {
                if let Some(phase) = self.liveness.as_mut() {
                    phase.elections += 1;
                }
            }
            let name = if pre { "pre-candidate".to_string() } else { state.to_string() };
            self.trace.event(self.now, Some(id.0), &[3, state as u64, term], || {
                format!("becomes {name} in term {term}")
            });
            self.nodes.get_mut(&id).expect("node exists").last_role = role;
            self.mark(id, Lane::from(state));
        }
        let core = self.nodes[&id].core.as_ref().expect("up");
        let before = self.checker.committed_index();
        if let Err(v) = self.checker.check_node(id, core) {
            self.fail(FailureKind::Safety, v);
            return;
        }
        if let Err(v) = self.check_quorum.check(id, core) {
            self.fail(FailureKind::Liveness, v);
            return;
        }
        if self.checker.committed_index() > before {
            self.check_durable_quorum();
        }
    }

    /// Every committed entry is durable on a quorum: checking the highest suffices, since a
    /// log holding it holds the same prefix (log matching).
    fn check_durable_quorum(&mut self) {
        let index = self.checker.committed_index();
        let Some(term) = self.checker.committed_term(index) else { return };
        let holders = self.nodes.values().filter(|n| n.disk.durably_holds(index, term)).count();
        let quorum = self.nodes.len() / 2 + 1;
        if holders < quorum {
            self.fail(
                FailureKind::Safety,
                format!("committed entry {index}/{term} is durable on {holders} nodes, fewer than a quorum of {quorum}"),
            );
        }
    }

    fn arm_timer(&mut self, id: NodeId) {
        let now = self.now;
        let node = self.nodes.get_mut(&id).expect("node exists");
        let Some(core) = node.core.as_ref() else { return };
        let at = node.clock.global_at(core.next_deadline(), now);
        // A timer already set at or before the deadline stays: when it fires early, the tick
        // is harmless and the timer is set again. This keeps one live timer event per node
        // instead of one per message that moves the deadline.
        if node.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        node.timer_generation += 1;
        node.timer_at = Some(at);
        let generation = node.timer_generation;
        self.schedule_at(at, Event::Timer { node: id, generation });
    }

    // ----- Network -----------------------------------------------------------------------

    fn send(&mut self, msg: Message) {
        self.stats.sent += 1;
        if let Err(v) = self.checker.check_sent(&msg) {
            self.fail(FailureKind::Safety, v);
            return;
        }
        let bytes = match codec::encode_message(&msg) {
            Ok(bytes) => bytes,
            Err(err) => {
                self.fail(FailureKind::Safety, format!("a message does not encode: {err}"));
                return;
            }
        };
        if self.blocked.contains(&(msg.from, msg.to)) || chance(&mut self.net_rng, self.params.loss) {
            self.stats.dropped += 1;
            return;
        }
        let (lo, hi) = self.params.latency_ms;
        if chance(&mut self.net_rng, self.params.duplicate) {
            self.stats.duplicated += 1;
            let delay = range(&mut self.net_rng, lo, hi);
            self.schedule(delay, Event::Deliver { from: msg.from, to: msg.to, bytes: bytes.clone() });
        }
        let delay = range(&mut self.net_rng, lo, hi);
        self.schedule(delay, Event::Deliver { from: msg.from, to: msg.to, bytes });
    }

    // ----- Clients -----------------------------------------------------------------------

    fn next_op(&mut self, client: ClientId) {
        let c = &self.clients[client as usize];
        let quota_met = self.workload_done();
        if c.current.is_some() || c.issued >= self.params.ops_per_client || (self.in_liveness && quota_met) {
            return;
        }
        let op = self.draw_op(client);
        let c = &mut self.clients[client as usize];
        c.seq += 1;
        c.issued += 1;
        c.attempts = 0;
        c.timeouts = 0;
        c.leaderless = 0;
        let op_id = self.history.invoke(client, op.clone(), self.now);
        let seq = self.clients[client as usize].seq;
        self.clients[client as usize].current = Some((op_id, seq, op));
        self.trace.event(self.now, None, &[4, u64::from(client), seq], || {
            format!("client {client} invokes request {seq}")
        });
        self.send_request(client);
    }

    fn draw_op(&mut self, client: ClientId) -> KvOp {
        let key = format!("k{}", range(&mut self.rng, 0, u64::from(self.params.keys) - 1));
        let value = format!("{client}.{}", self.clients[client as usize].seq + 1);
        match range(&mut self.rng, 0, 3) {
            0 => KvOp::Get { key },
            1 => KvOp::Put { key, value },
            2 => KvOp::Append { key, value: format!("{value};") },
            _ => {
                let expected = if chance(&mut self.rng, 0.5) {
                    String::new()
                } else {
                    format!("{}", range(&mut self.rng, 0, 3))
                };
                KvOp::Cas { key, expected, new: value }
            }
        }
    }

    fn send_request(&mut self, client: ClientId) {
        let c = &mut self.clients[client as usize];
        let Some((_, seq, op)) = c.current.clone() else { return };
        c.attempts += 1;
        let attempt = c.attempts;
        let target = c.target;
        let timeouts = c.timeouts;
        let (lo, hi) = self.params.latency_ms;
        let delay = range(&mut self.net_rng, lo, hi);
        self.schedule(
            delay,
            Event::Request { node: target, req: ClientRequest { client, seq, attempt, op } },
        );
        if attempt > 1 {
            self.trace.event(self.now, None, &[18, u64::from(client), seq, target.0], || {
                format!("client {client} retries request {seq} at n{target} (try {attempt})")
            });
        }
        let timeout = self.backoff(CLIENT_TIMEOUT_MS, CLIENT_TIMEOUT_CAP_MS, timeouts);
        self.schedule(timeout, Event::ClientTimeout { client, seq, attempt });
    }

    fn on_request(&mut self, id: NodeId, req: ClientRequest) {
        let event = Event::Request { node: id, req };
        if !self.node_can_run(id, &event) {
            return;
        }
        let Event::Request { req, .. } = event else { unreachable!() };
        let node = self.nodes.get_mut(&id).expect("node exists");
        let core = node.core.as_mut().expect("running");
        let cmd = KvCommand { client: req.client, seq: req.seq, op: req.op };
        let request = RequestId { client: u64::from(req.client), seq: req.seq };
        match node.requests.propose(
            core,
            request,
            Command::new(cmd.encode()),
            (req.client, req.seq, req.attempt),
        ) {
            Ok(Proposed::Appended(_)) => self.after_input(id),
            Ok(Proposed::Joined(index)) => {
                let (client, seq) = (req.client, req.seq);
                self.stats.joined_retries += 1;
                self.trace.event(self.now, Some(id.0), &[16, u64::from(client), seq, index.0], || {
                    format!("client {client} request {seq} retried: joins its entry {index}")
                });
            }
            Err(_) => {
                let leader = core.leader();
                self.reply(req.client, ClientReply::Redirect { seq: req.seq, attempt: req.attempt, leader });
            }
        }
    }

    fn reply(&mut self, client: ClientId, reply: ClientReply) {
        let (lo, hi) = self.params.latency_ms;
        let delay = range(&mut self.net_rng, lo, hi);
        self.schedule(delay, Event::Reply { client, reply });
    }

    fn on_reply(&mut self, client: ClientId, reply: ClientReply) {
        let c = &mut self.clients[client as usize];
        let Some((op_id, seq, _)) = c.current.clone() else { return };
        match reply {
            ClientReply::Done { seq: s, result } if s == seq => {
                c.current = None;
                self.history.complete(op_id, result, self.now);
                self.trace.event(self.now, None, &[5, u64::from(client), seq], || {
                    format!("client {client} completes request {seq}")
                });
                let think = range(&mut self.rng, 0, 20);
                self.schedule(think, Event::ClientNext { client });
            }
            ClientReply::Redirect { seq: s, attempt, leader } if s == seq && attempt == c.attempts => {
                self.trace.event(self.now, None, &[19, u64::from(client), seq], || {
                    format!("client {client} request {seq} redirected to {leader:?}")
                });
                let nodes = self.params.nodes;
                let c = &mut self.clients[client as usize];
                // The answered try is over: its timeout must not fire a second chain of retries.
                c.attempts += 1;
                let suspect = c.suspect.map(|(node, _)| node);
                let pass_over = match (leader, c.suspect) {
                    (Some(l), Some((s, passes))) if l == s => {
                        c.suspect = (passes > 1).then_some((s, passes - 1));
                        passes > 0
                    }
                    _ => false,
                };
                c.target = match leader {
                    Some(l) if l != c.target && !pass_over => l,
                    _ => next_node(c.target, suspect, nodes),
                };
                // Back off, more each time no leader is known, so that a leaderless cluster
                // is not hammered; a redirect to a known leader is followed promptly.
                let leaderless = c.leaderless;
                if leader.is_none() {
                    c.leaderless += 1;
                } else {
                    c.leaderless = 0;
                }
                let base = if leader.is_some() { 1 } else { CLIENT_REDIRECT_MS };
                let exponent = if leader.is_some() { 0 } else { leaderless };
                let backoff = self.backoff(base, CLIENT_REDIRECT_CAP_MS, exponent);
                self.schedule(backoff, Event::ClientTimeout { client, seq, attempt: u32::MAX });
            }
            _ => {}
        }
    }

    /// A capped exponential backoff: `base` doubled `exponent` times, at most `cap`, plus a
    /// jitter of up to half of it drawn from the seed.
    fn backoff(&mut self, base: u64, cap: u64, exponent: u32) -> u64 {
        let wait = base.saturating_mul(1 << exponent.min(20)).min(cap);
        wait + range(&mut self.rng, 0, wait / 2)
    }

    fn on_client_timeout(&mut self, client: ClientId, seq: u64, attempt: u32) {
        let nodes = self.params.nodes;
        let in_liveness = self.in_liveness;
        let c = &mut self.clients[client as usize];
        let Some((op_id, current_seq, _)) = c.current.clone() else { return };
        if current_seq != seq || (attempt != u32::MAX && attempt != c.attempts) {
            return;
        }
        if attempt != u32::MAX {
            c.suspect = Some((c.target, nodes - 1));
            c.target = next_node(c.target, Some(c.target), nodes);
            c.timeouts += 1;
        }
        if c.attempts >= CLIENT_MAX_ATTEMPTS && c.abandoned < CLIENT_MAX_ABANDONED && !in_liveness {
            // Give up: the request may or may not take effect, at any time from now on.
            c.current = None;
            c.abandoned += 1;
            self.stats.abandoned += 1;
            self.history.abandon(op_id);
            self.schedule(0, Event::ClientNext { client });
            return;
        }
        self.send_request(client);
    }

    // ----- Faults ------------------------------------------------------------------------

    fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    fn on_partition(&mut self) {
        if !self.faults_on {
            return;
        }
        if self.blocked.is_empty() {
            self.start_partition();
        } else {
            self.blocked.clear();
            self.trace.event(self.now, None, &[6], || "partition healed".into());
        }
        let d = self.next_fault_delay(self.params.partition_every_ms);
        self.schedule(d, Event::Partition);
    }

    fn start_partition(&mut self) {
        let ids = self.ids();
        if ids.len() < 2 {
            return;
        }
        let shape = range(&mut self.fault_rng, 0, 3);
        let block_between = |a: &[NodeId], b: &[NodeId], set: &mut BTreeSet<(NodeId, NodeId)>, both: bool| {
            for &x in a {
                for &y in b {
                    set.insert((x, y));
                    if both {
                        set.insert((y, x));
                    }
                }
            }
        };
        let mut shuffled = ids.clone();
        for i in (1..shuffled.len()).rev() {
            let j = index(&mut self.fault_rng, i + 1);
            shuffled.swap(i, j);
        }
        let split = range(&mut self.fault_rng, 1, ids.len() as u64 - 1) as usize;
        let (a, b) = shuffled.split_at(split);
        let mut blocked = BTreeSet::new();
        let name = match shape {
            0 => {
                block_between(a, b, &mut blocked, true);
                "symmetric halves"
            }
            1 => {
                block_between(a, b, &mut blocked, false);
                "one-way"
            }
            2 => {
                let victim = self.leader().unwrap_or(shuffled[0]);
                let others: Vec<NodeId> = ids.iter().copied().filter(|&n| n != victim).collect();
                block_between(&[victim], &others, &mut blocked, true);
                "leader isolated"
            }
            _ => {
                // A bridge node sees both sides; the sides do not see each other.
                let (bridge, rest) = shuffled.split_first().expect("two nodes at least");
                let half = rest.len() / 2;
                let (x, y) = rest.split_at(half);
                block_between(x, y, &mut blocked, true);
                let _ = bridge;
                "bridge"
            }
        };
        self.blocked = blocked;
        self.stats.faults.partitions += 1;
        let detail =
            format!("{:?}", self.blocked.iter().map(|(x, y)| format!("{x}->{y}")).collect::<Vec<_>>());
        self.trace.event(self.now, None, &[7, shape], || format!("partition ({name}): blocked {detail}"));
    }

    fn on_crash(&mut self) {
        if !self.faults_on {
            return;
        }
        let up: Vec<NodeId> = self.nodes.values().filter(|n| n.core.is_some()).map(|n| n.id).collect();
        let down = self.nodes.len() - up.len();
        if !up.is_empty() && down < self.params.max_down as usize {
            let leader = self.leader().filter(|_| chance(&mut self.fault_rng, self.params.crash_leader));
            let id = leader.unwrap_or_else(|| up[index(&mut self.fault_rng, up.len())]);
            self.crash(id);
            let downtime = range(&mut self.fault_rng, 10, 1500);
            self.schedule(downtime, Event::Restart { node: id });
        }
        let d = self.next_fault_delay(self.params.crash_every_ms);
        self.schedule(d, Event::Crash);
    }

    fn crash(&mut self, id: NodeId) {
        let torn = self.params.torn_write;
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.core = None;
        node.epoch += 1;
        node.pending.clear();
        node.sync_scheduled = false;
        node.deferred.clear();
        node.paused = false;
        node.requests.clear();
        node.kv = KvStore::default();
        node.timer_at = None;
        node.disk.crash(&mut self.fault_rng, torn);
        self.checker.on_crash(id);
        self.check_quorum.on_crash(id);
        self.stats.faults.crashes += 1;
        self.trace.event(self.now, Some(id.0), &[8], || "crash".into());
        self.mark(id, Lane::Down);
    }

    fn restart(&mut self, id: NodeId) {
        let mut node = self.nodes.remove(&id).expect("node exists");
        if node.core.is_some() {
            self.nodes.insert(id, node);
            return;
        }
        let core = self.make_core(&mut node);
        node.last_role = (core.state(), core.term().0);
        node.core = Some(core);
        self.nodes.insert(id, node);
        self.stats.faults.restarts += 1;
        self.trace.event(self.now, Some(id.0), &[9], || "restart".into());
        self.mark(id, Lane::Follower);
        let hs = self.nodes[&id].disk.durable_hard_state();
        let core = self.nodes[&id].core.as_ref().expect("just started");
        if let Err(v) = self.checker.check_restart(id, core).and_then(|()| self.checker.check_durable(id, hs))
        {
            self.fail(FailureKind::Safety, v);
            return;
        }
        self.after_input(id);
    }

    fn on_pause(&mut self) {
        if !self.faults_on {
            return;
        }
        let running: Vec<NodeId> =
            self.nodes.values().filter(|n| n.core.is_some() && !n.paused).map(|n| n.id).collect();
        if !running.is_empty() {
            let id = running[index(&mut self.fault_rng, running.len())];
            self.nodes.get_mut(&id).expect("node exists").paused = true;
            self.stats.faults.pauses += 1;
            self.trace.event(self.now, Some(id.0), &[10], || "pause".into());
            self.mark(id, Lane::Paused);
            let length = range(&mut self.fault_rng, 50, 1500);
            self.schedule(length, Event::Resume { node: id });
        }
        let d = self.next_fault_delay(self.params.pause_every_ms);
        self.schedule(d, Event::Pause);
    }

    fn resume(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node exists");
        if !node.paused {
            return;
        }
        node.paused = false;
        let deferred = std::mem::take(&mut node.deferred);
        self.trace.event(self.now, Some(id.0), &[11, deferred.len() as u64], || "resume".into());
        let lane = self.nodes[&id].core.as_ref().map_or(Lane::Down, |c| Lane::from(c.state()));
        self.mark(id, lane);
        for event in deferred {
            self.schedule(0, event);
        }
        if self.nodes[&id].core.is_some() {
            let node = self.nodes.get_mut(&id).expect("node exists");
            node.timer_at = None;
            let local = node.clock.local(self.now);
            self.check_quorum.restart_count(id, local);
            self.arm_timer(id);
        }
    }

    fn on_clock_jump(&mut self) {
        if !self.faults_on {
            return;
        }
        let ids = self.ids();
        let id = ids[index(&mut self.fault_rng, ids.len())];
        let delta = range(&mut self.fault_rng, 0, 2000) as i64 - 1000;
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.clock.jump(delta);
        let local = node.clock.local(self.now);
        self.check_quorum.restart_count(id, local);
        self.stats.faults.clock_jumps += 1;
        self.trace.event(self.now, Some(id.0), &[12, delta as u64], || format!("clock jumps {delta:+} ms"));
        if self.nodes[&id].core.is_some() {
            self.nodes.get_mut(&id).expect("node exists").timer_at = None;
            self.arm_timer(id);
        }
        let d = self.next_fault_delay(self.params.jump_every_ms);
        self.schedule(d, Event::ClockJump);
    }

    /// The liveness phase: heal, restart and resume everyone, stop faults.
    fn start_liveness(&mut self) {
        self.faults_on = false;
        self.in_liveness = true;
        self.params.loss = 0.0;
        self.params.duplicate = 0.0;
        self.blocked.clear();
        self.trace.event(self.now, None, &[13], || "liveness phase: network healed, faults stopped".into());
        self.leave_a_cut();
        for id in self.ids() {
            if self.nodes[&id].core.is_none() {
                self.restart(id);
            }
            self.resume(id);
        }
        let now = self.now;
        let clocks_running = self.nodes.values().map(|n| n.clock.running_at(now)).max().unwrap_or(now);
        self.liveness = Some(LivenessPhase::start(now, clocks_running, self.max_term(), &self.params));
    }

    /// Some liveness phases keep part of the network cut: a minority isolated, or one node
    /// that cannot hear (or cannot be heard by) the others. The rest, a connected majority,
    /// must still elect a leader and finish every client's request: CheckQuorum has to
    /// depose a leader stuck on the wrong side, and the cut-off nodes must not keep the
    /// majority from making progress.
    fn leave_a_cut(&mut self) {
        let n = self.params.nodes;
        if n < 3 || !chance(&mut self.fault_rng, LIVENESS_CUT_CHANCE) {
            return;
        }
        let ids = self.ids();
        let mut shuffled = ids.clone();
        for i in (1..shuffled.len()).rev() {
            let j = index(&mut self.fault_rng, i + 1);
            shuffled.swap(i, j);
        }
        // A node that cannot hear the others, left in place, is only survivable with
        // CheckQuorum and PreVote. Without CheckQuorum, a deaf leader keeps its followers
        // (they hear it) and never learns that nothing commits, and Raft has no other way to
        // depose it. Without PreVote, a deaf node campaigns in term after term; voters grant
        // it (its log may be the most up to date) and restart their election timers, as
        // Figure 2 says, so the rest elect a leader only when a timeout falls between two
        // of its campaigns: about 2% a round when its clock runs 27% fast and theirs 27%
        // slow (a sim_schedule input kept in fuzz/regressions ran 10 s without a leader).
        // That is Raft's known limit under a one-way partition, which PreVote lifts.
        let shapes = if self.params.check_quorum && self.params.pre_vote { 2 } else { 1 };
        let shape = [2, 0, 1][range(&mut self.fault_rng, 0, shapes) as usize];
        let minority = range(&mut self.fault_rng, 1, (n - 1) / 2) as usize;
        let (cut, rest) = shuffled.split_at(if shape == 0 { minority } else { 1 });
        for &x in cut {
            for &y in rest {
                if shape != 2 {
                    self.blocked.insert((y, x)); // x cannot hear y
                }
                if shape != 1 {
                    self.blocked.insert((x, y)); // y cannot hear x
                }
            }
        }
        let name = ["minority isolated", "one node deaf", "one node mute"][shape as usize];
        let cut: Vec<u64> = cut.iter().map(|n| n.0).collect();
        self.trace
            .event(self.now, None, &[17, shape], || format!("liveness phase keeps a cut ({name}): {cut:?}"));
    }
}

/// Runs one seed to completion and reports.
pub fn run(config: &RunConfig) -> RunReport {
    let (mut sim, params) = Sim::new(config);
    sim.trace.event(0, None, &[0, config.seed], || {
        format!("seed {} scenario {}: {}", config.seed, config.scenario, params)
    });
    sim.run();
    let Sim { mut failure, mut stats, trace, history, nodes, now, timeline, .. } = sim;
    stats.virtual_ms = now;
    stats.ops = history.len() as u64;
    stats.completed = history.completed() as u64;
    stats.lost_bytes = nodes.values().map(|n| n.disk.lost_bytes).sum();
    // A safety failure stops the run early; otherwise the history is judged, and a history
    // that is not linearizable outranks a liveness failure.
    if failure.as_ref().is_none_or(|f| f.kind == FailureKind::Liveness) {
        match history.check(config.lincheck_steps) {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable(explanation) => {
                failure = Some(Failure {
                    kind: FailureKind::Linearizability,
                    message: explanation.to_string(),
                    at_ms: now,
                });
            }
            Verdict::Unknown(_) => stats.lincheck_unknown += 1,
        }
    }
    RunReport {
        seed: config.seed,
        scenario: config.scenario,
        params,
        failure,
        stats,
        trace_hash: trace.hash(),
        trace: trace.lines().to_vec(),
        history,
        timeline,
        nodes: nodes.keys().copied().collect(),
    }
}

/// The node after `node` in id order (wrapping), passing over `skip` when there is another.
fn next_node(node: NodeId, skip: Option<NodeId>, nodes: u64) -> NodeId {
    let next = NodeId(node.0 % nodes + 1);
    if Some(next) == skip && nodes > 2 {
        NodeId(next.0 % nodes + 1)
    } else {
        next
    }
}

/// What a message says, for the readable trace.
fn msg_detail(msg: &Message) -> String {
    match &msg.payload {
        Payload::AppendEntries(r) => {
            format!("prev {} n {} commit {}", r.prev_log_index, r.entries.len(), r.leader_commit)
        }
        Payload::AppendEntriesResponse(r) => {
            format!("ok {} match {} last {}", r.success, r.match_index, r.last_log_index)
        }
        _ => String::new(),
    }
}
