//! The network: every message crosses the real wire codec, then is lost, duplicated or
//! delayed as the scenario draws, and never crosses a blocked link.

use super::*;

/// What a message says, for the readable trace.
pub(super) fn msg_detail(msg: &Message) -> String {
    match &msg.payload {
        Payload::AppendEntries(r) => {
            format!("prev {} n {} commit {}", r.prev_log_index, r.entries.len(), r.leader_commit)
        }
        Payload::AppendEntriesResponse(r) => {
            format!("ok {} match {} last {}", r.success, r.match_index, r.last_log_index)
        }
        Payload::InstallSnapshot(r) => {
            format!(
                "snapshot {}/{} offset {} len {} of {}",
                r.last_included_index,
                r.last_included_term,
                r.offset,
                r.data.len(),
                r.total_bytes
            )
        }
        Payload::InstallSnapshotResponse(r) => {
            format!(
                "snapshot {}/{} next {} installed {}",
                r.last_included_index, r.last_included_term, r.next_offset, r.installed
            )
        }
        Payload::LeaderCheck(r) => format!("round {}", r.round),
        Payload::LeaderCheckAck(r) => format!("round {}", r.round),
        Payload::ReadIndex(r) => format!("read {}", r.id),
        Payload::ReadIndexResponse(r) => format!("read {} index {:?}", r.id, r.index),
        _ => String::new(),
    }
}

impl Sim {
    // ----- Network -----------------------------------------------------------------------

    /// Counts snapshot chunks, and checks that a node acknowledges a snapshot only once its
    /// disk durably holds what the snapshot stands for (the snapshot, or the committed log
    /// up to its index).
    fn check_snapshot_message(&mut self, msg: &Message) -> Result<(), crate::checker::Violation> {
        match &msg.payload {
            Payload::InstallSnapshot(_) => self.stats.snapshot_chunks += 1,
            Payload::InstallSnapshotResponse(resp) if resp.installed => {
                let index = resp.last_included_index;
                let Some(term) = self.checker.committed_term(index) else {
                    return Err(format!(
                        "{} acknowledged a snapshot at {index}, which nobody committed",
                        msg.from
                    ));
                };
                if !self.nodes[&msg.from].disk.durably_holds(index, term) {
                    return Err(format!(
                        "{} acknowledged a snapshot at {index}/{term} that it has not made durable",
                        msg.from
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn send(&mut self, msg: Message) {
        self.stats.sent += 1;
        if let Err(v) = self.checker.check_sent(&msg).and_then(|()| self.check_snapshot_message(&msg)) {
            self.fail(FailureKind::Safety, v);
            return;
        }
        let bytes = match codec::encode_message(&msg) {
            Ok(bytes) => bytes,
            Err(err) => {
                self.fail(FailureKind::Safety, format!("a message does not encode: {err}"));
                return;
            }
        };
        if self.blocked.contains(&(msg.from, msg.to)) || chance(&mut self.net_rng, self.params.loss) {
            self.stats.dropped += 1;
            return;
        }
        let (lo, hi) = self.params.latency_ms;
        if chance(&mut self.net_rng, self.params.duplicate) {
            self.stats.duplicated += 1;
            let delay = range(&mut self.net_rng, lo, hi);
            self.schedule(delay, Event::Deliver { from: msg.from, to: msg.to, bytes: bytes.clone() });
        }
        let mut delay = range(&mut self.net_rng, lo, hi);
        if self.params.slow > 0.0 && !self.in_liveness && chance(&mut self.slow_rng, self.params.slow) {
            delay += range(&mut self.slow_rng, self.params.slow_ms.0, self.params.slow_ms.1);
            self.stats.slowed += 1;
        }
        self.schedule(delay, Event::Deliver { from: msg.from, to: msg.to, bytes });
    }
}
