//! Leadership transfers drawn as faults (to a random voter, at random times: the target may
//! be cut off, down or paused), and a fenced resource: leaders write to an outside store
//! with their fencing tokens, and the store refuses any token lower than the highest it has
//! seen. Both draw from a generator of their own, so that the other draws stay what they
//! were.

use super::*;
use quorate::fencing::FencingToken;

/// The fenced store outside the cluster, and what landed in it.
#[derive(Debug, Default)]
pub(super) struct FencedStore {
    /// The highest token seen.
    highest: Option<FencingToken>,
    /// The highest term of a leader whose write landed.
    newest_writer: Term,
}

/// Milliseconds between two rounds of fenced writes (each leader writes once a round).
const FENCED_WRITE_EVERY_MS: (u64, u64) = (50, 150);

impl Sim {
    /// Schedules the first transfer (when the run draws them) and the first fenced writes.
    pub(super) fn schedule_transfers_and_fencing(&mut self) {
        if self.params.transfer_every_ms > 0 {
            let d = self.next_transfer_delay();
            self.schedule(d, Event::Transfer);
        }
        let d = range(&mut self.transfer_rng, FENCED_WRITE_EVERY_MS.0, FENCED_WRITE_EVERY_MS.1);
        self.schedule(d, Event::FencingRound);
    }

    fn next_transfer_delay(&mut self) -> u64 {
        let every = self.params.transfer_every_ms;
        range(&mut self.transfer_rng, every / 2, every + every / 2).max(1)
    }

    /// The leader is asked to hand leadership to a voter drawn at random.
    pub(super) fn on_transfer(&mut self) {
        if !self.faults_on {
            return;
        }
        let d = self.next_transfer_delay();
        self.schedule(d, Event::Transfer);
        let Some(leader) = self.leader() else { return };
        let voters: Vec<NodeId> = self.nodes[&leader]
            .core
            .as_ref()
            .expect("running")
            .voters()
            .iter()
            .copied()
            .filter(|&v| v != leader)
            .collect();
        if voters.is_empty() {
            return;
        }
        let to = voters[index(&mut self.transfer_rng, voters.len())];
        let node = self.nodes.get_mut(&leader).expect("the leader");
        let local = node.clock.local(self.now);
        let core = node.core.as_mut().expect("running");
        let _ = core.step(Input::Tick { now: local });
        let term = core.term();
        if core.transfer_leadership(to).is_ok() {
            self.fault_epoch += 1;
            self.stats.transfers += 1;
            self.transfers_asked.push((to, term));
            self.trace.event(self.now, Some(leader.0), TraceEvent::Transfer, &[to.0, term.0], || {
                format!("asked to hand leadership to n{to} (term {term})")
            });
        }
        self.after_input(leader);
    }

    /// Node `id` became leader of `term`: a transfer to it asked in an earlier term is done.
    pub(super) fn on_new_leader(&mut self, id: NodeId, term: Term) {
        let before = self.transfers_asked.len();
        self.transfers_asked.retain(|&(to, asked)| !(to == id && asked < term));
        self.stats.transfers_completed += (before - self.transfers_asked.len()) as u64;
        // Older ones can no longer complete as asked.
        self.transfers_asked.retain(|&(_, asked)| asked >= term);
    }

    /// Every node that leads issues a fencing token and sends a write with it to the store.
    pub(super) fn on_fencing_round(&mut self) {
        let d = range(&mut self.transfer_rng, FENCED_WRITE_EVERY_MS.0, FENCED_WRITE_EVERY_MS.1);
        self.schedule(d, Event::FencingRound);
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            let node = self.nodes.get_mut(&id).expect("node exists");
            if node.paused {
                continue;
            }
            let Some(core) = node.core.as_mut() else { continue };
            let (leads, term) = (core.state() == NodeState::Leader, core.term());
            let Some(token) = core.issue_fencing_token() else { continue };
            if !leads || token.term != term {
                self.fail(
                    FailureKind::Safety,
                    format!("{id} (leader: {leads}, term {term}) issued the fencing token {token}"),
                );
                return;
            }
            let (lo, hi) = self.params.latency_ms;
            let delay = range(&mut self.transfer_rng, lo, hi);
            self.schedule(delay, Event::FencedWrite { from: id, term, token });
        }
    }

    /// A leader's write reaches the store, which refuses a token lower than the highest it
    /// has seen. The check: no write lands from a leader after a newer leader's write landed.
    pub(super) fn on_fenced_write(&mut self, from: NodeId, term: Term, token: FencingToken) {
        let store = &mut self.fenced;
        if store.highest.is_some_and(|highest| token < highest) {
            self.stats.fenced_refused += 1;
            return;
        }
        if term < store.newest_writer {
            let newest = store.newest_writer;
            self.fail(
                FailureKind::Safety,
                format!(
                    "fencing: a write from {from}, leader of term {term} (token {token}), landed after a write \
                     from the leader of term {newest}"
                ),
            );
            return;
        }
        store.highest = Some(token);
        store.newest_writer = term;
        self.stats.fenced_landed += 1;
    }
}
