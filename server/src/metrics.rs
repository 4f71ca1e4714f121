//! The node's counters and gauges, rendered in the Prometheus text format (`GET /metrics`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the fsync latency histogram's buckets, in seconds.
const FSYNC_BUCKETS: [f64; 12] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// Counters shared by the node's tasks; gauges are set by the driver after each step.
#[derive(Debug, Default)]
pub struct Metrics {
    /// The node's term.
    pub term: AtomicU64,
    /// 0 follower, 1 pre-candidate, 2 candidate, 3 leader.
    pub role: AtomicU64,
    /// The commit index.
    pub commit_index: AtomicU64,
    /// The applied index.
    pub applied_index: AtomicU64,
    /// Client writes proposed (retries that joined a pending entry excluded).
    pub proposals: AtomicU64,
    /// Elections this node started.
    pub elections: AtomicU64,
    /// Bytes appended to the write-ahead log.
    pub wal_bytes: AtomicU64,
    /// Bytes of messages sent to peers.
    pub bytes_sent: AtomicU64,
    /// Bytes of messages received from peers.
    pub bytes_received: AtomicU64,
    /// Messages dropped because a peer's send queue was full or it was unreachable.
    pub messages_dropped: AtomicU64,
    /// Messages dropped because the node's inbox was full.
    pub inbox_dropped: AtomicU64,
    /// Connections refused at the handshake or closed for a bad frame.
    pub connections_refused: AtomicU64,
    /// Snapshots this node took of its own state.
    pub snapshots_taken: AtomicU64,
    /// Snapshots installed from a leader.
    pub snapshots_installed: AtomicU64,
    /// Snapshot files written.
    pub snapshots_written: AtomicU64,
    /// Fsyncs of the write-ahead log.
    pub fsyncs: AtomicU64,
    fsync_micros: AtomicU64,
    fsync_buckets: [AtomicU64; FSYNC_BUCKETS.len()],
}

impl Metrics {
    /// Records one fsync's latency.
    pub fn fsync(&self, took: Duration) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        if let Some(k) = FSYNC_BUCKETS.iter().position(|&b| secs <= b) {
            self.fsync_buckets[k].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self, node_id: u64) -> String {
        let mut out = String::new();
        let get = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let mut one = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP quorate_{name} {help}\n# TYPE quorate_{name} {kind}");
            let _ = writeln!(out, "quorate_{name}{{node=\"{node_id}\"}} {value}");
        };
        one("term", "gauge", "The node's current term.", get(&self.term));
        one("role", "gauge", "0 follower, 1 pre-candidate, 2 candidate, 3 leader.", get(&self.role));
        one("commit_index", "gauge", "The highest log index known committed.", get(&self.commit_index));
        one(
            "applied_index",
            "gauge",
            "The highest log index applied to the key-value store.",
            get(&self.applied_index),
        );
        one("proposals_total", "counter", "Client writes proposed.", get(&self.proposals));
        one("elections_total", "counter", "Elections this node started.", get(&self.elections));
        one("wal_bytes_total", "counter", "Bytes appended to the write-ahead log.", get(&self.wal_bytes));
        one("sent_bytes_total", "counter", "Bytes of messages sent to peers.", get(&self.bytes_sent));
        one(
            "received_bytes_total",
            "counter",
            "Bytes of messages received from peers.",
            get(&self.bytes_received),
        );
        one(
            "dropped_messages_total",
            "counter",
            "Messages to peers dropped (send queue full or peer unreachable).",
            get(&self.messages_dropped),
        );
        one(
            "inbox_dropped_total",
            "counter",
            "Messages from peers dropped (inbox full).",
            get(&self.inbox_dropped),
        );
        one(
            "refused_connections_total",
            "counter",
            "Peer connections refused at the handshake or closed for a bad frame.",
            get(&self.connections_refused),
        );
        one(
            "snapshots_taken_total",
            "counter",
            "Snapshots taken of the local state.",
            get(&self.snapshots_taken),
        );
        one(
            "snapshots_installed_total",
            "counter",
            "Snapshots installed from a leader.",
            get(&self.snapshots_installed),
        );
        one(
            "snapshot_files_written_total",
            "counter",
            "Snapshot files written.",
            get(&self.snapshots_written),
        );
        let _ = writeln!(
            out,
            "# HELP quorate_fsync_seconds Latency of write-ahead log fsyncs.\n# TYPE quorate_fsync_seconds histogram"
        );
        let mut cumulative = 0;
        for (bound, count) in FSYNC_BUCKETS.iter().zip(&self.fsync_buckets) {
            cumulative += get(count);
            let _ = writeln!(
                out,
                "quorate_fsync_seconds_bucket{{node=\"{node_id}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let total = get(&self.fsyncs);
        let _ = writeln!(out, "quorate_fsync_seconds_bucket{{node=\"{node_id}\",le=\"+Inf\"}} {total}");
        let sum = get(&self.fsync_micros) as f64 / 1e6;
        let _ = writeln!(out, "quorate_fsync_seconds_sum{{node=\"{node_id}\"}} {sum}");
        let _ = writeln!(out, "quorate_fsync_seconds_count{{node=\"{node_id}\"}} {total}");
        out
    }
}
