//! The snapshot checker, outside the nodes: a reference state machine fed with the committed
//! log in order (by whichever node first applies each next entry, each checked against the
//! committed log), keeping a digest of its state at every index, so that any snapshot taken
//! or installed anywhere can be compared with the state obtained by applying the committed
//! log up to its index.

use crate::checker::Violation;
use crate::kv::{KvCommand, KvStore};
use crate::trace::Fnv;
use quorate::types::{LogIndex, NodeId};

/// The reference state and its digest per index.
#[derive(Debug)]
pub struct SnapshotChecker {
    reference: KvStore,
    /// Digest of the reference state after applying every entry up to each index (index 0:
    /// the empty state).
    digests: Vec<u64>,
}

impl Default for SnapshotChecker {
    fn default() -> Self {
        let reference = KvStore::default();
        let digests = vec![digest(&reference.encode())];
        SnapshotChecker { reference, digests }
    }
}

/// The digest of a state's bytes.
pub fn digest(bytes: &[u8]) -> u64 {
    let mut h = Fnv::default();
    h.add_bytes(bytes);
    h.finish()
}

impl SnapshotChecker {
    /// The highest index the reference has applied.
    pub fn index(&self) -> LogIndex {
        LogIndex(self.digests.len() as u64 - 1)
    }

    /// A node applied the committed entry at `index` (a command, or `None` for an entry the
    /// state machine skips): the reference applies it too if it is the next one it needs.
    pub fn on_applied(&mut self, index: LogIndex, command: Option<&KvCommand>) {
        if index != self.index().next() {
            return;
        }
        if let Some(cmd) = command {
            self.reference.apply(cmd, index.0);
        }
        self.digests.push(digest(&self.reference.encode()));
    }

    /// Node `id` took or installed a snapshot of its state at `index` whose bytes are `data`:
    /// it must be the state the committed log gives at `index`.
    pub fn check(&self, id: NodeId, index: LogIndex, data: &[u8]) -> Result<(), Violation> {
        let Some(&expected) = usize::try_from(index.0).ok().and_then(|i| self.digests.get(i)) else {
            return Err(format!(
                "snapshot safety: {id} has a snapshot at {index}, but no state machine has applied that far \
                 (the reference is at {})",
                self.index()
            ));
        };
        if digest(data) != expected {
            return Err(format!(
                "snapshot safety: {id}'s snapshot at {index} differs from the state the committed log gives there"
            ));
        }
        Ok(())
    }
}
