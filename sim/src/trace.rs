//! The run's trace: a hash of every event (to check determinism) and, when replaying, a
//! readable line per event.

use std::fmt::Write as _;
use std::io::Write as _;

/// An FNV-style 64-bit hash mixing a word at a time: small, and stable across platforms and
/// releases (std's hashers are not).
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Mixes `value` into the hash.
    pub fn add(&mut self, value: u64) {
        self.0 = (self.0 ^ value).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
    }

    /// Mixes bytes into the hash, a word at a time (FNV-style, not byte-exact FNV-1a: speed
    /// matters more here than the textbook function).
    pub fn add_bytes(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            self.0 = (self.0 ^ word).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.add(bytes.len() as u64);
    }

    /// The hash so far.
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// What a trace event is. Its code goes into the trace hash before the event's values, so
/// the codes are fixed: changing one changes every trace hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// The run starts: its seed.
    Start = 0,
    /// A message arrives: sender, term, size.
    Deliver = 1,
    /// A node writes a batch: entries.
    Write = 2,
    /// A node changes role: role, term.
    Role = 3,
    /// A client invokes a request: client, sequence number.
    Invoke = 4,
    /// A client completes a request: client, sequence number.
    Complete = 5,
    /// A partition heals.
    PartitionHealed = 6,
    /// A partition starts: its shape.
    Partition = 7,
    /// A node crashes.
    Crash = 8,
    /// A node restarts.
    Restart = 9,
    /// A node pauses.
    Pause = 10,
    /// A node resumes: events it deferred.
    Resume = 11,
    /// A node's clock jumps: the jump.
    ClockJump = 12,
    /// The liveness phase starts.
    LivenessStart = 13,
    /// A node applies entries: first, last.
    Apply = 14,
    /// A node finishes a sync: term, commit.
    Synced = 15,
    /// A node proposes a client's request: client, sequence number, index.
    Proposed = 16,
    /// The liveness phase leaves a minority out (cut off or down): its shape.
    LivenessCut = 17,
    /// A client retries: client, sequence number, target.
    Retry = 18,
    /// A client is redirected: client, sequence number.
    Redirect = 19,
    /// A node snapshots its state machine: index, bytes.
    Snapshot = 20,
    /// A node restores its state machine from a snapshot (installed from a leader, or
    /// recovered at restart): index, bytes.
    Restore = 21,
    /// A leader proposes a membership change: the configuration entry's index.
    Membership = 22,
    /// A node serves a get without the log: client, sequence number, read index.
    Read = 23,
    /// A leader is asked to hand leadership over: target, term.
    Transfer = 24,
    /// A node boots: its clock's offset and drift (parts per million).
    Clock = 25,
    /// A node raised an alert (judged by the alert checker).
    Alert = 26,
    /// The dynamic configuration was reloaded on every node: heartbeat, election minimum.
    Reload = 27,
    /// A follower was told to start a failover election.
    Failover = 28,
    /// A leader's placement scheduler planned moves: how many.
    Placement = 29,
    /// A checker failed.
    Failure = 9999,
}

/// Where a run reports what happens.
#[derive(Debug, Default)]
pub struct Trace {
    hash: Fnv,
    verbose: bool,
    /// Print each line as it happens (so it interleaves with the engine's own log).
    echo: bool,
    lines: Vec<String>,
}

impl Trace {
    /// A trace that keeps readable lines when `verbose`.
    pub fn new(verbose: bool) -> Self {
        Trace { hash: Fnv::default(), verbose, echo: false, lines: Vec::new() }
    }

    /// A verbose trace that also prints every line as it is recorded.
    pub fn echoing() -> Self {
        Trace { echo: true, ..Trace::new(true) }
    }

    /// Records an event: `values` go into the hash; `text` is formatted only when verbose.
    pub fn event(
        &mut self,
        now: u64,
        node: Option<u64>,
        kind: TraceEvent,
        values: &[u64],
        text: impl FnOnce() -> String,
    ) {
        self.hash.add(now);
        self.hash.add(node.map_or(u64::MAX, |n| n));
        self.hash.add(kind as u64);
        for &v in values {
            self.hash.add(v);
        }
        if self.verbose {
            let mut line = String::new();
            let _ = write!(line, "{:>6}.{:03}s ", now / 1000, now % 1000);
            match node {
                Some(n) => {
                    let _ = write!(line, "[n{n}] ");
                }
                None => line.push_str("[sim] "),
            }
            line.push_str(&text());
            if self.echo {
                // A closed pipe (`replay | head`) ends the command quietly, as for any tool.
                if let Err(err) = writeln!(std::io::stdout(), "{line}") {
                    if err.kind() == std::io::ErrorKind::BrokenPipe {
                        std::process::exit(0);
                    }
                }
            }
            self.lines.push(line);
        }
    }

    /// The hash of everything recorded.
    pub fn hash(&self) -> u64 {
        self.hash.finish()
    }

    /// The readable lines (empty unless verbose).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// True when lines are kept.
    pub fn verbose(&self) -> bool {
        self.verbose
    }
}
