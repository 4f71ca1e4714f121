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
        let c = &mut self.clients[client as usize];
        c.seq += 1;
        c.issued += 1;
        c.attempts = 0;
        c.timeouts = 0;
        c.leaderless = 0;
        let op_id = self.history.invoke(client, op.clone(), self.now);
        let seq = self.clients[client as usize].seq;
        self.clients[client as usize].current = Some((op_id, seq, op));
        self.trace.event(self.now, None, TraceEvent::Invoke, &[u64::from(client), seq], || {
            format!("client {client} invokes request {seq}")
        });
        self.send_request(client);
    }

    pub(super) fn draw_op(&mut self, client: ClientId) -> KvOp {
        let key = format!("k{}", range(&mut self.rng, 0, u64::from(self.params.keys) - 1));
        let value = format!("{client}.{}", self.clients[client as usize].seq + 1);
        match range(&mut self.rng, 0, 3) {
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

    pub(super) fn send_request(&mut self, client: ClientId) {
        let c = &mut self.clients[client as usize];
        let Some((_, seq, op)) = c.current.clone() else { return };
        c.attempts += 1;
        let attempt = c.attempts;
        let target = c.target;
        let timeouts = c.timeouts;
        let (lo, hi) = self.params.latency_ms;
        let delay = range(&mut self.net_rng, lo, hi);
        self.schedule(
            delay,
            Event::Request { node: target, req: ClientRequest { client, seq, attempt, op } },
        );
        if attempt > 1 {
            self.trace.event(self.now, None, TraceEvent::Retry, &[u64::from(client), seq, target.0], || {
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
        let node = self.nodes.get_mut(&id).expect("node exists");
        let core = node.core.as_mut().expect("running");
        let cmd = KvCommand { client: req.client, seq: req.seq, op: req.op };
        let request = RequestId { client: u64::from(req.client), seq: req.seq };
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
                self.trace.event(
                    self.now,
                    Some(id.0),
                    TraceEvent::Proposed,
                    &[u64::from(client), seq, index.0],
                    || format!("client {client} request {seq} retried: joins its entry {index}"),
                );
            }
            Err(_) => {
                let leader = core.leader();
                self.reply(req.client, ClientReply::Redirect { seq: req.seq, attempt: req.attempt, leader });
            }
        }
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
                self.history.complete(op_id, result, self.now);
                self.trace.event(self.now, None, TraceEvent::Complete, &[u64::from(client), seq], || {
                    format!("client {client} completes request {seq}")
                });
                let think = range(&mut self.rng, 0, 20);
                self.schedule(think, Event::ClientNext { client });
            }
            ClientReply::Redirect { seq: s, attempt, leader } if s == seq && attempt == c.attempts => {
                self.trace.event(self.now, None, TraceEvent::Redirect, &[u64::from(client), seq], || {
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
            self.stats.abandoned += 1;
            self.history.abandon(op_id);
            self.schedule(0, Event::ClientNext { client });
            return;
        }
        self.send_request(client);
    }
}
