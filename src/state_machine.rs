//! The user's replicated state machine.

use crate::error::RaftResult;
use crate::log::LogEntry;

/// A deterministic state machine fed with committed entries, exactly once each, in log order.
///
/// No-op entries of new leaders are not passed in. `apply` must be deterministic: every node
/// applies the same entries and must reach the same state.
pub trait StateMachine: Send {
    /// Applies one committed entry and returns its result.
    fn apply(&mut self, entry: &LogEntry) -> RaftResult<Vec<u8>>;
    /// Serializes the whole state.
    fn snapshot(&self) -> RaftResult<Vec<u8>>;
    /// Replaces the whole state with a snapshot's.
    fn restore(&mut self, data: &[u8]) -> RaftResult<()>;
}
