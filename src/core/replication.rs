//! Replication: both sides of AppendEntries (paper §5.3, with fast backtracking), the
//! leader's flow control and its commit rule (§5.4.2: only entries of its own term are
//! counted).

use super::*;

impl Core {
    /// AppendEntries receiver rules (§5.3). `req.term == self.term` here.
    pub(super) fn handle_append(&mut self, from: NodeId, req: AppendEntriesRequest) {
        if self.role == Role::Leader {
            // Two leaders in one term would break election safety: only a faulty peer does this.
            self.stats.dropped_invalid += 1;
            return;
        }
        if req.entries.iter().any(|e| e.term > req.term) {
            // A leader only holds entries of its term or earlier ones. Appending newer ones
            // would make this log outrank the node's term, and its own no-op entry, once it
            // leads, would then lower the log's term (an assertion, so a panic).
            self.stats.dropped_invalid += 1;
            return;
        }
        self.follow(from);
        let start = self.log.snapshot_point().index;
        if req.prev_log_index < start {
            // The request starts inside what this node's snapshot stands for: those entries
            // are committed here, so the leader holds the very same ones (leader
            // completeness). Say so, up to the snapshot point, and the leader goes on from
            // there; rejecting would send it back to a point this log no longer holds, over
            // and over (swarm seed 44700: a storm).
            let proved = start.min(req.last_index());
            let resp = self.append_response(true, proved, None);
            self.send(from, Payload::AppendEntriesResponse(resp));
            return;
        }
        match self.log.try_append_owned(req.prev_log_index, req.prev_log_term, req.entries) {
            Ok(proved) => {
                self.log.commit_to(req.leader_commit.min(proved));
                let resp = self.append_response(true, proved, None);
                self.send(from, Payload::AppendEntriesResponse(resp));
            }
            Err(AppendRejection::Mismatch) => {
                let resp =
                    self.append_response(false, req.prev_log_index, self.conflict_hint(req.prev_log_index));
                self.send(from, Payload::AppendEntriesResponse(resp));
            }
            Err(AppendRejection::WouldOverwriteCommitted | AppendRejection::Malformed) => {
                tracing::warn!(node = %self.id, leader = %from, "dropping an AppendEntries that is malformed or rewrites committed entries");
                self.stats.dropped_invalid += 1;
            }
        }
    }

    /// A request from `from`, the leader of this node's term: follow it, and restart the
    /// election timer (it is alive).
    pub(super) fn follow(&mut self, from: NodeId) {
        if self.role != Role::Follower || self.leader != Some(from) {
            self.become_follower(self.term, Some(from));
        }
        self.leader_contact = Some(self.now);
        self.reset_election_timer();
    }

    /// Where the leader should look next after a mismatch at `prev`: the start of our
    /// conflicting term, or our end when our log is too short.
    pub(super) fn conflict_hint(&self, prev: LogIndex) -> Option<(LogIndex, Option<Term>)> {
        match self.log.term(prev) {
            None => Some((self.log.last_index().next(), None)),
            Some(term) => Some((self.log.first_index_of_term_at(prev), Some(term))),
        }
    }

    pub(super) fn append_response(
        &self,
        success: bool,
        index: LogIndex,
        hint: Option<(LogIndex, Option<Term>)>,
    ) -> AppendEntriesResponse {
        let (conflict_index, conflict_term) = hint.unwrap_or((LogIndex(0), None));
        AppendEntriesResponse {
            term: self.term,
            success,
            match_index: index,
            conflict_index,
            conflict_term,
            last_log_index: self.log.last_index(),
            leader_hint: self.leader,
        }
    }

    /// The leader's side of an AppendEntries answer (§5.3, flow control).
    pub(super) fn handle_append_response(&mut self, from: NodeId, resp: AppendEntriesResponse) {
        if self.role != Role::Leader {
            return;
        }
        self.watch_answer(from, resp.success);
        let Some(pr) = self.tracker.progress_mut(from) else { return };
        pr.recent_active = true;
        if resp.success {
            // An acknowledgement proves at most what this leader sent (defect 1 of the seed).
            if resp.match_index > pr.sent_up_to || resp.match_index > self.log.last_index() {
                self.stats.dropped_invalid += 1;
                return;
            }
            if pr.on_ack(resp.match_index) {
                check_progress(from, pr, self.config.max_inflight);
                self.maybe_commit();
                if self.log.config().learners.contains(&from) {
                    self.maybe_promote_learner();
                }
                self.maybe_tell_transfer_target();
            }
        } else {
            // A rejection names the prev index of a request this leader sent: one beyond
            // anything sent is a lie that would push the follower's next index off the log.
            if resp.match_index > pr.sent_up_to {
                self.stats.dropped_invalid += 1;
                return;
            }
            let hint = self.next_index_hint(&resp);
            let Some(pr) = self.tracker.progress_mut(from) else { return };
            if !pr.on_reject(resp.match_index, resp.last_log_index, hint) {
                return;
            }
            check_progress(from, pr, self.config.max_inflight);
        }
        self.maybe_send_append(from, false);
    }

    /// The leader's next index after a rejection, from the follower's conflict hints.
    pub(super) fn next_index_hint(&self, resp: &AppendEntriesResponse) -> LogIndex {
        let rejected = resp.match_index;
        let from_term = resp
            .conflict_term
            .and_then(|t| self.log.last_index_of_term(t))
            .map(LogIndex::next)
            .filter(|&next| next <= rejected);
        let hint = from_term.unwrap_or(resp.conflict_index);
        // The follower's figures are only hints: a peer claiming a last index of u64::MAX
        // must not overflow (and so crash) the leader.
        let after_follower = LogIndex(resp.last_log_index.0.saturating_add(1));
        hint.min(after_follower).max(LogIndex(1))
    }

    // ----- Replication -----------------------------------------------------------------

    /// A single-voter cluster commits on its own durability; nothing else to wait for.
    pub(super) fn maybe_commit_single(&mut self) {
        if self.voters().len() == 1 {
            self.maybe_commit();
        }
    }

    /// Advances the commit index to what a majority holds, counting only an entry of the
    /// current term (§5.4.2: earlier-term entries commit indirectly).
    pub(super) fn maybe_commit(&mut self) {
        let own = self.tracker.progress(self.id).map(|p| p.match_index);
        assert!(
            own.is_none_or(|m| m == self.log.durable_index()),
            "a leader's own match {own:?} is its durable index {}",
            self.log.durable_index()
        );
        let index = self.tracker.committed_index();
        if index > self.log.committed()
            && self.log.term(index) == Some(self.term)
            && self.log.commit_to(index)
        {
            self.broadcast_pending = true;
            self.broadcast_empty = true;
            self.reads_after_commit();
            self.after_commit_membership();
        }
    }

    pub(super) fn on_durable(&mut self, index: LogIndex, term: Term) {
        self.log.durable_to(index, term);
        self.log.evict();
        if self.role == Role::Leader {
            let durable = self.log.durable_index();
            if let Some(me) = self.tracker.progress_mut(self.id) {
                me.match_index = me.match_index.max(durable);
            }
            self.maybe_commit();
        }
    }

    pub(super) fn broadcast_heartbeat(&mut self) {
        for peer in self.peers() {
            self.send_append(peer, true);
        }
    }

    pub(super) fn peers(&self) -> Vec<NodeId> {
        self.tracker.peers(self.id)
    }

    /// Sends what flow control allows to `peer`; an empty message only with `allow_empty`.
    pub(super) fn maybe_send_append(&mut self, peer: NodeId, allow_empty: bool) {
        if self.role != Role::Leader {
            return;
        }
        let in_snapshot = self.tracker.progress(peer).is_some_and(|p| p.state == ProgressState::Snapshot);
        if in_snapshot || self.follower_needs_snapshot(peer) {
            // No entries: the log no longer holds what the follower needs next.
            self.maybe_send_snapshot(peer);
            if allow_empty {
                self.send_append(peer, true);
            }
            return;
        }
        let mut sent_any = false;
        loop {
            let Some(pr) = self.tracker.progress(peer) else { return };
            let has_entries = pr.next_index <= self.log.last_index();
            if !pr.can_send(self.config.max_inflight) || !(has_entries || (allow_empty && !sent_any)) {
                break;
            }
            let sent_entries = self.send_append(peer, false);
            sent_any = true;
            let pr = self.tracker.progress(peer).expect("a peer with progress");
            if !sent_entries || pr.state == ProgressState::Probe {
                break;
            }
        }
        if allow_empty && !sent_any {
            self.send_append(peer, true);
        }
    }

    /// Sends one AppendEntries from the peer's next index (no entries for a heartbeat).
    /// Returns true when it carried entries.
    pub(super) fn send_append(&mut self, peer: NodeId, heartbeat: bool) -> bool {
        let Some(request) = self.build_append(peer, heartbeat) else { return false };
        let last = request.last_index();
        let sent_entries = !request.entries.is_empty();
        if let Some(pr) = self.tracker.progress_mut(peer) {
            pr.on_sent(last, sent_entries);
            check_progress(peer, pr, self.config.max_inflight);
        }
        self.send(peer, Payload::AppendEntries(request));
        sent_entries
    }

    pub(super) fn build_append(&self, peer: NodeId, heartbeat: bool) -> Option<AppendEntriesRequest> {
        let pr = self.tracker.progress(peer)?;
        let mut prev = pr.next_index.prev().min(self.log.last_index());
        if self.log.term(prev).is_none() {
            // Compacted away: the follower needs a snapshot (see `follower_needs_snapshot`).
            // A heartbeat still goes, from the snapshot point, so that it keeps its leader.
            if !heartbeat {
                return None;
            }
            prev = self.log.snapshot_point().index;
        }
        let prev_term = self.log.term(prev)?;
        let entries = if heartbeat {
            Vec::new()
        } else {
            let read = self.log.slice(
                prev.next(),
                self.log.last_index(),
                self.config.max_entries_per_append,
                self.config.max_bytes_per_append,
            );
            match read {
                Ok(entries) => entries,
                Err(e) => {
                    // Nothing goes now; the next heartbeat's response retries, and a
                    // compacted entry makes the follower one that needs a snapshot.
                    tracing::warn!(node = %self.id, peer = %peer, error = %e, "cannot read entries to replicate");
                    return None;
                }
            }
        };
        Some(AppendEntriesRequest {
            term: self.term,
            leader_id: self.id,
            prev_log_index: prev,
            prev_log_term: prev_term,
            entries,
            leader_commit: self.log.committed(),
        })
    }

    pub(super) fn send(&mut self, to: NodeId, payload: Payload) {
        let is_request = matches!(payload, Payload::AppendEntries(_) | Payload::RequestVote(_));
        let msg = Message { from: self.id, to, payload };
        // A request may go before the write only if nothing it depends on is not yet durable:
        // the hard state (term, vote) must be what was last handed out. Responses always wait.
        if is_request && self.hard_state_term_vote_durable() {
            self.msgs.push(msg);
        } else {
            self.msgs_when_durable.push(msg);
        }
    }

    pub(super) fn hard_state_term_vote_durable(&self) -> bool {
        self.term == self.hard_state_handed_out.term && self.vote == self.hard_state_handed_out.vote
    }
}
