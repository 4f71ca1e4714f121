//! The core search over one partition: Wing & Gong's backtracking with Lowe's memo cache.
//!
//! The history is laid out as a list of call and return entries in time order. The search
//! walks the list from the front: a call entry is a candidate to linearize next (every
//! operation that had to come before it already has); linearizing it applies the model
//! and "lifts" both its entries out of the list, then the walk restarts at the front. A
//! return entry reached during the walk belongs to an operation that should already have
//! been linearized, so the last choice was wrong: backtrack, put that operation back, and
//! try the next candidate after it. Lowe's cache remembers every (linearized set, state)
//! entered, so no such node is explored twice.
//!
//! Unknown outcomes: such an operation has no return entry (it returns at +infinity), so
//! it never forces a backtrack, and the search succeeds as soon as every operation with a
//! known outcome is linearized; any unknown one left over "never took effect", which is the
//! same as taking effect after everything else, where no one could observe it.
//!
//! An unknown outcome with a deadline ([`Outcome::UnknownBy`]) has a return entry at its
//! deadline. Reaching it unlinearized does not fail the node: the operation is dropped
//! there (it never took effect), which is a choice like any other, remembered in the cache
//! and undone on backtracking.
//!
//! Client order ([`History::set_clients_in_order`](super::History::set_clients_in_order)):
//! an unknown-outcome operation takes effect before the next operation of its client, or
//! never. So placing an operation first drops ("fences") the unplaced unknown-outcome
//! operations its client invoked before it, in the same step.
//!
//! Two prunings, both sound for any model:
//! - An unknown-outcome operation that would not change the state here is not tried: a
//!   linearization starting with it stays one without it.
//! - A known read-only operation ([`Model::is_read_only`]) that fits now is committed to:
//!   any linearization that places it later can place it here instead, so if the search
//!   fails after placing it here, the node fails, and no other candidate is tried. (Unless
//!   placing it would fence an operation: placing it later leaves that one more room.)

use super::budget::{Budget, Deadline};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::cache::{mix, Insert, Interner, LinSet, MemoCache, SetKey, StateId, Transitions, REJECTED};
use super::history::{Operation, Outcome};
use super::model::{Model, Step};
use super::{PartitionStats, UnknownCause};

/// Marks a return entry in `Search::entries` (the rest is the operation's index).
const RETURN: u32 = 1 << 31;
/// The list's head sentinel.
const HEAD: u32 = 0;
/// "No return entry": an operation with an unknown outcome.
const NONE: u32 = u32::MAX;
/// How many steps between two reads of the wall clock (reading it costs more than a step);
/// a power of two, so the test is a mask.
const DEADLINE_STRIDE: u64 = 4096;

/// What the search of one partition concluded.
pub(crate) enum Found {
    Linearizable,
    /// The longest partial linearization reached, as indices into the partition's ops.
    NotLinearizable(Vec<usize>),
    Unknown(UnknownCause),
}

/// Counts steps against the budget, across all partitions of one check.
pub(crate) struct Meter<'a> {
    max_steps: Option<u64>,
    deadline: Option<Deadline>,
    /// Asked every [`DEADLINE_STRIDE`] steps whether another thread made this search moot.
    cancelled: Option<&'a (dyn Fn() -> bool + Sync)>,
    pub(crate) steps: u64,
}

impl<'a> Meter<'a> {
    pub(crate) fn new(budget: &Budget) -> Self {
        Meter { max_steps: budget.max_steps, deadline: budget.deadline, cancelled: None, steps: 0 }
    }

    /// A meter that also stops when `cancelled` says so (the CLI's parallel check).
    pub(crate) fn cancellable(budget: &Budget, cancelled: &'a (dyn Fn() -> bool + Sync)) -> Self {
        Meter { cancelled: Some(cancelled), ..Meter::new(budget) }
    }

    /// Counts one step; says why to stop if the budget is spent.
    fn tick(&mut self) -> Option<UnknownCause> {
        self.steps += 1;
        if self.max_steps.is_some_and(|max| self.steps > max) {
            return Some(UnknownCause::StepBudget);
        }
        if self.steps & (DEADLINE_STRIDE - 1) == 0 {
            if self.deadline.is_some_and(|d| d.passed()) {
                return Some(UnknownCause::Deadline);
            }
            if self.cancelled.is_some_and(|cancelled| cancelled()) {
                return Some(UnknownCause::Cancelled);
            }
        }
        None
    }
}

/// The memory the searches running at once may hold between them, in bytes, and what
/// they hold now. Each search claims bytes before its tables grow and gives them all back
/// when it ends. A check run on one thread uses one pool per partition, so the bound is
/// per partition; the CLI's parallel check shares one pool between its threads.
pub(crate) struct MemoryPool {
    limit: usize,
    claimed: AtomicUsize,
}

impl MemoryPool {
    pub(crate) fn new(limit: usize) -> Self {
        MemoryPool { limit, claimed: AtomicUsize::new(0) }
    }

    /// Claims `bytes` more; false (the claim stays, to be given back) if that passes the limit.
    fn claim(&self, bytes: usize) -> bool {
        let before = self.claimed.fetch_add(bytes, Ordering::Relaxed);
        before.saturating_add(bytes) <= self.limit
    }

    fn give_back(&self, bytes: usize) {
        self.claimed.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// One linearized operation on the search stack.
#[derive(Clone, Copy)]
struct Frame {
    op: u32,
    state_before: StateId,
    /// Placed by the read-only rule, or dropped at its deadline: backtracking over it
    /// fails its node too.
    forced: bool,
    /// Dropped (it never took effect) rather than linearized.
    dropped: bool,
    /// Dropped by the fence of the frame above it: undone with that frame.
    fenced: bool,
}

impl Frame {
    fn same_choice(&self, other: &Frame) -> bool {
        self.op == other.op && self.dropped == other.dropped
    }
}

/// What trying one candidate did.
enum Try {
    Entered,
    Rejected,
    NodeFails,
}

/// The search over one partition.
struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [&'a Operation<M::Input, M::Output>],
    /// Entry `i` (1-based; 0 is the head) is an op index, with `RETURN` for a return.
    entries: Vec<u32>,
    next: Vec<u32>,
    prev: Vec<u32>,
    call_pos: Vec<u32>,
    ret_pos: Vec<u32>,
    read_only: Vec<bool>,
    /// Per operation: its outcome is known (it must be linearized).
    known: Vec<bool>,
    /// Frames on the stack that dropped an operation rather than placing it.
    dropped_on_stack: usize,
    /// Per operation `i`, `fences[fence_at[i]..fence_at[i + 1]]`: the unknown-outcome
    /// operations that placing `i` drops if still unplaced (client order).
    fence_at: Vec<u32>,
    fences: Vec<u32>,
    /// The linearized set, in two halves: the operations with a return entry, and those
    /// without (see [`SetKey`]); and its Zobrist hash.
    returning: LinSet,
    open: LinSet,
    /// Per operation: its bit in `returning` or in `open`, numbered in call order.
    bit: Vec<u32>,
    zobrist: Vec<u64>,
    set_hash: u64,
    states: Interner<M::State>,
    transitions: Transitions,
    cache: MemoCache,
    state: StateId,
    stack: Vec<Frame>,
    remaining_known: usize,
    /// The stack when it held the most placed operations, `longest_placed` of them; its
    /// first `agree` frames are the stack's first frames, so updating it copies only the
    /// rest (copying it whole at every new maximum made long histories quadratic).
    longest: Vec<Frame>,
    longest_placed: usize,
    agree: usize,
    /// Bytes this search has claimed from the pool.
    claimed: usize,
    peak_entries: usize,
    peak_bytes: usize,
    peak_key_words: usize,
}

/// Checks one partition's operations against `model`.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    clients_in_order: bool,
    meter: &mut Meter<'_>,
    budget: &Budget,
    pool: &MemoryPool,
) -> (Found, PartitionStats) {
    let mut search = Search::new(model, ops);
    if clients_in_order {
        (search.fence_at, search.fences) = client_fences(ops);
    }
    let found = search.run(meter, budget, pool);
    pool.give_back(search.claimed);
    let stats = PartitionStats {
        cache_entries: search.peak_entries,
        bytes: search.peak_bytes,
        states: search.states.len(),
        key_words: search.peak_key_words,
        scanned_words: search.returning.scanned() + search.open.scanned(),
    };
    (found, stats)
}

/// For each operation, the unknown-outcome operations its client invoked since its last
/// operation with a known outcome: those must take effect before it, or never. As a
/// table: operation `i`'s are `fences[at[i]..at[i + 1]]`.
fn client_fences<I, O>(ops: &[&Operation<I, O>]) -> (Vec<u32>, Vec<u32>) {
    let mut by_client: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_client.entry(op.client).or_default().push(i as u32);
    }
    let mut lists: Vec<Vec<u32>> = vec![Vec::new(); ops.len()];
    for (_, mut mine) in by_client {
        mine.sort_by_key(|&i| (ops[i as usize].call, i));
        let mut pending = Vec::new();
        for i in mine {
            lists[i as usize].clone_from(&pending);
            if ops[i as usize].outcome.output().is_some() {
                pending.clear();
            } else {
                pending.push(i);
            }
        }
    }
    let mut at = Vec::with_capacity(ops.len() + 1);
    let mut fences = Vec::new();
    at.push(0);
    for list in lists {
        fences.extend(list);
        at.push(fences.len() as u32);
    }
    (at, fences)
}

/// Numbers each operation's bit: those with a return entry in one set, the others in a
/// second, each in call order. Returns the numbers and the two sets' sizes.
fn number_bits<I, O>(ops: &[&Operation<I, O>]) -> (Vec<u32>, usize, usize) {
    let mut order: Vec<(u64, u32)> = ops.iter().enumerate().map(|(i, op)| (op.call, i as u32)).collect();
    order.sort_unstable();
    let mut bit = vec![0; ops.len()];
    let (mut returning, mut open) = (0u32, 0u32);
    for (_, i) in order {
        let counter =
            if ops[i as usize].outcome.return_time().is_some() { &mut returning } else { &mut open };
        bit[i as usize] = *counter;
        *counter += 1;
    }
    (bit, returning as usize, open as usize)
}

/// The order of entries: by time, and at equal times calls before returns, so operations
/// whose intervals touch are concurrent. Ties are broken by op index, for determinism.
fn time_ordered_entries<I, O>(ops: &[&Operation<I, O>]) -> Vec<u32> {
    let mut events: Vec<(u64, bool, u32)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.call, false, i as u32));
        if let Some(at) = op.outcome.return_time() {
            events.push((at, true, i as u32 | RETURN));
        }
    }
    events.sort_unstable();
    events.into_iter().map(|(_, _, entry)| entry).collect()
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, ops: &'a [&'a Operation<M::Input, M::Output>]) -> Self {
        assert!(ops.len() < RETURN as usize, "partition too large");
        let mut entries = vec![HEAD];
        entries.extend(time_ordered_entries(ops));
        let len = entries.len() as u32;
        let (mut call_pos, mut ret_pos) = (vec![NONE; ops.len()], vec![NONE; ops.len()]);
        for (pos, entry) in entries.iter().enumerate().skip(1) {
            let slot = if entry & RETURN == 0 { &mut call_pos } else { &mut ret_pos };
            slot[(entry & !RETURN) as usize] = pos as u32;
        }
        let mut states = Interner::new();
        let init = model.init();
        let init_bytes = model.heap_bytes(&init);
        let state = states.intern(init, init_bytes);
        let remaining_known = ops.iter().filter(|op| op.outcome.output().is_some()).count();
        let (bit, returning, open) = number_bits(ops);
        Search {
            model,
            ops,
            entries,
            // The list is circular through the head, so unlinking never meets an end.
            next: (1..=len).map(|p| p % len).collect(),
            prev: (0..len).map(|p| (p + len - 1) % len).collect(),
            call_pos,
            ret_pos,
            read_only: ops.iter().map(|op| is_known_read_only(model, op)).collect(),
            known: ops.iter().map(|op| op.outcome.output().is_some()).collect(),
            dropped_on_stack: 0,
            fence_at: vec![0; ops.len() + 1],
            fences: Vec::new(),
            returning: LinSet::new(returning),
            open: LinSet::new(open),
            bit,
            zobrist: (0..ops.len() as u64).map(|i| mix(i ^ 0x9e37_79b9_7f4a_7c15)).collect(),
            set_hash: 0,
            states,
            transitions: Transitions::new(),
            cache: MemoCache::new(),
            state,
            stack: Vec::new(),
            remaining_known,
            longest: Vec::new(),
            longest_placed: 0,
            agree: 0,
            claimed: 0,
            peak_entries: 0,
            peak_bytes: 0,
            peak_key_words: 0,
        }
    }

    fn run(&mut self, meter: &mut Meter<'_>, budget: &Budget, pool: &MemoryPool) -> Found {
        let mut cur = self.next[HEAD as usize];
        loop {
            if self.remaining_known == 0 {
                return Found::Linearizable;
            }
            // While an operation with a known outcome is unlinearized its return entry is
            // in the list, so the walk meets a return before it wraps round to the head.
            let entry = self.entries[cur as usize];
            if entry & RETURN == 0 {
                if let Some(cause) = meter.tick() {
                    return Found::Unknown(cause);
                }
            }
            if let Some(cause) = self.make_room(budget, pool) {
                return Found::Unknown(cause);
            }
            let outcome =
                if entry & RETURN != 0 { self.at_return(entry & !RETURN) } else { self.try_linearize(entry) };
            cur = match outcome {
                Try::Entered => self.next[HEAD as usize],
                Try::Rejected => self.next[cur as usize],
                Try::NodeFails => match self.backtrack() {
                    Some(next) => next,
                    None => return Found::NotLinearizable(self.longest_placed_ops()),
                },
            };
        }
    }

    /// The operations placed (not dropped) in the longest partial linearization.
    fn longest_placed_ops(&self) -> Vec<usize> {
        self.longest.iter().filter(|f| !f.dropped).map(|f| f.op as usize).collect()
    }

    fn key(&self) -> SetKey<'_> {
        SetKey { returning: self.returning.window(), open: self.open.window() }
    }

    /// The walk met the return entry of an unlinearized operation: with a known outcome, the
    /// node fails; with an unknown one and a deadline, the operation is dropped here.
    fn at_return(&mut self, op: u32) -> Try {
        if !matches!(self.ops[op as usize].outcome, Outcome::UnknownBy { .. }) {
            return Try::NodeFails;
        }
        self.mark(op);
        if self.insert_key(self.state) == Insert::Present {
            self.unmark(op);
            return Try::NodeFails;
        }
        // Forced: undoing the drop means the operation should have been placed earlier,
        // which the branches before this one explore.
        self.push(Frame { op, state_before: self.state, forced: true, dropped: true, fenced: false });
        self.dropped_on_stack += 1;
        self.lift(op);
        Try::Entered
    }

    /// Whether `op` is in the linearized set (placed or dropped).
    fn in_set(&self, op: u32) -> bool {
        let bit = self.bit[op as usize];
        if self.ret_pos[op as usize] == NONE {
            self.open.contains(bit)
        } else {
            self.returning.contains(bit)
        }
    }

    /// Whether placing `op` would drop an operation (client order).
    fn would_fence(&self, op: u32) -> bool {
        let (from, to) = (self.fence_at[op as usize] as usize, self.fence_at[op as usize + 1] as usize);
        self.fences[from..to].iter().any(|&a| !self.in_set(a))
    }

    /// Drops the unplaced operations that placing `op` fences, as frames to be undone with
    /// `op`'s own.
    fn fence(&mut self, op: u32) {
        let (from, to) = (self.fence_at[op as usize] as usize, self.fence_at[op as usize + 1] as usize);
        for k in from..to {
            let a = self.fences[k];
            if !self.in_set(a) {
                self.mark(a);
                let frame =
                    Frame { op: a, state_before: self.state, forced: true, dropped: true, fenced: true };
                self.push(frame);
                self.dropped_on_stack += 1;
                self.lift(a);
            }
        }
    }

    /// Pops and undoes the top frame.
    fn pop(&mut self) -> Option<Frame> {
        let frame = self.stack.pop()?;
        self.agree = self.agree.min(self.stack.len());
        self.dropped_on_stack -= usize::from(frame.dropped);
        self.unlift(frame.op);
        self.unmark(frame.op);
        self.state = frame.state_before;
        Some(frame)
    }

    /// Undoes the fence frames on top of the stack.
    fn unfence(&mut self) {
        while self.stack.last().is_some_and(|f| f.fenced) {
            self.pop();
        }
    }

    /// Makes room in the tables for what the next step may add, if the bounds allow it.
    ///
    /// The growth is counted before it happens, old and new buffers together (a table
    /// that doubles holds both while it copies), so the tables never pass the bound.
    fn make_room(&mut self, budget: &Budget, pool: &MemoryPool) -> Option<UnknownCause> {
        self.peak_entries = self.cache.entries();
        if self.peak_entries >= budget.max_cache_entries {
            return Some(UnknownCause::CacheFull);
        }
        // A step adds at most one key, one bit longer than the current one on each side.
        let key_words = self.key().words() + 2;
        let held = self.cache.bytes() + self.states.bytes() + self.transitions.bytes();
        self.peak_bytes = self.peak_bytes.max(held);
        let growth =
            self.cache.growth_bytes(key_words) + self.states.growth_bytes() + self.transitions.growth_bytes();
        let wanted = held + growth;
        if wanted > self.claimed {
            let more = wanted - self.claimed;
            self.claimed = wanted;
            if wanted > budget.max_bytes || !pool.claim(more) {
                return Some(UnknownCause::CacheFull);
            }
        }
        self.cache.grow();
        self.states.grow();
        self.transitions.grow();
        None
    }

    fn insert_key(&mut self, state: StateId) -> Insert {
        let key = SetKey { returning: self.returning.window(), open: self.open.window() };
        self.peak_key_words = self.peak_key_words.max(key.words());
        self.cache.insert(self.set_hash, key, state)
    }

    /// Tries to linearize `op` next.
    fn try_linearize(&mut self, op: u32) -> Try {
        let operation = self.ops[op as usize];
        let output = operation.outcome.output();
        let next = if self.read_only[op as usize] { self.read_only_step(op) } else { self.transition(op) };
        // An unknown outcome that changes nothing here need not be placed here.
        if next == REJECTED || (output.is_none() && next == self.state) {
            return Try::Rejected;
        }
        let forced = self.read_only[op as usize] && !self.would_fence(op);
        self.fence(op);
        self.mark(op);
        if self.insert_key(next) == Insert::Present {
            self.unmark(op);
            self.unfence();
            return if forced { Try::NodeFails } else { Try::Rejected };
        }
        self.push(Frame { op, state_before: self.state, forced, dropped: false, fenced: false });
        self.state = next;
        self.lift(op);
        Try::Entered
    }

    /// Pushes a frame, keeping the longest partial linearization up to date.
    fn push(&mut self, frame: Frame) {
        let depth = self.stack.len();
        if self.agree == depth && self.longest.get(depth).is_some_and(|f| f.same_choice(&frame)) {
            self.agree += 1;
        }
        self.stack.push(frame);
        let placed = self.stack.len() - self.dropped_on_stack - usize::from(self.stack[depth].dropped);
        if placed > self.longest_placed {
            self.longest.truncate(self.agree);
            self.longest.extend_from_slice(&self.stack[self.agree..]);
            self.agree = self.stack.len();
            self.longest_placed = placed;
        }
    }

    fn step(&self, op: u32) -> Step<M::State> {
        let operation = self.ops[op as usize];
        let state = self.states.get(self.state);
        self.model.step(state, &operation.input, operation.outcome.output())
    }

    /// Like [`Search::transition`] for a read-only operation: cheap to step and never
    /// building a state, so not worth remembering.
    fn read_only_step(&mut self, op: u32) -> StateId {
        match self.step(op) {
            Step::Rejected => REJECTED,
            Step::Unchanged => self.state,
            Step::Changed(next) => {
                let next = self.states.intern(next, 0);
                assert_eq!(next, self.state, "Model::is_read_only said op {op} changes nothing");
                next
            }
        }
    }

    /// The state after `op` from the current state, or `REJECTED`, remembered.
    fn transition(&mut self, op: u32) -> StateId {
        if let Some(next) = self.transitions.get(self.state, op) {
            return next;
        }
        let next = match self.step(op) {
            Step::Rejected => REJECTED,
            Step::Unchanged => self.state,
            Step::Changed(next) => {
                let bytes = self.model.heap_bytes(&next);
                self.states.intern(next, bytes)
            }
        };
        self.transitions.insert(self.state, op, next);
        next
    }

    /// Undoes linearizations until one leaves another candidate to try; returns the entry
    /// to continue from, or `None` when the stack empties: no linearization exists.
    fn backtrack(&mut self) -> Option<u32> {
        loop {
            let frame = self.pop()?;
            self.unfence();
            if !frame.forced {
                return Some(self.next[self.call_pos[frame.op as usize] as usize]);
            }
        }
    }

    /// Adds `op` to the linearized set.
    fn mark(&mut self, op: u32) {
        let bit = self.bit[op as usize];
        if self.ret_pos[op as usize] == NONE {
            self.open.insert(bit);
        } else {
            self.returning.insert(bit);
        }
        self.set_hash ^= self.zobrist[op as usize];
    }

    /// Takes `op`, the latest operation marked, out of the linearized set.
    fn unmark(&mut self, op: u32) {
        let bit = self.bit[op as usize];
        if self.ret_pos[op as usize] == NONE {
            self.open.remove(bit);
        } else {
            self.returning.remove(bit);
        }
        self.set_hash ^= self.zobrist[op as usize];
    }

    /// Removes `op`'s entries from the list.
    fn lift(&mut self, op: u32) {
        self.unlink(self.call_pos[op as usize]);
        let ret = self.ret_pos[op as usize];
        if ret != NONE {
            self.unlink(ret);
            if self.known[op as usize] {
                self.remaining_known -= 1;
            }
        }
    }

    /// Puts `op`'s entries back, in the reverse order of [`Search::lift`].
    fn unlift(&mut self, op: u32) {
        let ret = self.ret_pos[op as usize];
        if ret != NONE {
            self.relink(ret);
            if self.known[op as usize] {
                self.remaining_known += 1;
            }
        }
        self.relink(self.call_pos[op as usize]);
    }

    fn unlink(&mut self, pos: u32) {
        let (p, n) = (self.prev[pos as usize], self.next[pos as usize]);
        self.next[p as usize] = n;
        self.prev[n as usize] = p;
    }

    /// Dancing links: `pos` still remembers its neighbours, which are back in place
    /// because lifts are undone in reverse order.
    fn relink(&mut self, pos: u32) {
        let (p, n) = (self.prev[pos as usize], self.next[pos as usize]);
        self.next[p as usize] = pos;
        self.prev[n as usize] = pos;
    }
}

fn is_known_read_only<M: Model>(model: &M, op: &Operation<M::Input, M::Output>) -> bool {
    let output = op.outcome.output();
    output.is_some() && model.is_read_only(&op.input, output)
}
