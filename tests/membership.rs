//! Membership changes through the seed's API and in the core: configuration entries in force
//! when appended and rolled back when truncated, joint consensus, learners promoted once
//! caught up, removing the leader, the errors, and defect 3 of the seed (quorums that ignore
//! the configuration in the log).

// The seed's `has_quorum` takes a std HashSet.
#![allow(clippy::disallowed_types)]

mod common;

use common::*;
use quorate::clock::ManualClock;
use quorate::{
    Command, Configuration, EntryKind, LogEntry, LogIndex, MemPersistence, MembershipChange, NodeId,
    NodeState, RaftConfig, RaftError, RaftNode, Term,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

/// Nodes wired by hand, RPC style, sharing one manual clock.
struct Net {
    nodes: BTreeMap<u64, RaftNode>,
    clock: Arc<ManualClock>,
    /// Nodes whose messages are lost, both ways.
    cut: BTreeSet<u64>,
}

impl Net {
    /// Voters `1..=n`, node 1 elected.
    fn new(n: u64) -> Self {
        let clock = Arc::new(ManualClock::new(0));
        let mut net = Net { nodes: BTreeMap::new(), clock, cut: BTreeSet::new() };
        for id in 1..=n {
            net.boot(RaftConfig::new(id, 1..=n));
        }
        let requests = net.node(1).start_election();
        for (peer, req) in (2..=n).zip(requests) {
            let resp = net.node(peer).handle_request_vote(req);
            net.node(1).handle_vote_response(NodeId(peer), resp);
        }
        assert!(net.node(1).is_leader());
        net.settle(1);
        net
    }

    fn boot(&mut self, config: RaftConfig) {
        let id = config.node_id.0;
        let node = RaftNode::with_clock(config, Arc::new(MemPersistence::new()), self.clock.clone()).unwrap();
        self.nodes.insert(id, node);
    }

    /// A new node that joins the cluster of `voters`.
    fn boot_joining(&mut self, id: u64, voters: &[u64]) {
        let mut config = RaftConfig::new(id, voters.iter().copied());
        config.joining = true;
        self.boot(config);
    }

    fn node(&self, id: u64) -> &RaftNode {
        &self.nodes[&id]
    }

    fn reachable(&self, id: u64) -> bool {
        self.nodes.contains_key(&id) && !self.cut.contains(&id)
    }

    /// Replication and heartbeat rounds from `leader` until two rounds in a row send no
    /// entries and change nothing anywhere.
    fn settle(&self, leader: u64) {
        let mut before = self.fingerprint();
        let mut quiet = 0;
        for _ in 0..50 {
            let mut sent = 0;
            let requests = self.node(leader).replicate_to_followers();
            let heartbeats = self.node(leader).create_heartbeats();
            for (peer, req) in requests.into_iter().chain(heartbeats) {
                if !self.reachable(peer.0) || self.cut.contains(&leader) {
                    continue;
                }
                sent += usize::from(!req.entries.is_empty());
                let resp = self.node(peer.0).handle_append_entries(req);
                let _ = self.node(leader).handle_replication_response(peer, resp);
            }
            let after = self.fingerprint();
            // Answers to heartbeats may queue requests for the next round: two quiet rounds.
            quiet = if sent == 0 && after == before { quiet + 1 } else { 0 };
            if quiet == 2 {
                return;
            }
            before = after;
        }
        panic!("replication does not settle");
    }

    /// Every node's commit and last index, and the leader's configuration version.
    fn fingerprint(&self) -> Vec<u64> {
        self.nodes
            .values()
            .flat_map(|n| [n.commit_index().0, n.last_log_index().0, n.membership_version()])
            .collect()
    }

    fn commit(&self, id: u64) -> LogIndex {
        self.node(id).commit_index()
    }
}

fn ids(v: &[u64]) -> Vec<NodeId> {
    v.iter().map(|&i| NodeId(i)).collect()
}

fn members(node: &RaftNode) -> Vec<NodeId> {
    node.cluster_members().into_iter().map(|(id, _)| id).collect()
}

#[test]
fn propose_membership_change_goes_through_joint_consensus() {
    let net = Net::new(3);
    let leader = net.node(1);
    assert_eq!(members(leader), ids(&[1, 2, 3]));
    assert_eq!(leader.membership_version(), 0, "the bootstrap configuration");
    // Node 4 does not exist yet: a joint configuration of {1,2,3} and {1,2,3,4} still
    // commits with a majority of each half (3 of 3 and 3 of 4).
    let add = MembershipChange::AddNode { node_id: NodeId(4), address: "10.0.0.4:7000".into() };
    leader.propose_membership_change(add.clone()).unwrap();
    assert!(leader.is_in_joint_consensus(), "in force as soon as appended");
    let joint_version = leader.membership_version();
    assert!(joint_version > 0);
    assert_eq!(leader.propose_membership_change(add), Err(RaftError::MembershipChangeInProgress));
    assert_eq!(
        leader.commit_membership_change(),
        Err(RaftError::MembershipChangeInProgress),
        "C_old,new has not committed yet"
    );
    net.settle(1);
    // C_old,new committed; the leader appended C_new on its own, and it committed too.
    assert!(!leader.is_in_joint_consensus());
    assert!(leader.membership_version() > joint_version);
    assert_eq!(leader.commit_membership_change(), Ok(()), "nothing left to do");
    assert_eq!(members(leader), ids(&[1, 2, 3, 4]));
    assert!(leader.cluster_members().contains(&(NodeId(4), "10.0.0.4:7000".to_string())));
    for id in [2, 3] {
        assert_eq!(members(net.node(id)), ids(&[1, 2, 3, 4]), "node {id} follows the log's configuration");
        assert_eq!(net.node(id).membership_version(), leader.membership_version());
    }
}

#[test]
fn defect_3_quorums_follow_the_configuration_in_the_log() {
    // Grow {1,2,3} to {1,2,3,4,5} (nodes 4 and 5 never run): commitment then needs 3 of 5.
    let net = Net::new(3);
    for id in [4, 5] {
        let add = MembershipChange::AddNode { node_id: NodeId(id), address: String::new() };
        net.node(1).propose_membership_change(add).unwrap();
        net.settle(1);
    }
    assert_eq!(members(net.node(1)), ids(&[1, 2, 3, 4, 5]));
    let quorum: HashSet<NodeId> = ids(&[1, 2]).into_iter().collect();
    assert!(!net.node(1).has_quorum(&quorum), "2 of 5 is no quorum");
    let quorum: HashSet<NodeId> = ids(&[1, 2, 4]).into_iter().collect();
    assert!(net.node(1).has_quorum(&quorum));
    // With node 3 cut off, only 1 and 2 hold a new entry: under the static peer list {1,2,3}
    // that was a majority; under the log's configuration it is not.
    let mut net = net;
    net.cut.insert(3);
    let index = net.node(1).propose(Command::new(b"x".to_vec())).unwrap();
    net.settle(1);
    assert!(net.commit(1) < index, "committed with 2 of 5 voters");
    net.cut.clear();
    net.settle(1);
    assert!(net.commit(1) >= index, "3 of 5 commit it");
}

#[test]
fn add_node_joins_as_a_learner_and_is_promoted_once_caught_up() {
    let mut net = Net::new(3);
    for i in 0..20u8 {
        net.node(1).propose(Command::new(vec![i])).unwrap();
    }
    net.settle(1);
    net.boot_joining(4, &[1, 2, 3]);
    assert!(!net.node(4).is_stepping_down(), "a joining node is not leaving");
    net.node(1).add_node(NodeId(4), "n4".into()).unwrap();
    assert!(!net.node(1).is_in_joint_consensus(), "a learner first");
    assert_eq!(
        net.node(1).add_node(NodeId(4), "n4".into()),
        Err(RaftError::MembershipChangeInProgress),
        "its entry has not committed"
    );
    net.settle(1);
    // Node 4 caught up as a learner, was promoted through a joint configuration, and the
    // leader moved on to C_new, all within the rounds above.
    assert!(!net.node(1).is_in_joint_consensus());
    assert_eq!(members(net.node(1)), ids(&[1, 2, 3, 4]));
    assert_eq!(net.node(4).commit_index(), net.commit(1));
    assert_eq!(members(net.node(4)), ids(&[1, 2, 3, 4]));
    assert_eq!(
        net.node(1).add_node(NodeId(4), "n4".into()),
        Err(RaftError::NodeAlreadyMember { node_id: NodeId(4) })
    );
    // The new voter counts: with nodes 2 and 3 cut off, 1 and 4 are no majority of 4.
    net.cut.extend([2, 3]);
    let index = net.node(1).propose(Command::new(b"y".to_vec())).unwrap();
    net.settle(1);
    assert!(net.commit(1) < index);
}

#[test]
fn a_learner_that_does_not_catch_up_never_stalls_commitment() {
    let mut net = Net::new(3);
    net.boot_joining(4, &[1, 2, 3]);
    net.cut.insert(4);
    net.node(1).add_node(NodeId(4), String::new()).unwrap();
    net.settle(1);
    let index = net.node(1).propose(Command::new(b"z".to_vec())).unwrap();
    net.settle(1);
    assert!(net.commit(1) >= index, "a learner counts towards no quorum");
    assert!(!net.node(1).is_in_joint_consensus(), "not promoted: it has not caught up");
    assert!(net.node(1).cluster_members().iter().any(|(id, _)| *id == NodeId(4)));
    // Removing a learner takes one step.
    net.node(1).remove_node(NodeId(4)).unwrap();
    assert!(!net.node(1).is_in_joint_consensus());
    net.settle(1);
    assert_eq!(members(net.node(1)), ids(&[1, 2, 3]));
}

#[test]
fn a_removed_leader_leads_until_the_change_commits_then_steps_down() {
    let net = Net::new(3);
    net.node(1).remove_node(NodeId(1)).unwrap();
    assert!(net.node(1).is_stepping_down());
    assert!(net.node(1).is_leader(), "it still leads the joint configuration");
    net.settle(1);
    assert_eq!(net.node(1).state(), NodeState::Follower, "stepped down once C_new committed");
    assert!(net.node(1).is_stepping_down());
    assert_eq!(members(net.node(2)), ids(&[2, 3]));
    // It never campaigns again: it is no voter.
    assert!(net.node(1).start_election().is_empty());
    assert_eq!(net.node(1).state(), NodeState::Follower);
    // The others elect a leader among themselves and go on.
    net.clock.advance(1_000);
    let requests = net.node(2).start_election();
    assert_eq!(requests.len(), 1, "only node 3 is asked");
    let resp = net.node(3).handle_request_vote(requests[0].clone());
    assert!(net.node(2).handle_vote_response(NodeId(3), resp));
    net.settle(2);
    let index = net.node(2).propose(Command::new(b"after".to_vec())).unwrap();
    net.settle(2);
    assert!(net.commit(2) >= index);
}

#[test]
fn membership_errors() {
    let net = Net::new(3);
    let follower = net.node(2);
    let add = MembershipChange::AddNode { node_id: NodeId(9), address: String::new() };
    assert!(matches!(follower.propose_membership_change(add.clone()), Err(RaftError::NotLeader { .. })));
    assert!(matches!(follower.add_node(NodeId(9), String::new()), Err(RaftError::NotLeader { .. })));
    let leader = net.node(1);
    assert_eq!(
        leader.propose_membership_change(MembershipChange::AddNode {
            node_id: NodeId(2),
            address: String::new()
        }),
        Err(RaftError::NodeAlreadyMember { node_id: NodeId(2) })
    );
    assert_eq!(leader.remove_node(NodeId(9)), Err(RaftError::NodeNotMember { node_id: NodeId(9) }));
    assert_eq!(leader.commit_membership_change(), Ok(()), "no joint configuration: nothing to do");
}

#[test]
fn a_new_leader_changes_nothing_before_an_entry_of_its_term_commits() {
    let net = Net::new(3);
    // Node 2 takes over; until its no-op commits, a change could race one of node 1's.
    net.clock.advance(1_000);
    let requests = net.node(2).start_election();
    for (peer, req) in [1u64, 3].into_iter().zip(requests) {
        let resp = net.node(peer).handle_request_vote(req);
        net.node(2).handle_vote_response(NodeId(peer), resp);
    }
    assert!(net.node(2).is_leader());
    let add = MembershipChange::AddNode { node_id: NodeId(4), address: String::new() };
    assert_eq!(
        net.node(2).propose_membership_change(add.clone()),
        Err(RaftError::MembershipChangeInProgress)
    );
    net.settle(2);
    net.node(2).propose_membership_change(add).unwrap();
}

#[test]
fn has_quorum_in_a_joint_configuration_needs_both_halves() {
    let net = Net::new(3);
    net.node(1).propose_membership_change(MembershipChange::RemoveNode { node_id: NodeId(3) }).unwrap();
    net.node(1)
        .propose_membership_change(MembershipChange::AddNode { node_id: NodeId(5), address: String::new() })
        .unwrap_err();
    assert!(net.node(1).is_in_joint_consensus());
    // C_old = {1,2,3}, C_new = {1,2}.
    let set = |v: &[u64]| -> HashSet<NodeId> { ids(v).into_iter().collect() };
    assert!(net.node(1).has_quorum(&set(&[1, 2])));
    assert!(!net.node(1).has_quorum(&set(&[1, 3])), "no majority of C_new");
    assert!(!net.node(1).has_quorum(&set(&[2])));
}

/// A configuration entry as a leader of `term` would append it at `index`.
fn config_entry(index: u64, term: u64, voters: &[u64]) -> LogEntry {
    let config = Configuration::new(ids(voters));
    LogEntry {
        term: Term(term),
        index: LogIndex(index),
        kind: EntryKind::Config,
        command: Command::from_bytes(config.encode()),
    }
}

#[test]
fn a_configuration_is_in_force_when_appended_and_rolled_back_when_truncated() {
    let mut follower = core(2, 3, &[1], 1);
    deliver(&mut follower, 1, append(1, 1, (1, 1), vec![config_entry(2, 1, &[1, 2, 3, 4])], 1));
    assert_eq!(follower.voters(), ids(&[1, 2, 3, 4]).as_slice(), "in force before it commits");
    assert_eq!(follower.configuration_index(), LogIndex(2));
    // A leader of term 2 overwrites index 2: the configuration entry is gone, and so is
    // its configuration.
    deliver(&mut follower, 3, append(2, 3, (1, 1), vec![entry(2, 2)], 1));
    assert_eq!(follower.voters(), ids(&[1, 2, 3]).as_slice(), "rolled back");
    assert_eq!(follower.configuration_index(), LogIndex(0));
}

#[test]
fn a_configuration_entry_that_does_not_decode_is_refused() {
    let mut follower = core(2, 3, &[1], 1);
    let bad = LogEntry {
        term: Term(1),
        index: LogIndex(2),
        kind: EntryKind::Config,
        command: Command::new(b"not a configuration".to_vec()),
    };
    deliver(&mut follower, 1, append(1, 1, (1, 1), vec![bad], 1));
    assert_eq!(follower.log().last_index(), LogIndex(1), "dropped as malformed");
    assert_eq!(follower.stats().dropped_invalid, 1);
}

#[test]
fn the_configuration_is_recovered_from_the_log_and_carried_in_snapshots() {
    let disk = Arc::new(MemPersistence::new());
    let leader = RaftNode::with_persistence(RaftConfig::new(1, [1]), disk.clone()).unwrap();
    leader.start_election();
    leader
        .propose_membership_change(MembershipChange::AddNode { node_id: NodeId(2), address: "n2".into() })
        .unwrap();
    assert!(leader.is_in_joint_consensus(), "C_old,new = {{1}} + {{1,2}}: node 2 must answer");
    drop(leader);
    let restarted = RaftNode::with_persistence(RaftConfig::new(1, [1]), disk.clone()).unwrap();
    assert!(restarted.is_in_joint_consensus(), "recovered from the log");
    assert_eq!(members(&restarted), ids(&[1, 2]));
    // A snapshot carries it.
    let mut config = RaftConfig::new(1, [1]);
    config.snapshot_threshold = 0;
    let single = RaftNode::with_persistence(config.clone(), Arc::new(MemPersistence::new())).unwrap();
    single.start_election();
    single.add_node(NodeId(7), "n7".into()).unwrap();
    for i in 0..3u8 {
        single.propose(Command::new(vec![i])).unwrap();
    }
    assert!(single.maybe_create_snapshot(Vec::new()).unwrap());
    let snapshot = single.latest_snapshot().unwrap();
    assert_eq!(snapshot.meta.config.learners, [NodeId(7)].into_iter().collect());
    assert_eq!(snapshot.meta.config.addresses.get(&NodeId(7)).map(String::as_str), Some("n7"));
}

#[test]
fn every_original_member_is_replaced_and_the_cluster_goes_on() {
    let mut net = Net::new(3);
    for id in [4u64, 5, 6] {
        net.boot_joining(id, &[1, 2, 3]);
        net.node(1).add_node(NodeId(id), format!("n{id}")).unwrap();
        net.settle(1);
        assert!(members(net.node(1)).contains(&NodeId(id)), "{id} added");
    }
    assert_eq!(members(net.node(1)), ids(&[1, 2, 3, 4, 5, 6]));
    for id in [2u64, 3] {
        net.node(1).remove_node(NodeId(id)).unwrap();
        net.settle(1);
    }
    // The leader removes itself last, and steps down once that commits.
    net.node(1).remove_node(NodeId(1)).unwrap();
    net.settle(1);
    assert_eq!(net.node(1).state(), NodeState::Follower);
    assert_eq!(members(net.node(4)), ids(&[4, 5, 6]));
    // The new members elect a leader among themselves and commit.
    net.clock.advance(1_000);
    let requests = net.node(4).start_election();
    assert_eq!(requests.len(), 2, "nodes 5 and 6 are asked");
    for (peer, req) in [5u64, 6].into_iter().zip(requests) {
        let resp = net.node(peer).handle_request_vote(req);
        net.node(4).handle_vote_response(NodeId(peer), resp);
    }
    assert!(net.node(4).is_leader());
    net.settle(4);
    let index = net.node(4).propose(Command::new(b"new cluster".to_vec())).unwrap();
    net.settle(4);
    assert!(net.commit(4) >= index);
    assert!(net.commit(6) >= index);
}
