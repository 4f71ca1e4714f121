//! Storage of the log's entries in shared, immutable runs.
//!
//! Entries sit in chunks: fixed-capacity buffers that only grow ([`Chunk`]). Handing
//! entries out (for persistence, for applying) gives out views of a chunk ([`Entries`]): one
//! reference-count increment per chunk, not one copy per entry (and each entry's payload is
//! itself a shared buffer). The log keeps appending to its last chunk while others hold
//! views of it: a view covers only slots written before it was made, and a written slot
//! never changes, so a leader's proposals, one ready after another, fill one buffer that
//! the driver's storage shares. Compaction drops whole chunks from the front.

use crate::log::LogEntry;
use crate::types::LogIndex;
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Most entries a chunk holds: the granularity at which the log drops entries from memory
/// (about 90 KiB of 64-byte commands), and the most a chunk allocates before it is used.
const MAX_CHUNK_ENTRIES: usize = 1024;

/// The capacity of the first chunk a log allocates; each next one doubles, up to
/// [`MAX_CHUNK_ENTRIES`], so that a small log stays small.
const FIRST_CHUNK_ENTRIES: usize = 16;

/// A buffer of entries that only grows: slots `0..written` hold entries, written once each
/// and never changed until the chunk is dropped; the others are not yet written.
///
/// The one writer is the [`EntryStore`] that made the chunk (it appends through `&mut
/// self`, and cloning a store makes new chunks). It writes slot `written` and only then
/// raises `written`; a view ([`Entries`]) is made by the writer from slots below `written`,
/// and reaches another thread only through a synchronising hand-over (a channel, a lock),
/// so a view's slots are written before anyone reads them, and no slot is ever written
/// while a view covers it.
pub(crate) struct Chunk {
    slots: Box<[UnsafeCell<MaybeUninit<LogEntry>>]>,
    written: AtomicUsize,
}

// SAFETY: slots below `written` are only read (see the type's documentation); the slot at
// `written` is written only by the chunk's one writer, which no view covers yet. A `LogEntry`
// is itself `Send + Sync`.
unsafe impl Sync for Chunk {}
unsafe impl Send for Chunk {}

impl Chunk {
    fn with_capacity(capacity: usize) -> Chunk {
        let slots = (0..capacity).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect();
        Chunk { slots, written: AtomicUsize::new(0) }
    }

    fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn written(&self) -> usize {
        self.written.load(Ordering::Acquire)
    }

    /// Writes `entry` into the next slot.
    ///
    /// # Safety
    /// Only the chunk's one writer may call it (see [`Chunk`]), and only while
    /// `written < capacity`.
    unsafe fn push(&self, entry: LogEntry) {
        let at = self.written.load(Ordering::Relaxed);
        assert!(at < self.capacity(), "a full chunk");
        // SAFETY: slot `at` is not covered by any view (views end at or below `written`),
        // and the caller is the only writer.
        unsafe { (*self.slots[at].get()).write(entry) };
        self.written.store(at + 1, Ordering::Release);
    }

    /// The written slots `from..to` as entries.
    fn slice(&self, from: usize, to: usize) -> &[LogEntry] {
        assert!(from <= to && to <= self.written(), "{from}..{to} is not written");
        // SAFETY: slots below `written` hold initialised entries that never change while
        // the chunk lives; `UnsafeCell<MaybeUninit<T>>` has the layout of `T`.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr().add(from).cast::<LogEntry>(), to - from) }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let written = *self.written.get_mut();
        for slot in &mut self.slots[..written] {
            // SAFETY: the slot was written, and is dropped once, here.
            unsafe { slot.get_mut().assume_init_drop() };
        }
    }
}

/// A contiguous run of log entries in a shared buffer that never changes under it: cloning
/// it, or handing it to persistence, to the state machine or to another thread, never
/// copies the entries. Reads as a `[LogEntry]`.
#[derive(Clone)]
pub struct Entries {
    chunk: Arc<Chunk>,
    start: usize,
    end: usize,
}

impl Default for Entries {
    fn default() -> Self {
        Entries { chunk: Arc::new(Chunk::with_capacity(0)), start: 0, end: 0 }
    }
}

impl Entries {
    /// A run of `entries` (moved into a buffer of their own).
    pub fn new(entries: Vec<LogEntry>) -> Self {
        let chunk = Chunk::with_capacity(entries.len());
        let end = entries.len();
        for entry in entries {
            // SAFETY: the chunk is new and not shared: this is its one writer.
            unsafe { chunk.push(entry) };
        }
        Entries { chunk: Arc::new(chunk), start: 0, end }
    }

    /// The entries at positions `from..to` of this run, sharing its buffer. Panics if the
    /// range is not within the run.
    pub fn share(&self, from: usize, to: usize) -> Entries {
        assert!(from <= to && to <= self.len(), "{from}..{to} is not within a run of {}", self.len());
        Entries { chunk: Arc::clone(&self.chunk), start: self.start + from, end: self.start + to }
    }

    /// Extends this run with `next`, if `next` continues it in the same buffer (a later
    /// hand-out of the same chunk); returns whether it did.
    pub fn try_join(&mut self, next: &Entries) -> bool {
        if Arc::ptr_eq(&self.chunk, &next.chunk) && self.end == next.start {
            self.end = next.end;
            true
        } else {
            false
        }
    }

    /// Whether the store that owns the chunk can append to this run in place: it ends where
    /// the chunk's written slots end, and the chunk has room.
    fn can_grow(&self) -> bool {
        self.end == self.chunk.written() && self.end < self.chunk.capacity()
    }

    /// Appends `entry` in place.
    ///
    /// # Safety
    /// Only the chunk's one writer may call it, after [`Entries::can_grow`].
    unsafe fn grow(&mut self, entry: LogEntry) {
        // SAFETY: the caller is the chunk's one writer, and the chunk has room.
        unsafe { self.chunk.push(entry) };
        self.end += 1;
    }
}

impl Deref for Entries {
    type Target = [LogEntry];

    #[inline]
    fn deref(&self) -> &[LogEntry] {
        self.chunk.slice(self.start, self.end)
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

    /// A copy of the entries (payloads shared).
    pub fn to_vec(&self) -> Vec<LogEntry> {
        self.iter().cloned().collect()
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.head = None;
        self.tail.clear();
    }

    /// Appends the runs of `other`, which continue these entries.
    pub(crate) fn append(&mut self, mut other: EntryRuns) {
        for run in other.take_runs() {
            self.push(run);
        }
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
#[derive(Debug, Default)]
pub(crate) struct EntryStore {
    chunks: VecDeque<Entries>,
    /// The index of each chunk's first entry (lookups search here, without following a
    /// pointer into every chunk they pass).
    starts: VecDeque<LogIndex>,
    /// Bytes of the entries held (as [`LogEntry::size_bytes`] counts them).
    bytes: u64,
}

/// A copy of the store in chunks of its own (payloads shared): a chunk has one writer.
impl Clone for EntryStore {
    fn clone(&self) -> Self {
        let mut copy = EntryStore::default();
        for chunk in &self.chunks {
            copy.extend(chunk.to_vec());
        }
        copy
    }
}

impl EntryStore {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.len()).sum()
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

    /// Appends entries that follow the last one (moved into the log's chunks).
    pub(crate) fn extend(&mut self, entries: Vec<LogEntry>) {
        for entry in entries {
            self.push(entry);
        }
    }

    /// Appends one entry that follows the last one: in place in the last chunk if it has
    /// room and nothing was cut from its end, else in a new chunk.
    pub(crate) fn push(&mut self, entry: LogEntry) {
        debug_assert!(self.last().is_none_or(|l| l.index.next() == entry.index));
        self.bytes += entry.size_bytes();
        if let Some(last) = self.chunks.back_mut() {
            if last.can_grow() {
                // SAFETY: this store made the chunk (it never adopts another's, and a clone
                // of it makes its own), so it is the chunk's one writer.
                unsafe { last.grow(entry) };
                return;
            }
        }
        // Twice what the last chunk holds: a log that keeps growing reaches full chunks
        // quickly, and one cut short (a conflict, a compaction) starts small again.
        let capacity = self
            .chunks
            .back()
            .map_or(FIRST_CHUNK_ENTRIES, |c| (2 * c.len()).clamp(FIRST_CHUNK_ENTRIES, MAX_CHUNK_ENTRIES));
        self.starts.push_back(entry.index);
        let mut chunk = Entries { chunk: Arc::new(Chunk::with_capacity(capacity)), start: 0, end: 0 };
        // SAFETY: the chunk is new: this store is its one writer.
        unsafe { chunk.grow(entry) };
        self.chunks.push_back(chunk);
    }

    /// Removes every entry at `index` and after.
    pub(crate) fn truncate_from(&mut self, index: LogIndex) {
        if self.starts.front().is_some_and(|&first| index <= first) {
            *self = EntryStore::default();
            return;
        }
        let Some((k, offset)) = self.locate(index) else { return };
        self.bytes -= self.iter_from(index).map(LogEntry::size_bytes).sum::<u64>();
        self.chunks.truncate(k + 1);
        self.starts.truncate(k + 1);
        let chunk = self.chunks.back_mut().expect("chunk k is kept");
        if offset == 0 {
            self.chunks.pop_back();
            self.starts.pop_back();
            return;
        }
        // The cut slots stay written (a view may cover them) until the chunk is dropped;
        // the next entry goes to a new chunk.
        chunk.end = chunk.start + offset;
    }

    /// Removes every entry up to and including `index`: whole chunks are released.
    pub(crate) fn drop_through(&mut self, index: LogIndex) {
        while let Some(first) = self.chunks.front_mut() {
            let last_index = first.last().expect("chunks are not empty").index;
            if last_index <= index {
                self.bytes -= first.iter().map(LogEntry::size_bytes).sum::<u64>();
                self.chunks.pop_front();
                self.starts.pop_front();
                continue;
            }
            if let Some(offset) = index.0.checked_sub(first[0].index.0) {
                let drop = offset as usize + 1;
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
        // The chunk keeps growing while a view of it is held; the view does not change.
        store.extend((11..=20).map(|i| entry(i, 2)).collect());
        assert_eq!(store.chunks.len(), 2, "16 entries fill the first chunk");
        assert_eq!(first.len(), 10);
        assert_eq!(first.last().unwrap().index, LogIndex(10));
        let all = store.runs(LogIndex(5), LogIndex(18), u64::MAX);
        assert_eq!(all.runs().count(), 2);
        assert_eq!(all.iter().map(|e| e.index.0).collect::<Vec<_>>(), (5..=18).collect::<Vec<_>>());
        let (all_first, first_first) = (all.runs().next().unwrap(), first.runs().next().unwrap());
        assert!(std::ptr::eq(&all_first[0], &first_first[4]), "the same buffer, not a copy");
        // A later hand-out of the same chunk continues an earlier one and joins it.
        let mut head = store.runs(LogIndex(1), LogIndex(10), u64::MAX).runs().next().unwrap().clone();
        let tail = store.runs(LogIndex(11), LogIndex(16), u64::MAX).runs().next().unwrap().clone();
        assert!(head.try_join(&tail));
        assert_eq!(head.len(), 16);
        assert!(!head.try_join(&tail), "a run that does not continue it is not joined");
        let limited = store.runs(LogIndex(1), LogIndex(20), 2 * entry(1, 1).size_bytes());
        assert_eq!(limited.len(), 2);
        let one = store.runs(LogIndex(3), LogIndex(20), 0);
        assert_eq!(one.len(), 1, "at least one entry");
        assert!(store.runs(LogIndex(21), LogIndex(30), u64::MAX).is_empty());
        assert_eq!(all.to_vec().len(), 14);
    }

    #[test]
    fn a_view_never_changes_when_the_log_is_cut_and_rewritten_behind_it() {
        let mut store = EntryStore::default();
        store.extend((1..=8).map(|i| entry(i, 1)).collect());
        let held = store.runs(LogIndex(1), LogIndex(8), u64::MAX);
        // A conflicting leader cuts the log at 5 and writes entries of term 2 from there.
        store.truncate_from(LogIndex(5));
        store.extend((5..=12).map(|i| entry(i, 2)).collect());
        assert!(held.iter().all(|e| e.term == Term(1)), "{held:?}");
        assert_eq!(held.len(), 8);
        assert_eq!(store.get(LogIndex(5)).unwrap().term, Term(2));
        assert_eq!(store.get(LogIndex(4)).unwrap().term, Term(1));
        // A clone writes chunks of its own: appending to it leaves the original as it was.
        let mut copy = store.clone();
        copy.push(entry(13, 3));
        assert!(store.get(LogIndex(13)).is_none());
        assert_eq!(copy.get(LogIndex(13)).unwrap().term, Term(3));
        drop(store);
        assert_eq!(held.last().unwrap().index, LogIndex(8), "a view outlives its store");
    }

    #[test]
    fn a_view_read_on_another_thread_while_the_log_appends_to_its_chunk() {
        let mut store = EntryStore::default();
        store.extend((1..=4).map(|i| entry(i, 1)).collect());
        let view = store.runs(LogIndex(1), LogIndex(4), u64::MAX);
        let reader = std::thread::spawn(move || view.iter().map(|e| e.index.0).sum::<u64>());
        for i in 5..=40 {
            store.push(entry(i, 1));
        }
        assert_eq!(reader.join().unwrap(), 10);
        assert_eq!(store.get(LogIndex(40)).unwrap().index, LogIndex(40));
    }
}
