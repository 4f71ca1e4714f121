//! Dominance between search nodes: the nodes whose search failed, kept so that a node
//! with the same known operations and state and more unknown outcomes settled fails at once.

use super::cache::{mix, next_capacity, rehashed, SetKey, StateId, Window, EMPTY, FIRST_SLOTS, FX_SEED};
use std::mem::size_of;

/// The nodes (linearized set, state) whose search failed, grouped by their known half and
/// state, for a dominance test: a node is dominated by a failed node with the same known
/// half and state whose unknown half is a subset of its own. Such a node fails too: an
/// unknown-outcome operation still unplaced may yet be placed or dropped, so every way to
/// finish from the node is, with the extra operations dropped, a way to finish from the
/// failed one.
///
/// Only nodes whose search has ended are recorded (never one still on the search path),
/// so a recorded node's failure is a fact about the node, whatever path reached it.
pub(crate) struct FailedSets {
    /// Per (known half, state): the key's words in `arena`, and the newest failed unknown
    /// half recorded for it, as an index into `sets`.
    slots: Vec<FailedSlot>,
    /// Failed unknown halves, each linked to the previous one of its slot.
    sets: Vec<FailedSet>,
    arena: Vec<u64>,
    entries: usize,
}

#[derive(Clone, Copy)]
struct FailedSlot {
    hash: u64,
    offset: u32,
    len: u32,
    start: u32,
    state: StateId,
    newest: u32,
}

#[derive(Clone, Copy)]
struct FailedSet {
    previous: u32,
    start: u32,
    offset: u32,
    len: u32,
}

const NO_SET: u32 = u32::MAX;
const FREE_FAILED: FailedSlot =
    FailedSlot { hash: 0, offset: 0, len: EMPTY, start: 0, state: 0, newest: NO_SET };
/// How many failed unknown halves of one (known half, state) a dominance test compares
/// with, newest first: a bound on the test's cost. Older ones are kept but not compared.
const DOMINANCE_SCAN: usize = 32;

impl FailedSets {
    pub(crate) fn new() -> Self {
        FailedSets { slots: vec![FREE_FAILED; FIRST_SLOTS], sets: Vec::new(), arena: Vec::new(), entries: 0 }
    }

    /// Bytes held, as allocated.
    pub(crate) fn bytes(&self) -> usize {
        self.slots.capacity() * size_of::<FailedSlot>()
            + self.sets.capacity() * size_of::<FailedSet>()
            + self.arena.capacity() * size_of::<u64>()
    }

    /// The most bytes the next [`FailedSets::record`] of a key of `key_words` words may
    /// allocate on top of [`FailedSets::bytes`].
    pub(crate) fn growth_bytes(&self, key_words: usize) -> usize {
        let table = if self.needs_growth() { 2 * self.slots.len() * size_of::<FailedSlot>() } else { 0 };
        let sets = if self.sets.len() == self.sets.capacity() {
            next_capacity(self.sets.capacity(), 1) * size_of::<FailedSet>()
        } else {
            0
        };
        let arena = if self.arena.len() + key_words > self.arena.capacity() {
            next_capacity(self.arena.capacity(), key_words) * size_of::<u64>()
        } else {
            0
        };
        table + sets + arena
    }

    fn needs_growth(&self) -> bool {
        (self.entries + 1) * 2 > self.slots.len()
    }

    fn slot_hash(known_hash: u64, state: StateId) -> u64 {
        mix(known_hash ^ u64::from(state).wrapping_mul(FX_SEED) ^ 0x6a09_e667_f3bc_c909)
    }

    /// The slot of (`known`, `state`), or the free slot where it would go.
    fn find(&self, hash: u64, known: &Window<'_>, state: StateId) -> usize {
        let mask = self.slots.len() - 1;
        let mut index = (hash as usize) & mask;
        loop {
            let slot = &self.slots[index];
            if slot.len == EMPTY {
                return index;
            }
            if slot.hash == hash
                && slot.state == state
                && slot.start == known.start
                && self.arena[slot.offset as usize..(slot.offset + slot.len) as usize] == *known.words
            {
                return index;
            }
            index = (index + 1) & mask;
        }
    }

    /// Whether a failed node recorded with `key`'s known half and `state` has an unknown
    /// half that is a subset of `key`'s. `known_hash` must be a hash of the known half.
    pub(crate) fn dominated(&self, known_hash: u64, key: SetKey<'_>, state: StateId) -> bool {
        let hash = Self::slot_hash(known_hash, state);
        let slot = self.slots[self.find(hash, &key.known, state)];
        let mut at = slot.newest;
        for _ in 0..DOMINANCE_SCAN {
            if slot.len == EMPTY || at == NO_SET {
                return false;
            }
            let set = self.sets[at as usize];
            let words = &self.arena[set.offset as usize..(set.offset + set.len) as usize];
            if (Window { start: set.start, words }).is_subset(&key.unknown) {
                return true;
            }
            at = set.previous;
        }
        false
    }

    /// Records that the node (`key`, `state`) failed, if [`FailedSets::grow`] made room
    /// for it (it makes room for one record; the record is only an aid, so a second one
    /// before the next `grow` is left out).
    pub(crate) fn record(&mut self, known_hash: u64, key: SetKey<'_>, state: StateId) {
        let words = key.known.words.len() + key.unknown.words.len();
        if self.needs_growth()
            || self.arena.len() + words > self.arena.capacity()
            || self.sets.len() == self.sets.capacity()
        {
            return;
        }
        let hash = Self::slot_hash(known_hash, state);
        let index = self.find(hash, &key.known, state);
        if self.slots[index].len == EMPTY {
            let offset = u32::try_from(self.arena.len()).expect("failed-set arena under 2^32 words");
            self.arena.extend_from_slice(key.known.words);
            self.slots[index] = FailedSlot {
                hash,
                offset,
                len: key.known.words.len() as u32,
                start: key.known.start,
                state,
                newest: NO_SET,
            };
            self.entries += 1;
        }
        let offset = u32::try_from(self.arena.len()).expect("failed-set arena under 2^32 words");
        self.arena.extend_from_slice(key.unknown.words);
        let previous = self.slots[index].newest;
        let set =
            FailedSet { previous, start: key.unknown.start, offset, len: key.unknown.words.len() as u32 };
        self.slots[index].newest = u32::try_from(self.sets.len()).expect("under 2^32 failed sets");
        self.sets.push(set);
    }

    /// Makes room for the next record, of a key of up to `key_words` words: what
    /// [`FailedSets::growth_bytes`] announced.
    pub(crate) fn grow(&mut self, key_words: usize) {
        if self.arena.len() + key_words > self.arena.capacity() {
            let extra = next_capacity(self.arena.capacity(), key_words) - self.arena.len();
            self.arena.reserve_exact(extra);
        }
        if self.sets.len() == self.sets.capacity() {
            let extra = next_capacity(self.sets.capacity(), 1) - self.sets.len();
            self.sets.reserve_exact(extra);
        }
        if !self.needs_growth() {
            return;
        }
        let used = self.slots.iter().filter(|s| s.len != EMPTY).map(|s| (s.hash, *s));
        self.slots = rehashed(self.slots.len() * 2, FREE_FAILED, used, |s| s.len == EMPTY);
    }
}
