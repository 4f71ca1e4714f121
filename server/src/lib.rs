//! Quorate's networked runtime: a node process that runs the engine's core over TCP peers,
//! a write-ahead log on its disk and a replicated key-value service over HTTP, plus the
//! command line's client tools (`quorate kv`, `status`, `bench`) and a local cluster for
//! trying it out (`quorate cluster`).
//!
//! The core and the driver pipeline are the engine's (`quorate::core`,
//! `quorate::driver::Pipeline`), exactly as the simulator runs them; this crate supplies the
//! disk ([`storage`]), the network ([`transport`]), the state machine and the task that
//! drives them ([`node`]), and the HTTP service ([`http`]).

#![warn(missing_docs)]

pub mod bench;
pub mod client;
pub mod cluster;
pub mod config;
pub mod fs;
pub mod http;
pub mod metrics;
pub mod node;
pub mod storage;
pub mod transport;
pub mod workload;

use std::hash::{BuildHasher, Hasher};

/// 64 bits from the operating system's entropy (for client ids and backoff jitter, never in
/// the engine).
pub fn entropy() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

pub use config::{load, run_node, ServerConfig};
