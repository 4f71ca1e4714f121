//! The clients: each issues key-value operations one at a time, retries with capped,
//! jittered backoff, follows redirects to the leader it is told of, and gives up on a few.

use super::*;

/// The node after `node` in id order (wrapping), passing over `skip` when there is another.
pub(super) fn next_node(node: NodeId, skip: Option<NodeId>, nodes: u64) -> NodeId {
    let next = NodeId(node.0 % nodes + 1);
    if Some(next) == skip && nodes > 2 {
        NodeId(next.0 % nodes + 1)
    } else {
        next
    }
}

impl Sim {
    // ----- Clients -----------------------------------------------------------------------

    pub(super) fn next_op(&mut self, client: ClientId) {
        let c = &self.clients[client as usize];
        let quota_met = self.workload_done();
        if c.current.is_some() || c.issued >= self.params.ops_per_client || (self.in_liveness && quota_met) {
            return;
        }
        let op = self.draw_op(client);
        let read = match op {
            KvOp::Get { .. } => self.draw_read(),
            _ => None,
        };
        // A client with a write given up on reads through the log, which orders the read
        // after that write (or the write never applies, its session having moved on): a
        // read beside the log could miss a write the client issued earlier.
        let read = read.filter(|_| !self.clients[client as usize].unfenced);
        let c = &mut self.clients[client as usize];
        c.read = read;
        c.seq += 1;
        c.issued += 1;
        c.attempts = 0;
        c.timeouts = 0;
        c.leaderless = 0;
        let op_id = self.history.invoke(client, op.clone(), self.now);
        let seq = self.clients[client as usize].seq;
        self.clients[client as usize].current = Some((op_id, seq, op));
        self.trace.event(self.now, None, TraceEvent::Invoke, &[client, seq], || {
            format!("client {client} invokes request {seq}")
        });
        self.send_request(client);
    }

    pub(super) fn draw_op(&mut self, client: ClientId) -> KvOp {
        let key = format!("k{}", range(&mut self.rng, 0, u64::from(self.params.keys) - 1));
        let value = format!("{client}.{}", self.clients[client as usize].seq + 1);
        let kind = range(&mut self.rng, 0, 3);
        if client < u64::from(self.params.readers) {
            return KvOp::Get { key };
        }
        match kind {
            0 => KvOp::Get { key },
            1 => KvOp::Put { key, value },
            2 => KvOp::Append { key, value: format!("{value};") },
            _ => {
                let expected = if chance(&mut self.rng, 0.5) {
                    String::new()
                } else {
                    format!("{}", range(&mut self.rng, 0, 3))
                };
                KvOp::Cas { key, expected, new: value }
            }
        }
    }

    /// How a get is served: as the run says, or drawn per get in a mixed run.
    fn draw_read(&mut self) -> Option<ReadChoice> {
        let mix = match self.params.reads {
            ReadMix::Mixed => [ReadMix::Log, ReadMix::ReadIndex, ReadMix::Lease, ReadMix::Follower]
                [range(&mut self.reads_rng, 0, 3) as usize],
            mix => mix,
        };
        match mix {
            ReadMix::Log | ReadMix::Mixed => None,
            ReadMix::ReadIndex => Some(ReadChoice::Leader(ReadKind::ReadIndex)),
            ReadMix::Lease => Some(ReadChoice::Leader(ReadKind::Lease)),
            ReadMix::Follower => Some(ReadChoice::Follower),
        }
    }

    pub(super) fn send_request(&mut self, client: ClientId) {
        let nodes = self.max_node_id();
        let c = &mut self.clients[client as usize];
        let Some((_, seq, op)) = c.current.clone() else { return };
        c.attempts += 1;
        let attempt = c.attempts;
        let read = c.read;
        // A follower read first goes to any node; a retry follows the client's usual course
        // (redirects, its round of the nodes), which finds a node that knows the leader even
        // when most nodes were removed from the cluster (seed 2441 of the membership
        // scenario: random picks among eleven nodes, most of them removed, starved a read
        // for 20 s).
        let target = if read == Some(ReadChoice::Follower) && attempt == 1 {
            NodeId(range(&mut self.reads_rng, 1, nodes))
        } else {
            c.target
        };
        let timeouts = c.timeouts;
        let (lo, hi) = self.params.latency_ms;
        let delay = range(&mut self.net_rng, lo, hi);
        self.schedule(
            delay,
            Event::Request { node: target, req: ClientRequest { client, seq, attempt, op, read } },
        );
        if attempt > 1 {
            self.trace.event(self.now, None, TraceEvent::Retry, &[client, seq, target.0], || {
                format!("client {client} retries request {seq} at n{target} (try {attempt})")
            });
        }
        let timeout = self.backoff(CLIENT_TIMEOUT_MS, CLIENT_TIMEOUT_CAP_MS, timeouts);
        self.schedule(timeout, Event::ClientTimeout { client, seq, attempt });
    }

    pub(super) fn on_request(&mut self, id: NodeId, req: ClientRequest) {
        let event = Event::Request { node: id, req };
        if !self.node_can_run(id, &event) {
            return;
        }
        let Event::Request { req, .. } = event else { unreachable!() };
        if let (KvOp::Get { key }, Some(read)) = (&req.op, req.read) {
            let pending =
                PendingRead { client: req.client, seq: req.seq, attempt: req.attempt, key: key.clone() };
            self.read_at(id, read, pending);
            return;
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        let core = node.core.as_mut().expect("running");
        let cmd = KvCommand { client: req.client, seq: req.seq, op: req.op };
        let request = RequestId { client: req.client, seq: req.seq };
        match node.requests.propose(
            core,
            request,
            Command::new(cmd.encode()),
            (req.client, req.seq, req.attempt),
        ) {
            Ok(Proposed::Appended(_)) => self.after_input(id),
            Ok(Proposed::Joined(index)) => {
                let (client, seq) = (req.client, req.seq);
                self.stats.joined_retries += 1;
                self.trace.event(self.now, Some(id.0), TraceEvent::Proposed, &[client, seq, index.0], || {
                    format!("client {client} request {seq} retried: joins its entry {index}")
                });
            }
            Err(_) => {
                let leader = core.leader();
                self.reply(req.client, ClientReply::Redirect { seq: req.seq, attempt: req.attempt, leader });
            }
        }
    }

    /// Node `id` serves a get without the log: it asks its core for a read, and answers once
    /// the read's outcome comes out of a batch (`Sim::serve_read`).
    fn read_at(&mut self, id: NodeId, read: ReadChoice, pending: PendingRead) {
        let kind = match read {
            ReadChoice::Leader(kind) => kind,
            ReadChoice::Follower => ReadKind::ReadIndex,
        };
        let node = self.nodes.get_mut(&id).expect("node exists");
        let local = node.clock.local(self.now);
        let core = node.core.as_mut().expect("running");
        // The core judges its lease by the time it last saw: bring it up to now first.
        let _ = core.step(Input::Tick { now: local });
        // A read meant for the leader that reaches a follower (which would serve it as a
        // follower read) sends the client on to the leader, as a write does.
        let misdirected = matches!(read, ReadChoice::Leader(_)) && core.state() != NodeState::Leader;
        node.last_read += 1;
        let ctx = node.last_read;
        let taken = !misdirected && core.read(ctx, kind).is_ok();
        let leader = core.leader();
        let refused = if taken {
            node.reads.insert(ctx, pending);
            None
        } else {
            Some(pending)
        };
        self.after_input(id);
        if let Some(PendingRead { client, seq, attempt, .. }) = refused {
            self.reply(client, ClientReply::Redirect { seq, attempt, leader });
        }
    }

    /// A read's outcome came out of node `id`'s batch, whose entries are applied: answer the
    /// get from the state machine, or tell the client to try again. Returns false when a
    /// check failed.
    pub(super) fn serve_read(&mut self, id: NodeId, state: ReadState) -> bool {
        let node = self.nodes.get_mut(&id).expect("node exists");
        let Some(PendingRead { client, seq, attempt, key }) = node.reads.remove(&state.ctx) else {
            self.fail(FailureKind::Safety, format!("{id}: the outcome of a read never asked: {state:?}"));
            return false;
        };
        match state.result {
            Ok(index) => {
                if node.kv_applied < index {
                    let applied = node.kv_applied;
                    self.fail(
                        FailureKind::Safety,
                        format!("{id}: a read at {index} served with the state machine at {applied}"),
                    );
                    return false;
                }
                let value = node.kv.get(&key).unwrap_or("").to_string();
                match state.path {
                    ReadPath::ReadIndex => self.stats.reads_read_index += 1,
                    ReadPath::Lease => self.stats.reads_lease += 1,
                    ReadPath::Follower => self.stats.reads_follower += 1,
                }
                let path = state.path;
                self.trace.event(self.now, Some(id.0), TraceEvent::Read, &[client, seq, index.0], || {
                    format!("client {client} request {seq} read at {index} ({path:?})")
                });
                self.reply(client, ClientReply::Done { seq, result: KvResult::Value(value) });
            }
            Err(_) => {
                self.stats.reads_failed += 1;
                let leader = node.core.as_ref().and_then(Core::leader);
                self.reply(client, ClientReply::Redirect { seq, attempt, leader });
            }
        }
        true
    }

    pub(super) fn reply(&mut self, client: ClientId, reply: ClientReply) {
        let (lo, hi) = self.params.latency_ms;
        let delay = range(&mut self.net_rng, lo, hi);
        self.schedule(delay, Event::Reply { client, reply });
    }

    pub(super) fn on_reply(&mut self, client: ClientId, reply: ClientReply) {
        let c = &mut self.clients[client as usize];
        let Some((op_id, seq, _)) = c.current.clone() else { return };
        match reply {
            ClientReply::Done { seq: s, result } if s == seq => {
                c.current = None;
                if c.read.is_none() {
                    c.unfenced = false;
                }
                self.history.complete(op_id, result, self.now);
                self.trace.event(self.now, None, TraceEvent::Complete, &[client, seq], || {
                    format!("client {client} completes request {seq}")
                });
                let think = range(&mut self.rng, 0, 20);
                self.schedule(think, Event::ClientNext { client });
            }
            ClientReply::Redirect { seq: s, attempt, leader } if s == seq && attempt == c.attempts => {
                self.trace.event(self.now, None, TraceEvent::Redirect, &[client, seq], || {
                    format!("client {client} request {seq} redirected to {leader:?}")
                });
                let nodes = self.max_node_id();
                let c = &mut self.clients[client as usize];
                // The answered try is over: its timeout must not fire a second chain of retries.
                c.attempts += 1;
                if leader.is_none() {
                    // A node that knows no leader passes the suspect over too: after as many
                    // such answers as there are nodes, the suspect is tried again (nodes
                    // removed from the cluster know no leader, and may be all the others).
                    if let Some((s, passes)) = c.suspect {
                        c.suspect = (passes > 1).then_some((s, passes.saturating_sub(1)));
                    }
                }
                let pass_over = match (leader, c.suspect) {
                    (Some(l), Some((s, passes))) if l == s => {
                        c.suspect = (passes > 1).then_some((s, passes.saturating_sub(1)));
                        passes > 0
                    }
                    _ => false,
                };
                c.target = match leader {
                    Some(l) if l != c.target && !pass_over => l,
                    _ => {
                        c.cursor = next_node(c.cursor, None, nodes);
                        c.cursor
                    }
                };
                // Back off, more each time no leader is known, so that a leaderless cluster
                // is not hammered; a redirect to a known leader is followed promptly.
                let leaderless = c.leaderless;
                if leader.is_none() {
                    c.leaderless += 1;
                } else {
                    c.leaderless = 0;
                }
                let base = if leader.is_some() { 1 } else { CLIENT_REDIRECT_MS };
                // Back off more only after each full round of the nodes without a leader
                // known: one node knowing none (a removed one, say) says little.
                let exponent = if leader.is_some() { 0 } else { leaderless / nodes.max(1) as u32 };
                let backoff = self.backoff(base, CLIENT_REDIRECT_CAP_MS, exponent);
                self.schedule(backoff, Event::ClientTimeout { client, seq, attempt: u32::MAX });
            }
            _ => {}
        }
    }

    /// A capped exponential backoff: `base` doubled `exponent` times, at most `cap`, plus a
    /// jitter of up to half of it drawn from the seed.
    pub(super) fn backoff(&mut self, base: u64, cap: u64, exponent: u32) -> u64 {
        let wait = base.saturating_mul(1 << exponent.min(20)).min(cap);
        wait + range(&mut self.rng, 0, wait / 2)
    }

    pub(super) fn on_client_timeout(&mut self, client: ClientId, seq: u64, attempt: u32) {
        let nodes = self.max_node_id();
        let in_liveness = self.in_liveness;
        let c = &mut self.clients[client as usize];
        let Some((op_id, current_seq, _)) = c.current.clone() else { return };
        if current_seq != seq || (attempt != u32::MAX && attempt != c.attempts) {
            return;
        }
        if attempt != u32::MAX {
            c.suspect = Some((c.target, nodes - 1));
            c.cursor = next_node(c.cursor, Some(c.target), nodes);
            c.target = c.cursor;
            c.timeouts += 1;
        }
        if c.attempts >= CLIENT_MAX_ATTEMPTS && c.abandoned < CLIENT_MAX_ABANDONED && !in_liveness {
            // Give up: the request may or may not take effect, at any time from now on.
            c.current = None;
            c.abandoned += 1;
            // A write given up on may still apply; until a request through the log completes
            // (after which the session drops it), reads go through the log too.
            c.unfenced |= c.read.is_none();
            self.stats.abandoned += 1;
            self.history.abandon(op_id);
            self.schedule(0, Event::ClientNext { client });
            return;
        }
        self.send_request(client);
    }
}
