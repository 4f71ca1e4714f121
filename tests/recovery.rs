//! Recovery from durable state: what a restarted core believes.

use quorate::core::{Core, DurableState, HardState};
use quorate::{Command, LogEntry, LogIndex, NodeId, RaftConfig, Term};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

fn entry(index: u64, term: u64) -> LogEntry {
    LogEntry::new(Term(term), LogIndex(index), Command::new(vec![index as u8]))
}

/// A torn write can keep entries of a newer term while losing the hard state written after
/// them. The node never voted in that term (votes are durable before they are sent), so it
/// adopts the term without a vote: no log entry is ever newer than the node's term.
#[test]
fn a_torn_hard_state_behind_newer_entries_adopts_the_log_term_without_a_vote() {
    let durable = DurableState {
        hard_state: HardState { term: Term(2), vote: Some(NodeId(1)), commit: LogIndex(1) },
        entries: vec![entry(1, 1), entry(2, 2), entry(3, 4)],
        ..DurableState::default()
    };
    let core = Core::new(RaftConfig::new(2, [1, 2, 3]), durable, ChaCha8Rng::seed_from_u64(1), 0).unwrap();
    assert_eq!(core.term(), Term(4));
    assert_eq!(core.vote(), None);
    assert_eq!(core.log().committed(), LogIndex(1));
}

#[test]
fn a_consistent_hard_state_is_recovered_exactly() {
    let durable = DurableState {
        hard_state: HardState { term: Term(5), vote: Some(NodeId(3)), commit: LogIndex(2) },
        entries: vec![entry(1, 1), entry(2, 2), entry(3, 4)],
        ..DurableState::default()
    };
    let core = Core::new(RaftConfig::new(2, [1, 2, 3]), durable, ChaCha8Rng::seed_from_u64(1), 0).unwrap();
    assert_eq!((core.term(), core.vote()), (Term(5), Some(NodeId(3))));
    assert_eq!(core.log().last_index(), LogIndex(3));
    assert_eq!(core.log().committed(), LogIndex(2));
}

#[test]
fn a_commit_index_beyond_the_log_is_clamped_and_an_inconsistent_log_is_an_error() {
    let durable = DurableState {
        hard_state: HardState { term: Term(2), vote: None, commit: LogIndex(9) },
        entries: vec![entry(1, 1), entry(2, 2)],
        ..DurableState::default()
    };
    let core = Core::new(RaftConfig::new(1, [1, 2, 3]), durable, ChaCha8Rng::seed_from_u64(1), 0).unwrap();
    assert_eq!(core.log().committed(), LogIndex(2));
    let gap = DurableState { entries: vec![entry(1, 1), entry(3, 1)], ..DurableState::default() };
    assert!(Core::new(RaftConfig::new(1, [1, 2, 3]), gap, ChaCha8Rng::seed_from_u64(1), 0).is_err());
}

/// A peer claiming an absurd term is dropped: adopting it would leave the node unable ever
/// to campaign again.
#[test]
fn a_message_with_an_absurd_term_is_dropped() {
    use quorate::core::MAX_TERM;
    use quorate::{Message, Payload, RequestVoteRequest};
    let mut core =
        Core::new(RaftConfig::new(2, [1, 2, 3]), DurableState::default(), ChaCha8Rng::seed_from_u64(1), 0)
            .unwrap();
    let request = |term: Term| Message {
        from: NodeId(1),
        to: NodeId(2),
        payload: Payload::RequestVote(RequestVoteRequest {
            term,
            candidate_id: NodeId(1),
            last_log_index: LogIndex(0),
            last_log_term: Term(0),
            pre_vote: false,
        }),
    };
    core.step_message(request(Term(MAX_TERM.0 + 1)));
    assert_eq!(core.term(), Term(0), "the absurd term was not adopted");
    assert_eq!(core.stats().dropped_invalid, 1);
    core.step_message(request(MAX_TERM));
    assert_eq!(core.term(), MAX_TERM, "the bound itself is still a valid term");
}
