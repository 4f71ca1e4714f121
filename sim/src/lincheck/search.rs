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
//! Two prunings, both sound for any model:
//! - An unknown-outcome operation that would not change the state here is not tried: a
//!   linearization starting with it stays one without it.
//! - A known read-only operation ([`Model::is_read_only`]) that fits now is committed to:
//!   any linearization that places it later can place it here instead, so if the search
//!   fails after placing it here, the node fails, and no other candidate is tried.

use super::budget::{Budget, Deadline};
use super::cache::{mix, Insert, Interner, MemoCache, SetKey, StateId, Transitions, REJECTED};
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
pub(crate) struct Meter {
    max_steps: Option<u64>,
    deadline: Option<Deadline>,
    pub(crate) steps: u64,
}

impl Meter {
    pub(crate) fn new(budget: &Budget) -> Self {
        Meter { max_steps: budget.max_steps, deadline: budget.deadline, steps: 0 }
    }

    /// Counts one step; says why to stop if the budget is spent.
    fn tick(&mut self) -> Option<UnknownCause> {
        self.steps += 1;
        if self.max_steps.is_some_and(|max| self.steps > max) {
            return Some(UnknownCause::StepBudget);
        }
        if self.steps & (DEADLINE_STRIDE - 1) == 0 && self.deadline.is_some_and(|d| d.passed()) {
            return Some(UnknownCause::Deadline);
        }
        None
    }
}

/// One linearized operation on the search stack.
struct Frame {
    op: u32,
    state_before: StateId,
    /// Placed by the read-only rule, or dropped at its deadline: backtracking over it
    /// fails its node too.
    forced: bool,
    /// Dropped (it never took effect) rather than linearized.
    dropped: bool,
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
    /// The linearized set, as a bitset, and its Zobrist hash.
    bits: Vec<u64>,
    zobrist: Vec<u64>,
    set_hash: u64,
    states: Interner<M::State>,
    transitions: Transitions,
    cache: MemoCache,
    state: StateId,
    stack: Vec<Frame>,
    remaining_known: usize,
    longest: Vec<usize>,
    peak_entries: usize,
    peak_bytes: usize,
}

/// Checks one partition's operations against `model`.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    meter: &mut Meter,
    budget: &Budget,
) -> (Found, PartitionStats) {
    let mut search = Search::new(model, ops);
    let found = search.run(meter, budget);
    let stats = PartitionStats {
        cache_entries: search.peak_entries,
        bytes: search.peak_bytes,
        states: search.states.len(),
    };
    (found, stats)
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
            bits: vec![0; ops.len().div_ceil(64)],
            zobrist: (0..ops.len() as u64).map(|i| mix(i ^ 0x9e37_79b9_7f4a_7c15)).collect(),
            set_hash: 0,
            states,
            transitions: Transitions::new(),
            cache: MemoCache::new(),
            state,
            stack: Vec::new(),
            remaining_known,
            longest: Vec::new(),
            peak_entries: 0,
            peak_bytes: 0,
        }
    }

    fn run(&mut self, meter: &mut Meter, budget: &Budget) -> Found {
        let mut cur = self.next[HEAD as usize];
        loop {
            if self.remaining_known == 0 {
                return Found::Linearizable;
            }
            // While an operation with a known outcome is unlinearized its return entry is
            // in the list, so the walk meets a return before it wraps round to the head.
            let entry = self.entries[cur as usize];
            let outcome = if entry & RETURN != 0 {
                self.at_return(entry & !RETURN)
            } else if let Some(cause) = meter.tick() {
                return Found::Unknown(cause);
            } else {
                self.try_linearize(entry)
            };
            cur = match outcome {
                Try::Entered => {
                    if let Some(cause) = self.cache_overflow(budget) {
                        return Found::Unknown(cause);
                    }
                    self.next[HEAD as usize]
                }
                Try::Rejected => self.next[cur as usize],
                Try::NodeFails => match self.backtrack() {
                    Some(next) => next,
                    None => return Found::NotLinearizable(std::mem::take(&mut self.longest)),
                },
            };
        }
    }

    /// The walk met the return entry of an unlinearized operation: with a known outcome, the
    /// node fails; with an unknown one and a deadline, the operation is dropped here.
    fn at_return(&mut self, op: u32) -> Try {
        if !matches!(self.ops[op as usize].outcome, Outcome::UnknownBy { .. }) {
            return Try::NodeFails;
        }
        self.toggle(op);
        if self.cache.insert(self.set_hash, SetKey::of(&self.bits), self.state) == Insert::Present {
            self.toggle(op);
            return Try::NodeFails;
        }
        // Forced: undoing the drop means the operation should have been placed earlier,
        // which the branches before this one explore.
        self.stack.push(Frame { op, state_before: self.state, forced: true, dropped: true });
        self.dropped_on_stack += 1;
        self.lift(op);
        Try::Entered
    }

    fn cache_overflow(&mut self, budget: &Budget) -> Option<UnknownCause> {
        self.peak_entries = self.cache.entries();
        let bytes = self.cache.bytes() + self.states.bytes() + self.transitions.bytes();
        self.peak_bytes = self.peak_bytes.max(bytes);
        (self.peak_entries > budget.max_cache_entries || self.peak_bytes > budget.max_bytes)
            .then_some(UnknownCause::CacheFull)
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
        let forced = self.read_only[op as usize];
        self.toggle(op);
        if self.cache.insert(self.set_hash, SetKey::of(&self.bits), next) == Insert::Present {
            self.toggle(op);
            return if forced { Try::NodeFails } else { Try::Rejected };
        }
        self.stack.push(Frame { op, state_before: self.state, forced, dropped: false });
        self.state = next;
        self.lift(op);
        let placed = self.stack.len() - self.dropped_on_stack;
        if placed > self.longest.len() {
            self.longest = self.stack.iter().filter(|f| !f.dropped).map(|f| f.op as usize).collect();
        }
        Try::Entered
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
            let frame = self.stack.pop()?;
            self.dropped_on_stack -= usize::from(frame.dropped);
            self.unlift(frame.op);
            self.toggle(frame.op);
            self.state = frame.state_before;
            if !frame.forced {
                return Some(self.next[self.call_pos[frame.op as usize] as usize]);
            }
        }
    }

    fn toggle(&mut self, op: u32) {
        self.bits[op as usize / 64] ^= 1 << (op % 64);
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
