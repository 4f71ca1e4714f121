//! `quorate-sim`: the deterministic simulator, its workloads and checkers, and the
//! linearizability checker that judges client histories.
//!
//! Architecture invariant: nothing in this crate reads the wall clock inside a simulated run,
//! draws unseeded randomness, starts a thread inside a run, or iterates a std `HashMap` into
//! anything observable. A run is a pure function of its seed and scenario.

#![warn(missing_docs)]

pub mod alerts;
pub mod check_quorum;
pub mod checker;
pub mod clock;
pub mod disk;
pub mod history;
pub use quorate::kv;
pub mod lincheck;
pub mod liveness;
pub mod output;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod snapshots;
pub mod sweep;
pub mod timeline;
pub mod trace;
pub mod view;
pub mod world;
