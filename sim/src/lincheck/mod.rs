//! Linearizability checking of client histories (placeholder until the checker lands).
