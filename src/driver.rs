//! The one driver pipeline: how a [`Core`]'s [`Ready`] batches reach a disk, a network and
//! a state machine, in the order the contract requires (see the crate documentation).
//!
//! For each batch: write it, send the messages that may go at once, sync (or wait for a
//! sync that completes later), send the messages that waited for durability, apply the
//! committed entries, and acknowledge both to the core. Batches complete in order: one that
//! needs no sync of its own still waits for the writes before it. Every driver in the
//! repository goes through [`Pipeline`]: [`crate::RaftNode`], [`crate::testing::Cluster`],
//! the simulator's nodes, the fuzz targets and the benches, each with its own small
//! [`LogStore`], [`Transport`] and [`Apply`].
//!
//! A store whose syncs complete later (a simulated disk, an fsync thread) answers
//! [`LogStore::sync`] with `Ok(false)` and, once the sync is done, the driver calls
//! [`Pipeline::synced`] and drives it again.

use crate::core::{Core, Input, ReadState, Ready};
use crate::error::RaftResult;
use crate::log::LogEntry;
use crate::log_source::{LogReadError, LogSource};
use crate::log_store::{Entries, EntryRuns};
use crate::message::Message;
use crate::snapshot::Snapshot;
use crate::types::{LogIndex, Term};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Where a node's log and hard state are written.
pub trait LogStore {
    /// Looks at a batch before anything of it is written or sent (checkers use it); the
    /// default does nothing.
    fn inspect(&mut self, _core: &Core, _ready: &Ready) {}

    /// Writes the durable part of `ready`: first its snapshot, if any, which becomes the
    /// latest snapshot, and only once it is durable are the log's entries up to its index
    /// dropped (all of them if the log does not hold that index with the snapshot's term);
    /// then, if it has entries, the log is truncated from the first one's index and they are
    /// appended; then its hard state, if any. It need not be durable yet. The store may take the entries out of `ready` (moving them saves a
    /// copy); nothing else of it. Returns the position a sync must reach for this write to
    /// be durable (positions never decrease).
    fn write(&mut self, ready: &mut Ready) -> RaftResult<u64>;

    /// Asks for everything written up to `position` to become durable: `Ok(true)` if it is
    /// now, `Ok(false)` if it will be later, when the driver calls [`Pipeline::synced`].
    fn sync(&mut self, position: u64) -> RaftResult<bool>;
}

/// Where messages go (and the alerts the core raises, which need no durability either).
pub trait Transport {
    /// Sends `msg` (or loses it: Raft tolerates loss).
    fn send(&mut self, msg: Message);

    /// Sends every message of `msgs`, in order.
    fn send_all(&mut self, msgs: Vec<Message>) {
        for msg in msgs {
            self.send(msg);
        }
    }

    /// Hands out an alert the core raised ([`crate::alerts`]); by default it is dropped.
    fn alert(&mut self, alert: crate::alerts::AlertEvent) {
        let _ = alert;
    }
}

/// Where committed entries go.
pub trait Apply {
    /// Applies committed entries, in order (no-op entries included: skip them). A batch's
    /// entries come as one call per shared run of the log: borrowed, never copied.
    fn apply(&mut self, entries: &[LogEntry]);

    /// Replaces the whole state with a snapshot's, installed from the leader: the entries
    /// applied next follow `snapshot.meta.index`. An error stops the pipeline (the node
    /// cannot go on with a state machine it could not restore).
    fn restore(&mut self, snapshot: &Snapshot) -> RaftResult<()>;

    /// Serves a read ([`crate::core::Core::read`]) once the batch's entries are applied:
    /// with `Ok(index)`, the state machine has applied up to `index` at least, and the read
    /// is answered from it now; with an error, the read failed and is answered with it.
    fn read(&mut self, state: ReadState);
}

/// A batch written and waiting to complete: once it is durable, the driver sends its
/// messages, applies its entries and acknowledges it ([`Pipeline::acknowledge`]).
#[derive(Debug)]
pub struct Batch {
    /// The position its write must reach, when it must be durable before it completes.
    sync_to: Option<u64>,
    /// Messages that waited for the batch to be durable.
    pub messages_when_durable: Vec<Message>,
    /// Committed entries to apply, in order (shared runs of the core's log).
    pub committed_entries: EntryRuns,
    /// The last entry written, to acknowledge as durable.
    last_entry: Option<(LogIndex, Term)>,
    /// A snapshot installed from the leader: the state machine is restored from it once
    /// the batch is durable, before anything else of the batch.
    pub restore: Option<Snapshot>,
    /// Reads to serve once the batch's entries are applied.
    pub read_states: Vec<ReadState>,
}

/// The driver pipeline of one node: the batches written and not yet completed.
///
/// A simple driver calls [`Pipeline::drive`]. A driver that must look at each step (the
/// simulator's, with its checkers) calls the steps themselves: [`Pipeline::take`], then
/// [`Pipeline::next_durable`] until it gives nothing, handling each batch and then
/// [`Pipeline::acknowledge`] it, and again while the core has something ready.
#[derive(Debug, Default)]
pub struct Pipeline {
    waiting: VecDeque<Batch>,
    /// Highest position known durable.
    durable: u64,
    /// A sync was asked of the store and has not completed.
    syncing: bool,
    /// The highest position a batch waiting (or since completed) must reach: a sync asked
    /// for the oldest batch covers every write so far. Kept as batches are queued, since
    /// positions never decrease, so that asking costs nothing however many batches wait (a
    /// scan of the queue on each step made a node with thousands waiting quadratic).
    highest_sync_to: u64,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when no batch waits for a sync.
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Forgets every waiting batch: the node crashed, and its core is rebuilt from disk.
    pub fn reset(&mut self) {
        *self = Pipeline::default();
    }

    /// Handles every batch `core` has, in the contract's order, until the core has nothing
    /// left or a batch waits for a sync that completes later. A failed write or sync ends
    /// it with the error: nothing that depended on it has left the node.
    pub fn drive(
        &mut self,
        core: &mut Core,
        store: &mut impl LogStore,
        net: &mut impl Transport,
        apply: &mut impl Apply,
    ) -> RaftResult<()> {
        loop {
            let mut completed = false;
            while core.has_ready() {
                let batch = self.take_one(core, store, net)?;
                // With nothing waiting before it and a sync that is done at once (or none
                // needed), the batch completes here without a trip through the queue.
                if self.waiting.is_empty() && self.durable_now(batch.sync_to, store)? {
                    Self::complete(batch, core, net, apply)?;
                    completed = true;
                } else {
                    self.queue(batch);
                }
            }
            while let Some(batch) = self.next_durable(store)? {
                Self::complete(batch, core, net, apply)?;
                completed = true;
            }
            if !completed || !core.has_ready() {
                return Ok(());
            }
        }
    }

    /// Queues a batch to complete once durable.
    fn queue(&mut self, batch: Batch) {
        if let Some(to) = batch.sync_to {
            self.highest_sync_to = self.highest_sync_to.max(to);
        }
        self.waiting.push_back(batch);
    }

    /// Whether a write that must reach `sync_to` is durable now, asking the store for a sync
    /// if it is not and none is in progress.
    fn durable_now(&mut self, sync_to: Option<u64>, store: &mut impl LogStore) -> RaftResult<bool> {
        let Some(to) = sync_to.filter(|&to| to > self.durable) else { return Ok(true) };
        if self.syncing {
            return Ok(false);
        }
        if store.sync(to)? {
            self.durable = self.durable.max(to);
            Ok(true)
        } else {
            self.syncing = true;
            Ok(false)
        }
    }

    /// Sends what waited for the batch, applies its entries and acknowledges it.
    fn complete(
        batch: Batch,
        core: &mut Core,
        net: &mut impl Transport,
        apply: &mut impl Apply,
    ) -> RaftResult<()> {
        let Batch { messages_when_durable, committed_entries, last_entry, restore, read_states, .. } = batch;
        if let Some(snapshot) = restore {
            apply.restore(&snapshot)?;
        }
        net.send_all(messages_when_durable);
        for run in committed_entries.runs() {
            apply.apply(run);
        }
        for state in read_states {
            apply.read(state);
        }
        Self::acknowledge(core, last_entry, committed_entries.last().map(|e| e.index))
    }

    /// Takes every batch the core has ready: each is inspected, written, its `messages`
    /// sent, and queued to complete once durable.
    pub fn take(
        &mut self,
        core: &mut Core,
        store: &mut impl LogStore,
        net: &mut impl Transport,
    ) -> RaftResult<()> {
        while core.has_ready() {
            let batch = self.take_one(core, store, net)?;
            self.queue(batch);
        }
        Ok(())
    }

    /// Takes one ready: inspects it, writes it, sends its `messages`; returns the rest.
    fn take_one(
        &mut self,
        core: &mut Core,
        store: &mut impl LogStore,
        net: &mut impl Transport,
    ) -> RaftResult<Batch> {
        let mut ready = core.ready();
        if ready.is_empty() && core.has_ready() {
            // A core that hands out nothing yet still has something to hand out would keep
            // every driver taking readies for ever: an engine bug, stopped here.
            return Err(crate::error::RaftError::Other(
                "the core handed out an empty ready and still has one: it would never be quiet".into(),
            ));
        }
        store.inspect(core, &ready);
        // Alerts depend on nothing durable: out before the write, which may fail.
        for alert in std::mem::take(&mut ready.alerts) {
            net.alert(alert);
        }
        let last_entry = ready.entries.last().map(|e| (e.index, e.term));
        let position = if ready.must_persist() { Some(store.write(&mut ready)?) } else { None };
        let restore = if ready.restore_state_machine { ready.snapshot.clone() } else { None };
        let Ready { messages, messages_when_durable, committed_entries, must_sync, read_states, .. } = ready;
        net.send_all(messages);
        Ok(Batch {
            sync_to: position.filter(|_| must_sync),
            messages_when_durable,
            committed_entries,
            last_entry,
            restore,
            read_states,
        })
    }

    /// The oldest batch, if it may complete now: it is durable, or needs no sync of its own.
    /// When it needs a sync, one is asked of the store (covering every write so far, so one
    /// sync serves every batch behind it); if the sync completes later, nothing is returned
    /// until [`Pipeline::synced`] says it did.
    pub fn next_durable(&mut self, store: &mut impl LogStore) -> RaftResult<Option<Batch>> {
        let Some(front) = self.waiting.front() else { return Ok(None) };
        if front.sync_to.is_some_and(|to| to > self.durable) {
            let last = Some(self.highest_sync_to);
            if !self.durable_now(last, store)? {
                return Ok(None);
            }
        }
        Ok(self.waiting.pop_front())
    }

    /// Tells the core that a completed batch's write is durable (its last entry, if it had
    /// entries) and its committed entries applied (up to the last, if any).
    pub fn acknowledge(
        core: &mut Core,
        last_entry: Option<(LogIndex, Term)>,
        applied: Option<LogIndex>,
    ) -> RaftResult<()> {
        if let Some((index, term)) = last_entry {
            core.step(Input::Durable { index, term })?;
        }
        if let Some(index) = applied {
            core.step(Input::Applied { index })?;
        }
        Ok(())
    }

    /// The store made everything written up to `position` durable (for a store whose syncs
    /// complete later); the driver then completes what waited ([`Pipeline::next_durable`],
    /// or [`Pipeline::drive`] again).
    pub fn synced(&mut self, position: u64) {
        self.durable = self.durable.max(position);
        self.syncing = false;
    }
}

impl Batch {
    /// The last entry written by the batch, to acknowledge as durable.
    pub fn last_entry(&self) -> Option<(LogIndex, Term)> {
        self.last_entry
    }
}

/// A transport that keeps the messages, in order, for the caller to deliver.
impl Transport for Vec<Message> {
    fn send(&mut self, msg: Message) {
        self.push(msg);
    }

    fn send_all(&mut self, mut msgs: Vec<Message>) {
        self.append(&mut msgs);
    }
}

/// A transport that queues the messages, in order, for the caller to deliver.
impl Transport for VecDeque<Message> {
    fn send(&mut self, msg: Message) {
        self.push_back(msg);
    }

    fn send_all(&mut self, msgs: Vec<Message>) {
        self.extend(msgs);
    }
}

/// An applier that keeps the entries, in order. It cannot be restored from a snapshot's
/// bytes: a restore is an error.
impl Apply for Vec<LogEntry> {
    fn apply(&mut self, entries: &[LogEntry]) {
        self.extend_from_slice(entries);
    }

    fn restore(&mut self, snapshot: &Snapshot) -> RaftResult<()> {
        Err(crate::error::RaftError::StateMachineError {
            index: snapshot.meta.index,
            message: "a list of entries cannot be restored from a snapshot".into(),
        })
    }

    /// Nobody asks reads of a list of entries: a read is dropped.
    fn read(&mut self, _state: ReadState) {}
}

/// An applier that drops the entries (a node whose state machine lives elsewhere), and
/// snapshots with them.
impl Apply for () {
    fn apply(&mut self, _entries: &[LogEntry]) {}

    fn restore(&mut self, _snapshot: &Snapshot) -> RaftResult<()> {
        Ok(())
    }

    /// The state machine lives elsewhere, and so do its reads: a read is dropped.
    fn read(&mut self, _state: ReadState) {}
}

/// An in-memory disk: every write is durable at once (tests, fuzz targets, benches).
impl LogStore for crate::core::DurableState {
    fn write(&mut self, ready: &mut Ready) -> RaftResult<u64> {
        if let Some(snapshot) = &ready.snapshot {
            self.latest_snapshot = Some(snapshot.clone());
            crate::wal::compact(self, snapshot.point()).map_err(crate::error::RaftError::StorageError)?;
        }
        if let Some(first) = ready.entries.first() {
            let from = first.index;
            self.entries.retain(|e| e.index < from);
            self.entries.extend(ready.entries.iter().cloned());
        }
        if let Some(hs) = ready.hard_state {
            self.hard_state = hs;
        }
        Ok(0)
    }

    fn sync(&mut self, _position: u64) -> RaftResult<bool> {
        Ok(true)
    }
}

/// An in-memory durable log that keeps the shared runs the core hands out: the driver's
/// copy of the log shares its buffers with the core's, and the core reads back from it
/// ([`LogSource`]) the entries it dropped from memory. Runs that continue one another in
/// the same buffer (a leader handing out a proposal or two at a time) are joined, so a log
/// handed out in tiny runs costs no more per entry than one of large runs. Cloning a
/// `MemoryLog` gives another handle to the same log (one for the driver, one for the core).
/// Every write is durable at once (tests, benches).
#[derive(Clone, Debug, Default)]
pub struct MemoryLog {
    inner: Arc<Mutex<MemoryLogInner>>,
}

#[derive(Debug, Default)]
struct MemoryLogInner {
    runs: Vec<Entries>,
    hard_state: crate::core::HardState,
    /// Where the log starts (the entries up to it are compacted away).
    start: crate::log::SnapshotPoint,
    /// The latest snapshot.
    snapshot: Option<Snapshot>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// A log holding what a node recovered from its disk (the entries after its snapshot
    /// point, its hard state and its latest snapshot). A compaction that a crash interrupted
    /// (the snapshot durable, the entries it stands for not yet dropped) is completed here,
    /// as the core does at recovery.
    pub fn recovered(state: &crate::core::DurableState) -> Self {
        let log = MemoryLog::new();
        let mut inner = log.lock();
        inner.hard_state = state.hard_state;
        inner.start = state.snapshot;
        inner.snapshot = state.latest_snapshot.clone();
        if !state.entries.is_empty() {
            inner.runs.push(Entries::new(state.entries.clone()));
        }
        if let Some(snapshot) = &state.latest_snapshot {
            inner.write_snapshot(snapshot);
        }
        drop(inner);
        log
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryLogInner> {
        // A panic while the lock was held cannot leave the runs half-changed: every change
        // is a single push, truncate or replacement.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The last hard state written.
    pub fn hard_state(&self) -> crate::core::HardState {
        self.lock().hard_state
    }

    /// The latest snapshot written.
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.lock().snapshot.clone()
    }

    /// Where the log starts: the entries up to this point are compacted away.
    pub fn start(&self) -> crate::log::SnapshotPoint {
        self.lock().start
    }

    /// The number of entries held.
    pub fn len(&self) -> usize {
        self.lock().runs.iter().map(|r| r.len()).sum()
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.lock().runs.is_empty()
    }

    /// Copies of the entries, in order (payloads shared).
    pub fn to_vec(&self) -> Vec<LogEntry> {
        self.lock().runs.iter().flat_map(|r| r.iter().cloned()).collect()
    }

    /// What a node restarting from this log recovers.
    pub fn durable_state(&self) -> crate::core::DurableState {
        let inner = self.lock();
        crate::core::DurableState {
            hard_state: inner.hard_state,
            snapshot: inner.start,
            entries: inner.runs.iter().flat_map(|r| r.iter().cloned()).collect(),
            latest_snapshot: inner.snapshot.clone(),
        }
    }
}

impl MemoryLogInner {
    /// Makes `snapshot` the latest one and drops the entries it stands for: the ones up to
    /// its index if the log holds that index with its term, else all of them (the rule of
    /// [`crate::wal::compact`]). An older snapshot than the log's start changes nothing.
    fn write_snapshot(&mut self, snapshot: &Snapshot) {
        let point = snapshot.point();
        if point.index <= self.start.index {
            return;
        }
        self.snapshot = Some(snapshot.clone());
        if self.entry_term(point.index) == Some(point.term) {
            let k = self.runs.partition_point(|r| r.last().is_some_and(|e| e.index <= point.index));
            self.runs.drain(..k);
            if let Some(first) = self.runs.first_mut() {
                let drop = usize::try_from((point.index.0 + 1).saturating_sub(first[0].index.0)).unwrap_or(0);
                if drop > 0 {
                    *first = first.share(drop, first.len());
                }
            }
        } else {
            self.runs.clear();
        }
        self.start = point;
    }

    /// The term of the entry at `index`, if held.
    fn entry_term(&self, index: LogIndex) -> Option<crate::types::Term> {
        let k = self.runs.partition_point(|r| r[0].index <= index).checked_sub(1)?;
        let offset = usize::try_from(index.0 - self.runs[k][0].index.0).ok()?;
        self.runs[k].get(offset).map(|e| e.term)
    }

    /// Removes every entry at `index` and after.
    fn truncate_from(&mut self, index: LogIndex) {
        if self.runs.last().and_then(|r| r.last()).is_none_or(|last| last.index < index) {
            return;
        }
        let k = self.runs.partition_point(|r| r[0].index < index);
        self.runs.truncate(k);
        if let Some(last) = self.runs.last_mut() {
            let keep = last.iter().take_while(|e| e.index < index).count();
            if keep < last.len() {
                *last = last.share(0, keep);
            }
        }
    }

    /// Appends a run: joined to the last one when it continues it in the same buffer (the
    /// core hands out a growing chunk a piece at a time), else kept as it is.
    fn append(&mut self, run: Entries) {
        if let Some(last) = self.runs.last_mut() {
            if last.try_join(&run) {
                return;
            }
        }
        self.runs.push(run);
    }
}

impl LogStore for MemoryLog {
    fn write(&mut self, ready: &mut Ready) -> RaftResult<u64> {
        if !ready.must_persist() {
            return Ok(0);
        }
        let mut inner = self.lock();
        if let Some(snapshot) = &ready.snapshot {
            inner.write_snapshot(snapshot);
        }
        if let Some(first) = ready.entries.first() {
            inner.truncate_from(first.index);
            for run in ready.entries.take_runs() {
                inner.append(run);
            }
        }
        if let Some(hs) = ready.hard_state {
            inner.hard_state = hs;
        }
        Ok(0)
    }

    fn sync(&mut self, _position: u64) -> RaftResult<bool> {
        Ok(true)
    }
}

impl LogSource for MemoryLog {
    fn entries(&self, from: LogIndex, to: LogIndex, max_bytes: u64) -> Result<Vec<LogEntry>, LogReadError> {
        let inner = self.lock();
        if from <= inner.start.index {
            return Err(LogReadError::Compacted(from));
        }
        let k = inner.runs.partition_point(|r| r[0].index <= from).checked_sub(1);
        let Some(k) = k else { return Err(LogReadError::Unavailable(from)) };
        // Runs are contiguous: `from` sits at a known offset in run `k`.
        let offset = usize::try_from(from.0 - inner.runs[k][0].index.0).unwrap_or(usize::MAX);
        let first = inner.runs[k].get(offset..).unwrap_or_default().iter();
        let wanted = first.chain(inner.runs[k + 1..].iter().flat_map(|r| r.iter()));
        let out = crate::log::take_within_bytes(wanted, to, max_bytes);
        if out.first().is_none_or(|e| e.index != from) {
            return Err(LogReadError::Unavailable(from));
        }
        Ok(out)
    }
}

/// A [`crate::RaftPersistence`] as a store: writes go through its methods, and a sync is
/// its `sync`, done before returning.
pub struct PersistenceStore<'a> {
    persistence: &'a dyn crate::storage::RaftPersistence,
    /// Writes so far, as positions.
    written: &'a mut u64,
}

impl<'a> PersistenceStore<'a> {
    /// A store over `persistence`; `written` counts its writes across calls (keep it with
    /// the [`Pipeline`]).
    pub fn new(persistence: &'a dyn crate::storage::RaftPersistence, written: &'a mut u64) -> Self {
        PersistenceStore { persistence, written }
    }
}

impl LogStore for PersistenceStore<'_> {
    fn write(&mut self, ready: &mut Ready) -> RaftResult<u64> {
        if let Some(snapshot) = &ready.snapshot {
            // Durable before the log drops what it stands for.
            self.persistence.save_snapshot(snapshot)?;
            self.persistence.sync()?;
            self.persistence.compact_log(snapshot.point())?;
        }
        if let Some(first) = ready.entries.first() {
            self.persistence.truncate_log(first.index)?;
            for run in ready.entries.runs() {
                self.persistence.append_entries(run)?;
            }
        }
        if let Some(hs) = &ready.hard_state {
            self.persistence.save_hard_state(hs)?;
        }
        *self.written += 1;
        Ok(*self.written)
    }

    fn sync(&mut self, _position: u64) -> RaftResult<bool> {
        self.persistence.sync()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RaftConfig;
    use crate::core::DurableState;
    use crate::message::Payload;
    use crate::types::NodeId;

    /// A disk whose syncs complete only when the test says so.
    #[derive(Default)]
    struct SlowDisk {
        disk: DurableState,
        written: u64,
        sync_asked: Option<u64>,
    }

    impl LogStore for SlowDisk {
        fn write(&mut self, ready: &mut Ready) -> RaftResult<u64> {
            self.disk.write(ready)?;
            self.written += 1;
            Ok(self.written)
        }

        fn sync(&mut self, position: u64) -> RaftResult<bool> {
            self.sync_asked = Some(position);
            Ok(false)
        }
    }

    fn candidate() -> Core {
        Core::with_seed(RaftConfig::new(1, [1, 2, 3]), DurableState::default(), 1, 0).unwrap()
    }

    #[test]
    fn what_waits_for_durability_waits_for_a_sync_that_completes_later() {
        let mut core = candidate();
        let (mut pipeline, mut disk, mut net) = (Pipeline::new(), SlowDisk::default(), Vec::new());
        core.step(Input::Campaign).unwrap();
        pipeline.drive(&mut core, &mut disk, &mut net, &mut ()).unwrap();
        // The new term and the vote for itself are written, not yet durable: no vote request.
        assert_eq!(disk.disk.hard_state.term, core.term());
        assert_eq!(disk.sync_asked, Some(1));
        assert!(net.is_empty(), "sent before the sync: {net:?}");
        assert!(!pipeline.is_idle());
        pipeline.synced(1);
        pipeline.drive(&mut core, &mut disk, &mut net, &mut ()).unwrap();
        let asked: Vec<NodeId> =
            net.iter().filter(|m| matches!(m.payload, Payload::RequestVote(_))).map(|m| m.to).collect();
        assert_eq!(asked, [NodeId(2), NodeId(3)]);
        assert!(pipeline.is_idle());
    }

    #[test]
    fn batches_complete_in_order_and_one_sync_serves_every_write_before_it() {
        let mut core = candidate();
        let (mut pipeline, mut disk, mut net) = (Pipeline::new(), SlowDisk::default(), Vec::new());
        core.step(Input::Campaign).unwrap();
        pipeline.drive(&mut core, &mut disk, &mut net, &mut ()).unwrap();
        // A second election while the first write still waits: written, and waits behind it.
        core.step(Input::Campaign).unwrap();
        pipeline.drive(&mut core, &mut disk, &mut net, &mut ()).unwrap();
        assert_eq!(disk.written, 2);
        assert_eq!(disk.sync_asked, Some(1), "no second sync while one is in progress");
        assert!(net.is_empty());
        // The first sync completes: the first batch goes, and a sync for the second is asked.
        pipeline.synced(1);
        pipeline.drive(&mut core, &mut disk, &mut net, &mut ()).unwrap();
        assert_eq!(net.len(), 2);
        assert_eq!(disk.sync_asked, Some(2));
        pipeline.synced(2);
        pipeline.drive(&mut core, &mut disk, &mut net, &mut ()).unwrap();
        assert_eq!(net.len(), 4);
        assert!(pipeline.is_idle());
    }

    #[test]
    fn a_commit_only_hard_state_is_written_without_a_sync() {
        // A single-voter leader: its entries commit on its own durability, which changes
        // only the commit index of the hard state.
        let mut core = Core::with_seed(RaftConfig::new(1, [1]), DurableState::default(), 1, 0).unwrap();
        let mut disk = DurableState::default();
        let mut applied: Vec<LogEntry> = Vec::new();
        let mut pipeline = Pipeline::new();
        core.step(Input::Campaign).unwrap();
        pipeline.drive(&mut core, &mut disk, &mut Vec::new(), &mut applied).unwrap();
        core.propose(crate::log::Command::new(vec![1])).unwrap();
        let mut ready = core.ready();
        assert!(ready.must_sync, "new entries must be synced");
        let last = ready.entries.last().map(|e| (e.index, e.term)).unwrap();
        disk.write(&mut ready).unwrap();
        core.step(Input::Durable { index: last.0, term: last.1 }).unwrap();
        assert_eq!(last.0, core.log().durable_index());
        let ready = core.ready();
        assert_eq!(ready.hard_state.map(|h| h.commit), Some(last.0));
        assert!(ready.entries.is_empty());
        assert!(!ready.must_sync, "a commit-only hard state needs no sync of its own");
    }
}
