//! Messages from peers: the term rules applied once for every message (paper Figure 2,
//! "Rules for all servers", with the leader lease of thesis §4.2.3), then dispatch by role
//! to the `handle_*` functions of the other files.

use super::*;

impl Core {
    // ----- Messages --------------------------------------------------------------------

    /// Feeds a message from a peer: shorthand for [`Core::step`] with [`Input::Message`].
    pub fn step_message(&mut self, msg: Message) {
        self.step(Input::Message(msg)).expect("a message is never an error");
    }

    /// Term rules once for every message (paper Figure 2, "Rules for all servers"), then
    /// dispatch by role.
    pub(super) fn receive(&mut self, msg: Message) {
        let term = msg.payload.term();
        if msg.to != self.id || msg.from == self.id || term > MAX_TERM {
            self.stats.dropped_invalid += 1;
            return;
        }
        self.watch_contact(msg.from);
        if term > self.term && !self.on_higher_term(&msg) {
            return;
        }
        if term < self.term {
            self.on_lower_term(msg);
            return;
        }
        match msg.payload {
            Payload::RequestVote(req) => self.handle_vote_request(msg.from, req),
            Payload::RequestVoteResponse(resp) => self.handle_vote_response(msg.from, resp),
            Payload::AppendEntries(req) => self.handle_append(msg.from, req),
            Payload::AppendEntriesResponse(resp) => self.handle_append_response(msg.from, resp),
            Payload::InstallSnapshot(req) => self.handle_install_snapshot(msg.from, req),
            Payload::InstallSnapshotResponse(resp) => self.handle_snapshot_response(msg.from, resp),
            Payload::TransferVote(req) => self.handle_vote_request(msg.from, req),
            Payload::LeaderCheck(req) => self.handle_leader_check(msg.from, req),
            Payload::LeaderCheckAck(ack) => self.handle_leader_check_ack(msg.from, ack),
            Payload::ReadIndex(req) => self.handle_read_index(msg.from, req),
            Payload::ReadIndexResponse(resp) => self.handle_read_index_response(msg.from, resp),
            Payload::TimeoutNow(_) => {
                // From the leader of this term, which hands leadership over.
                if self.role == Role::Follower && self.leader == Some(msg.from) {
                    tracing::debug!(node = %self.id, term = %self.term, "told to campaign by the leader");
                    self.campaign_for(true);
                }
            }
        }
    }

    /// A message with a higher term. Returns false when it was fully handled here.
    fn on_higher_term(&mut self, msg: &Message) -> bool {
        match &msg.payload {
            // An election the leader asked for: the lease does not hold it back.
            Payload::TransferVote(_) => {
                self.become_follower(msg.payload.term(), None);
                true
            }
            Payload::RequestVote(req) if req.pre_vote => {
                // A pre-vote changes nobody's term. While a leader is known to be alive, refuse
                // it so a node returning from a partition, or a follower that wrongly suspects
                // the leader (a failover election), cannot disrupt (thesis §9.6: a server
                // grants a pre-vote only if it has not heard from a leader for an election
                // timeout, with or without check-quorum).
                if self.in_leader_lease() || self.hears_a_leader() {
                    self.reject_vote(msg.from, true);
                    return false;
                }
                true
            }
            Payload::RequestVote(_) if self.in_leader_lease() => {
                // Thesis §4.2.3: within the minimum election timeout of hearing from a live
                // leader, a vote request neither moves the term nor wins a vote. A node that
                // cannot hear the leader (a one-way link, a removed server) would otherwise
                // depose a healthy leader every time its timer fires. With CheckQuorum on, a
                // leader that truly lost its quorum steps down and the lease runs out.
                false
            }
            // A granted pre-vote carries the term we asked about; it changes nothing.
            Payload::RequestVoteResponse(resp) if resp.pre_vote && resp.vote_granted => true,
            Payload::AppendEntries(_) | Payload::InstallSnapshot(_) | Payload::LeaderCheck(_) => {
                self.become_follower(msg.payload.term(), Some(msg.from));
                true
            }
            _ => {
                self.become_follower(msg.payload.term(), None);
                true
            }
        }
    }

    /// A message with a lower term: tell the sender our term so a stale leader or candidate
    /// steps down; ignore stale responses.
    fn on_lower_term(&mut self, msg: Message) {
        match msg.payload {
            Payload::AppendEntries(req) => {
                let resp = self.append_response(false, req.prev_log_index, None);
                self.send(msg.from, Payload::AppendEntriesResponse(resp));
            }
            Payload::RequestVote(req) => self.reject_vote(msg.from, req.pre_vote),
            Payload::TransferVote(_) => self.reject_vote(msg.from, false),
            Payload::InstallSnapshot(req) => {
                let resp = self.snapshot_response(&req, 0, false);
                self.send(msg.from, Payload::InstallSnapshotResponse(resp));
            }
            Payload::LeaderCheck(req) => {
                // Tell the stale leader of this term.
                let ack = crate::message::LeaderCheckAck { term: self.term, round: req.round };
                self.send(msg.from, Payload::LeaderCheckAck(ack));
            }
            Payload::ReadIndex(req) => {
                let resp = crate::message::ReadIndexResponse { term: self.term, id: req.id, index: None };
                self.send(msg.from, Payload::ReadIndexResponse(resp));
            }
            Payload::RequestVoteResponse(_)
            | Payload::AppendEntriesResponse(_)
            | Payload::InstallSnapshotResponse(_)
            | Payload::TimeoutNow(_)
            | Payload::LeaderCheckAck(_)
            | Payload::ReadIndexResponse(_) => {}
        }
    }

    /// Whether this node leads, or heard from a leader within the minimum election timeout
    /// (whether or not it still follows one: its own failed pre-vote round forgets the
    /// leader, not that it was alive): it refuses pre-votes then.
    fn hears_a_leader(&self) -> bool {
        self.role == Role::Leader
            || self.leader_contact.is_some_and(|at| self.now < at + self.config.election_timeout_min_ms)
    }

    pub(super) fn in_leader_lease(&self) -> bool {
        if !self.config.check_quorum {
            return false;
        }
        if self.role == Role::Leader {
            // The deadline of the next CheckQuorum round moves on only while a quorum answers.
            return self.now < self.check_quorum_deadline;
        }
        if self.now < self.vote_quarantine_until {
            return true;
        }
        match (self.leader, self.leader_contact) {
            (Some(_), Some(at)) => self.now < at + self.config.election_timeout_min_ms,
            _ => false,
        }
    }
}
