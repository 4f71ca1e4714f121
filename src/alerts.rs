//! Alerts for operators: what the core observes of its peers and its leadership
//! ([`AlertEvent`]), and the [`AlertManager`] that hands them to a handler.
//!
//! The core derives every event from its own observations ([`crate::core::Ready::alerts`]):
//! - a leader that has had no answer (to entries, a snapshot chunk or a leadership check) from
//!   a member for [`crate::RaftConfig::failure_detection_ms`] reports it failed
//!   ([`AlertEvent::NodeFailed`]), and recovered at its next answer
//!   ([`AlertEvent::NodeRecovered`]);
//! - a node that learns the leader of a newer term reports it ([`AlertEvent::LeaderChanged`]);
//! - a leader whose answers within the detection window no longer come from a quorum, or
//!   whose check-quorum round fails, reports it ([`AlertEvent::QuorumLost`]) once, until it
//!   hears from a quorum again;
//! - a leader reports a member whose acknowledged log is more than
//!   [`crate::RaftConfig::slow_replication_entries`] behind its commit index
//!   ([`AlertEvent::SlowReplication`]), again only after it came back within half of that.
//!
//! A leader's watch lasts its leadership: a new leadership (of this node or another)
//! watches afresh, so a member reported failed by a leader that then lost leadership gets
//! no `NodeRecovered` from it; the next leader reports it again if it is still silent.
//!
//! Delivery never runs user code under a lock of the node (the seed's defect 10): the node
//! queues alerts in a bounded queue (a full queue drops the oldest and counts it) and calls
//! the handler after it released its locks, so a handler may call back into the node; an
//! alert raised by that call is delivered by the outer delivery, after the handler returns.

use crate::types::{LogIndex, NodeId, Term};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Something an operator should know, as the core observed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertEvent {
    /// The leader has had no answer from `node` for `silent_ms` (at least the failure
    /// detection window): it is down, cut off or too slow to answer.
    NodeFailed {
        /// The silent member.
        node: NodeId,
        /// How long it has been silent, on the leader's clock.
        silent_ms: u64,
    },
    /// The leader heard from `node` again after reporting it failed.
    NodeRecovered {
        /// The member heard from.
        node: NodeId,
        /// How long it had been silent.
        silent_ms: u64,
    },
    /// This node learned that `leader` leads `term`.
    LeaderChanged {
        /// The new leader's term.
        term: Term,
        /// The new leader (this node, when it won the election).
        leader: NodeId,
        /// The leader this node knew before, if any.
        previous: Option<NodeId>,
    },
    /// The leader of `term` has not heard from a quorum of its voters within `window_ms`:
    /// `heard_from` (itself included) is all it heard from. Raised by the silence rule, or
    /// as a driver that ticks the core steps the leader down by check-quorum (then the window
    /// is its check-quorum round).
    QuorumLost {
        /// The leader's term.
        term: Term,
        /// The voters heard from within the window, this node included.
        heard_from: Vec<NodeId>,
        /// The window, on the leader's clock.
        window_ms: u64,
    },
    /// `node` has acknowledged the leader's log only up to `match_index`, more than
    /// [`crate::RaftConfig::slow_replication_entries`] behind the leader's `commit_index`
    /// (which a quorum holds: a burst of proposals not yet sent does not count).
    SlowReplication {
        /// The lagging member.
        node: NodeId,
        /// The highest index it acknowledged.
        match_index: LogIndex,
        /// The leader's commit index.
        commit_index: LogIndex,
    },
}

/// An alert: what node `node` observed at `at_ms` on its clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// The node that observed it.
    pub node: NodeId,
    /// When, on that node's clock (milliseconds).
    pub at_ms: u64,
    /// What it observed.
    pub event: AlertEvent,
}

/// The default capacity of an [`AlertManager`]'s queue.
pub const DEFAULT_ALERT_QUEUE: usize = 1024;

type Handler = Box<dyn FnMut(&Alert) + Send>;

/// Queues alerts and hands them to a handler outside every lock of the node.
///
/// Without a handler, alerts wait in the queue for [`AlertManager::drain`]. The queue is
/// bounded: when it is full, the oldest alert is dropped and counted
/// ([`AlertManager::dropped`]).
pub struct AlertManager {
    capacity: usize,
    queue: Mutex<VecDeque<Alert>>,
    /// Held while the handler runs; a delivery that finds it taken leaves the alerts to the
    /// one running (which may be this very thread, inside the handler).
    handler: Mutex<Option<Handler>>,
    dropped: AtomicU64,
    delivered: AtomicU64,
}

impl std::fmt::Debug for AlertManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertManager")
            .field("capacity", &self.capacity)
            .field("pending", &self.pending())
            .field("dropped", &self.dropped())
            .field("delivered", &self.delivered())
            .finish()
    }
}

impl Default for AlertManager {
    fn default() -> Self {
        Self::new(DEFAULT_ALERT_QUEUE)
    }
}

impl AlertManager {
    /// A manager without a handler whose queue holds at most `capacity` alerts (at least 1).
    pub fn new(capacity: usize) -> Self {
        AlertManager {
            capacity: capacity.max(1),
            queue: Mutex::new(VecDeque::new()),
            handler: Mutex::new(None),
            dropped: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
        }
    }

    /// A manager that hands every alert to `handler`, in order, outside the node's locks.
    pub fn with_handler(capacity: usize, handler: impl FnMut(&Alert) + Send + 'static) -> Self {
        let manager = Self::new(capacity);
        *manager.handler.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(handler));
        manager
    }

    /// Queues an alert; a full queue drops its oldest first.
    pub fn push(&self, alert: Alert) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.len() == self.capacity {
            queue.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        queue.push_back(alert);
    }

    /// Hands the queued alerts to the handler, one at a time, if there is one and it is not
    /// running already (then the running delivery hands them over). The queue's lock is never
    /// held while the handler runs; a handler that panics loses only the alert it was handed
    /// (the others stay queued for the next delivery).
    pub fn deliver(&self) {
        loop {
            {
                // A handler that panicked once is still called (its panic is the caller's).
                let mut guard = match self.handler.try_lock() {
                    Ok(guard) => guard,
                    Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) => return,
                };
                let Some(handler) = guard.as_mut() else { return };
                // One at a time: a handler that panics loses only the alert it was handed.
                loop {
                    let next = self.queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some(alert) = next else { break };
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    handler(&alert);
                }
            }
            // An alert queued while the handler ran, by a delivery that found it running, is
            // handed over now rather than left for the next delivery.
            if self.pending() == 0 {
                return;
            }
        }
    }

    /// Takes the queued alerts (for a manager without a handler).
    pub fn drain(&self) -> Vec<Alert> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect()
    }

    /// Alerts waiting in the queue.
    pub fn pending(&self) -> usize {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Alerts dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Alerts handed to the handler.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}
