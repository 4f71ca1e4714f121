//! [`RaftNode`]'s reads that do not go through the log, leadership transfer, and the
//! messages of both (which are not among the seed's RPCs): the caller collects them with
//! [`RaftNode::take_messages`] and delivers each to its addressee's
//! [`RaftNode::step_message`].

use super::*;

/// Most messages [`RaftNode::take_messages`] keeps for the caller; older ones are dropped
/// (Raft tolerates loss).
pub(super) const MAX_QUEUED_MESSAGES: usize = 4096;

impl RaftNode {
    /// Asks for a linearizable read by ReadIndex (Raft dissertation §6.4): the leader notes
    /// its commit index and confirms its leadership with one round of messages to its peers
    /// (from [`RaftNode::take_messages`]) acknowledged by a quorum; a follower asks the
    /// leader for the index. Once the state machine has applied up to that index, the read
    /// comes out of [`RaftNode::take_read_states`] with `ctx`: read the state machine then.
    /// A node that is neither leader nor a follower of a known leader refuses with
    /// [`RaftError::NotLeader`].
    pub fn read_index(&self, ctx: u64) -> RaftResult<()> {
        self.drive(|core| core.read(ctx, ReadKind::ReadIndex))?.0
    }

    /// Asks for a linearizable read served from the leader's lease (§6.4.1), with no message
    /// at all while the lease holds ([`RaftConfig::lease_reads`]); otherwise it is served as
    /// [`RaftNode::read_index`]. Its safety rests on clocks keeping to
    /// [`RaftConfig::max_clock_drift_ms`]. The outcome comes out of
    /// [`RaftNode::take_read_states`].
    pub fn lease_read(&self, ctx: u64) -> RaftResult<()> {
        self.drive(|core| core.read(ctx, ReadKind::Lease))?.0
    }

    /// Reads whose outcome is known: `Ok(index)` once the state machine has applied up to
    /// `index` (serve the read from it now), or why it failed. Oldest first.
    pub fn take_read_states(&self) -> Vec<ReadState> {
        self.run_apply();
        let mut applier = self.apply.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut applier.served)
    }

    /// Hands leadership to the voter `to` (Raft dissertation §3.10): the leader stops taking
    /// proposals ([`RaftError::LeadershipTransferInProgress`]), brings `to` up to date
    /// through the usual replication requests, then tells it to campaign at once (a
    /// message from [`RaftNode::take_messages`]); if `to` has not won within an election
    /// timeout, the leader takes proposals again.
    pub fn transfer_leadership(&self, to: NodeId) -> RaftResult<()> {
        self.drive(|core| core.transfer_leadership(to))?.0
    }

    /// The leadership transfer in progress on this leader, if any: its target.
    pub fn leadership_transfer(&self) -> Option<NodeId> {
        self.read(Core::leadership_transfer)
    }

    /// Messages this node sent that are not among the seed's RPCs (leadership checks and
    /// their answers, read indexes, leadership transfer), and the real vote requests of an
    /// election that a won pre-vote started ([`RaftNode::trigger_failover_election`]):
    /// deliver each with the addressee's [`RaftNode::step_message`] (a vote request can also
    /// go to its [`RaftNode::handle_request_vote`]). Oldest first.
    pub fn take_messages(&self) -> Vec<Message> {
        match self.lock_inner() {
            Ok(mut inner) => inner.messages.drain(..).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Delivers a message from a peer (one its [`RaftNode::take_messages`] gave). Answers
    /// come out of this node's [`RaftNode::take_messages`]. A malformed message is dropped
    /// and counted, as every message from a peer; an error is this node's own (a failed
    /// write).
    pub fn step_message(&self, msg: Message) -> RaftResult<()> {
        if msg.to != self.id {
            return Err(RaftError::Other(format!("a message for {} delivered to {}", msg.to, self.id)));
        }
        let answers = self.deliver(msg)?;
        let mut inner = self.lock_inner()?;
        for answer in answers {
            if inner.messages.len() == MAX_QUEUED_MESSAGES {
                inner.messages.pop_front();
            }
            inner.messages.push_back(answer);
        }
        Ok(())
    }
}
