//! End-to-end behaviour of small clusters driven through the core's contract.

use quorate::testing::Cluster;
use quorate::{LogIndex, NodeId, NodeState};

#[test]
fn three_nodes_elect_a_leader_by_timeout_and_commit() {
    let mut c = Cluster::new(3, 7);
    let leader = c.run_until_leader(2_000).expect("a leader is elected");
    for i in 0..10u8 {
        c.propose(leader.0, &[i]).unwrap();
    }
    c.deliver_all();
    c.run_for(100);
    for id in 1..=3 {
        let node = c.node(id);
        assert_eq!(node.applied.len(), 10, "node {id} applied everything");
        assert_eq!(node.core.log().committed(), LogIndex(11), "10 entries plus the no-op");
    }
}

#[test]
fn single_node_commits_alone() {
    let mut c = Cluster::new(1, 1);
    let leader = c.run_until_leader(1_000).expect("a single voter elects itself");
    assert_eq!(leader, NodeId(1));
    c.propose(1, b"x").unwrap();
    assert_eq!(c.node(1).applied.len(), 1);
}

#[test]
fn two_and_four_node_clusters_work() {
    for n in [2, 4, 6] {
        let mut c = Cluster::new(n, 3);
        let leader = c.run_until_leader(3_000).expect("a leader is elected");
        c.propose(leader.0, b"v").unwrap();
        c.run_for(100);
        for id in 1..=n {
            assert_eq!(c.node(id).applied.len(), 1, "n={n} node {id}");
        }
        assert_eq!(c.node(leader.0).core.state(), NodeState::Leader);
    }
}
