//! Quorate: a Raft consensus engine with a sans-IO core, checked by deterministic simulation.
//!
//! # Layers
//! - [`core::Core`]: the protocol as a pure state machine. It does no I/O, reads no clock,
//!   starts no thread and draws randomness only from the seeded RNG it is given.
//! - [`RaftNode`]: the seed's API, a thread-safe facade over the core, a
//!   [`RaftPersistence`], a [`StateMachine`] and an injectable [`clock::Clock`].
//! - [`codec`] and [`wal`]: the byte formats of messages and of the write-ahead log.
//!
//! # The driver's contract
//! A driver feeds the core [`Input`]s (messages, `Tick { now }`, proposals) and, whenever
//! [`Core::has_ready`] is true, takes one [`Ready`] with [`Core::ready`] and handles it in
//! exactly this order:
//!
//! 1. **Persist.** Write `ready.snapshot` (if any) first: it becomes the latest snapshot, and
//!    the log storage drops the entries it stands for only once it is durable (all of them if
//!    the log does not hold the snapshot's last index with its term), so that a crash in
//!    between leaves the previous snapshot and the whole log in force. Then write
//!    `ready.hard_state` (if any) and `ready.entries` (if the first entry's index is at or
//!    below the durable log's end, truncate the durable log from there first).
//!    `ready.messages` may be sent while the write is in progress: they never depend on it;
//!    nor do `ready.alerts`, which go to operators at once.
//! 2. **Sync, restore, then send.** Once the write is durable, restore the state machine from
//!    `ready.snapshot` if `ready.restore_state_machine` (a snapshot installed from the
//!    leader), then send `ready.messages_when_durable`: vote grants, append and snapshot
//!    acknowledgements and a candidate's vote requests all depend on state that must survive
//!    a crash. A node never sends what depends on a write that failed. When
//!    `ready.must_sync` is false (the hard state changed only its commit index), the write
//!    need not be synced on its own: it becomes durable with the next sync.
//! 3. **Apply, then serve reads.** Apply `ready.committed_entries` in order (skipping
//!    [`log::EntryKind::Noop`]), then serve `ready.read_states` (reads asked with
//!    [`Input::Read`]): a read with an index is answered from the state machine, which has
//!    applied up to that index by now (the core hands a read out only once the entries up to
//!    its index were handed out for applying); a failed one is answered with its error.
//! 4. **Acknowledge.** Call [`Core::advance`] with the same ready (or, for a driver that
//!    persists asynchronously, step [`Input::Durable`] and [`Input::Applied`] as each part
//!    completes, in order). The leader counts its own entries towards a quorum only once they
//!    are acknowledged as durable.
//!
//! [`driver::Pipeline`] does all of this, over a [`driver::LogStore`] (with
//! [`driver::PersistenceStore`] for a [`RaftPersistence`]), a [`driver::Transport`] and a
//! [`driver::Apply`]; every driver in the repository uses it.
//!
//! # Who owns which entries, when
//! Entries are never deep-copied on their way from `propose` to `apply`:
//! - A command's payload is a shared, immutable buffer ([`Bytes`]): every copy of an entry
//!   (in the core's log, in the driver's storage, in each follower's AppendEntries, in the
//!   state machine's hands) holds a reference to the same bytes.
//! - The core's log keeps its entries in shared runs ([`Entries`]). `ready.entries` and
//!   `ready.committed_entries` ([`EntryRuns`]) are views of those runs: the driver owns the
//!   views it is handed and may keep them (a store that keeps them, as
//!   [`driver::MemoryLog`] does, shares the core's buffers instead of copying them) or drop
//!   them once written and applied. They never change under the driver: the core appends
//!   to a buffer only past the slots any view covers.
//! - One copy of the log per node: once the driver's storage holds the log and the core has
//!   been given a [`log_source::LogSource`] to read it back ([`Core::set_log_source`]), the
//!   core keeps in memory only the entries not yet durable plus a cache of
//!   [`RaftConfig::log_cache_bytes`] of recent ones; it reads older ones back for a
//!   follower that lags behind and for applying (after a restart, or behind a slow state
//!   machine). A read that fails, or that gives other entries than the log's, sends or
//!   applies nothing (it is logged, and retried with the next input); it never panics and
//!   never replicates or applies a wrong entry.
//!
//! # Snapshots
//! The driver's state machine serializes itself at its applied index and hands the bytes in
//! ([`Input::Snapshot`], [`Core::take_snapshot`]; through [`RaftNode`],
//! `maybe_create_snapshot` and `auto_snapshot_if_needed`): the core makes them a
//! [`Snapshot`] (with the voters and a checksum), cuts its log up to that index at once,
//! releasing whole chunks, and hands the snapshot out in the next ready. A leader whose log
//! no longer holds what a follower needs next sends it the latest snapshot instead, one
//! chunk at a time ([`SnapshotStreamer`]; at most
//! [`RaftConfig::snapshot_chunk_threshold_bytes`] go as one request): the follower answers
//! each chunk with the offset it expects next, so lost, duplicated and reordered chunks are
//! resent or ignored, and checks the whole snapshot's checksum before it installs it.
//! Installing keeps the log's suffix after the snapshot if it matches, and is acknowledged
//! only once the snapshot is durable and the state machine restored from it (step 2). On
//! restart, a node recovers its latest durable snapshot ([`DurableState::latest_snapshot`])
//! and the log after it; the driver restores the state machine from the snapshot and then
//! applies the committed suffix.
//!
//! # Reads without the log
//! [`Input::Read`] (or [`Core::read`]) asks for a linearizable read with a context of the
//! caller's: by ReadIndex (the leader confirms its leadership with one round of messages that
//! a quorum acknowledges, a round serving every read waiting for it; a follower asks the
//! leader for the index) or from the leader's lease ([`RaftConfig::lease_reads`]: no message
//! while the lease holds). The lease's safety rests on clocks: it lasts the minimum election
//! timeout minus [`RaftConfig::max_clock_drift_ms`] from when its confirming round was sent,
//! measured on the leader's monotonic clock, and holds only while no two nodes' clocks
//! disagree by more than that over an election timeout. The core judges the lease by the
//! time of its last `Tick` or `Clock` input: a driver feeds the clock before it asks for a
//! lease read. See [`core`]'s `read` module docs (the `ReadKind`, `ReadPath` and `ReadState`
//! types) for the details.
//!
//! # Operations
//! The core raises alerts from what it observes ([`alerts`]: a member silent for
//! [`RaftConfig::failure_detection_ms`], its recovery, a new leader, a lost quorum, a member
//! lagging behind the commit index) in [`Ready::alerts`], which the pipeline hands to
//! [`driver::Transport::alert`] at once. [`Input::UpdateDynamicConfig`] changes the heartbeat
//! interval, compaction threshold and election timeout range while the node runs (corrected
//! by [`RaftConfig::with_dynamic`], never applied as given); [`Input::Failover`] makes a
//! follower campaign now (through a pre-vote when [`RaftConfig::pre_vote`] is on). [`RaftNode`] adds the seed's operations types
//! over these: [`AlertManager`] (handlers run outside every lock of the node),
//! [`FailoverCoordinator`] and [`PlacementScheduler`] (a leader-only planner whose moves go
//! through the log).
//!
//! # Protocol
//! Elections with randomized timeouts drawn once per timer reset, PreVote, CheckQuorum, a
//! no-op entry at the start of each term, commitment by counting current-term entries only
//! (§5.4.2), fast backtracking with conflict hints, flow control (probe and replicate states
//! with a bounded inflight window), batching bounded in entries and bytes, and snapshots
//! with log compaction (paper §7). Any cluster size from one voter up works.
//!
//! # Example: three nodes through [`RaftNode`]
//! The facade is driven in RPC style: the caller carries every request and response between
//! the nodes, as its own transport would.
//!
//! ```
//! use quorate::{Command, LogIndex, NodeId, RaftConfig, RaftNode};
//!
//! let nodes: Vec<RaftNode> =
//!     (1..=3).map(|id| RaftNode::new(RaftConfig::new(id, [1, 2, 3])).unwrap()).collect();
//! let node = |id: u64| &nodes[id as usize - 1];
//!
//! // Node 1 campaigns; nodes 2 and 3 vote for it.
//! for (to, request) in [2, 3].into_iter().zip(node(1).start_election()) {
//!     let response = node(to).handle_request_vote(request);
//!     node(1).handle_vote_response(NodeId(to), response);
//! }
//! assert!(node(1).is_leader());
//!
//! // A proposal commits once a majority holds it (index 1 is the new leader's no-op).
//! let index = node(1).propose(Command::new(b"x = 1".to_vec())).unwrap();
//! assert_eq!(index, LogIndex(2));
//! while node(1).commit_index() < index {
//!     for (to, request) in node(1).replicate_to_followers() {
//!         let response = node(to.0).handle_append_entries(request);
//!         node(1).handle_replication_response(to, response).unwrap();
//!     }
//! }
//! // A heartbeat round tells the followers the new commit index.
//! for (to, request) in node(1).create_heartbeats() {
//!     let response = node(to.0).handle_append_entries(request);
//!     node(1).handle_replication_response(to, response).unwrap();
//! }
//! assert_eq!(node(2).commit_index(), index);
//! assert_eq!(node(3).commit_index(), index);
//! ```
//!
//! # Example: the same through [`Core`] and the driver pipeline
//! A driver of its own steps the core and runs [`driver::Pipeline`], which follows the four
//! steps above over a store, a transport and an applier. Here the disk is a
//! [`DurableState`] in memory and the network a queue; no time needs to pass, because node 1
//! is told to campaign.
//!
//! ```
//! use quorate::driver::{Apply, Pipeline};
//! use quorate::{Bytes, Command, Core, DurableState, EntryKind, Input, LogEntry, Message, NodeState, RaftConfig};
//! use quorate::{RaftError, RaftResult, ReadState, Snapshot};
//! use std::collections::VecDeque;
//!
//! struct Node {
//!     core: Core,
//!     pipeline: Pipeline,
//!     disk: DurableState,
//!     applied: Applied,
//! }
//!
//! /// The state machine: the commands applied, in order.
//! struct Applied(Vec<Bytes>);
//!
//! impl Apply for Applied {
//!     fn apply(&mut self, entries: &[LogEntry]) {
//!         let commands = entries.iter().filter(|e| e.kind == EntryKind::Normal);
//!         self.0.extend(commands.map(|e| e.command.data.clone()));
//!     }
//!
//!     /// This state machine takes no snapshots, and so is never sent one: refuse.
//!     fn restore(&mut self, snapshot: &Snapshot) -> RaftResult<()> {
//!         Err(RaftError::StateMachineError { index: snapshot.meta.index, message: "no snapshots here".into() })
//!     }
//!
//!     /// Nobody asks this node for reads without the log (`Core::read`).
//!     fn read(&mut self, _state: ReadState) {}
//! }
//!
//! /// Handles every ready of `node`: persist, send, sync, send what waited, apply, acknowledge.
//! fn drive(node: &mut Node, network: &mut VecDeque<Message>) {
//!     node.pipeline.drive(&mut node.core, &mut node.disk, network, &mut node.applied).unwrap();
//! }
//!
//! let mut nodes: Vec<Node> = (1..=3)
//!     .map(|id| Node {
//!         core: Core::with_seed(RaftConfig::new(id, [1, 2, 3]), DurableState::default(), id, 0).unwrap(),
//!         pipeline: Pipeline::new(),
//!         disk: DurableState::default(),
//!         applied: Applied(Vec::new()),
//!     })
//!     .collect();
//! let mut network = VecDeque::new();
//! nodes[0].core.step(Input::Campaign).unwrap();
//! let mut proposed = false;
//! loop {
//!     for node in nodes.iter_mut() {
//!         drive(node, &mut network);
//!     }
//!     if !proposed && nodes[0].core.state() == NodeState::Leader {
//!         nodes[0].core.step(Input::Propose(Command::new(b"x = 1".to_vec()))).unwrap();
//!         proposed = true;
//!         continue;
//!     }
//!     let Some(msg) = network.pop_front() else { break };
//!     let to = msg.to.0 as usize - 1;
//!     nodes[to].core.step(Input::Message(msg)).unwrap();
//! }
//! for node in &nodes {
//!     assert_eq!(node.applied.0, vec![b"x = 1".to_vec()]);
//!     assert_eq!(node.disk.entries.len(), 2, "the leader's no-op and the command");
//! }
//! ```

#![warn(missing_docs)]

pub mod alerts;
pub mod clock;
pub mod codec;
pub mod config;
pub mod core;
pub mod driver;
pub mod error;
pub mod failover;
pub mod fencing;
pub mod kv;
pub mod log;
pub mod log_source;
mod log_store;
pub mod membership;
pub mod message;
pub mod node;
pub mod node_config;
pub mod placement;
pub mod progress;
pub mod quorum;
pub mod requests;
pub mod snapshot;
pub mod state_machine;
pub mod storage;
pub mod testing;
pub mod tracker;
pub mod types;
pub mod wal;

pub use crate::alerts::{Alert, AlertEvent, AlertManager};
pub use crate::config::{DynamicConfig, NodeConfig, RaftConfig};
pub use crate::core::{Core, DurableState, HardState, Input, ReadKind, ReadPath, ReadState, Ready};
pub use crate::error::{RaftError, RaftResult};
pub use crate::failover::FailoverCoordinator;
pub use crate::fencing::FencingToken;
pub use crate::log::{Command, EntryKind, LogEntry, SnapshotPoint};
pub use crate::log_store::{Entries, EntryRuns};
pub use crate::membership::{Configuration, MembershipChange};
pub use crate::message::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    LeaderCheck, LeaderCheckAck, Message, Payload, ReadIndexRequest, ReadIndexResponse, RequestVoteRequest,
    RequestVoteResponse, TimeoutNowRequest,
};
pub use crate::node::RaftNode;
pub use crate::placement::{PlacementMove, PlacementPolicy, PlacementScheduler};
pub use crate::snapshot::{Snapshot, SnapshotMeta, SnapshotPolicy, SnapshotStreamer};
pub use crate::state_machine::StateMachine;
pub use crate::storage::{MemPersistence, RaftPersistence};
pub use crate::types::{LogIndex, NodeId, NodeState, Term};
/// The shared, immutable buffer that carries a command's payload ([`Command::data`]).
pub use bytes::Bytes;
/// The RNG [`Core::new`] draws its election jitter from, and the trait that seeds it
/// (`ChaCha8Rng::seed_from_u64`), re-exported so that a driver needs no crates of its own at
/// matching versions. [`Core::with_seed`] takes a plain `u64` instead.
pub use rand_chacha::ChaCha8Rng;
pub use rand_core::SeedableRng;
