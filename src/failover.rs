//! The failover coordinator (the seed's `FailoverCoordinator`): who leads as far as this node
//! knows, when it last heard from each peer, whether its leader looks failed, and where to
//! send a client.
//!
//! It holds observations, nothing more: the node refreshes it from its core after every
//! call ([`FailoverCoordinator::observe`]), on the node's own clock, so it is deterministic
//! wherever the clock is. The node never waits for it: a refresh that finds it locked (a
//! caller holding a guard) is skipped and made at the next call, so holding a guard across
//! calls into the node cannot deadlock.

use crate::types::{NodeId, NodeState, Term};
use std::collections::BTreeMap;

/// What a node knows of its leader and its peers' liveness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverCoordinator {
    node_id: NodeId,
    /// Each peer, with when a message from it last arrived (on this node's clock).
    peers: BTreeMap<NodeId, Option<u64>>,
    term: Term,
    role: NodeState,
    leader: Option<NodeId>,
    /// The node's clock at the last observation.
    now_ms: u64,
    /// A leader silent for this long is suspected failed.
    failure_timeout_ms: u64,
}

/// One observation of the node, for [`FailoverCoordinator::observe`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverObservation {
    /// The node's clock.
    pub now_ms: u64,
    /// Its term.
    pub term: Term,
    /// Its role.
    pub role: NodeState,
    /// The leader it knows.
    pub leader: Option<NodeId>,
    /// Its peers (the configuration's members but itself), each with when a message from it
    /// last arrived.
    pub peers: Vec<(NodeId, Option<u64>)>,
    /// A leader silent for this long is suspected failed (the node's maximum election
    /// timeout: by then every follower's election timer has fired).
    pub failure_timeout_ms: u64,
}

impl FailoverCoordinator {
    /// A coordinator for `node_id` seeded with the cluster's `peers` (itself left out).
    pub fn new(node_id: NodeId, peers: impl IntoIterator<Item = NodeId>, failure_timeout_ms: u64) -> Self {
        FailoverCoordinator {
            node_id,
            peers: peers.into_iter().filter(|&p| p != node_id).map(|p| (p, None)).collect(),
            term: Term(0),
            role: NodeState::Follower,
            leader: None,
            now_ms: 0,
            failure_timeout_ms,
        }
    }

    /// Takes in a fresh observation of the node.
    pub fn observe(&mut self, observation: FailoverObservation) {
        self.now_ms = observation.now_ms;
        self.term = observation.term;
        self.role = observation.role;
        self.leader = observation.leader;
        self.failure_timeout_ms = observation.failure_timeout_ms;
        self.peers = observation.peers.into_iter().filter(|&(p, _)| p != self.node_id).collect();
    }

    /// The node this coordinator belongs to.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The leader this node knows (itself, if it leads).
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// The term of the last observation.
    pub fn term(&self) -> Term {
        self.term
    }

    /// The node's role at the last observation.
    pub fn role(&self) -> NodeState {
        self.role
    }

    /// The peers it tracks.
    pub fn peers(&self) -> Vec<NodeId> {
        self.peers.keys().copied().collect()
    }

    /// When a message from `peer` last arrived, on this node's clock; `None` if never since
    /// the node started (or `peer` is not tracked).
    pub fn last_heartbeat(&self, peer: NodeId) -> Option<u64> {
        self.peers.get(&peer).copied().flatten()
    }

    /// How long `peer` has been silent at the last observation; `None` if never heard.
    pub fn silent_ms(&self, peer: NodeId) -> Option<u64> {
        self.last_heartbeat(peer).map(|at| self.now_ms.saturating_sub(at))
    }

    /// Whether this node, a follower or candidate, suspects its leader failed: it knows no
    /// leader, or has heard nothing from it for the failure timeout. A leader never does.
    pub fn leader_failed(&self) -> bool {
        if self.role == NodeState::Leader {
            return false;
        }
        match self.leader {
            None => true,
            Some(leader) => self.silent_ms(leader).is_none_or(|silent| silent >= self.failure_timeout_ms),
        }
    }

    /// Where to send a client: the leader, unless it is suspected failed.
    pub fn redirect_hint(&self) -> Option<NodeId> {
        if self.role == NodeState::Leader {
            return Some(self.node_id);
        }
        self.leader.filter(|_| !self.leader_failed())
    }
}
