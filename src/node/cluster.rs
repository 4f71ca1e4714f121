//! The seed's API for snapshots, fencing tokens and membership on [`RaftNode`]: each method
//! steps the core through the same driver as the rest of the facade.

use super::*;

impl RaftNode {
    // ----- Snapshots ---------------------------------------------------------------------

    /// Attempt to create a snapshot if the log has grown past the threshold
    /// ([`RaftConfig::snapshot_threshold`] entries after the snapshot point). Call this after
    /// advancing the commit index. If a snapshot is created, the log is compacted up to the
    /// snapshot point, once the snapshot is durable.
    ///
    /// `state_machine_data` is the serialized state of the application state machine at the
    /// current applied index: the index of the last entry the node handed to the state
    /// machine (call it from the thread that applies, or while nothing is being applied).
    /// Returns whether a snapshot was created; refuses data above
    /// [`RaftConfig::max_snapshot_bytes`], and fails with the persistence's error if it
    /// cannot store the snapshot (the log is then left whole).
    pub fn maybe_create_snapshot(&self, state_machine_data: Vec<u8>) -> RaftResult<bool> {
        let threshold = self.read(|core| core.config().snapshot_threshold);
        self.snapshot_if(|log_entries, _| log_entries > threshold, || Ok(state_machine_data))
    }

    /// Automatically create a snapshot if the log has grown past the threshold, as `policy`
    /// says ([`SnapshotPolicy::is_due`]). The closure produces the state machine's data and
    /// is called only when a snapshot is due, with no entry being applied meanwhile, so the
    /// data is the state at the applied index. Call this after applying committed entries.
    pub fn auto_snapshot_if_needed<F>(
        &self,
        policy: &SnapshotPolicy,
        state_machine_data_fn: F,
    ) -> RaftResult<bool>
    where
        F: FnOnce() -> RaftResult<Vec<u8>>,
    {
        self.snapshot_if(
            |log_entries, applied_since| policy.is_due(log_entries, applied_since),
            state_machine_data_fn,
        )
    }

    /// Takes a snapshot at the applied index if `due(log entries, applied since the
    /// snapshot point)`, with the state machine's lock held so that nothing is applied
    /// meanwhile.
    fn snapshot_if(
        &self,
        due: impl FnOnce(u64, u64) -> bool,
        data: impl FnOnce() -> RaftResult<Vec<u8>>,
    ) -> RaftResult<bool> {
        let applier = self.apply.lock().unwrap_or_else(|e| e.into_inner());
        let held = super::Held::new();
        let (applied, is_due) = {
            let inner = self.lock_inner()?;
            let log = inner.core.log();
            let point = log.snapshot_point().index;
            let applied = log.applied();
            (applied, applied > point && due(log.len() as u64, applied.0 - point.0))
        };
        if !is_due {
            return Ok(false);
        }
        let data = data()?;
        let ((), _) = self
            .drive(|core| core.take_snapshot(applied, data.into()).map(drop))
            .and_then(|(r, m)| r.map(|()| ((), m)))?;
        drop(applier);
        drop(held);
        // Entries committed meanwhile waited for the state machine's lock: apply them now;
        // alerts and placement deferred while it was held go now.
        self.run_apply();
        self.after_call();
        Ok(true)
    }

    /// Handle an InstallSnapshot RPC from the leader: one chunk of a snapshot, used when a
    /// follower is too far behind and the leader sends a snapshot instead of individual log
    /// entries. Returns once the chunk is taken in: the answer gives the offset expected
    /// next, or, for the final chunk, that the snapshot is installed (it is durable and the
    /// state machine, if one is set, restored from it). A chunk of an older snapshot than
    /// the one being received, or one that contradicts itself, is an error.
    pub fn handle_install_snapshot(
        &self,
        req: InstallSnapshotRequest,
    ) -> RaftResult<InstallSnapshotResponse> {
        let from = req.leader_id;
        let (offset, total) = (req.offset, req.total_bytes);
        let msg = Message { from, to: self.id, payload: Payload::InstallSnapshot(req) };
        let out = self.deliver(msg)?;
        out.into_iter()
            .find_map(|m| match m.payload {
                Payload::InstallSnapshotResponse(r) if m.to == from => Some(r),
                _ => None,
            })
            .ok_or_else(|| {
                RaftError::LogInconsistency(format!(
                    "snapshot chunk at offset {offset} of {total} bytes ignored: it contradicts itself, is above \
                     the size limit, or belongs to an older snapshot than the one being received"
                ))
            })
    }

    /// Prepare an InstallSnapshot request for a follower that is too far behind.
    ///
    /// For snapshots at or below [`RaftConfig::snapshot_chunk_threshold_bytes`] the full
    /// data goes as a single `done = true` request. For larger snapshots a
    /// [`crate::snapshot::SnapshotStreamer`] is created (or resumed) and one chunk is emitted
    /// per call; the streamer is cleaned up once the final chunk is handed out, and the
    /// follower is then probed from one past the snapshot (if it did not install it, its
    /// rejection makes it need a snapshot again). Feeding the follower's answers to
    /// [`RaftNode::handle_install_snapshot_response`] lets the transfer resume where the
    /// follower is instead.
    ///
    /// Returns `Ok(None)` when this node is not the leader, when no snapshot exists, or when
    /// the target peer has already caught up past the snapshot point via normal log
    /// replication.
    pub fn prepare_install_snapshot(
        &self,
        target_peer: NodeId,
    ) -> RaftResult<Option<InstallSnapshotRequest>> {
        if target_peer == self.id || !self.is_leader() {
            return Ok(None);
        }
        let queued = {
            let mut inner = self.lock_inner()?;
            inner.snapshot_outbox.get_mut(&target_peer).and_then(VecDeque::pop_front)
        };
        if let Some(chunk) = queued {
            if chunk.done {
                // The final chunk is handed out: the transfer ends on the leader's side.
                self.drive(|core| core.step(Input::SendSnapshot { to: target_peer }))?.0?;
            }
            return Ok(Some(chunk));
        }
        let sending = self.read(|core| core.snapshot_transfer(target_peer).is_some());
        if !sending && !self.follower_needs_snapshot(target_peer) {
            return Ok(None);
        }
        self.drive(|core| core.step(Input::SendSnapshot { to: target_peer }))?.0?;
        let mut inner = self.lock_inner()?;
        Ok(inner.snapshot_outbox.get_mut(&target_peer).and_then(VecDeque::pop_front))
    }

    /// Handle a follower's answer to an InstallSnapshot chunk (not in the seed's API, which
    /// assumes every chunk arrives): an installed snapshot advances the follower's
    /// progress; an expected offset resumes the transfer from there (the next
    /// [`RaftNode::prepare_install_snapshot`] sends it).
    pub fn handle_install_snapshot_response(
        &self,
        from: NodeId,
        resp: InstallSnapshotResponse,
    ) -> RaftResult<()> {
        let msg = Message { from, to: self.id, payload: Payload::InstallSnapshotResponse(resp) };
        self.deliver(msg).map(drop)
    }

    /// Check if a follower needs a snapshot instead of normal log replication: true if the
    /// follower's next index is at or before the snapshot point.
    pub fn follower_needs_snapshot(&self, peer: NodeId) -> bool {
        self.read(|core| core.follower_needs_snapshot(peer))
    }

    /// The latest snapshot (taken here or installed from a leader).
    pub fn latest_snapshot(&self) -> Option<Snapshot> {
        self.read(|core| core.snapshot().cloned())
    }

    // ----- Fencing tokens ----------------------------------------------------------------

    /// Issue a new fencing token for the current leader term: the full 64-bit term and a
    /// sequence number that grows with each token of the term, so tokens grow from one
    /// leader to the next and within a leader's term. Returns None if the node is not the
    /// current leader.
    pub fn issue_fencing_token(&self) -> Option<FencingToken> {
        let mut inner = self.lock_inner().ok()?;
        inner.core.issue_fencing_token()
    }

    /// Validate that `token` is not stale relative to the current Raft term. Returns Ok(())
    /// if the token's term matches the current Raft term; [`RaftError::StaleTerm`] if the
    /// token predates it; [`RaftError::InvalidFencingToken`] for a token no leader issued (a
    /// term this node has not reached, sequence 0, or, on the leader, a sequence above any
    /// it issued).
    pub fn validate_fencing_token(&self, token: &FencingToken) -> RaftResult<()> {
        self.read(|core| core.validate_fencing_token(token))
    }

    // ----- Membership --------------------------------------------------------------------

    /// Add a node to the cluster via joint consensus. If this node is the leader the change
    /// is proposed immediately: the node joins as a learner (it receives the log, a snapshot
    /// if it is far behind, and counts towards no quorum), and the leader promotes it to
    /// voter through a joint configuration once it is within
    /// [`RaftConfig::learner_catch_up_entries`] of the commit index, so adding a node never
    /// stalls commitment. Returns an error if a membership change is already in progress or
    /// the node is already a member (and [`RaftError::NotLeader`] on a follower).
    pub fn add_node(&self, node_id: NodeId, address: String) -> RaftResult<()> {
        let change = MembershipChange::AddNode { node_id, address };
        self.drive(|core| core.change_membership(change, true))?.0.map(drop)
    }

    /// Remove a node from the cluster via joint consensus (a learner in one step). If the
    /// removed node is this node, it will step down after the configuration change commits.
    pub fn remove_node(&self, node_id: NodeId) -> RaftResult<()> {
        let change = MembershipChange::RemoveNode { node_id };
        self.drive(|core| core.change_membership(change, true))?.0.map(drop)
    }

    /// Get the current list of cluster members as (node_id, address) pairs: the voters of
    /// the configuration in force (both halves while joint) and its learners, sorted, with
    /// the address each was added with ("" for one never given, such as a bootstrap voter).
    pub fn cluster_members(&self) -> Vec<(NodeId, String)> {
        self.read(|core| {
            let config = core.configuration();
            config
                .members()
                .into_iter()
                .map(|id| (id, config.addresses.get(&id).cloned().unwrap_or_default()))
                .collect()
        })
    }

    /// Check whether the cluster is currently in joint consensus (C_old,new is this node's
    /// configuration in force).
    pub fn is_in_joint_consensus(&self) -> bool {
        self.read(|core| core.configuration().is_joint())
    }

    /// Get the current membership configuration version: the log index of the configuration
    /// entry in force (0 for the bootstrap configuration). It moves on with every change,
    /// and back if a configuration entry that never committed is truncated away.
    pub fn membership_version(&self) -> u64 {
        self.read(|core| core.configuration_index().0)
    }

    /// Propose a membership change (leader only), by the simplified joint consensus of the
    /// Raft paper (§6): the leader creates the joint configuration C_old,new and replicates
    /// it; once it is committed the leader creates C_new (on its own, or when
    /// [`RaftNode::commit_membership_change`] is called); during the joint state, decisions
    /// require a majority of both the old and the new configurations.
    pub fn propose_membership_change(&self, change: MembershipChange) -> RaftResult<()> {
        self.drive(|core| core.change_membership(change, false))?.0.map(drop)
    }

    /// Commit the joint consensus transition: move from C_old,new to C_new. Call this once
    /// the joint configuration entry has been committed; before, it is
    /// [`RaftError::MembershipChangeInProgress`]. Nothing happens when no joint configuration
    /// is in force (the leader has moved on to C_new already, as it does on its own once the
    /// joint entry commits).
    pub fn commit_membership_change(&self) -> RaftResult<()> {
        self.drive(|core| core.step(Input::LeaveJoint))?.0.map(drop)
    }

    /// Calculate whether a set of nodes forms a quorum under the current membership
    /// configuration: a majority of the voters, and while joint, a majority of each half.
    // The seed's signature takes a std HashSet; it is only looked up, never iterated.
    #[allow(clippy::disallowed_types)]
    pub fn has_quorum(&self, responding_nodes: &std::collections::HashSet<NodeId>) -> bool {
        self.read(|core| core.quorum_config().has_quorum(|id| responding_nodes.contains(&id)))
    }

    /// Check if this node is stepping down (has been removed from the cluster): the
    /// configuration in force no longer keeps it. A removed leader keeps leading until the
    /// change commits, then steps down.
    pub fn is_stepping_down(&self) -> bool {
        self.read(Core::is_stepping_down)
    }

    /// The last error the state machine returned while applying, if any.
    pub fn last_apply_error(&self) -> Option<RaftError> {
        self.apply.lock().unwrap_or_else(|e| e.into_inner()).last_error.clone()
    }

    /// The configuration the node was built with.
    pub fn config(&self) -> &RaftConfig {
        &self.config
    }
}
