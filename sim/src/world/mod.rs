//! The simulator: one thread, one seed, a discrete-event loop ordered by (virtual time,
//! sequence number). Nodes run the real core through its real output path; every message
//! crosses the real wire codec; every write goes through the real write-ahead log format.

use crate::alerts::AlertChecker;
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
use crate::scenario::{Params, ReadMix, Scenario};
use crate::snapshots::SnapshotChecker;
use crate::timeline::{Lane, Mark};
use crate::trace::{Trace, TraceEvent};
use quorate::codec;
use quorate::config::RaftConfig;
use quorate::core::{Core, Input, ReadKind, ReadPath, ReadState, Ready};
use quorate::driver::{Batch, LogStore, MemoryLog, Pipeline};
use quorate::log::{Command, EntryKind, LogEntry};
use quorate::message::{Message, Payload};
use quorate::requests::{PendingRequests, Proposed, RequestId};
use quorate::types::{LogIndex, NodeId, NodeState, Term};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use storage::FailingReads;

mod clients;
mod faults;
mod membership;
mod network;
mod node;
mod ops;
mod phase;
mod queue;
mod storage;
mod transfer;

use network::msg_detail;
use queue::{Event, Queue};
use transfer::FencedStore;

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
/// Probability that the liveness phase leaves a minority out, cut off or down (see
/// `Sim::leave_a_minority_out`).
const LIVENESS_CUT_CHANCE: f64 = 0.3;
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
    /// How a get is served (`None`: through the log).
    read: Option<ReadChoice>,
}

/// How a get is served without the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadChoice {
    /// Asked of the leader (a node that is not the leader serves it as a follower read).
    Leader(ReadKind),
    /// Asked of any node: a follower read.
    Follower,
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

/// A write not yet known durable, kept for the checkers until a sync covers it.
struct Written {
    /// The disk offset its record ends at.
    end: usize,
    /// Term of the entry before its first entry, for the log-matching checker.
    prev_term: Term,
    entries: Vec<LogEntry>,
    /// It writes a vote or a snapshot (power failures are drawn more often then: a crash
    /// while a vote or a snapshot is written is where losing a write is most dangerous).
    vote: bool,
}

struct SimNode {
    id: NodeId,
    core: Option<Core>,
    config: RaftConfig,
    disk: SimDisk,
    /// The log storage the core reads back entries from: what was written to the disk.
    log: MemoryLog,
    clock: NodeClock,
    kv: KvStore,
    /// The last index `kv` has applied (or been restored to) in this life.
    kv_applied: LogIndex,
    paused: bool,
    deferred: Vec<Event>,
    /// The driver pipeline between the core and the disk.
    pipeline: Pipeline,
    /// Writes not yet known durable, oldest first.
    written: VecDeque<Written>,
    /// A sync the pipeline asked for and that is not scheduled yet.
    sync_asked: Option<u64>,
    /// Requests this node proposed, to answer once applied (a retry joins its first try).
    requests: PendingRequests<(ClientId, u64, u32)>,
    /// Gets this node serves without the log, by the context they were asked with.
    reads: BTreeMap<u64, PendingRead>,
    /// The context of the last read asked.
    last_read: u64,
    timer_generation: u64,
    timer_at: Option<u64>,
    /// Incremented at each crash, so events of a previous life are ignored.
    epoch: u64,
    last_role: (NodeState, u64),
    /// The placement scheduler of this life (runs that draw one).
    placement: Option<quorate::placement::PlacementScheduler>,
}

/// A get a node serves without the log: whose, and of which key.
struct PendingRead {
    client: ClientId,
    seq: u64,
    attempt: u32,
    key: String,
}

struct ClientState {
    /// Requests given up on so far.
    abandoned: u32,
    seq: u64,
    issued: u32,
    current: Option<(ClientOpId, u64, KvOp)>,
    /// How the current request, a get, is served (`None`: through the log).
    read: Option<ReadChoice>,
    /// A write of this client was given up on, and no request of its through the log has
    /// completed since: it may still apply.
    unfenced: bool,
    attempts: u32,
    /// Tries of the current request that timed out, for the backoff.
    timeouts: u32,
    /// Answers "no leader known" to the current request, for the backoff.
    leaderless: u32,
    target: NodeId,
    /// Where the client's round of the nodes stands: a node that knows no leader sends it
    /// on from here, not from wherever a (perhaps stale) redirect took it, so that stale
    /// redirects cannot trap it in a cycle of nodes that all know no leader (nodes removed
    /// from the cluster among them).
    cursor: NodeId,
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
    /// Nodes the liveness phase leaves down: restarts scheduled before it are dropped.
    left_down: BTreeSet<NodeId>,
    checker: Checker,
    check_quorum: CheckQuorumChecker,
    alerts: AlertChecker,
    history: ClientHistory,
    trace: Trace,
    timeline: Vec<Mark>,
    stats: Stats,
    failure: Option<Failure>,
    /// Seeds the failing reads of each core's log storage; keyed by the seed alone, so that
    /// drawing from it changes no other draw.
    read_rng: rand_chacha::ChaCha8Rng,
    /// Draws how each get is served and which node a follower read goes to; keyed by the
    /// seed alone, so that drawing from it changes no other draw.
    reads_rng: SimRng,
    /// Draws leadership transfers and fenced writes; keyed by the seed alone.
    transfer_rng: SimRng,
    /// Draws which messages are held up, and for how long; keyed by the seed alone.
    slow_rng: SimRng,
    /// Transfers asked and not yet completed: the target and the term they were asked in.
    transfers_asked: Vec<(NodeId, Term)>,
    /// The fenced resource leaders write to.
    fenced: FencedStore,
    /// Reads of a log storage that failed, over all nodes.
    failed_reads: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The reference state machine every snapshot is compared with (fed only in runs
    /// where nodes take snapshots).
    snapshots: SnapshotChecker,
    /// Draws reloads, failover elections and their targets; keyed by the seed alone.
    ops_rng: SimRng,
    /// The last reload, which restarted and added nodes take.
    dynamic: Option<quorate::config::DynamicConfig>,
    /// Counts faults (partitions, crashes, restarts, pauses, clock jumps, transfers,
    /// membership changes): a failover watch spans none.
    fault_epoch: u64,
    /// A failover election triggered while its leader was healthy, being watched.
    failover_watch: Option<ops::FailoverWatch>,
    /// When each node last got a leader's request (entries, a snapshot chunk, a leadership
    /// check), by (leader, node): the term and the virtual time.
    leader_contact: BTreeMap<(NodeId, NodeId), (Term, u64)>,
    /// Placement moves applied somewhere, by (term, sequence).
    placements_applied: BTreeSet<(Term, u64)>,
}

/// The parameters a run of `config` draws from its seed (or script), whatever
/// `config.params` says: a test that changes one of them runs the seed with the rest as drawn.
pub fn drawn_params(config: &RunConfig) -> Params {
    let mut rng = match &config.script {
        Some(bytes) => rng_for_script(bytes.clone()),
        None => rng_for(config.seed),
    };
    draw_params(config, &mut rng)
}

fn draw_params(config: &RunConfig, rng: &mut SimRng) -> Params {
    let mut drawn = Params::draw(config.scenario, rng);
    drawn.draw_storage(config.scenario, config.seed);
    drawn.draw_snapshots(config.seed);
    drawn.draw_membership(config.scenario, config.seed);
    drawn.draw_reads(config.scenario, config.seed);
    drawn.draw_transfers(config.scenario, config.seed);
    drawn.draw_slow(config.scenario, config.seed);
    drawn.draw_ops(config.scenario, config.seed);
    drawn
}

impl Sim {
    fn new(config: &RunConfig) -> (Sim, Params) {
        let mut rng = match &config.script {
            Some(bytes) => rng_for_script(bytes.clone()),
            None => rng_for(config.seed),
        };
        let drawn = draw_params(config, &mut rng);
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
            left_down: BTreeSet::new(),
            checker: Checker::new((1..=params.nodes).map(NodeId)),
            check_quorum: CheckQuorumChecker::default(),
            alerts: AlertChecker::default(),
            history: ClientHistory::default(),
            trace: if config.echo { Trace::echoing() } else { Trace::new(config.verbose) },
            timeline: Vec::new(),
            stats: Stats::default(),
            failure: None,
            read_rng: rand_core::SeedableRng::seed_from_u64(config.seed ^ 0x5ead_fa11),
            reads_rng: rng_for(config.seed ^ 0x6e7d_4ead),
            transfer_rng: rng_for(config.seed ^ 0x7a45_fe12),
            slow_rng: rng_for(config.seed ^ 0x5100_7a11),
            transfers_asked: Vec::new(),
            fenced: FencedStore::default(),
            failed_reads: Default::default(),
            snapshots: SnapshotChecker::default(),
            ops_rng: rng_for(config.seed ^ 0x0e5_10ad),
            dynamic: None,
            fault_epoch: 0,
            failover_watch: None,
            leader_contact: BTreeMap::new(),
            placements_applied: BTreeSet::new(),
        };
        sim.boot_nodes();
        sim.boot_clients();
        sim.schedule_faults();
        sim.schedule_transfers_and_fencing();
        sim.schedule_ops();
        sim.schedule(params.safety_ms, Event::SafetyEnd);
        (sim, params)
    }

    fn boot_nodes(&mut self) {
        let ids: Vec<NodeId> = (1..=self.params.nodes).map(NodeId).collect();
        for &id in &ids {
            self.boot_node(RaftConfig::new(id, ids.clone()));
        }
    }

    /// Starts a node with `config` (the engine's options set from the parameters).
    fn boot_node(&mut self, mut config: RaftConfig) {
        let id = config.node_id;
        {
            config.log_cache_bytes = self.params.log_cache_bytes;
            config.snapshot_chunk_threshold_bytes = self.params.snapshot_chunk_bytes;
            config.snapshot_chunk_size_bytes = self.params.snapshot_chunk_bytes;
            config.max_entries_per_append = self.params.max_entries_per_append;
            config.max_inflight = self.params.max_inflight;
            config.pre_vote = self.params.pre_vote;
            config.check_quorum = self.params.check_quorum;
            config.heartbeat_interval_ms = self.params.heartbeat_ms;
            config.lease_reads = self.params.lease_reads;
            config.max_clock_drift_ms = self.params.max_clock_drift_ms;
            config.failure_detection_ms = self.params.failure_detection_ms;
            config.slow_replication_entries = self.params.slow_replication_entries;
            (config.election_timeout_min_ms, config.election_timeout_max_ms) = self.params.election_ms;
            let offset = range(&mut self.rng, 0, self.params.max_offset_ms);
            let mut drift = float(&mut self.rng, -self.params.max_drift, self.params.max_drift);
            if self.params.extreme_drift {
                // Node 1's clock is the slowest the bound allows, every other the fastest:
                // a lease that outlives the bound shows whenever node 1 leads and is cut off.
                drift = if id == NodeId(1) { -self.params.max_drift } else { self.params.max_drift };
            }
            let ppm = (drift * 1e6).round() as i64;
            self.trace.event(self.now, Some(id.0), TraceEvent::Clock, &[offset, ppm as u64], || {
                format!("boots with its clock at +{offset} ms, running {:+.1}% off real time", drift * 100.0)
            });
            let mut node = SimNode {
                id,
                core: None,
                config,
                disk: SimDisk::default(),
                log: MemoryLog::new(),
                clock: NodeClock::new(id, offset, drift),
                kv: KvStore::default(),
                kv_applied: LogIndex(0),
                paused: false,
                deferred: Vec::new(),
                pipeline: Pipeline::new(),
                written: VecDeque::new(),
                sync_asked: None,
                requests: PendingRequests::new(),
                reads: BTreeMap::new(),
                last_read: 0,
                timer_generation: 0,
                timer_at: None,
                epoch: 0,
                last_role: (NodeState::Follower, 0),
                placement: None,
            };
            node.core = Some(self.make_core(&mut node));
            self.nodes.insert(id, node);
            self.after_input(id);
        }
    }

    /// The highest node id in the world (ids run from 1 with no gap: new nodes take the
    /// next one).
    pub(super) fn max_node_id(&self) -> u64 {
        self.nodes.keys().last().map_or(0, |id| id.0)
    }

    fn make_core(&mut self, node: &mut SimNode) -> Core {
        let durable = node.disk.recover();
        let rng = fork_chacha(&mut self.rng);
        let now = node.clock.local(self.now);
        // The log storage the core reads back from holds what the disk recovered.
        node.log = MemoryLog::recovered(&durable);
        let mut core = Core::new(node.config.clone(), durable, rng, now)
            .expect("the simulator builds valid configurations");
        self.take_reload(&mut core);
        let seed = rand_core::RngCore::next_u64(&mut self.read_rng);
        let source = FailingReads::new(node.log.clone(), self.params.read_fail, seed, &self.failed_reads);
        core.set_log_source(std::sync::Arc::new(source));
        core
    }

    fn boot_clients(&mut self) {
        for id in 0..self.params.clients {
            let target = NodeId(range(&mut self.rng, 1, self.params.nodes));
            self.clients.push(ClientState {
                abandoned: 0,
                seq: 0,
                issued: 0,
                current: None,
                read: None,
                unfenced: false,
                attempts: 0,
                timeouts: 0,
                leaderless: 0,
                target,
                cursor: target,
                suspect: None,
            });
            let start = range(&mut self.rng, 0, 50);
            self.schedule(start, Event::ClientNext { client: u64::from(id) });
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
        if p.membership_every_ms > 0 {
            let d = self.next_fault_delay(p.membership_every_ms);
            self.schedule(d, Event::Membership);
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

    /// The highest term anywhere: of a running core, or durable on any node's disk (a node
    /// left down still holds its term, and every message carries a term its sender had made
    /// durable, so no message in flight or deferred carries a higher one).
    fn max_term(&self) -> Term {
        let running = self.nodes.values().filter_map(|n| n.core.as_ref()).map(Core::term);
        let durable = self.nodes.values().map(|n| n.disk.durable_hard_state().term);
        running.chain(durable).max().unwrap_or_default()
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
            self.trace.event(now, None, TraceEvent::Failure, &[], || format!("FAILURE ({kind}): {message}"));
            self.failure = Some(Failure { kind, message, at_ms: now });
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver { from, to, bytes } => self.on_deliver(from, to, bytes),
            Event::Timer { node, generation } => self.on_timer(node, generation),
            Event::SyncDone { node, epoch, end } => self.on_sync(node, epoch, end),
            Event::Request { node, req } => self.on_request(node, req),
            Event::Reply { client, reply } => self.on_reply(client, reply),
            Event::ClientTimeout { client, seq, attempt } => self.on_client_timeout(client, seq, attempt),
            Event::ClientNext { client } => self.next_op(client),
            Event::Partition => self.on_partition(),
            Event::Crash => self.on_crash(),
            Event::Restart { node } if !self.left_down.contains(&node) => self.restart(node),
            Event::Restart { .. } => {}
            Event::Membership => self.on_membership(),
            Event::Pause => self.on_pause(),
            Event::Resume { node } => self.resume(node),
            Event::ClockJump => self.on_clock_jump(),
            Event::Transfer => self.on_transfer(),
            Event::FencingRound => self.on_fencing_round(),
            Event::FencedWrite { from, term, token } => self.on_fenced_write(from, term, token),
            Event::Reload => self.on_reload(),
            Event::Failover => self.on_failover(),
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
}

/// Runs one seed to completion and reports.
pub fn run(config: &RunConfig) -> RunReport {
    let (mut sim, params) = Sim::new(config);
    sim.trace.event(0, None, TraceEvent::Start, &[config.seed], || {
        format!("seed {} scenario {}: {}", config.seed, config.scenario, params)
    });
    sim.run();
    let Sim {
        mut failure,
        mut stats,
        trace,
        history,
        nodes,
        now,
        timeline,
        failed_reads,
        checker,
        alerts,
        ..
    } = sim;
    stats.alerts = alerts.counts;
    stats.failed_reads = failed_reads.load(std::sync::atomic::Ordering::Relaxed);
    stats.virtual_ms = now;
    stats.ops = history.len() as u64;
    stats.completed = history.completed() as u64;
    stats.lost_bytes = nodes.values().map(|n| n.disk.lost_bytes).sum();
    stats.membership_completed = checker.completed_changes();
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
