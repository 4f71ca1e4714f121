//! Linearizability checking of client histories.
//!
//! A history is linearizable when every operation can be given a single point in time
//! between its invocation and its return such that, taken in that order, the operations
//! are a legal sequential run of the object's [`Model`]. The checker is Wing & Gong's
//! backtracking search with Lowe's memoization (see `search.rs`), run separately on each
//! independent part of the history that the model names (P-compositionality: per key for
//! the key-value model).
//!
//! # Use from the simulator
//! ```
//! use quorate_sim::lincheck::{check, Budget, History, Kv, KvInput, KvOutput, Verdict};
//!
//! let mut history = History::new();
//! let put = history.invoke(0, 10, KvInput::Put { key: "k".into(), value: "v".into() });
//! let get = history.invoke(1, 12, KvInput::Get { key: "k".into() });
//! history.complete(put, 20, KvOutput::Ok { ok: true });
//! history.complete(get, 25, KvOutput::Value { value: "v".into() });
//! let result = check(&Kv::default(), &history, &Budget::steps(1_000_000));
//! assert_eq!(result.verdict, Verdict::Linearizable);
//! ```
//! An operation invoked but never completed keeps an unknown outcome: it may have taken
//! effect at any time after its invocation, or never.
//!
//! # Verdicts and budgets
//! [`check`] answers [`Verdict::Linearizable`], [`Verdict::NotLinearizable`] with an
//! [`Explanation`], or [`Verdict::Unknown`] when the [`Budget`] ran out first: never a wrong
//! answer. A step budget is deterministic, so the simulator's verdicts are reproducible;
//! the wall-clock deadline is for the CLI. The memo cache is bounded in entries and bytes;
//! [`Stats`] reports its peak.
//!
//! # Known limits
//! - The search is exponential in the worst case. Porcupine's 50-client key-value histories
//!   checked unsplit (all keys as one object) do not finish in 60 s or 1 GiB; split per key
//!   they take well under 0.1 s. The simulator should keep keys independent and split.
//! - The memory bound counts the tables as allocated, and a table's growth before it
//!   happens (old and new buffers together), so the search's tables never pass it. It is
//!   per partition in [`check`] (a partition's tables are freed before the next) and over
//!   all threads in [`check_parallel`]. It counts the heap a state owns as
//!   [`Model::heap_bytes`] estimates it: the kv estimate counts shared values once per
//!   state, so it errs high. The history itself and the search's per-operation arrays are
//!   not counted.
//! - A node reached by placing its parent's only candidate (an operation every other
//!   unplaced one must follow) is not memoized, so a sequential history leaves the memo
//!   cache empty; the state and transition tables still grow with the distinct states
//!   (about 50 bytes an operation on a sequential register history that writes a new value
//!   every other operation): a 500 MB Jepsen log checks in about 270 MB of tables, within
//!   the default 1 GiB. The parsed history itself is not counted.
//! - Wall-clock reads live only in `budget.rs`, for the CLI (see [`Deadline`]).
//!
//! # The JSON history format
//! One object with the model's name and the operations; [`History::to_json`] writes it one
//! operation a line, and [`parse::json`] reads it back:
//! ```text
//! {"model":"kv","operations":[
//! {"client":0,"call":12,"return":30,"input":{"op":"put","key":"k","value":"v"},"output":{"ok":true}},
//! {"client":1,"call":14,"return":null,"input":{"op":"get","key":"k"},"output":null}]}
//! ```
//! - `client`: a number naming the client; `call` and `return`: times as integers (any
//!   unit); two operations are ordered when one's `return` is strictly less than the
//!   other's `call`.
//! - `client_order` (optional, default `false`): each client's operations take effect,
//!   if at all, in the order it invoked them ([`History::set_clients_in_order`]).
//! - `return` and `output` are both `null` for an operation with an unknown outcome, or
//!   both set. A `return` with a `null` output is an unknown outcome with a deadline: if the
//!   operation took effect at all, it did so by `return` ([`Outcome::UnknownBy`]).
//!   `return` is never less than `call`. Errors name the line where the offending
//!   operation ends.
//! - `kv` inputs: `{"op":"get","key":K}`, `{"op":"put","key":K,"value":V}`,
//!   `{"op":"append","key":K,"value":V}`, `{"op":"cas","key":K,"from":V,"to":V}`; outputs:
//!   `{"value":V}` for a get (`""` for an absent key), `{"ok":B}` otherwise (`false`: the
//!   operation definitely did not take effect; for a cas, that the value was not `from`).
//! - `register` inputs: `{"op":"read"}`, `{"op":"write","value":N}`,
//!   `{"op":"cas","from":N,"to":N}`; outputs: `{"value":N}` or `{"value":null}` (never
//!   written) for a read, `{"ok":B}` otherwise.

mod budget;
mod cache;
pub mod cli;
mod explain;
mod failed;
mod history;
pub mod html;
mod json;
mod layout;
mod model;
mod parallel;
pub mod parse;
mod search;
mod walk;

use std::collections::BTreeMap;
use std::fmt;

pub use budget::{
    Budget, Deadline, Stopwatch, DEFAULT_FIRST_SLICE, DEFAULT_MAX_BYTES, DEFAULT_MAX_CACHE_ENTRIES,
};
pub use explain::{ExplainedOp, Explanation, StuckOp, StuckReason};
pub use history::{History, OpId, Operation, Outcome};
pub use json::JsonInput;
pub use model::{
    DoomTest, Kv, KvInput, KvOutput, KvState, Model, Partition, Register, RegisterInput, RegisterOutput, Step,
};
pub use parallel::check_parallel;

use budget::{MemoryPool, Meter};
use search::Found;

/// The checker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some order of the operations explains every output.
    Linearizable,
    /// No order does; the explanation shows where the search got stuck.
    NotLinearizable(Box<Explanation>),
    /// The budget ran out before an answer was found.
    Unknown(UnknownReason),
}

/// Why a check gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownReason {
    /// Which limit was hit.
    pub cause: UnknownCause,
    /// The partition being searched when it was hit.
    pub partition: String,
}

/// Which limit a check hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownCause {
    /// [`Budget::max_steps`].
    StepBudget,
    /// [`Budget::deadline`].
    Deadline,
    /// [`Budget::max_cache_entries`] or [`Budget::max_bytes`].
    CacheFull,
    /// Another partition failed first (the CLI's parallel check stops the others).
    Cancelled,
}

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cause = match self.cause {
            UnknownCause::StepBudget => "step budget spent",
            UnknownCause::Deadline => "deadline passed",
            UnknownCause::CacheFull => "memo cache full",
            UnknownCause::Cancelled => "cancelled",
        };
        write!(f, "{cause} while checking {}", self.partition)
    }
}

/// What a check cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Search steps (model steps tried), over all partitions.
    pub steps: u64,
    /// Partitions searched (a failure stops the check early).
    pub partitions: usize,
    /// The most entries one partition's memo cache held.
    pub peak_cache_entries: usize,
    /// The most bytes one partition's search held in its memo cache and state table.
    pub peak_bytes: usize,
    /// The most distinct model states one partition reached.
    pub peak_states: usize,
    /// The longest memo-cache key stored, in 64-bit words. Keys hold only the ragged
    /// window of the linearized set, so this stays small however long the history.
    pub peak_key_words: usize,
    /// Words scanned, over all partitions, to keep the keys' windows up to date: at most
    /// about one per 64 operations per pass over the history, not one per word per step.
    pub scanned_words: u64,
    /// Nodes not entered because a node that had failed dominated them (the same known
    /// operations linearized and the same state, with a subset of the unknown-outcome
    /// ones), over all partitions.
    pub dominated: u64,
    /// Nodes not entered because their state doomed an operation still to be linearized
    /// ([`Model::doom_test`]), over all partitions.
    pub doomed: u64,
}

/// Per-partition costs, folded into [`Stats`].
pub(crate) struct PartitionStats {
    cache_entries: usize,
    bytes: usize,
    states: usize,
    key_words: usize,
    scanned_words: u64,
    dominated: u64,
    doomed: u64,
}

impl Stats {
    fn absorb(&mut self, part: PartitionStats) {
        self.partitions += 1;
        self.peak_cache_entries = self.peak_cache_entries.max(part.cache_entries);
        self.peak_bytes = self.peak_bytes.max(part.bytes);
        self.peak_states = self.peak_states.max(part.states);
        self.peak_key_words = self.peak_key_words.max(part.key_words);
        self.scanned_words += part.scanned_words;
        self.dominated += part.dominated;
        self.doomed += part.doomed;
    }
}

/// A verdict and what it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    /// The answer.
    pub verdict: Verdict,
    /// The cost.
    pub stats: Stats,
}

/// Checks `history` against `model` within `budget`.
///
/// Partitions are searched smallest first, so a failure is reported in the smallest
/// failing partition; the first failure ends the check. Deterministic and single-threaded:
/// this is the check the simulator runs.
pub fn check<M: Model>(model: &M, history: &History<M::Input, M::Output>, budget: &Budget) -> CheckResult {
    let partitions = sorted_partitions(model, history);
    let mut meter = Meter::new(budget);
    let mut stats = Stats::default();
    let mut unknown = None;
    for part in &partitions {
        // One partition's tables are freed before the next starts: a pool each.
        let pool = MemoryPool::new(budget.max_bytes);
        let (outcome, part_stats) = check_partition(model, history, part, &mut meter, budget, &pool);
        stats.absorb(part_stats);
        stats.steps = meter.steps;
        match outcome {
            Ok(()) => {}
            Err(Verdict::Unknown(reason)) => {
                let cause = reason.cause;
                unknown.get_or_insert(reason);
                // A spent step budget or deadline stays spent; a full cache was this
                // partition's alone, and another partition may still fail outright.
                if cause != UnknownCause::CacheFull {
                    break;
                }
            }
            Err(verdict) => return CheckResult { verdict, stats },
        }
    }
    let verdict = unknown.map_or(Verdict::Linearizable, Verdict::Unknown);
    CheckResult { verdict, stats }
}

/// The model's partitions, smallest first (ties by label, for determinism).
fn sorted_partitions<M: Model>(model: &M, history: &History<M::Input, M::Output>) -> Vec<Partition> {
    let mut partitions = join_fenced(model.partition(history), history);
    partitions.sort_by(|a, b| (a.ops.len(), &a.label).cmp(&(b.ops.len(), &b.label)));
    partitions
}

/// With client order, an unknown-outcome operation takes effect before its client's next
/// operation or never: a constraint between partitions when that operation is in another
/// one (P-compositionality covers linearizability, not this). Such partitions are checked
/// together, so that the verdict is the same split or not.
fn join_fenced<I, O>(partitions: Vec<Partition>, history: &History<I, O>) -> Vec<Partition> {
    if !history.clients_in_order() || partitions.len() < 2 {
        return partitions;
    }
    let ops = history.operations();
    let mut part_of = vec![usize::MAX; ops.len()];
    for (p, part) in partitions.iter().enumerate() {
        for id in &part.ops {
            part_of[id.0] = p;
        }
    }
    // Union-find over partitions.
    let mut parent: Vec<usize> = (0..partitions.len()).collect();
    fn root(parent: &mut [usize], mut p: usize) -> usize {
        while parent[p] != p {
            parent[p] = parent[parent[p]];
            p = parent[p];
        }
        p
    }
    let mut by_client: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_client.entry(op.client).or_default().push(i);
    }
    for mine in by_client.values_mut() {
        mine.sort_by_key(|&i| (ops[i].call, i));
        for pair in mine.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            if ops[before].outcome.output().is_none()
                && part_of[before] != usize::MAX
                && part_of[after] != usize::MAX
            {
                let (a, b) = (root(&mut parent, part_of[before]), root(&mut parent, part_of[after]));
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut joined: BTreeMap<usize, Partition> = BTreeMap::new();
    for (p, part) in partitions.into_iter().enumerate() {
        let r = root(&mut parent, p);
        match joined.get_mut(&r) {
            None => {
                joined.insert(r, part);
            }
            Some(into) => {
                into.label = format!("{} + {}", into.label, part.label);
                into.ops.extend(part.ops);
                into.ops.sort_unstable();
            }
        }
    }
    joined.into_values().collect()
}

/// Searches one partition: `Ok` if linearizable, else the verdict it gives the history.
fn check_partition<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    part: &Partition,
    meter: &mut Meter<'_>,
    budget: &Budget,
    pool: &MemoryPool,
) -> (Result<(), Verdict>, PartitionStats) {
    let ops: Vec<_> = part.ops.iter().map(|id| &history.operations()[id.0]).collect();
    let (found, stats) = search::search(model, &ops, history.clients_in_order(), meter, budget, pool);
    let outcome = match found {
        Found::Linearizable => Ok(()),
        Found::NotLinearizable(longest) => {
            let explanation = Explanation::new(model, &part.label, &part.ops, &ops, longest);
            Err(Verdict::NotLinearizable(Box::new(explanation)))
        }
        Found::Restart => unreachable!("the search restarts by itself"),
        Found::Unknown(cause) => {
            Err(Verdict::Unknown(UnknownReason { cause, partition: part.label.clone() }))
        }
    };
    (outcome, stats)
}
