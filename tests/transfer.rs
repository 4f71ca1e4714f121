//! Leadership transfer (Raft dissertation §3.10): the leader stops taking proposals, brings
//! the target up to date, tells it to campaign at once (TimeoutNow); voters grant that
//! election even inside a leader lease; a target that has not won within an election
//! timeout is given up and the leader takes proposals again.

use quorate::testing::Cluster;
use quorate::{Input, NodeId, NodeState, RaftError};

fn leader_of_three() -> Cluster {
    let mut c = Cluster::new(3, 7);
    c.elect(1);
    c.propose(1, b"a").unwrap();
    c.deliver_all();
    c
}

#[test]
fn leadership_moves_to_an_up_to_date_follower_inside_the_lease() {
    let mut c = leader_of_three();
    // CheckQuorum is on: the followers hear from the leader, so a plain election by node 2
    // would be refused (the lease); a transfer's is granted.
    c.step(1, Input::TransferLeadership { to: NodeId(2) }).unwrap();
    c.deliver_all();
    assert_eq!(c.node(2).core.state(), NodeState::Leader);
    assert_eq!(c.node(1).core.state(), NodeState::Follower);
    assert_eq!(c.node(1).core.leader(), Some(NodeId(2)));
    assert_eq!(c.node(2).core.term(), c.node(1).core.term());
    c.propose(2, b"b").unwrap();
    c.deliver_all();
    assert!(c.node(2).core.log().committed() >= c.node(2).core.log().last_index().prev());
}

#[test]
fn a_lagging_target_is_brought_up_to_date_first() {
    let mut c = leader_of_three();
    c.isolate(3);
    for i in 0..5u8 {
        c.propose(1, &[i]).unwrap();
    }
    c.deliver_all();
    c.heal();
    let before = c.node(3).core.log().last_index();
    c.step(1, Input::TransferLeadership { to: NodeId(3) }).unwrap();
    c.deliver_all();
    assert!(c.node(3).core.log().last_index() > before, "caught up before campaigning");
    assert_eq!(c.node(3).core.state(), NodeState::Leader);
}

#[test]
fn proposals_wait_during_a_transfer_and_resume_when_it_is_given_up() {
    let mut c = leader_of_three();
    c.isolate(2);
    c.step(1, Input::TransferLeadership { to: NodeId(2) }).unwrap();
    c.deliver_all();
    assert_eq!(c.node(1).core.leadership_transfer(), Some(NodeId(2)));
    assert_eq!(c.propose(1, b"x"), Err(RaftError::LeadershipTransferInProgress { to: NodeId(2) }));
    // The target never campaigns (cut off): after an election timeout, node 1 goes on.
    c.heal();
    c.isolate(2);
    c.run_for(400);
    assert_eq!(c.node(1).core.state(), NodeState::Leader);
    assert_eq!(c.node(1).core.leadership_transfer(), None);
    assert!(c.propose(1, b"y").is_ok());
}

#[test]
fn transfer_errors() {
    let mut c = leader_of_three();
    assert_eq!(
        c.step(1, Input::TransferLeadership { to: NodeId(9) }),
        Err(RaftError::NodeNotMember { node_id: NodeId(9) })
    );
    assert!(matches!(
        c.step(2, Input::TransferLeadership { to: NodeId(3) }),
        Err(RaftError::NotLeader { .. })
    ));
    assert_eq!(c.step(1, Input::TransferLeadership { to: NodeId(1) }), Ok(()), "to itself: nothing to do");
    assert_eq!(c.node(1).core.leadership_transfer(), None);
}

#[test]
fn a_removed_leader_hands_leadership_over_as_it_steps_down() {
    let mut c = leader_of_three();
    let change = quorate::MembershipChange::RemoveNode { node_id: NodeId(1) };
    c.step(1, Input::ChangeMembership { change, through_learner: false }).unwrap();
    // No timer runs: the joint configuration commits, C_new commits, and node 1 tells a
    // voter of C_new that holds its whole log to campaign at once.
    c.deliver_all();
    assert_eq!(c.node(1).core.state(), NodeState::Follower);
    let leaders: Vec<u64> =
        [2, 3].into_iter().filter(|&n| c.node(n).core.state() == NodeState::Leader).collect();
    assert_eq!(leaders.len(), 1, "a new leader without waiting for an election timeout");
    assert!(c.node(leaders[0]).core.term() > c.node(1).core.log().term(quorate::LogIndex(1)).unwrap());
    c.propose(leaders[0], b"after").unwrap();
    c.deliver_all();
    assert_eq!(c.node(2).applied.last().map(|e| e.command.data.to_vec()), Some(b"after".to_vec()));
}
