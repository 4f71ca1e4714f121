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
//! 1. **Persist.** Write `ready.hard_state` (if any) and `ready.entries` (if the first entry's
//!    index is at or below the durable log's end, truncate the durable log from there first).
//!    `ready.messages` may be sent while the write is in progress: they never depend on it.
//! 2. **Sync, then send.** Once the write is durable, send `ready.persisted_messages`: vote
//!    grants, append acknowledgements and a candidate's vote requests all depend on state that
//!    must survive a crash. A node never sends what depends on a write that failed.
//! 3. **Apply.** Apply `ready.committed_entries` in order (skipping [`log::EntryKind::Noop`]).
//! 4. **Acknowledge.** Call [`Core::advance`] with the same ready (or, for a driver that
//!    persists asynchronously, step [`Input::Persisted`] and [`Input::Applied`] as each part
//!    completes, in order). The leader counts its own entries towards a quorum only once they
//!    are acknowledged as durable.
//!
//! [`storage::persist_ready`] implements step 1 and the sync of step 2 on a [`RaftPersistence`].
//!
//! # Protocol
//! Elections with randomized timeouts drawn once per timer reset, PreVote, CheckQuorum, a
//! no-op entry at the start of each term, commitment by counting current-term entries only
//! (§5.4.2), fast backtracking with conflict hints, flow control (probe and replicate states
//! with a bounded inflight window) and batching bounded in entries and bytes. Any cluster size
//! from one voter up works.

#![warn(missing_docs)]

pub mod clock;
pub mod codec;
pub mod config;
pub mod core;
pub mod error;
pub mod log;
mod log_store;
pub mod message;
pub mod node;
pub mod progress;
pub mod quorum;
pub mod requests;
pub mod state_machine;
pub mod storage;
pub mod testing;
pub mod types;
pub mod wal;

pub use crate::config::RaftConfig;
pub use crate::core::{Core, DurableState, HardState, Input, Ready};
pub use crate::error::{RaftError, RaftResult};
pub use crate::log::{Command, EntryKind, LogEntry};
pub use crate::message::{
    AppendEntriesRequest, AppendEntriesResponse, Message, Payload, RequestVoteRequest, RequestVoteResponse,
};
pub use crate::node::RaftNode;
pub use crate::state_machine::StateMachine;
pub use crate::storage::{MemPersistence, RaftPersistence};
pub use crate::types::{LogIndex, NodeId, NodeState, Term};
