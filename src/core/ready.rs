//! The output batch: [`Ready`], what the driver must do with it and in which order, and
//! the core's side of handing it out and of its completion.

use super::*;

/// One batch of effects. The driver handles it in this order (see the crate docs):
/// persist `snapshot`, then `entries` and `hard_state`, send `messages` (allowed before the
/// write), sync, restore the state machine from `snapshot` if `restore_state_machine`, send
/// `messages_when_durable`, apply `committed_entries`, then call [`Core::advance`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// A snapshot to make durable, before anything else of the batch: the log storage
    /// keeps it as its latest snapshot, and drops its entries up to the snapshot's index
    /// (every entry, if it does not hold that index with the snapshot's term) only once the
    /// snapshot is durable, so that a crash in between leaves the previous one in force.
    pub snapshot: Option<Snapshot>,
    /// The snapshot was installed from the leader: the driver restores its state machine
    /// from it once it is durable, before it sends `messages_when_durable` (among them the
    /// snapshot's acknowledgement) and before it applies `committed_entries` (which follow
    /// the snapshot). A snapshot this node took of its own state needs no restoring.
    pub restore_state_machine: bool,
    /// A hard state to persist, when it changed.
    pub hard_state: Option<HardState>,
    /// Entries to persist. If the first one's index is at or below the durable log's last
    /// index, the durable log is first truncated from that index.
    pub entries: EntryRuns,
    /// Messages that may be sent at once, even before the write is durable.
    pub messages: Vec<Message>,
    /// Messages that may be sent only once `hard_state` and `entries` are durable: vote
    /// grants, append acknowledgements, a candidate's vote requests.
    pub messages_when_durable: Vec<Message>,
    /// Committed entries to apply, in order.
    pub committed_entries: EntryRuns,
    /// The write must be synced before `messages_when_durable` are sent: it holds entries,
    /// or a new term or vote. A hard state that changed only its commit index is written
    /// but need not be synced on its own (etcd's MustSync rule): the commit index can be
    /// recovered, so a crash that loses it recovers a lower one, which the leader raises
    /// again.
    pub must_sync: bool,
    /// Outcomes of reads ([`Core::read`]): a read with an index is served once the
    /// state machine has applied up to it, which it has once this batch's committed entries
    /// are applied (the pipeline serves reads after applying them); a failed read is
    /// answered with its error.
    pub read_states: Vec<ReadState>,
    /// What the core observed for operators ([`crate::alerts`]), in order. They depend on
    /// nothing being durable: the driver hands them out at once
    /// ([`crate::driver::Transport::alert`]).
    pub alerts: Vec<crate::alerts::AlertEvent>,
}

impl Ready {
    /// True when the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none()
            && self.hard_state.is_none()
            && self.entries.is_empty()
            && self.messages.is_empty()
            && self.messages_when_durable.is_empty()
            && self.committed_entries.is_empty()
            && self.read_states.is_empty()
            && self.alerts.is_empty()
    }

    /// True when the driver has something to write (see [`Ready::must_sync`] for whether it
    /// must also wait for a sync).
    pub fn must_persist(&self) -> bool {
        self.snapshot.is_some() || self.hard_state.is_some() || !self.entries.is_empty()
    }
}

impl Core {
    // ----- Output ----------------------------------------------------------------------

    /// True when [`Core::ready`] has something to hand out.
    pub fn has_ready(&self) -> bool {
        self.hard_state() != self.hard_state_handed_out
            || self.snapshot_unwritten.is_some()
            || self.log.has_unwritten()
            || !self.msgs.is_empty()
            || !self.msgs_when_durable.is_empty()
            || self.log.has_committed_to_apply()
            || (self.broadcast_pending && self.role == Role::Leader)
            || self.round_due()
            || self.has_read_states()
            || !self.watch.alerts.is_empty()
    }

    /// Takes the pending effects as one batch.
    pub fn ready(&mut self) -> Ready {
        if self.broadcast_pending && self.role == Role::Leader {
            let allow_empty = self.broadcast_empty;
            for peer in self.peers() {
                self.maybe_send_append(peer, allow_empty);
            }
        }
        self.broadcast_pending = false;
        self.broadcast_empty = false;
        if self.round_due() {
            self.send_round();
        }
        let hs = self.hard_state();
        let hard_state = (hs != self.hard_state_handed_out).then_some(hs);
        let term_or_vote =
            hs.term != self.hard_state_handed_out.term || hs.vote != self.hard_state_handed_out.vote;
        self.hard_state_handed_out = hs;
        let entries = self.log.take_unwritten();
        let committed_entries = self.log.take_committed(MAX_APPLY_BYTES_PER_READY);
        let read_states = self.take_read_states();
        self.log.evict();
        let (snapshot, restore_state_machine) = match self.snapshot_unwritten.take() {
            Some((snapshot, restore)) => (Some(snapshot), restore),
            None => (None, false),
        };
        Ready {
            must_sync: term_or_vote || !entries.is_empty() || snapshot.is_some(),
            snapshot,
            restore_state_machine,
            hard_state,
            entries,
            messages: std::mem::take(&mut self.msgs),
            messages_when_durable: std::mem::take(&mut self.msgs_when_durable),
            committed_entries,
            read_states,
            alerts: self.take_alerts(),
        }
    }

    /// The driver handled `ready` completely: everything in it is durable and applied.
    pub fn advance(&mut self, ready: &Ready) {
        if let Some(last) = ready.entries.last() {
            self.on_durable(last.index, last.term);
        }
        if let Some(last) = ready.committed_entries.last() {
            self.log
                .applied_to(last.index)
                .expect("a ready's committed entries were handed out for applying");
        }
        self.check_invariants();
    }
}
