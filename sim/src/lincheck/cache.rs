//! The search's two tables: the state interner and Lowe's memo cache.
//!
//! Both are open-addressing hash tables written here rather than std `HashMap`s, for two
//! reasons: the memo cache keys are variable-length bitsets kept in one arena (no allocation
//! per entry, and an exact byte count for the memory bound), and neither table is ever
//! iterated, so nothing observable depends on hash order (STYLE.md 7).

use std::hash::{Hash, Hasher};
use std::mem::size_of;

/// A fast non-cryptographic hasher in the style of rustc's FxHash, with a final mix so the
/// high bits used to pick a slot depend on every input bit.
#[derive(Default)]
pub(crate) struct FxHasher(u64);

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        mix(self.0)
    }
}

/// A 64-bit finalizer (splitmix64's), so that nearby inputs land far apart.
pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn hash_of<T: Hash>(value: &T) -> u64 {
    let mut hasher = FxHasher::default();
    value.hash(&mut hasher);
    hasher.finish()
}

/// An interned state's index.
pub(crate) type StateId = u32;

const EMPTY: u32 = u32::MAX;

/// Stores each distinct state once and names it by a small integer, so the memo cache and
/// the search stack hold 4-byte ids instead of states.
pub(crate) struct Interner<S> {
    states: Vec<S>,
    hashes: Vec<u64>,
    slots: Vec<u32>,
    /// Heap bytes the states own, as their model reports them.
    heap_bytes: usize,
}

impl<S: Hash + Eq> Interner<S> {
    pub(crate) fn new() -> Self {
        Interner { states: Vec::new(), hashes: Vec::new(), slots: vec![EMPTY; 16], heap_bytes: 0 }
    }

    pub(crate) fn get(&self, id: StateId) -> &S {
        &self.states[id as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }

    /// Bytes held: the tables, the states and what they own.
    pub(crate) fn bytes(&self) -> usize {
        self.states.capacity() * size_of::<S>()
            + self.hashes.capacity() * size_of::<u64>()
            + self.slots.len() * size_of::<u32>()
            + self.heap_bytes
    }

    /// The id of `state`, adding it if new; `heap_bytes` is what it owns on the heap.
    pub(crate) fn intern(&mut self, state: S, heap_bytes: usize) -> StateId {
        let hash = hash_of(&state);
        let mask = self.slots.len() - 1;
        let mut slot = (hash as usize) & mask;
        loop {
            let id = self.slots[slot];
            if id == EMPTY {
                break;
            }
            if self.hashes[id as usize] == hash && self.states[id as usize] == state {
                return id;
            }
            slot = (slot + 1) & mask;
        }
        let id = u32::try_from(self.states.len()).expect("fewer than 2^32 states");
        assert!(id != EMPTY, "state ids exhausted");
        self.states.push(state);
        self.hashes.push(hash);
        self.heap_bytes += heap_bytes;
        self.slots[slot] = id;
        if self.states.len() * 2 > self.slots.len() {
            self.grow();
        }
        id
    }

    fn grow(&mut self) {
        let mut slots = vec![EMPTY; self.slots.len() * 2];
        let mask = slots.len() - 1;
        for (id, hash) in self.hashes.iter().enumerate() {
            let mut slot = (*hash as usize) & mask;
            while slots[slot] != EMPTY {
                slot = (slot + 1) & mask;
            }
            slots[slot] = id as u32;
        }
        self.slots = slots;
    }
}

/// A set of linearized operations, in the compact form the memo cache stores: the words
/// of the bitset with the leading all-ones words and trailing all-zero words cut off.
///
/// The search linearizes operations roughly in call order, so the set is almost always a
/// long run of ones, a short ragged window, then zeros: cutting both ends makes keys a few
/// words long however long the history. The form is canonical (`start` says where the
/// leading ones end), so equal sets have equal keys.
#[derive(Clone, Copy)]
pub(crate) struct SetKey<'a> {
    pub(crate) start: u32,
    pub(crate) words: &'a [u64],
}

impl<'a> SetKey<'a> {
    pub(crate) fn of(bits: &'a [u64]) -> SetKey<'a> {
        let start = bits.iter().position(|w| *w != u64::MAX).unwrap_or(bits.len());
        let end = bits.iter().rposition(|w| *w != 0).map_or(0, |i| i + 1);
        let words = if end > start { &bits[start..end] } else { &[] };
        SetKey { start: start as u32, words }
    }
}

/// One slot of the memo cache. `len == EMPTY` marks a free slot.
#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    offset: u32,
    start: u32,
    len: u32,
    state: StateId,
}

const FREE: Slot = Slot { hash: 0, offset: 0, start: 0, len: EMPTY, state: 0 };

/// Lowe's memo cache: the (linearized set, state) pairs the search has already entered.
/// Since a set only grows along a search path, a pair met again was fully explored and
/// failed, so the search need not enter it twice.
pub(crate) struct MemoCache {
    slots: Vec<Slot>,
    arena: Vec<u64>,
    entries: usize,
}

/// What an insertion found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Insert {
    /// The pair is new and is now stored.
    Added,
    /// The pair was already there.
    Present,
}

impl MemoCache {
    pub(crate) fn new() -> Self {
        MemoCache { slots: vec![FREE; 1024], arena: Vec::new(), entries: 0 }
    }

    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    /// Bytes held: the slot table and the key arena.
    pub(crate) fn bytes(&self) -> usize {
        self.slots.len() * size_of::<Slot>() + self.arena.capacity() * size_of::<u64>()
    }

    /// Adds (`set`, `state`) unless present. `set_hash` must be a hash of the set alone
    /// (the search keeps one incrementally).
    pub(crate) fn insert(&mut self, set_hash: u64, set: SetKey<'_>, state: StateId) -> Insert {
        let hash = mix(set_hash ^ u64::from(state).wrapping_mul(FX_SEED));
        let mask = self.slots.len() - 1;
        let mut index = (hash as usize) & mask;
        loop {
            let slot = self.slots[index];
            if slot.len == EMPTY {
                break;
            }
            if slot.hash == hash && slot.state == state && self.key_eq(&slot, set) {
                return Insert::Present;
            }
            index = (index + 1) & mask;
        }
        let offset = u32::try_from(self.arena.len()).expect("memo arena under 2^32 words");
        self.arena.extend_from_slice(set.words);
        self.slots[index] = Slot { hash, offset, start: set.start, len: set.words.len() as u32, state };
        self.entries += 1;
        if self.entries * 2 > self.slots.len() {
            self.grow();
        }
        Insert::Added
    }

    fn key_eq(&self, slot: &Slot, set: SetKey<'_>) -> bool {
        let offset = slot.offset as usize;
        slot.start == set.start
            && slot.len as usize == set.words.len()
            && self.arena[offset..offset + set.words.len()] == *set.words
    }

    fn grow(&mut self) {
        let mut slots = vec![FREE; self.slots.len() * 2];
        let mask = slots.len() - 1;
        for slot in self.slots.iter().filter(|s| s.len != EMPTY) {
            let mut index = (slot.hash as usize) & mask;
            while slots[index].len != EMPTY {
                index = (index + 1) & mask;
            }
            slots[index] = *slot;
        }
        self.slots = slots;
    }
}

/// Remembers the model's answer for (state, operation) pairs, so that a state-changing
/// step (which builds, hashes and interns a new state) runs once per pair, however often
/// the search comes back to it. Values are a [`StateId`] or [`REJECTED`].
pub(crate) struct Transitions {
    slots: Vec<(u64, StateId)>,
    entries: usize,
}

/// The model rejected the operation in that state.
pub(crate) const REJECTED: StateId = u32::MAX;
const NO_KEY: u64 = u64::MAX;

impl Transitions {
    pub(crate) fn new() -> Self {
        Transitions { slots: vec![(NO_KEY, 0); 1024], entries: 0 }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.slots.len() * size_of::<(u64, StateId)>()
    }

    fn key(state: StateId, op: u32) -> u64 {
        (u64::from(state) << 32) | u64::from(op)
    }

    fn slot(&self, key: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut index = (mix(key) as usize) & mask;
        while self.slots[index].0 != key && self.slots[index].0 != NO_KEY {
            index = (index + 1) & mask;
        }
        index
    }

    pub(crate) fn get(&self, state: StateId, op: u32) -> Option<StateId> {
        let slot = self.slots[self.slot(Self::key(state, op))];
        (slot.0 != NO_KEY).then_some(slot.1)
    }

    pub(crate) fn insert(&mut self, state: StateId, op: u32, next: StateId) {
        let key = Self::key(state, op);
        let index = self.slot(key);
        if self.slots[index].0 == NO_KEY {
            self.entries += 1;
        }
        self.slots[index] = (key, next);
        if self.entries * 2 > self.slots.len() {
            let grown = vec![(NO_KEY, 0); self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, grown);
            for (key, next) in old.into_iter().filter(|s| s.0 != NO_KEY) {
                let index = self.slot(key);
                self.slots[index] = (key, next);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keys_are_canonical() {
        let a = [u64::MAX, 5, 0];
        let key = SetKey::of(&a);
        assert_eq!((key.start, key.words), (1, &[5u64][..]));
        let empty = SetKey::of(&[0, 0]);
        assert_eq!((empty.start, empty.words.len()), (0, 0));
        let full = SetKey::of(&[u64::MAX, u64::MAX]);
        assert_eq!((full.start, full.words.len()), (2, 0));
    }

    #[test]
    fn memo_cache_finds_what_it_stored() {
        let mut cache = MemoCache::new();
        for i in 0..5000u64 {
            let bits = [u64::MAX, i, i % 7];
            assert_eq!(cache.insert(i, SetKey::of(&bits), 3), Insert::Added);
        }
        for i in 0..5000u64 {
            let bits = [u64::MAX, i, i % 7];
            assert_eq!(cache.insert(i, SetKey::of(&bits), 3), Insert::Present);
            assert_eq!(cache.insert(i, SetKey::of(&bits), 4), Insert::Added);
        }
        assert_eq!(cache.entries(), 10_000);
    }

    #[test]
    fn transitions_remember_answers() {
        let mut t = Transitions::new();
        for state in 0..3000 {
            t.insert(state, state % 5, state + 1);
        }
        assert_eq!(t.get(17, 2), Some(18));
        assert_eq!(t.get(17, 3), None);
        t.insert(17, 3, REJECTED);
        assert_eq!(t.get(17, 3), Some(REJECTED));
    }

    #[test]
    fn interner_gives_equal_states_one_id() {
        let mut interner = Interner::new();
        let ids: Vec<StateId> = (0..100).map(|i| interner.intern(i % 10, 0)).collect();
        assert_eq!(interner.len(), 10);
        assert_eq!(ids[3], ids[13]);
        assert_eq!(*interner.get(ids[7]), 7);
    }
}
