//! An append-only record log (write-ahead log) over bytes, with checksummed frames, used by
//! the simulator's disks and by file-backed persistence.
//!
//! Records are [`crate::codec`] frames of five kinds: a log entry, a hard state, a
//! truncation point, a compaction point (the log starts after a snapshot point from
//! then on: recovery yields that point and the entries after it), and a whole snapshot (the
//! latest one from then on, and a compaction to its point: since a crash keeps a prefix of
//! the records, the log can lose the entries a snapshot stands for only with the snapshot
//! itself in force). [`recover`] replays the records and stops at the first frame that does
//! not check out (a torn or corrupt tail); the caller must cut the bytes back to
//! [`Recovered::valid_len`] before appending again, or a later synced record would sit
//! behind garbage and vanish on the next recovery (defect 4 of the seed).

use crate::codec::{self, CodecError, FrameKind};
use crate::core::{DurableState, HardState};
use crate::log::{LogEntry, SnapshotPoint};
use crate::snapshot::Snapshot;
use crate::types::LogIndex;

/// What recovery found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The durable state the valid records describe.
    pub state: DurableState,
    /// Length of the valid prefix of the bytes.
    pub valid_len: usize,
    /// Why recovery stopped before the end, if it did.
    pub stopped_by: Option<CodecError>,
}

/// Encodes a log entry record.
pub fn entry_record(entry: &LogEntry) -> Vec<u8> {
    codec::encode(FrameKind::LogEntry, entry).expect("a log entry within the frame limit encodes")
}

/// Encodes a hard state record.
pub fn hard_state_record(state: &HardState) -> Vec<u8> {
    codec::encode(FrameKind::HardState, state).expect("a hard state encodes")
}

/// Encodes a record that removes every entry at `from` and after.
pub fn truncate_record(from: LogIndex) -> Vec<u8> {
    codec::encode(FrameKind::Truncate, &from).expect("an index encodes")
}

/// Encodes a record that compacts the log up to `point`.
pub fn compact_record(point: &SnapshotPoint) -> Vec<u8> {
    codec::encode(FrameKind::Compact, point).expect("a snapshot point encodes")
}

/// Encodes a record of a whole snapshot: the latest one from then on, standing for the log
/// up to its point.
pub fn snapshot_record(snapshot: &Snapshot) -> Result<Vec<u8>, CodecError> {
    codec::encode(FrameKind::Snapshot, snapshot)
}

/// Replays `bytes`, returning the state of the longest valid prefix. Never panics.
pub fn recover(bytes: &[u8]) -> Recovered {
    let mut state = DurableState::default();
    let (valid_len, stopped_by) = replay_into(&mut state, bytes);
    Recovered { state, valid_len, stopped_by }
}

/// Applies the records in `bytes` to `state`, stopping at the first invalid one. Returns the
/// length of the valid prefix and why it stopped early, if it did.
pub fn replay_into(state: &mut DurableState, bytes: &[u8]) -> (usize, Option<CodecError>) {
    let mut pos = 0;
    while pos < bytes.len() {
        match apply_record(state, &bytes[pos..]) {
            Ok(used) => pos += used,
            Err(err) => return (pos, Some(err)),
        }
    }
    (pos, None)
}

/// Applies the record at the start of `bytes`; returns its length.
fn apply_record(state: &mut DurableState, bytes: &[u8]) -> Result<usize, CodecError> {
    let kind =
        *bytes.get(5).ok_or_else(|| CodecError::Truncated { needed: codec::HEADER_LEN - bytes.len() })?;
    match kind {
        k if k == FrameKind::LogEntry as u8 => {
            let (entry, used): (LogEntry, usize) = codec::decode(FrameKind::LogEntry, bytes)?;
            let expected = state.entries.last().map_or(state.snapshot.index, |e| e.index).next();
            if entry.index != expected {
                return Err(CodecError::Malformed(format!(
                    "entry {} where {} was expected",
                    entry.index, expected
                )));
            }
            state.entries.push(entry);
            Ok(used)
        }
        k if k == FrameKind::HardState as u8 => {
            let (hs, used) = codec::decode(FrameKind::HardState, bytes)?;
            state.hard_state = hs;
            Ok(used)
        }
        k if k == FrameKind::Truncate as u8 => {
            let (from, used): (LogIndex, usize) = codec::decode(FrameKind::Truncate, bytes)?;
            if from <= state.snapshot.index {
                return Err(CodecError::Malformed(format!(
                    "truncation at {from}, at or before the snapshot point {}",
                    state.snapshot.index
                )));
            }
            state.entries.retain(|e| e.index < from);
            Ok(used)
        }
        k if k == FrameKind::Snapshot as u8 => {
            let (snapshot, used): (Snapshot, usize) = codec::decode(FrameKind::Snapshot, bytes)?;
            if !snapshot.verify() {
                return Err(CodecError::Malformed(format!(
                    "the snapshot at {:?} fails its checksum",
                    snapshot.point()
                )));
            }
            compact(state, snapshot.point()).map_err(CodecError::Malformed)?;
            if state.latest_snapshot.as_ref().is_none_or(|s| s.meta.index < snapshot.meta.index) {
                state.latest_snapshot = Some(snapshot);
            }
            Ok(used)
        }
        k if k == FrameKind::Compact as u8 => {
            let (point, used): (SnapshotPoint, usize) = codec::decode(FrameKind::Compact, bytes)?;
            compact(state, point).map_err(CodecError::Malformed)?;
            Ok(used)
        }
        found => Err(CodecError::BadKind { found, expected: FrameKind::LogEntry as u8 }),
    }
}

/// Compacts `state`'s log up to `point`: a point at or behind the current one changes nothing
/// (compacting to the same point twice keeps the log), and the log keeps the entries after it. A point the log does not hold with that term may
/// still be right (a snapshot installed from a leader replaces a log that diverges or ends
/// before it): the whole log is then dropped.
pub fn compact(state: &mut DurableState, point: SnapshotPoint) -> Result<(), String> {
    if point.index < state.snapshot.index
        || (point.index == state.snapshot.index && point.term != state.snapshot.term)
    {
        if point.index == state.snapshot.index {
            return Err(format!(
                "compaction to {point:?} conflicts with the snapshot point {:?}",
                state.snapshot
            ));
        }
        return Ok(());
    }
    if point == state.snapshot {
        return Ok(());
    }
    let holds = state.entries.iter().any(|e| e.index == point.index && e.term == point.term);
    if holds {
        state.entries.retain(|e| e.index > point.index);
    } else {
        state.entries.clear();
    }
    state.snapshot = point;
    Ok(())
}
