//! The Raft paper's rules (Figure 2, §5.1-§5.4), each checked on a single `Core` fed hand-built
//! messages: term update and stale-term rejection, one vote per term, the up-to-date check
//! (§5.4.1), a candidate falling back to follower, commitment only by counting current-term
//! entries (§5.4.2), and a follower truncating at the first conflict and not before (§5.3).
//! Where a rule has several cases, the cases are a table.

mod common;

use common::*;
use quorate::{Input, LogIndex, NodeId, NodeState, Term};

// ----- §5.1: terms -----------------------------------------------------------------------

#[test]
fn a_higher_term_in_a_request_makes_a_follower_adopt_it_and_forget_its_vote() {
    let mut f = core_from(config(1, 3), durable(&[1, 1], 2, Some(3), 0));
    let readies = deliver_readies(&mut f, 2, append(5, 2, (2, 1), vec![], 0));
    assert_eq!(f.term(), Term(5));
    assert_eq!(f.vote(), None, "a vote is for one term only");
    assert_eq!(f.leader(), Some(NodeId(2)));
    let hs = readies[0].hard_state.expect("the new term is persisted");
    assert_eq!((hs.term, hs.vote), (Term(5), None));
    // The answer depends on the new term: it may leave only once that is durable.
    assert!(readies[0].messages.is_empty());
    let reply = append_reply(&readies[0].messages_when_durable, 2);
    assert_eq!((reply.term, reply.success), (Term(5), true));
}

#[test]
fn a_higher_term_in_a_response_makes_a_leader_step_down() {
    let mut l = core(1, 3, &[], 0);
    make_leader(&mut l, &[2]);
    assert_eq!(l.term(), Term(1));
    let mut rejection = ack(4, 0, 0);
    if let quorate::Payload::AppendEntriesResponse(r) = &mut rejection {
        r.success = false;
    }
    deliver(&mut l, 3, rejection);
    assert_eq!(l.state(), NodeState::Follower);
    assert_eq!(l.term(), Term(4));
    assert_eq!(l.leader(), None);
}

#[test]
fn stale_term_requests_are_rejected_with_the_current_term_and_change_nothing() {
    let mut f = core_from(config(1, 3), durable(&[1, 1], 5, None, 0));
    let out = deliver(&mut f, 2, append(3, 2, (2, 1), entries_from(3, &[3]), 2));
    let reply = append_reply(&out, 2);
    assert_eq!((reply.term, reply.success), (Term(5), false), "the stale leader learns the term");
    assert_eq!(terms(&f), vec![1, 1], "no entry of a stale leader is stored");
    assert_eq!(f.log().committed(), LogIndex(0), "a stale leader's commit index is ignored");
    assert_eq!(f.leader(), None, "a stale leader is not recognised");

    let out = deliver(&mut f, 3, vote_request(4, 3, 10, 4));
    let reply = vote_reply(&out, 3);
    assert_eq!((reply.term, reply.vote_granted), (Term(5), false));
    assert_eq!(f.vote(), None);
    assert_eq!(f.term(), Term(5));
}

#[test]
fn stale_term_responses_are_ignored_by_leaders_and_candidates() {
    // A candidate of term 3 ignores a grant from term 2: it was for another election.
    let mut c = core_from(config(1, 3), durable(&[], 2, None, 0));
    c.step(Input::Campaign).unwrap();
    drain(&mut c);
    assert_eq!(c.term(), Term(3));
    deliver(&mut c, 2, vote(2, true));
    assert_eq!(c.state(), NodeState::Candidate, "an old grant does not elect");

    // A leader of term 3 ignores an acknowledgement from term 2.
    deliver(&mut c, 2, vote(3, true));
    assert_eq!(c.state(), NodeState::Leader);
    deliver(&mut c, 2, ack(2, 1, 1));
    assert_eq!(c.progress(NodeId(2)).unwrap().match_index, LogIndex(0));
    assert_eq!(c.log().committed(), LogIndex(0));
}

// ----- §5.2: one vote per term -------------------------------------------------------------

#[test]
fn a_node_grants_at_most_one_vote_per_term_and_persists_it_before_answering() {
    let mut f = core(1, 3, &[1], 1);
    let readies = deliver_readies(&mut f, 2, vote_request(2, 2, 1, 1));
    let hs = readies[0].hard_state.expect("the vote is persisted");
    assert_eq!((hs.term, hs.vote), (Term(2), Some(NodeId(2))));
    assert!(readies[0].messages.is_empty(), "a grant never leaves before the vote is durable");
    assert!(vote_reply(&readies[0].messages_when_durable, 2).vote_granted);

    // Another candidate of the same term, just as up to date, is refused.
    let out = deliver(&mut f, 3, vote_request(2, 3, 1, 1));
    assert!(!vote_reply(&out, 3).vote_granted);
    assert_eq!(f.vote(), Some(NodeId(2)));

    // The same candidate asking again (a retry) gets the same answer.
    let out = deliver(&mut f, 2, vote_request(2, 2, 1, 1));
    assert!(vote_reply(&out, 2).vote_granted);

    // A new term is a new vote.
    let out = deliver(&mut f, 3, vote_request(3, 3, 1, 1));
    assert!(vote_reply(&out, 3).vote_granted);
    assert_eq!((f.term(), f.vote()), (Term(3), Some(NodeId(3))));
}

#[test]
fn a_candidate_has_voted_for_itself_and_refuses_rivals_of_its_term() {
    let mut c = core(1, 3, &[], 0);
    c.step(Input::Campaign).unwrap();
    drain(&mut c);
    assert_eq!((c.term(), c.vote()), (Term(1), Some(NodeId(1))));
    let out = deliver(&mut c, 2, vote_request(1, 2, 5, 1));
    assert!(!vote_reply(&out, 2).vote_granted);
    assert_eq!(c.vote(), Some(NodeId(1)));
}

#[test]
fn a_vote_survives_a_restart() {
    let mut f = core(1, 3, &[], 0);
    let readies = deliver_readies(&mut f, 2, vote_request(1, 2, 0, 0));
    let hs = readies[0].hard_state.unwrap();
    // Restart from what was persisted: the vote is still cast.
    let mut restarted =
        core_from(config(1, 3), quorate::DurableState { hard_state: hs, ..Default::default() });
    let out = deliver(&mut restarted, 3, vote_request(1, 3, 0, 0));
    assert!(!vote_reply(&out, 3).vote_granted);
}

// ----- §5.4.1: the up-to-date check --------------------------------------------------------

/// Voter log terms [1, 1, 2] (last entry: index 3, term 2).
/// Each row: candidate's last log index, last log term, whether the vote is granted.
const UP_TO_DATE: &[(u64, u64, bool)] = &[
    (3, 2, true),   // identical last entry
    (4, 2, true),   // same last term, longer
    (2, 2, false),  // same last term, shorter
    (10, 1, false), // longer, but an older last term
    (1, 3, true),   // shorter, but a newer last term
    (0, 0, false),  // empty log
];

#[test]
fn votes_go_only_to_candidates_at_least_as_up_to_date() {
    for &(last_index, last_term, granted) in UP_TO_DATE {
        let mut f = core(1, 3, &[1, 1, 2], 2);
        let out = deliver(&mut f, 2, vote_request(3, 2, last_index, last_term));
        let reply = vote_reply(&out, 2);
        assert_eq!(reply.vote_granted, granted, "candidate last entry ({last_index}, t{last_term})");
        assert_eq!(f.vote(), granted.then_some(NodeId(2)));
        assert_eq!(f.term(), Term(3), "the term is adopted whether or not the vote is granted");
    }
}

// ----- §5.2: a candidate falls back to follower ---------------------------------------------

#[test]
fn the_election_timer_restarts_only_on_hearing_the_leader_or_granting_a_vote() {
    // Figure 2: a follower's timer restarts when it hears from the current leader or grants
    // a vote. A rejected candidate of a higher term moves the follower's term, not its timer:
    // otherwise a stale candidate on a fast clock keeps every up-to-date node from ever
    // campaigning (found by the sim_schedule fuzzer, PreVote off).
    let mut cfg = config(1, 3);
    cfg.pre_vote = false;
    let mut f = core_from(cfg, durable(&[1, 1, 1], 1, None, 0));
    let deadline = f.election_deadline();
    f.step(Input::Tick { now: deadline - 1 }).unwrap();
    let out = deliver(&mut f, 2, vote_request(2, 2, 1, 1));
    assert!(!vote_reply(&out, 2).vote_granted, "the candidate's log is behind");
    assert_eq!(f.term(), Term(2));
    assert_eq!(f.election_deadline(), deadline, "a refused candidate does not restart the timer");
    f.step(Input::Tick { now: deadline }).unwrap();
    assert_eq!((f.state(), f.term()), (NodeState::Candidate, Term(3)), "the up-to-date node campaigns");

    // Granting a vote does restart it.
    let mut g = core_from(config(1, 3), durable(&[1], 1, None, 0));
    let deadline = g.election_deadline();
    g.step(Input::Tick { now: deadline - 1 }).unwrap();
    let out = deliver(&mut g, 2, vote_request(2, 2, 1, 1));
    assert!(vote_reply(&out, 2).vote_granted);
    assert!(g.election_deadline() > deadline, "a granted vote restarts the timer");
}

#[test]
fn within_a_leader_lease_a_vote_request_moves_neither_the_term_nor_the_vote() {
    // Thesis §4.2.3, with CheckQuorum on: a node that heard from a live leader less than the
    // minimum election timeout ago ignores a vote request of a higher term, so a node that
    // cannot hear the leader (a one-way link) cannot depose it every time its timer fires.
    let mut f = core(1, 3, &[1], 1);
    deliver(&mut f, 2, append(1, 2, (1, 1), vec![], 1));
    assert_eq!(f.leader(), Some(NodeId(2)));
    let out = deliver(&mut f, 3, vote_request(5, 3, 9, 1));
    assert!(out
        .iter()
        .all(|m| !matches!(m.payload, quorate::Payload::RequestVoteResponse(ref r) if r.vote_granted)));
    assert_eq!((f.term(), f.vote(), f.leader()), (Term(1), None, Some(NodeId(2))), "ignored in the lease");
    // Once the lease has run out, the same request is granted.
    let lease_end = f.config().election_timeout_min_ms;
    f.step(Input::Tick { now: lease_end }).unwrap();
    let out = deliver(&mut f, 3, vote_request(5, 3, 9, 1));
    assert!(vote_reply(&out, 3).vote_granted);
    assert_eq!((f.term(), f.vote()), (Term(5), Some(NodeId(3))));

    // Without CheckQuorum there is no lease.
    let mut cfg = config(1, 3);
    cfg.check_quorum = false;
    let mut g = core_from(cfg, durable(&[1], 1, None, 0));
    deliver(&mut g, 2, append(1, 2, (1, 1), vec![], 1));
    let out = deliver(&mut g, 3, vote_request(5, 3, 9, 1));
    assert!(vote_reply(&out, 3).vote_granted);
}

#[test]
fn a_candidate_becomes_follower_on_append_entries_of_its_own_term() {
    let mut c = core(1, 3, &[1], 1);
    c.step(Input::Campaign).unwrap();
    drain(&mut c);
    assert_eq!((c.state(), c.term()), (NodeState::Candidate, Term(2)));
    let out = deliver(&mut c, 2, append(2, 2, (1, 1), entries_from(2, &[2]), 0));
    assert_eq!(c.state(), NodeState::Follower);
    assert_eq!(c.term(), Term(2), "the term does not change");
    assert_eq!(c.leader(), Some(NodeId(2)));
    assert_eq!(c.vote(), Some(NodeId(1)), "its own vote of this term stays cast");
    assert!(append_reply(&out, 2).success);
    assert_eq!(terms(&c), vec![1, 2]);
}

#[test]
fn a_candidate_recognises_the_leader_even_when_the_entries_do_not_match() {
    let mut c = core(1, 3, &[1], 1);
    c.step(Input::Campaign).unwrap();
    drain(&mut c);
    let out = deliver(&mut c, 2, append(2, 2, (5, 2), entries_from(6, &[2]), 0));
    assert_eq!(c.state(), NodeState::Follower);
    assert_eq!(c.leader(), Some(NodeId(2)));
    assert!(!append_reply(&out, 2).success);
}

#[test]
fn a_candidate_ignores_append_entries_of_an_older_term() {
    let mut c = core(1, 3, &[1], 1);
    c.step(Input::Campaign).unwrap();
    drain(&mut c);
    let out = deliver(&mut c, 2, append(1, 2, (1, 1), vec![], 0));
    assert_eq!(c.state(), NodeState::Candidate);
    assert_eq!(append_reply(&out, 2).term, Term(2));
}

// ----- §5.4.2: commit only by counting current-term entries ---------------------------------

#[test]
fn a_leader_commits_only_by_counting_replicas_of_a_current_term_entry() {
    // The leader of term 3 inherits entries of terms 1 and 2 and appends its no-op at 4.
    let mut l = core(1, 3, &[1, 1, 2], 2);
    make_leader(&mut l, &[2]);
    assert_eq!(terms(&l), vec![1, 1, 2, 3]);
    // Every follower holds index 3 (term 2): a majority, but not of a current-term entry.
    deliver(&mut l, 2, ack(3, 3, 3));
    deliver(&mut l, 3, ack(3, 3, 3));
    assert_eq!(l.progress(NodeId(2)).unwrap().match_index, LogIndex(3));
    assert_eq!(l.log().committed(), LogIndex(0), "entries of earlier terms never commit by counting");
    // A majority holds the no-op of term 3: it commits, and everything before it indirectly.
    deliver(&mut l, 2, ack(3, 4, 4));
    assert_eq!(l.log().committed(), LogIndex(4));
}

#[test]
fn a_leader_counts_its_own_entries_only_once_durable() {
    let mut l = core(1, 3, &[], 0);
    make_leader(&mut l, &[2]);
    deliver(&mut l, 2, ack(1, 1, 1));
    assert_eq!(l.log().committed(), LogIndex(1), "the no-op is durable on the leader and on 2");
    l.propose(quorate::Command::new(b"x".to_vec())).unwrap();
    // The driver takes the batch: entry 2 is being written and sent at the same time.
    let ready = l.ready();
    assert_eq!(ready.entries.iter().map(|e| e.index).collect::<Vec<_>>(), vec![LogIndex(2)]);
    // Follower 2 acknowledges index 2 before the leader's own write completes.
    let msg = quorate::Message { from: NodeId(2), to: NodeId(1), payload: ack(1, 2, 2) };
    l.step(Input::Message(msg)).unwrap();
    assert_eq!(l.log().committed(), LogIndex(1), "one durable copy of 3 is not a majority");
    l.advance(&ready);
    assert_eq!(l.log().committed(), LogIndex(2), "leader and follower 2 now both hold it durably");
}

// ----- §5.3: a follower truncates at the first conflict, and not before ----------------------

struct AppendCase {
    what: &'static str,
    follower: &'static [u64],
    prev: (u64, u64),
    first: u64,
    entries: &'static [u64],
    /// The follower's log terms afterwards.
    expect_log: &'static [u64],
    /// Index of the first entry the driver must write (it truncates its log from there).
    expect_write_from: Option<u64>,
    expect_success: bool,
    expect_match: u64,
}

const APPEND_CASES: &[AppendCase] = &[
    AppendCase {
        what: "conflict at 3: entries 1-2 stay, 3-4 are replaced",
        follower: &[1, 1, 2, 2],
        prev: (1, 1),
        first: 2,
        entries: &[1, 3],
        expect_log: &[1, 1, 3],
        expect_write_from: Some(3),
        expect_success: true,
        expect_match: 3,
    },
    AppendCase {
        what: "a shorter, stale request that matches truncates nothing",
        follower: &[1, 1, 2, 2],
        prev: (1, 1),
        first: 2,
        entries: &[1],
        expect_log: &[1, 1, 2, 2],
        expect_write_from: None,
        expect_success: true,
        expect_match: 2,
    },
    AppendCase {
        what: "a heartbeat that matches truncates nothing and proves only prev",
        follower: &[1, 1, 2, 2],
        prev: (2, 1),
        first: 3,
        entries: &[],
        expect_log: &[1, 1, 2, 2],
        expect_write_from: None,
        expect_success: true,
        expect_match: 2,
    },
    AppendCase {
        what: "entries already present are skipped, only the new tail is written",
        follower: &[1, 1, 2, 2],
        prev: (0, 0),
        first: 1,
        entries: &[1, 1, 2, 2, 3],
        expect_log: &[1, 1, 2, 2, 3],
        expect_write_from: Some(5),
        expect_success: true,
        expect_match: 5,
    },
    AppendCase {
        what: "prev term mismatch: rejected, nothing changes",
        follower: &[1, 1, 2, 2],
        prev: (3, 3),
        first: 4,
        entries: &[3],
        expect_log: &[1, 1, 2, 2],
        expect_write_from: None,
        expect_success: false,
        expect_match: 3,
    },
    AppendCase {
        what: "prev beyond the end: rejected, nothing changes",
        follower: &[1, 1],
        prev: (4, 2),
        first: 5,
        entries: &[3],
        expect_log: &[1, 1],
        expect_write_from: None,
        expect_success: false,
        expect_match: 4,
    },
];

#[test]
fn a_follower_truncates_at_the_first_conflict_and_not_before() {
    for case in APPEND_CASES {
        let mut f = core(1, 3, case.follower, 3);
        let entries = entries_from(case.first, case.entries);
        let readies = deliver_readies(&mut f, 2, append(3, 2, case.prev, entries, 0));
        assert_eq!(terms(&f), case.expect_log, "{}", case.what);
        let written = readies.iter().flat_map(|r| r.entries.iter()).map(|e| e.index.0).next();
        assert_eq!(written, case.expect_write_from, "{}: what the driver writes", case.what);
        let msgs: Vec<_> =
            readies.into_iter().flat_map(|r| r.messages.into_iter().chain(r.messages_when_durable)).collect();
        let reply = append_reply(&msgs, 2);
        assert_eq!(reply.success, case.expect_success, "{}", case.what);
        assert_eq!(reply.match_index, LogIndex(case.expect_match), "{}", case.what);
    }
}

#[test]
fn a_rejection_carries_a_hint_that_skips_the_conflicting_term() {
    // Follower holds terms [1, 2, 2, 2]; the leader probes at index 4 with term 3.
    let mut f = core(1, 3, &[1, 2, 2, 2], 3);
    let out = deliver(&mut f, 2, append(3, 2, (4, 3), vec![], 0));
    let reply = append_reply(&out, 2);
    assert!(!reply.success);
    assert_eq!(reply.conflict_term, Some(Term(2)));
    assert_eq!(reply.conflict_index, LogIndex(2), "the first index of term 2");
}

#[test]
fn a_leader_never_takes_entries_from_another_node_of_its_term() {
    let mut l = core(1, 3, &[], 0);
    make_leader(&mut l, &[2]);
    let before = terms(&l);
    let dropped = l.stats().dropped_invalid;
    let out = deliver(&mut l, 2, append(1, 2, (0, 0), entries_from(1, &[1, 1, 1]), 3));
    assert_eq!(terms(&l), before, "a leader only appends to its own log");
    assert_eq!(l.state(), NodeState::Leader);
    assert!(out.iter().all(|m| !matches!(m.payload, quorate::Payload::AppendEntriesResponse(_))));
    assert_eq!(l.stats().dropped_invalid, dropped + 1);
}
