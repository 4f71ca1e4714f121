//! The sans-IO Raft state machine.
//!
//! [`Core`] owns the protocol state of one node. It is driven by [`Input`]s and produces its
//! effects as a [`Ready`] batch; see the crate documentation for the contract the driver
//! follows. Term rules are handled once in [`Core::step_message`], then the message is
//! dispatched by role (STYLE.md 2) to the files of this folder, one a concern: `messages`
//! (the term rules and the dispatch), `election` (role transitions and votes),
//! `replication` (AppendEntries, flow control, commitment), `snapshot` (taking, sending and
//! installing snapshots), `membership` (configuration changes, fencing tokens, leadership
//! transfer), `read` (reads without the log) and `ready` (the output batch).

use crate::config::RaftConfig;
use crate::error::{RaftError, RaftResult};
use crate::log::{AppendRejection, Command, EntryKind, LogEntry, RaftLog, SnapshotPoint};
use crate::log_store::EntryRuns;
use crate::membership::{Configuration, MembershipChange};
use crate::message::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, Message,
    Payload, RequestVoteRequest, RequestVoteResponse,
};
use crate::progress::{Progress, ProgressState};
use crate::quorum::VoteResult;
use crate::snapshot::{Incoming, Snapshot, SnapshotStreamer};
use crate::tracker::ProgressTracker;
use crate::types::{LogIndex, NodeId, NodeState, Term};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod election;
mod membership;
mod messages;
mod read;
mod ready;
mod replication;
mod snapshot;
mod watch;

pub use read::{read_timeout_ms, ReadKind, ReadPath, ReadState, MAX_PENDING_READS};
pub use ready::Ready;

/// The highest term a message may carry. Terms grow by one an election, so no real cluster
/// gets near it; a peer claiming more is faulty or hostile, and adopting its term would leave
/// this node unable ever to campaign again (the term could not grow). Such messages are dropped.
pub const MAX_TERM: Term = Term(u64::MAX / 2);

/// The highest index a snapshot from a peer may stand for. Logs grow by one an entry, so no
/// real cluster gets near it; a snapshot claiming more is from a faulty or hostile peer, and
/// installing it would leave the log unable to grow (its next index would overflow). Such
/// chunks are dropped.
pub const MAX_SNAPSHOT_INDEX: LogIndex = LogIndex(u64::MAX / 2);

/// Most bytes of committed entries handed out for applying in one [`Ready`]: bounds the
/// memory one batch holds while the driver applies it.
pub const MAX_APPLY_BYTES_PER_READY: u64 = 64 << 20;

/// The part of a node's state that must survive a crash (paper Figure 2), plus the commit
/// index so that commit never goes backwards across a restart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, if any.
    pub vote: Option<NodeId>,
    /// The highest index known committed.
    pub commit: LogIndex,
}

/// Everything a node recovers from its disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurableState {
    /// The last durable hard state.
    pub hard_state: HardState,
    /// Where the durable log starts: the entries up to this point were compacted into a
    /// snapshot (0 and 0 when the log was never compacted).
    pub snapshot: SnapshotPoint,
    /// The durable log, contiguous from one past the snapshot point.
    pub entries: Vec<LogEntry>,
    /// The latest durable snapshot, if any. When it is past `snapshot` (a crash came after
    /// the snapshot was made durable and before the log dropped the entries it covers), the
    /// log is cut to it at recovery, as when a snapshot is installed. The driver restores
    /// its state machine from it.
    pub latest_snapshot: Option<Snapshot>,
}

/// A local event handed to the core by its driver. Wire messages arrive wrapped in
/// [`Input::Message`]; everything else is local and never crosses the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A message from a peer.
    Message(Message),
    /// The driver's clock reads `now` (milliseconds, monotonic); timers that are due fire.
    Tick {
        /// Current time in milliseconds.
        now: u64,
    },
    /// A client proposes a command (leader only; see [`Core::propose`] for the index).
    Propose(Command),
    /// The driver's clock reads `now` (milliseconds, monotonic), and the driver runs the
    /// timers itself (the seed's RPC-style API: its caller decides when to campaign and
    /// when to send heartbeats): no timer fires.
    Clock {
        /// Current time in milliseconds.
        now: u64,
    },
    /// Start an election now, skipping pre-vote (used by operators and the seed's API).
    Campaign,
    /// The leader sends a heartbeat (an AppendEntries without entries) to every peer now.
    Heartbeat,
    /// The probe last sent to `to` never left this node (the seed's RPC-style API drops a
    /// probe its caller did not collect before asking for fresh requests): flow control
    /// lets the leader send `to` a new one, from its next index, with what the log holds now.
    ProbeUnsent {
        /// The peer.
        to: NodeId,
    },
    /// The leader sends each peer (or only `to`) the entries flow control lets go now; with
    /// `idle_heartbeat`, a peer that gets none gets a heartbeat instead.
    Replicate {
        /// One peer, or every peer.
        to: Option<NodeId>,
        /// Send a heartbeat to a peer that gets no entries.
        idle_heartbeat: bool,
    },
    /// The driver made the log durable up to `index`, whose entry has `term`, together with
    /// the hard state handed out with it.
    Durable {
        /// Last durable index.
        index: LogIndex,
        /// Term of the entry at `index`.
        term: Term,
    },
    /// The driver applied committed entries up to `index`.
    Applied {
        /// Last applied index.
        index: LogIndex,
    },
    /// The driver's state machine, having applied every entry up to `index`, serialized
    /// itself as `data`: the core makes it a snapshot and compacts its log up to `index`
    /// (see [`Core::take_snapshot`]).
    Snapshot {
        /// The last index the state covers (the state machine's applied index).
        index: LogIndex,
        /// The serialized state.
        data: bytes::Bytes,
    },
    /// The leader sends `to` the next chunk of a snapshot now, starting a transfer if `to`
    /// needs one, whatever flow control says (the seed's RPC-style
    /// `prepare_install_snapshot`, whose caller delivers each chunk). Once the final chunk
    /// is sent (now, or by an earlier ready: then nothing is sent) the transfer ends on the
    /// leader's side, and the follower is probed from one past the snapshot (etcd's
    /// `ReportSnapshot`): if it did not install it, its rejection starts another transfer.
    SendSnapshot {
        /// The follower.
        to: NodeId,
    },
    /// The leader proposes a membership change (see [`Core::change_membership`]); the step
    /// gives back the configuration entry's index.
    ChangeMembership {
        /// The change.
        change: MembershipChange,
        /// Add a new node as a learner first (promoted through joint consensus once it has
        /// caught up), instead of entering the joint configuration at once.
        through_learner: bool,
    },
    /// The leader leaves the joint configuration now, if its entry has committed (the
    /// seed's `commit_membership_change`; the leader also does it on its own).
    LeaveJoint,
    /// The leader hands leadership to the voter `to` (Raft dissertation §3.10): it stops
    /// taking proposals, brings `to` up to date, then tells it to campaign at once
    /// ([`Payload::TimeoutNow`]); if `to` has not won within an election timeout, the leader
    /// takes proposals again. Asking again for the same target sends the word again once it
    /// is up to date.
    TransferLeadership {
        /// The voter to hand leadership to.
        to: NodeId,
    },
    /// A linearizable read that does not go through the log (see [`Core::read`]): its
    /// outcome comes as a [`ReadState`] with `ctx` in a later [`Ready`].
    Read {
        /// The caller's context for the read, handed back with its outcome.
        ctx: u64,
        /// How to serve it.
        kind: ReadKind,
    },
    /// A follower suspects its leader failed (the seed's `trigger_failover_election`): it
    /// starts an election as its election timer would, with a pre-vote round first when
    /// [`RaftConfig::pre_vote`] is on, so that a wrong suspicion cannot disrupt a healthy
    /// leader (the other voters, still hearing from it, refuse the pre-vote). Only a
    /// follower acts on it.
    Failover,
    /// New values for the configuration's dynamic part (heartbeat interval, compaction
    /// threshold, election timeout range), corrected by [`RaftConfig::with_dynamic`]: the
    /// node's static configuration stays their floor. Timers take them at their next reset.
    UpdateDynamicConfig(crate::config::DynamicConfig),
}

/// A leadership transfer in progress: its target, when it is given up, and whether the
/// target was told to campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Transfer {
    to: NodeId,
    deadline: u64,
    told: bool,
}

/// The role, with the pre-candidate phase made explicit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// Counters of what the core did, for benchmarks and the simulator's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Messages dropped because they were malformed or violated the protocol.
    pub dropped_invalid: u64,
    /// Elections started (real ones, after pre-vote).
    pub elections: u64,
    /// Times this node became leader.
    pub leaderships: u64,
    /// Snapshots this node took of its own state machine.
    pub snapshots_taken: u64,
    /// Snapshots this node installed from a leader.
    pub snapshots_installed: u64,
    /// Snapshot chunks this node sent as leader (resends included).
    pub snapshot_chunks_sent: u64,
    /// Snapshot transfers this node abandoned as leader for want of progress.
    pub snapshot_transfers_abandoned: u64,
    /// Snapshots received whole whose checksum did not match.
    pub snapshot_checksum_failures: u64,
}

/// The sans-IO Raft state machine of one node.
pub struct Core {
    id: NodeId,
    /// The configuration in force: the static one with the latest dynamic update.
    config: RaftConfig,
    /// The configuration the node was built with: the floor of every dynamic update, and
    /// what leader leases count on (every node refuses votes for at least its minimum
    /// election timeout).
    base_config: RaftConfig,
    /// The quorum configuration, and a leader's progress and a candidate's votes against it.
    tracker: ProgressTracker,
    term: Term,
    vote: Option<NodeId>,
    log: RaftLog,
    role: Role,
    leader: Option<NodeId>,
    rng: ChaCha8Rng,
    now: u64,
    election_deadline: u64,
    heartbeat_deadline: u64,
    check_quorum_deadline: u64,
    /// When the check-quorum round in progress started.
    check_quorum_round_start: u64,
    /// What the core observes for operators (alerts, last contact with each peer).
    watch: watch::Watch,
    /// When this node last heard from a leader of its term (for the pre-vote lease).
    leader_contact: Option<u64>,
    /// The hard state last handed out for persistence.
    hard_state_handed_out: HardState,
    msgs: Vec<Message>,
    msgs_when_durable: Vec<Message>,
    /// Peers need an AppendEntries at the next ready (new entries or a new commit index).
    broadcast_pending: bool,
    broadcast_empty: bool,
    stats: CoreStats,
    /// The latest snapshot: taken here or installed from a leader (durable, or handed out
    /// to become durable). A leader sends it to followers that need it.
    snapshot: Option<Snapshot>,
    /// A snapshot not yet handed out in a [`Ready`], and whether the state machine must be
    /// restored from it (one installed from a leader).
    snapshot_unwritten: Option<(Snapshot, bool)>,
    /// The leader's snapshot transfers, one per follower being sent one.
    outgoing: BTreeMap<NodeId, SnapshotStreamer>,
    /// The follower's snapshot transfer in progress.
    incoming: Option<Incoming>,
    /// The configuration the tracker follows: the log's (`RaftLog::config`) once synced
    /// after each input.
    applied_config: Configuration,
    /// This node has been a member of a configuration in force here (a joining node is not,
    /// until the leader adds it).
    was_member: bool,
    /// The last fencing token sequence issued in the current term (as leader); 0: none.
    fencing_sequence: u64,
    /// The leader's leadership transfer in progress.
    transfer: Option<Transfer>,
    /// Reads that do not go through the log.
    reads: read::Reads,
    /// With lease reads on, a restarted node grants no vote until this time: it may have
    /// acknowledged a leader's round just before it crashed, and that leader's lease counts
    /// on it.
    vote_quarantine_until: u64,
}

impl Core {
    /// A core recovered from `durable` state, at time `now`, drawing its election jitter from
    /// `rng`. Fails on an invalid configuration or an inconsistent durable log.
    pub fn new(config: RaftConfig, durable: DurableState, rng: ChaCha8Rng, now: u64) -> RaftResult<Self> {
        config.validate()?;
        let mut log = RaftLog::recovered(durable.snapshot, durable.entries, durable.hard_state.commit)
            .map_err(|e| RaftError::StorageError(format!("recovered log is inconsistent: {e}")))?;
        // The configuration at the log's start: the latest snapshot's when it stands there,
        // else the bootstrap one (the configuration's voters).
        let bootstrap = Configuration::new(config.voters.iter().copied());
        let base = match &durable.latest_snapshot {
            Some(s) if s.meta.index == log.snapshot_point().index && s.meta.index > LogIndex(0) => {
                s.meta.config.clone()
            }
            _ => bootstrap,
        };
        log.set_base_config(base);
        if let Some(snapshot) = &durable.latest_snapshot {
            let (start, point) = (log.snapshot_point(), snapshot.point());
            if !snapshot.verify() {
                return Err(RaftError::StorageError(format!("the snapshot at {point:?} fails its checksum")));
            }
            if point.index < start.index || (point.index == start.index && point.term != start.term) {
                return Err(RaftError::StorageError(format!(
                    "the log starts after {start:?}, but the latest snapshot stands only for {point:?}"
                )));
            }
            log.install_snapshot(point, snapshot.meta.config.clone());
        }
        let tracker = ProgressTracker::new(log.config().quorum());
        let applied_config = log.config().clone();
        let id = config.node_id;
        let (config_lease_reads, config_election_min) = (config.lease_reads, config.election_timeout_min_ms);
        let mut hs = durable.hard_state;
        if log.last_term() > hs.term {
            // A torn write kept entries of a newer term but lost the hard state written after
            // them. The node never voted in that term (a vote is durable before it is sent)
            // and never acknowledged those entries, so adopting the term without a vote is
            // safe, and restores the invariant that no log entry is newer than the term.
            hs = HardState { term: log.last_term(), vote: None, commit: hs.commit };
        }
        let mut core = Core {
            id: config.node_id,
            base_config: config.clone(),
            config,
            tracker,
            term: hs.term,
            vote: hs.vote,
            log,
            role: Role::Follower,
            leader: None,
            rng,
            now,
            election_deadline: now,
            heartbeat_deadline: now,
            check_quorum_deadline: now,
            check_quorum_round_start: now,
            watch: watch::Watch::default(),
            leader_contact: None,
            hard_state_handed_out: hs,
            msgs: Vec::new(),
            msgs_when_durable: Vec::new(),
            broadcast_pending: false,
            broadcast_empty: false,
            stats: CoreStats::default(),
            snapshot: durable.latest_snapshot,
            snapshot_unwritten: None,
            outgoing: BTreeMap::new(),
            incoming: None,
            was_member: applied_config.is_member(id),
            fencing_sequence: 0,
            transfer: None,
            reads: read::Reads::default(),
            vote_quarantine_until: if config_lease_reads { now + config_election_min } else { 0 },
            applied_config,
        };
        core.hard_state_handed_out.commit = core.log.committed();
        core.reset_election_timer();
        Ok(core)
    }

    /// Like [`Core::new`], with the election jitter drawn from a [`ChaCha8Rng`] seeded with
    /// `seed`. Give each node its own seed; the same seed and inputs give the same run.
    pub fn with_seed(config: RaftConfig, durable: DurableState, seed: u64, now: u64) -> RaftResult<Self> {
        Self::new(config, durable, ChaCha8Rng::seed_from_u64(seed), now)
    }

    // ----- Observers -------------------------------------------------------------------

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// The vote cast in the current term.
    pub fn vote(&self) -> Option<NodeId> {
        self.vote
    }

    /// The externally visible role.
    pub fn state(&self) -> NodeState {
        match self.role {
            Role::Follower => NodeState::Follower,
            Role::PreCandidate | Role::Candidate => NodeState::Candidate,
            Role::Leader => NodeState::Leader,
        }
    }

    /// True while in the pre-vote phase.
    pub fn is_pre_candidate(&self) -> bool {
        self.role == Role::PreCandidate
    }

    /// The leader of the current term, if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// The log.
    pub fn log(&self) -> &RaftLog {
        &self.log
    }

    /// Every voter, sorted.
    pub fn voters(&self) -> &[NodeId] {
        self.tracker.config().voters()
    }

    /// The quorum configuration: the voters (in two halves while a joint configuration is in
    /// force) and the learners.
    pub fn quorum_config(&self) -> &crate::quorum::QuorumConfig {
        self.tracker.config()
    }

    /// The configuration.
    pub fn config(&self) -> &RaftConfig {
        &self.config
    }

    /// The hard state as it is now (possibly not yet durable).
    pub fn hard_state(&self) -> HardState {
        HardState { term: self.term, vote: self.vote, commit: self.log.committed() }
    }

    /// The leader's progress for `peer`.
    pub fn progress(&self, peer: NodeId) -> Option<&Progress> {
        self.tracker.progress(peer)
    }

    /// Gives the core the driver's log storage to read back entries it no longer keeps: from
    /// then on it keeps in memory only what is not yet durable plus a cache of
    /// [`RaftConfig::log_cache_bytes`] of recent entries, and reads older ones (for a
    /// lagging follower, for applying) from `source`. A recovered core drops its durable
    /// entries beyond the cache at once and applies them from `source`. `source` must hold
    /// every entry the driver has written (the pipeline's [`crate::driver::LogStore`]
    /// writes them).
    pub fn set_log_source(&mut self, source: std::sync::Arc<dyn crate::log_source::LogSource>) {
        self.log.set_source(source, self.config.log_cache_bytes);
    }

    /// Whether the leader's log no longer holds what `peer` needs next: its next index is
    /// at or before the snapshot point, so only a snapshot can bring it up to date. False
    /// when this node does not lead or does not track `peer`.
    pub fn follower_needs_snapshot(&self, peer: NodeId) -> bool {
        self.tracker.progress(peer).is_some_and(|p| p.next_index <= self.log.snapshot_point().index)
    }

    /// The time the core last saw.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// When the election timer fires (meaningful for followers and candidates).
    pub fn election_deadline(&self) -> u64 {
        self.election_deadline
    }

    /// When the core next needs a [`Input::Tick`].
    pub fn next_deadline(&self) -> u64 {
        if self.role == Role::Leader {
            let mut deadline = self.heartbeat_deadline;
            if self.config.check_quorum {
                deadline = deadline.min(self.check_quorum_deadline);
            }
            deadline
        } else {
            self.election_deadline
        }
    }

    /// Counters.
    pub fn stats(&self) -> CoreStats {
        self.stats
    }

    // ----- Inputs ----------------------------------------------------------------------

    /// Feeds one input: the core's one entry point (the other input methods are shorthands
    /// for it). Gives back, for a proposal, the index its entry will have if it commits.
    /// Errors are for the caller (a proposal to a non-leader, a driver breaking the
    /// contract); bad messages from peers are dropped and counted, never an error and never
    /// a panic. Everything the core sends leaves through [`Core::ready`].
    pub fn step(&mut self, input: Input) -> RaftResult<Option<LogIndex>> {
        self.log.retry_reads();
        let result = match input {
            Input::Message(msg) => {
                self.receive(msg);
                Ok(None)
            }
            Input::Tick { now } => {
                self.tick(now);
                Ok(None)
            }
            Input::Clock { now } => {
                self.now = self.now.max(now);
                self.expire_reads();
                Ok(None)
            }
            Input::Propose(command) => self.append_proposal(command).map(Some),
            Input::Campaign => {
                self.campaign();
                Ok(None)
            }
            Input::Heartbeat => {
                if self.role == Role::Leader {
                    self.broadcast_heartbeat();
                    self.reads_on_heartbeat();
                }
                Ok(None)
            }
            Input::ProbeUnsent { to } => {
                if self.role == Role::Leader && to != self.id {
                    if let Some(pr) = self.tracker.progress_mut(to) {
                        if pr.state == ProgressState::Probe {
                            pr.probe_sent = false;
                        }
                    }
                }
                Ok(None)
            }
            Input::Replicate { to, idle_heartbeat } => {
                if self.role == Role::Leader {
                    let peers = match to {
                        Some(peer) => vec![peer].into_iter().filter(|&p| p != self.id).collect(),
                        None => self.peers(),
                    };
                    for peer in peers {
                        self.maybe_send_append(peer, idle_heartbeat);
                    }
                }
                Ok(None)
            }
            Input::Durable { index, term } => {
                self.on_durable(index, term);
                Ok(None)
            }
            Input::Applied { index } => {
                self.log.applied_to(index).map_err(RaftError::DriverMisuse).map(|()| None)
            }
            Input::Snapshot { index, data } => self.snapshot_state(index, data),
            Input::SendSnapshot { to } => {
                self.send_snapshot_now(to);
                Ok(None)
            }
            Input::ChangeMembership { change, through_learner } => {
                self.change_membership_now(change, through_learner).map(Some)
            }
            Input::LeaveJoint => self.leave_joint_now(),
            Input::TransferLeadership { to } => self.transfer_leadership_now(to).map(|()| None),
            Input::Read { ctx, kind } => self.read_now(ctx, kind).map(|()| None),
            Input::Failover => {
                if self.role == Role::Follower {
                    self.on_election_timeout();
                }
                Ok(None)
            }
            Input::UpdateDynamicConfig(update) => {
                self.config = self.base_config.with_dynamic(&update);
                self.watch.dirty = true;
                // Shorter intervals take effect now, not after the timers set with the old ones.
                let config = &self.config;
                self.heartbeat_deadline =
                    self.heartbeat_deadline.min(self.now + config.heartbeat_interval_ms);
                self.check_quorum_deadline =
                    self.check_quorum_deadline.min(self.now + config.election_timeout_min_ms);
                if self.election_deadline > self.now + config.election_timeout_max_ms {
                    // Redrawn, not clamped: nodes reloaded together must not time out together.
                    self.reset_election_timer();
                }
                Ok(None)
            }
        };
        self.sync_config();
        self.observe();
        self.check_invariants();
        result
    }

    /// The core's invariants, checked after every input in every build, in constant time:
    /// a failure is a bug in the engine, never a peer's or a disk's doing. A follower's
    /// progress is checked where it changes (`check_progress`).
    fn check_invariants(&self) {
        let log = &self.log;
        assert!(
            log.applied() <= log.committed() && log.committed() <= log.last_index(),
            "applied {} <= committed {} <= last {}",
            log.applied(),
            log.committed(),
            log.last_index()
        );
        if self.role == Role::Leader {
            // The leader's own match moves only with its durable index (`on_durable`); in
            // release builds it is asserted where it is used, at each commit decision.
            debug_assert!(
                self.tracker.progress(self.id).is_none_or(|p| p.match_index == log.durable_index()),
                "a leader's own match is its durable index"
            );
        }
    }
}

/// A follower's progress after it changed: its match is below its next index, and no more
/// messages are in flight to it than the window (`max_inflight`) allows.
fn check_progress(peer: NodeId, pr: &Progress, max_inflight: usize) {
    assert!(pr.match_index < pr.next_index, "{peer}: match {} < next {}", pr.match_index, pr.next_index);
    assert!(
        pr.inflight.len() <= max_inflight,
        "{peer}: {} messages in flight, above the bound {max_inflight}",
        pr.inflight.len()
    );
}

impl Core {
    /// Proposes a command: shorthand for [`Core::step`] with [`Input::Propose`]. Returns the
    /// index it will have if it commits. Refuses a command above
    /// [`RaftConfig::max_command_bytes`], and one that would take the leader's uncommitted
    /// entries past [`RaftConfig::max_uncommitted_bytes`].
    pub fn propose(&mut self, command: Command) -> RaftResult<LogIndex> {
        let index = self.step(Input::Propose(command))?;
        Ok(index.expect("a proposal that succeeds has an index"))
    }

    fn append_proposal(&mut self, command: Command) -> RaftResult<LogIndex> {
        self.ensure_leader()?;
        if let Some(t) = self.transfer {
            return Err(RaftError::LeadershipTransferInProgress { to: t.to });
        }
        let bytes = command.data.len() as u64;
        if bytes > self.config.max_command_bytes {
            return Err(RaftError::CommandTooLarge { bytes, limit: self.config.max_command_bytes });
        }
        let uncommitted = self.log.uncommitted_bytes();
        if uncommitted + bytes + crate::log::ENTRY_HEADER_BYTES > self.config.max_uncommitted_bytes {
            return Err(RaftError::TooMuchUncommitted {
                bytes: uncommitted,
                limit: self.config.max_uncommitted_bytes,
            });
        }
        let index = self.log.last_index().next();
        self.log.append_local(LogEntry::new(self.term, index, command));
        self.broadcast_pending = true;
        self.maybe_commit_single();
        Ok(index)
    }

    /// `Ok` on the leader; otherwise [`RaftError::NotLeader`] naming the leader this node
    /// knows of, for redirection.
    pub fn ensure_leader(&self) -> RaftResult<()> {
        if self.role == Role::Leader {
            Ok(())
        } else {
            Err(RaftError::NotLeader { leader_id: self.leader })
        }
    }

    /// Advances time and fires due timers.
    fn tick(&mut self, now: u64) {
        self.now = self.now.max(now);
        match self.role {
            Role::Leader => self.tick_leader(),
            _ if self.now >= self.election_deadline => self.on_election_timeout(),
            _ => {}
        }
        // After the role's timers: a follower that campaigns now asks its old leader nothing.
        self.expire_reads();
    }

    fn tick_leader(&mut self) {
        if self.transfer.is_some_and(|t| self.now >= t.deadline) {
            tracing::debug!(node = %self.id, term = %self.term, "leadership transfer given up");
            self.transfer = None;
        }
        if self.config.check_quorum && self.now >= self.check_quorum_deadline {
            let round_start = std::mem::replace(&mut self.check_quorum_round_start, self.now);
            self.check_quorum_deadline = self.now + self.config.election_timeout_min_ms;
            let heard_from = self.tracker.active_voters(self.id);
            if !self.quorum_active() {
                tracing::debug!(node = %self.id, term = %self.term, "lost contact with a quorum, stepping down");
                self.watch_check_quorum_failed(round_start, heard_from);
                self.become_follower(self.term, None);
                return;
            }
        }
        if self.now >= self.heartbeat_deadline {
            self.heartbeat_deadline = self.now + self.config.heartbeat_interval_ms;
            self.broadcast_heartbeat();
            self.reads_on_heartbeat();
            self.tick_snapshot_transfers();
            self.maybe_promote_learner();
        }
    }

    /// CheckQuorum (thesis §6.2): has a quorum (self included) been heard from since the last
    /// round? Resets the activity flags for the next round.
    fn quorum_active(&mut self) -> bool {
        self.tracker.quorum_active(self.id)
    }

    fn on_election_timeout(&mut self) {
        if !self.can_campaign() {
            self.reset_election_timer();
            return;
        }
        if self.config.pre_vote {
            self.pre_campaign();
        } else {
            self.campaign();
        }
    }

    /// Draws a fresh randomized timeout; called on every timer reset, never on a poll.
    pub fn reset_election_timer(&mut self) {
        let timeout = self.config.draw_election_timeout_ms(&mut self.rng);
        self.election_deadline = self.now + timeout;
    }
}
