//! One copy of the log: a log that keeps only a bounded cache in memory and reads older
//! entries back from the driver's storage answers every question exactly as a log that keeps
//! everything, whatever the cache size, and a storage that fails or lies is an error, never a
//! panic or a wrong entry.

mod common;

use common::*;
use proptest::prelude::*;
use quorate::core::Ready;
use quorate::driver::{LogStore, MemoryLog};
use quorate::log::{RaftLog, SnapshotPoint};
use quorate::log_source::{LogReadError, LogSource};
use quorate::{Command, DurableState, Input, LogEntry, LogIndex, Term};
use std::sync::Arc;

/// What a test does to a log: the operations a core performs on it.
#[derive(Clone, Debug)]
enum Op {
    /// A leader appends `n` entries of its term.
    Propose(u8),
    /// A follower receives entries after `back` entries from its end, of `term`.
    Receive { back: u8, term: u8, n: u8 },
    /// The driver writes what was handed out and reports it durable.
    Persist,
    /// The commit index moves `n` entries forward (within what is durable).
    Commit(u8),
    /// Committed entries are handed out for applying and applied.
    Apply,
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u8..20).prop_map(Op::Propose),
        (0u8..6, 0u8..3, 0u8..6).prop_map(|(back, term, n)| Op::Receive { back, term, n }),
        Just(Op::Persist),
        (0u8..30).prop_map(Op::Commit),
        Just(Op::Apply),
    ]
}

/// A log with a source and a cache of `cache_bytes`, and the same log keeping everything.
struct Pair {
    cached: RaftLog,
    full: RaftLog,
    storage: MemoryLog,
    term: Term,
}

impl Pair {
    fn new(cache_bytes: u64) -> Self {
        let storage = MemoryLog::new();
        let mut cached = RaftLog::new();
        cached.set_source(Arc::new(storage.clone()), cache_bytes);
        Pair { cached, full: RaftLog::new(), storage, term: Term(1) }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Propose(n) => {
                for _ in 0..n {
                    let index = self.full.last_index().next();
                    let term = self.term.max(self.full.last_term());
                    let entry = LogEntry::new(term, index, Command::new(vec![index.0 as u8; 7]));
                    self.cached.append_local(entry.clone());
                    self.full.append_local(entry);
                }
            }
            Op::Receive { back, term, n } => {
                let prev = LogIndex(self.full.last_index().0.saturating_sub(back as u64));
                let Some(prev_term) = self.full.term(prev) else { return };
                let term = Term(self.full.last_term().0 + term as u64);
                let entries: Vec<LogEntry> = (1..=n as u64)
                    .map(|k| LogEntry::new(term, prev.plus(k), Command::new(vec![k as u8; 5])))
                    .collect();
                let a = self.cached.try_append(prev, prev_term, &entries);
                let b = self.full.try_append(prev, prev_term, &entries);
                assert_eq!(a, b);
                self.term = self.term.max(term);
            }
            Op::Persist => {
                let entries = self.cached.take_unwritten();
                assert_eq!(entries.to_vec(), self.full.take_unwritten().to_vec());
                if let Some(last) = entries.last().map(|e| (e.index, e.term)) {
                    let mut ready = Ready { entries, ..Ready::default() };
                    self.storage.write(&mut ready).unwrap();
                    self.cached.durable_to(last.0, last.1);
                    self.full.durable_to(last.0, last.1);
                    self.cached.evict();
                }
            }
            Op::Commit(n) => {
                let to = self.full.committed().plus(n as u64).min(self.full.durable_index());
                assert_eq!(self.cached.commit_to(to), self.full.commit_to(to));
            }
            Op::Apply => {
                let a = self.cached.take_committed(u64::MAX);
                assert_eq!(a.to_vec(), self.full.take_committed(u64::MAX).to_vec());
                if let Some(last) = a.last() {
                    self.cached.applied_to(last.index).unwrap();
                    self.full.applied_to(last.index).unwrap();
                }
                self.cached.evict();
            }
        }
    }

    /// Every question the core asks of its log gets the same answer from both.
    fn check(&self) -> Result<(), TestCaseError> {
        let (c, f) = (&self.cached, &self.full);
        prop_assert_eq!(c.last_index(), f.last_index());
        prop_assert_eq!(c.last_term(), f.last_term());
        prop_assert_eq!(c.len(), f.len());
        prop_assert_eq!(c.entries(), f.entries());
        let last = f.last_index().0;
        for i in 0..=last + 1 {
            let i = LogIndex(i);
            prop_assert_eq!(c.term(i), f.term(i), "term at {}", i);
            prop_assert_eq!(c.entry(i), f.entry(i), "entry at {}", i);
            prop_assert_eq!(c.first_index_of_term_at(i), f.first_index_of_term_at(i), "term start at {}", i);
            for (count, bytes) in [(usize::MAX, u64::MAX), (3, u64::MAX), (usize::MAX, 70), (2, 0)] {
                prop_assert_eq!(
                    c.slice(i, LogIndex(last), count, bytes),
                    f.slice(i, LogIndex(last), count, bytes)
                );
            }
        }
        for t in 0..=self.term.0 + 1 {
            prop_assert_eq!(c.last_index_of_term(Term(t)), f.last_index_of_term(Term(t)), "term {}", t);
        }
        prop_assert!(c.cached_bytes() <= f.cached_bytes());
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever the cache size (none at all included), a log that drops entries from memory
    /// and reads them back answers exactly as one that keeps them all.
    #[test]
    fn a_cached_log_answers_as_a_full_one(cache_bytes in prop_oneof![Just(0u64), 0u64..400], ops in proptest::collection::vec(arb_op(), 0..60)) {
        let mut pair = Pair::new(cache_bytes);
        for op in &ops {
            pair.apply(op);
            pair.check()?;
        }
    }
}

#[test]
fn entries_dropped_from_memory_are_read_back_and_the_cache_stays_bounded() {
    let mut pair = Pair::new(0);
    for _ in 0..50 {
        pair.apply(&Op::Propose(20));
        pair.apply(&Op::Persist);
        pair.apply(&Op::Commit(20));
        pair.apply(&Op::Apply);
    }
    // Everything is durable and applied: the log keeps no entry in memory, and still has
    // them all.
    assert_eq!(pair.cached.cached_bytes(), 0);
    assert_eq!(pair.cached.len(), 1000);
    assert_eq!(pair.cached.entries(), pair.full.entries());
    assert_eq!(pair.cached.entry(LogIndex(7)), pair.full.entry(LogIndex(7)));
}

/// A source that fails, or gives entries of another log.
struct Broken(Option<Vec<LogEntry>>);

impl LogSource for Broken {
    fn entries(&self, from: LogIndex, _to: LogIndex, _max: u64) -> Result<Vec<LogEntry>, LogReadError> {
        match &self.0 {
            None => Err(LogReadError::Io("disk on fire".into())),
            Some(entries) => Ok(entries.iter().filter(|e| e.index >= from).cloned().collect()),
        }
    }
}

#[test]
fn a_failing_or_lying_source_is_an_error_not_a_wrong_entry() {
    for source in [Broken(None), Broken(Some(entries_from(1, &[1, 1, 1, 2, 2]))), Broken(Some(Vec::new()))] {
        // The log holds 1..=5 of terms 1, 1, 2, 2, 2, all durable and applied, none in memory.
        let mut log =
            RaftLog::recovered(SnapshotPoint::default(), log_of(&[1, 1, 2, 2, 2]), LogIndex(5)).unwrap();
        let applied = log.take_committed(u64::MAX).last().map(|e| e.index).unwrap();
        log.applied_to(applied).unwrap();
        log.set_source(Arc::new(source), 0);
        assert_eq!(log.cached_bytes(), 0);
        assert!(log.slice(LogIndex(1), LogIndex(5), usize::MAX, u64::MAX).is_err());
        assert_eq!(log.entry(LogIndex(3)), None);
        assert_eq!(log.term(LogIndex(3)), Some(Term(2)), "terms never need the source");
    }
}

/// A follower and its in-memory driver.
struct Follower {
    core: quorate::Core,
    disk: DurableState,
    applied: Vec<LogEntry>,
}

impl Follower {
    fn new(id: u64) -> Self {
        Follower {
            core: core_from(config(id, 3), DurableState::default()),
            disk: DurableState::default(),
            applied: Vec::new(),
        }
    }

    /// Delivers the messages addressed to it; returns its replies.
    fn deliver(&mut self, msgs: &mut Vec<quorate::Message>) -> Vec<quorate::Message> {
        let id = self.core.id();
        let mut replies = Vec::new();
        let (mine, others): (Vec<_>, Vec<_>) = msgs.drain(..).partition(|m| m.to == id);
        *msgs = others;
        for msg in mine {
            self.core.step(Input::Message(msg)).unwrap();
            quorate::driver::Pipeline::new()
                .drive(&mut self.core, &mut self.disk, &mut replies, &mut self.applied)
                .unwrap();
        }
        replies
    }
}

/// A leader whose follower lags far behind its cache sends it the entries read back from
/// its storage, and the follower ends with the leader's log.
#[test]
fn a_leader_replicates_from_its_storage_to_a_follower_far_behind() {
    let mut config = config(1, 3);
    config.log_cache_bytes = 0;
    let storage = MemoryLog::new();
    let mut leader = core_from(config, DurableState::default());
    leader.set_log_source(Arc::new(storage.clone()));
    let (mut driver, mut pipeline) = (storage.clone(), quorate::driver::Pipeline::new());
    let (mut two, mut three) = (Follower::new(2), Follower::new(3));
    let mut sent = Vec::new();
    leader.step(Input::Campaign).unwrap();
    let mut run =
        |leader: &mut quorate::Core, sent: &mut Vec<quorate::Message>, followers: &mut [&mut Follower]| {
            for _ in 0..1000 {
                pipeline.drive(leader, &mut driver, sent, &mut ()).unwrap();
                let replies: Vec<_> = followers.iter_mut().flat_map(|f| f.deliver(sent)).collect();
                sent.clear();
                if replies.is_empty() {
                    return;
                }
                for reply in replies {
                    leader.step(Input::Message(reply)).unwrap();
                }
            }
            panic!("the cluster never went quiet");
        };
    // Node 2 votes for node 1; node 3 is cut off while 200 entries commit with node 2.
    run(&mut leader, &mut sent, &mut [&mut two]);
    assert_eq!(leader.state(), quorate::NodeState::Leader);
    for k in 0..200u8 {
        leader.propose(Command::new(vec![k; 10])).unwrap();
        run(&mut leader, &mut sent, &mut [&mut two]);
    }
    assert_eq!(two.core.log().last_index(), leader.log().last_index());
    assert!(
        leader.log().cached_bytes() < 10 * 64,
        "the cache is not bounded: {}",
        leader.log().cached_bytes()
    );
    // Node 3 comes back with nothing: the leader probes back to the log's start and sends
    // it everything, read back from its storage.
    let now = leader.now() + 1_000;
    leader.step(Input::Tick { now }).unwrap();
    run(&mut leader, &mut sent, &mut [&mut two, &mut three]);
    assert_eq!(three.core.log().entries(), leader.log().entries());
    assert_eq!(three.core.log().last_index(), LogIndex(201));
}

/// An applier that keeps what it is handed.
#[derive(Default)]
struct Keep(Vec<LogEntry>);

impl quorate::driver::Apply for Keep {
    fn apply(&mut self, entries: &[LogEntry]) {
        self.0.extend_from_slice(entries);
    }

    fn restore(&mut self, snapshot: &quorate::Snapshot) -> quorate::RaftResult<()> {
        panic!("no snapshot is taken in this test, yet one was restored: {snapshot:?}")
    }

    fn read(&mut self, state: quorate::ReadState) {
        panic!("no read is asked in this test, yet one was served: {state:?}")
    }
}

/// A payload is never copied from `propose` to `apply`: the driver's storage, the
/// AppendEntries to each follower, each follower's storage and every state machine hold the
/// very buffer the proposer gave.
#[test]
fn a_payload_travels_from_propose_to_apply_on_every_node_without_a_copy() {
    let ids = [1u64, 2, 3];
    let mut nodes: Vec<(quorate::Core, MemoryLog, quorate::driver::Pipeline, Keep)> = ids
        .iter()
        .map(|&id| {
            let storage = MemoryLog::new();
            let mut core = core_from(config(id, 3), DurableState::default());
            core.set_log_source(Arc::new(storage.clone()));
            (core, storage, quorate::driver::Pipeline::new(), Keep::default())
        })
        .collect();
    let mut net: Vec<quorate::Message> = Vec::new();
    let run = |nodes: &mut Vec<(quorate::Core, MemoryLog, quorate::driver::Pipeline, Keep)>,
               net: &mut Vec<quorate::Message>,
               seen: &mut Vec<*const u8>| {
        for _ in 0..100 {
            for (core, storage, pipeline, applied) in nodes.iter_mut() {
                pipeline.drive(core, storage, net, applied).unwrap();
            }
            if net.is_empty() {
                return;
            }
            for msg in std::mem::take(net) {
                if let quorate::Payload::AppendEntries(req) = &msg.payload {
                    seen.extend(
                        req.entries
                            .iter()
                            .filter(|e| !e.command.data.is_empty())
                            .map(|e| e.command.data.as_ptr()),
                    );
                }
                nodes[(msg.to.0 - 1) as usize].0.step(Input::Message(msg)).unwrap();
            }
        }
        panic!("never quiet");
    };
    let mut seen = Vec::new();
    nodes[0].0.step(Input::Campaign).unwrap();
    run(&mut nodes, &mut net, &mut seen);
    let payload = vec![42u8; 100];
    let original = payload.as_ptr();
    nodes[0].0.propose(Command::new(payload)).unwrap();
    run(&mut nodes, &mut net, &mut seen);
    let now = nodes[0].0.now() + 1_000;
    nodes[0].0.step(Input::Tick { now }).unwrap();
    run(&mut nodes, &mut net, &mut seen);
    assert_eq!(seen, [original, original], "each follower's AppendEntries carries the proposer's buffer");
    for (core, storage, _, applied) in &nodes {
        let id = core.id();
        let applied: Vec<_> = applied.0.iter().filter(|e| !e.command.data.is_empty()).collect();
        assert_eq!(applied.len(), 1, "{id} applied the command");
        assert_eq!(applied[0].command.data.as_ptr(), original, "{id} applied a copy");
        let stored = storage.to_vec();
        let stored = stored.iter().find(|e| !e.command.data.is_empty()).expect("stored");
        assert_eq!(stored.command.data.as_ptr(), original, "{id} stored a copy");
    }
}

/// A node restarting with a long log keeps none of it in memory beyond the cache: it
/// applies what it recovered by reading it back from its storage.
#[test]
fn a_restarted_node_applies_its_log_from_storage() {
    let durable = durable(&[1; 300], 1, Some(1), 300);
    let mut config = config(1, 3);
    config.log_cache_bytes = 0;
    let storage = MemoryLog::recovered(&durable);
    let mut core = core_from(config, durable.clone());
    core.set_log_source(Arc::new(storage.clone()));
    assert_eq!(core.log().cached_bytes(), 0, "the recovered log is dropped from memory");
    let mut applied = Keep::default();
    quorate::driver::Pipeline::new()
        .drive(&mut core, &mut storage.clone(), &mut Vec::new(), &mut applied)
        .unwrap();
    assert_eq!(applied.0, durable.entries);
    assert_eq!(core.log().applied(), LogIndex(300));
}
