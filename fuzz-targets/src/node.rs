//! The `request_vote` and `append_entries` targets: one node, hostile peers.
//!
//! The input's first bytes build a node in a varied state: the cluster size, its id, its
//! durable term, vote, log (terms rising in varied steps) and commit index, its flow-control
//! limits, and a role it is then driven into through ordinary inputs (follower, follower of a
//! known leader, pre-candidate, candidate, leader). The rest is a stream of inputs, each read
//! against the node's state at that moment so that most of them mean something: messages from
//! voters or strangers with terms and indexes near the node's own, or hostile ones (terms near
//! `u64::MAX`, indexes past the end, entries that skip, repeat, lower their term or rewrite
//! committed ones), misaddressed messages, ticks, clock readings without timers, proposals,
//! forced campaigns, heartbeat and replication rounds, probes reported unsent, and restarts
//! from the durable state. The targets differ in the messages they send; `install_snapshot`
//! also starts some nodes from a durable snapshot, and has the node snapshot its state and
//! send snapshots on demand.
//!
//! The harness drives the node through the driver pipeline ([`quorate::driver::Pipeline`])
//! over an in-memory [`DurableState`], with its checks in the store. `Checks`
//! holds what was observed and asserts the node's invariants on every batch and after every
//! input. Set `QUORATE_FUZZ_TRACE=1` to print every input as it is fed.

use arbitrary::{Result, Unstructured};
use quorate::alerts::AlertEvent;
use quorate::config::RaftConfig;
use quorate::core::MAX_TERM;
use quorate::core::{Core, DurableState, HardState, Input, Ready};
use quorate::driver::{LogStore, MemoryLog, Pipeline};
use quorate::error::RaftResult;
use quorate::log::{Command, EntryKind, LogEntry};
use quorate::membership::{Configuration, MembershipChange};
use quorate::message::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, Message,
    Payload, RequestVoteRequest, RequestVoteResponse,
};
use quorate::snapshot::{Snapshot, SnapshotMeta};
use quorate::types::{LogIndex, NodeId, NodeState, Term};
use quorate::Bytes;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::collections::{BTreeMap, BTreeSet};

/// Most inputs fed after the setup: enough to cross several elections and restarts.
const MAX_INPUTS: usize = 96;
/// Most entries in the setup's log.
const MAX_SETUP_ENTRIES: u64 = 24;
/// Most entries in one fuzzed AppendEntries.
const MAX_MESSAGE_ENTRIES: usize = 8;
/// Most readies one input may produce before the node must be quiet again.
const MAX_READIES_PER_INPUT: usize = 64;
/// The time the node boots at, in milliseconds.
const START_MS: u64 = 1_000;

/// The `request_vote` target: vote and pre-vote requests and their answers.
pub fn request_vote(data: &[u8]) {
    run(data, vote_payload, false, false);
}

/// The `append_entries` target: AppendEntries (entries and heartbeats) and their answers.
pub fn append_entries(data: &[u8]) {
    run(data, append_payload, false, false);
}

/// The `install_snapshot` target: chunks of snapshots (whole ones in order, and hostile
/// sequences: offsets that skip, repeat or overflow, sizes that lie, wrong checksums and
/// metadata, snapshots older than the commit index or from stale terms), answers to the
/// node's own chunks, and AppendEntries to go on from a snapshot; the node also snapshots
/// its own state, starts some runs from a durable snapshot, and sends snapshots on demand.
pub fn install_snapshot(data: &[u8]) {
    run(data, snapshot_payload, true, false);
}

/// The `reads` target: reads without the log (ReadIndex, lease and follower reads, on a
/// node with lease reads on or off), the leadership checks and read-index messages of both
/// sides, hostile ones among them (answers to rounds never sent, read indexes from a
/// non-leader), mixed with AppendEntries so that commitment moves. Every read served must
/// come after its entries were applied.
pub fn reads(data: &[u8]) {
    run(data, read_payload, false, true);
}

fn read_payload(u: &mut Unstructured<'_>, from: NodeId, core: &Core) -> Result<Payload> {
    use quorate::message::{LeaderCheck, LeaderCheckAck, ReadIndexRequest, ReadIndexResponse};
    let term = read_term(u, core.term())?;
    Ok(match u.int_in_range(0..=9u8)? {
        0 | 1 => {
            let leader_id = if u.ratio(7, 8)? { from } else { read_peer(u, core)? };
            Payload::LeaderCheck(LeaderCheck { term, leader_id, round: u.int_in_range(0..=9)? })
        }
        2 | 3 => Payload::LeaderCheckAck(LeaderCheckAck { term, round: u.int_in_range(0..=12)? }),
        4 => Payload::ReadIndex(ReadIndexRequest { term, id: u.int_in_range(0..=5)? }),
        5 => {
            let index = if u.arbitrary()? { Some(read_index(u, core)?) } else { None };
            Payload::ReadIndexResponse(ReadIndexResponse { term, id: u.int_in_range(0..=5)?, index })
        }
        6..=8 => return append_payload(u, from, core),
        _ => return vote_payload(u, from, core),
    })
}

/// Reads one message payload from `u`, for a message from `from` to the node `core`.
type PayloadReader = fn(&mut Unstructured<'_>, NodeId, &Core) -> Result<Payload>;

fn run(data: &[u8], payload: PayloadReader, snapshots: bool, reads: bool) {
    run_with(data, payload, snapshots, reads, false);
}

/// The `operations` target: the operator's inputs (failover elections, hot reloads of the
/// dynamic configuration with any values at all) mixed with AppendEntries, votes of the
/// peers and time passing, with every alert the node raises checked (`Checks::check_alerts`).
pub fn operations(data: &[u8]) {
    run_with(data, append_payload, false, false, true);
}

fn run_with(data: &[u8], payload: PayloadReader, snapshots: bool, reads: bool, ops: bool) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::read(&mut u, snapshots) else { return };
    let mut harness = Harness::new(setup);
    harness.reach_role();
    for _ in 0..MAX_INPUTS {
        if u.is_empty() {
            break;
        }
        let Ok(input) = read_input(&mut u, &harness, payload, snapshots, reads, ops) else { break };
        harness.feed(input);
    }
}

// ----- The setup ---------------------------------------------------------------------------

/// The role the node is driven into before the fuzzed inputs start.
#[derive(Clone, Copy, Debug)]
enum StartRole {
    Follower,
    FollowerOf(NodeId),
    PreCandidate,
    Candidate,
    Leader,
}

#[derive(Debug)]
struct Setup {
    config: RaftConfig,
    durable: DurableState,
    role: StartRole,
}

impl Setup {
    fn read(u: &mut Unstructured<'_>, snapshots: bool) -> Result<Setup> {
        let size = u.int_in_range(1..=5u64)?;
        let voters: Vec<NodeId> = (1..=size).map(NodeId).collect();
        let me = NodeId(u.int_in_range(1..=size)?);
        let mut config = RaftConfig::new(me, voters.clone());
        config.pre_vote = u.arbitrary()?;
        config.check_quorum = u.arbitrary()?;
        // Lease reads where they are allowed (with check-quorum): derived from the draws
        // above rather than drawn, so that the corpus's inputs keep their meaning.
        config.lease_reads = config.check_quorum && config.pre_vote;
        config.max_entries_per_append = u.int_in_range(1..=8)?;
        config.max_inflight = u.int_in_range(1..=4)?;
        // The core's cache of its log, from no entry at all to every entry: derived from the
        // draws above rather than drawn, so that the corpus's inputs keep their meaning.
        config.log_cache_bytes =
            [0, 60, 600, config.log_cache_bytes][(config.max_entries_per_append + config.max_inflight) % 4];
        if u.ratio(1, 4)? {
            // Room for one or two small entries a message: the byte limit splits batches.
            config.max_bytes_per_append = 48;
        }

        let mut entries = Vec::new();
        let mut term = Term(1);
        for index in 1..=u.int_in_range(0..=MAX_SETUP_ENTRIES)? {
            term = Term(term.0 + u.int_in_range(0..=2u64)?);
            let kind = if u.ratio(1, 4)? { EntryKind::Noop } else { EntryKind::Normal };
            let data =
                if kind == EntryKind::Noop { Vec::new() } else { vec![index as u8; u.int_in_range(0..=3)?] };
            entries.push(LogEntry { term, index: LogIndex(index), kind, command: Command::new(data) });
        }
        let last_term = entries.last().map_or(Term(0), |e| e.term);
        // Never below the log's last term: a node's term is at least that of its entries.
        let hs_term = read_term(u, last_term)?.max(last_term);
        let vote = if u.arbitrary()? { Some(voters[u.choose_index(voters.len())?]) } else { None };
        let commit = LogIndex(u.int_in_range(0..=entries.len() as u64)?);
        let mut durable = DurableState {
            hard_state: HardState { term: hs_term, vote, commit },
            entries,
            ..DurableState::default()
        };
        if snapshots && commit.0 > 0 && u.arbitrary()? {
            // The node restarts from a snapshot of a committed prefix, its log compacted
            // (or, a crash having come in between, not yet).
            let index = LogIndex(u.int_in_range(1..=commit.0)?);
            let term = durable.entries[index.0 as usize - 1].term;
            let snapshot = fuzz_snapshot(index, term, voters.clone(), 0);
            if u.arbitrary()? {
                quorate::wal::compact(&mut durable, snapshot.point()).expect("a committed point compacts");
            }
            durable.latest_snapshot = Some(snapshot);
        }

        let others: Vec<NodeId> = voters.iter().copied().filter(|&v| v != me).collect();
        let role = match u.int_in_range(0..=4u8)? {
            1 if !others.is_empty() => StartRole::FollowerOf(others[u.choose_index(others.len())?]),
            2 => StartRole::PreCandidate,
            3 => StartRole::Candidate,
            4 => StartRole::Leader,
            _ => StartRole::Follower,
        };
        Ok(Setup { config, durable, role })
    }
}

// ----- Inputs ------------------------------------------------------------------------------

/// A term near `current`, or a hostile one.
fn read_term(u: &mut Unstructured<'_>, current: Term) -> Result<Term> {
    let t = current.0;
    Ok(Term(match u.int_in_range(0..=15u8)? {
        0..=5 => t,
        6..=8 => t.saturating_add(1),
        9 => t.saturating_add(u.int_in_range(2..=16)?),
        10 | 11 => t.saturating_sub(u.int_in_range(1..=3)?),
        12 => u64::MAX - u.int_in_range(0..=3u64)?,
        13 => (1 << 63) - 2 + u.int_in_range(0..=3u64)?,
        14 => 0,
        _ => u.arbitrary()?,
    }))
}

/// An index near the node's last or committed index, or a hostile one.
fn read_index(u: &mut Unstructured<'_>, core: &Core) -> Result<LogIndex> {
    let last = core.log().last_index().0;
    let commit = core.log().committed().0;
    Ok(LogIndex(match u.int_in_range(0..=15u8)? {
        0..=4 => last,
        5 | 6 => last.saturating_add(1),
        7 | 8 => last.saturating_sub(u.int_in_range(1..=4)?),
        9 | 10 => commit,
        11 => commit.saturating_sub(u.int_in_range(1..=3)?),
        12 => 0,
        13 => u64::MAX - u.int_in_range(0..=2u64)?,
        14 => u.int_in_range(0..=last.saturating_add(8))?,
        _ => u.arbitrary()?,
    }))
}

/// Mostly a voter (the node itself included), sometimes anyone at all.
fn read_peer(u: &mut Unstructured<'_>, core: &Core) -> Result<NodeId> {
    if u.ratio(15, 16)? {
        Ok(core.voters()[u.choose_index(core.voters().len())?])
    } else {
        Ok(NodeId(u.arbitrary()?))
    }
}

fn vote_payload(u: &mut Unstructured<'_>, from: NodeId, core: &Core) -> Result<Payload> {
    if u.arbitrary()? {
        let candidate_id = if u.ratio(7, 8)? { from } else { read_peer(u, core)? };
        Ok(Payload::RequestVote(RequestVoteRequest {
            term: read_term(u, core.term())?,
            candidate_id,
            last_log_index: read_index(u, core)?,
            last_log_term: read_term(u, core.log().last_term())?,
            pre_vote: u.arbitrary()?,
        }))
    } else {
        let pre_vote: bool = u.arbitrary()?;
        // A granted pre-vote carries the term the candidate asked about: one above its own.
        let base = if pre_vote { Term(core.term().0.saturating_add(1)) } else { core.term() };
        Ok(Payload::RequestVoteResponse(RequestVoteResponse {
            term: read_term(u, base)?,
            vote_granted: u.ratio(3, 4)?,
            pre_vote,
        }))
    }
}

/// The snapshot the fuzzed leaders send for `(index, term)`: its data derived from them (and
/// from `salt`), so that chunks sent in separate messages belong to one snapshot.
fn fuzz_snapshot(index: LogIndex, term: Term, voters: Vec<NodeId>, salt: u8) -> Snapshot {
    let len = (index.0 % 37 + u64::from(salt)) as usize;
    let data: Vec<u8> = (0..len).map(|k| (k as u64 ^ index.0 ^ term.0.rotate_left(8)) as u8).collect();
    Snapshot::new(SnapshotMeta { index, term, config: Configuration::new(voters) }, Bytes::from(data))
}

fn snapshot_payload(u: &mut Unstructured<'_>, from: NodeId, core: &Core) -> Result<Payload> {
    match u.int_in_range(0..=9u8)? {
        0..=5 => {
            let term = read_term(u, core.term())?;
            let leader_id = if u.ratio(7, 8)? { from } else { read_peer(u, core)? };
            let index = match u.int_in_range(0..=3u8)? {
                0 => core.incoming_snapshot().map_or(core.log().last_index(), |(i, _)| i),
                _ => read_index(u, core)?,
            };
            let snap_term = match core.log().term(index) {
                Some(own) if u.ratio(1, 2)? => own,
                _ => read_term(u, core.log().last_term())?,
            };
            let voters = if u.ratio(15, 16)? { core.voters().to_vec() } else { Vec::new() };
            let snapshot = fuzz_snapshot(index, snap_term, voters, u.int_in_range(0..=2)?);
            let total = snapshot.size();
            let chunk = u.int_in_range(1..=16u64)?;
            let offset = match u.int_in_range(0..=7u8)? {
                0..=3 => core.incoming_snapshot().map_or(0, |(_, received)| received),
                4 => 0,
                5 => u.int_in_range(0..=total)?,
                6 => u64::MAX - u.int_in_range(0..=3u64)?,
                _ => u.arbitrary()?,
            };
            let start = offset.min(total) as usize;
            let end = offset.saturating_add(chunk).min(total) as usize;
            let mut data = snapshot.data.slice(start..end.max(start));
            if u.ratio(1, 16)? && !data.is_empty() {
                let mut bytes = data.to_vec();
                bytes[0] ^= 1;
                data = Bytes::from(bytes);
            }
            let done = if u.ratio(15, 16)? {
                offset.saturating_add(data.len() as u64) == total
            } else {
                u.arbitrary()?
            };
            let total_bytes = if u.ratio(15, 16)? { total } else { u.arbitrary()? };
            let checksum = if u.ratio(15, 16)? { snapshot.checksum } else { u.arbitrary()? };
            Ok(Payload::InstallSnapshot(InstallSnapshotRequest {
                term,
                leader_id,
                last_included_index: index,
                last_included_term: snap_term,
                config: snapshot.meta.config,
                offset,
                data,
                done,
                total_bytes,
                checksum,
            }))
        }
        6 | 7 => {
            let (index, term) = match core.snapshot() {
                Some(s) if u.ratio(3, 4)? => (s.meta.index, s.meta.term),
                _ => (read_index(u, core)?, read_term(u, core.log().last_term())?),
            };
            let size = core.snapshot().map_or(0, Snapshot::size);
            let next_offset = match u.int_in_range(0..=3u8)? {
                0 => 0,
                1 => size,
                2 => u.int_in_range(0..=size)?,
                _ => u.arbitrary()?,
            };
            Ok(Payload::InstallSnapshotResponse(InstallSnapshotResponse {
                term: read_term(u, core.term())?,
                last_included_index: index,
                last_included_term: term,
                next_offset,
                installed: u.arbitrary()?,
            }))
        }
        _ => {
            let mut payload = append_payload(u, from, core)?;
            if let Payload::AppendEntries(req) = &mut payload {
                // Some entries become configuration entries: mostly of a plausible
                // configuration, sometimes of bytes that are none.
                for entry in req.entries.iter_mut() {
                    if u.ratio(1, 4)? {
                        entry.kind = EntryKind::Config;
                        entry.command = if u.ratio(7, 8)? {
                            let voters: Vec<NodeId> = (1..=u.int_in_range(1..=5u64)?).map(NodeId).collect();
                            let mut config = Configuration::new(voters);
                            if u.arbitrary()? {
                                config.outgoing = core.voters().iter().copied().collect();
                            }
                            if u.arbitrary()? {
                                config.learners.insert(NodeId(u.int_in_range(6..=8)?));
                            }
                            Command::from_bytes(config.encode())
                        } else {
                            Command::new(vec![u.arbitrary()?; u.int_in_range(0..=8)?])
                        };
                    }
                }
            }
            Ok(payload)
        }
    }
}

fn append_payload(u: &mut Unstructured<'_>, from: NodeId, core: &Core) -> Result<Payload> {
    if u.arbitrary()? {
        let term = read_term(u, core.term())?;
        let leader_id = if u.ratio(7, 8)? { from } else { read_peer(u, core)? };
        let prev_log_index = read_index(u, core)?;
        let prev_log_term = match core.log().term(prev_log_index) {
            Some(own) if u.ratio(3, 4)? => own,
            _ => read_term(u, core.log().last_term())?,
        };
        let entries = read_entries(u, core, term, prev_log_index, prev_log_term)?;
        let leader_commit = read_index(u, core)?;
        Ok(Payload::AppendEntries(AppendEntriesRequest {
            term,
            leader_id,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        }))
    } else {
        let conflict_term = if u.arbitrary()? { Some(read_term(u, core.log().last_term())?) } else { None };
        Ok(Payload::AppendEntriesResponse(AppendEntriesResponse {
            term: read_term(u, core.term())?,
            success: u.arbitrary()?,
            match_index: read_index(u, core)?,
            conflict_index: read_index(u, core)?,
            conflict_term,
            last_log_index: read_index(u, core)?,
            leader_hint: if u.arbitrary()? { Some(read_peer(u, core)?) } else { None },
        }))
    }
}

/// Entries following `prev`: mostly contiguous with rising terms, sometimes not.
fn read_entries(
    u: &mut Unstructured<'_>,
    core: &Core,
    msg_term: Term,
    prev_index: LogIndex,
    prev_term: Term,
) -> Result<Vec<LogEntry>> {
    let count = u.int_in_range(0..=MAX_MESSAGE_ENTRIES)?;
    let mut entries = Vec::with_capacity(count);
    let (mut index, mut term) = (prev_index, prev_term);
    for _ in 0..count {
        index = LogIndex(match u.int_in_range(0..=15u8)? {
            0..=12 => index.0.saturating_add(1),
            13 => index.0,
            14 => index.0.saturating_add(u.int_in_range(2..=5)?),
            _ => u.arbitrary()?,
        });
        term = match u.int_in_range(0..=15u8)? {
            0..=6 => term,
            7..=10 => msg_term,
            11 | 12 => Term(term.0.saturating_add(1)),
            13 => Term(term.0.saturating_sub(1)),
            14 => core.log().term(index).unwrap_or(term),
            _ => Term(u.arbitrary()?),
        };
        let kind = if u.ratio(1, 8)? { EntryKind::Noop } else { EntryKind::Normal };
        let data =
            if kind == EntryKind::Noop { Vec::new() } else { vec![u.arbitrary()?; u.int_in_range(0..=3)?] };
        entries.push(LogEntry { term, index, kind, command: Command::new(data) });
    }
    Ok(entries)
}

/// One thing that happens to the node.
#[derive(Debug)]
enum Event {
    Input(Input),
    /// The node crashes and restarts from what it made durable.
    Restart,
}

fn read_input(
    u: &mut Unstructured<'_>,
    h: &Harness,
    payload: PayloadReader,
    snapshots: bool,
    reads: bool,
    ops: bool,
) -> Result<Event> {
    let core = &h.core;
    let id = core.id();
    let input = match u.arbitrary::<u8>()? {
        0..=179 => {
            let from = read_peer(u, core)?;
            Input::Message(Message { from, to: id, payload: payload(u, from, core)? })
        }
        180..=189 => {
            let from = read_peer(u, core)?;
            let to = NodeId(u.arbitrary()?);
            Input::Message(Message { from, to, payload: payload(u, from, core)? })
        }
        190..=197 if reads => {
            let kind = if u.arbitrary()? { quorate::ReadKind::Lease } else { quorate::ReadKind::ReadIndex };
            Input::Read { ctx: u.arbitrary()?, kind }
        }
        190..=193 if ops => Input::Failover,
        194..=199 if ops => Input::UpdateDynamicConfig(quorate::config::DynamicConfig {
            heartbeat_interval_ms: read_wild(u)?,
            compaction_threshold: read_wild(u)?,
            election_timeout_min_ms: read_wild(u)?,
            election_timeout_max_ms: read_wild(u)?,
        }),
        190..=214 => Input::Tick { now: h.now + 4 * u64::from(u.arbitrary::<u8>()?) },
        215..=217 => Input::Clock { now: h.now + 4 * u64::from(u.arbitrary::<u8>()?) },
        218..=230 => Input::Propose(Command::new(vec![u.arbitrary()?; u.int_in_range(0..=3)?])),
        231..=236 => Input::Campaign,
        237 => Input::Failover,
        238 => {
            // A hot reload with any values at all: the core corrects them.
            Input::UpdateDynamicConfig(quorate::config::DynamicConfig {
                heartbeat_interval_ms: read_wild(u)?,
                compaction_threshold: read_wild(u)?,
                election_timeout_min_ms: read_wild(u)?,
                election_timeout_max_ms: read_wild(u)?,
            })
        }
        239..=240 => Input::Heartbeat,
        241..=243 => {
            let to = if u.arbitrary()? { Some(read_peer(u, core)?) } else { None };
            Input::Replicate { to, idle_heartbeat: u.arbitrary()? }
        }
        244 => Input::ProbeUnsent { to: read_peer(u, core)? },
        245..=249 if snapshots => {
            // The state machine (here: nothing but its applied index) snapshots itself,
            // mostly at the applied index, sometimes where it may not.
            let index = if u.ratio(7, 8)? { core.log().applied() } else { read_index(u, core)? };
            Input::Snapshot { index, data: Bytes::from(index.0.to_le_bytes().to_vec()) }
        }
        250..=251 if snapshots => Input::SendSnapshot { to: read_peer(u, core)? },
        252..=253 if snapshots => {
            let node_id = NodeId(u.int_in_range(1..=8)?);
            let change = if u.arbitrary()? {
                MembershipChange::AddNode { node_id, address: format!("n{node_id}") }
            } else {
                MembershipChange::RemoveNode { node_id }
            };
            Input::ChangeMembership { change, through_learner: u.arbitrary()? }
        }
        254 if snapshots => Input::LeaveJoint,
        _ => return Ok(Event::Restart),
    };
    Ok(Event::Input(input))
}

/// A value for a reload: small, around the defaults, or extreme.
fn read_wild(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0..=3)? {
        0 => u64::from(u.arbitrary::<u8>()?),
        1 => u64::from(u.arbitrary::<u16>()?),
        2 => u.arbitrary()?,
        _ => [0, 1, u64::MAX, u64::MAX / 2][u.int_in_range(0..=3)?],
    })
}

// ----- The driver --------------------------------------------------------------------------

struct Harness {
    config: RaftConfig,
    role: StartRole,
    core: Core,
    disk: DurableState,
    /// The disk as the core reads its log back from it.
    log: MemoryLog,
    now: u64,
    boots: u64,
    checks: Checks,
    trace: bool,
    /// The last index the state machine applied or was restored to, in this life.
    machine_applied: LogIndex,
}

/// The state machine: only its applied index, which must move on one entry at a time, and
/// jump only forward, to a snapshot's index.
struct Machine<'a> {
    applied: &'a mut LogIndex,
}

impl quorate::driver::Apply for Machine<'_> {
    fn apply(&mut self, entries: &[LogEntry]) {
        for entry in entries {
            assert_eq!(entry.index, self.applied.next(), "the state machine is handed entries out of order");
            *self.applied = entry.index;
        }
    }

    fn restore(&mut self, snapshot: &Snapshot) -> RaftResult<()> {
        assert!(snapshot.verify(), "a snapshot that fails its checksum was installed");
        assert!(
            snapshot.meta.index > *self.applied,
            "the state machine would go back to {:?}",
            snapshot.point()
        );
        *self.applied = snapshot.meta.index;
        Ok(())
    }

    fn read(&mut self, state: quorate::ReadState) {
        if let Ok(index) = state.result {
            assert!(
                index <= *self.applied,
                "a read at {index} served with the state machine at {}",
                self.applied
            );
        }
    }
}

impl Harness {
    fn new(mut setup: Setup) -> Harness {
        complete_compaction(&mut setup.durable);
        let mut core =
            Core::new(setup.config.clone(), setup.durable.clone(), ChaCha8Rng::seed_from_u64(0), START_MS)
                .expect("a consistent durable state boots");
        let log = MemoryLog::recovered(&setup.durable);
        core.set_log_source(std::sync::Arc::new(log.clone()));
        let trace = std::env::var_os("QUORATE_FUZZ_TRACE").is_some();
        if trace {
            eprintln!("setup: {setup:?}");
        }
        let checks = Checks::new(&core);
        let machine_applied = core.log().applied();
        let mut harness = Harness {
            config: setup.config,
            role: setup.role,
            core,
            disk: setup.durable,
            log,
            now: START_MS,
            boots: 0,
            checks,
            trace,
            machine_applied,
        };
        harness.drain();
        harness
    }

    /// Drives the node into the setup's role with ordinary inputs.
    fn reach_role(&mut self) {
        match self.role {
            StartRole::Follower => {}
            StartRole::FollowerOf(leader) => {
                let heartbeat = AppendEntriesRequest {
                    term: self.core.term(),
                    leader_id: leader,
                    prev_log_index: LogIndex(0),
                    prev_log_term: Term(0),
                    entries: Vec::new(),
                    leader_commit: LogIndex(0),
                };
                self.deliver(leader, Payload::AppendEntries(heartbeat));
            }
            StartRole::PreCandidate => {
                let deadline = self.core.election_deadline();
                self.feed(Event::Input(Input::Tick { now: deadline }));
            }
            StartRole::Candidate => self.feed(Event::Input(Input::Campaign)),
            StartRole::Leader => {
                self.feed(Event::Input(Input::Campaign));
                if self.core.state() == NodeState::Follower {
                    // Only a node whose term cannot grow past the bound declines to campaign.
                    assert!(self.core.term() >= MAX_TERM, "a voter declined a forced campaign");
                    return;
                }
                let term = self.core.term();
                let others: Vec<NodeId> =
                    self.core.voters().iter().copied().filter(|&v| v != self.core.id()).collect();
                for voter in others {
                    if self.core.state() == NodeState::Leader {
                        break;
                    }
                    let grant = RequestVoteResponse { term, vote_granted: true, pre_vote: false };
                    self.deliver(voter, Payload::RequestVoteResponse(grant));
                }
                assert_eq!(self.core.state(), NodeState::Leader, "a candidate granted every vote leads");
            }
        }
    }

    fn deliver(&mut self, from: NodeId, payload: Payload) {
        let to = self.core.id();
        self.feed(Event::Input(Input::Message(Message { from, to, payload })));
    }

    fn feed(&mut self, event: Event) {
        if self.trace {
            eprintln!("{:?} {} t{}: {event:?}", self.core.state(), self.core.id(), self.core.term());
        }
        match event {
            Event::Input(input) => {
                if let Input::Tick { now } | Input::Clock { now } = input {
                    self.now = self.now.max(now);
                }
                if let Input::Message(msg) = &input {
                    self.checks.on_deliver(msg);
                }
                // Errors are for the caller (a proposal to a follower); they change nothing.
                let _ = self.core.step(input);
            }
            Event::Restart => {
                self.boots += 1;
                complete_compaction(&mut self.disk);
                let rng = ChaCha8Rng::seed_from_u64(self.boots);
                self.core = Core::new(self.config.clone(), self.disk.clone(), rng, self.now)
                    .expect("a node restarts from what it made durable");
                self.log = MemoryLog::recovered(&self.disk);
                self.core.set_log_source(std::sync::Arc::new(self.log.clone()));
                self.machine_applied = self.core.log().applied();
                self.checks.on_restart(&self.core);
            }
        }
        self.drain();
    }

    /// Drives the core through the driver pipeline, checking every ready on the way.
    fn drain(&mut self) {
        let mut store =
            CheckedDisk { disk: &mut self.disk, log: &mut self.log, checks: &mut self.checks, readies: 0 };
        let mut sent: Vec<Message> = Vec::new();
        let mut machine = Machine { applied: &mut self.machine_applied };
        Pipeline::new()
            .drive(&mut self.core, &mut store, &mut sent, &mut machine)
            .expect("an in-memory disk does not fail");
        self.checks.check_state(&self.core, &self.disk);
    }
}

/// The node's in-memory disk with the checks looking on: each ready before it is handled,
/// and what was sent against what is durable once it is written.
struct CheckedDisk<'a> {
    disk: &'a mut DurableState,
    log: &'a mut MemoryLog,
    checks: &'a mut Checks,
    readies: usize,
}

impl LogStore for CheckedDisk<'_> {
    fn inspect(&mut self, core: &Core, ready: &Ready) {
        self.readies += 1;
        assert!(
            self.readies <= MAX_READIES_PER_INPUT,
            "the node still has a ready after {MAX_READIES_PER_INPUT} of them"
        );
        self.checks.check_ready(core, self.disk, ready);
        self.checks.check_alerts(core, &ready.alerts);
        if !ready.must_persist() {
            self.checks.check_durable_sends(self.disk, ready);
        }
    }

    fn write(&mut self, ready: &mut Ready) -> RaftResult<u64> {
        if let Some(first) = ready.entries.first() {
            let (start, last) = durable_bounds_after_snapshot(self.disk, ready);
            assert!(first.index <= last.next(), "entries to persist leave a gap after the durable log");
            assert!(first.index > start, "entries to persist start inside the snapshot");
        }
        let entries = ready.entries.clone();
        self.disk.write(ready)?;
        ready.entries = entries.clone();
        self.log.write(ready)?;
        ready.entries = entries;
        self.checks.check_durable_sends(self.disk, ready);
        Ok(0)
    }

    fn sync(&mut self, _position: u64) -> RaftResult<bool> {
        Ok(true)
    }
}

// ----- The checks --------------------------------------------------------------------------

/// Where the durable log starts and ends once the ready's snapshot, if any, is written (the
/// entries it stands for dropped; all of them if the log does not hold its point).
fn durable_bounds_after_snapshot(disk: &DurableState, ready: &Ready) -> (LogIndex, LogIndex) {
    let last = disk.entries.last().map_or(disk.snapshot.index, |e| e.index);
    match &ready.snapshot {
        Some(s) if s.meta.index > disk.snapshot.index => {
            let holds = disk.entries.iter().any(|e| e.index == s.meta.index && e.term == s.meta.term);
            (s.meta.index, if holds { last } else { s.meta.index })
        }
        _ => (disk.snapshot.index, last),
    }
}

/// What a store does at recovery when a crash came between making a snapshot durable and
/// dropping the entries it stands for: it drops them (the core does the same with its log).
fn complete_compaction(disk: &mut DurableState) {
    if let Some(point) = disk.latest_snapshot.as_ref().map(Snapshot::point) {
        quorate::wal::compact(disk, point).expect("a snapshot at or after the log's start");
    }
}

/// The durable log's entry at `index`, if it holds one.
fn durable_entry(disk: &DurableState, index: LogIndex) -> Option<&LogEntry> {
    let pos = index.0.checked_sub(disk.snapshot.index.0 + 1)?;
    disk.entries.get(usize::try_from(pos).ok()?)
}

/// What the node has shown so far, and the invariants it must keep.
struct Checks {
    id: NodeId,
    max_entries_per_append: usize,
    term: Term,
    commit: LogIndex,
    /// The vote cast in each term, once cast.
    votes: BTreeMap<Term, NodeId>,
    /// The committed entries as first seen, by index.
    committed: BTreeMap<LogIndex, LogEntry>,
    /// Real votes granted to the node, as delivered to it, by term.
    grants: BTreeMap<Term, BTreeSet<NodeId>>,
    /// The last index handed out for applying in this life of the node.
    applied: LogIndex,
    /// The terms in which the node was seen leading (its election checked once).
    elected: BTreeSet<Term>,
    /// The newest term whose leader the node reported in this life (alerts).
    reported: Term,
    /// Members it reported failed and not recovered since, in this life.
    failed: BTreeSet<NodeId>,
    /// The input being handled is a leadership check from this stale leader.
    stale_check_from: Option<NodeId>,
}

impl Checks {
    fn new(core: &Core) -> Checks {
        Checks {
            id: core.id(),
            max_entries_per_append: core.config().max_entries_per_append,
            term: core.term(),
            commit: core.log().committed(),
            votes: BTreeMap::new(),
            committed: BTreeMap::new(),
            grants: BTreeMap::new(),
            applied: core.log().applied(),
            elected: BTreeSet::new(),
            reported: Term(0),
            failed: BTreeSet::new(),
            stale_check_from: None,
        }
    }

    /// The alerts of one ready: a leader is reported once per newer term, and only by the
    /// term's leader for itself once it leads it; a member recovers only after it failed;
    /// every leader's alert names a member other than the node, with figures that hold.
    fn check_alerts(&mut self, core: &Core, alerts: &[AlertEvent]) {
        for alert in alerts {
            match alert {
                &AlertEvent::LeaderChanged { term, leader, .. } => {
                    assert!(term > self.reported, "{alert:?} after term {}", self.reported);
                    assert!(term <= core.term(), "{alert:?} beyond the node's term {}", core.term());
                    if leader == self.id {
                        assert!(
                            self.elected.contains(&term) || core.state() == NodeState::Leader,
                            "{alert:?}"
                        );
                    }
                    self.reported = term;
                }
                &AlertEvent::NodeFailed { node, .. } => {
                    assert!(node != self.id, "{alert:?}: a node does not watch itself");
                    self.failed.insert(node);
                }
                &AlertEvent::NodeRecovered { node, .. } => {
                    assert!(self.failed.remove(&node), "{alert:?} without a failure");
                }
                AlertEvent::QuorumLost { heard_from, .. } => {
                    assert!(heard_from.contains(&self.id), "{alert:?}: a leader hears itself");
                }
                &AlertEvent::SlowReplication { node, match_index, commit_index } => {
                    let threshold = core.config().slow_replication_entries;
                    assert!(node != self.id && threshold > 0 && commit_index.0 - match_index.0 > threshold);
                }
            }
        }
    }

    fn on_deliver(&mut self, msg: &Message) {
        // A leadership check from a stale leader is answered with this node's term, so that
        // the stale leader learns it: that answer confirms nobody.
        self.stale_check_from = match &msg.payload {
            Payload::LeaderCheck(req) if req.term < self.term => Some(msg.from),
            _ => None,
        };
        if let Payload::RequestVoteResponse(resp) = &msg.payload {
            if resp.vote_granted && !resp.pre_vote && msg.to == self.id {
                self.grants.entry(resp.term).or_default().insert(msg.from);
            }
        }
    }

    fn on_restart(&mut self, core: &Core) {
        // A restarted node hands its committed entries out for applying again, from its
        // snapshot on, and reports afresh.
        self.applied = core.log().applied();
        self.reported = Term(0);
        self.failed.clear();
    }

    /// Checks one ready before it is persisted, against the durable state it will change.
    fn check_ready(&mut self, core: &Core, disk: &DurableState, ready: &Ready) {
        let durable = disk.hard_state;
        for msg in &ready.messages {
            self.check_message(core, msg);
            // These go before the write: they may depend only on what is already durable.
            match &msg.payload {
                Payload::AppendEntries(req) => {
                    assert_eq!(
                        req.term, durable.term,
                        "an AppendEntries went out before its term was durable"
                    );
                }
                Payload::RequestVote(req) if req.pre_vote => {
                    let asked = durable.term.0.checked_add(1).map(Term);
                    assert_eq!(
                        Some(req.term),
                        asked,
                        "a pre-vote went out for a term other than durable + 1"
                    );
                }
                Payload::InstallSnapshot(req) => {
                    assert_eq!(
                        req.term, durable.term,
                        "a snapshot chunk went out before its term was durable"
                    );
                }
                Payload::RequestVote(req) => {
                    assert_eq!(req.term, durable.term, "a vote request went out before its term was durable");
                    assert_eq!(
                        durable.vote,
                        Some(self.id),
                        "a vote request went out before the self-vote was durable"
                    );
                }
                _ => panic!("a response went out before the write it depends on: {msg:?}"),
            }
        }
        for msg in &ready.messages_when_durable {
            self.check_message(core, msg);
        }
        self.check_entries_to_persist(core, disk, ready);
        if let Some(hs) = ready.hard_state {
            assert_eq!(hs, core.hard_state(), "the ready's hard state is not the node's");
            assert!(hs.term >= durable.term, "the durable term would go back");
            assert!(hs.commit >= durable.commit, "the durable commit index would go back");
            if hs.term == durable.term && durable.vote.is_some() {
                assert_eq!(hs.vote, durable.vote, "the durable vote would change within a term");
            }
        }
        if let Some(snapshot) = ready.snapshot.as_ref().filter(|_| ready.restore_state_machine) {
            assert!(snapshot.verify(), "a snapshot to install fails its checksum");
            assert!(snapshot.meta.index > self.applied, "a snapshot to install is behind what was applied");
            assert!(snapshot.meta.index <= core.log().committed(), "an installed snapshot is not committed");
            self.applied = snapshot.meta.index;
        }
        if let Some(snapshot) = &ready.snapshot {
            assert_eq!(Some(snapshot), core.snapshot(), "the ready's snapshot is not the node's latest");
            assert!(snapshot.meta.index <= core.log().committed(), "a snapshot of uncommitted entries");
        }
        for entry in &ready.committed_entries {
            assert_eq!(entry.index, self.applied.next(), "committed entries handed out out of order");
            assert!(entry.index <= core.log().committed(), "an uncommitted entry was handed out to apply");
            assert_eq!(
                core.log().entry(entry.index).as_ref(),
                Some(entry),
                "an entry to apply differs from the log"
            );
            self.applied = entry.index;
        }
    }

    fn check_entries_to_persist(&self, core: &Core, disk: &DurableState, ready: &Ready) {
        let Some(first) = ready.entries.first() else { return };
        assert!(first.index.0 >= 1, "an entry to persist has index 0");
        let (_, last) = durable_bounds_after_snapshot(disk, ready);
        assert!(first.index <= last.next(), "entries to persist leave a gap on disk");
        assert!(
            first.index > disk.hard_state.commit.min(core.log().committed()),
            "a write would rewrite committed entries"
        );
        for (k, entry) in ready.entries.iter().enumerate() {
            assert_eq!(entry.index, first.index.plus(k as u64), "entries to persist are not contiguous");
            assert_eq!(
                core.log().entry(entry.index).as_ref(),
                Some(entry),
                "an entry to persist differs from the log"
            );
        }
    }

    /// What every message the node sends must look like.
    fn check_message(&self, core: &Core, msg: &Message) {
        assert_eq!(msg.from, self.id, "a message not from the node: {msg:?}");
        assert_ne!(msg.to, self.id, "a message to the node itself: {msg:?}");
        match &msg.payload {
            Payload::TimeoutNow(req) => {
                assert_eq!(
                    (req.term, req.leader_id),
                    (core.term(), self.id),
                    "TimeoutNow misstates term or leader"
                );
                if core.state() == NodeState::Leader {
                    assert_eq!(
                        core.leadership_transfer(),
                        Some(msg.to),
                        "TimeoutNow to other than the transfer's target"
                    );
                } else {
                    // A leader whose removal committed hands over as it steps down.
                    let config = core.configuration();
                    assert!(
                        !config.is_voter(self.id) && config.is_voter(msg.to),
                        "a non-leader told a node to campaign: {msg:?}"
                    );
                }
            }
            Payload::LeaderCheck(req) => {
                assert_eq!(core.state(), NodeState::Leader, "a non-leader checks its leadership: {msg:?}");
                assert_eq!(
                    (req.term, req.leader_id),
                    (core.term(), self.id),
                    "LeaderCheck misstates term or leader"
                );
                assert!(req.round >= 1, "a leadership check of round 0: {msg:?}");
            }
            Payload::LeaderCheckAck(ack) => {
                assert_eq!(
                    ack.term,
                    core.term(),
                    "a leadership-check answer without the node's term: {msg:?}"
                );
                if ack.term == core.term() && self.stale_check_from != Some(msg.to) {
                    assert_ne!(core.state(), NodeState::Leader, "a leader confirmed another's leadership");
                }
            }
            Payload::ReadIndex(req) => {
                assert_eq!(req.term, core.term(), "a read-index request without the node's term: {msg:?}");
                assert_eq!(core.leader(), Some(msg.to), "a read index asked of a node not followed: {msg:?}");
                assert_eq!(
                    core.state(),
                    NodeState::Follower,
                    "a read index asked by a non-follower: {msg:?}"
                );
            }
            Payload::ReadIndexResponse(resp) => {
                assert_eq!(resp.term, core.term(), "a read-index answer without the node's term: {msg:?}");
                if let Some(index) = resp.index {
                    assert_eq!(core.state(), NodeState::Leader, "a read index from a non-leader: {msg:?}");
                    assert!(index <= core.log().committed(), "a read index beyond the commit index: {msg:?}");
                    assert!(
                        core.log().term(index).is_none_or(|t| t == core.term()),
                        "a read index before the leader's term committed: {msg:?}"
                    );
                }
            }
            Payload::RequestVote(req) | Payload::TransferVote(req) => {
                assert!(core.voters().contains(&msg.to), "a vote request to a non-voter: {msg:?}");
                assert_eq!(req.candidate_id, self.id, "a vote request for someone else: {msg:?}");
                let last = (core.log().last_index(), core.log().last_term());
                assert_eq!((req.last_log_index, req.last_log_term), last, "a vote request misstates the log");
                if req.pre_vote {
                    let asked = core.term().0.checked_add(1).map(Term);
                    assert_eq!(Some(req.term), asked, "a pre-vote not for the next term: {msg:?}");
                } else {
                    assert_eq!(req.term, core.term(), "a vote request not for the node's term: {msg:?}");
                    assert_eq!(
                        core.vote(),
                        Some(self.id),
                        "a candidate that did not vote for itself: {msg:?}"
                    );
                }
            }
            Payload::RequestVoteResponse(resp) => {
                if resp.vote_granted && resp.pre_vote {
                    assert!(resp.term >= core.term(), "a pre-vote granted for a past term: {msg:?}");
                } else {
                    assert_eq!(resp.term, core.term(), "a vote answer without the node's term: {msg:?}");
                }
                if resp.vote_granted && !resp.pre_vote {
                    assert_eq!(
                        core.vote(),
                        Some(msg.to),
                        "a vote granted to someone the node did not vote for"
                    );
                }
            }
            Payload::AppendEntries(req) => self.check_append(core, msg.to, req),
            Payload::AppendEntriesResponse(resp) => {
                assert_eq!(resp.term, core.term(), "an append answer without the node's term: {msg:?}");
                assert_eq!(
                    resp.last_log_index,
                    core.log().last_index(),
                    "an append answer misstates the log"
                );
                if resp.success {
                    assert!(resp.match_index <= core.log().last_index(), "an ack beyond the log: {msg:?}");
                    assert_ne!(core.state(), NodeState::Leader, "a leader acknowledged entries: {msg:?}");
                    assert_eq!(core.leader(), Some(msg.to), "an ack to a leader the node does not follow");
                }
            }
            Payload::InstallSnapshot(req) => {
                assert_eq!(core.state(), NodeState::Leader, "a non-leader sent a snapshot: {msg:?}");
                assert_eq!(
                    (req.term, req.leader_id),
                    (core.term(), self.id),
                    "a snapshot chunk misstates term or leader"
                );
                let snapshot = core.snapshot_transfer(msg.to).map(|t| t.snapshot()).or(core.snapshot());
                let snapshot = snapshot.expect("a chunk of a snapshot the leader has");
                assert_eq!(req.total_bytes, snapshot.size(), "a chunk misstates the snapshot's size");
                assert_eq!(req.checksum, snapshot.checksum, "a chunk misstates the snapshot's checksum");
                let end = req.offset as usize + req.data.len();
                assert_eq!(
                    &snapshot.data[req.offset as usize..end],
                    &req.data[..],
                    "a chunk carries other bytes"
                );
                assert_eq!(req.done, end as u64 == req.total_bytes, "a chunk's done flag is wrong");
            }
            Payload::InstallSnapshotResponse(resp) => {
                assert_eq!(resp.term, core.term(), "a snapshot answer without the node's term: {msg:?}");
                if resp.installed {
                    assert!(
                        core.log().committed() >= resp.last_included_index,
                        "a snapshot acknowledged that the node does not hold: {msg:?}"
                    );
                }
            }
        }
    }

    fn check_append(&self, core: &Core, to: NodeId, req: &AppendEntriesRequest) {
        assert_eq!(core.state(), NodeState::Leader, "a non-leader sent AppendEntries: {req:?}");
        assert!(core.configuration().is_member(to), "AppendEntries to a non-member {to}");
        assert_eq!(
            (req.term, req.leader_id),
            (core.term(), self.id),
            "AppendEntries misstates term or leader"
        );
        let prev_term = core.log().term(req.prev_log_index);
        assert_eq!(prev_term, Some(req.prev_log_term), "AppendEntries whose prev is not in the leader's log");
        assert!(req.entries.len() <= self.max_entries_per_append, "AppendEntries over the batch limit");
        for (k, entry) in req.entries.iter().enumerate() {
            assert_eq!(
                entry.index,
                req.prev_log_index.plus(k as u64 + 1),
                "AppendEntries not contiguous after prev"
            );
            assert_eq!(
                core.log().entry(entry.index).as_ref(),
                Some(entry),
                "AppendEntries carries an entry not in the log"
            );
        }
        assert!(
            req.leader_commit <= core.log().committed(),
            "AppendEntries claims a commit beyond the leader's"
        );
    }

    /// After the write: what waited for it is backed by the disk.
    fn check_durable_sends(&self, disk: &DurableState, ready: &Ready) {
        for msg in &ready.messages_when_durable {
            match &msg.payload {
                Payload::RequestVoteResponse(resp) if resp.vote_granted && !resp.pre_vote => {
                    let durable = (disk.hard_state.term, disk.hard_state.vote);
                    assert_eq!(durable, (resp.term, Some(msg.to)), "a vote was granted that is not durable");
                }
                Payload::AppendEntriesResponse(resp) if resp.success => {
                    let last = disk.entries.last().map_or(disk.snapshot.index, |e| e.index);
                    assert!(resp.match_index <= last, "an ack for entries not durable");
                }
                Payload::InstallSnapshotResponse(resp) if resp.installed => {
                    let index = resp.last_included_index;
                    let held = index <= disk.snapshot.index || durable_entry(disk, index).is_some();
                    assert!(held, "a snapshot at {index} acknowledged and not durable");
                }
                _ => {}
            }
        }
        for entry in &ready.committed_entries {
            assert_eq!(durable_entry(disk, entry.index), Some(entry), "an entry to apply is not durable");
        }
    }

    /// After every input, once the node is quiet.
    fn check_state(&mut self, core: &Core, disk: &DurableState) {
        let (term, commit) = (core.term(), core.log().committed());
        assert!(term >= self.term, "term went back from {} to {term}", self.term);
        assert!(commit >= self.commit, "commit went back from {} to {commit}", self.commit);
        (self.term, self.commit) = (term, commit);
        match core.vote() {
            Some(vote) => {
                let cast = *self.votes.entry(term).or_insert(vote);
                assert_eq!(cast, vote, "the vote of term {term} changed from {cast} to {vote}");
            }
            None => assert!(!self.votes.contains_key(&term), "the vote of term {term} was forgotten"),
        }

        let log = core.log().entries();
        let point = core.log().snapshot_point();
        assert!(commit <= core.log().last_index(), "commit {commit} beyond the log");
        assert!(point.index <= commit, "the log is compacted past the commit index");
        for entry in &log {
            if let Some(known) = self.committed.get(&entry.index) {
                assert_eq!(known, entry, "committed entry {} changed", entry.index);
            } else if entry.index <= commit {
                self.committed.insert(entry.index, entry.clone());
            }
        }
        let mut prev = (point.index, point.term);
        for entry in &log {
            assert_eq!(entry.index, prev.0.next(), "the log is not contiguous from its snapshot point");
            assert!(entry.term >= prev.1, "the log's terms go down at {}", entry.index);
            prev = (entry.index, entry.term);
        }
        assert!(prev.1 <= term, "the log holds an entry of term {} above the node's {term}", prev.1);
        match core.snapshot() {
            Some(snapshot) => {
                assert!(snapshot.verify(), "the node's snapshot fails its checksum");
                assert_eq!(snapshot.point(), point, "the log does not start at the latest snapshot");
            }
            None => assert_eq!(point.index, LogIndex(0), "a compacted log without a snapshot"),
        }

        // Everything was handed out and persisted: the disk is the node's state.
        assert_eq!(disk.snapshot, point, "the durable log starts elsewhere than the node's");
        assert_eq!(disk.entries, log, "the durable log differs from the node's");
        assert_eq!(
            disk.latest_snapshot.as_ref(),
            core.snapshot(),
            "the durable snapshot differs from the node's"
        );
        assert_eq!(disk.hard_state, core.hard_state(), "the durable hard state differs from the node's");

        if core.state() == NodeState::Leader {
            assert_eq!(core.vote(), Some(self.id), "a leader that did not vote for itself");
            if self.elected.insert(term) {
                // Once, when it is first seen leading: by the configuration it was elected
                // under (it may change its configuration later in the term).
                let mut granted: BTreeSet<NodeId> = self.grants.get(&term).cloned().unwrap_or_default();
                granted.insert(self.id);
                let quorum = core.quorum_config();
                assert!(
                    quorum.has_quorum(|v| granted.contains(&v)),
                    "leader of term {term} with only {granted:?} granting"
                );
            }
            self.check_progress(core);
        }
    }

    /// A leader's view of each follower: what it counts towards commitment stays within its
    /// own log, whatever followers claim. (The next index may be pushed past the log's end by
    /// a follower that lies in a rejection; that stalls only the liar's own replication, which
    /// it could stall as well by staying silent, and `build_append` clamps it.)
    fn check_progress(&self, core: &Core) {
        let last = core.log().last_index();
        for peer in core.configuration().members().into_iter().filter(|&v| v != self.id) {
            let pr = core.progress(peer).expect("a leader tracks every member");
            assert!(pr.match_index <= last, "{peer}'s match index {} beyond the log", pr.match_index);
            assert!(pr.match_index < pr.next_index, "{peer}'s next index is not past its match index");
        }
    }
}
