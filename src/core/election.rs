//! Elections: the role transitions (follower, pre-candidate, candidate, leader) and both
//! sides of a vote (paper §5.2, thesis §9.6 for pre-vote, §4.2.3 for the leader lease).

use super::*;

impl Core {
    // ----- Role transitions ------------------------------------------------------------

    /// Steps down (or stays) a follower of `term`, following `leader` if known.
    ///
    /// The election timer restarts only when a leader is heard from or when this node was
    /// leading (a leader has no timer running). Figure 2 restarts it on hearing from the
    /// current leader or on granting a vote, and on nothing else: a node that adopts a higher
    /// term from a candidate it refuses keeps its timer. Otherwise a candidate that can never
    /// win (a stale log on a fast clock, PreVote off) would hold back every up-to-date node's
    /// timer for ever, and the cluster would never elect a leader.
    pub(super) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        let restart_timer = self.role == Role::Leader || leader.is_some();
        let changed = self.role != Role::Follower || self.leader != leader || term > self.term;
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        if self.role != Role::Follower || self.leader != leader {
            tracing::debug!(node = %self.id, term = %self.term, ?leader, "follower");
        }
        self.role = Role::Follower;
        self.leader = leader;
        if changed {
            // Reads that waited on the old role fail, naming the new leader if known.
            self.reads_on_role_change();
        }
        self.tracker.stop_replication();
        self.stop_snapshot_transfers();
        self.transfer = None;
        self.tracker.reset_votes();
        if restart_timer {
            self.reset_election_timer();
        }
    }

    pub(super) fn pre_campaign(&mut self) {
        self.reads_on_role_change();
        self.role = Role::PreCandidate;
        self.leader = None;
        self.tracker.reset_votes();
        self.reset_election_timer();
        tracing::debug!(node = %self.id, term = %self.term, "pre-candidate");
        self.request_votes(true);
    }

    /// Becomes a candidate in a new term and asks for votes (paper §5.2).
    pub(super) fn campaign(&mut self) {
        self.campaign_for(false);
    }

    /// A real election (no pre-vote); with `transfer`, one the leader asked for
    /// ([`Payload::TimeoutNow`]), whose vote requests voters grant even inside a leader
    /// lease.
    pub(super) fn campaign_for(&mut self, transfer: bool) {
        if !self.can_campaign() {
            return;
        }
        self.reads_on_role_change();
        self.term = self.term.next();
        self.vote = Some(self.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.tracker.reset_votes();
        self.stats.elections += 1;
        self.reset_election_timer();
        tracing::debug!(node = %self.id, term = %self.term, transfer, "candidate");
        self.request_votes_for(false, transfer);
    }

    /// Whether this node may start an election: it votes in its latest configuration, or
    /// that configuration has not committed and it votes in the one before; and its term is
    /// below [`MAX_TERM`] (peers drop messages above it, and a term that high can only come
    /// from a corrupt disk: a dead end, never a panic). A leader that
    /// removed itself and crashed before its C_new reached anyone may hold the only copy of
    /// it: the others, still joint, need its vote and cannot outvote its longer log, so it
    /// must be able to campaign (counting votes by C_new) until C_new commits.
    pub(super) fn can_campaign(&self) -> bool {
        let log = &self.log;
        let voter_now = self.tracker.config().is_voter(self.id);
        let voter_before =
            log.config_index() > log.committed() && log.config_at(log.committed()).is_voter(self.id);
        (voter_now || voter_before) && self.term < MAX_TERM
    }

    /// Counts its own vote and sends a (pre-)vote request to every other voter.
    pub(super) fn request_votes(&mut self, pre_vote: bool) {
        self.request_votes_for(pre_vote, false);
    }

    fn request_votes_for(&mut self, pre_vote: bool, transfer: bool) {
        self.tracker.record_vote(self.id, true);
        if self.tracker.tally() == VoteResult::Won {
            self.on_election_won();
            return;
        }
        let request = RequestVoteRequest {
            term: if pre_vote { self.term.next() } else { self.term },
            candidate_id: self.id,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            pre_vote,
        };
        let peers: Vec<NodeId> = self.voters().iter().copied().filter(|&v| v != self.id).collect();
        for peer in peers {
            self.send(
                peer,
                if transfer {
                    Payload::TransferVote(request.clone())
                } else {
                    Payload::RequestVote(request.clone())
                },
            );
        }
    }

    pub(super) fn on_election_won(&mut self) {
        match self.role {
            Role::PreCandidate => self.campaign(),
            Role::Candidate => self.become_leader(),
            _ => {}
        }
    }

    pub(super) fn become_leader(&mut self) {
        assert_eq!(self.role, Role::Candidate, "only a candidate becomes leader");
        assert_eq!(self.vote, Some(self.id), "a leader voted for itself");
        self.reads_on_role_change();
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.fencing_sequence = 0;
        self.stats.leaderships += 1;
        let last = self.log.last_index();
        self.tracker.start_replication(last);
        let durable = self.log.durable_index();
        if let Some(me) = self.tracker.progress_mut(self.id) {
            me.match_index = durable;
            me.state = ProgressState::Replicate;
        }
        self.heartbeat_deadline = self.now + self.config.heartbeat_interval_ms;
        self.check_quorum_deadline = self.now + self.config.election_timeout_min_ms;
        self.check_quorum_round_start = self.now;
        tracing::debug!(node = %self.id, term = %self.term, "leader");
        // A no-op entry of the new term lets earlier entries commit (§5.4.2, §8).
        let noop = LogEntry {
            term: self.term,
            index: last.next(),
            kind: EntryKind::Noop,
            command: Command::default(),
        };
        self.log.append_local(noop);
        self.broadcast_pending = true;
        self.broadcast_empty = true;
        self.maybe_commit_single();
    }

    pub(super) fn reject_vote(&mut self, to: NodeId, pre_vote: bool) {
        let resp = RequestVoteResponse { term: self.term, vote_granted: false, pre_vote };
        self.send(to, Payload::RequestVoteResponse(resp));
    }

    /// RequestVote receiver rules (§5.2, §5.4.1). `req.term >= self.term` here.
    pub(super) fn handle_vote_request(&mut self, from: NodeId, req: RequestVoteRequest) {
        let can_vote = self.vote == Some(req.candidate_id)
            || (self.vote.is_none() && self.leader.is_none())
            || (req.pre_vote && req.term > self.term);
        let up_to_date = self.log.is_up_to_date(req.last_log_index, req.last_log_term);
        let granted = can_vote && up_to_date && req.candidate_id == from;
        if granted && !req.pre_vote {
            self.vote = Some(req.candidate_id);
            self.reset_election_timer();
        }
        let term = if granted && req.pre_vote { req.term } else { self.term };
        let resp = RequestVoteResponse { term, vote_granted: granted, pre_vote: req.pre_vote };
        self.send(from, Payload::RequestVoteResponse(resp));
    }

    pub(super) fn handle_vote_response(&mut self, from: NodeId, resp: RequestVoteResponse) {
        let expected_phase = match self.role {
            Role::PreCandidate => true,
            Role::Candidate => false,
            _ => return,
        };
        if resp.pre_vote != expected_phase || !self.tracker.config().is_voter(from) {
            return;
        }
        // A granted pre-vote must be for the term we would campaign in.
        if resp.pre_vote && resp.vote_granted && resp.term != self.term.next() {
            return;
        }
        self.tracker.record_vote(from, resp.vote_granted);
        match self.tracker.tally() {
            VoteResult::Won => self.on_election_won(),
            VoteResult::Lost => self.become_follower(self.term, None),
            VoteResult::Pending => {}
        }
    }
}
