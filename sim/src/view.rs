//! What the checkers see of a node: a small trait over a node's observable state, so that
//! the same checkers can judge the simulator's cores today and the networked runtime's nodes
//! later (through whatever status those expose).

use quorate::core::Core;
use quorate::log::LogEntry;
use quorate::types::{LogIndex, NodeId, NodeState, Term};

/// A node as the checkers observe it from outside.
pub trait NodeView {
    /// The node's id.
    fn id(&self) -> NodeId;
    /// Its current term.
    fn term(&self) -> Term;
    /// Whom it voted for in its current term.
    fn vote(&self) -> Option<NodeId>;
    /// Its role.
    fn state(&self) -> NodeState;
    /// The leader it follows (itself when it leads).
    fn leader(&self) -> Option<NodeId>;
    /// Every voter of its configuration, sorted.
    fn voters(&self) -> &[NodeId];
    /// Its commit index.
    fn committed(&self) -> LogIndex;
    /// The term of its entry at `index`, if it holds one.
    fn term_at(&self, index: LogIndex) -> Option<Term>;
    /// Its entry at `index`, if it holds one.
    fn entry(&self, index: LogIndex) -> Option<LogEntry>;
    /// Its clock's reading, in milliseconds.
    fn now(&self) -> u64;
    /// Whether it runs CheckQuorum.
    fn check_quorum(&self) -> bool;
    /// Its minimum election timeout, in milliseconds.
    fn election_timeout_min_ms(&self) -> u64;
}

impl NodeView for Core {
    fn id(&self) -> NodeId {
        Core::id(self)
    }
    fn term(&self) -> Term {
        Core::term(self)
    }
    fn vote(&self) -> Option<NodeId> {
        Core::vote(self)
    }
    fn state(&self) -> NodeState {
        Core::state(self)
    }
    fn leader(&self) -> Option<NodeId> {
        Core::leader(self)
    }
    fn voters(&self) -> &[NodeId] {
        Core::voters(self)
    }
    fn committed(&self) -> LogIndex {
        self.log().committed()
    }
    fn term_at(&self, index: LogIndex) -> Option<Term> {
        self.log().term(index)
    }
    fn entry(&self, index: LogIndex) -> Option<LogEntry> {
        self.log().entry(index)
    }
    fn now(&self) -> u64 {
        Core::now(self)
    }
    fn check_quorum(&self) -> bool {
        self.config().check_quorum
    }
    fn election_timeout_min_ms(&self) -> u64 {
        self.config().election_timeout_min_ms
    }
}
