//! Quorum arithmetic, kept small and pure so it can be tested against a naive version
//! (STYLE.md 11).

use crate::types::LogIndex;

/// The highest index that a majority of `matched` (one value per voter) has reached: sort
/// descending and take the value at position `majority - 1`.
pub fn majority_index(matched: &mut [LogIndex]) -> LogIndex {
    assert!(!matched.is_empty(), "a configuration has at least one voter");
    let majority = matched.len() / 2 + 1;
    matched.sort_unstable_by(|a, b| b.cmp(a));
    matched[majority - 1]
}

/// The outcome of counting votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    /// A majority granted.
    Won,
    /// A majority can no longer be reached.
    Lost,
    /// Undecided yet.
    Pending,
}

/// Counts `granted` and `rejected` votes out of `voters`.
pub fn vote_result(voters: usize, granted: usize, rejected: usize) -> VoteResult {
    let majority = voters / 2 + 1;
    if granted >= majority {
        VoteResult::Won
    } else if voters - rejected < majority {
        VoteResult::Lost
    } else {
        VoteResult::Pending
    }
}
