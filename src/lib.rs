//! Quorate: a Raft consensus engine with a sans-IO core.
