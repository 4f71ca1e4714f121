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
        _ => String::new(),
    }
}

impl Sim {
    // ----- Network -----------------------------------------------------------------------

    pub(super) fn send(&mut self, msg: Message) {
        self.stats.sent += 1;
        if let Err(v) = self.checker.check_sent(&msg) {
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
        let delay = range(&mut self.net_rng, lo, hi);
        self.schedule(delay, Event::Deliver { from: msg.from, to: msg.to, bytes });
    }
}
