//! Storage of the log's entries in shared, immutable runs.
//!
//! Entries sit in chunks: each chunk is a buffer shared by reference count ([`Entries`]) and
//! holds a contiguous run of entries. Handing entries out (for persistence, for applying)
//! gives out views of these buffers: one reference-count increment per chunk, not one copy
//! per entry (and each entry's payload is itself a shared buffer). A chunk nobody else holds
//! grows in place, so a leader's proposals between two hand-outs, or a follower's appends,
//! share one buffer. Compaction drops whole chunks from the front.

use crate::log::LogEntry;
use crate::types::LogIndex;
use std::collections::VecDeque;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Most entries a chunk of the log grows to in place: bounds the copying a growing buffer
/// does when it reallocates, and the granularity at which the log drops entries from memory
/// (about 90 KiB of 64-byte commands). A larger batch handed in at once stays one chunk.
const MAX_CHUNK_ENTRIES: usize = 1024;

/// A contiguous run of log entries in a shared, immutable buffer: cloning it, or handing it
/// to persistence, to the state machine or to another thread, never copies the entries.
/// Reads as a `[LogEntry]`.
#[derive(Clone, Default)]
pub struct Entries {
    buf: Arc<Vec<LogEntry>>,
    start: usize,
    end: usize,
}

impl Entries {
    /// A run over `entries` (which the run takes without copying).
    pub fn new(entries: Vec<LogEntry>) -> Self {
        let end = entries.len();
        Entries { buf: Arc::new(entries), start: 0, end }
    }

    /// The entries at positions `from..to` of this run, sharing its buffer. Panics if the
    /// range is not within the run.
    pub fn share(&self, from: usize, to: usize) -> Entries {
        assert!(from <= to && to <= self.len(), "{from}..{to} is not within a run of {}", self.len());
        Entries { buf: Arc::clone(&self.buf), start: self.start + from, end: self.start + to }
    }

    /// The run's buffer, if nothing else holds it and the run ends where the buffer does: it
    /// can then grow in place.
    fn growable(&mut self) -> Option<&mut Vec<LogEntry>> {
        let end = self.end;
        Arc::get_mut(&mut self.buf).filter(|v| v.len() == end)
    }

    /// The buffer, if it can grow in place by `more` entries and stay within
    /// [`MAX_CHUNK_ENTRIES`].
    fn growable_by(&mut self, more: usize) -> Option<&mut Vec<LogEntry>> {
        self.growable().filter(|v| v.len() + more <= MAX_CHUNK_ENTRIES)
    }

    /// Appends copies of `entries` (payloads shared) in place, if nothing else holds the
    /// buffer and the run ends where it does; returns whether it did.
    pub fn try_extend(&mut self, entries: &[LogEntry]) -> bool {
        let Some(buf) = self.growable() else { return false };
        buf.extend_from_slice(entries);
        self.end = buf.len();
        true
    }

    /// The entries of the run, owned: moved out if nothing else holds the buffer, cloned
    /// (payloads shared) otherwise.
    pub fn into_vec(self) -> Vec<LogEntry> {
        let (start, end) = (self.start, self.end);
        match Arc::try_unwrap(self.buf) {
            Ok(mut v) => {
                v.truncate(end);
                v.drain(..start);
                v
            }
            Err(buf) => buf[start..end].to_vec(),
        }
    }
}

impl Deref for Entries {
    type Target = [LogEntry];

    #[inline]
    fn deref(&self) -> &[LogEntry] {
        &self.buf[self.start..self.end]
    }
}

impl From<Vec<LogEntry>> for Entries {
    fn from(entries: Vec<LogEntry>) -> Self {
        Entries::new(entries)
    }
}

impl PartialEq for Entries {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Entries {}

impl fmt::Debug for Entries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Entries handed out together: one or more runs, contiguous and in index order. Reads like
/// a slice of entries (`first`, `last`, `len`, `iter`), and gives its runs for a driver that
/// keeps them without copying ([`EntryRuns::runs`]). Most hand-outs are a single run, held
/// without an allocation of its own.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EntryRuns {
    /// The first run, if any (never empty).
    head: Option<Entries>,
    /// The runs after the first (never empty).
    tail: Vec<Entries>,
}

impl EntryRuns {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// The runs, in order; none is empty.
    pub fn runs(&self) -> impl DoubleEndedIterator<Item = &Entries> + '_ {
        self.head.iter().chain(&self.tail)
    }

    /// Takes the runs out, leaving none.
    pub fn take_runs(&mut self) -> impl Iterator<Item = Entries> {
        let tail = std::mem::take(&mut self.tail);
        self.head.take().into_iter().chain(tail)
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.runs().map(|r| r.len()).sum()
    }

    /// The first entry.
    pub fn first(&self) -> Option<&LogEntry> {
        self.head.as_ref().and_then(|r| r.first())
    }

    /// The last entry.
    pub fn last(&self) -> Option<&LogEntry> {
        self.runs().next_back().and_then(|r| r.last())
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &LogEntry> + '_ {
        self.runs().flat_map(|r| r.iter())
    }

    /// The entries, owned (payloads shared; the entries moved where nothing else holds them).
    pub fn into_vec(mut self) -> Vec<LogEntry> {
        let mut runs = self.take_runs();
        let Some(first) = runs.next() else { return Vec::new() };
        let mut out = first.into_vec();
        for run in runs {
            out.extend(run.into_vec());
        }
        out
    }

    /// A copy of the entries (payloads shared).
    pub fn to_vec(&self) -> Vec<LogEntry> {
        self.iter().cloned().collect()
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.head = None;
        self.tail.clear();
    }

    fn push(&mut self, run: Entries) {
        if run.is_empty() {
            return;
        }
        if self.head.is_none() {
            self.head = Some(run);
        } else {
            self.tail.push(run);
        }
    }
}

impl From<Vec<LogEntry>> for EntryRuns {
    fn from(entries: Vec<LogEntry>) -> Self {
        let mut runs = EntryRuns::new();
        runs.push(Entries::new(entries));
        runs
    }
}

impl<'a> IntoIterator for &'a EntryRuns {
    type Item = &'a LogEntry;
    type IntoIter = Box<dyn Iterator<Item = &'a LogEntry> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl fmt::Debug for EntryRuns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The entries of a log, by index, in chunks. Indices are contiguous from the first chunk's
/// first entry; the store does not know the snapshot point (the log does).
#[derive(Clone, Debug, Default)]
pub(crate) struct EntryStore {
    chunks: VecDeque<Entries>,
    /// The index of each chunk's first entry (lookups search here, without following a
    /// pointer into every chunk they pass).
    starts: VecDeque<LogIndex>,
    len: usize,
    /// Bytes of the entries held (as [`LogEntry::size_bytes`] counts them).
    bytes: u64,
}

impl EntryStore {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of the entries held (as [`LogEntry::size_bytes`] counts them).
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The index of the first entry held.
    pub(crate) fn first_index(&self) -> Option<LogIndex> {
        self.starts.front().copied()
    }

    /// Drops the first chunk if its last entry is at or before `limit`; returns whether it
    /// did.
    pub(crate) fn drop_first_chunk_through(&mut self, limit: LogIndex) -> bool {
        let Some(first) = self.chunks.front() else { return false };
        if first.last().expect("chunks are not empty").index > limit {
            return false;
        }
        self.len -= first.len();
        self.bytes -= first.iter().map(LogEntry::size_bytes).sum::<u64>();
        self.chunks.pop_front();
        self.starts.pop_front();
        true
    }

    /// The chunk holding `index` and the entry's offset in it.
    #[inline]
    fn locate(&self, index: LogIndex) -> Option<(usize, usize)> {
        let last = self.chunks.len().checked_sub(1)?;
        // Most lookups are near the end.
        let k = if index >= self.starts[last] {
            last
        } else {
            self.starts.partition_point(|&start| start <= index).checked_sub(1)?
        };
        let offset = (index.0 - self.starts[k].0) as usize;
        (offset < self.chunks[k].len()).then_some((k, offset))
    }

    #[inline]
    pub(crate) fn get(&self, index: LogIndex) -> Option<&LogEntry> {
        let (k, offset) = self.locate(index)?;
        Some(&self.chunks[k][offset])
    }

    #[inline]
    pub(crate) fn last(&self) -> Option<&LogEntry> {
        self.chunks.back().and_then(|c| c.last())
    }

    /// Appends entries that follow the last one: into the last chunk if it can grow in place,
    /// else as a new chunk.
    pub(crate) fn extend(&mut self, mut entries: Vec<LogEntry>) {
        if entries.is_empty() {
            return;
        }
        debug_assert!(self.last().is_none_or(|l| l.index.next() == entries[0].index));
        self.len += entries.len();
        self.bytes += entries.iter().map(LogEntry::size_bytes).sum::<u64>();
        if let Some(last) = self.chunks.back_mut() {
            if let Some(buf) = last.growable_by(entries.len()) {
                buf.append(&mut entries);
                last.end = buf.len();
                return;
            }
        }
        self.starts.push_back(entries[0].index);
        self.chunks.push_back(Entries::new(entries));
    }

    /// Appends one entry that follows the last one.
    pub(crate) fn push(&mut self, entry: LogEntry) {
        debug_assert!(self.last().is_none_or(|l| l.index.next() == entry.index));
        self.len += 1;
        self.bytes += entry.size_bytes();
        if let Some(last) = self.chunks.back_mut() {
            if let Some(buf) = last.growable_by(1) {
                buf.push(entry);
                last.end = buf.len();
                return;
            }
        }
        // A new chunk grows by doubling while nothing else holds it: one proposal between
        // two hand-outs costs one entry's room, a batch of them a few reallocations.
        self.starts.push_back(entry.index);
        self.chunks.push_back(Entries::new(vec![entry]));
    }

    /// Removes every entry at `index` and after.
    pub(crate) fn truncate_from(&mut self, index: LogIndex) {
        if self.starts.front().is_some_and(|&first| index <= first) {
            *self = EntryStore::default();
            return;
        }
        let Some((k, offset)) = self.locate(index) else { return };
        let removed: usize = self.chunks.iter().skip(k).map(|c| c.len()).sum::<usize>() - offset;
        self.len -= removed;
        self.bytes -= self.iter_from(index).map(LogEntry::size_bytes).sum::<u64>();
        self.chunks.truncate(k + 1);
        self.starts.truncate(k + 1);
        let chunk = self.chunks.back_mut().expect("chunk k is kept");
        if offset == 0 {
            self.chunks.pop_back();
            self.starts.pop_back();
            return;
        }
        chunk.end = chunk.start + offset;
        let end = chunk.end;
        if let Some(buf) = Arc::get_mut(&mut chunk.buf) {
            buf.truncate(end);
        }
    }

    /// Removes every entry up to and including `index`: whole chunks are released.
    pub(crate) fn drop_through(&mut self, index: LogIndex) {
        while let Some(first) = self.chunks.front_mut() {
            let last_index = first.last().expect("chunks are not empty").index;
            if last_index <= index {
                self.len -= first.len();
                self.bytes -= first.iter().map(LogEntry::size_bytes).sum::<u64>();
                self.chunks.pop_front();
                self.starts.pop_front();
                continue;
            }
            if let Some(offset) = index.0.checked_sub(first[0].index.0) {
                let drop = offset as usize + 1;
                self.len -= drop;
                self.bytes -= first[..drop].iter().map(LogEntry::size_bytes).sum::<u64>();
                first.start += drop;
                self.starts[0] = index.next();
            }
            break;
        }
    }

    /// The entries from `index` (or the first one held, if later) on, in order.
    pub(crate) fn iter_from(&self, index: LogIndex) -> impl Iterator<Item = &LogEntry> + '_ {
        let index = self.starts.front().map_or(index, |&first| index.max(first));
        let (k, offset) = self.locate(index).unwrap_or((self.chunks.len(), 0));
        self.chunks
            .iter()
            .skip(k)
            .enumerate()
            .flat_map(move |(n, c)| c[if n == 0 { offset } else { 0 }..].iter())
    }

    /// The entries `from..=to` as shared runs (no copies), cut short once `max_bytes` is
    /// exceeded (at least one entry is given when the range is not empty).
    pub(crate) fn runs(&self, from: LogIndex, to: LogIndex, max_bytes: u64) -> EntryRuns {
        let mut out = EntryRuns::new();
        let Some((k, mut offset)) = self.locate(from) else { return out };
        let (mut bytes, mut taken) = (0u64, 0usize);
        for chunk in self.chunks.iter().skip(k) {
            let mut end = offset;
            for entry in &chunk[offset..] {
                if entry.index > to {
                    break;
                }
                bytes += entry.size_bytes();
                if taken > 0 && bytes > max_bytes {
                    break;
                }
                end += 1;
                taken += 1;
            }
            let full = end == chunk.len();
            out.push(chunk.share(offset, end));
            if !full {
                break;
            }
            offset = 0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Command;
    use crate::types::Term;

    fn entry(index: u64, term: u64) -> LogEntry {
        LogEntry::new(Term(term), LogIndex(index), Command::new(vec![index as u8]))
    }

    fn indices(store: &EntryStore) -> Vec<u64> {
        store.iter_from(LogIndex(0)).map(|e| e.index.0).collect()
    }

    #[test]
    fn push_get_truncate_across_chunks() {
        let mut store = EntryStore::default();
        let mut held = Vec::new();
        for i in 1..=300u64 {
            store.push(entry(i, i / 100));
            if i % 70 == 0 {
                // A hand-out: the chunk is shared, so the next push starts a new one.
                held.push(store.runs(LogIndex(1), LogIndex(i), u64::MAX));
            }
        }
        assert!(store.chunks.len() > 1);
        assert_eq!(store.len(), 300);
        assert_eq!(store.get(LogIndex(150)).unwrap().term, Term(1));
        assert!(store.get(LogIndex(301)).is_none());
        assert!(store.get(LogIndex(0)).is_none());
        for keep in [250u64, 140, 71, 70, 2, 1] {
            store.truncate_from(LogIndex(keep + 1));
            assert_eq!(store.len(), keep as usize);
            assert!(store.get(LogIndex(keep + 1)).is_none());
            assert_eq!(store.last().unwrap().index, LogIndex(keep));
            store.push(entry(keep + 1, 9));
            assert_eq!(store.get(LogIndex(keep + 1)).unwrap().term, Term(9));
            store.truncate_from(LogIndex(keep + 1));
        }
        // What was handed out is untouched by the truncations.
        assert_eq!(held[0].len(), 70);
        assert_eq!(held[0].last().unwrap().term, Term(0));
        store.truncate_from(LogIndex(1));
        assert_eq!(store.len(), 0);
        assert!(store.last().is_none());
    }

    #[test]
    fn dropping_the_front_releases_chunks_and_keeps_indices() {
        let (mut store, mut held) = (EntryStore::default(), Vec::new());
        for i in 1..=200u64 {
            store.push(entry(i, 1));
            if i % 50 == 0 {
                held.push(store.runs(LogIndex(i), LogIndex(i), u64::MAX));
            }
        }
        let chunks = store.chunks.len();
        store.drop_through(LogIndex(10));
        assert_eq!(store.len(), 190);
        assert_eq!(store.get(LogIndex(11)).unwrap().index, LogIndex(11));
        assert!(store.get(LogIndex(10)).is_none());
        store.drop_through(LogIndex(120));
        assert!(store.chunks.len() < chunks, "whole chunks are released");
        assert_eq!(indices(&store), (121..=200).collect::<Vec<_>>());
        store.drop_through(LogIndex(500));
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn runs_share_buffers_and_respect_the_byte_limit() {
        let mut store = EntryStore::default();
        store.extend((1..=10).map(|i| entry(i, 1)).collect());
        let first = store.runs(LogIndex(1), LogIndex(10), u64::MAX);
        store.extend((11..=20).map(|i| entry(i, 2)).collect());
        assert_eq!(store.chunks.len(), 2, "a shared chunk does not grow");
        let all = store.runs(LogIndex(5), LogIndex(15), u64::MAX);
        assert_eq!(all.runs().count(), 2);
        assert_eq!(all.iter().map(|e| e.index.0).collect::<Vec<_>>(), (5..=15).collect::<Vec<_>>());
        let (all_first, first_first) = (all.runs().next().unwrap(), first.runs().next().unwrap());
        assert!(std::ptr::eq(&all_first[0], &first_first[4]), "the same buffer, not a copy");
        let limited = store.runs(LogIndex(1), LogIndex(20), 2 * entry(1, 1).size_bytes());
        assert_eq!(limited.len(), 2);
        let one = store.runs(LogIndex(3), LogIndex(20), 0);
        assert_eq!(one.len(), 1, "at least one entry");
        assert!(store.runs(LogIndex(21), LogIndex(30), u64::MAX).is_empty());
        assert_eq!(all.into_vec().len(), 11);
    }
}
