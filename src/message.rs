//! Wire messages: what nodes send each other. Local inputs (timeouts, proposals,
//! acknowledgements from the driver) are a different type, [`crate::core::Input`].
//!
//! Every type here has a serde form, encoded by [`crate::codec`].

use crate::log::LogEntry;
use crate::types::{LogIndex, NodeId, Term};
use serde::{Deserialize, Serialize};

/// A candidate asks for a vote (paper §5.2), or, with `pre_vote`, asks whether it *would* get
/// one without disturbing anybody's term (thesis §9.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestVoteRequest {
    /// The candidate's term (for a pre-vote: the term it would campaign in).
    pub term: Term,
    /// The candidate.
    pub candidate_id: NodeId,
    /// Index of the candidate's last log entry.
    pub last_log_index: LogIndex,
    /// Term of the candidate's last log entry.
    pub last_log_term: Term,
    /// True for a pre-vote: the receiver changes no state.
    pub pre_vote: bool,
}

/// The leader tells the target of a leadership transfer, now as up to date as itself, to
/// campaign at once (Raft dissertation §3.10).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutNowRequest {
    /// The leader's term.
    pub term: Term,
    /// The leader.
    pub leader_id: NodeId,
}

/// The answer to a [`RequestVoteRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestVoteResponse {
    /// The voter's term; for a granted pre-vote, the term the pre-vote asked about.
    pub term: Term,
    /// True when the vote (or pre-vote) is granted.
    pub vote_granted: bool,
    /// True when this answers a pre-vote.
    pub pre_vote: bool,
}

/// A leader replicates entries, or just asserts its leadership (a heartbeat has no entries),
/// paper §5.3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendEntriesRequest {
    /// The leader's term.
    pub term: Term,
    /// The leader, so followers can redirect clients.
    pub leader_id: NodeId,
    /// Index of the entry just before `entries`.
    pub prev_log_index: LogIndex,
    /// Term of the entry at `prev_log_index`.
    pub prev_log_term: Term,
    /// Entries to append, contiguous from `prev_log_index + 1` (empty for a heartbeat).
    pub entries: Vec<LogEntry>,
    /// The leader's commit index.
    pub leader_commit: LogIndex,
}

impl AppendEntriesRequest {
    /// The last index this request covers: what a success proves the follower holds.
    pub fn last_index(&self) -> LogIndex {
        self.prev_log_index.plus(self.entries.len() as u64)
    }
}

/// The answer to an [`AppendEntriesRequest`].
///
/// On success, `match_index` is exactly what the request proved: its `prev_log_index` plus the
/// number of entries it carried. It is never the follower's log length (defect 1 of the seed).
/// On failure, `match_index` is the `prev_log_index` that did not match and the conflict hints
/// let the leader skip back a whole term at a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendEntriesResponse {
    /// The follower's term.
    pub term: Term,
    /// True when the follower's log now matches the leader's up to `match_index`.
    pub success: bool,
    /// Success: the index proved to match. Failure: the rejected `prev_log_index`.
    pub match_index: LogIndex,
    /// Failure hint: the first index of the conflicting term, or the follower's last index + 1
    /// when its log is too short.
    pub conflict_index: LogIndex,
    /// Failure hint: the term of the follower's entry at the rejected index, if it has one.
    pub conflict_term: Option<Term>,
    /// The follower's last log index, for the leader's information.
    pub last_log_index: LogIndex,
    /// The leader the follower believes in (useful when the request came from a stale leader).
    pub leader_hint: Option<NodeId>,
}

/// A leader sends a follower a snapshot, one chunk at a time (paper §7), when the follower
/// needs entries the leader's log no longer holds. Every chunk carries the snapshot's
/// metadata, size and checksum, so that the follower can tell transfers apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSnapshotRequest {
    /// The leader's term.
    pub term: Term,
    /// The leader.
    pub leader_id: NodeId,
    /// The last index the snapshot covers.
    pub last_included_index: LogIndex,
    /// The term of the entry at `last_included_index`.
    pub last_included_term: Term,
    /// The configuration in force at `last_included_index`.
    pub config: crate::membership::Configuration,
    /// Where this chunk's data starts in the snapshot's data.
    pub offset: u64,
    /// The chunk's bytes.
    pub data: bytes::Bytes,
    /// True for the final chunk.
    pub done: bool,
    /// The size of the whole snapshot's data.
    pub total_bytes: u64,
    /// The whole snapshot's checksum ([`crate::snapshot::Snapshot::checksum_of`]).
    pub checksum: u32,
}

/// The answer to an [`InstallSnapshotRequest`]: which snapshot it is about, and either that
/// it is installed (durable, and the state machine restored) or the offset expected next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSnapshotResponse {
    /// The follower's term.
    pub term: Term,
    /// The snapshot's last included index, as the request gave it.
    pub last_included_index: LogIndex,
    /// The snapshot's last included term, as the request gave it.
    pub last_included_term: Term,
    /// The offset the follower expects next (0: start over).
    pub next_offset: u64,
    /// The follower holds everything up to `last_included_index`: it installed the snapshot
    /// and made it durable, or had committed that far already.
    pub installed: bool,
}

/// The leader asks its peers to confirm that it still leads: one round of the reads that
/// do not go through the log (Raft dissertation §6.4). A peer of the leader's term takes it
/// as a heartbeat (it restarts its election timer) and answers with the round's number, so
/// that the leader knows which round each answer confirms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderCheck {
    /// The leader's term.
    pub term: Term,
    /// The leader.
    pub leader_id: NodeId,
    /// The round, numbered from 1 in each term.
    pub round: u64,
}

/// The answer to a [`LeaderCheck`]: the peer follows the leader of `term`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderCheckAck {
    /// The peer's term.
    pub term: Term,
    /// The round answered.
    pub round: u64,
}

/// A follower asks the leader for a read index on behalf of a read it serves itself
/// (follower reads, Raft dissertation §6.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadIndexRequest {
    /// The follower's term.
    pub term: Term,
    /// The follower's number for the read, echoed in the answer.
    pub id: u64,
}

/// The leader's answer to a [`ReadIndexRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadIndexResponse {
    /// The leader's term.
    pub term: Term,
    /// The follower's number for the read.
    pub id: u64,
    /// The read index, confirmed by a quorum: the follower serves the read once it has
    /// applied up to it. `None`: the node does not lead (or cannot take more reads).
    pub index: Option<LogIndex>,
}

/// The payload of a [`Message`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// A vote or pre-vote request.
    RequestVote(RequestVoteRequest),
    /// A vote or pre-vote answer.
    RequestVoteResponse(RequestVoteResponse),
    /// Entries or a heartbeat.
    AppendEntries(AppendEntriesRequest),
    /// An answer to entries or a heartbeat.
    AppendEntriesResponse(AppendEntriesResponse),
    /// A chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest),
    /// An answer to a chunk of a snapshot.
    InstallSnapshotResponse(InstallSnapshotResponse),
    /// Campaign now: the leader hands leadership over.
    TimeoutNow(TimeoutNowRequest),
    /// A vote request of an election the leader asked for (leadership transfer, Raft
    /// dissertation §3.10): voters grant it even while they hear from a leader.
    TransferVote(RequestVoteRequest),
    /// The leader asks its peers to confirm that it still leads (reads).
    LeaderCheck(LeaderCheck),
    /// A peer confirms a [`LeaderCheck`] round.
    LeaderCheckAck(LeaderCheckAck),
    /// A follower asks the leader for a read index.
    ReadIndex(ReadIndexRequest),
    /// The leader answers a [`ReadIndexRequest`].
    ReadIndexResponse(ReadIndexResponse),
}

impl Payload {
    /// The term the message carries.
    pub fn term(&self) -> Term {
        match self {
            Payload::RequestVote(m) => m.term,
            Payload::RequestVoteResponse(m) => m.term,
            Payload::AppendEntries(m) => m.term,
            Payload::AppendEntriesResponse(m) => m.term,
            Payload::InstallSnapshot(m) => m.term,
            Payload::InstallSnapshotResponse(m) => m.term,
            Payload::TimeoutNow(m) => m.term,
            Payload::TransferVote(m) => m.term,
            Payload::LeaderCheck(m) => m.term,
            Payload::LeaderCheckAck(m) => m.term,
            Payload::ReadIndex(m) => m.term,
            Payload::ReadIndexResponse(m) => m.term,
        }
    }

    /// A short name for traces.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::RequestVote(m) if m.pre_vote => "PreVote",
            Payload::RequestVote(_) => "RequestVote",
            Payload::RequestVoteResponse(m) if m.pre_vote => "PreVoteResponse",
            Payload::RequestVoteResponse(_) => "RequestVoteResponse",
            Payload::AppendEntries(_) => "AppendEntries",
            Payload::AppendEntriesResponse(_) => "AppendEntriesResponse",
            Payload::InstallSnapshot(_) => "InstallSnapshot",
            Payload::InstallSnapshotResponse(_) => "InstallSnapshotResponse",
            Payload::TimeoutNow(_) => "TimeoutNow",
            Payload::TransferVote(_) => "TransferVote",
            Payload::LeaderCheck(_) => "LeaderCheck",
            Payload::LeaderCheckAck(_) => "LeaderCheckAck",
            Payload::ReadIndex(_) => "ReadIndex",
            Payload::ReadIndexResponse(_) => "ReadIndexResponse",
        }
    }
}

/// A message on the wire: who sent it, to whom, and what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sender.
    pub from: NodeId,
    /// The receiver.
    pub to: NodeId,
    /// The content.
    pub payload: Payload,
}
