//! What the core observes for operators ([`crate::alerts`]): members' silence and lag as a
//! leader sees them, the leader it knows, and when it last heard from each peer (for the
//! failover coordinator). Alerts leave through [`Ready::alerts`], like everything else the
//! core hands out.

use super::*;
use crate::alerts::AlertEvent;
use std::collections::BTreeSet;

/// The core's observations.
#[derive(Debug, Default)]
pub(super) struct Watch {
    /// The term this node leads and watches its members in, if it leads.
    leading: Option<Term>,
    /// As leader: per member, when it last answered (entries, a snapshot chunk or a
    /// leadership check), or when watching it started (election, or the member's arrival).
    answered: BTreeMap<NodeId, u64>,
    /// Members that answered in this term: a member's lag counts only once its answer told
    /// the leader where its log stands.
    acked: BTreeSet<NodeId>,
    /// Members reported failed and not heard from since.
    failed: BTreeSet<NodeId>,
    /// Members reported slow and not back within half the threshold since.
    slow: BTreeSet<NodeId>,
    /// The loss of the quorum was reported and no quorum was heard from since.
    quorum_lost: bool,
    /// The latest term whose leader this node reported.
    reported_term: Term,
    /// The leader it reported last.
    reported_leader: Option<NodeId>,
    /// The configuration entry the watched members were taken from.
    config_index: Option<LogIndex>,
    /// The time of the last scan of the members.
    observed_at: u64,
    /// Something the last scan judged may have changed at the same time reading (a quorum
    /// heard from again, a reload of the window): scan again.
    pub(super) dirty: bool,
    /// When any message from each peer last arrived, on this node's clock.
    contact: BTreeMap<NodeId, u64>,
    /// Alerts not yet handed out.
    pub(super) alerts: Vec<AlertEvent>,
}

impl Core {
    /// A valid message from `from` arrived.
    pub(super) fn watch_contact(&mut self, from: NodeId) {
        // Members only (a peer can put any sender id on a message: the map stays bounded).
        if let Some(at) = self.watch.contact.get_mut(&from) {
            *at = self.now;
        } else if self.tracker.config().members().any(|m| m == from) {
            self.watch.contact.insert(from, self.now);
        }
    }

    /// As leader, an answer of this term from `from` arrived; `confirms_log` when it told
    /// where the member's log stands (a successful append, an installed snapshot).
    pub(super) fn watch_answer(&mut self, from: NodeId, confirms_log: bool) {
        let now = self.now;
        let watch = &mut self.watch;
        if watch.leading != Some(self.term) {
            return;
        }
        // Only members are watched: a removed node may still answer what was in flight.
        let Some(at) = watch.answered.get_mut(&from) else { return };
        let before = std::mem::replace(at, now);
        if confirms_log {
            watch.acked.insert(from);
        }
        // A lost quorum may be heard from again: judge it at once.
        watch.dirty |= watch.quorum_lost;
        if watch.failed.remove(&from) {
            let silent_ms = now.saturating_sub(before);
            watch.alerts.push(AlertEvent::NodeRecovered { node: from, silent_ms });
        }
    }

    /// The check-quorum round that started at `round_start` failed: the leader steps down,
    /// having heard from `heard_from` alone.
    pub(super) fn watch_check_quorum_failed(&mut self, round_start: u64, heard_from: Vec<NodeId>) {
        if self.watch.leading == Some(self.term) && !self.watch.quorum_lost {
            self.watch.quorum_lost = true;
            let window_ms = self.now.saturating_sub(round_start);
            self.watch.alerts.push(AlertEvent::QuorumLost { term: self.term, heard_from, window_ms });
        }
    }

    /// Looks at the state after an input: the leader it knows, and as leader (once its term
    /// is durable), each member's silence and lag and whether a quorum answered within the
    /// window.
    pub(super) fn observe(&mut self) {
        // A leader reports itself, and watches its members, only once its own entry of the
        // term (and with it its term and vote) is durable: until then it may yet crash and
        // lose its election, and another node win the term.
        let leading = self.role == Role::Leader
            && (self.watch.leading == Some(self.term)
                || self.log.term(self.log.durable_index()) == Some(self.term));
        if let Some(leader) = self.leader.filter(|&l| l != self.id || leading) {
            if self.term > self.watch.reported_term {
                let previous = self.watch.reported_leader;
                self.watch.reported_term = self.term;
                self.watch.reported_leader = Some(leader);
                self.watch.alerts.push(AlertEvent::LeaderChanged { term: self.term, leader, previous });
            }
        }
        if !leading {
            if self.watch.leading.take().is_some() {
                self.watch.answered.clear();
                self.watch.acked.clear();
                self.watch.failed.clear();
                self.watch.slow.clear();
                self.watch.quorum_lost = false;
            }
            return;
        }
        let now = self.now;
        if self.watch.leading != Some(self.term) {
            self.watch.leading = Some(self.term);
            self.watch.answered.clear();
            self.watch.acked.clear();
            self.watch.failed.clear();
            self.watch.slow.clear();
            self.watch.quorum_lost = false;
            self.watch.config_index = None;
        }
        let config = self.tracker.config();
        let me = self.id;
        let watch = &mut self.watch;
        let config_index = self.log.config_index();
        if watch.config_index != Some(config_index) {
            // Members that left stop being watched; new ones are watched from now.
            watch.config_index = Some(config_index);
            watch.answered.retain(|id, _| config.members().any(|m| m == *id));
            watch.failed.retain(|id| config.members().any(|m| m == *id));
            watch.slow.retain(|id| config.members().any(|m| m == *id));
            for member in config.members().filter(|&m| m != me) {
                watch.answered.entry(member).or_insert(now);
            }
            watch.dirty = true;
        }
        // Silence grows only with time: scan when the clock moved (or something the last
        // scan judged changed), not on every message.
        if now == watch.observed_at && !watch.dirty {
            return;
        }
        watch.observed_at = now;
        watch.dirty = false;
        let window = self.config.failure_window_ms();
        for (&member, &at) in &watch.answered {
            let silent_ms = now.saturating_sub(at);
            if silent_ms >= window && watch.failed.insert(member) {
                watch.alerts.push(AlertEvent::NodeFailed { node: member, silent_ms });
            }
        }
        let answered = &watch.answered;
        let heard =
            |v: NodeId| v == me || answered.get(&v).is_some_and(|&at| now.saturating_sub(at) < window);
        if config.has_quorum(heard) {
            watch.quorum_lost = false;
        } else if !watch.quorum_lost {
            let heard_from = config.voters().iter().copied().filter(|&v| heard(v)).collect();
            watch.quorum_lost = true;
            watch.alerts.push(AlertEvent::QuorumLost { term: self.term, heard_from, window_ms: window });
        }
        let threshold = self.config.slow_replication_entries;
        if threshold == 0 {
            return;
        }
        let commit_index = self.log.committed();
        for member in config.members().filter(|&m| m != me && watch.acked.contains(&m)) {
            let Some(pr) = self.tracker.progress(member) else { continue };
            // Behind the commit index, not the last index: a burst of proposals is ahead of
            // every follower until it is sent, but a quorum holds everything committed.
            let lag = commit_index.0.saturating_sub(pr.match_index.0);
            if lag > threshold {
                if watch.slow.insert(member) {
                    let match_index = pr.match_index;
                    watch.alerts.push(AlertEvent::SlowReplication {
                        node: member,
                        match_index,
                        commit_index,
                    });
                }
            } else if lag <= threshold / 2 {
                watch.slow.remove(&member);
            }
        }
    }

    /// When a message from `peer` last arrived, on this node's clock (since it started).
    pub fn last_contact(&self, peer: NodeId) -> Option<u64> {
        self.watch.contact.get(&peer).copied()
    }

    /// Takes the alerts not yet handed out.
    pub(super) fn take_alerts(&mut self) -> Vec<AlertEvent> {
        std::mem::take(&mut self.watch.alerts)
    }
}
