//! Errors returned by the engine. Anything a peer, a disk or a user can cause is an error value,
//! never a panic (STYLE.md 5).
//!
//! Only errors the engine produces are here; the variants of the seed's `RaftError` that belong
//! to features still to come (membership changes, fencing tokens, the network transport)
//! arrive with those features.

use crate::types::{LogIndex, NodeId};

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
    /// A log does not have the shape the operation needs.
    #[error("log inconsistency: {0}")]
    LogInconsistency(String),
    /// The operation did not complete in time (a read not confirmed within
    /// [`crate::core::read_timeout_ms`]).
    #[error("timed out")]
    Timeout,
    /// Too many reads wait at once ([`crate::core::MAX_PENDING_READS`]).
    #[error("too many reads waiting (limit {limit})")]
    TooManyPendingReads {
        /// The limit.
        limit: usize,
    },
    /// The persistence backend failed; nothing that depended on the write was sent.
    #[error("storage error: {0}")]
    StorageError(String),
    /// The configuration is not usable.
    #[error("configuration error: {0}")]
    ConfigError(String),
    /// The user's state machine failed to apply an entry (a [`crate::StateMachine`] returns
    /// it; the node records it, see [`crate::RaftNode::last_apply_error`]).
    #[error("state machine error at index {index}: {message}")]
    StateMachineError {
        /// The entry that failed.
        index: LogIndex,
        /// What the state machine said.
        message: String,
    },
    /// A proposal's command is larger than the configured maximum
    /// ([`crate::RaftConfig::max_command_bytes`]).
    #[error("command of {bytes} bytes is above the limit of {limit} bytes")]
    CommandTooLarge {
        /// The command's size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The leader already holds as many uncommitted bytes as it may
    /// ([`crate::RaftConfig::max_uncommitted_bytes`]); retry once commitment catches up.
    #[error("{bytes} bytes of entries await commitment, and this proposal would pass the limit of {limit}")]
    TooMuchUncommitted {
        /// Bytes of entries beyond the commit index.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// A snapshot is larger than the configured maximum
    /// ([`crate::RaftConfig::max_snapshot_bytes`]).
    #[error("snapshot of {bytes} bytes is above the limit of {limit} bytes")]
    SnapshotTooLarge {
        /// The snapshot's size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// A fencing token from an earlier term than this node's: its leader has been deposed.
    #[error("the fencing token is from an earlier term than the current one")]
    StaleTerm,
    /// A fencing token that no leader this node knows of issued: from a term the node has
    /// not reached, or, on the leader of its term, with a sequence above any it issued.
    #[error("invalid fencing token: {0}")]
    InvalidFencingToken(String),
    /// The leader is handing leadership over and takes no proposal meanwhile: retry at the
    /// new leader (or here, if the transfer is given up).
    #[error("leadership is being handed to {to}")]
    LeadershipTransferInProgress {
        /// The transfer's target.
        to: NodeId,
    },
    /// A membership change is already in progress (a joint configuration, a configuration
    /// entry not yet committed, or a new leader whose term has not committed an entry yet):
    /// retry once it completes.
    #[error("a membership change is already in progress")]
    MembershipChangeInProgress,
    /// The node is already a member (a voter, or for a learner, any member).
    #[error("{node_id} is already a member")]
    NodeAlreadyMember {
        /// The node.
        node_id: NodeId,
    },
    /// The node is not a member (of the kind the change needs).
    #[error("{node_id} is not a member")]
    NodeNotMember {
        /// The node.
        node_id: NodeId,
    },
    /// The driver broke the core's contract (for example, it reported applied an entry that
    /// was never handed out for applying).
    #[error("driver error: {0}")]
    DriverMisuse(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}
