//! Where the core reads entries it no longer keeps in memory: the driver's log storage.
//!
//! The core keeps what is not yet durable plus a bounded cache of recent entries
//! ([`crate::RaftConfig::log_cache_bytes`]); with a [`LogSource`] set
//! ([`crate::core::Core::set_log_source`]) it drops older entries from memory and reads them
//! back from the source when a lagging follower needs them. Terms are kept for the whole log
//! (a few bytes per term), so a term lookup never reads storage.

use crate::log::LogEntry;
use crate::types::LogIndex;
use std::fmt;

/// Why entries could not be read from a [`LogSource`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogReadError {
    /// The storage no longer holds the entry (compacted into a snapshot): the follower that
    /// needs it must be sent a snapshot.
    #[error("entry {0} is compacted")]
    Compacted(LogIndex),
    /// The storage does not hold the entry, which it should: a driver's bug or a lost write.
    #[error("entry {0} is not in the log storage")]
    Unavailable(LogIndex),
    /// Reading failed (an I/O error, a corrupt record).
    #[error("reading the log failed: {0}")]
    Io(String),
}

/// Read access to the durable log, for entries the core has dropped from memory. Shared
/// between the driver, which writes the log, and the core, which reads it, so it reads
/// through `&self`.
pub trait LogSource: Send + Sync {
    /// The entries `from..=to`, in order and contiguous from `from`, stopping once their
    /// bytes ([`LogEntry::size_bytes`]) exceed `max_bytes` (at least one entry is returned).
    /// The core asks only for durable entries of its own log, and checks what it gets.
    fn entries(&self, from: LogIndex, to: LogIndex, max_bytes: u64) -> Result<Vec<LogEntry>, LogReadError>;
}

/// A shared source, as the log holds it.
#[derive(Clone)]
pub(crate) struct SourceHandle(pub(crate) std::sync::Arc<dyn LogSource>);

impl fmt::Debug for SourceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogSource")
    }
}
