//! What the checkers see of a node: a small trait over a node's observable state, so that
//! the same checkers can judge the simulator's cores today and the networked runtime's nodes
//! later (through whatever status those expose).

use quorate::core::Core;
use quorate::driver::MemoryLog;
use quorate::log::LogEntry;
use quorate::log_source::LogSource;
use quorate::quorum::QuorumConfig;
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
    /// The quorum rules of the configuration its log says is in force (the latest
    /// configuration entry; both halves while joint; learners apart): derived from the log,
    /// not from the node's own bookkeeping, so that a node counting by another configuration
    /// is caught.
    fn quorum(&self) -> QuorumConfig;
    /// Its commit index.
    fn committed(&self) -> LogIndex;
    /// The term of its entry at `index`, if it holds one.
    fn term_at(&self, index: LogIndex) -> Option<Term>;
    /// The last index its latest snapshot stands for (0 without one): its log holds the
    /// entries after it.
    fn snapshot_index(&self) -> LogIndex;
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
    fn quorum(&self) -> QuorumConfig {
        self.log().config().quorum()
    }
    fn committed(&self) -> LogIndex {
        self.log().committed()
    }
    fn term_at(&self, index: LogIndex) -> Option<Term> {
        self.log().term(index)
    }
    fn snapshot_index(&self) -> LogIndex {
        self.log().snapshot_point().index
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

/// A core with the log storage it reads back from: its entries are read from the storage
/// itself where the core no longer keeps them, so that the checkers see a node's log even
/// when the core's own reads fail (an injected fault they must not mistake for a lost
/// entry).
pub struct WithStorage<'a> {
    /// The node's core.
    pub core: &'a Core,
    /// What the node wrote to its disk.
    pub log: &'a MemoryLog,
}

impl NodeView for WithStorage<'_> {
    fn id(&self) -> NodeId {
        NodeView::id(self.core)
    }
    fn term(&self) -> Term {
        NodeView::term(self.core)
    }
    fn vote(&self) -> Option<NodeId> {
        NodeView::vote(self.core)
    }
    fn state(&self) -> NodeState {
        NodeView::state(self.core)
    }
    fn leader(&self) -> Option<NodeId> {
        NodeView::leader(self.core)
    }
    fn voters(&self) -> &[NodeId] {
        NodeView::voters(self.core)
    }
    fn quorum(&self) -> QuorumConfig {
        NodeView::quorum(self.core)
    }
    fn committed(&self) -> LogIndex {
        NodeView::committed(self.core)
    }
    fn term_at(&self, index: LogIndex) -> Option<Term> {
        NodeView::term_at(self.core, index)
    }
    fn snapshot_index(&self) -> LogIndex {
        NodeView::snapshot_index(self.core)
    }
    /// The one difference from the core's own view: an entry the core no longer keeps is
    /// read from the storage itself, not through the core's (possibly failing) reads.
    fn entry(&self, index: LogIndex) -> Option<LogEntry> {
        let log = self.core.log();
        if index < log.first_index() || index > log.last_index() {
            return None;
        }
        if let Some(entry) = log.entry_in_memory(index) {
            return Some(entry.clone());
        }
        match self.log.entries(index, index, 0) {
            Ok(mut read) => read.pop(),
            Err(_) => log.entry(index),
        }
    }
    fn now(&self) -> u64 {
        NodeView::now(self.core)
    }
    fn check_quorum(&self) -> bool {
        NodeView::check_quorum(self.core)
    }
    fn election_timeout_min_ms(&self) -> u64 {
        NodeView::election_timeout_min_ms(self.core)
    }
}
