//! Reads that do not go through the log (Raft dissertation §6.4): ReadIndex, lease reads and
//! follower reads, through the core's inputs and the pipeline's read states.

use quorate::testing::Cluster;
use quorate::{
    Input, LogIndex, NodeId, NodeState, Payload, RaftConfig, RaftError, ReadKind, ReadPath, ReadState,
};

fn leader_of_three(adjust: impl Fn(&mut RaftConfig)) -> Cluster {
    let mut c = Cluster::with_config(3, 11, adjust);
    // With lease reads on, a node grants no vote within an election timeout of starting.
    for id in 1..=3 {
        c.step(id, Input::Clock { now: 150 }).unwrap();
    }
    c.now = 150;
    c.elect(1);
    c.propose(1, b"a").unwrap();
    c.propose(1, b"b").unwrap();
    c.deliver_all();
    c
}

fn lease(config: &mut RaftConfig) {
    config.lease_reads = true;
}

fn read(c: &mut Cluster, id: u64, ctx: u64, kind: ReadKind) {
    c.step(id, Input::Read { ctx, kind }).expect("the read is taken");
}

/// The reads node `id` served, with how many normal entries it had applied at the time.
fn served(c: &Cluster, id: u64) -> Vec<(ReadState, usize)> {
    c.node(id).reads.clone()
}

fn leader_checks_in_flight(c: &Cluster) -> usize {
    c.in_flight.iter().filter(|m| matches!(m.payload, Payload::LeaderCheck(_))).count()
}

#[test]
fn a_read_index_is_confirmed_by_one_round_and_served_after_applying() {
    let mut c = leader_of_three(|_| {});
    let commit = c.node(1).core.log().committed();
    read(&mut c, 1, 7, ReadKind::ReadIndex);
    assert!(served(&c, 1).is_empty(), "not served before a quorum confirmed the leadership");
    assert_eq!(leader_checks_in_flight(&c), 2, "one round: a check to each peer");
    c.deliver_all();
    let reads = served(&c, 1);
    assert_eq!(reads.len(), 1);
    let (state, applied) = &reads[0];
    assert_eq!(state.ctx, 7);
    assert_eq!(state.result, Ok(commit));
    assert_eq!(state.path, ReadPath::ReadIndex);
    assert_eq!(*applied, 2, "both writes were applied when the read was served");
}

#[test]
fn reads_waiting_for_a_round_in_flight_share_the_next_one() {
    let mut c = leader_of_three(|_| {});
    read(&mut c, 1, 1, ReadKind::ReadIndex);
    assert_eq!(leader_checks_in_flight(&c), 2);
    // A round is in flight: these wait for the next, which goes once this one is confirmed.
    for ctx in 2..=20 {
        read(&mut c, 1, ctx, ReadKind::ReadIndex);
    }
    assert_eq!(leader_checks_in_flight(&c), 2, "no round per read");
    let mut checks = 0;
    while let Some(front) = c.in_flight.front() {
        checks += usize::from(matches!(front.payload, Payload::LeaderCheck(_)));
        c.deliver_one();
    }
    let rounds = checks / 2;
    let reads = served(&c, 1);
    assert_eq!(reads.len(), 20);
    assert!(reads.iter().all(|(s, _)| s.result.is_ok()));
    assert!(rounds <= 3, "20 reads took {rounds} rounds");
}

#[test]
fn a_new_leader_serves_no_read_index_until_its_term_has_committed() {
    // Without check-quorum, node 2's election is not held back by node 1's lease.
    let mut c = leader_of_three(|config| config.check_quorum = false);
    // Node 2 campaigns; its vote requests are answered, but its no-op not yet acknowledged.
    c.step(2, Input::Campaign).unwrap();
    while c.node(2).core.state() != NodeState::Leader {
        assert!(c.deliver_one(), "node 2 wins");
    }
    let noop = c.node(2).core.log().last_index();
    assert!(c.node(2).core.log().committed() < noop);
    read(&mut c, 2, 5, ReadKind::ReadIndex);
    assert_eq!(leader_checks_in_flight(&c), 0, "no round before the term commits");
    c.deliver_all();
    let reads = served(&c, 2);
    assert_eq!(reads.len(), 1);
    assert!(reads[0].0.result.clone().unwrap() >= noop, "the read index is at least the new term's entry");
}

#[test]
fn a_deposed_leader_never_serves_a_read_index() {
    let mut c = leader_of_three(|_| {});
    c.isolate(1);
    let new = (0..1000)
        .find_map(|_| {
            c.run_for(1);
            [2, 3].into_iter().find(|&n| c.node(n).core.state() == NodeState::Leader)
        })
        .expect("a new leader");
    c.propose(new, b"new").unwrap();
    c.deliver_all();
    // Node 1 still believes it leads; its round never reaches a quorum.
    assert_eq!(c.node(1).core.state(), NodeState::Leader);
    read(&mut c, 1, 9, ReadKind::ReadIndex);
    c.deliver_all();
    assert!(served(&c, 1).is_empty());
    c.heal();
    c.run_for(200);
    let reads = served(&c, 1);
    assert_eq!(reads.len(), 1);
    assert!(
        matches!(reads[0].0.result, Err(RaftError::NotLeader { .. }) | Err(RaftError::Timeout)),
        "the read failed: {:?}",
        reads[0].0
    );
}

#[test]
fn an_unconfirmed_read_times_out() {
    let mut c = leader_of_three(|config| config.check_quorum = false);
    c.isolate(1);
    read(&mut c, 1, 3, ReadKind::ReadIndex);
    c.run_for(quorate::core::read_timeout_ms(&RaftConfig::new(1, [1, 2, 3])) + 1);
    let reads = served(&c, 1);
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].0.result, Err(RaftError::Timeout));
}

#[test]
fn a_lease_read_needs_no_message_while_the_lease_holds() {
    let mut c = leader_of_three(lease);
    // A heartbeat's round gives the lease.
    c.run_for(60);
    assert!(c.node(1).core.lease_holds());
    let commit = c.node(1).core.log().committed();
    read(&mut c, 1, 4, ReadKind::Lease);
    assert_eq!(c.in_flight.len(), 0, "served without a message");
    let reads = served(&c, 1);
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].0.result, Ok(commit));
    assert_eq!(reads[0].0.path, ReadPath::Lease);
}

#[test]
fn the_lease_runs_out_when_the_leader_is_cut_off_before_anyone_else_can_lead() {
    let mut c = leader_of_three(lease);
    c.run_for(60);
    c.isolate(1);
    let mut lease_ended = None;
    let mut new_leader = None;
    for t in 0..1000 {
        c.run_for(1);
        if lease_ended.is_none() && !c.node(1).core.lease_holds() {
            lease_ended = Some(t);
        }
        if new_leader.is_none() && [2, 3].iter().any(|&n| c.node(n).core.state() == NodeState::Leader) {
            new_leader = Some(t);
        }
    }
    let (ended, elected) = (lease_ended.expect("the lease ran out"), new_leader.expect("a new leader"));
    assert!(ended < elected, "lease ended at {ended} ms, a new leader at {elected} ms");
    // Cut off, the old leader stepped down (check-quorum) and takes no read.
    let refused = c.step(1, Input::Read { ctx: 8, kind: ReadKind::Lease });
    assert_eq!(refused, Err(RaftError::NotLeader { leader_id: None }));
}

#[test]
fn a_follower_read_gets_its_index_from_the_leader() {
    let mut c = leader_of_three(|_| {});
    let commit = c.node(1).core.log().committed();
    read(&mut c, 3, 11, ReadKind::ReadIndex);
    c.deliver_all();
    let reads = served(&c, 3);
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].0.result, Ok(commit));
    assert_eq!(reads[0].0.path, ReadPath::Follower);
    assert_eq!(reads[0].1, 2, "the follower applied both writes before serving");
}

#[test]
fn a_follower_read_waits_until_the_follower_has_applied_the_index() {
    let mut c = leader_of_three(|_| {});
    c.cut_link(1, 3);
    c.propose(1, b"c").unwrap();
    c.deliver_all();
    let commit = c.node(1).core.log().committed();
    assert!(c.node(3).core.log().committed() < commit);
    c.heal();
    read(&mut c, 3, 12, ReadKind::ReadIndex);
    // The answer arrives before node 3 has the entry: it waits for it.
    while served(&c, 3).is_empty() {
        if !c.deliver_one() {
            c.run_for(1);
        }
    }
    let reads = served(&c, 3);
    assert_eq!(reads[0].0.result, Ok(commit));
    assert_eq!(reads[0].1, 3, "the follower applied all three writes before serving");
}

#[test]
fn a_node_without_a_leader_refuses_a_read() {
    let mut c = Cluster::new(3, 5);
    let err = c.step(2, Input::Read { ctx: 1, kind: ReadKind::ReadIndex });
    assert_eq!(err, Err(RaftError::NotLeader { leader_id: None }));
}

#[test]
fn a_single_voter_serves_reads_at_once() {
    let mut c = Cluster::new(1, 5);
    c.elect(1);
    c.propose(1, b"x").unwrap();
    read(&mut c, 1, 1, ReadKind::ReadIndex);
    let reads = served(&c, 1);
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].0.result, Ok(LogIndex(2)));
}

#[test]
fn a_leader_that_asked_for_a_transfer_serves_no_lease_read_in_its_term() {
    let mut c = leader_of_three(lease);
    c.run_for(60);
    c.isolate(2);
    c.step(1, Input::TransferLeadership { to: NodeId(2) }).unwrap();
    c.deliver_all();
    assert!(!c.node(1).core.lease_holds(), "no lease during a transfer");
    // The target was cut off and never campaigned: the transfer is given up.
    c.run_for(400);
    assert_eq!(c.node(1).core.leadership_transfer(), None);
    // A TimeoutNow may still be in some network: the lease stays forfeited for the term.
    c.heal();
    c.run_for(60);
    assert_eq!(c.node(1).core.state(), NodeState::Leader);
    assert!(!c.node(1).core.lease_holds());
}

#[test]
fn a_restarted_node_grants_no_vote_within_an_election_timeout_with_lease_reads_on() {
    let mut c = leader_of_three(lease);
    c.run_for(60);
    c.crash(3);
    c.restart(3);
    // Node 2 cannot hear the leader: it campaigns, without pre-vote.
    c.isolate(1);
    c.step(2, Input::Campaign).unwrap();
    c.deliver_all();
    assert_ne!(c.node(2).core.state(), NodeState::Leader, "node 3 counts on node 1's lease");
}

#[test]
fn lease_configurations_that_leave_no_lease_are_refused() {
    let mut config = RaftConfig::new(1, [1, 2, 3]);
    config.lease_reads = true;
    config.max_clock_drift_ms = 100;
    assert!(matches!(config.validate(), Err(RaftError::ConfigError(m)) if m.contains("max_clock_drift_ms")));
    config.max_clock_drift_ms = 50;
    assert!(config.validate().is_ok());
    config.check_quorum = false;
    assert!(matches!(config.validate(), Err(RaftError::ConfigError(m)) if m.contains("check_quorum")));
}

#[test]
fn follower_reads_asked_together_share_one_request() {
    let mut c = leader_of_three(|_| {});
    read(&mut c, 3, 1, ReadKind::ReadIndex);
    // One request in flight: these wait for the next, sent once it is answered.
    for ctx in 2..=20 {
        read(&mut c, 3, ctx, ReadKind::ReadIndex);
    }
    let mut requests = 0;
    while let Some(front) = c.in_flight.front() {
        requests += usize::from(matches!(front.payload, Payload::ReadIndex(_)));
        c.deliver_one();
    }
    let reads = served(&c, 3);
    assert_eq!(reads.len(), 20);
    assert!(reads.iter().all(|(s, _)| s.result.is_ok() && s.path == ReadPath::Follower));
    assert_eq!(requests, 2, "the first read's request, then one for the nineteen asked meanwhile");
}
