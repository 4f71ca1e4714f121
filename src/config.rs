//! Static configuration of a node: the engine's ([`RaftConfig`]) and a networked node's
//! settings that need a restart ([`NodeConfig`], in [`crate::node_config`]).

use crate::error::{RaftError, RaftResult};
use crate::types::NodeId;
use rand_core::RngCore;
use std::time::Duration;

pub use crate::node_config::NodeConfig;

/// Upper bound on entries in one AppendEntries, whatever the configuration asks (STYLE.md 6):
/// it bounds the work one message can cause on a follower.
pub const MAX_ENTRIES_PER_APPEND_LIMIT: usize = 65_536;
/// Upper bound on the election timeout: a day. Far above any useful value, and it keeps every
/// deadline the core computes (`now` plus a timeout) far from overflowing.
pub const MAX_ELECTION_TIMEOUT_MS: u64 = 24 * 60 * 60 * 1000;
/// Upper bound on the inflight window: each inflight message holds a slot on the leader.
pub const MAX_INFLIGHT_LIMIT: usize = 4_096;
/// Upper bound on one command's size: an entry must fit, with its envelope, in one frame of
/// the wire codec (whose payload limit is 64 MiB), so that it can always be replicated.
pub const MAX_COMMAND_BYTES_LIMIT: u64 = (crate::codec::MAX_FRAME_PAYLOAD as u64) - (1 << 20);

/// Configuration of one Raft node. Build it with [`RaftConfig::new`] and adjust the public
/// fields; [`RaftConfig::validate`] is called by every constructor that takes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftConfig {
    /// This node's identity.
    pub node_id: NodeId,
    /// The full initial voter set, this node included (unless it is `joining`). Any size
    /// from 1 up, odd or even. Once the log holds a configuration entry (or a snapshot), the
    /// log's configuration is in force instead.
    pub voters: Vec<NodeId>,
    /// This node joins a running cluster whose voters are `voters` (itself not among them):
    /// it is no member and never campaigns until the leader's log (an `add_node`) makes it a
    /// learner and then a voter.
    pub joining: bool,
    /// Lower bound of the randomized election timeout (paper §5.2), in milliseconds.
    pub election_timeout_min_ms: u64,
    /// Upper bound (inclusive) of the randomized election timeout, in milliseconds. The range
    /// must hold at least as many values as its minimum (`max >= 2 * min - 1`, etcd's
    /// `[T, 2T)`): a narrower range draws nearly equal timeouts on every node, candidates time
    /// out together, and votes can split for ever. [`RaftConfig::validate`] refuses it.
    pub election_timeout_max_ms: u64,
    /// How often a leader sends heartbeats, in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// Most entries in one AppendEntries message.
    pub max_entries_per_append: usize,
    /// Most payload bytes in one AppendEntries message (at least one entry is always sent).
    pub max_bytes_per_append: u64,
    /// Most AppendEntries messages in flight to one follower in the replicate state.
    pub max_inflight: usize,
    /// Largest command a proposal may carry, in bytes (at most [`MAX_COMMAND_BYTES_LIMIT`]);
    /// a larger one is refused with [`RaftError::CommandTooLarge`].
    pub max_command_bytes: u64,
    /// Most bytes of entries a leader holds beyond its commit index (counted as
    /// [`crate::LogEntry::size_bytes`]); a proposal past it is refused with
    /// [`RaftError::TooMuchUncommitted`] until commitment catches up. It bounds the memory a
    /// leader cut off from its followers spends on proposals that cannot commit.
    pub max_uncommitted_bytes: u64,
    /// Most bytes of durable entries the core keeps in memory as a cache (counted
    /// as [`crate::LogEntry::size_bytes`], in whole runs), when it has a log source to read
    /// older ones from ([`crate::core::Core::set_log_source`]). The cache serves followers a
    /// little behind (the common case) without a storage read; the bound keeps the core's
    /// memory flat however long the log grows, since the driver's storage holds the log.
    /// Without a source the core keeps every entry (it has nowhere to read them from).
    pub log_cache_bytes: u64,
    /// Run a pre-vote round before a real election (thesis §9.6), so that a node rejoining
    /// after a partition does not raise the cluster's term. Keep it on: without it, a node
    /// that can send but not receive (a one-way partition) campaigns in term after term,
    /// the others grant it and restart their election timers, and they elect a leader
    /// among themselves only when a timeout happens to fall between two of its campaigns.
    pub pre_vote: bool,
    /// A leader that has not heard from a quorum within an election timeout steps down, and a
    /// follower that hears from a leader ignores pre-votes for that long (thesis §6.2).
    pub check_quorum: bool,
    /// Seed of the node's election-timeout randomness when the node owns its RNG (the
    /// [`crate::RaftNode`] facade). The simulator hands each core its own seeded RNG instead.
    pub rng_seed: u64,
    /// Entries the log may hold after its snapshot point before
    /// [`crate::RaftNode::maybe_create_snapshot`] takes a snapshot (the seed's snapshot
    /// threshold).
    pub snapshot_threshold: u64,
    /// A snapshot of at most this many bytes goes to a follower as one request; a larger one
    /// streams in chunks of [`RaftConfig::snapshot_chunk_size_bytes`] (at most
    /// [`crate::snapshot::MAX_SNAPSHOT_CHUNK_BYTES_LIMIT`]).
    pub snapshot_chunk_threshold_bytes: u64,
    /// The size of one chunk of a streamed snapshot (at most
    /// [`crate::snapshot::MAX_SNAPSHOT_CHUNK_BYTES_LIMIT`]).
    pub snapshot_chunk_size_bytes: u64,
    /// The largest snapshot this node takes, sends or accepts, in bytes (at most
    /// [`crate::snapshot::MAX_SNAPSHOT_BYTES_LIMIT`]): a snapshot is held in memory while
    /// it is taken, sent and received, so a larger one is refused with an error instead of
    /// allocated.
    pub max_snapshot_bytes: u64,
    /// Most snapshot transfers a leader runs at once (at most [`MAX_SNAPSHOT_TRANSFERS_LIMIT`]);
    /// other followers that need one wait for a slot (each transfer holds a reference to the
    /// snapshot and sends a chunk at a time).
    pub max_snapshot_transfers: usize,
    /// A snapshot transfer that makes no progress for this long is abandoned, and the
    /// follower is probed again (and sent a snapshot again if it still needs one). A chunk
    /// that got no answer within the minimum election timeout is resent before that.
    pub snapshot_transfer_timeout_ms: u64,
    /// A learner added by `add_node` is promoted to voter once its log is within this many
    /// entries of the leader's commit index (so that adding it never stalls commitment).
    pub learner_catch_up_entries: u64,
    /// The leader serves [`crate::core::ReadKind::Lease`] reads locally while its lease
    /// holds, and sends a leadership-check round every heartbeat to keep it. Safe only while
    /// clocks keep to [`RaftConfig::max_clock_drift_ms`]; needs `check_quorum` (the
    /// followers' side of the lease). Off by default: lease reads then go through a round,
    /// like ReadIndex reads.
    pub lease_reads: bool,
    /// The most that two nodes' clocks may disagree in measuring one minimum election
    /// timeout, in milliseconds: the leader's lease lasts the minimum election timeout
    /// minus this, from when its confirming round was sent. A lease read is linearizable
    /// only while this bound holds: a clock that runs slower than it allows (or stops, as a
    /// paused virtual machine's does) can serve stale data. The lease must outlast a
    /// heartbeat interval, so that the next round renews it before it runs out.
    pub max_clock_drift_ms: u64,
    /// A leader reports a member failed ([`crate::alerts::AlertEvent::NodeFailed`]) once it
    /// has had no answer from it for this long, and reports losing its quorum
    /// ([`crate::alerts::AlertEvent::QuorumLost`]) once the members it heard from within this
    /// window are no quorum. The window in force is never below three heartbeat intervals
    /// ([`RaftConfig::failure_window_ms`]): a live member answers every heartbeat.
    pub failure_detection_ms: u64,
    /// A leader reports a member whose acknowledged log is more than this many entries behind
    /// its commit index ([`crate::alerts::AlertEvent::SlowReplication`]); 0 reports none.
    pub slow_replication_entries: u64,
}

/// The part of a node's configuration that may change while it runs (the seed's
/// `DynamicConfig`): the heartbeat interval, the compaction threshold and the election
/// timeout range. A running node takes new values on its next tick
/// ([`crate::core::Input::UpdateDynamicConfig`], [`crate::RaftNode::update_dynamic_config`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DynamicConfig {
    /// How often a leader sends heartbeats, in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// Entries the log may hold after its snapshot point before a snapshot is due
    /// ([`RaftConfig::snapshot_threshold`]).
    pub compaction_threshold: u64,
    /// Lower bound of the randomized election timeout, in milliseconds.
    pub election_timeout_min_ms: u64,
    /// Upper bound (inclusive) of the randomized election timeout, in milliseconds.
    pub election_timeout_max_ms: u64,
}

impl RaftConfig {
    /// The values of this configuration that may change while the node runs.
    pub fn dynamic(&self) -> DynamicConfig {
        DynamicConfig {
            heartbeat_interval_ms: self.heartbeat_interval_ms,
            compaction_threshold: self.snapshot_threshold,
            election_timeout_min_ms: self.election_timeout_min_ms,
            election_timeout_max_ms: self.election_timeout_max_ms,
        }
    }

    /// This configuration (the node's static one) with `update` in force, corrected rather
    /// than refused: the heartbeat interval is at least 1 ms; the election timeout range is
    /// never below this configuration's own (the seed's rule: the static timeout is a floor,
    /// which also keeps every leader lease sound, since a lease counts on each follower
    /// refusing votes for the static minimum) nor below twice the heartbeat interval, and
    /// holds at least as many values as its minimum; it stays under
    /// [`MAX_ELECTION_TIMEOUT_MS`].
    pub fn with_dynamic(&self, update: &DynamicConfig) -> RaftConfig {
        let mut config = self.clone();
        let heartbeat = update.heartbeat_interval_ms.clamp(1, MAX_ELECTION_TIMEOUT_MS / 4);
        let min = update.election_timeout_min_ms.max(self.election_timeout_min_ms).max(2 * heartbeat);
        let min = min.min(MAX_ELECTION_TIMEOUT_MS / 2);
        let max = update
            .election_timeout_max_ms
            .max(self.election_timeout_max_ms)
            .max(2 * min - 1)
            .min(MAX_ELECTION_TIMEOUT_MS);
        config.heartbeat_interval_ms = heartbeat;
        config.election_timeout_min_ms = min;
        config.election_timeout_max_ms = max;
        config.snapshot_threshold = update.compaction_threshold;
        config
    }
}

/// Upper bound on [`RaftConfig::max_snapshot_transfers`].
pub const MAX_SNAPSHOT_TRANSFERS_LIMIT: usize = 64;

impl RaftConfig {
    /// A configuration for `node_id` in a cluster whose initial voters are `voters` (self
    /// included), with defaults: 150..300 ms election timeout, 50 ms heartbeat, pre-vote and
    /// check-quorum on, failures detected after 1 s of silence, slow replication
    /// reported beyond 1,000 entries, 256 entries or 1 MiB per message, 64 messages in flight, commands of
    /// up to 16 MiB and 256 MiB of uncommitted entries at the leader; a snapshot threshold of
    /// 10,000 entries, snapshots of up to 4 MiB sent whole and larger ones (up to 1 GiB) in
    /// chunks of 1 MiB, 4 transfers at once, abandoned after 10 s without progress.
    pub fn new(node_id: impl Into<NodeId>, voters: impl IntoIterator<Item = impl Into<NodeId>>) -> Self {
        let node_id = node_id.into();
        RaftConfig {
            node_id,
            voters: voters.into_iter().map(Into::into).collect(),
            joining: false,
            election_timeout_min_ms: 150,
            election_timeout_max_ms: 300,
            heartbeat_interval_ms: 50,
            max_entries_per_append: 256,
            max_bytes_per_append: 1 << 20,
            max_inflight: 64,
            max_command_bytes: 16 << 20,
            max_uncommitted_bytes: 256 << 20,
            log_cache_bytes: 8 << 20,
            pre_vote: true,
            check_quorum: true,
            rng_seed: node_id.0,
            snapshot_threshold: 10_000,
            snapshot_chunk_threshold_bytes: 4 << 20,
            snapshot_chunk_size_bytes: 1 << 20,
            max_snapshot_bytes: 1 << 30,
            max_snapshot_transfers: 4,
            snapshot_transfer_timeout_ms: 10_000,
            learner_catch_up_entries: 100,
            lease_reads: false,
            max_clock_drift_ms: 50,
            failure_detection_ms: 1000,
            slow_replication_entries: 1000,
        }
    }

    /// Checks the configuration and returns a clear error for the first problem found.
    pub fn validate(&self) -> RaftResult<()> {
        let err = |msg: String| Err(RaftError::ConfigError(msg));
        if self.voters.is_empty() {
            return err("the voter set is empty".into());
        }
        if self.joining && self.voters.contains(&self.node_id) {
            return err(format!(
                "node {} joins a cluster whose voters {:?} hold it already",
                self.node_id, self.voters
            ));
        }
        if !self.joining && !self.voters.contains(&self.node_id) {
            return err(format!("node {} is not in its own voter set {:?}", self.node_id, self.voters));
        }
        let mut sorted = self.voters.clone();
        sorted.sort();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return err(format!("duplicate voters in {:?}", self.voters));
        }
        if self.election_timeout_min_ms == 0 || self.election_timeout_min_ms > self.election_timeout_max_ms {
            return err(format!(
                "election timeout range {}..={} ms is empty or zero",
                self.election_timeout_min_ms, self.election_timeout_max_ms
            ));
        }
        if self.election_timeout_max_ms > MAX_ELECTION_TIMEOUT_MS {
            return err(format!(
                "election timeout maximum {} ms is above the limit of {MAX_ELECTION_TIMEOUT_MS} ms",
                self.election_timeout_max_ms
            ));
        }
        if self.election_timeout_max_ms - self.election_timeout_min_ms + 1 < self.election_timeout_min_ms {
            return err(format!(
                "election timeout range {}..={} ms is too narrow: it must hold at least as many values as its \
                 minimum (a maximum of {} ms or more), or candidates cannot be told apart and votes split for ever",
                self.election_timeout_min_ms,
                self.election_timeout_max_ms,
                2 * self.election_timeout_min_ms - 1,
            ));
        }
        if self.heartbeat_interval_ms == 0 || self.heartbeat_interval_ms >= self.election_timeout_min_ms {
            return err(format!(
                "heartbeat interval {} ms must be positive and below the election timeout {} ms",
                self.heartbeat_interval_ms, self.election_timeout_min_ms
            ));
        }
        if !(1..=MAX_ENTRIES_PER_APPEND_LIMIT).contains(&self.max_entries_per_append) {
            return err(format!("max_entries_per_append must be in 1..={MAX_ENTRIES_PER_APPEND_LIMIT}"));
        }
        if !(1..=MAX_INFLIGHT_LIMIT).contains(&self.max_inflight) {
            return err(format!("max_inflight must be in 1..={MAX_INFLIGHT_LIMIT}"));
        }
        if self.max_bytes_per_append == 0 {
            return err("max_bytes_per_append must be positive".into());
        }
        if !(1..=MAX_COMMAND_BYTES_LIMIT).contains(&self.max_command_bytes) {
            return err(format!("max_command_bytes must be in 1..={MAX_COMMAND_BYTES_LIMIT}"));
        }
        if self.max_uncommitted_bytes < self.max_command_bytes + crate::log::ENTRY_HEADER_BYTES {
            return err(format!(
                "max_uncommitted_bytes ({}) must hold at least one command of max_command_bytes ({}) with its header",
                self.max_uncommitted_bytes, self.max_command_bytes
            ));
        }
        use crate::snapshot::{MAX_SNAPSHOT_BYTES_LIMIT, MAX_SNAPSHOT_CHUNK_BYTES_LIMIT};
        if !(1..=MAX_SNAPSHOT_CHUNK_BYTES_LIMIT).contains(&self.snapshot_chunk_size_bytes) {
            return err(format!("snapshot_chunk_size_bytes must be in 1..={MAX_SNAPSHOT_CHUNK_BYTES_LIMIT}"));
        }
        if self.snapshot_chunk_threshold_bytes > MAX_SNAPSHOT_CHUNK_BYTES_LIMIT {
            return err(format!(
                "snapshot_chunk_threshold_bytes must be at most {MAX_SNAPSHOT_CHUNK_BYTES_LIMIT}"
            ));
        }
        if self.max_snapshot_bytes > MAX_SNAPSHOT_BYTES_LIMIT {
            return err(format!("max_snapshot_bytes must be at most {MAX_SNAPSHOT_BYTES_LIMIT}"));
        }
        if !(1..=MAX_SNAPSHOT_TRANSFERS_LIMIT).contains(&self.max_snapshot_transfers) {
            return err(format!("max_snapshot_transfers must be in 1..={MAX_SNAPSHOT_TRANSFERS_LIMIT}"));
        }
        if self.snapshot_transfer_timeout_ms == 0
            || self.snapshot_transfer_timeout_ms > MAX_ELECTION_TIMEOUT_MS
        {
            return err(format!("snapshot_transfer_timeout_ms must be in 1..={MAX_ELECTION_TIMEOUT_MS}"));
        }
        if self.failure_detection_ms == 0 || self.failure_detection_ms > MAX_ELECTION_TIMEOUT_MS {
            return err(format!("failure_detection_ms must be in 1..={MAX_ELECTION_TIMEOUT_MS}"));
        }
        if self.lease_reads {
            if !self.check_quorum {
                return err("lease_reads needs check_quorum: the followers' side of the lease".into());
            }
            let lease = self.election_timeout_min_ms.saturating_sub(self.max_clock_drift_ms);
            if lease <= self.heartbeat_interval_ms {
                return err(format!(
                    "max_clock_drift_ms {} leaves a lease of {lease} ms (the minimum election timeout {} ms minus \
                     the drift), not more than the heartbeat interval {} ms: the lease would run out before a \
                     heartbeat renews it",
                    self.max_clock_drift_ms, self.election_timeout_min_ms, self.heartbeat_interval_ms
                ));
            }
        }
        Ok(())
    }

    /// The failure detection window in force: [`RaftConfig::failure_detection_ms`], raised to
    /// three heartbeat intervals if it is below (a dynamic update may lengthen the interval).
    pub fn failure_window_ms(&self) -> u64 {
        self.failure_detection_ms.max(3 * self.heartbeat_interval_ms)
    }

    /// Draws an election timeout uniformly from the configured range with the given seeded
    /// RNG. Callers draw once per timer reset, never on every poll (defect 8 of the seed).
    pub fn random_election_timeout(&self, rng: &mut impl RngCore) -> Duration {
        Duration::from_millis(self.draw_election_timeout_ms(rng))
    }

    pub(crate) fn draw_election_timeout_ms(&self, rng: &mut impl RngCore) -> u64 {
        let span = self.election_timeout_max_ms - self.election_timeout_min_ms + 1;
        // Multiply-high maps a uniform u64 onto 0..span without modulo bias worth the name.
        let offset = ((u128::from(rng.next_u64()) * u128::from(span)) >> 64) as u64;
        self.election_timeout_min_ms + offset
    }
}
