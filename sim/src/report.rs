//! What a run reports: failures by kind (each with its own exit code) and counters.

use std::fmt;

/// The kinds of failure, each with its own exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureKind {
    /// The engine or the simulator panicked.
    Panic,
    /// A safety invariant broke.
    Safety,
    /// The client history is not linearizable.
    Linearizability,
    /// No leader, or pending requests never completed, after the network healed.
    Liveness,
}

impl FailureKind {
    /// Every kind.
    pub const ALL: [FailureKind; 4] =
        [FailureKind::Panic, FailureKind::Safety, FailureKind::Linearizability, FailureKind::Liveness];

    /// The exit code of `quorate-sim replay` for this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            FailureKind::Panic => 10,
            FailureKind::Safety => 11,
            FailureKind::Linearizability => 12,
            FailureKind::Liveness => 13,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Panic => "panic",
            FailureKind::Safety => "safety",
            FailureKind::Linearizability => "linearizability",
            FailureKind::Liveness => "liveness",
        })
    }
}

/// A failed run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// What broke.
    pub message: String,
    /// Virtual time of the failure.
    pub at_ms: u64,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failure at {} ms: {}", self.kind, self.at_ms, self.message)
    }
}

/// Faults injected, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Partitions started.
    pub partitions: u64,
    /// Crashes.
    pub crashes: u64,
    /// Restarts.
    pub restarts: u64,
    /// Pauses.
    pub pauses: u64,
    /// Clock jumps.
    pub clock_jumps: u64,
}

impl FaultCounts {
    /// Adds another run's counts.
    pub fn add(&mut self, other: &FaultCounts) {
        self.partitions += other.partitions;
        self.crashes += other.crashes;
        self.restarts += other.restarts;
        self.pauses += other.pauses;
        self.clock_jumps += other.clock_jumps;
    }
}

/// Counters of one run (or, summed, of a sweep).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events processed.
    pub events: u64,
    /// Virtual milliseconds simulated.
    pub virtual_ms: u64,
    /// Messages sent.
    pub sent: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Messages dropped by loss or partitions.
    pub dropped: u64,
    /// Messages duplicated.
    pub duplicated: u64,
    /// Messages held up by an extra delay.
    pub slowed: u64,
    /// Entries applied, over all nodes.
    pub applied: u64,
    /// Client operations invoked.
    pub ops: u64,
    /// Client operations completed with a known outcome.
    pub completed: u64,
    /// Client operations abandoned (unknown outcome).
    pub abandoned: u64,
    /// Client retries that joined their first try's pending entry instead of appending.
    pub joined_retries: u64,
    /// Bytes lost or torn by crashes.
    pub lost_bytes: u64,
    /// Reads of a node's log storage that failed (an injected fault).
    pub failed_reads: u64,
    /// Snapshots nodes took of their own state machines.
    pub snapshots_taken: u64,
    /// Snapshots nodes installed from a leader.
    pub snapshots_installed: u64,
    /// Snapshot chunks sent.
    pub snapshot_chunks: u64,
    /// Membership changes asked of a leader.
    pub membership_proposed: u64,
    /// Of those, the ones the leader refused (another in progress, its term not committed).
    pub membership_refused: u64,
    /// Configuration changes that committed and completed (a learner added or removed, or
    /// C_new).
    pub membership_completed: u64,
    /// Nodes added (proposed and accepted by a leader).
    pub nodes_added: u64,
    /// Nodes removed (proposed and accepted by a leader).
    pub nodes_removed: u64,
    /// Gets answered through the log.
    pub reads_log: u64,
    /// Gets answered by ReadIndex at the leader.
    pub reads_read_index: u64,
    /// Gets answered from the leader's lease.
    pub reads_lease: u64,
    /// Gets answered by a follower, with the leader's read index.
    pub reads_follower: u64,
    /// Gets without the log that failed (not the leader, timed out): the client retried.
    pub reads_failed: u64,
    /// Leadership transfers asked of a leader.
    pub transfers: u64,
    /// Of those, the ones whose target became leader.
    pub transfers_completed: u64,
    /// Leaders' writes to the fenced store that landed.
    pub fenced_landed: u64,
    /// Writes the fenced store refused (a token below the highest it had seen).
    pub fenced_refused: u64,
    /// Virtual milliseconds the liveness phase took.
    pub liveness_ms: u64,
    /// Election rounds the liveness phase took to elect a stable leader (the most of a sweep).
    pub liveness_leader_rounds: u64,
    /// Elections in the liveness phase (summed over a sweep).
    pub liveness_elections: u64,
    /// Terms the liveness phase added (summed over a sweep).
    pub liveness_terms: u64,
    /// Histories the linearizability checker could not decide within its step budget.
    pub lincheck_unknown: u64,
    /// Faults injected.
    pub faults: FaultCounts,
    /// Reloads of the dynamic configuration (on every node).
    pub reloads: u64,
    /// Node reloads whose values were corrected rather than applied as asked.
    pub reloads_corrected: u64,
    /// Failover elections triggered at a follower.
    pub failovers: u64,
    /// Of those, the ones triggered while the follower's leader was healthy.
    pub failovers_healthy: u64,
    /// Placement moves planned by leaders' schedulers.
    pub placement_planned: u64,
    /// Distinct placement moves applied.
    pub placement_applied: u64,
    /// Alerts raised, and those judged false or missed.
    pub alerts: crate::alerts::AlertCounts,
}

impl Stats {
    /// Adds another run's counters.
    pub fn add(&mut self, other: &Stats) {
        self.events += other.events;
        self.virtual_ms += other.virtual_ms;
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.dropped += other.dropped;
        self.duplicated += other.duplicated;
        self.slowed += other.slowed;
        self.applied += other.applied;
        self.ops += other.ops;
        self.completed += other.completed;
        self.abandoned += other.abandoned;
        self.joined_retries += other.joined_retries;
        self.lost_bytes += other.lost_bytes;
        self.failed_reads += other.failed_reads;
        self.snapshots_taken += other.snapshots_taken;
        self.snapshots_installed += other.snapshots_installed;
        self.snapshot_chunks += other.snapshot_chunks;
        self.membership_proposed += other.membership_proposed;
        self.membership_refused += other.membership_refused;
        self.membership_completed += other.membership_completed;
        self.nodes_added += other.nodes_added;
        self.nodes_removed += other.nodes_removed;
        self.reads_log += other.reads_log;
        self.reads_read_index += other.reads_read_index;
        self.reads_lease += other.reads_lease;
        self.reads_follower += other.reads_follower;
        self.reads_failed += other.reads_failed;
        self.transfers += other.transfers;
        self.transfers_completed += other.transfers_completed;
        self.fenced_landed += other.fenced_landed;
        self.fenced_refused += other.fenced_refused;
        self.liveness_ms = self.liveness_ms.max(other.liveness_ms);
        self.liveness_leader_rounds = self.liveness_leader_rounds.max(other.liveness_leader_rounds);
        self.liveness_elections += other.liveness_elections;
        self.liveness_terms += other.liveness_terms;
        self.lincheck_unknown += other.lincheck_unknown;
        self.faults.add(&other.faults);
        self.reloads += other.reloads;
        self.reloads_corrected += other.reloads_corrected;
        self.failovers += other.failovers;
        self.failovers_healthy += other.failovers_healthy;
        self.placement_planned += other.placement_planned;
        self.placement_applied += other.placement_applied;
        self.alerts.add(&other.alerts);
    }
}
