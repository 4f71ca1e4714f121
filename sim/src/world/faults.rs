//! The faults of the safety phase: partitions, crashes (with torn writes), pauses and
//! clock jumps, each drawn at the scenario's rate.

use super::*;

impl Sim {
    // ----- Faults ------------------------------------------------------------------------

    pub(super) fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    pub(super) fn on_partition(&mut self) {
        if !self.faults_on {
            return;
        }
        self.fault_epoch += 1;
        if self.blocked.is_empty() {
            self.start_partition();
        } else {
            self.blocked.clear();
            self.trace.event(self.now, None, TraceEvent::PartitionHealed, &[], || "partition healed".into());
        }
        let d = self.next_fault_delay(self.params.partition_every_ms);
        self.schedule(d, Event::Partition);
    }

    pub(super) fn start_partition(&mut self) {
        let ids = self.ids();
        if ids.len() < 2 {
            return;
        }
        let shape = range(&mut self.fault_rng, 0, 3);
        let block_between = |a: &[NodeId], b: &[NodeId], set: &mut BTreeSet<(NodeId, NodeId)>, both: bool| {
            for &x in a {
                for &y in b {
                    set.insert((x, y));
                    if both {
                        set.insert((y, x));
                    }
                }
            }
        };
        let mut shuffled = ids.clone();
        for i in (1..shuffled.len()).rev() {
            let j = index(&mut self.fault_rng, i + 1);
            shuffled.swap(i, j);
        }
        let split = range(&mut self.fault_rng, 1, ids.len() as u64 - 1) as usize;
        let (a, b) = shuffled.split_at(split);
        let mut blocked = BTreeSet::new();
        let name = match shape {
            0 => {
                block_between(a, b, &mut blocked, true);
                "symmetric halves"
            }
            1 => {
                block_between(a, b, &mut blocked, false);
                "one-way"
            }
            2 => {
                let victim = self.leader().unwrap_or(shuffled[0]);
                let others: Vec<NodeId> = ids.iter().copied().filter(|&n| n != victim).collect();
                block_between(&[victim], &others, &mut blocked, true);
                "leader isolated"
            }
            _ => {
                // A bridge node sees both sides; the sides do not see each other.
                let (bridge, rest) = shuffled.split_first().expect("two nodes at least");
                let half = rest.len() / 2;
                let (x, y) = rest.split_at(half);
                block_between(x, y, &mut blocked, true);
                let _ = bridge;
                "bridge"
            }
        };
        self.blocked = blocked;
        self.stats.faults.partitions += 1;
        let detail =
            format!("{:?}", self.blocked.iter().map(|(x, y)| format!("{x}->{y}")).collect::<Vec<_>>());
        self.trace.event(self.now, None, TraceEvent::Partition, &[shape], || {
            format!("partition ({name}): blocked {detail}")
        });
    }

    pub(super) fn on_crash(&mut self) {
        if !self.faults_on {
            return;
        }
        let up: Vec<NodeId> = self.nodes.values().filter(|n| n.core.is_some()).map(|n| n.id).collect();
        let down = self.nodes.len() - up.len();
        if !up.is_empty() && down < self.params.max_down as usize {
            let leader = self.leader().filter(|_| chance(&mut self.fault_rng, self.params.crash_leader));
            let id = leader.unwrap_or_else(|| up[index(&mut self.fault_rng, up.len())]);
            self.crash(id);
            let downtime = range(&mut self.fault_rng, 10, 1500);
            self.schedule(downtime, Event::Restart { node: id });
        }
        let d = self.next_fault_delay(self.params.crash_every_ms);
        self.schedule(d, Event::Crash);
    }

    pub(super) fn crash(&mut self, id: NodeId) {
        self.fault_epoch += 1;
        let torn = self.params.torn_write;
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.core = None;
        node.placement = None;
        node.epoch += 1;
        node.pipeline.reset();
        node.written.clear();
        node.sync_asked = None;
        node.deferred.clear();
        node.paused = false;
        node.requests.clear();
        node.reads.clear();
        node.kv = KvStore::default();
        node.kv_applied = LogIndex(0);
        node.timer_at = None;
        node.disk.crash(&mut self.fault_rng, torn);
        self.checker.on_crash(id);
        self.check_quorum.on_crash(id);
        self.alerts.on_crash(id);
        self.stats.faults.crashes += 1;
        self.trace.event(self.now, Some(id.0), TraceEvent::Crash, &[], || "crash".into());
        self.mark(id, Lane::Down);
    }

    pub(super) fn restart(&mut self, id: NodeId) {
        self.fault_epoch += 1;
        let mut node = self.nodes.remove(&id).expect("node exists");
        if node.core.is_some() {
            self.nodes.insert(id, node);
            return;
        }
        let core = self.make_core(&mut node);
        node.last_role = (core.state(), core.term().0);
        let recovered = core.snapshot().cloned();
        node.core = Some(core);
        self.nodes.insert(id, node);
        // The state machine starts from the latest durable snapshot; the core hands out the
        // committed entries after it.
        if let Some(snapshot) = recovered {
            if !self.restore(id, &snapshot, false) {
                return;
            }
        }
        self.stats.faults.restarts += 1;
        self.trace.event(self.now, Some(id.0), TraceEvent::Restart, &[], || "restart".into());
        self.mark(id, Lane::Follower);
        let hs = self.nodes[&id].disk.durable_hard_state();
        let core = self.nodes[&id].core.as_ref().expect("just started");
        if let Err(v) = self.checker.check_restart(id, core).and_then(|()| self.checker.check_durable(id, hs))
        {
            self.fail(FailureKind::Safety, v);
            return;
        }
        self.after_input(id);
    }

    pub(super) fn on_pause(&mut self) {
        if !self.faults_on {
            return;
        }
        let running: Vec<NodeId> =
            self.nodes.values().filter(|n| n.core.is_some() && !n.paused).map(|n| n.id).collect();
        if !running.is_empty() {
            let id = running[index(&mut self.fault_rng, running.len())];
            self.nodes.get_mut(&id).expect("node exists").paused = true;
            self.fault_epoch += 1;
            self.stats.faults.pauses += 1;
            self.trace.event(self.now, Some(id.0), TraceEvent::Pause, &[], || "pause".into());
            self.mark(id, Lane::Paused);
            let length = range(&mut self.fault_rng, 50, 1500);
            self.schedule(length, Event::Resume { node: id });
        }
        let d = self.next_fault_delay(self.params.pause_every_ms);
        self.schedule(d, Event::Pause);
    }

    pub(super) fn resume(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node exists");
        if !node.paused {
            return;
        }
        node.paused = false;
        let deferred = std::mem::take(&mut node.deferred);
        self.trace
            .event(self.now, Some(id.0), TraceEvent::Resume, &[deferred.len() as u64], || "resume".into());
        let lane = self.nodes[&id].core.as_ref().map_or(Lane::Down, |c| Lane::from(c.state()));
        self.mark(id, lane);
        for event in deferred {
            self.schedule(0, event);
        }
        if self.nodes[&id].core.is_some() {
            let node = self.nodes.get_mut(&id).expect("node exists");
            node.timer_at = None;
            let local = node.clock.local(self.now);
            self.check_quorum.restart_count(id, local);
            self.alerts.restart_count(id, local);
            self.arm_timer(id);
        }
    }

    pub(super) fn on_clock_jump(&mut self) {
        if !self.faults_on {
            return;
        }
        let ids = self.ids();
        let id = ids[index(&mut self.fault_rng, ids.len())];
        let delta = range(&mut self.fault_rng, 0, 2000) as i64 - 1000;
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.clock.jump(delta);
        let local = node.clock.local(self.now);
        self.check_quorum.restart_count(id, local);
        self.alerts.restart_count(id, local);
        self.fault_epoch += 1;
        self.stats.faults.clock_jumps += 1;
        self.trace.event(self.now, Some(id.0), TraceEvent::ClockJump, &[delta as u64], || {
            format!("clock jumps {delta:+} ms")
        });
        if self.nodes[&id].core.is_some() {
            self.nodes.get_mut(&id).expect("node exists").timer_at = None;
            self.arm_timer(id);
        }
        let d = self.next_fault_delay(self.params.jump_every_ms);
        self.schedule(d, Event::ClockJump);
    }
}
