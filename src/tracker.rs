//! The cluster as one node sees it: the quorum configuration, each member's replication
//! progress (kept by a leader) and each voter's answer (kept by a candidate). Every
//! decision that needs a quorum asks [`crate::quorum`] through this tracker.

use crate::progress::Progress;
use crate::quorum::{QuorumConfig, VoteResult};
use crate::types::{LogIndex, NodeId};
use std::collections::BTreeMap;

/// The quorum configuration with the progress and votes measured against it.
#[derive(Clone, Debug)]
pub struct ProgressTracker {
    config: QuorumConfig,
    /// A leader's: one entry per member, itself included (its match is its durable index).
    progress: BTreeMap<NodeId, Progress>,
    /// A (pre-)candidate's: the first answer of each voter in this election.
    votes: BTreeMap<NodeId, bool>,
}

impl ProgressTracker {
    /// A tracker for `config`, with no progress and no votes.
    pub fn new(config: QuorumConfig) -> Self {
        ProgressTracker { config, progress: BTreeMap::new(), votes: BTreeMap::new() }
    }

    /// The quorum configuration.
    pub fn config(&self) -> &QuorumConfig {
        &self.config
    }

    // ----- Progress (a leader's) -----------------------------------------------------------

    /// Starts a leader's term: a fresh progress for every member, whose log ends at
    /// `last_index`.
    pub fn start_replication(&mut self, last_index: LogIndex) {
        self.progress = self.config.members().map(|m| (m, Progress::new(last_index))).collect();
    }

    /// Puts `config` in force (a configuration entry appended, or one truncated away). A
    /// leader (`leader_last`: its log's last index) keeps the progress of the members that
    /// remain, starts one for each new member, and forgets the removed ones; a candidate's
    /// votes from nodes that no longer vote are dropped.
    pub fn set_config(&mut self, config: QuorumConfig, leader_last: Option<LogIndex>) {
        self.config = config;
        if let Some(last) = leader_last {
            let members: Vec<NodeId> = self.config.members().collect();
            self.progress.retain(|id, _| members.contains(id));
            for m in members {
                self.progress.entry(m).or_insert_with(|| Progress::new(last));
            }
        }
        let config = &self.config;
        self.votes.retain(|id, _| config.is_voter(*id));
    }

    /// Ends a leader's term: forgets every progress.
    pub fn stop_replication(&mut self) {
        self.progress.clear();
    }

    /// `id`'s progress, if this node leads and `id` is a member.
    pub fn progress(&self, id: NodeId) -> Option<&Progress> {
        self.progress.get(&id)
    }

    /// `id`'s progress, mutably.
    pub fn progress_mut(&mut self, id: NodeId) -> Option<&mut Progress> {
        self.progress.get_mut(&id)
    }

    /// Every member with a progress except `me`, in order.
    pub fn peers(&self, me: NodeId) -> Vec<NodeId> {
        self.progress.keys().copied().filter(|&p| p != me).collect()
    }

    /// The highest index a quorum of voters holds (a member without progress holds none).
    pub fn committed_index(&self) -> LogIndex {
        self.config.committed_index(|v| self.progress.get(&v).map_or(LogIndex(0), |p| p.match_index))
    }

    /// The highest leadership-check round a quorum of voters acknowledged, `my_round` being
    /// `me`'s own (the last it sent): the commit rule applied to rounds instead of indices.
    pub fn confirmed_round(&self, me: NodeId, my_round: u64) -> u64 {
        let acked = |v: NodeId| {
            let round = if v == me { my_round } else { self.progress.get(&v).map_or(0, |p| p.read_round) };
            LogIndex(round)
        };
        self.config.committed_index(acked).0.min(my_round)
    }

    /// The voters heard from since the last check-quorum round, `me` included.
    pub fn active_voters(&self, me: NodeId) -> Vec<NodeId> {
        let active = |v: &NodeId| *v == me || self.progress.get(v).is_some_and(|p| p.recent_active);
        self.config.voters().iter().copied().filter(active).collect()
    }

    /// CheckQuorum (thesis §6.2): whether a quorum of voters, `me` included, was heard from
    /// since the last call; clears the marks for the next round.
    pub fn quorum_active(&mut self, me: NodeId) -> bool {
        let progress = &self.progress;
        let active = self.config.has_quorum(|v| v == me || progress.get(&v).is_some_and(|p| p.recent_active));
        for p in self.progress.values_mut() {
            p.recent_active = false;
        }
        active
    }

    // ----- Votes (a candidate's) -----------------------------------------------------------

    /// Starts counting a new election.
    pub fn reset_votes(&mut self) {
        self.votes.clear();
    }

    /// Records `id`'s answer; only the first answer of each voter counts, and nodes that do
    /// not vote are ignored.
    pub fn record_vote(&mut self, id: NodeId, granted: bool) {
        if self.config.is_voter(id) {
            self.votes.entry(id).or_insert(granted);
        }
    }

    /// The election's outcome so far.
    pub fn tally(&self) -> VoteResult {
        self.config.vote_result(|v| self.votes.get(&v).copied())
    }
}
