//! The leader's view of each follower's replication (etcd's Progress): flow control with a
//! probe state and a replicate state with a bounded inflight window.

use crate::types::LogIndex;
use std::collections::VecDeque;

/// How the leader currently sends to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// The follower's position is unknown: one message at a time, wait for the answer.
    Probe,
    /// The follower is known to match up to `match_index`: stream entries optimistically,
    /// at most `max_inflight` messages ahead.
    Replicate,
    /// The follower needs entries the leader's log no longer holds: a snapshot is being
    /// sent to it (up to `pending_snapshot`), and no entries go until it is acknowledged
    /// or the transfer is abandoned.
    Snapshot,
}

/// Replication state of one follower, valid for one leader term.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Highest index known to match the leader's log. Never decreases within a term.
    pub match_index: LogIndex,
    /// Next index to send.
    pub next_index: LogIndex,
    /// Current flow-control state.
    pub state: ProgressState,
    /// In the probe state: a probe is outstanding, so sending is paused.
    pub probe_sent: bool,
    /// In the replicate state: the last index of each message in flight, oldest first.
    pub inflight: VecDeque<LogIndex>,
    /// Highest index ever sent to this follower in this term: an acknowledgement can prove no
    /// more than what was sent (defect 1 of the seed).
    pub sent_up_to: LogIndex,
    /// Heard from since the last check-quorum round.
    pub recent_active: bool,
    /// In the snapshot state: the last index of the snapshot being sent.
    pub pending_snapshot: LogIndex,
    /// The highest leadership-check round (for reads, `core::read`) this follower
    /// acknowledged in this term.
    pub read_round: u64,
}

impl Progress {
    /// A fresh progress for a leader whose log ends at `last_index`.
    pub fn new(last_index: LogIndex) -> Self {
        Progress {
            match_index: LogIndex(0),
            next_index: last_index.next(),
            state: ProgressState::Probe,
            probe_sent: false,
            inflight: VecDeque::new(),
            sent_up_to: LogIndex(0),
            recent_active: false,
            pending_snapshot: LogIndex(0),
            read_round: 0,
        }
    }

    /// True when flow control lets another message with entries go.
    pub fn can_send(&self, max_inflight: usize) -> bool {
        match self.state {
            ProgressState::Probe => !self.probe_sent,
            ProgressState::Replicate => self.inflight.len() < max_inflight,
            ProgressState::Snapshot => false,
        }
    }

    /// Records a message covering entries up to `last` (`sent_entries` false for a heartbeat).
    pub fn on_sent(&mut self, last: LogIndex, sent_entries: bool) {
        self.sent_up_to = self.sent_up_to.max(last);
        match self.state {
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Replicate if sent_entries => {
                self.next_index = last.next();
                self.inflight.push_back(last);
            }
            ProgressState::Replicate | ProgressState::Snapshot => {}
        }
    }

    /// An acknowledgement proved `index`. Returns true when it raised the match index.
    pub fn on_ack(&mut self, index: LogIndex) -> bool {
        // A paused probe resumes only on an answer at or past the probe's position. Stale or
        // duplicated acknowledgements of older messages must not each release another probe:
        // on a network that duplicates, every probe would then beget more than one, without
        // bound (a swarm seed found a storm of 20 million events).
        if index >= self.next_index.prev() {
            self.probe_sent = false;
        }
        while self.inflight.front().is_some_and(|&i| i <= index) {
            self.inflight.pop_front();
        }
        if index <= self.match_index {
            return false;
        }
        self.match_index = index;
        self.next_index = self.next_index.max(index.next());
        match self.state {
            ProgressState::Probe => self.become_replicate(),
            // The follower holds everything the snapshot stands for: the transfer is over
            // (etcd's rule: an acknowledgement at or past the pending snapshot ends it).
            ProgressState::Snapshot if index >= self.pending_snapshot => self.become_replicate(),
            ProgressState::Replicate | ProgressState::Snapshot => {}
        }
        true
    }

    /// A snapshot standing for every entry up to `index` starts going to the follower: no
    /// entries go until it is acknowledged. An acknowledgement may prove up to `index`.
    pub fn become_snapshot(&mut self, index: LogIndex) {
        self.state = ProgressState::Snapshot;
        self.pending_snapshot = index;
        self.sent_up_to = self.sent_up_to.max(index);
        self.inflight.clear();
        self.probe_sent = false;
    }

    /// The snapshot transfer ended without an acknowledgement: probe from `next`, which is
    /// one past the snapshot when the leader's side of the transfer completed (the follower
    /// likely installed it; a rejection sends it back), or where it was when the transfer
    /// was abandoned (the follower is sent a snapshot again if it still needs one).
    pub fn end_snapshot(&mut self, next: LogIndex) {
        self.state = ProgressState::Probe;
        self.next_index = next.max(self.match_index.next());
        self.pending_snapshot = LogIndex(0);
        self.probe_sent = false;
    }

    /// A rejection of `rejected` (the request's prev index), sent when the follower's log
    /// ended at `follower_last`, with `hint` as the leader's computed next index. Returns
    /// false when the rejection is stale and was ignored.
    ///
    /// A rejection is stale when the follower's log was shorter than what it has acknowledged
    /// since: within a term a follower never loses entries it acknowledged (they match the
    /// leader's and are durable), so such a rejection predates that acknowledgement. Without
    /// this rule, on a network that reorders and duplicates, the rejections of one window of
    /// pipelined messages keep arriving after the probe that answered them, each throws the
    /// follower back to probing, each probe's acknowledgement resends a whole window, and the
    /// messages multiply without bound (a swarm seed found a storm of 20 million events).
    pub fn on_reject(&mut self, rejected: LogIndex, follower_last: LogIndex, hint: LogIndex) -> bool {
        if follower_last < self.match_index {
            return false;
        }
        match self.state {
            ProgressState::Replicate if rejected <= self.match_index => return false,
            ProgressState::Probe if rejected != self.next_index.prev() => return false,
            // A heartbeat's rejection while a snapshot is on its way: the snapshot answers it.
            ProgressState::Snapshot => return false,
            _ => {}
        }
        self.next_index = hint.min(rejected).max(self.match_index.next());
        self.become_probe();
        true
    }

    fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next_index = self.match_index.next();
        self.inflight.clear();
        self.probe_sent = false;
    }

    fn become_probe(&mut self) {
        self.state = ProgressState::Probe;
        self.inflight.clear();
        self.probe_sent = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_acknowledgements_do_not_release_a_paused_probe() {
        let mut pr = Progress::new(LogIndex(10));
        pr.match_index = LogIndex(5);
        pr.next_index = LogIndex(8);
        pr.on_sent(LogIndex(8), true);
        assert!(!pr.can_send(4), "a probe is outstanding");
        assert!(!pr.on_ack(LogIndex(5)), "an old acknowledgement proves nothing new");
        assert!(!pr.can_send(4), "and does not release another probe");
        // An answer at the probe's position (a heartbeat's) resumes probing.
        assert!(pr.on_ack(LogIndex(7)));
        assert_eq!(pr.state, ProgressState::Replicate);
        assert!(pr.can_send(4));
    }

    #[test]
    fn a_rejection_older_than_the_match_is_stale() {
        let mut pr = Progress::new(LogIndex(10));
        pr.on_ack(LogIndex(9));
        assert_eq!(pr.state, ProgressState::Replicate);
        // Sent when the follower's log ended at 8, below the 9 it acknowledged since.
        assert!(!pr.on_reject(LogIndex(12), LogIndex(8), LogIndex(9)));
        assert_eq!(pr.state, ProgressState::Replicate);
        assert!(pr.on_reject(LogIndex(12), LogIndex(10), LogIndex(11)));
        assert_eq!(pr.state, ProgressState::Probe);
    }
}
