//! The node driver: each simulated node runs the real core through the Ready contract, with
//! a disk whose syncs complete later, a timer on its own clock, and the checkers looking on.

use super::*;

impl Sim {
    // ----- Nodes -------------------------------------------------------------------------

    pub(super) fn on_deliver(&mut self, from: NodeId, to: NodeId, bytes: Vec<u8>) {
        if self.blocked.contains(&(from, to)) {
            self.stats.dropped += 1;
            return;
        }
        let event = Event::Deliver { from, to, bytes };
        if !self.node_can_run(to, &event) {
            return;
        }
        let Event::Deliver { bytes, .. } = event else { unreachable!() };
        let msg = match codec::decode_message(&bytes) {
            Ok(msg) => msg,
            Err(err) => {
                self.fail(FailureKind::Safety, format!("a message the codec encoded does not decode: {err}"));
                return;
            }
        };
        self.stats.delivered += 1;
        let kind = msg.payload.kind();
        let term = msg.payload.term().0;
        self.trace.event(
            self.now,
            Some(to.0),
            TraceEvent::Deliver,
            &[from.0, term, bytes.len() as u64],
            || format!("recv {kind} from n{from} term {term} {}", msg_detail(&msg)),
        );
        self.checker.on_delivered(&msg);
        let heard = matches!(msg.payload, Payload::AppendEntriesResponse(_)).then(|| msg.clone());
        self.input(to, Input::Message(msg));
        if let Some(msg) = heard {
            if let Some(core) = self.nodes[&to].core.as_ref() {
                self.check_quorum.on_delivered(to, core, &msg);
            }
        }
    }

    pub(super) fn on_timer(&mut self, id: NodeId, generation: u64) {
        let event = Event::Timer { node: id, generation };
        if !self.node_can_run(id, &event) {
            return;
        }
        let node = &mut self.nodes.get_mut(&id).expect("node exists");
        if node.timer_generation != generation {
            return;
        }
        node.timer_at = None;
        let now = node.clock.local(self.now);
        self.input(id, Input::Tick { now });
    }

    /// Feeds an input to a node and handles what comes out.
    pub(super) fn input(&mut self, id: NodeId, input: Input) {
        // The engine's own tracing events (role changes, dropped messages) land in a span per
        // node carrying the virtual time; `replay --engine-log` prints them.
        let _span = tracing::debug_span!("node", id = id.0, t = self.now).entered();
        let node = self.nodes.get_mut(&id).expect("node exists");
        let core = node.core.as_mut().expect("running");
        let local = node.clock.local(self.now);
        if !matches!(input, Input::Tick { .. }) {
            // Keep the core's notion of time current for leases and timer resets.
            let _ = core.step(Input::Tick { now: local });
        }
        let _ = core.step(input);
        self.after_input(id);
    }

    /// Drains the core's readies: send what may go now, write to disk, queue the rest until
    /// the write is synced. Then checks invariants and re-arms the node's timer.
    pub(super) fn after_input(&mut self, id: NodeId) {
        loop {
            let node = self.nodes.get_mut(&id).expect("node exists");
            let Some(core) = node.core.as_mut() else { return };
            if !core.has_ready() {
                break;
            }
            let mut ready = core.ready();
            let prev_term =
                ready.entries.first().and_then(|e| core.log().term(e.index.prev())).unwrap_or_default();
            let role = self.checker.check_role(core, &ready.messages);
            if let Err(v) = role.and_then(|()| self.checker.check_role(core, &ready.messages_when_durable)) {
                self.fail(FailureKind::Safety, v);
                return;
            }
            for msg in std::mem::take(&mut ready.messages) {
                self.send(msg);
            }
            self.enqueue(id, ready, prev_term);
        }
        self.check_node(id);
        self.arm_timer(id);
    }

    pub(super) fn enqueue(&mut self, id: NodeId, ready: Ready, prev_term: Term) {
        let node = self.nodes.get_mut(&id).expect("node exists");
        // A commit-only hard state is written but not waited for (`Ready::must_sync`): a
        // later sync makes it durable.
        let written = ready.must_persist().then(|| node.disk.write(&ready));
        let sync_to = written.filter(|_| ready.must_sync);
        if sync_to.is_some() {
            let n = ready.entries.len() as u64;
            self.trace.event(self.now, Some(id.0), TraceEvent::Write, &[n], || format!("write {n} entries"));
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.pending.push_back(Pending { ready, sync_to, prev_term });
        self.advance_pending(id);
    }

    /// Completes queued batches in order: those without a write at once, the first with a
    /// write once its sync is done (a `SyncDone` event).
    pub(super) fn advance_pending(&mut self, id: NodeId) {
        loop {
            let node = self.nodes.get_mut(&id).expect("node exists");
            let Some(front) = node.pending.front() else { return };
            if front.sync_to.is_some() {
                if !node.sync_scheduled {
                    let epoch = node.epoch;
                    let (lo, hi) = self.params.sync_ms;
                    let delay = range(&mut self.rng, lo, hi);
                    if delay == 0 {
                        // An instant sync completes here rather than as an event of its own.
                        self.finish_sync(id);
                        continue;
                    }
                    self.nodes.get_mut(&id).expect("node exists").sync_scheduled = true;
                    self.schedule(delay, Event::SyncDone { node: id, epoch });
                }
                return;
            }
            let pending = node.pending.pop_front().expect("front exists");
            self.complete(id, pending.ready);
        }
    }

    pub(super) fn on_sync(&mut self, id: NodeId, epoch: u64) {
        let event = Event::SyncDone { node: id, epoch };
        if self.nodes[&id].epoch != epoch || !self.node_can_run(id, &event) {
            return;
        }
        self.nodes.get_mut(&id).expect("node exists").sync_scheduled = false;
        if self.finish_sync(id) {
            self.after_input(id);
        }
    }

    /// The disk finished syncing the oldest queued write (or the power failed first).
    /// Returns false when the node crashed instead.
    pub(super) fn finish_sync(&mut self, id: NodeId) -> bool {
        // Power failures are drawn more often while a vote or a new term is being written:
        // the moments where losing a write is most dangerous get tested the most.
        let writes_vote = self.nodes[&id]
            .pending
            .front()
            .is_some_and(|p| p.ready.hard_state.is_some_and(|hs| hs.vote.is_some()));
        let p_crash =
            if writes_vote { (self.params.crash_on_sync * 10.0).min(0.3) } else { self.params.crash_on_sync };
        if self.faults_on && chance(&mut self.fault_rng, p_crash) {
            // The power fails while the disk is syncing: the write may be torn.
            self.crash(id);
            let downtime = range(&mut self.fault_rng, 10, 1000);
            self.schedule(downtime, Event::Restart { node: id });
            return false;
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        let pending = node.pending.pop_front().expect("a sync completes a queued batch");
        node.disk.sync_to(pending.sync_to.expect("only writes are synced"));
        let hs = node.disk.durable_hard_state();
        let (term, commit) = (hs.term.0, hs.commit.0);
        self.trace.event(self.now, Some(id.0), TraceEvent::Synced, &[term, commit], || {
            format!("synced (term {term}, commit {commit})")
        });
        let durable_entries = self.checker.check_entries(id, pending.prev_term, &pending.ready.entries);
        if let Err(v) = durable_entries.and_then(|()| self.checker.check_durable(id, hs)) {
            self.fail(FailureKind::Safety, v);
            return false;
        }
        self.complete(id, pending.ready);
        self.check_durable_quorum();
        self.advance_pending(id);
        true
    }

    /// The batch is durable: send what waited for it, apply, acknowledge to the core.
    pub(super) fn complete(&mut self, id: NodeId, mut ready: Ready) {
        for msg in std::mem::take(&mut ready.messages_when_durable) {
            self.send(msg);
        }
        if let (Some(first), Some(last)) = (ready.committed_entries.first(), ready.committed_entries.last()) {
            let (a, b) = (first.index.0, last.index.0);
            self.trace.event(self.now, Some(id.0), TraceEvent::Apply, &[a, b], || format!("apply {a}..={b}"));
        }
        if !ready.committed_entries.is_empty() {
            // The checkers learn of the commit before anything is applied.
            self.check_node(id);
        }
        for entry in &ready.committed_entries {
            if let Err(v) = self.checker.check_apply(id, entry) {
                self.fail(FailureKind::Safety, v);
                return;
            }
            if entry.kind == EntryKind::Normal {
                self.apply(id, entry.index, &entry.command);
            }
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.core.as_mut().expect("running").advance(&ready);
    }

    pub(super) fn apply(&mut self, id: NodeId, index: LogIndex, command: &Command) {
        let Some(cmd) = KvCommand::decode(&command.data) else {
            self.fail(FailureKind::Safety, format!("{id}: undecodable command at {index}"));
            return;
        };
        let node = self.nodes.get_mut(&id).expect("node exists");
        let result = node.kv.apply(&cmd);
        self.stats.applied += 1;
        let request = RequestId { client: u64::from(cmd.client), seq: cmd.seq };
        let settled = node.requests.applied(index, Some(request));
        let leader = node.core.as_ref().and_then(Core::leader);
        if let Some(result) = result {
            for (client, seq, _) in settled.done {
                self.reply(client, ClientReply::Done { seq, result: result.clone() });
            }
        }
        // Entries overwritten by another leader's: those requests did not happen here.
        for (client, seq, attempt) in settled.superseded {
            self.reply(client, ClientReply::Redirect { seq, attempt, leader });
        }
    }

    pub(super) fn check_node(&mut self, id: NodeId) {
        let node = &self.nodes[&id];
        let Some(core) = node.core.as_ref() else { return };
        let role = (core.state(), core.term().0);
        let pre = core.is_pre_candidate();
        if role != node.last_role {
            let (state, term) = role;
            if state == NodeState::Candidate && !pre {
                if let Some(phase) = self.liveness.as_mut() {
                    phase.elections += 1;
                }
            }
            let name = if pre { "pre-candidate".to_string() } else { state.to_string() };
            self.trace.event(self.now, Some(id.0), TraceEvent::Role, &[state as u64, term], || {
                format!("becomes {name} in term {term}")
            });
            self.nodes.get_mut(&id).expect("node exists").last_role = role;
            self.mark(id, Lane::from(state));
        }
        let core = self.nodes[&id].core.as_ref().expect("up");
        let before = self.checker.committed_index();
        if let Err(v) = self.checker.check_node(id, core) {
            self.fail(FailureKind::Safety, v);
            return;
        }
        if let Err(v) = self.check_quorum.check(id, core) {
            self.fail(FailureKind::Liveness, v);
            return;
        }
        if self.checker.committed_index() > before {
            self.check_durable_quorum();
        }
    }

    /// Every committed entry is durable on a quorum: checking the highest suffices, since a
    /// log holding it holds the same prefix (log matching).
    pub(super) fn check_durable_quorum(&mut self) {
        let index = self.checker.committed_index();
        let Some(term) = self.checker.committed_term(index) else { return };
        let holders = self.nodes.values().filter(|n| n.disk.durably_holds(index, term)).count();
        let quorum = self.nodes.len() / 2 + 1;
        if holders < quorum {
            self.fail(
                FailureKind::Safety,
                format!("committed entry {index}/{term} is durable on {holders} nodes, fewer than a quorum of {quorum}"),
            );
        }
    }

    pub(super) fn arm_timer(&mut self, id: NodeId) {
        let now = self.now;
        let node = self.nodes.get_mut(&id).expect("node exists");
        let Some(core) = node.core.as_ref() else { return };
        let at = node.clock.global_at(core.next_deadline(), now);
        // A timer already set at or before the deadline stays: when it fires early, the tick
        // is harmless and the timer is set again. This keeps one live timer event per node
        // instead of one per message that moves the deadline.
        if node.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        node.timer_generation += 1;
        node.timer_at = Some(at);
        let generation = node.timer_generation;
        self.schedule_at(at, Event::Timer { node: id, generation });
    }
}
