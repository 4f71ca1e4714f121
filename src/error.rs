//! Errors returned by the engine. Anything a peer, a disk or a user can cause is an error value,
//! never a panic (STYLE.md 5).

use crate::types::{LogIndex, NodeId, Term};

/// The result type of every fallible operation.
pub type RaftResult<T> = Result<T, RaftError>;

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RaftError {
    /// The operation needs the leader; `leader_id` is the best known leader, if any.
    #[error("not the leader (leader hint: {leader_id:?})")]
    NotLeader {
        /// The leader this node believes in, for redirection.
        leader_id: Option<NodeId>,
    },
    /// The node is in a state where the operation makes no sense.
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// A log does not have the shape the operation needs.
    #[error("log inconsistency: {0}")]
    LogInconsistency(String),
    /// The persistence backend failed; nothing that depended on the write was sent.
    #[error("storage error: {0}")]
    StorageError(String),
    /// A message or token from an older term.
    #[error("stale term {seen} (current term {current})")]
    StaleTerm {
        /// The term carried by the rejected input.
        seen: Term,
        /// This node's current term.
        current: Term,
    },
    /// This node already voted for another candidate in the term.
    #[error("vote already granted in term {term} to {voted_for}")]
    VoteAlreadyGranted {
        /// The term of the vote.
        term: Term,
        /// Who got it.
        voted_for: NodeId,
    },
    /// The configuration is not usable.
    #[error("configuration error: {0}")]
    ConfigError(String),
    /// A transport or wire-format failure.
    #[error("network error: {0}")]
    NetworkError(String),
    /// An operation did not complete in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A membership change is already under way.
    #[error("a membership change is already in progress")]
    MembershipChangeInProgress,
    /// The node is already a member.
    #[error("node {0} is already a member")]
    NodeAlreadyMember(NodeId),
    /// The node is not a member.
    #[error("node {0} is not a member")]
    NodeNotMember(NodeId),
    /// The user's state machine failed to apply an entry.
    #[error("state machine error at index {index}: {message}")]
    StateMachineError {
        /// The entry that failed.
        index: LogIndex,
        /// What the state machine said.
        message: String,
    },
    /// The node is still replaying its log into the state machine.
    #[error("recovering")]
    Recovering,
    /// Anything else.
    #[error("{0}")]
    Other(String),
}
