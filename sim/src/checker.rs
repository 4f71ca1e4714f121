//! Safety checkers that sit outside the nodes and look at all of them after every event
//! (STYLE.md 9): election safety, leaders elected by a quorum of grants, log matching, leader
//! completeness, state-machine safety, committed entries durable on a quorum, monotonic terms
//! and commit indexes, and role consistency (a node that accepts a leader's entries follows
//! that leader).

use crate::trace::Fnv;
use crate::view::NodeView;
use quorate::core::HardState;
use quorate::log::{EntryKind, LogEntry};
use quorate::membership::Configuration;
use quorate::message::{Message, Payload};
use quorate::quorum::QuorumConfig;
use quorate::types::{LogIndex, NodeId, NodeState, Term};
use std::collections::{BTreeMap, BTreeSet};

/// Identifies an entry's content.
pub fn entry_hash(entry: &LogEntry) -> u64 {
    let mut h = Fnv::default();
    h.add(entry.term.0);
    h.add(entry.index.0);
    h.add(entry.kind as u64);
    h.add_bytes(&entry.command.data);
    h.finish()
}

/// The cluster-wide record the checkers compare every node against.
#[derive(Debug, Default)]
pub struct Checker {
    /// The configuration the cluster started with.
    bootstrap: Configuration,
    /// The configuration entries of the committed log, in order.
    configs: Vec<(LogIndex, Configuration)>,
    /// The quorum rules under which the highest committed index was committed: the
    /// configuration in force at the leader that committed it (which may be a newer one than
    /// the entry's own, committed or not: a leader counts by the configuration it has).
    commit_quorum: Option<QuorumConfig>,
    /// Every configuration entry written anywhere: index -> the terms seen there.
    config_entries: BTreeMap<LogIndex, BTreeSet<Term>>,
    /// The leader of each term.
    leaders: BTreeMap<Term, NodeId>,
    /// The committed log as first observed: (term, content hash) per index, from index 1.
    committed: Vec<(Term, u64)>,
    /// Per committed index, the term of the node that first reported it committed: the term
    /// in which it was committed, for leader completeness.
    committed_in: Vec<Term>,
    /// Every entry seen in any log: (index, term) -> (content hash, term of the entry before).
    entries: BTreeMap<(LogIndex, Term), (u64, Term)>,
    /// Per running node: the last (term, commit) seen, which must never decrease.
    seen: BTreeMap<NodeId, (Term, LogIndex)>,
    /// Per node: the last durable hard state seen, which must never go back.
    durable: BTreeMap<NodeId, HardState>,
    /// Every vote granted on the wire: (voter, term) -> candidate.
    votes: BTreeMap<(NodeId, Term), NodeId>,
    /// Granted votes delivered to each candidate: (candidate, term) -> the voters.
    grants: BTreeMap<(NodeId, Term), BTreeSet<NodeId>>,
}

/// A broken invariant, described.
pub type Violation = String;

impl Checker {
    /// A checker for a cluster that starts with `voters`.
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Self {
        Checker { bootstrap: Configuration::new(voters), ..Checker::default() }
    }

    /// The configuration in force for the committed entry at `index`: the last committed
    /// configuration entry at or before it.
    pub fn config_at(&self, index: LogIndex) -> &Configuration {
        let k = self.configs.partition_point(|(i, _)| *i <= index);
        k.checked_sub(1).map_or(&self.bootstrap, |k| &self.configs[k].1)
    }

    /// The quorum rules under which the highest committed index was committed.
    pub fn commit_quorum(&self) -> QuorumConfig {
        self.commit_quorum.clone().unwrap_or_else(|| self.bootstrap.quorum())
    }

    /// At most one membership change in progress: when a leader appends a configuration
    /// entry of its term, no other configuration entry of its log lies after its commit
    /// index (it waits for each change to commit before the next; C_new follows a committed
    /// C_old,new). `entries` are what `core` is about to write.
    pub fn check_config_appends<'a>(
        &mut self,
        core: &impl NodeView,
        entries: impl IntoIterator<Item = &'a LogEntry>,
    ) -> Result<(), Violation> {
        for e in entries.into_iter().filter(|e| e.kind == EntryKind::Config) {
            self.config_entries.entry(e.index).or_default().insert(e.term);
            if core.state() != NodeState::Leader || e.term != core.term() {
                continue;
            }
            let committed = core.committed();
            for (&i, terms) in self.config_entries.range(committed.next()..e.index) {
                if core.term_at(i).is_some_and(|t| terms.contains(&t)) {
                    return Err(format!(
                        "one change at a time: {}, leader of term {}, appends a configuration at {} while the one \
                         at {i} is not committed (commit {committed})",
                        core.id(),
                        core.term(),
                        e.index
                    ));
                }
            }
        }
        Ok(())
    }

    /// Configuration changes committed so far that completed one (a stable configuration:
    /// a learner added or removed, or C_new).
    pub fn completed_changes(&self) -> u64 {
        self.configs.iter().filter(|(_, c)| !c.is_joint()).count() as u64
    }

    /// The highest committed index observed anywhere.
    pub fn committed_index(&self) -> LogIndex {
        LogIndex(self.committed.len() as u64)
    }

    /// The term of the committed entry at `index`.
    pub fn committed_term(&self, index: LogIndex) -> Option<Term> {
        let pos = index.0.checked_sub(1)?;
        self.committed.get(pos as usize).map(|(t, _)| *t)
    }

    /// Checks a running node after an event. `vote_durable`: its disk holds its current
    /// term and its vote for itself. A leader counts as one (for election safety, the quorum
    /// that elected it, leader completeness) once it does: a single voter wins its election
    /// at once, before its vote is written, and one that crashes before the write was never
    /// a leader anyone could see (nothing it sends leaves before the write), though another
    /// may then be elected in that term.
    pub fn check_node(
        &mut self,
        id: NodeId,
        core: &impl NodeView,
        vote_durable: bool,
    ) -> Result<(), Violation> {
        let before = self.seen.get(&id).copied();
        self.check_monotonic(id, core)?;
        if core.state() == NodeState::Leader && vote_durable {
            self.check_leader(id, core)?;
        }
        // The committed prefix only needs checking when the commit index moved (or the node
        // just started): an unchanged prefix was checked before.
        if before.map(|(_, commit)| commit) != Some(core.committed()) {
            self.check_commit(id, core)?;
        }
        Ok(())
    }

    fn check_monotonic(&mut self, id: NodeId, core: &impl NodeView) -> Result<(), Violation> {
        let now = (core.term(), core.committed());
        if let Some(&(term, commit)) = self.seen.get(&id) {
            if now.0 < term {
                return Err(format!("{id}: term went back from {term} to {}", now.0));
            }
            if now.1 < commit {
                return Err(format!("{id}: commit index went back from {commit} to {}", now.1));
            }
        }
        self.seen.insert(id, now);
        Ok(())
    }

    /// The leader of `term` (counted once its vote was durable), if any was seen.
    pub fn leader_of(&self, term: Term) -> Option<NodeId> {
        self.leaders.get(&term).copied()
    }

    /// Election safety (at most one leader per term) and leader completeness (a new leader
    /// holds every committed entry), paper Figure 3.
    fn check_leader(&mut self, id: NodeId, core: &impl NodeView) -> Result<(), Violation> {
        let term = core.term();
        match self.leaders.get(&term) {
            Some(&other) if other != id => {
                return Err(format!("election safety: {other} and {id} are both leaders of term {term}"))
            }
            Some(_) => return Ok(()),
            None => {}
        }
        self.leaders.insert(term, id);
        self.check_elected_by_quorum(id, core)?;
        // Leader completeness is about earlier terms: an entry committed in term U is in the
        // log of every leader of a term above U. A stale leader of a lower term (elected just
        // before it learns of a newer one) owes nothing to entries committed after its term.
        // Entries its snapshot stands for are the snapshot checker's to judge.
        let compacted = core.snapshot_index();
        let earlier =
            self.committed.iter().zip(&self.committed_in).enumerate().filter(|(_, (_, &u))| u < term);
        for (pos, (&(committed_term, _), _)) in earlier {
            let index = LogIndex(pos as u64 + 1);
            if index < compacted {
                continue;
            }
            if core.term_at(index) != Some(committed_term) {
                return Err(format!(
                    "leader completeness: {id}, leader of term {term}, lacks committed entry {index} of term {committed_term}"
                ));
            }
        }
        Ok(())
    }

    /// A new leader holds granted votes of its term from a majority of its voters: the votes
    /// delivered to it on the wire, each from a distinct voter, plus its own (paper §5.2). This
    /// is counted here, independently of the engine's own tally.
    fn check_elected_by_quorum(&self, id: NodeId, core: &impl NodeView) -> Result<(), Violation> {
        let term = core.term();
        let quorum = core.quorum();
        let received = self.grants.get(&(id, term));
        let granted = |v: NodeId| {
            if v == id {
                core.vote() == Some(id)
            } else {
                received.is_some_and(|g| g.contains(&v))
            }
        };
        // A majority of its configuration's voters (of each half while joint); a learner's
        // grant counts for nothing.
        if !quorum.has_quorum(granted) {
            return Err(format!(
                "election quorum: {id} leads term {term} without granted votes from a quorum of {:?} \
                 (outgoing {:?}; received from {:?}, own vote {:?})",
                quorum.incoming().voters(),
                quorum.outgoing().voters(),
                received.map(|g| g.iter().map(|n| n.0).collect::<Vec<_>>()).unwrap_or_default(),
                core.vote()
            ));
        }
        Ok(())
    }

    /// A message reached its destination: granted votes count towards the candidate's quorum.
    pub fn on_delivered(&mut self, msg: &Message) {
        if let Payload::RequestVoteResponse(resp) = &msg.payload {
            if resp.vote_granted && !resp.pre_vote {
                self.grants.entry((msg.to, resp.term)).or_default().insert(msg.from);
            }
        }
    }

    /// Role consistency: a node that accepts entries (or a heartbeat) from the leader of its
    /// current term is that leader's follower, and names it as its leader, both in its state and
    /// in the answer. `msgs` are what `core` just handed out.
    pub fn check_role(&self, core: &impl NodeView, msgs: &[Message]) -> Result<(), Violation> {
        for msg in msgs {
            let Payload::AppendEntriesResponse(resp) = &msg.payload else { continue };
            if !resp.success || resp.term != core.term() {
                continue;
            }
            let (id, leader) = (msg.from, msg.to);
            if core.state() != NodeState::Follower
                || core.leader() != Some(leader)
                || resp.leader_hint != Some(leader)
            {
                return Err(format!(
                    "role consistency: {id} accepted entries from {leader}, leader of term {}, but is {} \
                     following {:?} and answers with leader hint {:?}",
                    resp.term,
                    core.state(),
                    core.leader(),
                    resp.leader_hint
                ));
            }
        }
        Ok(())
    }

    /// Records newly committed entries and checks a node's committed prefix agrees.
    fn check_commit(&mut self, id: NodeId, core: &impl NodeView) -> Result<(), Violation> {
        let commit = core.committed();
        let known = self.committed_index();
        if commit.0 == 0 {
            return Ok(());
        }
        let check_from = if commit > known { known.next() } else { commit };
        // Entries its snapshot stands for are the snapshot checker's to judge; none of them
        // may be committed entries no checker has seen (a snapshot stands only for what its
        // node applied, after the checkers saw it committed).
        let compacted = core.snapshot_index();
        if compacted >= check_from && compacted > known {
            return Err(format!(
                "{id}: its snapshot stands for entries up to {compacted}, past the committed entries seen ({known})"
            ));
        }
        let mut index = check_from.max(compacted.next());
        while index <= commit {
            let entry = core.entry(index).ok_or_else(|| format!("{id}: committed index {index} missing"))?;
            let record = (entry.term, entry_hash(&entry));
            match self.committed.get(index.0 as usize - 1) {
                Some(&known) if known != record => {
                    return Err(format!(
                        "state machine safety: {id} committed {:?} at {index}, but {:?} was committed there",
                        record, known
                    ))
                }
                Some(_) => {}
                None => {
                    self.committed.push(record);
                    self.committed_in.push(core.term());
                    if entry.kind == EntryKind::Config {
                        let config = Configuration::decode(&entry.command.data)
                            .map_err(|e| format!("{id} committed a configuration entry at {index}: {e}"))?;
                        self.configs.push((index, config));
                    }
                }
            }
            index = index.next();
        }
        if commit > known {
            // The first node to report a commit index is the leader that committed it (the
            // checkers look at every node after each event), by the configuration it has (a
            // newer one than the committed log's, perhaps); one that is no longer leader
            // (a removed leader steps down as its removal commits), or a follower that learned
            // the index from a leader the checkers saw, goes by the committed log's.
            self.commit_quorum = Some(if core.state() == NodeState::Leader {
                core.quorum()
            } else {
                self.config_at(commit).quorum()
            });
        }
        Ok(())
    }

    /// Log matching (§5.3): an entry is identified by its index and term, anywhere. Checked on
    /// every entry once it leaves a node's volatile memory (made durable or sent), with the
    /// term of the entry before it. An entry that never left a node is never seen by anyone.
    pub fn check_entries(
        &mut self,
        id: NodeId,
        prev_term: Term,
        entries: &[LogEntry],
    ) -> Result<(), Violation> {
        let mut prev_term = prev_term;
        for entry in entries {
            let record = (entry_hash(entry), prev_term);
            prev_term = entry.term;
            match self.entries.get(&(entry.index, entry.term)) {
                Some(&known) if known != record => {
                    return Err(format!(
                        "log matching: {id} holds a different entry {}/{} (or a different predecessor) than another node",
                        entry.index, entry.term
                    ))
                }
                Some(_) => {}
                None => {
                    self.entries.insert((entry.index, entry.term), record);
                }
            }
        }
        Ok(())
    }

    /// State-machine safety: what a node applies at an index is what was committed there.
    pub fn check_apply(&self, id: NodeId, entry: &LogEntry) -> Result<(), Violation> {
        match self.committed.get(entry.index.0 as usize - 1) {
            Some(&(term, hash)) if term == entry.term && hash == entry_hash(entry) => Ok(()),
            Some(_) => Err(format!(
                "state machine safety: {id} applied an entry at {} that differs from the committed one",
                entry.index
            )),
            None => Err(format!("{id} applied entry {} before anyone committed it", entry.index)),
        }
    }

    /// A node's durable hard state never goes back, across crashes and restarts.
    pub fn check_durable(&mut self, id: NodeId, hs: HardState) -> Result<(), Violation> {
        if let Some(prev) = self.durable.get(&id) {
            if hs.term < prev.term || hs.commit < prev.commit {
                return Err(format!("{id}: durable hard state went back from {prev:?} to {hs:?}"));
            }
            if hs.term == prev.term && prev.vote.is_some() && hs.vote != prev.vote {
                return Err(format!(
                    "{id}: durable vote of term {} changed from {:?} to {:?}",
                    hs.term, prev.vote, hs.vote
                ));
            }
        }
        self.durable.insert(id, hs);
        Ok(())
    }

    /// One vote per term (§5.2), as seen on the wire: a node never grants two candidates a
    /// vote in the same term, even across a crash.
    pub fn check_sent(&mut self, msg: &Message) -> Result<(), Violation> {
        if let Payload::AppendEntries(req) = &msg.payload {
            return self.check_entries(msg.from, req.prev_log_term, &req.entries);
        }
        let Payload::RequestVoteResponse(resp) = &msg.payload else { return Ok(()) };
        if !resp.vote_granted || resp.pre_vote {
            return Ok(());
        }
        match self.votes.insert((msg.from, resp.term), msg.to) {
            Some(previous) if previous != msg.to => Err(format!(
                "one vote per term: {} granted its vote in term {} to {previous} and then to {}",
                msg.from, resp.term, msg.to
            )),
            _ => Ok(()),
        }
    }

    /// Forgets a node's volatile view (it crashed); its durable view stays.
    pub fn on_crash(&mut self, id: NodeId) {
        self.seen.remove(&id);
    }

    /// After a restart, the node starts from at least its last durable term and commit.
    pub fn check_restart(&mut self, id: NodeId, core: &impl NodeView) -> Result<(), Violation> {
        if let Some(hs) = self.durable.get(&id) {
            if core.term() < hs.term || core.committed() < hs.commit {
                return Err(format!(
                    "{id} restarted at term {} commit {} below its durable term {} commit {}",
                    core.term(),
                    core.committed(),
                    hs.term,
                    hs.commit
                ));
            }
        }
        self.check_votes_remembered(id, core)
    }

    /// Every vote a node granted on the wire survives its crash: after a restart it is in a
    /// later term, or in that term still voting for the same candidate. (A vote must be
    /// durable before it is sent, paper Figure 2.)
    fn check_votes_remembered(&self, id: NodeId, core: &impl NodeView) -> Result<(), Violation> {
        let (term, vote) = (core.term(), core.vote());
        for (&(_, voted_term), &candidate) in self.votes.range((id, Term(0))..=(id, Term(u64::MAX))) {
            if voted_term > term || (voted_term == term && vote != Some(candidate)) {
                return Err(format!(
                    "{id} granted its vote in term {voted_term} to {candidate}, but restarted in term {term} \
                     voting for {vote:?}: the vote was sent before it was durable"
                ));
            }
        }
        Ok(())
    }
}
