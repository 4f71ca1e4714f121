//! Snapshots (paper §7): taking one of the driver's state machine and compacting the log,
//! the leader's transfers to followers whose next entry it no longer holds, and the
//! follower's side: assembling the chunks, checking the whole snapshot, installing it.

use super::*;
use crate::snapshot::{ChunkOutcome, SnapshotMeta};

impl Core {
    // ----- Observers -------------------------------------------------------------------

    /// The latest snapshot, taken here or installed from a leader (durable, or handed out
    /// in a [`Ready`] to become durable).
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// The leader's snapshot transfer to `peer`, if one is in progress.
    pub fn snapshot_transfer(&self, peer: NodeId) -> Option<&SnapshotStreamer> {
        self.outgoing.get(&peer)
    }

    /// The follower's snapshot transfer in progress: the snapshot's last index and the
    /// bytes received so far.
    pub fn incoming_snapshot(&self) -> Option<(LogIndex, u64)> {
        self.incoming.as_ref().map(|i| (i.index(), i.received()))
    }

    // ----- Taking one ------------------------------------------------------------------

    /// Makes `data`, the driver's state machine serialized after applying every entry up to
    /// `index`, this node's snapshot, and compacts the log up to `index` (shorthand for
    /// [`Core::step`] with [`Input::Snapshot`]). Returns false when a snapshot already
    /// stands for `index` or later (nothing to do). Refuses an `index` beyond the applied
    /// one, and data above [`RaftConfig::max_snapshot_bytes`].
    ///
    /// The snapshot goes out in the next [`Ready`] (`snapshot`): the driver makes it
    /// durable, and only then drops the entries it covers from its log storage.
    pub fn take_snapshot(&mut self, index: LogIndex, data: bytes::Bytes) -> RaftResult<bool> {
        Ok(self.step(Input::Snapshot { index, data })?.is_some())
    }

    pub(super) fn snapshot_state(
        &mut self,
        index: LogIndex,
        data: bytes::Bytes,
    ) -> RaftResult<Option<LogIndex>> {
        if index <= self.log.snapshot_point().index {
            return Ok(None);
        }
        if index > self.log.applied() {
            return Err(RaftError::DriverMisuse(format!(
                "a snapshot at {index}, beyond the applied index {}",
                self.log.applied()
            )));
        }
        let bytes = data.len() as u64;
        if bytes > self.config.max_snapshot_bytes {
            return Err(RaftError::SnapshotTooLarge { bytes, limit: self.config.max_snapshot_bytes });
        }
        let term = self.log.term(index).ok_or_else(|| {
            RaftError::DriverMisuse(format!("a snapshot at {index}, which the log does not hold"))
        })?;
        let meta = SnapshotMeta { index, term, config: self.log.config_at(index).clone() };
        self.log.compact_to(index).map_err(RaftError::DriverMisuse)?;
        let snapshot = Snapshot::new(meta, data);
        let restore = self.snapshot_unwritten.as_ref().is_some_and(|(_, restore)| *restore);
        self.snapshot = Some(snapshot.clone());
        self.snapshot_unwritten = Some((snapshot, restore));
        self.stats.snapshots_taken += 1;
        tracing::debug!(node = %self.id, %index, %term, bytes, "snapshot taken");
        Ok(Some(index))
    }

    // ----- Sending one (leader) -----------------------------------------------------------

    /// Starts a transfer to `peer` if it needs a snapshot and a transfer slot is free;
    /// returns whether one is in progress.
    fn ensure_transfer(&mut self, peer: NodeId) -> bool {
        if self.outgoing.contains_key(&peer) {
            return true;
        }
        if !self.follower_needs_snapshot(peer) || self.outgoing.len() >= self.config.max_snapshot_transfers {
            return false;
        }
        let Some(snapshot) = self.snapshot.clone() else {
            tracing::warn!(node = %self.id, %peer, "the follower needs a snapshot, and this node has none to send");
            return false;
        };
        let size = snapshot.size();
        let chunk = if size <= self.config.snapshot_chunk_threshold_bytes {
            size.max(1)
        } else {
            self.config.snapshot_chunk_size_bytes
        };
        let index = snapshot.meta.index;
        tracing::debug!(node = %self.id, %peer, %index, bytes = size, "sending a snapshot");
        self.outgoing.insert(peer, SnapshotStreamer::new(snapshot, chunk, self.now));
        if let Some(pr) = self.tracker.progress_mut(peer) {
            pr.become_snapshot(index);
        }
        true
    }

    /// Sends `peer` the next chunk of its transfer (starting one if it needs a snapshot):
    /// one chunk at a time, the next when the follower answers (or, with `force`, now).
    /// Returns the chunk's `done` flag when one was sent.
    fn send_snapshot_chunk(&mut self, peer: NodeId, force: bool) -> Option<bool> {
        if !self.ensure_transfer(peer) {
            return None;
        }
        let (term, id, now) = (self.term, self.id, self.now);
        let streamer = self.outgoing.get_mut(&peer)?;
        if !force && streamer.unacknowledged() > 0 {
            return None;
        }
        if force && streamer.sent_final() {
            streamer.rewind();
        }
        let chunk = streamer.next_chunk(now)?;
        let done = chunk.done;
        let request = streamer.request(term, id, chunk);
        self.stats.snapshot_chunks_sent += 1;
        self.send(peer, Payload::InstallSnapshot(request));
        Some(done)
    }

    /// The leader's replication to a follower that needs a snapshot, or is being sent one.
    pub(super) fn maybe_send_snapshot(&mut self, peer: NodeId) {
        self.send_snapshot_chunk(peer, false);
    }

    /// [`Input::SendSnapshot`]: the next chunk now, whatever flow control says; after the
    /// final one the leader's side of the transfer ends and the follower is probed from one
    /// past the snapshot.
    pub(super) fn send_snapshot_now(&mut self, to: NodeId) {
        if self.role != Role::Leader || to == self.id {
            return;
        }
        let final_sent = self.outgoing.get(&to).is_some_and(SnapshotStreamer::sent_final);
        if final_sent || self.send_snapshot_chunk(to, true) == Some(true) {
            let streamer = self.outgoing.remove(&to).expect("a transfer whose final chunk was sent");
            if let Some(pr) = self.tracker.progress_mut(to) {
                pr.end_snapshot(streamer.snapshot().meta.index.next());
                check_progress(to, pr, self.config.max_inflight);
            }
        }
    }

    /// A follower's answer to a chunk.
    pub(super) fn handle_snapshot_response(&mut self, from: NodeId, resp: InstallSnapshotResponse) {
        if self.role != Role::Leader {
            return;
        }
        self.watch_answer(from, resp.installed);
        let Some(pr) = self.tracker.progress_mut(from) else { return };
        pr.recent_active = true;
        if resp.installed {
            // The follower holds every entry up to the snapshot's index: as with an
            // AppendEntries answer, it proves no more than this leader sent.
            if resp.last_included_index > pr.sent_up_to {
                self.stats.dropped_invalid += 1;
                return;
            }
            if pr.on_ack(resp.last_included_index) {
                check_progress(from, pr, self.config.max_inflight);
                self.maybe_commit();
            }
            let finished =
                self.outgoing.get(&from).is_some_and(|s| s.snapshot().meta.index <= resp.last_included_index);
            if finished {
                self.outgoing.remove(&from);
                if let Some(pr) = self.tracker.progress_mut(from) {
                    if pr.state == ProgressState::Snapshot {
                        let next = resp.last_included_index.next();
                        pr.end_snapshot(next);
                    }
                }
            }
            self.maybe_send_append(from, false);
            return;
        }
        let now = self.now;
        let Some(streamer) = self.outgoing.get_mut(&from) else { return };
        let meta = &streamer.snapshot().meta;
        if (meta.index, meta.term) != (resp.last_included_index, resp.last_included_term) {
            return; // About an earlier transfer.
        }
        if !streamer.on_expected(resp.next_offset, now) {
            self.stats.dropped_invalid += 1;
            return;
        }
        self.maybe_send_snapshot(from);
    }

    /// At each heartbeat: a chunk unanswered for the minimum election timeout is resent
    /// from what the follower last said it expects; a transfer without progress for
    /// [`RaftConfig::snapshot_transfer_timeout_ms`] is abandoned, and the follower probed.
    pub(super) fn tick_snapshot_transfers(&mut self) {
        let now = self.now;
        let peers: Vec<NodeId> = self.outgoing.keys().copied().collect();
        for peer in peers {
            let streamer = &self.outgoing[&peer];
            if now.saturating_sub(streamer.last_progress_at()) >= self.config.snapshot_transfer_timeout_ms {
                tracing::debug!(node = %self.id, %peer, "abandoning a snapshot transfer without progress");
                self.outgoing.remove(&peer);
                self.stats.snapshot_transfers_abandoned += 1;
                if let Some(pr) = self.tracker.progress_mut(peer) {
                    let next = pr.next_index;
                    pr.end_snapshot(next);
                }
                continue;
            }
            let waiting = streamer.unacknowledged() > 0 || streamer.sent_final();
            if waiting && now.saturating_sub(streamer.last_sent_at()) >= self.config.election_timeout_min_ms {
                self.outgoing.get_mut(&peer).expect("a transfer").rewind();
                self.maybe_send_snapshot(peer);
            }
        }
    }

    /// Forgets the transfers of a leadership that ended.
    pub(super) fn stop_snapshot_transfers(&mut self) {
        self.outgoing.clear();
    }

    // ----- Receiving one (follower) -------------------------------------------------------

    pub(super) fn snapshot_response(
        &self,
        req: &InstallSnapshotRequest,
        next_offset: u64,
        installed: bool,
    ) -> InstallSnapshotResponse {
        InstallSnapshotResponse {
            term: self.term,
            last_included_index: req.last_included_index,
            last_included_term: req.last_included_term,
            next_offset,
            installed,
        }
    }

    /// A chunk of a snapshot from the leader of this term.
    pub(super) fn handle_install_snapshot(&mut self, from: NodeId, req: InstallSnapshotRequest) {
        if self.role == Role::Leader {
            // Two leaders in one term would break election safety: only a faulty peer does this.
            self.stats.dropped_invalid += 1;
            return;
        }
        if req.last_included_term > req.term
            || req.last_included_index == LogIndex(0)
            || req.last_included_index > MAX_SNAPSHOT_INDEX
            || req.config.validate().is_err()
        {
            self.stats.dropped_invalid += 1;
            return;
        }
        self.follow(from);
        if req.last_included_index <= self.log.committed() {
            // Everything the snapshot stands for is committed here already.
            if self.incoming.as_ref().is_some_and(|i| i.index() <= self.log.committed()) {
                self.incoming = None;
            }
            let resp = self.snapshot_response(&req, req.total_bytes, true);
            self.send(from, Payload::InstallSnapshotResponse(resp));
            return;
        }
        let outcome = Incoming::receive(&mut self.incoming, &req, self.config.max_snapshot_bytes);
        let resp = match outcome {
            ChunkOutcome::Expect(offset) => self.snapshot_response(&req, offset, false),
            ChunkOutcome::Stale => return,
            ChunkOutcome::Invalid => {
                tracing::warn!(node = %self.id, leader = %from, "dropping an invalid snapshot chunk");
                self.stats.dropped_invalid += 1;
                return;
            }
            ChunkOutcome::ChecksumMismatch => {
                tracing::warn!(node = %self.id, leader = %from, index = %req.last_included_index, "a snapshot received whole fails its checksum; starting over");
                self.stats.snapshot_checksum_failures += 1;
                self.snapshot_response(&req, 0, false)
            }
            ChunkOutcome::Complete(snapshot) => {
                self.install(snapshot);
                self.snapshot_response(&req, req.total_bytes, true)
            }
        };
        // Answers wait for the batch to be durable: an installed snapshot is acknowledged
        // only once the driver made it durable and restored its state machine from it.
        self.send(from, Payload::InstallSnapshotResponse(resp));
    }

    /// Installs a whole, checked snapshot that is past the commit index.
    fn install(&mut self, snapshot: Snapshot) {
        let point = snapshot.point();
        tracing::debug!(node = %self.id, index = %point.index, term = %point.term, bytes = snapshot.size(), "installing a snapshot");
        self.log.install_snapshot(point, snapshot.meta.config.clone());
        self.snapshot = Some(snapshot.clone());
        self.snapshot_unwritten = Some((snapshot, true));
        self.stats.snapshots_installed += 1;
    }
}
