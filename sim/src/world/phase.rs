//! The liveness phase: the network heals (perhaps leaving a cut), every node runs again, and
//! the cluster must elect a stable leader and finish every client's request within bounds.

use super::*;

impl Sim {
    /// When the run ends: `liveness_ms` after the liveness phase starts, or after every
    /// node's clock runs again if one stands still then (after a backward jump a node's
    /// clock waits for real time to catch up, and a node without a running clock cannot
    /// time out, so the cluster may need it to make progress).
    pub(super) fn end(&self) -> u64 {
        let healed = match &self.liveness {
            Some(phase) => phase.clocks_running_at,
            None => self.params.safety_ms,
        };
        healed + self.params.liveness_ms
    }

    pub(super) fn live(&self) -> bool {
        self.workload_done() && self.clients.iter().all(|c| c.current.is_none())
    }

    /// The healed cluster is live: record how long it took, and check the bounds on it.
    pub(super) fn end_liveness(&mut self) {
        let phase = self.liveness.as_ref().expect("in the liveness phase");
        let term = self.max_term();
        self.stats.liveness_ms = self.now - self.params.safety_ms;
        let leader_rounds = phase.leader_at.map_or(0, |at| (at - phase.healed_at).div_ceil(phase.round_ms));
        self.stats.liveness_leader_rounds = self.stats.liveness_leader_rounds.max(leader_rounds);
        self.stats.liveness_elections = phase.elections;
        self.stats.liveness_terms = term.0.saturating_sub(phase.term_at_heal.0);
        if let Err(v) = phase.check(self.now, term) {
            self.fail(FailureKind::Liveness, v);
        }
    }

    /// The leader that a quorum of its configuration follows in its term (itself included,
    /// if it votes), if any.
    pub(super) fn stable_leader(&self) -> Option<NodeId> {
        let (id, term, quorum) = self
            .nodes
            .values()
            .filter(|n| !n.paused)
            .filter_map(|n| n.core.as_ref().map(|c| (n.id, c)))
            .filter(|(_, c)| c.state() == NodeState::Leader)
            .map(|(id, c)| (id, c.term(), c.quorum_config().clone()))
            .max_by_key(|&(_, term, _)| term)?;
        let following: BTreeSet<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.core.as_ref().is_some_and(|c| c.term() == term && c.leader() == Some(id)))
            .map(|n| n.id)
            .collect();
        quorum.has_quorum(|n| following.contains(&n)).then_some(id)
    }

    /// Clients keep issuing into the liveness phase until a run has [`MIN_OPS_PER_RUN`]
    /// operations (or every client issued its share), so a run whose safety phase was mostly
    /// unavailable still produces a history worth checking.
    pub(super) fn workload_done(&self) -> bool {
        let issued: u32 = self.clients.iter().map(|c| c.issued).sum();
        issued >= MIN_OPS_PER_RUN || self.clients.iter().all(|c| c.issued >= self.params.ops_per_client)
    }

    /// The liveness phase: stop faults, heal, restart and resume a quorum at least (the
    /// others perhaps left down or cut off, see [`Sim::leave_a_minority_out`]).
    pub(super) fn start_liveness(&mut self) {
        self.faults_on = false;
        // The heal (and what it leaves out) changes every node's view of the leader.
        self.fault_epoch += 1;
        self.in_liveness = true;
        self.params.loss = 0.0;
        self.params.duplicate = 0.0;
        self.blocked.clear();
        self.trace.event(self.now, None, TraceEvent::LivenessStart, &[], || {
            "liveness phase: network healed, faults stopped".into()
        });
        self.left_down = self.leave_a_minority_out().into_iter().collect();
        for id in self.ids() {
            if self.left_down.contains(&id) {
                continue;
            }
            if self.nodes[&id].core.is_none() {
                self.restart(id);
            }
            self.resume(id);
        }
        let now = self.now;
        let clocks_running = self.nodes.values().map(|n| n.clock.running_at(now)).max().unwrap_or(now);
        // The bounds count on the election timeouts in force: a reload may have raised them.
        let mut params = self.params.clone();
        if let Some(update) = self.dynamic {
            let base = RaftConfig::new(1, [1]);
            let base = RaftConfig {
                election_timeout_min_ms: params.election_ms.0,
                election_timeout_max_ms: params.election_ms.1,
                heartbeat_interval_ms: params.heartbeat_ms,
                ..base
            };
            let in_force = base.with_dynamic(&update);
            params.election_ms = (in_force.election_timeout_min_ms, in_force.election_timeout_max_ms);
        }
        self.liveness = Some(LivenessPhase::start(
            now,
            clocks_running,
            self.max_term(),
            &params,
            self.nodes.len() as u64,
        ));
    }

    /// Some liveness phases restart and heal only a random quorum (as TigerBeetle's VOPR
    /// does) and leave the others out: a minority isolated, a minority left down (crashed
    /// if it was running), or one node that cannot hear (or cannot be heard by) the others.
    /// The rest, a connected majority, must still elect a leader and finish every client's
    /// request: CheckQuorum has to depose a leader stuck on the wrong side, and the nodes
    /// left out must not keep the majority from making progress. Returns the nodes left
    /// down.
    pub(super) fn leave_a_minority_out(&mut self) -> Vec<NodeId> {
        // A minority of the voters of the committed configuration (none while it is joint,
        // where a minority of one half may be a majority of the other).
        // A minority of what? Only a settled configuration says: while a change is in
        // flight (a joint configuration, or nodes whose logs hold other configurations than
        // the committed one), a minority of one may be needed by the other's majority.
        let config = self.checker.config_at(self.checker.committed_index()).clone();
        let settled = !config.is_joint()
            && self.nodes.values().filter_map(|n| n.core.as_ref()).all(|c| c.configuration() == &config);
        let ids: Vec<NodeId> =
            config.voters.iter().copied().filter(|id| self.nodes.contains_key(id)).collect();
        let n = ids.len() as u64;
        if n < 3 || !settled || !chance(&mut self.fault_rng, LIVENESS_CUT_CHANCE) {
            return Vec::new();
        }
        let mut shuffled = ids.clone();
        for i in (1..shuffled.len()).rev() {
            let j = index(&mut self.fault_rng, i + 1);
            shuffled.swap(i, j);
        }
        // A node that cannot hear the others, left in place, is only survivable with
        // CheckQuorum and PreVote. Without CheckQuorum, a deaf leader keeps its followers
        // (they hear it) and never learns that nothing commits, and Raft has no other way to
        // depose it. Without PreVote, a deaf node campaigns in term after term; voters grant
        // it (its log may be the most up to date) and restart their election timers, as
        // Figure 2 says, so the rest elect a leader only when a timeout falls between two
        // of its campaigns: about 2% a round when its clock runs 27% fast and theirs 27%
        // slow (a sim_schedule input kept in fuzz/regressions ran 10 s without a leader).
        // That is Raft's known limit under a one-way partition, which PreVote lifts.
        let shapes: &[u64] =
            if self.params.check_quorum && self.params.pre_vote { &[2, 3, 0, 1] } else { &[2, 3, 0] };
        let shape = shapes[index(&mut self.fault_rng, shapes.len())];
        let minority = range(&mut self.fault_rng, 1, (n - 1) / 2) as usize;
        let (cut, _) = shuffled.split_at(if shape == 0 || shape == 3 { minority } else { 1 });
        let name =
            ["minority isolated", "one node deaf", "one node mute", "minority left down"][shape as usize];
        let cut_ids: Vec<u64> = cut.iter().map(|n| n.0).collect();
        self.trace.event(self.now, None, TraceEvent::LivenessCut, &[shape], || {
            format!("liveness phase leaves a minority out ({name}): {cut_ids:?}")
        });
        if shape == 3 {
            let down = cut.to_vec();
            for &id in &down {
                if self.nodes[&id].core.is_some() {
                    self.crash(id);
                }
            }
            return down;
        }
        // The others (removed nodes, learners) stay with the majority.
        let rest: Vec<NodeId> = self.ids().into_iter().filter(|id| !cut.contains(id)).collect();
        for &x in cut {
            for &y in &rest {
                if shape != 2 {
                    self.blocked.insert((y, x)); // x cannot hear y
                }
                if shape != 1 {
                    self.blocked.insert((x, y)); // y cannot hear x
                }
            }
        }
        Vec::new()
    }
}
