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

#[cfg(not(madsim))]
pub mod bench;
#[cfg(not(madsim))]
pub mod client;
#[cfg(not(madsim))]
pub mod cluster;
pub mod config;
pub mod fs;
#[cfg(not(madsim))]
pub mod http;
pub mod metrics;
pub mod node;
pub mod storage;
pub mod transport;
#[cfg(not(madsim))]
pub mod workload;

/// 64 bits from the operating system's entropy (for client ids, backoff jitter and the
/// core's seed, never inside the engine); under madsim, from the simulation's seeded
/// generator, so that a seed replays exactly.
#[cfg(not(madsim))]
pub fn entropy() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// 64 bits from the simulation's seeded generator.
#[cfg(madsim)]
pub fn entropy() -> u64 {
    madsim::rand::random()
}

#[cfg(not(madsim))]
pub use config::run_node;
pub use config::{load, start_node, ServerConfig, Started};
