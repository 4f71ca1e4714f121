//! [`RaftNode`]: the seed's API, a thread-safe facade over the [`Core`].
//!
//! The facade is driven by its caller in RPC style: the caller moves requests and responses
//! between nodes and decides when to start elections (with [`RaftNode::election_timeout_elapsed`])
//! and when to send heartbeats; the core is fed [`Input::Clock`], not `Tick`, so no timer
//! fires on its own. Every call steps the core and runs the driver pipeline
//! ([`crate::driver::Pipeline`]): what the core asks to persist is written and synced
//! *before* anything that depends on it is returned, then committed entries are applied.
//! Everything the node sends leaves through the core's `Ready`: vote requests and answers
//! are returned by the call that caused them, and AppendEntries (with flow control, as the
//! core sends them) wait in a per-peer outbox until a `create_*` call hands them out. What
//! waits there was never sent: a probe still there is rebuilt before a replication round
//! ([`Input::ProbeUnsent`]), and a request a later one covers is dropped, so a proposal made
//! right after an election goes out in one request with the leader's no-op.
//!
//! Locking: two locks for the protocol, always taken in the order `apply` then `inner`,
//! never the reverse; the state machine (a user callback) runs with only `apply` held, so it
//! may call back into the node. Persistence runs under `inner`, because writes must happen
//! in the order the core produced them. Leaf locks, never held while another is taken: the
//! alert manager's queue, the placement slot, and the public `dynamic_config` and
//! `failover_coordinator` fields (which the node only ever `try_`-locks). Alert handlers and
//! placement policies run only when this thread holds no lock of the node (`Held`); a call
//! made with one held (from inside the state machine, or a snapshot) leaves them to the
//! outermost call.

mod cluster;
mod ops;
mod reads;

use reads::MAX_QUEUED_MESSAGES;

use crate::alerts::{Alert, AlertEvent, AlertManager};
use crate::clock::{Clock, SystemClock};
use crate::config::{DynamicConfig, RaftConfig};
use crate::core::{Core, Input, ReadKind, ReadState};
use crate::driver::{Apply, PersistenceStore, Pipeline};
use crate::error::{RaftError, RaftResult};
use crate::failover::FailoverCoordinator;
use crate::fencing::FencingToken;
use crate::log::{Command, EntryKind, LogEntry};
use crate::membership::MembershipChange;
use crate::message::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, Message,
    Payload, RequestVoteRequest, RequestVoteResponse,
};
use crate::placement::PlacementScheduler;
use crate::progress::ProgressState;
use crate::snapshot::{Snapshot, SnapshotPolicy};
use crate::state_machine::StateMachine;
use crate::storage::{load_durable, MemPersistence, PersistenceSource, RaftPersistence};
use crate::types::{LogIndex, NodeId, NodeState, Term};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

thread_local! {
    /// How many of the node's locks (`apply`, or a placement round in progress) this thread
    /// holds: user callbacks (alert handlers, placement policies) run only at depth 0, so a
    /// callback that calls back into the node never finds a lock of its own thread taken.
    /// Deferred work is done by the outermost call.
    static HELD: Cell<u32> = const { Cell::new(0) };
}

/// Marks a node lock held by this thread for as long as it lives.
struct Held;

impl Held {
    fn new() -> Held {
        HELD.with(|h| h.set(h.get() + 1));
        Held
    }

    fn any() -> bool {
        HELD.with(|h| h.get() > 0)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        HELD.with(|h| h.set(h.get() - 1));
    }
}

/// A Raft consensus node (the seed's API).
pub struct RaftNode {
    /// Hot-reloadable configuration subset: the node reads it at every call and takes a
    /// changed value at once (corrected as [`RaftConfig::with_dynamic`] says, and the
    /// corrected value written back). [`RaftNode::update_dynamic_config`] does the same.
    pub dynamic_config: Arc<RwLock<DynamicConfig>>,
    /// Failover coordinator for leader failure detection and client redirects, refreshed
    /// from the core after every call (see [`FailoverCoordinator`] on holding its lock).
    pub failover_coordinator: Arc<RwLock<FailoverCoordinator>>,
    id: NodeId,
    config: RaftConfig,
    persistence: Arc<dyn RaftPersistence>,
    clock: Arc<dyn Clock>,
    /// Protocol state. Taken after `apply` when both are needed.
    inner: Mutex<Inner>,
    /// The state machine. Taken before `inner`; held while user code runs.
    apply: Mutex<Applier>,
    recovering: AtomicBool,
    has_state_machine: AtomicBool,
    /// Where alerts go ([`RaftNode::set_alert_manager`]).
    alert_manager: Option<Arc<AlertManager>>,
    /// The placement scheduler, polled after every call while this node leads
    /// ([`RaftNode::attach_placement_scheduler`]). Taken only with no other lock held.
    placement: Mutex<Option<PlacementScheduler>>,
}

struct Inner {
    core: Core,
    /// AppendEntries the core sent, per peer, not yet handed to the caller. The caller
    /// collects them with the `create_*` methods; a bounded queue (Raft tolerates loss).
    outbox: BTreeMap<NodeId, VecDeque<AppendEntriesRequest>>,
    /// Snapshot chunks the core sent, per peer, for [`RaftNode::prepare_install_snapshot`].
    snapshot_outbox: BTreeMap<NodeId, VecDeque<InstallSnapshotRequest>>,
    /// The driver pipeline between the core and the persistence.
    pipeline: Pipeline,
    /// Writes made through the pipeline (its sync positions).
    written: u64,
    /// Committed entries (and snapshots to restore) handed out by the core, waiting for
    /// the state machine.
    to_apply: VecDeque<ApplyItem>,
    /// Highest index handed to `to_apply`.
    handed_to_apply: LogIndex,
    /// Commit index recovered at start-up: recovery ends when it is applied.
    recovery_target: LogIndex,
    /// Times the core was rebuilt from disk after a failed write (seeds its fresh RNG).
    rebuilds: u64,
    /// Set when the disk cannot even be read back: the node refuses to act.
    failed: Option<String>,
    /// Messages of the features beyond the seed's RPCs (leadership checks, read indexes,
    /// leadership transfer), for [`RaftNode::take_messages`]; bounded (Raft tolerates loss).
    messages: VecDeque<Message>,
    /// Alerts the core raised, waiting to be handed to the alert manager outside the lock.
    alerts: Vec<Alert>,
    /// The dynamic configuration last read from [`RaftNode::dynamic_config`].
    dynamic_seen: DynamicConfig,
}

/// What the state machine is handed, in log order.
enum ApplyItem {
    Entry(LogEntry),
    /// Replace the whole state with the snapshot's (installed from the leader, or found
    /// on disk at recovery).
    Restore(Snapshot),
    /// A read to serve once everything before it is applied.
    Read(ReadState),
}

struct Applier {
    state_machine: Option<Box<dyn StateMachine>>,
    /// The last error the state machine returned, with its index.
    last_error: Option<RaftError>,
    /// Reads served (the state machine had applied up to their index), for
    /// [`RaftNode::take_read_states`].
    served: Vec<ReadState>,
}

impl RaftNode {
    /// Create a new Raft node, with in-memory persistence and the system clock.
    pub fn new(config: RaftConfig) -> RaftResult<Self> {
        Self::with_persistence(config, Arc::new(MemPersistence::new()))
    }

    /// Create a new Raft node with an explicit persistence backend, recovering its state from
    /// it. Committed entries found there are replayed into the state machine once one is set;
    /// until then [`RaftNode::is_recovering`] is true.
    pub fn with_persistence(config: RaftConfig, persistence: Arc<dyn RaftPersistence>) -> RaftResult<Self> {
        Self::with_clock(config, persistence, Arc::new(SystemClock::new()))
    }

    /// Like [`RaftNode::with_persistence`], with an injected clock (deterministic tests).
    pub fn with_clock(
        config: RaftConfig,
        persistence: Arc<dyn RaftPersistence>,
        clock: Arc<dyn Clock>,
    ) -> RaftResult<Self> {
        config.validate()?;
        let core = build_core(&config, &persistence, clock.now_ms(), 0)?;
        let recovery_target = core.log().committed();
        // A recovered snapshot is the state machine's starting point.
        let (to_apply, handed_to_apply) = match core.snapshot() {
            Some(snapshot) => (VecDeque::from([ApplyItem::Restore(snapshot.clone())]), snapshot.meta.index),
            None => (VecDeque::new(), LogIndex(0)),
        };
        let dynamic = core.config().dynamic();
        let failure_timeout = core.config().election_timeout_max_ms;
        let coordinator =
            FailoverCoordinator::new(config.node_id, config.voters.iter().copied(), failure_timeout);
        let node = RaftNode {
            dynamic_config: Arc::new(RwLock::new(dynamic)),
            failover_coordinator: Arc::new(RwLock::new(coordinator)),
            id: config.node_id,
            config,
            persistence,
            clock,
            inner: Mutex::new(Inner {
                core,
                outbox: BTreeMap::new(),
                snapshot_outbox: BTreeMap::new(),
                pipeline: Pipeline::new(),
                written: 0,
                to_apply,
                handed_to_apply,
                recovery_target,
                rebuilds: 0,
                failed: None,
                messages: VecDeque::new(),
                alerts: Vec::new(),
                dynamic_seen: dynamic,
            }),
            apply: Mutex::new(Applier { state_machine: None, last_error: None, served: Vec::new() }),
            recovering: AtomicBool::new(recovery_target > LogIndex(0)),
            has_state_machine: AtomicBool::new(false),
            alert_manager: None,
            placement: Mutex::new(None),
        };
        node.drive(|_| ())?;
        Ok(node)
    }

    /// Get the current node ID
    pub fn node_id(&self) -> NodeId {
        self.id
    }

    /// Get the current term
    pub fn current_term(&self) -> Term {
        self.read(|core| core.term())
    }

    /// Get the current state
    pub fn state(&self) -> NodeState {
        self.read(|core| core.state())
    }

    /// Get the current leader ID
    pub fn leader_id(&self) -> Option<NodeId> {
        self.read(|core| core.leader())
    }

    /// Check if this node is the leader
    pub fn is_leader(&self) -> bool {
        self.state() == NodeState::Leader
    }

    /// Get the commit index
    pub fn commit_index(&self) -> LogIndex {
        self.read(|core| core.log().committed())
    }

    /// Get the last log index
    pub fn last_log_index(&self) -> LogIndex {
        self.read(|core| core.log().last_index())
    }

    /// Append a command to the log (leader only). Returns once the entry is durable locally;
    /// the index is where it will sit if it commits.
    pub fn propose(&self, command: Command) -> RaftResult<LogIndex> {
        self.drive(|core| core.propose(command))?.0
    }

    /// Return true if the node is currently replaying its log into the state machine on
    /// startup: from recovery until every entry committed at recovery has been applied.
    pub fn is_recovering(&self) -> bool {
        self.recovering.load(Ordering::SeqCst)
    }

    /// Handle a RequestVote RPC. The answer is returned only after the vote is durable; if
    /// the write fails, the vote is refused.
    pub fn handle_request_vote(&self, req: RequestVoteRequest) -> RequestVoteResponse {
        let from = req.candidate_id;
        let pre_vote = req.pre_vote;
        let msg = Message { from, to: self.id, payload: Payload::RequestVote(req) };
        let answer = self.deliver(msg).ok().and_then(|out| {
            out.into_iter().find_map(|m| match m.payload {
                Payload::RequestVoteResponse(r) if m.to == from => Some(r),
                _ => None,
            })
        });
        answer.unwrap_or_else(|| RequestVoteResponse {
            term: self.current_term(),
            vote_granted: false,
            pre_vote,
        })
    }

    /// Handle an AppendEntries RPC. The answer is returned only after the entries are
    /// durable; if the write fails, the request is refused.
    pub fn handle_append_entries(&self, req: AppendEntriesRequest) -> AppendEntriesResponse {
        let from = req.leader_id;
        let prev = req.prev_log_index;
        let msg = Message { from, to: self.id, payload: Payload::AppendEntries(req) };
        let answer = self.deliver(msg).ok().and_then(|out| {
            out.into_iter().find_map(|m| match m.payload {
                Payload::AppendEntriesResponse(r) if m.to == from => Some(r),
                _ => None,
            })
        });
        answer.unwrap_or_else(|| self.refusal(prev))
    }

    fn refusal(&self, prev: LogIndex) -> AppendEntriesResponse {
        self.read(|core| AppendEntriesResponse {
            term: core.term(),
            success: false,
            match_index: prev,
            conflict_index: prev.min(core.log().last_index().next()),
            conflict_term: None,
            last_log_index: core.log().last_index(),
            leader_hint: core.leader(),
        })
    }

    /// Start an election (transition to candidate) at once, without a pre-vote round. Returns
    /// one request per other voter, all identical, sent only once the new term and the vote
    /// for itself are durable. A single-voter cluster becomes leader at once and returns none;
    /// a leader stays leader and returns none.
    pub fn start_election(&self) -> Vec<RequestVoteRequest> {
        let out = self.drive(|core| {
            if core.state() != NodeState::Leader {
                core.step(Input::Campaign).expect("campaign does not fail");
            }
        });
        out.map(|(_, msgs)| vote_requests(msgs)).unwrap_or_default()
    }

    /// Handle a vote response during election. Returns true when this node has just become
    /// the leader. When the response wins a pre-vote round (see
    /// [`RaftNode::trigger_failover_election`]), the real vote requests wait in
    /// [`RaftNode::take_messages`].
    pub fn handle_vote_response(&self, from: NodeId, resp: RequestVoteResponse) -> bool {
        let msg = Message { from, to: self.id, payload: Payload::RequestVoteResponse(resp) };
        let Ok((became, msgs)) = self.drive(|core| {
            let was_leader = core.state() == NodeState::Leader;
            core.step_message(msg);
            !was_leader && core.state() == NodeState::Leader
        }) else {
            return false;
        };
        // A pre-vote won: the real vote requests wait for the caller in `take_messages`.
        if !msgs.is_empty() {
            if let Ok(mut inner) = self.lock_inner() {
                for msg in msgs {
                    if inner.messages.len() == MAX_QUEUED_MESSAGES {
                        inner.messages.pop_front();
                    }
                    inner.messages.push_back(msg);
                }
            }
        }
        became
    }

    /// Create heartbeat messages for all peers: an empty AppendEntries for each follower.
    pub fn create_heartbeats(&self) -> Vec<(NodeId, AppendEntriesRequest)> {
        self.collect_appends(Input::Heartbeat, None, |r| r.entries.is_empty(), false)
    }

    /// Create replication messages for all peers: entries from each follower's next index
    /// (as much as flow control lets go), or an empty AppendEntries for a follower that is
    /// caught up.
    pub fn create_replication_requests(&self) -> Vec<(NodeId, AppendEntriesRequest)> {
        let input = Input::Replicate { to: None, idle_heartbeat: true };
        self.collect_appends(input, None, |_| true, true)
    }

    /// Replicate log entries to all followers that need them; a caught-up follower is
    /// omitted (use [`RaftNode::create_heartbeats`] for keep-alives).
    pub fn replicate_to_followers(&self) -> Vec<(NodeId, AppendEntriesRequest)> {
        let input = Input::Replicate { to: None, idle_heartbeat: false };
        self.collect_appends(input, None, |r| !r.entries.is_empty(), false)
    }

    /// Create an AppendEntries request for a specific follower. Returns None if this node is
    /// not the leader, if `peer` is not a follower, or if the follower is caught up.
    pub fn create_replication_request_for(&self, peer: NodeId) -> Option<AppendEntriesRequest> {
        if peer == self.id {
            return None;
        }
        let input = Input::Replicate { to: Some(peer), idle_heartbeat: false };
        let mut requests = self.collect_appends(input, Some(peer), |r| !r.entries.is_empty(), false);
        (!requests.is_empty()).then(|| requests.remove(0).1)
    }

    /// A probe the caller never collected never left the node: before a replication round
    /// it is dropped, and the core told so, so that the round rebuilds it from the
    /// follower's next index with what the log holds now (a proposal made since the leader
    /// was elected goes with it, in one request, as the caller expects).
    fn drop_unsent_probes(&self, only: Option<NodeId>) {
        let Ok(mut inner) = self.lock_inner() else { return };
        let Inner { core, outbox, .. } = &mut *inner;
        for (&peer, queue) in outbox.iter_mut() {
            let probing = core.progress(peer).is_some_and(|p| p.state == ProgressState::Probe);
            if only.is_some_and(|p| p != peer) || !probing || queue.is_empty() {
                continue;
            }
            queue.clear();
            let _ = core.step(Input::ProbeUnsent { to: peer });
        }
    }

    /// Steps the core with `input` (a heartbeat or replication round), then hands out the
    /// AppendEntries waiting for the caller (for `only` that peer, or for all) that `wanted`
    /// picks, oldest first, and keeps the others. With `one_empty_at_most`, a peer that
    /// gets entries gets no empty request beside them, and one that gets none gets a
    /// single empty one.
    fn collect_appends(
        &self,
        input: Input,
        only: Option<NodeId>,
        wanted: impl Fn(&AppendEntriesRequest) -> bool,
        one_empty_at_most: bool,
    ) -> Vec<(NodeId, AppendEntriesRequest)> {
        if matches!(input, Input::Replicate { .. }) {
            self.drop_unsent_probes(only);
        }
        if self.drive(|core| core.step(input)).is_err() {
            return Vec::new();
        }
        let Ok(mut inner) = self.lock_inner() else { return Vec::new() };
        let mut out = Vec::new();
        for (&peer, queue) in inner.outbox.iter_mut() {
            if only.is_some_and(|p| p != peer) {
                continue;
            }
            drop_covered(queue);
            let (mut take, keep): (VecDeque<_>, VecDeque<_>) = queue.drain(..).partition(|r| wanted(r));
            *queue = keep;
            if one_empty_at_most {
                let has_entries = take.iter().any(|r| !r.entries.is_empty());
                let mut empty_kept = false;
                take.retain(|r| {
                    if !r.entries.is_empty() {
                        return true;
                    }
                    let keep = !has_entries && !empty_kept;
                    empty_kept |= keep;
                    keep
                });
            } else if take.iter().all(|r| r.entries.is_empty()) && take.len() > 1 {
                // Heartbeats: one per peer is enough.
                take.drain(..take.len() - 1);
            }
            out.extend(take.into_iter().map(|r| (peer, r)));
        }
        inner.outbox.retain(|_, q| !q.is_empty());
        out
    }

    /// Handle a replication response. Returns an error when this node is not the leader of
    /// the response's term, or when the response claims more than was sent to `from`.
    pub fn handle_replication_response(&self, from: NodeId, resp: AppendEntriesResponse) -> RaftResult<()> {
        let msg = Message { from, to: self.id, payload: Payload::AppendEntriesResponse(resp.clone()) };
        let ((), _) = self
            .drive(|core| {
                let dropped_before = core.stats().dropped_invalid;
                let leader_before = core.state() == NodeState::Leader && core.term() >= resp.term;
                core.step_message(msg);
                if !leader_before && resp.term <= core.term() && core.state() != NodeState::Leader {
                    return Err(RaftError::NotLeader { leader_id: core.leader() });
                }
                if core.stats().dropped_invalid > dropped_before {
                    return Err(RaftError::LogInconsistency(format!(
                        "{from} acknowledged index {} beyond what was sent to it",
                        resp.match_index
                    )));
                }
                Ok(())
            })
            .and_then(|(r, msgs)| r.map(|()| ((), msgs)))?;
        Ok(())
    }

    /// Check if the election timeout has elapsed on the node's clock. The timeout is drawn
    /// once per reset from the node's seeded RNG, never re-drawn on a poll. A leader's never
    /// elapses.
    pub fn election_timeout_elapsed(&self) -> bool {
        let now = self.clock.now_ms();
        self.read(|core| core.state() != NodeState::Leader && now >= core.election_deadline())
    }

    /// Reset the election timer, drawing a fresh randomized timeout.
    pub fn reset_election_timer(&self) {
        let now = self.clock.now_ms();
        if let Ok(mut inner) = self.lock_inner() {
            let _ = inner.core.step(Input::Clock { now });
            inner.core.reset_election_timer();
        }
    }

    /// Get a hint about the current leader (for client redirection).
    pub fn get_leader_hint(&self) -> Option<NodeId> {
        self.leader_id()
    }

    /// Register a [`StateMachine`] to receive committed log entries. Every committed entry
    /// not yet applied is fed to it now, in order; later ones as the commit index advances.
    /// Calling it again replaces the previous state machine, which continues from where the
    /// previous one stopped.
    pub fn set_state_machine(&self, sm: impl StateMachine + 'static) -> RaftResult<()> {
        {
            let mut applier = self.apply.lock().unwrap_or_else(|e| e.into_inner());
            applier.state_machine = Some(Box::new(sm));
        }
        self.has_state_machine.store(true, Ordering::SeqCst);
        self.run_apply();
        Ok(())
    }

    // ----- Driving the core ------------------------------------------------------------

    fn read<R>(&self, f: impl FnOnce(&Core) -> R) -> R {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&inner.core)
    }

    fn lock_inner(&self) -> RaftResult<MutexGuard<'_, Inner>> {
        let inner =
            self.inner.lock().map_err(|_| RaftError::Other("node poisoned by an earlier panic".into()))?;
        if let Some(reason) = &inner.failed {
            return Err(RaftError::StorageError(reason.clone()));
        }
        Ok(inner)
    }

    fn deliver(&self, msg: Message) -> RaftResult<Vec<Message>> {
        self.drive(|core| core.step_message(msg)).map(|((), msgs)| msgs)
    }

    /// Runs `f` on the core at the clock's current time, then persists, collects messages and
    /// queues committed entries until the core has nothing left; then applies. On a failed
    /// write the core is rebuilt from what is durable and the error returned: nothing that
    /// depended on the write leaves the node.
    fn drive<R>(&self, f: impl FnOnce(&mut Core) -> R) -> RaftResult<(R, Vec<Message>)> {
        let result = {
            let mut inner = self.lock_inner()?;
            let now = self.clock.now_ms();
            inner.core.step(Input::Clock { now })?;
            self.take_dynamic_config(&mut inner)?;
            let value = f(&mut inner.core);
            self.flush(&mut inner).map(|msgs| (value, msgs))
        };
        self.run_apply();
        self.after_call();
        result
    }

    /// Runs the driver pipeline: the core's batches are written and synced through the
    /// persistence, their messages collected (those that waited for durability after the
    /// sync) and their committed entries queued for the state machine.
    /// The AppendEntries among the messages wait in the outbox for the caller's `create_*`
    /// call; the others (votes, answers) are returned.
    fn flush(&self, inner: &mut Inner) -> RaftResult<Vec<Message>> {
        let Inner { core, pipeline, written, to_apply, handed_to_apply, alerts, .. } = inner;
        let mut sent = Outgoing { messages: Vec::new(), alerts, node: self.id, now: core.now() };
        let mut store = PersistenceStore::new(&*self.persistence, written);
        let mut queue = ApplyQueue { to_apply, handed_to_apply };
        let driven = pipeline.drive(core, &mut store, &mut sent, &mut queue);
        let sent = sent.messages;
        if let Err(err) = driven {
            tracing::warn!(node = %self.id, %err, "write failed; rebuilding from durable state");
            self.rebuild(inner);
            return Err(err);
        }
        let bound = self.config.max_inflight + 2;
        let mut out = Vec::new();
        for msg in sent {
            match msg.payload {
                Payload::AppendEntries(request) => {
                    let queue = inner.outbox.entry(msg.to).or_default();
                    if queue.len() == bound {
                        queue.pop_front();
                    }
                    queue.push_back(request);
                }
                Payload::InstallSnapshot(request) => {
                    let queue = inner.snapshot_outbox.entry(msg.to).or_default();
                    if queue.len() == bound {
                        queue.pop_front();
                    }
                    queue.push_back(request);
                }
                Payload::LeaderCheck(_)
                | Payload::LeaderCheckAck(_)
                | Payload::ReadIndex(_)
                | Payload::ReadIndexResponse(_)
                | Payload::TimeoutNow(_)
                | Payload::TransferVote(_) => {
                    if inner.messages.len() == MAX_QUEUED_MESSAGES {
                        inner.messages.pop_front();
                    }
                    inner.messages.push_back(msg);
                }
                payload => out.push(Message { payload, ..msg }),
            }
        }
        if inner.core.state() != NodeState::Leader {
            inner.outbox.clear();
            inner.snapshot_outbox.clear();
        }
        Ok(out)
    }

    /// Replaces the core by one recovered from disk, as after a crash. If the disk cannot be
    /// read, the node is marked failed.
    fn rebuild(&self, inner: &mut Inner) {
        inner.rebuilds += 1;
        inner.pipeline.reset();
        match build_core(&self.config, &self.persistence, self.clock.now_ms(), inner.rebuilds) {
            Ok(mut core) => {
                // The reloaded configuration survives the rebuild.
                let _ = core.step(Input::UpdateDynamicConfig(inner.dynamic_seen));
                inner.core = core;
                inner.outbox.clear();
                inner.snapshot_outbox.clear();
            }
            Err(err) => inner.failed = Some(format!("cannot recover after a failed write: {err}")),
        }
    }

    /// Applies queued committed entries with the `apply` lock held and `inner` released, so a
    /// state machine may call back into the node. If another thread (or this thread, from
    /// inside the state machine) is already applying, it will drain the queue.
    fn run_apply(&self) {
        loop {
            if !self.has_state_machine.load(Ordering::SeqCst) {
                return;
            }
            let Ok(mut applier) = self.apply.try_lock() else { return };
            let held = Held::new();
            self.drain_apply_queue(&mut applier);
            drop(applier);
            drop(held);
            let more = self.inner.lock().map(|i| !i.to_apply.is_empty()).unwrap_or(false);
            if !more {
                return;
            }
        }
    }

    fn drain_apply_queue(&self, applier: &mut Applier) {
        loop {
            let batch: Vec<ApplyItem> = match self.inner.lock() {
                Ok(mut inner) => inner.to_apply.drain(..).collect(),
                Err(_) => return,
            };
            if batch.is_empty() {
                return;
            }
            let last = batch.iter().filter_map(ApplyItem::index).max();
            let sm = applier.state_machine.as_mut().expect("checked by run_apply");
            for item in batch {
                let (index, result) = match item {
                    ApplyItem::Entry(entry) if entry.kind == EntryKind::Normal => {
                        (entry.index, sm.apply(&entry).map(drop))
                    }
                    ApplyItem::Entry(_) => continue,
                    ApplyItem::Restore(snapshot) => (snapshot.meta.index, sm.restore(&snapshot.data)),
                    ApplyItem::Read(state) => {
                        applier.served.push(state);
                        continue;
                    }
                };
                if let Err(err) = result {
                    tracing::warn!(node = %self.id, %index, %err, "state machine failed to apply");
                    applier.last_error = Some(err);
                }
            }
            let Some(last) = last else { continue };
            if let Ok(mut inner) = self.inner.lock() {
                let _ = inner.core.step(Input::Applied { index: last });
                if last >= inner.recovery_target {
                    self.recovering.store(false, Ordering::SeqCst);
                }
            }
        }
    }
}

/// Drops the requests with entries that a later one in the queue covers (the same term, a
/// previous index at or before theirs and a last index at or after theirs): a probe sent
/// while the follower's position was unknown, superseded once it was learned. The caller
/// gets the later one alone, as one request from the follower's next index.
fn drop_covered(queue: &mut VecDeque<AppendEntriesRequest>) {
    let covered = |i: usize, queue: &VecDeque<AppendEntriesRequest>| {
        let a = &queue[i];
        !a.entries.is_empty()
            && queue.iter().skip(i + 1).any(|b| {
                b.term == a.term
                    && !b.entries.is_empty()
                    && b.prev_log_index <= a.prev_log_index
                    && b.last_index() >= a.last_index()
            })
    };
    let keep: Vec<bool> = (0..queue.len()).map(|i| !covered(i, queue)).collect();
    let mut flags = keep.into_iter();
    queue.retain(|_| flags.next().unwrap_or(true));
}

/// The node's side of the pipeline's transport: messages collected for the caller, alerts
/// queued for the alert manager (bounded like its queue).
struct Outgoing<'a> {
    messages: Vec<Message>,
    alerts: &'a mut Vec<Alert>,
    node: NodeId,
    now: u64,
}

impl crate::driver::Transport for Outgoing<'_> {
    fn send(&mut self, msg: Message) {
        self.messages.push(msg);
    }

    fn alert(&mut self, event: AlertEvent) {
        if self.alerts.len() == crate::alerts::DEFAULT_ALERT_QUEUE {
            self.alerts.remove(0);
        }
        self.alerts.push(Alert { node: self.node, at_ms: self.now, event });
    }
}

/// The state machine's side of the pipeline: committed entries wait in a queue for the
/// state machine, which runs outside the `inner` lock.
struct ApplyQueue<'a> {
    to_apply: &'a mut VecDeque<ApplyItem>,
    handed_to_apply: &'a mut LogIndex,
}

impl Apply for ApplyQueue<'_> {
    /// Queues the entries not queued before: a core rebuilt from disk after a failed write
    /// hands out again what its predecessor already did.
    fn apply(&mut self, entries: &[LogEntry]) {
        let fresh = entries.iter().filter(|e| e.index > *self.handed_to_apply);
        self.to_apply.extend(fresh.cloned().map(ApplyItem::Entry));
        if let Some(last) = entries.last() {
            *self.handed_to_apply = (*self.handed_to_apply).max(last.index);
        }
    }

    /// Queues the restore behind what is queued already.
    fn restore(&mut self, snapshot: &Snapshot) -> RaftResult<()> {
        if snapshot.meta.index > *self.handed_to_apply {
            self.to_apply.push_back(ApplyItem::Restore(snapshot.clone()));
            *self.handed_to_apply = snapshot.meta.index;
        }
        Ok(())
    }

    /// Queues the read behind the entries queued already (those up to its index among them).
    fn read(&mut self, state: ReadState) {
        self.to_apply.push_back(ApplyItem::Read(state));
    }
}

impl ApplyItem {
    fn index(&self) -> Option<LogIndex> {
        match self {
            ApplyItem::Entry(entry) => Some(entry.index),
            ApplyItem::Restore(snapshot) => Some(snapshot.meta.index),
            ApplyItem::Read(_) => None,
        }
    }
}

/// A core recovered from `persistence`, which it reads back the entries it no longer keeps
/// in memory from.
fn build_core(
    config: &RaftConfig,
    persistence: &Arc<dyn RaftPersistence>,
    now: u64,
    generation: u64,
) -> RaftResult<Core> {
    let durable = load_durable(&**persistence)?;
    let rng = ChaCha8Rng::seed_from_u64(config.rng_seed ^ generation.rotate_left(32));
    let mut core = Core::new(config.clone(), durable, rng, now)?;
    core.set_log_source(Arc::new(PersistenceSource(Arc::clone(persistence))));
    Ok(core)
}

fn vote_requests(msgs: Vec<Message>) -> Vec<RequestVoteRequest> {
    msgs.into_iter()
        .filter_map(|m| match m.payload {
            Payload::RequestVote(r) => Some(r),
            _ => None,
        })
        .collect()
}
