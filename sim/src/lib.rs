//! `quorate-sim`: the deterministic simulator, its workloads and checkers, and the
//! linearizability checker that judges client histories.
//!
//! Architecture invariant: nothing in this crate reads the wall clock, draws unseeded
//! randomness, starts a thread inside a simulated run, or iterates a std `HashMap` into
//! anything observable. A run is a pure function of its seed.

#![warn(missing_docs)]

pub mod lincheck;
