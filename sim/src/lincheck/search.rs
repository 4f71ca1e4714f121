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
//! The order of candidates: a node's walk first tries the known operation whose return
//! comes first (it must be linearized before that return), then the other known ones, then
//! the unknown-outcome ones, each in call order; the search alternates this order with plain
//! call order, restarting from the root after slices of steps that double each time
//! ([`Budget::first_slice`]). The order decides how soon a linearization is found, not
//! whether one is.
//!
//! Dominance ([`FailedSets`]): a node whose search failed makes every node with the same
//! known operations linearized, the same state, and a superset of its unknown-outcome
//! operations placed or dropped fail too (an unknown outcome still unplaced can always be
//! dropped later). Failed nodes are facts about the history, so restarts keep them.
//!
//! Operations the model declares droppable ([`Model::droppable`]: unknown outcomes no
//! linearization needs) are left out before the search starts.
//!
//! Doomed states ([`Model::doom_test`]): after a step that changes the state, the known
//! operations at the front of the list are asked whether the new state dooms them (no
//! operation left can lead to a state where they fit, for example a read of a put's text
//! once that put was overwritten). If so, the step is not taken: every node below it would
//! fail, but the search would learn so only at the doomed operation's return.
//!
//! Two prunings, both sound for any model:
//! - An unknown-outcome operation that would not change the state here is not tried: a
//!   linearization starting with it stays one without it.
//! - A known read-only operation ([`Model::is_read_only`]) that fits now is committed to:
//!   any linearization that places it later can place it here instead, so if the search
//!   fails after placing it here, the node fails, and no other candidate is tried. (Unless
//!   placing it would fence an operation: placing it later leaves that one more room.)

use super::budget::{Budget, MemoryPool, Meter};
use super::layout::{client_fences, number_bits, time_ordered_entries};
use super::walk::{Cursor, Order, Pass, Try};

use super::cache::{mix, Insert, Interner, LinSet, MemoCache, SetKey, StateId, Transitions, REJECTED};
use super::failed::FailedSets;
use super::history::{Operation, Outcome};
use super::model::{DoomTest, Model, Step};
use super::{PartitionStats, UnknownCause};

/// Marks a return entry in `Search::entries` (the rest is the operation's index).
pub(super) const RETURN: u32 = 1 << 31;
/// The list's head sentinel.
const HEAD: u32 = 0;
/// "No return entry": an operation with an unknown outcome.
const NONE: u32 = u32::MAX;
/// How many entries of the list, from its front, the doom test looks at after each step
/// that changes the state ([`Search::dooms`]).
const DOOM_WINDOW: usize = 64;

/// What the search of one partition concluded.
pub(crate) enum Found {
    Linearizable,
    /// The longest partial linearization reached, as indices into the partition's ops.
    NotLinearizable(Vec<usize>),
    Unknown(UnknownCause),
    /// The slice of steps for this order is spent (internal to [`search`]).
    Restart,
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
    /// The pass of the walk that tried it.
    pass: Pass,
}

impl Frame {
    fn same_choice(&self, other: &Frame) -> bool {
        self.op == other.op && self.dropped == other.dropped
    }
}

/// The search over one partition.
struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [&'a Operation<M::Input, M::Output>],
    /// Entry `i` (1-based; 0 is the head) is an op index, with `RETURN` for a return.
    entries: Vec<u32>,
    next: Vec<u32>,
    prev: Vec<u32>,
    /// The same list with only the return entries linked (the head's `rnext` is the first
    /// return entry still in the list).
    rnext: Vec<u32>,
    rprev: Vec<u32>,
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
    /// The linearized set, in two halves: the operations with a known outcome, and those
    /// with an unknown one (see [`SetKey`]); and each half's Zobrist hash.
    known_set: LinSet,
    unknown_set: LinSet,
    /// Per operation: its bit in `known_set` or in `unknown_set`, numbered in call order.
    bit: Vec<u32>,
    zobrist: Vec<u64>,
    known_hash: u64,
    unknown_hash: u64,
    /// The nodes whose search failed, for [`FailedSets::dominated`].
    failed: FailedSets,
    /// The model's test of states that doom an operation ([`Model::doom_test`]).
    doom: Option<DoomTest<'a, M::State>>,
    /// Nodes not entered because their state doomed an operation.
    doomed: u64,
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
    /// Nodes not entered because a failed one dominated them.
    dominated: u64,
    /// The pool the search's memory is claimed from, and its own bound.
    pool: &'a MemoryPool,
    max_bytes: usize,
    /// A new state did not fit in the memory bound: the search must stop.
    out_of_room: bool,
    /// Steps that tried an operation that was not its node's only choice: what a slice
    /// between restarts counts (a restart redoes the forced steps for nothing).
    choices: u64,
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
    // The operations the model says no linearization needs are left out (they never take
    // effect); `kept[i]` is the index in `ops` of the search's operation `i`.
    let droppable = model.droppable(ops);
    let kept: Vec<usize> = (0..ops.len()).filter(|&i| !droppable[i]).collect();
    let kept_ops: Vec<&Operation<M::Input, M::Output>> = kept.iter().map(|&i| ops[i]).collect();
    let ops = &kept_ops[..];
    let mut search = Search::new(model, ops, pool, budget.max_bytes);
    if clients_in_order {
        (search.fence_at, search.fences) = client_fences(ops);
    }
    // Restarts alternate the order with growing slices of steps, so that a history easy in
    // either order is decided soon. A restart keeps what it learned that holds whatever the
    // path: the failed nodes (for dominance), states and transitions.
    let (mut order, mut slice) = (Order::KnownFirst, budget.first_slice.max(1));
    let found = loop {
        let until = search.choices.saturating_add(slice);
        match search.run(meter, budget, order, until) {
            Found::Restart => {
                search.restart();
                order = order.other();
                slice = slice.saturating_mul(2);
            }
            Found::NotLinearizable(longest) => {
                break Found::NotLinearizable(longest.into_iter().map(|i| kept[i]).collect())
            }
            found => break found,
        }
    };
    pool.give_back(search.claimed);
    let stats = PartitionStats {
        cache_entries: search.peak_entries,
        bytes: search.peak_bytes,
        states: search.states.len(),
        key_words: search.peak_key_words,
        scanned_words: search.known_set.scanned() + search.unknown_set.scanned(),
        dominated: search.dominated,
        doomed: search.doomed,
    };
    (found, stats)
}

impl<'a, M: Model> Search<'a, M> {
    fn new(
        model: &'a M,
        ops: &'a [&'a Operation<M::Input, M::Output>],
        pool: &'a MemoryPool,
        max_bytes: usize,
    ) -> Self {
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
        let (bit, known, unknown) = number_bits(ops);
        let (mut rnext, mut rprev) = (vec![HEAD; len as usize], vec![HEAD; len as usize]);
        let mut last = HEAD;
        for pos in (1..len).filter(|&p| entries[p as usize] & RETURN != 0) {
            rnext[last as usize] = pos;
            rprev[pos as usize] = last;
            last = pos;
        }
        rnext[last as usize] = HEAD;
        rprev[HEAD as usize] = last;
        Search {
            model,
            ops,
            entries,
            // The list is circular through the head, so unlinking never meets an end.
            next: (1..=len).map(|p| p % len).collect(),
            prev: (0..len).map(|p| (p + len - 1) % len).collect(),
            rnext,
            rprev,
            call_pos,
            ret_pos,
            read_only: ops.iter().map(|op| is_known_read_only(model, op)).collect(),
            known: ops.iter().map(|op| op.outcome.output().is_some()).collect(),
            dropped_on_stack: 0,
            fence_at: vec![0; ops.len() + 1],
            fences: Vec::new(),
            known_set: LinSet::new(known),
            unknown_set: LinSet::new(unknown),
            bit,
            zobrist: (0..ops.len() as u64).map(|i| mix(i ^ 0x9e37_79b9_7f4a_7c15)).collect(),
            known_hash: 0,
            unknown_hash: 0,
            failed: FailedSets::new(),
            doom: model.doom_test(ops),
            doomed: 0,
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
            dominated: 0,
            pool,
            max_bytes,
            out_of_room: false,
            choices: 0,
        }
    }

    /// Searches in `order` until an answer, or until it has made `until` choices.
    fn run(&mut self, meter: &mut Meter<'_>, budget: &Budget, order: Order, until: u64) -> Found {
        let mut at = self.first(order);
        loop {
            if self.remaining_known == 0 {
                return Found::Linearizable;
            }
            if let Some(cause) = self.make_room(budget) {
                return Found::Unknown(cause);
            }
            // While an operation with a known outcome is unlinearized its return entry is
            // in the list, so a walk meets a return before it wraps round to the head.
            let (op, pass) = match at {
                Cursor::Urgent => match self.urgent() {
                    Some(op) => (op, Pass::Urgent),
                    None => {
                        at = Cursor::Known(self.next[HEAD as usize]);
                        continue;
                    }
                },
                Cursor::Known(pos) => {
                    let entry = self.entries[pos as usize];
                    if entry & RETURN != 0 {
                        at = Cursor::Unknown(self.next[HEAD as usize]);
                        continue;
                    }
                    if !self.known[entry as usize] || Some(entry) == self.urgent() {
                        at = Cursor::Known(self.next[pos as usize]);
                        continue;
                    }
                    (entry, Pass::Known)
                }
                Cursor::Unknown(pos) => {
                    let entry = self.entries[pos as usize];
                    if entry & RETURN == 0 && self.known[entry as usize] && order == Order::KnownFirst {
                        at = Cursor::Unknown(self.next[pos as usize]);
                        continue;
                    }
                    (entry, Pass::Unknown)
                }
            };
            let outcome = if op & RETURN != 0 {
                self.at_return(op & !RETURN)
            } else {
                if let Some(cause) = meter.tick() {
                    return Found::Unknown(cause);
                }
                if self.choices > until {
                    return Found::Restart;
                }
                self.try_linearize(op, pass)
            };
            if self.out_of_room {
                return Found::Unknown(UnknownCause::CacheFull);
            }
            at = match outcome {
                Try::Entered => self.first(order),
                Try::Rejected => self.after(op & !RETURN, pass),
                Try::NodeFails => match self.backtrack() {
                    Some(resume) => resume,
                    None => return Found::NotLinearizable(self.longest_placed_ops()),
                },
            };
        }
    }

    /// The operation whose return entry comes first, if its outcome is known: it must be
    /// linearized before that return, so it is the first candidate tried.
    fn urgent(&self) -> Option<u32> {
        let op = self.entries[self.rnext[HEAD as usize] as usize] & !RETURN;
        self.known[op as usize].then_some(op)
    }

    /// Where the walk goes on after trying `op` in `pass`.
    fn after(&self, op: u32, pass: Pass) -> Cursor {
        match pass {
            Pass::Urgent => Cursor::Known(self.next[HEAD as usize]),
            Pass::Known => Cursor::Known(self.next[self.call_pos[op as usize] as usize]),
            Pass::Unknown => Cursor::Unknown(self.next[self.call_pos[op as usize] as usize]),
        }
    }

    /// Where a node's walk starts.
    fn first(&self, order: Order) -> Cursor {
        match order {
            Order::KnownFirst => Cursor::Urgent,
            Order::CallOrder => Cursor::Unknown(self.next[HEAD as usize]),
        }
    }

    /// Goes back to the root, forgetting the nodes entered (which were not all failures:
    /// some were on the search path).
    fn restart(&mut self) {
        while self.pop().is_some() {}
        self.cache = MemoCache::new();
    }

    /// The operations placed (not dropped) in the longest partial linearization.
    fn longest_placed_ops(&self) -> Vec<usize> {
        self.longest.iter().filter(|f| !f.dropped).map(|f| f.op as usize).collect()
    }

    fn key(&self) -> SetKey<'_> {
        SetKey { known: self.known_set.window(), unknown: self.unknown_set.window() }
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
        let frame = Frame {
            op,
            state_before: self.state,
            forced: true,
            dropped: true,
            fenced: false,
            pass: Pass::Unknown,
        };
        self.push(frame);
        self.dropped_on_stack += 1;
        self.lift(op);
        Try::Entered
    }

    /// Whether `op` is in the linearized set (placed or dropped).
    fn in_set(&self, op: u32) -> bool {
        let bit = self.bit[op as usize];
        if self.known[op as usize] {
            self.known_set.contains(bit)
        } else {
            self.unknown_set.contains(bit)
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
                let frame = Frame {
                    op: a,
                    state_before: self.state,
                    forced: true,
                    dropped: true,
                    fenced: true,
                    pass: Pass::Unknown,
                };
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
    fn make_room(&mut self, budget: &Budget) -> Option<UnknownCause> {
        self.peak_entries = self.cache.entries();
        if self.peak_entries >= budget.max_cache_entries {
            return Some(UnknownCause::CacheFull);
        }
        // A step adds at most one key, one bit longer than the current one on each side.
        let key_words = self.key().words() + 2;
        let held = self.cache.bytes() + self.states.bytes() + self.transitions.bytes() + self.failed.bytes();
        self.peak_bytes = self.peak_bytes.max(held);
        let growth = self.cache.growth_bytes(key_words)
            + self.states.growth_bytes()
            + self.transitions.growth_bytes()
            + self.failed.growth_bytes(key_words);
        let wanted = held + growth;
        if wanted > self.claimed {
            let more = wanted - self.claimed;
            self.claimed = wanted;
            if wanted > budget.max_bytes || !self.pool.claim(more) {
                return Some(UnknownCause::CacheFull);
            }
        }
        self.cache.grow();
        self.states.grow();
        self.transitions.grow();
        self.failed.grow(key_words);
        None
    }

    /// Enters the node (the linearized set, `state`): `Present` if the search need not,
    /// because it entered this node before, or because a node it failed in dominates it
    /// (see [`FailedSets`]).
    fn insert_key(&mut self, state: StateId) -> Insert {
        let key = SetKey { known: self.known_set.window(), unknown: self.unknown_set.window() };
        self.peak_key_words = self.peak_key_words.max(key.words());
        if self.failed.dominated(self.known_hash, key, state) {
            self.dominated += 1;
            return Insert::Present;
        }
        self.cache.insert(self.known_hash ^ self.unknown_hash, key, state)
    }

    /// Tries to linearize `op` next.
    fn try_linearize(&mut self, op: u32, pass: Pass) -> Try {
        let operation = self.ops[op as usize];
        let output = operation.outcome.output();
        let next = if self.read_only[op as usize] { self.read_only_step(op) } else { self.transition(op) };
        // An unknown outcome that changes nothing here need not be placed here.
        if next == REJECTED || (output.is_none() && next == self.state) {
            return Try::Rejected;
        }
        if next != self.state && self.dooms(next, op) {
            self.doomed += 1;
            // The step fits: an explanation of a failure shows it, and what it dooms.
            let frame =
                Frame { op, state_before: self.state, forced: false, dropped: false, fenced: false, pass };
            self.push(frame);
            self.stack.pop();
            self.agree = self.agree.min(self.stack.len());
            return Try::Rejected;
        }
        let forced = self.read_only[op as usize] && !self.would_fence(op);
        let only_choice = self.only_choice(op);
        self.choices += u64::from(!only_choice);
        self.fence(op);
        self.mark(op);
        if !only_choice && self.insert_key(next) == Insert::Present {
            self.unmark(op);
            self.unfence();
            return if forced { Try::NodeFails } else { Try::Rejected };
        }
        self.push(Frame { op, state_before: self.state, forced, dropped: false, fenced: false, pass });
        self.state = next;
        self.lift(op);
        Try::Entered
    }

    /// Whether state `next`, after placing `op`, dooms an operation with a known outcome
    /// that is still to be linearized ([`Model::doom_test`]): then so would every state
    /// that follows it, and the node would fail. The operations tested are the first
    /// [`DOOM_WINDOW`] entries of the list: those whose fate the next steps decide
    /// (testing them all would cost a pass over the history a step).
    fn dooms(&self, next: StateId, op: u32) -> bool {
        let Some(doom) = &self.doom else { return false };
        let state = self.states.get(next);
        let done = |i: usize| i == op as usize || self.in_set(i as u32);
        let mut pos = self.next[HEAD as usize];
        for _ in 0..DOOM_WINDOW {
            if pos == HEAD {
                break;
            }
            let entry = self.entries[pos as usize];
            if entry & RETURN == 0
                && entry != op
                && self.known[entry as usize]
                && doom(state, entry as usize, &done)
            {
                return true;
            }
            pos = self.next[pos as usize];
        }
        false
    }

    /// Whether `op` is the node's only candidate, every other operation having to follow
    /// it: its call and return are the first two entries in the list. The node it leads to
    /// is then not memoized: the search reaches it only through this node (another order
    /// would place an operation before `op` that must follow it), so the memo cache could
    /// save at most a re-run of the forced steps up to the next choice, and on a
    /// sequential history it would otherwise grow by an entry an operation.
    fn only_choice(&self, op: u32) -> bool {
        let call = self.call_pos[op as usize];
        self.next[HEAD as usize] == call && self.next[call as usize] == self.ret_pos[op as usize]
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
            Step::Changed(next) => match self.states.find(&next) {
                Some(id) => id,
                None => {
                    // A new state's own heap is claimed before it is stored: the tables'
                    // growth was claimed in advance, but its size is known only now.
                    let bytes = self.model.heap_bytes(&next);
                    if !self.claim(bytes) {
                        self.out_of_room = true;
                        return REJECTED;
                    }
                    self.states.intern(next, bytes)
                }
            },
        };
        self.transitions.insert(self.state, op, next);
        next
    }

    /// Claims `bytes` more from the pool, within the search's bound.
    fn claim(&mut self, bytes: usize) -> bool {
        self.claimed += bytes;
        self.claimed <= self.max_bytes && self.pool.claim(bytes)
    }

    /// Undoes linearizations until one leaves another candidate to try; returns the entry
    /// to continue from, or `None` when the stack empties: no linearization exists.
    fn backtrack(&mut self) -> Option<Cursor> {
        loop {
            if self.stack.is_empty() {
                return None;
            }
            // The node on top failed: remember it, so that it can dominate others.
            let key = SetKey { known: self.known_set.window(), unknown: self.unknown_set.window() };
            self.failed.record(self.known_hash, key, self.state);
            let frame = self.pop()?;
            self.unfence();
            if !frame.forced {
                return Some(self.after(frame.op, frame.pass));
            }
        }
    }

    /// Adds `op` to the linearized set.
    fn mark(&mut self, op: u32) {
        let bit = self.bit[op as usize];
        if self.known[op as usize] {
            self.known_set.insert(bit);
            self.known_hash ^= self.zobrist[op as usize];
        } else {
            self.unknown_set.insert(bit);
            self.unknown_hash ^= self.zobrist[op as usize];
        }
    }

    /// Takes `op`, the latest operation marked, out of the linearized set.
    fn unmark(&mut self, op: u32) {
        let bit = self.bit[op as usize];
        if self.known[op as usize] {
            self.known_set.remove(bit);
            self.known_hash ^= self.zobrist[op as usize];
        } else {
            self.unknown_set.remove(bit);
            self.unknown_hash ^= self.zobrist[op as usize];
        }
    }

    /// Removes `op`'s entries from the list.
    fn lift(&mut self, op: u32) {
        self.unlink(self.call_pos[op as usize]);
        let ret = self.ret_pos[op as usize];
        if ret != NONE {
            self.unlink(ret);
            let (p, n) = (self.rprev[ret as usize], self.rnext[ret as usize]);
            self.rnext[p as usize] = n;
            self.rprev[n as usize] = p;
            if self.known[op as usize] {
                self.remaining_known -= 1;
            }
        }
    }

    /// Puts `op`'s entries back, in the reverse order of [`Search::lift`].
    fn unlift(&mut self, op: u32) {
        let ret = self.ret_pos[op as usize];
        if ret != NONE {
            let (p, n) = (self.rprev[ret as usize], self.rnext[ret as usize]);
            self.rnext[p as usize] = ret;
            self.rprev[n as usize] = ret;
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
