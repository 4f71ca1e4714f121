//! `log_recovery`: arbitrary bytes as a node's write-ahead log.
//!
//! [`wal::recover`] must return the state of the longest valid prefix and why it stopped,
//! never panic. The target replays that prefix again, record by record and independently of
//! the write-ahead log's own code: every record's checksum matches its payload, re-encoding
//! every record reproduces its bytes exactly (so nothing was recovered that the writer did not
//! write; one allowance: the same record with integers written in a longer form than the
//! encoder's, which bincode accepts), and the entries are contiguous from one past the
//! snapshot point that compaction records leave (index 1 without any). Then it
//! checks the two promises the rest of the engine relies on: a record appended after the
//! valid prefix is recovered too, and a core boots from the recovered state or refuses it
//! with an error.

use quorate::codec::{self, FrameKind, HEADER_LEN};
use quorate::config::RaftConfig;
use quorate::core::{Core, DurableState, HardState, Input};
use quorate::driver::Pipeline;
use quorate::log::{LogEntry, SnapshotPoint};
use quorate::types::{LogIndex, Term};
use quorate::wal;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// The `log_recovery` target.
pub fn log_recovery(data: &[u8]) {
    let recovered = wal::recover(data);
    let valid_len = recovered.valid_len;
    assert!(valid_len <= data.len(), "valid prefix of {valid_len} bytes is longer than the log");
    assert_eq!(
        recovered.stopped_by.is_none(),
        valid_len == data.len(),
        "recovery must say why it stopped early, and only then"
    );
    let state = replay_independently(&data[..valid_len]);
    assert_eq!(state, recovered.state, "recovery disagrees with a record-by-record replay");
    for (pos, entry) in state.entries.iter().enumerate() {
        let expected = state.snapshot.index.plus(pos as u64 + 1);
        assert_eq!(entry.index, expected, "recovered entries are not contiguous from the snapshot point");
    }

    // Recovering only the valid prefix finds the same state and nothing wrong.
    let again = wal::recover(&data[..valid_len]);
    assert_eq!((again.valid_len, &again.stopped_by), (valid_len, &None), "the valid prefix is not valid");
    assert_eq!(again.state, state, "the valid prefix recovers to another state");

    // After cutting back to the valid prefix, an appended record is recovered (seed defect 4).
    let next = state.entries.last().map_or(state.snapshot.index, |e| e.index).next();
    let entry = LogEntry::new(Term(u64::MAX), next, vec![7].into());
    let mut appended = data[..valid_len].to_vec();
    appended.extend_from_slice(&wal::entry_record(&entry));
    let after = wal::recover(&appended);
    assert_eq!(after.valid_len, appended.len(), "a record appended after the valid prefix was lost");
    assert_eq!(after.state.entries.last(), Some(&entry), "the appended entry was not recovered");

    boot(state);
}

/// Walks `bytes`, which recovery called valid, frame by frame: checks each checksum and that
/// re-encoding each record gives its bytes back, and applies the records to a naive model.
fn replay_independently(bytes: &[u8]) -> DurableState {
    let mut state = DurableState::default();
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        assert!(rest.len() >= HEADER_LEN, "a valid prefix ends inside a frame header");
        let len = u32::from_le_bytes(rest[6..10].try_into().expect("4 bytes")) as usize;
        let frame = rest.get(..HEADER_LEN + len).expect("a valid prefix ends inside a frame");
        let crc = u32::from_le_bytes(frame[10..14].try_into().expect("4 bytes"));
        assert_eq!(
            crc32c::crc32c(&frame[HEADER_LEN..]),
            crc,
            "recovered a record whose checksum does not match"
        );
        let rewritten = match frame[5] {
            k if k == FrameKind::LogEntry as u8 => {
                let (entry, _): (LogEntry, _) =
                    codec::decode(FrameKind::LogEntry, frame).expect("a valid entry");
                let record = wal::entry_record(&entry);
                let expected = state.snapshot.index.plus(state.entries.len() as u64 + 1);
                assert_eq!(entry.index, expected, "recovered a non-contiguous entry");
                state.entries.push(entry);
                record
            }
            k if k == FrameKind::HardState as u8 => {
                let (hs, _): (HardState, _) =
                    codec::decode(FrameKind::HardState, frame).expect("a valid state");
                state.hard_state = hs;
                wal::hard_state_record(&hs)
            }
            k if k == FrameKind::Truncate as u8 => {
                let (from, _): (LogIndex, _) =
                    codec::decode(FrameKind::Truncate, frame).expect("a valid cut");
                assert!(from > state.snapshot.index, "recovered a cut at or before the snapshot point");
                let keep = from.0 - state.snapshot.index.0 - 1;
                if keep < state.entries.len() as u64 {
                    state.entries.truncate(keep as usize);
                }
                wal::truncate_record(from)
            }
            k if k == FrameKind::Compact as u8 => {
                let (point, _): (SnapshotPoint, _) =
                    codec::decode(FrameKind::Compact, frame).expect("a valid compaction");
                let at = state.snapshot;
                assert!(
                    point.index != at.index || point.term == at.term,
                    "recovered a conflicting snapshot point"
                );
                if point.index > at.index {
                    // Keep what follows the point if the log holds it, else nothing.
                    let held = point.index.0 - at.index.0 - 1;
                    let holds = (held as usize) < state.entries.len()
                        && state.entries[held as usize].term == point.term;
                    state.entries =
                        if holds { state.entries.split_off(held as usize + 1) } else { Vec::new() };
                    state.snapshot = point;
                }
                wal::compact_record(&point)
            }
            other => panic!("recovery accepted a record of unknown kind {other}"),
        };
        if rewritten != frame {
            // bincode 2 also decodes integers written longer than needed (a width marker before
            // a small value), so a frame whose checksum matches may still differ from what this
            // writer makes of the same record: it can only come from another writer, and it must
            // be the same record, written longer, under the same header.
            assert!(rewritten.len() < frame.len(), "re-encoding a recovered record does not reproduce it");
            assert_eq!(
                rewritten[..6],
                frame[..6],
                "a recovered record's header differs from its re-encoding"
            );
        }
        pos += frame.len();
    }
    state
}

/// A core boots from a recovered state or refuses it with an error, and then runs: its
/// election timer fires and it campaigns from whatever term the disk held.
fn boot(state: DurableState) {
    let config = RaftConfig::new(1u64, [1u64, 2, 3]);
    let Ok(mut core) = Core::new(config, state.clone(), ChaCha8Rng::seed_from_u64(0), 0) else { return };
    assert_eq!(core.log().entries(), state.entries, "the core's log is not the recovered log");
    assert!(core.term() >= state.hard_state.term, "the core started below the recovered term");
    assert!(core.log().committed() <= core.log().last_index(), "commit beyond the log");
    let (mut disk, mut pipeline) = (state, Pipeline::new());
    for now in [1_000, 2_000] {
        core.step(Input::Tick { now }).expect("a tick is never an error");
        let mut sent: Vec<quorate::message::Message> = Vec::new();
        pipeline.drive(&mut core, &mut disk, &mut sent, &mut ()).expect("an in-memory disk does not fail");
    }
}
