//! The event queue: what can happen in a run, ordered by (virtual time, sequence number).

use super::*;

/// Something that happens at a virtual time.
#[derive(Clone, Debug)]
pub(super) enum Event {
    Deliver { from: NodeId, to: NodeId, bytes: Vec<u8> },
    Timer { node: NodeId, generation: u64 },
    SyncDone { node: NodeId, epoch: u64, end: u64 },
    Request { node: NodeId, req: ClientRequest },
    Reply { client: ClientId, reply: ClientReply },
    ClientTimeout { client: ClientId, seq: u64, attempt: u32 },
    ClientNext { client: ClientId },
    Partition,
    Crash,
    Restart { node: NodeId },
    Pause,
    Resume { node: NodeId },
    ClockJump,
    Membership,
    Transfer,
    FencingRound,
    FencedWrite { from: NodeId, term: Term, token: quorate::fencing::FencingToken },
    Reload,
    Failover,
    SafetyEnd,
}

/// The event queue: a heap of small (time, sequence, slot) keys over a slab of events, so
/// that sifting the heap moves 24 bytes rather than whole events.
#[derive(Default)]
pub(super) struct Queue {
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slab: Vec<Option<Event>>,
    free: Vec<usize>,
}

impl Queue {
    pub(super) fn push(&mut self, time: u64, seq: u64, event: Event) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot] = Some(event);
                slot
            }
            None => {
                self.slab.push(Some(event));
                self.slab.len() - 1
            }
        };
        self.heap.push(Reverse((time, seq, slot)));
    }

    pub(super) fn pop(&mut self) -> Option<(u64, Event)> {
        let Reverse((time, _, slot)) = self.heap.pop()?;
        let event = self.slab[slot].take().expect("a queued slot holds an event");
        self.free.push(slot);
        Some((time, event))
    }
}
