//! Compact storage of log entries: what the log holds per entry is its term, its kind and
//! its payload; the index follows from the position and is not stored. Entries sit in
//! fixed-capacity chunks, so a growing log never holds more than one chunk of spare
//! capacity (a single `Vec` doubling would hold up to the whole log's size again).

use crate::log::{Command, EntryKind, LogEntry};
use crate::types::{LogIndex, Term};

/// Entries per chunk: large enough that the chunk table is negligible, small enough that
/// one chunk's spare capacity (128 KiB at 32 bytes an entry) is too.
const CHUNK: usize = 4096;

/// One stored entry: 32 bytes beside its payload.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub(crate) term: Term,
    pub(crate) kind: EntryKind,
    pub(crate) data: Box<[u8]>,
}

impl Stored {
    /// The full entry at `index`, with a copy of the payload.
    pub(crate) fn to_entry(&self, index: LogIndex) -> LogEntry {
        LogEntry { term: self.term, index, kind: self.kind, command: Command::new(self.data.to_vec()) }
    }

    /// Bytes this entry counts for in batching limits (as [`LogEntry::size_bytes`]).
    pub(crate) fn size_bytes(&self) -> u64 {
        crate::log::ENTRY_HEADER_BYTES + self.data.len() as u64
    }
}

impl From<LogEntry> for Stored {
    fn from(entry: LogEntry) -> Self {
        Stored { term: entry.term, kind: entry.kind, data: entry.command.data.into_boxed_slice() }
    }
}

/// Entries from position 0, in chunks of [`CHUNK`].
#[derive(Clone, Debug, Default)]
pub(crate) struct EntryStore {
    chunks: Vec<Vec<Stored>>,
    len: usize,
}

impl EntryStore {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, pos: usize) -> Option<&Stored> {
        self.chunks.get(pos / CHUNK)?.get(pos % CHUNK)
    }

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
        let full_chunks = len / CHUNK;
        let rest = len % CHUNK;
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
        Stored { term: Term(term), kind: EntryKind::Normal, data: vec![term as u8].into_boxed_slice() }
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
    fn an_entry_costs_32_bytes_beside_its_payload() {
        assert_eq!(std::mem::size_of::<Stored>(), 32);
    }
}
