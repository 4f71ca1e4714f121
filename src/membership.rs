//! Cluster membership: the configuration a log says is in force.
//!
//! A configuration change is a log entry ([`crate::EntryKind::Config`]) holding the whole
//! new [`Configuration`]. It takes effect on each node as soon as the node appends it, not
//! when it commits (Raft dissertation §4.1), and a truncated configuration entry rolls the
//! node back to the one before. Changes of voters go through joint consensus (Raft paper
//! §6): the leader appends C_old,new (`voters` the new set, `outgoing` the old one), in force
//! while elections and commitment need a majority of both; once it commits, the leader
//! appends C_new. Learners receive the log and count towards no quorum; adding or removing
//! one needs no joint phase. At most one change is in progress at a time.

use crate::codec::{self, FrameKind};
use crate::error::{RaftError, RaftResult};
use crate::quorum::{MajorityConfig, QuorumConfig};
use crate::types::NodeId;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most members (voters of either half and learners) a configuration may hold: each is a
/// progress a leader keeps and a peer it sends to.
pub const MAX_MEMBERS: usize = 64;

/// Longest address a member may have, in bytes.
pub const MAX_ADDRESS_BYTES: usize = 256;

/// Who is in the cluster: the voters (the incoming half while joint), the outgoing voters
/// (non-empty only while a joint configuration is in force), the learners, and the members'
/// addresses (for a runtime to dial; the engine never reads them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    /// The voters (C_new while joint).
    pub voters: BTreeSet<NodeId>,
    /// The voters of C_old while a joint configuration is in force; empty otherwise.
    pub outgoing: BTreeSet<NodeId>,
    /// Members that receive the log and count towards no quorum.
    pub learners: BTreeSet<NodeId>,
    /// Each member's address, where known.
    pub addresses: BTreeMap<NodeId, String>,
}

/// A change of membership, as the seed's API names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Make `node_id`, reachable at `address`, a voter.
    AddNode {
        /// The node.
        node_id: NodeId,
        /// Where it listens.
        address: String,
    },
    /// Take `node_id` out of the cluster.
    RemoveNode {
        /// The node.
        node_id: NodeId,
    },
}

impl Configuration {
    /// A stable configuration of `voters`, without learners or addresses.
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Self {
        Configuration { voters: voters.into_iter().collect(), ..Configuration::default() }
    }

    /// True while a joint configuration (C_old,new) is in force.
    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Whether `id` votes, in either half.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.outgoing.contains(&id)
    }

    /// Whether `id` is a member: a voter of either half or a learner.
    pub fn is_member(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.learners.contains(&id)
    }

    /// Every member, sorted.
    pub fn members(&self) -> BTreeSet<NodeId> {
        self.voters.iter().chain(&self.outgoing).chain(&self.learners).copied().collect()
    }

    /// The quorum rules this configuration sets.
    pub fn quorum(&self) -> QuorumConfig {
        QuorumConfig::joint(
            MajorityConfig::new(self.voters.iter().copied()),
            MajorityConfig::new(self.outgoing.iter().copied()),
            self.learners.iter().copied(),
        )
    }

    /// Checks the shape: some voter, no learner that votes, within the limits, addresses
    /// only for members.
    pub fn validate(&self) -> Result<(), String> {
        if self.voters.is_empty() {
            return Err("a configuration without voters".into());
        }
        if let Some(l) = self.learners.iter().find(|l| self.is_voter(**l)) {
            return Err(format!("{l} is both a learner and a voter"));
        }
        let members = self.members();
        if members.len() > MAX_MEMBERS {
            return Err(format!("{} members, above the limit of {MAX_MEMBERS}", members.len()));
        }
        if let Some((id, address)) = self.addresses.iter().find(|(id, _)| !members.contains(id)) {
            return Err(format!("an address ({address:?}) for {id}, who is not a member"));
        }
        if let Some((id, _)) = self.addresses.iter().find(|(_, a)| a.len() > MAX_ADDRESS_BYTES) {
            return Err(format!("{id}'s address is above {MAX_ADDRESS_BYTES} bytes"));
        }
        Ok(())
    }

    /// The bytes of a configuration entry.
    pub fn encode(&self) -> Bytes {
        Bytes::from(
            codec::encode(FrameKind::Config, self).expect("a configuration within the limits encodes"),
        )
    }

    /// A configuration entry's configuration, checked; an error for bytes that are not one.
    pub fn decode(bytes: &[u8]) -> Result<Configuration, String> {
        let (config, _): (Configuration, usize) =
            codec::decode(FrameKind::Config, bytes).map_err(|e| format!("not a configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    /// C_old,new for `change` from this stable configuration: the new voters, with the old
    /// ones outgoing. A node added as a voter stops being a learner; a learner removed needs
    /// no joint phase ([`Configuration::without_learner`]).
    pub fn enter_joint(&self, change: &MembershipChange) -> RaftResult<Configuration> {
        if self.is_joint() {
            return Err(RaftError::MembershipChangeInProgress);
        }
        let mut next = self.clone();
        next.outgoing = self.voters.clone();
        match change {
            MembershipChange::AddNode { node_id, address } => {
                if self.voters.contains(node_id) {
                    return Err(RaftError::NodeAlreadyMember { node_id: *node_id });
                }
                next.learners.remove(node_id);
                next.voters.insert(*node_id);
                if !address.is_empty() {
                    next.addresses.insert(*node_id, address.clone());
                }
            }
            MembershipChange::RemoveNode { node_id } => {
                if !self.voters.contains(node_id) {
                    return Err(RaftError::NodeNotMember { node_id: *node_id });
                }
                next.voters.remove(node_id);
                if next.voters.is_empty() {
                    return Err(RaftError::ConfigError(format!("removing {node_id} would leave no voter")));
                }
            }
        }
        next.validate().map_err(RaftError::ConfigError)?;
        Ok(next)
    }

    /// C_new: the joint configuration left, the outgoing voters that are not voters or
    /// learners of the new one gone (with their addresses).
    pub fn leave_joint(&self) -> Configuration {
        let mut next = self.clone();
        next.outgoing.clear();
        let members = next.members();
        next.addresses.retain(|id, _| members.contains(id));
        next
    }

    /// This configuration with `node_id` (at `address`) a learner.
    pub fn with_learner(&self, node_id: NodeId, address: String) -> RaftResult<Configuration> {
        if self.is_member(node_id) {
            return Err(RaftError::NodeAlreadyMember { node_id });
        }
        let mut next = self.clone();
        next.learners.insert(node_id);
        if !address.is_empty() {
            next.addresses.insert(node_id, address);
        }
        next.validate().map_err(RaftError::ConfigError)?;
        Ok(next)
    }

    /// This configuration without the learner `node_id`.
    pub fn without_learner(&self, node_id: NodeId) -> RaftResult<Configuration> {
        if !self.learners.contains(&node_id) {
            return Err(RaftError::NodeNotMember { node_id });
        }
        let mut next = self.clone();
        next.learners.remove(&node_id);
        next.addresses.remove(&node_id);
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u64]) -> BTreeSet<NodeId> {
        v.iter().map(|&i| NodeId(i)).collect()
    }

    #[test]
    fn joint_then_new_adds_and_removes() {
        let c = Configuration::new(ids(&[1, 2, 3]));
        let add = MembershipChange::AddNode { node_id: NodeId(4), address: "n4:7000".into() };
        let joint = c.enter_joint(&add).unwrap();
        assert!(joint.is_joint());
        assert_eq!((joint.voters.clone(), joint.outgoing.clone()), (ids(&[1, 2, 3, 4]), ids(&[1, 2, 3])));
        assert_eq!(joint.enter_joint(&add), Err(RaftError::MembershipChangeInProgress));
        let new = joint.leave_joint();
        assert!(!new.is_joint() && new.voters == ids(&[1, 2, 3, 4]));
        assert_eq!(new.addresses.get(&NodeId(4)).map(String::as_str), Some("n4:7000"));
        let remove = MembershipChange::RemoveNode { node_id: NodeId(1) };
        let joint = new.enter_joint(&remove).unwrap();
        assert!(joint.is_voter(NodeId(1)), "the removed node votes in the outgoing half");
        assert!(!joint.leave_joint().is_member(NodeId(1)));
    }

    #[test]
    fn invalid_changes_are_errors() {
        let c = Configuration::new(ids(&[1]));
        let add = MembershipChange::AddNode { node_id: NodeId(1), address: String::new() };
        assert_eq!(c.enter_joint(&add), Err(RaftError::NodeAlreadyMember { node_id: NodeId(1) }));
        let remove = MembershipChange::RemoveNode { node_id: NodeId(2) };
        assert_eq!(c.enter_joint(&remove), Err(RaftError::NodeNotMember { node_id: NodeId(2) }));
        let remove = MembershipChange::RemoveNode { node_id: NodeId(1) };
        assert!(matches!(c.enter_joint(&remove), Err(RaftError::ConfigError(_))), "no voter left");
        let with = c.with_learner(NodeId(2), String::new()).unwrap();
        assert_eq!(
            with.with_learner(NodeId(2), String::new()),
            Err(RaftError::NodeAlreadyMember { node_id: NodeId(2) })
        );
        assert!(with.quorum().learners() == [NodeId(2)]);
    }

    #[test]
    fn hostile_bytes_do_not_decode() {
        assert!(Configuration::decode(b"nonsense").is_err());
        let mut both = Configuration::new(ids(&[1, 2]));
        both.learners.insert(NodeId(2));
        assert!(Configuration::decode(&both.encode()).is_err(), "a learner that votes");
        let empty = Configuration::default();
        assert!(Configuration::decode(&empty.encode()).is_err(), "no voters");
        let ok = Configuration::new(ids(&[1, 2, 3]));
        assert_eq!(Configuration::decode(&ok.encode()), Ok(ok));
    }
}
