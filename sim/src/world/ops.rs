//! The operations side under simulation: alerts judged as they are raised, hot reloads of the
//! dynamic configuration, failover elections and the placement scheduler, each drawn from a
//! generator of its own (keyed by the seed) so that the other draws stay what they were.

use super::*;
use quorate::alerts::AlertEvent;
use quorate::config::DynamicConfig;
use quorate::driver::Transport;
use quorate::placement::{PlacementEntry, PlacementMove, PlacementScheduler, PlacementView};

/// What a node's batch sends: messages, and the alerts it raised.
#[derive(Default)]
pub(super) struct Outbox {
    pub(super) messages: Vec<Message>,
    pub(super) alerts: Vec<AlertEvent>,
}

impl Transport for Outbox {
    fn send(&mut self, msg: Message) {
        self.messages.push(msg);
    }

    fn alert(&mut self, alert: AlertEvent) {
        self.alerts.push(alert);
    }
}

/// A failover election triggered while the node's leader was healthy: it must not become a
/// candidate from it (with PreVote, the voters that hear from the leader refuse).
#[derive(Clone, Copy, Debug)]
pub(super) struct FailoverWatch {
    node: NodeId,
    term: Term,
    /// The fault count when it was triggered: a fault since voids the watch (a restarted
    /// or paused voter may rightly grant the pre-vote).
    epoch: u64,
    /// When the failover's pre-vote round is over (every answer had time to arrive): a later
    /// round is the node's own timer's, not the failover's.
    until: u64,
}

/// The placement policy every simulated node runs: one move per round, a shard handed to a
/// voter in turn.
fn round_robin(view: &PlacementView) -> Vec<PlacementMove> {
    let to = view.voters[(view.round as usize) % view.voters.len()];
    vec![PlacementMove::Transfer { shard: view.round % 16, to }]
}

impl Sim {
    /// Judges the alerts node `id` raised; false when one was wrong.
    pub(super) fn judge_alerts(&mut self, id: NodeId, alerts: Vec<AlertEvent>) -> bool {
        for event in alerts {
            let core = self.nodes[&id].core.as_ref().expect("running");
            let truth = match event {
                AlertEvent::LeaderChanged { term, .. } => self.checker.leader_of(term),
                _ => None,
            };
            match self.alerts.on_alert(id, core, &event, truth) {
                Ok((code, line)) => self.trace.event(self.now, Some(id.0), code, &[], || line),
                Err(v) => {
                    self.fail(FailureKind::Safety, v);
                    return false;
                }
            }
        }
        true
    }

    /// Checks that node `id` raised every alert due by now.
    pub(super) fn check_alerts(&mut self, id: NodeId) {
        let Some(core) = self.nodes[&id].core.as_ref() else { return };
        if let Err(v) = self.alerts.check(id, core) {
            self.fail(FailureKind::Safety, v);
        }
    }

    /// Schedules the first reload and failover, when the run draws them.
    pub(super) fn schedule_ops(&mut self) {
        if self.params.dynamic_every_ms > 0 {
            let d = self.next_ops_delay(self.params.dynamic_every_ms);
            self.schedule(d, Event::Reload);
        }
        if self.params.failover_every_ms > 0 {
            let d = self.next_ops_delay(self.params.failover_every_ms);
            self.schedule(d, Event::Failover);
        }
    }

    fn next_ops_delay(&mut self, every: u64) -> u64 {
        range(&mut self.ops_rng, every / 2, every + every / 2).max(1)
    }

    /// An operator reloads the dynamic configuration on every node (a crashed one takes it
    /// when it restarts): values drawn around the static ones, many breaking the rules (a
    /// heartbeat above half the election timeout, a range below the static one or too
    /// narrow), which every node must correct rather than apply.
    pub(super) fn on_reload(&mut self) {
        if !self.faults_on {
            return;
        }
        let d = self.next_ops_delay(self.params.dynamic_every_ms);
        self.schedule(d, Event::Reload);
        let (base_min, base_max) = self.params.election_ms;
        let rng = &mut self.ops_rng;
        let heartbeat = range(rng, 0, base_min * 3 / 4);
        let min = range(rng, base_min / 2, base_min * 3 / 2);
        let max = range(rng, min / 2, (2 * min).max(base_max));
        let update = DynamicConfig {
            heartbeat_interval_ms: heartbeat,
            compaction_threshold: range(rng, 0, 1000),
            election_timeout_min_ms: min,
            election_timeout_max_ms: max,
        };
        self.dynamic = Some(update);
        self.stats.reloads += 1;
        self.trace.event(self.now, None, TraceEvent::Reload, &[heartbeat, min], || {
            format!("reload: heartbeat {heartbeat} ms, election {min}..{max} ms")
        });
        for id in self.ids() {
            let node = self.nodes.get_mut(&id).expect("node exists");
            let Some(core) = node.core.as_mut() else { continue };
            let local = node.clock.local(self.now);
            let _ = core.step(Input::Tick { now: local });
            let _ = core.step(Input::UpdateDynamicConfig(update));
            if let Err(v) = check_reloaded(&node.config, core.config(), &update) {
                self.fail(FailureKind::Safety, format!("reload on {id}: {v}"));
                return;
            }
            if core.config().dynamic() != update {
                self.stats.reloads_corrected += 1;
            }
            if !node.paused {
                self.after_input(id);
            }
        }
    }

    /// A restarted (or added) node's core takes the last reload.
    pub(super) fn take_reload(&self, core: &mut Core) {
        if let Some(update) = self.dynamic {
            let _ = core.step(Input::UpdateDynamicConfig(update));
        }
    }

    /// A follower suspects its leader and starts a failover election. When the leader is
    /// healthy (every other voter heard from it recently enough that its lease holds when the
    /// pre-vote arrives), PreVote must keep the follower from becoming a candidate.
    pub(super) fn on_failover(&mut self) {
        if !self.faults_on {
            return;
        }
        let d = self.next_ops_delay(self.params.failover_every_ms);
        self.schedule(d, Event::Failover);
        let followers: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| !n.paused)
            .filter(|n| n.core.as_ref().is_some_and(|c| c.state() == NodeState::Follower))
            .map(|n| n.id)
            .collect();
        if followers.is_empty() {
            return;
        }
        let id = followers[index(&mut self.ops_rng, followers.len())];
        let core = self.nodes[&id].core.as_ref().expect("running");
        let term = core.term();
        let healthy = core.leader().is_some_and(|leader| self.leader_healthy(id, leader, term));
        self.stats.failovers += 1;
        self.trace.event(self.now, Some(id.0), TraceEvent::Failover, &[u64::from(healthy)], || {
            format!("failover election (leader healthy: {healthy})")
        });
        if healthy {
            self.stats.failovers_healthy += 1;
            let until = self.now + 2 * self.longest_delivery() + 1;
            self.failover_watch = Some(FailoverWatch { node: id, term, epoch: self.fault_epoch, until });
        }
        self.input(id, Input::Failover);
    }

    /// Whether `leader` of `term` is healthy as node `asking` sees it: it and every voter but
    /// `asking` run, no link is cut, and each voter heard from it so recently that, on the
    /// fastest clock and with the slowest delivery, its lease still holds when a pre-vote
    /// sent now reaches it.
    fn leader_healthy(&self, asking: NodeId, leader: NodeId, term: Term) -> bool {
        if !self.params.pre_vote || !self.blocked.is_empty() {
            return false;
        }
        let Some(core) = self.nodes.get(&leader).and_then(|n| n.core.as_ref().filter(|_| !n.paused)) else {
            return false;
        };
        if core.state() != NodeState::Leader || core.term() != term {
            return false;
        }
        let longest = self.longest_delivery();
        // The most a voter's clock advances while the pre-vote travels.
        let travel = (longest as f64 * (1.0 + self.params.max_drift)).ceil() as u64 + 1;
        let voters: Vec<NodeId> =
            core.voters().iter().copied().filter(|&v| v != asking && v != leader).collect();
        voters.into_iter().all(|v| {
            let Some(node) = self.nodes.get(&v).filter(|n| !n.paused) else { return false };
            let Some(voter) = node.core.as_ref() else { return false };
            let min = voter.config().election_timeout_min_ms;
            // On the voter's own clock (jumps included): it heard from the leader at `at`,
            // and refuses pre-votes until `at + min`.
            let local = node.clock.reading(self.now);
            self.leader_contact
                .get(&(leader, v))
                .is_some_and(|&(t, at)| t == term && local + travel < at + min)
        })
    }

    /// The longest a message takes on its way (latency, and holding up if drawn).
    fn longest_delivery(&self) -> u64 {
        self.params.latency_ms.1 + if self.params.slow > 0.0 { self.params.slow_ms.1 } else { 0 }
    }

    /// Node `id` changed role: a watched failover that made it a candidate disrupted a
    /// healthy leader; one whose pre-vote ended otherwise is over.
    pub(super) fn check_failover(&mut self, id: NodeId, state: NodeState, pre: bool) {
        let Some(watch) = self.failover_watch.filter(|w| w.node == id) else { return };
        if pre {
            return;
        }
        self.failover_watch = None;
        if state == NodeState::Candidate && watch.epoch == self.fault_epoch && self.now <= watch.until {
            self.fail(
                FailureKind::Safety,
                format!(
                    "failover: {id}'s failover election in term {} became a real candidacy while its leader was \
                     healthy (PreVote is on)",
                    watch.term
                ),
            );
        }
    }

    /// Node `id`'s timer fired: its placement scheduler (if the run has them) plans while it
    /// leads, and its moves are proposed through the log.
    pub(super) fn poll_placement(&mut self, id: NodeId) {
        if self.params.placement_every_ms == 0 {
            return;
        }
        let every = self.params.placement_every_ms;
        let node = self.nodes.get_mut(&id).expect("node exists");
        let Some(core) = node.core.as_mut() else { return };
        let scheduler = node.placement.get_or_insert_with(|| PlacementScheduler::new(every, round_robin));
        let leading = (core.state() == NodeState::Leader).then(|| core.term());
        let view = || PlacementView {
            node_id: id,
            term: core.term(),
            now_ms: core.now(),
            voters: core.voters().to_vec(),
            commit_index: core.log().committed(),
            round: 0,
        };
        let commands = scheduler.poll(core.now(), leading, view);
        if commands.is_empty() {
            return;
        }
        let planned = commands.len() as u64;
        self.stats.placement_planned += planned;
        self.trace.event(self.now, Some(id.0), TraceEvent::Placement, &[planned], || {
            format!("placement: {planned} moves planned")
        });
        for command in commands {
            if let Ok(index) = core.propose(command) {
                scheduler.proposed(index);
            }
        }
        self.after_input(id);
    }

    /// Node `id` applies a placement entry: it must come from the leader of the term it
    /// names, in that term.
    pub(super) fn apply_placement(&mut self, id: NodeId, entry: &LogEntry, placement: PlacementEntry) {
        let leader = self.alerts.leader_of(placement.term);
        if entry.term != placement.term || leader != Some(placement.proposer) {
            self.fail(
                FailureKind::Safety,
                format!(
                    "placement: the move at {} is an entry of term {} and names term {}, planned by {}; the leader of \
                     term {} was {} (a move must be planned by its term's leader, in that term)",
                    entry.index,
                    entry.term,
                    placement.term,
                    placement.proposer,
                    placement.term,
                    leader.map_or("no node".into(), |l| l.to_string())
                ),
            );
            return;
        }
        if self.placements_applied.insert((placement.term, placement.seq)) {
            self.stats.placement_applied += 1;
        }
        if self.params.snapshot_every > 0 {
            self.snapshots.on_applied(entry.index, None);
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        let settled = node.requests.applied(entry.index, None);
        let leader = node.core.as_ref().and_then(Core::leader);
        for (client, seq, attempt) in settled.superseded {
            self.reply(client, ClientReply::Redirect { seq, attempt, leader });
        }
    }
}

/// The rules a reloaded configuration keeps, whatever the update asked: the heartbeat is
/// positive, the election timeout is never below the static range nor below twice the
/// heartbeat, the range holds as many values as its minimum, and the result is valid.
fn check_reloaded(
    static_config: &RaftConfig,
    now: &RaftConfig,
    update: &DynamicConfig,
) -> Result<(), String> {
    let (hb, min, max) =
        (now.heartbeat_interval_ms, now.election_timeout_min_ms, now.election_timeout_max_ms);
    let broken = if hb != update.heartbeat_interval_ms.max(1) {
        Some("the heartbeat is not the one asked (or 1 ms for 0)")
    } else if min < 2 * hb {
        Some("the election timeout is below twice the heartbeat")
    } else if min < static_config.election_timeout_min_ms || max < static_config.election_timeout_max_ms {
        Some("the election timeout went below the static range")
    } else if max + 1 < 2 * min {
        Some("the election timeout range is narrower than its minimum")
    } else if now.snapshot_threshold != update.compaction_threshold {
        Some("the compaction threshold is not the one asked")
    } else {
        now.validate().err().map(|_| "the result does not validate")
    };
    match broken {
        Some(why) => {
            Err(format!("asked {update:?}, in force: heartbeat {hb} ms, election {min}..={max} ms: {why}"))
        }
        None => Ok(()),
    }
}
