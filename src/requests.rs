//! Client requests in flight: a retried request takes no more of the log than its first try.
//!
//! A client that times out cannot tell whether its request was lost or is merely slow, so it
//! sends it again. If the leader appended every copy, retries would take up the log's capacity
//! exactly when it is scarce (a slow or lossy cluster), and a cluster could spend its whole
//! throughput on copies of requests it already holds. [`PendingRequests`] remembers, for each
//! request a node proposed and has not yet applied, the index and term of its entry; a retry
//! of the same request (same [`RequestId`]) joins the first try's entry while the log still
//! holds that entry, and both are answered when it is applied.
//!
//! This is the driver's side of exactly-once execution. The state machine's side (a session
//! per client that answers a repeat of an applied request from its recorded result) is still
//! needed: a retry that arrives after the first try was applied, or at another node, appends a
//! new entry, and the state machine must not execute it twice.
//!
//! The simulator's key-value clients and the networked key-value service both go through
//! this type, so the rule is the same in both.

use crate::core::Core;
use crate::error::RaftResult;
use crate::log::Command;
use crate::types::{LogIndex, Term};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Identifies one client request across retries: the client's id and the request's number.
/// A client numbers its requests in increasing order and reuses the number when it retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId {
    /// The client.
    pub client: u64,
    /// The client's request number.
    pub seq: u64,
}

/// How [`PendingRequests::propose`] placed a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proposed {
    /// A new entry was appended at this index.
    Appended(LogIndex),
    /// The request was already pending at this index; the waiter joined it.
    Joined(LogIndex),
}

impl Proposed {
    /// The index of the request's entry.
    pub fn index(self) -> LogIndex {
        match self {
            Proposed::Appended(index) | Proposed::Joined(index) => index,
        }
    }
}

/// A proposed request and everyone waiting for its result.
#[derive(Debug)]
struct Entry<W> {
    id: RequestId,
    term: Term,
    waiters: Vec<W>,
}

/// What became of the waiters at an applied index.
#[derive(Debug, PartialEq, Eq)]
pub struct Settled<W> {
    /// Waiters whose request is the applied entry: answer them with its result.
    pub done: Vec<W>,
    /// Waiters whose entry was replaced by another (a new leader overwrote it): their request
    /// did not take effect at that index, and they should retry.
    pub superseded: Vec<W>,
}

/// The requests a node proposed and has not yet applied, with their waiters (`W`: whatever
/// the driver needs to answer a client). Bounded by the node's unapplied log: each entry is
/// removed when its index is applied.
#[derive(Debug)]
pub struct PendingRequests<W> {
    by_index: BTreeMap<LogIndex, Entry<W>>,
    by_id: BTreeMap<RequestId, LogIndex>,
}

impl<W> Default for PendingRequests<W> {
    fn default() -> Self {
        PendingRequests { by_index: BTreeMap::new(), by_id: BTreeMap::new() }
    }
}

impl<W> PendingRequests<W> {
    /// No pending requests.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests pending.
    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }

    /// Proposes request `id` with `command` through `core`, unless it is already pending in
    /// `core`'s log, in which case `waiter` joins it. Fails as [`Core::propose`] does (not the
    /// leader); the waiter is then dropped.
    ///
    /// A pending entry is joined only while the log still holds it with the term it was
    /// proposed in. A leader never removes entries from its log, so such an entry is either
    /// committed by this leader or by a later one that holds it too (leader completeness);
    /// a retry joining it can never be lost while the first try survives.
    pub fn propose(
        &mut self,
        core: &mut Core,
        id: RequestId,
        command: Command,
        waiter: W,
    ) -> RaftResult<Proposed> {
        if let Some(index) = self.joinable(core, id) {
            core.ensure_leader()?;
            let entry = self.by_index.get_mut(&index).expect("indexes agree");
            entry.waiters.push(waiter);
            return Ok(Proposed::Joined(index));
        }
        let index = core.propose(command)?;
        self.insert(id, index, core.term(), waiter);
        Ok(Proposed::Appended(index))
    }

    /// The index at which `id` is pending and still held by `core`'s log.
    fn joinable(&self, core: &Core, id: RequestId) -> Option<LogIndex> {
        let &index = self.by_id.get(&id)?;
        let entry = &self.by_index[&index];
        (core.log().term(index) == Some(entry.term)).then_some(index)
    }

    /// Records that `id` was proposed at `index` in `term`. A record at the same index (its
    /// entry was overwritten before it was applied) is replaced, and its waiters dropped.
    pub fn insert(&mut self, id: RequestId, index: LogIndex, term: Term, waiter: W) {
        if let Some(old) = self.by_index.insert(index, Entry { id, term, waiters: vec![waiter] }) {
            if self.by_id.get(&old.id) == Some(&index) {
                self.by_id.remove(&old.id);
            }
        }
        self.by_id.insert(id, index);
    }

    /// The entry at `index` was applied; `applied` is the request it carried (`None` for an
    /// entry that is not a client request). Settles the waiters recorded at `index`, and at
    /// every lower index still recorded (their entries were overwritten by entries that were
    /// not theirs, or applying skipped them).
    pub fn applied(&mut self, index: LogIndex, applied: Option<RequestId>) -> Settled<W> {
        let mut settled = Settled { done: Vec::new(), superseded: Vec::new() };
        while let Some(entry) = self.by_index.first_entry() {
            if *entry.key() > index {
                break;
            }
            let at = *entry.key();
            let entry = entry.remove();
            if self.by_id.get(&entry.id) == Some(&at) {
                self.by_id.remove(&entry.id);
            }
            if at == index && applied == Some(entry.id) {
                settled.done.extend(entry.waiters);
            } else {
                settled.superseded.extend(entry.waiters);
            }
        }
        settled
    }

    /// Forgets everything (the node crashed: its waiters are gone with it).
    pub fn clear(&mut self) {
        self.by_index.clear();
        self.by_id.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RaftConfig;
    use crate::core::{DurableState, Input};
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    fn leader() -> Core {
        let config = RaftConfig::new(1, [1]);
        let mut core = Core::new(config, DurableState::default(), ChaCha8Rng::seed_from_u64(1), 0).unwrap();
        core.step(Input::Campaign).unwrap();
        let ready = core.ready();
        core.advance(&ready);
        core
    }

    fn id(client: u64, seq: u64) -> RequestId {
        RequestId { client, seq }
    }

    #[test]
    fn a_retry_joins_the_first_try() {
        let mut core = leader();
        let mut pending = PendingRequests::new();
        let first = pending.propose(&mut core, id(7, 1), Command::new(b"x".to_vec()), "first").unwrap();
        let last = core.log().last_index();
        let retry = pending.propose(&mut core, id(7, 1), Command::new(b"x".to_vec()), "retry").unwrap();
        assert_eq!(first, Proposed::Appended(last));
        assert_eq!(retry, Proposed::Joined(last));
        assert_eq!(core.log().last_index(), last, "the retry appended nothing");
        let other = pending.propose(&mut core, id(7, 2), Command::new(b"y".to_vec()), "next").unwrap();
        assert_eq!(other, Proposed::Appended(last.next()));
        let settled = pending.applied(last, Some(id(7, 1)));
        assert_eq!(settled.done, vec!["first", "retry"]);
        assert!(settled.superseded.is_empty());
        assert_eq!(pending.len(), 1);
    }

    #[test]
    fn an_overwritten_entry_supersedes_its_waiters() {
        let mut pending = PendingRequests::new();
        pending.insert(id(1, 1), LogIndex(3), Term(2), 'a');
        pending.insert(id(2, 1), LogIndex(4), Term(2), 'b');
        // Another leader's entry (a different request) was applied at 3; 4 stays pending.
        let settled = pending.applied(LogIndex(3), Some(id(9, 9)));
        assert_eq!(settled, Settled { done: vec![], superseded: vec!['a'] });
        // Index 4 is overwritten in the log, re-proposed at 4 in a later term by request 3/1.
        pending.insert(id(3, 1), LogIndex(4), Term(5), 'c');
        let settled = pending.applied(LogIndex(4), Some(id(3, 1)));
        assert_eq!(settled.done, vec!['c']);
        assert!(settled.superseded.is_empty(), "the replaced record's waiter was dropped: {settled:?}");
        assert!(pending.is_empty());
    }

    #[test]
    fn a_non_leader_refuses_and_a_stale_record_is_not_joined() {
        let config = RaftConfig::new(1, [1, 2, 3]);
        let mut follower =
            Core::new(config, DurableState::default(), ChaCha8Rng::seed_from_u64(1), 0).unwrap();
        let mut pending = PendingRequests::new();
        // A record whose entry the log does not hold is never joined, and a follower refuses.
        pending.insert(id(1, 1), LogIndex(1), Term(1), 0);
        assert!(pending.propose(&mut follower, id(1, 1), Command::default(), 1).is_err());
        assert_eq!(pending.len(), 1);
    }
}
