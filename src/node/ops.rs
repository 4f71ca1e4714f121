//! [`RaftNode`]'s operations side: the hot-reloadable configuration, the failover
//! coordinator, alerts and the placement scheduler. None of them runs user code under a lock
//! of the node (the seed's defect 10): after every call, with `inner` and `apply` released,
//! the node refreshes the coordinator, hands queued alerts to the alert manager and polls the
//! placement scheduler, in that order.

use super::*;
use crate::failover::FailoverObservation;
use crate::placement::PlacementView;

impl RaftNode {
    /// Return a clone of the current dynamic configuration, as in force (corrected when it
    /// was applied: see [`RaftConfig::with_dynamic`]). A value written straight into
    /// [`RaftNode::dynamic_config`] is taken first.
    pub fn get_dynamic_config(&self) -> DynamicConfig {
        let _ = self.drive(|_| ());
        self.read(|core| core.config().dynamic())
    }

    /// Hot-reload the dynamic configuration: the heartbeat interval, the compaction threshold
    /// and the election timeout range take effect at once (timers take them at their next
    /// reset), without a restart. Values that would break the rules are corrected, not
    /// applied as given: the election timeout never goes below the node's static range nor
    /// below twice the heartbeat interval ([`RaftConfig::with_dynamic`]); the corrected
    /// value is what [`RaftNode::dynamic_config`] then holds.
    pub fn update_dynamic_config(&self, new_config: DynamicConfig) {
        *self.dynamic_config.write().unwrap_or_else(|e| e.into_inner()) = new_config;
        let _ = self.drive(|_| ());
    }

    /// Takes a changed value of [`RaftNode::dynamic_config`] into the core, and writes the
    /// corrected value back. Never waits for the lock: a value being written is taken at the
    /// next call.
    pub(super) fn take_dynamic_config(&self, inner: &mut Inner) -> RaftResult<()> {
        let Ok(current) = self.dynamic_config.try_read().map(|c| *c) else { return Ok(()) };
        if current == inner.dynamic_seen {
            return Ok(());
        }
        inner.core.step(Input::UpdateDynamicConfig(current))?;
        let corrected = inner.core.config().dynamic();
        inner.dynamic_seen = corrected;
        if corrected != current {
            if let Ok(mut slot) = self.dynamic_config.try_write() {
                if *slot == current {
                    *slot = corrected;
                }
            }
        }
        Ok(())
    }

    /// Attach an [`AlertManager`] to this node: from now on the alerts the core raises
    /// ([`crate::alerts`]) are queued to it and handed to its handler after each call, with
    /// no lock of the node held, so the handler may call back into the node. Calling it
    /// again replaces the previous manager.
    pub fn set_alert_manager(&mut self, am: Arc<AlertManager>) {
        self.alert_manager = Some(am);
    }

    /// Trigger a failover election if this node is a follower: it starts an election as its
    /// election timer would, with a pre-vote round first when [`RaftConfig::pre_vote`] is on
    /// (the default), so a wrong suspicion does not disrupt a healthy leader: the voters that
    /// still hear from it refuse the pre-vote. Returns the (pre-)vote requests to send to
    /// the voters (answers go to [`RaftNode::handle_vote_response`]; once a quorum granted
    /// the pre-vote, the real vote requests wait in [`RaftNode::take_messages`]), or an empty
    /// vec if the node is not in follower state.
    pub fn trigger_failover_election(&self) -> Vec<RequestVoteRequest> {
        if self.state() != NodeState::Follower {
            return Vec::new();
        }
        self.drive(|core| core.step(Input::Failover)).map(|(_, msgs)| vote_requests(msgs)).unwrap_or_default()
    }

    /// Attach an optional shard placement scheduler: polled after every call into the node
    /// (the node has no timer of its own: a driver that calls it every tick polls it every
    /// tick), it plans while this node leads and its moves are proposed through the log
    /// ([`crate::placement`]). It stops at the first call after this node lost leadership
    /// and starts again when it leads a new term. Subsequent calls replace the previous
    /// scheduler, which stops.
    pub fn attach_placement_scheduler(self: &Arc<Self>, scheduler: PlacementScheduler) {
        *self.placement.lock().unwrap_or_else(|e| e.into_inner()) = Some(scheduler);
        let _ = self.drive(|_| ());
    }

    /// Placement moves proposed so far, and whether the scheduler runs (`None` without one,
    /// and during a round, while the scheduler is out of its slot).
    pub fn placement_stats(&self) -> Option<(crate::placement::PlacementStats, bool)> {
        let placement = self.placement.lock().unwrap_or_else(|e| e.into_inner());
        placement.as_ref().map(|s| (s.stats(), s.is_running()))
    }

    /// After every call, with no lock held: refresh the failover coordinator, hand alerts
    /// to the manager, poll the placement scheduler.
    pub(super) fn after_call(&self) {
        let (observation, alerts, leading) = {
            let Ok(mut inner) = self.inner.lock() else { return };
            let core = &inner.core;
            let me = self.id;
            let peers =
                core.quorum_config().members().filter(|&p| p != me).map(|p| (p, core.last_contact(p)));
            let observation = FailoverObservation {
                now_ms: core.now(),
                term: core.term(),
                role: core.state(),
                leader: core.leader(),
                peers: peers.collect(),
                failure_timeout_ms: core.config().election_timeout_max_ms,
            };
            let leading = (core.state() == NodeState::Leader).then(|| {
                let view = PlacementView {
                    node_id: me,
                    term: core.term(),
                    now_ms: core.now(),
                    voters: core.voters().to_vec(),
                    commit_index: core.log().committed(),
                    round: 0,
                };
                (core.term(), view)
            });
            (observation, std::mem::take(&mut inner.alerts), leading)
        };
        if let Ok(mut coordinator) = self.failover_coordinator.try_write() {
            coordinator.observe(observation.clone());
        }
        if let Some(manager) = &self.alert_manager {
            for alert in alerts {
                manager.push(alert);
            }
            if !Held::any() {
                manager.deliver();
            }
        }
        if !Held::any() {
            self.poll_placement(observation.now_ms, leading);
        }
    }

    /// Runs a placement round if one is due. The scheduler is taken out of its slot for the
    /// round (the policy runs with no lock held; a call from inside it, or from the
    /// proposals, finds the slot empty and leaves the round to finish), and its moves are
    /// proposed only while this node still leads the term they were planned in.
    fn poll_placement(&self, now: u64, leading: Option<(Term, PlacementView)>) {
        let Some(mut scheduler) = self.placement.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let held = Held::new();
        let term = leading.as_ref().map(|(t, _)| *t);
        let commands = scheduler.poll(now, term, || leading.expect("a round runs only while leading").1);
        let mut last = None;
        for command in commands {
            let proposed = self.drive(|core| match core.ensure_leader() {
                Ok(()) if Some(core.term()) == term => core.propose(command),
                Ok(()) => Err(RaftError::NotLeader { leader_id: Some(core.id()) }),
                Err(err) => Err(err),
            });
            match proposed.and_then(|(r, _)| r) {
                Ok(index) => last = Some(index),
                Err(err) => {
                    tracing::debug!(node = %self.id, %err, "placement move not proposed");
                    break;
                }
            }
        }
        if let Some(index) = last {
            scheduler.proposed(index);
        }
        drop(held);
        let mut slot = self.placement.lock().unwrap_or_else(|e| e.into_inner());
        // A scheduler attached during the round replaces this one.
        if slot.is_none() {
            *slot = Some(scheduler);
        }
    }
}
