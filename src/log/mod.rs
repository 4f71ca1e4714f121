//! Log entries and the in-memory log of the core.
//!
//! [`RaftLog`] keeps the invariants of a Raft log in private fields and checks them at its
//! gateways (STYLE.md 4):
//! - the log starts after a snapshot point (index and term; 0 and 0 before any compaction),
//!   and entries are contiguous from there: the entry at `index` sits at position
//!   `index - snapshot.index - 1` (the entry store's `locate`, the one place that finds an
//!   index);
//! - terms never decrease along the log;
//! - `applied <= committed <= last_index`, and `committed` never decreases;
//! - nothing at or below `committed` is ever truncated or overwritten (paper §5.3, §5.4).

use crate::log_source::{LogReadError, LogSource, SourceHandle};
mod compaction;

use crate::log_store::{EntryRuns, EntryStore};
use crate::membership::Configuration;
use crate::types::{LogIndex, Term};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An opaque command for the user's state machine.
///
/// The payload is a shared, immutable buffer ([`Bytes`]): from `propose` to `apply`, handing
/// an entry to persistence, to each follower's AppendEntries and to the state machine clones
/// a reference, never the bytes. `Bytes` reads as a `[u8]` (it dereferences to one and
/// compares with `Vec<u8>`, `[u8]` and `&[u8]`); `data.to_vec()` gives an owned copy.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Command {
    /// The command's bytes, interpreted only by the state machine.
    pub data: Bytes,
}

impl Command {
    /// A command carrying `data`: the vector becomes the shared buffer, without a copy.
    pub fn new(data: Vec<u8>) -> Self {
        Command { data: Bytes::from(data) }
    }

    /// A command carrying a buffer that is already shared.
    pub fn from_bytes(data: Bytes) -> Self {
        Command { data }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Command({} bytes)", self.data.len())
    }
}

impl From<Vec<u8>> for Command {
    fn from(data: Vec<u8>) -> Self {
        Command::new(data)
    }
}

impl From<Bytes> for Command {
    fn from(data: Bytes) -> Self {
        Command { data }
    }
}

/// What an entry is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryKind {
    /// A user command, applied to the state machine.
    #[default]
    Normal,
    /// The empty entry a new leader appends at the start of its term (paper §5.4.2, §8), so
    /// that entries of earlier terms become committed. The state machine never sees it.
    Noop,
    /// A configuration change: the payload is a whole
    /// [`crate::membership::Configuration`], in force on a node from the moment it appends
    /// the entry. The state machine never sees it.
    Config,
}

/// One entry of the replicated log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogEntry {
    /// The term of the leader that created the entry.
    pub term: Term,
    /// The entry's position in the log.
    pub index: LogIndex,
    /// What the entry is for.
    pub kind: EntryKind,
    /// The payload (empty for a no-op).
    pub command: Command,
}

impl LogEntry {
    /// A normal entry carrying `command`.
    pub fn new(term: Term, index: LogIndex, command: Command) -> Self {
        LogEntry { term, index, kind: EntryKind::Normal, command }
    }

    /// The entry's term.
    #[inline]
    pub fn term(&self) -> Term {
        self.term
    }

    /// The entry's index.
    pub fn index(&self) -> LogIndex {
        self.index
    }

    /// The entry's command.
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// Bytes this entry counts for in batching limits: its payload plus a fixed header.
    pub fn size_bytes(&self) -> u64 {
        ENTRY_HEADER_BYTES + self.command.data.len() as u64
    }
}

/// Copies of `entries` (payloads shared) up to `to`, stopping once their bytes
/// ([`LogEntry::size_bytes`]) exceed `max_bytes`; at least one is taken if there is one. The
/// rule every read of a range of the log follows.
pub fn take_within_bytes<'a>(
    entries: impl Iterator<Item = &'a LogEntry>,
    to: LogIndex,
    max_bytes: u64,
) -> Vec<LogEntry> {
    let (mut out, mut bytes) = (Vec::new(), 0u64);
    for entry in entries.take_while(|e| e.index <= to) {
        bytes += entry.size_bytes();
        if !out.is_empty() && bytes > max_bytes {
            break;
        }
        out.push(entry.clone());
    }
    out
}

/// The fixed per-entry cost used when sizing batches (term, index, kind, length prefix).
pub const ENTRY_HEADER_BYTES: u64 = 24;

/// Where a log starts: the index and term of the last entry a snapshot covers. The log holds
/// the entries after it; the ones up to it are compacted away. `SnapshotPoint::default()`
/// (0, 0) is the start of an uncompacted log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnapshotPoint {
    /// The last index the snapshot covers.
    pub index: LogIndex,
    /// The term of the entry at that index.
    pub term: Term,
}

/// Why a leader's entries could not be appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendRejection {
    /// The follower's log does not contain an entry at `prev_index` with `prev_term`.
    Mismatch,
    /// The entries would overwrite a committed entry: only a faulty peer sends that.
    WouldOverwriteCommitted,
    /// The entries are not contiguous or their terms decrease: a malformed message.
    Malformed,
}

/// The core's view of the log: the entries after its snapshot point, plus the commit,
/// stability and apply cursors. Entries are stored in shared runs (the private `log_store`
/// module): handing them out for persistence or applying shares them, and reading one
/// clones the entry, whose payload is itself shared.
#[derive(Clone, Debug)]
pub struct RaftLog {
    /// Where the log starts: entries up to it are compacted away.
    snapshot: SnapshotPoint,
    entries: EntryStore,
    /// Highest index known to be committed.
    committed: LogIndex,
    /// Highest index the driver has confirmed durable (for this log's content).
    durable: LogIndex,
    /// First index not yet handed to the driver for persistence.
    unwritten_from: LogIndex,
    /// Highest committed index handed to the driver for applying.
    apply_handed_out: LogIndex,
    /// Highest index the driver has confirmed applied.
    applied: LogIndex,
    /// Bytes of the entries after `committed` (as [`LogEntry::size_bytes`] counts them).
    uncommitted_bytes: u64,
    /// Index of the last entry (the snapshot point's when the log holds none).
    last: LogIndex,
    /// The term of every entry after the snapshot point, as (first index, term) for each
    /// run of one term. Kept for the whole log, also where entries were dropped from memory,
    /// so that a term lookup never reads storage.
    terms: Vec<(LogIndex, Term)>,
    /// Where entries dropped from memory are read back from; without one, none is dropped.
    source: Option<SourceHandle>,
    /// Bytes of durable entries kept in memory when there is a source.
    cache_bytes: u64,
    /// Reading committed entries back to apply them failed: none is handed out for applying
    /// until [`RaftLog::retry_reads`] (the core calls it at each input).
    apply_read_failed: bool,
    /// The configuration in force at the snapshot point (the bootstrap one before any
    /// compaction).
    base_config: Configuration,
    /// The configuration entries after the snapshot point, in log order: the last one is in
    /// force (from the moment it is appended, committed or not).
    configs: Vec<(LogIndex, Configuration)>,
}

impl RaftLog {
    /// A log recovered from durable state: the snapshot point, the `entries` after it
    /// (contiguous from the point), and `committed`. Everything given is durable, so nothing
    /// is handed out again for persistence; what the snapshot covers counts as committed
    /// and applied (the state machine is restored from it).
    pub fn recovered(
        snapshot: SnapshotPoint,
        entries: Vec<LogEntry>,
        committed: LogIndex,
    ) -> Result<Self, String> {
        check_contiguous(snapshot.index, snapshot.term, &entries)?;
        let last = entries.last().map_or(snapshot.index, |e| e.index);
        // A hard state may record a commit index beyond a log tail that a torn write lost only
        // if the disk broke its promise; clamp and let the leader resend.
        let committed = committed.min(last).max(snapshot.index);
        let uncommitted_bytes =
            entries.iter().filter(|e| e.index > committed).map(LogEntry::size_bytes).sum();
        let mut log = RaftLog {
            last: snapshot.index,
            terms: Vec::new(),
            source: None,
            cache_bytes: u64::MAX,
            apply_read_failed: false,
            base_config: Configuration::default(),
            configs: Vec::new(),
            snapshot,
            entries: EntryStore::default(),
            committed,
            durable: last,
            unwritten_from: last.next(),
            apply_handed_out: snapshot.index,
            applied: snapshot.index,
            uncommitted_bytes,
        };
        for e in &entries {
            log.note_appended(e);
        }
        log.entries.extend(entries);
        Ok(log)
    }

    /// An empty log.
    pub fn new() -> Self {
        Self::recovered(SnapshotPoint::default(), Vec::new(), LogIndex(0)).expect("an empty log is valid")
    }

    /// Where the log starts: the entries up to this point are compacted away.
    pub fn snapshot_point(&self) -> SnapshotPoint {
        self.snapshot
    }

    /// The first index the log holds an entry for (one past the snapshot point; past the
    /// last index when the log holds none).
    #[inline]
    pub fn first_index(&self) -> LogIndex {
        self.snapshot.index.next()
    }

    /// Index of the last entry (the snapshot point's when the log holds none).
    #[inline]
    pub fn last_index(&self) -> LogIndex {
        self.last
    }

    /// Term of the last entry (the snapshot point's when the log holds none).
    #[inline]
    pub fn last_term(&self) -> Term {
        self.terms.last().map_or(self.snapshot.term, |&(_, t)| t)
    }

    /// Sets where entries dropped from memory are read back from, and how many bytes of
    /// durable entries to keep in memory as a cache; older ones are dropped as they become
    /// durable (a recovered log's at once: they are all durable).
    pub fn set_source(&mut self, source: std::sync::Arc<dyn LogSource>, cache_bytes: u64) {
        self.source = Some(SourceHandle(source));
        self.cache_bytes = cache_bytes;
        self.evict();
    }

    /// Drops from memory the oldest runs of entries that are durable, while more than the
    /// cache bound is held (only with a source to read them back from: for a lagging
    /// follower, and for applying what was not yet applied, after a restart or behind a
    /// slow state machine).
    pub fn evict(&mut self) {
        if self.source.is_none() {
            return;
        }
        let limit = self.durable.min(self.unwritten_from.prev());
        while self.entries.bytes() > self.cache_bytes && self.entries.drop_first_chunk_through(limit) {}
    }

    /// Bytes of the entries kept in memory.
    pub fn cached_bytes(&self) -> u64 {
        self.entries.bytes()
    }

    /// The committed index.
    #[inline]
    pub fn committed(&self) -> LogIndex {
        self.committed
    }

    /// The highest index confirmed durable.
    #[inline]
    pub fn durable_index(&self) -> LogIndex {
        self.durable
    }

    /// The highest index confirmed applied.
    #[inline]
    pub fn applied(&self) -> LogIndex {
        self.applied
    }

    /// Bytes of the entries after the commit index (as [`LogEntry::size_bytes`] counts them).
    pub fn uncommitted_bytes(&self) -> u64 {
        self.uncommitted_bytes
    }

    /// Bytes of the entries the log holds in memory in `from..=to` (every entry after the
    /// commit index is in memory).
    fn bytes_in(&self, from: LogIndex, to: LogIndex) -> u64 {
        let from = from.max(self.first_index());
        self.entries.iter_from(from).take_while(|e| e.index <= to).map(LogEntry::size_bytes).sum()
    }

    /// Number of entries in the log (after the snapshot point; in memory or not).
    pub fn len(&self) -> usize {
        usize::try_from(self.last.0 - self.snapshot.index.0).unwrap_or(usize::MAX)
    }

    /// True when the log holds no entry.
    pub fn is_empty(&self) -> bool {
        self.last == self.snapshot.index
    }

    /// The term of the entry at `index`: the snapshot point's term at its index (`Some(0)`
    /// for index 0 of an uncompacted log), `None` past the end or before the snapshot point
    /// (compacted away: unknown).
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        if index == self.snapshot.index {
            return Some(self.snapshot.term);
        }
        if index < self.first_index() || index > self.last {
            return None;
        }
        let run = self.terms.partition_point(|&(start, _)| start <= index).checked_sub(1)?;
        Some(self.terms[run].1)
    }

    /// The entry at `index` if the log keeps it in memory (never reads the source).
    pub fn entry_in_memory(&self, index: LogIndex) -> Option<&LogEntry> {
        self.entries.get(index)
    }

    /// A copy of the entry at `index`, if present (its payload shared), read back from the
    /// source if it was dropped from memory; `None` also when that read fails.
    pub fn entry(&self, index: LogIndex) -> Option<LogEntry> {
        match self.entries.get(index) {
            Some(entry) => Some(entry.clone()),
            None => self.slice(index, index, 1, 0).ok()?.pop(),
        }
    }

    /// True when the log holds an entry at `index` with `term` (the snapshot point always
    /// matches, index 0 included).
    #[inline]
    pub fn matches(&self, index: LogIndex, term: Term) -> bool {
        self.term(index) == Some(term)
    }

    /// Copies of the entries in `from..=to` that the log holds (none before
    /// [`RaftLog::first_index`]; payloads shared), stopping early once `max_bytes` is
    /// exceeded (at least one entry is returned when the range is not empty) or `max_count`
    /// entries are taken. Entries dropped from memory are read back from the source; a
    /// failed read, or one that does not give this log's entries, is an error.
    pub fn slice(
        &self,
        from: LogIndex,
        to: LogIndex,
        max_count: usize,
        max_bytes: u64,
    ) -> Result<Vec<LogEntry>, LogReadError> {
        let from = from.max(self.first_index());
        let to = to.min(self.last);
        // Size the output once, so pushes never reallocate and copy: the range, bounded by
        // the count limit and the most entries the byte limit can admit.
        let span = to.0.saturating_add(1).saturating_sub(from.0);
        let by_bytes = max_bytes / ENTRY_HEADER_BYTES + 1;
        let capacity = usize::try_from(span.min(by_bytes)).unwrap_or(usize::MAX).min(max_count);
        let mut out = Vec::with_capacity(capacity);
        let mut bytes = 0u64;
        let in_memory_from = self.entries.first_index().unwrap_or(self.last.next());
        if from < in_memory_from && from <= to && max_count > 0 {
            let read_to = to.min(in_memory_from.prev());
            let source = self.source.as_ref().ok_or(LogReadError::Unavailable(from))?;
            let mut read = source.0.entries(from, read_to, max_bytes)?;
            self.check_read(from, read_to, &read)?;
            read.truncate(max_count);
            bytes = read.iter().map(LogEntry::size_bytes).sum();
            let complete = read.last().is_some_and(|e| e.index == read_to);
            out.append(&mut read);
            if !complete || out.len() >= max_count || bytes > max_bytes {
                return Ok(out);
            }
        }
        for entry in self.entries.iter_from(from) {
            if entry.index > to || out.len() >= max_count {
                break;
            }
            bytes += entry.size_bytes();
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(entry.clone());
        }
        Ok(out)
    }

    /// Checks entries read back from the source for `from..=to`: at least one, contiguous
    /// from `from`, none past `to`, each of the term this log records for its index.
    fn check_read(&self, from: LogIndex, to: LogIndex, read: &[LogEntry]) -> Result<(), LogReadError> {
        if read.is_empty() {
            return Err(LogReadError::Unavailable(from));
        }
        for (k, entry) in read.iter().enumerate() {
            let index = from.plus(k as u64);
            if entry.index != index || index > to || self.term(index) != Some(entry.term) {
                return Err(LogReadError::Io(format!(
                    "the log storage gave entry {} of term {} where entry {index} of term {:?} was expected",
                    entry.index,
                    entry.term,
                    self.term(index)
                )));
            }
        }
        Ok(())
    }

    /// The raft paper's "at least as up-to-date" comparison (§5.4.1).
    pub fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }

    /// The first index of the run of entries with the same term as the entry at `index`, used as
    /// a conflict hint so the leader can skip a whole term at once (§5.3, "fast backtracking").
    pub fn first_index_of_term_at(&self, index: LogIndex) -> LogIndex {
        if index < self.first_index() || index > self.last {
            return index;
        }
        let run = self.terms.partition_point(|&(start, _)| start <= index) - 1;
        // Back to the start of the term's run, but not into the committed prefix.
        let lowest = self.terms[run].0.max(self.first_index()).max(self.committed.next());
        lowest.min(index)
    }

    /// The last index whose term is `term`, if the log holds any entry of that term.
    pub fn last_index_of_term(&self, term: Term) -> Option<LogIndex> {
        // Terms are sorted: binary search for the run after the term's.
        let run = self.terms.partition_point(|&(_, t)| t <= term);
        let (_, found) = *self.terms.get(run.checked_sub(1)?)?;
        (found == term).then(|| self.terms.get(run).map_or(self.last, |&(start, _)| start.prev()))
    }

    /// Appends a leader's own new entry. Panics on an index or term that breaks the invariants:
    /// only the core calls this, with values it computed.
    pub fn append_local(&mut self, entry: LogEntry) {
        assert_eq!(entry.index, self.last_index().next(), "local append must be contiguous");
        assert!(entry.term >= self.last_term(), "local append must not lower the term");
        self.uncommitted_bytes += entry.size_bytes();
        self.note_appended(&entry);
        self.entries.push(entry);
    }

    /// Records the index and term of an entry appended at the end, and its configuration if
    /// it is a configuration entry (checked before any append: one that does not decode
    /// never reaches the log).
    fn note_appended(&mut self, entry: &LogEntry) {
        if self.terms.last().is_none_or(|&(_, t)| t != entry.term) {
            self.terms.push((entry.index, entry.term));
        }
        self.last = entry.index;
        if entry.kind == EntryKind::Config {
            match Configuration::decode(&entry.command.data) {
                Ok(config) => self.configs.push((entry.index, config)),
                Err(e) => {
                    tracing::warn!(index = %entry.index, error = %e, "a configuration entry that does not decode is ignored")
                }
            }
        }
    }

    /// Follower side of AppendEntries (§5.3): checks `prev_index/prev_term`, skips entries that
    /// already match, truncates at the first real term conflict and appends the rest. Returns the
    /// index this request proves to match the leader's log: `prev_index + entries.len()`.
    pub fn try_append(
        &mut self,
        prev_index: LogIndex,
        prev_term: Term,
        entries: &[LogEntry],
    ) -> Result<LogIndex, AppendRejection> {
        let (proved, first_new) = self.check_append(prev_index, prev_term, entries)?;
        if let Some(first_new) = first_new {
            self.truncate_from(entries[first_new].index);
            self.uncommitted_bytes += entries[first_new..].iter().map(LogEntry::size_bytes).sum::<u64>();
            for e in &entries[first_new..] {
                self.note_appended(e);
            }
            self.entries.extend(entries[first_new..].to_vec());
        }
        Ok(proved)
    }

    /// [`RaftLog::try_append`] taking the entries by value: they are moved into the log instead
    /// of cloned (the follower's hot path, where the message owns them).
    pub fn try_append_owned(
        &mut self,
        prev_index: LogIndex,
        prev_term: Term,
        mut entries: Vec<LogEntry>,
    ) -> Result<LogIndex, AppendRejection> {
        let (proved, first_new) = self.check_append(prev_index, prev_term, &entries)?;
        if let Some(first_new) = first_new {
            self.truncate_from(entries[first_new].index);
            entries.drain(..first_new);
            self.uncommitted_bytes += entries.iter().map(LogEntry::size_bytes).sum::<u64>();
            for e in &entries {
                self.note_appended(e);
            }
            self.entries.extend(entries);
        }
        Ok(proved)
    }

    /// The checks of an append, without changing anything: what it proves, and the position in
    /// `entries` of the first one the log does not already hold (None when it holds them all).
    fn check_append(
        &self,
        prev_index: LogIndex,
        prev_term: Term,
        entries: &[LogEntry],
    ) -> Result<(LogIndex, Option<usize>), AppendRejection> {
        if !self.matches(prev_index, prev_term) {
            return Err(AppendRejection::Mismatch);
        }
        check_contiguous(prev_index, prev_term, entries).map_err(|_| AppendRejection::Malformed)?;
        let bad_config =
            |e: &LogEntry| e.kind == EntryKind::Config && Configuration::decode(&e.command.data).is_err();
        if entries.iter().any(bad_config) {
            return Err(AppendRejection::Malformed);
        }
        let proved = prev_index.plus(entries.len() as u64);
        // Entries already present with the same term are the same entries (log matching
        // property), so a stale or duplicated request changes nothing (defect 2 of the seed).
        let first_new = entries.iter().position(|e| !self.matches(e.index, e.term));
        let Some(first_new) = first_new else { return Ok((proved, None)) };
        if entries[first_new].index <= self.committed {
            return Err(AppendRejection::WouldOverwriteCommitted);
        }
        Ok((proved, Some(first_new)))
    }

    /// Removes every entry at `from` and after. Never below the commit index.
    fn truncate_from(&mut self, from: LogIndex) {
        assert!(from > self.committed, "truncating committed entries");
        if from <= self.last {
            self.uncommitted_bytes -= self.bytes_in(from, self.last_index());
            self.entries.truncate_from(from);
            self.terms.truncate(self.terms.partition_point(|&(start, _)| start < from));
            // A configuration entry cut off takes its configuration with it: the one before
            // is in force again.
            self.configs.truncate(self.configs.partition_point(|(i, _)| *i < from));
            self.last = from.prev();
            self.unwritten_from = self.unwritten_from.min(from);
            self.durable = self.durable.min(from.prev());
        }
    }

    /// Advances the commit index; it never moves back. The core never asks for more than
    /// the log holds: that would be a bug, so it panics.
    pub fn commit_to(&mut self, index: LogIndex) -> bool {
        assert!(index <= self.last_index(), "commit to {index} beyond the last index {}", self.last_index());
        if index > self.committed {
            self.uncommitted_bytes -= self.bytes_in(self.committed.next(), index);
            self.committed = index;
            true
        } else {
            false
        }
    }

    /// Entries not yet handed out for persistence (shared, not copied); marks them handed
    /// out.
    pub fn take_unwritten(&mut self) -> EntryRuns {
        let from = self.unwritten_from;
        let last = self.last_index();
        if from > last {
            return EntryRuns::new();
        }
        self.unwritten_from = last.next();
        self.entries.runs(from, last, u64::MAX)
    }

    /// True when some entries have not been handed out for persistence yet.
    pub fn has_unwritten(&self) -> bool {
        self.unwritten_from <= self.last_index()
    }

    /// The driver made entries up to `index` (of `term`) durable. Ignored when the log has
    /// since been truncated and rewritten at that index, since then the ack is for other data.
    pub fn durable_to(&mut self, index: LogIndex, term: Term) {
        if index > self.durable && index < self.unwritten_from && self.matches(index, term) {
            self.durable = index;
        }
    }

    /// Committed entries not yet handed out for applying, up to what was handed out for
    /// persistence (the driver persists a batch before applying it), shared and not copied;
    /// marks them handed out.
    ///
    /// Entries dropped from memory are read back from the source; if that read fails, none
    /// is handed out until [`RaftLog::retry_reads`].
    pub fn take_committed(&mut self, max_bytes: u64) -> EntryRuns {
        let to = self.committed.min(self.unwritten_from.prev());
        let from = self.apply_handed_out.next().max(self.first_index());
        if from > to || self.apply_read_failed {
            return EntryRuns::new();
        }
        let in_memory_from = self.entries.first_index().unwrap_or(self.last.next());
        let out = if from < in_memory_from {
            let read_to = to.min(in_memory_from.prev());
            let read = match self.slice(from, read_to, usize::MAX, max_bytes) {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read committed entries back to apply them");
                    self.apply_read_failed = true;
                    return EntryRuns::new();
                }
            };
            let bytes: u64 = read.iter().map(LogEntry::size_bytes).sum();
            let complete = read.last().is_some_and(|e| e.index == read_to);
            let mut out = EntryRuns::from(read);
            // The rest from memory, while the byte limit allows.
            let next_fits =
                self.entries.get(in_memory_from).is_some_and(|e| bytes + e.size_bytes() <= max_bytes);
            if complete && read_to < to && next_fits {
                out.append(self.entries.runs(in_memory_from, to, max_bytes - bytes));
            }
            out
        } else {
            self.entries.runs(from, to, max_bytes)
        };
        if let Some(last) = out.last() {
            self.apply_handed_out = last.index;
        }
        out
    }

    /// The last index handed out for applying (or installed from a snapshot): once the
    /// batch that handed it out completes, the driver's state machine has applied it.
    pub fn apply_handed_out(&self) -> LogIndex {
        self.apply_handed_out
    }

    /// True when committed entries wait to be handed out for applying (and the last read of
    /// them did not fail).
    pub fn has_committed_to_apply(&self) -> bool {
        !self.apply_read_failed && self.apply_handed_out < self.committed.min(self.unwritten_from.prev())
    }

    /// Lets a failed read of committed entries be tried again.
    pub fn retry_reads(&mut self) {
        self.apply_read_failed = false;
    }

    /// The driver applied entries up to `index`. An index at or below the applied one
    /// changes nothing (a late report); one beyond what was handed out for applying is the
    /// driver's mistake, refused with an error.
    pub fn applied_to(&mut self, index: LogIndex) -> Result<(), String> {
        if index > self.apply_handed_out {
            return Err(format!(
                "applied up to {index}, but entries were handed out for applying only up to {}",
                self.apply_handed_out
            ));
        }
        self.applied = self.applied.max(index);
        Ok(())
    }

    /// Marks entries up to `index` as already applied (a recovered state machine).
    pub fn set_applied(&mut self, index: LogIndex) {
        let index = index.min(self.committed);
        self.applied = index;
        self.apply_handed_out = index;
    }

    /// Copies of all entries the log holds, for inspection (read back from the source where
    /// they were dropped from memory; empty if that read fails).
    pub fn entries(&self) -> Vec<LogEntry> {
        self.slice(self.first_index(), self.last_index(), usize::MAX, u64::MAX).unwrap_or_default()
    }
}

impl Default for RaftLog {
    fn default() -> Self {
        Self::new()
    }
}

/// Checks that `entries` follow `(prev_index, prev_term)` contiguously with non-decreasing terms.
fn check_contiguous(prev_index: LogIndex, prev_term: Term, entries: &[LogEntry]) -> Result<(), String> {
    let (mut index, mut term) = (prev_index, prev_term);
    for entry in entries {
        if entry.index != index.next() {
            return Err(format!("entry index {} follows {}", entry.index, index));
        }
        if entry.term < term {
            return Err(format!("entry {} has term {} below {}", entry.index, entry.term, term));
        }
        (index, term) = (entry.index, entry.term);
    }
    Ok(())
}
