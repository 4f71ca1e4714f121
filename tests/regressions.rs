//! Regression tests for the defects of the seed engine listed in /work/shared/seed/NOTES.md
//! (numbers 1, 2, 4, 5, 7, 8 and 11). Each test asserts the opposite of what the defective
//! engine did, so it fails on that behaviour.

mod common;

use common::*;
use quorate::clock::{Clock, ManualClock};
use quorate::core::HardState;
use quorate::testing::Cluster;
use quorate::wal;
use quorate::{
    Command, EntryKind, Input, LogEntry, LogIndex, MemPersistence, NodeId, NodeState, RaftConfig, RaftError,
    RaftNode, RaftPersistence, RaftResult, RequestVoteRequest, StateMachine, Term,
};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// A RaftNode over `persistence` whose clock only moves when the test says so.
fn node_with(id: u64, n: u64, persistence: Arc<MemPersistence>, clock: &Arc<ManualClock>) -> RaftNode {
    RaftNode::with_clock(config(id, n), persistence, clock.clone()).expect("valid node")
}

/// A store already holding `entries` and `hard_state`.
fn store(entries: &[LogEntry], hard_state: HardState) -> Arc<MemPersistence> {
    let p = Arc::new(MemPersistence::new());
    p.append_entries(entries).unwrap();
    p.save_hard_state(&hard_state).unwrap();
    p.sync().unwrap();
    p
}

/// A state machine that records what it applied.
#[derive(Clone, Default)]
struct Recorder {
    applied: Arc<Mutex<Vec<LogEntry>>>,
}

impl StateMachine for Recorder {
    fn apply(&mut self, entry: &LogEntry) -> RaftResult<Vec<u8>> {
        self.applied.lock().unwrap().push(entry.clone());
        Ok(Vec::new())
    }
    fn snapshot(&self) -> RaftResult<Vec<u8>> {
        Ok(Vec::new())
    }
    fn restore(&mut self, _data: &[u8]) -> RaftResult<()> {
        Ok(())
    }
}

// ----- Defect 1: the match index comes from what the request proved ------------------------

#[test]
fn defect_1_a_heartbeat_ack_proves_prev_index_not_the_followers_log_length() {
    // The follower holds four stale entries of term 1; the leader of term 2 agrees on index 1.
    let mut f = core(2, 3, &[1, 1, 1, 1], 1);
    let out = deliver(&mut f, 1, append(2, 1, (1, 1), vec![], 0));
    let reply = append_reply(&out, 1);
    assert!(reply.success);
    assert_eq!(reply.match_index, LogIndex(1), "a heartbeat at prev 1 proves index 1 only");
    assert_eq!(reply.last_log_index, LogIndex(4), "the length is reported, but as information");
}

#[test]
fn defect_1_a_leader_ignores_an_ack_beyond_what_it_sent() {
    let mut l = core(1, 3, &[], 0);
    make_leader(&mut l, &[2]);
    for i in 0..3u8 {
        l.propose(Command::new(vec![i])).unwrap();
    }
    // Only the no-op (index 1) has been sent to node 2: it is in probe, waiting for an answer.
    drain(&mut l);
    let dropped = l.stats().dropped_invalid;
    deliver(&mut l, 2, ack(1, 4, 4));
    assert_eq!(l.progress(NodeId(2)).unwrap().match_index, LogIndex(0), "an unproven claim is not a match");
    assert_eq!(l.log().committed(), LogIndex(0));
    assert_eq!(l.stats().dropped_invalid, dropped + 1);
}

#[test]
fn defect_1_the_match_index_never_decreases() {
    let mut l = core(1, 3, &[], 0);
    make_leader(&mut l, &[2]);
    deliver(&mut l, 2, ack(1, 1, 1));
    for i in 0..3u8 {
        l.propose(Command::new(vec![i])).unwrap();
    }
    drain(&mut l);
    deliver(&mut l, 2, ack(1, 4, 4));
    assert_eq!(l.progress(NodeId(2)).unwrap().match_index, LogIndex(4));
    // A delayed acknowledgement of an earlier message arrives late.
    deliver(&mut l, 2, ack(1, 1, 4));
    assert_eq!(l.progress(NodeId(2)).unwrap().match_index, LogIndex(4));
    assert_eq!(l.log().committed(), LogIndex(4));
}

#[test]
fn defect_1_a_leader_does_not_commit_an_entry_only_it_holds() {
    // Through the seed's API: node 2 has a longer stale log of term 1, node 3 a short one.
    let clock = Arc::new(ManualClock::new(0));
    let hs = HardState { term: Term(1), vote: None, commit: LogIndex(0) };
    let n1 = node_with(1, 3, store(&log_of(&[1]), hs), &clock);
    let n2 = node_with(2, 3, store(&log_of(&[1, 1, 1, 1]), hs), &clock);
    let n3 = node_with(3, 3, store(&log_of(&[1]), hs), &clock);
    let requests = n1.start_election();
    let grant = n3.handle_request_vote(requests[0].clone());
    assert!(n1.handle_vote_response(NodeId(3), grant));
    let index = n1.propose(Command::new(b"only on the leader".to_vec())).unwrap();
    assert_eq!(index, LogIndex(3), "after the no-op at 2");

    // A heartbeat to node 2 matches at index 1; node 2 acknowledges it.
    let (_, heartbeat) = n1.create_heartbeats().into_iter().find(|(p, _)| *p == NodeId(2)).unwrap();
    assert!(heartbeat.entries.is_empty());
    let reply = n2.handle_append_entries(heartbeat);
    assert!(reply.success);
    assert_eq!(reply.match_index, LogIndex(1));
    n1.handle_replication_response(NodeId(2), reply).unwrap();
    assert_eq!(n1.commit_index(), LogIndex(0), "node 2 does not hold index 3 of term 2");

    // Real replication then overwrites node 2's stale tail and commits.
    for (peer, req) in n1.replicate_to_followers() {
        if peer == NodeId(2) {
            let reply = n2.handle_append_entries(req);
            assert_eq!(reply.match_index, LogIndex(3));
            n1.handle_replication_response(peer, reply).unwrap();
        }
    }
    assert_eq!(n1.commit_index(), LogIndex(3));
    assert_eq!(n2.last_log_index(), LogIndex(3), "the stale entry 4 is gone");
}

// ----- Defect 2: stale or duplicated AppendEntries never truncate matching entries ------------

#[test]
fn defect_2_a_stale_append_does_not_truncate_matching_entries() {
    let mut f = core(2, 3, &[], 1);
    deliver(&mut f, 1, append(1, 1, (0, 0), entries_from(1, &[1, 1, 1, 1, 1]), 3));
    assert_eq!(f.log().committed(), LogIndex(3));
    // The first, shorter message of the same leader arrives late (or twice).
    let readies = deliver_readies(&mut f, 1, append(1, 1, (0, 0), entries_from(1, &[1, 1]), 1));
    assert_eq!(terms(&f), vec![1, 1, 1, 1, 1], "acknowledged entries stay");
    assert_eq!(f.log().committed(), LogIndex(3), "commit never moves back");
    assert!(readies.iter().all(|r| r.entries.is_empty()), "nothing is rewritten on disk");
    let msgs: Vec<_> = readies.into_iter().flat_map(|r| r.messages_when_durable).collect();
    assert_eq!(append_reply(&msgs, 1).match_index, LogIndex(2), "it proves what it carried");
}

#[test]
fn defect_2_a_conflicting_append_below_the_commit_index_is_refused() {
    let mut f = core(2, 3, &[], 1);
    deliver(&mut f, 1, append(1, 1, (0, 0), entries_from(1, &[1, 1, 1]), 3));
    assert_eq!(f.log().committed(), LogIndex(3));
    // Only a faulty leader would send a different entry 2 of a later term.
    let out = deliver(&mut f, 3, append(2, 3, (1, 1), entries_from(2, &[2]), 3));
    assert_eq!(terms(&f), vec![1, 1, 1], "committed entries are never erased");
    assert!(out
        .iter()
        .all(|m| !matches!(&m.payload, quorate::Payload::AppendEntriesResponse(r) if r.success)));
}

#[test]
fn defect_2_through_the_api_the_persisted_log_keeps_its_entries() {
    let clock = Arc::new(ManualClock::new(0));
    let p = Arc::new(MemPersistence::new());
    let n = node_with(2, 3, p.clone(), &clock);
    let req = |count: u64, commit: u64| quorate::AppendEntriesRequest {
        term: Term(1),
        leader_id: NodeId(1),
        prev_log_index: LogIndex(0),
        prev_log_term: Term(0),
        entries: log_of(&vec![1; count as usize]),
        leader_commit: LogIndex(commit),
    };
    assert!(n.handle_append_entries(req(5, 4)).success);
    let reply = n.handle_append_entries(req(2, 1));
    assert!(reply.success);
    assert_eq!(reply.match_index, LogIndex(2));
    assert_eq!(p.load_log().unwrap().len(), 5);
    assert_eq!(n.last_log_index(), LogIndex(5));
    assert_eq!(n.commit_index(), LogIndex(4));
}

// ----- Defect 4: nothing is sent on top of a failed write; a torn WAL tail is cut -------------

fn vote_req(term: u64, candidate: u64) -> RequestVoteRequest {
    RequestVoteRequest {
        term: Term(term),
        candidate_id: NodeId(candidate),
        last_log_index: LogIndex(0),
        last_log_term: Term(0),
        pre_vote: false,
    }
}

#[test]
fn defect_4_no_vote_is_granted_when_the_vote_cannot_be_persisted() {
    let clock = Arc::new(ManualClock::new(0));
    let p = Arc::new(MemPersistence::new());
    let n = node_with(1, 3, p.clone(), &clock);
    p.set_fail(true);
    assert!(!n.handle_request_vote(vote_req(1, 2)).vote_granted);
    assert_eq!(p.load_hard_state().unwrap().vote, None);
    // Same request once the disk works again: now granted, and durable.
    p.set_fail(false);
    assert!(n.handle_request_vote(vote_req(1, 2)).vote_granted);
    let hs = p.load_hard_state().unwrap();
    assert_eq!((hs.term, hs.vote), (Term(1), Some(NodeId(2))));
}

#[test]
fn defect_4_no_entries_are_acknowledged_when_they_cannot_be_persisted() {
    let clock = Arc::new(ManualClock::new(0));
    let p = Arc::new(MemPersistence::new());
    let n = node_with(2, 3, p.clone(), &clock);
    let req = quorate::AppendEntriesRequest {
        term: Term(1),
        leader_id: NodeId(1),
        prev_log_index: LogIndex(0),
        prev_log_term: Term(0),
        entries: log_of(&[1, 1]),
        leader_commit: LogIndex(0),
    };
    p.set_fail(true);
    let reply = n.handle_append_entries(req.clone());
    assert!(!reply.success);
    assert!(p.load_log().unwrap().is_empty());
    assert_eq!(n.last_log_index(), LogIndex(0), "the node forgot what it could not persist");
    p.set_fail(false);
    let reply = n.handle_append_entries(req);
    assert!(reply.success);
    assert_eq!(reply.match_index, LogIndex(2));
    assert_eq!(p.load_log().unwrap().len(), 2);
}

#[test]
fn defect_4_an_election_is_not_started_on_a_failing_disk() {
    let clock = Arc::new(ManualClock::new(0));
    let p = Arc::new(MemPersistence::new());
    let n = node_with(1, 3, p.clone(), &clock);
    p.set_fail(true);
    assert!(n.start_election().is_empty(), "vote requests depend on the durable term and self-vote");
    assert_eq!(p.load_hard_state().unwrap(), HardState::default());
    p.set_fail(false);
    assert_eq!(n.start_election().len(), 2);
}

#[test]
fn defect_4_propose_returns_the_storage_error_and_nothing_is_applied() {
    let clock = Arc::new(ManualClock::new(0));
    let p = Arc::new(MemPersistence::new());
    let n = node_with(1, 1, p.clone(), &clock);
    let sm = Recorder::default();
    n.set_state_machine(sm.clone()).unwrap();
    n.start_election();
    assert!(n.is_leader());
    n.propose(Command::new(b"ok".to_vec())).unwrap();
    p.set_fail(true);
    let err = n.propose(Command::new(b"lost".to_vec())).unwrap_err();
    assert!(matches!(err, RaftError::StorageError(_)), "got {err:?}");
    p.set_fail(false);
    let applied: Vec<Vec<u8>> = sm.applied.lock().unwrap().iter().map(|e| e.command.data.to_vec()).collect();
    assert_eq!(applied, vec![b"ok".to_vec()]);
    assert_eq!(p.load_log().unwrap().len(), 2, "the no-op and the first command only");
}

#[test]
fn defect_4_wal_recovery_stops_at_a_torn_tail_and_a_record_after_the_cut_survives() {
    let mut bytes = Vec::new();
    for e in log_of(&[1, 1, 2]) {
        bytes.extend(wal::entry_record(&e));
    }
    bytes.extend(wal::hard_state_record(&HardState {
        term: Term(2),
        vote: Some(NodeId(1)),
        commit: LogIndex(2),
    }));
    let valid = bytes.len();
    let torn = wal::entry_record(&entry(4, 2));
    bytes.extend(&torn[..torn.len() / 2]);

    let rec = wal::recover(&bytes);
    assert_eq!(rec.valid_len, valid, "recovery stops where the torn record starts");
    assert!(rec.stopped_by.is_some());
    assert_eq!(rec.state.entries, log_of(&[1, 1, 2]));
    assert_eq!(rec.state.hard_state.commit, LogIndex(2));

    // Appending behind the garbage would lose the new record on the next recovery...
    let mut wrong = bytes.clone();
    wrong.extend(wal::entry_record(&entry(4, 3)));
    assert_eq!(wal::recover(&wrong).state.entries.len(), 3);
    // ...so the caller cuts to valid_len first, and then the record survives.
    bytes.truncate(rec.valid_len);
    bytes.extend(wal::entry_record(&entry(4, 3)));
    let rec = wal::recover(&bytes);
    assert_eq!(rec.stopped_by, None);
    assert_eq!(rec.valid_len, bytes.len());
    assert_eq!(rec.state.entries, log_of(&[1, 1, 2, 3]));
}

#[test]
fn defect_4_wal_recovery_stops_at_a_corrupt_record_and_applies_truncations() {
    let records: Vec<Vec<u8>> = vec![
        wal::entry_record(&entry(1, 1)),
        wal::entry_record(&entry(2, 1)),
        wal::truncate_record(LogIndex(2)),
        wal::entry_record(&entry(2, 2)),
        wal::entry_record(&entry(3, 2)),
    ];
    let all: Vec<u8> = records.concat();
    assert_eq!(wal::recover(&all).state.entries, log_of(&[1, 2, 2]));
    // Flip one bit in the payload of the fourth record.
    let start_of_4th: usize = records[..3].iter().map(Vec::len).sum();
    let mut corrupt = all.clone();
    corrupt[start_of_4th + quorate::codec::HEADER_LEN] ^= 0x10;
    let rec = wal::recover(&corrupt);
    assert_eq!(rec.valid_len, start_of_4th);
    assert_eq!(rec.state.entries, log_of(&[1]));
}

// ----- Defect 5: a no-op at the start of each term commits earlier-term entries ---------------

#[test]
fn defect_5_the_new_leaders_noop_commits_an_earlier_term_entry_without_new_proposals() {
    let mut c = Cluster::new(3, 5);
    // Entry 1 of term 1 reached nodes 1 and 2, but its leader died before committing it.
    install(&mut c, config(1, 3), durable(&[1], 1, Some(1), 0));
    install(&mut c, config(2, 3), durable(&[1], 1, Some(1), 0));
    install(&mut c, config(3, 3), durable(&[], 1, Some(1), 0));
    c.elect(2);
    assert_eq!(c.leader(), Some(NodeId(2)));
    let leader = &c.node(2).core;
    let noop = leader.log().entry(LogIndex(2)).expect("the leader appended its no-op");
    assert_eq!((noop.kind, noop.term), (EntryKind::Noop, Term(2)));
    for id in 1..=3 {
        assert_eq!(c.node(id).core.log().committed(), LogIndex(2), "node {id}");
        assert_eq!(applied(&c, id), vec![(1, 1)], "node {id} applied entry 1 and never saw the no-op");
    }
}

// ----- Defect 7: recovery rebuilds the state machine, observably -----------------------------

/// Records each applied index with what `is_recovering()` said during the apply.
struct Observer {
    node: Arc<OnceLock<Weak<RaftNode>>>,
    seen: Arc<Mutex<Vec<(u64, bool)>>>,
}

impl StateMachine for Observer {
    fn apply(&mut self, entry: &LogEntry) -> RaftResult<Vec<u8>> {
        let node = self.node.get().and_then(Weak::upgrade).expect("node is alive");
        self.seen.lock().unwrap().push((entry.index.0, node.is_recovering()));
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
fn defect_7_recovery_replays_committed_entries_into_the_state_machine() {
    let mut entries = log_of(&[1, 1, 1, 1]);
    entries[0].kind = EntryKind::Noop;
    entries[0].command = Command::default();
    let p = store(&entries, HardState { term: Term(1), vote: Some(NodeId(1)), commit: LogIndex(3) });
    let clock = Arc::new(ManualClock::new(0));
    let node = Arc::new(node_with(1, 3, p, &clock));
    assert!(node.is_recovering(), "committed entries wait for a state machine");
    assert_eq!(node.commit_index(), LogIndex(3));
    assert_eq!(node.last_log_index(), LogIndex(4));

    let handle = Arc::new(OnceLock::new());
    handle.set(Arc::downgrade(&node)).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    node.set_state_machine(Observer { node: handle, seen: seen.clone() }).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(2, true), (3, true)],
        "entries 2 and 3 replayed while recovering; the no-op skipped; entry 4 is not committed"
    );
    assert!(!node.is_recovering());
}

#[test]
fn defect_7_a_node_with_nothing_committed_is_not_recovering() {
    let p = store(&log_of(&[1, 1]), HardState { term: Term(1), vote: None, commit: LogIndex(0) });
    let clock = Arc::new(ManualClock::new(0));
    let node = node_with(1, 3, p, &clock);
    assert!(!node.is_recovering());
}

// ----- Defect 8: the election timeout is drawn once per reset, from a seeded RNG --------------

fn seeded_node(seed: u64, clock: &Arc<ManualClock>) -> RaftNode {
    let mut cfg = RaftConfig::new(1, [1, 2, 3]);
    cfg.rng_seed = seed;
    RaftNode::with_clock(cfg, Arc::new(MemPersistence::new()), clock.clone()).unwrap()
}

/// Milliseconds until the timeout elapses, polling `polls_per_ms` times at each millisecond.
fn time_to_elapse(node: &RaftNode, clock: &ManualClock, polls_per_ms: usize) -> u64 {
    let start = clock.now_ms();
    for _ in 0..=1_000 {
        for _ in 0..polls_per_ms {
            if node.election_timeout_elapsed() {
                return clock.now_ms() - start;
            }
        }
        clock.advance(1);
    }
    panic!("the election timeout never elapsed");
}

/// The first `rounds` timeouts of a node with `seed`, each measured after a reset.
fn timeouts(seed: u64, polls_per_ms: usize, rounds: usize) -> Vec<u64> {
    let clock = Arc::new(ManualClock::new(1_000));
    let node = seeded_node(seed, &clock);
    (0..rounds)
        .map(|_| {
            let t = time_to_elapse(&node, &clock, polls_per_ms);
            node.reset_election_timer();
            t
        })
        .collect()
}

#[test]
fn defect_8_the_same_seed_gives_the_same_timeouts_and_polling_does_not_redraw() {
    let once = timeouts(42, 1, 6);
    assert_eq!(once, timeouts(42, 1, 6), "same seed, same timeouts");
    assert_eq!(once, timeouts(42, 50, 6), "polling 50 times a millisecond changes nothing");
    assert_ne!(once, timeouts(43, 1, 6), "another seed, other timeouts");
    assert!(once.iter().all(|t| (150..=300).contains(t)), "{once:?} within 150..=300 ms");
    assert!(once.windows(2).any(|w| w[0] != w[1]), "each reset draws afresh: {once:?}");
}

#[test]
fn defect_8_an_elapsed_timeout_stays_elapsed_until_reset() {
    let clock = Arc::new(ManualClock::new(0));
    let node = seeded_node(7, &clock);
    clock.advance(301);
    for _ in 0..100 {
        assert!(node.election_timeout_elapsed());
    }
    node.reset_election_timer();
    assert!(!node.election_timeout_elapsed(), "a reset starts a new timeout from now");
}

#[test]
fn defect_8_timeouts_are_not_biased_towards_the_minimum() {
    // Redrawing on every poll makes the first elapse land near the minimum; drawing once per
    // reset keeps them uniform over 150..=300 ms (mean 225).
    let draws: Vec<u64> = (0..200).map(|seed| timeouts(seed, 10, 1)[0]).collect();
    let mean = draws.iter().sum::<u64>() as f64 / draws.len() as f64;
    assert!((205.0..245.0).contains(&mean), "mean timeout {mean} ms");
}

#[test]
fn defect_8_the_core_keeps_its_deadline_across_ticks() {
    let mut f = core(1, 3, &[], 0);
    let deadline = f.election_deadline();
    assert!((150..=300).contains(&deadline));
    for now in 0..deadline {
        f.step(Input::Tick { now }).unwrap();
        assert_eq!(f.election_deadline(), deadline);
    }
    assert_eq!(f.state(), NodeState::Follower);
    f.step(Input::Tick { now: deadline }).unwrap();
    assert_eq!(f.state(), NodeState::Candidate, "a pre-candidate once the deadline passes");
}

// ----- Defect 11: any cluster size from one voter works -------------------------------------

#[test]
fn defect_11_clusters_of_1_2_4_and_6_voters_elect_and_commit() {
    for n in [1u64, 2, 4, 6] {
        assert!(RaftNode::new(config(1, n)).is_ok(), "RaftNode accepts {n} voters");
        let mut c = Cluster::new(n, 11 + n);
        let leader = c.run_until_leader(3_000).unwrap_or_else(|| panic!("{n} voters elect a leader"));
        c.propose(leader.0, b"v").unwrap();
        c.run_for(60);
        for id in 1..=n {
            assert_eq!(c.node(id).applied.len(), 1, "n={n}: node {id} applied the entry");
        }
    }
}

#[test]
fn defect_11_two_voters_need_both_to_elect_and_to_commit() {
    let mut c = Cluster::new(2, 3);
    c.cut_link(1, 2);
    c.elect(1);
    assert_ne!(c.node(1).core.state(), NodeState::Leader, "one vote of two is not a majority");
    c.heal();
    c.elect(1);
    assert_eq!(c.leader(), Some(NodeId(1)));
    c.cut_link(1, 2);
    let index = c.propose(1, b"x").unwrap();
    c.run_for(60);
    assert!(c.node(1).core.log().committed() < index, "the leader alone is not a majority of 2");
    c.heal();
    c.run_for(60);
    assert_eq!(c.node(1).core.log().committed(), index);
    assert_eq!(c.node(2).applied.len(), 1);
}

#[test]
fn defect_11_four_and_six_voters_commit_with_a_majority_and_not_with_half() {
    for n in [4u64, 6] {
        let mut c = Cluster::new(n, 17);
        c.elect(1);
        assert_eq!(c.leader(), Some(NodeId(1)), "n={n}");
        // Cut off exactly half of the cluster (the leader stays with the other half).
        for id in n / 2 + 1..=n {
            c.isolate(id);
        }
        let index = c.propose(1, b"half").unwrap();
        c.run_for(60);
        assert!(c.node(1).core.log().committed() < index, "n={n}: half is not a majority");
        // Bring one node back: now a majority holds it.
        c.heal();
        for id in n / 2 + 2..=n {
            c.isolate(id);
        }
        c.run_for(60);
        assert_eq!(c.node(1).core.log().committed(), index, "n={n}: a majority commits");
    }
}
