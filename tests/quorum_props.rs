//! The quorum module against a deliberately naive version (STYLE.md 11): for plain and joint
//! configurations, the commit index, the vote tally and the quorum-active check, each
//! computed from one rule, "a set of nodes decides if it holds more than half of the
//! incoming voters and more than half of the outgoing ones (if any)", by brute force.

use std::collections::BTreeSet;

use proptest::prelude::*;
use quorate::quorum::{MajorityConfig, QuorumConfig, VoteResult};
use quorate::{LogIndex, NodeId};

/// Node ids 1..=7.
const NODES: u64 = 7;

/// A configuration: a non-empty incoming half, a possibly empty outgoing half, and learners,
/// as bit masks over the nodes.
fn arb_config() -> impl Strategy<Value = (u8, u8, u8)> {
    (1u8..(1 << NODES), 0u8..(1 << NODES), 0u8..(1 << NODES))
}

fn ids(mask: u8) -> Vec<NodeId> {
    (1..=NODES).filter(|i| mask & (1 << (i - 1)) != 0).map(NodeId).collect()
}

fn config((incoming, outgoing, learners): (u8, u8, u8)) -> QuorumConfig {
    QuorumConfig::joint(MajorityConfig::new(ids(incoming)), MajorityConfig::new(ids(outgoing)), ids(learners))
}

/// The naive rule: `set` decides for `half` if the half is empty or `set` holds more than
/// half of it.
fn decides_half(set: &BTreeSet<NodeId>, half: &[NodeId]) -> bool {
    half.is_empty() || 2 * half.iter().filter(|v| set.contains(v)).count() > half.len()
}

fn decides((incoming, outgoing, _): (u8, u8, u8), set: &BTreeSet<NodeId>) -> bool {
    decides_half(set, &ids(incoming)) && decides_half(set, &ids(outgoing))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_commit_index_is_the_highest_index_a_deciding_set_holds(
        masks in arb_config(),
        acked in proptest::collection::vec(0u64..12, NODES as usize),
    ) {
        let c = config(masks);
        let acked_by = |v: NodeId| LogIndex(acked[v.0 as usize - 1]);
        // Naive: the highest index such that the nodes holding it decide.
        let naive = acked
            .iter()
            .copied()
            .chain([0])
            .filter(|&i| {
                let holders: BTreeSet<NodeId> = (1..=NODES).map(NodeId).filter(|&v| acked_by(v).0 >= i).collect();
                decides(masks, &holders)
            })
            .max()
            .unwrap();
        prop_assert_eq!(c.committed_index(acked_by).0, naive);
    }

    #[test]
    fn an_election_is_won_by_deciding_grants_and_lost_when_no_deciding_set_is_left(
        masks in arb_config(),
        answers in proptest::collection::vec(0u8..3, NODES as usize),
    ) {
        let c = config(masks);
        // 0: no answer yet, 1: granted, 2: rejected. Learners' answers must not count.
        let vote = |v: NodeId| match answers[v.0 as usize - 1] {
            0 => None,
            a => Some(a == 1),
        };
        let granted: BTreeSet<NodeId> = (1..=NODES).map(NodeId).filter(|&v| vote(v) == Some(true)).collect();
        let possible: BTreeSet<NodeId> = (1..=NODES).map(NodeId).filter(|&v| vote(v) != Some(false)).collect();
        let naive = if decides(masks, &granted) {
            VoteResult::Won
        } else if !decides(masks, &possible) {
            VoteResult::Lost
        } else {
            VoteResult::Pending
        };
        prop_assert_eq!(c.vote_result(vote), naive);
    }

    #[test]
    fn a_quorum_is_active_when_the_active_nodes_decide(masks in arb_config(), active in 0u8..(1 << NODES)) {
        let c = config(masks);
        let active: BTreeSet<NodeId> = ids(active).into_iter().collect();
        prop_assert_eq!(c.has_quorum(|v| active.contains(&v)), decides(masks, &active));
    }

    #[test]
    fn voters_and_learners_partition_the_members(masks in arb_config()) {
        let c = config(masks);
        let (incoming, outgoing, learners) = masks;
        let voters: Vec<NodeId> = ids(incoming | outgoing);
        prop_assert_eq!(c.voters(), &voters[..]);
        prop_assert_eq!(c.learners(), &ids(learners & !(incoming | outgoing))[..]);
        for v in 1..=NODES {
            prop_assert_eq!(c.is_voter(NodeId(v)), voters.contains(&NodeId(v)));
        }
        let members: Vec<NodeId> = c.members().collect();
        prop_assert_eq!(members.len(), ids(incoming | outgoing | learners).len());
    }
}

#[test]
fn a_plain_configuration_is_a_majority() {
    let c = QuorumConfig::new([NodeId(3), NodeId(1), NodeId(2), NodeId(1)]);
    assert_eq!(c.voters(), &[NodeId(1), NodeId(2), NodeId(3)]);
    assert!(c.outgoing().voters().is_empty());
    assert_eq!(c.incoming().majority(), 2);
    let acked = |v: NodeId| LogIndex([0, 5, 9, 7][v.0 as usize]);
    assert_eq!(c.committed_index(acked), LogIndex(7));
    assert_eq!(c.vote_result(|v| (v.0 == 1).then_some(true)), VoteResult::Pending);
    assert_eq!(c.vote_result(|v| (v.0 <= 2).then_some(true)), VoteResult::Won);
    assert_eq!(c.vote_result(|v| (v.0 >= 2).then_some(false)), VoteResult::Lost);
}

#[test]
fn a_joint_configuration_needs_both_halves() {
    // Old {1,2,3}, new {3,4,5}: 1, 2 and 3 are a majority of the old only.
    let c = QuorumConfig::joint(
        MajorityConfig::new([3, 4, 5].map(NodeId)),
        MajorityConfig::new([1, 2, 3].map(NodeId)),
        [NodeId(6)],
    );
    assert!(!c.has_quorum(|v| v.0 <= 3));
    assert!(c.has_quorum(|v| v.0 <= 4));
    let acked = |v: NodeId| LogIndex([0, 9, 9, 9, 1, 1, 9][v.0 as usize]);
    assert_eq!(c.committed_index(acked), LogIndex(1));
    assert_eq!(c.vote_result(|v| (v.0 <= 3 || v.0 == 6).then_some(true)), VoteResult::Pending);
}
