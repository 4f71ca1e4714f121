//! Membership changes (Raft paper §6, dissertation §4): configuration entries in force from
//! the moment they are appended, joint consensus for voters, learners added first and
//! promoted once caught up, a removed leader stepping down once the change commits.

use super::*;

impl Core {
    // ----- Observers -------------------------------------------------------------------

    /// The configuration in force: the latest configuration entry in the log (committed or
    /// not), or the one at the log's start.
    pub fn configuration(&self) -> &Configuration {
        self.log.config()
    }

    /// The index of the configuration entry in force (the snapshot point's for the one in
    /// force there; 0 for the bootstrap configuration): the membership version.
    pub fn configuration_index(&self) -> LogIndex {
        self.log.config_index()
    }

    /// True when this node is leaving the cluster: it was a member, and the latest
    /// configuration does not keep it (neither as a voter of the new half nor as a learner).
    /// A leader in that state leads until the change commits, then steps down. A node
    /// joining the cluster is not stepping down.
    pub fn is_stepping_down(&self) -> bool {
        let config = self.log.config();
        self.was_member && !config.voters.contains(&self.id) && !config.learners.contains(&self.id)
    }

    /// Proposes a membership change (leader only; shorthand for [`Core::step`] with
    /// [`Input::ChangeMembership`]); returns the index of its configuration entry.
    ///
    /// Adding a voter or removing one enters a joint configuration (C_old,new); once it
    /// commits, the leader appends C_new on its own. With `through_learner`, a node that is
    /// not yet a member is added as a learner instead, and promoted through a joint
    /// configuration once it is within [`RaftConfig::learner_catch_up_entries`] of the commit
    /// index. Removing a learner takes one step. Refused with
    /// [`RaftError::MembershipChangeInProgress`] while another change has not completed (a
    /// joint configuration, or a configuration entry not yet committed), and until an entry
    /// of the leader's own term has committed (so that a change of an earlier leader that
    /// this one may not know of has completed: the single-server-change bug).
    pub fn change_membership(
        &mut self,
        change: MembershipChange,
        through_learner: bool,
    ) -> RaftResult<LogIndex> {
        let index = self.step(Input::ChangeMembership { change, through_learner })?;
        Ok(index.expect("a change that succeeds has an index"))
    }

    pub(super) fn change_membership_now(
        &mut self,
        change: MembershipChange,
        through_learner: bool,
    ) -> RaftResult<LogIndex> {
        self.ensure_leader()?;
        self.ensure_no_change_in_progress()?;
        let current = self.log.config().clone();
        let next = match &change {
            MembershipChange::AddNode { node_id, address }
                if through_learner && !current.is_member(*node_id) =>
            {
                current.with_learner(*node_id, address.clone())?
            }
            MembershipChange::RemoveNode { node_id } if current.learners.contains(node_id) => {
                current.without_learner(*node_id)?
            }
            _ => current.enter_joint(&change)?,
        };
        Ok(self.append_config(next))
    }

    fn ensure_no_change_in_progress(&self) -> RaftResult<()> {
        let log = &self.log;
        let own_term_committed = log.term(log.committed()) == Some(self.term);
        if log.config().is_joint() || log.config_index() > log.committed() || !own_term_committed {
            return Err(RaftError::MembershipChangeInProgress);
        }
        Ok(())
    }

    /// [`Input::LeaveJoint`]: C_new now, if C_old,new is in force and committed; nothing if no
    /// joint configuration is in force (C_new was appended already, or nothing changes).
    pub(super) fn leave_joint_now(&mut self) -> RaftResult<Option<LogIndex>> {
        self.ensure_leader()?;
        let config = self.log.config();
        if !config.is_joint() {
            return Ok(None);
        }
        if self.log.config_index() > self.log.committed() {
            return Err(RaftError::MembershipChangeInProgress);
        }
        let next = config.leave_joint();
        Ok(Some(self.append_config(next)))
    }

    /// Appends a configuration entry, in force at once.
    fn append_config(&mut self, config: Configuration) -> LogIndex {
        let index = self.log.last_index().next();
        let entry = LogEntry {
            term: self.term,
            index,
            kind: EntryKind::Config,
            command: Command::from_bytes(config.encode()),
        };
        tracing::debug!(node = %self.id, %index, ?config, "configuration entry appended");
        self.log.append_local(entry);
        self.broadcast_pending = true;
        self.sync_config();
        self.maybe_commit_single();
        index
    }

    /// Puts the log's configuration in force in the tracker if it changed (an entry
    /// appended or truncated, a snapshot installed).
    pub(super) fn sync_config(&mut self) {
        if self.log.config() == &self.applied_config {
            return;
        }
        let config = self.log.config().clone();
        let leader_last = (self.role == Role::Leader).then(|| self.log.last_index());
        self.tracker.set_config(config.quorum(), leader_last);
        if self.role == Role::Leader {
            let durable = self.log.durable_index();
            if let Some(me) = self.tracker.progress_mut(self.id) {
                me.match_index = durable;
                me.next_index = me.next_index.max(durable.next());
                me.state = ProgressState::Replicate;
            }
        }
        tracing::debug!(node = %self.id, ?config, "configuration in force");
        self.was_member |= config.is_member(self.id);
        self.applied_config = config;
        if self.role == Role::Leader {
            self.reads_on_config_change();
        }
    }

    /// After the commit index moved, on a leader: C_old,new committed means C_new goes in;
    /// a committed configuration without this leader means it steps down, handing
    /// leadership to the voter of the new configuration that holds its whole log (a
    /// leadership transfer's `TimeoutNow`, Raft dissertation §3.10), so that the cluster
    /// need not wait an election timeout for a new leader.
    pub(super) fn after_commit_membership(&mut self) {
        if self.role != Role::Leader || self.log.config_index() > self.log.committed() {
            return;
        }
        let config = self.log.config();
        if config.is_joint() {
            let next = config.leave_joint();
            self.append_config(next);
        } else if !config.is_voter(self.id) {
            tracing::debug!(node = %self.id, term = %self.term, "removed from the configuration, stepping down");
            let last = self.log.last_index();
            let successor =
                config.voters.iter().copied().find(|&v| {
                    v != self.id && self.tracker.progress(v).is_some_and(|p| p.match_index == last)
                });
            if let Some(to) = successor {
                // The lease goes with the step down below.
                let req = crate::message::TimeoutNowRequest { term: self.term, leader_id: self.id };
                self.send(to, Payload::TimeoutNow(req));
            }
            self.become_follower(self.term, None);
        }
    }

    /// At each heartbeat, on a leader: a learner within
    /// [`RaftConfig::learner_catch_up_entries`] of the commit index is promoted to voter
    /// through a joint configuration (one at a time).
    pub(super) fn maybe_promote_learner(&mut self) {
        if self.ensure_no_change_in_progress().is_err() {
            return;
        }
        let committed = self.log.committed().0;
        let lag = self.config.learner_catch_up_entries;
        let config = self.log.config();
        let caught_up = config.learners.iter().copied().find(|&l| {
            self.tracker.progress(l).is_some_and(|p| p.match_index.0.saturating_add(lag) >= committed)
        });
        if let Some(node_id) = caught_up {
            let address = config.addresses.get(&node_id).cloned().unwrap_or_default();
            let change = MembershipChange::AddNode { node_id, address };
            if let Ok(next) = config.enter_joint(&change) {
                tracing::debug!(node = %self.id, learner = %node_id, "promoting a caught-up learner");
                self.append_config(next);
            }
        }
    }
}

impl Core {
    // ----- Fencing tokens --------------------------------------------------------------

    /// Issues the next fencing token of this leader's term: the full term and a sequence
    /// number that grows with each token (see [`crate::fencing`]). `None` when this node does
    /// not lead.
    pub fn issue_fencing_token(&mut self) -> Option<crate::fencing::FencingToken> {
        if self.role != Role::Leader {
            return None;
        }
        self.fencing_sequence += 1;
        Some(crate::fencing::FencingToken { term: self.term, sequence: self.fencing_sequence })
    }

    /// Checks a fencing token against this node's term: one of an earlier term is
    /// [`RaftError::StaleTerm`] (its leader has been deposed); one of a term this node has
    /// not reached, or, on the leader of the token's term, one with a sequence above any it
    /// issued, is [`RaftError::InvalidFencingToken`] (no leader issued it).
    pub fn validate_fencing_token(&self, token: &crate::fencing::FencingToken) -> RaftResult<()> {
        if token.term < self.term {
            return Err(RaftError::StaleTerm);
        }
        if token.sequence == 0 {
            return Err(RaftError::InvalidFencingToken(format!(
                "token {token} has sequence 0, which no leader issues"
            )));
        }
        if token.term > self.term {
            return Err(RaftError::InvalidFencingToken(format!(
                "token {token} is from term {}, which this node (in term {}) has not reached",
                token.term, self.term
            )));
        }
        if self.role == Role::Leader && token.sequence > self.fencing_sequence {
            return Err(RaftError::InvalidFencingToken(format!(
                "token {token} has a sequence above the {} this leader issued in its term",
                self.fencing_sequence
            )));
        }
        Ok(())
    }
}

impl Core {
    // ----- Leadership transfer -----------------------------------------------------------

    /// Hands leadership to `to` (shorthand for [`Core::step`] with
    /// [`Input::TransferLeadership`]): refused with [`RaftError::NodeNotMember`] when `to`
    /// does not vote, and [`RaftError::NotLeader`] on a follower; nothing happens when `to`
    /// is this node.
    pub fn transfer_leadership(&mut self, to: NodeId) -> RaftResult<()> {
        self.step(Input::TransferLeadership { to }).map(drop)
    }

    /// The target of the leadership transfer in progress, if any.
    pub fn leadership_transfer(&self) -> Option<NodeId> {
        self.transfer.map(|t| t.to)
    }

    pub(super) fn transfer_leadership_now(&mut self, to: NodeId) -> RaftResult<()> {
        self.ensure_leader()?;
        if to == self.id {
            return Ok(());
        }
        if !self.tracker.config().is_voter(to) {
            return Err(RaftError::NodeNotMember { node_id: to });
        }
        match self.transfer {
            Some(t) if t.to == to => {
                // Asked again: tell it again once it is up to date.
                self.transfer = Some(Transfer { told: false, ..t });
            }
            _ => {
                let deadline = self.now + self.config.election_timeout_max_ms;
                tracing::debug!(node = %self.id, %to, term = %self.term, "handing leadership over");
                self.transfer = Some(Transfer { to, deadline, told: false });
            }
        }
        self.maybe_tell_transfer_target();
        if self.transfer.is_some_and(|t| !t.told) {
            self.maybe_send_append(to, true);
        }
        Ok(())
    }

    /// Tells the transfer's target to campaign once it holds the leader's whole log.
    pub(super) fn maybe_tell_transfer_target(&mut self) {
        let Some(t) = self.transfer.filter(|t| !t.told) else { return };
        if self.role != Role::Leader {
            return;
        }
        let caught_up = self.tracker.progress(t.to).is_some_and(|p| p.match_index == self.log.last_index());
        if caught_up {
            self.transfer = Some(Transfer { told: true, ..t });
            self.forfeit_lease();
            let req = crate::message::TimeoutNowRequest { term: self.term, leader_id: self.id };
            self.send(t.to, Payload::TimeoutNow(req));
        }
    }
}
