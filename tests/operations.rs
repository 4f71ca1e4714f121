//! The seed's operations side of `RaftNode`, through the public API only: alerts and their
//! manager, the failover coordinator and `trigger_failover_election`, the hot-reloadable
//! `dynamic_config` field, and the placement scheduler. Three nodes wired by hand on one
//! manual clock, as a user's RPC layer would.

use quorate::alerts::{Alert, AlertEvent, AlertManager};
use quorate::clock::ManualClock;
use quorate::placement::{PlacementEntry, PlacementMove, PlacementScheduler, PlacementView};
use quorate::{
    AppendEntriesRequest, Command, DynamicConfig, LogEntry, MemPersistence, NodeId, NodeState, RaftConfig,
    RaftNode, RaftResult, StateMachine, Term,
};
use std::sync::{Arc, Mutex, OnceLock, Weak};

struct Trio {
    nodes: Vec<Arc<RaftNode>>,
    clock: Arc<ManualClock>,
    alerts: Arc<AlertManager>,
}

impl Trio {
    /// Three nodes; node 1 reports its alerts to `alerts` (a manager without a handler, or
    /// the one given).
    fn new(adjust: impl Fn(&mut RaftConfig), alerts: Option<Arc<AlertManager>>) -> Self {
        let clock = Arc::new(ManualClock::new(0));
        let alerts = alerts.unwrap_or_else(|| Arc::new(AlertManager::new(64)));
        let nodes = (1..=3)
            .map(|id| {
                let mut config = RaftConfig::new(id, [1, 2, 3]);
                adjust(&mut config);
                let mut node =
                    RaftNode::with_clock(config, Arc::new(MemPersistence::new()), clock.clone()).unwrap();
                if id == 1 {
                    node.set_alert_manager(alerts.clone());
                }
                Arc::new(node)
            })
            .collect();
        Trio { nodes, clock, alerts }
    }

    fn node(&self, id: u64) -> &Arc<RaftNode> {
        &self.nodes[(id - 1) as usize]
    }

    fn elect(&self, id: u64) {
        let requests = self.node(id).start_election();
        let peers: Vec<u64> = (1..=3).filter(|&p| p != id).collect();
        for (peer, req) in peers.into_iter().zip(requests) {
            let resp = self.node(peer).handle_request_vote(req);
            self.node(id).handle_vote_response(NodeId(peer), resp);
        }
        assert!(self.node(id).is_leader());
    }

    /// Sends `requests` from `leader` to the peers in `to` only, and hands their answers back.
    fn exchange_with(&self, leader: u64, requests: Vec<(NodeId, AppendEntriesRequest)>, to: &[u64]) {
        for (peer, req) in requests {
            if to.contains(&peer.0) {
                let resp = self.node(peer.0).handle_append_entries(req);
                let _ = self.node(leader).handle_replication_response(peer, resp);
            }
        }
    }

    /// Every `step` ms up to `ms`, a replication round and a heartbeat round from `leader`,
    /// answered by `to` only.
    fn heartbeats_for(&self, leader: u64, ms: u64, step: u64, to: &[u64]) {
        let mut elapsed = 0;
        while elapsed < ms {
            self.clock.advance(step);
            elapsed += step;
            self.exchange_with(leader, self.node(leader).replicate_to_followers(), to);
            self.exchange_with(leader, self.node(leader).create_heartbeats(), to);
        }
    }

    fn events(&self) -> Vec<AlertEvent> {
        self.alerts.drain().into_iter().map(|a| a.event).collect()
    }
}

#[test]
fn alerts_name_the_new_leader_a_silent_member_and_its_recovery() {
    let trio = Trio::new(|_| {}, None);
    trio.elect(1);
    assert_eq!(
        trio.events(),
        vec![AlertEvent::LeaderChanged { term: Term(1), leader: NodeId(1), previous: None }]
    );
    // Node 3 stops answering; node 2 answers every heartbeat. After the detection window
    // (1 s by default), node 3 is reported failed, and the quorum (1 and 2) is not lost.
    trio.heartbeats_for(1, 1_100, 50, &[2]);
    let events = trio.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(events[0], AlertEvent::NodeFailed { node: NodeId(3), silent_ms } if silent_ms >= 1_000));
    // Its next answer recovers it.
    trio.heartbeats_for(1, 50, 50, &[2, 3]);
    let events = trio.events();
    assert!(
        matches!(events[..], [AlertEvent::NodeRecovered { node: NodeId(3), silent_ms }] if silent_ms >= 1_000)
    );
}

#[test]
fn quorum_lost_when_no_quorum_answers_within_the_window() {
    let trio = Trio::new(|_| {}, None);
    trio.elect(1);
    trio.events();
    trio.heartbeats_for(1, 1_000, 50, &[]);
    let events = trio.events();
    assert!(events.contains(&AlertEvent::QuorumLost {
        term: Term(1),
        heard_from: vec![NodeId(1)],
        window_ms: 1_000
    }));
    let failed = events.iter().filter(|e| matches!(e, AlertEvent::NodeFailed { .. })).count();
    assert_eq!(failed, 2, "{events:?}");
    // Reported once, not at every call while it lasts.
    trio.heartbeats_for(1, 500, 50, &[]);
    assert_eq!(trio.events(), vec![]);
}

#[test]
fn slow_replication_is_reported_once_a_member_lags_beyond_the_threshold() {
    let trio = Trio::new(|c| c.slow_replication_entries = 5, None);
    trio.elect(1);
    // Both answer once: until a member answered, the leader does not know where its log
    // stands, and judges no lag.
    trio.heartbeats_for(1, 50, 50, &[2, 3]);
    trio.events();
    for k in 0..10u8 {
        trio.node(1).propose(Command::new(vec![k])).unwrap();
    }
    // Only node 2 gets the entries: they commit, and node 3 is behind the commit index.
    trio.exchange_with(1, trio.node(1).replicate_to_followers(), &[2]);
    trio.exchange_with(1, trio.node(1).replicate_to_followers(), &[2]);
    // The leader judges lag as its clock moves (at its next tick).
    trio.heartbeats_for(1, 10, 10, &[2]);
    let slow: Vec<AlertEvent> =
        trio.events().into_iter().filter(|e| matches!(e, AlertEvent::SlowReplication { .. })).collect();
    assert_eq!(slow.len(), 1, "{slow:?}");
    let AlertEvent::SlowReplication { node, match_index, commit_index } = &slow[0] else { unreachable!() };
    assert_eq!(*node, NodeId(3));
    assert!(commit_index.0 - match_index.0 > 5);
    assert!(*commit_index <= trio.node(1).commit_index());
}

#[test]
fn a_full_alert_queue_drops_the_oldest_and_counts_the_drop() {
    let manager = AlertManager::new(2);
    for k in 1..=3 {
        manager.push(Alert {
            node: NodeId(1),
            at_ms: k,
            event: AlertEvent::NodeFailed { node: NodeId(k), silent_ms: 0 },
        });
    }
    let kept: Vec<u64> = manager.drain().iter().map(|a| a.at_ms).collect();
    assert_eq!(kept, vec![2, 3]);
    assert_eq!(manager.dropped(), 1);
}

/// What the handler saw: the event, the node's term then, and the index of its proposal.
type Seen = (AlertEvent, Term, Option<u64>);

/// A handler that calls back into the node it is attached to: it reads the node's state and
/// proposes a command when told this node leads. With callbacks under the node's locks (the
/// seed's defect 10) this would deadlock; here it runs after the locks are released.
#[test]
fn an_alert_handler_may_call_back_into_the_node() {
    let node_slot: Arc<OnceLock<Weak<RaftNode>>> = Arc::new(OnceLock::new());
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let manager = {
        let (node_slot, seen) = (node_slot.clone(), seen.clone());
        AlertManager::with_handler(16, move |alert| {
            let node = node_slot.get().and_then(Weak::upgrade).expect("the node is alive");
            let term = node.current_term();
            let proposed = match alert.event {
                AlertEvent::LeaderChanged { leader, .. } if leader == node.node_id() => {
                    Some(node.propose(Command::new(b"from the handler".to_vec())).unwrap().0)
                }
                _ => None,
            };
            seen.lock().unwrap().push((alert.event.clone(), term, proposed));
        })
    };
    let trio = Trio::new(|_| {}, Some(Arc::new(manager)));
    node_slot.set(Arc::downgrade(trio.node(1))).unwrap();
    trio.elect(1);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (event, term, proposed) = &seen[0];
    assert_eq!(*event, AlertEvent::LeaderChanged { term: Term(1), leader: NodeId(1), previous: None });
    assert_eq!(*term, Term(1));
    // The leader's no-op is at 1; the handler's command follows it.
    assert_eq!(*proposed, Some(2));
    assert_eq!(trio.node(1).last_log_index().0, 2);
    assert_eq!(trio.alerts.delivered(), 1);
}

#[test]
fn failover_election_is_refused_unless_follower() {
    let trio = Trio::new(|_| {}, None);
    trio.elect(1);
    assert!(trio.node(1).trigger_failover_election().is_empty(), "a leader does not campaign");
    trio.node(2).start_election();
    assert_eq!(trio.node(2).state(), NodeState::Candidate);
    assert!(trio.node(2).trigger_failover_election().is_empty(), "a candidate does not start another");
}

#[test]
fn a_wrong_suspicion_does_not_disrupt_a_healthy_leader() {
    let trio = Trio::new(|_| {}, None);
    trio.elect(1);
    trio.heartbeats_for(1, 50, 50, &[2, 3]);
    // Node 3 suspects the leader anyway: with PreVote its term does not move.
    let requests = trio.node(3).trigger_failover_election();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.pre_vote && r.term == Term(2)));
    assert_eq!(trio.node(3).current_term(), Term(1));
    for (voter, req) in [1u64, 2].into_iter().zip(requests) {
        let resp = trio.node(voter).handle_request_vote(req);
        assert!(!resp.vote_granted, "node {voter} still hears from the leader");
        assert!(!trio.node(3).handle_vote_response(NodeId(voter), resp));
    }
    assert!(trio.node(1).is_leader());
    assert_eq!(trio.node(1).current_term(), Term(1));
    assert_eq!(trio.node(2).current_term(), Term(1));
    assert!(trio.node(3).take_messages().is_empty(), "no real vote requests after a lost pre-vote");
}

#[test]
fn failover_replaces_a_failed_leader_through_a_pre_vote() {
    let trio = Trio::new(|_| {}, None);
    trio.elect(1);
    trio.heartbeats_for(1, 50, 50, &[2, 3]);
    // The leader falls silent beyond every election timeout.
    trio.clock.advance(400);
    let _ = trio.node(3).get_dynamic_config();
    assert!(trio.node(3).failover_coordinator.read().unwrap().leader_failed());
    let requests = trio.node(3).trigger_failover_election();
    let to_two = requests.into_iter().find(|r| r.pre_vote).expect("a pre-vote request");
    let resp = trio.node(2).handle_request_vote(to_two);
    assert!(resp.vote_granted);
    assert!(!trio.node(3).handle_vote_response(NodeId(2), resp), "a pre-vote win is no leadership");
    // The real vote requests wait for the caller.
    let votes: Vec<_> = trio.node(3).take_messages();
    let vote = votes
        .into_iter()
        .find_map(|m| match m.payload {
            quorate::Payload::RequestVote(r) if m.to == NodeId(2) => Some(r),
            _ => None,
        })
        .expect("a vote request to node 2");
    assert!(!vote.pre_vote);
    let resp = trio.node(2).handle_request_vote(vote);
    assert!(trio.node(3).handle_vote_response(NodeId(2), resp));
    assert_eq!(trio.node(3).current_term(), Term(2));
}

#[test]
fn the_failover_coordinator_tracks_the_leader_and_suspects_it_when_silent() {
    let trio = Trio::new(|_| {}, None);
    let peers = trio.node(2).failover_coordinator.read().unwrap().peers();
    assert_eq!(peers, vec![NodeId(1), NodeId(3)], "seeded with the cluster's peers");
    trio.elect(1);
    trio.heartbeats_for(1, 100, 50, &[2, 3]);
    {
        let coordinator = trio.node(2).failover_coordinator.read().unwrap();
        assert_eq!(coordinator.leader(), Some(NodeId(1)));
        assert_eq!(coordinator.redirect_hint(), Some(NodeId(1)));
        assert_eq!(coordinator.last_heartbeat(NodeId(1)), Some(100));
        assert!(!coordinator.leader_failed());
    }
    let leader_view = trio.node(1).failover_coordinator.read().unwrap().clone();
    assert_eq!(leader_view.redirect_hint(), Some(NodeId(1)));
    // Silent beyond the maximum election timeout: suspected, and no longer a redirect target.
    trio.clock.advance(301);
    trio.node(2).current_term();
    trio.node(2).get_leader_hint();
    let _ = trio.node(2).get_dynamic_config();
    let coordinator = trio.node(2).failover_coordinator.read().unwrap();
    assert!(coordinator.leader_failed());
    assert_eq!(coordinator.redirect_hint(), None);
    assert_eq!(coordinator.silent_ms(NodeId(1)), Some(301));
}

#[test]
fn a_value_written_into_the_dynamic_config_field_takes_effect_at_the_next_call() {
    let trio = Trio::new(|_| {}, None);
    let node = trio.node(2);
    let wanted = DynamicConfig { heartbeat_interval_ms: 400, ..node.get_dynamic_config() };
    *node.dynamic_config.write().unwrap() = wanted;
    let in_force = node.get_dynamic_config();
    assert_eq!(in_force.heartbeat_interval_ms, 400);
    assert_eq!(in_force.election_timeout_min_ms, 800, "corrected to twice the heartbeat");
    assert_eq!(*node.dynamic_config.read().unwrap(), in_force, "the corrected value is written back");
}

/// Records placement entries applied.
#[derive(Clone, Default)]
struct Placements(Arc<Mutex<Vec<PlacementEntry>>>);

impl StateMachine for Placements {
    fn apply(&mut self, entry: &LogEntry) -> RaftResult<Vec<u8>> {
        if let Some(p) = PlacementEntry::decode(&entry.command.data) {
            assert_eq!(p.term, entry.term, "a move is proposed in the term it was planned in");
            self.0.lock().unwrap().push(p);
        }
        Ok(Vec::new())
    }
    fn snapshot(&self) -> RaftResult<Vec<u8>> {
        Ok(Vec::new())
    }
    fn restore(&mut self, _data: &[u8]) -> RaftResult<()> {
        Ok(())
    }
}

fn one_transfer_per_round(view: &PlacementView) -> Vec<PlacementMove> {
    vec![PlacementMove::Transfer {
        shard: view.round,
        to: view.voters[view.round as usize % view.voters.len()],
    }]
}

#[test]
fn placement_plans_only_on_the_leader_and_its_moves_go_through_the_log() {
    let trio = Trio::new(|_| {}, None);
    let applied = Placements::default();
    trio.node(2).set_state_machine(applied.clone()).unwrap();
    for id in 1..=3 {
        trio.node(id).attach_placement_scheduler(PlacementScheduler::new(100, one_transfer_per_round));
    }
    trio.elect(1);
    // Two intervals of heartbeats: node 1 plans twice (starting one interval after it led).
    trio.heartbeats_for(1, 250, 50, &[2, 3]);
    trio.exchange_with(1, trio.node(1).replicate_to_followers(), &[2, 3]);
    trio.exchange_with(1, trio.node(1).create_heartbeats(), &[2, 3]);
    let (stats, running) = trio.node(1).placement_stats().unwrap();
    assert!(running);
    assert_eq!(stats.planned, 2, "{stats:?}");
    for id in [2, 3] {
        let (stats, running) = trio.node(id).placement_stats().unwrap();
        assert!(!running && stats.planned == 0, "a follower plans nothing");
    }
    let moves = applied.0.lock().unwrap().clone();
    assert_eq!(moves.len(), 2);
    assert!(moves.iter().all(|m| m.term == Term(1) && m.proposer == NodeId(1)));
    assert_eq!(moves.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2]);
    // Node 2 takes over: node 1's scheduler stops at its first call after losing
    // leadership, and node 2's starts.
    trio.elect(2);
    assert!(!trio.node(1).is_leader());
    let (stats, running) = trio.node(1).placement_stats().unwrap();
    assert!(!running);
    assert_eq!(stats.stops, 1);
    trio.heartbeats_for(2, 150, 50, &[1, 3]);
    let (stats, running) = trio.node(2).placement_stats().unwrap();
    assert!(running && stats.planned == 1, "{stats:?}");
}

#[test]
fn set_alert_manager_again_replaces_the_previous_manager() {
    let clock = Arc::new(ManualClock::new(0));
    let mut node =
        RaftNode::with_clock(RaftConfig::new(1, [1]), Arc::new(MemPersistence::new()), clock).unwrap();
    let (first, second) = (Arc::new(AlertManager::new(8)), Arc::new(AlertManager::new(8)));
    node.set_alert_manager(first.clone());
    node.set_alert_manager(second.clone());
    // A single voter elects itself at once: the alert goes to the second manager only.
    assert!(node.start_election().is_empty());
    assert!(node.is_leader());
    assert!(first.drain().is_empty());
    let events: Vec<AlertEvent> = second.drain().into_iter().map(|a| a.event).collect();
    assert_eq!(events, vec![AlertEvent::LeaderChanged { term: Term(1), leader: NodeId(1), previous: None }]);
}

#[test]
fn attaching_a_placement_scheduler_again_replaces_the_previous_one() {
    let clock = Arc::new(ManualClock::new(0));
    let node = Arc::new(
        RaftNode::with_clock(RaftConfig::new(1, [1]), Arc::new(MemPersistence::new()), clock.clone())
            .unwrap(),
    );
    let applied = Placements::default();
    node.set_state_machine(applied.clone()).unwrap();
    node.start_election();
    let merge = |_: &PlacementView| vec![PlacementMove::Merge { left: 1, right: 2 }];
    let split = |_: &PlacementView| vec![PlacementMove::Split { shard: 1, at: b"m".to_vec(), into: 2 }];
    node.attach_placement_scheduler(PlacementScheduler::new(10, merge));
    clock.advance(10);
    let _ = node.get_dynamic_config();
    node.attach_placement_scheduler(PlacementScheduler::new(10, split));
    for _ in 0..2 {
        clock.advance(10);
        let _ = node.get_dynamic_config();
    }
    let moves: Vec<PlacementMove> = applied.0.lock().unwrap().iter().map(|p| p.placement.clone()).collect();
    assert_eq!(moves.first(), Some(&PlacementMove::Merge { left: 1, right: 2 }));
    assert!(moves[1..].iter().all(|m| matches!(m, PlacementMove::Split { .. })), "{moves:?}");
    // The replacement starts when attached and plans one interval later: at 20 and 30.
    assert_eq!(moves.len(), 3, "{moves:?}");
}

/// An alert raised while the node holds its state machine's lock (here: inside
/// `maybe_create_snapshot`) reaches a handler that calls back into the state machine's side
/// of the node (`take_read_states`): the handler runs once the lock is released, so the
/// call neither deadlocks nor waits.
#[test]
fn an_alert_raised_during_a_snapshot_reaches_a_handler_that_calls_back() {
    let node_slot: Arc<OnceLock<Weak<RaftNode>>> = Arc::new(OnceLock::new());
    let calls: Arc<Mutex<Vec<(AlertEvent, usize)>>> = Arc::default();
    let manager = {
        let (node_slot, calls) = (node_slot.clone(), calls.clone());
        AlertManager::with_handler(16, move |alert| {
            let node = node_slot.get().and_then(Weak::upgrade).expect("the node is alive");
            let reads = node.take_read_states().len();
            calls.lock().unwrap().push((alert.event.clone(), reads));
        })
    };
    let trio = Trio::new(|c| c.snapshot_threshold = 1, Some(Arc::new(manager)));
    node_slot.set(Arc::downgrade(trio.node(1))).unwrap();
    trio.node(1).set_state_machine(Placements::default()).unwrap();
    trio.elect(1);
    // Two entries beyond the snapshot point (the no-op and one command), applied.
    trio.node(1).propose(Command::new(b"x".to_vec())).unwrap();
    trio.heartbeats_for(1, 50, 50, &[2, 3]);
    calls.lock().unwrap().clear();
    // Both followers fall silent; the leader's next call, a snapshot, sees it.
    trio.clock.advance(1_100);
    assert!(trio.node(1).maybe_create_snapshot(Vec::new()).unwrap());
    let calls = calls.lock().unwrap().clone();
    let failed = calls.iter().filter(|(e, _)| matches!(e, AlertEvent::NodeFailed { .. })).count();
    assert_eq!(failed, 2, "{calls:?}");
    assert!(calls.iter().any(|(e, _)| matches!(e, AlertEvent::QuorumLost { .. })), "{calls:?}");
}

/// A handler that panics on one alert loses only that one: the others stay queued and the
/// next delivery hands them over.
#[test]
fn a_panicking_handler_loses_only_the_alert_it_was_handed() {
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let manager = {
        let seen = seen.clone();
        AlertManager::with_handler(8, move |alert| {
            if alert.at_ms == 1 {
                panic!("the handler fails on the first alert");
            }
            seen.lock().unwrap().push(alert.at_ms);
        })
    };
    for k in 1..=3 {
        manager.push(Alert {
            node: NodeId(1),
            at_ms: k,
            event: AlertEvent::NodeFailed { node: NodeId(2), silent_ms: 0 },
        });
    }
    let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| manager.deliver()));
    assert!(delivered.is_err(), "the handler's panic reaches the caller");
    assert_eq!(manager.pending(), 2);
    manager.deliver();
    assert_eq!(*seen.lock().unwrap(), vec![2, 3]);
    assert_eq!(manager.delivered(), 3);
}
