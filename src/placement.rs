//! The placement scheduler (the seed's `PlacementScheduler`): a leader-only periodic planner
//! with a pluggable policy ([`PlacementPolicy`]) whose moves (split, merge or transfer of a
//! shard) are proposed as entries through the log, so every replica applies the same moves
//! in the same order.
//!
//! It is sans-IO, like the core: [`PlacementScheduler::poll`] is called with the node's
//! clock and its leadership, and gives back the commands to propose. It runs only while its
//! node leads: the first poll that finds the node no longer leading stops it (within one
//! tick of losing leadership, for a driver that polls on every tick), and it starts again,
//! one interval later, when the node leads a new term. Every entry carries the term and the
//! node it was planned under ([`PlacementEntry`]), so a replica can check that a move was
//! proposed by the leader of the term its entry belongs to.

use crate::log::Command;
use crate::types::{LogIndex, NodeId, Term};
use serde::{Deserialize, Serialize};

/// A shard's identity.
pub type ShardId = u64;

/// One placement move.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlacementMove {
    /// Split `shard` at key `at`: the keys from `at` on go to the new shard `into`.
    Split {
        /// The shard to split.
        shard: ShardId,
        /// The first key of the upper half.
        at: Vec<u8>,
        /// The new shard that takes the upper half.
        into: ShardId,
    },
    /// Merge `right` into `left`.
    Merge {
        /// The shard that remains.
        left: ShardId,
        /// The shard merged into it.
        right: ShardId,
    },
    /// Move `shard` to node `to`.
    Transfer {
        /// The shard to move.
        shard: ShardId,
        /// Its new home.
        to: NodeId,
    },
}

/// A move as it travels through the log: with the term and the node it was planned under,
/// and its sequence number within that term.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementEntry {
    /// The term its proposer led when it planned the move.
    pub term: Term,
    /// The node that planned it.
    pub proposer: NodeId,
    /// Its number among the moves planned in `term` (from 1).
    pub seq: u64,
    /// The move.
    pub placement: PlacementMove,
}

/// The prefix that marks a command as a placement entry.
pub const PLACEMENT_MAGIC: &[u8; 4] = b"QPLC";

/// The largest placement entry [`PlacementEntry::decode`] reads.
const MAX_PLACEMENT_ENTRY_BYTES: usize = 1 << 20;

impl PlacementEntry {
    /// The command that carries this entry.
    pub fn encode(&self) -> Command {
        let mut data = PLACEMENT_MAGIC.to_vec();
        bincode::serde::encode_into_std_write(self, &mut data, bincode::config::standard())
            .expect("encoding into a vector does not fail");
        Command::new(data)
    }

    /// The placement entry `data` carries, if it is one (`None` for any other command, and
    /// for a malformed one).
    pub fn decode(data: &[u8]) -> Option<PlacementEntry> {
        let body = data.strip_prefix(PLACEMENT_MAGIC)?;
        if body.len() > MAX_PLACEMENT_ENTRY_BYTES {
            return None;
        }
        let config = bincode::config::standard().with_limit::<MAX_PLACEMENT_ENTRY_BYTES>();
        let (entry, used) = bincode::serde::decode_from_slice(body, config).ok()?;
        (used == body.len()).then_some(entry)
    }
}

/// What a policy sees when it plans: the leader's view of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementView {
    /// The leader planning.
    pub node_id: NodeId,
    /// Its term.
    pub term: Term,
    /// Its clock.
    pub now_ms: u64,
    /// The configuration's voters.
    pub voters: Vec<NodeId>,
    /// Its commit index.
    pub commit_index: LogIndex,
    /// Planning rounds run in this term before this one.
    pub round: u64,
}

/// A placement policy: plans moves from the leader's view. It runs on the leader only, in
/// the node's thread, outside the node's locks.
pub trait PlacementPolicy: Send {
    /// The moves to make now (none is a fine answer).
    fn plan(&mut self, view: &PlacementView) -> Vec<PlacementMove>;
}

impl<F: FnMut(&PlacementView) -> Vec<PlacementMove> + Send> PlacementPolicy for F {
    fn plan(&mut self, view: &PlacementView) -> Vec<PlacementMove> {
        self(view)
    }
}

/// Counters of a scheduler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlacementStats {
    /// Planning rounds run.
    pub rounds: u64,
    /// Moves planned (handed out to propose).
    pub planned: u64,
    /// Times it started (the node began leading a term).
    pub starts: u64,
    /// Times it stopped (the node stopped leading).
    pub stops: u64,
    /// Rounds skipped because the previous round's moves had not committed yet.
    pub deferred: u64,
}

/// The leader-only periodic planner.
pub struct PlacementScheduler {
    policy: Box<dyn PlacementPolicy>,
    interval_ms: u64,
    /// The term it runs in, while its node leads.
    running: Option<Term>,
    next_run_ms: u64,
    round: u64,
    seq: u64,
    /// The index of the last move proposed: no round runs until it has committed, so a
    /// planner faster than the log cannot flood it.
    awaiting: Option<LogIndex>,
    stats: PlacementStats,
}

impl std::fmt::Debug for PlacementScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlacementScheduler")
            .field("interval_ms", &self.interval_ms)
            .field("running", &self.running)
            .field("next_run_ms", &self.next_run_ms)
            .field("stats", &self.stats)
            .finish()
    }
}

impl PlacementScheduler {
    /// A scheduler that plans with `policy` every `interval_ms` (at least 1) while its node
    /// leads.
    pub fn new(interval_ms: u64, policy: impl PlacementPolicy + 'static) -> Self {
        PlacementScheduler {
            policy: Box::new(policy),
            interval_ms: interval_ms.max(1),
            running: None,
            next_run_ms: 0,
            round: 0,
            seq: 0,
            awaiting: None,
            stats: PlacementStats::default(),
        }
    }

    /// Advances the scheduler to `now_ms`. `leading` is the term the node leads, or `None`;
    /// `view` builds the leader's view (called only when a round is due). Returns the
    /// commands to propose, in order: each is a [`PlacementEntry`] of the term it is led in.
    pub fn poll(
        &mut self,
        now_ms: u64,
        leading: Option<Term>,
        view: impl FnOnce() -> PlacementView,
    ) -> Vec<Command> {
        let Some(term) = leading else {
            if self.running.take().is_some() {
                self.stats.stops += 1;
            }
            return Vec::new();
        };
        if self.running != Some(term) {
            if self.running.is_some() {
                self.stats.stops += 1;
            }
            self.running = Some(term);
            self.next_run_ms = now_ms.saturating_add(self.interval_ms);
            self.round = 0;
            self.seq = 0;
            self.awaiting = None;
            self.stats.starts += 1;
            return Vec::new();
        }
        if now_ms < self.next_run_ms {
            return Vec::new();
        }
        self.next_run_ms = now_ms.saturating_add(self.interval_ms);
        let mut view = view();
        if self.awaiting.is_some_and(|index| view.commit_index < index) {
            self.stats.deferred += 1;
            return Vec::new();
        }
        self.awaiting = None;
        view.term = term;
        view.round = self.round;
        self.round += 1;
        self.stats.rounds += 1;
        let moves = self.policy.plan(&view);
        self.stats.planned += moves.len() as u64;
        moves
            .into_iter()
            .map(|placement| {
                self.seq += 1;
                PlacementEntry { term, proposer: view.node_id, seq: self.seq, placement }.encode()
            })
            .collect()
    }

    /// The driver proposed a move at `index`: the next round waits until it commits.
    pub fn proposed(&mut self, index: LogIndex) {
        self.awaiting = Some(self.awaiting.map_or(index, |i| i.max(index)));
    }

    /// Whether it runs (its node led at the last poll).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The planning interval.
    pub fn interval_ms(&self) -> u64 {
        self.interval_ms
    }

    /// Counters.
    pub fn stats(&self) -> PlacementStats {
        self.stats
    }
}
