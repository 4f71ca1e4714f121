//! Snapshots through the seed's API and at recovery: taking one (`maybe_create_snapshot`,
//! `auto_snapshot_if_needed`), sending it (`follower_needs_snapshot`,
//! `prepare_install_snapshot`), installing it (`handle_install_snapshot`), restarting from
//! it, and the four halves of defect 6 of the seed (no restore on followers, the leader not
//! advancing a follower after a snapshot, a lost chunk wedging the transfer, no end-to-end
//! checksum), each a test that fails on that behaviour.

mod common;

use common::*;
use quorate::clock::ManualClock;
use quorate::{
    AppendEntriesRequest, Bytes, Command, DurableState, HardState, InstallSnapshotRequest,
    InstallSnapshotResponse, LogEntry, LogIndex, MemPersistence, NodeId, Payload, RaftConfig, RaftError,
    RaftNode, RaftPersistence, RaftResult, Snapshot, SnapshotMeta, SnapshotPoint, SnapshotPolicy,
    StateMachine, Term,
};
use std::sync::{Arc, Mutex};

/// A state machine holding the commands applied, in order, shared with the test; its
/// snapshot is the commands, each prefixed with its length.
#[derive(Clone, Default)]
struct Commands {
    state: Arc<Mutex<Vec<Vec<u8>>>>,
    restores: Arc<Mutex<u64>>,
}

impl Commands {
    fn get(&self) -> Vec<Vec<u8>> {
        self.state.lock().unwrap().clone()
    }

    fn restores(&self) -> u64 {
        *self.restores.lock().unwrap()
    }
}

impl StateMachine for Commands {
    fn apply(&mut self, entry: &LogEntry) -> RaftResult<Vec<u8>> {
        self.state.lock().unwrap().push(entry.command.data.to_vec());
        Ok(Vec::new())
    }

    fn snapshot(&self) -> RaftResult<Vec<u8>> {
        let mut out = Vec::new();
        for c in self.state.lock().unwrap().iter() {
            out.extend_from_slice(&(c.len() as u32).to_le_bytes());
            out.extend_from_slice(c);
        }
        Ok(out)
    }

    fn restore(&mut self, mut data: &[u8]) -> RaftResult<()> {
        let mut state = Vec::new();
        while !data.is_empty() {
            let bad = || RaftError::Other("a truncated snapshot".into());
            let len = u32::from_le_bytes(data.get(..4).ok_or_else(bad)?.try_into().unwrap()) as usize;
            state.push(data.get(4..4 + len).ok_or_else(bad)?.to_vec());
            data = &data[4 + len..];
        }
        *self.state.lock().unwrap() = state;
        *self.restores.lock().unwrap() += 1;
        Ok(())
    }
}

/// Three nodes over shared persistences and one manual clock, each with a [`Commands`]
/// state machine.
struct Trio {
    nodes: Vec<RaftNode>,
    machines: Vec<Commands>,
    disks: Vec<Arc<MemPersistence>>,
}

impl Trio {
    fn new(adjust: impl Fn(&mut RaftConfig)) -> Self {
        let clock = Arc::new(ManualClock::new(0));
        let disks: Vec<Arc<MemPersistence>> = (0..3).map(|_| Arc::new(MemPersistence::new())).collect();
        let machines: Vec<Commands> = (0..3).map(|_| Commands::default()).collect();
        let nodes = (1..=3u64)
            .map(|id| {
                let mut config = RaftConfig::new(id, [1, 2, 3]);
                adjust(&mut config);
                let disk: Arc<dyn RaftPersistence> = disks[id as usize - 1].clone();
                let node = RaftNode::with_clock(config, disk, clock.clone()).unwrap();
                node.set_state_machine(machines[id as usize - 1].clone()).unwrap();
                node
            })
            .collect();
        let trio = Trio { nodes, machines, disks };
        let requests = trio.node(1).start_election();
        for (peer, req) in [2u64, 3].into_iter().zip(requests) {
            let resp = trio.node(peer).handle_request_vote(req);
            trio.node(1).handle_vote_response(NodeId(peer), resp);
        }
        assert!(trio.node(1).is_leader());
        trio
    }

    fn node(&self, id: u64) -> &RaftNode {
        &self.nodes[id as usize - 1]
    }

    fn machine(&self, id: u64) -> &Commands {
        &self.machines[id as usize - 1]
    }

    /// Replication rounds from node 1 to `peers` until they stop, then a heartbeat round.
    fn replicate_to(&self, peers: &[u64]) {
        for _ in 0..100 {
            let requests: Vec<(NodeId, AppendEntriesRequest)> = self
                .node(1)
                .replicate_to_followers()
                .into_iter()
                .filter(|(p, _)| peers.contains(&p.0))
                .collect();
            if requests.is_empty() {
                break;
            }
            self.exchange(requests);
        }
        let heartbeats = self.node(1).create_heartbeats().into_iter().filter(|(p, _)| peers.contains(&p.0));
        self.exchange(heartbeats.collect());
    }

    fn exchange(&self, requests: Vec<(NodeId, AppendEntriesRequest)>) {
        for (peer, req) in requests {
            let resp = self.node(peer.0).handle_append_entries(req);
            let _ = self.node(1).handle_replication_response(peer, resp);
        }
    }

    /// Node 1 commits `n` commands with node 2 only (node 3 is cut off), then snapshots.
    fn commit_without_3_and_snapshot(&self, n: u8) -> LogIndex {
        for i in 0..n {
            self.node(1).propose(Command::new(vec![b'c', i])).unwrap();
        }
        self.replicate_to(&[2]);
        let leader = self.node(1);
        assert_eq!(self.machine(1).get().len(), n as usize, "the leader applied everything");
        let data = self.machine(1).snapshot().unwrap();
        assert!(leader.maybe_create_snapshot(data).unwrap(), "the log is past the threshold");
        let snapshot = leader.latest_snapshot().expect("a snapshot");
        assert_eq!(snapshot.meta.config, quorate::Configuration::new([NodeId(1), NodeId(2), NodeId(3)]));
        assert!(snapshot.verify());
        snapshot.meta.index
    }
}

fn small_threshold(c: &mut RaftConfig) {
    c.snapshot_threshold = 5;
}

fn chunked(c: &mut RaftConfig) {
    c.snapshot_threshold = 5;
    c.snapshot_chunk_threshold_bytes = 16;
    c.snapshot_chunk_size_bytes = 16;
}

#[test]
fn defect_6_a_follower_restores_its_state_machine_from_an_installed_snapshot() {
    let t = Trio::new(small_threshold);
    let index = t.commit_without_3_and_snapshot(10);
    assert!(t.node(1).follower_needs_snapshot(NodeId(3)));
    assert!(!t.node(1).follower_needs_snapshot(NodeId(2)), "node 2 is caught up");
    let req = t.node(1).prepare_install_snapshot(NodeId(3)).unwrap().expect("a request");
    assert!(req.done && req.offset == 0, "a small snapshot goes as one request");
    assert_eq!(req.last_included_index, index);
    let resp = t.node(3).handle_install_snapshot(req).unwrap();
    assert!(resp.installed);
    assert_eq!(t.machine(3).restores(), 1);
    assert_eq!(t.machine(3).get(), t.machine(1).get(), "the follower's state is the leader's");
    assert_eq!(t.node(3).commit_index(), index);
    let stored = t.disks[2].load_snapshot().unwrap().expect("durable before acknowledged");
    assert_eq!(stored.meta.index, index);
}

#[test]
fn defect_6_the_leader_advances_a_follower_after_a_snapshot() {
    let t = Trio::new(small_threshold);
    let index = t.commit_without_3_and_snapshot(10);
    t.node(1).propose(Command::new(b"after".to_vec())).unwrap();
    let req = t.node(1).prepare_install_snapshot(NodeId(3)).unwrap().expect("a request");
    t.node(3).handle_install_snapshot(req).unwrap();
    assert!(!t.node(1).follower_needs_snapshot(NodeId(3)), "the follower is past the snapshot");
    assert_eq!(t.node(1).prepare_install_snapshot(NodeId(3)).unwrap(), None, "nothing more to send");
    let req = t.node(1).create_replication_request_for(NodeId(3)).expect("entries after the snapshot");
    assert_eq!(req.prev_log_index, index);
    assert_eq!(req.entries.first().map(|e| e.index), Some(index.next()));
    t.replicate_to(&[2, 3]);
    assert_eq!(t.node(3).last_log_index(), t.node(1).last_log_index());
    assert_eq!(t.node(3).commit_index(), t.node(1).commit_index());
    assert_eq!(t.machine(3).get(), t.machine(1).get());
    assert_eq!(t.machine(3).get().last().map(Vec::as_slice), Some(&b"after"[..]));
}

/// Chunks of a transfer from node 1 to node 3, as prepared.
fn next_chunk(t: &Trio) -> InstallSnapshotRequest {
    t.node(1).prepare_install_snapshot(NodeId(3)).unwrap().expect("a chunk")
}

#[test]
fn defect_6_a_lost_chunk_is_resent_where_the_follower_says() {
    let t = Trio::new(chunked);
    let index = t.commit_without_3_and_snapshot(10);
    let first = next_chunk(&t);
    assert!(!first.done && first.data.len() == 16, "a large snapshot streams in chunks");
    let resp = t.node(3).handle_install_snapshot(first).unwrap();
    assert_eq!((resp.next_offset, resp.installed), (16, false));
    let _lost = next_chunk(&t);
    let third = next_chunk(&t);
    assert_eq!(third.offset, 32);
    let resp = t.node(3).handle_install_snapshot(third).unwrap();
    assert_eq!(resp.next_offset, 16, "a gap: the follower still expects the lost chunk");
    t.node(1).handle_install_snapshot_response(NodeId(3), resp).unwrap();
    let mut chunks = 0;
    loop {
        let chunk = next_chunk(&t);
        chunks += 1;
        assert!(chunks < 20, "the transfer does not converge");
        let resp = t.node(3).handle_install_snapshot(chunk).unwrap();
        t.node(1).handle_install_snapshot_response(NodeId(3), resp.clone()).unwrap();
        if resp.installed {
            break;
        }
    }
    assert_eq!(t.node(3).commit_index(), index);
    assert_eq!(t.machine(3).get(), t.machine(1).get());
    assert!(!t.node(1).follower_needs_snapshot(NodeId(3)));
}

#[test]
fn defect_6_a_lost_chunk_does_not_wedge_a_caller_that_never_reports_answers() {
    let t = Trio::new(chunked);
    t.commit_without_3_and_snapshot(10);
    let mut lost_one = false;
    for round in 0.. {
        assert!(round < 200, "the transfer is wedged");
        match t.node(1).prepare_install_snapshot(NodeId(3)).unwrap() {
            Some(chunk) if chunk.offset == 16 && !lost_one => lost_one = true,
            Some(chunk) => {
                t.node(3).handle_install_snapshot(chunk).unwrap();
            }
            // The leader's side ended: a replication round finds out whether the follower
            // has the snapshot (it rejects the probe if not, and needs a snapshot again).
            None => {
                t.replicate_to(&[3]);
                if t.node(3).commit_index() == t.node(1).commit_index() {
                    break;
                }
            }
        }
    }
    assert!(lost_one);
    assert_eq!(t.machine(3).get(), t.machine(1).get());
}

#[test]
fn defect_6_a_corrupted_snapshot_is_refused_whole_and_a_clean_one_installs() {
    let t = Trio::new(chunked);
    let index = t.commit_without_3_and_snapshot(10);
    let mut last = None;
    let mut corrupted = false;
    while let Some(mut chunk) = t.node(1).prepare_install_snapshot(NodeId(3)).unwrap() {
        if !corrupted {
            let mut data = chunk.data.to_vec();
            data[3] ^= 0x40;
            chunk.data = Bytes::from(data);
            corrupted = true;
        }
        let resp = t.node(3).handle_install_snapshot(chunk).unwrap();
        last = Some(resp.clone());
        if resp.next_offset == 0 || resp.installed {
            break;
        }
    }
    let resp = last.expect("answers");
    assert!(!resp.installed, "a snapshot failing its checksum is not installed");
    assert_eq!(resp.next_offset, 0, "the follower starts over");
    assert_eq!(t.machine(3).restores(), 0, "the state machine is untouched");
    assert!(t.node(3).commit_index() < index);
    t.node(1).handle_install_snapshot_response(NodeId(3), resp).unwrap();
    // The leader handed out the final chunk: it finds out that the follower still needs the
    // snapshot when its probe is rejected, and sends it again.
    for round in 0.. {
        assert!(round < 50, "the transfer does not converge");
        match t.node(1).prepare_install_snapshot(NodeId(3)).unwrap() {
            Some(chunk) => {
                let resp = t.node(3).handle_install_snapshot(chunk).unwrap();
                t.node(1).handle_install_snapshot_response(NodeId(3), resp).unwrap();
            }
            None if t.node(3).commit_index() >= index => break,
            None => t.replicate_to(&[3]),
        }
    }
    assert_eq!(t.node(3).commit_index(), index);
    assert_eq!(t.machine(3).get(), t.machine(1).get());
}

#[test]
fn chunks_that_contradict_themselves_or_exceed_the_limit_are_errors() {
    let t = Trio::new(|c| {
        chunked(c);
        c.max_snapshot_bytes = 64;
    });
    t.commit_without_3_and_snapshot(10);
    let mut chunk = next_chunk(&t);
    chunk.done = true;
    assert!(matches!(t.node(3).handle_install_snapshot(chunk), Err(RaftError::LogInconsistency(_))));
    let mut chunk = next_chunk(&t);
    chunk.total_bytes = 1 << 40;
    assert!(t.node(3).handle_install_snapshot(chunk).is_err(), "above the limit: refused, not allocated");
}

#[test]
fn a_snapshot_above_the_limit_is_refused_and_the_log_kept() {
    let t = Trio::new(|c| {
        small_threshold(c);
        c.max_snapshot_bytes = 8;
    });
    for i in 0..10u8 {
        t.node(1).propose(Command::new(vec![i])).unwrap();
    }
    t.replicate_to(&[2, 3]);
    let last = t.node(1).last_log_index();
    let err = t.node(1).maybe_create_snapshot(vec![0; 9]).unwrap_err();
    assert_eq!(err, RaftError::SnapshotTooLarge { bytes: 9, limit: 8 });
    assert_eq!(t.node(1).latest_snapshot(), None);
    assert_eq!(t.node(1).last_log_index(), last);
}

#[test]
fn maybe_create_snapshot_waits_for_the_threshold() {
    let t = Trio::new(|c| c.snapshot_threshold = 8);
    for i in 0..5u8 {
        t.node(1).propose(Command::new(vec![i])).unwrap();
    }
    t.replicate_to(&[2, 3]);
    assert!(!t.node(1).maybe_create_snapshot(b"state".to_vec()).unwrap(), "6 entries: below 8");
    for i in 0..5u8 {
        t.node(1).propose(Command::new(vec![i])).unwrap();
    }
    t.replicate_to(&[2, 3]);
    assert!(
        t.node(2).maybe_create_snapshot(t.machine(2).snapshot().unwrap()).unwrap(),
        "a follower may compact too"
    );
    let snapshot = t.node(2).latest_snapshot().unwrap();
    assert_eq!(snapshot.meta.index, t.node(2).commit_index(), "at the applied index");
    assert!(!t.node(2).maybe_create_snapshot(b"again".to_vec()).unwrap(), "the log is short again");
}

#[test]
fn auto_snapshot_calls_the_closure_only_when_a_snapshot_is_due() {
    let t = Trio::new(|_| {});
    let policy = SnapshotPolicy { max_log_entries: 6, min_applied: 4 };
    let calls = Mutex::new(0);
    let produce = || {
        *calls.lock().unwrap() += 1;
        t.machine(1).snapshot()
    };
    for i in 0..3u8 {
        t.node(1).propose(Command::new(vec![i])).unwrap();
    }
    t.replicate_to(&[2, 3]);
    assert!(!t.node(1).auto_snapshot_if_needed(&policy, produce).unwrap());
    assert_eq!(*calls.lock().unwrap(), 0, "not due: the closure is not called");
    for i in 0..5u8 {
        t.node(1).propose(Command::new(vec![i])).unwrap();
    }
    t.replicate_to(&[2, 3]);
    assert!(t.node(1).auto_snapshot_if_needed(&policy, produce).unwrap());
    assert_eq!(*calls.lock().unwrap(), 1);
    let err =
        t.node(1).auto_snapshot_if_needed(&SnapshotPolicy { max_log_entries: 0, min_applied: 0 }, || {
            Err(RaftError::Other("serialization failed".into()))
        });
    assert!(err.is_ok(), "nothing applied since the snapshot: not due, the closure is not called");
}

#[test]
fn a_node_restarts_from_its_snapshot_and_replays_the_committed_suffix() {
    let t = Trio::new(small_threshold);
    let index = t.commit_without_3_and_snapshot(10);
    t.node(1).propose(Command::new(b"tail".to_vec())).unwrap();
    t.replicate_to(&[2]);
    let expected = t.machine(1).get();
    let disk: Arc<dyn RaftPersistence> = t.disks[0].clone();
    assert_eq!(disk.load_snapshot_point().unwrap().index, index, "the log storage was compacted");
    assert!(disk.load_log().unwrap().iter().all(|e| e.index > index));
    let restarted = RaftNode::with_persistence(RaftConfig::new(1, [1, 2, 3]), disk).unwrap();
    assert!(restarted.is_recovering(), "until the state machine has caught up");
    let machine = Commands::default();
    restarted.set_state_machine(machine.clone()).unwrap();
    assert!(!restarted.is_recovering());
    assert_eq!(machine.restores(), 1, "restored once from the snapshot");
    assert_eq!(machine.get(), expected, "the snapshot, then the suffix");
}

/// A persistence that keeps no snapshots (the trait's defaults).
struct NoSnapshots(MemPersistence);

impl RaftPersistence for NoSnapshots {
    fn save_hard_state(&self, state: &HardState) -> RaftResult<()> {
        self.0.save_hard_state(state)
    }
    fn load_hard_state(&self) -> RaftResult<HardState> {
        self.0.load_hard_state()
    }
    fn append_entries(&self, entries: &[LogEntry]) -> RaftResult<()> {
        self.0.append_entries(entries)
    }
    fn truncate_log(&self, from: LogIndex) -> RaftResult<()> {
        self.0.truncate_log(from)
    }
    fn load_log(&self) -> RaftResult<Vec<LogEntry>> {
        self.0.load_log()
    }
    fn sync(&self) -> RaftResult<()> {
        self.0.sync()
    }
}

#[test]
fn a_persistence_that_cannot_store_snapshots_refuses_and_keeps_the_whole_log() {
    let node = RaftNode::with_persistence(
        RaftConfig { snapshot_threshold: 2, ..RaftConfig::new(1, [1]) },
        Arc::new(NoSnapshots(MemPersistence::new())),
    )
    .unwrap();
    node.start_election();
    let machine = Commands::default();
    node.set_state_machine(machine.clone()).unwrap();
    for i in 0..5u8 {
        node.propose(Command::new(vec![i])).unwrap();
    }
    let err = node.maybe_create_snapshot(machine.snapshot().unwrap()).unwrap_err();
    assert!(matches!(err, RaftError::StorageError(_)), "{err:?}");
    assert_eq!(node.latest_snapshot(), None, "rebuilt from what is durable");
    assert_eq!(node.last_log_index(), LogIndex(6), "the whole log is kept");
    // Rebuilt from disk, the node is a follower again; it campaigns and goes on.
    node.start_election();
    node.propose(Command::new(b"still works".to_vec())).unwrap();
    assert_eq!(machine.get().len(), 6, "nothing applied twice across the rebuild");
}

fn snapshot_at(index: u64, term: u64) -> Snapshot {
    let meta = SnapshotMeta {
        index: LogIndex(index),
        term: Term(term),
        config: quorate::Configuration::new([NodeId(1), NodeId(2), NodeId(3)]),
    };
    Snapshot::new(meta, Bytes::from_static(b"state"))
}

#[test]
fn a_crash_after_the_snapshot_is_durable_and_before_the_log_is_cut_recovers_both() {
    // The snapshot stands for 1..=5 (term 2 at 5), the log still holds 1..=8.
    let durable = DurableState {
        hard_state: HardState { term: Term(3), vote: None, commit: LogIndex(6) },
        entries: log_of(&[1, 1, 2, 2, 2, 3, 3, 3]),
        latest_snapshot: Some(snapshot_at(5, 2)),
        ..DurableState::default()
    };
    let core = core_from(config(1, 3), durable);
    assert_eq!(core.log().snapshot_point(), SnapshotPoint { index: LogIndex(5), term: Term(2) });
    assert_eq!(terms(&core), vec![3, 3, 3], "the suffix after the snapshot is kept");
    assert_eq!(core.log().applied(), LogIndex(5), "the state machine starts from the snapshot");
    assert_eq!(core.log().committed(), LogIndex(6));
}

#[test]
fn an_installed_snapshot_replaces_a_log_that_diverges_from_it_even_after_a_crash() {
    // The log holds a term-1 entry at 5, the installed snapshot a term-2 one: the log goes.
    let durable = DurableState {
        hard_state: HardState { term: Term(3), vote: None, commit: LogIndex(2) },
        entries: log_of(&[1, 1, 1, 1, 1, 1]),
        latest_snapshot: Some(snapshot_at(5, 2)),
        ..DurableState::default()
    };
    let core = core_from(config(1, 3), durable);
    assert_eq!(core.log().snapshot_point(), SnapshotPoint { index: LogIndex(5), term: Term(2) });
    assert!(core.log().is_empty());
    assert_eq!(core.log().last_index(), LogIndex(5));
    assert_eq!(core.log().committed(), LogIndex(5));
}

#[test]
fn a_snapshot_older_than_the_log_start_or_failing_its_checksum_is_a_storage_error() {
    let older = DurableState {
        snapshot: SnapshotPoint { index: LogIndex(6), term: Term(2) },
        latest_snapshot: Some(snapshot_at(5, 2)),
        ..DurableState::default()
    };
    let err = quorate::Core::with_seed(config(1, 3), older, 1, 0).err().expect("an error");
    assert!(matches!(err, RaftError::StorageError(_)), "{err:?}");
    let mut corrupt = snapshot_at(5, 2);
    corrupt.data = Bytes::from_static(b"other");
    let durable = DurableState { latest_snapshot: Some(corrupt), ..DurableState::default() };
    let err = quorate::Core::with_seed(config(1, 3), durable, 1, 0).err().expect("an error");
    assert!(matches!(err, RaftError::StorageError(_)), "{err:?}");
}

fn install_request(term: u64, leader: u64, snapshot: &Snapshot) -> Payload {
    Payload::InstallSnapshot(InstallSnapshotRequest {
        term: Term(term),
        leader_id: NodeId(leader),
        last_included_index: snapshot.meta.index,
        last_included_term: snapshot.meta.term,
        config: snapshot.meta.config.clone(),
        offset: 0,
        data: snapshot.data.clone(),
        done: true,
        total_bytes: snapshot.size(),
        checksum: snapshot.checksum,
    })
}

/// Found by the simulator (seed 92, crashes): a node whose durable log (1..=5, term 1) did
/// not match a snapshot at 3/2 dropped it on install, but its cursors still said entries up
/// to 5 were written and durable, so the leader's entries 4 and 5 that followed were never
/// handed out for persistence, yet acknowledged.
#[test]
fn entries_after_a_snapshot_that_replaced_the_log_are_written_before_they_are_acknowledged() {
    let mut core = core_from(config(2, 3), durable(&[1, 1, 1, 1, 1], 1, None, 0));
    let snapshot = snapshot_at(3, 2);
    let readies = deliver_readies(&mut core, 1, install_request(2, 1, &snapshot));
    assert_eq!(readies.iter().filter(|r| r.snapshot.is_some()).count(), 1, "the snapshot is persisted");
    assert!(readies.iter().any(|r| r.restore_state_machine));
    assert!(core.log().is_empty(), "the log that did not match is gone");
    let acks: Vec<InstallSnapshotResponse> = readies
        .iter()
        .flat_map(|r| &r.messages_when_durable)
        .filter_map(|m| match &m.payload {
            Payload::InstallSnapshotResponse(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert!(acks.len() == 1 && acks[0].installed, "acknowledged once durable: {acks:?}");
    let readies = deliver_readies(&mut core, 1, append(2, 1, (3, 2), entries_from(4, &[2, 2]), 5));
    let written: Vec<u64> = readies.iter().flat_map(|r| r.entries.iter().map(|e| e.index.0)).collect();
    assert_eq!(written, vec![4, 5], "the new entries are handed out for persistence");
    let reply =
        append_reply(&readies.iter().flat_map(|r| r.messages_when_durable.clone()).collect::<Vec<_>>(), 1);
    assert!(reply.success && reply.match_index == LogIndex(5));
    assert_eq!(core.log().durable_index(), LogIndex(5));
}

#[test]
fn a_snapshot_the_follower_has_committed_already_is_acknowledged_without_a_transfer() {
    let mut core = core_from(config(2, 3), durable(&[1, 1, 1, 1, 1], 1, None, 4));
    let snapshot = snapshot_at(3, 1);
    let msgs = deliver(&mut core, 1, install_request(1, 1, &snapshot));
    let Some(Payload::InstallSnapshotResponse(resp)) = msgs.first().map(|m| &m.payload) else {
        panic!("an answer: {msgs:?}")
    };
    assert!(resp.installed);
    assert_eq!(core.log().snapshot_point(), SnapshotPoint::default(), "nothing installed");
    assert_eq!(core.log().last_index(), LogIndex(5), "the log is kept");
}

/// Found by the simulator (swarm seed 44700, a storm of 20 million events): a follower whose
/// log was compacted past where the leader's AppendEntries started rejected it (the entry
/// before was compacted away), and the leader backed off to the same point again and again.
#[test]
fn a_request_starting_inside_the_snapshot_is_acknowledged_up_to_the_snapshot_point() {
    let durable = DurableState {
        hard_state: HardState { term: Term(1), vote: None, commit: LogIndex(5) },
        entries: log_of(&[1, 1, 1, 1, 1, 1]),
        latest_snapshot: Some(snapshot_at(5, 1)),
        ..DurableState::default()
    };
    let mut follower = core_from(config(2, 3), durable);
    assert_eq!(follower.log().snapshot_point().index, LogIndex(5));
    let msgs = deliver(&mut follower, 1, append(1, 1, (3, 1), entries_from(4, &[1, 1, 1, 1]), 5));
    let reply = append_reply(&msgs, 1);
    assert!(reply.success, "no rejection of a prefix this node has committed");
    assert_eq!(reply.match_index, LogIndex(5), "proved up to the snapshot point, no further");
}
