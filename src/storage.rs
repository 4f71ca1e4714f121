//! Persistence: the [`RaftPersistence`] trait the seed's API writes through, and an
//! in-memory implementation. [`crate::driver::PersistenceStore`] writes a [`crate::Ready`]
//! through it, in the order the contract requires.

use crate::core::{DurableState, HardState};
use crate::error::{RaftError, RaftResult};
use crate::log::{LogEntry, SnapshotPoint};
use crate::snapshot::Snapshot;
use crate::types::LogIndex;
use std::sync::{Mutex, MutexGuard};

/// Durable storage of one node's hard state and log.
///
/// Writes may be buffered until [`RaftPersistence::sync`]; the engine syncs before it sends
/// anything that depends on a write. Every method reports failure as an error, which the
/// engine propagates: it never votes or acknowledges on top of a failed write.
pub trait RaftPersistence: Send + Sync {
    /// Records the hard state (term, vote, commit).
    fn save_hard_state(&self, state: &HardState) -> RaftResult<()>;
    /// Reads the last recorded hard state (the default one when none was ever saved).
    fn load_hard_state(&self) -> RaftResult<HardState>;
    /// Appends entries; the first one's index is exactly one past the current last entry.
    fn append_entries(&self, entries: &[LogEntry]) -> RaftResult<()>;
    /// Removes every entry with index `from` or higher (no-op when there is none).
    fn truncate_log(&self, from: LogIndex) -> RaftResult<()>;
    /// Reads the log, contiguous from one past the snapshot point.
    fn load_log(&self) -> RaftResult<Vec<LogEntry>>;
    /// Reads the entries `from..=to` the log holds, stopping once their bytes
    /// ([`LogEntry::size_bytes`]) exceed `max_bytes` (at least one entry): the core reads back
    /// the entries it no longer keeps in memory, for a follower that lags behind. The default
    /// method reads the whole log and keeps the range, which costs the whole log's size each
    /// time: a persistence that can read a range should override it.
    fn read_entries(&self, from: LogIndex, to: LogIndex, max_bytes: u64) -> RaftResult<Vec<LogEntry>> {
        let log = self.load_log()?;
        Ok(crate::log::take_within_bytes(log.iter().filter(|e| e.index >= from), to, max_bytes))
    }
    /// Reads where the log starts: the point up to which it was compacted (the default,
    /// index and term 0, for a log never compacted, which the default method returns).
    fn load_snapshot_point(&self) -> RaftResult<SnapshotPoint> {
        Ok(SnapshotPoint::default())
    }
    /// Drops the entries up to `point`, which a durable snapshot now stands for: the log
    /// starts after it from then on (if the log does not hold `point` with its term, every
    /// entry is dropped). The default method refuses: a persistence that cannot compact
    /// keeps its whole log.
    fn compact_log(&self, point: SnapshotPoint) -> RaftResult<()> {
        Err(RaftError::StorageError(format!("this persistence cannot compact its log (to {point:?})")))
    }
    /// Records `snapshot` as the latest snapshot, replacing the previous one only once it
    /// is whole (a crash while writing it leaves the previous one in force); it is durable
    /// after the next [`RaftPersistence::sync`]. The engine syncs before it compacts the
    /// log. The default method refuses: a persistence that cannot store snapshots never
    /// compacts, and a follower that needs one cannot install it.
    fn save_snapshot(&self, snapshot: &Snapshot) -> RaftResult<()> {
        Err(RaftError::StorageError(format!(
            "this persistence cannot store snapshots (one at {:?})",
            snapshot.point()
        )))
    }
    /// Reads the latest snapshot recorded (the default method: none).
    fn load_snapshot(&self) -> RaftResult<Option<Snapshot>> {
        Ok(None)
    }
    /// Makes every earlier write durable.
    fn sync(&self) -> RaftResult<()>;
}

/// Loads everything a node recovers from.
pub fn load_durable(persistence: &dyn RaftPersistence) -> RaftResult<DurableState> {
    Ok(DurableState {
        hard_state: persistence.load_hard_state()?,
        snapshot: persistence.load_snapshot_point()?,
        entries: persistence.load_log()?,
        latest_snapshot: persistence.load_snapshot()?,
    })
}

/// In-memory persistence, for tests, benchmarks and the default [`crate::RaftNode::new`].
/// It can be told to fail, to test that a failed write is never acknowledged.
#[derive(Debug, Default)]
pub struct MemPersistence {
    inner: Mutex<MemInner>,
}

#[derive(Debug, Default)]
struct MemInner {
    hard_state: HardState,
    snapshot: SnapshotPoint,
    entries: Vec<LogEntry>,
    latest_snapshot: Option<Snapshot>,
    fail: bool,
}

impl MemPersistence {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// While `fail` is true, every write and sync returns a storage error.
    pub fn set_fail(&self, fail: bool) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.fail = fail;
        }
    }

    fn lock(&self) -> RaftResult<MutexGuard<'_, MemInner>> {
        self.inner.lock().map_err(|_| RaftError::StorageError("persistence lock poisoned".into()))
    }

    fn lock_for_write(&self) -> RaftResult<MutexGuard<'_, MemInner>> {
        let inner = self.lock()?;
        if inner.fail {
            return Err(RaftError::StorageError("injected write failure".into()));
        }
        Ok(inner)
    }
}

impl RaftPersistence for MemPersistence {
    fn save_hard_state(&self, state: &HardState) -> RaftResult<()> {
        self.lock_for_write()?.hard_state = *state;
        Ok(())
    }

    fn load_hard_state(&self) -> RaftResult<HardState> {
        Ok(self.lock()?.hard_state)
    }

    fn append_entries(&self, entries: &[LogEntry]) -> RaftResult<()> {
        let mut inner = self.lock_for_write()?;
        let expected = inner.entries.last().map_or(inner.snapshot.index, |e| e.index).next();
        if let Some(first) = entries.first() {
            if first.index != expected {
                return Err(RaftError::StorageError(format!(
                    "append at {} but the log continues at {}",
                    first.index, expected
                )));
            }
        }
        inner.entries.extend_from_slice(entries);
        Ok(())
    }

    fn truncate_log(&self, from: LogIndex) -> RaftResult<()> {
        let mut inner = self.lock_for_write()?;
        if from <= inner.snapshot.index {
            return Err(RaftError::StorageError(format!(
                "truncation at {from}, at or before the snapshot point {}",
                inner.snapshot.index
            )));
        }
        inner.entries.retain(|e| e.index < from);
        Ok(())
    }

    fn load_log(&self) -> RaftResult<Vec<LogEntry>> {
        Ok(self.lock()?.entries.clone())
    }

    fn read_entries(&self, from: LogIndex, to: LogIndex, max_bytes: u64) -> RaftResult<Vec<LogEntry>> {
        let inner = self.lock()?;
        let start = inner.entries.partition_point(|e| e.index < from);
        Ok(crate::log::take_within_bytes(inner.entries[start..].iter(), to, max_bytes))
    }

    fn load_snapshot_point(&self) -> RaftResult<SnapshotPoint> {
        Ok(self.lock()?.snapshot)
    }

    fn compact_log(&self, point: SnapshotPoint) -> RaftResult<()> {
        let mut inner = self.lock_for_write()?;
        let mut durable = DurableState {
            hard_state: inner.hard_state,
            snapshot: inner.snapshot,
            entries: std::mem::take(&mut inner.entries),
            latest_snapshot: None,
        };
        let result = crate::wal::compact(&mut durable, point);
        inner.snapshot = durable.snapshot;
        inner.entries = durable.entries;
        result.map_err(RaftError::StorageError)
    }

    fn save_snapshot(&self, snapshot: &Snapshot) -> RaftResult<()> {
        let mut inner = self.lock_for_write()?;
        if inner.latest_snapshot.as_ref().is_none_or(|s| s.meta.index < snapshot.meta.index) {
            inner.latest_snapshot = Some(snapshot.clone());
        }
        Ok(())
    }

    fn load_snapshot(&self) -> RaftResult<Option<Snapshot>> {
        Ok(self.lock()?.latest_snapshot.clone())
    }

    fn sync(&self) -> RaftResult<()> {
        self.lock_for_write().map(|_| ())
    }
}

/// A [`RaftPersistence`] as the log storage the core reads back from
/// ([`crate::core::Core::set_log_source`]): its errors become read errors.
pub struct PersistenceSource(pub std::sync::Arc<dyn RaftPersistence>);

impl crate::log_source::LogSource for PersistenceSource {
    fn entries(
        &self,
        from: LogIndex,
        to: LogIndex,
        max_bytes: u64,
    ) -> Result<Vec<LogEntry>, crate::log_source::LogReadError> {
        self.0
            .read_entries(from, to, max_bytes)
            .map_err(|e| crate::log_source::LogReadError::Io(e.to_string()))
    }
}
