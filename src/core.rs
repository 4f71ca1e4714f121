//! The sans-IO Raft state machine.
//!
//! [`Core`] owns the protocol state of one node. It is driven by [`Input`]s and produces its
//! effects as a [`Ready`] batch; see the crate documentation for the contract the driver
//! follows. Term rules are handled once in [`Core::step_message`], then the message is
//! dispatched by role (STYLE.md 2).

use crate::config::RaftConfig;
use crate::error::{RaftError, RaftResult};
use crate::log::{AppendRejection, Command, EntryKind, LogEntry, RaftLog, SnapshotPoint};
use crate::message::{
    AppendEntriesRequest, AppendEntriesResponse, Message, Payload, RequestVoteRequest, RequestVoteResponse,
};
use crate::progress::{Progress, ProgressState};
use crate::quorum::{QuorumConfig, VoteResult};
use crate::tracker::ProgressTracker;
use crate::types::{LogIndex, NodeId, NodeState, Term};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

/// The highest term a message may carry. Terms grow by one an election, so no real cluster
/// gets near it; a peer claiming more is faulty or hostile, and adopting its term would leave
/// this node unable ever to campaign again (the term could not grow). Such messages are dropped.
pub const MAX_TERM: Term = Term(u64::MAX / 2);

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
    /// The last persisted hard state.
    pub hard_state: HardState,
    /// Where the persisted log starts: the entries up to this point were compacted into a
    /// snapshot (0 and 0 when the log was never compacted).
    pub snapshot: SnapshotPoint,
    /// The persisted log, contiguous from one past the snapshot point.
    pub entries: Vec<LogEntry>,
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
    /// Start an election now, skipping pre-vote (used by operators and the seed's API).
    Campaign,
    /// The driver made the log durable up to `index`, whose entry has `term`, together with
    /// the hard state handed out with it.
    Persisted {
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
}

/// One batch of effects. The driver handles it in this order (see the crate docs):
/// persist `hard_state` and `entries`, send `messages` (allowed before the write), sync,
/// send `persisted_messages`, apply `committed_entries`, then call [`Core::advance`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// A hard state to persist, when it changed.
    pub hard_state: Option<HardState>,
    /// Entries to persist. If the first one's index is at or below the durable log's last
    /// index, the durable log is first truncated from that index.
    pub entries: Vec<LogEntry>,
    /// Messages that may be sent at once, even before the write is durable.
    pub messages: Vec<Message>,
    /// Messages that may be sent only once `hard_state` and `entries` are durable: vote
    /// grants, append acknowledgements, a candidate's vote requests.
    pub persisted_messages: Vec<Message>,
    /// Committed entries to apply, in order.
    pub committed_entries: Vec<LogEntry>,
}

impl Ready {
    /// True when the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.entries.is_empty()
            && self.messages.is_empty()
            && self.persisted_messages.is_empty()
            && self.committed_entries.is_empty()
    }

    /// True when the driver must write (and sync) before sending `persisted_messages`.
    pub fn must_persist(&self) -> bool {
        self.hard_state.is_some() || !self.entries.is_empty()
    }
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
}

/// The sans-IO Raft state machine of one node.
pub struct Core {
    id: NodeId,
    config: RaftConfig,
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
    /// When this node last heard from a leader of its term (for the pre-vote lease).
    leader_contact: Option<u64>,
    /// The replication is driven by the caller (the seed's API) rather than by the core.
    manual_replication: bool,
    /// The hard state last handed out for persistence.
    handed_out: HardState,
    msgs: Vec<Message>,
    msgs_after_persist: Vec<Message>,
    /// Peers need an AppendEntries at the next ready (new entries or a new commit index).
    broadcast_pending: bool,
    broadcast_empty: bool,
    stats: CoreStats,
}

impl Core {
    /// A core recovered from `durable` state, at time `now`, drawing its election jitter from
    /// `rng`. Fails on an invalid configuration or an inconsistent durable log.
    pub fn new(config: RaftConfig, durable: DurableState, rng: ChaCha8Rng, now: u64) -> RaftResult<Self> {
        config.validate()?;
        let log = RaftLog::recovered(durable.snapshot, durable.entries, durable.hard_state.commit)
            .map_err(|e| RaftError::StorageError(format!("recovered log is inconsistent: {e}")))?;
        let tracker = ProgressTracker::new(QuorumConfig::new(config.voters.iter().copied()));
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
            leader_contact: None,
            manual_replication: false,
            handed_out: hs,
            msgs: Vec::new(),
            msgs_after_persist: Vec::new(),
            broadcast_pending: false,
            broadcast_empty: false,
            stats: CoreStats::default(),
        };
        core.handed_out.commit = core.log.committed();
        core.reset_election_timer();
        Ok(core)
    }

    /// Like [`Core::new`], with the election jitter drawn from a [`ChaCha8Rng`] seeded with
    /// `seed`. Give each node its own seed; the same seed and inputs give the same run.
    pub fn with_seed(config: RaftConfig, durable: DurableState, seed: u64, now: u64) -> RaftResult<Self> {
        Self::new(config, durable, ChaCha8Rng::seed_from_u64(seed), now)
    }

    /// After the seed's API rebuilt the core from disk: entries up to `index` were already
    /// handed to its state machine and must not be handed out again.
    pub(crate) fn set_applied_for_rebuild(&mut self, index: LogIndex) {
        self.log.set_applied(index);
    }

    /// Lets the caller drive replication: the core then never sends AppendEntries on its own
    /// (the seed's API builds them with [`Core::append_request_for`]).
    pub(crate) fn set_manual_replication(&mut self, manual: bool) {
        self.manual_replication = manual;
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
    pub fn quorum_config(&self) -> &QuorumConfig {
        self.tracker.config()
    }

    /// The configuration.
    pub fn config(&self) -> &RaftConfig {
        &self.config
    }

    /// The hard state as it is now (possibly not yet persisted).
    pub fn hard_state(&self) -> HardState {
        HardState { term: self.term, vote: self.vote, commit: self.log.committed() }
    }

    /// The leader's progress for `peer`.
    pub fn progress(&self, peer: NodeId) -> Option<&Progress> {
        self.tracker.progress(peer)
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
        if self.role == Role::Leader && !self.manual_replication {
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

    /// Feeds one input. Errors are for the caller (a proposal to a non-leader); bad messages
    /// from peers are dropped and counted, never an error and never a panic.
    pub fn step(&mut self, input: Input) -> RaftResult<()> {
        match input {
            Input::Message(msg) => self.step_message(msg),
            Input::Tick { now } => self.tick(now),
            Input::Propose(command) => self.propose(command).map(|_| ())?,
            Input::Campaign => self.campaign(),
            Input::Persisted { index, term } => self.on_persisted(index, term),
            Input::Applied { index } => self.log.applied_to(index),
        }
        Ok(())
    }

    /// Proposes a command; returns the index it will have if it commits.
    pub fn propose(&mut self, command: Command) -> RaftResult<LogIndex> {
        self.ensure_leader()?;
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
        if self.manual_replication {
            return;
        }
        match self.role {
            Role::Leader => self.tick_leader(),
            _ if self.now >= self.election_deadline => self.on_election_timeout(),
            _ => {}
        }
    }

    fn tick_leader(&mut self) {
        if self.config.check_quorum && self.now >= self.check_quorum_deadline {
            self.check_quorum_deadline = self.now + self.config.election_timeout_min_ms;
            if !self.quorum_active() {
                tracing::debug!(node = %self.id, term = %self.term, "lost contact with a quorum, stepping down");
                self.become_follower(self.term, None);
                return;
            }
        }
        if self.now >= self.heartbeat_deadline {
            self.heartbeat_deadline = self.now + self.config.heartbeat_interval_ms;
            self.broadcast_heartbeat();
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

    // ----- Role transitions ------------------------------------------------------------

    /// Steps down (or stays) a follower of `term`, following `leader` if known.
    ///
    /// The election timer restarts only when a leader is heard from or when this node was
    /// leading (a leader has no timer running). Figure 2 restarts it on hearing from the
    /// current leader or on granting a vote, and on nothing else: a node that adopts a higher
    /// term from a candidate it refuses keeps its timer. Otherwise a candidate that can never
    /// win (a stale log on a fast clock, PreVote off) would hold back every up-to-date node's
    /// timer for ever, and the cluster would never elect a leader.
    fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        let restart_timer = self.role == Role::Leader || leader.is_some();
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        if self.role != Role::Follower || self.leader != leader {
            tracing::debug!(node = %self.id, term = %self.term, ?leader, "follower");
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.tracker.stop_replication();
        self.tracker.reset_votes();
        if restart_timer {
            self.reset_election_timer();
        }
    }

    fn pre_campaign(&mut self) {
        self.role = Role::PreCandidate;
        self.leader = None;
        self.tracker.reset_votes();
        self.reset_election_timer();
        tracing::debug!(node = %self.id, term = %self.term, "pre-candidate");
        self.request_votes(true);
    }

    /// Becomes a candidate in a new term and asks for votes (paper §5.2).
    fn campaign(&mut self) {
        if !self.can_campaign() {
            return;
        }
        self.term = self.term.next();
        self.vote = Some(self.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.tracker.reset_votes();
        self.stats.elections += 1;
        self.reset_election_timer();
        tracing::debug!(node = %self.id, term = %self.term, "candidate");
        self.request_votes(false);
    }

    /// Only a voter campaigns, and only below [`MAX_TERM`]: peers drop messages above it, and
    /// a term that high can only come from a corrupt disk. It is a dead end, never a panic.
    fn can_campaign(&self) -> bool {
        self.tracker.config().is_voter(self.id) && self.term < MAX_TERM
    }

    /// Counts its own vote and sends a (pre-)vote request to every other voter.
    fn request_votes(&mut self, pre_vote: bool) {
        self.tracker.record_vote(self.id, true);
        if self.tracker.tally() == VoteResult::Won {
            self.on_election_won();
            return;
        }
        let request = RequestVoteRequest {
            term: if pre_vote { self.term.next() } else { self.term },
            candidate_id: self.id,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            pre_vote,
        };
        let peers: Vec<NodeId> = self.voters().iter().copied().filter(|&v| v != self.id).collect();
        for peer in peers {
            self.send(peer, Payload::RequestVote(request.clone()));
        }
    }

    fn on_election_won(&mut self) {
        match self.role {
            Role::PreCandidate => self.campaign(),
            Role::Candidate => self.become_leader(),
            _ => {}
        }
    }

    fn become_leader(&mut self) {
        assert_eq!(self.role, Role::Candidate, "only a candidate becomes leader");
        assert_eq!(self.vote, Some(self.id), "a leader voted for itself");
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.stats.leaderships += 1;
        let last = self.log.last_index();
        self.tracker.start_replication(last);
        let stable = self.log.stable();
        if let Some(me) = self.tracker.progress_mut(self.id) {
            me.match_index = stable;
            me.state = ProgressState::Replicate;
        }
        self.heartbeat_deadline = self.now + self.config.heartbeat_interval_ms;
        self.check_quorum_deadline = self.now + self.config.election_timeout_min_ms;
        tracing::debug!(node = %self.id, term = %self.term, "leader");
        // A no-op entry of the new term lets earlier entries commit (§5.4.2, §8).
        let noop = LogEntry {
            term: self.term,
            index: last.next(),
            kind: EntryKind::Noop,
            command: Command::default(),
        };
        self.log.append_local(noop);
        self.broadcast_pending = true;
        self.broadcast_empty = true;
        self.maybe_commit_single();
    }

    // ----- Messages --------------------------------------------------------------------

    /// Term rules once for every message (paper Figure 2, "Rules for all servers"), then
    /// dispatch by role.
    pub fn step_message(&mut self, msg: Message) {
        let term = msg.payload.term();
        if msg.to != self.id || msg.from == self.id || term > MAX_TERM {
            self.stats.dropped_invalid += 1;
            return;
        }
        if term > self.term && !self.on_higher_term(&msg) {
            return;
        }
        if term < self.term {
            self.on_lower_term(msg);
            return;
        }
        match msg.payload {
            Payload::RequestVote(req) => self.handle_vote_request(msg.from, req),
            Payload::RequestVoteResponse(resp) => self.handle_vote_response(msg.from, resp),
            Payload::AppendEntries(req) => self.handle_append(msg.from, req),
            Payload::AppendEntriesResponse(resp) => self.handle_append_response(msg.from, resp),
        }
    }

    /// A message with a higher term. Returns false when it was fully handled here.
    fn on_higher_term(&mut self, msg: &Message) -> bool {
        match &msg.payload {
            Payload::RequestVote(req) if req.pre_vote => {
                // A pre-vote changes nobody's term. While a leader is known to be alive, refuse
                // it so a node returning from a partition cannot disrupt (thesis §9.6).
                if self.in_leader_lease() {
                    self.reject_vote(msg.from, true);
                    return false;
                }
                true
            }
            Payload::RequestVote(_) if self.in_leader_lease() => {
                // Thesis §4.2.3: within the minimum election timeout of hearing from a live
                // leader, a vote request neither moves the term nor wins a vote. A node that
                // cannot hear the leader (a one-way link, a removed server) would otherwise
                // depose a healthy leader every time its timer fires. With CheckQuorum on, a
                // leader that truly lost its quorum steps down and the lease runs out.
                false
            }
            // A granted pre-vote carries the term we asked about; it changes nothing.
            Payload::RequestVoteResponse(resp) if resp.pre_vote && resp.vote_granted => true,
            Payload::AppendEntries(_) => {
                self.become_follower(msg.payload.term(), Some(msg.from));
                true
            }
            _ => {
                self.become_follower(msg.payload.term(), None);
                true
            }
        }
    }

    /// A message with a lower term: tell the sender our term so a stale leader or candidate
    /// steps down; ignore stale responses.
    fn on_lower_term(&mut self, msg: Message) {
        match msg.payload {
            Payload::AppendEntries(req) => {
                let resp = self.append_response(false, req.prev_log_index, None);
                self.send(msg.from, Payload::AppendEntriesResponse(resp));
            }
            Payload::RequestVote(req) => self.reject_vote(msg.from, req.pre_vote),
            Payload::RequestVoteResponse(_) | Payload::AppendEntriesResponse(_) => {}
        }
    }

    fn in_leader_lease(&self) -> bool {
        if !self.config.check_quorum {
            return false;
        }
        if self.role == Role::Leader {
            // The deadline of the next CheckQuorum round moves on only while a quorum answers.
            return self.now < self.check_quorum_deadline;
        }
        match (self.leader, self.leader_contact) {
            (Some(_), Some(at)) => self.now < at + self.config.election_timeout_min_ms,
            _ => false,
        }
    }

    fn reject_vote(&mut self, to: NodeId, pre_vote: bool) {
        let resp = RequestVoteResponse { term: self.term, vote_granted: false, pre_vote };
        self.send(to, Payload::RequestVoteResponse(resp));
    }

    /// RequestVote receiver rules (§5.2, §5.4.1). `req.term >= self.term` here.
    fn handle_vote_request(&mut self, from: NodeId, req: RequestVoteRequest) {
        let can_vote = self.vote == Some(req.candidate_id)
            || (self.vote.is_none() && self.leader.is_none())
            || (req.pre_vote && req.term > self.term);
        let up_to_date = self.log.is_up_to_date(req.last_log_index, req.last_log_term);
        let granted = can_vote && up_to_date && req.candidate_id == from;
        if granted && !req.pre_vote {
            self.vote = Some(req.candidate_id);
            self.reset_election_timer();
        }
        let term = if granted && req.pre_vote { req.term } else { self.term };
        let resp = RequestVoteResponse { term, vote_granted: granted, pre_vote: req.pre_vote };
        self.send(from, Payload::RequestVoteResponse(resp));
    }

    fn handle_vote_response(&mut self, from: NodeId, resp: RequestVoteResponse) {
        let expected_phase = match self.role {
            Role::PreCandidate => true,
            Role::Candidate => false,
            _ => return,
        };
        if resp.pre_vote != expected_phase || !self.tracker.config().is_voter(from) {
            return;
        }
        // A granted pre-vote must be for the term we would campaign in.
        if resp.pre_vote && resp.vote_granted && resp.term != self.term.next() {
            return;
        }
        self.tracker.record_vote(from, resp.vote_granted);
        match self.tracker.tally() {
            VoteResult::Won => self.on_election_won(),
            VoteResult::Lost => self.become_follower(self.term, None),
            VoteResult::Pending => {}
        }
    }

    /// AppendEntries receiver rules (§5.3). `req.term == self.term` here.
    fn handle_append(&mut self, from: NodeId, req: AppendEntriesRequest) {
        if self.role == Role::Leader {
            // Two leaders in one term would break election safety: only a faulty peer does this.
            self.stats.dropped_invalid += 1;
            return;
        }
        if req.entries.iter().any(|e| e.term > req.term) {
            // A leader only holds entries of its term or earlier ones. Appending newer ones
            // would make this log outrank the node's term, and its own no-op entry, once it
            // leads, would then lower the log's term (an assertion, so a panic).
            self.stats.dropped_invalid += 1;
            return;
        }
        if self.role != Role::Follower || self.leader != Some(from) {
            self.become_follower(self.term, Some(from));
        }
        self.leader_contact = Some(self.now);
        self.reset_election_timer();
        match self.log.try_append_owned(req.prev_log_index, req.prev_log_term, req.entries) {
            Ok(proved) => {
                self.log.commit_to(req.leader_commit.min(proved));
                let resp = self.append_response(true, proved, None);
                self.send(from, Payload::AppendEntriesResponse(resp));
            }
            Err(AppendRejection::Mismatch) => {
                let resp =
                    self.append_response(false, req.prev_log_index, self.conflict_hint(req.prev_log_index));
                self.send(from, Payload::AppendEntriesResponse(resp));
            }
            Err(AppendRejection::WouldOverwriteCommitted | AppendRejection::Malformed) => {
                tracing::warn!(node = %self.id, leader = %from, "dropping an AppendEntries that is malformed or rewrites committed entries");
                self.stats.dropped_invalid += 1;
            }
        }
    }

    /// Where the leader should look next after a mismatch at `prev`: the start of our
    /// conflicting term, or our end when our log is too short.
    fn conflict_hint(&self, prev: LogIndex) -> Option<(LogIndex, Option<Term>)> {
        match self.log.term(prev) {
            None => Some((self.log.last_index().next(), None)),
            Some(term) => Some((self.log.first_index_of_term_at(prev), Some(term))),
        }
    }

    fn append_response(
        &self,
        success: bool,
        index: LogIndex,
        hint: Option<(LogIndex, Option<Term>)>,
    ) -> AppendEntriesResponse {
        let (conflict_index, conflict_term) = hint.unwrap_or((LogIndex(0), None));
        AppendEntriesResponse {
            term: self.term,
            success,
            match_index: index,
            conflict_index,
            conflict_term,
            last_log_index: self.log.last_index(),
            leader_hint: self.leader,
        }
    }

    /// The leader's side of an AppendEntries answer (§5.3, flow control).
    fn handle_append_response(&mut self, from: NodeId, resp: AppendEntriesResponse) {
        if self.role != Role::Leader {
            return;
        }
        let Some(pr) = self.tracker.progress_mut(from) else { return };
        pr.recent_active = true;
        if resp.success {
            // An acknowledgement proves at most what this leader sent (defect 1 of the seed).
            if resp.match_index > pr.sent_up_to || resp.match_index > self.log.last_index() {
                self.stats.dropped_invalid += 1;
                return;
            }
            if pr.on_ack(resp.match_index) {
                self.maybe_commit();
            }
        } else {
            // A rejection names the prev index of a request this leader sent: one beyond
            // anything sent is a lie that would push the follower's next index off the log.
            if resp.match_index > pr.sent_up_to {
                self.stats.dropped_invalid += 1;
                return;
            }
            let hint = self.next_index_hint(&resp);
            let Some(pr) = self.tracker.progress_mut(from) else { return };
            if !pr.on_reject(resp.match_index, resp.last_log_index, hint) {
                return;
            }
        }
        self.maybe_send_append(from, false);
    }

    /// The leader's next index after a rejection, from the follower's conflict hints.
    fn next_index_hint(&self, resp: &AppendEntriesResponse) -> LogIndex {
        let rejected = resp.match_index;
        let from_term = resp
            .conflict_term
            .and_then(|t| self.log.last_index_of_term(t))
            .map(LogIndex::next)
            .filter(|&next| next <= rejected);
        let hint = from_term.unwrap_or(resp.conflict_index);
        // The follower's figures are only hints: a peer claiming a last index of u64::MAX
        // must not overflow (and so crash) the leader.
        let after_follower = LogIndex(resp.last_log_index.0.saturating_add(1));
        hint.min(after_follower).max(LogIndex(1))
    }

    // ----- Replication -----------------------------------------------------------------

    /// A single-voter cluster commits on its own durability; nothing else to wait for.
    fn maybe_commit_single(&mut self) {
        if self.voters().len() == 1 {
            self.maybe_commit();
        }
    }

    /// Advances the commit index to what a majority holds, counting only an entry of the
    /// current term (§5.4.2: earlier-term entries commit indirectly).
    fn maybe_commit(&mut self) {
        let own = self.tracker.progress(self.id).map(|p| p.match_index);
        assert!(
            own.is_none_or(|m| m == self.log.stable()),
            "a leader's own match {own:?} is its durable index {}",
            self.log.stable()
        );
        let index = self.tracker.committed_index();
        if index > self.log.committed()
            && self.log.term(index) == Some(self.term)
            && self.log.commit_to(index)
        {
            self.broadcast_pending = true;
            self.broadcast_empty = true;
        }
    }

    fn on_persisted(&mut self, index: LogIndex, term: Term) {
        self.log.persisted_to(index, term);
        if self.role == Role::Leader {
            let stable = self.log.stable();
            if let Some(me) = self.tracker.progress_mut(self.id) {
                me.match_index = me.match_index.max(stable);
            }
            self.maybe_commit();
        }
    }

    fn broadcast_heartbeat(&mut self) {
        for peer in self.peers() {
            self.send_append(peer, true);
        }
    }

    fn peers(&self) -> Vec<NodeId> {
        self.tracker.peers(self.id)
    }

    /// Sends what flow control allows to `peer`; an empty message only with `allow_empty`.
    fn maybe_send_append(&mut self, peer: NodeId, allow_empty: bool) {
        if self.manual_replication || self.role != Role::Leader {
            return;
        }
        let mut sent_any = false;
        loop {
            let Some(pr) = self.tracker.progress(peer) else { return };
            let has_entries = pr.next_index <= self.log.last_index();
            if !pr.can_send(self.config.max_inflight) || !(has_entries || (allow_empty && !sent_any)) {
                break;
            }
            let sent_entries = self.send_append(peer, false);
            sent_any = true;
            let pr = self.tracker.progress(peer).expect("a peer with progress");
            if !sent_entries || pr.state == ProgressState::Probe {
                break;
            }
        }
        if allow_empty && !sent_any {
            self.send_append(peer, true);
        }
    }

    /// Sends one AppendEntries from the peer's next index (no entries for a heartbeat).
    /// Returns true when it carried entries.
    fn send_append(&mut self, peer: NodeId, heartbeat: bool) -> bool {
        let Some(request) = self.build_append(peer, heartbeat) else { return false };
        let last = request.last_index();
        let sent_entries = !request.entries.is_empty();
        if let Some(pr) = self.tracker.progress_mut(peer) {
            pr.on_sent(last, sent_entries);
        }
        self.send(peer, Payload::AppendEntries(request));
        sent_entries
    }

    fn build_append(&self, peer: NodeId, heartbeat: bool) -> Option<AppendEntriesRequest> {
        let pr = self.tracker.progress(peer)?;
        let mut prev = pr.next_index.prev().min(self.log.last_index());
        if self.log.term(prev).is_none() {
            // Compacted away: the follower needs a snapshot (see `follower_needs_snapshot`).
            // A heartbeat still goes, from the snapshot point, so that it keeps its leader.
            if !heartbeat {
                return None;
            }
            prev = self.log.snapshot_point().index;
        }
        let prev_term = self.log.term(prev)?;
        let entries = if heartbeat {
            Vec::new()
        } else {
            self.log.slice(
                prev.next(),
                self.log.last_index(),
                self.config.max_entries_per_append,
                self.config.max_bytes_per_append,
            )
        };
        Some(AppendEntriesRequest {
            term: self.term,
            leader_id: self.id,
            prev_log_index: prev,
            prev_log_term: prev_term,
            entries,
            leader_commit: self.log.committed(),
        })
    }

    /// For the caller-driven API: the next AppendEntries for `peer` (entries from its next
    /// index; none when it is caught up and `heartbeat` is false). Records what was sent.
    pub(crate) fn append_request_for(
        &mut self,
        peer: NodeId,
        heartbeat: bool,
    ) -> Option<AppendEntriesRequest> {
        if self.role != Role::Leader || peer == self.id {
            return None;
        }
        let pr = self.tracker.progress(peer)?;
        if !heartbeat && pr.next_index > self.log.last_index() {
            return None;
        }
        let request = self.build_append(peer, heartbeat)?;
        let pr = self.tracker.progress_mut(peer)?;
        pr.sent_up_to = pr.sent_up_to.max(request.last_index());
        Some(request)
    }

    fn send(&mut self, to: NodeId, payload: Payload) {
        let is_request = matches!(payload, Payload::AppendEntries(_) | Payload::RequestVote(_));
        let msg = Message { from: self.id, to, payload };
        // A request may go before the write only if nothing it depends on is unpersisted:
        // the hard state (term, vote) must be what was last handed out. Responses always wait.
        if is_request && self.hard_state_term_vote_durable() {
            self.msgs.push(msg);
        } else {
            self.msgs_after_persist.push(msg);
        }
    }

    fn hard_state_term_vote_durable(&self) -> bool {
        self.term == self.handed_out.term && self.vote == self.handed_out.vote
    }

    // ----- Output ----------------------------------------------------------------------

    /// True when [`Core::ready`] has something to hand out.
    pub fn has_ready(&self) -> bool {
        self.hard_state() != self.handed_out
            || self.log.has_unpersisted()
            || !self.msgs.is_empty()
            || !self.msgs_after_persist.is_empty()
            || self.log.has_committed_to_apply()
            || (self.broadcast_pending && self.role == Role::Leader && !self.manual_replication)
    }

    /// Takes the pending effects as one batch.
    pub fn ready(&mut self) -> Ready {
        if self.broadcast_pending && self.role == Role::Leader {
            let allow_empty = self.broadcast_empty;
            for peer in self.peers() {
                self.maybe_send_append(peer, allow_empty);
            }
        }
        self.broadcast_pending = false;
        self.broadcast_empty = false;
        let hs = self.hard_state();
        let hard_state = (hs != self.handed_out).then_some(hs);
        self.handed_out = hs;
        let entries = self.log.take_unpersisted();
        Ready {
            hard_state,
            entries,
            messages: std::mem::take(&mut self.msgs),
            persisted_messages: std::mem::take(&mut self.msgs_after_persist),
            committed_entries: self.log.take_committed(MAX_APPLY_BYTES_PER_READY),
        }
    }

    /// The driver handled `ready` completely: everything in it is durable and applied.
    pub fn advance(&mut self, ready: &Ready) {
        if let Some(last) = ready.entries.last() {
            self.on_persisted(last.index, last.term);
        }
        if let Some(last) = ready.committed_entries.last() {
            self.log.applied_to(last.index);
        }
    }
}
