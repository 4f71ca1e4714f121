//! Helpers shared by the integration tests: logs and cores built by hand, hand-written wire
//! messages, and a minimal driver that drains a core's output the way the contract says
//! (persist, send, apply, advance), keeping no disk of its own.

#![allow(dead_code)]

use quorate::core::Core;
use quorate::testing::Cluster;
use quorate::{
    AppendEntriesRequest, AppendEntriesResponse, Command, DurableState, HardState, Input, LogEntry, LogIndex,
    Message, NodeId, Payload, RaftConfig, Ready, RequestVoteRequest, RequestVoteResponse, Term,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// A normal entry whose payload is derived from its position, so two entries with the same
/// index and term carry the same bytes (the log matching property holds by construction).
pub fn entry(index: u64, term: u64) -> LogEntry {
    LogEntry::new(Term(term), LogIndex(index), Command::new(vec![index as u8, term as u8]))
}

/// A log whose entry `k + 1` has term `terms[k]`.
pub fn log_of(terms: &[u64]) -> Vec<LogEntry> {
    terms.iter().enumerate().map(|(k, &t)| entry(k as u64 + 1, t)).collect()
}

/// Entries `first..` with the given terms.
pub fn entries_from(first: u64, terms: &[u64]) -> Vec<LogEntry> {
    terms.iter().enumerate().map(|(k, &t)| entry(first + k as u64, t)).collect()
}

/// The terms of a core's log, in order.
pub fn terms(core: &Core) -> Vec<u64> {
    core.log().entries().iter().map(|e| e.term.0).collect()
}

/// The durable state of a node: a log of `terms`, a hard state of `term`, `vote`, `commit`.
pub fn durable(terms: &[u64], term: u64, vote: Option<u64>, commit: u64) -> DurableState {
    DurableState {
        hard_state: HardState { term: Term(term), vote: vote.map(NodeId), commit: LogIndex(commit) },
        entries: log_of(terms),
        ..DurableState::default()
    }
}

/// Node `id` of a cluster of voters `1..=n`, with default settings.
pub fn config(id: u64, n: u64) -> RaftConfig {
    RaftConfig::new(id, 1..=n)
}

/// A core recovered from `durable` at time 0.
pub fn core_from(config: RaftConfig, durable: DurableState) -> Core {
    let rng = ChaCha8Rng::seed_from_u64(config.node_id.0);
    Core::new(config, durable, rng, 0).expect("valid test core")
}

/// Node `id` of `1..=n` with a log of `terms`, at `term`, no vote, nothing committed.
pub fn core(id: u64, n: u64, terms: &[u64], term: u64) -> Core {
    core_from(config(id, n), durable(terms, term, None, 0))
}

/// Drains every ready of `core` as a driver would (everything "persisted" and "applied") and
/// returns the readies.
pub fn drain_readies(core: &mut Core) -> Vec<Ready> {
    let mut out = Vec::new();
    while core.has_ready() {
        let ready = core.ready();
        core.advance(&ready);
        out.push(ready);
    }
    out
}

/// Drains every ready of `core` and returns all the messages it sent.
pub fn drain(core: &mut Core) -> Vec<Message> {
    drain_readies(core)
        .into_iter()
        .flat_map(|r| r.messages.into_iter().chain(r.messages_when_durable))
        .collect()
}

/// Delivers `payload` from `from` to `core`, then drains it; returns what it sent.
pub fn deliver(core: &mut Core, from: u64, payload: Payload) -> Vec<Message> {
    let msg = Message { from: NodeId(from), to: core.id(), payload };
    core.step(Input::Message(msg)).expect("messages never fail");
    drain(core)
}

/// Like [`deliver`] but returns the readies, to inspect what had to be persisted.
pub fn deliver_readies(core: &mut Core, from: u64, payload: Payload) -> Vec<Ready> {
    let msg = Message { from: NodeId(from), to: core.id(), payload };
    core.step(Input::Message(msg)).expect("messages never fail");
    drain_readies(core)
}

pub fn append(term: u64, leader: u64, prev: (u64, u64), entries: Vec<LogEntry>, commit: u64) -> Payload {
    Payload::AppendEntries(AppendEntriesRequest {
        term: Term(term),
        leader_id: NodeId(leader),
        prev_log_index: LogIndex(prev.0),
        prev_log_term: Term(prev.1),
        entries,
        leader_commit: LogIndex(commit),
    })
}

pub fn vote_request(term: u64, candidate: u64, last_index: u64, last_term: u64) -> Payload {
    Payload::RequestVote(RequestVoteRequest {
        term: Term(term),
        candidate_id: NodeId(candidate),
        last_log_index: LogIndex(last_index),
        last_log_term: Term(last_term),
        pre_vote: false,
    })
}

pub fn vote(term: u64, granted: bool) -> Payload {
    Payload::RequestVoteResponse(RequestVoteResponse {
        term: Term(term),
        vote_granted: granted,
        pre_vote: false,
    })
}

/// A successful append acknowledgement proving `match_index`.
pub fn ack(term: u64, match_index: u64, last_log_index: u64) -> Payload {
    Payload::AppendEntriesResponse(AppendEntriesResponse {
        term: Term(term),
        success: true,
        match_index: LogIndex(match_index),
        conflict_index: LogIndex(0),
        conflict_term: None,
        last_log_index: LogIndex(last_log_index),
        leader_hint: None,
    })
}

/// The only vote response among `msgs`, addressed to `to`.
pub fn vote_reply(msgs: &[Message], to: u64) -> RequestVoteResponse {
    let replies: Vec<_> = msgs
        .iter()
        .filter(|m| m.to == NodeId(to))
        .filter_map(|m| match &m.payload {
            Payload::RequestVoteResponse(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 1, "exactly one vote response to {to} in {msgs:?}");
    replies[0].clone()
}

/// The only append response among `msgs`, addressed to `to`.
pub fn append_reply(msgs: &[Message], to: u64) -> AppendEntriesResponse {
    let replies: Vec<_> = msgs
        .iter()
        .filter(|m| m.to == NodeId(to))
        .filter_map(|m| match &m.payload {
            Payload::AppendEntriesResponse(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 1, "exactly one append response to {to} in {msgs:?}");
    replies[0].clone()
}

/// Makes `core` campaign (no pre-vote) and win with grants from `voters`; drains it.
pub fn make_leader(core: &mut Core, voters: &[u64]) -> Vec<Message> {
    core.step(Input::Campaign).expect("campaign does not fail");
    let mut out = drain(core);
    let term = core.term().0;
    for &v in voters {
        out.extend(deliver(core, v, vote(term, true)));
    }
    assert_eq!(core.state(), quorate::NodeState::Leader, "the grants make a leader");
    out
}

/// Replaces node `id` of `cluster` by one recovered from `durable` (its disk becomes `durable`).
pub fn install(cluster: &mut Cluster, config: RaftConfig, durable: DurableState) {
    let id = config.node_id;
    let rng = ChaCha8Rng::seed_from_u64(id.0 ^ 0x5eed);
    let mut core = Core::new(config, durable.clone(), rng, cluster.now).expect("valid test core");
    let log = quorate::driver::MemoryLog::recovered(&durable);
    core.set_log_source(std::sync::Arc::new(log.clone()));
    let node = cluster.nodes.get_mut(&id).expect("node exists");
    node.core = core;
    node.log = log;
    node.disk = durable;
    node.applied.clear();
    node.up = true;
}

/// (index, term) of every entry a node of the cluster applied.
pub fn applied(cluster: &Cluster, id: u64) -> Vec<(u64, u64)> {
    cluster.node(id).applied.iter().map(|e| (e.index.0, e.term.0)).collect()
}
