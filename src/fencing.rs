//! Fencing tokens: what a leader hands to the resources it writes to, so that a deposed
//! leader's late writes are refused.
//!
//! A token is the leader's full 64-bit term and a sequence number within the term (from 1),
//! ordered by term and then sequence: tokens only grow, from one leader to the next (terms
//! grow, and a term has at most one leader) and within a leader's term. A resource keeps the
//! highest token it has seen and refuses any lower one. (The seed's original cut the term to
//! 32 bits, so a term past 2^32 wrapped below older ones, and never checked the sequence:
//! defect 9.)

use crate::types::Term;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A fencing token: the issuing leader's term, and the token's place among those it issued
/// in that term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FencingToken {
    /// The term of the leader that issued it (all 64 bits).
    pub term: Term,
    /// Its sequence number within the term, from 1.
    pub sequence: u64,
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.term.0, self.sequence)
    }
}
