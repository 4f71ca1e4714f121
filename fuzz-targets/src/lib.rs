//! The fuzz targets of quorate, as plain functions of a byte slice.
//!
//! Each target takes the fuzzer's bytes, drives one part of the engine with them and panics
//! when a property breaks. The cargo-fuzz binaries in `fuzz/fuzz_targets/` are one line each
//! around these functions, and `tests/corpus.rs` replays every committed corpus input,
//! regression input and crash file through the very same functions on stable Rust, without
//! libFuzzer. So a crash found once stays fixed.
//!
//! | target | what the bytes become | what must hold |
//! |---|---|---|
//! | [`request_vote`] | a node in a varied state, then vote requests and answers from anyone | the node invariants below |
//! | [`append_entries`] | a node in a varied state, then AppendEntries and answers from anyone | the node invariants below |
//! | [`install_snapshot`] | a node in a varied state (sometimes recovered from a snapshot), then snapshot chunks (whole transfers and hostile sequences) and answers, AppendEntries, its own snapshots | the node invariants below, and the snapshot ones |
//! | [`reads`] | a node in a varied state (lease reads on or off), then reads, leadership checks and read-index messages from anyone, mixed with AppendEntries | the node invariants below; a read is served only once the state machine has applied up to its index; read indexes come only from a leader whose term has committed |
//! | [`operations`] | a node in a varied state, then failover elections and hot reloads with any values at all, mixed with AppendEntries, answers and time passing | the node invariants below; the alerts it raises: a leader reported once per newer term (itself only while it leads), a member recovered only after it failed, figures that hold |
//! | [`decode_frame`] | a wire frame | an error or a message; re-encoding decodes to the same value |
//! | [`log_recovery`] | a write-ahead log on disk | the valid prefix, record by record, checksums matching |
//! | [`sim_schedule`] | every choice of a simulated 3-node run | no safety, linearizability or panic failure |
//!
//! Node invariants, checked after every input and on every output batch (see [`node`]):
//! no panic; the term, the commit index and the committed entries never go back; a vote cast
//! in a term never changes; every message is from the node, responses carry its term, and
//! AppendEntries carry the node's own entries, contiguous after `prev_log_index`; nothing
//! that depends on unpersisted state is sent before the write; a leader holds a quorum of
//! grants for its term. Snapshots: the node's log starts at its latest snapshot, which checks
//! out and is durable; only committed state is snapshotted or installed; an installed
//! snapshot is acknowledged only once durable, and restores the state machine, which never
//! goes back and is then handed the entries after it, in order.

#![warn(missing_docs)]

pub mod frame;
pub mod node;
pub mod recovery;
pub mod schedule;

pub use frame::decode_frame;
pub use node::{append_entries, install_snapshot, operations, reads, request_vote};
pub use recovery::log_recovery;
pub use schedule::sim_schedule;

/// The names of the targets, as they appear under `fuzz/corpus/` and `fuzz/fuzz_targets/`.
pub const TARGETS: [&str; 8] = [
    "request_vote",
    "append_entries",
    "install_snapshot",
    "reads",
    "operations",
    "decode_frame",
    "log_recovery",
    "sim_schedule",
];

/// Runs the target called `name` on `data`; false when no target has that name.
pub fn run_target(name: &str, data: &[u8]) -> bool {
    match name {
        "request_vote" => request_vote(data),
        "append_entries" => append_entries(data),
        "install_snapshot" => install_snapshot(data),
        "reads" => reads(data),
        "operations" => operations(data),
        "decode_frame" => decode_frame(data),
        "log_recovery" => log_recovery(data),
        "sim_schedule" => sim_schedule(data),
        _ => return false,
    }
    true
}
