//! A log that begins after a snapshot point: compaction in memory, on disk (the write-ahead
//! log and the in-memory persistence), recovery of "snapshot point + suffix", and a leader
//! that learns a follower needs a snapshot instead of failing.

mod common;

use common::*;
use proptest::prelude::*;
use quorate::log::{RaftLog, SnapshotPoint};
use quorate::storage::{load_durable, MemPersistence, RaftPersistence};
use quorate::{wal, DurableState, HardState, Input, LogIndex, Message, NodeId, Payload, Term};

/// Sorted terms for a log of up to `max` entries.
fn arb_terms(max: usize) -> impl Strategy<Value = Vec<u64>> {
    proptest::collection::vec(1u64..4, 0..=max).prop_map(|mut t| {
        t.sort_unstable();
        t
    })
}

proptest! {
    /// Compacting to any applied index keeps every later entry where it was, forgets the
    /// earlier ones, and recovering "point + suffix" gives the same log.
    #[test]
    fn a_compacted_log_keeps_its_suffix_and_recovers_from_it(
        terms in arb_terms(40),
        applied in 0u64..=40,
        cut in 0u64..=40,
        from in 0u64..=45,
    ) {
        let model = log_of(&terms);
        let last = terms.len() as u64;
        let applied = applied.min(last);
        let mut log = RaftLog::recovered(SnapshotPoint::default(), model.clone(), LogIndex(last)).unwrap();
        log.set_applied(LogIndex(applied));
        let result = log.compact_to(LogIndex(cut));
        if cut > applied {
            prop_assert!(result.is_err(), "compacted past what was applied");
            prop_assert_eq!(log.snapshot_point(), SnapshotPoint::default());
            return Ok(());
        }
        prop_assert!(result.is_ok());
        let point = log.snapshot_point();
        let term_at = |i: u64| if i == 0 { 0 } else { terms[i as usize - 1] };
        prop_assert_eq!(point, SnapshotPoint { index: LogIndex(cut), term: Term(term_at(cut)) });
        prop_assert_eq!(log.first_index(), LogIndex(cut + 1));
        prop_assert_eq!(log.last_index(), LogIndex(last));
        prop_assert_eq!(log.last_term(), Term(term_at(last)));
        for i in 0..=last + 1 {
            let expected = (i >= cut && i <= last).then(|| Term(term_at(i)));
            prop_assert_eq!(log.term(LogIndex(i)), expected, "term at {}", i);
        }
        let suffix: Vec<_> = model[cut as usize..].to_vec();
        prop_assert_eq!(log.entries(), suffix.clone());
        let slice = log.slice(LogIndex(from), LogIndex(last), usize::MAX, u64::MAX);
        prop_assert_eq!(slice.unwrap(), model[(from.max(cut + 1) - 1).min(last) as usize..].to_vec());
        let recovered = RaftLog::recovered(point, suffix, LogIndex(last)).unwrap();
        prop_assert_eq!(recovered.entries(), log.entries());
        prop_assert_eq!(recovered.snapshot_point(), point);
        prop_assert_eq!(recovered.applied(), LogIndex(cut), "what a snapshot covers counts as applied");
    }

    /// The write-ahead log and the in-memory persistence agree with a naive model on any
    /// sequence of appends, truncations and compactions, and recover "point + suffix".
    #[test]
    fn persistence_recovers_the_snapshot_point_and_the_suffix(
        ops in proptest::collection::vec((0u8..3, 0u64..12, 1u64..4), 0..30),
    ) {
        let mem = MemPersistence::new();
        let mut wal_bytes = Vec::new();
        let mut model = DurableState::default();
        for (kind, at, term) in ops {
            let last = model.entries.last().map_or(model.snapshot.index, |e| e.index);
            match kind {
                0 => {
                    let term = model.entries.last().map_or(model.snapshot.term, |e| e.term).max(Term(term));
                    let e = quorate::LogEntry::new(term, last.next(), vec![at as u8].into());
                    mem.append_entries(std::slice::from_ref(&e)).unwrap();
                    wal_bytes.extend_from_slice(&wal::entry_record(&e));
                    model.entries.push(e);
                }
                1 => {
                    let from = LogIndex(at);
                    if from <= model.snapshot.index {
                        prop_assert!(mem.truncate_log(from).is_err(), "a cut into the snapshot is refused");
                        continue;
                    }
                    mem.truncate_log(from).unwrap();
                    wal_bytes.extend_from_slice(&wal::truncate_record(from));
                    model.entries.retain(|e| e.index < from);
                }
                _ => {
                    // Compact to an entry the log holds (as a snapshot of applied entries does).
                    let Some(e) = model.entries.iter().find(|e| e.index.0 >= at).cloned() else { continue };
                    let point = SnapshotPoint { index: e.index, term: e.term };
                    mem.compact_log(point).unwrap();
                    wal_bytes.extend_from_slice(&wal::compact_record(&point));
                    model.entries.retain(|x| x.index > point.index);
                    model.snapshot = point;
                }
            }
        }
        let recovered = wal::recover(&wal_bytes);
        prop_assert_eq!(recovered.valid_len, wal_bytes.len());
        prop_assert_eq!(&recovered.state, &model);
        prop_assert_eq!(load_durable(&mem).unwrap(), model);
    }
}

#[test]
fn compaction_to_a_point_the_log_does_not_hold_drops_the_whole_log() {
    // A snapshot from a leader stands for a log this node diverged from or never had.
    let mut state = DurableState { entries: log_of(&[1, 1, 2]), ..DurableState::default() };
    wal::compact(&mut state, SnapshotPoint { index: LogIndex(2), term: Term(3) }).unwrap();
    assert!(state.entries.is_empty());
    assert_eq!(state.snapshot, SnapshotPoint { index: LogIndex(2), term: Term(3) });
    // An older point changes nothing; the same index with another term is refused.
    wal::compact(&mut state, SnapshotPoint { index: LogIndex(1), term: Term(1) }).unwrap();
    assert_eq!(state.snapshot.index, LogIndex(2));
    assert!(wal::compact(&mut state, SnapshotPoint { index: LogIndex(2), term: Term(2) }).is_err());
}

/// Found by the install_snapshot fuzz target's harness: compacting to the point the log
/// already starts at dropped the whole log (the point is no longer held as an entry).
#[test]
fn compacting_to_the_same_point_twice_keeps_the_log() {
    let mut state = DurableState { entries: log_of(&[1, 1, 2, 2]), ..DurableState::default() };
    let point = SnapshotPoint { index: LogIndex(2), term: Term(1) };
    wal::compact(&mut state, point).unwrap();
    wal::compact(&mut state, point).unwrap();
    assert_eq!(state.snapshot, point);
    assert_eq!(state.entries.iter().map(|e| e.index.0).collect::<Vec<_>>(), vec![3, 4]);
}

/// A leader recovered from a compacted log: a follower whose log ends before the snapshot
/// point needs a snapshot. The leader says so, sends it no entries (it has none to send)
/// and no panic, and still sends it heartbeats, so that it keeps its leader.
#[test]
fn a_leader_learns_that_a_follower_needs_a_snapshot() {
    let mut durable = durable(&[1, 1, 1, 2, 2], 2, Some(1), 5);
    durable.entries = durable.entries.split_off(3);
    durable.snapshot = SnapshotPoint { index: LogIndex(3), term: Term(1) };
    let mut leader = core_from(config(1, 3), durable);
    assert_eq!(leader.log().first_index(), LogIndex(4));
    make_leader(&mut leader, &[2]);
    // Follower 2 answers a probe: its log ends at 1, far behind the snapshot point.
    let term = leader.term().0;
    let msgs = deliver(&mut leader, 2, reject(term, 5, 1));
    assert!(leader.follower_needs_snapshot(NodeId(2)), "{:?}", leader.progress(NodeId(2)));
    assert!(!leader.follower_needs_snapshot(NodeId(3)));
    assert!(
        msgs.iter().all(|m| m.to != NodeId(2)
            || !matches!(&m.payload, Payload::AppendEntries(r) if !r.entries.is_empty())),
        "entries the leader does not hold were sent: {msgs:?}"
    );
    // A heartbeat still goes to the follower, from the snapshot point.
    let now = leader.now() + 1_000;
    leader.step(Input::Tick { now }).unwrap();
    let beats: Vec<Message> = drain(&mut leader).into_iter().filter(|m| m.to == NodeId(2)).collect();
    assert!(
        beats.iter().any(|m| matches!(&m.payload, Payload::AppendEntries(r) if r.prev_log_index == LogIndex(3) && r.entries.is_empty())),
        "no heartbeat from the snapshot point: {beats:?}"
    );
}

/// A rejection of an AppendEntries with `prev` from a follower whose log ends at `last`.
fn reject(term: u64, prev: u64, last: u64) -> Payload {
    Payload::AppendEntriesResponse(quorate::AppendEntriesResponse {
        term: Term(term),
        success: false,
        match_index: LogIndex(prev),
        last_log_index: LogIndex(last),
        conflict_index: LogIndex(last + 1),
        conflict_term: None,
        leader_hint: None,
    })
}

#[test]
fn a_compacted_hard_state_is_recovered_with_its_commit() {
    let point = SnapshotPoint { index: LogIndex(4), term: Term(2) };
    let durable = DurableState {
        hard_state: HardState { term: Term(3), vote: None, commit: LogIndex(1) },
        snapshot: point,
        entries: entries_from(5, &[3]),
        latest_snapshot: None,
    };
    let core = core_from(config(1, 3), durable);
    assert_eq!(core.log().committed(), LogIndex(4), "what the snapshot covers is committed");
    assert_eq!(core.log().applied(), LogIndex(4));
    assert_eq!(core.log().last_index(), LogIndex(5));
}
