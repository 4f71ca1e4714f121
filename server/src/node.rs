//! The driver of one node: a tokio task that owns the core and feeds it the network's
//! messages, the clients' requests and its timers, and hands every batch to the one
//! pipeline ([`Pipeline`]) with the disk ([`DiskLog`]), the network ([`NetTransport`]) and
//! the key-value store ([`KvApply`]).
//!
//! The disk's writes and fsyncs run on the log writer's thread, never on the async threads:
//! [`DiskLog::sync`] only asks for a sync, and the writer's report comes back here as an
//! event, after which the pipeline sends what waited for durability and applies what
//! committed. Inputs that arrive together are stepped together before the pipeline runs, so
//! many proposals share one write and one fsync.

use crate::metrics::Metrics;
use crate::storage::DiskLog;
use crate::transport::{NetTransport, Peers};
use quorate::config::DynamicConfig;
use quorate::core::{Core, Input, ReadKind, ReadState};
use quorate::driver::{Apply, Pipeline};
use quorate::error::{RaftError, RaftResult};
use quorate::kv::{KvCommand, KvOp, KvResult, KvStore};
use quorate::log::{Command, EntryKind, LogEntry};
use quorate::membership::MembershipChange;
use quorate::message::Message;
use quorate::requests::{PendingRequests, RequestId};
use quorate::snapshot::Snapshot;
use quorate::types::{LogIndex, NodeId, NodeState, Term};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// Inputs handled per wake-up before the pipeline runs (bounds the latency one burst adds).
const BURST: usize = 1024;

/// Why a request was not served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Another node leads (or none is known): the client should go there.
    NotLeader {
        /// The leader, if known.
        leader: Option<NodeId>,
    },
    /// The request may succeed later (a timed-out read, an entry another leader replaced, a
    /// node stopping): retry.
    Unavailable(String),
    /// The request cannot succeed as asked.
    Invalid(String),
}

impl Refusal {
    fn from_error(err: RaftError) -> Refusal {
        match err {
            RaftError::NotLeader { leader_id } => Refusal::NotLeader { leader: leader_id },
            RaftError::CommandTooLarge { .. } | RaftError::ConfigError(_) => {
                Refusal::Invalid(err.to_string())
            }
            RaftError::NodeAlreadyMember { .. } | RaftError::NodeNotMember { .. } => {
                Refusal::Invalid(err.to_string())
            }
            other => Refusal::Unavailable(other.to_string()),
        }
    }
}

/// How a read is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    /// Linearizable: the leader confirms its leadership with a round of heartbeats.
    Linearizable,
    /// Linearizable while the leader's lease holds (bounded clock drift), else as above.
    Lease,
    /// Whatever this node has applied: may be stale.
    Stale,
}

/// A write's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The log index it took effect at (a retry's is its first try's).
    pub index: u64,
    /// What the store answered.
    pub result: KvResult,
}

/// A node's state, for `GET /v1/status`.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// This node.
    pub node_id: u64,
    /// Its term.
    pub term: u64,
    /// "follower", "pre-candidate", "candidate" or "leader".
    pub role: &'static str,
    /// The leader it knows, if any.
    pub leader: Option<u64>,
    /// The leader's HTTP URL, if known.
    pub leader_url: Option<String>,
    /// The commit index.
    pub commit_index: u64,
    /// The applied index.
    pub applied_index: u64,
    /// The last index of its log.
    pub last_index: u64,
    /// The voters and learners, with the addresses the configuration gives.
    pub members: Vec<Member>,
    /// Still catching up with the commit index (applied < commit).
    pub recovering: bool,
}

/// One member, in a [`Status`].
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    /// Its id.
    pub id: u64,
    /// Its peer address, if known.
    pub addr: Option<String>,
    /// "voter" or "learner".
    pub kind: &'static str,
}

/// A request to the node's driver.
pub enum Request {
    /// A write (or a compare-and-set) of the key-value store.
    Write {
        /// Identifies the request across retries.
        id: RequestId,
        /// The operation.
        op: KvOp,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<Written, Refusal>>,
    },
    /// A read.
    Read {
        /// The key.
        key: String,
        /// How to serve it.
        consistency: Consistency,
        /// Where the value goes (`None`: absent).
        reply: oneshot::Sender<Result<Option<String>, Refusal>>,
    },
    /// The node's state.
    Status {
        /// Where it goes.
        reply: oneshot::Sender<Status>,
    },
    /// A membership change (a node added goes through a learner first); answered once its
    /// entry is applied.
    Membership {
        /// The change.
        change: MembershipChange,
        /// Where the entry's index goes.
        reply: oneshot::Sender<Result<u64, Refusal>>,
    },
    /// Hand leadership to a voter; answered once another node leads, or refused after an
    /// election timeout.
    Transfer {
        /// The voter.
        to: NodeId,
        /// Where the new leader goes.
        reply: oneshot::Sender<Result<u64, Refusal>>,
    },
    /// New values for the configuration's dynamic part (SIGHUP).
    Reload(DynamicConfig),
}

/// Where a read's value goes.
type ReadReply = oneshot::Sender<Result<Option<String>, Refusal>>;

/// The key-value store as the pipeline's state machine, with the clients waiting on it.
struct KvApply {
    kv: KvStore,
    applied: LogIndex,
    writes: PendingRequests<oneshot::Sender<Result<Written, Refusal>>>,
    reads: BTreeMap<u64, (String, ReadReply)>,
    /// Membership changes waiting for their entry: index, term, reply.
    changes: BTreeMap<LogIndex, (Term, oneshot::Sender<Result<u64, Refusal>>)>,
    metrics: Arc<Metrics>,
}

impl KvApply {
    fn settle_changes(&mut self, entry: &LogEntry) {
        while let Some(first) = self.changes.first_entry() {
            if *first.key() > entry.index {
                break;
            }
            let (at, (term, reply)) = first.remove_entry();
            let outcome = if at == entry.index && term == entry.term {
                Ok(at.0)
            } else {
                Err(Refusal::Unavailable("another leader's entry replaced the change: retry".into()))
            };
            let _ = reply.send(outcome);
        }
    }
}

impl Apply for KvApply {
    fn apply(&mut self, entries: &[LogEntry]) {
        for entry in entries {
            self.applied = entry.index;
            self.settle_changes(entry);
            let command =
                (entry.kind == EntryKind::Normal).then(|| KvCommand::decode(&entry.command.data)).flatten();
            let Some(cmd) = command else {
                for reply in self.writes.applied(entry.index, None).superseded {
                    let _ = reply
                        .send(Err(Refusal::Unavailable("another leader's entry replaced it: retry".into())));
                }
                continue;
            };
            let result = self.kv.apply(&cmd, entry.index.0);
            // A repeat answered from the session reports where the request took effect.
            let index = self
                .kv
                .session(cmd.client)
                .filter(|(seq, _)| *seq == cmd.seq)
                .map_or(entry.index.0, |(_, at)| at);
            let settled =
                self.writes.applied(entry.index, Some(RequestId { client: cmd.client, seq: cmd.seq }));
            for reply in settled.done {
                let outcome = match &result {
                    Some(result) => Ok(Written { index, result: result.clone() }),
                    None => Err(Refusal::Invalid("the client already sent a newer request".into())),
                };
                let _ = reply.send(outcome);
            }
            for reply in settled.superseded {
                let _ =
                    reply.send(Err(Refusal::Unavailable("another leader's entry replaced it: retry".into())));
            }
        }
        self.metrics.applied_index.store(self.applied.0, Ordering::Relaxed);
    }

    fn restore(&mut self, snapshot: &Snapshot) -> RaftResult<()> {
        let Some(kv) = KvStore::decode(&snapshot.data) else {
            return Err(RaftError::StateMachineError {
                index: snapshot.meta.index,
                message: "the snapshot's data is not a key-value store".into(),
            });
        };
        self.kv = kv;
        self.applied = snapshot.meta.index;
        for reply in self.writes.applied(snapshot.meta.index, None).superseded {
            let _ = reply.send(Err(Refusal::Unavailable("replaced by a snapshot: retry".into())));
        }
        self.metrics.snapshots_installed.fetch_add(1, Ordering::Relaxed);
        self.metrics.applied_index.store(self.applied.0, Ordering::Relaxed);
        Ok(())
    }

    fn read(&mut self, state: ReadState) {
        let Some((key, reply)) = self.reads.remove(&state.ctx) else { return };
        let outcome = match state.result {
            Ok(_) => Ok(self.kv.get(&key).map(String::from)),
            Err(e) => Err(Refusal::from_error(e)),
        };
        let _ = reply.send(outcome);
    }
}

/// Everything the driver task needs.
pub struct Driver {
    core: Core,
    pipeline: Pipeline,
    store: DiskLog,
    net: NetTransport,
    apply: KvApply,
    peers: Arc<Peers>,
    metrics: Arc<Metrics>,
    started: Instant,
    next_ctx: u64,
    transfers: Vec<(u64, oneshot::Sender<Result<u64, Refusal>>)>,
    config_index: LogIndex,
    static_config: quorate::config::RaftConfig,
}

/// The channels into a running driver.
pub struct Inputs {
    /// Messages from peers.
    pub inbox: mpsc::Receiver<Message>,
    /// Client requests.
    pub requests: mpsc::Receiver<Request>,
    /// The log writer's reports.
    pub synced: mpsc::UnboundedReceiver<Result<u64, String>>,
    /// Flips to true when the node must stop.
    pub stop: watch::Receiver<bool>,
}

impl Driver {
    /// A driver for `core`, whose state machine starts as `kv` (restored from the latest
    /// snapshot) at `applied`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        core: Core,
        store: DiskLog,
        peers: Arc<Peers>,
        metrics: Arc<Metrics>,
        kv: KvStore,
        applied: LogIndex,
        started: Instant,
        static_config: quorate::config::RaftConfig,
    ) -> Driver {
        let apply = KvApply {
            kv,
            applied,
            writes: PendingRequests::new(),
            reads: BTreeMap::new(),
            changes: BTreeMap::new(),
            metrics: Arc::clone(&metrics),
        };
        Driver {
            core,
            pipeline: Pipeline::new(),
            store,
            net: NetTransport(Arc::clone(&peers)),
            apply,
            peers,
            metrics,
            started,
            next_ctx: 0,
            transfers: Vec::new(),
            config_index: LogIndex(0),
            static_config,
        }
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Runs until told to stop (`Ok`) or the disk fails (`Err`, naming what failed).
    pub async fn run(mut self, mut inputs: Inputs) -> Result<(), String> {
        self.learn_addresses();
        loop {
            let wait = self.core.next_deadline().saturating_sub(self.now()).max(1);
            // Wait for anything, then take everything that is ready, from every source: a
            // busy peer cannot starve the clients (nor the other way round).
            tokio::select! {
                biased;
                _ = inputs.stop.changed() => break,
                Some(report) = inputs.synced.recv() => self.pipeline.synced(report?),
                Some(msg) = inputs.inbox.recv() => self.message(msg),
                Some(request) = inputs.requests.recv() => self.request(request),
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            }
            while let Ok(report) = inputs.synced.try_recv() {
                self.pipeline.synced(report?);
            }
            for _ in 0..BURST {
                let Ok(msg) = inputs.inbox.try_recv() else { break };
                self.message(msg);
            }
            for _ in 0..BURST {
                let Ok(request) = inputs.requests.try_recv() else { break };
                self.request(request);
            }
            let now = self.now();
            if let Err(e) = self.core.step(Input::Tick { now }) {
                tracing::warn!(error = %e, "tick");
            }
            self.drive()?;
            self.after_drive()?;
        }
        // Stop: what is queued is written and fsynced before the writer's thread ends.
        self.store.stop();
        Ok(())
    }

    fn drive(&mut self) -> Result<(), String> {
        self.pipeline
            .drive(&mut self.core, &mut self.store, &mut self.net, &mut self.apply)
            .map_err(|e| format!("the node cannot go on: {e}"))
    }

    fn message(&mut self, msg: Message) {
        if let Err(e) = self.core.step(Input::Message(msg)) {
            tracing::debug!(error = %e, "a message was refused");
        }
    }

    fn request(&mut self, request: Request) {
        match request {
            Request::Write { id, op, reply } => {
                let command = Command::new(KvCommand { client: id.client, seq: id.seq, op }.encode());
                // The waiter is handed over only if the proposal is taken; otherwise the
                // refusal goes back through a second channel end.
                let (tx, rx) = oneshot::channel();
                match self.apply.writes.propose(&mut self.core, id, command, tx) {
                    Ok(proposed) => {
                        if matches!(proposed, quorate::requests::Proposed::Appended(_)) {
                            self.metrics.proposals.fetch_add(1, Ordering::Relaxed);
                        }
                        tokio::spawn(async move {
                            let outcome = rx
                                .await
                                .unwrap_or_else(|_| Err(Refusal::Unavailable("the node stopped".into())));
                            let _ = reply.send(outcome);
                        });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Refusal::from_error(e)));
                    }
                }
            }
            Request::Read { key, consistency, reply } => {
                let kind = match consistency {
                    Consistency::Stale => {
                        let _ = reply.send(Ok(self.apply.kv.get(&key).map(String::from)));
                        return;
                    }
                    Consistency::Linearizable => ReadKind::ReadIndex,
                    Consistency::Lease => ReadKind::Lease,
                };
                if self.core.state() != NodeState::Leader {
                    let _ = reply.send(Err(Refusal::NotLeader { leader: self.core.leader() }));
                    return;
                }
                self.next_ctx += 1;
                let ctx = self.next_ctx;
                match self.core.step(Input::Read { ctx, kind }) {
                    Ok(_) => {
                        self.apply.reads.insert(ctx, (key, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Refusal::from_error(e)));
                    }
                }
            }
            Request::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Request::Membership { change, reply } => {
                let through_learner = matches!(change, MembershipChange::AddNode { .. });
                if let MembershipChange::AddNode { node_id, address } = &change {
                    self.peers.set_addr(*node_id, address.clone());
                }
                match self.core.step(Input::ChangeMembership { change, through_learner }) {
                    Ok(Some(index)) => {
                        let term = self.core.term();
                        self.apply.changes.insert(index, (term, reply));
                    }
                    Ok(None) => {
                        let _ = reply.send(Err(Refusal::Unavailable("the change was not proposed".into())));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Refusal::from_error(e)));
                    }
                }
            }
            Request::Transfer { to, reply } => {
                if self.core.state() != NodeState::Leader {
                    let _ = reply.send(Err(Refusal::NotLeader { leader: self.core.leader() }));
                    return;
                }
                match self.core.step(Input::TransferLeadership { to }) {
                    Ok(_) => {
                        let deadline = self.now() + 2 * self.core.config().election_timeout_max_ms;
                        self.transfers.push((deadline, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Refusal::from_error(e)));
                    }
                }
            }
            Request::Reload(update) => {
                let corrected = self.static_config.with_dynamic(&update).dynamic();
                if let Err(e) = self.core.step(Input::UpdateDynamicConfig(update)) {
                    tracing::warn!(error = %e, "the reloaded configuration was refused");
                } else {
                    tracing::info!(?corrected, "reloaded the dynamic configuration");
                }
            }
        }
    }

    /// After the pipeline ran: a snapshot if one is due, peers' addresses from a new
    /// configuration, transfers that completed or gave up, the gauges.
    fn after_drive(&mut self) -> Result<(), String> {
        let log = self.core.log();
        let point = log.snapshot_point().index;
        let threshold = self.core.config().snapshot_threshold;
        let applied = self.apply.applied;
        if threshold > 0 && log.len() as u64 > threshold && applied > point && applied <= log.applied() {
            let data = self.apply.kv.encode();
            match self.core.take_snapshot(applied, data.into()) {
                Ok(true) => {
                    self.metrics.snapshots_taken.fetch_add(1, Ordering::Relaxed);
                    self.drive()?;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "the engine refused a snapshot"),
            }
        }
        self.learn_addresses();
        if !self.transfers.is_empty() {
            let now = self.now();
            let me = self.core.id();
            match self.core.leader() {
                Some(leader) if leader != me => {
                    for (_, reply) in self.transfers.drain(..) {
                        let _ = reply.send(Ok(leader.0));
                    }
                }
                _ => {
                    let (expired, waiting) =
                        std::mem::take(&mut self.transfers).into_iter().partition(|(d, _)| *d <= now);
                    self.transfers = waiting;
                    for (_, reply) in expired {
                        let _ = reply
                            .send(Err(Refusal::Unavailable("the transfer did not complete in time".into())));
                    }
                }
            }
        }
        let m = &self.metrics;
        m.term.store(self.core.term().0, Ordering::Relaxed);
        m.role.store(role(&self.core).1, Ordering::Relaxed);
        m.commit_index.store(self.core.log().committed().0, Ordering::Relaxed);
        m.elections.store(self.core.stats().elections, Ordering::Relaxed);
        Ok(())
    }

    /// Peers' addresses from the configuration in force, when it changed.
    fn learn_addresses(&mut self) {
        let index = self.core.configuration_index();
        if index == self.config_index && index != LogIndex(0) {
            return;
        }
        self.config_index = index;
        for (id, addr) in &self.core.configuration().addresses {
            self.peers.set_addr(*id, addr.clone());
        }
    }

    fn status(&self) -> Status {
        let core = &self.core;
        let config = core.configuration();
        let member = |id: &NodeId, kind| Member {
            id: id.0,
            addr: self.peers.addr(*id).or_else(|| config.addresses.get(id).cloned()),
            kind,
        };
        let mut members: Vec<Member> = config
            .members()
            .iter()
            .filter(|id| config.is_voter(**id))
            .map(|id| member(id, "voter"))
            .collect();
        members.extend(
            config.members().iter().filter(|id| !config.is_voter(**id)).map(|id| member(id, "learner")),
        );
        let leader = core.leader();
        let (role, _) = role(core);
        let commit = core.log().committed().0;
        Status {
            node_id: core.id().0,
            term: core.term().0,
            role,
            leader: leader.map(|l| l.0),
            leader_url: leader.and_then(|l| self.peers.http_addr(l)).map(|a| format!("http://{a}")),
            commit_index: commit,
            applied_index: self.apply.applied.0,
            last_index: core.log().last_index().0,
            members,
            recovering: self.apply.applied.0 < commit,
        }
    }
}

/// The node's role, as `GET /v1/status` names it and as the `quorate_role` gauge numbers it.
fn role(core: &Core) -> (&'static str, u64) {
    match core.state() {
        _ if core.is_pre_candidate() => ("pre-candidate", 1),
        NodeState::Leader => ("leader", 3),
        NodeState::Candidate => ("candidate", 2),
        _ => ("follower", 0),
    }
}
