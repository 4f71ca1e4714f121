//! Scenario tests as data: every file in tests/scenarios/ is a script of commands run on an
//! in-process cluster (`quorate::testing::Cluster`), each followed by the output it must
//! give. A file starts with comment lines (`#`) saying what it tests.
//!
//! ```text
//! # What this file tests.
//!
//! command arg key=value
//! ----
//! expected output
//! ```
//!
//! Blocks are separated by blank lines. With `QUORATE_REWRITE=1` the test writes the outputs
//! it got into the files instead of comparing them (review the diff before committing it).
//!
//! Commands:
//! - `add-nodes N [pre-vote=B] [check-quorum=B] [lease=B] [max-entries=K] [log-cache=BYTES]
//!   [snapshot-chunk=BYTES] [learner-lag=ENTRIES]`: a cluster of voters 1..=N (`lease`: lease
//!   reads on; `log-cache`: the bytes of its log
//!   each core keeps in memory; it reads older entries back from the node's storage;
//!   `snapshot-chunk`: snapshots above this size stream in chunks of this size;
//!   `learner-lag`: how close to the commit index a learner must be to be promoted);
//! - `set-log ID T1 T2 ... [term=T] [vote=V] [commit=C]`: node ID restarts from a disk
//!   holding entries of those terms (and that hard state);
//! - `campaign ID`, `propose ID TEXT`, `tick MS` (every node's clock moves on MS ms, one at
//!   a time, delivering messages after each), `elect ID` (campaign and deliver until quiet);
//! - `msgs` (the messages in flight), `deliver-msgs [N]` (deliver N, or all in flight now,
//!   printing each), `stabilize` (deliver until nothing is in flight), `drop-msgs`,
//!   `drop-msg K` (the K-th in flight, from 0), `dup-msg K` (a copy of it goes last);
//! - `snapshot ID`: node ID snapshots what its state machine applied, and compacts;
//! - `join ID` (a new, empty node that joins the cluster), `change ID add|add-learner|remove
//!   NODE` (node ID, the leader, proposes a membership change: `add` through a joint
//!   configuration at once, `add-learner` as a learner promoted once caught up), `config ID`
//!   (its configuration in force: voters, outgoing voters while joint, learners, version);
//! - `crash ID`, `restart ID`, `isolate ID`, `cut A B`, `heal`;
//! - `read ID CTX [lease]` (node ID is asked for a read by ReadIndex, or from the lease),
//!   `reads ID` (the reads it served: index, path and the normal entries applied then, or
//!   the error), `transfer ID TO` (node ID, the leader, hands leadership to TO);
//! - `alerts ID` (the alerts node ID raised since the last `alerts ID`), `failover ID` (node
//!   ID is told its leader failed: it campaigns, through a pre-vote if on; prints its role),
//!   `reload ID [heartbeat=MS] [election-min=MS] [election-max=MS] [compaction=N]` (a hot
//!   reload of its dynamic configuration; prints what is in force, corrected);
//! - `applied ID` (the normal entries its state machine holds, as index/term: restored from
//!   its latest snapshot when it started or installed one, then applied);
//! - `log ID` (its entries as index/term, after its snapshot point if it has one, and its
//!   commit index), `status` (every node's
//!   role, term, vote, commit, applied, last index and leader).

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::*;
use quorate::testing::Cluster;
use quorate::{Input, MembershipChange, Message, NodeId, NodeState, Payload, RaftConfig, ReadKind};

/// The cluster a script builds, and the options its configurations take.
struct Runner {
    cluster: Option<Cluster>,
    nodes: u64,
    adjust: Box<dyn Fn(&mut RaftConfig)>,
}

impl Runner {
    fn new() -> Self {
        Runner { cluster: None, nodes: 0, adjust: Box::new(|_| {}) }
    }

    fn cluster(&mut self) -> Result<&mut Cluster, String> {
        self.cluster.as_mut().ok_or_else(|| "no cluster: add-nodes first".to_string())
    }

    fn config(&self, id: u64) -> RaftConfig {
        let mut c = config(id, self.nodes);
        (self.adjust)(&mut c);
        c
    }

    /// Runs one command; its output, or why it could not run.
    fn run(&mut self, line: &str) -> Result<String, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (args, opts): (Vec<&str>, Vec<&str>) = words[1..].iter().partition(|w| !w.contains('='));
        let opt =
            |name: &str| opts.iter().find_map(|o| o.strip_prefix(name).and_then(|v| v.strip_prefix('=')));
        let num = |i: usize| -> Result<u64, String> {
            args.get(i)
                .ok_or_else(|| format!("{}: missing argument {}", words[0], i + 1))?
                .parse()
                .map_err(|e| format!("{e}"))
        };
        match words[0] {
            "add-nodes" => {
                let n = num(0)?;
                let flag = |name: &str, default: bool| opt(name).map_or(default, |v| v == "true");
                let (pre_vote, check_quorum) = (flag("pre-vote", true), flag("check-quorum", true));
                let lease = flag("lease", false);
                let max_entries: Option<usize> = opt("max-entries").map(|v| v.parse().expect("a number"));
                let log_cache: Option<u64> = opt("log-cache").map(|v| v.parse().expect("a number"));
                let chunk: Option<u64> = opt("snapshot-chunk").map(|v| v.parse().expect("a number"));
                let learner_lag: Option<u64> = opt("learner-lag").map(|v| v.parse().expect("a number"));
                let adjust = move |c: &mut RaftConfig| {
                    if let Some(entries) = learner_lag {
                        c.learner_catch_up_entries = entries;
                    }
                    if let Some(bytes) = chunk {
                        c.snapshot_chunk_threshold_bytes = bytes;
                        c.snapshot_chunk_size_bytes = bytes;
                    }
                    c.pre_vote = pre_vote;
                    c.check_quorum = check_quorum;
                    c.lease_reads = lease;
                    if let Some(k) = max_entries {
                        c.max_entries_per_append = k;
                    }
                    if let Some(bytes) = log_cache {
                        c.log_cache_bytes = bytes;
                    }
                };
                self.cluster = Some(Cluster::with_config(n, 0, adjust));
                self.nodes = n;
                self.adjust = Box::new(adjust);
                Ok("ok".into())
            }
            "set-log" => {
                let id = num(0)?;
                let terms: Vec<u64> = args[1..].iter().map(|t| t.parse().expect("a term")).collect();
                let max = terms.iter().copied().max().unwrap_or(0);
                let term = opt("term").map_or(max, |t| t.parse().expect("a term"));
                let vote = opt("vote").map(|v| v.parse().expect("a node"));
                let commit = opt("commit").map_or(0, |c| c.parse().expect("an index"));
                let config = self.config(id);
                install(self.cluster()?, config, durable(&terms, term, vote, commit));
                Ok("ok".into())
            }
            "campaign" => {
                let id = num(0)?;
                self.cluster()?.step(id, Input::Campaign).map_err(|e| e.to_string())?;
                Ok("ok".into())
            }
            "elect" => {
                let id = num(0)?;
                self.cluster()?.elect(id);
                Ok(status(self.cluster()?))
            }
            "propose" => {
                let id = num(0)?;
                let text = args.get(1).copied().unwrap_or("");
                Ok(match self.cluster()?.propose(id, text.as_bytes()) {
                    Ok(index) => format!("index {index}"),
                    Err(e) => format!("error: {e}"),
                })
            }
            "tick" => {
                let ms = num(0)?;
                self.cluster()?.run_for(ms);
                Ok("ok".into())
            }
            "msgs" => {
                let c = self.cluster()?;
                Ok(lines(c.in_flight.iter().map(describe)))
            }
            "deliver-msgs" => {
                let c = self.cluster()?;
                let n = if args.is_empty() { c.in_flight.len() } else { num(0)? as usize };
                let mut out = Vec::new();
                for _ in 0..n {
                    let Some(msg) = c.in_flight.front().cloned() else { break };
                    out.push(describe(&msg));
                    c.deliver_one();
                }
                Ok(lines(out.into_iter()))
            }
            "stabilize" => {
                let c = self.cluster()?;
                let before = c.delivered;
                c.deliver_all();
                Ok(format!("delivered {} messages", c.delivered - before))
            }
            "drop-msg" => {
                let k = num(0)? as usize;
                let c = self.cluster()?;
                let msg = c.in_flight.remove(k).ok_or_else(|| format!("no message {k} in flight"))?;
                Ok(format!("dropped {}", describe(&msg)))
            }
            "dup-msg" => {
                let k = num(0)? as usize;
                let c = self.cluster()?;
                let msg = c.in_flight.get(k).cloned().ok_or_else(|| format!("no message {k} in flight"))?;
                let line = describe(&msg);
                c.in_flight.push_back(msg);
                Ok(format!("duplicated {line}"))
            }
            "join" => {
                let id = num(0)?;
                self.cluster()?.join(id);
                Ok("ok".into())
            }
            "change" => {
                let (id, node) = (num(0)?, num(2)?);
                let what = args.get(1).copied().unwrap_or("");
                let (change, through_learner) = match what {
                    "add" => (
                        MembershipChange::AddNode { node_id: NodeId(node), address: format!("n{node}") },
                        false,
                    ),
                    "add-learner" => (
                        MembershipChange::AddNode { node_id: NodeId(node), address: format!("n{node}") },
                        true,
                    ),
                    "remove" => (MembershipChange::RemoveNode { node_id: NodeId(node) }, true),
                    other => return Err(format!("change: add, add-learner or remove, not {other:?}")),
                };
                let c = self.cluster()?;
                let result = c.core_mut(id).change_membership(change, through_learner);
                c.process_ready(NodeId(id));
                Ok(match result {
                    Ok(index) => format!("index {index}"),
                    Err(e) => format!("error: {e}"),
                })
            }
            "config" => {
                let id = num(0)?;
                let core = &self.cluster()?.node(id).core;
                let config = core.configuration();
                let list = |set: &std::collections::BTreeSet<NodeId>| {
                    set.iter().map(|n| n.0.to_string()).collect::<Vec<_>>().join(",")
                };
                let mut line = format!("voters=[{}]", list(&config.voters));
                if config.is_joint() {
                    let _ = write!(line, " outgoing=[{}]", list(&config.outgoing));
                }
                if !config.learners.is_empty() {
                    let _ = write!(line, " learners=[{}]", list(&config.learners));
                }
                let _ = write!(line, " version={}", core.configuration_index());
                if core.is_stepping_down() {
                    line.push_str(" stepping-down");
                }
                Ok(line)
            }
            "snapshot" => {
                let id = num(0)?;
                let c = self.cluster()?;
                Ok(match c.snapshot(id) {
                    Ok(true) => {
                        let s = c.node(id).core.snapshot().expect("just taken");
                        format!("snapshot at {}/{} ({} bytes)", s.meta.index, s.meta.term, s.size())
                    }
                    Ok(false) => "none needed".into(),
                    Err(e) => format!("error: {e}"),
                })
            }
            "drop-msgs" => {
                let c = self.cluster()?;
                let n = c.in_flight.len();
                c.in_flight.clear();
                Ok(format!("dropped {n} messages"))
            }
            "crash" => {
                let id = num(0)?;
                self.cluster()?.crash(id);
                Ok("ok".into())
            }
            "restart" => {
                let id = num(0)?;
                self.cluster()?.restart(id);
                Ok("ok".into())
            }
            "isolate" => {
                let id = num(0)?;
                self.cluster()?.isolate(id);
                Ok("ok".into())
            }
            "cut" => {
                let (a, b) = (num(0)?, num(1)?);
                self.cluster()?.cut_link(a, b);
                Ok("ok".into())
            }
            "heal" => {
                self.cluster()?.heal();
                Ok("ok".into())
            }
            "log" => {
                let id = num(0)?;
                let c = self.cluster()?;
                let core = &c.node(id).core;
                let entries: Vec<String> =
                    core.log().entries().iter().map(|e| format!("{}/{}", e.index, e.term)).collect();
                let point = core.log().snapshot_point();
                let start = if point.index.0 > 0 {
                    format!("after {}/{}: ", point.index, point.term)
                } else {
                    String::new()
                };
                Ok(format!(
                    "{start}{} (commit {})",
                    if entries.is_empty() { "empty".into() } else { entries.join(" ") },
                    core.log().committed()
                ))
            }
            "applied" => {
                let id = num(0)?;
                let applied = common::applied(self.cluster()?, id);
                let entries: Vec<String> = applied.iter().map(|(i, t)| format!("{i}/{t}")).collect();
                Ok(if entries.is_empty() { "none".into() } else { entries.join(" ") })
            }
            "read" => {
                let (id, ctx) = (num(0)?, num(1)?);
                let kind = if args.get(2) == Some(&"lease") { ReadKind::Lease } else { ReadKind::ReadIndex };
                Ok(match self.cluster()?.step(id, Input::Read { ctx, kind }) {
                    Ok(()) => "ok".into(),
                    Err(e) => format!("error: {e}"),
                })
            }
            "reads" => {
                let id = num(0)?;
                let reads = &self.cluster()?.node(id).reads;
                Ok(lines(reads.iter().map(|(state, applied)| match &state.result {
                    Ok(index) => {
                        format!(
                            "ctx={} index={index} path={:?} applied-entries={applied}",
                            state.ctx, state.path
                        )
                    }
                    Err(e) => format!("ctx={} path={:?} error: {e}", state.ctx, state.path),
                })))
            }
            "transfer" => {
                let (id, to) = (num(0)?, num(1)?);
                Ok(match self.cluster()?.step(id, Input::TransferLeadership { to: NodeId(to) }) {
                    Ok(()) => "ok".into(),
                    Err(e) => format!("error: {e}"),
                })
            }
            "alerts" => {
                let id = num(0)?;
                let node = self.cluster()?.nodes.get_mut(&NodeId(id)).ok_or("no such node")?;
                Ok(lines(std::mem::take(&mut node.alerts).into_iter().map(|a| format!("{a:?}"))))
            }
            "failover" => {
                let id = num(0)?;
                self.cluster()?.step(id, Input::Failover).map_err(|e| e.to_string())?;
                let core = &self.cluster()?.node(id).core;
                let role =
                    if core.is_pre_candidate() { "pre-candidate".into() } else { core.state().to_string() };
                Ok(format!("{id}: {role} term={}", core.term()))
            }
            "reload" => {
                let id = num(0)?;
                let c = self.cluster()?;
                let current = c.node(id).core.config().dynamic();
                let get = |name: &str, default: u64| -> Result<u64, String> {
                    opt(name).map_or(Ok(default), |v| v.parse().map_err(|e| format!("{name}: {e}")))
                };
                let update = quorate::config::DynamicConfig {
                    heartbeat_interval_ms: get("heartbeat", current.heartbeat_interval_ms)?,
                    compaction_threshold: get("compaction", current.compaction_threshold)?,
                    election_timeout_min_ms: get("election-min", current.election_timeout_min_ms)?,
                    election_timeout_max_ms: get("election-max", current.election_timeout_max_ms)?,
                };
                c.step(id, Input::UpdateDynamicConfig(update)).map_err(|e| e.to_string())?;
                let d = c.node(id).core.config().dynamic();
                Ok(format!(
                    "heartbeat={} election={}..={} compaction={}",
                    d.heartbeat_interval_ms,
                    d.election_timeout_min_ms,
                    d.election_timeout_max_ms,
                    d.compaction_threshold
                ))
            }
            "status" => Ok(status(self.cluster()?)),
            other => Err(format!("unknown command {other:?}")),
        }
    }
}

fn lines(items: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = items.collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join("\n")
    }
}

/// Every node on a line: role, term, vote, commit, applied, last index, leader.
fn status(c: &Cluster) -> String {
    let mut out = String::new();
    for (id, node) in &c.nodes {
        let core = &node.core;
        let role = if !node.up {
            "down"
        } else {
            match core.state() {
                NodeState::Leader => "leader",
                NodeState::Candidate if core.is_pre_candidate() => "pre-candidate",
                NodeState::Candidate => "candidate",
                NodeState::Follower => "follower",
            }
        };
        let vote = core.vote().map_or("-".to_string(), |v| v.0.to_string());
        let leader = core.leader().map_or("-".to_string(), |l| l.0.to_string());
        let _ = writeln!(
            out,
            "{id}: {role} term={} vote={vote} commit={} applied={} last={} leader={leader}",
            core.term(),
            core.log().committed(),
            core.log().applied(),
            core.log().last_index()
        );
    }
    out.trim_end().to_string()
}

/// A message on one line.
fn describe(m: &Message) -> String {
    let body = match &m.payload {
        Payload::RequestVote(r) => format!(
            "{} term={} last={}/{}",
            if r.pre_vote { "PreVote" } else { "Vote" },
            r.term,
            r.last_log_index,
            r.last_log_term
        ),
        Payload::RequestVoteResponse(r) => format!(
            "{} term={} granted={}",
            if r.pre_vote { "PreVoteResponse" } else { "VoteResponse" },
            r.term,
            r.vote_granted
        ),
        Payload::AppendEntries(r) => {
            let entries: Vec<String> = r.entries.iter().map(|e| format!("{}/{}", e.index, e.term)).collect();
            format!(
                "App term={} prev={}/{} entries=[{}] commit={}",
                r.term,
                r.prev_log_index,
                r.prev_log_term,
                entries.join(" "),
                r.leader_commit
            )
        }
        Payload::AppendEntriesResponse(r) => format!(
            "AppResp term={} ok={} match={} last={}{}",
            r.term,
            r.success,
            r.match_index,
            r.last_log_index,
            if r.success { String::new() } else { format!(" hint={}", r.conflict_index) }
        ),
        Payload::TimeoutNow(r) => format!("TimeoutNow term={}", r.term),
        Payload::LeaderCheck(r) => format!("LeaderCheck term={} round={}", r.term, r.round),
        Payload::LeaderCheckAck(r) => format!("LeaderCheckAck term={} round={}", r.term, r.round),
        Payload::ReadIndex(r) => format!("ReadIndex term={} id={}", r.term, r.id),
        Payload::ReadIndexResponse(r) => {
            format!("ReadIndexResponse term={} id={} index={:?}", r.term, r.id, r.index)
        }
        Payload::TransferVote(r) => {
            format!("TransferVote term={} last={}/{}", r.term, r.last_log_index, r.last_log_term)
        }
        Payload::InstallSnapshot(r) => format!(
            "Snap term={} snap={}/{} offset={} len={} of={}{}",
            r.term,
            r.last_included_index,
            r.last_included_term,
            r.offset,
            r.data.len(),
            r.total_bytes,
            if r.done { " done" } else { "" }
        ),
        Payload::InstallSnapshotResponse(r) => format!(
            "SnapResp term={} snap={}/{} {}",
            r.term,
            r.last_included_index,
            r.last_included_term,
            if r.installed { "installed".to_string() } else { format!("expect={}", r.next_offset) }
        ),
    };
    format!("{}->{} {body}", m.from.0, m.to.0)
}

/// One block of a script: its command and the output it must give.
struct Block {
    comments: Vec<String>,
    command: String,
    expected: String,
}

fn parse(text: &str, path: &Path) -> (Vec<String>, Vec<Block>) {
    let mut header = Vec::new();
    let mut blocks = Vec::new();
    let mut lines = text.lines().peekable();
    while lines.peek().is_some_and(|l| l.starts_with('#') || l.trim().is_empty()) {
        let l = lines.next().expect("peeked");
        if l.starts_with('#') {
            header.push(l.to_string());
        }
    }
    let mut comments = Vec::new();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with('#') {
            comments.push(line.to_string());
            continue;
        }
        let command = line.to_string();
        let sep = lines.next().unwrap_or_default();
        assert_eq!(sep, "----", "{}: a command must be followed by ---- ({command})", path.display());
        let mut expected = Vec::new();
        for l in lines.by_ref() {
            if l.trim().is_empty() {
                break;
            }
            expected.push(l);
        }
        blocks.push(Block {
            comments: std::mem::take(&mut comments),
            command,
            expected: expected.join("\n"),
        });
    }
    (header, blocks)
}

/// Runs a script: the mismatches between the outputs it expects and those it gets, and the
/// script with the outputs it got.
fn run_script(text: &str, path: &Path) -> (Vec<String>, String) {
    let (header, blocks) = parse(text, path);
    assert!(!header.is_empty(), "{} must start by saying what it tests", path.display());
    let mut runner = Runner::new();
    let mut failures = Vec::new();
    let mut rewritten = header.join("\n") + "\n";
    for block in &blocks {
        let got = runner.run(&block.command).unwrap_or_else(|e| format!("error: {e}"));
        if got != block.expected {
            failures.push(format!(
                "{}: `{}`\n--- expected\n{}\n--- got\n{}",
                path.display(),
                block.command,
                block.expected,
                got
            ));
        }
        rewritten.push('\n');
        for c in &block.comments {
            rewritten.push_str(c);
            rewritten.push('\n');
        }
        let _ = write!(rewritten, "{}\n----\n{}\n", block.command, got);
    }
    (failures, rewritten)
}

#[test]
fn scenarios() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/scenarios exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 14, "scenario files: {}", files.len());
    let rewrite = std::env::var_os("QUORATE_REWRITE").is_some();
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable");
        let (mut found, rewritten) = run_script(&text, path);
        if rewrite {
            std::fs::write(path, rewritten).expect("writable");
        } else {
            failures.append(&mut found);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The runner notices an output that differs from the expected one, and an unknown command.
#[test]
fn a_wrong_expectation_is_a_failure() {
    let script =
        "# A wrong expectation.\n\nadd-nodes 3\n----\nok\n\nelect 1\n----\n1: follower\n\nfly 2\n----\nok\n";
    let (failures, rewritten) = run_script(script, Path::new("inline"));
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(rewritten.contains("1: leader term=1"), "{rewritten}");
    assert!(rewritten.contains("error: unknown command \"fly\""), "{rewritten}");
}
