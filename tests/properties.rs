//! Property tests (proptest) of the small kernels, each against a deliberately naive model
//! (STYLE.md 11):
//! - the wire codec: every message round-trips; corrupted frames (flipped bits, truncation,
//!   wrong lengths, trailing or random bytes) are rejected with an error, never a panic;
//! - `RaftLog::try_append` against the paper's three receiver rules on a plain `Vec`, plus
//!   "committed entries never change";
//! - a leader's commit after random acknowledgements, against "for each index, count the
//!   voters that hold it" (the quorum module alone: tests/quorum_props.rs).

mod common;

use common::*;
use proptest::prelude::*;
use quorate::codec::{self, CodecError, FrameKind};
use quorate::log::{AppendRejection, RaftLog, SnapshotPoint};
use quorate::{
    AppendEntriesRequest, AppendEntriesResponse, Command, EntryKind, Input, LogEntry, LogIndex, Message,
    NodeId, NodeState, Payload, RequestVoteRequest, RequestVoteResponse, Term,
};

// ----- Strategies ------------------------------------------------------------------------------

fn arb_entry() -> impl Strategy<Value = LogEntry> {
    (any::<u64>(), any::<u64>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..48)).prop_map(
        |(term, index, noop, data)| LogEntry {
            term: Term(term),
            index: LogIndex(index),
            kind: if noop { EntryKind::Noop } else { EntryKind::Normal },
            command: Command::new(data),
        },
    )
}

fn arb_payload() -> impl Strategy<Value = Payload> {
    let u = any::<u64>;
    prop_oneof![
        (u(), u(), u(), u(), any::<bool>()).prop_map(|(t, c, li, lt, pre_vote)| {
            Payload::RequestVote(RequestVoteRequest {
                term: Term(t),
                candidate_id: NodeId(c),
                last_log_index: LogIndex(li),
                last_log_term: Term(lt),
                pre_vote,
            })
        }),
        (u(), any::<bool>(), any::<bool>()).prop_map(|(t, vote_granted, pre_vote)| {
            Payload::RequestVoteResponse(RequestVoteResponse { term: Term(t), vote_granted, pre_vote })
        }),
        (u(), u(), u(), u(), proptest::collection::vec(arb_entry(), 0..6), u()).prop_map(
            |(t, l, pi, pt, entries, c)| {
                Payload::AppendEntries(AppendEntriesRequest {
                    term: Term(t),
                    leader_id: NodeId(l),
                    prev_log_index: LogIndex(pi),
                    prev_log_term: Term(pt),
                    entries,
                    leader_commit: LogIndex(c),
                })
            }
        ),
        (u(), any::<bool>(), u(), u(), proptest::option::of(u()), u(), proptest::option::of(u())).prop_map(
            |(t, success, m, ci, ct, last, hint)| {
                Payload::AppendEntriesResponse(AppendEntriesResponse {
                    term: Term(t),
                    success,
                    match_index: LogIndex(m),
                    conflict_index: LogIndex(ci),
                    conflict_term: ct.map(Term),
                    last_log_index: LogIndex(last),
                    leader_hint: hint.map(NodeId),
                })
            }
        ),
    ]
}

fn arb_message() -> impl Strategy<Value = Message> {
    (any::<u64>(), any::<u64>(), arb_payload()).prop_map(|(from, to, payload)| Message {
        from: NodeId(from),
        to: NodeId(to),
        payload,
    })
}

// ----- Codec -----------------------------------------------------------------------------------

proptest! {
    #[test]
    fn every_message_round_trips(msg in arb_message()) {
        let bytes = codec::encode_message(&msg).unwrap();
        prop_assert_eq!(codec::decode_message(&bytes).unwrap(), msg);
    }

    #[test]
    fn every_log_entry_round_trips_as_a_disk_record(e in arb_entry()) {
        let bytes = codec::encode(FrameKind::LogEntry, &e).unwrap();
        let (back, used): (LogEntry, usize) = codec::decode(FrameKind::LogEntry, &bytes).unwrap();
        prop_assert_eq!(back, e);
        prop_assert_eq!(used, bytes.len());
        // A record of one kind is never read as another.
        let other = codec::decode::<LogEntry>(FrameKind::HardState, &bytes);
        let is_bad_kind = matches!(other, Err(CodecError::BadKind { .. }));
        prop_assert!(is_bad_kind);
    }

    #[test]
    fn a_single_flipped_bit_is_always_detected(msg in arb_message(), bit in any::<prop::sample::Index>()) {
        let mut bytes = codec::encode_message(&msg).unwrap();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(codec::decode_message(&bytes).is_err(), "bit {} flipped", bit);
    }

    #[test]
    fn a_truncated_frame_is_rejected(msg in arb_message(), cut in any::<prop::sample::Index>()) {
        let bytes = codec::encode_message(&msg).unwrap();
        let keep = cut.index(bytes.len());
        prop_assert!(codec::decode_message(&bytes[..keep]).is_err());
    }

    #[test]
    fn a_wrong_length_field_is_rejected(msg in arb_message(), len in any::<u32>()) {
        let mut bytes = codec::encode_message(&msg).unwrap();
        let real = (bytes.len() - codec::HEADER_LEN) as u32;
        prop_assume!(len != real);
        bytes[6..10].copy_from_slice(&len.to_le_bytes());
        prop_assert!(codec::decode_message(&bytes).is_err());
    }

    #[test]
    fn trailing_bytes_are_rejected(msg in arb_message(), extra in proptest::collection::vec(any::<u8>(), 1..32)) {
        let mut bytes = codec::encode_message(&msg).unwrap();
        bytes.extend(extra);
        prop_assert!(codec::decode_message(&bytes).is_err());
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = codec::decode_message(&bytes);
        let _ = quorate::wal::recover(&bytes);
    }

    #[test]
    fn a_random_payload_in_a_valid_frame_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
        let bytes = frame(&payload);
        if let Ok(msg) = codec::decode_message(&bytes) {
            // Whatever decodes must encode back to a valid frame.
            prop_assert_eq!(codec::decode_message(&codec::encode_message(&msg).unwrap()).unwrap(), msg);
        }
        let _ = quorate::wal::recover(&bytes);
    }
}

/// A message frame with a correct header and checksum around `payload`.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::from(codec::MAGIC);
    out.push(codec::VERSION);
    out.push(FrameKind::Message as u8);
    out.extend((payload.len() as u32).to_le_bytes());
    out.extend(crc32c::crc32c(payload).to_le_bytes());
    out.extend(payload);
    out
}

#[test]
fn a_hostile_length_prefix_inside_a_valid_frame_is_an_error_not_an_allocation() {
    // Message { from 1, to 2, AppendEntries { term 1, leader 1, prev 0, prev term 0,
    // entries: a vector claiming 2^60 elements } }, in bincode's varint encoding.
    let mut payload = vec![1, 2, 2, 1, 1, 0, 0, 253];
    payload.extend((1u64 << 60).to_le_bytes());
    let result = codec::decode_message(&frame(&payload));
    assert!(matches!(result, Err(CodecError::Malformed(_))), "got {result:?}");
}

#[test]
fn an_oversized_length_field_is_refused_before_reading() {
    let mut bytes = frame(&[0; 4]);
    bytes[6..10].copy_from_slice(&(codec::MAX_FRAME_PAYLOAD as u32 + 1).to_le_bytes());
    assert!(matches!(codec::decode_message(&bytes), Err(CodecError::TooLarge(_))));
    bytes[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(codec::decode_message(&bytes).is_err());
}

// ----- The log against a naive model ------------------------------------------------------------

/// The paper's AppendEntries receiver rules 1-3 on a plain vector, plus the engine's guard that
/// a conflict at or below the commit index is refused.
fn naive_append(
    log: &mut Vec<LogEntry>,
    committed: u64,
    prev: u64,
    prev_term: u64,
    entries: &[LogEntry],
) -> Result<u64, AppendRejection> {
    let term_at = |log: &Vec<LogEntry>, i: u64| {
        if i == 0 {
            Some(0)
        } else {
            log.get(i as usize - 1).map(|e| e.term.0)
        }
    };
    // 1. Reply false if the log has no entry at prev with prev_term.
    if term_at(log, prev) != Some(prev_term) {
        return Err(AppendRejection::Mismatch);
    }
    // The entries must follow prev contiguously, with terms that never decrease.
    let mut last_term = prev_term;
    for (k, e) in entries.iter().enumerate() {
        if e.index.0 != prev + 1 + k as u64 || e.term.0 < last_term {
            return Err(AppendRejection::Malformed);
        }
        last_term = e.term.0;
    }
    // 2. An existing entry that conflicts with a new one is deleted with all that follow;
    // 3. new entries not already in the log are appended.
    let mut out = log.clone();
    for e in entries {
        let pos = e.index.0 as usize - 1;
        if let Some(existing) = out.get(pos) {
            if existing.term == e.term {
                continue;
            }
            if e.index.0 <= committed {
                return Err(AppendRejection::WouldOverwriteCommitted);
            }
            out.truncate(pos);
        }
        out.push(e.clone());
    }
    *log = out;
    Ok(prev + entries.len() as u64)
}

#[derive(Clone, Debug)]
enum LogOp {
    /// prev index, prev term (None: the model's own term at prev, so most requests match),
    /// and the terms of the entries that follow prev.
    Append {
        prev: u64,
        prev_term: Option<u64>,
        terms: Vec<u64>,
    },
    Commit(u64),
}

fn arb_sorted_terms(max_len: usize) -> impl Strategy<Value = Vec<u64>> {
    proptest::collection::vec(1u64..=4, 0..max_len).prop_map(|mut v| {
        v.sort();
        v
    })
}

fn arb_log_op() -> impl Strategy<Value = LogOp> {
    prop_oneof![
        4 => (0u64..10, proptest::option::weighted(0.2, 0u64..=4), arb_sorted_terms(5))
            .prop_map(|(prev, prev_term, terms)| LogOp::Append { prev, prev_term, terms }),
        1 => (0u64..10).prop_map(LogOp::Commit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn try_append_matches_the_naive_model_and_never_changes_committed_entries(
        initial in arb_sorted_terms(8),
        commit in 0u64..8,
        ops in proptest::collection::vec(arb_log_op(), 1..12),
    ) {
        let mut model = log_of(&initial);
        let mut committed = commit.min(model.len() as u64);
        let mut log = RaftLog::recovered(SnapshotPoint::default(), model.clone(), LogIndex(commit)).unwrap();
        // The follower's hot path takes the entries by value; it must behave identically.
        let mut owned = log.clone();
        prop_assert_eq!(log.committed(), LogIndex(committed));
        for op in ops {
            let committed_before: Vec<LogEntry> = model[..committed as usize].to_vec();
            match op {
                LogOp::Append { prev, prev_term, terms } => {
                    let prev_term = prev_term
                        .or_else(|| if prev == 0 { Some(0) } else { model.get(prev as usize - 1).map(|e| e.term.0) })
                        .unwrap_or(1);
                    let entries = entries_from(prev + 1, &terms);
                    let expected = naive_append(&mut model, committed, prev, prev_term, &entries);
                    let got = log.try_append(LogIndex(prev), Term(prev_term), &entries).map(|i| i.0);
                    prop_assert_eq!(&got, &expected);
                    let got = owned.try_append_owned(LogIndex(prev), Term(prev_term), entries).map(|i| i.0);
                    prop_assert_eq!(got, expected);
                }
                LogOp::Commit(to) => {
                    // The core never commits past the log's end (`commit_to` asserts it).
                    let to = to.min(model.len() as u64);
                    committed = committed.max(to);
                    log.commit_to(LogIndex(to));
                    owned.commit_to(LogIndex(to));
                }
            }
            let uncommitted: u64 = model[committed as usize..].iter().map(LogEntry::size_bytes).sum();
            prop_assert_eq!(log.uncommitted_bytes(), uncommitted);
            prop_assert_eq!(owned.uncommitted_bytes(), uncommitted);
            prop_assert_eq!(log.entries(), &model[..]);
            prop_assert_eq!(owned.entries(), &model[..]);
            prop_assert_eq!(log.committed(), LogIndex(committed));
            prop_assert_eq!(&model[..committed_before.len()], &committed_before[..], "committed entries changed");
        }
    }
}

// ----- The commit index against a naive count ---------------------------------------------------

proptest! {
    #[test]
    fn a_leaders_commit_after_random_acks_matches_a_naive_count(
        n in 1u64..=7,
        old in arb_sorted_terms(5),
        proposals in 0usize..6,
        acks in proptest::collection::vec((0u64..6, 0u64..16), 0..40),
    ) {
        // A leader of a new term over a log of older terms; every entry sent to every peer.
        let old_term = old.last().copied().unwrap_or(0);
        let mut l = core(1, n, &old, old_term);
        l.step(Input::Campaign).unwrap();
        for peer in 2..=n / 2 + 1 {
            let term = l.term().0;
            let msg = Message { from: NodeId(peer), to: NodeId(1), payload: vote(term, true) };
            l.step(Input::Message(msg)).unwrap();
        }
        prop_assert_eq!(l.state(), NodeState::Leader);
        for i in 0..proposals {
            l.propose(Command::new(vec![i as u8])).unwrap();
        }
        drain(&mut l);
        let term = l.term().0;
        let last = l.log().last_index().0;
        let mut matched = vec![0u64; n as usize];
        matched[0] = last;
        let mut naive_commit = 0;
        for (peer, index) in acks {
            if n == 1 {
                break;
            }
            let peer = 2 + peer % (n - 1);
            let index = index % (last + 1);
            deliver(&mut l, peer, ack(term, index, index));
            let m = &mut matched[peer as usize - 1];
            *m = (*m).max(index);
            // Naive: the highest current-term index that a majority holds.
            let majority = n as usize / 2 + 1;
            for c in 1..=last {
                let holders = matched.iter().filter(|&&m| m >= c).count();
                if holders >= majority && l.log().term(LogIndex(c)) == Some(Term(term)) {
                    naive_commit = naive_commit.max(c);
                }
            }
            prop_assert_eq!(l.log().committed().0, naive_commit, "after ack {} from {}", index, peer);
        }
        if n == 1 {
            prop_assert_eq!(l.log().committed().0, last, "a single voter commits alone");
        }
    }
}
