//! How much work a check may do before it answers `Unknown`.
//!
//! Two kinds of limit: a step budget, which is deterministic (the simulator uses it, so that
//! a seed always gives the same verdict), and a wall-clock deadline, which is not (the CLI
//! uses it). The memo cache is bounded either way, so memory stays bounded on any history.

use super::UnknownCause;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Limits on one call of [`check`](super::check).
#[derive(Clone, Debug)]
pub struct Budget {
    /// The most search steps (model steps tried) over all partitions; `None`: no limit.
    pub max_steps: Option<u64>,
    /// Give up once this wall-clock time has passed; `None`: no deadline.
    pub deadline: Option<Deadline>,
    /// The most entries the memo cache of one partition may hold.
    pub max_cache_entries: usize,
    /// The most bytes the search of one partition may hold in its memo cache and its table
    /// of states (as [`Model::heap_bytes`](super::Model::heap_bytes) estimates them).
    pub max_bytes: usize,
    /// The steps the search of a partition spends in its first order of candidates before
    /// it restarts in the other; each restart doubles the slice. Only steps with a choice
    /// count (not those placing a node's only candidate). Changes how soon a
    /// verdict is found, never which verdict.
    pub first_slice: u64,
}

/// The default first slice: about half a million steps with a choice.
pub const DEFAULT_FIRST_SLICE: u64 = 1 << 19;

/// The default cache bound: 20 million entries, enough for every Porcupine history,
/// while keeping a runaway search to well under the memory of a small machine.
pub const DEFAULT_MAX_CACHE_ENTRIES: usize = 20_000_000;
/// The default memory bound: 1 GiB.
pub const DEFAULT_MAX_BYTES: usize = 1 << 30;

impl Default for Budget {
    /// No step limit, no deadline, the default cache bounds.
    fn default() -> Self {
        Budget {
            max_steps: None,
            deadline: None,
            max_cache_entries: DEFAULT_MAX_CACHE_ENTRIES,
            max_bytes: DEFAULT_MAX_BYTES,
            first_slice: DEFAULT_FIRST_SLICE,
        }
    }
}

impl Budget {
    /// A deterministic budget of `steps` search steps, for the simulator.
    pub fn steps(steps: u64) -> Self {
        Budget { max_steps: Some(steps), ..Budget::default() }
    }

    /// A wall-clock budget, for the CLI only.
    pub fn wall_clock(limit: Duration) -> Self {
        Budget { deadline: Some(Deadline::after(limit)), ..Budget::default() }
    }
}

/// A point in wall-clock time after which a check gives up.
///
/// This module is the only place in the checker that reads the wall clock. It serves the
/// CLI's `--timeout-ms` and its per-file timings only; the simulator never builds a
/// `Deadline` or a [`Stopwatch`], so wall time never influences a simulated run.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Instant);

impl Deadline {
    /// The deadline `limit` from now.
    #[allow(clippy::disallowed_methods)] // CLI budget only; see the type's docs.
    pub fn after(limit: Duration) -> Deadline {
        Deadline(Instant::now() + limit)
    }

    /// Whether the deadline has passed.
    #[allow(clippy::disallowed_methods)] // CLI budget only; see the type's docs.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.0
    }
}

/// Measures elapsed wall-clock time, for the CLI's per-file timings only (see [`Deadline`]).
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts measuring.
    #[allow(clippy::disallowed_methods)] // CLI timings only; see `Deadline`.
    pub fn start() -> Stopwatch {
        Stopwatch(Instant::now())
    }

    /// Time since [`Stopwatch::start`].
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// How many steps between two reads of the wall clock (reading it costs more than a step);
/// a power of two, so the test is a mask.
const DEADLINE_STRIDE: u64 = 4096;

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
    pub(crate) fn tick(&mut self) -> Option<UnknownCause> {
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
    pub(crate) fn claim(&self, bytes: usize) -> bool {
        let before = self.claimed.fetch_add(bytes, Ordering::Relaxed);
        before.saturating_add(bytes) <= self.limit
    }

    pub(crate) fn give_back(&self, bytes: usize) {
        self.claimed.fetch_sub(bytes, Ordering::Relaxed);
    }
}
