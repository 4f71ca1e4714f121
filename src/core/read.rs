//! Reads that do not go through the log (Raft dissertation §6.4): ReadIndex, lease reads and
//! follower reads.
//!
//! - **ReadIndex.** The leader notes its commit index, then confirms that it still leads with
//!   one round of [`Payload::LeaderCheck`] acknowledged by a quorum; once its state machine
//!   has applied up to that index, the read is served. Reads that arrive while a round is in
//!   flight wait for the next one, so one round serves every read waiting for it. A new
//!   leader takes no read index until an entry of its own term has committed (before that,
//!   its commit index may lag behind entries an earlier leader committed): reads wait.
//! - **Lease.** A round that a quorum acknowledged proves that, when it was sent, a quorum
//!   followed this leader; each of them refuses votes for the minimum election timeout after
//!   hearing from it (the leader lease of §4.2.3, which needs `check_quorum`). So until the
//!   round's send time plus the minimum election timeout minus
//!   [`RaftConfig::max_clock_drift_ms`], measured on the leader's own monotonic clock, no
//!   other leader can exist, and the leader serves reads at its commit index without a
//!   round. This rests on clocks: two nodes' measurements of one election timeout must not
//!   differ by more than the configured drift. A leader that told a transfer target to
//!   campaign (whose vote requests pass the lease) serves no more lease reads in its term.
//! - **Follower reads.** A follower asks the leader for a read index
//!   ([`Payload::ReadIndex`]) and serves the read once it has applied up to it. One request
//!   serves every read waiting when it is sent; reads asked while it is in flight wait for
//!   the next (sent once it is answered, or after two heartbeat intervals without an answer).
//!
//! Every read ends in a [`ReadState`] handed out in a [`Ready`]: a read index, handed out
//! only once the entries up to it have been handed out for applying (so the driver, which
//! completes its batches in order, serves it after applying them), or an error. A read not
//! served within [`read_timeout_ms`] fails with [`RaftError::Timeout`].

use super::*;
use crate::message::{LeaderCheck, LeaderCheckAck, ReadIndexRequest, ReadIndexResponse};
use std::collections::VecDeque;

/// Most reads a node keeps waiting at once (for a round, a commit, an answer or applying);
/// more are refused with [`RaftError::TooManyPendingReads`].
pub const MAX_PENDING_READS: usize = 1 << 16;

/// Most rounds whose send times a leader remembers: a round older than these that a quorum
/// acknowledges late gives no lease (a leader cut off for long sends one a heartbeat).
const MAX_ROUNDS_REMEMBERED: usize = 1024;

/// How a read asks to be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReadKind {
    /// Confirm leadership with a round of messages (on a follower: ask the leader).
    ReadIndex,
    /// Serve at once while the leader's lease holds; otherwise as [`ReadKind::ReadIndex`].
    Lease,
}

/// How a read was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReadPath {
    /// The leader confirmed its leadership with a round acknowledged by a quorum.
    ReadIndex,
    /// The leader's lease held: no message was needed.
    Lease,
    /// A follower got the read index from the leader.
    Follower,
}

/// The outcome of a read: when it is `Ok(index)`, the driver serves the read from its state
/// machine, which has applied up to `index` once the batch that hands this out completes
/// (the pipeline serves it after applying the batch's entries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadState {
    /// The context the read was asked with.
    pub ctx: u64,
    /// The index to serve the read at, or why it failed (not the leader, timed out).
    pub result: RaftResult<LogIndex>,
    /// How it was served (for a failed read: how it was asked).
    pub path: ReadPath,
}

/// Who waits for a read index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// A read asked of this node.
    Local(u64),
    /// A follower's read: the answer goes back to it.
    Remote { from: NodeId, id: u64 },
}

/// A leader's read waiting for confirmation.
#[derive(Clone, Copy, Debug)]
struct Unconfirmed {
    origin: Origin,
    /// The read index; `None` until an entry of the leader's term has committed.
    index: Option<LogIndex>,
    /// The round whose acknowledgement by a quorum confirms it.
    round: u64,
    deadline: u64,
}

/// A follower's read waiting for the leader's answer.
#[derive(Clone, Copy, Debug)]
struct Forwarded {
    ctx: u64,
    deadline: u64,
    /// The first request sent after the read was asked: its answer, or a later one's,
    /// confirms it (0 while none was sent).
    covered_by: u64,
}

/// A read with its index, waiting for the entries up to it to be handed out for applying.
#[derive(Clone, Copy, Debug)]
struct Confirmed {
    ctx: u64,
    index: LogIndex,
    path: ReadPath,
    deadline: u64,
}

/// The state of reads on one node.
#[derive(Debug, Default)]
pub(super) struct Reads {
    /// The leader's last round sent in its term (0: none yet).
    round: u64,
    /// The send time of recent rounds, oldest first.
    sent: VecDeque<(u64, u64)>,
    /// Reads wait for a round not yet sent.
    need_round: bool,
    /// The leader's lease runs until this time (its own clock); 0: no lease.
    lease_until: u64,
    /// The leader told a transfer target to campaign in this term: no more lease reads.
    lease_forfeited: bool,
    /// The leader's reads waiting for confirmation, in round order.
    unconfirmed: VecDeque<Unconfirmed>,
    /// The follower's reads covered by a request in flight (asked before it was sent).
    asked: Vec<Forwarded>,
    /// The number of the follower's latest request in flight (0: none), and when it was sent.
    asked_id: u64,
    asked_at: u64,
    /// The follower's reads asked since its request in flight was sent: the next one covers
    /// them.
    waiting: Vec<Forwarded>,
    next_forward_id: u64,
    /// Reads with their index, waiting to be handed out.
    confirmed: Vec<Confirmed>,
    /// Outcomes ready to hand out.
    out: Vec<ReadState>,
}

impl Reads {
    fn pending(&self) -> usize {
        self.unconfirmed.len() + self.asked.len() + self.waiting.len() + self.confirmed.len() + self.out.len()
    }
}

/// How long a read may wait before it fails with [`RaftError::Timeout`]: two maximum
/// election timeouts (a leader that cannot gather a quorum for that long has lost it).
pub fn read_timeout_ms(config: &RaftConfig) -> u64 {
    2 * config.election_timeout_max_ms
}

impl Core {
    // ----- Asking ------------------------------------------------------------------------

    /// Asks for a linearizable read (shorthand for [`Core::step`] with [`Input::Read`]): its
    /// outcome comes later as a [`ReadState`] with `ctx` in [`Ready::read_states`]. On a
    /// follower it is a follower read (a lease read becomes one too); a candidate refuses it
    /// with [`RaftError::NotLeader`], as does a follower that knows no leader. The lease is
    /// judged at the time of the last [`Input::Tick`] or [`Input::Clock`]: feed the clock
    /// first. At most [`MAX_PENDING_READS`] reads wait at once
    /// ([`RaftError::TooManyPendingReads`]).
    pub fn read(&mut self, ctx: u64, kind: ReadKind) -> RaftResult<()> {
        self.step(Input::Read { ctx, kind }).map(|_| ())
    }

    pub(super) fn read_now(&mut self, ctx: u64, kind: ReadKind) -> RaftResult<()> {
        if self.reads.pending() >= MAX_PENDING_READS {
            return Err(RaftError::TooManyPendingReads { limit: MAX_PENDING_READS });
        }
        let deadline = self.now + read_timeout_ms(&self.config);
        match self.role {
            Role::Leader => {
                if kind == ReadKind::Lease && self.lease_holds() {
                    let index = self.log.committed();
                    self.reads.confirmed.push(Confirmed { ctx, index, path: ReadPath::Lease, deadline });
                } else {
                    self.register_read(Origin::Local(ctx), deadline);
                }
                Ok(())
            }
            Role::Follower => {
                if self.leader.is_none() {
                    return Err(RaftError::NotLeader { leader_id: None });
                }
                self.reads.waiting.push(Forwarded { ctx, deadline, covered_by: 0 });
                if self.reads.asked_id == 0 {
                    self.ask_leader();
                }
                Ok(())
            }
            Role::PreCandidate | Role::Candidate => Err(RaftError::NotLeader { leader_id: None }),
        }
    }

    /// Whether the leader's lease holds now (see the module docs).
    pub fn lease_holds(&self) -> bool {
        self.config.lease_reads
            && self.role == Role::Leader
            && !self.reads.lease_forfeited
            && self.transfer.is_none()
            && self.committed_in_term()
            && self.now < self.reads.lease_until
    }

    /// An entry of the current term has committed (the leader's commit index is then at
    /// least every earlier leader's).
    fn committed_in_term(&self) -> bool {
        self.log.term(self.log.committed()) == Some(self.term)
    }

    fn register_read(&mut self, origin: Origin, deadline: u64) {
        if self.committed_in_term() {
            let round = self.reads.round + 1;
            let index = Some(self.log.committed());
            self.reads.unconfirmed.push_back(Unconfirmed { origin, index, round, deadline });
            self.reads.need_round = true;
        } else {
            self.reads.unconfirmed.push_back(Unconfirmed { origin, index: None, round: 0, deadline });
        }
    }

    /// The leader's commit index moved: reads that waited for an entry of its term take
    /// their index now.
    pub(super) fn reads_after_commit(&mut self) {
        if self.role != Role::Leader || !self.committed_in_term() {
            return;
        }
        let (committed, round) = (self.log.committed(), self.reads.round + 1);
        let mut assigned = false;
        // Reads without an index were all asked before the term committed: they lead the queue.
        for read in self.reads.unconfirmed.iter_mut().take_while(|r| r.index.is_none()) {
            read.index = Some(committed);
            read.round = round;
            assigned = true;
        }
        self.reads.need_round |= assigned;
    }

    // ----- Rounds ------------------------------------------------------------------------

    /// Whether the leader should send a round now: reads wait for one, and none is in flight
    /// (or the one in flight was sent a heartbeat interval ago: it may be lost).
    pub(super) fn round_due(&self) -> bool {
        if self.role != Role::Leader || !self.reads.need_round {
            return false;
        }
        let in_flight = self.tracker.confirmed_round(self.id, self.reads.round) < self.reads.round;
        let last_sent = self.reads.sent.back().map_or(0, |&(_, at)| at);
        !in_flight || self.now >= last_sent + self.config.heartbeat_interval_ms
    }

    /// Sends a round of [`Payload::LeaderCheck`] to every peer.
    pub(super) fn send_round(&mut self) {
        self.reads.round += 1;
        self.reads.need_round = false;
        self.reads.sent.push_back((self.reads.round, self.now));
        if self.reads.sent.len() > MAX_ROUNDS_REMEMBERED {
            self.reads.sent.pop_front();
        }
        let check = LeaderCheck { term: self.term, leader_id: self.id, round: self.reads.round };
        for peer in self.peers() {
            self.send(peer, Payload::LeaderCheck(check.clone()));
        }
        self.release_reads();
    }

    /// At each heartbeat, on a leader: a round for the reads that wait, or to renew the
    /// lease.
    pub(super) fn reads_on_heartbeat(&mut self) {
        if self.reads.need_round || self.config.lease_reads {
            self.send_round();
        }
    }

    /// Confirms the reads whose round a quorum acknowledged, and renews the lease.
    pub(super) fn release_reads(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let confirmed = self.tracker.confirmed_round(self.id, self.reads.round);
        while self.reads.sent.len() > 1 && self.reads.sent[1].0 <= confirmed {
            self.reads.sent.pop_front();
        }
        if let Some(&(round, at)) = self.reads.sent.front() {
            if round == confirmed && self.config.lease_reads {
                // The static minimum: every node refuses votes at least that long (a dynamic
                // update only raises it).
                let min = self.base_config.election_timeout_min_ms;
                let lease = min.saturating_sub(self.config.max_clock_drift_ms);
                self.reads.lease_until = self.reads.lease_until.max(at + lease);
            }
        }
        while let Some(read) = self.reads.unconfirmed.front().copied() {
            let Some(index) = read.index.filter(|_| read.round <= confirmed) else { break };
            self.reads.unconfirmed.pop_front();
            match read.origin {
                Origin::Local(ctx) => {
                    let deadline = read.deadline;
                    self.reads.confirmed.push(Confirmed { ctx, index, path: ReadPath::ReadIndex, deadline });
                }
                Origin::Remote { from, id } => {
                    let resp = ReadIndexResponse { term: self.term, id, index: Some(index) };
                    self.send(from, Payload::ReadIndexResponse(resp));
                }
            }
        }
    }

    // ----- Messages ----------------------------------------------------------------------

    /// A round from the leader of this term: a heartbeat, answered with its number.
    pub(super) fn handle_leader_check(&mut self, from: NodeId, req: LeaderCheck) {
        if self.role == Role::Leader || req.leader_id != from {
            self.stats.dropped_invalid += 1;
            return;
        }
        self.follow(from);
        self.send(from, Payload::LeaderCheckAck(LeaderCheckAck { term: self.term, round: req.round }));
    }

    pub(super) fn handle_leader_check_ack(&mut self, from: NodeId, ack: LeaderCheckAck) {
        if self.role != Role::Leader {
            return;
        }
        if ack.round > self.reads.round {
            // An answer to a round never sent: a faulty peer.
            self.stats.dropped_invalid += 1;
            return;
        }
        self.watch_answer(from, false);
        let Some(pr) = self.tracker.progress_mut(from) else { return };
        pr.recent_active = true;
        if ack.round > pr.read_round {
            pr.read_round = ack.round;
            self.release_reads();
        }
    }

    pub(super) fn handle_read_index(&mut self, from: NodeId, req: ReadIndexRequest) {
        if self.role != Role::Leader || self.reads.pending() >= MAX_PENDING_READS {
            let resp = ReadIndexResponse { term: self.term, id: req.id, index: None };
            self.send(from, Payload::ReadIndexResponse(resp));
            return;
        }
        let deadline = self.now + read_timeout_ms(&self.config);
        self.register_read(Origin::Remote { from, id: req.id }, deadline);
    }

    pub(super) fn handle_read_index_response(&mut self, from: NodeId, resp: ReadIndexResponse) {
        if self.role != Role::Follower || self.leader != Some(from) || resp.id > self.reads.asked_id {
            return;
        }
        // The answer confirms every read asked before its request was sent (a request
        // asked again covers the reads of the one before, so a late answer still counts).
        let (answered, still): (Vec<Forwarded>, Vec<Forwarded>) =
            std::mem::take(&mut self.reads.asked).into_iter().partition(|r| r.covered_by <= resp.id);
        self.reads.asked = still;
        match resp.index {
            Some(index) => {
                for read in answered {
                    let (ctx, deadline) = (read.ctx, read.deadline);
                    self.reads.confirmed.push(Confirmed { ctx, index, path: ReadPath::Follower, deadline });
                }
            }
            None => {
                for read in answered {
                    self.fail_read(read.ctx, ReadPath::Follower, RaftError::NotLeader { leader_id: None });
                }
            }
        }
        if self.reads.asked.is_empty() {
            self.reads.asked_id = 0;
            if !self.reads.waiting.is_empty() {
                self.ask_leader();
            }
        }
    }

    /// The follower asks its leader for a read index for every read waiting (and those of a
    /// request that went unanswered).
    fn ask_leader(&mut self) {
        let Some(leader) = self.leader else { return };
        self.reads.next_forward_id += 1;
        let id = self.reads.next_forward_id;
        let waiting = std::mem::take(&mut self.reads.waiting);
        self.reads.asked.extend(waiting.into_iter().map(|r| Forwarded { covered_by: id, ..r }));
        self.reads.asked_id = id;
        self.reads.asked_at = self.now;
        self.send(leader, Payload::ReadIndex(ReadIndexRequest { term: self.term, id }));
    }

    /// On a follower, a request unanswered for two heartbeat intervals is asked again,
    /// covering the reads since (a late answer to the old one still confirms the reads it
    /// covered).
    fn reask_leader(&mut self) {
        let due = self.reads.asked_at + 2 * self.config.heartbeat_interval_ms;
        if self.role == Role::Follower && self.reads.asked_id != 0 && self.now >= due {
            self.ask_leader();
        }
    }

    // ----- Endings -----------------------------------------------------------------------

    fn fail_read(&mut self, ctx: u64, path: ReadPath, error: RaftError) {
        self.reads.out.push(ReadState { ctx, result: Err(error), path });
    }

    /// This node stops leading, or follows another leader, or none: the reads that wait on
    /// its leadership (or on its leader's answer) fail; those confirmed already stay.
    pub(super) fn reads_on_role_change(&mut self) {
        let hint = self.leader;
        for read in std::mem::take(&mut self.reads.unconfirmed) {
            // A follower's read is dropped: the follower fails it on its own timer, or as soon
            // as it learns of another leader.
            if let Origin::Local(ctx) = read.origin {
                self.fail_read(ctx, ReadPath::ReadIndex, RaftError::NotLeader { leader_id: hint });
            }
        }
        self.reads.asked_id = 0;
        let asked = std::mem::take(&mut self.reads.asked);
        for read in asked.into_iter().chain(std::mem::take(&mut self.reads.waiting)) {
            self.fail_read(read.ctx, ReadPath::Follower, RaftError::NotLeader { leader_id: hint });
        }
        self.reads.round = 0;
        self.reads.sent.clear();
        self.reads.need_round = false;
        self.reads.lease_until = 0;
        self.reads.lease_forfeited = false;
    }

    /// The leader told a transfer target to campaign: its vote requests pass every voter's
    /// lease, so this leader's lease no longer holds in this term.
    pub(super) fn forfeit_lease(&mut self) {
        self.reads.lease_forfeited = true;
        self.reads.lease_until = 0;
    }

    /// The configuration changed: the lease was measured against the old quorum, so it is
    /// measured again against the new one.
    pub(super) fn reads_on_config_change(&mut self) {
        self.reads.lease_until = 0;
        self.release_reads();
    }

    /// Fails the reads whose deadline passed.
    pub(super) fn expire_reads(&mut self) {
        let now = self.now;
        let expired = |deadline: u64| now >= deadline;
        let mut failed = Vec::new();
        self.reads.unconfirmed.retain(|r| {
            if !expired(r.deadline) {
                return true;
            }
            if let Origin::Local(ctx) = r.origin {
                failed.push((ctx, ReadPath::ReadIndex));
            }
            false
        });
        for list in [&mut self.reads.asked, &mut self.reads.waiting] {
            list.retain(|r| {
                if expired(r.deadline) {
                    failed.push((r.ctx, ReadPath::Follower));
                }
                !expired(r.deadline)
            });
        }
        if self.reads.asked.is_empty() && self.reads.waiting.is_empty() {
            self.reads.asked_id = 0;
        }
        self.reads.confirmed.retain(|r| {
            if expired(r.deadline) {
                failed.push((r.ctx, r.path));
            }
            !expired(r.deadline)
        });
        for (ctx, path) in failed {
            self.fail_read(ctx, path, RaftError::Timeout);
        }
        self.reask_leader();
    }

    // ----- Output ------------------------------------------------------------------------

    /// Whether read outcomes wait to be handed out.
    pub(super) fn has_read_states(&self) -> bool {
        let handed = self.log.apply_handed_out();
        !self.reads.out.is_empty() || self.reads.confirmed.iter().any(|r| r.index <= handed)
    }

    /// The read outcomes to hand out now: failures, and reads whose index has been handed
    /// out for applying (call after the batch's committed entries were taken).
    pub(super) fn take_read_states(&mut self) -> Vec<ReadState> {
        let handed = self.log.apply_handed_out();
        let mut out = std::mem::take(&mut self.reads.out);
        self.reads.confirmed.retain(|r| {
            if r.index <= handed {
                out.push(ReadState { ctx: r.ctx, result: Ok(r.index), path: r.path });
                false
            } else {
                true
            }
        });
        out
    }
}
