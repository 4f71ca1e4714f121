//! The contract of the seed's `RaftNode` API, on a three-node cluster wired by hand: the
//! caller moves every request and response, as a user's RPC layer would. Covers elections,
//! proposals, the replication loop, heartbeats, leader hints, the id newtypes, the traits of
//! the RPC types, thread safety, and re-entrant calls from a state machine.

mod common;

use quorate::clock::ManualClock;
use quorate::{
    AppendEntriesRequest, AppendEntriesResponse, Command, LogEntry, LogIndex, MemPersistence, NodeId,
    NodeState, RaftConfig, RaftError, RaftNode, RaftResult, RequestVoteRequest, RequestVoteResponse,
    StateMachine, Term,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::sync::{mpsc, Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// Three nodes with ids 1, 2, 3 sharing one manual clock.
struct Trio {
    nodes: Vec<RaftNode>,
    clock: Arc<ManualClock>,
}

impl Trio {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(0));
        let nodes = (1..=3)
            .map(|id| {
                RaftNode::with_clock(
                    RaftConfig::new(id, [1, 2, 3]),
                    Arc::new(MemPersistence::new()),
                    clock.clone(),
                )
                .unwrap()
            })
            .collect();
        Trio { nodes, clock }
    }

    fn node(&self, id: u64) -> &RaftNode {
        &self.nodes[(id - 1) as usize]
    }

    /// Node `id` campaigns and collects every vote.
    fn elect(&self, id: u64) {
        let requests = self.node(id).start_election();
        let peers: Vec<u64> = (1..=3).filter(|&p| p != id).collect();
        assert_eq!(requests.len(), peers.len());
        let mut became = 0;
        for (peer, req) in peers.into_iter().zip(requests) {
            let resp = self.node(peer).handle_request_vote(req);
            assert!(resp.vote_granted);
            became += usize::from(self.node(id).handle_vote_response(NodeId(peer), resp));
        }
        assert_eq!(became, 1, "handle_vote_response returns true exactly once");
    }

    /// Sends `requests` from `leader` and hands every answer back to it.
    fn exchange(&self, leader: u64, requests: Vec<(NodeId, AppendEntriesRequest)>) {
        for (peer, req) in requests {
            let resp = self.node(peer.0).handle_append_entries(req);
            self.node(leader).handle_replication_response(peer, resp).unwrap();
        }
    }

    /// The replication loop until every follower is caught up, then one heartbeat round so
    /// followers learn the commit index. Returns the rounds it took.
    fn replicate(&self, leader: u64) -> usize {
        let mut rounds = 0;
        loop {
            let requests = self.node(leader).replicate_to_followers();
            if requests.is_empty() {
                break;
            }
            rounds += 1;
            assert!(rounds < 100, "replication does not converge");
            self.exchange(leader, requests);
        }
        self.exchange(leader, self.node(leader).create_heartbeats());
        rounds
    }
}

/// What a [`Recorder`] applied: each entry's index and command, shared with the test.
type AppliedLog = Arc<Mutex<Vec<(LogIndex, Vec<u8>)>>>;

/// A state machine that records the commands it applied.
#[derive(Clone, Default)]
struct Recorder {
    applied: AppliedLog,
}

impl Recorder {
    fn commands(&self) -> Vec<Vec<u8>> {
        self.applied.lock().unwrap().iter().map(|(_, c)| c.clone()).collect()
    }
}

impl StateMachine for Recorder {
    fn apply(&mut self, entry: &LogEntry) -> RaftResult<Vec<u8>> {
        self.applied.lock().unwrap().push((entry.index, entry.command.data.to_vec()));
        Ok(entry.command.data.to_vec())
    }
    fn snapshot(&self) -> RaftResult<Vec<u8>> {
        Ok(Vec::new())
    }
    fn restore(&mut self, _data: &[u8]) -> RaftResult<()> {
        Ok(())
    }
}

#[test]
fn observers_of_a_fresh_node() {
    let t = Trio::new();
    let n = t.node(2);
    assert_eq!(n.node_id(), NodeId(2));
    assert_eq!(n.current_term(), Term(0));
    assert_eq!(n.state(), NodeState::Follower);
    assert_eq!(n.leader_id(), None);
    assert!(!n.is_leader());
    assert_eq!(n.commit_index(), LogIndex(0));
    assert_eq!(n.last_log_index(), LogIndex(0));
    assert!(!n.is_recovering());
    assert_eq!(n.get_leader_hint(), None);
    assert_eq!(n.config().voters, vec![NodeId(1), NodeId(2), NodeId(3)]);
}

#[test]
fn invalid_configurations_are_refused() {
    let not_a_member = RaftNode::new(RaftConfig::new(4, [1, 2, 3]));
    assert!(matches!(not_a_member, Err(RaftError::ConfigError(_))));
    let empty = RaftNode::new(RaftConfig::new(1, Vec::<u64>::new()));
    assert!(matches!(empty, Err(RaftError::ConfigError(_))));
    let duplicate = RaftNode::new(RaftConfig::new(1, [1, 1, 2]));
    assert!(matches!(duplicate, Err(RaftError::ConfigError(_))));
    // A randomization range narrower than its minimum cannot separate candidates (etcd draws
    // from [T, 2T)): 78..=79 ms split votes for 10 s in a fuzzed run.
    let with_range = |min, max| {
        let mut config = RaftConfig::new(1, [1, 2, 3]);
        config.heartbeat_interval_ms = 10;
        (config.election_timeout_min_ms, config.election_timeout_max_ms) = (min, max);
        config.validate()
    };
    for (min, max) in [(78, 79), (150, 298), (0, 10), (300, 150), (1, u64::MAX)] {
        let err = with_range(min, max).expect_err("refused");
        assert!(matches!(err, RaftError::ConfigError(ref m) if m.contains("election timeout")), "{err}");
    }
    for (min, max) in [(150, 299), (150, 300), (78, 155), (20, 1000)] {
        assert_eq!(with_range(min, max), Ok(()), "{min}..={max} is wide enough");
    }
}

#[test]
fn an_election_by_hand() {
    let t = Trio::new();
    let requests = t.node(1).start_election();
    assert_eq!(requests.len(), 2, "one request per other voter");
    assert_eq!(requests[0], requests[1]);
    let req = &requests[0];
    assert_eq!((req.term, req.candidate_id, req.pre_vote), (Term(1), NodeId(1), false));
    assert_eq!(t.node(1).state(), NodeState::Candidate);
    assert_eq!(t.node(1).current_term(), Term(1));

    let r2 = t.node(2).handle_request_vote(requests[0].clone());
    let r3 = t.node(3).handle_request_vote(requests[1].clone());
    assert!(r2.vote_granted && r3.vote_granted);
    assert!(t.node(1).handle_vote_response(NodeId(2), r2.clone()), "the majority-making vote elects");
    assert!(!t.node(1).handle_vote_response(NodeId(3), r3), "a later vote does not elect again");
    assert!(!t.node(1).handle_vote_response(NodeId(2), r2), "nor does a duplicate");
    assert!(t.node(1).is_leader());
    assert_eq!(t.node(1).leader_id(), Some(NodeId(1)));
    assert_eq!(t.node(1).get_leader_hint(), Some(NodeId(1)));
    assert!(t.node(1).start_election().is_empty(), "a leader stays leader");
    assert_eq!(t.node(1).current_term(), Term(1));
}

#[test]
fn a_rival_of_the_same_term_is_refused() {
    let t = Trio::new();
    let from_1 = t.node(1).start_election();
    let from_3 = t.node(3).start_election();
    assert!(t.node(2).handle_request_vote(from_1[0].clone()).vote_granted);
    assert!(!t.node(2).handle_request_vote(from_3[0].clone()).vote_granted);
}

#[test]
fn propose_replicate_commit_apply() {
    let t = Trio::new();
    let recorders: Vec<Recorder> = (0..3).map(|_| Recorder::default()).collect();
    for (n, r) in t.nodes.iter().zip(&recorders) {
        n.set_state_machine(r.clone()).unwrap();
    }
    t.elect(1);
    let leader = t.node(1);
    assert_eq!(leader.last_log_index(), LogIndex(1), "the leader's no-op");
    let a = leader.propose(Command::new(b"a".to_vec())).unwrap();
    let b = leader.propose(Command::new(b"b".to_vec())).unwrap();
    assert_eq!((a, b), (LogIndex(2), LogIndex(3)));
    assert_eq!(leader.commit_index(), LogIndex(0), "nothing commits before a follower has it");

    // The probe each follower got when the leader was elected (the no-op) was never handed
    // out: the first round rebuilds it with everything proposed since.
    let rounds = t.replicate(1);
    assert_eq!(rounds, 1, "one batch carries everything");
    for id in 1..=3 {
        let n = t.node(id);
        assert_eq!(n.commit_index(), LogIndex(3), "node {id}");
        assert_eq!(n.last_log_index(), LogIndex(3), "node {id}");
        assert_eq!(recorders[(id - 1) as usize].commands(), vec![b"a".to_vec(), b"b".to_vec()], "node {id}");
    }
    // Followers now know the leader and redirect to it.
    assert_eq!(t.node(2).get_leader_hint(), Some(NodeId(1)));
    assert_eq!(t.node(3).leader_id(), Some(NodeId(1)));
    let err = t.node(2).propose(Command::new(b"c".to_vec())).unwrap_err();
    assert_eq!(err, RaftError::NotLeader { leader_id: Some(NodeId(1)) });
}

#[test]
fn replication_requests_and_heartbeats() {
    let t = Trio::new();
    t.elect(1);
    let leader = t.node(1);
    t.replicate(1);
    assert!(leader.replicate_to_followers().is_empty(), "everyone is caught up");
    assert_eq!(leader.create_replication_request_for(NodeId(2)), None, "caught up: None");
    assert_eq!(leader.create_replication_request_for(NodeId(1)), None, "not for itself");
    assert_eq!(leader.create_replication_request_for(NodeId(9)), None, "not for a stranger");
    assert_eq!(t.node(2).create_replication_request_for(NodeId(3)), None, "followers send none");
    assert!(t.node(2).create_heartbeats().is_empty());
    assert!(t.node(2).replicate_to_followers().is_empty());

    let all = leader.create_replication_requests();
    assert_eq!(all.len(), 2, "one per peer, even when caught up");
    assert!(all.iter().all(|(_, r)| r.entries.is_empty()));

    let heartbeats = leader.create_heartbeats();
    let peers: Vec<NodeId> = heartbeats.iter().map(|(p, _)| *p).collect();
    assert_eq!(peers, vec![NodeId(2), NodeId(3)]);
    for (_, hb) in &heartbeats {
        assert!(hb.entries.is_empty());
        assert_eq!((hb.term, hb.leader_id, hb.leader_commit), (Term(1), NodeId(1), LogIndex(1)));
        assert_eq!((hb.prev_log_index, hb.prev_log_term), (LogIndex(1), Term(1)));
    }

    let index = leader.propose(Command::new(b"x".to_vec())).unwrap();
    let req = leader.create_replication_request_for(NodeId(3)).expect("node 3 is behind");
    assert_eq!(req.prev_log_index, LogIndex(1));
    assert_eq!(req.entries.len(), 1);
    assert_eq!(req.entries[0].index, index);
    assert_eq!(req.entries[0].command.data, &b"x"[..]);
    let resp = t.node(3).handle_append_entries(req);
    assert!(resp.success);
    assert_eq!(resp.match_index, index);
    leader.handle_replication_response(NodeId(3), resp).unwrap();
    assert_eq!(leader.commit_index(), index);
    assert_eq!(leader.create_replication_request_for(NodeId(3)), None);
    assert!(leader.create_replication_request_for(NodeId(2)).is_some(), "node 2 still lacks it");
}

#[test]
fn a_new_leader_repairs_a_lagging_follower_through_the_api() {
    let t = Trio::new();
    t.elect(1);
    t.replicate(1);
    // Node 3 misses ten entries.
    for i in 0..10u8 {
        t.node(1).propose(Command::new(vec![i])).unwrap();
    }
    for (peer, req) in t.node(1).replicate_to_followers() {
        if peer == NodeId(2) {
            let resp = t.node(2).handle_append_entries(req);
            t.node(1).handle_replication_response(peer, resp).unwrap();
        }
    }
    assert_eq!(t.node(1).commit_index(), LogIndex(11));
    assert_eq!(t.node(3).last_log_index(), LogIndex(1));
    // Node 2 takes over in term 2 (node 3 votes for it: its log is longer).
    t.clock.advance(1_000);
    t.elect(2);
    assert_eq!(t.node(2).current_term(), Term(2));
    t.replicate(2);
    assert_eq!(t.node(3).last_log_index(), LogIndex(12));
    assert_eq!(t.node(3).commit_index(), LogIndex(12));
    // The old leader learns of the new term from a heartbeat and follows.
    assert_eq!(t.node(1).state(), NodeState::Follower);
    assert_eq!(t.node(1).get_leader_hint(), Some(NodeId(2)));
}

#[test]
fn replication_responses_from_followers_of_no_one_are_errors() {
    let t = Trio::new();
    let resp = AppendEntriesResponse {
        term: Term(0),
        success: true,
        match_index: LogIndex(0),
        conflict_index: LogIndex(0),
        conflict_term: None,
        last_log_index: LogIndex(0),
        leader_hint: None,
    };
    let err = t.node(1).handle_replication_response(NodeId(2), resp.clone()).unwrap_err();
    assert!(matches!(err, RaftError::NotLeader { .. }), "got {err:?}");

    t.elect(1);
    let lie = AppendEntriesResponse { term: Term(1), match_index: LogIndex(7), ..resp };
    let err = t.node(1).handle_replication_response(NodeId(2), lie).unwrap_err();
    assert!(matches!(err, RaftError::LogInconsistency(_)), "got {err:?}");
    assert_eq!(t.node(1).commit_index(), LogIndex(0));
}

#[test]
fn a_stale_leader_learns_the_new_term_and_the_new_leader_from_a_response() {
    let t = Trio::new();
    t.elect(1);
    t.replicate(1);
    // Node 2 wins term 2 with node 3's vote; node 1 hears nothing of it. (Node 3 first lets
    // its leader lease run out: within it, it would ignore a vote request, thesis §4.2.3.)
    t.clock.advance(1_000);
    let requests = t.node(2).start_election();
    let grant = t.node(3).handle_request_vote(requests[0].clone());
    assert!(t.node(2).handle_vote_response(NodeId(3), grant));
    let (_, to_3) = t.node(2).create_heartbeats().into_iter().find(|(p, _)| *p == NodeId(3)).unwrap();
    assert!(t.node(3).handle_append_entries(to_3).success);
    assert!(t.node(1).is_leader(), "node 1 does not know yet");

    let (_, stale) = t.node(1).create_heartbeats().into_iter().find(|(p, _)| *p == NodeId(3)).unwrap();
    let resp = t.node(3).handle_append_entries(stale);
    assert!(!resp.success);
    assert_eq!(resp.term, Term(2));
    assert_eq!(resp.leader_hint, Some(NodeId(2)));
    let _ = t.node(1).handle_replication_response(NodeId(3), resp);
    assert_eq!(t.node(1).state(), NodeState::Follower);
    assert_eq!(t.node(1).current_term(), Term(2));
    assert_eq!(t.node(3).leader_id(), Some(NodeId(2)), "the stale heartbeat did not unseat node 2");
}

#[test]
fn election_timer_with_an_injected_clock() {
    let t = Trio::new();
    let n = t.node(2);
    assert!(!n.election_timeout_elapsed());
    t.clock.advance(149);
    assert!(!n.election_timeout_elapsed(), "never before the minimum timeout");
    t.clock.advance(151);
    assert!(n.election_timeout_elapsed(), "always by the maximum timeout");
    n.reset_election_timer();
    assert!(!n.election_timeout_elapsed());
    // A heartbeat from a leader resets the timer too.
    t.elect(1);
    t.clock.advance(100);
    t.replicate(1);
    t.clock.advance(100);
    assert!(!t.node(2).election_timeout_elapsed());
    assert!(!t.node(1).election_timeout_elapsed(), "a leader's never elapses");
}

#[test]
fn id_newtypes_convert_from_and_into_u64() {
    assert_eq!(NodeId::from(7u64), NodeId(7));
    assert_eq!(u64::from(NodeId(7)), 7);
    assert_eq!(Term::from(3u64), Term(3));
    assert_eq!(u64::from(Term(3)), 3);
    assert_eq!(LogIndex::from(9u64), LogIndex(9));
    assert_eq!(u64::from(LogIndex(9)), 9);
    let id: NodeId = 5.into();
    let raw: u64 = id.into();
    assert_eq!(raw, 5);
    assert!(Term(2) > Term(1) && LogIndex(1) < LogIndex(2));
}

fn round_trips<T: Clone + Debug + PartialEq + Serialize + DeserializeOwned>(value: T) {
    let bytes = quorate::codec::encode(quorate::codec::FrameKind::Message, &value).unwrap();
    let (back, used): (T, usize) =
        quorate::codec::decode(quorate::codec::FrameKind::Message, &bytes).unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(back, value.clone());
    assert!(!format!("{value:?}").is_empty());
}

#[test]
fn rpc_types_are_clone_debug_partialeq_and_serde() {
    round_trips(RequestVoteRequest {
        term: Term(3),
        candidate_id: NodeId(2),
        last_log_index: LogIndex(9),
        last_log_term: Term(2),
        pre_vote: true,
    });
    round_trips(RequestVoteResponse { term: Term(3), vote_granted: true, pre_vote: false });
    round_trips(AppendEntriesRequest {
        term: Term(3),
        leader_id: NodeId(1),
        prev_log_index: LogIndex(4),
        prev_log_term: Term(2),
        entries: common::log_of(&[1, 2, 3]),
        leader_commit: LogIndex(2),
    });
    round_trips(AppendEntriesResponse {
        term: Term(3),
        success: false,
        match_index: LogIndex(4),
        conflict_index: LogIndex(2),
        conflict_term: Some(Term(1)),
        last_log_index: LogIndex(6),
        leader_hint: Some(NodeId(1)),
    });
    round_trips(common::entry(5, 2));
    round_trips(Command::new(vec![1, 2, 3]));
    round_trips(NodeState::Candidate);
}

#[test]
fn raft_node_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RaftNode>();
    send_sync::<Arc<RaftNode>>();
}

#[test]
fn concurrent_proposals_from_several_threads() {
    let node = RaftNode::new(RaftConfig::new(1, [1])).unwrap();
    let sm = Recorder::default();
    node.set_state_machine(sm.clone()).unwrap();
    assert!(node.start_election().is_empty(), "a single voter elects itself");
    assert!(node.is_leader());
    let mut indices: Vec<LogIndex> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                let node = &node;
                s.spawn(move || {
                    (0..50u8).map(|i| node.propose(Command::new(vec![t, i])).unwrap()).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    indices.sort();
    indices.dedup();
    assert_eq!(indices.len(), 200, "every proposal got its own index");
    assert_eq!(node.commit_index(), LogIndex(201));
    let applied = sm.applied.lock().unwrap();
    assert_eq!(applied.len(), 200);
    assert!(applied.windows(2).all(|w| w[0].0 < w[1].0), "applied in log order");
}

/// On applying "ping", proposes "pong" through the node it belongs to, and reads its state.
struct Echo {
    node: Arc<OnceLock<Weak<RaftNode>>>,
    log: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl StateMachine for Echo {
    fn apply(&mut self, entry: &LogEntry) -> RaftResult<Vec<u8>> {
        let node = self.node.get().and_then(Weak::upgrade).expect("node alive");
        // Every observer, from inside apply.
        assert!(node.is_leader());
        assert!(node.commit_index() >= entry.index);
        assert!(node.last_log_index() >= entry.index);
        let _ = (node.current_term(), node.state(), node.get_leader_hint(), node.is_recovering());
        if entry.command.data == b"ping"[..] {
            node.propose(Command::new(b"pong".to_vec()))?;
        }
        self.log.lock().unwrap().push(entry.command.data.to_vec());
        Ok(Vec::new())
    }
    fn snapshot(&self) -> RaftResult<Vec<u8>> {
        Ok(Vec::new())
    }
    fn restore(&mut self, _data: &[u8]) -> RaftResult<()> {
        Ok(())
    }
}

#[test]
fn a_state_machine_may_call_back_into_its_node() {
    // Run on a thread with a watchdog, so a deadlock fails the test instead of hanging it.
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let node = Arc::new(RaftNode::new(RaftConfig::new(1, [1])).unwrap());
        let handle = Arc::new(OnceLock::new());
        handle.set(Arc::downgrade(&node)).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        node.set_state_machine(Echo { node: handle, log: log.clone() }).unwrap();
        node.start_election();
        node.propose(Command::new(b"ping".to_vec())).unwrap();
        let applied = log.lock().unwrap().clone();
        done.send((applied, node.commit_index())).unwrap();
    });
    let (applied, commit) = finished.recv_timeout(Duration::from_secs(20)).expect("no deadlock");
    assert_eq!(applied, vec![b"ping".to_vec(), b"pong".to_vec()]);
    assert_eq!(commit, LogIndex(3));
}

#[test]
fn set_state_machine_again_continues_where_the_previous_stopped() {
    let node = RaftNode::new(RaftConfig::new(1, [1])).unwrap();
    node.start_election();
    node.propose(Command::new(b"before".to_vec())).unwrap();
    let first = Recorder::default();
    node.set_state_machine(first.clone()).unwrap();
    node.propose(Command::new(b"one".to_vec())).unwrap();
    let second = Recorder::default();
    node.set_state_machine(second.clone()).unwrap();
    node.propose(Command::new(b"two".to_vec())).unwrap();
    assert_eq!(first.commands(), vec![b"before".to_vec(), b"one".to_vec()]);
    assert_eq!(second.commands(), vec![b"two".to_vec()]);
}

/// Everything the facade hands out comes from the core's output with its flow control: a
/// follower in the replicate state gets at most `max_inflight` AppendEntries not yet
/// answered, however often the caller asks; the rest goes as answers come back.
#[test]
fn the_facade_respects_flow_control() {
    let clock = Arc::new(ManualClock::new(0));
    let nodes: Vec<RaftNode> = (1..=2)
        .map(|id| {
            let mut config = RaftConfig::new(id, [1, 2]);
            config.max_inflight = 2;
            config.max_entries_per_append = 1;
            RaftNode::with_clock(config, Arc::new(MemPersistence::new()), clock.clone()).unwrap()
        })
        .collect();
    let (leader, follower) = (&nodes[0], &nodes[1]);
    let request = leader.start_election().remove(0);
    assert!(leader.handle_vote_response(NodeId(2), follower.handle_request_vote(request)));
    // The probe (the no-op) goes and is answered: the follower is now in the replicate state.
    for (_, req) in leader.replicate_to_followers() {
        leader.handle_replication_response(NodeId(2), follower.handle_append_entries(req)).unwrap();
    }
    for i in 0..10u8 {
        leader.propose(Command::new(vec![i])).unwrap();
    }
    let mut held = Vec::new();
    for _ in 0..5 {
        held.extend(leader.replicate_to_followers());
    }
    assert_eq!(held.len(), 2, "at most max_inflight messages unanswered: {held:?}");
    // Answers open the window again, until the follower has everything.
    let mut rounds = 0;
    while !held.is_empty() {
        rounds += 1;
        assert!(rounds < 20, "replication does not converge");
        for (_, req) in held.drain(..) {
            leader.handle_replication_response(NodeId(2), follower.handle_append_entries(req)).unwrap();
        }
        held.extend(leader.replicate_to_followers());
        assert!(held.len() <= 2, "{held:?}");
    }
    assert_eq!(follower.last_log_index(), LogIndex(11));
    assert_eq!(leader.commit_index(), LogIndex(11));
}

impl Trio {
    /// Delivers the messages beyond the seed's RPCs (leadership checks, read indexes,
    /// leadership transfer) between the nodes until none is left.
    fn pump(&self) {
        for _ in 0..100 {
            let messages: Vec<quorate::Message> =
                self.nodes.iter().flat_map(RaftNode::take_messages).collect();
            if messages.is_empty() {
                return;
            }
            for msg in messages {
                self.node(msg.to.0).step_message(msg).unwrap();
            }
        }
        panic!("the messages never stopped");
    }
}

#[test]
fn reads_without_the_log_through_the_facade() {
    let trio = Trio::new();
    let recorders: Vec<Recorder> = (0..3).map(|_| Recorder::default()).collect();
    for (node, recorder) in trio.nodes.iter().zip(&recorders) {
        node.set_state_machine(recorder.clone()).unwrap();
    }
    trio.elect(1);
    trio.node(1).propose(Command::new(b"a".to_vec())).unwrap();
    trio.replicate(1);
    let commit = trio.node(1).commit_index();

    // ReadIndex at the leader: one round of leadership checks, then the read is served.
    trio.node(1).read_index(5).unwrap();
    assert!(trio.node(1).take_read_states().is_empty(), "not before a quorum confirmed");
    trio.pump();
    let states = trio.node(1).take_read_states();
    assert_eq!(states.len(), 1);
    assert_eq!((states[0].ctx, states[0].result.clone()), (5, Ok(commit)));
    assert_eq!(recorders[0].commands(), vec![b"a".to_vec()]);

    // A follower read: node 2 asks the leader for the index.
    trio.node(2).read_index(6).unwrap();
    trio.pump();
    let states = trio.node(2).take_read_states();
    assert_eq!(states.len(), 1);
    assert_eq!((states[0].ctx, states[0].path), (6, quorate::ReadPath::Follower));
    assert_eq!(states[0].result, Ok(commit));

    // A lease read without lease reads configured goes through a round too.
    trio.node(1).lease_read(7).unwrap();
    trio.pump();
    assert_eq!(trio.node(1).take_read_states()[0].path, quorate::ReadPath::ReadIndex);

    // A candidate refuses.
    trio.node(3).start_election();
    assert_eq!(trio.node(3).read_index(8), Err(RaftError::NotLeader { leader_id: None }));
}

#[test]
fn leadership_transfer_through_the_facade() {
    let trio = Trio::new();
    trio.elect(1);
    trio.node(1).propose(Command::new(b"a".to_vec())).unwrap();
    trio.replicate(1);
    trio.node(1).transfer_leadership(NodeId(2)).unwrap();
    assert_eq!(trio.node(1).leadership_transfer(), Some(NodeId(2)));
    assert!(matches!(
        trio.node(1).propose(Command::new(b"b".to_vec())),
        Err(RaftError::LeadershipTransferInProgress { .. })
    ));
    // Node 2 holds the whole log: it is told to campaign, and wins inside the lease.
    trio.pump();
    assert_eq!(trio.node(2).state(), NodeState::Leader);
    assert!(trio.node(2).current_term() > Term(1));
    assert_eq!(trio.node(1).state(), NodeState::Follower);
    // The old leader learns who leads from the new leader's first requests.
    trio.replicate(2);
    assert_eq!(trio.node(1).leader_id(), Some(NodeId(2)));
}
