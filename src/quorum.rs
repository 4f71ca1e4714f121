//! Quorums: which sets of nodes decide. This module alone computes the commit index, the
//! vote tally and the quorum-active check, for a simple majority and for a joint
//! configuration (Raft §6: while a change is in progress, a majority of the outgoing voters
//! and a majority of the incoming ones). It is kept small and pure so that it can be tested
//! against a deliberately naive version (STYLE.md 11; tests/quorum_props.rs).

use crate::types::{LogIndex, NodeId};

/// The outcome of counting votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    /// A quorum granted.
    Won,
    /// A quorum can no longer be reached.
    Lost,
    /// Undecided yet.
    Pending,
}

/// A set of voters deciding by simple majority.
///
/// The empty set decides nothing by itself and so defers to whatever it is joined with: it
/// has committed every index, wins every vote and is always active (etcd's convention), so
/// that a [`QuorumConfig`] without an outgoing half is a plain majority.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MajorityConfig {
    /// Sorted, without duplicates.
    voters: Vec<NodeId>,
}

impl MajorityConfig {
    /// The voters `voters` (in any order; duplicates count once).
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Self {
        let mut voters: Vec<NodeId> = voters.into_iter().collect();
        voters.sort_unstable();
        voters.dedup();
        MajorityConfig { voters }
    }

    /// The voters, sorted.
    pub fn voters(&self) -> &[NodeId] {
        &self.voters
    }

    /// Whether `id` is one of the voters.
    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.binary_search(&id).is_ok()
    }

    /// How many voters make a majority (0 for the empty set).
    pub fn majority(&self) -> usize {
        if self.voters.is_empty() {
            0
        } else {
            self.voters.len() / 2 + 1
        }
    }

    /// The highest index that a majority has acknowledged, `acked` giving each voter's
    /// (`LogIndex(u64::MAX)` for the empty set).
    pub fn committed_index(&self, acked: impl Fn(NodeId) -> LogIndex) -> LogIndex {
        if self.voters.is_empty() {
            return LogIndex(u64::MAX);
        }
        // The leader asks on every acknowledgement: small clusters sort on the stack.
        const SMALL: usize = 16;
        let mut small = [LogIndex(0); SMALL];
        let mut large = Vec::new();
        let indices: &mut [LogIndex] = if self.voters.len() <= SMALL {
            for (slot, &v) in small.iter_mut().zip(&self.voters) {
                *slot = acked(v);
            }
            &mut small[..self.voters.len()]
        } else {
            large.extend(self.voters.iter().map(|&v| acked(v)));
            &mut large
        };
        indices.sort_unstable_by(|a, b| b.cmp(a));
        indices[self.majority() - 1]
    }

    /// The outcome of an election, `vote` giving each voter's answer (`None`: none yet).
    /// Answers of nodes outside the set do not count.
    pub fn vote_result(&self, vote: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        let (mut granted, mut rejected) = (0, 0);
        for &v in &self.voters {
            match vote(v) {
                Some(true) => granted += 1,
                Some(false) => rejected += 1,
                None => {}
            }
        }
        if granted >= self.majority() {
            VoteResult::Won
        } else if self.voters.len() - rejected < self.majority() {
            VoteResult::Lost
        } else {
            VoteResult::Pending
        }
    }

    /// Whether a majority is active, `active` saying which voters are.
    pub fn has_quorum(&self, active: impl Fn(NodeId) -> bool) -> bool {
        self.voters.iter().filter(|&&v| active(v)).count() >= self.majority()
    }
}

/// Who votes and who only learns: the incoming voters, the outgoing voters while a joint
/// configuration is in force (empty otherwise: membership changes arrive with a later
/// issue), and the learners, who receive the log but count towards no quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumConfig {
    incoming: MajorityConfig,
    outgoing: MajorityConfig,
    learners: Vec<NodeId>,
    /// Every voter of either half, sorted.
    voters: Vec<NodeId>,
}

impl QuorumConfig {
    /// A plain majority of `voters`, without learners.
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Self {
        QuorumConfig::joint(MajorityConfig::new(voters), MajorityConfig::default(), [])
    }

    /// A joint configuration: decisions need a majority of `incoming` and one of `outgoing`.
    /// A learner that is also a voter is a voter.
    pub fn joint(
        incoming: MajorityConfig,
        outgoing: MajorityConfig,
        learners: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        let mut voters: Vec<NodeId> = incoming.voters().iter().chain(outgoing.voters()).copied().collect();
        voters.sort_unstable();
        voters.dedup();
        let mut learners: Vec<NodeId> =
            learners.into_iter().filter(|l| voters.binary_search(l).is_err()).collect();
        learners.sort_unstable();
        learners.dedup();
        QuorumConfig { incoming, outgoing, learners, voters }
    }

    /// The incoming (or only) voters.
    pub fn incoming(&self) -> &MajorityConfig {
        &self.incoming
    }

    /// The outgoing voters: empty unless a joint configuration is in force.
    pub fn outgoing(&self) -> &MajorityConfig {
        &self.outgoing
    }

    /// Every voter, of either half, sorted.
    pub fn voters(&self) -> &[NodeId] {
        &self.voters
    }

    /// The learners, sorted.
    pub fn learners(&self) -> &[NodeId] {
        &self.learners
    }

    /// Whether `id` votes (in either half).
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.binary_search(&id).is_ok()
    }

    /// Every member, voters then learners: the nodes a leader replicates to.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.iter().chain(&self.learners).copied()
    }

    /// The highest index acknowledged by a quorum: the lower of the two halves' indices.
    pub fn committed_index(&self, acked: impl Fn(NodeId) -> LogIndex) -> LogIndex {
        let incoming = self.incoming.committed_index(&acked);
        incoming.min(self.outgoing.committed_index(&acked))
    }

    /// The outcome of an election: won when both halves granted, lost when either lost.
    pub fn vote_result(&self, vote: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        match (self.incoming.vote_result(&vote), self.outgoing.vote_result(&vote)) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }

    /// Whether a quorum (of both halves) is active.
    pub fn has_quorum(&self, active: impl Fn(NodeId) -> bool) -> bool {
        self.incoming.has_quorum(&active) && self.outgoing.has_quorum(&active)
    }
}
