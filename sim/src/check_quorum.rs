//! CheckQuorum as a contract, observed from outside the nodes (thesis §6.2): a leader that has
//! not heard from a quorum of its voters for longer than its bound steps down.
//!
//! The bound. A leader checks at most every `E` (its minimum election timeout, on its own
//! clock) whether a quorum answered its AppendEntries since the previous check. If the
//! quorum-th most recent answer (its own counting as now) came at time `h`, the first check
//! after `h` may still pass, but that check comes at most `E` after `h`, and the next one, at
//! most `2E` after `h`, sees fewer than a quorum and must step down. So a node still leading
//! more than `2E` after `h` breaks the contract.
//!
//! Time is the node's own: every reading is the core's `now()`, the clock it decides by. A
//! pause or a clock jump stops the node's clock or moves it without the node being able to
//! act, so both restart the count from the moment the node runs again.

use crate::view::NodeView;
use quorate::message::{Message, Payload};
use quorate::types::{NodeId, NodeState, Term};
use std::collections::BTreeMap;

/// Slack on the bound, in milliseconds of the node's clock: readings are whole milliseconds.
const SLACK_MS: u64 = 2;

/// One leader's record of when it last heard from each voter.
#[derive(Debug)]
struct Reign {
    term: Term,
    /// When the count (re)started: election, resume or clock jump.
    since: u64,
    /// The last AppendEntries answer of the term from each voter, on the leader's clock.
    heard: BTreeMap<NodeId, u64>,
    /// The leader's quorum rules when last checked: a change of configuration restarts
    /// the count, as an election does (the quorum to hear from is a new one).
    quorum: Option<quorate::quorum::QuorumConfig>,
    /// The minimum election timeout when last checked: a reload that changes it restarts
    /// the count too (a round set with the old timeout may still be running).
    timeout: u64,
}

/// The term of a follower's answer to entries, a heartbeat, a snapshot chunk or a
/// leadership check: what counts as hearing from it (`None` for any other message).
pub fn answer_term(msg: &Message) -> Option<Term> {
    match &msg.payload {
        Payload::AppendEntriesResponse(resp) => Some(resp.term),
        Payload::InstallSnapshotResponse(resp) => Some(resp.term),
        Payload::LeaderCheckAck(ack) => Some(ack.term),
        _ => None,
    }
}

/// The CheckQuorum checker.
#[derive(Debug, Default)]
pub struct CheckQuorumChecker {
    reigns: BTreeMap<NodeId, Reign>,
}

impl CheckQuorumChecker {
    /// `core` (node `id`) just handled `msg`: an answer of its term (to entries, a snapshot chunk or a
    /// leadership check) counts as
    /// hearing from the sender.
    pub fn on_delivered(&mut self, id: NodeId, core: &impl NodeView, msg: &Message) {
        let Some(reign) = self.reigns.get_mut(&id) else { return };
        let Some(term) = answer_term(msg) else { return };
        if term == reign.term {
            reign.heard.insert(msg.from, core.now());
        }
    }

    /// Node `id` runs again after a pause or a clock jump at `local` on its clock: the count
    /// restarts from there.
    pub fn restart_count(&mut self, id: NodeId, local: u64) {
        if let Some(reign) = self.reigns.get_mut(&id) {
            reign.since = reign.since.max(local);
        }
    }

    /// Node `id` crashed.
    pub fn on_crash(&mut self, id: NodeId) {
        self.reigns.remove(&id);
    }

    /// Checks node `id` after an event.
    pub fn check(&mut self, id: NodeId, core: &impl NodeView) -> Result<(), String> {
        if core.state() != NodeState::Leader || !core.check_quorum() {
            self.reigns.remove(&id);
            return Ok(());
        }
        let now = core.now();
        let timeout = core.election_timeout_min_ms();
        let reign = self.reigns.entry(id).or_insert_with(|| Reign {
            term: core.term(),
            since: now,
            heard: BTreeMap::new(),
            quorum: None,
            timeout,
        });
        if reign.term != core.term() {
            *reign = Reign { term: core.term(), since: now, heard: BTreeMap::new(), quorum: None, timeout };
        }
        if reign.timeout != timeout {
            reign.timeout = timeout;
            reign.since = reign.since.max(now);
        }
        let quorum = core.quorum();
        if reign.quorum.as_ref() != Some(&quorum) {
            if reign.quorum.is_some() {
                reign.since = reign.since.max(now);
            }
            reign.quorum = Some(quorum.clone());
        }
        let last = |v: NodeId| {
            if v == id {
                return now;
            }
            reign.heard.get(&v).copied().unwrap_or(0).max(reign.since)
        };
        // The latest time since which a quorum was heard from: of each half while joint.
        let half = |m: &quorate::quorum::MajorityConfig| {
            if m.voters().is_empty() {
                return u64::MAX;
            }
            let mut times: Vec<u64> = m.voters().iter().map(|&v| last(v)).collect();
            times.sort_unstable_by(|a, b| b.cmp(a));
            times[m.majority() - 1]
        };
        let heard_quorum_at = half(quorum.incoming()).min(half(quorum.outgoing()));
        let bound = 2 * core.election_timeout_min_ms() + SLACK_MS;
        if now.saturating_sub(heard_quorum_at) > bound {
            return Err(format!(
                "check quorum: {id} still leads term {} at {now} ms on its clock, {} ms after it last heard from \
                 a quorum (at {heard_quorum_at} ms), beyond its bound of {bound} ms",
                core.term(),
                now - heard_quorum_at
            ));
        }
        Ok(())
    }
}
