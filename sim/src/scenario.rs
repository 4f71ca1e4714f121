//! Scenarios and their parameters. A scenario fixes which faults run; its parameters are drawn
//! from the seed ("swarm" testing draws all of them) and printed at the start of a run.

use crate::rng::{chance, float, range, SimRng};
use std::fmt;
use std::str::FromStr;

/// The named scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// No faults: the happy path.
    Basic,
    /// Partitions of every shape, with some message loss.
    Partitions,
    /// Crashes and restarts (with torn writes), and pauses.
    Crashes,
    /// Clock offsets, drift up to ±30% and jumps.
    Clock,
    /// Everything, with parameters drawn from the seed.
    Swarm,
    /// Membership churn (nodes added, removed and replaced, the leader among them) under
    /// crashes and partitions.
    Membership,
    /// Lease reads under clocks drifting as far as the engine's bound allows (node 1's slow,
    /// every other fast), leadership moved around by transfers, and frequent partitions on a
    /// fast network: node 1 cut off while leading keeps its lease while the others elect a
    /// new leader and write, so a lease that outlives the bound shows as a stale read.
    Leases,
}

impl Scenario {
    /// Every scenario, in sweep order.
    pub const ALL: [Scenario; 7] = [
        Scenario::Basic,
        Scenario::Partitions,
        Scenario::Crashes,
        Scenario::Clock,
        Scenario::Swarm,
        Scenario::Membership,
        Scenario::Leases,
    ];

    /// The scenario's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Basic => "basic",
            Scenario::Partitions => "partitions",
            Scenario::Crashes => "crashes",
            Scenario::Clock => "clock",
            Scenario::Swarm => "swarm",
            Scenario::Membership => "membership",
            Scenario::Leases => "leases",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scenario::ALL.into_iter().find(|sc| sc.name() == s).ok_or_else(|| {
            format!("unknown scenario {s:?} (expected one of basic, partitions, crashes, clock, swarm, membership, leases)")
        })
    }
}

/// How the clients' gets are served in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadMix {
    /// Through the log, as a command (a write).
    Log,
    /// By ReadIndex at the leader.
    ReadIndex,
    /// From the leader's lease (by ReadIndex when the run cannot have a lease: no
    /// check-quorum, clock jumps, or a drift that leaves no lease).
    Lease,
    /// At any node: a follower asks the leader for the read index.
    Follower,
    /// Each get draws one of the above.
    Mixed,
}

impl ReadMix {
    /// The name printed with a run's parameters.
    pub fn name(self) -> &'static str {
        match self {
            ReadMix::Log => "log",
            ReadMix::ReadIndex => "read-index",
            ReadMix::Lease => "lease",
            ReadMix::Follower => "follower",
            ReadMix::Mixed => "mixed",
        }
    }
}

/// The parameters of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Number of nodes (all voters).
    pub nodes: u64,
    /// Number of clients.
    pub clients: u32,
    /// Keys the clients touch.
    pub keys: u32,
    /// Virtual milliseconds of the safety phase (faults on, clients issuing).
    pub safety_ms: u64,
    /// Virtual milliseconds the liveness phase may take at most.
    pub liveness_ms: u64,
    /// Operations each client issues at most in the safety phase.
    pub ops_per_client: u32,
    /// One-way message latency range, in milliseconds.
    pub latency_ms: (u64, u64),
    /// Probability a message is lost.
    pub loss: f64,
    /// Probability a message is delivered twice.
    pub duplicate: f64,
    /// Mean milliseconds between partition changes (0: none).
    pub partition_every_ms: u64,
    /// Mean milliseconds between crashes (0: none).
    pub crash_every_ms: u64,
    /// Probability a crash tears the unsynced tail rather than cutting it cleanly.
    pub torn_write: f64,
    /// Probability that a node crashes just before a sync completes (a crash during fsync).
    pub crash_on_sync: f64,
    /// Probability that a scheduled crash hits the current leader rather than a random node.
    pub crash_leader: f64,
    /// Most nodes down at once from crashes: usually a minority, so the cluster stays
    /// available between faults; sometimes every node.
    pub max_down: u64,
    /// Mean milliseconds between pauses (0: none).
    pub pause_every_ms: u64,
    /// Largest clock drift, as a fraction (0.3 is ±30%).
    pub max_drift: f64,
    /// Largest initial clock offset, in milliseconds.
    pub max_offset_ms: u64,
    /// Mean milliseconds between clock jumps (0: none).
    pub jump_every_ms: u64,
    /// Disk sync latency range, in milliseconds.
    pub sync_ms: (u64, u64),
    /// The engine's batching limit (entries per AppendEntries).
    pub max_entries_per_append: usize,
    /// The engine's inflight window.
    pub max_inflight: usize,
    /// Whether the engine runs pre-vote.
    pub pre_vote: bool,
    /// Whether the engine runs check-quorum.
    pub check_quorum: bool,
    /// The engine's heartbeat interval, in milliseconds.
    pub heartbeat_ms: u64,
    /// The engine's election timeout range, in milliseconds.
    pub election_ms: (u64, u64),
    /// Bytes of durable, applied entries each core keeps in memory
    /// ([`quorate::RaftConfig::log_cache_bytes`]); it reads older ones back from the node's
    /// log storage.
    pub log_cache_bytes: u64,
    /// Chance that a read of a node's log storage fails.
    pub read_fail: f64,
    /// A node snapshots its state machine once it has applied this many entries past its
    /// latest snapshot (0: never).
    pub snapshot_every: u64,
    /// Snapshots above this size stream in chunks of this size
    /// ([`quorate::RaftConfig::snapshot_chunk_threshold_bytes`] and
    /// [`quorate::RaftConfig::snapshot_chunk_size_bytes`]).
    pub snapshot_chunk_bytes: u64,
    /// Mean milliseconds between membership changes (0: none): a node added (as a learner,
    /// then promoted), a voter removed (the leader among them), or a learner removed.
    pub membership_every_ms: u64,
    /// Most voters the churn grows the cluster to (at most 7).
    pub max_voters: u64,
    /// How the clients' gets are served.
    pub reads: ReadMix,
    /// The engine serves lease reads ([`quorate::RaftConfig::lease_reads`]).
    pub lease_reads: bool,
    /// Chance that a message is held up on its way (a slow link, a congested queue) by an
    /// extra delay drawn from `slow_ms`: replies then arrive long after they were sent, and
    /// messages overtake each other (safety phase only).
    pub slow: f64,
    /// The extra delay of a held-up message, in milliseconds.
    pub slow_ms: (u64, u64),
    /// Mean milliseconds between leadership transfers asked of the leader (0: none).
    pub transfer_every_ms: u64,
    /// Clients with an id below this one only read: they keep reading from the node they
    /// talk to (a writer gets stuck on a write a cut-off leader cannot commit, and reads no
    /// more until it gives up).
    pub readers: u32,
    /// Clocks drift by the whole `max_drift` rather than by any amount up to it: node 1's
    /// the slowest the bound allows, every other node's the fastest.
    pub extreme_drift: bool,
    /// The engine's bound on clock drift ([`quorate::RaftConfig::max_clock_drift_ms`]): what
    /// the drawn drift can make two clocks disagree by over a minimum election timeout.
    pub max_clock_drift_ms: u64,
    /// The engine's failure detection window ([`quorate::RaftConfig::failure_detection_ms`]).
    pub failure_detection_ms: u64,
    /// The engine's slow-replication threshold
    /// ([`quorate::RaftConfig::slow_replication_entries`]).
    pub slow_replication_entries: u64,
    /// Mean milliseconds between hot reloads of the dynamic configuration on every node (0:
    /// none); some break the rules and must be corrected.
    pub dynamic_every_ms: u64,
    /// Mean milliseconds between failover elections triggered at a random follower (0: none).
    pub failover_every_ms: u64,
    /// The placement scheduler's interval on every node (0: no scheduler).
    pub placement_every_ms: u64,
}

/// The engine's default cache of the log ([`quorate::RaftConfig::log_cache_bytes`]).
const DEFAULT_LOG_CACHE_BYTES: u64 = 8 << 20;

/// The engine's default snapshot chunk ([`quorate::RaftConfig::snapshot_chunk_size_bytes`]).
const DEFAULT_SNAPSHOT_CHUNK_BYTES: u64 = 1 << 20;

impl Params {
    /// Draws how each core caches its log and how often reading the log storage fails, from
    /// a generator of its own keyed by `seed`: the other draws, and so a run's events, are
    /// the same whatever these are (a cache changes no output; only failed reads do).
    pub fn draw_storage(&mut self, scenario: Scenario, seed: u64) {
        let mut rng = crate::rng::rng_for(seed ^ 0x10c_cac4e);
        self.log_cache_bytes =
            [0, 200, 2_000, 30_000, DEFAULT_LOG_CACHE_BYTES][range(&mut rng, 0, 4) as usize];
        if matches!(scenario, Scenario::Swarm | Scenario::Crashes) && chance(&mut rng, 0.3) {
            self.read_fail = float(&mut rng, 0.0, 0.3);
        }
    }

    /// Draws how often nodes snapshot and how snapshots are chunked, from a generator of
    /// its own (keyed by the seed), so that the other draws stay what they were: from
    /// constantly (every 2 entries, in chunks of 8 bytes: every transfer streams) to never.
    pub fn draw_snapshots(&mut self, seed: u64) {
        let mut rng = crate::rng::rng_for(seed ^ 0x5a_a95_407);
        self.snapshot_every = [0, 2, 5, 20, 100, 500][range(&mut rng, 0, 5) as usize];
        self.snapshot_chunk_bytes =
            [8, 64, 1024, DEFAULT_SNAPSHOT_CHUNK_BYTES][range(&mut rng, 0, 3) as usize];
    }

    /// Draws membership churn into 30% of swarm runs, from a generator of its own (keyed by
    /// the seed), so that the other draws stay what they were.
    pub fn draw_membership(&mut self, scenario: Scenario, seed: u64) {
        let mut rng = crate::rng::rng_for(seed ^ 0x3e3b_e125);
        if scenario == Scenario::Swarm && chance(&mut rng, 0.3) {
            self.membership_every_ms = range(&mut rng, 200, 3000);
            self.max_voters = range(&mut rng, 1, 7);
            self.keep_removed_nodes_harmless();
        }
    }

    /// Draws how the clients' gets are served, from a generator of its own (keyed by the
    /// seed), so that the other draws stay what they were: through the log, by ReadIndex,
    /// from the lease or at followers, a quarter of the runs each; half the swarm runs draw
    /// it for each get. Then sets the lease up ([`Params::set_lease`]).
    pub fn draw_reads(&mut self, scenario: Scenario, seed: u64) {
        let mut rng = crate::rng::rng_for(seed ^ 0x4ead_5e1f);
        self.reads = [ReadMix::Log, ReadMix::ReadIndex, ReadMix::Lease, ReadMix::Follower]
            [range(&mut rng, 0, 3) as usize];
        if scenario == Scenario::Swarm && chance(&mut rng, 0.5) {
            self.reads = ReadMix::Mixed;
        }
        if scenario == Scenario::Leases {
            self.reads = if chance(&mut rng, 0.7) { ReadMix::Lease } else { ReadMix::Mixed };
        }
        self.set_lease();
    }

    /// Draws leadership transfers, from a generator of their own (keyed by the seed), so that
    /// the other draws stay what they were: into 40% of the runs with faults.
    pub fn draw_transfers(&mut self, scenario: Scenario, seed: u64) {
        let mut rng = crate::rng::rng_for(seed ^ 0x7a45_d4a3);
        if scenario != Scenario::Basic && chance(&mut rng, 0.4) {
            self.transfer_every_ms = range(&mut rng, 300, 3000);
        }
        if scenario == Scenario::Leases {
            // Leadership moves often, so that the slow-clocked node leads often.
            self.transfer_every_ms = range(&mut rng, 300, 1500);
        }
    }

    /// Draws the operations side, from a generator of its own (keyed by the seed), so that the
    /// other draws stay what they were: the alerts' thresholds (short enough that crashes and
    /// partitions raise them), hot reloads of the dynamic configuration in 30% of the runs
    /// with faults, failover elections in 40% of all runs, and a placement scheduler in half
    /// the swarm and leases runs.
    pub fn draw_ops(&mut self, scenario: Scenario, seed: u64) {
        let mut rng = crate::rng::rng_for(seed ^ 0x0b5e_a1e7);
        self.failure_detection_ms = range(&mut rng, 100, 1500).max(3 * self.heartbeat_ms);
        self.slow_replication_entries = range(&mut rng, 20, 400);
        if scenario != Scenario::Basic && chance(&mut rng, 0.3) {
            self.dynamic_every_ms = range(&mut rng, 300, 3000);
        }
        if chance(&mut rng, 0.4) {
            self.failover_every_ms = range(&mut rng, 100, 2000);
        }
        if matches!(scenario, Scenario::Swarm | Scenario::Leases) && chance(&mut rng, 0.5) {
            // The leases scenario moves leadership around by transfers all the time: a node
            // leads again without its scheduler having seen it follow.
            self.placement_every_ms = range(&mut rng, 20, 500);
        }
    }

    /// Draws held-up messages into 30% of the swarm and partition runs, from a generator of
    /// its own (keyed by the seed), so that the other draws stay what they were.
    pub fn draw_slow(&mut self, scenario: Scenario, seed: u64) {
        let mut rng = crate::rng::rng_for(seed ^ 0x510_3e55);
        if matches!(scenario, Scenario::Swarm | Scenario::Partitions) && chance(&mut rng, 0.3) {
            self.slow = float(&mut rng, 0.005, 0.05);
            self.slow_ms = (50, range(&mut rng, 200, 1500));
        }
        if scenario == Scenario::Leases && chance(&mut rng, 0.5) {
            // A lease must run from when its round was sent: a held-up acknowledgement
            // arrives long after.
            self.slow = float(&mut rng, 0.01, 0.1);
            self.slow_ms = (20, range(&mut rng, 100, 600));
        }
    }

    /// Turns lease reads on where the run's gets may use them and the run can have a lease:
    /// check-quorum on (the followers' side of the lease) and no clock jumps (a jump is a
    /// drift beyond any bound). The engine's drift bound covers the drawn drift: clocks run
    /// at `1 ± max_drift`, so a leader's lease `L` on the slowest clock lasts `L / (1 -
    /// max_drift)` of real time, while a follower on the fastest clock stops refusing votes
    /// `min / (1 + max_drift)` after hearing from it; `L = min (1 - d) / (1 + d)` keeps the
    /// first within the second, so the bound is `min - L = min 2d / (1 + d)`, plus a
    /// millisecond for rounding.
    pub fn set_lease(&mut self) {
        let min = self.election_ms.0;
        let d = self.max_drift;
        self.max_clock_drift_ms = (min as f64 * 2.0 * d / (1.0 + d)).ceil() as u64 + 1;
        let lease = min.saturating_sub(self.max_clock_drift_ms);
        self.lease_reads = matches!(self.reads, ReadMix::Lease | ReadMix::Mixed)
            && self.check_quorum
            && self.jump_every_ms == 0
            && lease > self.heartbeat_ms;
    }

    /// Runs with membership churn keep PreVote and CheckQuorum on: a node removed while cut
    /// off never learns it, keeps its old configuration and campaigns; only the pre-vote
    /// round and the leader lease keep it from deposing the cluster's leaders (Raft
    /// dissertation §4.2.3), so without them churn would measure Raft's known limit rather
    /// than the engine.
    fn keep_removed_nodes_harmless(&mut self) {
        self.pre_vote = true;
        self.check_quorum = true;
    }

    /// Draws the parameters of `scenario` from `rng`.
    pub fn draw(scenario: Scenario, rng: &mut SimRng) -> Params {
        let mut p = Params::calm(rng);
        match scenario {
            Scenario::Basic => {}
            Scenario::Partitions => {
                p.partition_every_ms = range(rng, 300, 1500);
                p.loss = float(rng, 0.0, 0.05);
            }
            Scenario::Crashes => {
                // Sizes that tolerate a crash; swarm covers the others.
                p.nodes = [3, 3, 5, 4][range(rng, 0, 3) as usize];
                p.crash_every_ms = range(rng, 300, 2000);
                p.pause_every_ms = range(rng, 1000, 4000);
                p.torn_write = 0.5;
                p.crash_on_sync = float(rng, 0.0, 0.02);
                p.crash_leader = 0.5;
            }
            Scenario::Clock => {
                p.max_drift = 0.3;
                p.max_offset_ms = 10_000;
                p.jump_every_ms = range(rng, 500, 3000);
            }
            Scenario::Swarm => p = Params::swarm(rng),
            Scenario::Leases => {
                p.nodes = [3, 3, 5][range(rng, 0, 2) as usize];
                p.partition_every_ms = range(rng, 200, 1000);
                p.max_drift = float(rng, 0.1, 0.3);
                p.extreme_drift = true;
                p.readers = p.clients / 2;
                // Crashes and quick restarts: a node that confirmed a leader's lease and
                // restarted must not vote it away.
                p.crash_every_ms = range(rng, 300, 1500);
                p.torn_write = 0.5;
                // Clients keep issuing for the whole safety phase (at a hundred operations
                // each, they are done in a few seconds).
                p.ops_per_client = 400;
                p.latency_ms = (1, range(rng, 2, 6));
            }
            Scenario::Membership => {
                p.nodes = [1, 2, 3, 3, 4, 5][range(rng, 0, 5) as usize];
                p.membership_every_ms = range(rng, 300, 1500);
                p.max_voters = range(rng, 3, 7);
                p.crash_every_ms = range(rng, 800, 4000);
                p.partition_every_ms = range(rng, 800, 4000);
                p.torn_write = 0.5;
                p.crash_leader = 0.3;
            }
        }

        if scenario != Scenario::Basic {
            p.draw_engine(rng);
        }
        if scenario == Scenario::Leases {
            // The lease needs check-quorum (the followers' side of it); with pre-vote a
            // node cut off does not disturb the others when it returns.
            p.check_quorum = true;
            p.pre_vote = true;
        }
        if p.membership_every_ms > 0 {
            p.keep_removed_nodes_harmless();
        }
        if scenario == Scenario::Swarm && chance(rng, 0.2) {
            // Larger clusters without PreVote: more candidates, more disruption by rejoining
            // nodes, more ways to split a vote.
            p.nodes = range(rng, 4, 7);
            p.pre_vote = false;
        }
        let minority = (p.nodes - 1) / 2;
        p.max_down = if chance(rng, 0.8) { minority.max(1) } else { p.nodes };
        p
    }

    /// Varies the engine's own limits, so that small batches and windows (which split a
    /// new leader's catch-up across messages) are exercised too.
    fn draw_engine(&mut self, rng: &mut SimRng) {
        self.max_entries_per_append = [1, 2, 3, 8, 256][range(rng, 0, 4) as usize];
        self.max_inflight = [1, 2, 4, 64][range(rng, 0, 3) as usize];
        self.pre_vote = chance(rng, 0.8);
        self.check_quorum = chance(rng, 0.8);
        if chance(rng, 0.3) {
            // Tight timers: elections overlap and split votes are common. Raft needs the
            // election timeout well above a round trip (paper §5.6), or no leader survives
            // long enough to be heard: keep it above four one-way delays plus syncs, with
            // room for the slowest clock.
            let round_trips = 4 * self.latency_ms.1 + 2 * self.sync_ms.1 + 10;
            let floor = (round_trips as f64 * (1.0 + self.max_drift)).ceil() as u64;
            self.heartbeat_ms = range(rng, 10, 40);
            self.election_ms.0 = (self.heartbeat_ms * range(rng, 2, 4)).max(floor);
            // The narrowest range the engine accepts is [T, 2T - 1]; draw it often.
            let narrowest = 2 * self.election_ms.0 - 1;
            self.election_ms.1 =
                if chance(rng, 0.5) { narrowest } else { narrowest + range(rng, 1, self.election_ms.0) };
            self.heartbeat_ms = self.heartbeat_ms.min(self.election_ms.0 / 2);
        }
        if chance(rng, 0.2) {
            // Elections without their safety nets: no PreVote, no CheckQuorum (so no leader
            // lease), strongly drifting clocks and the narrowest timeout range, where a node
            // whose fast clock always times out first, or a stale candidate that can never
            // win, could keep a cluster leaderless.
            self.pre_vote = false;
            self.check_quorum = false;
            self.max_drift = self.max_drift.max(float(rng, 0.2, 0.3));
            self.election_ms.1 = 2 * self.election_ms.0 - 1;
        }
    }

    /// The engine's defaults and every later parameter off: the part of `calm` and `swarm`
    /// that draws nothing (the fields before `max_entries_per_append` are theirs to draw).
    fn engine_defaults() -> Params {
        Params {
            nodes: 3,
            clients: 1,
            keys: 1,
            safety_ms: 10_000,
            liveness_ms: 20_000,
            ops_per_client: 100,
            latency_ms: (1, 1),
            loss: 0.0,
            duplicate: 0.0,
            partition_every_ms: 0,
            crash_every_ms: 0,
            torn_write: 0.0,
            crash_on_sync: 0.0,
            crash_leader: 0.0,
            max_down: 0,
            pause_every_ms: 0,
            max_drift: 0.0,
            max_offset_ms: 0,
            jump_every_ms: 0,
            sync_ms: (0, 0),
            max_entries_per_append: 256,
            max_inflight: 64,
            pre_vote: true,
            check_quorum: true,
            heartbeat_ms: 50,
            election_ms: (150, 300),
            log_cache_bytes: DEFAULT_LOG_CACHE_BYTES,
            read_fail: 0.0,
            snapshot_every: 0,
            snapshot_chunk_bytes: DEFAULT_SNAPSHOT_CHUNK_BYTES,
            membership_every_ms: 0,
            max_voters: 7,
            reads: ReadMix::Log,
            lease_reads: false,
            max_clock_drift_ms: 0,
            transfer_every_ms: 0,
            slow: 0.0,
            slow_ms: (0, 0),
            extreme_drift: false,
            readers: 0,
            failure_detection_ms: 1000,
            slow_replication_entries: 1000,
            dynamic_every_ms: 0,
            failover_every_ms: 0,
            placement_every_ms: 0,
        }
    }

    fn calm(rng: &mut SimRng) -> Params {
        Params {
            nodes: [3, 3, 5, 1, 2, 4][range(rng, 0, 5) as usize],
            clients: range(rng, 6, 10) as u32,
            keys: range(rng, 2, 5) as u32,
            safety_ms: 10_000,
            liveness_ms: 20_000,
            ops_per_client: 100,
            latency_ms: (1, range(rng, 2, 20)),
            loss: 0.0,
            duplicate: 0.0,
            partition_every_ms: 0,
            crash_every_ms: 0,
            torn_write: 0.0,
            crash_on_sync: 0.0,
            crash_leader: 0.0,
            max_down: 0,
            pause_every_ms: 0,
            max_drift: 0.0,
            max_offset_ms: 0,
            jump_every_ms: 0,
            sync_ms: (0, range(rng, 0, 3)),
            ..Params::engine_defaults()
        }
    }

    fn swarm(rng: &mut SimRng) -> Params {
        let on = |rng: &mut SimRng, lo: u64, hi: u64| if chance(rng, 0.6) { range(rng, lo, hi) } else { 0 };
        let lo = range(rng, 0, 10);
        Params {
            nodes: range(rng, 1, 7),
            clients: range(rng, 4, 10) as u32,
            keys: range(rng, 1, 5) as u32,
            safety_ms: 10_000,
            liveness_ms: 20_000,
            ops_per_client: 100,
            latency_ms: (lo, lo + range(rng, 0, 40)),
            loss: if chance(rng, 0.5) { float(rng, 0.0, 0.1) } else { 0.0 },
            duplicate: match range(rng, 0, 3) {
                0 | 1 => 0.0,
                2 => float(rng, 0.0, 0.05),
                _ => float(rng, 0.05, 0.5),
            },
            partition_every_ms: on(rng, 200, 3000),
            crash_every_ms: on(rng, 300, 3000),
            torn_write: float(rng, 0.0, 1.0),
            crash_on_sync: if chance(rng, 0.4) { float(rng, 0.0, 0.03) } else { 0.0 },
            crash_leader: float(rng, 0.0, 1.0),
            max_down: 0,
            pause_every_ms: on(rng, 500, 5000),
            max_drift: if chance(rng, 0.5) { float(rng, 0.0, 0.3) } else { 0.0 },
            max_offset_ms: range(rng, 0, 5000),
            jump_every_ms: on(rng, 500, 5000),
            sync_ms: (0, range(rng, 0, 5)),
            ..Params::engine_defaults()
        }
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "nodes={} clients={} keys={} latency={}..{}ms loss={:.3} dup={:.3} partition_every={}ms \
             crash_every={}ms torn={:.2} crash_on_sync={:.3} crash_leader={:.2} max_down={} pause_every={}ms drift=±{:.0}% offset<={}ms jump_every={}ms sync={}..{}ms \
             batch={} inflight={} pre_vote={} check_quorum={} heartbeat={}ms election={}..{}ms log_cache={}B read_fail={:.2} \
             snapshot_every={} snapshot_chunk={}B membership_every={}ms max_voters={} reads={} lease={} max_clock_drift={}ms transfer_every={}ms slow={:.3} slow_ms={}..{} extreme_drift={} readers={} \
             failure_detection={}ms slow_replication={} dynamic_every={}ms failover_every={}ms placement_every={}ms",
            self.nodes,
            self.clients,
            self.keys,
            self.latency_ms.0,
            self.latency_ms.1,
            self.loss,
            self.duplicate,
            self.partition_every_ms,
            self.crash_every_ms,
            self.torn_write,
            self.crash_on_sync,
            self.crash_leader,
            self.max_down,
            self.pause_every_ms,
            self.max_drift * 100.0,
            self.max_offset_ms,
            self.jump_every_ms,
            self.sync_ms.0,
            self.sync_ms.1,
            self.max_entries_per_append,
            self.max_inflight,
            self.pre_vote,
            self.check_quorum,
            self.heartbeat_ms,
            self.election_ms.0,
            self.election_ms.1,
            self.log_cache_bytes,
            self.read_fail,
            self.snapshot_every,
            self.snapshot_chunk_bytes,
            self.membership_every_ms,
            self.max_voters,
            self.reads.name(),
            self.lease_reads,
            self.max_clock_drift_ms,
            self.transfer_every_ms,
            self.slow,
            self.slow_ms.0,
            self.slow_ms.1,
            self.extreme_drift,
            self.readers,
            self.failure_detection_ms,
            self.slow_replication_entries,
            self.dynamic_every_ms,
            self.failover_every_ms,
            self.placement_every_ms,
        )
    }
}
