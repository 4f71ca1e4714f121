//! Fencing tokens (the seed's `issue_fencing_token` and `validate_fencing_token`), and
//! defect 9 of the seed: the term cut to 32 bits, the sequence never checked.

use quorate::{
    FencingToken, HardState, MemPersistence, RaftConfig, RaftError, RaftNode, RaftPersistence, Term,
};
use std::sync::Arc;

/// A single-voter node recovered in term `term`, then elected (term + 1).
fn leader_after(term: u64) -> RaftNode {
    let disk = Arc::new(MemPersistence::new());
    disk.save_hard_state(&HardState { term: Term(term), vote: None, commit: quorate::LogIndex(0) }).unwrap();
    let node = RaftNode::with_persistence(RaftConfig::new(1, [1]), disk).unwrap();
    node.start_election();
    assert!(node.is_leader());
    node
}

#[test]
fn tokens_grow_within_a_term_and_only_a_leader_issues_them() {
    let leader = leader_after(0);
    let a = leader.issue_fencing_token().unwrap();
    let b = leader.issue_fencing_token().unwrap();
    assert_eq!((a.term, a.sequence, b.sequence), (Term(1), 1, 2));
    assert!(b > a);
    assert_eq!(leader.validate_fencing_token(&a), Ok(()));
    assert_eq!(leader.validate_fencing_token(&b), Ok(()));
    let follower = RaftNode::new(RaftConfig::new(2, [1, 2, 3])).unwrap();
    assert_eq!(follower.issue_fencing_token(), None, "not the leader");
}

#[test]
fn defect_9_the_whole_term_is_kept_and_the_sequence_is_checked() {
    // A leader past term 2^32: its tokens must outrank every token of earlier terms, and
    // a token of its low 32 bits (what the original kept) is from an earlier term.
    let term = (1u64 << 32) + 5;
    let leader = leader_after(term - 1);
    let token = leader.issue_fencing_token().unwrap();
    assert_eq!(token.term, Term(term), "all 64 bits of the term");
    let old = FencingToken { term: Term(7), sequence: 1_000 };
    assert!(token > old, "a later leader's token outranks an earlier one's, whatever the sequence");
    let truncated = FencingToken { term: Term(term & 0xffff_ffff), sequence: token.sequence };
    assert_eq!(leader.validate_fencing_token(&truncated), Err(RaftError::StaleTerm));
    // The sequence: one above any issued in the term was never issued.
    let forged = FencingToken { term: Term(term), sequence: token.sequence + 1 };
    assert!(matches!(leader.validate_fencing_token(&forged), Err(RaftError::InvalidFencingToken(_))));
    let zero = FencingToken { term: Term(term), sequence: 0 };
    assert!(matches!(leader.validate_fencing_token(&zero), Err(RaftError::InvalidFencingToken(_))));
}

#[test]
fn a_token_from_an_earlier_term_is_stale_and_one_from_a_later_term_invalid() {
    let leader = leader_after(3);
    let token = leader.issue_fencing_token().unwrap();
    assert_eq!(token.term, Term(4));
    assert_eq!(
        leader.validate_fencing_token(&FencingToken { term: Term(3), sequence: 1 }),
        Err(RaftError::StaleTerm)
    );
    assert!(matches!(
        leader.validate_fencing_token(&FencingToken { term: Term(5), sequence: 1 }),
        Err(RaftError::InvalidFencingToken(_))
    ));
    // A later leader's tokens outrank the earlier one's, which are stale there.
    let later = leader_after(4);
    let newer = later.issue_fencing_token().unwrap();
    assert!(newer > token);
    assert_eq!(later.validate_fencing_token(&token), Err(RaftError::StaleTerm));
}
