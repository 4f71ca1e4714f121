//! A simulated disk: the node's write-ahead log as bytes, durable only once synced.
//!
//! A crash keeps the synced prefix and, with a torn write, a random prefix of what was
//! written but not synced (the disk writes in order, so what survives is a prefix). Restart
//! recovers through [`quorate::wal`], the same code a file-backed log uses, and cuts the bytes
//! back to the valid prefix before anything is appended.

use crate::rng::{chance, range, SimRng};
use quorate::core::{DurableState, HardState, Ready};
use quorate::log::SnapshotPoint;
use quorate::types::{LogIndex, Term};
use quorate::wal;

/// One node's disk.
#[derive(Debug, Default)]
pub struct SimDisk {
    bytes: Vec<u8>,
    synced_len: usize,
    /// Where the durable log starts (what a snapshot covers before it).
    durable_start: SnapshotPoint,
    /// Terms of the durable (synced or recovered) log from one past `durable_start`: the
    /// checkers' view of what this disk guarantees.
    durable_terms: Vec<Term>,
    durable_hard_state: HardState,
    /// Writes not yet synced, oldest first: end offset and what they change.
    unsynced: Vec<(usize, Effect)>,
    /// Bytes lost or torn by crashes.
    pub lost_bytes: u64,
}

#[derive(Debug)]
struct Effect {
    /// A snapshot, written first: the log starts after its point once it is durable.
    snapshot: Option<SnapshotPoint>,
    truncate_from: Option<LogIndex>,
    terms: Vec<Term>,
    hard_state: Option<HardState>,
}

impl SimDisk {
    /// Writes the durable part of `ready` (not yet synced); returns the end offset to sync to.
    pub fn write(&mut self, ready: &Ready) -> usize {
        if let Some(snapshot) = &ready.snapshot {
            // One record: a crash keeps a prefix of the bytes, so the log loses the entries
            // the snapshot stands for only with the snapshot in force.
            self.bytes.extend_from_slice(
                &wal::snapshot_record(snapshot).expect("a simulated snapshot fits a frame"),
            );
        }
        let truncate_from = ready.entries.first().map(|e| e.index);
        if let Some(from) = truncate_from {
            self.bytes.extend_from_slice(&wal::truncate_record(from));
            for entry in &ready.entries {
                self.bytes.extend_from_slice(&wal::entry_record(entry));
            }
        }
        if let Some(hs) = &ready.hard_state {
            self.bytes.extend_from_slice(&wal::hard_state_record(hs));
        }
        let effect = Effect {
            snapshot: ready.snapshot.as_ref().map(|s| s.point()),
            truncate_from,
            terms: ready.entries.iter().map(|e| e.term).collect(),
            hard_state: ready.hard_state,
        };
        self.unsynced.push((self.bytes.len(), effect));
        self.bytes.len()
    }

    /// Makes everything written up to `end` durable.
    pub fn sync_to(&mut self, end: usize) {
        while self.unsynced.first().is_some_and(|(e, _)| *e <= end) {
            let (_, effect) = self.unsynced.remove(0);
            self.apply(effect);
        }
        self.synced_len = self.synced_len.max(end);
    }

    fn apply(&mut self, effect: Effect) {
        if let Some(point) = effect.snapshot.filter(|p| p.index > self.durable_start.index) {
            let holds = self
                .position(point.index)
                .is_some_and(|pos| self.durable_terms.get(pos) == Some(&point.term));
            if holds {
                let keep_from = self.position(point.index).expect("held") + 1;
                self.durable_terms.drain(..keep_from);
            } else {
                self.durable_terms.clear();
            }
            self.durable_start = point;
        }
        if let Some(from) = effect.truncate_from {
            self.durable_terms.truncate(self.position(from).unwrap_or(0));
            self.durable_terms.extend(effect.terms);
        }
        if let Some(hs) = effect.hard_state {
            self.durable_hard_state = hs;
        }
    }

    /// A crash: unsynced writes are lost, except that with probability `torn` a random
    /// prefix of them survives, possibly ending in the middle of a record.
    pub fn crash(&mut self, rng: &mut SimRng, torn: f64) {
        let unsynced = self.bytes.len() - self.synced_len;
        let keep =
            if unsynced > 0 && chance(rng, torn) { range(rng, 0, unsynced as u64) as usize } else { 0 };
        self.lost_bytes += (unsynced - keep) as u64;
        self.bytes.truncate(self.synced_len + keep);
        self.unsynced.clear();
    }

    /// Recovers the durable state through the write-ahead log's recovery, and cuts the bytes
    /// back to the valid prefix so a later record never sits behind a torn one.
    pub fn recover(&mut self) -> DurableState {
        let recovered = wal::recover(&self.bytes);
        assert!(
            recovered.valid_len >= self.synced_len,
            "recovery lost synced bytes: valid prefix {} < synced {} ({:?})",
            recovered.valid_len,
            self.synced_len,
            recovered.stopped_by
        );
        self.bytes.truncate(recovered.valid_len);
        self.synced_len = recovered.valid_len;
        self.durable_start = recovered.state.snapshot;
        self.durable_terms = recovered.state.entries.iter().map(|e| e.term).collect();
        self.durable_hard_state = recovered.state.hard_state;
        recovered.state
    }

    /// The position in `durable_terms` of `index` (None at or before the start).
    fn position(&self, index: LogIndex) -> Option<usize> {
        let pos = index.0.checked_sub(self.durable_start.index.0 + 1)?;
        usize::try_from(pos).ok()
    }

    /// True when the durable log holds an entry at `index` with `term`, or a durable
    /// snapshot covers `index` (at the snapshot point itself, with that term). A snapshot
    /// stands for committed entries only; the checkers compare its content with the
    /// committed log's.
    pub fn durably_holds(&self, index: LogIndex, term: Term) -> bool {
        if index == self.durable_start.index {
            return term == self.durable_start.term;
        }
        match self.position(index) {
            Some(pos) => self.durable_terms.get(pos) == Some(&term),
            None => true,
        }
    }

    /// Where the durable log starts: the point of the latest durable snapshot.
    pub fn durable_start(&self) -> SnapshotPoint {
        self.durable_start
    }

    /// The durable hard state.
    pub fn durable_hard_state(&self) -> HardState {
        self.durable_hard_state
    }

    /// Bytes on the disk.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when nothing was ever written.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}
