//! Compact storage of log entries: what the log holds per entry is its term, its kind and
//! its payload; the index follows from the position and is not stored. Entries sit in
//! fixed-capacity chunks, so a growing log never holds more than one chunk of spare
//! capacity (a single `Vec` doubling would hold up to the whole log's size again), and a
//! compacted log releases whole chunks from the front ([`EntryStore::drop_front`]).

use crate::log::{Command, EntryKind, LogEntry};
use crate::types::{LogIndex, Term};
use bytes::Bytes;

/// Entries per chunk: large enough that the chunk table is negligible, small enough that
/// one chunk's spare capacity (192 KiB at 48 bytes an entry) is too.
const CHUNK: usize = 4096;

/// One stored entry: 48 bytes beside its payload, which it shares (a [`Bytes`] handle).
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub(crate) term: Term,
    pub(crate) kind: EntryKind,
    pub(crate) data: Bytes,
}

impl Stored {
    /// The full entry at `index`, sharing the payload (a reference count, not a copy).
    pub(crate) fn to_entry(&self, index: LogIndex) -> LogEntry {
        LogEntry { term: self.term, index, kind: self.kind, command: Command::from_bytes(self.data.clone()) }
    }

    /// Bytes this entry counts for in batching limits (as [`LogEntry::size_bytes`]).
    pub(crate) fn size_bytes(&self) -> u64 {
        crate::log::ENTRY_HEADER_BYTES + self.data.len() as u64
    }
}

impl From<LogEntry> for Stored {
    fn from(entry: LogEntry) -> Self {
        Stored { term: entry.term, kind: entry.kind, data: entry.command.data }
    }
}

/// Entries from position 0, in chunks of [`CHUNK`]. The first `front` slots of the first
/// chunk held entries that were dropped since; their payloads are released, the slots go
/// with their chunk.
#[derive(Clone, Debug, Default)]
pub(crate) struct EntryStore {
    chunks: Vec<Vec<Stored>>,
    front: usize,
    len: usize,
}

impl EntryStore {
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn get(&self, pos: usize) -> Option<&Stored> {
        if pos >= self.len {
            return None;
        }
        let slot = pos + self.front;
        self.chunks.get(slot / CHUNK)?.get(slot % CHUNK)
    }

    /// Drops the first `n` entries (all of them if fewer): whole chunks are freed, and the
    /// payloads of the dropped entries in a chunk still partly in use.
    pub(crate) fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        let first = self.front;
        self.front += n;
        self.len -= n;
        let whole = self.front / CHUNK;
        self.chunks.drain(..whole.min(self.chunks.len()));
        self.front -= whole * CHUNK;
        if let Some(chunk) = self.chunks.first_mut() {
            let from = if whole > 0 { 0 } else { first };
            let to = self.front.min(chunk.len());
            for stored in &mut chunk[from..to] {
                stored.data = Bytes::new();
            }
        }
        if self.len == 0 {
            self.chunks.clear();
            self.front = 0;
        }
    }

    /// The entries from position `pos` on, in order: a walk over the chunks, cheaper than a
    /// lookup per position.
    pub(crate) fn iter_from(&self, pos: usize) -> impl Iterator<Item = &Stored> + '_ {
        let slot = pos.min(self.len) + self.front;
        let (chunk, offset) = (slot / CHUNK, slot % CHUNK);
        let remaining = self.len - pos.min(self.len);
        self.chunks
            .iter()
            .skip(chunk)
            .enumerate()
            .flat_map(move |(k, c)| c[if k == 0 { offset.min(c.len()) } else { 0 }..].iter())
            .take(remaining)
    }

    #[inline]
    pub(crate) fn last(&self) -> Option<&Stored> {
        self.len.checked_sub(1).and_then(|pos| self.get(pos))
    }

    pub(crate) fn push(&mut self, stored: Stored) {
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            // The first chunk grows by doubling (small logs stay small); later ones are
            // allocated whole. Doubling from the default reaches exactly CHUNK.
            let capacity = if self.chunks.is_empty() { 0 } else { CHUNK };
            self.chunks.push(Vec::with_capacity(capacity));
        }
        self.chunks.last_mut().expect("a chunk exists").push(stored);
        self.len += 1;
    }

    /// Keeps the first `len` entries.
    pub(crate) fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        if len == 0 {
            self.chunks.clear();
            self.front = 0;
            self.len = 0;
            return;
        }
        let slots = len + self.front;
        let full_chunks = slots / CHUNK;
        let rest = slots % CHUNK;
        self.chunks.truncate(full_chunks + usize::from(rest > 0));
        if rest > 0 {
            self.chunks[full_chunks].truncate(rest);
        }
        self.len = len;
    }

    /// The first position whose term is greater than `term` (terms never decrease).
    pub(crate) fn partition_point_by_term(&self, term: Term) -> usize {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid).expect("in range").term <= term {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(term: u64) -> Stored {
        Stored { term: Term(term), kind: EntryKind::Normal, data: Bytes::from(vec![term as u8]) }
    }

    #[test]
    fn push_get_truncate_across_chunks() {
        let mut store = EntryStore::default();
        for i in 0..(3 * CHUNK + 5) {
            store.push(stored(i as u64 / 1000));
        }
        assert_eq!(store.len(), 3 * CHUNK + 5);
        assert_eq!(store.get(CHUNK).unwrap().term, Term(CHUNK as u64 / 1000));
        assert!(store.get(3 * CHUNK + 5).is_none());
        for keep in [3 * CHUNK + 1, 2 * CHUNK, CHUNK + 7, 1, 0] {
            store.truncate(keep);
            assert_eq!(store.len(), keep);
            assert!(store.get(keep).is_none());
            if keep > 0 {
                assert_eq!(store.get(keep - 1).unwrap().term, Term((keep as u64 - 1) / 1000));
            }
            store.push(stored(99));
            assert_eq!(store.last().unwrap().term, Term(99));
            store.truncate(keep);
        }
    }

    #[test]
    fn dropping_the_front_frees_whole_chunks_and_keeps_positions() {
        let mut store = EntryStore::default();
        for i in 0..(3 * CHUNK + 5) {
            store.push(stored(i as u64));
        }
        let mut dropped = 0;
        for n in [10, CHUNK - 10, CHUNK + 3, 1] {
            store.drop_front(n);
            dropped += n;
            assert_eq!(store.len(), 3 * CHUNK + 5 - dropped);
            assert_eq!(store.get(0).unwrap().term, Term(dropped as u64));
            assert_eq!(store.last().unwrap().term, Term(3 * CHUNK as u64 + 4));
            assert!(store.chunks.len() <= 4 - dropped / CHUNK, "whole chunks are freed");
        }
        // Truncating and pushing after a drop keep positions right.
        store.truncate(2);
        assert_eq!(store.len(), 2);
        assert_eq!(store.get(1).unwrap().term, Term(dropped as u64 + 1));
        store.push(stored(7));
        assert_eq!(store.get(2).unwrap().term, Term(7));
        store.drop_front(100);
        assert_eq!(store.len(), 0);
        store.push(stored(8));
        assert_eq!(store.get(0).unwrap().term, Term(8));
    }

    #[test]
    fn partition_point_matches_a_linear_scan() {
        let mut store = EntryStore::default();
        let terms = [1, 1, 2, 2, 2, 5, 7, 7, 9];
        for t in terms {
            store.push(stored(t));
        }
        for probe in 0..11 {
            let linear = terms.iter().filter(|&&t| t <= probe).count();
            assert_eq!(store.partition_point_by_term(Term(probe)), linear, "term {probe}");
        }
    }

    #[test]
    fn an_entry_costs_48_bytes_beside_its_payload() {
        assert_eq!(std::mem::size_of::<Stored>(), 48);
    }
}
