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

pub(super) const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

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

pub(super) const EMPTY: u32 = u32::MAX;

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

    /// Bytes held: the tables as allocated, and what the states own.
    pub(crate) fn bytes(&self) -> usize {
        self.states.capacity() * size_of::<S>()
            + self.hashes.capacity() * size_of::<u64>()
            + self.slots.capacity() * size_of::<u32>()
            + self.heap_bytes
    }

    /// The most bytes the tables may allocate for the next new state, on top of
    /// [`Interner::bytes`] (the state's own heap is the model's, and counted once added).
    pub(crate) fn growth_bytes(&self) -> usize {
        let mut bytes = 0;
        if self.states.len() == self.states.capacity() {
            bytes += next_capacity(self.states.capacity(), 1) * (size_of::<S>() + size_of::<u64>());
        }
        if self.needs_growth() {
            bytes += 2 * self.slots.len() * size_of::<u32>();
        }
        bytes
    }

    fn needs_growth(&self) -> bool {
        (self.states.len() + 1) * 2 > self.slots.len()
    }

    /// The id of `state`, if it is stored.
    pub(crate) fn find(&self, state: &S) -> Option<StateId> {
        let hash = hash_of(state);
        let mask = self.slots.len() - 1;
        let mut slot = (hash as usize) & mask;
        loop {
            let id = self.slots[slot];
            if id == EMPTY {
                return None;
            }
            if self.hashes[id as usize] == hash && self.states[id as usize] == *state {
                return Some(id);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The id of `state`, adding it if new; `heap_bytes` is what it owns on the heap.
    /// [`Interner::grow`] must have made room first.
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
        assert!(!self.needs_growth(), "the state table grows before it fills");
        let id = u32::try_from(self.states.len()).expect("fewer than 2^32 states");
        assert!(id != EMPTY, "state ids exhausted");
        if self.states.len() == self.states.capacity() {
            let more = next_capacity(self.states.capacity(), 1) - self.states.len();
            self.states.reserve_exact(more);
            self.hashes.reserve_exact(more);
        }
        self.states.push(state);
        self.hashes.push(hash);
        self.heap_bytes += heap_bytes;
        self.slots[slot] = id;
        id
    }

    /// Doubles the slot table if the next new state needs it.
    pub(crate) fn grow(&mut self) {
        if !self.needs_growth() {
            return;
        }
        let ids = self.hashes.iter().enumerate().map(|(id, hash)| (*hash, id as u32));
        self.slots = rehashed(self.slots.len() * 2, EMPTY, ids, |id| *id == EMPTY);
    }
}

/// A bitset of operations that keeps, as it changes, the bounds of its compact form:
/// `start`, the first word not all ones, and `end`, one past the last word not all zeros.
///
/// The search linearizes operations roughly in call order, so the set is almost always a
/// long run of ones, a short ragged window, then zeros; the window is what the memo cache
/// stores. Keeping the bounds up to date as bits change (rather than scanning the whole
/// set for them at every step, which made long histories quadratic) needs changes to come
/// in stack order, as the search makes them: [`LinSet::remove`] undoes the latest
/// [`LinSet::insert`] and restores the bounds it saved.
pub(crate) struct LinSet {
    words: Vec<u64>,
    start: u32,
    end: u32,
    /// Per insertion not yet undone: the bit, and the bounds before it.
    saved: Vec<(u32, u32, u32)>,
    /// Words the bound's scans have passed, in all: the cost of keeping the bounds.
    scanned: u64,
}

impl LinSet {
    /// An empty set of `len` bits.
    pub(crate) fn new(len: usize) -> LinSet {
        let words = len.div_ceil(64);
        assert!(words < u32::MAX as usize, "set too large");
        LinSet { words: vec![0; words], start: 0, end: 0, saved: Vec::new(), scanned: 0 }
    }

    /// Adds `bit`, which must be absent.
    pub(crate) fn insert(&mut self, bit: u32) {
        let (word, mask) = (bit as usize / 64, 1u64 << (bit % 64));
        assert!(self.words[word] & mask == 0, "bit {bit} inserted twice");
        self.saved.push((bit, self.start, self.end));
        self.words[word] |= mask;
        // The scan stops at the first word with a zero: it passes only words that filled
        // up since the bound last moved, so the search pays for it once per word.
        while self.words.get(self.start as usize) == Some(&u64::MAX) {
            self.start += 1;
            self.scanned += 1;
        }
        self.end = self.end.max(word as u32 + 1);
    }

    /// Removes `bit`, which must be the latest bit inserted and not yet removed.
    pub(crate) fn remove(&mut self, bit: u32) {
        let (last, start, end) = self.saved.pop().expect("remove follows an insert");
        assert_eq!(last, bit, "removals undo insertions in stack order");
        self.words[bit as usize / 64] &= !(1u64 << (bit % 64));
        (self.start, self.end) = (start, end);
    }

    /// Whether `bit` is in the set.
    pub(crate) fn contains(&self, bit: u32) -> bool {
        self.words[bit as usize / 64] & (1 << (bit % 64)) != 0
    }

    /// Words the bounds' scans have passed since the set was made.
    pub(crate) fn scanned(&self) -> u64 {
        self.scanned
    }

    /// The compact form: the words between the leading ones and the trailing zeros.
    pub(crate) fn window(&self) -> Window<'_> {
        let words =
            if self.end > self.start { &self.words[self.start as usize..self.end as usize] } else { &[] };
        Window { start: self.start, words }
    }
}

/// A [`LinSet`]'s compact form. It is canonical (`start` says where the leading ones end),
/// so equal sets have equal windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window<'a> {
    pub(crate) start: u32,
    pub(crate) words: &'a [u64],
}

/// The key the memo cache stores for a linearized set: the windows of its two halves, the
/// operations with a known outcome and those with an unknown one. Unknown outcomes that are
/// never placed would otherwise hold the first window open from the first such operation
/// to the end of the search, making keys as long as the history; and the split lets
/// [`FailedSets`] compare the unknown halves of nodes whose known halves are equal.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SetKey<'a> {
    pub(crate) known: Window<'a>,
    pub(crate) unknown: Window<'a>,
}

impl SetKey<'_> {
    /// The key's length in words, as the memo cache stores it.
    pub(crate) fn words(&self) -> usize {
        self.known.words.len() + self.unknown.words.len()
    }
}

impl Window<'_> {
    /// Word `w` of the whole set.
    fn word(&self, w: usize) -> u64 {
        let start = self.start as usize;
        if w < start {
            u64::MAX
        } else {
            self.words.get(w - start).copied().unwrap_or(0)
        }
    }

    /// Whether every bit of `self` is in `other`.
    pub(crate) fn is_subset(&self, other: &Window<'_>) -> bool {
        let from = (self.start.min(other.start)) as usize;
        let to = self.start as usize + self.words.len();
        (from..to).all(|w| self.word(w) & !other.word(w) == 0)
    }
}

/// One slot of the memo cache. `len == EMPTY` marks a free slot; the key's words are
/// `arena[offset..offset + len]`, the known window's `split` words first.
#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    offset: u32,
    len: u32,
    split: u32,
    known_start: u32,
    unknown_start: u32,
    state: StateId,
}

const FREE: Slot =
    Slot { hash: 0, offset: 0, len: EMPTY, split: 0, known_start: 0, unknown_start: 0, state: 0 };

/// Lowe's memo cache: the (linearized set, state) pairs the search has already entered.
/// Since a set only grows along a search path, a pair met again was fully explored and
/// failed, so the search need not enter it twice.
///
/// The cache never grows by itself: [`MemoCache::insert`] refuses when the table is full
/// enough to need growing, so that the search can first check that the growth fits its
/// memory bound (see [`MemoCache::growth_bytes`]) and then call [`MemoCache::grow`].
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

/// The first size of each table, in slots; a power of two.
pub(super) const FIRST_SLOTS: usize = 1024;

impl MemoCache {
    pub(crate) fn new() -> Self {
        MemoCache { slots: vec![FREE; FIRST_SLOTS], arena: Vec::new(), entries: 0 }
    }

    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    /// Bytes held: the slot table and the key arena, as allocated.
    pub(crate) fn bytes(&self) -> usize {
        self.slots.capacity() * size_of::<Slot>() + self.arena.capacity() * size_of::<u64>()
    }

    /// The most bytes the next insertion of a key of `key_words` words may allocate on
    /// top of [`MemoCache::bytes`] (while growing, old and new buffers are both held).
    pub(crate) fn growth_bytes(&self, key_words: usize) -> usize {
        let table = if self.needs_growth() { 2 * self.slots.len() * size_of::<Slot>() } else { 0 };
        let arena = if self.arena.len() + key_words > self.arena.capacity() {
            next_capacity(self.arena.capacity(), key_words) * size_of::<u64>()
        } else {
            0
        };
        table + arena
    }

    fn needs_growth(&self) -> bool {
        (self.entries + 1) * 2 > self.slots.len()
    }

    /// Adds (`set`, `state`) unless present. `set_hash` must be a hash of the set alone
    /// (the search keeps one incrementally). The table must have room (see
    /// [`MemoCache::grow`]).
    pub(crate) fn insert(&mut self, set_hash: u64, set: SetKey<'_>, state: StateId) -> Insert {
        assert!(!self.needs_growth(), "the memo cache grows before it fills");
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
        let len = set.words();
        if self.arena.len() + len > self.arena.capacity() {
            let extra = next_capacity(self.arena.capacity(), len) - self.arena.len();
            self.arena.reserve_exact(extra);
        }
        self.arena.extend_from_slice(set.known.words);
        self.arena.extend_from_slice(set.unknown.words);
        self.slots[index] = Slot {
            hash,
            offset,
            len: len as u32,
            split: set.known.words.len() as u32,
            known_start: set.known.start,
            unknown_start: set.unknown.start,
            state,
        };
        self.entries += 1;
        Insert::Added
    }

    fn key_eq(&self, slot: &Slot, set: SetKey<'_>) -> bool {
        let (offset, split) = (slot.offset as usize, slot.split as usize);
        slot.known_start == set.known.start
            && slot.unknown_start == set.unknown.start
            && slot.split as usize == set.known.words.len()
            && slot.len as usize == set.words()
            && self.arena[offset..offset + split] == *set.known.words
            && self.arena[offset + split..offset + slot.len as usize] == *set.unknown.words
    }

    /// Doubles the slot table if the next insertion needs it.
    pub(crate) fn grow(&mut self) {
        if !self.needs_growth() {
            return;
        }
        let used = self.slots.iter().filter(|s| s.len != EMPTY).map(|s| (s.hash, *s));
        self.slots = rehashed(self.slots.len() * 2, FREE, used, |s| s.len == EMPTY);
    }
}

/// A table of `len` slots (a power of two) holding `items`, each placed by linear probing
/// from its hash: how the open-addressed tables here grow.
pub(super) fn rehashed<T: Copy>(
    len: usize,
    free: T,
    items: impl Iterator<Item = (u64, T)>,
    is_free: impl Fn(&T) -> bool,
) -> Vec<T> {
    let mut slots = vec![free; len];
    let mask = len - 1;
    for (hash, item) in items {
        let mut index = (hash as usize) & mask;
        while !is_free(&slots[index]) {
            index = (index + 1) & mask;
        }
        slots[index] = item;
    }
    slots
}

/// The capacity a growing buffer of `capacity` moves to, to take `more` items: double,
/// and at least enough.
pub(super) fn next_capacity(capacity: usize, more: usize) -> usize {
    (capacity * 2).max(capacity + more).max(64)
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
        Transitions { slots: vec![(NO_KEY, 0); FIRST_SLOTS], entries: 0 }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.slots.capacity() * size_of::<(u64, StateId)>()
    }

    /// The most bytes the next insertion may allocate on top of [`Transitions::bytes`].
    pub(crate) fn growth_bytes(&self) -> usize {
        if self.needs_growth() {
            2 * self.slots.len() * size_of::<(u64, StateId)>()
        } else {
            0
        }
    }

    fn needs_growth(&self) -> bool {
        (self.entries + 1) * 2 > self.slots.len()
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

    /// Remembers `next` for (`state`, `op`); [`Transitions::grow`] must have made room.
    pub(crate) fn insert(&mut self, state: StateId, op: u32, next: StateId) {
        let key = Self::key(state, op);
        let index = self.slot(key);
        if self.slots[index].0 == NO_KEY {
            assert!(!self.needs_growth(), "the transition table grows before it fills");
            self.entries += 1;
        }
        self.slots[index] = (key, next);
    }

    /// Doubles the table if the next insertion needs it.
    pub(crate) fn grow(&mut self) {
        if !self.needs_growth() {
            return;
        }
        let grown = vec![(NO_KEY, 0); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, grown);
        for (key, next) in old.into_iter().filter(|s| s.0 != NO_KEY) {
            let index = self.slot(key);
            self.slots[index] = (key, next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window_of(set: &LinSet) -> (u32, Vec<u64>) {
        let w = set.window();
        (w.start, w.words.to_vec())
    }

    #[test]
    fn set_windows_are_canonical_and_undo_in_stack_order() {
        let mut set = LinSet::new(200);
        assert_eq!(window_of(&set), (0, vec![]));
        for bit in 0..64 {
            set.insert(bit);
        }
        assert_eq!(window_of(&set), (1, vec![]));
        set.insert(64 + 2);
        assert_eq!(window_of(&set), (1, vec![4]));
        set.insert(130);
        assert_eq!(window_of(&set), (1, vec![4, 4]));
        set.remove(130);
        set.remove(66);
        assert_eq!(window_of(&set), (1, vec![]));
        set.remove(63);
        assert_eq!(window_of(&set), (0, vec![u64::MAX >> 1]));
    }

    #[test]
    #[should_panic(expected = "stack order")]
    fn set_removals_must_be_in_stack_order() {
        let mut set = LinSet::new(10);
        set.insert(1);
        set.insert(2);
        set.remove(1);
    }

    fn key<'a>(returning: &'a [u64], open: &'a [u64]) -> SetKey<'a> {
        SetKey { known: Window { start: 1, words: returning }, unknown: Window { start: 0, words: open } }
    }

    #[test]
    fn memo_cache_finds_what_it_stored() {
        let mut cache = MemoCache::new();
        for i in 0..5000u64 {
            cache.grow();
            assert_eq!(cache.insert(i, key(&[i, i % 7], &[i % 3]), 3), Insert::Added);
        }
        for i in 0..5000u64 {
            cache.grow();
            assert_eq!(cache.insert(i, key(&[i, i % 7], &[i % 3]), 3), Insert::Present);
            assert_eq!(cache.insert(i, key(&[i, i % 7], &[i % 3 + 1]), 3), Insert::Added);
            cache.grow();
            assert_eq!(cache.insert(i, key(&[i, i % 7], &[i % 3]), 4), Insert::Added);
        }
        assert_eq!(cache.entries(), 15_000);
    }

    #[test]
    fn growth_is_announced_before_it_happens() {
        let mut cache = MemoCache::new();
        let mut grew = 0;
        for i in 0..10_000u64 {
            let words: Vec<u64> = (0..i % 5).collect();
            let (before, growth) = (cache.bytes(), cache.growth_bytes(words.len()));
            cache.grow();
            cache.insert(i, key(&words, &[]), 0);
            let after = cache.bytes();
            assert!(after <= before + growth, "{after} > {before} + {growth}");
            if growth == 0 {
                assert_eq!(after, before, "unannounced growth at {i}");
            } else {
                grew += 1;
            }
        }
        assert!(grew > 5, "the test saw the table grow {grew} times");
    }

    #[test]
    fn transitions_remember_answers() {
        let mut t = Transitions::new();
        for state in 0..3000 {
            t.grow();
            t.insert(state, state % 5, state + 1);
        }
        assert_eq!(t.get(17, 2), Some(18));
        assert_eq!(t.get(17, 3), None);
        t.grow();
        t.insert(17, 3, REJECTED);
        assert_eq!(t.get(17, 3), Some(REJECTED));
    }

    #[test]
    fn interner_gives_equal_states_one_id() {
        let mut interner = Interner::new();
        let ids: Vec<StateId> = (0..100)
            .map(|i| {
                interner.grow();
                interner.intern(i % 10, 0)
            })
            .collect();
        assert_eq!(interner.len(), 10);
        assert_eq!(ids[3], ids[13]);
        assert_eq!(*interner.get(ids[7]), 7);
    }
}
