//! A node's disk: a segmented write-ahead log, a hard-state file and snapshot files, in its
//! data directory.
//!
//! ```text
//! DATA_DIR/identity                 cluster id and node id, written once
//! DATA_DIR/hardstate                term and vote (and commit), replaced atomically when term or vote change
//! DATA_DIR/wal/00000000000000000001.wal   segments: records of quorate::wal (entries, truncations, hard states)
//! DATA_DIR/snap/<index>-<term>.snap       the latest snapshot, a quorate::wal snapshot record
//! ```
//!
//! The node's side ([`DiskLog`], a [`LogStore`]) encodes records and queues them, in order,
//! to one writer thread, which appends them to the current segment and, when the pipeline
//! asks for a sync, fsyncs once for everything queued so far (group commit: the proposals
//! of every batch written while the previous fsync ran share the next one). The entries
//! themselves stay in memory, shared with the core ([`MemoryLog`]), until a snapshot covers
//! them: the core reads back from there what it evicted, so the log is never read from disk
//! but at recovery.
//!
//! A snapshot is written to a temporary file, fsynced, renamed, and the directory fsynced;
//! then a new segment (the *base*) is written the same way, holding a compaction record to
//! the snapshot's point followed by the entries the log keeps after it and the hard state;
//! only then are the older segments and snapshots deleted. Recovery starts from the newest
//! base, so a crash at any point leaves either the old files or the new ones in force.
//! Only the last segment can end in a torn record (a segment is fsynced before the next one
//! starts): it is cut back to its valid prefix. A bad record anywhere else is corruption and
//! stops the node with an error naming the file.

use crate::fs::{self, File};
use crate::metrics::Metrics;
use quorate::codec::{self, FrameKind};
use quorate::core::{DurableState, HardState, Ready};
use quorate::driver::{LogStore, MemoryLog};
use quorate::error::{RaftError, RaftResult};
use quorate::log::SnapshotPoint;
use quorate::snapshot::Snapshot;
use quorate::types::LogIndex;
use quorate::wal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Default size at which the writer starts a new segment.
pub const SEGMENT_BYTES: u64 = 64 << 20;

/// An I/O error, naming the path it concerns.
fn io_error(what: &str, path: &Path, err: std::io::Error) -> RaftError {
    RaftError::StorageError(format!("{what} {}: {err}", path.display()))
}

/// Who a data directory belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The cluster's id.
    pub cluster_id: String,
    /// The node's id.
    pub node_id: u64,
}

impl Identity {
    fn encode(&self) -> String {
        format!("cluster_id = {:?}\nnode_id = {}\n", self.cluster_id, self.node_id)
    }

    fn decode(text: &str) -> Option<Identity> {
        #[derive(serde::Deserialize)]
        struct Raw {
            cluster_id: String,
            node_id: u64,
        }
        let raw: Raw = toml::from_str(text).ok()?;
        Some(Identity { cluster_id: raw.cluster_id, node_id: raw.node_id })
    }
}

/// What recovery found and did, for the log.
#[derive(Clone, Debug, Default)]
pub struct RecoveryReport {
    /// Segments replayed.
    pub segments: usize,
    /// Bytes of log replayed.
    pub wal_bytes: u64,
    /// Bytes cut from a torn tail.
    pub torn_bytes: u64,
    /// The snapshot recovered, if any.
    pub snapshot: Option<SnapshotPoint>,
    /// Entries recovered after the snapshot point.
    pub entries: usize,
    /// How long recovery took.
    pub took: Duration,
}

/// The files of a data directory.
#[derive(Clone, Debug)]
struct Layout {
    root: PathBuf,
    wal: PathBuf,
    snap: PathBuf,
}

impl Layout {
    fn new(root: &Path) -> Layout {
        Layout { root: root.to_path_buf(), wal: root.join("wal"), snap: root.join("snap") }
    }

    fn identity(&self) -> PathBuf {
        self.root.join("identity")
    }

    fn hard_state(&self) -> PathBuf {
        self.root.join("hardstate")
    }

    fn segment(&self, seq: u64) -> PathBuf {
        self.wal.join(format!("{seq:020}.wal"))
    }

    fn snapshot(&self, point: SnapshotPoint) -> PathBuf {
        self.snap.join(format!("{:020}-{:020}.snap", point.index.0, point.term.0))
    }
}

/// Lists `dir`'s files named `<stem>.<ext>` whose stem parses with `parse`, sorted; deletes
/// leftover temporary files (`*.tmp`).
fn list<T: Ord>(dir: &Path, ext: &str, parse: impl Fn(&str) -> Option<T>) -> RaftResult<Vec<(T, PathBuf)>> {
    let mut found = Vec::new();
    for (name, path) in fs::list(dir).map_err(|e| io_error("cannot list", dir, e))? {
        if name.ends_with(".tmp") {
            fs::remove(&path).map_err(|e| io_error("cannot remove", &path, e))?;
            continue;
        }
        if let Some(key) = name.strip_suffix(&format!(".{ext}")).and_then(&parse) {
            found.push((key, path));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// Fsyncs a directory, so that the names created or removed in it are durable.
fn sync_dir(dir: &Path) -> RaftResult<()> {
    fs::sync_dir(dir).map_err(|e| io_error("cannot fsync the directory", dir, e))
}

/// Writes `bytes` to `path` atomically: a temporary file, fsynced, renamed over `path`, and
/// the directory fsynced.
fn write_atomic(path: &Path, bytes: &[u8]) -> RaftResult<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(|e| io_error("cannot create", &tmp, e))?;
    file.write_all(bytes).map_err(|e| io_error("cannot write", &tmp, e))?;
    file.sync().map_err(|e| io_error("cannot fsync", &tmp, e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| io_error("cannot rename into place", path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn read(path: &Path) -> RaftResult<Vec<u8>> {
    fs::read(path).map_err(|e| io_error("cannot read", path, e))
}

/// Opens a data directory: creates it (and its identity) on first start, checks that it
/// belongs to `identity` otherwise, and recovers the durable state.
///
/// Fails, naming the path, when the directory cannot be created or written, belongs to
/// another cluster or node, or holds a corrupt file other than a torn last record.
pub fn open(
    root: &Path,
    identity: &Identity,
    metrics: Arc<Metrics>,
    segment_bytes: u64,
) -> RaftResult<(DurableState, DiskLog, RecoveryReport)> {
    let started = Instant::now();
    let layout = Layout::new(root);
    for dir in [&layout.root, &layout.wal, &layout.snap] {
        fs::create_dir_all(dir).map_err(|e| io_error("cannot create the data directory", dir, e))?;
    }
    check_identity(&layout, identity)?;
    let mut report = RecoveryReport::default();

    // The latest snapshot.
    let snapshots = list(&layout.snap, "snap", parse_point)?;
    let latest_snapshot = match snapshots.last() {
        None => None,
        Some((_, path)) => {
            let bytes = read(path)?;
            let (snapshot, _): (Snapshot, usize) = codec::decode(FrameKind::Snapshot, &bytes)
                .map_err(|e| RaftError::StorageError(format!("corrupt snapshot {}: {e}", path.display())))?;
            if !snapshot.verify() {
                return Err(RaftError::StorageError(format!(
                    "corrupt snapshot {}: its checksum does not match",
                    path.display()
                )));
            }
            Some(snapshot)
        }
    };
    report.snapshot = latest_snapshot.as_ref().map(Snapshot::point);

    // The segments, from the newest base.
    let mut segments = list(&layout.wal, "wal", |s| s.parse::<u64>().ok())?;
    let base = segments.iter().rposition(|(_, path)| starts_with_compaction(path)).unwrap_or(0);
    for (_, stale) in segments.drain(..base) {
        fs::remove(&stale).map_err(|e| io_error("cannot remove", &stale, e))?;
    }
    let mut state = DurableState::default();
    let count = segments.len();
    for (k, (_, path)) in segments.iter().enumerate() {
        let bytes = read(path)?;
        let (valid, stopped) = wal::replay_into(&mut state, &bytes);
        report.wal_bytes += valid as u64;
        if let Some(why) = stopped {
            if k + 1 < count {
                return Err(RaftError::StorageError(format!(
                    "corrupt write-ahead log segment {} at byte {valid}: {why} (only the last segment may end torn)",
                    path.display()
                )));
            }
            // A torn tail is the end of the file: a valid record after the bad one means the
            // damage is to records written before others, which a sync may have covered.
            if let Some(at) = next_valid_frame(&bytes, valid + 1) {
                return Err(RaftError::StorageError(format!(
                    "corrupt write-ahead log segment {} at byte {valid}: {why} (a valid record follows at byte {at}, \
                     so this is not a torn tail)",
                    path.display()
                )));
            }
            fs::truncate(path, valid as u64).map_err(|e| io_error("cannot cut the torn tail of", path, e))?;
            report.torn_bytes = (bytes.len() - valid) as u64;
            tracing::warn!(segment = %path.display(), valid, torn = report.torn_bytes, %why, "cut a torn tail");
        }
    }
    report.segments = count;

    // The hard state: term and vote from the file when it is newer than the log's records.
    if fs::exists(&layout.hard_state()) {
        let path = layout.hard_state();
        let bytes = read(&path)?;
        let (file, _): (HardState, usize) = codec::decode(FrameKind::HardState, &bytes)
            .map_err(|e| RaftError::StorageError(format!("corrupt hard state {}: {e}", path.display())))?;
        let wal_hs = state.hard_state;
        if file.term > wal_hs.term || (file.term == wal_hs.term && wal_hs.vote.is_none()) {
            state.hard_state.term = file.term;
            state.hard_state.vote = file.vote;
        }
        state.hard_state.commit = wal_hs.commit.max(file.commit);
    }
    if let Some(snapshot) = &latest_snapshot {
        if snapshot.meta.index < state.snapshot.index {
            return Err(RaftError::StorageError(format!(
                "the log starts after {:?}, but the latest snapshot in {} is at {:?}",
                state.snapshot,
                layout.snap.display(),
                snapshot.point()
            )));
        }
    } else if state.snapshot.index > LogIndex(0) {
        return Err(RaftError::StorageError(format!(
            "the log starts after {:?}, but {} holds no snapshot",
            state.snapshot,
            layout.snap.display()
        )));
    }
    state.latest_snapshot = latest_snapshot;
    // The commit index may run ahead of a log whose last records were torn: it is recovered
    // from the leader.
    let last = state.entries.last().map_or(state.snapshot.index, |e| e.index);
    let floor = state.latest_snapshot.as_ref().map_or(state.snapshot.index, |s| s.meta.index);
    state.hard_state.commit = state.hard_state.commit.min(last.max(floor));
    report.entries = state.entries.len();

    let (seq, len) = match segments.last() {
        Some((seq, path)) => (*seq, fs::len(path).map_err(|e| io_error("cannot stat", path, e))?),
        None => (1, 0),
    };
    let writer = Writer::open(layout.clone(), seq, len, segment_bytes, Arc::clone(&metrics))?;
    let wal_last = state.entries.last().map_or(state.snapshot.index, |e| e.index);
    let log = DiskLog {
        mem: MemoryLog::recovered(&state),
        writer: Some(writer),
        queued: 0,
        durable: Arc::new(AtomicU64::new(0)),
        hard_state: state.hard_state,
        wal_last,
        sender: None,
    };
    report.took = started.elapsed();
    Ok((state, log, report))
}

/// A snapshot file's (index, term), from its name.
fn parse_point(stem: &str) -> Option<(u64, u64)> {
    let (index, term) = stem.split_once('-')?;
    Some((index.parse().ok()?, term.parse().ok()?))
}

/// The offset of the first frame at or after `from` that decodes whole (any kind).
fn next_valid_frame(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at + codec::HEADER_LEN <= bytes.len() {
        let found = bytes[at..].windows(4).position(|w| w == codec::MAGIC)?;
        at += found;
        if frame_checks_out(&bytes[at..]) {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// Whether `bytes` start with a whole frame whose checksum matches.
fn frame_checks_out(bytes: &[u8]) -> bool {
    let Some(header) = bytes.get(..codec::HEADER_LEN) else { return false };
    let len = u32::from_le_bytes([header[6], header[7], header[8], header[9]]) as usize;
    let crc = u32::from_le_bytes([header[10], header[11], header[12], header[13]]);
    len <= codec::MAX_FRAME_PAYLOAD
        && bytes
            .get(codec::HEADER_LEN..codec::HEADER_LEN + len)
            .is_some_and(|payload| crc32c::crc32c(payload) == crc)
}

/// Whether a segment's first record is a compaction (a base segment).
fn starts_with_compaction(path: &Path) -> bool {
    let Ok(bytes) = fs::read(path) else { return false };
    bytes.len() >= codec::HEADER_LEN && bytes[..4] == codec::MAGIC && bytes[5] == FrameKind::Compact as u8
}

fn check_identity(layout: &Layout, identity: &Identity) -> RaftResult<()> {
    let path = layout.identity();
    match fs::read(&path).map(|b| String::from_utf8_lossy(&b).into_owned()) {
        Ok(text) => {
            let Some(found) = Identity::decode(&text) else {
                return Err(RaftError::StorageError(format!("{} is not an identity file", path.display())));
            };
            if found.cluster_id != identity.cluster_id {
                return Err(RaftError::StorageError(format!(
                    "the data directory {} belongs to cluster {:?}, not {:?}",
                    layout.root.display(),
                    found.cluster_id,
                    identity.cluster_id
                )));
            }
            if found.node_id != identity.node_id {
                return Err(RaftError::StorageError(format!(
                    "the data directory {} belongs to node {}, not {}",
                    layout.root.display(),
                    found.node_id,
                    identity.node_id
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let has_log = fs::list(&layout.wal).map(|d| !d.is_empty()).unwrap_or(false);
            if has_log || fs::exists(&layout.hard_state()) {
                return Err(RaftError::StorageError(format!(
                    "the data directory {} holds a log but no identity file",
                    layout.root.display()
                )));
            }
            write_atomic(&path, identity.encode().as_bytes())
        }
        Err(e) => Err(io_error("cannot read", &path, e)),
    }
}

/// What the node's side asks of the writer thread, in order.
enum Op {
    /// Append records to the log.
    Records(Vec<u8>),
    /// Replace the hard-state file.
    HardState(HardState),
    /// Write a snapshot file, then a base segment with these records, then delete what
    /// they replace.
    Snapshot { snapshot: Snapshot, base: Vec<u8> },
    /// Make everything up to this position durable and report it.
    Sync(u64),
}

/// How the writer reports a sync, or the error that stopped it.
pub type SyncReport = Box<dyn Fn(Result<u64, String>) + Send>;

/// The running log writer: a thread in a normal build, a task under madsim.
pub struct WriterHandle(
    #[cfg(not(madsim))] std::thread::JoinHandle<()>,
    #[cfg(madsim)] tokio::task::JoinHandle<()>,
);

impl WriterHandle {
    /// Waits until the writer has flushed, fsynced and ended.
    pub async fn join(self) {
        #[cfg(not(madsim))]
        {
            let _ = tokio::task::spawn_blocking(move || self.0.join()).await;
        }
        #[cfg(madsim)]
        {
            let _ = self.0.await;
        }
    }
}

/// The writer thread's state.
struct Writer {
    layout: Layout,
    seq: u64,
    file: File,
    len: u64,
    segment_bytes: u64,
    /// The current segment has writes not yet fsynced.
    dirty: bool,
    /// The wal directory has names not yet fsynced.
    dir_dirty: bool,
    metrics: Arc<Metrics>,
}

impl Writer {
    fn open(
        layout: Layout,
        seq: u64,
        len: u64,
        segment_bytes: u64,
        metrics: Arc<Metrics>,
    ) -> RaftResult<Writer> {
        let path = layout.segment(seq);
        let file = File::append(&path).map_err(|e| io_error("cannot open the write-ahead log", &path, e))?;
        let dir_dirty = len == 0;
        Ok(Writer { layout, seq, file, len, segment_bytes, dirty: false, dir_dirty, metrics })
    }

    fn path(&self) -> PathBuf {
        self.layout.segment(self.seq)
    }

    fn fsync(&mut self) -> RaftResult<()> {
        if self.dirty {
            let started = Instant::now();
            self.file.sync().map_err(|e| io_error("cannot fsync", &self.path(), e))?;
            self.metrics.fsync(started.elapsed());
            self.dirty = false;
        }
        if self.dir_dirty {
            sync_dir(&self.layout.wal)?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> RaftResult<()> {
        if self.len > 0 && self.len + bytes.len() as u64 > self.segment_bytes {
            // A segment is durable before the next starts: only the last can end torn.
            self.fsync()?;
            *self = Writer::open(
                self.layout.clone(),
                self.seq + 1,
                0,
                self.segment_bytes,
                Arc::clone(&self.metrics),
            )?;
        }
        self.file.write_all(bytes).map_err(|e| io_error("cannot write", &self.path(), e))?;
        self.len += bytes.len() as u64;
        self.dirty = true;
        self.metrics.wal_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn snapshot(&mut self, snapshot: &Snapshot, base: &[u8]) -> RaftResult<()> {
        let record = wal::snapshot_record(snapshot)
            .map_err(|e| RaftError::StorageError(format!("cannot encode the snapshot: {e}")))?;
        let path = self.layout.snapshot(snapshot.point());
        write_atomic(&path, &record)?;
        let next = self.seq + 1;
        write_atomic(&self.layout.segment(next), base)?;
        *self = Writer::open(
            self.layout.clone(),
            next,
            base.len() as u64,
            self.segment_bytes,
            Arc::clone(&self.metrics),
        )?;
        for (seq, old) in list(&self.layout.wal, "wal", |s| s.parse::<u64>().ok())? {
            if seq < next {
                fs::remove(&old).map_err(|e| io_error("cannot remove", &old, e))?;
            }
        }
        for (point, old) in list(&self.layout.snap, "snap", parse_point)? {
            if point.0 < snapshot.meta.index.0 {
                fs::remove(&old).map_err(|e| io_error("cannot remove", &old, e))?;
            }
        }
        self.metrics.snapshots_written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Handles ops in order until the channel closes or an error stops it. The file
    /// operations block: in a normal build this runs on a thread of its own
    /// ([`DiskLog::start`]); under madsim, as a task (the in-memory disk does not block).
    async fn run(
        mut self,
        mut ops: mpsc::UnboundedReceiver<Op>,
        durable: Arc<AtomicU64>,
        report: SyncReport,
    ) {
        let mut pending: Option<Op> = None;
        loop {
            let op = match pending.take() {
                Some(op) => op,
                None => match ops.recv().await {
                    Some(op) => op,
                    None => break,
                },
            };
            let result = match op {
                Op::Records(bytes) => self.append(&bytes),
                Op::HardState(hs) => codec::encode(FrameKind::HardState, &hs)
                    .map_err(|e| RaftError::StorageError(e.to_string()))
                    .and_then(|bytes| write_atomic(&self.layout.hard_state(), &bytes)),
                Op::Snapshot { snapshot, base } => self.snapshot(&snapshot, &base),
                Op::Sync(mut to) => {
                    // Everything queued meanwhile joins this fsync (group commit).
                    let mut result = Ok(());
                    while let Ok(next) = ops.try_recv() {
                        match next {
                            Op::Sync(p) => to = to.max(p),
                            Op::Records(bytes) => result = result.and_then(|()| self.append(&bytes)),
                            other => {
                                pending = Some(other);
                                break;
                            }
                        }
                    }
                    // Under madsim an fsync takes simulated time, as a disk's does: without it a
                    // one-voter cluster on the in-memory disk commits in no time at all, and a
                    // client looping on it would keep the simulated clock from moving.
                    #[cfg(madsim)]
                    tokio::time::sleep(std::time::Duration::from_micros(
                        100 + madsim::rand::random::<u64>() % 900,
                    ))
                    .await;
                    let result = result.and_then(|()| self.fsync());
                    if result.is_ok() {
                        durable.fetch_max(to, Ordering::SeqCst);
                        report(Ok(to));
                    }
                    result
                }
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "the disk failed: the node stops");
                report(Err(e.to_string()));
                return;
            }
        }
        if let Err(e) = self.fsync() {
            tracing::error!(error = %e, "the last fsync failed");
        }
    }
}

/// The node's side of its disk: a [`LogStore`] over the writer thread, with the log in
/// memory ([`MemoryLog`], also the core's [`quorate::log_source::LogSource`]).
pub struct DiskLog {
    mem: MemoryLog,
    writer: Option<Writer>,
    sender: Option<mpsc::UnboundedSender<Op>>,
    /// Ops queued so far (positions count them).
    queued: u64,
    /// The highest position the writer made durable.
    durable: Arc<AtomicU64>,
    /// The hard state last written.
    hard_state: HardState,
    /// The last index the log on disk holds.
    wal_last: LogIndex,
}

impl DiskLog {
    /// Starts the log writer; `report` is called (on its thread) with each completed sync's
    /// position, or with the error that stopped it. The handle ends once the writer has
    /// flushed and fsynced what it was given, after [`DiskLog::stop`].
    pub fn start(&mut self, report: SyncReport) -> RaftResult<WriterHandle> {
        let writer =
            self.writer.take().ok_or_else(|| RaftError::Other("the writer already started".into()))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let durable = Arc::clone(&self.durable);
        self.sender = Some(tx);
        #[cfg(not(madsim))]
        {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| RaftError::StorageError(format!("cannot start the log writer: {e}")))?;
            std::thread::Builder::new()
                .name("wal-writer".into())
                .spawn(move || runtime.block_on(writer.run(rx, durable, report)))
                .map(WriterHandle)
                .map_err(|e| RaftError::StorageError(format!("cannot start the log writer: {e}")))
        }
        #[cfg(madsim)]
        {
            Ok(WriterHandle(tokio::spawn(writer.run(rx, durable, report))))
        }
    }

    /// The log in memory, for the core to read back what it evicted.
    pub fn memory(&self) -> MemoryLog {
        self.mem.clone()
    }

    /// Stops queuing: the writer finishes what it has, fsyncs, and its thread ends.
    pub fn stop(&mut self) {
        self.sender = None;
    }

    fn queue(&mut self, op: Op) -> RaftResult<()> {
        let sender = self
            .sender
            .as_ref()
            .ok_or_else(|| RaftError::StorageError("the log writer is not running".into()))?;
        sender.send(op).map_err(|_| RaftError::StorageError("the log writer stopped".into()))?;
        self.queued += 1;
        Ok(())
    }

    /// The records that start a base segment for a snapshot at `point`: the compaction to
    /// it, the entries the log keeps after it (if it holds the point with its term), the hard
    /// state. Also says whether the log keeps entries.
    fn base(&self, point: SnapshotPoint) -> (Vec<u8>, bool) {
        let mut base = wal::compact_record(&point);
        let entries = self.mem.to_vec();
        let holds = entries.iter().any(|e| e.index == point.index && e.term == point.term);
        if holds {
            for entry in entries.iter().filter(|e| e.index > point.index) {
                base.extend(wal::entry_record(entry));
            }
        }
        base.extend(wal::hard_state_record(&self.hard_state));
        (base, holds)
    }
}

impl LogStore for DiskLog {
    fn write(&mut self, ready: &mut Ready) -> RaftResult<u64> {
        if !ready.must_persist() {
            return Ok(self.queued);
        }
        if let Some(snapshot) = &ready.snapshot {
            let point = snapshot.point();
            let (base, keeps) = self.base(point);
            self.wal_last = if keeps { self.wal_last.max(point.index) } else { point.index };
            self.queue(Op::Snapshot { snapshot: snapshot.clone(), base })?;
        }
        let mut records = Vec::new();
        if let Some(first) = ready.entries.first() {
            if first.index <= self.wal_last {
                records.extend(wal::truncate_record(first.index));
            }
            for entry in ready.entries.iter() {
                records.extend(wal::entry_record(entry));
            }
            self.wal_last = ready.entries.last().map_or(self.wal_last, |e| e.index);
        }
        if let Some(hs) = ready.hard_state {
            records.extend(wal::hard_state_record(&hs));
        }
        if !records.is_empty() {
            self.queue(Op::Records(records))?;
        }
        if let Some(hs) = ready.hard_state {
            if (hs.term, hs.vote) != (self.hard_state.term, self.hard_state.vote) {
                self.queue(Op::HardState(hs))?;
            }
            self.hard_state = hs;
        }
        self.mem.write(ready)?;
        Ok(self.queued)
    }

    fn sync(&mut self, position: u64) -> RaftResult<bool> {
        if self.durable.load(Ordering::SeqCst) >= position {
            return Ok(true);
        }
        self.queue(Op::Sync(position))?;
        self.queued -= 1; // a sync is not a write: positions count writes
        Ok(false)
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;
    use quorate::log::{Command, LogEntry};
    use quorate::types::Term;
    use std::fs;

    fn identity() -> Identity {
        Identity { cluster_id: "test".into(), node_id: 1 }
    }

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "quorate-storage-{name}-{}-{}",
            std::process::id(),
            crate::entropy()
        ));
        fs::create_dir_all(dir.join("wal")).unwrap();
        dir
    }

    /// A segment of `n` entries with a hard state record after each.
    fn segment(n: u64) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for i in 1..=n {
            bytes.extend(wal::entry_record(&LogEntry::new(
                Term(1),
                LogIndex(i),
                Command::new(vec![i as u8; 40]),
            )));
            bytes.extend(wal::hard_state_record(&HardState {
                term: Term(1),
                vote: None,
                commit: LogIndex(i),
            }));
            ends.push(bytes.len());
        }
        (bytes, ends)
    }

    #[test]
    fn a_tear_anywhere_recovers_the_records_before_it() {
        let (bytes, ends) = segment(20);
        for cut in (0..bytes.len()).step_by(7) {
            let root = dir("tear");
            fs::write(root.join("wal").join(format!("{:020}.wal", 1)), &bytes[..cut]).unwrap();
            write_atomic(&root.join("identity"), identity().encode().as_bytes()).unwrap();
            let (state, _, report) = open(&root, &identity(), Arc::default(), SEGMENT_BYTES).unwrap();
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            // An entry's record is whole once its bytes are; its hard state may not be yet.
            assert!(state.entries.len() == whole || state.entries.len() == whole + 1, "cut at {cut}");
            assert!(state.hard_state.commit.0 <= state.entries.len() as u64);
            let kept = fs::metadata(root.join("wal").join(format!("{:020}.wal", 1))).unwrap().len();
            assert_eq!(kept + report.torn_bytes, cut as u64, "the file is cut back to its valid prefix");
            fs::remove_dir_all(&root).unwrap();
        }
    }

    #[test]
    fn damaged_segments_are_errors_or_prefixes_never_panics() {
        let (bytes, _) = segment(12);
        let mut rng = 0x9e3779b97f4a7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for _ in 0..200 {
            let mut damaged = bytes.clone();
            for _ in 0..(next() % 4) {
                let at = (next() % damaged.len() as u64) as usize;
                damaged[at] = next() as u8;
            }
            damaged.truncate((next() % (damaged.len() as u64 + 1)) as usize);
            let root = dir("damage");
            fs::write(root.join("wal").join(format!("{:020}.wal", 1)), &damaged).unwrap();
            write_atomic(&root.join("identity"), identity().encode().as_bytes()).unwrap();
            match open(&root, &identity(), Arc::default(), SEGMENT_BYTES) {
                Ok((state, _, _)) => {
                    let indexes: Vec<u64> = state.entries.iter().map(|e| e.index.0).collect();
                    assert_eq!(
                        indexes,
                        (1..=indexes.len() as u64).collect::<Vec<_>>(),
                        "a prefix of the log"
                    );
                }
                Err(e) => assert!(e.to_string().contains("corrupt write-ahead log segment"), "{e}"),
            }
            fs::remove_dir_all(&root).unwrap();
        }
    }
}
