//! An append-only record log (write-ahead log) over bytes, with checksummed frames, used by
//! the simulator's disks and by file-backed persistence.
//!
//! Records are [`crate::codec`] frames of three kinds: a log entry, a hard state, and a
//! truncation point. [`recover`] replays the records and stops at the first frame that does
//! not check out (a torn or corrupt tail); the caller must cut the bytes back to
//! [`Recovered::valid_len`] before appending again, or a later synced record would sit
//! behind garbage and vanish on the next recovery (defect 4 of the seed).

use crate::codec::{self, CodecError, FrameKind};
use crate::core::{DurableState, HardState};
use crate::log::LogEntry;
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

/// Replays `bytes`, returning the state of the longest valid prefix. Never panics.
pub fn recover(bytes: &[u8]) -> Recovered {
    let mut state = DurableState::default();
    let mut pos = 0;
    while pos < bytes.len() {
        match apply_record(&mut state, &bytes[pos..]) {
            Ok(used) => pos += used,
            Err(err) => return Recovered { state, valid_len: pos, stopped_by: Some(err) },
        }
    }
    Recovered { state, valid_len: pos, stopped_by: None }
}

/// Applies the record at the start of `bytes`; returns its length.
fn apply_record(state: &mut DurableState, bytes: &[u8]) -> Result<usize, CodecError> {
    let kind =
        *bytes.get(5).ok_or_else(|| CodecError::Truncated { needed: codec::HEADER_LEN - bytes.len() })?;
    match kind {
        k if k == FrameKind::LogEntry as u8 => {
            let (entry, used): (LogEntry, usize) = codec::decode(FrameKind::LogEntry, bytes)?;
            let expected = state.entries.last().map_or(LogIndex(0), |e| e.index).next();
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
            let keep = usize::try_from(from.0.saturating_sub(1)).unwrap_or(usize::MAX);
            state.entries.truncate(keep);
            Ok(used)
        }
        found => Err(CodecError::BadKind { found, expected: FrameKind::LogEntry as u8 }),
    }
}
