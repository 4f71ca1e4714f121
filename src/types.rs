//! The identifiers of the protocol: [`NodeId`], [`Term`], [`LogIndex`], and the role
//! [`NodeState`].
//!
//! Each is a newtype over `u64` so that an index can never be passed where a term is expected
//! (STYLE.md 4). All convert from and into `u64`.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw value.
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl From<u64> for $name {
            fn from(value: u64) -> Self {
                $name(value)
            }
        }

        impl From<$name> for u64 {
            fn from(value: $name) -> u64 {
                value.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

id_newtype!(
    /// The identity of a node in the cluster. Any value is valid, including 0.
    NodeId,
    "n"
);
id_newtype!(
    /// A Raft term (paper §5.1): a logical clock that only ever increases on a node.
    Term,
    "t"
);
id_newtype!(
    /// A position in the replicated log. The first entry has index 1; index 0 means "before the
    /// first entry" (an empty log has last index 0).
    LogIndex,
    "i"
);

impl Term {
    /// The next term.
    pub fn next(self) -> Term {
        Term(self.0.checked_add(1).expect("term overflow"))
    }

    /// The next term, or `None` at `u64::MAX`.
    pub fn checked_next(self) -> Option<Term> {
        self.0.checked_add(1).map(Term)
    }
}

impl LogIndex {
    /// The index after this one.
    pub fn next(self) -> LogIndex {
        LogIndex(self.0.checked_add(1).expect("log index overflow"))
    }

    /// The index before this one, saturating at zero.
    pub fn prev(self) -> LogIndex {
        LogIndex(self.0.saturating_sub(1))
    }

    /// This index moved forward by `count` entries.
    pub fn plus(self, count: u64) -> LogIndex {
        LogIndex(self.0.checked_add(count).expect("log index overflow"))
    }
}

/// The role a node plays (paper §5.1, Figure 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeState {
    /// Passive: answers leaders and candidates.
    Follower,
    /// Running an election (including the pre-vote phase).
    Candidate,
    /// Accepts proposals and replicates the log.
    Leader,
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            NodeState::Follower => "follower",
            NodeState::Candidate => "candidate",
            NodeState::Leader => "leader",
        };
        f.write_str(name)
    }
}
