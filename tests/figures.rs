//! The Raft paper's Figures 7 and 8, replayed on the in-process `Cluster`.
//!
//! Figure 7: a leader of term 8 meets each of the follower logs (a)-(f), missing entries,
//! holding extra ones, or both, and brings every one into agreement with its own log (§5.3).
//!
//! Figure 8: an entry of an older term stored on a majority is not committed by counting
//! (§5.4.2) and is later overwritten, safely, by a leader that never had it; and once an entry
//! of the current term covers it, it is committed and nobody can overwrite it.

mod common;

use common::*;
use quorate::testing::Cluster;
use quorate::{Input, LogIndex, Message, NodeId, NodeState, Payload, Term};

// ----- Figure 7 ------------------------------------------------------------------------------

/// The leader's log at the start of term 8 (indices 1-10).
const FIG7_LEADER: &[u64] = &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6];

/// The possible follower logs of Figure 7.
const FIG7_FOLLOWERS: &[(&str, &[u64])] = &[
    ("a", &[1, 1, 1, 4, 4, 5, 5, 6, 6]),
    ("b", &[1, 1, 1, 4]),
    ("c", &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]),
    ("d", &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]),
    ("e", &[1, 1, 1, 4, 4, 4, 4]),
    ("f", &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]),
];

#[test]
fn figure_7_the_leader_brings_every_follower_log_into_agreement() {
    for &(name, follower) in FIG7_FOLLOWERS {
        // Node 1 is the future leader, node 3 a copy of it (so the election is won even when
        // the follower refuses its vote, as (c) and (d) do), node 2 holds the follower's log.
        let mut c = Cluster::new(3, 7);
        install(&mut c, config(1, 3), durable(FIG7_LEADER, 7, None, 3));
        install(&mut c, config(3, 3), durable(FIG7_LEADER, 7, None, 3));
        let follower_term = follower.iter().copied().max().unwrap();
        install(&mut c, config(2, 3), durable(follower, follower_term, None, 3));

        c.elect(1);
        assert_eq!(c.leader(), Some(NodeId(1)), "({name}) node 1 leads");
        assert_eq!(c.node(1).core.term(), Term(8), "({name})");
        // Fast backtracking (one round trip per conflicting term) keeps repair short.
        assert!(c.delivered <= 24, "({name}) repair took {} messages", c.delivered);
        // One heartbeat later every follower also knows the commit index.
        c.run_for(60);

        let mut expected: Vec<u64> = FIG7_LEADER.to_vec();
        expected.push(8); // the new leader's no-op
        for id in 1..=3 {
            let core = &c.node(id).core;
            assert_eq!(terms(core), expected, "({name}) node {id}'s log agrees with the leader's");
            assert_eq!(core.log().committed(), LogIndex(11), "({name}) node {id} commits everything");
            assert_eq!(c.node(id).disk.entries, core.log().entries(), "({name}) node {id}'s disk");
        }
    }
}

// ----- Figure 8 ------------------------------------------------------------------------------

/// Figure 8 (b): S1 and S2 hold index 2 from term 2; S5 was elected in term 3 by S3, S4 and
/// itself and holds a different index 2 from term 3. Index 1 (term 1) is committed everywhere.
/// Messages carry one entry each, so that an old entry can travel without the new one.
/// CheckQuorum is off, as in the paper: its leader lease would make S2-S4 ignore S5's vote
/// requests right after S1 crashes, and the figure is about the log rules, not leases.
fn figure_8_b() -> Cluster {
    let one_entry = |cfg: &mut quorate::RaftConfig| {
        cfg.max_entries_per_append = 1;
        cfg.check_quorum = false;
    };
    let mut c = Cluster::with_config(5, 8, one_entry);
    let cfg = |id| {
        let mut cfg = config(id, 5);
        one_entry(&mut cfg);
        cfg
    };
    // S1 crashed in term 2 and heard of term 3 on restart, so its next campaign is for term 4.
    install(&mut c, cfg(1), durable(&[1, 2], 3, None, 1));
    install(&mut c, cfg(2), durable(&[1, 2], 2, Some(1), 1));
    install(&mut c, cfg(3), durable(&[1], 3, Some(5), 1));
    install(&mut c, cfg(4), durable(&[1], 3, Some(5), 1));
    install(&mut c, cfg(5), durable(&[1, 3], 3, Some(5), 1));
    c
}

/// Runs `ms` milliseconds of ticks, delivering each message unless `drop` says otherwise.
fn run_filtered(c: &mut Cluster, ms: u64, drop: impl Fn(&Message) -> bool) {
    for _ in 0..ms {
        c.now += 1;
        let now = c.now;
        for id in 1..=5 {
            c.step(id, Input::Tick { now }).unwrap();
        }
        while let Some(msg) = c.in_flight.pop_front() {
            if !drop(&msg) {
                c.step(msg.to.0, Input::Message(msg)).unwrap();
            }
        }
    }
}

fn carries_term(msg: &Message, term: u64) -> bool {
    matches!(&msg.payload, Payload::AppendEntries(req) if req.entries.iter().any(|e| e.term == Term(term)))
}

#[test]
fn figure_8_an_old_term_entry_on_a_majority_is_not_committed_and_is_overwritten_safely() {
    let mut c = figure_8_b();
    // (c): S5 is down; S1 becomes leader of term 4 and copies index 2 (term 2) to S3. Its own
    // term-4 no-op reaches nobody, and S4 hears nothing after the election.
    c.crash(5);
    c.step(1, Input::Campaign).unwrap();
    while let Some(msg) = c.in_flight.pop_front() {
        c.step(msg.to.0, Input::Message(msg)).unwrap();
        if c.node(1).core.state() == NodeState::Leader {
            break;
        }
    }
    assert_eq!(c.node(1).core.state(), NodeState::Leader);
    assert_eq!(c.node(1).core.term(), Term(4));
    let touches_4 = |m: &Message| m.to == NodeId(4) || m.from == NodeId(4);
    run_filtered(&mut c, 100, |m| carries_term(m, 4) || touches_4(m));

    assert_eq!(c.node(1).core.state(), NodeState::Leader, "S1 still leads with S2 and S3");
    for id in [1, 2, 3] {
        assert_eq!(terms(&c.node(id).core)[..2], [1, 2], "S{id} holds index 2 of term 2");
    }
    for peer in [2, 3] {
        let pr = c.node(1).core.progress(NodeId(peer)).unwrap();
        assert_eq!(pr.match_index, LogIndex(2), "S1 knows S{peer} holds index 2");
    }
    for id in 1..=4 {
        assert_eq!(
            c.node(id).core.log().committed(),
            LogIndex(1),
            "S{id}: index 2 is on a majority but of an old term, so it is not committed"
        );
        assert!(!applied(&c, id).contains(&(2, 2)), "S{id} never applies index 2 of term 2");
    }

    // (d): S1 crashes; S5 comes back and wins term 5 with S2, S3 and S4 (its last term 3 beats
    // their 2), then overwrites index 2 everywhere. Safe, because it was never committed.
    c.crash(1);
    c.heal();
    c.restart(5);
    c.elect(5); // term 4: refused, S2-S4 already voted in term 4
    c.elect(5); // term 5
    assert_eq!(c.leader(), Some(NodeId(5)));
    assert_eq!(c.node(5).core.term(), Term(5));
    c.run_for(120);
    for id in 2..=5 {
        let core = &c.node(id).core;
        assert_eq!(terms(core), vec![1, 3, 5], "S{id} agrees with S5");
        assert_eq!(core.log().committed(), LogIndex(3), "S{id}");
        assert_eq!(applied(&c, id), vec![(1, 1), (2, 3)], "S{id} applied S5's index 2");
    }
}

#[test]
fn figure_8_once_a_current_term_entry_covers_it_the_old_entry_is_committed_and_kept() {
    let mut c = figure_8_b();
    // (e): as in (c), but S1's term-4 no-op reaches S2 and S3 too.
    c.crash(5);
    c.cut_link(1, 4);
    c.elect(1);
    assert_eq!(c.node(1).core.term(), Term(4));
    c.run_for(60);
    for id in 1..=3 {
        assert_eq!(terms(&c.node(id).core), vec![1, 2, 4], "S{id}");
    }
    assert_eq!(c.node(1).core.log().committed(), LogIndex(3), "the term-4 entry commits index 2 with it");
    assert_eq!(applied(&c, 1), vec![(1, 1), (2, 2)]);

    // S1 crashes and S5 returns: it cannot win, because S2 and S3 hold a newer last term.
    c.crash(1);
    c.heal();
    c.restart(5);
    c.elect(5);
    c.elect(5);
    assert_ne!(c.node(5).core.state(), NodeState::Leader, "S5 cannot be elected");
    // The cluster still makes progress under S2, and keeps index 2 of term 2.
    c.elect(2);
    assert_eq!(c.leader(), Some(NodeId(2)));
    c.run_for(120);
    for id in 2..=5 {
        assert_eq!(terms(&c.node(id).core)[..3], [1, 2, 4], "S{id}");
        assert!(applied(&c, id).contains(&(2, 2)), "S{id} applied index 2 of term 2");
    }
}
