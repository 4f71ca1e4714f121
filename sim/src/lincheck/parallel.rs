//! The CLI's check: independent partitions searched on several threads at once, as
//! Porcupine does. Never used inside a simulated run, whose check must stay deterministic
//! and single-threaded ([`check`](super::check)).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::budget::{MemoryPool, Meter};
use super::{check, check_partition, sorted_partitions, Budget, CheckResult, History, Model, PartitionStats};
use super::{Stats, UnknownCause, Verdict};

/// What one partition's search gave, and what it cost.
type Done = (Result<(), Verdict>, PartitionStats, u64);

/// Like [`check`], with the partitions searched on up to `threads` threads.
///
/// The answer is the one [`check`] gives, except that an `Unknown` partition no longer
/// hides a failure in a larger one. Threads take partitions smallest first; when one
/// fails, the partitions after it in that order are abandoned, and the failure reported is
/// in the smallest failing partition, as with [`check`]. The memory bound
/// ([`Budget::max_bytes`]) holds for all the searches running at once together; the step
/// bound ([`Budget::max_steps`]) counts each thread's steps separately.
pub fn check_parallel<M>(
    model: &M,
    history: &History<M::Input, M::Output>,
    budget: &Budget,
    threads: usize,
) -> CheckResult
where
    M: Model + Sync,
    M::Input: Sync,
    M::Output: Sync,
{
    let partitions = sorted_partitions(model, history);
    if threads <= 1 || partitions.len() <= 1 {
        return check(model, history, budget);
    }
    let pool = MemoryPool::new(budget.max_bytes);
    let next = AtomicUsize::new(0);
    let first_failure = AtomicUsize::new(usize::MAX);
    let done: Mutex<Vec<Option<Done>>> = Mutex::new((0..partitions.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.min(partitions.len()) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(part) = partitions.get(index) else { break };
                let moot = || index > first_failure.load(Ordering::Relaxed);
                if moot() {
                    continue;
                }
                let mut meter = Meter::cancellable(budget, &moot);
                let (outcome, stats) = check_partition(model, history, part, &mut meter, budget, &pool);
                if matches!(outcome, Err(Verdict::NotLinearizable(_))) {
                    first_failure.fetch_min(index, Ordering::Relaxed);
                }
                done.lock().expect("no search panicked")[index] = Some((outcome, stats, meter.steps));
            });
        }
    });
    let done = done.into_inner().expect("no search panicked");
    combine(done.into_iter().flatten())
}

/// Folds the partitions' results, in the order of [`check`]: the first failure wins, then
/// the first unknown (other than a search cancelled by a failure).
fn combine(done: impl Iterator<Item = Done>) -> CheckResult {
    let mut stats = Stats::default();
    let (mut failure, mut unknown) = (None, None);
    for (outcome, part_stats, steps) in done {
        stats.absorb(part_stats);
        stats.steps += steps;
        match outcome {
            Ok(()) => {}
            Err(Verdict::Unknown(reason)) if reason.cause == UnknownCause::Cancelled => {}
            Err(verdict @ Verdict::Unknown(_)) => {
                unknown.get_or_insert(verdict);
            }
            Err(verdict) => {
                failure.get_or_insert(verdict);
            }
        }
    }
    let verdict = failure.or(unknown).unwrap_or(Verdict::Linearizable);
    CheckResult { verdict, stats }
}
