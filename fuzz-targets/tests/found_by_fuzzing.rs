//! The defects the fuzz targets found, each as a readable test next to its opaque regression
//! input under `fuzz/regressions/`. Each asserts the opposite of what the engine did.

use quorate::core::{Core, DurableState, Input};
use quorate::message::{AppendEntriesRequest, Message, Payload};
use quorate::types::{LogIndex, NodeId, NodeState, Term};
use quorate::RaftConfig;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Node 1 of a cluster of `voters`, booted from `durable`, pre-vote as asked.
fn node(voters: u64, durable: DurableState, pre_vote: bool) -> Core {
    let mut config = RaftConfig::new(1u64, 1..=voters);
    config.pre_vote = pre_vote;
    Core::new(config, durable, ChaCha8Rng::seed_from_u64(7), 0).expect("a valid node")
}

/// Hands out and acknowledges everything, as a driver with a perfect disk would.
fn drain(core: &mut Core) {
    while core.has_ready() {
        let ready = core.ready();
        core.advance(&ready);
    }
}

fn heartbeat(term: Term) -> Message {
    let request = AppendEntriesRequest {
        term,
        leader_id: NodeId(2),
        prev_log_index: LogIndex(0),
        prev_log_term: Term(0),
        entries: Vec::new(),
        leader_commit: LogIndex(0),
    };
    Message { from: NodeId(2), to: NodeId(1), payload: Payload::AppendEntries(request) }
}

/// fuzz/regressions/request_vote/term-overflow-on-campaign.bin: a peer (or a corrupt disk)
/// put the node at term `u64::MAX`; its next election computed the term after that and
/// panicked, so one hostile message could crash any node. Now a peer's absurd term is
/// dropped, and a node recovered at such a term from a corrupt disk stays a follower.
#[test]
fn a_node_at_the_last_term_does_not_campaign() {
    for pre_vote in [false, true] {
        let mut core = node(3, DurableState::default(), pre_vote);
        core.step_message(heartbeat(Term(u64::MAX)));
        drain(&mut core);
        assert_eq!(core.term(), Term(0), "a peer's absurd term is dropped");
        let corrupt = DurableState {
            hard_state: quorate::HardState { term: Term(u64::MAX), ..Default::default() },
            ..DurableState::default()
        };
        let mut core = node(3, corrupt, pre_vote);
        assert_eq!(core.term(), Term(u64::MAX));
        for now in [10_000, 20_000] {
            core.step(Input::Tick { now }).expect("a tick is not an error");
            drain(&mut core);
        }
        core.step(Input::Campaign).expect("a campaign request is not an error");
        drain(&mut core);
        assert_eq!(core.state(), NodeState::Follower, "no election is possible beyond u64::MAX");
        assert_eq!(core.term(), Term(u64::MAX));
    }
}

/// fuzz/regressions/append_entries/index-overflow-in-conflict-hint.bin: a follower's
/// rejection claiming a last log index of `u64::MAX` made the leader compute the index after
/// it and panic. Now the claim is only a hint, and the leader keeps leading.
#[test]
fn a_rejection_claiming_the_last_index_does_not_crash_the_leader() {
    let mut core = node(3, DurableState::default(), false);
    core.step(Input::Campaign).expect("a campaign request is not an error");
    drain(&mut core);
    let grant = quorate::RequestVoteResponse { term: core.term(), vote_granted: true, pre_vote: false };
    core.step_message(Message {
        from: NodeId(2),
        to: NodeId(1),
        payload: Payload::RequestVoteResponse(grant),
    });
    drain(&mut core);
    assert_eq!(core.state(), NodeState::Leader);
    let reject = quorate::AppendEntriesResponse {
        term: core.term(),
        success: false,
        match_index: LogIndex(0),
        conflict_index: LogIndex(5),
        conflict_term: None,
        last_log_index: LogIndex(u64::MAX),
        leader_hint: None,
    };
    core.step_message(Message {
        from: NodeId(2),
        to: NodeId(1),
        payload: Payload::AppendEntriesResponse(reject),
    });
    drain(&mut core);
    assert_eq!(core.state(), NodeState::Leader);
}

/// fuzz/regressions/append_entries/entry-term-above-message-term.bin: a follower appended
/// entries whose term was above the AppendEntries' own term, so its log outranked its term.
/// Once elected, its no-op entry then had a lower term than its last entry, and the log's
/// assertion panicked the new leader. Such a request is malformed and is now dropped.
#[test]
fn entries_newer_than_their_leader_are_refused() {
    let mut core = node(3, DurableState::default(), false);
    let mut append = heartbeat(Term(2));
    if let Payload::AppendEntries(req) = &mut append.payload {
        req.entries = vec![
            quorate::LogEntry::new(Term(2), LogIndex(1), vec![1].into()),
            quorate::LogEntry::new(Term(99), LogIndex(2), vec![2].into()),
        ];
    }
    core.step_message(append);
    drain(&mut core);
    assert!(core.log().last_term() <= core.term(), "the log outranks the node's term");
    core.step(Input::Campaign).expect("a campaign request is not an error");
    drain(&mut core);
    for voter in [2, 3] {
        let grant = quorate::RequestVoteResponse { term: core.term(), vote_granted: true, pre_vote: false };
        let msg =
            Message { from: NodeId(voter), to: NodeId(1), payload: Payload::RequestVoteResponse(grant) };
        core.step_message(msg);
        drain(&mut core);
    }
    assert_eq!(core.state(), NodeState::Leader);
}

/// `fuzz/regressions/install_snapshot/snapshot-index-overflows.bin`: a snapshot chunk
/// claiming to stand for the log up to `u64::MAX` was installed, and the next index past
/// it overflowed (a panic: any peer could crash the node). Such a chunk is now dropped.
#[test]
fn a_snapshot_at_the_last_index_is_dropped() {
    use quorate::message::InstallSnapshotRequest;
    use quorate::snapshot::{Snapshot, SnapshotMeta};
    let mut core = node(3, DurableState::default(), true);
    let meta = SnapshotMeta {
        index: LogIndex(u64::MAX),
        term: Term(1),
        config: quorate::Configuration::new([NodeId(1), NodeId(2), NodeId(3)]),
    };
    let snapshot = Snapshot::new(meta, quorate::Bytes::from_static(b"state"));
    let request = InstallSnapshotRequest {
        term: Term(1),
        leader_id: NodeId(2),
        last_included_index: snapshot.meta.index,
        last_included_term: snapshot.meta.term,
        config: snapshot.meta.config.clone(),
        offset: 0,
        data: snapshot.data.clone(),
        done: true,
        total_bytes: snapshot.size(),
        checksum: snapshot.checksum,
    };
    let msg = Message { from: NodeId(2), to: NodeId(1), payload: Payload::InstallSnapshot(request) };
    core.step(Input::Message(msg)).expect("a message is never an error");
    drain(&mut core);
    assert_eq!(core.log().snapshot_point().index, LogIndex(0), "nothing installed");
    assert_eq!(core.stats().dropped_invalid, 1);
}
