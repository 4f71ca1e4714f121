//! The node driver: each simulated node runs the real core through the Ready contract, with
//! a disk whose syncs complete later, a timer on its own clock, and the checkers looking on.

use super::ops::Outbox;
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
        if let Some(node) = self.nodes.get_mut(&to) {
            // The alert checker learns of an answer before the node handles it: a
            // NodeRecovered the answer raises is due at once.
            let local = node.clock.local(self.now);
            let now = node.core.as_ref().expect("running").now().max(local);
            self.alerts.on_delivered(to, now, &msg);
        }
        if matches!(
            msg.payload,
            Payload::AppendEntries(_) | Payload::InstallSnapshot(_) | Payload::LeaderCheck(_)
        ) {
            let local = self.nodes.get_mut(&to).expect("running").clock.local(self.now);
            self.leader_contact.insert((from, to), (msg.payload.term(), local));
        }
        let heard = matches!(
            msg.payload,
            Payload::AppendEntriesResponse(_)
                | Payload::InstallSnapshotResponse(_)
                | Payload::LeaderCheckAck(_)
        )
        .then(|| msg.clone());
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
        self.poll_placement(id);
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

    /// Drives the core through the driver pipeline: its batches are checked, written to the
    /// disk and their messages sent, and those the disk has made durable complete. Then
    /// checks invariants and re-arms the node's timer.
    pub(super) fn after_input(&mut self, id: NodeId) {
        loop {
            let node = self.nodes.get_mut(&id).expect("node exists");
            let (mut store, pipeline, core) = node.parts(self.now, &mut self.checker, &mut self.trace);
            let Some(core) = core else { return };
            if !core.has_ready() {
                break;
            }
            let mut out = Outbox::default();
            pipeline.take(core, &mut store, &mut out).expect("the simulated disk does not fail a write");
            if let Some(v) = store.violation {
                self.fail(FailureKind::Safety, v);
                return;
            }
            for msg in out.messages {
                if let Payload::AppendEntries(req) = &msg.payload {
                    // A leader others can see: its requests left it.
                    self.alerts.saw_leader(id, req.term);
                }
                self.send(msg);
            }
            if !self.judge_alerts(id, out.alerts) {
                return;
            }
            if !self.complete_durable(id) {
                return;
            }
        }
        self.check_node(id);
        self.check_alerts(id);
        self.arm_timer(id);
    }

    /// Completes the batches the disk has made durable (or that need no sync of their
    /// own), in order, and schedules the sync the pipeline asks for. Returns false when
    /// the node crashed or a checker failed.
    fn complete_durable(&mut self, id: NodeId) -> bool {
        loop {
            let node = self.nodes.get_mut(&id).expect("node exists");
            let (mut store, pipeline, _) = node.parts(self.now, &mut self.checker, &mut self.trace);
            let batch = pipeline.next_durable(&mut store).expect("the simulated disk does not fail a sync");
            if let Some(batch) = batch {
                if !self.complete(id, batch) {
                    return false;
                }
                continue;
            }
            let node = self.nodes.get_mut(&id).expect("node exists");
            let Some(end) = node.sync_asked.take() else { return true };
            let epoch = node.epoch;
            let (lo, hi) = self.params.sync_ms;
            let delay = range(&mut self.rng, lo, hi);
            if delay > 0 {
                self.schedule(delay, Event::SyncDone { node: id, epoch, end });
                return true;
            }
            // An instant sync completes here rather than as an event of its own.
            if !self.finish_sync(id, end) {
                return false;
            }
        }
    }

    pub(super) fn on_sync(&mut self, id: NodeId, epoch: u64, end: u64) {
        let event = Event::SyncDone { node: id, epoch, end };
        if self.nodes[&id].epoch != epoch || !self.node_can_run(id, &event) {
            return;
        }
        if self.finish_sync(id, end) && self.complete_durable(id) {
            self.after_input(id);
        }
    }

    /// The disk finished syncing everything written up to `end` (or the power failed
    /// first). Returns false when the node crashed instead, or a checker failed.
    pub(super) fn finish_sync(&mut self, id: NodeId, end: u64) -> bool {
        let end_offset = usize::try_from(end).expect("a disk offset");
        // Power failures are drawn more often while a vote, a new term or a snapshot is being
        // written: the moments where losing a write is most dangerous get tested the most.
        let writes_vote = self.nodes[&id].written.iter().take_while(|w| w.end <= end_offset).any(|w| w.vote);
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
        node.disk.sync_to(end_offset);
        node.pipeline.synced(end);
        let mut durable = Vec::new();
        while node.written.front().is_some_and(|w| w.end <= end_offset) {
            durable.push(node.written.pop_front().expect("front exists"));
        }
        let hs = node.disk.durable_hard_state();
        let (term, commit) = (hs.term.0, hs.commit.0);
        self.trace.event(self.now, Some(id.0), TraceEvent::Synced, &[term, commit], || {
            format!("synced (term {term}, commit {commit})")
        });
        for w in &durable {
            if let Err(v) = self.checker.check_entries(id, w.prev_term, &w.entries) {
                self.fail(FailureKind::Safety, v);
                return false;
            }
        }
        if let Err(v) = self.checker.check_durable(id, hs) {
            self.fail(FailureKind::Safety, v);
            return false;
        }
        self.check_durable_quorum();
        true
    }

    /// The batch is durable: send what waited for it, apply, acknowledge to the core.
    /// Returns false when a checker failed.
    pub(super) fn complete(&mut self, id: NodeId, batch: Batch) -> bool {
        let last_entry = batch.last_entry();
        let Batch { messages_when_durable, committed_entries, restore, read_states, .. } = batch;
        if let Some(snapshot) = restore {
            // Installed from the leader and durable: the state machine is restored before the
            // acknowledgement goes.
            if !self.restore(id, &snapshot, true) {
                return false;
            }
        }
        for msg in messages_when_durable {
            self.send(msg);
        }
        if let (Some(first), Some(last)) = (committed_entries.first(), committed_entries.last()) {
            let (a, b) = (first.index.0, last.index.0);
            self.trace.event(self.now, Some(id.0), TraceEvent::Apply, &[a, b], || format!("apply {a}..={b}"));
        }
        if !committed_entries.is_empty() {
            // The checkers learn of the commit before anything is applied.
            self.check_node(id);
        }
        for entry in &committed_entries {
            if let Err(v) = self.checker.check_apply(id, entry) {
                self.fail(FailureKind::Safety, v);
                return false;
            }
            let placement = (entry.kind == EntryKind::Normal)
                .then(|| quorate::placement::PlacementEntry::decode(&entry.command.data))
                .flatten();
            if let Some(placement) = placement {
                self.apply_placement(id, entry, placement);
            } else if entry.kind == EntryKind::Normal {
                self.apply(id, entry.index, &entry.command);
            } else if self.params.snapshot_every > 0 {
                self.snapshots.on_applied(entry.index, None);
            }
            self.nodes.get_mut(&id).expect("node exists").kv_applied = entry.index;
        }
        for state in read_states {
            if !self.serve_read(id, state) {
                return false;
            }
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        let core = node.core.as_mut().expect("running");
        Pipeline::acknowledge(core, last_entry, committed_entries.last().map(|e| e.index))
            .expect("the simulator acknowledges only what it was handed");
        self.maybe_snapshot(id)
    }

    /// Replaces node `id`'s state machine with `snapshot`'s state (installed from a leader,
    /// or recovered at restart): the snapshot must be the committed log's state at its
    /// index, and a running state machine never goes back. Returns false when a check
    /// failed.
    pub(super) fn restore(&mut self, id: NodeId, snapshot: &quorate::Snapshot, installed: bool) -> bool {
        let index = snapshot.meta.index;
        let node = self.nodes.get_mut(&id).expect("node exists");
        if installed && index < node.kv_applied {
            let applied = node.kv_applied;
            self.fail(
                FailureKind::Safety,
                format!("{id}'s state machine went back from {applied} to a snapshot at {index}"),
            );
            return false;
        }
        let Some(kv) = KvStore::decode(&snapshot.data) else {
            self.fail(FailureKind::Safety, format!("{id}: the snapshot at {index} is not a key-value state"));
            return false;
        };
        if let Err(v) = self.snapshots.check(id, index, &snapshot.data) {
            self.fail(FailureKind::Safety, v);
            return false;
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.kv = kv;
        node.kv_applied = index;
        if installed {
            self.stats.snapshots_installed += 1;
        }
        let (i, bytes) = (index.0, snapshot.size());
        self.trace.event(self.now, Some(id.0), TraceEvent::Restore, &[i, bytes], || {
            format!("restore the state machine from a snapshot at {i} ({bytes} bytes)")
        });
        true
    }

    /// Node `id` snapshots its state machine once it has applied `snapshot_every` entries
    /// past its latest snapshot. Returns false when a check failed.
    fn maybe_snapshot(&mut self, id: NodeId) -> bool {
        let every = self.params.snapshot_every;
        let node = self.nodes.get_mut(&id).expect("node exists");
        let Some(core) = node.core.as_mut() else { return true };
        let index = node.kv_applied;
        if every == 0 || index < core.log().snapshot_point().index.plus(every) || index > core.log().applied()
        {
            return true;
        }
        let data = node.kv.encode();
        if let Err(v) = self.snapshots.check(id, index, &data) {
            self.fail(FailureKind::Safety, v);
            return false;
        }
        let bytes = data.len() as u64;
        let node = self.nodes.get_mut(&id).expect("node exists");
        let core = node.core.as_mut().expect("running");
        match core.take_snapshot(index, data.into()) {
            Ok(true) => {
                self.stats.snapshots_taken += 1;
                self.trace.event(self.now, Some(id.0), TraceEvent::Snapshot, &[index.0, bytes], || {
                    format!("snapshot at {index} ({bytes} bytes)")
                });
                true
            }
            Ok(false) => true,
            Err(e) => {
                self.fail(
                    FailureKind::Safety,
                    format!("{id}: the engine refused a snapshot at {index}: {e}"),
                );
                false
            }
        }
    }

    pub(super) fn apply(&mut self, id: NodeId, index: LogIndex, command: &Command) {
        let Some(cmd) = KvCommand::decode(&command.data) else {
            self.fail(FailureKind::Safety, format!("{id}: undecodable command at {index}"));
            return;
        };
        if self.params.snapshot_every > 0 {
            self.snapshots.on_applied(index, Some(&cmd));
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        let is_get = matches!(cmd.op, KvOp::Get { .. });
        let result = node.kv.apply(&cmd, index.0);
        self.stats.applied += 1;
        let request = RequestId { client: cmd.client, seq: cmd.seq };
        let settled = node.requests.applied(index, Some(request));
        let leader = node.core.as_ref().and_then(Core::leader);
        if let Some(result) = result {
            if is_get {
                self.stats.reads_log += settled.done.len() as u64;
            }
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
            self.check_failover(id, state, pre);
            self.mark(id, Lane::from(state));
            if state == NodeState::Leader {
                self.on_new_leader(id, Term(term));
            }
        }
        let node = &self.nodes[&id];
        let core = node.core.as_ref().expect("up");
        let before = self.checker.committed_index();
        let hs = node.disk.durable_hard_state();
        let vote_durable = hs.term == core.term() && hs.vote == Some(id);
        if let Err(v) =
            self.checker.check_node(id, &crate::view::WithStorage { core, log: &node.log }, vote_durable)
        {
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

    /// Every committed entry is durable on a quorum of the configuration in force for it
    /// (of both halves while joint; learners do not count): checking the highest suffices,
    /// since a log holding it holds the same prefix (log matching).
    pub(super) fn check_durable_quorum(&mut self) {
        let index = self.checker.committed_index();
        let Some(term) = self.checker.committed_term(index) else { return };
        let holders: BTreeSet<NodeId> =
            self.nodes.values().filter(|n| n.disk.durably_holds(index, term)).map(|n| n.id).collect();
        let quorum = self.checker.commit_quorum();
        if !quorum.has_quorum(|id| holders.contains(&id)) {
            let (voters, outgoing) = (quorum.incoming().voters(), quorum.outgoing().voters());
            self.fail(
                FailureKind::Safety,
                format!(
                    "committed entry {index}/{term} is durable on {} nodes ({holders:?}), no quorum of the \
                     voters {voters:?} (outgoing {outgoing:?}) that committed it",
                    holders.len()
                ),
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

impl SimNode {
    /// The node split for the pipeline: its disk as a store (with the checkers and the
    /// trace lent to it), its pipeline, and its core if it runs.
    fn parts<'a>(
        &'a mut self,
        now: u64,
        checker: &'a mut Checker,
        trace: &'a mut Trace,
    ) -> (SimStore<'a>, &'a mut Pipeline, Option<&'a mut Core>) {
        let SimNode { id, core, pipeline, disk, log, written, sync_asked, .. } = self;
        let store = SimStore {
            id: *id,
            now,
            disk,
            log,
            written,
            sync_asked,
            checker,
            trace,
            violation: None,
            prev_term: Term::default(),
        };
        (store, pipeline, core.as_mut())
    }
}

/// The simulated disk as the pipeline's store: it checks each batch's messages against the
/// node's role before anything is sent, writes to the disk, keeps each write for the
/// checkers until a sync covers it, and records the sync the pipeline asks for (the world
/// schedules it, after a delay drawn from the seed).
struct SimStore<'a> {
    id: NodeId,
    now: u64,
    disk: &'a mut SimDisk,
    /// What was written, as the core reads it back.
    log: &'a mut MemoryLog,
    written: &'a mut VecDeque<Written>,
    sync_asked: &'a mut Option<u64>,
    checker: &'a mut Checker,
    trace: &'a mut Trace,
    /// The first violation a check found.
    violation: Option<String>,
    /// Term of the entry before the batch being written (from the core, at inspection).
    prev_term: Term,
}

impl LogStore for SimStore<'_> {
    fn inspect(&mut self, core: &Core, ready: &Ready) {
        self.prev_term =
            ready.entries.first().and_then(|e| core.log().term(e.index.prev())).unwrap_or_default();
        let role = self.checker.check_role(core, &ready.messages);
        let checks = role
            .and_then(|()| self.checker.check_role(core, &ready.messages_when_durable))
            .and_then(|()| self.checker.check_config_appends(core, ready.entries.iter()));
        if let Err(v) = checks {
            self.violation.get_or_insert(v);
        }
    }

    fn write(&mut self, ready: &mut Ready) -> quorate::RaftResult<u64> {
        let end = self.disk.write(ready);
        if ready.must_sync {
            let n = ready.entries.len() as u64;
            self.trace
                .event(self.now, Some(self.id.0), TraceEvent::Write, &[n], || format!("write {n} entries"));
        }
        self.written.push_back(Written {
            end,
            prev_term: self.prev_term,
            entries: ready.entries.to_vec(),
            vote: ready.hard_state.is_some_and(|hs| hs.vote.is_some()) || ready.snapshot.is_some(),
        });
        self.log.write(ready).expect("an in-memory log does not fail");
        Ok(end as u64)
    }

    fn sync(&mut self, position: u64) -> quorate::RaftResult<bool> {
        *self.sync_asked = Some(position);
        Ok(false)
    }
}
