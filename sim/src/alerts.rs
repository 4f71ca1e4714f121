//! Alerts as a contract, judged against what the simulator saw happen (`quorate::alerts`).
//!
//! Ground truth is what the network delivered and who led which term:
//! - **LeaderChanged** `{term, leader}` is false unless `leader` led `term`; it is missed when a
//!   node leads, or follows a leader, of a term newer than the last it reported.
//! - **NodeFailed** `{node: p}` from the leader `n` is false if an answer of `n`'s term from
//!   `p` (to entries, a snapshot chunk or a leadership check) reached `n` less than the
//!   detection window `W` ago on `n`'s clock; it is missed when `n`, leading, has had none
//!   from member `p` for `W` (counted from the later of the answer and when the count
//!   started: the election, a change of configuration, a pause or clock jump of `n`) and has
//!   not reported it. **NodeRecovered** is false unless `p` was reported failed and an answer
//!   from it just arrived; missed when such an answer arrives and it is not reported.
//! - **QuorumLost** `{window}` is false if answers within the window came from a quorum of
//!   the leader's configuration (itself counted); it is missed when the leader has not heard
//!   from a quorum for `W` and has not reported it since it last had one.
//! - **SlowReplication** `{match, commit}` is false unless `commit - match` exceeds the
//!   leader's threshold and the node is a member; its timing is not judged (the leader's
//!   knowledge of a follower's log trails the truth by a round trip).
//!
//! Every time here is the node's own clock, read as the core reads it, so the bounds are
//! exact: no slack beyond the engine's own.

use crate::trace::TraceEvent;
use quorate::alerts::AlertEvent;
use quorate::core::Core;
use quorate::message::Message;
use quorate::quorum::{MajorityConfig, QuorumConfig};
use quorate::types::{NodeId, NodeState, Term};
use std::collections::{BTreeMap, BTreeSet};

/// Counts of alerts seen, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlertCounts {
    /// LeaderChanged.
    pub leader_changed: u64,
    /// NodeFailed.
    pub node_failed: u64,
    /// NodeRecovered.
    pub node_recovered: u64,
    /// QuorumLost.
    pub quorum_lost: u64,
    /// SlowReplication.
    pub slow_replication: u64,
    /// Alerts judged false (each fails its run).
    pub false_alerts: u64,
    /// Alerts judged missed (each fails its run).
    pub missed_alerts: u64,
}

impl AlertCounts {
    /// Adds another run's counts.
    pub fn add(&mut self, other: &AlertCounts) {
        self.leader_changed += other.leader_changed;
        self.node_failed += other.node_failed;
        self.node_recovered += other.node_recovered;
        self.quorum_lost += other.quorum_lost;
        self.slow_replication += other.slow_replication;
        self.false_alerts += other.false_alerts;
        self.missed_alerts += other.missed_alerts;
    }
}

/// One leader's term, as the checker follows it.
#[derive(Debug)]
struct Reign {
    term: Term,
    /// When the count (re)started, on the leader's clock: election, configuration change,
    /// pause or clock jump (for missed alerts, the latest start is the fair one).
    since: u64,
    /// The last answer of the term from each member, on the leader's clock.
    heard: BTreeMap<NodeId, u64>,
    /// The configuration when last checked.
    quorum: Option<QuorumConfig>,
    /// Members reported failed and not recovered since.
    failed: BTreeSet<NodeId>,
    /// An answer being handled: its sender and when.
    arriving: Option<(NodeId, u64)>,
    /// When it started leading (the engine's own baseline for members that were there).
    started: u64,
    /// The detection window at the last check.
    window: u64,
    /// A loss of the quorum is to be reported: none was yet, or the leader had a quorum
    /// again since the last one (judged from `started`, as the engine does).
    quorum_loss_due: bool,
}

impl Reign {
    /// A leadership of `term` watched from `now` on, with the detection window `window`.
    fn new(term: Term, now: u64, window: u64) -> Reign {
        Reign {
            term,
            since: now,
            heard: BTreeMap::new(),
            quorum: None,
            failed: BTreeSet::new(),
            arriving: None,
            started: now,
            window,
            quorum_loss_due: true,
        }
    }
}

/// The alert checker.
#[derive(Debug, Default)]
pub struct AlertChecker {
    reigns: BTreeMap<NodeId, Reign>,
    /// Who led each term (ground truth: the safety checker's leaders, whose votes were
    /// durable, and a node's own claim once its term is durable).
    leaders: BTreeMap<Term, NodeId>,
    /// The newest term whose leader each node reported (in its current life).
    reported: BTreeMap<NodeId, Term>,
    /// Counts.
    pub counts: AlertCounts,
}

/// What happened to an alert: its trace code and line, or why it is wrong.
pub type Judged = Result<(TraceEvent, String), String>;

impl AlertChecker {
    /// Who led `term`, as far as the simulator saw.
    pub fn leader_of(&self, term: Term) -> Option<NodeId> {
        self.leaders.get(&term).copied()
    }

    /// An answer `msg` is about to reach node `id`, whose clock will read `now` when it
    /// handles it.
    pub fn on_delivered(&mut self, id: NodeId, now: u64, msg: &Message) {
        let Some(reign) = self.reigns.get_mut(&id) else { return };
        let Some(term) = crate::check_quorum::answer_term(msg) else { return };
        if term == reign.term {
            // It counts once the node has handled it: the node's timers run first, at the
            // same reading, and may rightly report the sender failed just before.
            reign.arriving = Some((msg.from, now));
        }
    }

    /// Node `id` sent requests as the leader of `term`: others can learn of it.
    pub fn saw_leader(&mut self, id: NodeId, term: Term) {
        self.leaders.entry(term).or_insert(id);
    }

    /// Node `id` runs again after a pause or a clock jump at `local` on its clock.
    pub fn restart_count(&mut self, id: NodeId, local: u64) {
        if let Some(reign) = self.reigns.get_mut(&id) {
            reign.since = reign.since.max(local);
        }
    }

    /// Node `id` crashed: it starts over.
    pub fn on_crash(&mut self, id: NodeId) {
        self.reigns.remove(&id);
        self.reported.remove(&id);
    }

    /// Judges an alert node `id` (`core`) raised; `truth` is who led the term a
    /// LeaderChanged names, as the safety checker saw it.
    pub fn on_alert(&mut self, id: NodeId, core: &Core, event: &AlertEvent, truth: Option<NodeId>) -> Judged {
        let now = core.now();
        let window = core.config().failure_window_ms();
        if let (AlertEvent::LeaderChanged { term, .. }, Some(leader)) = (event, truth) {
            self.leaders.entry(*term).or_insert(leader);
        }
        let result = self.judge(id, core, event, now, window);
        if result.is_err() {
            self.counts.false_alerts += 1;
        }
        result
    }

    fn judge(&mut self, id: NodeId, core: &Core, event: &AlertEvent, now: u64, window: u64) -> Judged {
        match event {
            &AlertEvent::LeaderChanged { term, leader, previous } => {
                self.counts.leader_changed += 1;
                if leader == id {
                    self.leaders.entry(term).or_insert(id);
                }
                match self.leaders.get(&term) {
                    Some(&l) if l == leader => {}
                    truth => {
                        return Err(format!(
                            "alerts: {id} reported {leader} leader of term {term}, but {} led it",
                            truth.map_or("no node".into(), |l| l.to_string())
                        ))
                    }
                }
                let last = self.reported.insert(id, term).unwrap_or_default();
                if term <= last {
                    return Err(format!(
                        "alerts: {id} reported the leader of term {term} after term {last}'s"
                    ));
                }
                Ok((TraceEvent::Alert, format!("alert: {leader} leads term {term} (before: {previous:?})")))
            }
            &AlertEvent::NodeFailed { node, silent_ms } => {
                self.counts.node_failed += 1;
                let reign = self.reign_of(id, core)?;
                // A reload in the same input may have changed the window since it was raised.
                let window = window.min(reign.window);
                let last = reign.heard.get(&node).copied().unwrap_or(0).max(reign.started);
                if silent_ms < window || last + silent_ms > now {
                    return Err(format!(
                        "alerts: {id} reported {node} failed at {now} ms on its clock, silent for {silent_ms} ms, \
                         but its last answer (or the start of the term's count) was at {last} ms, and the window is \
                         {window} ms"
                    ));
                }
                let was_member = reign.quorum.as_ref().is_some_and(|q| q.members().any(|m| m == node));
                if !(was_member || core.quorum_config().members().any(|m| m == node)) || node == id {
                    return Err(format!("alerts: {id} reported {node} failed, but it is no member to watch"));
                }
                reign.failed.insert(node);
                Ok((TraceEvent::Alert, format!("alert: {node} failed (silent {silent_ms} ms)")))
            }
            &AlertEvent::NodeRecovered { node, silent_ms } => {
                self.counts.node_recovered += 1;
                let reign = self.reign_of(id, core)?;
                let answered = reign.arriving.is_some_and(|(from, _)| from == node);
                if !answered || !reign.failed.remove(&node) {
                    return Err(format!(
                        "alerts: {id} reported {node} recovered at {now} ms, but it was not reported failed or no \
                         answer from it just arrived"
                    ));
                }
                Ok((TraceEvent::Alert, format!("alert: {node} recovered (silent {silent_ms} ms)")))
            }
            AlertEvent::QuorumLost { term, heard_from, window_ms } => {
                self.counts.quorum_lost += 1;
                let quorum = core.quorum_config().clone();
                let reign = self.reign_of(id, core)?;
                if *term != reign.term {
                    return Err(format!(
                        "alerts: {id} reported losing the quorum of term {term} in {}",
                        reign.term
                    ));
                }
                let heard =
                    |v: NodeId| v == id || reign.heard.get(&v).is_some_and(|&at| at + window_ms > now);
                if quorum.has_quorum(heard) {
                    return Err(format!(
                        "alerts: {id} reported losing its quorum at {now} ms (window {window_ms} ms, heard from \
                         {heard_from:?}), but answers from a quorum reached it within the window: {:?}",
                        reign.heard
                    ));
                }
                reign.quorum_loss_due = false;
                Ok((
                    TraceEvent::Alert,
                    format!("alert: quorum lost in term {term} (heard from {heard_from:?})"),
                ))
            }
            &AlertEvent::SlowReplication { node, match_index, commit_index } => {
                self.counts.slow_replication += 1;
                let threshold = core.config().slow_replication_entries;
                // A member when raised: of the configuration at the last check, or now.
                let was_member = self
                    .reigns
                    .get(&id)
                    .and_then(|r| r.quorum.as_ref())
                    .is_some_and(|q| q.members().any(|m| m == node));
                let member = (was_member || core.quorum_config().members().any(|m| m == node)) && node != id;
                if !member || threshold == 0 || commit_index.0.saturating_sub(match_index.0) <= threshold {
                    return Err(format!(
                        "alerts: {id} reported {node} slow at {match_index} against a commit index of \
                         {commit_index} (threshold {threshold}, member: {member})"
                    ));
                }
                Ok((TraceEvent::Alert, format!("alert: {node} slow ({match_index} of {commit_index})")))
            }
        }
    }

    /// The reign of node `id`: the alert was raised while it led (it may have stepped down
    /// since, within the same input).
    fn reign_of(&mut self, id: NodeId, core: &Core) -> Result<&mut Reign, String> {
        let term = core.term();
        self.reigns
            .get_mut(&id)
            .ok_or_else(|| format!("alerts: {id} raised a leader's alert but did not lead (term {term})"))
    }

    /// Checks node `id` after an input, once its alerts were judged: what it must have
    /// reported by now.
    pub fn check(&mut self, id: NodeId, core: &Core) -> Result<(), String> {
        let result = self.check_missed(id, core);
        if result.is_err() {
            self.counts.missed_alerts += 1;
        }
        result
    }

    fn check_missed(&mut self, id: NodeId, core: &Core) -> Result<(), String> {
        let still_leads = |reign: &Reign| core.state() == NodeState::Leader && core.term() == reign.term;
        if let Some(reign) = self.reigns.get_mut(&id) {
            if let Some((from, at)) = reign.arriving.take().filter(|_| still_leads(reign)) {
                reign.heard.insert(from, at);
                if reign.failed.contains(&from) {
                    return Err(format!(
                        "alerts: an answer from {from}, reported failed, reached {id} without a NodeRecovered"
                    ));
                }
            }
        }
        let term = core.term();
        // A leader counts once its own entry of the term is durable (before, it may crash and
        // lose the term to another).
        let leading =
            core.state() == NodeState::Leader && core.log().term(core.log().durable_index()) == Some(term);
        let knows_leader = core.leader().is_some_and(|l| l != id) || leading;
        let reported = self.reported.get(&id).copied().unwrap_or_default();
        if knows_leader && reported < term {
            return Err(format!(
                "alerts: {id} follows {:?} in term {term} but reported no leader after term {reported}",
                core.leader()
            ));
        }
        if !leading {
            self.reigns.remove(&id);
            return Ok(());
        }
        let now = core.now();
        let window = core.config().failure_window_ms();
        let reign = self.reigns.entry(id).or_insert_with(|| Reign::new(term, now, window));
        if reign.term != term {
            *reign = Reign::new(term, now, window);
        }
        reign.window = window;
        let quorum = core.quorum_config().clone();
        if reign.quorum.as_ref() != Some(&quorum) {
            if reign.quorum.is_some() {
                reign.since = reign.since.max(now);
            }
            reign.failed.retain(|&p| quorum.members().any(|m| m == p));
            reign.quorum = Some(quorum.clone());
        }
        let last = |v: NodeId| {
            if v == id {
                return now;
            }
            reign.heard.get(&v).copied().unwrap_or(0).max(reign.since)
        };
        for member in quorum.members().filter(|&m| m != id) {
            let silent = now.saturating_sub(last(member));
            if silent >= window && !reign.failed.contains(&member) {
                return Err(format!(
                    "alerts: {id}, leading term {term}, has had no answer from {member} for {silent} ms on its \
                     clock (window {window} ms) and did not report it failed"
                ));
            }
        }
        // The latest time since which a quorum was heard from: of each half while joint.
        let half = |m: &MajorityConfig| {
            if m.voters().is_empty() {
                return u64::MAX;
            }
            let mut times: Vec<u64> = m.voters().iter().map(|&v| last(v)).collect();
            times.sort_unstable_by(|a, b| b.cmp(a));
            times[m.majority() - 1]
        };
        let heard_quorum_at = half(quorum.incoming()).min(half(quorum.outgoing()));
        let silent = now.saturating_sub(heard_quorum_at);
        if silent >= window && reign.quorum_loss_due {
            return Err(format!(
                "alerts: {id}, leading term {term}, last heard from a quorum at {heard_quorum_at} ms, {silent} ms \
                 ago on its clock (window {window} ms), and did not report losing it"
            ));
        }
        let started = reign.started;
        let heard =
            |v: NodeId| v == id || reign.heard.get(&v).copied().unwrap_or(0).max(started) + window > now;
        if quorum.has_quorum(heard) {
            reign.quorum_loss_due = true;
        }
        Ok(())
    }
}
