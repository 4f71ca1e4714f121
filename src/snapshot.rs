//! Snapshots: the application's state-machine bytes at an applied index, with the metadata
//! the log needs to start after it, and the two ends of sending one to a follower.
//!
//! - [`Snapshot`]: metadata ([`SnapshotMeta`]: last included index and term, the voters at
//!   that index) and data, with a CRC32C checksum over both. A node takes one of its own
//!   applied state ([`crate::core::Input::Snapshot`]) or installs one from its leader; either
//!   way the driver makes it durable ([`crate::Ready::snapshot`]) before the log storage
//!   drops the entries it covers.
//! - [`SnapshotStreamer`]: the leader's side of one transfer, in chunks of at most the
//!   configured size, each carrying its offset; the follower answers with the offset it
//!   expects next, so a lost chunk is resent and a duplicated or reordered one ignored.
//! - [`Incoming`]: the follower's side, assembling the chunks of one transfer in order and
//!   verifying the whole snapshot's checksum before it is installed.
//! - [`SnapshotPolicy`]: when the seed's `auto_snapshot_if_needed` takes one.

use crate::membership::Configuration;
use crate::message::InstallSnapshotRequest;
use crate::types::{LogIndex, NodeId, Term};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Upper bound on [`crate::RaftConfig::max_snapshot_bytes`]: 64 GiB. A snapshot is held in
/// memory while it is taken, sent and installed.
pub const MAX_SNAPSHOT_BYTES_LIMIT: u64 = 64 << 30;

/// Upper bound on [`crate::RaftConfig::snapshot_chunk_size_bytes`] and on the one-request
/// threshold: a chunk, with its envelope, must fit in one frame of the wire codec.
pub const MAX_SNAPSHOT_CHUNK_BYTES_LIMIT: u64 = (crate::codec::MAX_FRAME_PAYLOAD as u64) - (1 << 20);

/// What a snapshot stands for: every entry up to `index` (of `term`), applied in order,
/// under the configuration `config` (the one in force at `index`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The last index the snapshot covers.
    pub index: LogIndex,
    /// The term of the entry at `index`.
    pub term: Term,
    /// The configuration in force at `index`.
    pub config: Configuration,
}

impl SnapshotMeta {
    /// The point the log starts after once this snapshot stands for its prefix.
    pub fn point(&self) -> crate::log::SnapshotPoint {
        crate::log::SnapshotPoint { index: self.index, term: self.term }
    }
}

/// A snapshot: the state machine's bytes after applying every entry up to `meta.index`, its
/// metadata, and a CRC32C checksum over both (see [`Snapshot::checksum_of`]). The data is a
/// shared buffer: handing a snapshot to the driver, to a transfer or to the state machine
/// shares it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// What the snapshot stands for.
    pub meta: SnapshotMeta,
    /// The state machine's serialized state.
    pub data: Bytes,
    /// CRC32C over the metadata and the data.
    pub checksum: u32,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("meta", &self.meta)
            .field("bytes", &self.data.len())
            .field("checksum", &format_args!("{:#010x}", self.checksum))
            .finish()
    }
}

impl Snapshot {
    /// A snapshot of `data` standing for `meta`, with its checksum computed.
    pub fn new(meta: SnapshotMeta, data: Bytes) -> Self {
        let checksum = Self::checksum_of(&meta, &data);
        Snapshot { meta, data, checksum }
    }

    /// The checksum of a snapshot: CRC32C over the index and the term (little-endian u64s),
    /// the configuration's encoding ([`Configuration::encode`]), the data's length and the
    /// data.
    pub fn checksum_of(meta: &SnapshotMeta, data: &[u8]) -> u32 {
        let mut crc = crc32c::crc32c(&meta.index.0.to_le_bytes());
        crc = crc32c::crc32c_append(crc, &meta.term.0.to_le_bytes());
        crc = crc32c::crc32c_append(crc, &meta.config.encode());
        crc = crc32c::crc32c_append(crc, &(data.len() as u64).to_le_bytes());
        crc32c::crc32c_append(crc, data)
    }

    /// True when the checksum matches the metadata and the data.
    pub fn verify(&self) -> bool {
        Self::checksum_of(&self.meta, &self.data) == self.checksum
    }

    /// The point the log starts after once this snapshot stands for its prefix.
    pub fn point(&self) -> crate::log::SnapshotPoint {
        self.meta.point()
    }

    /// Size of the data in bytes.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }
}

/// When [`crate::RaftNode::auto_snapshot_if_needed`] takes a snapshot: once the log holds
/// more than `max_log_entries` entries after its snapshot point and at least `min_applied`
/// entries were applied since that point (so a snapshot is never taken for a handful of new
/// entries, however long the unapplied tail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Entries the log may hold after its snapshot point before a snapshot is due.
    pub max_log_entries: u64,
    /// Entries that must have been applied since the snapshot point.
    pub min_applied: u64,
}

impl Default for SnapshotPolicy {
    /// 10,000 entries, of which at least 1,000 applied.
    fn default() -> Self {
        SnapshotPolicy { max_log_entries: 10_000, min_applied: 1_000 }
    }
}

impl SnapshotPolicy {
    /// Whether a snapshot is due for a log holding `log_entries` entries after its snapshot
    /// point, of which `applied_since` are applied.
    pub fn is_due(&self, log_entries: u64, applied_since: u64) -> bool {
        log_entries > self.max_log_entries && applied_since >= self.min_applied.max(1)
    }
}

/// The leader's side of sending one snapshot to one follower, a chunk at a time.
///
/// Chunks go in order from `next_offset`; the follower answers each with the offset it
/// expects next, which becomes both the acknowledged offset and the next one to send (a gap
/// left by a lost chunk is filled by resending from there). A transfer that hears nothing
/// for a while is resent from the acknowledged offset ([`SnapshotStreamer::rewind`]).
#[derive(Clone, Debug)]
pub struct SnapshotStreamer {
    snapshot: Snapshot,
    chunk_bytes: u64,
    /// The next offset to send.
    next_offset: u64,
    /// The offset the follower last said it expects.
    acked_offset: u64,
    /// The final chunk was sent and nothing asked for an earlier one since.
    sent_final: bool,
    /// When a chunk was last sent, and when the follower last made progress (or the
    /// transfer started), on the leader's clock.
    last_sent_at: u64,
    last_progress_at: u64,
}

/// One chunk of a snapshot transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotChunk {
    /// Where the chunk's data starts in the snapshot's data.
    pub offset: u64,
    /// The bytes (shared with the snapshot).
    pub data: Bytes,
    /// True for the final chunk.
    pub done: bool,
}

impl SnapshotStreamer {
    /// A transfer of `snapshot` in chunks of `chunk_bytes` (at least 1), started at `now`.
    pub fn new(snapshot: Snapshot, chunk_bytes: u64, now: u64) -> Self {
        SnapshotStreamer {
            snapshot,
            chunk_bytes: chunk_bytes.max(1),
            next_offset: 0,
            acked_offset: 0,
            sent_final: false,
            last_sent_at: now,
            last_progress_at: now,
        }
    }

    /// The snapshot being sent.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The offset the follower last said it expects.
    pub fn acked_offset(&self) -> u64 {
        self.acked_offset
    }

    /// The next offset to send.
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// True once the final chunk was sent (and no answer asked for an earlier one since).
    pub fn sent_final(&self) -> bool {
        self.sent_final
    }

    /// Bytes sent but not acknowledged.
    pub fn unacknowledged(&self) -> u64 {
        self.next_offset.saturating_sub(self.acked_offset)
    }

    /// When a chunk was last sent.
    pub fn last_sent_at(&self) -> u64 {
        self.last_sent_at
    }

    /// When the follower last made progress (or the transfer started).
    pub fn last_progress_at(&self) -> u64 {
        self.last_progress_at
    }

    /// The next chunk to send, at `now`; `None` once the final chunk was sent.
    pub fn next_chunk(&mut self, now: u64) -> Option<SnapshotChunk> {
        if self.sent_final {
            return None;
        }
        let total = self.snapshot.size();
        let offset = self.next_offset.min(total);
        let end = offset.saturating_add(self.chunk_bytes).min(total);
        // Offsets are within the data, which is in memory, so they fit a usize.
        let data = self.snapshot.data.slice(offset as usize..end as usize);
        let done = end == total;
        self.next_offset = end;
        self.sent_final = done;
        self.last_sent_at = now;
        Some(SnapshotChunk { offset, data, done })
    }

    /// The follower expects `offset` next (an answer to one of this transfer's chunks).
    /// Returns false when the offset is beyond the snapshot (a lie: ignored).
    ///
    /// Only an answer that moves the follower on counts: one at or behind what it last said
    /// is a duplicate or a late answer, and changes nothing (resending on each would let a
    /// duplicating network multiply the chunks without bound, as a swarm seed found). The
    /// exception is 0, which a follower answers only to start over (it lost the transfer, or
    /// the whole snapshot failed its checksum).
    pub fn on_expected(&mut self, offset: u64, now: u64) -> bool {
        if offset > self.snapshot.size() {
            return false;
        }
        if offset > self.acked_offset {
            self.last_progress_at = now;
            self.acked_offset = offset;
            if offset < self.next_offset || !self.sent_final {
                // A gap (a chunk lost or arriving out of order), or more to send: continue
                // from where the follower is.
                self.next_offset = offset;
                self.sent_final = false;
            }
        } else if offset == 0 && self.acked_offset > 0 {
            self.acked_offset = 0;
            self.next_offset = 0;
            self.sent_final = false;
        }
        true
    }

    /// Resends from the acknowledged offset (nothing was heard for a while).
    pub fn rewind(&mut self) {
        self.next_offset = self.acked_offset;
        self.sent_final = false;
    }

    /// The request carrying `chunk` from leader `leader_id` in `term`.
    pub fn request(&self, term: Term, leader_id: NodeId, chunk: SnapshotChunk) -> InstallSnapshotRequest {
        let meta = &self.snapshot.meta;
        InstallSnapshotRequest {
            term,
            leader_id,
            last_included_index: meta.index,
            last_included_term: meta.term,
            config: meta.config.clone(),
            offset: chunk.offset,
            data: chunk.data,
            done: chunk.done,
            total_bytes: self.snapshot.size(),
            checksum: self.snapshot.checksum,
        }
    }
}

/// What identifies a transfer: the snapshot it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TransferKey {
    index: LogIndex,
    term: Term,
    total_bytes: u64,
    checksum: u32,
}

impl TransferKey {
    fn of(req: &InstallSnapshotRequest) -> Self {
        TransferKey {
            index: req.last_included_index,
            term: req.last_included_term,
            total_bytes: req.total_bytes,
            checksum: req.checksum,
        }
    }
}

/// The follower's side of one transfer: the chunks received so far, in order.
#[derive(Debug)]
pub struct Incoming {
    key: TransferKey,
    /// The term of the leader that sent the latest chunk taken in.
    term: Term,
    config: Configuration,
    data: Vec<u8>,
}

/// What a follower does with one chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Answer that `offset` is expected next (the chunk was appended, or was a duplicate,
    /// or left a gap, or belongs to no transfer in progress: then 0, start over).
    Expect(u64),
    /// The chunk completed the transfer and the whole snapshot's checksum matches.
    Complete(Snapshot),
    /// The chunk completed the transfer but the checksum does not match: the transfer is
    /// dropped, and the answer is that 0 is expected.
    ChecksumMismatch,
    /// The chunk belongs to an older snapshot than the transfer in progress from a leader
    /// of the same term (a chunk that arrives late): ignored.
    Stale,
    /// The request contradicts itself (sizes, offsets, `done`) or exceeds the limit.
    Invalid,
}

impl Incoming {
    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.data.len() as u64
    }

    /// The last index of the snapshot being received.
    pub fn index(&self) -> LogIndex {
        self.key.index
    }

    /// Takes one chunk into `slot` (the transfer in progress, if any). `max_bytes` bounds
    /// the snapshot's declared size: the buffer grows only with data received, never to a
    /// size a request merely claims.
    pub fn receive(
        slot: &mut Option<Incoming>,
        req: &InstallSnapshotRequest,
        max_bytes: u64,
    ) -> ChunkOutcome {
        let len = req.data.len() as u64;
        let Some(end) = req.offset.checked_add(len) else { return ChunkOutcome::Invalid };
        if req.total_bytes > max_bytes || end > req.total_bytes || req.done != (end == req.total_bytes) {
            return ChunkOutcome::Invalid;
        }
        let key = TransferKey::of(req);
        match slot {
            Some(current) if current.key != key => {
                // A leader's snapshots only get newer; a later leader's may be older than
                // what an earlier one was sending, and must not be held up by it.
                if key.index < current.key.index && req.term <= current.term {
                    return ChunkOutcome::Stale;
                }
                if req.offset != 0 {
                    // A chunk of a transfer this node is not receiving: start over.
                    return ChunkOutcome::Expect(0);
                }
                *slot = None;
            }
            None if req.offset != 0 => return ChunkOutcome::Expect(0),
            _ => {}
        }
        let incoming = slot.get_or_insert_with(|| Incoming {
            key,
            term: req.term,
            config: req.config.clone(),
            data: Vec::new(),
        });
        incoming.term = incoming.term.max(req.term);
        let received = incoming.received();
        if req.offset != received {
            // A duplicate (behind; also a leader starting the same snapshot over, which then
            // resumes here) or a gap (ahead): say where to continue.
            return ChunkOutcome::Expect(received);
        }
        incoming.data.extend_from_slice(&req.data);
        if !req.done {
            return ChunkOutcome::Expect(incoming.received());
        }
        let incoming = slot.take().expect("the transfer in progress");
        let meta =
            SnapshotMeta { index: incoming.key.index, term: incoming.key.term, config: incoming.config };
        let snapshot = Snapshot { meta, data: Bytes::from(incoming.data), checksum: incoming.key.checksum };
        if snapshot.verify() {
            ChunkOutcome::Complete(snapshot)
        } else {
            ChunkOutcome::ChecksumMismatch
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(len: usize) -> Snapshot {
        let meta = SnapshotMeta {
            index: LogIndex(10),
            term: Term(2),
            config: Configuration::new([NodeId(1), NodeId(2)]),
        };
        Snapshot::new(meta, Bytes::from((0..len).map(|i| i as u8).collect::<Vec<_>>()))
    }

    fn transfer(s: &Snapshot, chunk: u64) -> Vec<InstallSnapshotRequest> {
        let mut streamer = SnapshotStreamer::new(s.clone(), chunk, 0);
        let mut out = Vec::new();
        while let Some(c) = streamer.next_chunk(0) {
            out.push(streamer.request(Term(3), NodeId(1), c));
        }
        out
    }

    #[test]
    fn the_checksum_covers_metadata_and_data() {
        let s = snapshot(100);
        assert!(s.verify());
        let mut other = s.clone();
        other.meta.index = LogIndex(11);
        assert!(!other.verify());
        let mut other = s.clone();
        other.meta.config.voters.insert(NodeId(3));
        assert!(!other.verify());
        let mut data = s.data.to_vec();
        data[50] ^= 1;
        let other = Snapshot { data: Bytes::from(data), ..s };
        assert!(!other.verify());
    }

    #[test]
    fn chunks_cover_the_data_once_in_order() {
        let s = snapshot(1000);
        let reqs = transfer(&s, 300);
        assert_eq!(reqs.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 300, 600, 900]);
        assert_eq!(reqs.iter().map(|r| r.done).collect::<Vec<_>>(), vec![false, false, false, true]);
        let mut slot = None;
        let mut outcome = None;
        for r in &reqs {
            outcome = Some(Incoming::receive(&mut slot, r, 1 << 20));
        }
        assert_eq!(outcome, Some(ChunkOutcome::Complete(s)));
        assert!(slot.is_none());
    }

    #[test]
    fn an_empty_snapshot_is_one_final_chunk() {
        let s = snapshot(0);
        let reqs = transfer(&s, 300);
        assert_eq!(reqs.len(), 1);
        assert!(reqs[0].done && reqs[0].data.is_empty());
        assert_eq!(Incoming::receive(&mut None, &reqs[0], 10), ChunkOutcome::Complete(s));
    }

    #[test]
    fn lost_duplicated_and_reordered_chunks_are_never_appended_twice() {
        let s = snapshot(1000);
        let reqs = transfer(&s, 300);
        let mut slot = None;
        assert_eq!(Incoming::receive(&mut slot, &reqs[0], 1 << 20), ChunkOutcome::Expect(300));
        // A gap: chunk 2 before chunk 1.
        assert_eq!(Incoming::receive(&mut slot, &reqs[2], 1 << 20), ChunkOutcome::Expect(300));
        assert_eq!(Incoming::receive(&mut slot, &reqs[1], 1 << 20), ChunkOutcome::Expect(600));
        // Duplicates of chunks 0 and 1.
        assert_eq!(Incoming::receive(&mut slot, &reqs[0], 1 << 20), ChunkOutcome::Expect(600));
        assert_eq!(Incoming::receive(&mut slot, &reqs[1], 1 << 20), ChunkOutcome::Expect(600));
        assert_eq!(Incoming::receive(&mut slot, &reqs[2], 1 << 20), ChunkOutcome::Expect(900));
        assert_eq!(Incoming::receive(&mut slot, &reqs[3], 1 << 20), ChunkOutcome::Complete(s));
    }

    #[test]
    fn a_newer_snapshot_replaces_a_transfer_and_an_older_one_is_stale() {
        let old = snapshot(500);
        let mut newer = snapshot(400);
        newer.meta.index = LogIndex(20);
        newer = Snapshot::new(newer.meta, newer.data);
        let old_reqs = transfer(&old, 200);
        let new_reqs = transfer(&newer, 200);
        let mut slot = None;
        Incoming::receive(&mut slot, &old_reqs[0], 1 << 20);
        assert_eq!(Incoming::receive(&mut slot, &new_reqs[0], 1 << 20), ChunkOutcome::Expect(200));
        assert_eq!(Incoming::receive(&mut slot, &old_reqs[1], 1 << 20), ChunkOutcome::Stale);
        assert_eq!(Incoming::receive(&mut slot, &old_reqs[0], 1 << 20), ChunkOutcome::Stale);
        assert_eq!(Incoming::receive(&mut slot, &new_reqs[1], 1 << 20), ChunkOutcome::Complete(newer));
        // A middle chunk of a transfer nobody started: start over.
        assert_eq!(Incoming::receive(&mut slot, &old_reqs[1], 1 << 20), ChunkOutcome::Expect(0));
    }

    /// Found by the simulator (seed 1112, crashes): a leader began sending a snapshot at 20
    /// and lost its leadership; the next leader's snapshot was at 10, and every chunk of it
    /// was ignored as older than the transfer in progress, for ever.
    #[test]
    fn a_later_leaders_older_snapshot_replaces_an_earlier_leaders_transfer() {
        let older = snapshot(500);
        let mut newer = snapshot(400);
        newer.meta.index = LogIndex(20);
        newer = Snapshot::new(newer.meta, newer.data);
        let mut slot = None;
        let first = transfer(&newer, 200).remove(0);
        assert_eq!(Incoming::receive(&mut slot, &first, 1 << 20), ChunkOutcome::Expect(200));
        let mut from_later_leader = transfer(&older, 500);
        from_later_leader[0].term = Term(4);
        assert_eq!(
            Incoming::receive(&mut slot, &from_later_leader[0], 1 << 20),
            ChunkOutcome::Complete(older)
        );
    }

    #[test]
    fn a_corrupted_transfer_is_refused_whole() {
        let s = snapshot(600);
        let mut reqs = transfer(&s, 300);
        let mut data = reqs[1].data.to_vec();
        data[0] ^= 0xff;
        reqs[1].data = Bytes::from(data);
        let mut slot = None;
        Incoming::receive(&mut slot, &reqs[0], 1 << 20);
        assert_eq!(Incoming::receive(&mut slot, &reqs[1], 1 << 20), ChunkOutcome::ChecksumMismatch);
        assert!(slot.is_none());
    }

    #[test]
    fn hostile_sizes_are_invalid_and_allocate_nothing() {
        let s = snapshot(10);
        let mut req = transfer(&s, 100).remove(0);
        req.total_bytes = u64::MAX;
        assert_eq!(Incoming::receive(&mut None, &req, 1 << 20), ChunkOutcome::Invalid);
        let mut req = transfer(&s, 100).remove(0);
        req.offset = u64::MAX;
        assert_eq!(Incoming::receive(&mut None, &req, 1 << 20), ChunkOutcome::Invalid);
        let mut req = transfer(&s, 100).remove(0);
        req.done = false;
        assert_eq!(Incoming::receive(&mut None, &req, 1 << 20), ChunkOutcome::Invalid);
        let req = transfer(&s, 100).remove(0);
        assert_eq!(Incoming::receive(&mut None, &req, 5), ChunkOutcome::Invalid, "above the limit");
    }

    #[test]
    fn the_streamer_resends_from_what_the_follower_expects() {
        let s = snapshot(1000);
        let mut st = SnapshotStreamer::new(s, 300, 0);
        assert_eq!(st.next_chunk(1).map(|c| c.offset), Some(0));
        assert_eq!(st.next_chunk(2).map(|c| c.offset), Some(300));
        // The follower lost chunk 300: it still expects 300.
        assert!(st.on_expected(300, 3));
        assert_eq!(st.next_chunk(4).map(|c| c.offset), Some(300));
        assert_eq!(st.next_chunk(4).map(|c| c.offset), Some(600));
        assert_eq!(st.next_chunk(4).map(|c| c.offset), Some(900));
        assert!(st.sent_final());
        assert_eq!(st.next_chunk(4), None);
        st.rewind();
        assert_eq!(st.next_chunk(5).map(|c| c.offset), Some(300));
        assert!(!st.on_expected(1001, 6), "an offset beyond the snapshot is ignored");
    }

    /// Found by the simulator (swarm seeds 10894 and 14808, 20 million events): every
    /// duplicated answer sent the chunk after it again, each of those drew answers that the
    /// network duplicated in turn, and the chunks multiplied without bound.
    #[test]
    fn duplicated_or_late_answers_resend_nothing() {
        let mut st = SnapshotStreamer::new(snapshot(1000), 300, 0);
        assert_eq!(st.next_chunk(1).map(|c| c.offset), Some(0));
        assert!(st.on_expected(300, 2));
        assert_eq!(st.next_chunk(2).map(|c| c.offset), Some(300));
        assert_eq!(st.unacknowledged(), 300);
        // The first answer again (duplicated), and an older one (late): nothing to resend.
        assert!(st.on_expected(300, 3));
        assert!(st.on_expected(0, 3) && st.acked_offset() == 0, "0 starts over");
        assert_eq!(st.next_chunk(4).map(|c| c.offset), Some(0));
        assert!(st.on_expected(0, 5));
        assert_eq!(st.next_offset(), 300, "a duplicated 0 changes nothing");
    }
}
